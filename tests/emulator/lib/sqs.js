'use strict';
// Amazon SQS (JSON 1.0, X-Amz-Target AmazonSQS.<Operation>): queues and their messages.
const crypto = require('crypto');
const { jsonSuccess } = require('./protocols');
const { HttpError } = require('./util');

const MAX_MESSAGE_BYTES = 256 * 1024;

function noQueue() {
  return new HttpError(400, 'QueueDoesNotExist', 'The specified queue does not exist.',
    { type: 'com.amazonaws.sqs#QueueDoesNotExist', headers: { 'x-amzn-query-error': 'AWS.SimpleQueueService.NonExistentQueue;Sender' } });
}

function queueUrl(ctx, account, name) {
  return `https://sqs.${ctx.auth ? ctx.auth.region : 'us-east-1'}.amazonaws.com/${account}/${name}`;
}

function queueOf(ctx) {
  const url = ctx.params.QueueUrl;
  if (typeof url !== 'string') throw new HttpError(400, 'MissingParameter', 'The request must contain the parameter QueueUrl.');
  const m = /\/(\d{12})\/([\w-]{1,80}(\.fifo)?)$/.exec(url);
  const q = m && ctx.state.queues.get(`${m[1]}/${m[2]}`);
  if (!q) throw noQueue();
  if (q.owner !== ctx.cred.accountId) throw new HttpError(400, 'AccessDenied', 'Access to the resource is denied.');
  return q;
}

function handle(ctx) {
  const p = ctx.params;
  const acct = ctx.cred.accountId;
  const v = (k) => JSON.parse(JSON.stringify(p[k] ?? null));
  switch (ctx.action) {
    case 'CreateQueue': {
      if (typeof p.QueueName !== 'string' || !/^[\w-]{1,80}(\.fifo)?$/.test(p.QueueName)) {
        throw new HttpError(400, 'InvalidParameterValue', 'Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length');
      }
      const key = `${acct}/${p.QueueName}`;
      if (!ctx.state.queues.has(key)) ctx.state.queues.set(key, { owner: acct, name: p.QueueName, messages: [] });
      return jsonSuccess({ QueueUrl: queueUrl(ctx, acct, p.QueueName) }, '1.0');
    }
    case 'GetQueueUrl': {
      const q = ctx.state.queues.get(`${p.QueueOwnerAWSAccountId || acct}/${p.QueueName}`);
      if (!q) throw noQueue();
      return jsonSuccess({ QueueUrl: queueUrl(ctx, q.owner, q.name) }, '1.0');
    }
    case 'SendMessage': {
      const q = queueOf(ctx);
      if (typeof p.MessageBody !== 'string' || !p.MessageBody) throw new HttpError(400, 'MissingParameter', 'The request must contain the parameter MessageBody.');
      if (Buffer.byteLength(p.MessageBody, 'utf8') > MAX_MESSAGE_BYTES) throw new HttpError(400, 'InvalidParameterValue', 'One or more parameters are invalid. Reason: Message must be shorter than 262144 bytes.');
      const id = crypto.randomUUID();
      q.messages.push({ MessageId: id, Body: p.MessageBody, MessageAttributes: v('MessageAttributes') });
      return jsonSuccess({ MD5OfMessageBody: crypto.createHash('md5').update(p.MessageBody, 'utf8').digest('hex'), MessageId: id }, '1.0');
    }
    case 'ReceiveMessage': {
      const q = queueOf(ctx);
      const n = p.MaxNumberOfMessages ?? 1;
      if (!Number.isInteger(n) || n < 1 || n > 10) throw new HttpError(400, 'InvalidParameterValue', 'Value for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.');
      const out = q.messages.splice(0, n).map((m) => Object.assign({ ReceiptHandle: crypto.randomUUID(),
        MD5OfBody: crypto.createHash('md5').update(m.Body, 'utf8').digest('hex') }, m));
      return jsonSuccess(out.length ? { Messages: out } : {}, '1.0');
    }
    default:
      throw new HttpError(400, 'UnknownOperationException', `An unknown operation ${ctx.action} was requested.`, { type: 'com.amazon.coral.service#UnknownOperationException' });
  }
}

module.exports = { handle };
