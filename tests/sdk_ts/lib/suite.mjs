// The tests every settings resource gets, through the SDK's own methods: create, get, list,
// edit, delete (with an API token and with a legacy key), auto-pagination, batch where the SDK
// offers it, and the SDK's error classes for the failures mailpolicy answers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  BadRequestError,
  ConflictError,
  NotFoundError,
  PermissionDeniedError,
} from 'cloudflare';

import { MISSING_ID, freshAccount, legacyWriter, reader, writer } from './env.mjs';
import { DELETED, SHAPES, checkShape } from './shapes.mjs';

export const resourceOf = (client, kase) => client.emailSecurity.settings[kase.attr];

/** An entry of the resource: the SDK's declared shape, and the expected values. */
export function assertEntry(entry, kase, expected, path = kase.attr) {
  checkShape(entry, SHAPES[kase.attr], path);
  for (const [name, value] of Object.entries(expected)) {
    assert.deepEqual(entry[name], value, `${path}.${name}`);
  }
  if ('last_modified' in entry) assert.equal(entry.last_modified, entry.modified_at);
  assert.ok(
    Date.parse(entry.modified_at) >= Date.parse(entry.created_at),
    `${path}: modified_at ${entry.modified_at} is before created_at ${entry.created_at}`,
  );
}

export const pointers = (error) => error.errors.map((item) => item.source?.pointer);

/**
 * Awaits `promise`, which must fail with the SDK's `ErrorClass` carrying mailpolicy's v4 failure
 * envelope; returns the error.
 */
export async function expectApiError(promise, ErrorClass, status, { pointer, contains } = {}) {
  const error = await promise.then(
    (value) => assert.fail(`expected ${ErrorClass.name}, got a result: ${JSON.stringify(value)}`),
    (caught) => caught,
  );
  assert.ok(
    error instanceof ErrorClass,
    `expected ${ErrorClass.name}, got ${error?.constructor?.name}: ${error?.message}`,
  );
  assert.equal(error.status, status);
  assert.ok(error.message.startsWith(`${status} `), error.message);
  // Every 4xx tells clients not to retry.
  assert.equal(error.headers.get('x-should-retry'), 'false');
  assert.equal(error.error?.success, false);
  assert.equal(error.error?.result, null);
  assert.ok(error.errors.length > 0, 'errors is empty');
  for (const item of error.errors) {
    assert.ok(Number.isInteger(item.code) && item.code >= 1000, `code ${item.code}`);
    assert.ok(typeof item.message === 'string' && item.message.length > 0, 'message');
  }
  if (pointer !== undefined) {
    assert.ok(pointers(error).includes(pointer), `pointer ${pointer} not in ${pointers(error)}`);
  }
  if (contains !== undefined) {
    assert.ok(
      error.errors.some((item) => item.message.includes(contains)),
      `no error message contains ${JSON.stringify(contains)}: ${JSON.stringify(error.errors)}`,
    );
  }
  return error;
}

const LIST_LIMIT = 200;

/** Every entry an account holds, through the SDK's auto-pagination. */
export async function listAll(client, kase, accountId, params = {}) {
  const entries = [];
  for await (const entry of resourceOf(client, kase).list({ account_id: accountId, ...params })) {
    entries.push(entry);
    // No test holds this many: a walk that gets here would never end.
    assert.ok(entries.length <= LIST_LIMIT, `auto-pagination went past ${LIST_LIMIT} entries`);
  }
  return entries;
}

/** The ids a list with these parameters walks through, in order. */
export const listIds = async (client, kase, accountId, params) =>
  (await listAll(client, kase, accountId, params)).map((entry) => entry.id);

async function lifecycle(client, account_id, kase) {
  const resource = resourceOf(client, kase);

  const created = await resource.create({ account_id, ...kase.create });
  assertEntry(created, kase, kase.view(kase.create), 'create');

  assert.deepEqual(await resource.get(created.id, { account_id }), created);

  const page = await resource.list({ account_id });
  assert.deepEqual(page.result, [created]);
  assert.equal(page.result_info.page, 1);
  assert.equal(page.result_info.per_page, 20);

  const edited = await resource.edit(created.id, { account_id, ...kase.edit });
  const expected = { ...kase.view({ ...kase.create, ...kase.edit }), id: created.id };
  assertEntry(edited, kase, expected, 'edit');
  assert.equal(edited.created_at, created.created_at);
  assert.ok(Date.parse(edited.modified_at) >= Date.parse(created.modified_at));
  assert.deepEqual(await resource.get(created.id, { account_id }), edited);

  const deleted = await resource.delete(created.id, { account_id });
  checkShape(deleted, DELETED, 'delete');
  assert.deepEqual(deleted, { id: created.id });
  await expectApiError(resource.get(created.id, { account_id }), NotFoundError, 404);
  assert.deepEqual((await resource.list({ account_id })).result, []);
}

