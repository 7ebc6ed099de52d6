'use strict';
// Unsigned admin API under /_emulator/ (JSON unless noted). Not recorded in the request log.
const { buildReportCsv, reportState } = require('./iam');
const { isoSeconds } = require('./util');

function send(res, status, body, type = 'application/json') {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : `${JSON.stringify(body, null, 1)}\n`);
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': buf.length });
  res.end(buf);
}

function handleAdmin(emu, req, res, rawPath, query, body) {
  const { state, faults } = emu;
  const path = rawPath.replace(/^\/_emulator/, '');
  const m = req.method;
  try {
    if (path === '/requests' && m === 'GET') {
      let rows = state.log;
      if (query.since) rows = rows.filter((r) => r.seq > Number(query.since));
      for (const f of ['service', 'action', 'account', 'error_code']) if (query[f]) rows = rows.filter((r) => String(r[f]) === query[f]);
      return send(res, 200, { requests: rows, dropped: emu.logDropped });
    }
    if (path === '/requests' && m === 'DELETE') { state.log = []; return send(res, 200, { ok: true }); }
    if (path === '/s3/objects' && m === 'GET') {
      const out = [];
      for (const [bucket, objs] of state.objects) {
        if (query.bucket && query.bucket !== bucket) continue;
        for (const o of objs.values()) {
          out.push({ bucket, key: o.key, size: o.size, sha256: o.sha256, etag: o.etag, last_modified: isoSeconds(o.lastModified),
            content_type: o.contentType, sse: o.sse, kms_key_id: o.kmsKey || null, bucket_key_enabled: !!o.bucketKey,
            acl: o.acl || null, checksums: o.checksums, writer_account: o.writerAccount, writer_arn: o.writerArn, headers: o.headers });
        }
      }
      out.sort((a, b) => (a.bucket + a.key < b.bucket + b.key ? -1 : 1));
      return send(res, 200, { objects: out });
    }
    if (path === '/s3/object' && m === 'GET') {
      const objs = state.objects.get(query.bucket || '');
      const o = objs && objs.get(query.key || '');
      if (!o) return send(res, 404, { error: 'no such object' });
      return send(res, 200, o.body, o.contentType || 'application/octet-stream');
    }
    if (path === '/sns/messages' && m === 'GET') return send(res, 200, { messages: state.messages });
    if (path === '/sns/messages' && m === 'DELETE') { state.messages = []; return send(res, 200, { ok: true }); }
    if (path === '/securityhub/findings' && m === 'GET') return send(res, 200, { findings: [...state.findings.values()] });
    if (path === '/sqs/queues' && m === 'GET') return send(res, 200, { queues: [...state.queues.values()] });
    if (path === '/account/contacts' && m === 'GET') return send(res, 200, { contacts: Object.fromEntries(state.contacts) });
    if (path === '/faults' && m === 'GET') return send(res, 200, faults.toJSON());
    if (path === '/faults' && (m === 'PUT' || m === 'POST')) {
      faults.set(body.length ? JSON.parse(body.toString('utf8')) : {});
      return send(res, 200, faults.toJSON());
    }
    const rep = /^\/reports\/(\d{12})$/.exec(path);
    if (rep && m === 'GET') {
      const acct = rep[1];
      if (!state.fx.accounts.has(acct)) return send(res, 404, { error: 'no such account' });
      const r = state.reports.get(acct);
      const genMs = r ? r.startedMs : (query.time ? Date.parse(query.time) : state.stateNow());
      const csv = buildReportCsv(state.fx, acct, genMs);
      res.setHeader('X-Emulator-Generated-Time', isoSeconds(genMs));
      res.setHeader('X-Emulator-Report-State', reportState(state, r, state.stateNow()));
      return send(res, 200, csv, 'text/csv');
    }
    if (path === '/reset' && m === 'POST') { state.reset(); faults.set({}); return send(res, 200, { ok: true }); }
    if (path === '/advance' && m === 'POST') {
      const o = body.length ? JSON.parse(body.toString('utf8')) : {};
      state.advanceMs += Number(o.seconds || 0) * 1000;
      return send(res, 200, { advance_seconds: state.advanceMs / 1000 });
    }
    if (path === '/credentials' && m === 'GET') {
      const out = [...state.tempCreds.values()].map((c) => ({ access_key_id: c.accessKeyId, account: c.accountId, arn: c.arn,
        role_arn: c.roleArn, source: c.source, expiration: isoSeconds(c.expirationMs) }));
      return send(res, 200, { credentials: out });
    }
    if (path === '/info' && m === 'GET') {
      return send(res, 200, { now: new Date(state.now()).toISOString(), clock_skew_seconds: state.skewMs / 1000,
        advance_seconds: state.advanceMs / 1000, accounts: state.fx.accounts.size, requests: state.seq,
        connections: emu.connections });
    }
    return send(res, 404, { error: `unknown admin endpoint ${m} ${rawPath}` });
  } catch (e) {
    return send(res, 400, { error: String(e.message || e) });
  }
}

module.exports = { handleAdmin };
