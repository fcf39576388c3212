import { Type, type Static } from 'typebox';
import { JsonLdContext, StringEnum } from '../../http/schemas.js';

/*
 * imin:CheckoutSession (imin-booking §1.3, §1.3.2, §1.4; DECISIONS §5). Closed objects: an
 * unknown property is a 400 naming it (DECISIONS §3), never silently dropped. `type` and
 * `@type` are both accepted where imin's examples use `type` and OpenActive uses `@type`.
 */

const Text = (max: number, description?: string) =>
  Type.String({ minLength: 1, maxLength: max, pattern: '\\S', ...(description ? { description } : {}) });
const HttpUrl = Type.String({
  maxLength: 2000,
  pattern: '^https?://[^\\s]+$',
  description: 'must be an http:// or https:// URL',
});
const Name = Text(200, 'must contain a non-space character (1-200 characters)');
const Email = Type.String({ format: 'email', maxLength: 254, description: 'Email address' });
const typed = <T extends string>(value: T) => ({
  type: Type.Optional(Type.Literal(value)),
  '@type': Type.Optional(Type.Literal(value)),
});

export const OPPORTUNITY_TYPES = ['ScheduledSession', 'Slot'] as const;

export const InlinePerson = Type.Object(
  {
    ...typed('Person'),
    email: Email,
    givenName: Name,
    familyName: Name,
    identifier: Type.Optional(Text(200, "the broker's own identifier for the customer")),
    telephone: Type.Optional(Type.String({ minLength: 1, maxLength: 50 })),
    'imin:is13OrOver': Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, title: 'Person (inline customer)' },
);

const CustomerIdentifier = Type.String({
  minLength: 1,
  maxLength: 2000,
  pattern: '^(?:[A-Za-z0-9_-]{1,64}|https?://\\S+)$',
  description:
    'a customer account identifier (from POST /api/v2/customer-accounts), or its `id` URL on this server (`<PUBLIC_BASE_URL>/api/v2/customer-accounts/<identifier>`)',
});

const BrokerOrganization = Type.Object(
  {
    ...typed('Organization'),
    name: Name,
    url: Type.Optional(HttpUrl),
  },
  { additionalProperties: false },
);

const OrderedOpportunity = Type.Object(
  {
    type: Type.Optional(StringEnum(OPPORTUNITY_TYPES)),
    '@type': Type.Optional(StringEnum(OPPORTUNITY_TYPES)),
    identifier: Type.Optional(Text(2000, 'the opportunity `identifier` from the Events/Facilities API')),
    id: Type.Optional(Text(2000, 'the open-data `@id` of the opportunity (standalone checkout)')),
    // Needed only when more than one publisher publishes the id (else 409 AmbiguousIdentifierError).
    'imin:dataSource': Type.Optional(
      Type.Union([
        Type.String({ minLength: 1, maxLength: 20, description: 'a data source identifier' }),
        Type.Object(
          {
            ...typed('WebAPI'),
            identifier: Type.Union([Type.String({ minLength: 1, maxLength: 20 }), Type.Integer({ minimum: 1 })]),
          },
          { additionalProperties: false },
        ),
      ]),
    ),
  },
  { additionalProperties: false },
);

const RequestOrderItem = Type.Object(
  {
    ...typed('OrderItem'),
    orderedItem: OrderedOpportunity,
    acceptedOffer: Type.Optional(Text(2000, 'the `id` of the chosen Offer')),
    attendee: Type.Optional(CustomerIdentifier),
  },
  { additionalProperties: false },
);

const NavigationLink = Type.Object(
  {
    ...typed('WebPage'),
    name: Name,
    'imin:linkType': Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
    url: HttpUrl,
  },
  { additionalProperties: false },
);

const InitialOrder = Type.Object(
  {
    ...typed('OrderQuote'),
    customer: Type.Optional(Type.Union([CustomerIdentifier, InlinePerson])),
    broker: Type.Optional(BrokerOrganization),
    orderedItem: Type.Array(RequestOrderItem, { minItems: 1, maxItems: 20 }),
  },
  { additionalProperties: false },
);

export const CheckoutSessionBody = Type.Object(
  {
    '@context': Type.Optional(JsonLdContext),
    ...typed('imin:CheckoutSession'),
    'imin:initialOrder': InitialOrder,
    'imin:navigationLinks': Type.Optional(Type.Array(NavigationLink, { maxItems: 10 })),
  },
  { additionalProperties: false, title: 'imin:CheckoutSession' },
);
export type CheckoutSessionBody = Static<typeof CheckoutSessionBody>;
export type InlinePerson = Static<typeof InlinePerson>;

const ResponseBroker = Type.Object({
  type: Type.Literal('Organization'),
  name: Type.String(),
  url: Type.Optional(Type.String()),
  logo: Type.Optional(Type.Object({ type: Type.Literal('ImageObject'), url: Type.String() })),
});

export const CheckoutSessionResponse = Type.Object(
  {
    '@context': JsonLdContext,
    type: Type.Optional(Type.Literal('imin:CheckoutSession')),
    '@type': Type.Optional(Type.Literal('imin:CheckoutSession')),
    identifier: Type.Optional(Type.String({ description: 'The checkout session id (also in Location)' })),
    'imin:initialOrder': Type.Object({
      ...typed('OrderQuote'),
      customer: Type.Optional(Type.Union([Type.String(), InlinePerson])),
      broker: ResponseBroker,
      orderedItem: Type.Array(RequestOrderItem),
    }),
    'imin:navigationLinks': Type.Optional(Type.Array(NavigationLink)),
    potentialAction: Type.Array(
      Type.Object({
        type: Type.Literal('OrderAction'),
        name: Type.Literal('Checkout'),
        target: Type.String({ description: 'Send the customer here' }),
      }),
    ),
    'activehub:state': Type.Optional(
      StringEnum(['choose', 'details', 'pay', 'confirmed', 'expired', 'failed'] as const, {
        description: 'Where the customer is in the checkout (GET only)',
      }),
    ),
    'activehub:testMode': Type.Optional(Type.Boolean()),
    'activehub:expires': Type.Optional(Type.String({ format: 'date-time' })),
    'activehub:problem': Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
    'activehub:order': Type.Optional(
      Type.Object({
        type: Type.Literal('Order'),
        identifier: Type.String({ description: 'The Order UUID' }),
        orderNumber: Type.String(),
      }),
    ),
  },
  { title: 'imin:CheckoutSession (response)' },
);

export const BrokerSlugParams = Type.Object({
  brokerSlug: Type.String({ minLength: 1, maxLength: 50, pattern: '^[a-z0-9-]+$' }),
});
export const SessionParams = Type.Object({
  brokerSlug: Type.String({ minLength: 1, maxLength: 50, pattern: '^[a-z0-9-]+$' }),
  id: Type.String({ minLength: 1, maxLength: 64, description: 'The checkout session id' }),
});
export type CheckoutSessionResponse = Static<typeof CheckoutSessionResponse>;
