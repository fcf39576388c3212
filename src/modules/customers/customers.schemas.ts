import { Type, type Static, type TSchema } from 'typebox';
import { JsonLdContext, StringEnum } from '../../http/schemas.js';

export const GENDERS = [
  'https://schema.org/Female',
  'https://schema.org/Male',
  'schema:Female',
  'schema:Male',
] as const;

const Name = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: '\\S',
  description: 'must contain a non-space character (1-200 characters)',
});
const Email = Type.String({ format: 'email', maxLength: 254, description: 'Email address' });
const Telephone = Type.String({ minLength: 1, maxLength: 50, description: 'Telephone number (≤ 50 characters)' });
const BirthDate = Type.String({ format: 'date', description: 'ISO date YYYY-MM-DD, not in the future' });
const Gender = StringEnum(GENDERS, { description: 'schema.org gender; `schema:` short forms are normalised' });
const Is13OrOver = Type.Boolean();

export const PostalAddress = Type.Object(
  {
    '@type': Type.Optional(Type.Literal('PostalAddress')),
    streetAddress: Type.Optional(Type.String({ maxLength: 500 })),
    addressLocality: Type.Optional(Type.String({ maxLength: 200 })),
    addressRegion: Type.Optional(Type.String({ maxLength: 200 })),
    postalCode: Type.Optional(Type.String({ maxLength: 20 })),
    addressCountry: Type.Optional(
      Type.String({ pattern: '^[A-Z]{2}$', description: 'must be an ISO 3166-1 alpha-2 country code, e.g. "GB"' }),
    ),
  },
  { additionalProperties: false },
);

export const EmergencyContact = Type.Object(
  {
    '@type': Type.Optional(Type.Literal('Person')),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    telephone: Type.Optional(Telephone),
  },
  { additionalProperties: false },
);

const optionalPersonFields = {
  telephone: Type.Optional(Telephone),
  birthDate: Type.Optional(BirthDate),
  gender: Type.Optional(Gender),
  'imin:is13OrOver': Type.Optional(Is13OrOver),
  address: Type.Optional(PostalAddress),
  emergencyContact: Type.Optional(EmergencyContact),
};

/** The Person inside a create request (CustomerAccount wrapper). */
export const PersonCreate = Type.Object(
  {
    '@type': Type.Literal('Person'),
    email: Email,
    givenName: Name,
    familyName: Name,
    ...optionalPersonFields,
  },
  { additionalProperties: false },
);

export const CustomerAccountCreate = Type.Object(
  {
    '@context': JsonLdContext,
    '@type': Type.Literal('CustomerAccount'),
    customer: PersonCreate,
  },
  { additionalProperties: false, title: 'CustomerAccount (canonical form)' },
);

/** The flat form of the Example Scenario: `{email, givenName, familyName, imin:is13OrOver}`. */
export const FlatPersonCreate = Type.Object(
  {
    '@context': Type.Optional(JsonLdContext),
    '@type': Type.Optional(Type.Literal('Person')),
    type: Type.Optional(Type.Literal('Person')),
    email: Email,
    givenName: Name,
    familyName: Name,
    ...optionalPersonFields,
  },
  { additionalProperties: false, title: 'Person (flat form)' },
);

export const CreateCustomerBody = Type.Union([CustomerAccountCreate, FlatPersonCreate], {
  description:
    'Either the canonical CustomerAccount wrapper or the flat Person of the Example Scenario; the response mirrors the form sent.',
});
export type CreateCustomerBody = Static<typeof CreateCustomerBody>;

const nullable = <T extends TSchema>(schema: T) => Type.Optional(Type.Union([schema, Type.Null()]));

/** Fields an update may change. Optional fields may be set to null to clear them. */
const personPatchFields = {
  email: Type.Optional(Email),
  givenName: Type.Optional(Name),
  familyName: Type.Optional(Name),
  telephone: nullable(Telephone),
  birthDate: nullable(BirthDate),
  gender: nullable(Gender),
  'imin:is13OrOver': nullable(Is13OrOver),
  address: nullable(PostalAddress),
  emergencyContact: nullable(EmergencyContact),
};

export const PersonPatch = Type.Object(
  { '@type': Type.Optional(Type.Literal('Person')), ...personPatchFields },
  { additionalProperties: false },
);
export type PersonPatch = Static<typeof PersonPatch>;

