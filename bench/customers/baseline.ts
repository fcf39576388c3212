/**
 * The bare baseline for the customer-accounts benchmark: Fastify 5 and a `pg` Pool doing the same
 * per-request work as activehub (API-key check, INSERT … RETURNING or SELECT by identifier, a
 * CustomerAccount JSON body, a Location header) and nothing else — no schemas, no hooks, no
 * logging, no rate limiting, no metrics. The gap between the two is what our stack costs.
 *
 * Run by bench/customers/run.ts as a child process; settings come from its environment:
 * PORT, DATABASE_URL (a database of its own), API_KEY, POOL_SIZE.
 */
import { randomInt } from 'node:crypto';
import Fastify from 'fastify';
import pg from 'pg';

const port = Number(process.env.PORT ?? 3100);
const databaseUrl = process.env.DATABASE_URL;
const apiKey = process.env.API_KEY;
const poolSize = Number(process.env.POOL_SIZE ?? 20);
if (!databaseUrl || !apiKey) throw new Error('baseline needs DATABASE_URL and API_KEY');

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const newIdentifier = (): string => {
  let out = '';
  for (let i = 0; i < 10; i += 1) out += ALPHANUMERIC[randomInt(ALPHANUMERIC.length)];
  return out;
};

// The same table shape, constraints and indexes as activehub's `customers`, so every INSERT
// maintains the same indexes and checks the same foreign key.
const SCHEMA = `
  create table if not exists brokers (id serial primary key, slug text not null unique);
  insert into brokers (slug) values ('acme') on conflict (slug) do nothing;
  create table if not exists customers (
    id bigserial primary key,
    broker_id integer not null references brokers(id) on delete cascade,
    identifier text not null unique,
    state text not null default 'active' check (state in ('active', 'erasing', 'erased')),
    given_name text not null,
    family_name text not null,
    email text not null,
    telephone text,
    birth_date date,
    gender text,
    is_13_or_over boolean,
    address jsonb,
    emergency_contact jsonb,
    access_pass text,
    entitlement jsonb,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    erasure_requested_at timestamptz,
    erased_at timestamptz
  );
  create index if not exists customers_broker_idx on customers (broker_id, created_at);
`;

interface CustomerRow {
  identifier: string;
  given_name: string;
  family_name: string;
  email: string;
  telephone: string | null;
  birth_date: string | null;
  gender: string | null;
  is_13_or_over: boolean | null;
  address: unknown;
  emergency_contact: unknown;
}

interface Person {
  email: string;
  givenName: string;
  familyName: string;
  telephone?: string;
  birthDate?: string;
  gender?: string;
  'imin:is13OrOver'?: boolean;
  address?: object;
  emergencyContact?: object;
}

// `date` stays the ISO string it is, as in activehub.
pg.types.setTypeParser(1082, (value: string) => value);
const pool = new pg.Pool({ connectionString: databaseUrl, max: poolSize });
await pool.query(SCHEMA);
const brokerId = (await pool.query<{ id: number }>("select id from brokers where slug = 'acme'")).rows[0]!.id;
const keys = new Map<string, number>([[apiKey, brokerId]]);

const accountUrl = (identifier: string) => `http://localhost:${port}/api/v2/customer-accounts/${identifier}`;
const toAccount = (row: CustomerRow) => ({
  '@context': 'https://openactive.io/',
  '@type': 'CustomerAccount',
  '@id': accountUrl(row.identifier),
  identifier: row.identifier,
  customer: {
    '@type': 'Person',
    email: row.email,
    telephone: row.telephone ?? undefined,
    givenName: row.given_name,
    familyName: row.family_name,
    birthDate: row.birth_date ?? undefined,
    gender: row.gender ?? undefined,
    'imin:is13OrOver': row.is_13_or_over ?? undefined,
    address: row.address ?? undefined,
    emergencyContact: row.emergency_contact ?? undefined,
  },
});

const app = Fastify({ logger: false });

app.get('/health', async () => ({ status: 'ok' }));

app.post('/api/v2/customer-accounts', async (request, reply) => {
  const broker = keys.get(String(request.headers['x-api-key']));
  if (broker === undefined) return reply.code(401).send({ error: 'unauthenticated' });
  const person = (request.body as { customer: Person }).customer;
  const { rows } = await pool.query<CustomerRow>(
    `insert into customers (broker_id, identifier, email, given_name, family_name, telephone, birth_date, gender,
       is_13_or_over, address, emergency_contact)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) returning *`,
    [
      broker,
      newIdentifier(),
      person.email,
      person.givenName,
      person.familyName,
      person.telephone ?? null,
      person.birthDate ?? null,
      person.gender ?? null,
      person['imin:is13OrOver'] ?? null,
      person.address ? JSON.stringify(person.address) : null,
      person.emergencyContact ? JSON.stringify(person.emergencyContact) : null,
    ],
  );
  const row = rows[0]!;
  return reply.code(201).header('location', `/api/v2/customer-accounts/${row.identifier}`).send(toAccount(row));
});

app.get<{ Params: { id: string } }>('/api/v2/customer-accounts/:id', async (request, reply) => {
  const broker = keys.get(String(request.headers['x-api-key']));
  if (broker === undefined) return reply.code(401).send({ error: 'unauthenticated' });
  const { rows } = await pool.query<CustomerRow>(
    "select * from customers where identifier = $1 and broker_id = $2 and state = 'active'",
    [request.params.id, broker],
  );
  if (!rows[0]) return reply.code(404).send({ error: 'not found' });
  return toAccount(rows[0]);
});

const shutdown = async () => {
  await app.close();
  await pool.end();
  process.exit(0);
};
process.once('SIGTERM', () => void shutdown());
process.once('SIGINT', () => void shutdown());

await app.listen({ port, host: '127.0.0.1' });
