import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../../../test/http-assertions.js';
import { allTables, dumpDatabase, findValues } from '../../../test/db-scan.js';
import { createTestContext, type TestContext } from '../../../test/helpers.js';
import { renderConfirmationEmail, SEND_EMAIL_JOB, type ConfirmationEmailInput } from '../notifications/index.js';

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext();
});
afterAll(async () => {
  await t?.close();
});

// Values that occur nowhere else, so finding one anywhere in the database means it leaked.
const distinctive = {
  givenName: 'Zebedeequill',
  familyName: 'Marchbankswort',
  email: 'zq.erasure.check@example.org',
  telephone: '07700 900417',
  birthDate: '1961-07-23',
  streetAddress: '17 Quillfeather Lane',
  addressLocality: 'Snodsbury Parva',
  postalCode: 'ZQ9 4XW',
  emergencyName: 'Marmaduke Pennyfeather',
  emergencyTelephone: '07700 900999',
  accessPass: 'ACCESS-ZQ-772211',
  updatedEmail: 'zq.renamed.check@example.org',
  updatedTelephone: '07700 900555',
};

describe('erasure (DECISIONS §4, imin-booking §2.4)', () => {
  it('leaves no personal value in any column of any table once the job has run', async () => {
    const { key } = await t.newBroker();
    const created = await t.request({
      method: 'POST',
      url: '/api/v2/customer-accounts',
      key,
      headers: { 'idempotency-key': 'erasure-create-1' },
      payload: {
        '@context': 'https://openactive.io/',
        '@type': 'CustomerAccount',
        customer: {
          '@type': 'Person',
          email: distinctive.email,
          givenName: distinctive.givenName,
          familyName: distinctive.familyName,
          telephone: distinctive.telephone,
          birthDate: distinctive.birthDate,
          gender: 'https://schema.org/Male',
          'imin:is13OrOver': true,
          address: {
            streetAddress: distinctive.streetAddress,
            addressLocality: distinctive.addressLocality,
            postalCode: distinctive.postalCode,
            addressCountry: 'GB',
          },
          emergencyContact: { name: distinctive.emergencyName, telephone: distinctive.emergencyTelephone },
        },
      },
    });
    expect(created.statusCode).toBe(201);
    const id: string = created.json().identifier;
    const url = `/api/v2/customer-accounts/${id}`;

    const updated = await t.request({
      method: 'POST',
      url: `${url}/actions`,
      key,
      headers: { 'idempotency-key': 'erasure-action-1' },
      payload: {
        '@type': 'CustomerUpdateAction',
        object: { email: distinctive.updatedEmail, telephone: distinctive.updatedTelephone },
      },
    });
    expect(updated.statusCode).toBe(200);
    const pass = await t.request({
      method: 'POST',
      url: `${url}/actions`,
      key,
      headers: { 'idempotency-key': 'erasure-action-2' },
      payload: { '@type': 'imin:AccessPassUpdateAction', object: { '@type': 'Barcode', text: distinctive.accessPass } },
    });
    expect(pass.statusCode).toBe(200);

    // A confirmation email to the customer, kept in the outbox: its recipient, names and content
    // are personal data too (the mailer's erasure hook).
    const customerRow = await t.deps.database.db
      .selectFrom('customers')
      .select(['id', 'broker_id'])
      .where('identifier', '=', id)
      .executeTakeFirstOrThrow();
    const customer = {
      givenName: distinctive.givenName,
      familyName: distinctive.familyName,
      email: distinctive.updatedEmail,
    };
    const confirmationInput: ConfirmationEmailInput = {
      broker: { name: 'Erasure Test Broker' },
      customer,
      orderNumber: 'ER-0001',
      barcode: 'ER-0001-1',
      items: [
        {
          name: 'Aqua Aerobics',
          startDate: '2026-12-01T09:00:00Z',
          attendeeName: `${distinctive.givenName} ${distinctive.familyName}`,
          priceText: '£4.00',
        },
      ],
      totalText: '£4.00',
      seller: { name: 'Erasure Test Seller' },
    };
    const confirmation = renderConfirmationEmail(confirmationInput);
    await t.deps.jobs.start();
    const { id: emailId } = await t.deps.database.db.transaction().execute((trx) =>
      t.services.mailer.enqueue(trx, {
        brokerId: customerRow.broker_id,
        customerId: customerRow.id,
        kind: 'order-confirmation',
        from: 'bookings@erasure.example',
        to: `"${distinctive.givenName} ${distinctive.familyName}" <${distinctive.updatedEmail}>`,
        ...confirmation,
      }),
    );
    expect(await t.deps.jobs.runDue(SEND_EMAIL_JOB)).toBe(1);
    const storedEmail = await t.services.mailer.get(emailId);
    expect(storedEmail?.status).toBe('stored');
    for (const part of [storedEmail?.to, storedEmail?.html, storedEmail?.text]) {
      expect(part).toContain(distinctive.givenName);
    }
    expect(storedEmail?.to).toContain(distinctive.updatedEmail);
    // Another, queued to be rendered by its delivery job (as checkout queues confirmations) and not
    // delivered yet: the template's data holds the same personal data until it is rendered.
    const { id: queuedId } = await t.deps.database.db.transaction().execute((trx) =>
      t.services.mailer.enqueue(trx, {
        brokerId: customerRow.broker_id,
        customerId: customerRow.id,
        kind: 'order-confirmation',
        from: 'bookings@erasure.example',
        to: distinctive.updatedEmail,
        template: {
          name: 'order-confirmation',
          data: { ...confirmationInput, orderNumber: 'ER-0002', barcode: 'ER-0002-1' },
        },
      }),
    );
    expect((await t.services.mailer.get(queuedId))?.text).toContain(distinctive.familyName);

    // The scan must be able to see the values before erasure, or its silence afterwards proves nothing.
    const before = (await dumpDatabase(t.deps.database)).map((r) => r.text).join('\n');
    for (const value of Object.values(distinctive)) expect(before, value).toContain(value);

    expect((await t.request({ method: 'DELETE', url, key })).statusCode).toBe(202);
    expect(await t.deps.jobs.runDue('customers.erase')).toBe(1);

    const tables = await allTables(t.deps.database);
    expect(tables.map((x) => x.schema)).toContain('pgboss');
    const leaks = await findValues(t.deps.database, distinctive);
    expect(leaks).toEqual([]);
    // The email still waiting to be rendered is cancelled, never to be rendered or sent.
    expect(await t.services.mailer.get(queuedId)).toMatchObject({ status: 'cancelled', subject: 'Erased email' });
    await t.services.mailer.deliver(queuedId);
    expect((await t.services.mailer.get(queuedId))?.status).toBe('cancelled');

    expectError(await t.request({ method: 'GET', url, key }), 404, 'NotFoundError');

    const row = await t.deps.database.db
      .selectFrom('customers')
      .selectAll()
      .where('identifier', '=', id)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({
      state: 'erased',
      given_name: 'Deleted',
      family_name: 'Customer',
      email: `deleted-${id}@invalid`,
      telephone: null,
      birth_date: null,
      gender: null,
      address: null,
      emergency_contact: null,
      access_pass: null,
    });
    expect(row.erased_at).toBeInstanceOf(Date);

    // The email is still there as a record (kind, broker, status, dates), with placeholders.
    expect(await t.services.mailer.get(emailId)).toMatchObject({
      kind: 'order-confirmation',
      status: 'stored',
      to: `deleted-${id}@invalid`,
      attachments: [],
    });

    // Running the job again (a retry after a crash) is harmless.
    expect(await t.deps.jobs.runDue('customers.erase')).toBe(0);
    await t.services.customers.eraseCustomer(row.id);
    expect(
      (
        await t.deps.database.db
          .selectFrom('customers')
          .select('given_name')
          .where('id', '=', row.id)
          .executeTakeFirst()
      )?.given_name,
    ).toBe('Deleted');
  });
});
