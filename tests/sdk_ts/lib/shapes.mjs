// The response types that cloudflare@7.3.0 declares (resources/email-security/settings/*.d.ts),
// as checks on the JSON mailpolicy answers. Every declared field must be present with a value of
// its declared type (literal unions included); a field the SDK does not declare is a failure too,
// since no SDK user could rely on it.
import assert from 'node:assert/strict';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

// A check is (value, path) => void and throws an AssertionError naming the path.
const fail = (path, value, wanted) =>
  assert.fail(`${path}: expected ${wanted}, got ${JSON.stringify(value)}`);

export const string = (value, path) => typeof value === 'string' || fail(path, value, 'a string');
export const boolean = (value, path) =>
  typeof value === 'boolean' || fail(path, value, 'a boolean');
export const integer = (value, path) =>
  Number.isInteger(value) || fail(path, value, 'an integer number');
export const uuid = (value, path) =>
  (typeof value === 'string' && UUID.test(value)) || fail(path, value, 'a UUID string');
export const timestamp = (value, path) =>
  (typeof value === 'string' && RFC3339.test(value) && !Number.isNaN(Date.parse(value))) ||
  fail(path, value, 'an RFC 3339 timestamp string');
export const oneOf =
  (...literals) =>
  (value, path) =>
    literals.includes(value) || fail(path, value, `one of ${JSON.stringify(literals)}`);
export const nullable = (check) => (value, path) => {
  if (value !== null) check(value, path);
};
export const arrayOf = (check) => (value, path) => {
  if (!Array.isArray(value)) fail(path, value, 'an array');
  value.forEach((item, index) => check(item, `${path}[${index}]`));
};
/** Marks a field the type declares with `?` whose absence mailpolicy may choose. */
export const optional = (check) =>
  Object.assign((value, path) => check(value, path), { optional: true });
export const object = (shape) => (value, path) => checkShape(value, shape, path);

/** `value` has exactly the fields of `shape` (optional ones may be absent), each well typed. */
export function checkShape(value, shape, path = 'result') {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail(path, value, 'an object');
  }
  const undeclared = Object.keys(value).filter((key) => !(key in shape));
  assert.deepEqual(undeclared, [], `${path}: fields the SDK does not declare`);
  for (const [key, check] of Object.entries(shape)) {
    if (!(key in value)) {
      assert.ok(check.optional, `${path}.${key}: missing`);
      continue;
    }
    check(value[key], `${path}.${key}`);
  }
}

const PATTERN_TYPE = oneOf('EMAIL', 'DOMAIN', 'IP', 'UNKNOWN');
const DELIVERY_MODE = oneOf('DIRECT', 'BCC', 'JOURNAL', 'API', 'RETRO_SCAN');
const DISPOSITION = oneOf(
  'MALICIOUS',
  'MALICIOUS-BEC',
  'SUSPICIOUS',
  'SPOOF',
  'SPAM',
  'BULK',
  'ENCRYPTED',
  'EXTERNAL',
  'UNKNOWN',
  'NONE',
);
const REGION = oneOf('GLOBAL', 'AU', 'DE', 'IN', 'US');
const PROVENANCE = oneOf(
  'A1S_INTERNAL',
  'SNOOPY-CASB_OFFICE_365',
  'SNOOPY-OFFICE_365',
  'SNOOPY-GOOGLE_DIRECTORY',
);

const STAMPS = { created_at: timestamp, modified_at: timestamp, last_modified: timestamp };

export const SHAPES = {
  allowPolicies: {
    id: uuid,
    ...STAMPS,
    comments: nullable(string),
    is_acceptable_sender: boolean,
    is_exempt_recipient: boolean,
    is_recipient: boolean,
    is_regex: boolean,
    is_sender: boolean,
    is_spoof: boolean,
    is_trusted_sender: boolean,
    pattern: string,
    pattern_type: PATTERN_TYPE,
    verify_sender: boolean,
  },
  blockSenders: {
    id: uuid,
    ...STAMPS,
    comments: nullable(string),
    is_regex: boolean,
    pattern: string,
    pattern_type: PATTERN_TYPE,
  },
  // No last_modified: the SDK's content policy types declare created_at and modified_at only.
  contentPolicies: {
    id: uuid,
    created_at: timestamp,
    modified_at: timestamp,
    enabled: boolean,
    name: string,
    notes: nullable(string),
    pattern: string,
    targets: arrayOf(oneOf('SUBJECT', 'BODY')),
  },
  domains: {
    id: uuid,
    ...STAMPS,
    allowed_delivery_modes: arrayOf(DELIVERY_MODE),
    authorization: nullable(
      object({ authorized: boolean, timestamp, status_message: optional(nullable(string)) }),
    ),
    dmarc_status: nullable(oneOf('none', 'good', 'invalid')),
    domain: string,
    drop_dispositions: arrayOf(DISPOSITION),
    emails_processed: nullable(
      object({
        timestamp,
        total_emails_processed: integer,
        total_emails_processed_previous: integer,
      }),
    ),
    folder: nullable(oneOf('AllItems', 'Inbox')),
    inbox_provider: nullable(oneOf('Microsoft', 'Google')),
    integration_id: nullable(string),
    ip_restrictions: arrayOf(string),
    lookback_hops: integer,
    o365_tenant_id: nullable(string),
    regions: arrayOf(REGION),
    require_tls_inbound: nullable(boolean),
    require_tls_outbound: nullable(boolean),
    spf_status: nullable(oneOf('none', 'good', 'neutral', 'open', 'invalid')),
    status: nullable(oneOf('PENDING', 'ACTIVE', 'FAILED', 'TIMEOUT')),
    // Declared `transport?: string`: never null.
    transport: string,
  },
  impersonationRegistry: {
    id: uuid,
    ...STAMPS,
    comments: nullable(string),
    directory_id: nullable(integer),
    directory_node_id: nullable(integer),
    email: string,
    external_directory_node_id: nullable(string),
    is_email_regex: boolean,
    name: string,
    provenance: nullable(PROVENANCE),
  },
  sendingDomainRestrictions: {
    id: uuid,
    ...STAMPS,
    comments: nullable(string),
    domain: string,
    exclude: arrayOf(string),
  },
  trustedDomains: {
    id: uuid,
    ...STAMPS,
    comments: nullable(string),
    is_recent: boolean,
    is_regex: boolean,
    is_similarity: boolean,
    pattern: string,
  },
  urlIgnorePatterns: {
    id: uuid,
    ...STAMPS,
    comments: nullable(string),
    pattern: string,
  },
};

/** Every delete answers the SDK's `{id: string}` and nothing else. */
export const DELETED = { id: uuid };
