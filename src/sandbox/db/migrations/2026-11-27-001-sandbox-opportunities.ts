import { sql, type Kysely } from 'kysely';

// Advisory lock key taken by every writer of a published row; any constant unique to the
// sandbox database would do.
const FEED_WRITE_LOCK = 7_361_001;

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create sequence feed_modified_seq`.execute(db);
  // RPDE consumers remember (modified, id) and ask for what comes after it. If two writers took
  // modified values 10 and 11 and 11 committed first, a consumer could read 11 and then never see
  // 10. Taking one transaction-scoped lock before the sequence makes values commit in order
  // (the lock is released only after the commit is visible). See openactive.md §2.6.
  await sql
    .raw(
      `create function bump_feed_modified() returns trigger language plpgsql as $$
begin
  perform pg_advisory_xact_lock(${FEED_WRITE_LOCK});
  new.modified := nextval('feed_modified_seq');
  return new;
end
$$`,
    )
    .execute(db);

  await sql`
    create table sellers (
      id serial primary key,
      data jsonb,
      is_open_booking_allowed boolean not null default true,
      tax_mode text not null check (tax_mode in ('https://openactive.io/TaxGross', 'https://openactive.io/TaxNet')),
      modified bigint not null default 0,
      deleted boolean not null default false
    )`.execute(db);

  await sql`
    create table places (
      id serial primary key,
      seller_id integer not null references sellers(id),
      data jsonb,
      modified bigint not null default 0,
      deleted boolean not null default false
    )`.execute(db);

  await sql`
    create table session_series (
      id serial primary key,
      seller_id integer not null references sellers(id),
      place_id integer references places(id),
      data jsonb,
      test_dataset text,
      modified bigint not null default 0,
      deleted boolean not null default false
    )`.execute(db);

  await sql`
    create table scheduled_sessions (
      id serial primary key,
      session_series_id integer not null references session_series(id),
      start_date timestamptz not null,
      end_date timestamptz not null,
      maximum_attendee_capacity integer not null check (maximum_attendee_capacity >= 0),
      remaining_attendee_capacity integer not null,
      event_status text not null default 'https://schema.org/EventScheduled',
      data jsonb,
      test_dataset text,
      modified bigint not null default 0,
      deleted boolean not null default false,
      check (remaining_attendee_capacity between 0 and maximum_attendee_capacity),
      check (end_date > start_date)
    )`.execute(db);

  await sql`
    create table facility_uses (
      id serial primary key,
      seller_id integer not null references sellers(id),
      place_id integer not null references places(id),
      data jsonb,
      test_dataset text,
      modified bigint not null default 0,
      deleted boolean not null default false
    )`.execute(db);

  await sql`
    create table individual_facility_uses (
      id serial primary key,
      facility_use_id integer not null references facility_uses(id),
      data jsonb,
      test_dataset text,
      deleted boolean not null default false
    )`.execute(db);

  await sql`
    create table slots (
      id serial primary key,
      facility_use_id integer not null references facility_uses(id),
      individual_facility_use_id integer not null references individual_facility_uses(id),
      start_date timestamptz not null,
      end_date timestamptz not null,
      maximum_uses integer not null check (maximum_uses >= 0),
      remaining_uses integer not null,
      test_dataset text,
      modified bigint not null default 0,
      deleted boolean not null default false,
      check (remaining_uses between 0 and maximum_uses),
      check (end_date > start_date)
    )`.execute(db);

  await sql`
    create table offers (
      id serial primary key,
      session_series_id integer references session_series(id),
      facility_use_id integer references facility_uses(id),
      name text not null,
      price_minor integer not null check (price_minor >= 0),
      price_currency text not null default 'GBP',
      valid_from_before_start_date text,
      valid_through_before_start_date text,
      latest_cancellation_before_start_date text,
      open_booking_in_advance text not null,
      open_booking_prepayment text,
      allow_customer_cancellation_full_refund boolean not null default true,
      open_booking_flow_requirement text[] not null default '{}',
      age_min integer,
      age_max integer,
      membership_required boolean not null default false,
      data jsonb,
      test_dataset text,
      deleted boolean not null default false,
      check ((session_series_id is null) <> (facility_use_id is null))
    )`.execute(db);

  await sql`
    create table sandbox_meta (
      key text primary key,
      value jsonb not null
    )`.execute(db);

  for (const table of ['sellers', 'places', 'session_series', 'scheduled_sessions', 'facility_uses', 'slots']) {
    await sql
      .raw(
        `create trigger ${table}_modified before insert or update on ${table}
         for each row execute function bump_feed_modified()`,
      )
      .execute(db);
    // The feed query is a keyset scan over this index (RPDE modified + id ordering).
    await sql.raw(`create index ${table}_feed_idx on ${table} (modified, id)`).execute(db);
  }
  for (const table of [
    'session_series',
    'scheduled_sessions',
    'facility_uses',
    'individual_facility_uses',
    'slots',
    'offers',
  ]) {
    await sql
      .raw(`create index ${table}_test_dataset_idx on ${table} (test_dataset) where test_dataset is not null`)
      .execute(db);
  }
  await sql`create index scheduled_sessions_series_idx on scheduled_sessions (session_series_id)`.execute(db);
  await sql`create index scheduled_sessions_start_idx on scheduled_sessions (start_date)`.execute(db);
  await sql`create index slots_individual_facility_use_idx on slots (individual_facility_use_id)`.execute(db);
  await sql`create index slots_start_idx on slots (start_date)`.execute(db);
  await sql`create index individual_facility_uses_facility_use_idx on individual_facility_uses (facility_use_id)`.execute(
    db,
  );
  await sql`create index offers_session_series_idx on offers (session_series_id) where session_series_id is not null`.execute(
    db,
  );
  await sql`create index offers_facility_use_idx on offers (facility_use_id) where facility_use_id is not null`.execute(
    db,
  );
}

export async function down(): Promise<void> {
  throw new Error('The sandbox database is disposable: delete it and regenerate instead of migrating down.');
}
