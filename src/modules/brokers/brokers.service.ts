import { hash, timingSafeEqual } from 'node:crypto';
import { Counter, type Registry } from 'prom-client';
import type { Database } from '../../db/database.js';
import type { Mode } from '../../db/schema.js';
import { AppError } from '../../http/errors.js';
import type { Clock } from '../../lib/clock.js';
import { randomAlphanumeric } from '../../lib/ids.js';
import * as repo from './brokers.repository.js';

export const PRODUCTS = ['search', 'firehose', 'booking', 'checkout', 'sellers'] as const;
export type Product = (typeof PRODUCTS)[number];
/** A key's mode: the world it sees and changes (test keys: only test data, test sellers). */
export type KeyMode = Mode;

/** Who is calling: resolved from X-API-KEY on every authenticated request. */
export interface AuthContext {
  brokerId: number;
  brokerSlug: string;
  keyId: number;
  mode: KeyMode;
  products: Product[];
  displayOnly: boolean;
  allowedOrigins: string[];
}

/**
 * Whose data a request sees and changes: one broker's, in the key's mode. Every broker-scoped
 * read and write filters on both (DECISIONS §2; issue 14 point 3), so another broker's or the
 * other mode's record answers exactly as an unknown one.
 */
export type Tenant = Pick<AuthContext, 'brokerId' | 'mode'>;

export interface BrokerInput {
  slug: string;
  name: string;
  url?: string | undefined;
  logoUrl?: string | undefined;
  backgroundImageUrl?: string | undefined;
  primaryColor?: string | undefined;
  secondaryColor?: string | undefined;
  contactEmail?: string | undefined;
  termsUrl?: string | undefined;
  emailFrom?: string | undefined;
  checkoutHost?: string | undefined;
  webhookUrl?: string | undefined;
  webhookApiKey?: string | undefined;
}

export const DEMO_BROKER = { slug: 'acme', name: 'Acme Fitness', url: 'https://acme-fitness.example.com' } as const;

/**
 * The mode of a key given by the operator (DEMO_API_KEY): `ah_live_…` is a live key, anything
 * else a test key, so a key chosen for scripts cannot become live by accident.
 */
export function modeOfGivenKey(rawKey: string): KeyMode {
  return rawKey.startsWith('ah_live_') ? 'live' : 'test';
}

/** Good keys kept in the lookup cache (a deployment has far fewer active keys than this). */
const KNOWN_KEYS_CACHED = 10_000;
/** Unknown key hashes kept (about 150 bytes each); the rate limits bound how fast they arrive. */
const UNKNOWN_KEYS_CACHED = 50_000;

/**
 * A map bounded to `capacity` entries with a deadline each; when full, the least recently used
 * entry goes (a Map keeps insertion order, and a hit is moved to the end).
 */
class BoundedCache<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();
  constructor(private readonly capacity: number) {}

  get(key: string, now: number): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (entry.expiresAt <= now) return undefined;
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V, expiresAt: number): void {
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt });
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}

export function hashApiKey(rawKey: string): string {
  // The one-shot hash skips building a Hash object: this runs on every authenticated request.
  return hash('sha256', rawKey, 'hex');
}

