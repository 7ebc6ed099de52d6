#!/usr/bin/env node
'use strict';
// Generate a large, deterministic emulator fixture (see README.md for the fixture format).
// usage: node gen-org.js --accounts N [--seed S] [--depth D] [--ous-per-level K] [--suspended K]
//          [--pending-closure K] [--closed K] [--role-missing K] [--never-complete K]
//          [--external-id K] [--min-delay-ms A] [--max-delay-ms B] [--max-users U] [--empty-pages]
const { rng } = require('./lib/util');

function parse(argv) {
  const o = { accounts: 50, seed: 1, depth: 2, ousPerLevel: 3, suspended: null, pendingClosure: null, closed: null,
    roleMissing: null, neverComplete: 1, externalId: 0, minDelayMs: 50, maxDelayMs: 500, maxUsers: 5, emptyPages: false };
  const names = { '--accounts': 'accounts', '--seed': 'seed', '--depth': 'depth', '--ous-per-level': 'ousPerLevel',
    '--suspended': 'suspended', '--pending-closure': 'pendingClosure', '--closed': 'closed', '--role-missing': 'roleMissing',
    '--never-complete': 'neverComplete', '--external-id': 'externalId', '--min-delay-ms': 'minDelayMs',
    '--max-delay-ms': 'maxDelayMs', '--max-users': 'maxUsers' };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--empty-pages') { o.emptyPages = true; continue; }
    if (a === '-h' || a === '--help') { process.stdout.write(`${require('fs').readFileSync(__filename, 'utf8').split('\n').slice(2, 6).join('\n')}\n`); process.exit(0); }
    if (!names[a] || i + 1 >= argv.length) { process.stderr.write(`gen-org: bad argument ${a}\n`); process.exit(2); }
    o[names[a]] = Number(argv[++i]);
    if (!Number.isFinite(o[names[a]])) { process.stderr.write(`gen-org: ${a} needs a number\n`); process.exit(2); }
  }
  if (o.accounts < 2) { process.stderr.write('gen-org: --accounts must be at least 2\n'); process.exit(2); }
  const n = o.accounts;
  if (o.suspended === null) o.suspended = Math.max(1, Math.floor(n * 0.03));
  if (o.pendingClosure === null) o.pendingClosure = Math.max(n >= 10 ? 1 : 0, Math.floor(n * 0.01));
  if (o.closed === null) o.closed = Math.max(n >= 10 ? 1 : 0, Math.floor(n * 0.01));
  if (o.roleMissing === null) o.roleMissing = Math.max(1, Math.floor(n * 0.02));
  return o;
}

function main() {
  const o = parse(process.argv);
  const r = rng(o.seed);
  const alnum = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const pick = (len) => { let s = ''; for (let i = 0; i < len; i++) s += alnum[Math.floor(r() * alnum.length)]; return s; };
  const rootTag = pick(4);
  const rootId = `r-${rootTag}`;
  const ouIds = new Set();
  const ous = [];
  const levels = [[rootId]];
  for (let d = 1; d <= o.depth; d++) {
    const level = [];
    for (const parent of levels[d - 1]) {
      for (let k = 0; k < o.ousPerLevel; k++) {
        let id;
        do { id = `ou-${rootTag}-${pick(8)}`; } while (ouIds.has(id));
        ouIds.add(id);
        const name = d === 1 ? ['Security', 'Workloads', 'Sandbox', 'Infrastructure', 'Policy-Staging', 'Suspended'][k % 6] + (k >= 6 ? `-${k}` : '')
          : `${['prod', 'dev', 'test', 'shared', 'data'][k % 5]}-${d}-${ous.length}`;
        ous.push({ id, name, parent, tags: { level: String(d), index: String(ous.length) } });
        level.push(id);
      }
    }
    levels.push(level);
  }
  const parents = [rootId, ...ous.map((x) => x.id)];
  const ids = new Set();
  const newId = () => { let id; do { id = String(100000000000 + Math.floor(r() * 899999999999)); } while (ids.has(id)); ids.add(id); return id; };
  const mgmt = newId();
  const accounts = [];
  for (let i = 0; i < o.accounts; i++) {
    const id = i === 0 ? mgmt : newId();
    const a = {
      id, name: i === 0 ? 'management' : `account-${String(i).padStart(5, '0')}`,
      email: `aws+${i}@example.com`, parent: i === 0 ? rootId : parents[Math.floor(r() * parents.length)],
      state: 'ACTIVE', joined_method: i === 0 ? 'INVITED' : (r() < 0.8 ? 'CREATED' : 'INVITED'),
      joined_timestamp: 1500000000 + Math.floor(r() * 250000000),
      tags: { team: `team-${Math.floor(r() * 20)}`, env: ['prod', 'dev', 'test'][Math.floor(r() * 3)] },
      users: Math.floor(r() * (o.maxUsers + 1)),
      report_delay_ms: Math.round(o.minDelayMs + r() * (o.maxDelayMs - o.minDelayMs)),
    };
    if (i === 0) { a.role_missing = true; a.roles = ['credreport-runner']; }
    accounts.push(a);
  }
  // Flags on member accounts (never the management account), assigned from the end so they are spread.
  const members = accounts.slice(1);
  const order = members.map((a, i) => [r(), i]).sort((x, y) => x[0] - y[0]).map((x) => members[x[1]]);
  let idx = 0;
  const take = (k, fn) => { for (let j = 0; j < k && idx < order.length; j++) fn(order[idx++]); };
  take(o.suspended, (a) => { a.state = 'SUSPENDED'; });
  take(o.pendingClosure, (a) => { a.state = 'PENDING_CLOSURE'; });
  take(o.closed, (a) => { a.state = 'CLOSED'; });
  take(o.roleMissing, (a) => { a.role_missing = true; });
  take(o.neverComplete, (a) => { a.report_never_completes = true; });
  take(o.externalId, (a) => { a.role_external_id = `ext-${a.id}`; });
  const security = accounts.find((a, i) => i > 0 && a.state === 'ACTIVE' && !a.role_missing && !a.report_never_completes) || accounts[0];
  const fixture = {
    management_account_id: mgmt,
    organization_id: `o-${pick(10)}`,
    root_id: rootId,
    region: 'us-east-1',
    default_role_name: 'OrganizationAccountAccessRole',
    empty_pages: o.emptyPages,
    iam: { report_delay_ms: 200, report_ttl_seconds: 14400, generate_limit: { max_calls: 10, window_ms: 1000 } },
    credentials: [{ access_key_id: 'AKIAIOSFODNN7EXAMPLE', secret_access_key: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      account_id: mgmt, arn: `arn:aws:iam::${mgmt}:user/credreport` }],
    organizational_units: ous,
    accounts,
    buckets: [{ name: 'credreport-reports', owner: security.id, region: 'us-east-1', grants: [mgmt],
      object_ownership: 'BucketOwnerEnforced', default_encryption: { algorithm: 'AES256' } }],
    topics: [{ arn: `arn:aws:sns:us-east-1:${security.id}:credreport-alerts`, publishers: [mgmt] }],
    web_identity_tokens: [{ token: 'eyJhbGciOiJSUzI1NiJ9.emulator-test-token.sig', role_arn: `arn:aws:iam::${mgmt}:role/credreport-runner` }],
    generator: { seed: o.seed, options: o },
  };
  process.stdout.write(`${JSON.stringify(fixture, null, 1)}\n`);
}

main();
