#!/usr/bin/env node
'use strict';
// Local AWS emulator for credreport: Organizations, STS, IAM, S3 and SNS on one HTTP(S) port,
// and for scripts' own calls Account Management, Security Hub and SQS.
// Usage: node server.js --fixture FILE [--port N] [--host H] [--tls-cert F --tls-key F]
//                       [--faults FILE] [--seed N] [--log-limit N] [--max-connections N]
//                       [--session-token-chars N] [--verbose]
const fs = require('fs');
const http = require('http');
const https = require('https');
const http2 = require('http2');
const { State, loadFixture } = require('./lib/state');
const { MIN_TOKEN_CHARS } = require('./lib/sts');
const { Faults } = require('./lib/faults');
const { parseAuth, verify, AuthError } = require('./lib/sigv4');
const { errorResponse, THROTTLE, INTERNAL, PROTOCOL, JSON_VERSION, JSON_TARGET_PREFIX, QUERY_NS, s3RequestId, hostId } = require('./lib/protocols');
const { parseForm, parseQuery, requestId, isoMillis, HttpError } = require('./lib/util');
const { handleAdmin } = require('./lib/admin');
const services = {
  organizations: require('./lib/orgs'),
  sts: require('./lib/sts'),
  iam: require('./lib/iam'),
  s3: require('./lib/s3'),
  sns: require('./lib/sns'),
  sqs: require('./lib/sqs'),
  account: require('./lib/account'),
  securityhub: require('./lib/securityhub'),
};

const VALID_REGIONS = {
  iam: ['us-east-1', 'cn-north-1', 'us-gov-west-1'],
  organizations: ['us-east-1', 'cn-northwest-1', 'us-gov-west-1'],
  account: ['us-east-1', 'cn-northwest-1'],
};
const ACTION_SERVICE = {
  AssumeRole: 'sts', GetCallerIdentity: 'sts', AssumeRoleWithWebIdentity: 'sts', AssumeRoleWithSAML: 'sts',
  GenerateCredentialReport: 'iam', GetCredentialReport: 'iam', Publish: 'sns',
};
const UNSIGNED_ACTIONS = new Set(['AssumeRoleWithWebIdentity']);
const LOGGED_HEADERS = ['user-agent', 'content-type', 'content-md5', 'x-amz-acl', 'x-amz-expected-bucket-owner',
  'x-amz-server-side-encryption', 'x-amz-server-side-encryption-aws-kms-key-id',
  'x-amz-server-side-encryption-bucket-key-enabled', 'x-amz-content-sha256', 'x-amz-checksum-sha256',
  'x-amz-checksum-crc32', 'x-amz-checksum-crc32c', 'x-amz-checksum-sha1', 'x-amz-sdk-checksum-algorithm',
  'x-amz-target', 'amz-sdk-invocation-id', 'amz-sdk-request', 'content-encoding'];

function h2Headers(req) {
  const headers = { host: req.headers[':authority'] };
  const rawHeaders = ['host', headers.host];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i];
    if (name.startsWith(':')) continue;
    rawHeaders.push(name, req.rawHeaders[i + 1]);
    headers[name] = req.headers[name];
  }
  return { headers, rawHeaders };
}

