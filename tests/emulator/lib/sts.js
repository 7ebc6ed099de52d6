'use strict';
// AWS STS (Query 2011-06-15): AssumeRole, GetCallerIdentity, AssumeRoleWithWebIdentity.
const crypto = require('crypto');
const { querySuccess } = require('./protocols');
const { HttpError, xmlEscape, isoSeconds, randomString, UPPER_ALNUM, B64CHARS } = require('./util');

const ROLE_ARN_RE = /^arn:aws[a-z-]*:iam::(\d{12}):role\/(?:[\w+=,.@/-]*\/)?([\w+=,.@-]{1,64})$/;
const SESSION_RE = /^[\w+=,.@-]{2,64}$/;
// Session tokens: AWS's are commonly about 1,100 characters and their size is not fixed; the
// emulator's are 319 unless the server is started with --session-token-chars.
const TOKEN_PREFIX = 'IQoJb3JpZ2luX2VtEmu';
const DEFAULT_TOKEN_CHARS = 319;
const MIN_TOKEN_CHARS = TOKEN_PREFIX.length + 1;

function validation(msg) { return new HttpError(400, 'ValidationError', msg); }

function roleIdFor(account, roleName) {
  const h = crypto.createHash('sha256').update(`${account}/${roleName}`).digest();
  let s = 'AROA';
  for (let i = 0; i < 17; i++) s += UPPER_ALNUM[h[i] % UPPER_ALNUM.length];
  return s;
}

// Does the role exist in the account (and what does it require)?
function findRole(fx, account, roleName) {
  const a = fx.accounts.get(account);
  if (!a) return null;
  for (const r of a.extraRoles) {
    const name = typeof r === 'string' ? r : r.name;
    if (name === roleName) return { name, externalId: r.external_id || null, maxSession: r.max_session_seconds || a.roleMaxSessionSeconds };
  }
  if (roleName === fx.defaultRoleName && !a.roleMissing) {
    return { name: roleName, externalId: a.roleExternalId, maxSession: a.roleMaxSessionSeconds };
  }
  return null;
}

function issue(state, account, roleName, roleArn, session, durationSec, source) {
  const akid = `ASIA${randomString(UPPER_ALNUM, 16)}`;
  const secret = randomString(B64CHARS, 40);
  const chars = state.sessionTokenChars || DEFAULT_TOKEN_CHARS;
  const token = TOKEN_PREFIX + randomString(B64CHARS, chars - TOKEN_PREFIX.length);
  const roleId = roleIdFor(account, roleName);
  const expirationMs = Math.floor(state.stateNow() / 1000) * 1000 + durationSec * 1000;
  const cred = {
    accessKeyId: akid, secretAccessKey: secret, sessionToken: token, accountId: account,
    arn: `arn:aws:sts::${account}:assumed-role/${roleName}/${session}`, userId: `${roleId}:${session}`,
    roleArn, roleName, temporary: true, expirationMs, source,
  };
  state.tempCreds.set(akid, cred);
  return cred;
}

function credsXml(cred) {
  return `<Credentials>
      <AccessKeyId>${cred.accessKeyId}</AccessKeyId>
      <SecretAccessKey>${xmlEscape(cred.secretAccessKey)}</SecretAccessKey>
      <SessionToken>${xmlEscape(cred.sessionToken)}</SessionToken>
      <Expiration>${isoSeconds(cred.expirationMs)}</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <AssumedRoleId>${xmlEscape(cred.userId)}</AssumedRoleId>
      <Arn>${xmlEscape(cred.arn)}</Arn>
    </AssumedRoleUser>`;
}

