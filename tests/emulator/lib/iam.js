'use strict';
// AWS IAM (Query 2010-05-08): GenerateCredentialReport / GetCredentialReport, with AWS's lifecycle
// and a deterministic credential report CSV built from the fixture.
const { querySuccess } = require('./protocols');
const { HttpError, isoSeconds, isoReport, rng, hash32 } = require('./util');

const COLUMNS = ['user', 'arn', 'user_creation_time', 'password_enabled', 'password_last_used',
  'password_last_changed', 'password_next_rotation', 'mfa_active', 'access_key_1_active',
  'access_key_1_last_rotated', 'access_key_1_last_used_date', 'access_key_1_last_used_region',
  'access_key_1_last_used_service', 'access_key_2_active', 'access_key_2_last_rotated',
  'access_key_2_last_used_date', 'access_key_2_last_used_region', 'access_key_2_last_used_service',
  'cert_1_active', 'cert_1_last_rotated', 'cert_2_active', 'cert_2_last_rotated'];

const DAY = 86400000;
const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'mallory', 'oscar', 'peggy', 'trent', 'victor', 'walter'];
const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1', 'eu-central-1', 'ap-southeast-2'];
const SERVICES = ['s3', 'ec2', 'iam', 'sts', 'lambda', 'dynamodb', 'cloudformation'];

// Read a time given either as an ISO string (obj[key]) or days before generation (obj[key_days_ago]).
function when(obj, key, genMs) {
  if (!obj) return null;
  if (obj[key] != null) return Date.parse(obj[key]);
  const d = obj[`${key}_days_ago`];
  if (d != null) return genMs - Math.round(d * DAY);
  return null;
}

// Deterministic users for `"users": N`.
function syntheticUsers(accountId, n) {
  const users = [];
  for (let i = 0; i < n; i++) {
    const r = rng(hash32(`${accountId}:${i}`));
    const created = 30 + Math.floor(r() * 1500);
    const hasPassword = r() < 0.6;
    const nkeys = Math.floor(r() * 3);
    const keys = [];
    for (let k = 0; k < nkeys; k++) {
      const rotated = Math.floor(r() * created);
      const used = r() < 0.75 ? Math.floor(r() * rotated) : null;
      keys.push({
        active: r() < 0.8, rotated_days_ago: rotated, last_used_days_ago: used,
        last_used_region: REGIONS[Math.floor(r() * REGIONS.length)], last_used_service: SERVICES[Math.floor(r() * SERVICES.length)],
      });
    }
    users.push({
      name: `${NAMES[i % NAMES.length]}${i >= NAMES.length ? `-${Math.floor(i / NAMES.length)}` : ''}`,
      created_days_ago: created,
      password: hasPassword ? {
        enabled: true,
        last_used_days_ago: r() < 0.8 ? Math.floor(r() * created) : null,
        last_changed_days_ago: Math.floor(r() * created),
        next_rotation_days: r() < 0.5 ? 90 : null,
      } : false,
      mfa: hasPassword && r() < 0.7,
      access_keys: keys,
    });
  }
  return users;
}

// The five columns of each of the two access keys (absent keys: false and N/A).
function pushKeys(row, keys, created, genMs, t) {
  for (let k = 0; k < 2; k++) {
    const key = (keys || [])[k];
    if (!key) { row.push('false', 'N/A', 'N/A', 'N/A', 'N/A'); continue; }
    const used = when(key, 'last_used', genMs);
    row.push(key.active === false ? 'false' : 'true', t(when(key, 'rotated', genMs) ?? created),
      used == null ? 'N/A' : t(used), used == null ? 'N/A' : (key.last_used_region || 'us-east-1'),
      used == null ? 'N/A' : (key.last_used_service || 'sts'));
  }
}

