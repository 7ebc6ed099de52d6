-- The glue between the C scheduler and a workflow. coordinate() runs on the main thread:
-- discovery, then one outcome per account in scope. process() runs on worker threads, one
-- task per account. Accounts and outcomes cross threads as JSON text.
local core = require "credreport.core"
local cjson = require "cjson"

-- Workers collect in full each time their heap grew by half since the last collection. In
-- generational mode Lua decides at each step between a minor and a major collection, and
-- takes a major one once the heap grew more than the major multiplier since the last major.
-- A step comes after the minor multiplier's share of the heap was allocated, here half (50),
-- more than the major multiplier's fifth (20), so every step is a major one: at 10,000
-- accounts (bench/run-org, counted with uprobes) 201-216 major collections and 1 minor.
-- Settings that let minor collections run (20 and 40: 87-93 major, 303-319 minor) took
-- 10.4-11.7% of a worker's CPU instead of 13.0-14.8% (perf, three runs against six), for
-- 1.5 MiB more peak RSS on average (56.2-61.5 MiB against 54.7-59.2, six and seven runs),
-- where the 64 MiB target leaves the least room. The growth between collections trades CPU
-- for memory: after a fifth, the collector took 21.5% of a worker's CPU; after the whole
-- heap's size 9.3%, but peak RSS rose where reports are large (bench/findings-cpu, 1% of
-- accounts with 1,000-4,000 users: 126.7 MiB instead of 110.7; after half, 111.1).
-- coordinate() sets the main thread's own.
collectgarbage("generational", 50, 20)

local M = {}

-- Outcomes cross to the main thread as JSON, except the large texts some carry: the packed
-- findings' lines and keys, and the consolidated CSV's chunk. Thousands of quotes in them
-- would be escaped and unescaped again for nothing, so they follow the JSON as they are, after
-- a line break (which JSON text never holds), their lengths in outcome[RAW_LENGTHS].
local RAW = {{"findings", "lines"}, {"findings", "keys"}, {nil, "consolidated"}}
local RAW_LENGTHS = "credreport.raw_lengths" -- a key no workflow's outcome uses

local function holder(o, name)
  if not name then return o end
  local t = o[name]
  return type(t) == "table" and t or nil
end

