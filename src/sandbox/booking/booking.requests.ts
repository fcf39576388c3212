import { createHash } from 'node:crypto';
import { bookingError } from './booking.errors.js';

/*
 * Reading Open Booking API request bodies. They are JSON-LD: references may be bare URLs (what
 * the current tooling sends) or `{ "@type", "@id" }` objects (the CR3 text), and `@id`/`@type`
 * may also be spelt `id`/`type` (openactive.md §1.4, §3.1). Order-level problems are thrown as
 * OpenActive errors; item-level ones are left for the service to put on each OrderItem.
 */

export type Json = Record<string, unknown>;

export const AGENT_BROKER = 'https://openactive.io/AgentBroker';
export const RESELLER_BROKER = 'https://openactive.io/ResellerBroker';
export const NO_BROKER = 'https://openactive.io/NoBroker';
const BROKER_ROLES = [AGENT_BROKER, RESELLER_BROKER, NO_BROKER];

export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export const typeOf = (v: unknown): unknown => (isObject(v) ? (v['@type'] ?? v.type) : undefined);

/** The `@id` a reference names: a bare URL, or an object's `@id`/`id`. */
export function idOf(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isObject(v)) {
    const id = v['@id'] ?? v.id;
    return typeof id === 'string' ? id : undefined;
  }
  return undefined;
}

export interface RequestedItem {
  position: number;
  /** Absent when the request left it out (IncompleteOrderItemError). */
  opportunityId: string | undefined;
  offerId: string | undefined;
  attendee: Json | undefined;
}

export interface OrderRequest {
  body: Json;
  brokerRole: string;
  broker: Json | undefined;
  customer: Json | undefined;
  sellerId: string;
  items: RequestedItem[];
  payment: Json | undefined;
  totalPaymentDue: unknown;
}

const nonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.trim().length > 0;

/**
 * Checks everything outside `orderedItem[]` of a C1, C2 or B body, in the order the test suite's
 * error tests assume (openactive.md §1.7): type, broker, customer, then the item list's shape.
 */
export function readOrderRequest(body: unknown, stage: 'C1' | 'C2' | 'B'): OrderRequest {
  if (!isObject(body)) throw bookingError('BadRequestError', 'The request body must be a JSON-LD object.');
  const expectedType = stage === 'B' ? 'Order' : 'OrderQuote';
  if (typeOf(body) !== expectedType) {
    throw bookingError(
      'UnexpectedOrderTypeError',
      `This endpoint accepts an ${expectedType}, not ${String(typeOf(body))}.`,
    );
  }

  const brokerRole = body.brokerRole;
  if (typeof brokerRole !== 'string' || !BROKER_ROLES.includes(brokerRole)) {
    throw bookingError('IncompleteBrokerDetailsError', `brokerRole must be one of ${BROKER_ROLES.join(', ')}.`);
  }
  const broker = isObject(body.broker) ? body.broker : undefined;
  if (brokerRole !== NO_BROKER && (!broker || !nonEmptyString(broker.name))) {
    throw bookingError('IncompleteBrokerDetailsError', 'broker.name is required unless brokerRole is NoBroker.');
  }

  const customer = isObject(body.customer) ? body.customer : undefined;
  // C1 carries no customer; at C2 and B an AgentBroker or NoBroker order needs one (§1.2).
  if (stage !== 'C1') {
    if (!customer && brokerRole !== RESELLER_BROKER) {
      throw bookingError('IncompleteCustomerDetailsError', 'customer is required for AgentBroker and NoBroker orders.');
    }
    if (customer) {
      if (!nonEmptyString(customer.email)) {
        throw bookingError('IncompleteCustomerDetailsError', 'customer.email is required.');
      }
      if (typeOf(customer) === 'Organization' && !nonEmptyString(customer.name)) {
        throw bookingError('IncompleteCustomerDetailsError', 'customer.name is required for an Organization.');
      }
    }
  }

  const sellerId = idOf(body.seller);
  if (!sellerId) throw bookingError('SellerNotFoundError', 'seller must name the seller by its @id.');

  if (!Array.isArray(body.orderedItem) || body.orderedItem.length === 0) {
    throw bookingError('BadRequestError', 'orderedItem must be a non-empty array of OrderItems.');
  }
  if (body.orderedItem.length > 50) {
    throw bookingError('BadRequestError', 'An order may have at most 50 items.');
  }
  const items = body.orderedItem.map((raw: unknown, index): RequestedItem => {
    const item = isObject(raw) ? raw : {};
    const position = Number.isInteger(item.position) ? (item.position as number) : index;
    return {
      position,
      opportunityId: idOf(item.orderedItem),
      offerId: idOf(item.acceptedOffer),
      attendee: isObject(item.attendee) ? item.attendee : undefined,
    };
  });
  if (new Set(items.map((i) => i.position)).size !== items.length) {
    throw bookingError('BadRequestError', 'Each OrderItem must have a different position.');
  }

  if (body.payment !== undefined && !isObject(body.payment)) {
    throw bookingError('BadRequestError', 'payment must be a Payment object.');
  }

  return {
    body,
    brokerRole,
    broker,
    customer,
    sellerId,
    items,
    payment: isObject(body.payment) ? body.payment : undefined,
    totalPaymentDue: body.totalPaymentDue,
  };
}

/** JSON with object keys sorted, so equal bodies hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isObject(value)) {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export const hashBody = (body: unknown): string => createHash('sha256').update(canonicalJson(body)).digest('hex');

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Order UUIDs are RFC 4122 UUIDs generated by the broker (§1.3). */
export function readUuid(value: string): string {
  if (!UUID.test(value)) throw bookingError('BadRequestError', 'The Order UUID in the path must be an RFC 4122 UUID.');
  return value.toLowerCase();
}
