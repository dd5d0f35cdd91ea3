// What tests/sdk_ts/test_typescript_sdk.py hands to this suite, and clients built from it.
//
// The pytest side starts mailpolicy on 127.0.0.1, creates accounts with real credentials and runs
// one *.test.mjs file with:
//   MAILPOLICY_BASE_URL  e.g. http://127.0.0.1:PORT/client/v4
//   MAILPOLICY_ACCOUNTS  JSON: [{id, writeToken, readToken, keyEmail, writeKey}, ...]
// Every test takes accounts of its own (freshAccount), so no test sees another's entries.
import Cloudflare from 'cloudflare';

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run this suite through test_typescript_sdk.py`);
  }
  return value;
}

export const BASE_URL = required('MAILPOLICY_BASE_URL');
const ACCOUNTS = JSON.parse(required('MAILPOLICY_ACCOUNTS'));
let handedOut = 0;

/** An account no other test has used: {id, writeToken, readToken, keyEmail, writeKey}. */
export function freshAccount() {
  if (handedOut >= ACCOUNTS.length) {
    const count = ACCOUNTS.length;
    throw new Error(`all ${count} accounts are taken: raise ACCOUNTS_PER_FILE (pytest side)`);
  }
  return ACCOUNTS[handedOut++];
}

/** A fetch that records every request (method, URL, headers) before sending it. */
export function recordingFetch(log) {
  return async (url, init = {}) => {
    log.push({
      method: (init.method ?? 'GET').toUpperCase(),
      url: new URL(String(url)),
      headers: new Headers(init.headers),
    });
    return fetch(url, init);
  };
}

/**
 * An SDK client for mailpolicy: only baseURL differs from a client for Cloudflare. It never
 * retries (maxRetries: 0) unless told to, so a retry can never hide an error. Pass `log` (an
 * array) to record the requests it sends.
 */
export function makeClient(credentials, { log, ...options } = {}) {
  return new Cloudflare({
    baseURL: BASE_URL,
    maxRetries: 0,
    timeout: 15_000,
    ...credentials,
    ...(log ? { fetch: recordingFetch(log) } : {}),
    ...options,
  });
}

/** The account's Write API token (`Authorization: Bearer`). */
export const writer = (account, options) => makeClient({ apiToken: account.writeToken }, options);

/** The account's Read API token. */
export const reader = (account, options) => makeClient({ apiToken: account.readToken }, options);

/** The account's legacy Write key (`X-Auth-Email` + `X-Auth-Key`). */
export const legacyWriter = (account, options) =>
  makeClient({ apiEmail: account.keyEmail, apiKey: account.writeKey }, options);

/** A well-formed id that names nothing. */
export const MISSING_ID = '00000000-0000-4000-8000-000000000000';
