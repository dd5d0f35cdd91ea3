// The eight settings resources as the SDK names them, with sample request bodies and what
// mailpolicy answers for them (`view`: the fields a response carries for a complete request body,
// defaults and mirrored fields included).

const ALLOW_POLICY = {
  pattern: 'partner@example.com',
  pattern_type: 'EMAIL',
  is_regex: false,
  is_trusted_sender: true,
  is_acceptable_sender: false,
  is_exempt_recipient: false,
  verify_sender: true,
  comments: 'a partner',
};
const BLOCK_SENDER = { pattern: 'spam.example.net', pattern_type: 'DOMAIN', is_regex: false };
const CONTENT_POLICY = {
  name: 'Block phishing keywords',
  pattern: 'urgent.*verify.*account',
  targets: ['SUBJECT'],
  enabled: true,
  notes: 'subject lines that ask to verify an account',
};
const DOMAIN = {
  domain: 'mail.example.com',
  allowed_delivery_modes: ['DIRECT'],
  drop_dispositions: ['MALICIOUS'],
  ip_restrictions: [],
  regions: ['GLOBAL'],
};
const IMPERSONATION = {
  name: 'Chief Executive',
  email: 'chief@example.com',
  is_email_regex: false,
};
const SENDING_RESTRICTION = { domain: 'bank.example.com', exclude: ['legacy.bank.example.com'] };
const TRUSTED_DOMAIN = {
  pattern: 'partner.example.com',
  is_recent: true,
  is_regex: false,
  is_similarity: false,
};
const URL_IGNORE = { pattern: '^https://intranet\\.example\\.com/' };

// What a domain created without the optional fields answers: lookback_hops 1, transport "" (the
// SDK declares a string), and a new domain waits for ownership verification.
const DOMAIN_DEFAULTS = {
  folder: null,
  integration_id: null,
  lookback_hops: 1,
  require_tls_inbound: null,
  require_tls_outbound: null,
  transport: '',
  status: 'PENDING',
  spf_status: null, // unknown until the verifier reads DNS
  dmarc_status: null,
  inbox_provider: null,
  o365_tenant_id: null,
};

