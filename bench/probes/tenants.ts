/*
 * bench/probes/tenants.ts: two brokers, live and test, attacking each other.
 *
 * Four tenants: acme live, acme test, rival live, rival test (bench/probes/common.ts makes the
 * brokers and keys with the CLI). Each gets customer accounts (one made with an Idempotency-Key),
 * a paid order made through the hosted pages (live: the seller's paid session; test: imin's paid
 * test item), its receipts, and a checkout session left open at its first page. Then, for every
 * ordered pair (victim, attacker) of different tenants, every broker-facing operation of
 * `/openapi.json` is tried with the attacker's key against the victim's ids: customer ids, order
 * and order item ids, receipt ids, checkout session ids (with either broker's slug), the victim's
 * Idempotency-Key with the victim's body and with another, the victim's customer id in a checkout;
 * and the hosted pages of the victim's sessions under the attacker's slug (read and post).
 *
 * Counted:
 * - cross-tenant reads: an answer (body or Location) holding any of the victim's ids, emails or
 *   names that the request did not itself carry;
 * - cross-tenant changes: the victim's rows in every table with a broker_id (and mode) column, and
 *   in every table with an order_id column for the victim's orders, compared before and after.
 * Both must be 0 (exit 1 otherwise).
 *
 *   npm run probe:tenants -- [--pg-url postgres://…]   (PGlite without it)
 */
import { parseArgs } from 'node:util';
import { call, checkout, loadavg, sleep, startWorld, table, type Query, type World } from './common.js';

const { values } = parseArgs({
  options: { 'pg-url': { type: 'string' }, help: { type: 'boolean', default: false } },
});
if (values.help) {
  console.log('npm run probe:tenants -- [--pg-url postgres://user@host:5432/postgres]');
  process.exit(0);
}

interface Tenant {
  label: string;
  slug: string;
  mode: 'live' | 'test';
  brokerId: number;
  key: string;
  customers: string[];
  emails: string[];
  names: string[];
  orders: string[];
  orderItems: string[];
  receipts: string[];
  sessions: string[];
  idempotencyKey: string;
  idempotencyBody: Record<string, unknown>;
}

async function makeTenant(world: World, label: string, slug: string, mode: 'live' | 'test', key: string) {
  const { base } = world;
  const t: Tenant = {
    label,
    slug,
    mode,
    brokerId: 0,
    key,
    customers: [],
    emails: [],
    names: [],
    orders: [],
    orderItems: [],
    receipts: [],
    sessions: [],
    idempotencyKey: `idem-${label.replace(/\W/g, '-')}-shared-key`,
    idempotencyBody: {},
  };
  const tag = label.replace(/\W/g, '');
  for (let i = 0; i < 2; i += 1) {
    const person = { email: `victim-${tag}-${i}@example.com`, givenName: `Vic${tag}${i}`, familyName: `Tim${tag}${i}` };
    // Every tenant uses the same Idempotency-Key for its first customer.
    const headers: Record<string, string> = i === 0 ? { 'idempotency-key': 'idem-shared-by-every-tenant' } : {};
    const r = await call(base, 'POST', '/api/v2/customer-accounts', key, person, headers);
    if (r.status !== 201) throw new Error(`${label} customer: ${r.status} ${r.text}`);
    if (i === 0) {
      t.idempotencyKey = 'idem-shared-by-every-tenant';
      t.idempotencyBody = person;
    }
    t.customers.push((r.body as { identifier: string }).identifier);
    t.emails.push(person.email);
    t.names.push(person.givenName, person.familyName);
  }
  const opportunity = mode === 'live' ? world.opportunities[0]! : 'test-item-ScheduledSession-paid';
  const done = await checkout(base, slug, key, opportunity, t.customers[0]!);
  if (done.end !== 'confirmed') throw new Error(`${label} checkout: ${done.end} ${done.why ?? ''}`);
  t.sessions.push(done.sessionId!);
  const open = await call(base, 'POST', `/checkout/${slug}/api/checkout-sessions`, key, {
    'imin:initialOrder': {
      customer: t.customers[1],
      orderedItem: [{ orderedItem: { type: 'ScheduledSession', identifier: opportunity } }],
    },
  });
  if (open.status !== 201) throw new Error(`${label} open session: ${open.status} ${open.text}`);
  t.sessions.push((open.body as { identifier: string }).identifier);

  const list = await call(base, 'GET', `/api/v2/orders?customerIdentifier=${t.customers[0]}`, key);
  t.orders = [...new Set([...list.text.matchAll(/\/api\/v2\/orders\/([A-Za-z0-9_-]+)/g)].map((m) => m[1]!))];
  for (const o of t.orders) {
    const order = await call(base, 'GET', `/api/v2/orders/${o}`, key);
    t.receipts.push(...[...order.text.matchAll(/\/api\/v2\/receipts\/([A-Za-z0-9_-]+)/g)].map((m) => m[1]!));
    const body = order.body as { orderedItem?: { '@id'?: string; id?: string }[] };
    for (const item of body.orderedItem ?? []) {
      const id = item['@id'] ?? item.id;
      if (id) t.orderItems.push(id);
    }
  }
  if (!t.orders.length || !t.receipts.length || !t.orderItems.length)
    throw new Error(`${label}: no order, receipt or item (${list.text.slice(0, 300)})`);
  return t;
}

