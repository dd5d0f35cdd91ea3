// Sending-domain restrictions through cloudflare@7.3.0:
// client.emailSecurity.settings.sendingDomainRestrictions (the SDK has no batch for them).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BadRequestError } from 'cloudflare';

import { CASES } from './lib/cases.mjs';
import { freshAccount, writer } from './lib/env.mjs';
import { expectApiError, listIds, resourceSuite } from './lib/suite.mjs';

const kase = CASES.sendingDomainRestrictions;
resourceSuite(kase);

describe('sendingDomainRestrictions: names, edits and lists', () => {
  test('names are stored lowercase; an exclusion must stay a subdomain', async () => {
    const account = freshAccount();
    const account_id = account.id;
    const restrictions = writer(account).emailSecurity.settings.sendingDomainRestrictions;
    const created = await restrictions.create({
      account_id,
      domain: 'Pay.Example.COM',
      exclude: ['Old.Pay.Example.com'],
    });
    assert.equal(created.domain, 'pay.example.com');
    assert.deepEqual(created.exclude, ['old.pay.example.com']);
    await expectApiError(
      restrictions.edit(created.id, { account_id, domain: 'other.example.com' }),
      BadRequestError,
      400,
      { pointer: '/exclude/0' },
    );
    assert.deepEqual(await restrictions.get(created.id, { account_id }), created);
    const moved = await restrictions.edit(created.id, {
      account_id,
      domain: 'other.example.com',
      exclude: [],
    });
    assert.equal(moved.domain, 'other.example.com');
    assert.deepEqual(moved.exclude, []);
  });

  test('search and order', async () => {
    const account = freshAccount();
    const client = writer(account);
    const create = (body) =>
      client.emailSecurity.settings.sendingDomainRestrictions.create({
        account_id: account.id,
        exclude: [],
        ...body,
      });
    const bank = await create({ domain: 'bank.example', comments: 'the regulator asks for TLS' });
    const alpha = await create({ domain: 'alpha.example' });
    const listed = (params) => listIds(client, kase, account.id, params);
    assert.deepEqual(await listed({ search: 'REGULATOR' }), [bank.id]);
    assert.deepEqual(await listed({ order: 'domain' }), [alpha.id, bank.id]);
    assert.deepEqual(await listed({ order: 'created_at', direction: 'desc' }), [alpha.id, bank.id]);
  });
});