export const FlatPersonPatch = Type.Object(
  {
    '@context': Type.Optional(JsonLdContext),
    '@type': Type.Optional(Type.Literal('Person')),
    type: Type.Optional(Type.Literal('Person')),
    ...personPatchFields,
  },
  { additionalProperties: false, title: 'Person (flat partial form)' },
);
export type FlatPersonPatch = Static<typeof FlatPersonPatch>;

export const CustomerUpdateAction = Type.Object(
  {
    '@context': Type.Optional(JsonLdContext),
    '@type': Type.Literal('CustomerUpdateAction'),
    object: PersonPatch,
    seller: Type.Optional(Type.Array(Type.String({ format: 'uri' }), { maxItems: 100 })),
  },
  { additionalProperties: false, title: 'CustomerUpdateAction' },
);

export const AccessPassUpdateAction = Type.Object(
  {
    '@context': Type.Optional(JsonLdContext),
    '@type': Type.Literal('imin:AccessPassUpdateAction'),
    object: Type.Object(
      {
        '@type': Type.Literal('Barcode'),
        text: Type.String({
          minLength: 1,
          maxLength: 200,
          pattern: '\\S',
          description: 'must contain a non-space character',
        }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false, title: 'imin:AccessPassUpdateAction' },
);

export const CustomerActionBody = Type.Union([CustomerUpdateAction, AccessPassUpdateAction]);
export type CustomerActionBody = Static<typeof CustomerActionBody>;

// ---- responses -------------------------------------------------------------------------

const PersonOut = Type.Object({
  '@type': Type.Literal('Person'),
  email: Type.String(),
  givenName: Type.String(),
  familyName: Type.String(),
  telephone: Type.Optional(Type.String()),
  birthDate: Type.Optional(Type.String()),
  gender: Type.Optional(Type.String()),
  'imin:is13OrOver': Type.Optional(Type.Boolean()),
  address: Type.Optional(PostalAddress),
  emergencyContact: Type.Optional(EmergencyContact),
});

const Barcode = Type.Object({ '@type': Type.Literal('Barcode'), text: Type.String() });

export const CustomerAccountResponse = Type.Object(
  {
    '@context': Type.String(),
    '@type': Type.Literal('CustomerAccount'),
    '@id': Type.String(),
    identifier: Type.String(),
    customer: PersonOut,
    accessPass: Type.Optional(Barcode),
    entitlement: Type.Optional(Type.Object({}, { additionalProperties: true })),
  },
  { $id: 'CustomerAccount' },
);

export const FlatPersonResponse = Type.Object({
  type: Type.Literal('Person'),
  email: Type.String(),
  givenName: Type.String(),
  familyName: Type.String(),
  telephone: Type.Optional(Type.String()),
  birthDate: Type.Optional(Type.String()),
  gender: Type.Optional(Type.String()),
  'imin:is13OrOver': Type.Optional(Type.Boolean()),
  address: Type.Optional(PostalAddress),
  emergencyContact: Type.Optional(EmergencyContact),
  identifier: Type.String(),
  id: Type.String(),
});

const SellerError = Type.Object({
  '@context': Type.String(),
  '@type': Type.String(),
  name: Type.String(),
  description: Type.Optional(Type.String()),
  seller: Type.Object({ '@id': Type.String() }),
});

export const ActionResponse = Type.Object({
  '@context': Type.String(),
  '@type': Type.String(),
  actionStatus: Type.String(),
  object: Type.Object({}, { additionalProperties: true }),
  error: Type.Optional(Type.Array(SellerError)),
});

export const CustomerExportResponse = Type.Object({
  '@context': Type.String(),
  '@type': Type.Literal('activehub:CustomerDataExport'),
  'activehub:exportedAt': Type.String(),
  customerAccount: Type.Object({}, { additionalProperties: true }),
  'activehub:accountCreated': Type.String(),
  'activehub:accountUpdated': Type.String(),
  'activehub:orders': Type.Array(Type.Object({}, { additionalProperties: true }), {
    description: 'Every order the customer made or attends, in any state, with its items',
  }),
  'activehub:payments': Type.Array(Type.Object({}, { additionalProperties: true }), {
    description: 'The payments of those orders (amounts, status, card brand and last four digits)',
  }),
  'activehub:emails': Type.Array(Type.Object({}, { additionalProperties: true }), {
    description: 'Every email sent or kept for the customer, with its text',
  }),
  'activehub:checkoutSessions': Type.Array(Type.Object({}, { additionalProperties: true }), {
    description: 'Checkout sessions the customer is in (as buyer or attendee), with the details entered',
  }),
});
