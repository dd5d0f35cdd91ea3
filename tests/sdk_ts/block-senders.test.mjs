// Blocked senders through cloudflare@7.3.0: client.emailSecurity.settings.blockSenders.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { CASES } from './lib/cases.mjs';
import { freshAccount, writer } from './lib/env.mjs';
import { listIds, resourceSuite } from './lib/suite.mjs';

const kase = CASES.blockSenders;
resourceSuite(kase);

describe('blockSenders: list filters and ordering', () => {
  test('pattern_type, pattern, search, order', async () => {
    const account = freshAccount();
    const client = writer(account);
    const create = (body) =>
      client.emailSecurity.settings.blockSenders.create({ account_id: account.id, ...body });
    const email = await create({
      pattern: 'bulk@spam.example',
      pattern_type: 'EMAIL',
      is_regex: false,
    });
    const ip = await create({
      pattern: '198.51.100.7',
      pattern_type: 'IP',
      is_regex: false,
      comments: 'botnet',
    });
    const regex = await create({
      pattern: '.*\\.spam\\.example',
      pattern_type: 'DOMAIN',
      is_regex: true,
    });
    assert.equal(regex.is_regex, true);
    const listed = (params) => listIds(client, kase, account.id, params);

    assert.deepEqual(await listed({ pattern_type: 'IP' }), [ip.id]);
    assert.deepEqual(await listed({ pattern_type: 'EMAIL' }), [email.id]);
    assert.deepEqual(await listed({ pattern: 'bulk@spam.example' }), [email.id]);
    assert.deepEqual(await listed({ search: 'botnet' }), [ip.id]);
    assert.deepEqual(await listed({ order: 'pattern' }), [regex.id, ip.id, email.id]);
    assert.deepEqual(await listed({ order: 'pattern', direction: 'desc' }), [
      email.id,
      ip.id,
      regex.id,
    ]);
  });
});
