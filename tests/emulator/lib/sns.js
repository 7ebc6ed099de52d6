'use strict';
// Amazon SNS (Query 2010-03-31): Publish, GetTopicAttributes.
const crypto = require('crypto');
const { querySuccess } = require('./protocols');
const { HttpError, isoMillis } = require('./util');

const MAX_MESSAGE_BYTES = 256 * 1024;

function invalidParam(msg) { return new HttpError(400, 'InvalidParameter', msg); }

function parseAttributes(p) {
  const attrs = {};
  for (let n = 1; ; n++) {
    const base = `MessageAttributes.entry.${n}`;
    if (p[`${base}.Name`] === undefined) break;
    const name = p[`${base}.Name`];
    const type = p[`${base}.Value.DataType`];
    if (!type) throw new HttpError(400, 'ParameterValueInvalid', `The message attribute '${name}' must contain non-empty message attribute type.`);
    if (!/^(String|Number|Binary|String\.Array)(\..+)?$/.test(type)) {
      throw new HttpError(400, 'ParameterValueInvalid', `The message attribute '${name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.`);
    }
    const value = type.startsWith('Binary') ? { DataType: type, BinaryValue: p[`${base}.Value.BinaryValue`] } : { DataType: type, StringValue: p[`${base}.Value.StringValue`] };
    if ((value.StringValue ?? value.BinaryValue) === undefined) {
      throw new HttpError(400, 'ParameterValueInvalid', `The message attribute '${name}' must contain non-empty message attribute value for message attribute type '${type}'.`);
    }
    attrs[name] = value;
  }
  return attrs;
}

// GetTopicAttributes: the topic's owner, or an account the topic lets publish, may read them.
function getTopicAttributes(ctx) {
  const p = ctx.params;
  if (!p.TopicArn) throw invalidParam('Invalid parameter: TopicArn Reason: no value for required parameter');
  const topic = ctx.state.fx.topics.get(p.TopicArn);
  if (!topic) throw new HttpError(404, 'NotFound', 'Topic does not exist');
  const acct = ctx.cred.accountId;
  if (acct !== topic.owner && !topic.publishers.includes(acct) && !topic.publishers.includes('*')) {
    throw new HttpError(403, 'AuthorizationError', `User: ${ctx.cred.arn} is not authorized to perform: SNS:GetTopicAttributes on resource: ${p.TopicArn}`);
  }
  const entry = (k, v) => `<entry><key>${k}</key><value>${v}</value></entry>`;
  return querySuccess('sns', 'GetTopicAttributes', `
    <Attributes>${entry('TopicArn', p.TopicArn)}${entry('Owner', topic.owner)}${entry('DisplayName', '')}</Attributes>`);
}

function handle(ctx) {
  const { state } = ctx;
  const p = ctx.params;
  if (ctx.action === 'GetTopicAttributes') return getTopicAttributes(ctx);
  if (ctx.action !== 'Publish') throw new HttpError(400, 'InvalidAction', `Could not find operation ${ctx.action} for version 2010-03-31`);
  if (!p.TopicArn && !p.TargetArn && !p.PhoneNumber) throw invalidParam('Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter');
  if (!p.TopicArn) throw invalidParam('Invalid parameter: only TopicArn is supported by this emulator');
  if (!/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]{1,256}(\.fifo)?$/.test(p.TopicArn)) throw invalidParam('Invalid parameter: TopicArn');
  const topic = state.fx.topics.get(p.TopicArn);
  if (!topic) throw new HttpError(404, 'NotFound', 'Topic does not exist');
  const acct = ctx.cred.accountId;
  if (acct !== topic.owner && !topic.publishers.includes(acct) && !topic.publishers.includes('*')) {
    throw new HttpError(403, 'AuthorizationError', `User: ${ctx.cred.arn} is not authorized to perform: SNS:Publish on resource: ${p.TopicArn} because no resource-based policy allows the SNS:Publish action`);
  }
  if (p.Message === undefined) throw invalidParam('Invalid parameter: Message Reason: no value for required parameter');
  if (p.Message === '') throw invalidParam('Invalid parameter: Empty message');
  if (Buffer.byteLength(p.Message, 'utf8') > MAX_MESSAGE_BYTES) throw invalidParam('Invalid parameter: Message too long');
  if (p.Subject !== undefined) {
    if (p.Subject.length === 0 || p.Subject.length >= 100 || /[\r\n]/.test(p.Subject) || /[^\x20-\x7e]/.test(p.Subject)) {
      throw invalidParam('Invalid parameter: Subject');
    }
  }
  if (p.MessageStructure !== undefined && p.MessageStructure !== 'json') throw invalidParam('Invalid parameter: MessageStructure');
  const attributes = parseAttributes(p);
  const messageId = crypto.randomUUID();
  state.messages.push({
    seq: state.messages.length + 1, time: isoMillis(state.now()), message_id: messageId, topic_arn: p.TopicArn,
    subject: p.Subject ?? null, message: p.Message, message_structure: p.MessageStructure ?? null,
    attributes, account: acct, principal: ctx.cred.arn,
  });
  return querySuccess('sns', 'Publish', `
    <MessageId>${messageId}</MessageId>
  `, ctx.rid);
}

module.exports = { handle };
