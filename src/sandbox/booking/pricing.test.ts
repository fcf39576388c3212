import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  aggregatePrepayment,
  OPTIONAL,
  orderTotals,
  priceItem,
  REQUIRED,
  TAX_GROSS,
  TAX_NET,
  toMinor,
  UNAVAILABLE,
} from './pricing.js';

describe('pricing', () => {
  it('takes VAT out of a gross price and adds it to a net one', () => {
    expect(priceItem(1200, TAX_GROSS, false)).toEqual({ priceMinor: 1200, payableMinor: 1200, taxMinor: 200 });
    expect(priceItem(1000, TAX_NET, false)).toEqual({ priceMinor: 1000, payableMinor: 1200, taxMinor: 200 });
    expect(priceItem(1000, TAX_NET, true)).toEqual({ priceMinor: 1000, payableMinor: 1000, taxMinor: 0 });
  });

  it('keeps tax within a gross price and on top of a net one, for any price', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000_000 }), (price) => {
        const g = priceItem(price, TAX_GROSS, false);
        expect(g.payableMinor).toBe(price);
        expect(g.taxMinor).toBeGreaterThanOrEqual(0);
        expect(g.taxMinor).toBeLessThanOrEqual(price);
        const n = priceItem(price, TAX_NET, false);
        expect(n.payableMinor - n.taxMinor).toBe(price);
        expect(Math.abs(n.taxMinor - price * 0.2)).toBeLessThanOrEqual(0.5);
      }),
    );
  });

  it('reads prices in major units exactly', () => {
    expect(toMinor(7.5)).toBe(750);
    expect(toMinor(0.1 + 0.2)).toBe(30);
    expect(toMinor(1.005)).toBeUndefined();
    expect(toMinor(-1)).toBeUndefined();
    expect(toMinor('7.50')).toBeUndefined();
  });

  it('aggregates openBookingPrepayment over paid items only (Open Booking API §1.9)', () => {
    expect(aggregatePrepayment([{ payableMinor: 0, openBookingPrepayment: null }])).toBeUndefined();
    expect(aggregatePrepayment([{ payableMinor: 100, openBookingPrepayment: null }])).toBe(REQUIRED);
    expect(
      aggregatePrepayment([
        { payableMinor: 100, openBookingPrepayment: OPTIONAL },
        { payableMinor: 100, openBookingPrepayment: UNAVAILABLE },
        { payableMinor: 0, openBookingPrepayment: REQUIRED },
      ]),
    ).toBe(OPTIONAL);
    expect(aggregatePrepayment([{ payableMinor: 100, openBookingPrepayment: UNAVAILABLE }])).toBe(UNAVAILABLE);
    expect(
      aggregatePrepayment([
        { payableMinor: 100, openBookingPrepayment: OPTIONAL },
        { payableMinor: 100, openBookingPrepayment: REQUIRED },
      ]),
    ).toBe(REQUIRED);
  });

  it('totals payable amounts, and tax as the sum of the per-unit taxes', () => {
    const totals = orderTotals(
      [
        { price: priceItem(333, TAX_GROSS, false), openBookingPrepayment: REQUIRED },
        { price: priceItem(333, TAX_GROSS, false), openBookingPrepayment: REQUIRED },
        { price: priceItem(334, TAX_GROSS, false), openBookingPrepayment: REQUIRED },
      ],
      'GBP',
      false,
    );
    expect(totals.totalPaymentDue).toEqual({
      '@type': 'PriceSpecification',
      price: 10,
      priceCurrency: 'GBP',
      openBookingPrepayment: REQUIRED,
    });
    expect(totals.totalPaymentTax).toEqual([
      { '@type': 'TaxChargeSpecification', name: 'VAT at 20%', price: 1.68, priceCurrency: 'GBP', rate: 0.2 },
    ]);
  });
});
