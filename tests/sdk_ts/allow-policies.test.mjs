// Allow policies through cloudflare@7.3.0: client.emailSecurity.settings.allowPolicies.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { CASES } from './lib/cases.mjs';
import { freshAccount, writer } from './lib/env.mjs';
import { assertEntry, listIds, resourceSuite } from './lib/suite.mjs';

const kase = CASES.allowPolicies;
resourceSuite(kase);

const NO_ROLE = {
  is_regex: false,
  is_trusted_sender: false,
  is_acceptable_sender: false,
  is_exempt_recipient: false,
  verify_sender: false,
};

describe('allowPolicies: list filters and ordering', () => {
  test('role flags, pattern_type, pattern, search, order', async () => {
    const account = freshAccount();
    const client = writer(account);
    const bodies = {
      trusted: {
        ...NO_ROLE,
        pattern: 'chief@partner.example',
        pattern_type: 'EMAIL',
        is_trusted_sender: true,
      },
      acceptable: {
        ...NO_ROLE,
        pattern: 'vendor.example',
        pattern_type: 'DOMAIN',
        is_acceptable_sender: true,
        comments: 'billing partner',
      },
      exempt: {
        ...NO_ROLE,
        pattern: '203.0.113.0/24',
        pattern_type: 'IP',
        is_exempt_recipient: true,
      },
    };
    const ids = {};
    for (const [name, body] of Object.entries(bodies)) {
      const created = await client.emailSecurity.settings.allowPolicies.create({
        account_id: account.id,
        ...body,
      });
      assertEntry(created, kase, kase.view(body), name);
      ids[name] = created.id;
    }
    const listed = (params) => listIds(client, kase, account.id, params);
    const { trusted, acceptable, exempt } = ids;

    assert.deepEqual(await listed({ is_trusted_sender: true }), [trusted]);
    assert.deepEqual(await listed({ is_trusted_sender: false }), [acceptable, exempt]);
    assert.deepEqual(await listed({ is_acceptable_sender: true }), [acceptable]);
    assert.deepEqual(await listed({ is_exempt_recipient: true }), [exempt]);
    assert.deepEqual(await listed({ verify_sender: true }), []);
    assert.deepEqual(await listed({ pattern_type: 'IP' }), [exempt]);
    assert.deepEqual(await listed({ pattern: 'vendor.example' }), [acceptable]);
    assert.deepEqual(await listed({ search: 'BILLING' }), [acceptable]);
    assert.deepEqual(await listed({ order: 'pattern' }), [exempt, trusted, acceptable]);
    assert.deepEqual(await listed({ order: 'pattern', direction: 'desc' }), [
      acceptable,
      trusted,
      exempt,
    ]);
    assert.deepEqual(await listed({ order: 'created_at', direction: 'desc' }), [
      exempt,
      acceptable,
      trusted,
    ]);
  });
});
