'use strict';
// AWS Security Hub (REST-JSON 2018-10-26): importing findings in the AWS Security Finding
// Format and reading them back.
const { restJsonSuccess } = require('./protocols');
const { HttpError } = require('./util');

const ROUTES = {
  'POST /findings/import': 'BatchImportFindings',
  'POST /findings': 'GetFindings',
};
const REQUIRED = ['SchemaVersion', 'Id', 'ProductArn', 'GeneratorId', 'AwsAccountId', 'CreatedAt', 'UpdatedAt',
  'Title', 'Description', 'Resources'];

function route(method, path) { return ROUTES[`${method} ${path}`] || null; }

function invalid(msg) { return new HttpError(400, 'InvalidInputException', msg); }

function batchImport(ctx) {
  const list = ctx.params.Findings;
  if (!Array.isArray(list) || list.length < 1 || list.length > 100) throw invalid('Findings must hold 1 to 100 findings');
  const failed = [];
  for (const f of list) {
    const missing = REQUIRED.find((k) => f === null || typeof f !== 'object' || f[k] === undefined);
    if (missing) { failed.push({ Id: f && f.Id, ErrorCode: 'InvalidInput', ErrorMessage: `Finding is missing ${missing}` }); continue; }
    if (!f.Severity || (f.Severity.Label === undefined && f.Severity.Normalized === undefined)) {
      failed.push({ Id: f.Id, ErrorCode: 'InvalidInput', ErrorMessage: 'Finding is missing Severity.Label' });
      continue;
    }
    // Findings land in the account of the caller's product; another account's needs its
    // own integration, which the emulator does not model.
    if (f.AwsAccountId !== ctx.cred.accountId && f.ProductArn.indexOf(`:${ctx.cred.accountId}:`) < 0) {
      failed.push({ Id: f.Id, ErrorCode: 'AccessDeniedException', ErrorMessage: 'The product is not allowed to import into this account' });
      continue;
    }
    const key = `${f.ProductArn}|${f.Id}`;
    ctx.state.findings.set(key, Object.assign({}, f, { importedBy: ctx.cred.accountId }));
  }
  return restJsonSuccess({ FailedCount: failed.length, SuccessCount: list.length - failed.length, FailedFindings: failed });
}

function handle(ctx) {
  if (ctx.action === 'BatchImportFindings') return batchImport(ctx);
  const mine = [...ctx.state.findings.values()].filter((f) => f.importedBy === ctx.cred.accountId);
  return restJsonSuccess({ Findings: mine.map((f) => { const c = Object.assign({}, f); delete c.importedBy; return c; }) });
}

module.exports = { handle, route };
