'use strict';
// SigV4 verification: parse the Authorization header (or presigned query), look up the claimed
// access key, and re-sign the received request with @smithy/signature-v4 to compare signatures.
const crypto = require('crypto');
const { SignatureV4 } = require('@smithy/signature-v4');
const { Hash } = require('@smithy/hash-node');

const Sha256 = Hash.bind(null, 'sha256');
const MAX_SKEW_MS = 5 * 60 * 1000;

// Failure kinds returned by verify(); the server maps them to each protocol's error.
class AuthError extends Error {
  constructor(kind, message) { super(message); this.kind = kind; }
}

const AUTH_RE = /^AWS4-HMAC-SHA256\s+(.*)$/;

// Returns null when the request carries no SigV4 auth; throws AuthError('malformed') when broken.
function parseAuth(headers, query) {
  const h = headers.authorization;
  if (h) {
    const m = AUTH_RE.exec(h);
    if (!m) throw new AuthError('malformed', 'Unsupported or malformed Authorization header');
    const parts = {};
    for (const p of m[1].split(',')) {
      const i = p.indexOf('=');
      if (i > 0) parts[p.slice(0, i).trim()] = p.slice(i + 1).trim();
    }
    if (!parts.Credential || !parts.SignedHeaders || !parts.Signature) {
      throw new AuthError('malformed', "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.");
    }
    return finish('header', parts.Credential, parts.SignedHeaders, parts.Signature,
      headers['x-amz-date'], headers['x-amz-security-token'], null);
  }
  if (query && query['X-Amz-Credential']) {
    if (query['X-Amz-Algorithm'] !== 'AWS4-HMAC-SHA256') throw new AuthError('malformed', 'Unsupported X-Amz-Algorithm');
    return finish('query', query['X-Amz-Credential'], query['X-Amz-SignedHeaders'] || '', query['X-Amz-Signature'] || '',
      query['X-Amz-Date'], query['X-Amz-Security-Token'], query['X-Amz-Expires']);
  }
  return null;
}

function finish(kind, credential, signedHeaders, signature, amzDate, token, expires) {
  const scope = String(credential).split('/');
  if (scope.length !== 5 || scope[4] !== 'aws4_request') {
    throw new AuthError('malformed', `Credential should be scoped to a valid region. (Credential=${credential})`);
  }
  const [accessKeyId, shortDate, region, service] = scope;
  return {
    kind, accessKeyId, shortDate, region, service,
    signedHeaders: String(signedHeaders).split(';').filter(Boolean),
    signature: String(signature), amzDate: amzDate || null, token: token || null,
    expires: expires == null ? null : Number(expires),
  };
}

function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || '');
  if (!m) return NaN;
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
}

function fmtAmz(ms) { return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, ''); }

const signers = new Map();
function signerFor(cred, region, service, withToken) {
  const key = `${cred.accessKeyId}|${region}|${service}|${withToken ? 1 : 0}`;
  let s = signers.get(key);
  if (!s) {
    if (signers.size > 20000) signers.clear();
    const credentials = { accessKeyId: cred.accessKeyId, secretAccessKey: cred.secretAccessKey };
    if (withToken) credentials.sessionToken = cred.sessionToken;
    s = service === 's3'
      ? new SignatureV4({ credentials, region, service, sha256: Sha256, uriEscapePath: false })
      : new SignatureV4({ credentials, region, service, sha256: Sha256, applyChecksum: false });
    signers.set(key, s);
  }
  return s;
}

function safeEqualHex(a, b) {
  const ba = Buffer.from(String(a));
  const bb = Buffer.from(String(b));
  if (ba.length !== bb.length) { crypto.timingSafeEqual(ba, ba); return false; }
  return crypto.timingSafeEqual(ba, bb);
}

/**
 * Verify a parsed auth against the request.
 * req: { method, path (raw, still encoded), query (decoded object), rawHeaders, body (Buffer) }
 * lookup(akid) -> credential or null. nowMs: emulator clock. stateNowMs: clock for token expiry.
 * Returns the credential on success; throws AuthError otherwise.
 */
