'use strict';
// AWS Account Management (REST-JSON 2021-02-01): the alternate contacts of an account.
const { restJsonSuccess } = require('./protocols');
const { HttpError } = require('./util');

const TYPES = ['BILLING', 'OPERATIONS', 'SECURITY'];
const ROUTES = {
  'POST /getAlternateContact': 'GetAlternateContact',
  'POST /putAlternateContact': 'PutAlternateContact',
  'POST /deleteAlternateContact': 'DeleteAlternateContact',
};

function route(method, path) { return ROUTES[`${method} ${path}`] || null; }

function validation(msg) { return new HttpError(400, 'ValidationException', msg); }

// The account the call acts on: the caller's own, or with AccountId a member account when the
// caller is the management account (AWS also allows a delegated administrator).
function targetOf(ctx) {
  const { fx } = ctx.state;
  const caller = ctx.cred.accountId;
  const id = ctx.params.AccountId;
  if (id === undefined || id === null) return caller;
  if (typeof id !== 'string' || !/^\d{12}$/.test(id)) throw validation('AccountId must be 12 digits');
  if (id === caller && caller === fx.managementAccountId) {
    throw new HttpError(403, 'AccessDeniedException', 'The management account can\'t specify its own AccountId.');
  }
  if (id !== caller && caller !== fx.managementAccountId) {
    throw new HttpError(403, 'AccessDeniedException', `User: ${ctx.cred.arn} is not authorized to perform: account:${ctx.action} on resource: arn:aws:account::${fx.managementAccountId}:account/${fx.organizationId}/${id}`);
  }
  if (!fx.accounts.has(id)) throw new HttpError(404, 'ResourceNotFoundException', 'The account does not exist in the organization.');
  return id;
}

function contactType(p) {
  if (!TYPES.includes(p.AlternateContactType)) {
    throw validation(`1 validation error detected: Value at 'alternateContactType' failed to satisfy constraint: Member must satisfy enum value set: [${TYPES.join(', ')}]`);
  }
  return p.AlternateContactType;
}

function handle(ctx) {
  const p = ctx.params;
  const contacts = ctx.state.contacts;
  const account = targetOf(ctx);
  const type = contactType(p);
  const key = `${account}/${type}`;
  if (ctx.action === 'GetAlternateContact') {
    const c = contacts.get(key);
    if (!c) throw new HttpError(404, 'ResourceNotFoundException', 'No contact of the inputted AlternateContactType found.');
    return restJsonSuccess({ AlternateContact: Object.assign({ AlternateContactType: type }, c) });
  }
  if (ctx.action === 'PutAlternateContact') {
    for (const f of ['EmailAddress', 'Name', 'PhoneNumber', 'Title']) {
      if (typeof p[f] !== 'string' || !p[f]) throw validation(`${f} is required`);
    }
    contacts.set(key, { EmailAddress: p.EmailAddress, Name: p.Name, PhoneNumber: p.PhoneNumber, Title: p.Title });
    return restJsonSuccess(null);
  }
  if (!contacts.delete(key)) throw new HttpError(404, 'ResourceNotFoundException', 'No contact of the inputted AlternateContactType found.');
  return restJsonSuccess(null);
}

module.exports = { handle, route };
