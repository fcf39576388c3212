import { sql } from 'kysely';
import { forgetIdempotentResponses } from '../../http/idempotency.js';
import type { ErasureHook } from '../customers/index.js';
import { checkoutDb, type PersonSnapshot, type SelectedItem } from './checkout.tables.js';

/**
 * Customers' erasure hook for checkout sessions (DECISIONS §4): the customer snapshot, group
 * attendees and the request/response bodies (which may carry an inline Person) of every session
 * the customer is in are replaced, and stored idempotent responses of those sessions forgotten.
 */
export const eraseCheckoutCustomer: ErasureHook = async (trx, customer) => {
  const x = checkoutDb(trx);
  const placeholder: PersonSnapshot = {
    givenName: 'Deleted',
    familyName: 'Customer',
    email: customer.placeholderEmail,
    identifier: customer.identifier,
  };
  const sessions = await x
    .selectFrom('checkout_sessions')
    .select(['id', 'customer_id', 'items'])
    .where((eb) =>
      eb.or([
        eb('customer_id', '=', customer.id),
        sql<boolean>`exists (select 1 from jsonb_array_elements(coalesce(items, '[]'::jsonb)) e
          where e->'attendee'->>'customerId' = ${String(customer.id)})`,
      ]),
    )
    .execute();
  for (const s of sessions) {
    const items: SelectedItem[] | null = s.items
      ? s.items.map((i) =>
          i.attendee?.customerId === customer.id ? { ...i, attendee: { ...placeholder, customerId: customer.id } } : i,
        )
      : null;
    await x
      .updateTable('checkout_sessions')
      .set({
        ...(s.customer_id === customer.id ? { customer: JSON.stringify(placeholder) } : {}),
        items: items ? JSON.stringify(items) : null,
        request: null,
        response: null,
      })
      .where('id', '=', s.id)
      .execute();
    await forgetIdempotentResponses(trx, s.id);
  }
};
