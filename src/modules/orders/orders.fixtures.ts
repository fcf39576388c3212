import { randomUUID } from 'node:crypto';
import type { TestContext } from '../../../test/helpers.js';

/*
 * Orders for tests, written through the orders service's own functions (the ones checkout
 * uses): insertPendingOrder → markBooked → markConfirmed.
 */

export interface SeedItem {
  name?: string;
  startDate: Date;
  price?: number;
  offer?: Record<string, unknown>;
  attendee?: { givenName: string; familyName: string; email?: string | null } | null;
  attendeeCustomerId?: number | null;
  sellerItemId?: string;
  type?: 'ScheduledSession' | 'Slot';
  /** The snapshot's series names (checkout keeps them beside the trimmed item). */
  seriesName?: string;
  eventSeriesName?: string;
}

export interface SeedOrder {
  brokerId: number;
  identifier: string | null;
  customerId?: number | null;
  customer?: { givenName: string; familyName: string; email: string };
  items: SeedItem[];
  testMode?: boolean;
  /** The mode of the key that made it (default live). */
  mode?: 'live' | 'test';
  paymentId?: string | null;
  /** A live order booked with a seller: where its Orders feed is. */
  seller?: { publisherId: number; sellerId: string; endpointUrl: string };
  sellerResponse?: Record<string, unknown>;
  confirm?: boolean;
}

export const SELLER = {
  '@type': 'Organization',
  '@id': 'https://seller.example/organizers/1',
  name: 'Riverside Leisure Trust',
  url: 'https://seller.example',
  email: 'bookings@seller.example',
  telephone: '0161 496 0000',
  termsOfService: [
    { '@type': 'PrivacyPolicy', name: 'Privacy Policy', url: 'https://seller.example/privacy' },
    { '@type': 'TermsOfUse', name: 'Terms and Conditions', url: 'https://seller.example/terms' },
  ],
};

export const CANCELLABLE_OFFER = {
  '@type': 'Offer',
  '@id': 'https://seller.example/offers/adult',
  name: 'Adult',
  price: 12.5,
  priceCurrency: 'GBP',
  allowCustomerCancellationFullRefund: true,
  latestCancellationBeforeStartDate: 'P1D',
};

export async function seedOrder(t: TestContext, input: SeedOrder): Promise<{ id: string; itemIds: string[] }> {
  const orders = t.services.orders;
  const id = randomUUID();
  const items = input.items.map((item, i) => {
    const price = item.price ?? 1250;
    const start = item.startDate;
    return {
      opportunityType: item.type ?? 'ScheduledSession',
      opportunityId: `https://seller.example/scheduled-sessions/${id.slice(0, 8)}-${i}`,
      opportunity: {
        type: item.type ?? 'ScheduledSession',
        id: `https://seller.example/scheduled-sessions/${id.slice(0, 8)}-${i}`,
        name: item.name ?? `Aqua Fit ${i + 1}`,
        startDate: start.toISOString(),
        endDate: new Date(start.getTime() + 3_600_000).toISOString(),
        locationName: 'Riverside Leisure Centre',
        address: '1 River Road, Manchester, M1 1AA',
        sellerName: SELLER.name,
        sellerTermsUrl: 'https://seller.example/terms',
        ...(item.seriesName ? { seriesName: item.seriesName } : {}),
        ...(item.eventSeriesName ? { eventSeriesName: item.eventSeriesName } : {}),
        data: { '@type': item.type ?? 'ScheduledSession', name: item.name ?? `Aqua Fit ${i + 1}` },
      },
      offerId:
        typeof (item.offer ?? CANCELLABLE_OFFER)['@id'] === 'string'
          ? ((item.offer ?? CANCELLABLE_OFFER)['@id'] as string)
          : 'offer',
      offer: { ...(item.offer ?? CANCELLABLE_OFFER), price: price / 100, 'activehub:price': price },
      price,
      currency: 'GBP',
      attendee: item.attendee ?? null,
      attendeeCustomerId: item.attendeeCustomerId ?? null,
    };
  });
  const total = items.reduce((s, i) => s + i.price, 0);
  await t.deps.database.db.transaction().execute((trx) =>
    orders.insertPendingOrder(trx, {
      id,
      brokerId: input.brokerId,
      mode: input.mode ?? 'live',
      customerId: input.customerId ?? null,
      customer: {
        ...(input.customer ?? { givenName: 'Louis', familyName: 'Wu', email: 'louis@example.com' }),
        ...(input.identifier ? { identifier: input.identifier } : {}),
      },
      checkoutSessionId: null,
      publisherId: input.seller?.publisherId ?? null,
      sellerId: input.seller?.sellerId ?? (input.testMode ? null : SELLER['@id']),
      seller: SELLER,
      broker: { type: 'Organization', name: 'Acme Fitness', url: 'https://acme.example' },
      totalPrice: total,
      currency: 'GBP',
      paymentId: input.paymentId ?? null,
      bookingTarget: input.seller
        ? {
            publisherId: input.seller.publisherId,
            endpointUrl: input.seller.endpointUrl,
            sellerId: input.seller.sellerId,
          }
        : null,
      bookingRequest: null,
      testMode: input.testMode ?? false,
      items,
    }),
  );
  if (input.confirm === false) return { id, itemIds: (await orders.findItems(id)).map((i) => i.id) };
  await orders.markBooked(id, {
    sellerResponse: input.sellerResponse ?? { '@type': 'Order', identifier: id },
    items: input.items.map((item, position) => ({
      position,
      sellerOrderItemId:
        item.sellerItemId ?? `https://seller.example/api/openbooking/orders/${id}#/orderedItem/${position + 1}`,
    })),
  });
  await t.deps.database.db.transaction().execute((trx) => orders.markConfirmed(trx, id));
  return { id, itemIds: (await orders.findItems(id)).map((i) => i.id) };
}
