import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSealer, loadOrCreateKeyFile, parseSecretsKey, SecretsError } from './secrets.js';

describe('sealing secrets', () => {
  const key = randomBytes(32);
  const sealer = createSealer(key);

  it('opens what it sealed, in its context only', () => {
    const sealed = sealer.seal('{"authorization":"Bearer x"}', 'row 1');
    expect(sealed).not.toContain('Bearer');
    expect(sealer.open(sealed, 'row 1')).toBe('{"authorization":"Bearer x"}');
    // A fresh IV each time: the same secret never seals to the same text.
    expect(sealer.seal('same', 'c')).not.toBe(sealer.seal('same', 'c'));
    expect(() => sealer.open(sealed, 'row 2')).toThrow(SecretsError);
  });

  it('refuses altered values and values of another key, saying which', () => {
    const sealed = sealer.seal('secret', 'c');
    const body = sealed.split('.')[2]!;
    const flipped = Buffer.from(body, 'base64url');
    flipped[flipped.length - 1]! ^= 1;
    expect(() => sealer.open(`v1.${sealer.keyId}.${flipped.toString('base64url')}`, 'c')).toThrow(SecretsError);
    const other = createSealer(randomBytes(32));
    expect(() => other.open(sealed, 'c')).toThrow(new RegExp(`sealed with key ${sealer.keyId}`));
    for (const bad of ['', 'v1', 'v2.x.y', `v1.${sealer.keyId}.`, `v1.${sealer.keyId}.a.b`]) {
      expect(() => sealer.open(bad, 'c')).toThrow(SecretsError);
    }
  });

  it('reads SECRETS_KEY as hex or base64 of 32 bytes, nothing else', () => {
    expect(parseSecretsKey(key.toString('hex'))).toEqual(key);
    expect(parseSecretsKey(key.toString('base64'))).toEqual(key);
    expect(parseSecretsKey(key.toString('base64url'))).toEqual(key);
    expect(parseSecretsKey(`  ${key.toString('base64')}\n`)).toEqual(key);
    for (const bad of [
      '',
      'short',
      randomBytes(16).toString('hex'),
      randomBytes(31).toString('base64'),
      'x'.repeat(64),
    ]) {
      expect(parseSecretsKey(bad)).toBeUndefined();
    }
  });

  it('makes one key file readable by its owner only, and every later caller reads the same key', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'activehub-secrets-'));
    const file = path.join(dir, 'nested', 'secrets.key');
    const first = loadOrCreateKeyFile(file);
    expect(first.created).toBe(true);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const again = loadOrCreateKeyFile(file);
    expect(again).toEqual({ key: first.key, created: false });
    expect(fs.readdirSync(path.dirname(file))).toEqual(['secrets.key']);
    fs.writeFileSync(file, 'not a key');
    expect(() => loadOrCreateKeyFile(file)).toThrow(SecretsError);
    fs.rmSync(dir, { recursive: true });
  });
});
