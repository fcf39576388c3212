import { sql, type Kysely } from 'kysely';

/**
 * Payments (src/modules/payments): one row per payment a checkout takes (our uuid, minted by the
 * checkout before the payment page), whichever provider holds the money, and one row per refund.
 * `operation` marks a provider call in flight so concurrent capture/void/authorize calls for one
 * payment make one provider call; `refunded` counts pending and succeeded refunds so the sum can
 * never pass the captured amount. Card numbers are never stored: only brand and last four digits.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('payments')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('broker_id', 'integer', (c) => c.notNull().references('brokers.id'))
    .addColumn('mode', 'text', (c) => c.notNull().check(sql`mode in ('live', 'test')`))
    .addColumn('provider', 'text', (c) => c.notNull().check(sql`provider in ('sandbox', 'stripe')`))
    .addColumn('provider_reference', 'text')
    .addColumn('amount', 'integer', (c) => c.notNull().check(sql`amount > 0`))
    .addColumn('currency', 'text', (c) => c.notNull().check(sql`currency ~ '^[A-Z]{3}$'`))
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('metadata', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('status', 'text', (c) =>
      c
        .notNull()
        .check(
          sql`status in ('prepared', 'authorized', 'declined', 'captured', 'voided', 'refunded', 'partially_refunded')`,
        ),
    )
    .addColumn('refunded', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('decline_code', 'text')
    .addColumn('decline_message', 'text')
    .addColumn('card_brand', 'text')
    .addColumn('card_last4', 'text', (c) => c.check(sql`card_last4 ~ '^[0-9]{4}$'`))
    .addColumn('operation', 'text', (c) => c.check(sql`operation in ('authorize', 'capture', 'void')`))
    .addColumn('operation_started_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addColumn('authorized_at', 'timestamptz')
    .addColumn('captured_at', 'timestamptz')
    .addColumn('voided_at', 'timestamptz')
    .addCheckConstraint('payments_refunded_within_amount', sql`refunded >= 0 and refunded <= amount`)
    .execute();
  await db.schema.createIndex('payments_broker_created').on('payments').columns(['broker_id', 'created_at']).execute();
  await db.schema
    .createIndex('payments_provider_reference')
    .on('payments')
    .columns(['provider', 'provider_reference'])
    .unique()
    .execute();

  await db.schema
    .createTable('payment_refunds')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('payment_id', 'uuid', (c) => c.notNull().references('payments.id'))
    .addColumn('amount', 'integer', (c) => c.notNull().check(sql`amount > 0`))
    .addColumn('reason', 'text')
    .addColumn('provider_refund_id', 'text')
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('pending', 'succeeded', 'failed')`))
    .addColumn('failure_message', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('payment_refunds_payment').on('payment_refunds').column('payment_id').execute();
}
