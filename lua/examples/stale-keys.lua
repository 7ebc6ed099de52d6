-- The bundled organization-wide workflow plus a report hook: every active IAM access key
-- not rotated for more than MAX_AGE days (default 90) is logged as a warning, and the
-- findings of the whole run are written beside the manifest as
-- {date}/stale-keys-{run_id}.json (same destination: folder or S3). Reports are delivered
-- as usual. With --resume, accounts delivered earlier the same day are not read again, so
-- their keys are not in that run's findings.
--   credreport run lua/examples/stale-keys.lua -c config.ini [MAX_AGE]
local core = require "credreport.core"
local cjson = require "cjson"
local run = require "credreport.run"
local report = require "credreport.report"
local delivery = require "credreport.delivery"
local workflow = require "credreport.workflow"

local max_age_days = tonumber(arg[1]) or 90

-- Worker thread, once per account, before delivery.
local function find_stale_keys(account, csv, ctx)
  local found = {}
  for _, row in ipairs(assert(report.rows(csv))) do
    for n = 1, 2 do
      local col = "access_key_" .. n
      local rotated = report.epoch(row[col .. "_last_rotated"]) -- nil for "N/A"
      if row[col .. "_active"] == "true" and rotated then
        local age = (ctx.run.started - rotated) // 86400
        if age > max_age_days then
          found[#found + 1] = {user = row.user, arn = row.arn, key = n, age_days = age,
                               last_rotated = row[col .. "_last_rotated"],
                               last_used = row[col .. "_last_used_date"]}
          core.log("warn", "stale access key", {account = account.id, user = row.user,
                                                key = n, age_days = age})
        end
      end
    end
  end
  -- The account record travels back to the main thread inside the outcome (as JSON), so
  -- this is how a worker hands data to finish().
  account.stale_keys = found
  -- Returning false would keep the report back (status "skipped"); nil delivers as usual.
end

local W = workflow.new{on_report = find_stale_keys}

-- Main thread: gather the findings as outcomes arrive, keep the default logging.
local findings = {}
local default_on_outcome = W.on_outcome
function W:on_outcome(o)
  default_on_outcome(self, o)
  for _, k in ipairs(o.account.stale_keys or {}) do
    k.account = o.account.id
    k.account_name = o.account.name
    k.key = math.tointeger(k.key)       -- numbers come back from JSON as floats
    k.age_days = math.tointeger(k.age_days)
    findings[#findings + 1] = k
  end
end

-- Main thread, at the end: write the findings, then the usual manifest and summary.
local default_finish = W.finish
function W:finish(info)
  table.sort(findings, function(a, b)
    if a.account ~= b.account then return a.account < b.account end
    if a.user ~= b.user then return a.user < b.user end
    return a.key < b.key
  end)
  local body = #findings > 0 and cjson.encode(findings) or "[]"
  local key = ("%s/stale-keys-%s.json"):format(run.date, run.id)
  local location, err = delivery.put(self:client(), self.dest, self.output, key, body, "application/json")
  if location then
    core.log("info", "stale keys written", {count = #findings, location = location})
  else
    core.log("error", "cannot write the stale keys", {error = tostring(err.message or err)})
  end
  return default_finish(self, info)
end

return W
