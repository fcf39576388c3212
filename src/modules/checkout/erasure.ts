import { sql } from 'kysely';
import type { Executor } from '../../db/database.js';
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

/**
 * The checkout sessions of a customer for their data export (customers ExportSection): those they
 * buy in, with the details entered, and those they attend (their own place only).
 */
export async function exportCheckoutCustomer(db: Executor, customerId: number): Promise<object[]> {
  const sessions = await checkoutDb(db)
    .selectFrom('checkout_sessions')
    .select([
      'id',
      'kind',
      'state',
      'customer_id',
      'customer',
      'opportunity',
      'items',
      'order_id',
      'created_at',
      'expires_at',
    ])
    .where((eb) =>
      eb.or([
        eb('customer_id', '=', customerId),
        sql<boolean>`exists (select 1 from jsonb_array_elements(coalesce(items, '[]'::jsonb)) e
          where e->'attendee'->>'customerId' = ${String(customerId)})`,
      ]),
    )
    .orderBy('created_at')
    .execute();
  return sessions.map((s) => {
    const buyer = s.customer_id === customerId;
    const places = (s.items ?? []).filter((i) => buyer || i.attendee?.customerId === customerId);
    return {
      identifier: s.id,
      'activehub:kind': s.kind,
      'activehub:state': s.state,
      ...(buyer && s.customer ? { customer: s.customer } : {}),
      'activehub:opportunity': { name: s.opportunity.name, startDate: s.opportunity.startDate },
      'activehub:places': places.map((p) => ({ offer: p.offerId, ...(p.attendee ? { attendee: p.attendee } : {}) })),
      ...(s.order_id ? { 'activehub:orderId': s.order_id } : {}),
      dateCreated: s.created_at.toISOString(),
      expires: s.expires_at.toISOString(),
    };
  });
}
