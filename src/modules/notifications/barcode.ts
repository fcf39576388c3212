import { crc32, deflateSync } from 'node:zlib';
import QRCode from 'qrcode';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** A square black-on-white matrix as an 8-bit greyscale PNG, `scale` pixels per module. */
function matrixPng(size: number, dark: (row: number, col: number) => boolean, scale: number, quiet: number): Buffer {
  const modules = size + 2 * quiet;
  const width = modules * scale;
  const raw = Buffer.alloc((width + 1) * width, 0xff);
  for (let y = 0; y < width; y += 1) {
    const rowStart = y * (width + 1);
    raw[rowStart] = 0; // filter: none
    const r = Math.floor(y / scale) - quiet;
    if (r < 0 || r >= size) continue;
    for (let c = 0; c < size; c += 1) {
      if (!dark(r, c)) continue;
      raw.fill(0x00, rowStart + 1 + (c + quiet) * scale, rowStart + 1 + (c + quiet + 1) * scale);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(width, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  ihdr[10] = 0; // deflate
  ihdr[11] = 0; // adaptive filtering
  ihdr[12] = 0; // no interlace
  return Buffer.concat([
    PNG_SIGNATURE,
    chunk('IHDR', ihdr),
    // zlib's default level: level 9 took ~10× longer on these runs of identical bytes (2.4 ms
    // against 0.2 ms per code, on the request path of every checkout) for a 10% smaller file.
    chunk('IDAT', deflateSync(raw, { level: 6 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * The entry barcode: `value` as a QR code PNG (error correction M, 6 px per module, the 4-module
 * quiet zone the standard asks for). Synchronous so an email renders in one step.
 */
export function qrCodePng(value: string, scale = 6): Buffer {
  const { modules } = QRCode.create(value, { errorCorrectionLevel: 'M' });
  return matrixPng(modules.size, (r, c) => modules.data[r * modules.size + c] === 1, scale, 4);
}

/** The module matrix `qrCodePng` draws (for tests that read the picture back). */
export function qrCodeMatrix(value: string): boolean[][] {
  const { modules } = QRCode.create(value, { errorCorrectionLevel: 'M' });
  return Array.from({ length: modules.size }, (_, r) =>
    Array.from({ length: modules.size }, (_, c) => modules.data[r * modules.size + c] === 1),
  );
}
