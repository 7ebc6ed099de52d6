-- The run manifest: every account in scope with its outcome, so that none can go missing
-- silently. Written beside the reports as {date}/manifest-{run_id}.json, and read back by
-- --resume.
local core = require "credreport.core"
local delivery = require "credreport.delivery"
local cjson = require "cjson"

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
                 status = o and o.status or "failed", duration_seconds = o and ms(o.duration) or nil,
                 attempts = o and math.tointeger(o.attempts) or nil}
    if row.status == "delivered" or row.status == "skipped" then
      counts[row.status] = counts[row.status] + 1
      row.location, row.key, row.reason = o.location, o.key, o.reason
      row.report_generated_time, row.sha256, row.bytes = o.generated_time, o.sha256, o.bytes
      row.checks = math.tointeger(o.checks) or o.checks
      row.findings, row.findings_error = o.finding_counts, o.findings_error
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
  if info.requested_missing and #info.requested_missing > 0 then
    m.requested_not_processed = info.requested_missing
  end
  if info.interrupted then m.interrupted_by = info.interrupted.signal end
  return m, counts
end

-- Keys in the order the docs show them, so that manifests read well and diff cleanly; keys a
-- custom workflow adds come after, sorted.
local TOP = {"run_id", "started", "finished", "version", "destination", "shard", "interrupted_by",
             "discovery_error", "requested_not_processed", "summary", "findings"}
local ROW = {"id", "name", "state", "ou_path", "status", "attempts", "key", "location",
             "report_generated_time", "checks", "sha256", "bytes", "resumed_from", "findings",
             "findings_error", "reason", "error", "notification_error", "duration_seconds"}
local COUNTS = {"total", "new", "persisting", "resolved", "critical", "high", "medium", "low", "info"}
local NESTED = {summary = {"in_scope", "delivered", "failed", "skipped"}, error = {"code", "message"},
                discovery_error = {"code", "message"}, findings = COUNTS}
-- A list of tables (requested_not_processed): each element in this order.
local LISTS = {requested_not_processed = {"id", "reason"}}

-- The keys of each order list as a set, made once: a manifest orders thousands of rows.
local KNOWN = setmetatable({}, {__mode = "k"})

local function known_keys(order)
  local known = KNOWN[order]
  if not known then
    known = {}
    for _, k in ipairs(order) do known[k] = true end
    KNOWN[order] = known
  end
  return known
end

local NONE = {} -- what other_keys' nil stands for in a loop

