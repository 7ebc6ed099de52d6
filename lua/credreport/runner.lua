-- The glue between the C scheduler and a workflow. coordinate() runs on the main thread:
-- discovery, then one outcome per account in scope. process() runs on worker threads, one
-- task per account. Accounts and outcomes cross threads as JSON text.
local core = require "credreport.core"
local cjson = require "cjson"

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

function M.coordinate(W)
  local info = {order = {}, accounts = {}, outcomes = {}}
  info.discovery_error = discover(W, function(a)
    info.order[#info.order + 1] = a.id
    info.accounts[a.id] = a
    core.post_account(cjson.encode(a))
  end)
  core.close_accounts()
  if info.discovery_error then
    core.log("error", "cannot list the accounts in scope", info.discovery_error)
  end
  for _ = 1, #info.order do
    local o = cjson.decode(core.next_outcome())
    info.outcomes[o.account.id] = o
    if W.on_outcome then
      local ok, err = pcall(W.on_outcome, W, o)
      if not ok then core.log("error", "on_outcome failed", {error = tostring(err)}) end
    end
  end
  return W:finish(info)
end

function M.process(W, json)
  local account = cjson.decode(json)
  local started = core.monotonic()
  local ok, outcome = xpcall(W.process, debug.traceback, W, account)
  if not ok then
    core.log("error", "workflow error", {account = account.id, error = tostring(outcome)})
    outcome = {status = "failed", error = as_error(outcome)}
  elseif type(outcome) ~= "table" or (outcome.status ~= "delivered" and outcome.status ~= "failed") then
    outcome = {status = "failed", error = {code = "ScriptError",
               message = "process() must return {status = \"delivered\"|\"failed\", ...}"}}
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

local function collect(W)
  local list = {}
  local err = discover(W, function(a) list[#list + 1] = a end)
  table.sort(list, function(x, y)
    if x.ou_path ~= y.ou_path then return x.ou_path < y.ou_path end
    return x.id < y.id
  end)
  return list, err
end

-- `credreport accounts`: the accounts in scope, touching none of them.
function M.list(W)
  local list, err = collect(W)
  local name_w = 4
  for _, a in ipairs(list) do name_w = math.max(name_w, #a.name) end
  local fmt = "%-12s  %-" .. name_w .. "s  %-15s  %s\n"
  io.stdout:write(fmt:format("ID", "NAME", "STATE", "OU PATH"))
  for _, a in ipairs(list) do io.stdout:write(fmt:format(a.id, a.name, a.state, a.ou_path)) end
  io.stdout:flush()
  if err then
    io.stderr:write(("credreport: cannot list the accounts: %s: %s\n"):format(err.code, err.message))
    return 3
  end
  return 0
end

-- `credreport run --dry-run`: what a run would do, without entering any account.
function M.dry_run(W)
  local list, err = collect(W)
  for _, a in ipairs(list) do
    local how = a.own_credentials and "own credentials" or a.role_arn or "?"
    local key = W.key_for and W:key_for(a) or "?"
    io.stdout:write(("%s  %-24s  %s  -> %s\n"):format(a.id, how, a.ou_path, key))
  end
  io.stdout:write(("%d account(s) in scope; nothing was changed\n"):format(#list))
  io.stdout:flush()
  if err then
    io.stderr:write(("credreport: cannot list the accounts: %s: %s\n"):format(err.code, err.message))
    return 3
  end
  return 0
end

return M
