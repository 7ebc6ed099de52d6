'use strict';
// Response builders for the AWS protocols used here: Query (XML), JSON 1.0/1.1, REST-JSON and
// REST-XML (S3).
const { xmlEscape } = require('./util');

const QUERY_NS = {
  iam: 'https://iam.amazonaws.com/doc/2010-05-08/',
  sts: 'https://sts.amazonaws.com/doc/2011-06-15/',
  sns: 'http://sns.amazonaws.com/doc/2010-03-31/',
};

const PROTOCOL = { iam: 'query', sts: 'query', sns: 'query', organizations: 'json', sqs: 'json', s3: 'rest-xml',
  account: 'rest-json', securityhub: 'rest-json' };
// The JSON protocols' version (Content-Type application/x-amz-json-<v>) and X-Amz-Target prefix.
const JSON_VERSION = { organizations: '1.1', sqs: '1.0' };
const JSON_TARGET_PREFIX = { organizations: 'AWSOrganizationsV20161128.', sqs: 'AmazonSQS.' };

// Query protocol success: <ActionResponse xmlns><ActionResult>inner</ActionResult><ResponseMetadata>..
function querySuccess(service, action, innerXml, rid) {
  const result = innerXml === null ? '' : `<${action}Result>${innerXml}</${action}Result>`;
  const body = `<${action}Response xmlns="${QUERY_NS[service]}">\n  ${result}\n  <ResponseMetadata>\n    <RequestId>${rid}</RequestId>\n  </ResponseMetadata>\n</${action}Response>\n`;
  return { status: 200, headers: { 'Content-Type': 'text/xml' }, body };
}

function jsonSuccess(obj, version = '1.1') {
  return { status: 200, headers: { 'Content-Type': `application/x-amz-json-${version}` }, body: JSON.stringify(obj) };
}

// REST-JSON success: the object as JSON, or (null) an empty body.
function restJsonSuccess(obj) {
  if (obj === null) return { status: 200, headers: {}, body: '' };
  return { status: 200, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(obj) };
}

// Build an error response in the shape of the service's protocol.
function errorResponse(service, status, code, message, rid, extra = {}, method = 'GET') {
  const proto = PROTOCOL[service] || 'query';
  if (proto === 'json') {
    const body = { __type: extra.type || code, message: message === undefined ? undefined : message };
    // Organizations uses "Message"; the auth layer (Coral) uses "message".
    if (service === 'organizations' && !extra.lowercaseMessage) { body.Message = message; delete body.message; }
    return {
      status, errorCode: code,
      headers: Object.assign({ 'Content-Type': `application/x-amz-json-${JSON_VERSION[service]}`, 'x-amzn-ErrorType': `${code}:` },
        extra.headers || {}),
      body: JSON.stringify(body),
    };
  }
  if (proto === 'rest-json') {
    // Security Hub names the fields Code and Message; Account Management only message.
    const body = service === 'securityhub' && !extra.lowercaseMessage ? { Code: code, Message: message } : { message };
    return {
      status, errorCode: code,
      headers: { 'Content-Type': 'application/json', 'x-amzn-ErrorType': code },
      body: JSON.stringify(body),
    };
  }
  if (proto === 'rest-xml') {
    let fields = '';
    for (const [k, v] of Object.entries(extra.fields || {})) fields += `<${k}>${xmlEscape(v)}</${k}>`;
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message>${fields}<RequestId>${s3RequestId(rid)}</RequestId><HostId>${hostId(rid)}</HostId></Error>`;
    return {
      status, errorCode: code,
      headers: Object.assign({ 'Content-Type': 'application/xml' }, extra.headers || {}),
      body: method === 'HEAD' ? '' : body,
    };
  }
  const type = status >= 500 ? 'Receiver' : 'Sender';
  const body = `<ErrorResponse xmlns="${QUERY_NS[service] || QUERY_NS.sts}">\n  <Error>\n    <Type>${type}</Type>\n    <Code>${xmlEscape(code)}</Code>\n    <Message>${xmlEscape(message)}</Message>\n  </Error>\n  <RequestId>${rid}</RequestId>\n</ErrorResponse>\n`;
  return { status, errorCode: code, headers: { 'Content-Type': 'text/xml' }, body };
}

// S3-style request id (16 upper-case hex digits) derived from the emulator's request UUID.
function s3RequestId(rid) {
  return rid.replace(/-/g, '').slice(0, 16).toUpperCase();
}

function hostId(rid) {
  return Buffer.from(rid).toString('base64');
}

// Each service's real throttling and internal-error answers.
const THROTTLE = {
  iam: [400, 'Throttling', 'Rate exceeded'],
  sts: [400, 'Throttling', 'Rate exceeded'],
  organizations: [400, 'TooManyRequestsException', 'AWS Organizations can\'t complete your request because another request is already in progress. Try again later.'],
  s3: [503, 'SlowDown', 'Please reduce your request rate.'],
  sns: [429, 'Throttled', 'Rate exceeded'],
  sqs: [400, 'RequestThrottled', 'Rate exceeded'],
  account: [429, 'TooManyRequestsException', 'Rate exceeded'],
  securityhub: [429, 'TooManyRequestsException', 'Rate exceeded'],
};
const INTERNAL = {
  iam: [500, 'ServiceFailure', 'The request processing has failed because of an unknown error, exception or failure.'],
  sts: [500, 'InternalFailure', 'The request processing has failed because of an unknown error, exception or failure.'],
  organizations: [500, 'ServiceException', 'AWS Organizations can\'t complete your request because of an internal service error. Try again later.'],
  s3: [500, 'InternalError', 'We encountered an internal error. Please try again.'],
  sns: [500, 'InternalError', 'Internal Error'],
  sqs: [500, 'InternalError', 'We encountered an internal error. Please try again.'],
  account: [500, 'InternalServerException', 'The operation failed because of an error internal to AWS.'],
  securityhub: [500, 'InternalException', 'Internal service failure.'],
};

module.exports = { QUERY_NS, PROTOCOL, JSON_VERSION, JSON_TARGET_PREFIX, querySuccess, jsonSuccess, restJsonSuccess,
  errorResponse, hostId, s3RequestId, THROTTLE, INTERNAL };
