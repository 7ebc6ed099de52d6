'use strict';
// Small shared helpers: XML escaping, ids, dates, seeded randomness, form parsing.
const crypto = require('crypto');

function xmlEscape(s) {
  return String(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    // Characters not allowed in XML 1.0 at all, and CR (kept as a reference so it survives parsing).
    .replace(/\r/g, '&#13;')
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, (c) => `&#${c.charCodeAt(0)};`);
}

// Render a plain JS value as XML elements. Arrays are rendered as <member> lists by the callers.
function xmlFields(obj) {
  let out = '';
  for (const [k, v] of Object.entries(obj)) {
    if (v === undefined || v === null) continue;
    if (typeof v === 'object' && !Array.isArray(v)) out += `<${k}>${xmlFields(v)}</${k}>`;
    else out += `<${k}>${xmlEscape(v)}</${k}>`;
  }
  return out;
}

function requestId() {
  return crypto.randomUUID();
}

// ISO 8601 without milliseconds, e.g. 2024-01-01T00:00:00Z
function isoSeconds(ms) {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}
// ISO 8601 as in IAM credential reports, e.g. 2024-01-01T00:00:00+00:00
function isoReport(ms) {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', '+00:00');
}
// ISO 8601 with milliseconds (S3 listing style)
function isoMillis(ms) {
  return new Date(ms).toISOString();
}

// Seeded PRNG (mulberry32): deterministic fault decisions and fixture generation.
function rng(seed) {
  let a = (Number(seed) >>> 0) || 0x9e3779b9;
  return function next() {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Deterministic 32-bit hash of a string (for fixture-derived values).
function hash32(s) {
  const h = crypto.createHash('sha256').update(String(s)).digest();
  return h.readUInt32BE(0);
}

// Decode application/x-www-form-urlencoded ('+' is a space here, as in HTML forms / AWS Query).
function parseForm(text) {
  const out = Object.create(null);
  if (!text) return out;
  for (const part of text.split('&')) {
    if (!part) continue;
    const i = part.indexOf('=');
    const k = i < 0 ? part : part.slice(0, i);
    const v = i < 0 ? '' : part.slice(i + 1);
    out[safeDecode(k.replace(/\+/g, ' '))] = safeDecode(v.replace(/\+/g, ' '));
  }
  return out;
}

function safeDecode(s) {
  try { return decodeURIComponent(s); } catch { return s; }
}

// Parse a raw query string into { key: value | [values] } with values decoded ('+' kept literally,
// which is how SigV4 treats it).
function parseQuery(qs) {
  const out = Object.create(null);
  if (!qs) return out;
  for (const part of qs.split('&')) {
    if (!part) continue;
    const i = part.indexOf('=');
    const k = safeDecode(i < 0 ? part : part.slice(0, i));
    const v = i < 0 ? '' : safeDecode(part.slice(i + 1));
    if (k in out) out[k] = [].concat(out[k], v);
    else out[k] = v;
  }
  return out;
}

function randomString(alphabet, n) {
  const bytes = crypto.randomBytes(n);
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[bytes[i] % alphabet.length];
  return s;
}
const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const B64CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

class HttpError extends Error {
  constructor(status, code, message, extra) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra || {};
  }
}

module.exports = {
  xmlEscape, xmlFields, requestId, isoSeconds, isoReport, isoMillis, rng, hash32,
  parseForm, parseQuery, safeDecode, randomString, UPPER_ALNUM, B64CHARS, HttpError,
};