function parseDuration(p, max) {
  if (p.DurationSeconds === undefined || p.DurationSeconds === '') return Math.min(3600, max);
  const d = Number(p.DurationSeconds);
  if (!Number.isInteger(d)) throw validation(`Value '${p.DurationSeconds}' at 'durationSeconds' failed to satisfy constraint: Member must be an integer`);
  if (d < 900) throw validation(`1 validation error detected: Value '${d}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900`);
  if (d > 43200) throw validation(`1 validation error detected: Value '${d}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200`);
  if (d > max) {
    throw validation(max === 3600
      ? 'The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.'
      : 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
  }
  return d;
}

function checkCommon(p) {
  if (!p.RoleArn) throw validation("1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null");
  if (!p.RoleSessionName) throw validation("1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null");
  if (!SESSION_RE.test(p.RoleSessionName)) {
    throw validation(`1 validation error detected: Value '${p.RoleSessionName}' at 'roleSessionName' failed to satisfy constraint: Member must ${p.RoleSessionName.length < 2 || p.RoleSessionName.length > 64 ? 'have length between 2 and 64' : 'satisfy regular expression pattern: [\\w+=,.@-]*'}`);
  }
  if (String(p.RoleArn).length < 20 || !String(p.RoleArn).startsWith('arn:')) {
    throw validation(`${p.RoleArn} is invalid`);
  }
}

function handle(ctx) {
  const { state } = ctx;
  const fx = state.fx;
  const p = ctx.params;
  switch (ctx.action) {
    case 'GetCallerIdentity':
      return querySuccess('sts', 'GetCallerIdentity', `
    <Arn>${xmlEscape(ctx.cred.arn)}</Arn>
    <UserId>${xmlEscape(ctx.cred.userId)}</UserId>
    <Account>${ctx.cred.accountId}</Account>
  `, ctx.rid);
    case 'AssumeRole': {
      checkCommon(p);
      const denied = () => new HttpError(403, 'AccessDenied',
        `User: ${ctx.cred.arn} is not authorized to perform: sts:AssumeRole on resource: ${p.RoleArn}`);
      const m = ROLE_ARN_RE.exec(p.RoleArn);
      if (!m) throw denied();
      const [, account, roleName] = m;
      const acct = fx.accounts.get(account);
      if (!acct || acct.state === 'SUSPENDED' || acct.state === 'CLOSED') throw denied();
      const role = findRole(fx, account, roleName);
      if (!role) throw denied();
      if (role.externalId && p.ExternalId !== role.externalId) throw denied();
      if (p.ExternalId !== undefined && (p.ExternalId.length < 2 || p.ExternalId.length > 1224)) {
        throw validation(`1 validation error detected: Value '${p.ExternalId}' at 'externalId' failed to satisfy constraint: Member must have length between 2 and 1224`);
      }
      const max = ctx.cred.temporary && ctx.cred.roleArn ? 3600 : role.maxSession;
      const duration = parseDuration(p, max);
      const cred = issue(state, account, roleName, p.RoleArn, p.RoleSessionName, duration, ctx.cred.arn);
      return querySuccess('sts', 'AssumeRole', `
    ${credsXml(cred)}
    ${p.SourceIdentity ? `<SourceIdentity>${xmlEscape(p.SourceIdentity)}</SourceIdentity>` : ''}
    <PackedPolicySize>0</PackedPolicySize>
  `, ctx.rid);
    }
    case 'AssumeRoleWithWebIdentity': {
      checkCommon(p);
      if (!p.WebIdentityToken) throw validation("1 validation error detected: Value null at 'webIdentityToken' failed to satisfy constraint: Member must not be null");
      const entries = fx.webIdentityTokens.filter((w) => w.token === p.WebIdentityToken);
      if (!entries.length) throw new HttpError(400, 'InvalidIdentityToken', 'The web identity token that was passed could not be validated by AWS. Get a new identity token from the identity provider and then retry the request.');
      const w = entries.find((e) => e.roleArn === p.RoleArn);
      const m = ROLE_ARN_RE.exec(p.RoleArn);
      if (!w || !m || !fx.accounts.has(m[1])) throw new HttpError(403, 'AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity');
      const duration = parseDuration(p, 43200);
      const cred = issue(state, m[1], m[2], p.RoleArn, p.RoleSessionName, duration, `web-identity:${w.subject}`);
      return querySuccess('sts', 'AssumeRoleWithWebIdentity', `
    ${credsXml(cred)}
    <SubjectFromWebIdentityToken>${xmlEscape(w.subject)}</SubjectFromWebIdentityToken>
    <Audience>${xmlEscape(w.audience)}</Audience>
    <Provider>${xmlEscape(w.provider)}</Provider>
  `, ctx.rid);
    }
    default:
      throw new HttpError(400, 'InvalidAction', `Could not find operation ${ctx.action} for version 2011-06-15`);
  }
}

module.exports = { handle, findRole, MIN_TOKEN_CHARS };
