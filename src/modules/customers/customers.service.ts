import type { Selectable, Updateable } from 'kysely';
import type { Database, Executor } from '../../db/database.js';
import type { CustomersTable } from '../../db/schema.js';
import { AppError, type FieldError } from '../../http/errors.js';
import { forgetIdempotentResponses } from '../../http/idempotency.js';
import { compact, COMPLETED_ACTION_STATUS, OPENACTIVE_CONTEXT } from '../../http/jsonld.js';
import type { Clock } from '../../lib/clock.js';
import { randomAlphanumeric } from '../../lib/ids.js';
import type { Jobs } from '../../lib/jobs.js';
import type { AuthContext } from '../brokers/index.js';
import * as repo from './customers.repository.js';
import type { Static } from 'typebox';
import type {
  CreateCustomerBody,
  CustomerActionBody,
  EmergencyContact,
  FlatPersonPatch,
  PersonPatch,
  PostalAddress,
} from './customers.schemas.js';

export const ERASE_JOB = 'customers.erase';

type CustomerRow = Selectable<CustomersTable>;
type PersonInput = Omit<PersonPatch, '@type'>;

/** Another module's personal data about a customer, erased in the same transaction. */
export type ErasureHook = (
  trx: Executor,
  customer: { id: number; identifier: string; placeholderEmail: string },
) => Promise<void>;

/**
 * A part of a customer's data export held by another module (orders, payments, emails, checkout
 * sessions): registered in the composition root beside the erasure hooks, so the export holds
 * everything erasure reaches.
 */
export type ExportSection = (customer: {
  id: number;
  identifier: string;
  brokerId: number;
}) => Promise<
  Partial<
    Record<'activehub:orders' | 'activehub:payments' | 'activehub:emails' | 'activehub:checkoutSessions', object[]>
  >
>;

const regionNames = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'none' });
// Codes Intl knows that are not ISO 3166-1 country codes: groupings, user-assigned codes, and
// codes that are only reserved (UK, AC, CP, DG, EA, IC, TA, CQ) or withdrawn (SU, YU, AN, ...).
const NOT_COUNTRIES = new Set([
  ...['EU', 'EZ', 'UN', 'QO', 'XA', 'XB', 'XK', 'ZZ'],
  ...['UK', 'AC', 'CP', 'CQ', 'DG', 'EA', 'IC', 'TA'],
  ...['AN', 'BU', 'CS', 'DD', 'DY', 'FX', 'HV', 'NH', 'RH', 'SU', 'TP', 'VD', 'YD', 'YU', 'ZR'],
]);
// Intl.DisplayNames#of costs several microseconds a call and this runs on every create and
// address update; with at most 26² candidate codes, each answer is worked out once and kept.
const countryCodeAnswers = new Map<string, boolean>();
function isCountryCode(code: string): boolean {
  if (!/^[A-Z]{2}$/.test(code)) return false;
  let known = countryCodeAnswers.get(code);
  if (known === undefined) {
    known = !NOT_COUNTRIES.has(code) && isRegionName(code);
    countryCodeAnswers.set(code, known);
  }
  return known;
}
function isRegionName(code: string): boolean {
  try {
    return regionNames.of(code) !== undefined;
  } catch {
    return false;
  }
}

function normaliseGender(gender: string | null | undefined): string | null | undefined {
  if (gender === 'schema:Female') return 'https://schema.org/Female';
  if (gender === 'schema:Male') return 'https://schema.org/Male';
  return gender;
}

/** Rules JSON Schema cannot express; all problems reported together. */
function checkPerson(person: PersonInput, today: string, prefix: string): void {
  const errors: FieldError[] = [];
  if (person.birthDate && person.birthDate > today) {
    errors.push({ path: `${prefix}/birthDate`, message: 'must not be in the future' });
  }
  // The date format allows year 0000, which the (proleptic Gregorian) calendar does not have.
  if (person.birthDate && person.birthDate < '0001-01-01') {
    errors.push({ path: `${prefix}/birthDate`, message: 'must be a real date in the form YYYY-MM-DD' });
  }
  const country = person.address?.addressCountry;
  if (country !== undefined && !isCountryCode(country)) {
    errors.push({
      path: `${prefix}/address/addressCountry`,
      message: 'must be an ISO 3166-1 alpha-2 country code, e.g. "GB"',
    });
  }
  if (errors.length) {
    throw new AppError(
      'BAD_REQUEST',
      `The request body is invalid: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}.`,
      {
        fieldErrors: errors,
      },
    );
  }
}

