-- The run manifest: every account in scope with its outcome, so that none can go missing
-- silently. Written beside the reports as {date}/manifest-{run_id}.json.
local cjson = require "cjson"

-- lua-cjson 2.1 writes every empty table as {}; an empty account list must stay [].
local EMPTY_LIST = "\0credreport-empty-list\0"

local M = {}

function M.key(run)
  return ("%s/manifest-%s.json"):format(run.date, run.id)
end

-- accounts: ids in the order they were found; outcomes: id -> outcome.
local function ms(seconds)
  return seconds and math.floor(seconds * 1000 + 0.5) / 1000 or nil
end

-- info: order (ids in the order found), accounts (id -> account), outcomes (id -> outcome),
-- and discovery_error, interrupted, destination, shard when they apply.
function M.build(run, info)
  local rows = {}
  local counts = {delivered = 0, failed = 0, skipped = 0, resumed = 0}
  for _, id in ipairs(info.order) do
    local o = info.outcomes[id]
    local a = o and o.account or info.accounts[id]
    local row = {id = id, name = a.name, state = a.state, ou_path = a.ou_path,
                 status = o and o.status or "failed", duration_seconds = o and ms(o.duration) or nil}
    if row.status == "delivered" or row.status == "skipped" then
      counts[row.status] = counts[row.status] + 1
      row.location, row.key, row.reason = o.location, o.key, o.reason
      row.report_generated_time, row.sha256, row.bytes = o.generated_time, o.sha256, o.bytes
      row.checks = math.tointeger(o.checks) or o.checks
      if o.resumed_from then
        row.resumed_from = o.resumed_from
        counts.resumed = counts.resumed + 1
      end
    else
      counts.failed = counts.failed + 1
      if o then
        row.error = o.error
        row.notification_error = o.notification_error
      elseif info.interrupted then
        row.error = {code = "Interrupted", message = "the run was stopped by " .. info.interrupted.signal ..
                     " before this account finished"}
      else
        row.error = {code = "NoOutcome", message = "no outcome was recorded for this account"}
      end
    end
    rows[#rows + 1] = row
  end
  local m = {
    run_id = run.id,
    started = run.started_iso,
    finished = os.date("!%Y-%m-%dT%H:%M:%SZ"),
    version = run.version,
    destination = info.destination,
    shard = info.shard and ("%d/%d"):format(info.shard.k, info.shard.n) or nil,
    summary = {in_scope = #info.order, delivered = counts.delivered, failed = counts.failed,
               skipped = counts.skipped},
    accounts = rows,
  }
  if info.discovery_error then m.discovery_error = info.discovery_error end
  if info.interrupted then m.interrupted_by = info.interrupted.signal end
  return m, counts
end

function M.encode(m)
  if #m.accounts == 0 then
    local copy = {}
    for k, v in pairs(m) do copy[k] = v end
    copy.accounts = EMPTY_LIST
    return (cjson.encode(copy):gsub('"\\u0000credreport%-empty%-list\\u0000"', "[]"))
  end
  return cjson.encode(m)
end

return M