function parseArgs(argv) {
  const o = { port: 0, host: '127.0.0.1', logLimit: 200000 };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const v = () => { if (i + 1 >= argv.length) throw new Error(`${a} needs a value`); return argv[++i]; };
    switch (a) {
      case '--fixture': o.fixture = v(); break;
      case '--port': o.port = Number(v()); break;
      case '--host': o.host = v(); break;
      case '--tls-cert': o.tlsCert = v(); break;
      case '--tls-key': o.tlsKey = v(); break;
      case '--faults': o.faults = v(); break;
      case '--seed': o.seed = Number(v()); break;
      case '--log-limit': o.logLimit = Number(v()); break;
      case '--max-connections': o.maxConnections = Number(v()); break;
      case '--max-connections-for-ms': o.maxConnectionsForMs = Number(v()); break;
      case '--session-token-chars': o.sessionTokenChars = Number(v()); break;
      case '--http2': o.http2 = true; break;
      case '--verbose': o.verbose = true; break;
      case '-h': case '--help':
        process.stdout.write('usage: node server.js --fixture FILE [--port N] [--host H] [--tls-cert F --tls-key F] [--faults FILE] [--seed N] [--log-limit N] [--max-connections N [--max-connections-for-ms MS]] [--session-token-chars N] [--http2] [--verbose]\n');
        process.exit(0);
        break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  if (!o.fixture) throw new Error('--fixture FILE is required');
  if (!!o.tlsCert !== !!o.tlsKey) throw new Error('--tls-cert and --tls-key go together');
  if (o.http2 && !o.tlsCert) throw new Error('--http2 needs --tls-cert and --tls-key (HTTP/2 is offered over TLS)');
  if (o.maxConnectionsForMs !== undefined && !(o.maxConnectionsForMs > 0 && o.maxConnections > 0)) {
    throw new Error('--max-connections-for-ms needs a duration above 0 and --max-connections');
  }
  if (o.sessionTokenChars !== undefined && !(Number.isInteger(o.sessionTokenChars) &&
      o.sessionTokenChars >= MIN_TOKEN_CHARS && o.sessionTokenChars <= 65536)) {
    throw new Error(`--session-token-chars needs a whole number from ${MIN_TOKEN_CHARS} to 65536`);
  }
  return o;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Emulator {
  constructor(opts) {
    this.opts = opts;
    this.state = new State(loadFixture(opts.fixture));
    if (opts.sessionTokenChars) this.state.sessionTokenChars = opts.sessionTokenChars;
    this.initialFaults = opts.faults ? JSON.parse(fs.readFileSync(opts.faults, 'utf8')) : {};
    if (opts.seed !== undefined && this.initialFaults.seed === undefined) this.initialFaults.seed = opts.seed;
    this.faults = new Faults(this.state, this.initialFaults);
    this.logDropped = 0;
    const origReset = this.state.reset.bind(this.state);
    this.state.reset = () => { origReset(); this.logDropped = 0; if (this.faults) this.faults.set(this.initialFaults); };
  }

  listen() {
    const handler = (req, res) => this.onRequest(req, res);
    const tls = this.opts.tlsCert && { cert: fs.readFileSync(this.opts.tlsCert), key: fs.readFileSync(this.opts.tlsKey) };
    // --http2 offers h2 first (ALPN), as some emulators (LocalStack's) do, and HTTP/1.1 still.
    const server = this.opts.http2 ? http2.createSecureServer({ ...tls, allowHTTP1: true }, handler)
      : tls ? https.createServer(tls, handler) : http.createServer(handler);
    server.keepAliveTimeout = 65000;
    server.headersTimeout = 70000;
    server.requestTimeout = 0;
    // Like a server at its connection limit: connections beyond it are closed at once.
    if (this.opts.maxConnections > 0) server.maxConnections = this.opts.maxConnections;
    // Like a server that scales out: the limit lifts this long after the first connection.
    if (this.opts.maxConnectionsForMs) {
      server.once('connection', () => {
        setTimeout(() => { server.maxConnections = Infinity; }, this.opts.maxConnectionsForMs).unref();
      });
    }
    const conns = this.connections = { opened: 0, open: 0, peak: 0, dropped: 0, dropped_late: 0, resumed: 0 };
    server.on(this.opts.tlsCert ? 'secureConnection' : 'connection', (sock) => {
      conns.opened += 1;
      if (this.opts.tlsCert && sock.isSessionReused()) conns.resumed += 1; // no full handshake
      conns.open += 1;
      if (conns.open > conns.peak) conns.peak = conns.open;
      // Closed once the client's FIN is read: 'close' can come a few ticks later, after a
      // new connection of the same client was already counted.
      let counted = true;
      const closed = () => { if (counted) { counted = false; conns.open -= 1; } };
      sock.once('end', closed);
      sock.once('close', closed);
    });
    // A client's first burst may open many connections before it sees the first drop; the
    // drops a second or more after the first one tell how it behaves once it could know.
    let firstDrop = 0;
    server.on('drop', () => {
      const now = Date.now();
      if (!firstDrop) firstDrop = now;
      conns.dropped += 1;
      if (now - firstDrop >= 1000) conns.dropped_late += 1;
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => resolve(server.address().port));
    });
  }

  onRequest(req, res) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      this.process(req, res, body).catch((e) => {
        process.stderr.write(`emulator: internal error: ${e.stack || e}\n`);
        if (!res.headersSent) { res.writeHead(500, { 'Content-Type': 'text/plain' }); res.end('internal emulator error'); }
      });
    });
    req.on('error', () => {});
  }

  async process(req, res, body) {
    const started = Date.now();
    const url = req.url || '/';
    const qi = url.indexOf('?');
    const rawPath = qi < 0 ? url : url.slice(0, qi);
    const query = parseQuery(qi < 0 ? '' : url.slice(qi + 1));
    if (rawPath.startsWith('/_emulator/')) return handleAdmin(this, req, res, rawPath, query, body);

    const state = this.state;
    const rid = requestId();
    // An HTTP/2 request names its host in :authority, which the signature covers as host.
    const { headers, rawHeaders } = req.httpVersionMajor === 2 ? h2Headers(req) : req;
    const ctx = { state, rid, headers, query, body, method: req.method, path: rawPath, cred: null, auth: null, fault: null };
    const entry = {
      seq: ++state.seq, time: isoMillis(state.now()), service: null, action: null, account: null, access_key: null,
      principal: null, http: req.httpVersion, method: req.method, path: rawPath, status: 0, error_code: null, fault: null, headers: {},
    };
    for (const h of LOGGED_HEADERS) if (headers[h] !== undefined) entry.headers[h] = headers[h];
    let resp;
    try {
      // 1. Parse the signature (if any) and work out service, action and parameters.
      let authErr = null;
      try { ctx.auth = parseAuth(headers, query); } catch (e) { if (e instanceof AuthError) authErr = e; else throw e; }
      const isForm = /x-www-form-urlencoded/i.test(headers['content-type'] || '');
      let form = null;
      const getForm = () => { if (!form) form = Object.assign({}, query, isForm ? parseForm(body.toString('utf8')) : {}); return form; };
      let service = ctx.auth ? ctx.auth.service : null;
      if (!service) {
        if (headers['x-amz-target']) service = 'organizations';
        else if (getForm().Action) service = ACTION_SERVICE[getForm().Action] || 'sts';
        else service = 's3';
      }
      ctx.service = entry.service = service;
      if (!services[service]) {
        resp = errorResponse('sts', 400, 'UnknownService', `The emulator does not implement service '${service}'`, rid);
        return this.finish(req, res, ctx, entry, resp, started);
      }
      if (PROTOCOL[service] === 'query') {
        ctx.params = getForm();
        ctx.action = ctx.params.Action || null;
      } else if (PROTOCOL[service] === 'json' || PROTOCOL[service] === 'rest-json') {
        if (PROTOCOL[service] === 'json') {
          const t = headers['x-amz-target'] || '';
          const prefix = JSON_TARGET_PREFIX[service];
          ctx.action = t.startsWith(prefix) ? t.slice(prefix.length) : null;
          // Each JSON service reads its own version's media type only.
          const want = `application/x-amz-json-${JSON_VERSION[service]}`;
          if ((headers['content-type'] || '').split(';')[0].trim() !== want) ctx.badMediaType = want;
        } else {
          ctx.action = services[service].route(req.method, rawPath);
        }
        const text = body.length ? body.toString('utf8') : '{}';
        try { ctx.params = JSON.parse(text); } catch { ctx.params = null; }
        if (ctx.params === null || typeof ctx.params !== 'object' || Array.isArray(ctx.params)) {
          ctx.params = {};
          ctx.badJson = true;
        }
      } else {
        ctx.s3 = services.s3.route(req.method, headers.host, rawPath, query, state.fx.buckets);
        ctx.action = ctx.s3.action;
        entry.bucket = ctx.s3.bucket;
        entry.key = ctx.s3.key;
      }
      entry.action = ctx.action;
      const claimed = ctx.auth ? state.lookupCredential(ctx.auth.accessKeyId) : null;
      if (ctx.auth) { entry.access_key = ctx.auth.accessKeyId; entry.region = ctx.auth.region; }
      if (claimed) { entry.account = claimed.accountId; entry.principal = claimed.arn; }
      if (ctx.params) entry.params = summarizeParams(ctx.params);

      // 2. Faults: latency first, then at most one failure rule.
      const { latencyMs, fault } = this.faults.evaluate({ service, action: ctx.action, account: entry.account,
        targetAccount: targetAccount(ctx), key: entry.key });
      if (latencyMs > 0) await sleep(latencyMs);

      // 3. Authentication.
      if (authErr) throw authError(service, authErr);
      if (ctx.auth) {
        const rg = VALID_REGIONS[service];
        if (rg && !rg.includes(ctx.auth.region)) throw authError(service, new AuthError('mismatch', 'Credential should be scoped to a valid region.'));
        try {
          ctx.cred = await verify(ctx.auth, { method: req.method, path: rawPath, query, rawHeaders, body },
            (k) => state.lookupCredential(k), state.now(), state.stateNow());
        } catch (e) {
          if (e instanceof AuthError) throw authError(service, e, ctx);
          throw e;
        }
      } else if (!(PROTOCOL[service] === 'query' && UNSIGNED_ACTIONS.has(ctx.action))) {
        throw missingAuth(service);
      } else {
        ctx.cred = { accountId: null, arn: 'anonymous' };
      }
      if (ctx.action === null) {
        if (PROTOCOL[service] === 'json') throw new HttpError(400, 'UnknownOperationException', 'Missing or invalid X-Amz-Target');
        if (PROTOCOL[service] === 'rest-json') throw new HttpError(404, 'UnknownOperationException', `No operation at ${req.method} ${rawPath}`);
        throw new HttpError(400, 'MissingAction', 'Missing Action');
      }
      if (ctx.badMediaType) throw new HttpError(400, 'UnsupportedMediaType', `Content-Type must be ${ctx.badMediaType}`);

      if (ctx.badJson) throw new HttpError(400, 'SerializationException', 'Start of structure or map found where not expected.');

      // 4. Injected failures.
      if (fault) {
        entry.fault = fault.type;
        ctx.fault = fault;
        if (fault.type === 'reset') {
          entry.status = 0;
          this.record(entry, started);
          const sock = req.socket;
          try { if (sock.resetAndDestroy && !sock.encrypted) sock.resetAndDestroy(); else sock.destroy(); } catch { sock.destroy(); }
          return undefined;
        }
        if (fault.type === 'hang') {
          // The connection stays open and silent until the client gives up on it.
          entry.status = 0;
          this.record(entry, started);
          return undefined;
        }
        if (fault.type === 'throttle') {
          const [s, c, m] = THROTTLE[service];
          throw new HttpError(s, c, m);
        }
        if (fault.type === 'error' || fault.type === 'fail') {
          const [s, c, m] = INTERNAL[service];
          throw new HttpError(fault.status || s, fault.code || (fault.status && fault.status < 500 ? 'InjectedFault' : c), fault.message || m);
        }
      }
      // 5. The operation itself.
      resp = services[service].handle(ctx);
    } catch (e) {
      if (!(e instanceof HttpError)) {
        process.stderr.write(`emulator: ${ctx.service}.${ctx.action} failed: ${e.stack || e}\n`);
        const [s, c, m] = INTERNAL[ctx.service] || INTERNAL.sts;
        e = new HttpError(s, c, m);
      }
      resp = errorResponse(ctx.service || 'sts', e.status, e.code, e.message, rid, e.extra, req.method);
      if (e.extra && e.extra.lowercaseMessage) resp.errorCode = e.code;
    }
    return this.finish(req, res, ctx, entry, resp, started);
  }

  finish(req, res, ctx, entry, resp, started) {
    const state = this.state;
    const headers = Object.assign({}, resp.headers);
    headers.Date = new Date(state.now()).toUTCString();
    if (ctx.service === 's3') {
      headers['x-amz-request-id'] = s3RequestId(ctx.rid);
      headers['x-amz-id-2'] = hostId(ctx.rid);
      headers.Server = 'AmazonS3';
    } else {
      headers['x-amzn-RequestId'] = ctx.rid;
    }
    let body = resp.body === undefined || resp.body === null ? Buffer.alloc(0) : resp.body;
    if (!Buffer.isBuffer(body)) body = Buffer.from(body, 'utf8');
    const isHead = req.method === 'HEAD';
    if (!(isHead && headers['Content-Length'] !== undefined)) headers['Content-Length'] = String(body.length);
    entry.status = resp.status;
    entry.error_code = resp.errorCode || null;
    const fault = ctx.fault;
    res.sendDate = false;
    if (fault && fault.type === 'malformed') {
      const bad = malformedBody(ctx);
      headers['Content-Length'] = String(bad.length);
      entry.status = 200;
      entry.error_code = null;
      this.record(entry, started);
      res.writeHead(200, headers);
      res.end(bad);
      return;
    }
    if (fault && fault.type === 'truncate') {
      const declared = Math.max(body.length, 64);
      const sendBytes = body.length >= 2 ? Math.floor(body.length / 2) : 0;
      headers['Content-Length'] = String(declared);
      this.record(entry, started);
      res.writeHead(resp.status, headers);
      res.write(body.slice(0, sendBytes), () => setImmediate(() => req.socket.destroy()));
      return;
    }
    if (fault && fault.type === 'oversized' && !isHead) {
      this.record(entry, started);
      sendOversized(req, res, resp.status, headers, body, fault);
      return;
    }
    this.record(entry, started);
    res.writeHead(resp.status, headers);
    res.end(isHead ? undefined : body);
  }

  record(entry, started) {
    entry.duration_ms = Date.now() - started;
    const log = this.state.log;
    log.push(entry);
    if (log.length > this.opts.logLimit) { const n = log.length - this.opts.logLimit; log.splice(0, n); this.logDropped += n; }
    if (this.opts.verbose) process.stderr.write(`${entry.seq} ${entry.service}.${entry.action} ${entry.account} -> ${entry.status} ${entry.error_code || ''}${entry.fault ? ` [${entry.fault}]` : ''}\n`);
  }
}