/** Column values for the Person fields present in `person` (absent = unchanged, null = cleared). */
function personColumns(person: PersonInput): Updateable<CustomersTable> {
  const cols: Updateable<CustomersTable> = {};
  if (person.email !== undefined) cols.email = person.email;
  if (person.givenName !== undefined) cols.given_name = person.givenName;
  if (person.familyName !== undefined) cols.family_name = person.familyName;
  if (person.telephone !== undefined) cols.telephone = person.telephone;
  if (person.birthDate !== undefined) cols.birth_date = person.birthDate;
  if (person.gender !== undefined) cols.gender = normaliseGender(person.gender) ?? null;
  if (person['imin:is13OrOver'] !== undefined) cols.is_13_or_over = person['imin:is13OrOver'];
  if (person.address !== undefined) {
    cols.address = person.address === null ? null : JSON.stringify({ '@type': 'PostalAddress', ...person.address });
  }
  if (person.emergencyContact !== undefined) {
    cols.emergency_contact =
      person.emergencyContact === null ? null : JSON.stringify({ '@type': 'Person', ...person.emergencyContact });
  }
  return cols;
}

function personFields(row: CustomerRow) {
  return {
    email: row.email,
    telephone: row.telephone,
    givenName: row.given_name,
    familyName: row.family_name,
    birthDate: row.birth_date,
    gender: row.gender,
    'imin:is13OrOver': row.is_13_or_over,
    address: row.address as Static<typeof PostalAddress> | null,
    emergencyContact: row.emergency_contact as Static<typeof EmergencyContact> | null,
  };
}

const PERSON_KEYS: Record<string, keyof ReturnType<typeof personFields>> = {
  email: 'email',
  telephone: 'telephone',
  givenName: 'givenName',
  familyName: 'familyName',
  birthDate: 'birthDate',
  gender: 'gender',
  'imin:is13OrOver': 'imin:is13OrOver',
  address: 'address',
  emergencyContact: 'emergencyContact',
};

