// Content policies through cloudflare@7.3.0: client.emailSecurity.settings.contentPolicies.
// A content policy is an RE2 pattern matched against the subject and/or the body of a message.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BadRequestError } from 'cloudflare';

import { CASES } from './lib/cases.mjs';
import { freshAccount, writer } from './lib/env.mjs';
import { assertEntry, expectApiError, listIds, resourceSuite } from './lib/suite.mjs';

const kase = CASES.contentPolicies;
resourceSuite(kase);

describe('contentPolicies: targets, patterns and lists', () => {
  test('targets are SUBJECT and BODY, nothing else; a pattern must be RE2', async () => {
    const account = freshAccount();
    const account_id = account.id;
    const policies = writer(account).emailSecurity.settings.contentPolicies;
    const body = {
      name: 'Gift cards',
      pattern: '(?i)gift\\s*cards?',
      targets: ['SUBJECT', 'BODY'],
      enabled: true,
    };
    const created = await policies.create({ account_id, ...body });
    assertEntry(created, kase, kase.view(body));

    await expectApiError(
      policies.create({ account_id, ...body, name: 'Headers', targets: ['HEADER'] }),
      BadRequestError,
      400,
    );
    // RE2 has no backreferences.
    await expectApiError(
      policies.edit(created.id, { account_id, pattern: '(a)\\1' }),
      BadRequestError,
      400,
      { pointer: '/pattern' },
    );
    assert.deepEqual(await policies.get(created.id, { account_id }), created);
    const bodyOnly = await policies.edit(created.id, { account_id, targets: ['BODY'] });
    assertEntry(bodyOnly, kase, kase.view({ ...body, targets: ['BODY'] }));
  });

  test('list filters enabled and name, search, order', async () => {
    const account = freshAccount();
    const client = writer(account);
    const create = (body) =>
      client.emailSecurity.settings.contentPolicies.create({ account_id: account.id, ...body });
    const wire = await create({
      name: 'Wire transfer',
      pattern: 'wire\\s+transfer',
      targets: ['BODY'],
      enabled: true,
    });
    const crypto = await create({
      name: 'Crypto wallet',
      pattern: 'bitcoin|wallet',
      targets: ['SUBJECT', 'BODY'],
      enabled: false,
      notes: 'seen in March',
    });
    const invoice = await create({
      name: 'Invoice overdue',
      pattern: 'invoice.*overdue',
      targets: ['SUBJECT'],
      enabled: true,
    });
    const listed = (params) => listIds(client, kase, account.id, params);

    assert.deepEqual(await listed({ enabled: true }), [wire.id, invoice.id]);
    assert.deepEqual(await listed({ enabled: false }), [crypto.id]);
    assert.deepEqual(await listed({ name: 'Invoice overdue' }), [invoice.id]);
    assert.deepEqual(await listed({ name: 'Invoice' }), []);
    assert.deepEqual(await listed({ search: 'bitcoin' }), [crypto.id]);
    assert.deepEqual(await listed({ search: 'TRANSFER' }), [wire.id]);
    assert.deepEqual(await listed({ order: 'name' }), [crypto.id, invoice.id, wire.id]);
    assert.deepEqual(await listed({ order: 'name', direction: 'desc' }), [
      wire.id,
      invoice.id,
      crypto.id,
    ]);
    assert.deepEqual(await listed({ order: 'created_at', direction: 'desc' }), [
      invoice.id,
      crypto.id,
      wire.id,
    ]);
  });
});