-- The keys of t that `order` does not name, sorted, or nil (the usual case).
local function other_keys(t, order)
  local known, extra = known_keys(order), nil
  for k in pairs(t) do
    if not known[k] then
      extra = extra or {}
      extra[#extra + 1] = tostring(k)
    end
  end
  if extra then table.sort(extra) end
  return extra
end

-- t's keys in `order`, then the others sorted: for the manifest's top level, written a key a
-- line (objects inside it and the rows go through append).
local function ordered_keys(t, order)
  local keys = {}
  for _, k in ipairs(order) do
    if t[k] ~= nil then keys[#keys + 1] = k end
  end
  for _, k in ipairs(other_keys(t, order) or NONE) do keys[#keys + 1] = k end
  return keys
end

-- lua-cjson escapes every "/" as "\/" and never writes a bare one, so undoing it is exact.
-- Integers never come here (append_plain writes them exactly; lua-cjson would round them).
local function json(v)
  local s = cjson.encode(v)
  if not s:find("\\/", 1, true) then return s end -- most values have no "/"
  return (s:gsub("\\/", "/"))
end

-- '"name": ', for each key once.
local KEY = {}
local function key_json(k)
  local s = KEY[k]
  if not s then
    s = json(k) .. ": "
    KEY[k] = s
  end
  return s
end

local find, mtype, huge = string.find, math.type, math.huge

-- The JSON text of v as pieces out[n + 1..] without a call to cjson, for the values nearly
-- every row holds: a string with nothing to escape (ids, states, keys, times, checksums)
-- needs only its quotes; table.concat writes an integer as JSON does, and "%.14g" is how
-- lua-cjson writes a finite float. The new n, or nil for any other value.
local function append_plain(out, n, v)
  if type(v) == "string" then
    if not find(v, '^[^%c"\\]*$') then return nil end
    out[n + 1], out[n + 2], out[n + 3] = '"', v, '"'
    return n + 3
  end
  local number = mtype(v)
  if number == "integer" then
    out[n + 1] = v
    return n + 1
  end
  if number == "float" and v == v and v ~= huge and v ~= -huge then
    out[n + 1] = ("%.14g"):format(v)
    return n + 1
  end
  return nil
end

-- Appends the JSON text of v to the pieces out[1..n] and returns the new n: a table in
-- `order` is an object with its keys in that order (then any others, sorted), one with
-- `list_order` a list of such objects. One table.concat then makes a whole row, instead of
-- a string for each of its fields.
local function append(out, n, v, order, list_order)
  local plain = append_plain(out, n, v)
  if plain then return plain end
  if type(v) ~= "table" or not (order or list_order) then
    out[n + 1] = json(v)
    return n + 1
  end
  if list_order then
    local sep = "["
    for _, item in ipairs(v) do
      out[n + 1] = sep
      n, sep = append(out, n + 1, item, list_order), ", "
    end
    out[n + 1] = sep == "[" and "[]" or "]"
    return n + 1
  end
  local sep = "{"
  for _, k in ipairs(order) do
    local x = v[k]
    if x ~= nil then
      out[n + 1], out[n + 2] = sep, key_json(k)
      n, sep = append(out, n + 2, x, NESTED[k]), ", "
    end
  end
  for _, k in ipairs(other_keys(v, order) or NONE) do
    out[n + 1], out[n + 2] = sep, key_json(k)
    n, sep = append(out, n + 2, v[k], NESTED[k]), ", "
  end
  out[n + 1] = sep == "{" and "{}" or "}"
  return n + 1
end

local function value(v, order, list_order)
  local out = {}
  return table.concat(out, "", 1, append(out, 0, v, order, list_order))
end

-- Reports checked side by side when resuming: enough to hide S3's latency, few enough not to
-- crowd out the run's other calls.
local VERIFY_IN_FLIGHT = 256

-- What the manifests of `date` at the destination claim was delivered:
-- id -> {{run_id, location, key, generated_time, sha256, bytes, manifest}, ...}, in manifest
-- order (run ids start with the time, so the latest claim is last). An unreadable manifest
-- is skipped with a warning. nil, err when the manifests cannot be listed.
local function claims(client, dest, date, out)
  local names, err = delivery.list(client, dest, date, out)
  if not names then return nil, err end
  local claimed = {}
  table.sort(names)
  for _, name in ipairs(names) do
    if core.stopping() then break end
    local run_id = name:match("^manifest%-(.+)%.json$") -- manifest.key's name
    if run_id then
      -- A claim read before a failure stands: each is checked against the report itself.
      local read, rerr = M.each_stored_row(client, dest, date .. "/" .. name, out, function(row)
        if row.status == "delivered" and type(row.key) == "string" then
          local list = claimed[row.id] or {}
          claimed[row.id] = list
          list[#list + 1] = {run_id = row.resumed_from or run_id, location = row.location, key = row.key,
                             generated_time = row.report_generated_time, sha256 = row.sha256,
                             bytes = math.tointeger(row.bytes), manifest = name}
        end
      end)
      if not read then
        core.log("warn", "skipping an unreadable manifest",
                 {manifest = name, error = tostring(rerr and (rerr.message or rerr) or "not JSON")})
      end
    end
  end
  return claimed
end

-- The accounts delivered earlier on `date`, by the manifests at the destination:
-- id -> {run_id, location, key, generated_time, sha256, bytes, manifest}. A manifest is only
-- a claim: an account counts as delivered when its report is at the destination with the size
-- and checksum the manifest records (delivery.verify), the latest claim tried first; an
-- account none of whose claims holds is left out, with a warning. out: the [output]
-- settings. nil, err when the manifests cannot be listed.
function M.delivered(client, dest, date, out)
  local claimed, err = claims(client, dest, date, out)
  if not claimed then return nil, err end
  -- VERIFY_IN_FLIGHT tasks take the accounts in turn: a task per account would be thousands of
  -- coroutines waiting at once (19 MiB at 10,000 accounts).
  local done, tasks, taken = {}, {}, nil
  local function verify_claims()
    while true do
      local id, list = next(claimed, taken)
      if id == nil then return end
      taken = id
      local why
      for i = #list, 1, -1 do
        local ok, reason = delivery.verify(client, dest, out, list[i].key, list[i].bytes, list[i].sha256)
        if ok then done[id] = list[i]; break end
        why = why or reason
      end
      if not done[id] then
        core.log("warn", "not resuming: the report a manifest lists is not there as recorded",
                 {account = id, manifest = list[#list].manifest, key = list[#list].key, reason = why})
      end
    end
  end
  for _ in pairs(claimed) do
    if #tasks == VERIFY_IN_FLIGHT then break end
    tasks[#tasks + 1] = core.spawn(verify_claims)
  end
  for _, t in ipairs(tasks) do t:join() end
  return done
end

-- Hands the JSON text to put(piece) in order: one account per line, keys in a stable order,
-- "/" not escaped.
local function emit(m, put)
  put("{\n")
  for _, k in ipairs(ordered_keys(m, TOP)) do
    if k ~= "accounts" then
      put(("  %s: %s,\n"):format(json(k), value(m[k], NESTED[k], LISTS[k])))
    end
  end
  put('  "accounts": [')
  local out = {} -- one row's pieces, the table kept from row to row
  for i, row in ipairs(m.accounts) do
    out[1] = i > 1 and ",\n    " or "\n    "
    put(table.concat(out, "", 1, append(out, 1, row, ROW)))
  end
  put(#m.accounts > 0 and "\n  ]\n}\n" or "]\n}\n")
end

-- The JSON text.
function M.encode(m)
  local out = {}
  emit(m, function(piece) out[#out + 1] = piece end)
  return table.concat(out)
end

-- The JSON text written to a file row by row, so that a large organization's manifest is
-- never held whole in memory: the file, or nil, err when a write fails.
function M.write(m, file)
  local err
  emit(m, function(piece)
    if not err and not file:write(piece) then err = "cannot write the manifest to a temporary file" end
  end)
  if err then return nil, err end
  return file
end

-- The account rows in one line of a manifest handed to fn(row); how many. emit() writes one
-- row per line, so each line that holds an object is decoded on its own: decoded whole, a
-- large organization's manifest (megabytes of text) costs several times its size in tables at
-- once. A line that is a whole manifest (another tool's, on one line) gives all its rows.
local function rows_in_line(line, fn)
  local object = line:match("^%s*({.*})%s*,?%s*$")
  local ok, t = false, nil
  if object then ok, t = pcall(cjson.decode, object) end
  if not ok or type(t) ~= "table" then return 0 end
  if type(t.id) == "string" then
    fn(t)
    return 1
  end
  local rows = 0
  if type(t.accounts) == "table" then
    for _, row in ipairs(t.accounts) do
      if type(row) == "table" and type(row.id) == "string" then
        rows = rows + 1
        fn(row)
      end
    end
  end
  return rows
end

-- A manifest laid out other than one row per line: decoded whole. False when it is not one.
local function each_row_whole(text, fn)
  local ok, m = pcall(cjson.decode, text)
  if not ok or type(m) ~= "table" or type(m.accounts) ~= "table" then return false end
  for _, row in ipairs(m.accounts) do
    if type(row) == "table" and type(row.id) == "string" then fn(row) end
  end
  return true
end

-- Calls fn(row) for each account row of a manifest's text; false when the text is not a
-- manifest.
function M.each_row(text, fn)
  local rows = 0
  for line in text:gmatch("[^\n]+") do rows = rows + rows_in_line(line, fn) end
  return rows > 0 or each_row_whole(text, fn)
end

-- Calls fn(row) for each account row of the manifest stored under key, read line by line
-- (delivery.each_line), never whole unless it is not laid out one row per line. Returns true,
-- false when it is not a manifest, or nil, err when it cannot be read.
function M.each_stored_row(client, dest, key, out, fn)
  local rows = 0
  local ok, err = delivery.each_line(client, dest, key, out, function(line)
    rows = rows + rows_in_line(line, fn)
  end)
  if not ok then return nil, err end
  if rows > 0 then return true end
  local text, gerr = delivery.get(client, dest, key, out)
  if not text then return nil, gerr end
  return each_row_whole(text, fn)
end

return M