export function createCustomersService({
  database,
  jobs,
  clock,
  publicBaseUrl,
  erasureHooks = [],
  exportSections = [],
}: {
  database: Database;
  jobs: Jobs;
  clock: Clock;
  publicBaseUrl: string;
  erasureHooks?: ErasureHook[];
  exportSections?: ExportSection[];
}) {
  const { db } = database;
  const accountUrl = (identifier: string) => `${publicBaseUrl}/api/v2/customer-accounts/${identifier}`;
  const today = () => clock.now().toISOString().slice(0, 10);

  function toAccount(row: CustomerRow) {
    return compact({
      '@context': OPENACTIVE_CONTEXT,
      '@type': 'CustomerAccount' as const,
      '@id': accountUrl(row.identifier),
      identifier: row.identifier,
      customer: { '@type': 'Person' as const, ...personFields(row) },
      accessPass: row.access_pass ? { '@type': 'Barcode' as const, text: row.access_pass } : null,
      entitlement: row.entitlement,
    });
  }

  function toFlatPerson(row: CustomerRow) {
    return compact({
      type: 'Person' as const,
      ...personFields(row),
      identifier: row.identifier,
      id: accountUrl(row.identifier),
    });
  }

  async function requireActive(auth: AuthContext, identifier: string): Promise<CustomerRow> {
    const row = await repo.findActiveCustomer(db, auth, identifier);
    // Another broker's account, or one of the other mode, answers exactly like an unknown one
    // (DECISIONS §2; test mode is a world of its own).
    if (!row) throw new AppError('NOT_FOUND', `There is no customer account "${identifier}".`);
    return row;
  }

  async function applyPatch(
    auth: AuthContext,
    identifier: string,
    patch: PersonInput,
    prefix: string,
  ): Promise<CustomerRow> {
    const changes = personColumns(patch);
    if (Object.keys(changes).length === 0) {
      throw new AppError('BAD_REQUEST', 'Give at least one field to update.', {
        fieldErrors: [{ path: prefix || '/', message: 'must contain at least one field to update' }],
      });
    }
    checkPerson(patch, today(), prefix);
    const row = await repo.updateActiveCustomer(db, auth, identifier, { ...changes, updated_at: clock.now() });
    if (!row) throw new AppError('NOT_FOUND', `There is no customer account "${identifier}".`);
    return row;
  }

  return {
    toAccount,
    toFlatPerson,

    /** Creates an account; the result is shaped like the request (canonical or flat form). */
    async createCustomer(auth: AuthContext, body: CreateCustomerBody) {
      const canonical = 'customer' in body;
      const person = canonical ? body.customer : body;
      checkPerson(person, today(), canonical ? '/customer' : '');
      const columns = personColumns(person);
      for (let attempt = 0; ; attempt += 1) {
        try {
          const row = await repo.insertCustomer(db, {
            broker_id: auth.brokerId,
            mode: auth.mode,
            identifier: randomAlphanumeric(10),
            email: person.email,
            given_name: person.givenName,
            family_name: person.familyName,
            ...columns,
          });
          return { row, body: canonical ? toAccount(row) : toFlatPerson(row) };
        } catch (err) {
          // A 10-character identifier collision is astronomically rare; retry with a new one.
          if ((err as { code?: string }).code === '23505' && attempt < 3) continue;
          throw err;
        }
      }
    },

    async getCustomer(auth: AuthContext, identifier: string) {
      return toAccount(await requireActive(auth, identifier));
    },

    /** `POST …/:id/actions`, dispatched on `@type` (imin-booking §2.2, §2.9). */
    async applyAction(auth: AuthContext, identifier: string, action: CustomerActionBody) {
      if (action['@type'] === 'imin:AccessPassUpdateAction') {
        const row = await repo.updateActiveCustomer(db, auth, identifier, {
          access_pass: action.object.text,
          updated_at: clock.now(),
        });
        if (!row) throw new AppError('NOT_FOUND', `There is no customer account "${identifier}".`);
        return compact({
          '@context': OPENACTIVE_CONTEXT,
          '@type': 'imin:AccessPassUpdateAction',
          actionStatus: COMPLETED_ACTION_STATUS,
          object: { '@type': 'Barcode', text: row.access_pass },
        });
      }
      const { '@type': _type, ...patch } = action.object;
      const row = await applyPatch(auth, identifier, patch, '/object');
      // The response object holds only the properties that were updated (imin-booking §2.2).
      const fields = personFields(row);
      const updated: Record<string, unknown> = { '@type': 'Person' };
      for (const key of Object.keys(patch)) {
        const field = PERSON_KEYS[key];
        if (field) updated[key] = fields[field];
      }
      // Linked seller accounts are not connected yet, so each listed seller reports why it
      // was not updated rather than being silently skipped.
      const errors = (action.seller ?? []).map((seller) => ({
        '@context': OPENACTIVE_CONTEXT,
        '@type': 'NotLinkedError',
        name: 'The customer has no linked account with this seller, so it was not updated there.',
        seller: { '@id': seller },
      }));
      return compact({
        '@context': OPENACTIVE_CONTEXT,
        '@type': 'CustomerUpdateAction',
        actionStatus: COMPLETED_ACTION_STATUS,
        object: updated,
        error: errors,
      });
    },

    /** `PATCH …/:id` with a flat partial Person (the Example Scenario's step 2). */
    async patchCustomer(auth: AuthContext, identifier: string, body: FlatPersonPatch) {
      const { '@context': _c, '@type': _t, type: _ty, ...patch } = body;
      return toFlatPerson(await applyPatch(auth, identifier, patch, ''));
    },

    /**
     * Marks the account deleted at once (it answers 404 from now on) and queues its erasure in
     * the same transaction, so an accepted request is never lost.
     */
    async requestErasure(auth: AuthContext, identifier: string): Promise<void> {
      // The queue must be started before the transaction opens: starting it lazily inside
      // `send` needs a connection of its own, and PGlite's only one is held by `trx` (deadlock).
      await jobs.start();
      await db.transaction().execute(async (trx) => {
        const row = await repo.markErasureRequested(trx, auth, identifier, clock.now());
        if (!row) throw new AppError('NOT_FOUND', `There is no customer account "${identifier}".`);
        await jobs.send(ERASE_JOB, { customerId: row.id }, { executor: trx, singletonKey: `erase-${row.id}` });
      });
    },

    /** The erasure job: personal data replaced by placeholders wherever it is held. */
    async eraseCustomer(customerId: number): Promise<void> {
      await db.transaction().execute(async (trx) => {
        const row = await repo.findCustomerById(trx, customerId);
        if (!row || row.state === 'erased') return;
        const placeholderEmail = `deleted-${row.identifier}@invalid`;
        await repo.replacePersonalData(trx, customerId, {
          state: 'erased',
          given_name: 'Deleted',
          family_name: 'Customer',
          email: placeholderEmail,
          telephone: null,
          birth_date: null,
          gender: null,
          is_13_or_over: null,
          address: null,
          emergency_contact: null,
          access_pass: null,
          entitlement: null,
          erased_at: clock.now(),
          updated_at: clock.now(),
        });
        await forgetIdempotentResponses(trx, row.identifier);
        for (const hook of erasureHooks) await hook(trx, { id: row.id, identifier: row.identifier, placeholderEmail });
      });
    },

    /** Everything held about the customer (GDPR access request). */
    async exportCustomer(auth: AuthContext, identifier: string) {
      const row = await requireActive(auth, identifier);
      const sections = await Promise.all(
        exportSections.map((section) => section({ id: row.id, identifier: row.identifier, brokerId: row.broker_id })),
      );
      const parts = {
        'activehub:orders': [] as object[],
        'activehub:payments': [] as object[],
        'activehub:emails': [] as object[],
        'activehub:checkoutSessions': [] as object[],
      };
      for (const section of sections) {
        for (const [key, values] of Object.entries(section)) {
          if (key in parts) parts[key as keyof typeof parts].push(...values);
        }
      }
      return {
        '@context': OPENACTIVE_CONTEXT,
        '@type': 'activehub:CustomerDataExport' as const,
        'activehub:exportedAt': clock.now().toISOString(),
        customerAccount: toAccount(row),
        'activehub:accountCreated': row.created_at.toISOString(),
        'activehub:accountUpdated': row.updated_at.toISOString(),
        ...parts,
      };
    },
  };
}

export type CustomersService = ReturnType<typeof createCustomersService>;
