/*
 * Prices, tax and the payment due for an Order (Open Booking API §1.9 in openactive.md).
 * Pure functions over minor units (pence) so totals add up exactly.
 */

export const TAX_GROSS = 'https://openactive.io/TaxGross';
export const TAX_NET = 'https://openactive.io/TaxNet';
export const REQUIRED = 'https://openactive.io/Required';
export const OPTIONAL = 'https://openactive.io/Optional';
export const UNAVAILABLE = 'https://openactive.io/Unavailable';

/** The sandbox's sellers are UK VAT-registered at the standard rate. */
export const VAT_RATE = 0.2;
export const VAT_NAME = 'VAT at 20%';

export interface ItemPrice {
  /** The offer's published price in minor units (gross for TaxGross sellers, net for TaxNet). */
  priceMinor: number;
  /** What the customer pays for the item (tax included unless tax calculation is excluded). */
  payableMinor: number;
  /** The VAT within (TaxGross) or on top of (TaxNet) the price; 0 when excluded. */
  taxMinor: number;
}

/**
 * Prices one item. TaxGross: the offer price includes VAT, the tax is the VAT fraction of it.
 * TaxNet: VAT is added on top. `taxCalculationExcluded` (a ResellerBroker buying B2B) leaves the
 * price as published with no tax computed (§1.9: B2B tax calculation is optional).
 */
export function priceItem(priceMinor: number, taxMode: string, taxCalculationExcluded: boolean): ItemPrice {
  if (taxCalculationExcluded) return { priceMinor, payableMinor: priceMinor, taxMinor: 0 };
  if (taxMode === TAX_NET) {
    const taxMinor = Math.round(priceMinor * VAT_RATE);
    return { priceMinor, payableMinor: priceMinor + taxMinor, taxMinor };
  }
  const taxMinor = Math.round(priceMinor - priceMinor / (1 + VAT_RATE));
  return { priceMinor, payableMinor: priceMinor, taxMinor };
}

export const toMajor = (minor: number): number => minor / 100;

/** Parses a price given in major units (e.g. `12.5`) to minor units, or undefined if it is not one. */
export function toMinor(value: unknown): number | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) return undefined;
  const minor = Math.round(value * 100);
  return Math.abs(minor - value * 100) < 1e-6 ? minor : undefined;
}

export function taxSpecification(taxMinor: number, currency: string): Record<string, unknown> {
  return {
    '@type': 'TaxChargeSpecification',
    name: VAT_NAME,
    price: toMajor(taxMinor),
    priceCurrency: currency,
    rate: VAT_RATE,
  };
}

/**
 * `totalPaymentDue.openBookingPrepayment` (§1.9): Required if any paid item requires (or does not
 * state) prepayment; Optional if some paid item is Optional and the rest Unavailable; Unavailable
 * when every paid item is Unavailable. Omitted when nothing is to be paid, as the test suite
 * expects for free orders.
 */
export function aggregatePrepayment(
  items: { payableMinor: number; openBookingPrepayment: string | null }[],
): string | undefined {
  const paid = items.filter((i) => i.payableMinor > 0);
  if (paid.length === 0) return undefined;
  if (paid.some((i) => i.openBookingPrepayment === null || i.openBookingPrepayment === REQUIRED)) return REQUIRED;
  if (paid.some((i) => i.openBookingPrepayment === OPTIONAL)) return OPTIONAL;
  return UNAVAILABLE;
}

export interface OrderTotals {
  totalPaymentDue: Record<string, unknown>;
  totalPaymentTax: Record<string, unknown>[] | undefined;
  payableMinor: number;
  prepayment: string | undefined;
}

/** `totalPaymentDue` and `totalPaymentTax` over the items that count (those without errors). */
export function orderTotals(
  items: { price: ItemPrice; openBookingPrepayment: string | null }[],
  currency: string,
  taxCalculationExcluded: boolean,
): OrderTotals {
  const payableMinor = items.reduce((sum, i) => sum + i.price.payableMinor, 0);
  const taxMinor = items.reduce((sum, i) => sum + i.price.taxMinor, 0);
  const prepayment = aggregatePrepayment(
    items.map((i) => ({ payableMinor: i.price.payableMinor, openBookingPrepayment: i.openBookingPrepayment })),
  );
  return {
    totalPaymentDue: {
      '@type': 'PriceSpecification',
      price: toMajor(payableMinor),
      priceCurrency: currency,
      ...(prepayment ? { openBookingPrepayment: prepayment } : {}),
    },
    totalPaymentTax: taxCalculationExcluded ? undefined : [taxSpecification(taxMinor, currency)],
    payableMinor,
    prepayment,
  };
}
