import { DateTime } from 'luxon';
import { sql, type Kysely } from 'kysely';
import type { SandboxDB, SandboxExecutor } from './db/schema.js';
import type { Rng } from './generator/prng.js';
import { TIMEZONE } from './generator/generate.js';
import { lockFeedWrites } from './opportunities.js';

/*
 * Simulated life in the booking system, so a harvester sees updates and deletions over time
 * (issue 3 §3): people book and cancel (remaining capacity moves), the operator cancels a few
 * sessions, withdraws a few, and adds extra ones. Only generated data in the future is touched;
 * test-interface data belongs to the tests.
 */

export interface ChurnOptions {
  capacityChanges?: number;
  cancellations?: number;
  deletions?: number;
  additions?: number;
  slotChanges?: number;
}

export interface ChurnResult {
  capacityChanged: number;
  cancelled: number;
  deleted: number;
  added: number;
  slotsChanged: number;
}

/** Up to `count` random live, future, generated rows of `table`, found by random id probes. */
async function randomFutureIds(
  db: SandboxExecutor,
  table: 'scheduled_sessions' | 'slots',
  rng: Rng,
  count: number,
  now: Date,
): Promise<number[]> {
  if (count <= 0) return [];
  const max = await db
    .selectFrom(table)
    .select((eb) => eb.fn.max('id').as('max'))
    .executeTakeFirst();
  const top = Number(max?.max ?? 0);
  if (top === 0) return [];
  // Probing random ids keeps this cheap at a million rows (no ORDER BY random() scan).
  const probes = [...new Set(Array.from({ length: count * 4 }, () => rng.int(1, top)))];
  const rows = await db
    .selectFrom(table)
    .select('id')
    .where('id', 'in', probes)
    .where('deleted', '=', false)
    .where('test_dataset', 'is', null)
    .where('start_date', '>', now)
    .execute();
  return rng.sample(
    rows.map((r) => r.id),
    count,
  );
}

export async function applyChurn(
  db: Kysely<SandboxDB>,
  rng: Rng,
  now: Date,
  options: ChurnOptions = {},
): Promise<ChurnResult> {
  const capacityChanges = options.capacityChanges ?? 20;
  const cancellations = options.cancellations ?? 2;
  const deletions = options.deletions ?? 2;
  const additions = options.additions ?? 2;
  const slotChanges = options.slotChanges ?? 10;

  return db.transaction().execute(async (trx) => {
    await lockFeedWrites(trx);
    const result: ChurnResult = { capacityChanged: 0, cancelled: 0, deleted: 0, added: 0, slotsChanged: 0 };
    const ids = await randomFutureIds(trx, 'scheduled_sessions', rng, capacityChanges + cancellations + deletions, now);
    const toCancel = ids.slice(0, cancellations);
    const toDelete = ids.slice(cancellations, cancellations + deletions);
    const toChange = ids.slice(cancellations + deletions);

    for (const id of toChange) {
      // Somewhere between empty and full, never outside the capacity.
      const fraction = rng.next();
      await trx
        .updateTable('scheduled_sessions')
        .set({
          remaining_attendee_capacity: sql`floor(maximum_attendee_capacity * ${fraction}::float8)::int`,
        })
        .where('id', '=', id)
        .execute();
      result.capacityChanged += 1;
    }
    if (toCancel.length) {
      result.cancelled = Number(
        (
          await trx
            .updateTable('scheduled_sessions')
            .set({ event_status: 'https://schema.org/EventCancelled' })
            .where('id', 'in', toCancel)
            .executeTakeFirst()
        ).numUpdatedRows,
      );
    }
    if (toDelete.length) {
      result.deleted = Number(
        (
          await trx
            .updateTable('scheduled_sessions')
            .set({ deleted: true, data: null })
            .where('id', 'in', toDelete)
            .executeTakeFirst()
        ).numUpdatedRows,
      );
    }

    // Extra sessions: a live generated series gets a one-off session in the next fortnight.
    const maxSeries = Number(
      (
        await trx
          .selectFrom('session_series')
          .select((eb) => eb.fn.max('id').as('max'))
          .executeTakeFirst()
      )?.max ?? 0,
    );
    for (let i = 0; i < additions && maxSeries > 0; i += 1) {
      const series = await trx
        .selectFrom('session_series')
        .select('id')
        .where('id', '>=', rng.int(1, maxSeries))
        .where('deleted', '=', false)
        .where('test_dataset', 'is', null)
        .orderBy('id')
        .limit(1)
        .executeTakeFirst();
      const template = series
        ? await trx
            .selectFrom('scheduled_sessions')
            .select(['start_date', 'end_date', 'maximum_attendee_capacity'])
            .where('session_series_id', '=', series.id)
            .orderBy('id')
            .limit(1)
            .executeTakeFirst()
        : undefined;
      if (!series || !template) continue;
      const minutes = Math.round(
        (new Date(template.end_date).getTime() - new Date(template.start_date).getTime()) / 60_000,
      );
      const day = DateTime.fromJSDate(now, { zone: TIMEZONE }).plus({ days: rng.int(1, 14) });
      const start = day.set({ hour: rng.int(9, 20), minute: rng.pick([0, 15, 30, 45]), second: 0, millisecond: 0 });
      await trx
        .insertInto('scheduled_sessions')
        .values({
          session_series_id: series.id,
          start_date: start.toJSDate(),
          end_date: start.plus({ minutes }).toJSDate(),
          maximum_attendee_capacity: template.maximum_attendee_capacity,
          remaining_attendee_capacity: template.maximum_attendee_capacity,
        })
        .execute();
      result.added += 1;
    }

    for (const id of await randomFutureIds(trx, 'slots', rng, slotChanges, now)) {
      await trx
        .updateTable('slots')
        .set({ remaining_uses: sql`maximum_uses - remaining_uses` })
        .where('id', '=', id)
        .execute();
      result.slotsChanged += 1;
    }
    return result;
  });
}
