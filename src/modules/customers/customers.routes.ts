import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { authOf } from '../../http/auth.js';
import { errorResponses, IdentifierParam } from '../../http/schemas.js';
import type { CustomersService } from './customers.service.js';
import {
  ActionResponse,
  CreateCustomerBody,
  CustomerAccountResponse,
  CustomerActionBody,
  CustomerExportResponse,
  FlatPersonPatch,
  FlatPersonResponse,
} from './customers.schemas.js';

const tags = ['Customer accounts'];
const security = [{ apiKey: [] }];

export function customersRoutes(customers: CustomersService): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/api/v2/customer-accounts',
      {
        config: { product: 'booking', idempotent: true },
        schema: {
          tags,
          security,
          summary: 'Create a customer account',
          description:
            'Creates the account when the customer registers with the broker. Accepts the CustomerAccount wrapper or the flat Person form; the response mirrors the form sent. Send an Idempotency-Key header to make retries safe.',
          body: CreateCustomerBody,
          response: {
            201: Type.Union([CustomerAccountResponse, FlatPersonResponse]),
            ...errorResponses(409, 413, 415, 422),
          },
        },
      },
      async (request, reply) => {
        const { row, body } = await customers.createCustomer(authOf(request), request.body);
        request.resourceRef = row.identifier;
        return reply.code(201).header('location', `/api/v2/customer-accounts/${row.identifier}`).send(body);
      },
    );

    app.get(
      '/api/v2/customer-accounts/:id',
      {
        config: { product: 'booking' },
        schema: {
          tags,
          security,
          summary: 'Get a customer account',
          params: IdentifierParam,
          response: { 200: CustomerAccountResponse, ...errorResponses(404) },
        },
      },
      async (request) => customers.getCustomer(authOf(request), request.params.id),
    );

    app.post(
      '/api/v2/customer-accounts/:id/actions',
      {
        config: { product: 'booking', idempotent: true },
        schema: {
          tags,
          security,
          summary: 'Update a customer account (CustomerUpdateAction, imin:AccessPassUpdateAction)',
          description:
            'Partial update dispatched on @type: only the fields given change. A CustomerUpdateAction returns the updated properties; listed sellers without a linked account are reported in `error`.',
          params: IdentifierParam,
          body: CustomerActionBody,
          response: { 200: ActionResponse, ...errorResponses(404, 409, 413, 415, 422) },
        },
      },
      async (request) => {
        // A stored idempotent response echoes the updated personal data: tie it to the account
        // so erasure removes it (as for create).
        request.resourceRef = request.params.id;
        return customers.applyAction(authOf(request), request.params.id, request.body);
      },
    );

    app.patch(
      '/api/v2/customer-accounts/:id',
      {
        config: { product: 'booking' },
        schema: {
          tags,
          security,
          summary: 'Update a customer account (flat partial Person)',
          description: 'The Example Scenario form: send only the fields to change; null clears an optional field.',
          params: IdentifierParam,
          body: FlatPersonPatch,
          response: { 200: FlatPersonResponse, ...errorResponses(404, 413, 415) },
        },
      },
      async (request) => customers.patchCustomer(authOf(request), request.params.id, request.body),
    );

    app.delete(
      '/api/v2/customer-accounts/:id',
      {
        config: { product: 'booking' },
        schema: {
          tags,
          security,
          summary: 'Delete a customer account (right to be forgotten)',
          description:
            'Answers 202 at once; the account then answers 404 and its personal data is replaced by placeholders everywhere within seconds.',
          params: IdentifierParam,
          response: {
            // `type: null` makes the OpenAPI document show no content; the handler sends none.
            202: Type.Unsafe<undefined>({ type: 'null', description: 'Accepted, no body' }),
            ...errorResponses(404),
          },
        },
      },
      async (request, reply) => {
        await customers.requestErasure(authOf(request), request.params.id);
        // imin-booking §2.4: 202 with no body at all (not a JSON `null`).
        return reply.code(202).send();
      },
    );

    app.get(
      '/api/v2/customer-accounts/:id/export',
      {
        config: { product: 'booking' },
        schema: {
          tags,
          security,
          summary: 'Export everything held about a customer (GDPR access request)',
          params: IdentifierParam,
          response: { 200: CustomerExportResponse, ...errorResponses(404) },
        },
      },
      async (request) => customers.exportCustomer(authOf(request), request.params.id),
    );
  };
}