export function createBrokersService({
  database,
  clock,
  authCacheTtlMs,
  metrics,
}: {
  database: Database;
  clock: Clock;
  authCacheTtlMs: number;
  /** Where `auth_key_lookups_total` (database lookups of API keys, by result) is registered. */
  metrics?: Registry;
}) {
  const { db } = database;
  const lookups = new Counter({
    name: 'auth_key_lookups_total',
    help: 'API keys looked up in the database (cache misses), by result',
    labelNames: ['result'],
    registers: metrics ? [metrics] : [],
  });
  // Key hash → context. Saves a query per request; a revocation made in this process takes
  // effect at once, one made elsewhere (the CLI) within `authCacheTtlMs`. Good and unknown keys
  // are kept apart, each bounded and evicting only its own oldest entries, so a flood of unknown
  // keys can neither push a good key out nor cost more than one lookup per distinct key per TTL.
  const known = new BoundedCache<AuthContext>(KNOWN_KEYS_CACHED);
  const unknown = new BoundedCache<true>(UNKNOWN_KEYS_CACHED);

  function checkSlug(slug: string): void {
    if (!/^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$/.test(slug)) {
      throw new AppError(
        'BAD_REQUEST',
        'A broker slug is 1-50 characters of a-z, 0-9 and "-", not starting or ending with "-".',
      );
    }
  }

  function checkProducts(products: string[]): Product[] {
    const bad = products.filter((p) => !(PRODUCTS as readonly string[]).includes(p));
    if (bad.length || products.length === 0) {
      throw new AppError('BAD_REQUEST', `Products must be a non-empty list from: ${PRODUCTS.join(', ')}.`);
    }
    return [...new Set(products)] as Product[];
  }

  async function issueKey(
    brokerId: number,
    options: { name?: string; mode?: KeyMode; products?: string[]; rawKey?: string },
  ): Promise<{ id: number; key: string; prefix: string; mode: KeyMode; products: Product[] }> {
    const mode = options.mode ?? 'live';
    const products = checkProducts(options.products ?? [...PRODUCTS]);
    const key = options.rawKey ?? `ah_${mode}_${randomAlphanumeric(32)}`;
    const prefix = key.slice(0, Math.min(12, key.length - 4));
    const row = await repo.insertApiKey(db, {
      broker_id: brokerId,
      name: options.name ?? 'default',
      prefix,
      key_hash: hashApiKey(key),
      mode,
      products,
    });
    // A key looked up before it existed (e.g. a DEMO_API_KEY given in advance) works at once.
    unknown.delete(hashApiKey(key));
    return { id: row.id, key, prefix, mode, products };
  }

  return {
    async createBroker(input: BrokerInput) {
      checkSlug(input.slug);
      if (!input.name.trim()) throw new AppError('BAD_REQUEST', 'A broker needs a name.');
      if (await repo.findBrokerBySlug(db, input.slug)) {
        throw new AppError('CONFLICT', `A broker with slug "${input.slug}" already exists.`);
      }
      return repo.insertBroker(db, {
        slug: input.slug,
        name: input.name.trim(),
        url: input.url ?? null,
        logo_url: input.logoUrl ?? null,
        background_image_url: input.backgroundImageUrl ?? null,
        primary_color: input.primaryColor ?? null,
        secondary_color: input.secondaryColor ?? null,
        contact_email: input.contactEmail ?? null,
        terms_url: input.termsUrl ?? null,
        email_from: input.emailFrom ?? null,
        checkout_host: input.checkoutHost ?? null,
        webhook_url: input.webhookUrl ?? null,
        webhook_api_key: input.webhookApiKey ?? null,
      });
    },

    listBrokers: () => repo.listBrokers(db),

    findBrokerBySlug: (slug: string) => repo.findBrokerBySlug(db, slug),

    async createKey(brokerSlug: string, options: { name?: string; mode?: KeyMode; products?: string[] } = {}) {
      const broker = await repo.findBrokerBySlug(db, brokerSlug);
      if (!broker) throw new AppError('NOT_FOUND', `No broker with slug "${brokerSlug}".`);
      return issueKey(broker.id, options);
    },

    async listKeys(brokerSlug?: string) {
      if (brokerSlug === undefined) return repo.listApiKeys(db);
      const broker = await repo.findBrokerBySlug(db, brokerSlug);
      if (!broker) throw new AppError('NOT_FOUND', `No broker with slug "${brokerSlug}".`);
      return repo.listApiKeys(db, broker.id);
    },

    async revokeKey(id: number) {
      const row = await repo.revokeApiKey(db, id, clock.now());
      if (!row) throw new AppError('NOT_FOUND', `No active API key with id ${id}.`);
      known.delete(row.key_hash);
    },

    /**
     * Resolves a raw key. Returns null for an unknown or revoked key. Lookup is by SHA-256 of
     * the key (keys are 190-bit random, so a fast hash is enough); the stored hash is then
     * compared in constant time.
     */
    async authenticate(rawKey: string): Promise<AuthContext | null> {
      const keyHash = hashApiKey(rawKey);
      const now = Date.now();
      const cached = known.get(keyHash, now);
      if (cached) return cached;
      if (unknown.get(keyHash, now)) return null;
      const row = await repo.findActiveKeyByHash(db, keyHash);
      lookups.inc({ result: row ? 'found' : 'unknown' });
      let context: AuthContext | null = null;
      if (row && timingSafeEqual(Buffer.from(row.key_hash, 'hex'), Buffer.from(keyHash, 'hex'))) {
        context = {
          brokerId: row.broker_id,
          brokerSlug: row.broker_slug,
          keyId: row.key_id,
          mode: row.mode,
          products: row.products as Product[],
          displayOnly: row.display_only,
          allowedOrigins: row.allowed_origins,
        };
      }
      if (authCacheTtlMs > 0) {
        if (context) known.set(keyHash, context, now + authCacheTtlMs);
        else unknown.set(keyHash, true, now + authCacheTtlMs);
      }
      return context;
    },

    /**
     * Creates the demo broker "Acme Fitness" on a fresh install and returns a key to print: a
     * test key, so the README's worked example books the bundled sandbox (test publishers) with
     * test payments. An install whose demo broker has no active test key yet (its demo key was
     * live before test mode became a world of its own) gets one too; its live key keeps working
     * for live data. With `demoKey` (DEMO_API_KEY) that exact key is ensured, its mode following
     * its prefix (modeOfGivenKey), so scripts know it in advance.
     */
    async ensureDemoBroker(demoKey: string | undefined): Promise<{ created: boolean; key?: string; mode?: KeyMode }> {
      let broker = await repo.findBrokerBySlug(db, DEMO_BROKER.slug);
      let created = false;
      if (!broker) {
        broker = await repo.insertBroker(db, {
          ...DEMO_BROKER,
          primary_color: '#0b6e4f',
          secondary_color: '#f2a541',
          contact_email: 'help@acme-fitness.example.com',
          terms_url: 'https://acme-fitness.example.com/terms',
          email_from: 'Acme Fitness <bookings@acme-fitness.example.com>',
        });
        created = true;
      }
      if (demoKey) {
        const existing = await repo.findKeyByHash(db, hashApiKey(demoKey));
        if (existing && existing.broker_id !== broker.id) {
          throw new AppError('CONFLICT', 'DEMO_API_KEY is already in use by another broker.');
        }
        const mode = existing?.mode ?? modeOfGivenKey(demoKey);
        if (!existing) await issueKey(broker.id, { name: 'demo (DEMO_API_KEY)', rawKey: demoKey, mode });
        return { created, key: demoKey, mode };
      }
      if (!(await repo.hasActiveKey(db, broker.id, 'test'))) {
        const issued = await issueKey(broker.id, { name: 'demo', mode: 'test' });
        return { created, key: issued.key, mode: 'test' };
      }
      return { created };
    },
  };
}

export type BrokersService = ReturnType<typeof createBrokersService>;