/** Every row the tenant owns, as JSON text per table. */
async function snapshot(q: Query, tenants: Tenant[]): Promise<Map<string, Map<string, string>>> {
  const cols = await q<{ table_name: string; column_name: string }>(
    `select table_name, column_name from information_schema.columns
      where table_schema = 'public' and column_name in ('broker_id', 'mode', 'order_id')`,
  );
  const tables = new Map<string, Set<string>>();
  for (const c of cols) tables.set(c.table_name, (tables.get(c.table_name) ?? new Set()).add(c.column_name));
  const out = new Map<string, Map<string, string>>();
  for (const t of tenants) {
    const rows = new Map<string, string>();
    const orderIds = (
      await q<{ id: string }>(`select id::text as id from orders where broker_id = $1 and mode = $2`, [
        t.brokerId,
        t.mode,
      ])
    ).map((r) => r.id);
    for (const [table, has] of [...tables].sort()) {
      let found: { j: string }[] = [];
      if (has.has('broker_id')) {
        const modeFilter = has.has('mode') ? ` and mode = $2` : '';
        found = await q<{ j: string }>(
          `select row_to_json(t)::text as j from "${table}" t where broker_id = $1${modeFilter}`,
          has.has('mode') ? [t.brokerId, t.mode] : [t.brokerId],
        );
      } else if (has.has('order_id')) {
        found = await q<{ j: string }>(
          `select row_to_json(t)::text as j from "${table}" t where order_id::text = any($1)`,
          [orderIds],
        );
      }
      // Rows compared as a sorted set, so a changed row shows as one removed and one added.
      const sorted = found.map((r) => r.j).sort();
      sorted.forEach((j, i) => rows.set(`${table}[${i}]`, j));
    }
    out.set(t.label, rows);
  }
  return out;
}

interface Try {
  op: string;
  method: string;
  path: string;
  key?: string | undefined;
  body?: unknown;
  form?: URLSearchParams;
  headers?: Record<string, string>;
}

