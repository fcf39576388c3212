import type { Logger } from 'pino';
import { HttpError, type HttpClient } from '../../lib/http-client.js';
import { timeSellerCall } from '../../lib/server-timing.js';
import { BookingError, isRetryable, problemFor, problemOf, type BookingProblem } from './booking.errors.js';
import {
  BOOKING_MEDIA_TYPE,
  cancellationBody,
  isObj,
  itemErrors,
  orderBody,
  parseOrder,
  parseQuote,
  typeOf,
  type BookedOrder,
  type BookInput,
  type BookingTarget,
  type Quote,
  type QuoteInput,
} from './order-requests.js';

/*
 * The Open Booking API client (openactive.md §1): C1, C2, B, Order Status, Order Deletion and
 * customer cancellation against a seller's booking system, over deps.http only. Every request
 * uses the booking media type and carries the booking partner's credentials as headers.
 *
 * Outcomes: a quote with item errors (409 OrderQuote) is a Quote with `ok: false`; any other
 * error response, timeout or network failure is a BookingError. 4xx are final (`retryable`
 * false); 429, 5xx, timeouts and network failures are `seller_unavailable` and retryable with
 * the same UUID — except the 500s that describe the request itself (OrderAlreadyExistsError,
 * SellerNotFoundError, …), which no retry can fix. The HTTP client already retries idempotent
 * requests (every call here but PATCH) with backoff before an error reaches this layer.
 */

export interface BookingClient {
  c1(input: QuoteInput): Promise<Quote>;
  c2(input: QuoteInput): Promise<Quote>;
  /** B: idempotent — a replay with the same uuid and body returns the same order (§1.14). */
  book(input: BookInput): Promise<BookedOrder>;
  /** Order Status; undefined when the seller has no such order (404/410). */
  getOrder(target: BookingTarget, uuid: string): Promise<BookedOrder | undefined>;
  /** Order Deletion (a 404 is fine: nothing to delete). */
  deleteOrder(target: BookingTarget, uuid: string): Promise<void>;
  /** Customer cancellation (PATCH): all the items or none. */
  cancelItems(target: BookingTarget, uuid: string, orderItemIds: string[]): Promise<void>;
}

export interface BookingClientOptions {
  http: HttpClient;
  log: Logger;
  /** Extra attempts the HTTP client makes on timeouts, network errors, 429 and 5xx (default 1). */
  retries?: number;
}

