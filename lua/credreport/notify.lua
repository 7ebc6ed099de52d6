-- Failure notifications through SNS: one message per failed account, as the system we
-- replace sends, with the run id so messages of one run can be grouped.
local core = require "credreport.core"
local patience = require "credreport.patience"

local M = {}

-- Seconds a message waits out an outage of SNS (credreport.patience): the workflow's
-- [run] discovery_timeout. A failure notification lost to a 503 is a failure nobody hears of.
M.budget = 600

local function subject(template, vars)
  local s = template:gsub("{([%w_]+)}", function(k) return tostring(vars[k] or "") end)
  s = s:gsub("[\r\n]", " ")
  return s:sub(1, 99)
end

local function region_of(settings)
  return settings.sns_topic_arn:match("^arn:[^:]+:sns:([^:]+):")
end

-- Publishes params to the topic. Returns the message id or nil, err.
local function publish(client, settings, params)
  local res, err = patience.call(function()
    return client:query("sns", "Publish", params, {region = region_of(settings)})
  end, patience.window(M.budget), {doing = "publishing to SNS"})
  if not res then return nil, err end
  return res.MessageId
end

-- Whether messages are sent at all: a topic is set and [notify] on is not "never".
function M.enabled(settings)
  return settings.sns_topic_arn ~= "" and settings.on ~= "never"
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
  return publish(client, settings, params)
end

-- Whether the topic exists and the run may see it (sns:GetTopicAttributes), checked before
-- any account. Returns true, or nil and the error.
function M.check(client, settings)
  local res, err = client:query("sns", "GetTopicAttributes", {TopicArn = settings.sns_topic_arn},
                                {region = region_of(settings)})
  if res then return true end
  if err.code == "NotFound" then err.message = "the topic does not exist: " .. tostring(err.message) end
  return nil, err
end

-- The summary of a run (with [notify] on = always).
function M.run_summary(client, settings, run, text, counts)
  return publish(client, settings, {
    TopicArn = settings.sns_topic_arn,
    Subject = subject("credreport run {run_id}: {delivered} delivered, {failed} failed",
                      {run_id = run.id, delivered = counts.delivered, failed = counts.failed}),
    Message = text,
    ["MessageAttributes.entry.1.Name"] = "run_id",
    ["MessageAttributes.entry.1.Value.DataType"] = "String",
    ["MessageAttributes.entry.1.Value.StringValue"] = run.id,
  })
end

M.MAX_LISTED = 50 -- new findings listed in one message; the rest are counted

-- One message for the new findings of a run (those of [findings] notify's severities): how
-- many of each severity, the most severe (account, user, check and subject of each), the
-- comparison's date and where the findings file and the summary page are. list: the most
-- severe new findings (findings lines); info: {count =, counts = {severity = n}, by_check =,
-- baseline =, findings =, summary =}. Returns the message id or nil, err.
function M.new_findings(client, settings, run, list, info)
  local parts, listed = {}, {}
  for _, f in ipairs(list) do listed[f.severity] = true end
  for _, s in ipairs{"critical", "high", "medium", "low", "info"} do
    local n = listed[s] and info.counts and info.counts[s] or 0
    if n > 0 then parts[#parts + 1] = ("%d %s"):format(n, s) end
  end
  local lines = {
    ("credreport run %s found %d new finding(s)%s %s."):format(run.id, info.count,
      #parts > 0 and (" (" .. table.concat(parts, ", ") .. ")") or "",
      info.baseline and ("since the runs of " .. info.baseline) or "(no earlier run to compare with)"),
    "",
  }
  local shown = math.min(#list, M.MAX_LISTED)
  for i = 1, shown do
    local f = list[i]
    local c = info.by_check and info.by_check[f.check]
    lines[#lines + 1] = ("[%s] %s (%s) %s: %s%s"):format(f.severity, f.account, f.account_name or "",
      f.user, c and c.title or f.check, f.subject and (" (" .. f.subject .. ")") or "")
  end
  if info.count > shown then lines[#lines + 1] = ("... and %d more"):format(info.count - shown) end
  lines[#lines + 1] = ""
  if info.findings then lines[#lines + 1] = "Findings: " .. info.findings end
  if info.summary then lines[#lines + 1] = "Summary page: " .. info.summary end
  lines[#lines + 1] = "Run: " .. run.id
  return publish(client, settings, {
    TopicArn = settings.sns_topic_arn,
    Subject = subject("credreport run {run_id}: {n} new finding(s)", {run_id = run.id, n = info.count}),
    Message = table.concat(lines, "\n"),
    ["MessageAttributes.entry.1.Name"] = "run_id",
    ["MessageAttributes.entry.1.Value.DataType"] = "String",
    ["MessageAttributes.entry.1.Value.StringValue"] = run.id,
    ["MessageAttributes.entry.2.Name"] = "event",
    ["MessageAttributes.entry.2.Value.DataType"] = "String",
    ["MessageAttributes.entry.2.Value.StringValue"] = "new_findings",
  })
end

-- What a run publishes as it ends: with [notify] on = always its summary, and its new
-- findings of the `severities` given ([findings] notify) in one message. ended: {text =
-- (summary.text), counts = (manifest.build's), log = (findings.log, or nil without checks),
-- files = {findings =, summary =} (locations written), severities = {...}}. A message that
-- does not go out is logged: the run's files are written, nothing else depends on it.
function M.run_ended(client, settings, run, ended)
  if settings.on == "always" then
    local sent, err = M.run_summary(client, settings, run, ended.text, ended.counts)
    if not sent then core.log("error", "SNS summary failed", {error = tostring(err)}) end
  end
  local flog = ended.log
  if not flog or #ended.severities == 0 then return end
  local new, count = flog:new_in(ended.severities)
  if count == 0 then return end
  local sent, err = M.new_findings(client, settings, run, new, {
    count = count, counts = flog.new_by_severity, by_check = flog.by_check,
    baseline = flog.baseline and flog.baseline.date, findings = ended.files.findings,
    summary = ended.files.summary})
  if not sent then core.log("error", "SNS message about new findings failed", {error = tostring(err)}) end
end

return M