function csvField(v) {
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function buildReportCsv(fx, accountId, genMs) {
  genMs = Math.floor(genMs / 1000) * 1000;
  const acct = fx.accounts.get(accountId);
  const t = (ms) => (ms == null || Number.isNaN(ms) ? 'N/A' : isoReport(ms));
  const rows = [COLUMNS.join(',')];
  // Root user row: from the account's optional "root" object, else derived from the account id.
  const rr = rng(hash32(`${accountId}:root`));
  const rootCreated = acct.createdTimestamp != null ? acct.createdTimestamp * 1000 : acct.joinedTimestamp * 1000;
  const derivedDays = rr() < 0.5 ? Math.floor(rr() * 200) : null;
  const derivedMfa = rr() < 0.8;
  const root = acct.root || {};
  let rootUsed;
  if ('password_last_used' in root || 'password_last_used_days_ago' in root) rootUsed = when(root, 'password_last_used', genMs);
  else rootUsed = derivedDays == null ? null : Math.max(rootCreated, genMs - derivedDays * DAY);
  const rootMfa = root.mfa !== undefined ? !!root.mfa : derivedMfa;
  const rootRow = ['<root_account>', `arn:aws:iam::${accountId}:root`, t(rootCreated), 'not_supported',
    rootUsed == null ? 'no_information' : t(rootUsed), 'not_supported', 'not_supported', rootMfa ? 'true' : 'false'];
  pushKeys(rootRow, root.access_keys, rootCreated, genMs, t);
  rootRow.push('false', 'N/A', 'false', 'N/A');
  rows.push(rootRow.join(','));
  const users = typeof acct.users === 'number' ? syntheticUsers(accountId, acct.users) : acct.users;
  for (const u of users) {
    const path = u.path || '/';
    const created = when(u, 'created', genMs) ?? genMs - 365 * DAY;
    const pw = u.password === true ? { enabled: true } : (u.password || { enabled: false });
    const pwOn = pw.enabled !== false && u.password !== false && u.password !== undefined;
    const pwLastUsed = pwOn ? when(pw, 'last_used', genMs) : null;
    const pwChanged = pwOn ? (when(pw, 'last_changed', genMs) ?? created) : null;
    const nextRot = pwOn && pw.next_rotation_days ? pwChanged + pw.next_rotation_days * DAY : null;
    const row = [csvField(u.name), csvField(`arn:aws:iam::${accountId}:user${path}${u.name}`), t(created),
      pwOn ? 'true' : 'false', pwOn ? (pwLastUsed == null ? 'no_information' : t(pwLastUsed)) : 'N/A',
      pwOn ? t(pwChanged) : 'N/A', nextRot ? t(nextRot) : 'N/A', u.mfa ? 'true' : 'false'];
    pushKeys(row, u.access_keys, created, genMs, t);
    for (let c = 0; c < 2; c++) {
      const cert = (u.certs || [])[c];
      if (!cert) { row.push('false', 'N/A'); continue; }
      row.push(cert.active === false ? 'false' : 'true', t(when(cert, 'rotated', genMs) ?? created));
    }
    rows.push(row.join(','));
  }
  return rows.join('\n');
}

function reportFor(state, accountId) {
  return state.reports.get(accountId) || null;
}

function reportState(state, rep, now) {
  if (!rep) return 'NONE';
  if (rep.neverCompletes || now < rep.completeMs) return 'INPROGRESS';
  if (now - rep.startedMs >= state.fx.reportTtlSeconds * 1000) return 'EXPIRED';
  return 'COMPLETE';
}

function handle(ctx) {
  const { state } = ctx;
  const fx = state.fx;
  const accountId = ctx.cred.accountId;
  const acct = fx.accounts.get(accountId);
  const now = state.stateNow();
  switch (ctx.action) {
    case 'GenerateCredentialReport': {
      const lim = acct.generateLimit || fx.generateLimit;
      const calls = (state.generateCalls.get(accountId) || []).filter((x) => now - x < lim.window_ms);
      if (calls.length >= lim.max_calls) {
        state.generateCalls.set(accountId, calls);
        throw new HttpError(409, 'LimitExceeded', 'Rate exceeded for GenerateCredentialReport: too many requests in a short period.');
      }
      calls.push(now);
      state.generateCalls.set(accountId, calls);
      let rep = reportFor(state, accountId);
      const st = reportState(state, rep, now);
      let out;
      if (st === 'INPROGRESS') out = ['INPROGRESS', 'Report generation in progress'];
      else if (st === 'COMPLETE') out = ['COMPLETE', 'Report is complete'];
      else {
        rep = { startedMs: Math.floor(now / 1000) * 1000, completeMs: now + acct.reportDelayMs, neverCompletes: acct.reportNeverCompletes };
        state.reports.set(accountId, rep);
        out = ['STARTED', 'No report exists. Starting a new report generation task'];
      }
      return querySuccess('iam', 'GenerateCredentialReport', `
    <State>${out[0]}</State>
    <Description>${out[1]}</Description>
  `, ctx.rid);
    }
    case 'GetCredentialReport': {
      const rep = reportFor(state, accountId);
      const st = reportState(state, rep, now);
      if (st === 'NONE') throw new HttpError(410, 'ReportNotPresent', 'Credential report does not exist. Use GenerateCredentialReport to generate a report.');
      if (st === 'INPROGRESS') throw new HttpError(404, 'ReportInProgress', 'Credential report generation is in progress. Try again later.');
      if (st === 'EXPIRED') throw new HttpError(410, 'ReportExpired', 'The credential report has expired. Use GenerateCredentialReport to generate a new report.');
      const csv = buildReportCsv(fx, accountId, rep.startedMs);
      return querySuccess('iam', 'GetCredentialReport', `
    <Content>${Buffer.from(csv, 'utf8').toString('base64')}</Content>
    <ReportFormat>text/csv</ReportFormat>
    <GeneratedTime>${isoSeconds(rep.startedMs)}</GeneratedTime>
  `, ctx.rid);
    }
    default:
      throw new HttpError(400, 'InvalidAction', `Could not find operation ${ctx.action} for version 2010-05-08`);
  }
}

module.exports = { handle, buildReportCsv, COLUMNS, syntheticUsers, reportState };
