import { Type } from 'typebox';

export const PublisherIdParams = Type.Object({
  id: Type.Integer({ minimum: 1, maximum: 2_147_483_647, description: 'Publisher id' }),
});

export const CredentialsBody = Type.Object(
  {
    sellerId: Type.Optional(
      Type.Union([Type.String({ minLength: 1, maxLength: 2000, format: 'uri' }), Type.Null()], {
        description: "The seller's @id; absent or null: every seller of this publisher",
      }),
    ),
    headers: Type.Record(Type.String({ minLength: 1, maxLength: 100 }), Type.String({ maxLength: 4096 }), {
      description:
        'HTTP headers sent with every Open Booking API request to this publisher/seller, e.g. {"Authorization": "Bearer …"}. Values are never returned.',
      minProperties: 1,
      maxProperties: 20,
    }),
  },
  { additionalProperties: false },
);

const CredentialsSummary = Type.Object({
  publisherId: Type.Integer(),
  sellerId: Type.Union([Type.String(), Type.Null()]),
  headerNames: Type.Array(Type.String(), { description: 'Names only: values are never shown' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

export const CredentialsResponse = CredentialsSummary;
export const CredentialsList = Type.Object({ items: Type.Array(CredentialsSummary) });