-- The JSON of an outcome, its large texts after it. Takes them out of `o`, which is sent.
local function encode_outcome(o)
  local parts, lengths = {"", "\n"}, {}
  for i, r in ipairs(RAW) do
    local t = holder(o, r[1])
    local v = t and t[r[2]]
    lengths[i] = type(v) == "string" and #v
    if lengths[i] then
      parts[#parts + 1] = v
      t[r[2]] = nil
    end
  end
  if #parts == 2 then return cjson.encode(o) end
  o[RAW_LENGTHS] = lengths
  parts[1] = cjson.encode(o)
  return table.concat(parts) -- one copy of the texts: a large account's are megabytes
end

local function decode_outcome(msg)
  local nl = msg:find("\n", 1, true)
  if not nl then return cjson.decode(msg) end
  local o = cjson.decode(msg:sub(1, nl - 1))
  local at = nl + 1
  for i, r in ipairs(RAW) do
    local len = o[RAW_LENGTHS][i]
    if len then
      holder(o, r[1])[r[2]] = msg:sub(at, at + len - 1)
      at = at + len
    end
  end
  o[RAW_LENGTHS] = nil
  return o
end
M.encode_outcome, M.decode_outcome = encode_outcome, decode_outcome

local function as_error(e)
  if type(e) == "table" then
    return {code = tostring(e.code or "Error"), message = tostring(e.message or "")}
  end
  return {code = "ScriptError", message = tostring(e)}
end

-- Runs discovery; calls found(account) once per account id in scope. scope records what
-- was left out: scope.out[reason] = count, and scope.seen[id] = true or the reason, so that
-- accounts asked for by id can be told apart: processed, out of scope, or not found. Returns
-- nil or the error.
local function discover(W, found, scope)
  local seen = {}
  scope.out, scope.seen = scope.out or {}, seen
  local ok, err = pcall(W.discover, W, function(a)
    if seen[a.id] == true then return end
    seen[a.id] = true
    found(a)
  end, function(a, why)
    if seen[a.id] then return end
    why = tostring(why or "out of scope")
    seen[a.id] = why
    scope.out[why] = (scope.out[why] or 0) + 1
  end)
  if not ok then return as_error(err) end
end

-- The ids asked for ([accounts] include, --account) that were not processed, with why.
local function requested_missing(W, scope)
  local missing = {}
  for id in pairs(W.scope and W.scope.include or {}) do
    local seen = scope.seen[id]
    if seen ~= true then
      missing[#missing + 1] = {id = id, reason = seen or "not found in the organization (or not under the OUs in scope)"}
    end
  end
  table.sort(missing, function(x, y) return x.id < y.id end)
  return missing
end

-- Runs the workflow's preflight, if it has one. Returns true, or false with the failure
-- reported on stderr.
local function preflight(W)
  if not W.preflight then return true end
  local ok, res, err = pcall(W.preflight, W)
  if ok and res then return true end
  err = ok and err or {check = "preflight", resource = "the workflow", code = "ScriptError", message = tostring(res)}
  core.log("error", "preflight failed", {check = err.check, resource = err.resource, code = err.code,
                                          error = err.message})
  io.stderr:write(core.printable(("credreport: cannot start: %s: %s: %s: %s"):format(
    tostring(err.resource), tostring(err.check), tostring(err.code), tostring(err.message))), "\n")
  return false
end

local function clock(seconds)
  seconds = math.floor(seconds + 0.5)
  return ("%d:%02d"):format(seconds // 60, seconds % 60)
end

-- The live progress line (drawn only on a terminal).
local function progress(info, started, listing)
  local done = info.done
  local elapsed = core.monotonic() - started
  local rate = elapsed > 0 and done / elapsed or 0
  local total = #info.order
  local eta = (not listing and rate > 0) and clock((total - done) / rate) or "?"
  core.progress(("%d/%d%s done, %d failed, %d in flight, %.1f/s, ETA %s"):format(
    done, total, listing and "+" or "", info.failed, core.in_flight(), rate, eta))
end

local function not_started(account, sig_name)
  return {account = account, status = "failed",
          error = {code = "Interrupted", message = "not started: the run was stopped by " .. sig_name}}
end

function M.coordinate(W)
  -- The main thread's old objects are the run's records, kept to the end: a major collection
  -- there frees next to nothing. At Lua's default of 100% growth, against 30%, the main
  -- thread of a 10,000-account run spends 9% less CPU (its collector's share: 21% -> 12%)
  -- with the same peak RSS, and 30,000 accounts too (bench/run-org). A second day, which
  -- reads the day before's findings as it goes: 52.5 against 50.6 MiB, 3% less CPU.
  collectgarbage("generational", 20, 100)
  local info = {order = {}, accounts = {}, outcomes = {}, done = 0, failed = 0}
  if not preflight(W) then return core.exit.cannot_start end
  local started = core.monotonic()
  local scope = {}
  local run = require "credreport.run"
  core.log("info", "run started", {event = "run_started", version = run.version,
           destination = W.dest and require("credreport.delivery").describe(W.dest) or nil})
  if W.start then
    local ok, err = pcall(W.start, W)
    if not ok then core.log("error", "start failed", {error = tostring(err)}) end
  end
  local waiting = 0
  local function record(o)
    local id = o.account.id
    info.done = info.done + 1
    if o.status == "failed" then info.failed = info.failed + 1 end
    if W.on_outcome then
      local ok, err = pcall(W.on_outcome, W, o)
      if not ok then core.log("error", "on_outcome failed", {error = tostring(err)}) end
    end
    -- Kept until the end for the manifest: a large organization's outcomes must fit in
    -- memory, so each keeps the slim account record, not its own copy.
    o.account = info.accounts[id]
    info.outcomes[id] = o
  end
  -- Discovery runs as a task of its own, so that a stop request reaches the run even while a
  -- listing call is stuck: after the grace period the manifest is written with what is known.
  local listing = true
  core.spawn(function()
    info.discovery_error = discover(W, function(a)
      info.order[#info.order + 1] = a.id
      info.accounts[a.id] = {id = a.id, name = a.name, state = a.state, ou_path = a.ou_path}
      if a.error then
        record({account = a, status = "failed", error = a.error})
      elseif a.resumed then
        record({account = a, status = "delivered", resumed_from = a.resumed.run_id,
                location = a.resumed.location, key = a.resumed.key,
                generated_time = a.resumed.generated_time, sha256 = a.resumed.sha256,
                bytes = a.resumed.bytes})
      elseif core.post_account(cjson.encode(a)) then
        waiting = waiting + 1
      else
        local _, name = core.stopping()
        record(not_started(a, name))
      end
      progress(info, started, listing)
    end, scope)
    listing = false
    info.requested_missing = requested_missing(W, scope)
    for _, r in ipairs(info.requested_missing) do
      core.log("warn", "asked for but not processed", {account = r.id, reason = r.reason})
    end
    if info.discovery_error then
      core.log("error", "cannot list the accounts in scope", info.discovery_error)
    end
    core.close_accounts() -- answered by core.next_outcome() as nil, "discovered"
  end)
  while listing or waiting > 0 do
    local json, why = core.next_outcome()
    if json then
      waiting = waiting - 1
      record(decode_outcome(json))
      progress(info, started, listing)
    elseif why == "stopping" then
      local _, name = core.stopping()
      core.log("warn", "stopping: no new account starts", {signal = name, in_flight = core.in_flight()})
    elseif why == "interrupted" then
      if listing then
        info.discovery_error = {code = "Interrupted",
                                message = "the organization was not listed completely: the run was stopped"}
      end
      break -- the grace period is over
    end
  end
  core.progress(nil)
  local sig, name = core.stopping()
  if sig then info.interrupted = {signal = name, status = core.exit.signal_base + sig} end
  local status = W:finish(info)
  core.log("info", "run finished", {event = "run_finished", status = math.tointeger(status) or status,
           in_scope = #info.order, done = info.done, failed = info.failed,
           seconds = math.floor((core.monotonic() - started) * 10 + 0.5) / 10})
  return status
end

function M.process(W, json)
  local account = cjson.decode(json)
  json = nil -- an account waiting for its report keeps as little as possible
  local started = core.monotonic()
  local ok, outcome = xpcall(W.process, debug.traceback, W, account)
  if W.end_turn then
    local ended, err = pcall(W.end_turn, W, account)
    if not ended then core.log("error", "workflow error", {account = account.id, error = tostring(err)}) end
  end
  if not ok then
    core.log("error", "workflow error", {account = account.id, error = tostring(outcome)})
    outcome = {status = "failed", error = as_error(outcome)}
  elseif type(outcome) ~= "table" or
         (outcome.status ~= "delivered" and outcome.status ~= "failed" and outcome.status ~= "skipped") then
    outcome = {status = "failed", error = {code = "ScriptError",
               message = "process() must return {status = \"delivered\"|\"skipped\"|\"failed\", ...}"}}
  end
  outcome.account = account
  outcome.duration = core.monotonic() - started
  core.post_outcome(encode_outcome(outcome))
end

-- The workflow's prepare for an account still waiting its turn; then the account, as prepare
-- left it, is handed back to start in turn, whatever prepare did. Its errors are met again,
-- and reported, then.
function M.prepare(W, json)
  local ok, paid = pcall(function()
    local account = cjson.decode(json)
    local started = W:prepare(account)
    json = cjson.encode(account)
    return started == true
  end)
  if not ok then core.log("debug", "prepare failed", {error = tostring(paid)}) end
  core.prepared(json, ok and paid)
end

-- A worker thread that could not load the workflow still answers for each account.
function M.fail(message, json)
  local account = cjson.decode(json)
  core.post_outcome(cjson.encode{account = account, status = "failed",
                                 error = {code = "ScriptError", message = message}})
end

-- Accounts still queued when the run is stopped are answered for, not dropped.
function M.not_started(sig, json)
  local _, name = core.stopping()
  core.post_outcome(cjson.encode(not_started(cjson.decode(json), name or ("signal " .. sig))))
end

local function collect(W)
  local list, scope = {}, {}
  local err = discover(W, function(a) list[#list + 1] = a end, scope)
  table.sort(list, function(x, y)
    if x.ou_path ~= y.ou_path then return x.ou_path < y.ou_path end
    return x.id < y.id
  end)
  return list, err, scope
end

-- "3 state SUSPENDED, 1 excluded", most first.
local function out_of_scope_text(scope)
  local parts = {}
  for why, n in pairs(scope.out or {}) do parts[#parts + 1] = {why = why, n = n} end
  table.sort(parts, function(x, y) return x.n > y.n or (x.n == y.n and x.why < y.why) end)
  for i, p in ipairs(parts) do parts[i] = ("%d %s"):format(p.n, p.why) end
  return #parts > 0 and table.concat(parts, ", ") or "none"
end

-- The exit status of a listing, its error reported on stderr.
local function listing_status(list, err)
  io.stdout:flush()
  if err then
    io.stderr:write(("credreport: cannot list the accounts: %s: %s\n"):format(
      core.printable(tostring(err.code)), core.printable(tostring(err.message))))
    return core.exit.cannot_start
  end
  return #list > 0 and core.exit.delivered or core.exit.nothing_in_scope
end

local function csv_field(v)
  v = tostring(v or "")
  if v:find('[",\r\n]') then v = '"' .. v:gsub('"', '""') .. '"' end
  return v
end

-- `credreport accounts`: the accounts in scope, touching none of them, as a table (with a
-- footer on what was left out and why), JSON or CSV. Nothing goes to stdout when the
-- organization cannot be listed.
function M.list(W, format)
  local list, err, scope = collect(W)
  if err then return listing_status(list, err) end
  local missing = requested_missing(W, scope)
  local out = {}
  if format == "json" then
    local accounts = {}
    for i, a in ipairs(list) do
      accounts[i] = {id = a.id, name = a.name, state = a.state, ou_path = a.ou_path, ou_id = a.ou_id,
                     email = a.email, error = a.error}
    end
    local outside = {}
    for why, n in pairs(scope.out) do outside[#outside + 1] = {reason = why, accounts = n} end
    table.sort(outside, function(x, y) return x.reason < y.reason end)
    -- lua-cjson writes an empty table as {}: lists are encoded one by one.
    local function list_json(t) return #t > 0 and cjson.encode(t) or "[]" end
    out[1] = ('{"accounts": %s, "out_of_scope": %s, "requested_not_processed": %s}\n'):format(
      list_json(accounts), list_json(outside), list_json(missing)):gsub("\\/", "/")
  elseif format == "csv" then
    out[1] = "id,name,state,ou_path\n"
    for _, a in ipairs(list) do
      out[#out + 1] = table.concat({csv_field(a.id), csv_field(a.name), csv_field(a.state),
                                    csv_field(a.ou_path)}, ",") .. "\n"
    end
  else
    local rows, name_w = {}, 4
    for i, a in ipairs(list) do
      rows[i] = {core.printable(a.id), core.printable(a.name), core.printable(a.state), core.printable(a.ou_path)}
      name_w = math.max(name_w, #rows[i][2])
    end
    local fmt = "%-12s  %-" .. name_w .. "s  %-15s  %s\n"
    out[1] = fmt:format("ID", "NAME", "STATE", "OU PATH")
    for _, r in ipairs(rows) do out[#out + 1] = fmt:format(r[1], r[2], r[3], r[4]) end
    out[#out + 1] = ("%d account(s) in scope; out of scope: %s\n"):format(#list, out_of_scope_text(scope))
  end
  io.stdout:write(table.concat(out))
  for _, r in ipairs(missing) do
    io.stderr:write(core.printable(("credreport: asked for but not in scope: %s (%s)"):format(r.id, r.reason)), "\n")
  end
  if #missing > 0 and #list > 0 then
    io.stdout:flush()
    return core.exit.accounts_failed
  end
  return listing_status(list, nil)
end

-- `credreport run --dry-run`: the same checks as a run (credentials, destination, topic),
-- then what it would do, without entering any account.
function M.dry_run(W)
  if not preflight(W) then return core.exit.cannot_start end
  local list, err, scope = collect(W)
  local resumed = 0
  io.stdout:write(core.printable("destination: " .. (W.dest and require("credreport.delivery").describe(W.dest) or "?")), "\n")
  for _, a in ipairs(list) do
    if a.resumed then resumed = resumed + 1 end
    local how = a.error and ("fails: " .. tostring(a.error.message))
      or a.resumed and ("already delivered by " .. a.resumed.run_id)
      or a.own_credentials and "own credentials" or a.role_arn or "?"
    local key = a.error and "(not processed)" or W.key_for and W:key_for(a) or "?"
    io.stdout:write(core.printable(("%s  %-24s  %s  -> %s"):format(a.id, how, a.ou_path, key)), "\n")
  end
  io.stdout:write(("%d account(s) in scope, %d to collect, %d already delivered today; out of "
                   .. "scope: %s; nothing was changed\n"):format(#list, #list - resumed, resumed,
                   out_of_scope_text(scope)))
  local missing = requested_missing(W, scope)
  for _, r in ipairs(missing) do
    io.stderr:write(core.printable(("credreport: asked for but not in scope: %s (%s)"):format(r.id, r.reason)), "\n")
  end
  if not err and #missing > 0 and #list > 0 then return core.exit.accounts_failed end
  return listing_status(list, err)
end

return M