interface Reply {
  status: number;
  body: Record<string, unknown> | undefined;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function createBookingClient({ http, log, retries = 1 }: BookingClientOptions): BookingClient {
  async function call(
    target: BookingTarget,
    method: 'GET' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    body?: unknown,
  ): Promise<Reply> {
    const url = `${target.endpointUrl.replace(/\/+$/, '')}/${path}`;
    let res;
    try {
      // The wait on the seller, retries included, is reported in the request's Server-Timing.
      res = await timeSellerCall(() =>
        http.request(url, {
          method,
          headers: {
            accept: BOOKING_MEDIA_TYPE,
            ...(body === undefined ? {} : { 'content-type': BOOKING_MEDIA_TYPE }),
          },
          // The booking-partner credentials go to the booking endpoint and nowhere else: a
          // redirect is not followed but answered as the error it is (a 3xx is not an Open
          // Booking API response).
          credentials: target.headers,
          redirect: 'manual',
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          retries,
        }),
      );
    } catch (err) {
      const kind = err instanceof HttpError ? err.kind : 'network';
      if (kind === 'blocked') {
        // The endpoint's address is refused by the outbound policy (lib/outbound.ts).
        log.warn({ url, method, err: (err as Error).message }, 'booking endpoint refused by the outbound policy');
        throw new BookingError(problemFor('not_bookable'), {
          retryable: false,
          detail: `${method} ${url}: blocked ${(err as Error).message}`,
        });
      }
      log.warn({ url, method, kind, err: (err as Error).message }, 'booking system unreachable');
      throw new BookingError(problemFor('seller_unavailable'), {
        retryable: kind !== 'too_large',
        detail: `${method} ${url}: ${kind} ${(err as Error).message}`,
      });
    }
    let parsed: unknown;
    try {
      parsed = res.text ? JSON.parse(res.text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: isObj(parsed) ? parsed : undefined };
  }

  /** Throws the BookingError an error response stands for. */
  function fail(reply: Reply, what: string): never {
    const type = reply.body ? typeOf(reply.body) : undefined;
    const description = typeof reply.body?.description === 'string' ? reply.body.description : undefined;
    let problem: BookingProblem = problemOf(type, description, reply.status);
    // Credentials refused without an OpenActive body (a gateway in front of the booking system).
    if (!type && (reply.status === 401 || reply.status === 403)) problem = problemFor('invalid_credentials');
    const retryable = isRetryable(problem, reply.status);
    log.warn({ what, status: reply.status, type, description }, 'booking system refused a request');
    throw new BookingError(problem, {
      status: reply.status,
      retryable,
      detail: `${what} → ${reply.status} ${type ?? ''} ${description ?? ''}`.trim(),
    });
  }

  function checkUuid(uuid: string): void {
    if (!UUID.test(uuid)) throw new TypeError(`Order UUIDs are RFC 4122 UUIDs, not ${JSON.stringify(uuid)}`);
  }

  async function quote(stage: 'C1' | 'C2', input: QuoteInput): Promise<Quote> {
    checkUuid(input.uuid);
    if (input.items.length === 0) throw new TypeError('A quote needs at least one item');
    const path = `${stage === 'C1' ? 'order-quote-templates' : 'order-quotes'}/${input.uuid}`;
    const reply = await call(input.target, 'PUT', path, orderBody(stage, input));
    const isQuote = reply.body && typeOf(reply.body) === 'OrderQuote';
    // 200, or 409 with the OrderQuote and per-item errors (§1.7).
    if (!isQuote || (reply.status !== 200 && reply.status !== 409)) fail(reply, `${stage} ${input.uuid}`);
    if (reply.body!.orderRequiresApproval === true) {
      // The approval flow (OrderProposals) is not supported: such offers cannot be booked here.
      throw new BookingError(problemFor('not_bookable'), {
        status: reply.status,
        retryable: false,
        detail: 'the seller requires approval for this order',
      });
    }
    const result = parseQuote(stage, input, reply.body!);
    if (reply.status === 409 && result.ok) fail(reply, `${stage} ${input.uuid}`);
    return result;
  }

  return {
    c1: (input) => quote('C1', input),
    c2: (input) => quote('C2', input),

    async book(input) {
      checkUuid(input.uuid);
      if (input.items.length === 0) throw new TypeError('An order needs at least one item');
      const reply = await call(input.target, 'PUT', `orders/${input.uuid}`, orderBody('B', input));
      if ((reply.status === 201 || reply.status === 200) && reply.body && typeOf(reply.body) === 'Order') {
        return parseOrder(input.uuid, reply.body);
      }
      // Item-level errors: the Order comes back with `error` on the items that failed (§1.17).
      if (reply.status === 409 && reply.body && typeOf(reply.body) === 'Order') {
        const items = Array.isArray(reply.body.orderedItem) ? reply.body.orderedItem.filter(isObj) : [];
        const byPosition = new Map(
          items.map((item, i) => [typeof item.position === 'number' ? item.position : i, item]),
        );
        const itemProblems = input.items.map((_, i) => itemErrors(byPosition.get(i)));
        const first = itemProblems.flat()[0];
        if (first) {
          log.warn({ uuid: input.uuid, problems: itemProblems }, 'booking system refused items at B');
          throw new BookingError(first, { status: 409, retryable: false, itemProblems, detail: `B ${input.uuid}` });
        }
      }
      fail(reply, `B ${input.uuid}`);
    },

    async getOrder(target, uuid) {
      checkUuid(uuid);
      const reply = await call(target, 'GET', `orders/${uuid}`);
      if (reply.status === 200 && reply.body && typeOf(reply.body) === 'Order') return parseOrder(uuid, reply.body);
      // "No such order" — but a wrong endpoint must not pass for one (recovery relies on this answer).
      const type = reply.body ? typeOf(reply.body) : undefined;
      if ((reply.status === 404 || reply.status === 410) && type !== 'UnknownOrIncorrectEndpointError')
        return undefined;
      fail(reply, `Order Status ${uuid}`);
    },

    async deleteOrder(target, uuid) {
      checkUuid(uuid);
      const reply = await call(target, 'DELETE', `orders/${uuid}`);
      if (reply.status === 204 || reply.status === 200) return;
      const type = reply.body ? typeOf(reply.body) : undefined;
      if ((reply.status === 404 || reply.status === 410) && type !== 'UnknownOrIncorrectEndpointError') return;
      fail(reply, `Order Deletion ${uuid}`);
    },

    async cancelItems(target, uuid, orderItemIds) {
      checkUuid(uuid);
      if (orderItemIds.length === 0) return;
      const reply = await call(target, 'PATCH', `orders/${uuid}`, cancellationBody(orderItemIds));
      if (reply.status === 204 || reply.status === 200) return;
      fail(reply, `Order Cancellation ${uuid}`);
    },
  };
}
