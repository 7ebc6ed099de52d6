-- The credential report of one account: ask IAM to generate it, wait while it is not
-- COMPLETE, then fetch and decode it. How long and how often to wait is the caller's policy.
local core = require "credreport.core"

local M = {}

-- A polling policy from the [report] settings: retry_limit checks at most, waiting
-- wait_interval seconds, each wait `wait_growth` times the previous, never above max_wait.
function M.policy(settings)
  local retry_on = {}
  for _, code in ipairs(settings.retry_on or {}) do retry_on[code] = true end
  return {
    retry_limit = settings.retry_limit or 45,
    wait = function(check)
      local w = (settings.wait_interval or 60) * (settings.wait_growth or 1) ^ (check - 1)
      return math.min(w, settings.max_wait or w)
    end,
    -- Errors that mean "not yet": the configured codes, and AWS errors the core already
    -- retried without success (throttling, 5xx) that deserve another round later. Not
    -- getting into the account (credentials) is not a report that is late: the account
    -- fails, and may be tried again as a whole.
    waits_on = function(err)
      return type(err) == "table" and not err.credentials and
             (retry_on[err.code] or err.retryable == true)
    end,
  }
end

-- Returns {csv=, generated_time=, checks=} or nil, err (err.code "ReportNotReady" when the
-- report was not COMPLETE within the policy's checks). fields, when given, go with the debug
-- lines that trace the polling (e.g. {account = id}).
function M.fetch(client, policy, fields)
  local checks = 0
  local last_err
  local started = core.monotonic()
  while true do
    checks = checks + 1
    local gen, gen_err = client:query("iam", "GenerateCredentialReport")
    local err = not gen and gen_err or nil
    if gen and gen.State == "COMPLETE" then
      local rep, get_err = client:query("iam", "GetCredentialReport")
      if rep then
        local csv, derr = core.base64_decode(rep.Content or "")
        if not csv then return nil, {code = "MalformedReport", message = derr} end
        return {csv = csv, generated_time = rep.GeneratedTime, checks = checks}
      end
      err = get_err -- ReportInProgress, ReportExpired...: generate again after a wait
    end
    if err then
      if not policy.waits_on(err) then return nil, err end
      last_err = err
    end
    if checks >= policy.retry_limit then
      local detail = last_err and ("; last error " .. tostring(last_err.code)) or ""
      return nil, {code = "ReportNotReady",
                   message = ("credential report not COMPLETE after %d checks over %.0f s (retry_limit %d%s)"):format(
                     checks, core.monotonic() - started, policy.retry_limit, detail)}
    end
    local wait = policy.wait(checks)
    if fields then
      core.log("debug", "report not ready", {account = fields.account, check = checks,
               state = gen and gen.State or (err and err.code), next_check_in = wait})
    end
    core.sleep(wait)
  end
end

-- Parses the CSV into rows keyed by column name (columns differ between report versions, so
-- read them by name, never by position).
function M.rows(csv)
  local rows, header = {}, nil
  for line in csv:gmatch("[^\r\n]+") do
    local fields, pos = {}, 1
    while pos <= #line + 1 do
      local value, next_pos
      if line:sub(pos, pos) == '"' then
        local buf, i = {}, pos + 1
        while true do
          local q = line:find('"', i, true)
          if not q then buf[#buf + 1] = line:sub(i); i = #line + 1; break end
          buf[#buf + 1] = line:sub(i, q - 1)
          if line:sub(q + 1, q + 1) == '"' then buf[#buf + 1] = '"'; i = q + 2 else i = q + 1; break end
        end
        value, next_pos = table.concat(buf), i + 1
      else
        local comma = line:find(",", pos, true) or (#line + 1)
        value, next_pos = line:sub(pos, comma - 1), comma + 1
      end
      fields[#fields + 1] = value
      pos = next_pos
    end
    if not header then
      header = fields
    else
      local row = {}
      for i, name in ipairs(header) do row[name] = fields[i] end
      rows[#rows + 1] = row
    end
  end
  return rows
end

return M
