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

function M.build(run, info)
  local rows, delivered, failed = {}, 0, 0
  for _, id in ipairs(info.order) do
    local o = info.outcomes[id]
    local a = o and o.account or info.accounts[id]
    local row = {
      id = id, name = a.name, state = a.state, ou_path = a.ou_path,
      status = o and o.status or "failed",
    }
    if o and o.status == "delivered" then
      delivered = delivered + 1
      row.location = o.location
      row.key = o.key
      row.report_generated_time = o.generated_time
      row.checks = o.checks
      row.sha256 = o.sha256
      row.bytes = o.bytes
      row.duration_seconds = ms(o.duration)
    else
      failed = failed + 1
      row.error = o and o.error or {code = "NoOutcome", message = "no outcome was recorded for this account"}
      row.duration_seconds = o and ms(o.duration) or nil
    end
    rows[#rows + 1] = row
  end
  local m = {
    run_id = run.id,
    started = run.started_iso,
    finished = os.date("!%Y-%m-%dT%H:%M:%SZ"),
    version = run.version,
    destination = info.destination,
    summary = {in_scope = #info.order, delivered = delivered, failed = failed},
    accounts = rows,
  }
  if info.discovery_error then m.discovery_error = info.discovery_error end
  return m, delivered, failed
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
