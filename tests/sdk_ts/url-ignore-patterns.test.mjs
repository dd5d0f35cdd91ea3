// URL ignore patterns through cloudflare@7.3.0: client.emailSecurity.settings.urlIgnorePatterns.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BadRequestError } from 'cloudflare';

import { CASES } from './lib/cases.mjs';
import { freshAccount, writer } from './lib/env.mjs';
import { expectApiError, resourceSuite } from './lib/suite.mjs';

const kase = CASES.urlIgnorePatterns;
resourceSuite(kase);

describe('urlIgnorePatterns: edits', () => {
  test('an empty edit and a pattern RE2 refuses are 400s; the entry stays', async () => {
    const account = freshAccount();
    const account_id = account.id;
    const patterns = writer(account).emailSecurity.settings.urlIgnorePatterns;
    const created = await patterns.create({
      account_id,
      pattern: '^https://docs\\.example\\.com/',
      comments: 'docs',
    });
    await expectApiError(patterns.edit(created.id, { account_id }), BadRequestError, 400);
    // RE2 has no lookbehind.
    await expectApiError(
      patterns.edit(created.id, { account_id, pattern: '(?<=lookbehind)x' }),
      BadRequestError,
      400,
      { pointer: '/pattern' },
    );
    assert.deepEqual(await patterns.get(created.id, { account_id }), created);
    const cleared = await patterns.edit(created.id, { account_id, comments: null });
    assert.equal(cleared.comments, null);
    assert.equal(cleared.pattern, created.pattern);
  });
});