export const CASES = {
  allowPolicies: {
    attr: 'allowPolicies',
    create: ALLOW_POLICY,
    edit: { comments: 'edited', is_acceptable_sender: true },
    nth: (n) => ({ ...ALLOW_POLICY, pattern: `user${n}@example.com` }),
    // The deprecated flags mirror the current ones in every response.
    view: (body) => ({
      comments: null,
      ...body,
      is_sender: body.is_trusted_sender,
      is_spoof: body.is_acceptable_sender,
      is_recipient: body.is_exempt_recipient,
    }),
    invalid: { body: { ...ALLOW_POLICY, pattern: 'not-an-email' }, pointer: '/pattern' },
    batch: {
      patch: { comments: 'patched', verify_sender: false },
      put: {
        pattern: 'replaced@example.com',
        pattern_type: 'EMAIL',
        is_regex: false,
        is_trusted_sender: false,
        is_acceptable_sender: true,
        is_exempt_recipient: false,
        verify_sender: false,
      },
      badPost: { ...ALLOW_POLICY, pattern: 'not an email' },
      badPointer: '/posts/0/pattern',
    },
  },
  blockSenders: {
    attr: 'blockSenders',
    create: BLOCK_SENDER,
    edit: { pattern: 'spam.example.org', comments: 'edited' },
    nth: (n) => ({ ...BLOCK_SENDER, pattern: `spam${n}.example.net` }),
    view: (body) => ({ comments: null, ...body }),
    invalid: {
      body: { ...BLOCK_SENDER, pattern: '(unclosed', is_regex: true },
      pointer: '/pattern',
    },
    batch: {
      patch: { comments: 'patched' },
      put: { pattern: '203.0.113.7', pattern_type: 'IP', is_regex: false },
      badPost: { ...BLOCK_SENDER, pattern: 'not a domain' },
      badPointer: '/posts/0/pattern',
    },
  },
  contentPolicies: {
    attr: 'contentPolicies',
    create: CONTENT_POLICY,
    edit: { enabled: false, targets: ['SUBJECT', 'BODY'], notes: null },
    nth: (n) => ({ name: `Policy ${n}`, pattern: `keyword${n}`, targets: ['BODY'], enabled: true }),
    view: (body) => ({ notes: null, ...body }),
    invalid: { body: { ...CONTENT_POLICY, pattern: '(unclosed' }, pointer: '/pattern' },
    batch: {
      patch: { enabled: false, notes: 'patched' },
      put: {
        name: 'Overdue invoices',
        pattern: 'invoice\\s+overdue',
        targets: ['BODY'],
        enabled: true,
      },
      badPost: { ...CONTENT_POLICY, name: 'Broken', pattern: '[a-' },
      badPointer: '/posts/0/pattern',
    },
  },
  domains: {
    attr: 'domains',
    create: DOMAIN,
    edit: { lookback_hops: 3, drop_dispositions: ['MALICIOUS', 'SPAM'] },
    nth: (n) => ({ ...DOMAIN, domain: `d${n}.example.com` }),
    view: (body) => ({ ...DOMAIN_DEFAULTS, ...body }),
    invalid: {
      body: { ...DOMAIN, ip_restrictions: ['192.0.2.0/24', '300.1.1.1'] },
      pointer: '/ip_restrictions/1',
    },
    batch: {
      patch: { lookback_hops: 5 },
      // A batch put replaces the whole domain; lookback_hops left out returns to 1.
      put: {
        allowed_delivery_modes: ['BCC'],
        drop_dispositions: [],
        ip_restrictions: ['192.0.2.0/24'],
        regions: ['US'],
      },
      badPost: { ...DOMAIN, domain: 'not a domain' },
      badPointer: '/posts/0/domain',
      // The name of a domain never changes, so a put keeps it.
      keeps: ['domain'],
    },
  },
  impersonationRegistry: {
    attr: 'impersonationRegistry',
    create: IMPERSONATION,
    edit: { comments: 'edited', name: 'The Chief Executive' },
    nth: (n) => ({ ...IMPERSONATION, name: `Person ${n}`, email: `p${n}@example.com` }),
    view: (body) => ({
      comments: null,
      directory_id: null,
      directory_node_id: null,
      external_directory_node_id: null,
      provenance: 'A1S_INTERNAL',
      ...body,
    }),
    invalid: { body: { ...IMPERSONATION, email: 'nobody' }, pointer: '/email' },
    batch: null, // the SDK has no batch for the impersonation registry
  },
  sendingDomainRestrictions: {
    attr: 'sendingDomainRestrictions',
    create: SENDING_RESTRICTION,
    edit: { comments: 'edited', exclude: [] },
    nth: (n) => ({ domain: `bank${n}.example.com`, exclude: [] }),
    view: (body) => ({ comments: null, ...body }),
    invalid: {
      body: { ...SENDING_RESTRICTION, exclude: ['elsewhere.example.org'] },
      pointer: '/exclude/0',
    },
    batch: null, // cloudflare@7.3.0 offers no batch for sending-domain restrictions
  },
  trustedDomains: {
    attr: 'trustedDomains',
    create: TRUSTED_DOMAIN,
    edit: { is_similarity: true, comments: 'edited' },
    nth: (n) => ({ ...TRUSTED_DOMAIN, pattern: `partner${n}.example.com` }),
    view: (body) => ({ comments: null, ...body }),
    invalid: {
      body: { ...TRUSTED_DOMAIN, pattern: '(unclosed', is_regex: true },
      pointer: '/pattern',
    },
    batch: {
      patch: { comments: 'patched', is_recent: false },
      put: {
        pattern: 'replaced.example.com',
        is_recent: false,
        is_regex: false,
        is_similarity: true,
      },
      badPost: { ...TRUSTED_DOMAIN, pattern: '(unclosed', is_regex: true },
      badPointer: '/posts/0/pattern',
    },
  },
  urlIgnorePatterns: {
    attr: 'urlIgnorePatterns',
    create: URL_IGNORE,
    edit: { comments: 'edited' },
    nth: (n) => ({ pattern: `^https://host${n}\\.example\\.com/` }),
    view: (body) => ({ comments: null, ...body }),
    invalid: { body: { pattern: '[a-' }, pointer: '/pattern' },
    batch: null, // cloudflare@7.3.0 offers no batch for URL ignore patterns
  },
};
