'use strict';
// Fixture loading/validation and the emulator's mutable state.
const fs = require('fs');

const ACCOUNT_STATES = ['ACTIVE', 'SUSPENDED', 'PENDING_CLOSURE', 'CLOSED', 'PENDING_ACTIVATION'];

function fail(msg) { throw new Error(`fixture: ${msg}`); }

function normTags(tags) {
  if (!tags) return [];
  if (Array.isArray(tags)) return tags.map((t) => ({ Key: String(t.Key ?? t.key), Value: String(t.Value ?? t.value ?? '') }));
  return Object.entries(tags).map(([k, v]) => ({ Key: k, Value: String(v) }));
}

function loadFixture(file) {
  const f = JSON.parse(fs.readFileSync(file, 'utf8'));
  return normalizeFixture(f);
}

function normalizeFixture(f) {
  const fx = {};
  fx.managementAccountId = String(f.management_account_id || fail('management_account_id missing'));
  fx.organizationId = f.organization_id || fail('organization_id missing');
  fx.rootId = f.root_id || fail('root_id missing');
  fx.region = f.region || 'us-east-1';
  fx.featureSet = f.feature_set || 'ALL';
  fx.defaultRoleName = f.default_role_name || 'OrganizationAccountAccessRole';
  fx.emptyPages = !!f.empty_pages;
  const iam = f.iam || {};
  fx.reportDelayMs = iam.report_delay_ms ?? 200;
  fx.reportTtlSeconds = iam.report_ttl_seconds ?? 4 * 3600;
  fx.generateLimit = Object.assign({ max_calls: 10, window_ms: 1000 }, iam.generate_limit || {});
  fx.kmsKeys = f.kms_keys || null;
  const mgmt = fx.managementAccountId;
  const orgArnBase = `arn:aws:organizations::${mgmt}`;
  fx.root = { Id: fx.rootId, Arn: `${orgArnBase}:root/${fx.organizationId}/${fx.rootId}`, Name: f.root_name || 'Root', PolicyTypes: [], tags: normTags(f.root_tags) };

  fx.ous = new Map();
  for (const ou of f.organizational_units || []) {
    if (!/^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$/.test(ou.id)) fail(`bad OU id ${ou.id}`);
    fx.ous.set(ou.id, {
      Id: ou.id, Arn: `${orgArnBase}:ou/${fx.organizationId}/${ou.id}`, Name: ou.name || ou.id,
      parent: ou.parent || fx.rootId, tags: normTags(ou.tags),
    });
  }
  for (const ou of fx.ous.values()) {
    if (ou.parent !== fx.rootId && !fx.ous.has(ou.parent)) fail(`OU ${ou.Id} has unknown parent ${ou.parent}`);
  }

  fx.accounts = new Map();
  for (const a of f.accounts || []) {
    const id = String(a.id);
    if (!/^\d{12}$/.test(id)) fail(`bad account id ${id}`);
    const state = a.state || 'ACTIVE';
    if (!ACCOUNT_STATES.includes(state)) fail(`bad state ${state} for ${id}`);
    const parent = a.parent || fx.rootId;
    if (parent !== fx.rootId && !fx.ous.has(parent)) fail(`account ${id} has unknown parent ${parent}`);
    let status;
    if ('status' in a) status = a.status || undefined; // null/false/"" => omitted
    else status = { ACTIVE: 'ACTIVE', SUSPENDED: 'SUSPENDED', PENDING_CLOSURE: 'PENDING_CLOSURE', PENDING_ACTIVATION: 'ACTIVE' }[state];
    fx.accounts.set(id, {
      id, name: a.name || `account-${id}`, email: a.email || `aws+${id}@example.com`, parent, state, status,
      joinedMethod: a.joined_method || (id === mgmt ? 'INVITED' : 'CREATED'),
      joinedTimestamp: a.joined_timestamp ?? 1600000000 + (Number(id.slice(-6)) % 100000000),
      tags: normTags(a.tags),
      listedId: a.listed_id === undefined ? null : String(a.listed_id),
      users: a.users ?? [],
      createdTimestamp: a.created_timestamp ?? null,
      root: a.root || null,
      roleMissing: !!a.role_missing,
      roleExternalId: a.role_external_id || null,
      roleMaxSessionSeconds: a.role_max_session_seconds || 43200,
      extraRoles: a.roles || [],
      reportDelayMs: a.report_delay_ms ?? fx.reportDelayMs,
      reportNeverCompletes: !!a.report_never_completes,
      generateLimit: a.generate_limit || null,
    });
  }
  if (!fx.accounts.has(mgmt)) fail('management account must be listed in accounts');

  fx.credentials = new Map();
  for (const c of f.credentials || []) {
    const acct = String(c.account_id || mgmt);
    if (!fx.accounts.has(acct)) fail(`credential ${c.access_key_id} for unknown account ${acct}`);
    fx.credentials.set(c.access_key_id, {
      accessKeyId: c.access_key_id, secretAccessKey: c.secret_access_key, accountId: acct,
      arn: c.arn || `arn:aws:iam::${acct}:user/emulator`,
      userId: c.user_id || `AIDA${c.access_key_id.slice(4, 20).padEnd(17, 'X')}`,
      active: c.active !== false, temporary: false,
    });
  }

  fx.buckets = new Map();
  for (const b of f.buckets || []) {
    fx.buckets.set(b.name, {
      name: b.name, owner: String(b.owner || mgmt), region: b.region || fx.region,
      grants: (b.grants || []).map(String),
      objectOwnership: b.object_ownership || 'BucketOwnerEnforced',
      defaultEncryption: b.default_encryption || { algorithm: 'AES256' },
      requiredSse: b.required_sse || null,
      createdMs: Date.parse(b.created || '2024-01-01T00:00:00Z'),
    });
  }
  fx.topics = new Map();
  for (const t of f.topics || []) {
    const arn = typeof t === 'string' ? t : t.arn;
    const owner = arn.split(':')[4];
    fx.topics.set(arn, { arn, owner, publishers: (t.publishers || []).map(String) });
  }
  fx.webIdentityTokens = (f.web_identity_tokens || []).map((w) => ({
    token: w.token, roleArn: w.role_arn, subject: w.subject || 'system:serviceaccount:default:credreport',
    audience: w.audience || 'sts.amazonaws.com', provider: w.provider || 'oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE',
  }));
  return fx;
}

class State {
  constructor(fixture) {
    this.fx = fixture;
    this.skewMs = 0;      // clock skew (fault): affects Date headers and signature time checks
    this.advanceMs = 0;   // admin time travel: affects report ages and credential expiry only
    this.reset();
  }
  reset() {
    this.tempCreds = new Map();   // ASIA... -> cred
    this.reports = new Map();     // account -> { startedMs, completeMs, neverCompletes }
    this.generateCalls = new Map(); // account -> [timestamps]
    this.objects = new Map();     // bucket -> Map(key -> object)
    for (const b of this.fx.buckets.keys()) this.objects.set(b, new Map());
    this.messages = [];
    this.log = [];
    this.seq = 0;
    this.advanceMs = 0;
  }
  now() { return Date.now() + this.skewMs; }
  stateNow() { return Date.now() + this.skewMs + this.advanceMs; }
  lookupCredential(akid) {
    return this.fx.credentials.get(akid) || this.tempCreds.get(akid) || null;
  }
}

module.exports = { loadFixture, normalizeFixture, State, ACCOUNT_STATES };