// The account a request acts on when it is not the caller's: AssumeRole's role, an
// Organizations call's account or parent.
function targetAccount(ctx) {
  const p = ctx.params || {};
  const m = /^arn:[^:]+:iam::(\d{12}):/.exec(p.RoleArn || '');
  if (m) return m[1];
  return p.AccountId || p.ResourceId || p.ParentId || undefined;
}

function summarizeParams(p) {
  const out = {};
  for (const [k, v] of Object.entries(p)) {
    if (k === 'WebIdentityToken') { out[k] = '(redacted)'; continue; }
    const s = typeof v === 'string' ? v : JSON.stringify(v);
    out[k] = s.length > 200 ? `${s.slice(0, 200)}...(${s.length} chars)` : v;
  }
  return out;
}

// Map an authentication failure to the protocol's real error.
function authError(service, e) {
  const proto = PROTOCOL[service];
  const table = {
    malformed: { query: [400, 'IncompleteSignature'], json: [400, 'IncompleteSignatureException'], 'rest-xml': [400, 'AuthorizationHeaderMalformed'] },
    unknown_key: { query: [403, 'InvalidClientTokenId'], json: [400, 'UnrecognizedClientException'], 'rest-xml': [403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.'] },
    invalid_token: { query: [403, 'InvalidClientTokenId'], json: [400, 'UnrecognizedClientException'], 'rest-xml': [400, 'InvalidToken', 'The provided token is malformed or otherwise invalid.'] },
    expired_token: { query: [403, 'ExpiredToken'], json: [400, 'ExpiredTokenException'], 'rest-xml': [400, 'ExpiredToken', 'The provided token has expired.'] },
    skew: { query: [403, 'SignatureDoesNotMatch'], json: [400, 'InvalidSignatureException'], 'rest-xml': [403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.'] },
    mismatch: { query: [403, 'SignatureDoesNotMatch'], json: [400, 'InvalidSignatureException'], 'rest-xml': [403, 'SignatureDoesNotMatch'] },
    presign_expired: { query: [403, 'AccessDenied'], json: [400, 'AccessDeniedException'], 'rest-xml': [403, 'AccessDenied'] },
  }[e.kind];
  // REST-JSON services answer authentication failures with 403 and the JSON codes.
  const row = proto === 'rest-json' ? [403, table.json[1]] : table[proto];
  const extra = { lowercaseMessage: true };
  if (service === 's3' && e.kind === 'skew') extra.fields = { MaxAllowedSkewMilliseconds: '900000' };
  return new HttpError(row[0], row[1], row[2] || e.message, extra);
}

function missingAuth(service) {
  const proto = PROTOCOL[service];
  if (proto === 'json') return new HttpError(400, 'MissingAuthenticationTokenException', 'Missing Authentication Token', { lowercaseMessage: true });
  if (proto === 'rest-json') return new HttpError(403, 'MissingAuthenticationTokenException', 'Missing Authentication Token', { lowercaseMessage: true });
  if (proto === 'rest-xml') return new HttpError(403, 'AccessDenied', 'Access Denied');
  return new HttpError(403, 'MissingAuthenticationToken', 'Request is missing Authentication Token');
}

// The operation's answer padded with blanks to `bytes` (default 64 MiB, or no padding when
// only `headers` is given), which XML and JSON allow after the document: a client that reads
// it all still parses it. Declared in Content-Length, or sent chunked with none when
// `chunked`. `headers` adds that many more headers. Streamed, so the emulator never holds it;
// a client that stops reading ends it by closing the connection.
function sendOversized(req, res, status, headers, body, fault) {
  const bytes = fault.bytes !== undefined ? fault.bytes : fault.headers ? 0 : 64 * 1024 * 1024;
  const total = Math.max(bytes, body.length);
  for (let i = 0; i < (fault.headers || 0); i++) headers[`x-emulator-pad-${i}`] = 'p'.repeat(64);
  if (fault.chunked) delete headers['Content-Length'];
  else headers['Content-Length'] = String(total);
  res.writeHead(status, headers);
  res.write(body);
  const pad = Buffer.alloc(64 * 1024, 0x20);
  let left = total - body.length;
  const more = () => {
    while (left > 0) {
      const n = Math.min(left, pad.length);
      left -= n;
      if (!res.write(n === pad.length ? pad : pad.subarray(0, n))) {
        res.once('drain', more);
        return;
      }
    }
    res.end();
  };
  req.socket.once('close', () => { left = 0; });
  more();
}

function malformedBody(ctx) {
  if (PROTOCOL[ctx.service] === 'json' || PROTOCOL[ctx.service] === 'rest-json') return Buffer.from('{"Accounts": [{"Id": "1234');
  if (PROTOCOL[ctx.service] === 'query') return Buffer.from(`<${ctx.action}Response xmlns="${QUERY_NS[ctx.service]}">\n  <${ctx.action}Result>\n    <Sta`);
  return Buffer.from('<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult><Name>');
}

async function main() {
  let opts;
  try { opts = parseArgs(process.argv); } catch (e) { process.stderr.write(`emulator: ${e.message}\n`); process.exit(2); }
  let emu;
  try { emu = new Emulator(opts); } catch (e) { process.stderr.write(`emulator: ${e.message}\n`); process.exit(2); }
  const port = await emu.listen();
  const stop = () => {
    emu.server.close();
    if (emu.server.closeAllConnections) emu.server.closeAllConnections();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdout.write(`READY ${port}\n`);
}

if (require.main === module) main();

module.exports = { Emulator, parseArgs };
