// The investigate API through the official TypeScript SDK, over records of real mail.
//
// Run by tests/mailflow/test_investigate.py after it has sent mail through Postfix and released
// the quarantined message; MAILPOLICY_FLOW holds the account, a Write token, the records' ids
// (ok, spam, mixed, held) and what they are known to hold. Not a *.test.mjs file: it needs that
// mail, which only the mail-flow suite sends.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Cloudflare from 'cloudflare';

const flow = JSON.parse(process.env.MAILPOLICY_FLOW);
const client = new Cloudflare({
  baseURL: process.env.MAILPOLICY_BASE_URL,
  apiToken: flow.token,
  maxRetries: 0,
  timeout: 15_000,
});
const account_id = flow.account;
const investigate = client.emailSecurity.investigate;

// The fields InvestigateListResponse requires, with their types.
function assertMessageShape(message) {
  for (const name of ['id', 'postfix_id', 'ts']) assert.equal(typeof message[name], 'string', name);
  for (const name of ['is_phish_submission', 'is_quarantined']) {
    assert.equal(typeof message[name], 'boolean', name);
  }
  for (const name of ['action_log', 'client_recipients', 'detection_reasons']) {
    assert.ok(Array.isArray(message[name]), name);
  }
  assert.equal(typeof message.properties, 'object');
}

test('list pages through every record, newest first', async () => {
  const seen = [];
  for await (const message of investigate.list({ account_id, per_page: 1 })) {
    assertMessageShape(message);
    seen.push(message.id);
  }
  assert.deepEqual(new Set(seen), new Set(Object.values(flow.ids)));
  assert.equal(seen.length, 4);
});

test('filters', async () => {
  const page = await investigate.list({ account_id, sender: 'promo@mail.spam.example' });
  assert.deepEqual(page.result.map((m) => m.id), [flow.ids.spam]);
  const held = await investigate.list({ account_id, subject: flow.held_subject });
  assert.deepEqual(held.result.map((m) => m.id), [flow.ids.held]);
  const malicious = await investigate.list({ account_id, final_disposition: 'MALICIOUS' });
  assert.equal(malicious.result.length, 3);
});

test('get, trace and detections', async () => {
  const message = await investigate.get(flow.ids.mixed, { account_id });
  assertMessageShape(message);
  assert.equal(message.final_disposition, 'MALICIOUS');
  const trace = await investigate.trace.get(flow.ids.spam, { account_id });
  assert.ok(trace.inbound.lines.some((line) => line.message.includes('at RCPT')));
  const detections = await investigate.detections.get(flow.ids.held, { account_id });
  assert.equal(detections.final_disposition, 'MALICIOUS');
  assert.ok(Array.isArray(detections.headers));
});

test('raw and preview of the held message', async () => {
  const raw = await investigate.raw.get(flow.ids.held, { account_id });
  assert.ok(raw.raw.includes(`Subject: ${flow.held_subject}`));
  const preview = await investigate.preview.get(flow.ids.held, { account_id });
  assert.equal(Buffer.from(preview.screenshot, 'base64').subarray(1, 4).toString(), 'PNG');
});

test('a released message is released, and a second release is refused', async () => {
  const message = await investigate.get(flow.ids.held, { account_id });
  assert.equal(message.is_quarantined, false);
  assert.ok(message.post_delivery_operations.includes('QUARANTINE_RELEASE'));
  await assert.rejects(
    investigate.release.bulk({ account_id, ids: [flow.ids.held] }),
    (error) => error.status === 409 && /not in quarantine/.test(error.message),
  );
});

test('move is refused with the reason', async () => {
  await assert.rejects(
    investigate.move.create(flow.ids.ok, { account_id, destination: 'Inbox' }),
    (error) => error.status === 400 && /no access to mailboxes/.test(error.message),
  );
});
