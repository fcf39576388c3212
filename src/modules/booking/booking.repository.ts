import type { BookingExecutor } from './booking.tables.js';

/**
 * Stores the sealed headers for a publisher (sellerId null) or one of its sellers; replaces any
 * earlier ones (and any plain copy of them).
 */
export async function upsertCredentials(
  db: BookingExecutor,
  row: { publisherId: number; sellerId: string | null; sealed: string; now: Date },
  options: { onlyIfMissing?: boolean } = {},
): Promise<void> {
  const values = {
    publisher_id: row.publisherId,
    seller_id: row.sellerId,
    headers: null,
    headers_sealed: row.sealed,
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
        : target.doUpdateSet({ headers: null, headers_sealed: values.headers_sealed, updated_at: values.updated_at });
    })
    .execute();
}

/**
 * Where to book a seller, in one round trip: the publisher's booking endpoint and the
 * credentials for the seller (its own first, else the publisher-wide ones). Undefined when there
 * is no such publisher; `credentials` undefined when it has no credentials for the seller. The
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
    .select([
      'p.booking_endpoint_url',
      'p.mode',
      'c.id as credentials_id',
      'c.seller_id',
      'c.headers',
      'c.headers_sealed',
    ])
    .where('p.id', '=', publisherId)
    .execute();
  if (rows.length === 0) return undefined;
  const credentials =
    rows.find((r) => r.credentials_id !== null && r.seller_id === sellerId) ??
    rows.find((r) => r.credentials_id !== null && r.seller_id === null);
  return {
    bookingEndpointUrl: rows[0]!.booking_endpoint_url,
    mode: rows[0]!.mode,
    credentials: credentials
      ? { sellerId: credentials.seller_id, headers: credentials.headers, sealed: credentials.headers_sealed }
      : undefined,
  };
}

/** Which sellers have their own credentials (header names only are ever shown). */
export function listCredentials(db: BookingExecutor, publisherId: number) {
  return db
    .selectFrom('booking_credentials')
    .select(['seller_id', 'headers', 'headers_sealed', 'updated_at'])
    .where('publisher_id', '=', publisherId)
    .orderBy('seller_id')
    .execute();
}

/** Rows still holding plain headers (stored before sealing): sealed at start-up. */
export function findPlainCredentials(db: BookingExecutor) {
  return db
    .selectFrom('booking_credentials')
    .select(['id', 'publisher_id', 'seller_id', 'headers'])
    .where('headers', 'is not', null)
    .execute();
}

/**
 * Replaces one row's plain headers with their sealed form, unless they were replaced meanwhile
 * (credentials set since are sealed already and have no plain copy).
 */
export async function sealRow(db: BookingExecutor, id: number, sealed: string): Promise<boolean> {
  const result = await db
    .updateTable('booking_credentials')
    .set({ headers: null, headers_sealed: sealed })
    .where('id', '=', id)
    .where('headers', 'is not', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Every row's sealed headers and where they belong (to check they open with this server's key). */
export function listSealed(db: BookingExecutor) {
  return db
    .selectFrom('booking_credentials')
    .select(['publisher_id', 'seller_id', 'headers_sealed'])
    .where('headers_sealed', 'is not', null)
    .execute();
}
