import type { BookingExecutor } from './booking.tables.js';

/** Stores the headers for a publisher (sellerId null) or one of its sellers; replaces any earlier ones. */
export async function upsertCredentials(
  db: BookingExecutor,
  row: { publisherId: number; sellerId: string | null; headers: Record<string, string>; now: Date },
  options: { onlyIfMissing?: boolean } = {},
): Promise<void> {
  const values = {
    publisher_id: row.publisherId,
    seller_id: row.sellerId,
    headers: JSON.stringify(row.headers),
    created_at: row.now,
    updated_at: row.now,
  };
  await db
    .insertInto('booking_credentials')
    .values(values)
    .onConflict((oc) => {
      // Two unique indexes: (publisher_id, seller_id), and publisher_id alone where seller_id is null.
      const target =
        row.sellerId === null
          ? oc.column('publisher_id').where('seller_id', 'is', null)
          : oc.columns(['publisher_id', 'seller_id']);
      return options.onlyIfMissing
        ? target.doNothing()
        : target.doUpdateSet({ headers: values.headers, updated_at: values.updated_at });
    })
    .execute();
}

/**
 * Where to book a seller, in one round trip: the publisher's booking endpoint and the
 * credentials for the seller (its own first, else the publisher-wide ones). Undefined when there
 * is no such publisher; `headers` undefined when it has no credentials for the seller. The
 * publisher row belongs to the catalog: read here by id only, so the target of every checkout
 * step costs one statement instead of two.
 */
export async function findTarget(db: BookingExecutor, publisherId: number, sellerId: string) {
  const rows = await db
    .selectFrom('publishers as p')
    .leftJoin('booking_credentials as c', (join) =>
      join
        .onRef('c.publisher_id', '=', 'p.id')
        .on((eb) => eb.or([eb('c.seller_id', '=', sellerId), eb('c.seller_id', 'is', null)])),
    )
    .select(['p.booking_endpoint_url', 'p.mode', 'c.id as credentials_id', 'c.seller_id', 'c.headers'])
    .where('p.id', '=', publisherId)
    .execute();
  if (rows.length === 0) return undefined;
  const credentials =
    rows.find((r) => r.credentials_id !== null && r.seller_id === sellerId) ??
    rows.find((r) => r.credentials_id !== null && r.seller_id === null);
  return {
    bookingEndpointUrl: rows[0]!.booking_endpoint_url,
    mode: rows[0]!.mode,
    headers: credentials?.headers ?? undefined,
  };
}

/** Which sellers have their own credentials (header names only are ever shown). */
export function listCredentials(db: BookingExecutor, publisherId: number) {
  return db
    .selectFrom('booking_credentials')
    .select(['seller_id', 'headers', 'updated_at'])
    .where('publisher_id', '=', publisherId)
    .orderBy('seller_id')
    .execute();
}
