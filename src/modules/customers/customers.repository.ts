import type { Insertable, Updateable } from 'kysely';
import type { Executor } from '../../db/database.js';
import type { CustomersTable } from '../../db/schema.js';
import type { Tenant } from '../brokers/index.js';

export function insertCustomer(db: Executor, customer: Insertable<CustomersTable>) {
  return db.insertInto('customers').values(customer).returningAll().executeTakeFirstOrThrow();
}

/** An account the key can see: its broker's, of its mode, and not deleted. */
export function findActiveCustomer(db: Executor, tenant: Tenant, identifier: string) {
  return db
    .selectFrom('customers')
    .selectAll()
    .where('identifier', '=', identifier)
    .where('broker_id', '=', tenant.brokerId)
    .where('mode', '=', tenant.mode)
    .where('state', '=', 'active')
    .executeTakeFirst();
}

export function findCustomerById(db: Executor, id: number) {
  return db.selectFrom('customers').selectAll().where('id', '=', id).executeTakeFirst();
}

export function updateActiveCustomer(
  db: Executor,
  tenant: Tenant,
  identifier: string,
  changes: Updateable<CustomersTable>,
) {
  return db
    .updateTable('customers')
    .set(changes)
    .where('identifier', '=', identifier)
    .where('broker_id', '=', tenant.brokerId)
    .where('mode', '=', tenant.mode)
    .where('state', '=', 'active')
    .returningAll()
    .executeTakeFirst();
}

export function markErasureRequested(db: Executor, tenant: Tenant, identifier: string, at: Date) {
  return db
    .updateTable('customers')
    .set({ state: 'erasing', erasure_requested_at: at, updated_at: at })
    .where('identifier', '=', identifier)
    .where('broker_id', '=', tenant.brokerId)
    .where('mode', '=', tenant.mode)
    .where('state', '=', 'active')
    .returning(['id', 'identifier'])
    .executeTakeFirst();
}

export function replacePersonalData(db: Executor, id: number, placeholders: Updateable<CustomersTable>) {
  return db.updateTable('customers').set(placeholders).where('id', '=', id).returning(['id']).executeTakeFirst();
}
