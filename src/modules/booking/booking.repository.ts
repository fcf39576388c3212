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

/** The credentials for this seller of the publisher: its own row first, else the publisher-wide one. */
export async function findCredentials(db: BookingExecutor, publisherId: number, sellerId: string) {
  const rows = await db
    .selectFrom('booking_credentials')
    .select(['seller_id', 'headers'])
    .where('publisher_id', '=', publisherId)
    .where((eb) => eb.or([eb('seller_id', '=', sellerId), eb('seller_id', 'is', null)]))
    .execute();
  return rows.find((r) => r.seller_id === sellerId) ?? rows.find((r) => r.seller_id === null);
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
