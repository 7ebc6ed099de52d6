'use strict';
// Amazon S3 (REST-XML): PutObject, GetObject, HeadObject, ListObjectsV2 (+ HeadBucket,
// GetBucketLocation, DeleteObject). Path-style and virtual-host-style addressing.
const crypto = require('crypto');
const zlib = require('zlib');
const { HttpError, xmlEscape, isoMillis, safeDecode } = require('./util');

const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const CANNED_ACLS = ['private', 'public-read', 'public-read-write', 'authenticated-read', 'aws-exec-read',
  'bucket-owner-read', 'bucket-owner-full-control', 'log-delivery-write'];
const SSE_VALUES = ['AES256', 'aws:kms', 'aws:kms:dsse'];
// Request headers not kept with a stored object (credentials, hop-by-hop).
const NOT_STORED = new Set(['authorization', 'x-amz-security-token', 'connection', 'keep-alive', 'transfer-encoding', 'expect']);

// CRC32C (Castagnoli), table-driven.
const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();
function crc32c(buf) {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC32C_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function u32b64(n) { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b.toString('base64'); }

const CHECKSUMS = {
  crc32: { name: 'CRC32', len: 4, fn: (b) => u32b64(zlib.crc32(b)) },
  crc32c: { name: 'CRC32C', len: 4, fn: (b) => u32b64(crc32c(b)) },
  sha1: { name: 'SHA1', len: 20, fn: (b) => crypto.createHash('sha1').update(b).digest('base64') },
  sha256: { name: 'SHA256', len: 32, fn: (b) => crypto.createHash('sha256').update(b).digest('base64') },
};

// Work out bucket/key/operation from the request line (before authentication).
function route(method, host, rawPath, query, buckets) {
  let bucket = null;
  let keyRaw = '';
  const hostname = String(host || '').replace(/:\d+$/, '');
  const first = hostname.split('.')[0];
  if (hostname.includes('.') && buckets.has(first) && !/^\d+\.\d+\.\d+\.\d+$/.test(hostname)) {
    bucket = first;
    keyRaw = rawPath.replace(/^\//, '');
  } else {
    const p = rawPath.replace(/^\//, '');
    const i = p.indexOf('/');
    bucket = safeDecode(i < 0 ? p : p.slice(0, i)) || null;
    keyRaw = i < 0 ? '' : p.slice(i + 1);
  }
  const key = safeDecode(keyRaw);
  let action;
  if (!bucket) action = method === 'GET' ? 'ListBuckets' : 'Unsupported';
  else if (!key) {
    if (method === 'GET' && 'location' in query) action = 'GetBucketLocation';
    else if (method === 'GET' && query['list-type'] === '2') action = 'ListObjectsV2';
    else if (method === 'GET') action = 'ListObjects';
    else if (method === 'HEAD') action = 'HeadBucket';
    else action = 'Unsupported';
  } else if (method === 'PUT') action = query.uploadId || 'x-amz-copy-source' in query ? 'Unsupported' : 'PutObject';
  else if (method === 'GET') action = 'GetObject';
  else if (method === 'HEAD') action = 'HeadObject';
  else if (method === 'DELETE') action = 'DeleteObject';
  else action = 'Unsupported';
  return { bucket, key, action };
}

// Decode an aws-chunked body; returns { body, trailers }.
function decodeAwsChunked(buf) {
  const chunks = [];
  let pos = 0;
  const trailers = {};
  for (;;) {
    const eol = buf.indexOf('\r\n', pos);
    if (eol < 0) throw new HttpError(400, 'IncompleteBody', 'The request body terminated unexpectedly');
    const header = buf.slice(pos, eol).toString('latin1');
    const size = parseInt(header.split(';')[0], 16);
    if (Number.isNaN(size)) throw new HttpError(400, 'InvalidRequest', 'Invalid chunk header');
    pos = eol + 2;
    if (size === 0) break;
    chunks.push(buf.slice(pos, pos + size));
    pos += size + 2;
  }
  // Trailers until an empty line (or the end).
  while (pos < buf.length) {
    const eol = buf.indexOf('\r\n', pos);
    const line = buf.slice(pos, eol < 0 ? buf.length : eol).toString('latin1');
    pos = eol < 0 ? buf.length : eol + 2;
    if (!line) break;
    const i = line.indexOf(':');
    if (i > 0) trailers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { body: Buffer.concat(chunks), trailers };
}

function httpDate(ms) { return new Date(ms).toUTCString(); }

function s3Error(status, code, message, fields, headers) {
  return new HttpError(status, code, message, { fields, headers });
}

function canAccess(bucket, account) {
  return account === bucket.owner || bucket.grants.includes(account) || bucket.grants.includes('*');
}

function getBucket(ctx) {
  const b = ctx.state.fx.buckets.get(ctx.s3.bucket);
  if (!b) throw s3Error(404, 'NoSuchBucket', 'The specified bucket does not exist', { BucketName: ctx.s3.bucket });
  if (ctx.auth && ctx.auth.region !== b.region) {
    throw s3Error(400, 'AuthorizationHeaderMalformed',
      `The authorization header is malformed; the region '${ctx.auth.region}' is wrong; expecting '${b.region}'`,
      { Region: b.region }, { 'x-amz-bucket-region': b.region });
  }
  const exp = ctx.headers['x-amz-expected-bucket-owner'];
  if (exp !== undefined && exp !== b.owner) throw s3Error(403, 'AccessDenied', 'Access Denied');
  if (!canAccess(b, ctx.cred.accountId)) throw s3Error(403, 'AccessDenied', 'Access Denied');
  return b;
}

function kmsArn(keyId, region, account) {
  if (keyId.startsWith('arn:')) return keyId;
  if (keyId.startsWith('alias/')) return `arn:aws:kms:${region}:${account}:${keyId}`;
  return `arn:aws:kms:${region}:${account}:key/${keyId}`;
}

function putObject(ctx) {
  const b = getBucket(ctx);
  const h = ctx.headers;
  const acl = h['x-amz-acl'];
  if (acl !== undefined) {
    if (!CANNED_ACLS.includes(acl)) throw s3Error(400, 'InvalidArgument', '', { ArgumentName: 'x-amz-acl', ArgumentValue: acl });
    if (b.objectOwnership === 'BucketOwnerEnforced' && acl !== 'bucket-owner-full-control') {
      throw s3Error(400, 'AccessControlListNotSupported', 'The bucket does not allow ACLs');
    }
  }
  // Server-side encryption.
  let sse = h['x-amz-server-side-encryption'];
  let kmsKey = h['x-amz-server-side-encryption-aws-kms-key-id'];
  let bucketKey = h['x-amz-server-side-encryption-bucket-key-enabled'];
  if (bucketKey !== undefined) bucketKey = bucketKey.toLowerCase();
  if (sse !== undefined && !SSE_VALUES.includes(sse)) {
    throw s3Error(400, 'InvalidArgument', 'The encryption method specified is not supported', { ArgumentName: 'x-amz-server-side-encryption', ArgumentValue: sse });
  }
  if (kmsKey !== undefined && !(sse || '').startsWith('aws:kms')) {
    throw s3Error(400, 'InvalidArgument', 'Server Side Encryption with AWS Key Management Service is not supported for this request', { ArgumentName: 'x-amz-server-side-encryption', ArgumentValue: 'null' });
  }
  if (bucketKey !== undefined && bucketKey !== 'true' && bucketKey !== 'false') {
    throw s3Error(400, 'InvalidArgument', 'Invalid value for x-amz-server-side-encryption-bucket-key-enabled', { ArgumentName: 'x-amz-server-side-encryption-bucket-key-enabled', ArgumentValue: bucketKey });
  }
  if (b.requiredSse && sse !== b.requiredSse) throw s3Error(403, 'AccessDenied', 'Access Denied');
  if (sse === undefined) {
    sse = b.defaultEncryption.algorithm || 'AES256';
    if (sse.startsWith('aws:kms')) kmsKey = b.defaultEncryption.kms_key_id;
  }
  // An SSE-KMS upload that does not say whether to use an S3 Bucket Key gets the bucket's
  // setting, whether its encryption came from the request or from the bucket's default.
  if (bucketKey === undefined && sse.startsWith('aws:kms') && b.defaultEncryption.bucket_key_enabled) bucketKey = 'true';
  if (sse.startsWith('aws:kms')) {
    kmsKey = kmsArn(kmsKey || `alias/aws/s3`, b.region, ctx.cred.accountId);
    const known = ctx.state.fx.kmsKeys;
    if (known && !known.some((k) => kmsArn(String(k), b.region, ctx.cred.accountId) === kmsKey || k === h['x-amz-server-side-encryption-aws-kms-key-id'])) {
      throw s3Error(400, 'KMS.NotFoundException', `Invalid keyId '${h['x-amz-server-side-encryption-aws-kms-key-id']}'`);
    }
  } else { kmsKey = undefined; bucketKey = undefined; }

  // Body (aws-chunked aware) and integrity checks.
  let body = ctx.body;
  let trailers = {};
  const contentSha = h['x-amz-content-sha256'];
  if (contentSha && /^[0-9a-f]{64}$/i.test(contentSha)) {
    // The signed payload hash covers the bytes on the wire.
    const wire = crypto.createHash('sha256').update(body).digest('hex');
    if (contentSha.toLowerCase() !== wire) {
      throw s3Error(400, 'XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.",
        { ClientComputedContentSHA256: contentSha, S3ComputedContentSHA256: wire });
    }
  }
  const chunked = /aws-chunked/.test(h['content-encoding'] || '') || (contentSha || '').startsWith('STREAMING-');
  if (chunked) ({ body, trailers } = decodeAwsChunked(body));
  const sha256hex = crypto.createHash('sha256').update(body).digest('hex');
  const md5 = crypto.createHash('md5').update(body);
  const md5buf = md5.digest();
  if (h['content-md5'] !== undefined) {
    const given = Buffer.from(h['content-md5'], 'base64');
    if (given.length !== 16 || given.toString('base64') !== h['content-md5']) throw s3Error(400, 'InvalidDigest', 'The Content-MD5 you specified was invalid.', { 'Content-MD5': h['content-md5'] });
    if (!given.equals(md5buf)) {
      throw s3Error(400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.',
        { ExpectedDigest: h['content-md5'], CalculatedDigest: md5buf.toString('base64') });
    }
  }
  const checksums = {};
  for (const [alg, spec] of Object.entries(CHECKSUMS)) {
    const hn = `x-amz-checksum-${alg}`;
    const given = h[hn] !== undefined ? h[hn] : trailers[hn];
    if (given === undefined) continue;
    const raw = Buffer.from(given, 'base64');
    if (raw.length !== spec.len || raw.toString('base64') !== given) {
      throw s3Error(400, 'InvalidRequest', `Value for ${hn} header is invalid.`);
    }
    const actual = spec.fn(body);
    if (actual !== given) throw s3Error(400, 'BadDigest', `The ${spec.name} you specified did not match the calculated checksum.`);
    checksums[hn] = given;
  }
  const etag = `"${md5buf.toString('hex')}"`;
  const storedHeaders = {};
  for (const [k, v] of Object.entries(h)) if (!NOT_STORED.has(k)) storedHeaders[k] = v;
  const obj = {
    bucket: b.name, key: ctx.s3.key, body, size: body.length, etag, sha256: sha256hex,
    lastModified: Math.floor(ctx.state.now() / 1000) * 1000,
    contentType: h['content-type'] || 'binary/octet-stream',
    contentEncoding: (h['content-encoding'] || '').split(',').map((s) => s.trim()).filter((s) => s && s !== 'aws-chunked').join(',') || undefined,
    sse, kmsKey, bucketKey: bucketKey === 'true' ? 'true' : undefined, acl, checksums,
    writerAccount: ctx.cred.accountId, writerArn: ctx.cred.arn, headers: storedHeaders,
  };
  ctx.state.objects.get(b.name).set(ctx.s3.key, obj);
  const out = { ETag: etag, 'x-amz-server-side-encryption': sse };
  if (kmsKey) out['x-amz-server-side-encryption-aws-kms-key-id'] = kmsKey;
  if (obj.bucketKey) out['x-amz-server-side-encryption-bucket-key-enabled'] = 'true';
  Object.assign(out, checksums);
  return { status: 200, headers: out, body: '' };
}

function objectHeaders(o, ctx) {
  const out = {
    'Last-Modified': httpDate(o.lastModified), ETag: o.etag, 'Content-Type': o.contentType,
    'Accept-Ranges': 'bytes', 'x-amz-server-side-encryption': o.sse,
  };
  if (o.contentEncoding) out['Content-Encoding'] = o.contentEncoding;
  if (o.kmsKey) out['x-amz-server-side-encryption-aws-kms-key-id'] = o.kmsKey;
  if (o.bucketKey) out['x-amz-server-side-encryption-bucket-key-enabled'] = 'true';
  for (const [k, v] of Object.entries(o.headers)) {
    if (k.startsWith('x-amz-meta-') || ['cache-control', 'content-disposition', 'content-language', 'expires'].includes(k)) out[k] = v;
  }
  if (ctx.headers['x-amz-checksum-mode'] === 'ENABLED') Object.assign(out, o.checksums);
  return out;
}

function getObject(ctx, head) {
  const b = getBucket(ctx);
  const o = ctx.state.objects.get(b.name).get(ctx.s3.key);
  if (!o) throw s3Error(404, 'NoSuchKey', 'The specified key does not exist.', { Key: ctx.s3.key });
  const headers = objectHeaders(o, ctx);
  if (head) headers['Content-Length'] = String(o.size);
  // One range, as readers of large objects ask for pieces: "bytes=START-END" or "bytes=START-".
  const range = !head && /^bytes=(\d+)-(\d*)$/.exec(ctx.headers.range || '');
  if (range) {
    const start = Number(range[1]);
    if (start >= o.size) {
      throw s3Error(416, 'InvalidRange', 'The requested range is not satisfiable',
        { RangeRequested: ctx.headers.range, ActualObjectSize: String(o.size) });
    }
    const end = Math.min(range[2] === '' ? o.size - 1 : Number(range[2]), o.size - 1);
    headers['Content-Range'] = `bytes ${start}-${end}/${o.size}`;
    return { status: 206, headers, body: o.body.subarray(start, end + 1) };
  }
  return { status: 200, headers, body: head ? '' : o.body };
}

function cmpKeys(a, b) { return Buffer.compare(Buffer.from(a), Buffer.from(b)); }

function encodeKey(s, enc) {
  return enc ? encodeURIComponent(s).replace(/%2F/g, '/') : s;
}

function listObjectsV2(ctx) {
  const b = getBucket(ctx);
  const q = ctx.query;
  const prefix = q.prefix || '';
  const delimiter = q.delimiter || '';
  const enc = q['encoding-type'] === 'url';
  if (q['encoding-type'] !== undefined && !enc) throw s3Error(400, 'InvalidArgument', 'Invalid Encoding Method specified in Request', { ArgumentName: 'encoding-type', ArgumentValue: q['encoding-type'] });
  let maxKeys = 1000;
  if (q['max-keys'] !== undefined) {
    maxKeys = Number(q['max-keys']);
    if (!/^\d+$/.test(q['max-keys'])) throw s3Error(400, 'InvalidArgument', 'Provided max-keys not an integer or within integer range', { ArgumentName: 'max-keys', ArgumentValue: q['max-keys'] });
    maxKeys = Math.min(maxKeys, 1000);
  }
  let after = q['start-after'] || '';
  let skipPrefix = null;
  if (q['continuation-token'] !== undefined) {
    let tok;
    try { tok = JSON.parse(Buffer.from(q['continuation-token'], 'base64').toString('utf8')); } catch { tok = null; }
    if (!tok || typeof tok.a !== 'string') throw s3Error(400, 'InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token' });
    after = tok.a;
    skipPrefix = tok.cp ? tok.a : null;
  }
  const keys = [...ctx.state.objects.get(b.name).keys()].filter((k) => k.startsWith(prefix)).sort(cmpKeys);
  const contents = [];
  const prefixes = [];
  let last = null;
  let truncated = false;
  for (const k of keys) {
    if (after && cmpKeys(k, after) <= 0) continue;
    if (skipPrefix && k.startsWith(skipPrefix)) continue;
    let cp = null;
    if (delimiter) {
      const i = k.indexOf(delimiter, prefix.length);
      if (i >= 0) cp = k.slice(0, i + delimiter.length);
    }
    if (cp && prefixes.length && prefixes[prefixes.length - 1] === cp) continue;
    if (contents.length + prefixes.length >= maxKeys) { truncated = true; break; }
    if (cp) { prefixes.push(cp); last = { a: cp, cp: true }; } else { contents.push(k); last = { a: k }; }
  }
  let nextToken = truncated ? Buffer.from(JSON.stringify(last)).toString('base64') : null;
  if (ctx.fault && ctx.fault.type === 'endless_pages') {
    // A hostile endpoint: always truncated, with the token it was given (or a new one).
    truncated = true;
    nextToken = ctx.fault.fresh_tokens ? Buffer.from(JSON.stringify({ a: '', r: Math.random() })).toString('base64')
      : (q['continuation-token'] || Buffer.from(JSON.stringify({ a: '' })).toString('base64'));
  }
  const objs = ctx.state.objects.get(b.name);
  let xml = `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="${S3_NS}"><Name>${xmlEscape(b.name)}</Name><Prefix>${xmlEscape(encodeKey(prefix, enc))}</Prefix>`;
  if (q['start-after'] !== undefined) xml += `<StartAfter>${xmlEscape(encodeKey(q['start-after'], enc))}</StartAfter>`;
  xml += `<KeyCount>${contents.length + prefixes.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys>`;
  if (delimiter) xml += `<Delimiter>${xmlEscape(encodeKey(delimiter, enc))}</Delimiter>`;
  if (enc) xml += '<EncodingType>url</EncodingType>';
  xml += `<IsTruncated>${truncated}</IsTruncated>`;
  if (q['continuation-token'] !== undefined) xml += `<ContinuationToken>${xmlEscape(q['continuation-token'])}</ContinuationToken>`;
  if (truncated) xml += `<NextContinuationToken>${nextToken}</NextContinuationToken>`;
  for (const k of contents) {
    const o = objs.get(k);
    xml += `<Contents><Key>${xmlEscape(encodeKey(k, enc))}</Key><LastModified>${isoMillis(o.lastModified)}</LastModified><ETag>${xmlEscape(o.etag)}</ETag>`;
    const algs = Object.keys(o.checksums);
    if (algs.length) xml += `<ChecksumAlgorithm>${algs[0].replace('x-amz-checksum-', '').toUpperCase()}</ChecksumAlgorithm>`;
    xml += `<Size>${o.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
  }
  for (const p of prefixes) xml += `<CommonPrefixes><Prefix>${xmlEscape(encodeKey(p, enc))}</Prefix></CommonPrefixes>`;
  xml += '</ListBucketResult>';
  return { status: 200, headers: { 'Content-Type': 'application/xml' }, body: xml };
}

function handle(ctx) {
  switch (ctx.action) {
    case 'PutObject': return putObject(ctx);
    case 'GetObject': return getObject(ctx, false);
    case 'HeadObject': return getObject(ctx, true);
    case 'ListObjectsV2': return listObjectsV2(ctx);
    case 'HeadBucket': {
      const b = getBucket(ctx);
      return { status: 200, headers: { 'x-amz-bucket-region': b.region }, body: '' };
    }
    case 'GetBucketLocation': {
      const b = ctx.state.fx.buckets.get(ctx.s3.bucket);
      if (!b) throw s3Error(404, 'NoSuchBucket', 'The specified bucket does not exist', { BucketName: ctx.s3.bucket });
      // Answered in any region, but the expected owner is checked as for the other operations.
      const exp = ctx.headers['x-amz-expected-bucket-owner'];
      if (exp !== undefined && exp !== b.owner) throw s3Error(403, 'AccessDenied', 'Access Denied');
      if (!canAccess(b, ctx.cred.accountId)) throw s3Error(403, 'AccessDenied', 'Access Denied');
      const loc = b.region === 'us-east-1' ? '' : xmlEscape(b.region);
      return { status: 200, headers: { 'Content-Type': 'application/xml' }, body: `<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="${S3_NS}">${loc}</LocationConstraint>` };
    }
    case 'DeleteObject': {
      const b = getBucket(ctx);
      ctx.state.objects.get(b.name).delete(ctx.s3.key);
      return { status: 204, headers: {}, body: '' };
    }
    default:
      throw s3Error(501, 'NotImplemented', 'A header or query you provided implies functionality that is not implemented.');
  }
}

module.exports = { handle, route, decodeAwsChunked, crc32c, CHECKSUMS };
