'use strict';
// Response builders for the three AWS protocols used here: Query (XML), JSON 1.1 and REST-XML (S3).
const { xmlEscape } = require('./util');

const QUERY_NS = {
  iam: 'https://iam.amazonaws.com/doc/2010-05-08/',
  sts: 'https://sts.amazonaws.com/doc/2011-06-15/',
  sns: 'http://sns.amazonaws.com/doc/2010-03-31/',
};

const PROTOCOL = { iam: 'query', sts: 'query', sns: 'query', organizations: 'json', s3: 'rest-xml' };

// Query protocol success: <ActionResponse xmlns><ActionResult>inner</ActionResult><ResponseMetadata>..
function querySuccess(service, action, innerXml, rid) {
  const result = innerXml === null ? '' : `<${action}Result>${innerXml}</${action}Result>`;
  const body = `<${action}Response xmlns="${QUERY_NS[service]}">\n  ${result}\n  <ResponseMetadata>\n    <RequestId>${rid}</RequestId>\n  </ResponseMetadata>\n</${action}Response>\n`;
  return { status: 200, headers: { 'Content-Type': 'text/xml' }, body };
}

function jsonSuccess(obj) {
  return { status: 200, headers: { 'Content-Type': 'application/x-amz-json-1.1' }, body: JSON.stringify(obj) };
}

// Build an error response in the shape of the service's protocol.
function errorResponse(service, status, code, message, rid, extra = {}, method = 'GET') {
  const proto = PROTOCOL[service] || 'query';
  if (proto === 'json') {
    const body = { __type: code, message: message === undefined ? undefined : message };
    // Organizations uses "Message"; the auth layer (Coral) uses "message".
    if (service === 'organizations' && !extra.lowercaseMessage) { body.Message = message; delete body.message; }
    return {
      status, errorCode: code,
      headers: { 'Content-Type': 'application/x-amz-json-1.1', 'x-amzn-ErrorType': `${code}:` },
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
};
const INTERNAL = {
  iam: [500, 'ServiceFailure', 'The request processing has failed because of an unknown error, exception or failure.'],
  sts: [500, 'InternalFailure', 'The request processing has failed because of an unknown error, exception or failure.'],
  organizations: [500, 'ServiceException', 'AWS Organizations can\'t complete your request because of an internal service error. Try again later.'],
  s3: [500, 'InternalError', 'We encountered an internal error. Please try again.'],
  sns: [500, 'InternalError', 'Internal Error'],
};

module.exports = { QUERY_NS, PROTOCOL, querySuccess, jsonSuccess, errorResponse, hostId, s3RequestId, THROTTLE, INTERNAL };
