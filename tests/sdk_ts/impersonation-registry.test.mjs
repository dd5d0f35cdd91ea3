// The impersonation registry through cloudflare@7.3.0:
// client.emailSecurity.settings.impersonationRegistry (the SDK has no batch for it).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BadRequestError } from 'cloudflare';

import { CASES } from './lib/cases.mjs';
import { freshAccount, writer } from './lib/env.mjs';
import { assertEntry, expectApiError, listIds, resourceSuite } from './lib/suite.mjs';

const kase = CASES.impersonationRegistry;
resourceSuite(kase);

describe('impersonationRegistry: directory entries and lists', () => {
  test('an entry synced from a directory cannot be edited here, only deleted', async () => {
    const account = freshAccount();
    const account_id = account.id;
    const registry = writer(account).emailSecurity.settings.impersonationRegistry;
    const body = {
      ...kase.create,
      provenance: 'SNOOPY-OFFICE_365',
      directory_id: 7,
      directory_node_id: 42,
    };
    const synced = await registry.create({ account_id, ...body });
    assertEntry(synced, kase, kase.view(body));
    await expectApiError(
      registry.edit(synced.id, { account_id, name: 'Someone Else' }),
      BadRequestError,
      400,
      { contains: 'SNOOPY-OFFICE_365' },
    );
    assert.deepEqual(await registry.get(synced.id, { account_id }), synced);
    assert.deepEqual(await registry.delete(synced.id, { account_id }), { id: synced.id });
  });

  test('regex emails; provenance filter, search and order', async () => {
    const account = freshAccount();
    const client = writer(account);
    const create = (body) =>
      client.emailSecurity.settings.impersonationRegistry.create({
        account_id: account.id,
        is_email_regex: false,
        ...body,
      });
    const zoe = await create({
      name: 'Zoe Finance',
      email: 'zoe@corp.example',
      comments: 'treasury',
    });
    const adam = await create({
      name: 'Adam Payroll',
      email: '^adam(\\.payroll)?@corp\\.example$',
      is_email_regex: true,
    });
    const mia = await create({
      name: 'Mia Legal',
      email: 'mia@corp.example',
      provenance: 'SNOOPY-GOOGLE_DIRECTORY',
    });
    assert.equal(adam.is_email_regex, true);
    const listed = (params) => listIds(client, kase, account.id, params);

    assert.deepEqual(await listed({ provenance: 'A1S_INTERNAL' }), [zoe.id, adam.id]);
    assert.deepEqual(await listed({ provenance: 'SNOOPY-GOOGLE_DIRECTORY' }), [mia.id]);
    assert.deepEqual(await listed({ search: 'TREASURY' }), [zoe.id]);
    assert.deepEqual(await listed({ order: 'name' }), [adam.id, mia.id, zoe.id]);
    assert.deepEqual(await listed({ order: 'email', direction: 'desc' }), [
      zoe.id,
      mia.id,
      adam.id,
    ]);
  });
});