function attacks(victim: Tenant, attacker: Tenant, opportunity: string): Try[] {
  const key = attacker.key;
  const tries: Try[] = [];
  const add = (op: string, method: string, path: string, extra: Partial<Try> = {}) =>
    tries.push({ op, method, path, key, ...extra });
  for (const c of victim.customers) {
    add('GET /api/v2/customer-accounts/{id}', 'GET', `/api/v2/customer-accounts/${c}`);
    add('PATCH /api/v2/customer-accounts/{id}', 'PATCH', `/api/v2/customer-accounts/${c}`, {
      body: { givenName: 'Hijacked', email: 'attacker@example.com' },
    });
    add('POST /api/v2/customer-accounts/{id}/actions', 'POST', `/api/v2/customer-accounts/${c}/actions`, {
      body: {
        '@context': 'https://openactive.io/',
        '@type': 'CustomerUpdateAction',
        object: { '@type': 'Person', givenName: 'Hijacked' },
      },
    });
    add('POST /api/v2/customer-accounts/{id}/actions', 'POST', `/api/v2/customer-accounts/${c}/actions`, {
      body: {
        '@context': 'https://openactive.io/',
        '@type': 'imin:AccessPassUpdateAction',
        object: { '@type': 'Barcode', text: 'HIJACK123' },
      },
    });
    add('GET /api/v2/customer-accounts/{id}/export', 'GET', `/api/v2/customer-accounts/${c}/export`);
    add('GET /api/v2/orders', 'GET', `/api/v2/orders?customerIdentifier=${c}`);
    add('GET /api/v2/order-items', 'GET', `/api/v2/order-items?customerIdentifier=${c}`);
    for (const slug of new Set([attacker.slug, victim.slug])) {
      const order = {
        'imin:initialOrder': {
          customer: c,
          orderedItem: [{ orderedItem: { type: 'ScheduledSession', identifier: opportunity } }],
        },
      };
      add('POST /checkout/{brokerSlug}/api/checkout-sessions', 'POST', `/checkout/${slug}/api/checkout-sessions`, {
        body: order,
      });
      add('POST /checkout/{brokerSlug}/checkout-sessions', 'POST', `/checkout/${slug}/checkout-sessions`, {
        body: order,
      });
      add('PUT /checkout/{brokerSlug}/checkout-sessions', 'PUT', `/checkout/${slug}/checkout-sessions`, {
        body: order,
      });
    }
  }
  for (const o of victim.orders) {
    add('GET /api/v2/orders/{id}', 'GET', `/api/v2/orders/${o}`);
    add('PATCH /api/v2/orders/{id}', 'PATCH', `/api/v2/orders/${o}`, {
      body: {
        '@context': 'https://openactive.io/',
        '@type': 'Order',
        orderedItem: victim.orderItems.map((id) => ({
          '@type': 'OrderItem',
          '@id': id,
          orderItemStatus: 'https://openactive.io/CustomerCancelled',
        })),
      },
    });
  }
  for (const r of victim.receipts) add('GET /api/v2/receipts/{id}', 'GET', `/api/v2/receipts/${r}`);
  for (const s of victim.sessions) {
    for (const slug of new Set([attacker.slug, victim.slug])) {
      add(
        'GET /checkout/{brokerSlug}/api/checkout-sessions/{id}',
        'GET',
        `/checkout/${slug}/api/checkout-sessions/${s}`,
      );
    }
    if (attacker.slug !== victim.slug) {
      // The hosted pages are reached by their URL alone: another broker's slug must not serve them.
      add('page GET /checkout/{slug}/s/{id}', 'GET', `/checkout/${attacker.slug}/s/${s}`, { key: undefined });
      for (const step of ['choose', 'details', 'pay']) {
        add(`page POST /checkout/{slug}/s/{id}/${step}`, 'POST', `/checkout/${attacker.slug}/s/${s}/${step}`, {
          key: undefined,
          form: new URLSearchParams({
            email: 'attacker@example.com',
            givenName: 'Hijacked',
            familyName: 'Hijacked',
            cardName: 'Attacker',
            cardNumber: '4242 4242 4242 4242',
            cardExpiry: '12/40',
            cardCvc: '123',
          }),
        });
      }
    }
  }
  // The victim's Idempotency-Key (every tenant used the same one): the victim's body and another.
  add('POST /api/v2/customer-accounts', 'POST', '/api/v2/customer-accounts', {
    body: victim.idempotencyBody,
    headers: { 'idempotency-key': victim.idempotencyKey },
  });
  add('POST /api/v2/customer-accounts', 'POST', '/api/v2/customer-accounts', {
    body: { email: 'attacker-other@example.com', givenName: 'Other', familyName: 'Body' },
    headers: { 'idempotency-key': victim.idempotencyKey },
  });
  // Deletions last: nothing above should have worked, and neither should these.
  for (const c of victim.customers)
    add('DELETE /api/v2/customer-accounts/{id}', 'DELETE', `/api/v2/customer-accounts/${c}`);
  return tries;
}

