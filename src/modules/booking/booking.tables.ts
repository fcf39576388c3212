import type { ColumnType, Generated, Kysely, Transaction } from 'kysely';
import type { DB } from '../../db/schema.js';

/*
 * Types of the booking module's table (migration 2026-11-27-007-booking). They live with the
 * module that owns the table; `bookingDb` widens the shared Kysely instance with them.
 */

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;

export interface BookingCredentialsTable {
  id: Generated<number>;
  publisher_id: number;
  /** The seller's `@id`; null = every seller of the publisher. */
  seller_id: string | null;
  /**
   * Plain JSON headers: only rows stored before credentials were sealed, until the service seals
   * them at start-up (then null).
   */
  headers: ColumnType<Record<string, string> | null, string | null, string | null>;
  /**
   * The HTTP headers sent with every Open Booking API request, sealed (src/lib/secrets.ts; the
   * context binds them to this publisher and seller). Secrets: never returned by the API.
   */
  headers_sealed: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export type BookingTables = { booking_credentials: BookingCredentialsTable };
export type BookingDB = DB & BookingTables;
export type BookingExecutor = Kysely<BookingDB> | Transaction<BookingDB>;

export function bookingDb(db: Kysely<DB>): Kysely<BookingDB> {
  return db.withTables<BookingTables>();
}
