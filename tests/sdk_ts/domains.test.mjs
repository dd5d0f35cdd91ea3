// Protected domains through cloudflare@7.3.0: client.emailSecurity.settings.domains, including
// update (PUT) and the deprecated bulkDelete.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BadRequestError, NotFoundError } from 'cloudflare';

import { CASES } from './lib/cases.mjs';
import { MISSING_ID, freshAccount, writer } from './lib/env.mjs';
import { assertEntry, expectApiError, listAll, listIds, resourceSuite } from './lib/suite.mjs';

const kase = CASES.domains;
resourceSuite(kase);

describe('domains: status, PUT, edits, filters, bulkDelete', () => {
  test('a new domain is PENDING, not yet authorized; the status filter', async () => {
    const account = freshAccount();
    const client = writer(account);
    const created = await client.emailSecurity.settings.domains.create({
      account_id: account.id,
      ...kase.create,
    });
    assert.equal(created.status, 'PENDING');
    assert.equal(created.authorization.authorized, false);
    assert.equal(created.emails_processed.total_emails_processed, 0);
    const listed = (params) => listIds(client, kase, account.id, params);
    assert.deepEqual(await listed({ status: 'PENDING' }), [created.id]);
    assert.deepEqual(await listed({ status: 'ACTIVE' }), []);
  });

  test('update (PUT) replaces the domain; fields left out return to defaults', async () => {
    const account = freshAccount();
    const account_id = account.id;
    const domains = writer(account).emailSecurity.settings.domains;
    const extras = {
      lookback_hops: 4,
      transport: 'smtp.mail.example.com',
      require_tls_inbound: true,
      folder: 'Inbox',
    };
    const created = await domains.create({ account_id, ...kase.create, ...extras });
    assertEntry(created, kase, kase.view({ ...kase.create, ...extras }));

    // No lookback_hops, no transport: they go back to 1 and "".
    const replacement = {
      allowed_delivery_modes: ['BCC', 'JOURNAL'],
      drop_dispositions: ['SPAM', 'BULK'],
      ip_restrictions: ['192.0.2.0/24', '2001:db8::/32'],
      regions: ['DE', 'US'],
    };
    const replaced = await domains.update(created.id, { account_id, ...replacement });
    const expected = { ...kase.view(replacement), id: created.id, domain: created.domain };
    assertEntry(replaced, kase, expected, 'update');
    assert.equal(replaced.created_at, created.created_at);
    assert.deepEqual(await domains.get(created.id, { account_id }), replaced);

    await expectApiError(
      domains.update(MISSING_ID, { account_id, ...replacement }),
      NotFoundError,
      404,
    );
    await expectApiError(
      domains.update(created.id, { account_id, ...replacement, regions: [] }),
      BadRequestError,
      400,
      { pointer: '/regions' },
    );
    assert.deepEqual(await domains.get(created.id, { account_id }), replaced);
  });

  test('edit sets transport, TLS requirements and the folder', async () => {
    const account = freshAccount();
    const account_id = account.id;
    const domains = writer(account).emailSecurity.settings.domains;
    const created = await domains.create({ account_id, ...kase.create });
    const change = {
      transport: 'smtp.mail.example.com',
      require_tls_inbound: true,
      require_tls_outbound: false,
      folder: 'AllItems',
    };
    const edited = await domains.edit(created.id, { account_id, ...change });
    assertEntry(edited, kase, { ...kase.view({ ...kase.create, ...change }), id: created.id });
    const cleared = await domains.edit(created.id, { account_id, folder: null });
    assert.equal(cleared.folder, null);
    assert.equal(cleared.transport, 'smtp.mail.example.com');
  });

  test('list filters: domain (repeated), delivery modes, search, order', async () => {
    const account = freshAccount();
    const client = writer(account);
    const create = (body) =>
      client.emailSecurity.settings.domains.create({
        account_id: account.id,
        ...kase.create,
        ...body,
      });
    const a = await create({ domain: 'a.example.com', allowed_delivery_modes: ['BCC', 'DIRECT'] });
    const b = await create({ domain: 'b.example.com' });
    const c = await create({ domain: 'c.example.org', transport: 'relay.example.net' });
    const listed = (params) => listIds(client, kase, account.id, params);

    assert.deepEqual(await listed({ domain: ['a.example.com', 'c.example.org'] }), [a.id, c.id]);
    assert.deepEqual(await listed({ domain: ['b.example.com'] }), [b.id]);
    assert.deepEqual(await listed({ allowed_delivery_mode: 'DIRECT' }), [a.id, b.id, c.id]);
    assert.deepEqual(await listed({ active_delivery_mode: 'BCC' }), [a.id]);
    assert.deepEqual(await listed({ allowed_delivery_mode: 'JOURNAL' }), []);
    assert.deepEqual(await listed({ search: 'example.org' }), [c.id]);
    assert.deepEqual(await listed({ search: 'relay' }), [c.id]);
    assert.deepEqual(await listed({ order: 'domain', direction: 'desc' }), [c.id, b.id, a.id]);
  });

  test('bulkDelete (deprecated) deletes the ids sent as its body, all or nothing', async () => {
    const account = freshAccount();
    const account_id = account.id;
    const client = writer(account);
    const domains = client.emailSecurity.settings.domains;
    const ids = [];
    for (let n = 0; n < 3; n += 1) {
      ids.push((await domains.create({ account_id, ...kase.nth(n) })).id);
    }
    // bulkDelete has no parameter for the ids; they travel as the request body.
    await expectApiError(
      domains.bulkDelete({ account_id }, { body: [{ id: ids[0] }, { id: MISSING_ID }] }),
      NotFoundError,
      404,
      { pointer: '/1/id' },
    );
    // Without a body there is nothing to delete: mailpolicy answers 400.
    await expectApiError(domains.bulkDelete({ account_id }), BadRequestError, 400);
    assert.equal((await listAll(client, kase, account_id)).length, 3);

    const deleted = [];
    const body = [{ id: ids[0] }, { id: ids[2] }];
    for await (const entry of domains.bulkDelete({ account_id }, { body })) {
      deleted.push(entry);
    }
    assert.deepEqual(deleted, body);
    assert.deepEqual(await listIds(client, kase, account_id), [ids[1]]);
  });
});
