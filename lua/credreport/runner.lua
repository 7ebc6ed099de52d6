-- The glue between the C scheduler and a workflow. coordinate() runs on the main thread:
-- discovery, then one outcome per account in scope. process() runs on worker threads, one
-- task per account. Accounts and outcomes cross threads as JSON text.
local core = require "credreport.core"
local cjson = require "cjson"

-- Workflow runs allocate mostly short-lived objects (a report's rows, findings, request
-- tables) while thousands of accounts wait in suspended tasks: generational collection
-- leaves that large, old heap alone instead of marking it in every cycle (bench/findings-cpu).
collectgarbage("generational")

local M = {}

local function as_error(e)
  if type(e) == "table" then
    return {code = tostring(e.code or "Error"), message = tostring(e.message or "")}
  end
  return {code = "ScriptError", message = tostring(e)}
end

-- Runs discovery; calls found(account) once per account id. Returns nil or the error.
local function discover(W, found)
  local seen = {}
  local ok, err = pcall(W.discover, W, function(a)
    if seen[a.id] then return end
    seen[a.id] = true
    found(a)
  end)
  if not ok then return as_error(err) end
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
  local info = {order = {}, accounts = {}, outcomes = {}, done = 0, failed = 0}
  local started = core.monotonic()
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
  local listing = true
  info.discovery_error = discover(W, function(a)
    info.order[#info.order + 1] = a.id
    info.accounts[a.id] = {id = a.id, name = a.name, state = a.state, ou_path = a.ou_path}
    if a.error then
      record({account = a, status = "failed", error = a.error})
    elseif a.resumed then
      record({account = a, status = "delivered", resumed_from = a.resumed.run_id,
              location = a.resumed.location, key = a.resumed.key,
              generated_time = a.resumed.generated_time, sha256 = a.resumed.sha256})
    elseif core.post_account(cjson.encode(a)) then
      waiting = waiting + 1
    else
      local _, name = core.stopping()
      record(not_started(a, name))
    end
    progress(info, started, listing)
  end)
  listing = false
  core.close_accounts()
  if info.discovery_error then
    core.log("error", "cannot list the accounts in scope", info.discovery_error)
  end
  while waiting > 0 do
    local json, why = core.next_outcome()
    if json then
      waiting = waiting - 1
      record(cjson.decode(json))
      progress(info, started, false)
    elseif why == "stopping" then
      local _, name = core.stopping()
      core.log("warn", "stopping: no new account starts", {signal = name, in_flight = core.in_flight()})
    else
      break -- the grace period is over
    end
  end
  core.progress(nil)
  local sig, name = core.stopping()
  if sig then info.interrupted = {signal = name, status = 128 + sig} end
  return W:finish(info)
end

function M.process(W, json)
  local account = cjson.decode(json)
  json = nil -- an account waiting for its report keeps as little as possible
  local started = core.monotonic()
  local ok, outcome = xpcall(W.process, debug.traceback, W, account)
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
  core.post_outcome(cjson.encode(outcome))
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
  local list = {}
  local err = discover(W, function(a) list[#list + 1] = a end)
  table.sort(list, function(x, y)
    if x.ou_path ~= y.ou_path then return x.ou_path < y.ou_path end
    return x.id < y.id
  end)
  return list, err
end

-- The exit status of a listing: 3 when the organization could not be listed.
local function listing_status(err)
  io.stdout:flush()
  if not err then return 0 end
  io.stderr:write(("credreport: cannot list the accounts: %s: %s\n"):format(err.code, err.message))
  return 3
end

-- `credreport accounts`: the accounts in scope, touching none of them.
function M.list(W)
  local list, err = collect(W)
  local name_w = 4
  for _, a in ipairs(list) do name_w = math.max(name_w, #a.name) end
  local fmt = "%-12s  %-" .. name_w .. "s  %-15s  %s\n"
  io.stdout:write(fmt:format("ID", "NAME", "STATE", "OU PATH"))
  for _, a in ipairs(list) do io.stdout:write(fmt:format(a.id, a.name, a.state, a.ou_path)) end
  return listing_status(err)
end

-- `credreport run --dry-run`: what a run would do, without entering any account.
function M.dry_run(W)
  local list, err = collect(W)
  for _, a in ipairs(list) do
    local how = a.error and ("fails: " .. tostring(a.error.message))
      or a.resumed and ("already delivered by " .. a.resumed.run_id)
      or a.own_credentials and "own credentials" or a.role_arn or "?"
    local key = W.key_for and W:key_for(a) or "?"
    io.stdout:write(("%s  %-24s  %s  -> %s\n"):format(a.id, how, a.ou_path, key))
  end
  io.stdout:write(("%d account(s) in scope; nothing was changed\n"):format(#list))
  return listing_status(err)
end

return M