const TOTAL = 7;
const PER_PAGE = 3;

async function autoPagination(kase) {
  const account = freshAccount();
  const account_id = account.id;
  const resource = resourceOf(writer(account), kase);
  const created = [];
  for (let n = 0; n < TOTAL; n += 1) {
    const entry = await resource.create({ account_id, ...kase.nth(n) });
    assertEntry(entry, kase, kase.view(kase.nth(n)), `create #${n}`);
    created.push(entry.id);
  }

  // A Read token lists; the fetch log shows which pages the SDK asked for.
  const log = [];
  const seen = await listAll(reader(account, { log }), kase, account_id, { per_page: PER_PAGE });
  seen.forEach((entry, index) => assertEntry(entry, kase, {}, `list[${index}]`));
  // Every entry exactly once, in mailpolicy's default order (created_at ascending).
  assert.deepEqual(
    seen.map((entry) => entry.id),
    created,
  );
  // No page on the first request, then 2, 3 and 4 (empty), which ends the walk.
  assert.deepEqual(
    log.map((request) => request.url.searchParams.get('page')),
    [null, '2', '3', '4'],
  );
  for (const request of log) {
    assert.equal(request.method, 'GET');
    assert.equal(request.url.searchParams.get('per_page'), String(PER_PAGE));
  }

  // One page at a time, as the SDK's page objects describe it.
  const first = await resource.list({ account_id, per_page: PER_PAGE });
  assert.deepEqual(
    first.result.map((entry) => entry.id),
    created.slice(0, PER_PAGE),
  );
  const info = { per_page: PER_PAGE, total_count: TOTAL };
  assert.deepEqual(first.result_info, { ...info, page: 1, count: PER_PAGE });
  assert.equal(first.hasNextPage(), true);
  const third = await (await first.getNextPage()).getNextPage();
  assert.deepEqual(
    third.result.map((entry) => entry.id),
    created.slice(2 * PER_PAGE),
  );
  assert.deepEqual(third.result_info, { ...info, page: 3, count: 1 });
  const pastTheEnd = await third.getNextPage();
  assert.deepEqual(pastTheEnd.result, []);
  assert.equal(pastTheEnd.hasNextPage(), false);
}

async function batch(kase) {
  const account = freshAccount();
  const account_id = account.id;
  const resource = resourceOf(writer(account), kase);
  const seeded = [];
  for (let n = 0; n < 3; n += 1) {
    seeded.push(await resource.create({ account_id, ...kase.nth(n) }));
  }
  const [toDelete, toPatch, toPut] = seeded;
  const posts = [kase.nth(10), kase.nth(11)];

  // Each patch and put names its entry by id: the wire contract, whatever the typings say.
  const result = await resource.batch({
    account_id,
    deletes: [{ id: toDelete.id }],
    patches: [{ id: toPatch.id, ...kase.batch.patch }],
    puts: [{ id: toPut.id, ...kase.batch.put }],
    posts,
  });
  assert.deepEqual(Object.keys(result).sort(), ['deletes', 'patches', 'posts', 'puts']);
  assert.deepEqual(result.deletes, [{ id: toDelete.id }]);

  assert.equal(result.patches.length, 1);
  const patched = { ...kase.view({ ...kase.nth(1), ...kase.batch.patch }), id: toPatch.id };
  assertEntry(result.patches[0], kase, patched, 'patches[0]');
  assert.equal(result.patches[0].created_at, toPatch.created_at);

  assert.equal(result.puts.length, 1);
  const kept = Object.fromEntries((kase.batch.keeps ?? []).map((name) => [name, toPut[name]]));
  const replaced = { ...kase.view({ ...kase.batch.put, ...kept }), id: toPut.id };
  assertEntry(result.puts[0], kase, replaced, 'puts[0]');

  assert.equal(result.posts.length, 2);
  result.posts.forEach((entry, index) => {
    assertEntry(entry, kase, kase.view(posts[index]), `posts[${index}]`);
  });
  const postedIds = result.posts.map((entry) => entry.id);
  assert.equal(new Set([...postedIds, ...seeded.map((entry) => entry.id)]).size, 5);

  // What the batch answered is what the account now holds.
  const after = await listAll(writer(account), kase, account_id);
  assert.deepEqual(
    after.map((entry) => entry.id).sort(),
    [toPatch.id, toPut.id, ...postedIds].sort(),
  );
  assert.deepEqual(await resource.get(toPatch.id, { account_id }), result.patches[0]);
  assert.deepEqual(await resource.get(toPut.id, { account_id }), result.puts[0]);

  // All or nothing: one invalid post, and the delete before it is not applied either.
  const empty = { deletes: [], patches: [], puts: [], posts: [] };
  await expectApiError(
    resource.batch({
      account_id,
      ...empty,
      deletes: [{ id: toPatch.id }],
      posts: [kase.batch.badPost],
    }),
    BadRequestError,
    400,
    { pointer: kase.batch.badPointer },
  );
  // An unknown id is a 404 that points at it.
  await expectApiError(
    resource.batch({ account_id, ...empty, deletes: [{ id: MISSING_ID }] }),
    NotFoundError,
    404,
    { pointer: '/deletes/0/id' },
  );
  assert.deepEqual(await listAll(writer(account), kase, account_id), after);
}

