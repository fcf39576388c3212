import { Type, type TSchema } from 'typebox';
import { JsonLdContext } from '../../http/schemas.js';

/*
 * Route schemas of the Orders API (imin-booking §3). Responses name the envelope and the
 * fields brokers rely on, and leave the JSON-LD open (seller-provided opportunity data passes
 * through); the cancellation body is checked by cancellation.ts so that its errors carry the
 * OpenActive names the Open Booking API defines.
 */

const open = (description: string, properties: Record<string, TSchema> = {}) =>
  Type.Object(properties, { additionalProperties: true, description });

export const CollectionQuery = Type.Object(
  {
    customerIdentifier: Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'The customer account identifier (from Create Customer Account)',
    }),
    page: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Page number from 1 (10 a page)' }),
    ),
  },
  { additionalProperties: false },
);

export const OrderIdParam = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 100, description: 'The Order identifier (a UUID)' }),
});

export const ReceiptIdParam = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 100, description: 'The receipt identifier' }),
});

const PriceSpecification = open('PriceSpecification', {
  type: Type.Literal('PriceSpecification'),
  price: Type.Number(),
  priceCurrency: Type.String(),
});

export const OrderItemResponse = open('OrderItem: the booked ScheduledSession or Slot, its status and offer', {
  type: Type.Literal('OrderItem'),
  id: Type.String(),
  identifier: Type.String(),
  orderItemStatus: Type.String(),
  'imin:isPresentlyCancellable': Type.Boolean(),
  orderedItem: open(
    'The ScheduledSession or Slot as booked; a ScheduledSession has superEvent (its SessionSeries, with location) and superEvent.superEvent (the EventSeries, with name and organizer)',
  ),
  acceptedOffer: open('The Offer booked'),
});

export const OrderResponse = open('Order', {
  type: Type.Literal('Order'),
  '@context': Type.Array(Type.String()),
  id: Type.String(),
  identifier: Type.String(),
  orderDate: Type.String(),
  confirmationNumber: Type.String(),
  orderNumber: Type.String(),
  'imin:receipt': Type.Optional(
    Type.Array(
      Type.Object({
        type: Type.Literal('Invoice'),
        identifier: Type.String(),
        url: Type.String(),
        dateCreated: Type.String(),
      }),
    ),
  ),
  seller: open('The seller, with its terms'),
  broker: open('The broker'),
  customer: Type.Optional(open('The customer (placeholders after erasure)')),
  orderedItem: Type.Array(OrderItemResponse),
  totalPaymentDue: PriceSpecification,
  totalPaymentTax: Type.Optional(PriceSpecification),
});

const View = Type.Object({
  id: Type.String(),
  type: Type.Literal('PartialCollectionView'),
  first: Type.String(),
  last: Type.String(),
  next: Type.Optional(Type.String()),
  previous: Type.Optional(Type.String()),
  urlTemplate: Type.String(),
  'imin:currentPage': Type.Integer(),
  'imin:itemsPerPage': Type.Integer(),
  'imin:totalPages': Type.Integer(),
});

const collection = (item: TSchema, description: string) =>
  Type.Object(
    {
      '@context': Type.Array(Type.String()),
      id: Type.String(),
      type: Type.Literal('imin:RestrictedCollection'),
      'imin:totalItems': Type.Integer(),
      view: View,
      'imin:item': Type.Array(item),
    },
    { description },
  );

export const OrdersCollection = collection(OrderResponse, 'A page of the customer’s orders, newest first');
export const OrderItemsCollection = collection(
  open('OrderItem (with @context)', { ...OrderItemResponse.properties }),
  'A page of the customer’s upcoming order items, soonest first',
);

const OrderItemRef = Type.Object(
  {
    '@type': Type.Optional(Type.String()),
    type: Type.Optional(Type.String()),
    '@id': Type.Optional(Type.String()),
    id: Type.Optional(Type.String()),
    orderItemStatus: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);

/** Described for the OpenAPI document; the checks (with OpenActive error names) are in cancellation.ts. */
export const CancellationBody = Type.Object(
  {
    '@context': Type.Optional(JsonLdContext),
    '@type': Type.Optional(Type.String()),
    type: Type.Optional(Type.String()),
    orderedItem: Type.Optional(Type.Array(OrderItemRef)),
  },
  {
    additionalProperties: true,
    description:
      'OpenActive Order Cancellation: orderedItem lists the OrderItems to cancel (@id or id), each with orderItemStatus https://openactive.io/CustomerCancelled',
  },
);

/** An Orders feed of a seller's booking system, as operators see it (GET /admin/order-feeds). */
export const OrderFeedHealth = Type.Object({
  id: Type.Integer(),
  publisherId: Type.Integer(),
  sellerId: Type.String({ description: 'The seller whose orders led us to this feed' }),
  endpointUrl: Type.String(),
  position: Type.Optional(Type.String({ description: 'The next page the reader will read (its cursor)' })),
  itemsApplied: Type.Integer(),
  failures: Type.Integer(),
  lastError: Type.Optional(Type.String()),
  lastSuccessAt: Type.Optional(Type.String()),
  nextPollAt: Type.String(),
  faults: Type.Optional(
    Type.Array(
      Type.Object({
        fault: Type.String({
          description:
            'unknown_order (an order this publisher does not hold: never acted on), not_an_order, order_deleted',
        }),
        count: Type.Integer(),
        lastItemId: Type.Optional(Type.String()),
        lastMessage: Type.Optional(Type.String()),
        lastAt: Type.String(),
      }),
    ),
  ),
});
export const OrderFeedHealthList = Type.Object({ items: Type.Array(OrderFeedHealth) });