async function verify(auth, req, lookup, nowMs, stateNowMs) {
  const reqMs = parseAmzDate(auth.amzDate);
  if (Number.isNaN(reqMs)) {
    throw new AuthError('malformed', "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  }
  const cred = lookup(auth.accessKeyId);
  if (!cred || cred.active === false) throw new AuthError('unknown_key', 'The security token included in the request is invalid.');
  if (cred.temporary) {
    if (!auth.token || !safeEqualHex(auth.token, cred.sessionToken)) throw new AuthError('invalid_token', 'The security token included in the request is invalid.');
    if (stateNowMs >= cred.expirationMs) throw new AuthError('expired_token', 'The security token included in the request is expired');
  } else if (auth.token) {
    throw new AuthError('invalid_token', 'The security token included in the request is invalid.');
  }
  if (auth.kind === 'query') {
    if (auth.expires != null && nowMs > reqMs + auth.expires * 1000) throw new AuthError('presign_expired', 'Request has expired');
    if (reqMs > nowMs + MAX_SKEW_MS) throw new AuthError('presign_expired', 'Request is not valid yet');
  } else if (reqMs < nowMs - MAX_SKEW_MS) {
    throw new AuthError('skew', `Signature expired: ${auth.amzDate} is now earlier than ${fmtAmz(nowMs - MAX_SKEW_MS)} (${fmtAmz(nowMs)} - 5 min.)`);
  } else if (reqMs > nowMs + MAX_SKEW_MS) {
    throw new AuthError('skew', `Signature not yet current: ${auth.amzDate} is still later than ${fmtAmz(nowMs + MAX_SKEW_MS)} (${fmtAmz(nowMs)} + 5 min.)`);
  }
  if (auth.shortDate !== auth.amzDate.slice(0, 8)) {
    throw new AuthError('mismatch', `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${auth.shortDate}' != '${auth.amzDate.slice(0, 8)}', from '${auth.amzDate}'.`);
  }

  // Collect exactly the signed headers, as received (repeats joined with ',').
  const signed = new Set(auth.signedHeaders.map((h) => h.toLowerCase()));
  const headers = {};
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (!signed.has(name)) continue;
    headers[name] = name in headers ? `${headers[name]},${raw[i + 1]}` : raw[i + 1];
  }
  for (const h of signed) {
    if (!(h in headers) && h !== 'x-amz-date' && !(auth.kind === 'query' && h.startsWith('x-amz-'))) {
      throw new AuthError('mismatch', 'The request signature we calculated does not match the signature you provided.');
    }
  }
  const withToken = auth.kind === 'header' ? signed.has('x-amz-security-token') : !!auth.token;
  const signer = signerFor(cred, auth.region, auth.service, withToken);
  const signingDate = new Date(reqMs);
  let expected;
  if (auth.kind === 'header') {
    const request = { method: req.method, protocol: 'http:', hostname: 'x', path: req.path, query: req.query, headers, body: req.body };
    const out = await signer.sign(request, { signingDate, signableHeaders: signed });
    const m = /Signature=([0-9a-f]+)/.exec(out.headers.authorization);
    expected = m && m[1];
  } else {
    const query = {};
    for (const [k, v] of Object.entries(req.query)) {
      if (/^X-Amz-(Algorithm|Credential|Date|Expires|SignedHeaders|Signature|Security-Token)$/.test(k)) continue;
      query[k] = v;
    }
    if (auth.service === 's3' && !('x-amz-content-sha256' in headers)) headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
    const request = { method: req.method, protocol: 'http:', hostname: 'x', path: req.path, query, headers, body: req.body };
    const out = await signer.presign(request, {
      signingDate, expiresIn: auth.expires ?? 3600, signableHeaders: signed,
      unsignableHeaders: signed.has('x-amz-content-sha256') ? undefined : new Set(['x-amz-content-sha256']),
      unhoistableHeaders: new Set(Object.keys(headers)),
    });
    expected = out.query['X-Amz-Signature'];
  }
  if (!expected || !safeEqualHex(expected, auth.signature)) {
    throw new AuthError('mismatch', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.');
  }
  return cred;
}

module.exports = { parseAuth, verify, AuthError, parseAmzDate, fmtAmz, MAX_SKEW_MS };