async function main() {
  const kind = values['pg-url'] ? `PostgreSQL (${new URL(values['pg-url']).host})` : 'PGlite';
  console.log(`tenants probe: acme and rival, live and test, against each other, ${kind}`);
  console.log(`  load average at start: ${loadavg()}`);
  const world = await startWorld({ pgUrl: values['pg-url'], prefix: 'ah_probe_tenants' });
  process.on('SIGINT', () => void world.close().then(() => process.exit(130)));
  try {
    const { keys } = world;
    const tenants = [
      await makeTenant(world, 'acme live', 'acme', 'live', keys.acmeLive),
      await makeTenant(world, 'acme test', 'acme', 'test', keys.acmeTest),
      await makeTenant(world, 'rival live', 'rival', 'live', keys.rivalLive),
      await makeTenant(world, 'rival test', 'rival', 'test', keys.rivalTest),
    ];
    // Let the confirmation emails and other jobs settle before the snapshots.
    await sleep(4000);
    await world.withDb(async (q) => {
      const brokers = await q<{ id: number; slug: string }>(`select id, slug from brokers`);
      for (const t of tenants) t.brokerId = brokers.find((b) => b.slug === t.slug)!.id;
    });
    const changes: string[] = [];
    let rowsWatched = 0;

    const spec = (await (await fetch(`${world.base}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { security?: Record<string, unknown>[] }>>;
    };
    const brokerOps = Object.entries(spec.paths).flatMap(([p, ms]) =>
      Object.entries(ms)
        .filter(([, o]) => (o.security ?? []).some((s) => 'apiKey' in s))
        .map(([m]) => `${m.toUpperCase()} ${p}`),
    );

    const perOp = new Map<string, { tried: number; statuses: Map<number, number>; reads: number }>();
    const reads: string[] = [];
    let total = 0;
    for (const victim of tenants) {
      // The victim's rows just before the other three attack it (they make no rows of its own).
      const before = (await world.withDb((q) => snapshot(q, [victim]))).get(victim.label)!;
      const markers = [
        ...victim.customers,
        ...victim.emails,
        ...victim.names,
        ...victim.orders,
        ...victim.orderItems.map((id) => id.split('/').pop()!),
        ...victim.receipts,
        ...victim.sessions,
      ];
      for (const attacker of tenants) {
        if (attacker === victim) continue;
        const opportunity = attacker.mode === 'live' ? world.opportunities[1]! : 'test-item-ScheduledSession-free';
        const tries = attacks(victim, attacker, opportunity);
        // The search operations hold no tenant data; they are tried with the victim's ids too.
        for (const op of brokerOps) {
          if (tries.some((t) => t.op === op)) continue;
          const [method, template] = op.split(' ') as [string, string];
          if (method !== 'GET') continue;
          for (const id of [victim.customers[0]!, victim.orders[0]!, victim.sessions[0]!]) {
            const p = template.replace(/\{[^}]+\}/g, id);
            tries.push({
              op,
              method,
              path: p.includes('?') || template.includes('{') ? p : `${p}?organizerId=${id}&iminTag=${id}`,
              key: attacker.key,
            });
          }
        }
        for (const t of tries) {
          total += 1;
          const res = await fetch(`${world.base}${t.path}`, {
            method: t.method,
            redirect: 'manual',
            headers: {
              ...(t.key ? { 'x-api-key': t.key } : {}),
              ...(t.body !== undefined ? { 'content-type': 'application/json' } : {}),
              ...(t.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
              ...t.headers,
            },
            ...(t.body !== undefined ? { body: JSON.stringify(t.body) } : {}),
            ...(t.form ? { body: t.form.toString() } : {}),
          });
          const text = `${res.headers.get('location') ?? ''}\n${await res.text()}`;
          const sent = `${t.path}\n${JSON.stringify(t.body ?? '')}\n${t.form?.toString() ?? ''}`;
          const leaked = markers.filter((m) => !sent.includes(m) && text.includes(m));
          const s = perOp.get(t.op) ?? { tried: 0, statuses: new Map<number, number>(), reads: 0 };
          s.tried += 1;
          s.statuses.set(res.status, (s.statuses.get(res.status) ?? 0) + 1);
          if (leaked.length) {
            s.reads += 1;
            reads.push(
              `${attacker.label} → ${victim.label}: ${t.method} ${t.path} → ${res.status} holds ${leaked.join(', ')}: ${text.slice(0, 200)}`,
            );
          }
          perOp.set(t.op, s);
        }
      }
      await sleep(1000);
      const after = (await world.withDb((q) => snapshot(q, [victim]))).get(victim.label)!;
      const beforeRows = new Set(before.values());
      const afterRows = new Set(after.values());
      rowsWatched += beforeRows.size;
      for (const v of beforeRows)
        if (!afterRows.has(v)) changes.push(`${victim.label}: changed or gone: ${v.slice(0, 300)}`);
      for (const v of afterRows)
        if (!beforeRows.has(v)) changes.push(`${victim.label}: new or changed: ${v.slice(0, 300)}`);
    }

    const statuses = [...new Set([...perOp.values()].flatMap((s) => [...s.statuses.keys()]))].sort((a, b) => a - b);
    console.log(
      `\n  ${total} cross-tenant requests (4 tenants, 12 attacker/victim pairs); ${rowsWatched} victim rows watched`,
    );
    table([
      ['operation', 'tried', ...statuses.map(String), 'reads'],
      ...[...perOp].map(([op, s]) => [op, s.tried, ...statuses.map((x) => s.statuses.get(x) ?? 0), s.reads]),
    ]);
    const untried = brokerOps.filter((op) => !perOp.has(op));
    console.log(
      `  broker-facing operations in /openapi.json: ${brokerOps.length}, not tried: ${untried.length ? untried.join(', ') : 'none'}`,
    );
    console.log(`  cross-tenant reads: ${reads.length}`);
    for (const r of reads.slice(0, 30)) console.log(`    ${r}`);
    console.log(`  cross-tenant changes (victim rows changed): ${changes.length}`);
    for (const c of changes.slice(0, 30)) console.log(`    ${c}`);
    console.log(`  load average at end: ${loadavg()}`);
    return reads.length + changes.length > 0 ? 1 : 0;
  } finally {
    await world.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
