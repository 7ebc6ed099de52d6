-- Failure notifications through SNS: one message per failed account, as the system we
-- replace sends, with the run id so messages of one run can be grouped.
local M = {}

local function subject(template, vars)
  local s = template:gsub("{([%w_]+)}", function(k) return tostring(vars[k] or "") end)
  s = s:gsub("[\r\n]", " ")
  return s:sub(1, 99)
end

-- Publishes the failure of one account. Returns the message id or nil, err.
function M.account_failed(client, settings, run, account, err)
  local text = table.concat({
    ("credreport could not deliver the IAM credential report of account %s (%s)."):format(
      account.id, account.name ~= "" and account.name or "no name"),
    "",
    "Error: " .. tostring(err.code or "Error") .. ": " .. tostring(err.message or ""),
    "Account: " .. account.id,
    "OU path: " .. tostring(account.ou_path or ""),
    "Run: " .. run.id,
  }, "\n")
  local params = {
    TopicArn = settings.sns_topic_arn,
    Subject = subject(settings.subject or "credreport: account {account} failed",
                      {account = account.id, run_id = run.id}),
    Message = text,
    ["MessageAttributes.entry.1.Name"] = "run_id",
    ["MessageAttributes.entry.1.Value.DataType"] = "String",
    ["MessageAttributes.entry.1.Value.StringValue"] = run.id,
    ["MessageAttributes.entry.2.Name"] = "account_id",
    ["MessageAttributes.entry.2.Value.DataType"] = "String",
    ["MessageAttributes.entry.2.Value.StringValue"] = account.id,
    ["MessageAttributes.entry.3.Name"] = "error_code",
    ["MessageAttributes.entry.3.Value.DataType"] = "String",
    ["MessageAttributes.entry.3.Value.StringValue"] = tostring(err.code or "Error"),
  }
  local region = settings.sns_topic_arn:match("^arn:[^:]+:sns:([^:]+):")
  local res, perr = client:query("sns", "Publish", params, {region = region})
  if not res then return nil, perr end
  return res.MessageId
end

-- Whether the topic exists and the run may see it (sns:GetTopicAttributes), checked before
-- any account. Returns true, or nil and the error.
function M.check(client, settings)
  local region = settings.sns_topic_arn:match("^arn:[^:]+:sns:([^:]+):")
  local res, err = client:query("sns", "GetTopicAttributes", {TopicArn = settings.sns_topic_arn},
                                {region = region})
  if res then return true end
  if err.code == "NotFound" then err.message = "the topic does not exist: " .. tostring(err.message) end
  return nil, err
end

-- The summary of a run (with [notify] on = always).
function M.run_summary(client, settings, run, text, counts)
  local region = settings.sns_topic_arn:match("^arn:[^:]+:sns:([^:]+):")
  local res, err = client:query("sns", "Publish", {
    TopicArn = settings.sns_topic_arn,
    Subject = subject("credreport run {run_id}: {delivered} delivered, {failed} failed",
                      {run_id = run.id, delivered = counts.delivered, failed = counts.failed}),
    Message = text,
    ["MessageAttributes.entry.1.Name"] = "run_id",
    ["MessageAttributes.entry.1.Value.DataType"] = "String",
    ["MessageAttributes.entry.1.Value.StringValue"] = run.id,
  }, {region = region})
  if not res then return nil, err end
  return res.MessageId
end

return M
