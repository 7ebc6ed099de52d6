'use strict';
// AWS Organizations (JSON 1.1, X-Amz-Target AWSOrganizationsV20161128.<Operation>).
const { jsonSuccess } = require('./protocols');
const { HttpError } = require('./util');

const OPERATIONS = ['ListRoots', 'ListOrganizationalUnitsForParent', 'ListAccountsForParent', 'ListAccounts',
  'ListChildren', 'DescribeOrganization', 'ListTagsForResource', 'DescribeAccount', 'DescribeOrganizationalUnit'];

function invalid(msg) { return new HttpError(400, 'InvalidInputException', msg); }

function accountView(fx, a) {
  const out = {
    Id: a.listedId ?? a.id,
    Arn: `arn:aws:organizations::${fx.managementAccountId}:account/${fx.organizationId}/${a.id}`,
    Email: a.email,
    Name: a.name,
  };
  if (a.status !== undefined) out.Status = a.status;
  out.State = a.state;
  out.JoinedMethod = a.joinedMethod;
  out.JoinedTimestamp = a.joinedTimestamp;
  return out;
}

function ouView(ou) { return { Id: ou.Id, Arn: ou.Arn, Name: ou.Name }; }

function checkParent(fx, parentId) {
  if (typeof parentId !== 'string' || !parentId) throw invalid('You must specify a ParentId.');
  if (!/^(r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$/.test(parentId)) {
    throw invalid("1 validation error detected: Value at 'parentId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(r-[0-9a-z]{4,32})|(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$");
  }
  if (parentId !== fx.rootId && !fx.ous.has(parentId)) {
    throw new HttpError(400, 'ParentNotFoundException', 'We can\'t find a root or OU with the ParentId that you specified.');
  }
}

// Paging: tokens encode the operation, its key (e.g. parent) and an offset.
function page(ctx, items, keyStr) {
  const p = ctx.params;
  let max = 20;
  if (p.MaxResults !== undefined) {
    if (!Number.isInteger(p.MaxResults) || p.MaxResults < 1 || p.MaxResults > 20) {
      throw invalid(`1 validation error detected: Value '${p.MaxResults}' at 'maxResults' failed to satisfy constraint: Member must have value ${p.MaxResults < 1 ? 'greater than or equal to 1' : 'less than or equal to 20'}`);
    }
    max = p.MaxResults;
  }
  const opKey = `${ctx.action}|${keyStr}`;
  let offset = 0;
  let phase = 'n'; // n: normal, e: trailing empty page pending
  if (p.NextToken !== undefined && p.NextToken !== null) {
    let tok;
    try { tok = JSON.parse(Buffer.from(String(p.NextToken), 'base64').toString('utf8')); } catch { tok = null; }
    if (!tok || tok.k !== opKey || !Number.isInteger(tok.o)) throw invalid('The NextToken value is not valid.');
    offset = tok.o;
    phase = tok.p || 'n';
  }
  const mkToken = (o, ph) => Buffer.from(JSON.stringify({ k: opKey, o, p: ph, r: Math.floor(Math.random() * 1e9) })).toString('base64');
  if (ctx.fault && ctx.fault.type === 'endless_pages') {
    // A hostile endpoint: always another page, with the token it was given (or a new one).
    const same = p.NextToken != null ? String(p.NextToken) : Buffer.from(JSON.stringify({ k: opKey, o: 0, p: 'n' })).toString('base64');
    return { slice: items.slice(0, max), NextToken: ctx.fault.fresh_tokens ? mkToken(0, 'n') : same };
  }
  const emptyFault = ctx.fault && ctx.fault.type === 'empty_page';
  if (emptyFault || (ctx.state.fx.emptyPages && p.NextToken == null)) {
    // An empty page that still has a NextToken (pointing at the same place), as real Organizations does.
    return { slice: [], NextToken: mkToken(offset, phase) };
  }
  if (phase === 'e') return { slice: [], NextToken: undefined };
  const slice = items.slice(offset, offset + max);
  let next;
  if (offset + max < items.length) next = mkToken(offset + max, 'n');
  else if (ctx.state.fx.emptyPages) next = mkToken(items.length, 'e');
  // An implementation that writes an absent token as an empty string.
  else if (ctx.fault && ctx.fault.type === 'blank_token') next = '';
  return { slice, NextToken: next };
}

function withToken(obj, next) { if (next !== undefined) obj.NextToken = next; return obj; }

function childrenOf(fx, parentId) {
  const ous = [...fx.ous.values()].filter((o) => o.parent === parentId);
  const accounts = [...fx.accounts.values()].filter((a) => a.parent === parentId);
  return { ous, accounts };
}

function handle(ctx) {
  const fx = ctx.state.fx;
  const p = ctx.params;
  if (ctx.cred.accountId !== fx.managementAccountId) {
    throw new HttpError(400, 'AccessDeniedException', 'You don\'t have permissions to access this resource.');
  }
  switch (ctx.action) {
    case 'DescribeOrganization': {
      const mgmt = fx.accounts.get(fx.managementAccountId);
      return jsonSuccess({ Organization: {
        Id: fx.organizationId,
        Arn: `arn:aws:organizations::${fx.managementAccountId}:organization/${fx.organizationId}`,
        FeatureSet: fx.featureSet,
        MasterAccountArn: `arn:aws:organizations::${fx.managementAccountId}:account/${fx.organizationId}/${fx.managementAccountId}`,
        MasterAccountId: fx.managementAccountId,
        MasterAccountEmail: mgmt.email,
        AvailablePolicyTypes: [{ Type: 'SERVICE_CONTROL_POLICY', Status: 'ENABLED' }],
      } });
    }
    case 'ListRoots': {
      const r = page(ctx, [fx.root], '');
      return jsonSuccess(withToken({ Roots: r.slice.map((x) => ({ Id: x.Id, Arn: x.Arn, Name: x.Name, PolicyTypes: x.PolicyTypes })) }, r.NextToken));
    }
    case 'ListAccounts': {
      const r = page(ctx, [...fx.accounts.values()], '');
      return jsonSuccess(withToken({ Accounts: r.slice.map((a) => accountView(fx, a)) }, r.NextToken));
    }
    case 'ListAccountsForParent': {
      checkParent(fx, p.ParentId);
      const r = page(ctx, childrenOf(fx, p.ParentId).accounts, p.ParentId);
      return jsonSuccess(withToken({ Accounts: r.slice.map((a) => accountView(fx, a)) }, r.NextToken));
    }
    case 'ListOrganizationalUnitsForParent': {
      checkParent(fx, p.ParentId);
      const r = page(ctx, childrenOf(fx, p.ParentId).ous, p.ParentId);
      return jsonSuccess(withToken({ OrganizationalUnits: r.slice.map(ouView) }, r.NextToken));
    }
    case 'ListChildren': {
      checkParent(fx, p.ParentId);
      if (p.ChildType !== 'ACCOUNT' && p.ChildType !== 'ORGANIZATIONAL_UNIT') {
        throw invalid(`1 validation error detected: Value '${p.ChildType}' at 'childType' failed to satisfy constraint: Member must satisfy enum value set: [ACCOUNT, ORGANIZATIONAL_UNIT]`);
      }
      const c = childrenOf(fx, p.ParentId);
      const items = p.ChildType === 'ACCOUNT' ? c.accounts.map((a) => a.id) : c.ous.map((o) => o.Id);
      const r = page(ctx, items, `${p.ParentId}|${p.ChildType}`);
      return jsonSuccess(withToken({ Children: r.slice.map((id) => ({ Id: id, Type: p.ChildType })) }, r.NextToken));
    }
    case 'ListTagsForResource': {
      const id = p.ResourceId;
      if (typeof id !== 'string' || !id) throw invalid('You must specify a ResourceId.');
      let tags;
      if (id === fx.rootId) tags = fx.root.tags;
      else if (fx.ous.has(id)) tags = fx.ous.get(id).tags;
      else if (fx.accounts.has(id)) tags = fx.accounts.get(id).tags;
      else if (/^(\d{12}|r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$/.test(id)) {
        throw new HttpError(400, 'TargetNotFoundException', 'We can\'t find a target with the TargetId that you specified.');
      } else throw invalid('You provided a value that does not match the required pattern.');
      // No MaxResults for this operation; NextToken accepted for completeness.
      const r = page(Object.assign({}, ctx, { params: { NextToken: p.NextToken } }), tags.map((t) => ({ Key: t.Key, Value: t.Value })), id);
      return jsonSuccess(withToken({ Tags: r.slice }, r.NextToken));
    }
    case 'DescribeOrganizationalUnit': {
      const ou = fx.ous.get(String(p.OrganizationalUnitId));
      if (!ou) throw new HttpError(400, 'OrganizationalUnitNotFoundException', 'We can\'t find an organizational unit (OU) with the OrganizationalUnitId that you specified.');
      return jsonSuccess({ OrganizationalUnit: ouView(ou) });
    }
    case 'DescribeAccount': {
      const a = fx.accounts.get(String(p.AccountId));
      if (!a) throw new HttpError(400, 'AccountNotFoundException', 'You specified an account that doesn\'t exist.');
      return jsonSuccess({ Account: accountView(fx, a) });
    }
    default:
      throw new HttpError(400, 'UnknownOperationException', `Operation ${ctx.action} is not supported by this emulator`);
  }
}

module.exports = { handle, OPERATIONS };
