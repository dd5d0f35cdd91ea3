// Trusted domains through cloudflare@7.3.0: client.emailSecurity.settings.trustedDomains.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { CASES } from './lib/cases.mjs';
import { freshAccount, writer } from './lib/env.mjs';
import { listIds, resourceSuite } from './lib/suite.mjs';

const kase = CASES.trustedDomains;
resourceSuite(kase);

describe('trustedDomains: list filters and ordering', () => {
  test('is_recent, is_similarity, pattern, search, order', async () => {
    const account = freshAccount();
    const client = writer(account);
    const create = (body) =>
      client.emailSecurity.settings.trustedDomains.create({ account_id: account.id, ...body });
    const recent = await create({
      pattern: 'new-partner.example',
      is_recent: true,
      is_regex: false,
      is_similarity: false,
    });
    const similar = await create({
      pattern: 'bank.example',
      is_recent: false,
      is_regex: false,
      is_similarity: true,
      comments: 'lookalikes are fine',
    });
    const regex = await create({
      pattern: '^mail[0-9]+\\.example$',
      is_recent: true,
      is_regex: true,
      is_similarity: true,
    });
    const listed = (params) => listIds(client, kase, account.id, params);

    assert.deepEqual(await listed({ is_recent: true }), [recent.id, regex.id]);
    assert.deepEqual(await listed({ is_recent: false }), [similar.id]);
    assert.deepEqual(await listed({ is_similarity: true }), [similar.id, regex.id]);
    assert.deepEqual(await listed({ is_recent: true, is_similarity: false }), [recent.id]);
    assert.deepEqual(await listed({ pattern: 'bank.example' }), [similar.id]);
    assert.deepEqual(await listed({ search: 'LOOKALIKE' }), [similar.id]);
    assert.deepEqual(await listed({ order: 'pattern', direction: 'desc' }), [
      recent.id,
      similar.id,
      regex.id,
    ]);
  });
});
