// How mailpolicy's failures reach an SDK user: the error class for each status, the v4 failure
// envelope on it (codes, messages, pointers), and no retries even with the SDK's default policy.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  APIError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  NotFoundError,
  PermissionDeniedError,
} from 'cloudflare';

import { MISSING_ID, freshAccount, makeClient, reader, writer } from './lib/env.mjs';
import { expectApiError, pointers } from './lib/suite.mjs';

const POLICY = {
  pattern: 'partner@example.com',
  pattern_type: 'EMAIL',
  is_regex: false,
  is_trusted_sender: true,
  is_acceptable_sender: false,
  is_exempt_recipient: false,
  verify_sender: true,
};
const policies = (client) => client.emailSecurity.settings.allowPolicies;

describe('error classes and the failure envelope', () => {
  test("each status has the SDK's class and mailpolicy's error code", async () => {
    const account = freshAccount();
    const account_id = account.id;
    const created = await policies(writer(account)).create({ account_id, ...POLICY });
    const stranger = makeClient({ apiToken: 'wrong' });
    // Thunks: each request is sent on its turn.
    const cases = [
      [
        () => policies(writer(account)).create({ account_id, ...POLICY, pattern: 'not-an-email' }),
        BadRequestError,
        400,
        1001,
      ],
      [() => policies(stranger).get(created.id, { account_id }), AuthenticationError, 401, 10000],
      [
        () => policies(reader(account)).delete(created.id, { account_id }),
        PermissionDeniedError,
        403,
        10000,
      ],
      [() => policies(writer(account)).get(MISSING_ID, { account_id }), NotFoundError, 404, 1003],
      [() => policies(writer(account)).create({ account_id, ...POLICY }), ConflictError, 409, 1004],
    ];
    for (const [send, ErrorClass, status, code] of cases) {
      const error = await expectApiError(send(), ErrorClass, status);
      assert.ok(error instanceof APIError);
      assert.deepEqual(
        error.errors.map((item) => item.code),
        [code],
        `${ErrorClass.name} codes`,
      );
      assert.deepEqual(error.error.messages, []);
    }
  });

  test('schema errors come together, each pointing at its field', async () => {
    const account = freshAccount();
    const account_id = account.id;
    const client = policies(writer(account));
    // JSON types are strict ("false" is not a boolean), enums are checked, and a missing
    // field is named too.
    const { pattern, ...withoutPattern } = POLICY;
    assert.equal(pattern, POLICY.pattern);
    const error = await expectApiError(
      client.create({ account_id, ...withoutPattern, is_regex: 'false', pattern_type: 'HOST' }),
      BadRequestError,
      400,
    );
    assert.deepEqual(pointers(error).sort(), ['/is_regex', '/pattern', '/pattern_type']);
    assert.ok(error.errors.every((item) => item.code === 1001));
    assert.deepEqual((await client.list({ account_id })).result, []);
  });

  test('a semantic error names the field and says what is wrong', async () => {
    const account = freshAccount();
    const client = policies(writer(account));
    const error = await expectApiError(
      client.create({
        account_id: account.id,
        ...POLICY,
        pattern: '203.0.113.9/24',
        pattern_type: 'IP',
      }),
      BadRequestError,
      400,
      { pointer: '/pattern', contains: '203.0.113.0/24' },
    );
    assert.match(error.message, /^400 .*host bits/);
  });

  test('the default retry policy sends a 4xx once: x-should-retry is false', async () => {
    const account = freshAccount();
    const account_id = account.id;
    const log = [];
    // maxRetries 2 is the SDK's default; without the header it would retry a 409 twice.
    const client = policies(makeClient({ apiToken: account.writeToken }, { log, maxRetries: 2 }));
    await client.create({ account_id, ...POLICY });
    await expectApiError(client.create({ account_id, ...POLICY }), ConflictError, 409);
    await expectApiError(client.get(MISSING_ID, { account_id }), NotFoundError, 404);
    assert.deepEqual(
      log.map((request) => [request.method, request.headers.get('x-stainless-retry-count')]),
      [
        ['POST', '0'],
        ['POST', '0'],
        ['GET', '0'],
      ],
    );
  });
});
