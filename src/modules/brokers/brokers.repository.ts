import type { Insertable } from 'kysely';
import type { Executor } from '../../db/database.js';
import type { BrokersTable } from '../../db/schema.js';

export function insertBroker(db: Executor, broker: Insertable<BrokersTable>) {
  return db.insertInto('brokers').values(broker).returningAll().executeTakeFirstOrThrow();
}

export function findBrokerBySlug(db: Executor, slug: string) {
  return db.selectFrom('brokers').selectAll().where('slug', '=', slug).executeTakeFirst();
}

export function findBrokerById(db: Executor, id: number) {
  return db.selectFrom('brokers').selectAll().where('id', '=', id).executeTakeFirst();
}

export function listBrokers(db: Executor) {
  return db.selectFrom('brokers').selectAll().orderBy('id').execute();
}

export function insertApiKey(
  db: Executor,
  key: { broker_id: number; name: string; prefix: string; key_hash: string; mode: 'live' | 'test'; products: string[] },
) {
  return db
    .insertInto('api_keys')
    .values(key)
    .returning(['id', 'broker_id', 'name', 'prefix', 'mode', 'products', 'created_at'])
    .executeTakeFirstOrThrow();
}

export function findActiveKeyByHash(db: Executor, keyHash: string) {
  return db
    .selectFrom('api_keys')
    .innerJoin('brokers', 'brokers.id', 'api_keys.broker_id')
    .select([
      'api_keys.id as key_id',
      'api_keys.key_hash',
      'api_keys.mode',
      'api_keys.products',
      'api_keys.display_only',
      'api_keys.allowed_origins',
      'brokers.id as broker_id',
      'brokers.slug as broker_slug',
    ])
    .where('api_keys.key_hash', '=', keyHash)
    .where('api_keys.revoked_at', 'is', null)
    .executeTakeFirst();
}

export function findKeyByHash(db: Executor, keyHash: string) {
  return db
    .selectFrom('api_keys')
    .select(['id', 'broker_id', 'mode', 'revoked_at'])
    .where('key_hash', '=', keyHash)
    .executeTakeFirst();
}

/** Whether the broker has a key of this mode that is not revoked. */
export async function hasActiveKey(db: Executor, brokerId: number, mode: 'live' | 'test'): Promise<boolean> {
  const row = await db
    .selectFrom('api_keys')
    .select('id')
    .where('broker_id', '=', brokerId)
    .where('mode', '=', mode)
    .where('revoked_at', 'is', null)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

export function listApiKeys(db: Executor, brokerId?: number) {
  let q = db
    .selectFrom('api_keys')
    .innerJoin('brokers', 'brokers.id', 'api_keys.broker_id')
    .select([
      'api_keys.id',
      'brokers.slug as broker',
      'api_keys.name',
      'api_keys.prefix',
      'api_keys.mode',
      'api_keys.products',
      'api_keys.created_at',
      'api_keys.revoked_at',
    ])
    .orderBy('api_keys.id');
  if (brokerId !== undefined) q = q.where('api_keys.broker_id', '=', brokerId);
  return q.execute();
}

export function revokeApiKey(db: Executor, id: number, at: Date) {
  return db
    .updateTable('api_keys')
    .set({ revoked_at: at })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .returning(['id', 'key_hash'])
    .executeTakeFirst();
}
