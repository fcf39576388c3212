import { inflateSync } from 'node:zlib';
import type { ConfirmationEmailInput } from './confirmation-email.js';

/** A realistic confirmation (two items, seller terms, navigation links). */
export function sampleConfirmation(overrides: Partial<ConfirmationEmailInput> = {}): ConfirmationEmailInput {
  return {
    broker: {
      name: 'Acme Fitness',
      url: 'https://acme.example/',
      logoUrl: 'https://acme.example/logo.png',
      primaryColor: '#ff6600',
      contactEmail: 'help@acme.example',
      termsUrl: 'https://acme.example/terms',
    },
    customer: { givenName: 'Louis', familyName: 'Wu', email: 'louis@example.com' },
    orderNumber: 'AH-7Q2K9D',
    barcode: 'AH7Q2K9D-01',
    items: [
      {
        name: 'Yoga Flow',
        startDate: '2026-12-05T10:00:00Z',
        endDate: '2026-12-05T11:00:00Z',
        locationName: 'Riverside Leisure Centre',
        address: '1 River Road, Bristol, BS1 1AA',
        attendeeName: 'Louis Wu',
        priceText: '£5.50',
      },
      {
        name: 'Spin Class',
        startDate: '2026-12-06T18:30:00Z',
        endDate: null,
        locationName: 'Riverside Leisure Centre',
        attendeeName: 'Mei Wu',
        priceText: 'Free',
      },
    ],
    totalText: '£5.50',
    seller: {
      name: 'Bristol Leisure Trust',
      termsUrl: 'https://seller.example/terms',
      email: 'bookings@seller.example',
      telephone: '0117 496 0000',
    },
    navigationLinks: [
      { name: 'My bookings', url: 'https://acme.example/bookings' },
      { name: 'Find more activities', url: 'https://acme.example/search' },
    ],
    ...overrides,
  };
}

/**
 * Reads an 8-bit greyscale PNG (what barcode.ts writes; filter type 0 rows) back into pixel rows,
 * checking the signature, the chunk CRCs' presence and the header.
 */
export function readGreyPng(png: Buffer): { width: number; height: number; pixel(x: number, y: number): number } {
  if (!png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    throw new Error('not a PNG');
  }
  let offset = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('ascii', offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      if (data[8] !== 8 || data[9] !== 0) throw new Error('expected 8-bit greyscale');
    }
    if (type === 'IDAT') idat.push(data);
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  if (raw.length !== (width + 1) * height) throw new Error('unexpected image data length');
  return {
    width,
    height,
    pixel: (x, y) => {
      if (raw[y * (width + 1)] !== 0) throw new Error('unexpected filter type');
      return raw[y * (width + 1) + 1 + x]!;
    },
  };
}

/** The module matrix drawn in a QR PNG with `quiet` blank modules around it. */
export function modulesOf(png: Buffer, size: number, quiet = 4): boolean[][] {
  const image = readGreyPng(png);
  const scale = image.width / (size + 2 * quiet);
  return Array.from({ length: size }, (_, r) =>
    Array.from(
      { length: size },
      (_, c) => image.pixel(Math.floor((c + quiet + 0.5) * scale), Math.floor((r + quiet + 0.5) * scale)) < 128,
    ),
  );
}
