import type { Insertable, Updateable } from 'kysely';
import type { PaymentRefundsTable, PaymentsExecutor, PaymentsTable, PaymentStatus } from './payments.tables.js';

type Operation = NonNullable<PaymentsTable['operation']>;

/**
 * The payment with this id, inserted first if there is none: one statement. The select runs on
 * the statement's snapshot, which does not hold the row the insert adds, so exactly one of the
 * two branches answers — except when another transaction inserted the id meanwhile and has not
 * committed yet at the snapshot: then nothing (the caller reads again).
 */
export function insertOrFindPayment(db: PaymentsExecutor, payment: Insertable<PaymentsTable>) {
  return db
    .with('inserted', (qb) =>
      qb
        .insertInto('payments')
        .values(payment)
        .onConflict((oc) => oc.column('id').doNothing())
        .returningAll(),
    )
    .selectFrom('inserted')
    .selectAll()
    .unionAll((eb) => eb.selectFrom('payments').selectAll().where('id', '=', payment.id))
    .executeTakeFirst();
}

export function findPayment(db: PaymentsExecutor, id: string) {
  return db.selectFrom('payments').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The payment, locked until the transaction ends (refunds reserve their amount under it). */
export function lockPayment(db: PaymentsExecutor, id: string) {
  return db.selectFrom('payments').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export function setProviderReference(db: PaymentsExecutor, id: string, reference: string, at: Date) {
  return db
    .updateTable('payments')
    .set({ provider_reference: reference, updated_at: at })
    .where('id', '=', id)
    .where('provider_reference', 'is', null)
    .executeTakeFirst();
}

/**
 * Marks a provider call as in flight when the payment is in one of `from` and no other call is
 * (or the other one started before `staleBefore`: its caller is presumed dead). One caller wins.
 */
export function claimOperation(
  db: PaymentsExecutor,
  id: string,
  operation: Operation,
  from: PaymentStatus[],
  at: Date,
  staleBefore: Date,
) {
  return db
    .updateTable('payments')
    .set({ operation, operation_started_at: at })
    .where('id', '=', id)
    .where('status', 'in', from)
    .where((eb) => eb.or([eb('operation', 'is', null), eb('operation_started_at', '<', staleBefore)]))
    .returningAll()
    .executeTakeFirst();
}

/** Records the outcome of a claimed call; undefined when the claim was taken over meanwhile. */
export function finishOperation(
  db: PaymentsExecutor,
  id: string,
  claim: { operation: Operation; startedAt: Date },
  changes: Updateable<PaymentsTable>,
) {
  return db
    .updateTable('payments')
    .set({ ...changes, operation: null, operation_started_at: null })
    .where('id', '=', id)
    .where('operation', '=', claim.operation)
    .where('operation_started_at', '=', claim.startedAt)
    .returningAll()
    .executeTakeFirst();
}

export function releaseOperation(db: PaymentsExecutor, id: string, claim: { operation: Operation; startedAt: Date }) {
  return finishOperation(db, id, claim, {});
}

export function setRefundTotal(db: PaymentsExecutor, id: string, refunded: number, status: PaymentStatus, at: Date) {
  return db
    .updateTable('payments')
    .set({ refunded, status, updated_at: at })
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
}

export function findRefund(db: PaymentsExecutor, id: string) {
  return db.selectFrom('payment_refunds').selectAll().where('id', '=', id).executeTakeFirst();
}

export function insertRefund(db: PaymentsExecutor, refund: Insertable<PaymentRefundsTable>) {
  return db.insertInto('payment_refunds').values(refund).returningAll().executeTakeFirstOrThrow();
}

/** Settles a pending refund; undefined when it was settled already. */
export function settleRefund(
  db: PaymentsExecutor,
  id: string,
  changes: Pick<Updateable<PaymentRefundsTable>, 'status' | 'provider_refund_id' | 'failure_message' | 'updated_at'>,
) {
  return db
    .updateTable('payment_refunds')
    .set(changes)
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .returningAll()
    .executeTakeFirst();
}

export function listRefunds(db: PaymentsExecutor, paymentId: string) {
  return db
    .selectFrom('payment_refunds')
    .selectAll()
    .where('payment_id', '=', paymentId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}