async function errors(kase) {
  const account = freshAccount();
  const account_id = account.id;
  const resource = resourceOf(writer(account), kase);

  // 400: the entry is refused, and nothing is stored.
  await expectApiError(
    resource.create({ account_id, ...kase.invalid.body }),
    BadRequestError,
    400,
    { pointer: kase.invalid.pointer },
  );
  assert.deepEqual((await resource.list({ account_id })).result, []);

  // 409: the identical entry, created twice; the message names the one that exists.
  const first = await resource.create({ account_id, ...kase.create });
  await expectApiError(resource.create({ account_id, ...kase.create }), ConflictError, 409, {
    contains: first.id,
  });
  assert.deepEqual((await resource.list({ account_id })).result, [first]);

  // 404: an id that names nothing here, whether well formed or not.
  for (const id of [MISSING_ID, 'not-an-id']) {
    await expectApiError(resource.get(id, { account_id }), NotFoundError, 404);
    await expectApiError(resource.edit(id, { account_id, ...kase.edit }), NotFoundError, 404);
    await expectApiError(resource.delete(id, { account_id }), NotFoundError, 404);
  }
  // An entry of this account is unknown in another one.
  const other = freshAccount();
  await expectApiError(
    resourceOf(writer(other), kase).get(first.id, { account_id: other.id }),
    NotFoundError,
    404,
  );
}

async function permissions(kase) {
  const account = freshAccount();
  const account_id = account.id;
  const created = await resourceOf(writer(account), kase).create({ account_id, ...kase.create });

  // A Read token reads...
  const readOnly = resourceOf(reader(account), kase);
  assert.deepEqual(await readOnly.get(created.id, { account_id }), created);
  assert.deepEqual((await readOnly.list({ account_id })).result, [created]);
  // ...and may not write: 403, and nothing changes.
  const denied = [PermissionDeniedError, 403, { contains: 'can only read' }];
  await expectApiError(readOnly.create({ account_id, ...kase.nth(1) }), ...denied);
  await expectApiError(readOnly.edit(created.id, { account_id, ...kase.edit }), ...denied);
  await expectApiError(readOnly.delete(created.id, { account_id }), ...denied);

  // Another account's Write token may not even read this account.
  const stranger = resourceOf(writer(freshAccount()), kase);
  await expectApiError(stranger.get(created.id, { account_id }), PermissionDeniedError, 403);
  await expectApiError(stranger.list({ account_id }), PermissionDeniedError, 403);
  await expectApiError(stranger.delete(created.id, { account_id }), PermissionDeniedError, 403);

  assert.deepEqual(await readOnly.get(created.id, { account_id }), created);
}

/** Registers the common tests of one resource. */
export function resourceSuite(kase) {
  describe(`${kase.attr}: common operations`, () => {
    test('create, get, list, edit, delete with an API token', async () => {
      const account = freshAccount();
      await lifecycle(writer(account), account.id, kase);
    });

    test('create, get, list, edit, delete with a legacy email and key', async () => {
      const account = freshAccount();
      await lifecycle(legacyWriter(account), account.id, kase);
    });

    test(`list auto-paginates: ${TOTAL} entries, ${PER_PAGE} a page, each once`, () =>
      autoPagination(kase),
    );

    if (kase.batch) {
      test('batch: deletes, patches, puts and posts in one request, all or nothing', () =>
        batch(kase),
      );
    } else {
      test('the SDK offers no batch for this resource', () => {
        assert.equal(typeof resourceOf(writer(freshAccount()), kase).batch, 'undefined');
      });
    }

    test('BadRequestError, ConflictError and NotFoundError', () => errors(kase));

    test('PermissionDeniedError: a Read token writing, another account', () =>
      permissions(kase),
    );
  });
}
