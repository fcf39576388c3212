import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/*
 * Secrets we must be able to read back (sellers' booking-partner credentials) are stored sealed:
 * AES-256-GCM under one 32-byte key (SECRETS_KEY, or a key file made on first start). Each value
 * is bound to where it is stored (`context`, e.g. the publisher and seller it belongs to) as
 * GCM's additional data, so a sealed value copied into another row does not open there.
 *
 * Sealed form: `v1.<key id>.<base64url(iv ‖ tag ‖ ciphertext)>`; the key id (first 8 hex chars of
 * SHA-256 of the key) says which key sealed it, so a wrong key is reported as such.
 */

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface Sealer {
  /** Which key this is (not secret: a hash prefix), for logs and for telling keys apart. */
  keyId: string;
  seal(plaintext: string, context: string): string;
  /** Throws SecretsError when the value was sealed with another key, altered, or moved. */
  open(sealed: string, context: string): string;
}

export class SecretsError extends Error {
  override name = 'SecretsError';
}

export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

export function createSealer(key: Buffer): Sealer {
  if (key.length !== 32) throw new SecretsError('a secrets key is 32 bytes');
  const keyId = keyIdOf(key);
  return {
    keyId,
    seal(plaintext, context) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(context, 'utf8'));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return `${VERSION}.${keyId}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
    },
    open(sealed, context) {
      const [version, id, payload, ...rest] = sealed.split('.');
      if (version !== VERSION || !id || payload === undefined || rest.length > 0) {
        throw new SecretsError('not a sealed value');
      }
      if (id !== keyId) {
        throw new SecretsError(`sealed with key ${id}, but this server's secrets key is ${keyId}`);
      }
      const raw = Buffer.from(payload, 'base64url');
      if (raw.length < IV_BYTES + TAG_BYTES) throw new SecretsError('a sealed value too short to open');
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
        decipher.setAAD(Buffer.from(context, 'utf8'));
        decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
        return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
      } catch {
        throw new SecretsError('a sealed value that does not open here (altered, or stored under another context)');
      }
    },
  };
}

/** SECRETS_KEY's forms: 64 hex digits, or base64 / base64url of 32 bytes. Undefined if neither. */
export function parseSecretsKey(text: string): Buffer | undefined {
  const trimmed = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)) {
    const key = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (key.length === 32) return key;
  }
  return undefined;
}

/**
 * The key in `file`, made (random, readable by this user only) when there is none. Two servers
 * starting at once on one data directory agree: the key is written to a file of this process's
 * own and then linked into place, which only one of them can do; the other reads the winner's.
 */
export function loadOrCreateKeyFile(file: string): { key: Buffer; created: boolean } {
  const read = () => {
    const key = parseSecretsKey(fs.readFileSync(file, 'utf8'));
    if (!key) throw new SecretsError(`${file} does not hold a secrets key (64 hex digits or base64 of 32 bytes)`);
    return key;
  };
  if (fs.existsSync(file)) return { key: read(), created: false };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const key = randomBytes(32);
  const own = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  fs.writeFileSync(own, `${key.toString('base64')}\n`, { flag: 'wx', mode: 0o600 });
  try {
    fs.linkSync(own, file);
    return { key, created: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { key: read(), created: false };
    throw err;
  } finally {
    fs.rmSync(own, { force: true });
  }
}
