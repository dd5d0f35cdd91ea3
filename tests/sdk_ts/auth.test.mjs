// The SDK's credentials against mailpolicy: apiToken sends `Authorization: Bearer`, apiEmail +
// apiKey send the legacy X-Auth-Email + X-Auth-Key; bad ones are 401, a credential without a
// grant for what it asks is 403.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AuthenticationError, PermissionDeniedError } from 'cloudflare';

import { MISSING_ID, freshAccount, legacyWriter, makeClient, reader, writer } from './lib/env.mjs';
import { expectApiError } from './lib/suite.mjs';

const SENDER = { pattern: 'spam.example.net', pattern_type: 'DOMAIN', is_regex: false };
const senders = (client) => client.emailSecurity.settings.blockSenders;

describe('credentials', () => {
  test('apiToken: a Bearer token and no legacy headers', async () => {
    const account = freshAccount();
    const log = [];
    const client = writer(account, { log });
    const created = await senders(client).create({ account_id: account.id, ...SENDER });
    assert.equal(created.pattern, SENDER.pattern);
    assert.equal(log.length, 1);
    assert.equal(log[0].headers.get('authorization'), `Bearer ${account.writeToken}`);
    assert.equal(log[0].headers.get('x-auth-email'), null);
    assert.equal(log[0].headers.get('x-auth-key'), null);
  });

  test('apiEmail + apiKey: the legacy headers and no Authorization', async () => {
    const account = freshAccount();
    const account_id = account.id;
    const log = [];
    const client = legacyWriter(account, { log });
    const created = await senders(client).create({ account_id, ...SENDER });
    assert.deepEqual((await senders(client).list({ account_id })).result, [created]);
    assert.equal(log.length, 2);
    for (const request of log) {
      assert.equal(request.headers.get('x-auth-email'), account.keyEmail);
      assert.equal(request.headers.get('x-auth-key'), account.writeKey);
      assert.equal(request.headers.get('authorization'), null);
    }
    // What the key created, the account's token sees.
    assert.deepEqual(await senders(reader(account)).get(created.id, { account_id }), created);
  });

  test('AuthenticationError (401): unknown token, wrong key, key of another email', async () => {
    const account = freshAccount();
    const account_id = account.id;
    const clients = [
      makeClient({ apiToken: 'not-a-real-token' }),
      makeClient({ apiToken: `${account.writeToken}x` }),
      makeClient({ apiEmail: account.keyEmail, apiKey: '0'.repeat(account.writeKey.length) }),
      makeClient({ apiEmail: 'someone@else.example', apiKey: account.writeKey }),
    ];
    for (const client of clients) {
      const error = await expectApiError(
        senders(client).list({ account_id }),
        AuthenticationError,
        401,
      );
      assert.deepEqual(
        error.errors.map((item) => item.code),
        [10000],
      );
      await expectApiError(
        senders(client).create({ account_id, ...SENDER }),
        AuthenticationError,
        401,
      );
    }
    assert.deepEqual((await senders(reader(account)).list({ account_id })).result, []);
  });

  test('PermissionDeniedError (403): a Read token writing, a stranger reading', async () => {
    const account = freshAccount();
    const account_id = account.id;
    const other = freshAccount();
    const readOnly = senders(reader(account));
    assert.deepEqual((await readOnly.list({ account_id })).result, []);
    const denied = await expectApiError(
      readOnly.create({ account_id, ...SENDER }),
      PermissionDeniedError,
      403,
    );
    assert.deepEqual(
      denied.errors.map((item) => item.code),
      [10000],
    );

    // Every credential of another account, whatever its permission.
    for (const client of [writer(other), legacyWriter(other), reader(other)]) {
      await expectApiError(senders(client).list({ account_id }), PermissionDeniedError, 403);
      await expectApiError(
        senders(client).create({ account_id, ...SENDER }),
        PermissionDeniedError,
        403,
      );
    }
    // An account that does not exist answers the same: nothing about other accounts leaks.
    const nowhere = MISSING_ID.replaceAll('-', '');
    const unknown = await expectApiError(
      senders(writer(account)).list({ account_id: nowhere }),
      PermissionDeniedError,
      403,
    );
    const known = await expectApiError(
      senders(writer(other)).list({ account_id }),
      PermissionDeniedError,
      403,
    );
    assert.equal(
      unknown.errors[0].message.replace(nowhere, 'ID'),
      known.errors[0].message.replace(account_id, 'ID'),
    );
    assert.deepEqual((await readOnly.list({ account_id })).result, []);
  });
});
