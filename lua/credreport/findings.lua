-- Findings: checks run on every delivered report (on the worker that has it), the findings
-- file of a run ({date}/findings-{run_id}.jsonl, one JSON object per line), and what changed
-- since the latest earlier day's run at the same destination.
--
-- A check is a plain table:
--   id        "key_not_rotated" (letters, digits, '_'; unique)
--   title     one line for people
--   severity  "critical" | "high" | "medium" | "low" | "info"
--   cis       the CIS AWS Foundations Benchmark control ("1.14"), optional
--   scope     "root" (only the <root_account> row), "users" (every other row) or nil (all)
--   evaluate  function(row, ctx, emit): row is one report row keyed by column name; ctx is
--             {account =, now =, generated_time =, epoch = function(value), age_days =
--             function(value)} (both nil for a special value); emit(subject,
--             evidence) records a finding: subject tells findings of one check on one user
--             apart ("access_key_1", "password" or nil), evidence is a list of column names
--             whose values are copied from the row, or a table of name = value.
-- The list of checks is the workflow's `checks`; bundled(settings) builds the default one.
local core = require "credreport.core"
local cjson = require "cjson"
local report = require "credreport.report"
local delivery = require "credreport.delivery"
local manifest = require "credreport.manifest"

local M = {}

M.SEVERITIES = {"critical", "high", "medium", "low", "info"}
M.RANK = {critical = 1, high = 2, medium = 3, low = 4, info = 5}
local ROOT = report.ROOT_USER
local DAY = 86400
local epoch = report.epoch

-- As in config.ini's [findings].
M.DEFAULT_SEVERITY = {root_access_key = "critical", root_no_mfa = "critical", root_used_recently = "high",
                      console_user_no_mfa = "high", credentials_unused = "medium", key_not_rotated = "medium",
                      multiple_active_keys = "medium", key_unused_since_creation = "low"}

-- Seconds between a key's creation (its last_rotated time) and the user's creation within
-- which the key counts as created with the user.
M.WITH_USER_SECONDS = 3600

-- The columns of access key n (1, 2): KEY[n].active is "access_key_n_active", and so on. The
-- checks run on every row of every report: their column names and evidence lists are made
-- once, here, not per row.
local KEY = {}
for n = 1, 2 do
  local p = "access_key_" .. n .. "_"
  KEY[n] = {subject = "access_key_" .. n, active = p .. "active", last_rotated = p .. "last_rotated",
            last_used_date = p .. "last_used_date"}
end

local function active(row, n) return row[KEY[n].active] == "true" end

-- Each key's evidence list of these columns: per_key("active") is {{"access_key_1_active"},
-- {"access_key_2_active"}}.
local function per_key(...)
  local out = {{}, {}}
  for n = 1, 2 do
    for i, f in ipairs{...} do out[n][i] = KEY[n][f] end
  end
  return out
end

-- The bundled checks, from a table shaped like config.findings (days and severities; a
-- severity of "off" leaves the check out). In CIS order.
function M.bundled(settings)
  settings = settings or require("credreport.config").findings
  local root_days, unused_days, rotation_days =
    settings.root_used_days or 30, settings.unused_days or 45, settings.rotation_days or 90
  local root_key_evidence = per_key("active", "last_rotated", "last_used_date")
  local root_used_fields = {"password_last_used", KEY[1].last_used_date, KEY[2].last_used_date}
  local unused_key_evidence = per_key("active", "last_used_date", "last_rotated")
  local rotation_evidence = per_key("active", "last_rotated")
  local mfa_evidence = {"mfa_active"}
  local console_evidence = {"password_enabled", "mfa_active", "password_last_used"}
  local password_evidence = {"password_enabled", "password_last_used", "password_last_changed"}
  local two_keys_evidence = {KEY[1].active, KEY[1].last_rotated, KEY[2].active, KEY[2].last_rotated}
  local with_user_evidence = {}
  for n = 1, 2 do
    with_user_evidence[n] = {"user_creation_time", KEY[n].active, KEY[n].last_rotated, KEY[n].last_used_date}
  end
  local all = {
    {id = "root_access_key", cis = "1.4", scope = "root",
     title = "The root user has an active access key",
     evaluate = function(row, _, emit)
       for n = 1, 2 do
         if active(row, n) then emit(KEY[n].subject, root_key_evidence[n]) end
       end
     end},
    {id = "root_no_mfa", cis = "1.5", scope = "root",
     title = "The root user has no MFA",
     evaluate = function(row, _, emit)
       if row.mfa_active ~= "true" then emit(nil, mfa_evidence) end
     end},
    {id = "root_used_recently", cis = "1.7", scope = "root",
     title = ("The root user was used in the last %d days"):format(root_days),
     evaluate = function(row, ctx, emit)
       for _, f in ipairs(root_used_fields) do
         local age = ctx.age_days(row[f])
         if age and age < root_days then return emit(nil, root_used_fields) end
       end
     end},
    {id = "console_user_no_mfa", cis = "1.10", scope = "users",
     title = "A user with a console password has no MFA",
     evaluate = function(row, _, emit)
       if row.password_enabled == "true" and row.mfa_active ~= "true" then
         emit(nil, console_evidence)
       end
     end},
    {id = "credentials_unused", cis = "1.12", scope = "users",
     title = ("A password or access key unused for %d days or more"):format(unused_days),
     evaluate = function(row, ctx, emit)
       if row.password_enabled == "true" then
         -- Never used ("no_information"): idle since it was set.
         local age = ctx.age_days(row.password_last_used) or ctx.age_days(row.password_last_changed)
                     or ctx.age_days(row.user_creation_time)
         if age and age >= unused_days then
           emit("password", password_evidence)
         end
       end
       for n = 1, 2 do
         local k = KEY[n]
         if active(row, n) then
           local age = ctx.age_days(row[k.last_used_date]) or ctx.age_days(row[k.last_rotated])
           if age and age >= unused_days then emit(k.subject, unused_key_evidence[n]) end
         end
       end
     end},
    {id = "key_not_rotated", cis = "1.14", scope = "users",
     title = ("An active access key not rotated for more than %d days"):format(rotation_days),
     evaluate = function(row, ctx, emit)
       for n = 1, 2 do
         local k = KEY[n]
         if active(row, n) then
           local age = ctx.age_days(row[k.last_rotated])
           if age and age > rotation_days then emit(k.subject, rotation_evidence[n]) end
         end
       end
     end},
    {id = "multiple_active_keys", cis = "1.13", scope = "users",
     title = "A user has more than one active access key",
     evaluate = function(row, _, emit)
       if active(row, 1) and active(row, 2) then
         emit(nil, two_keys_evidence)
       end
     end},
    {id = "key_unused_since_creation", cis = "1.11", scope = "users",
     title = "An access key created with the user was never used",
     evaluate = function(row, ctx, emit)
       local created = ctx.epoch(row.user_creation_time)
       for n = 1, 2 do
         local k = KEY[n]
         local rotated = created and active(row, n) and ctx.epoch(row[k.last_rotated])
         if rotated and ctx.epoch(row[k.last_used_date]) == nil
            and math.abs(rotated - created) <= M.WITH_USER_SECONDS then
           emit(k.subject, with_user_evidence[n])
         end
       end
     end},
  }
  local out = {}
  for _, c in ipairs(all) do
    local sev = settings[c.id] or M.DEFAULT_SEVERITY[c.id]
    if sev ~= "off" then
      c.severity = sev
      out[#out + 1] = c
    end
  end
  return out
end

local function index_of(checks, id)
  for i, c in ipairs(checks) do if c.id == id then return i end end
end

-- Removes the check with this id from the list (no error when it is not there).
function M.remove(checks, id)
  local i = index_of(checks, id)
  if i then table.remove(checks, i) end
  return checks
end

-- Puts check in place of the one with the same id, or at the end.
function M.replace(checks, check)
  checks[index_of(checks, check.id) or #checks + 1] = check
  return checks
end

-- nil, or what is wrong with a list of checks (for workflow.new, which stops the run).
function M.invalid(checks)
  if type(checks) ~= "table" then return "checks must be a list of check tables" end
  local seen = {}
  for i, c in ipairs(checks) do
    local where = ("check %d (%s)"):format(i, tostring(type(c) == "table" and c.id))
    if type(c) ~= "table" or type(c.id) ~= "string" or not c.id:match("^[%w_]+$") then
      return where .. ": id must be letters, digits and '_'"
    end
    if seen[c.id] then return where .. ": the id is used twice" end
    seen[c.id] = true
    if not M.RANK[c.severity] then return where .. ": severity must be one of " .. table.concat(M.SEVERITIES, ", ") end
    if type(c.evaluate) ~= "function" then return where .. ": evaluate must be a function" end
    if type(c.title) ~= "string" then return where .. ": title must be a string" end
    if c.scope ~= nil and c.scope ~= "root" and c.scope ~= "users" then
      return where .. ": scope must be \"root\", \"users\" or nil"
    end
  end
end

-- Runs the checks on one report's rows. Returns the findings, compact for the trip to the
-- main thread ({check =, user =, subject =, severity =, evidence = {column = value}}), or
-- nil and a message when a check raised.
function M.evaluate(checks, rows, account, generated_time, fallback_now)
  local now = epoch(generated_time) or fallback_now
  -- Several checks read the same fields: each distinct value is parsed once per report.
  local cache = {}
  local function time_of(v)
    local t = cache[v]
    if t == nil then
      t = epoch(v) or false
      cache[v] = t
    end
    return t or nil
  end
  local ctx = {account = account, now = now, generated_time = generated_time, epoch = time_of,
               age_days = function(v)
                 local t = time_of(v)
                 return t and (now - t) / DAY
               end}
  local found, check, row = {}, nil, nil
  local function emit(subject, evidence)
    local e = {}
    if evidence and evidence[1] then
      for _, col in ipairs(evidence) do e[col] = row[col] end
    else
      for k, v in pairs(evidence or {}) do e[k] = v end
    end
    found[#found + 1] = {check = check.id, user = row.user, subject = subject,
                         severity = check.severity, evidence = e}
  end
  local ok, err = pcall(function()
    for i = 1, #rows do
      row = rows[i]
      local root = row.user == ROOT
      for j = 1, #checks do
        check = checks[j]
        local scope = check.scope
        if scope == nil or (scope == "root") == root then check.evaluate(row, ctx, emit) end
      end
    end
  end)
  if not ok then return nil, ("check %s: %s"):format(check and check.id or "?", tostring(err)) end
  return found
end

-- ---- The findings file and what changed ---------------------------------------------------

function M.key(run)
  return ("%s/findings-%s.jsonl"):format(run.date, run.id)
end

-- One finding's identity across runs: the same check on the same user and subject.
-- One line of text: a line break (which IAM names cannot hold) becomes a space.
local function identity(f)
  local id = f.check .. "\0" .. f.user .. "\0" .. (f.subject or "")
  if id:find("\n", 1, true) then id = id:gsub("\n", " ") end
  return id
end

-- One line of the findings file. A line is written for every problem of every user, so it is
-- lua-cjson's encoding as it is: keys in no fixed order and "/" written "\/" (valid JSON,
-- several times faster than an ordered encoding such as manifest.ordered_json).
M.encode_line = cjson.encode

-- The earlier run to compare with: the latest day before `date` (at most `look_back` date
-- folders back) that has a findings file, read as
--   {date =, evaluated = {account = run_id}, findings = {account = {identity = line text}}}
-- or nil when there is none. For each account the latest run of that day that evaluated it
-- (its manifest row has `findings`) counts. Lines are kept as the text read (a table per
-- finding would cost several times more memory). Unreadable files are skipped with a
-- warning; an unlistable destination gives nil, err. out: the [output] settings, so that S3
-- reads go to the bucket's region with its expected owner (optional).
function M.load_baseline(client, dest, date, look_back, out)
  local names, err = delivery.list(client, dest, "", out)
  if not names then return nil, err end
  local days = {}
  for _, n in ipairs(names) do
    local d = n:match("^(%d%d%d%d%-%d%d%-%d%d)/?$")
    if d and d < date then days[#days + 1] = d end
  end
  table.sort(days, function(a, b) return a > b end)
  for i = 1, math.min(#days, look_back or 7) do
    local base = M.load_day(client, dest, days[i], out)
    if base then return base end
  end
  return nil
end

-- Calls on_line(finding, text) for each well-formed line of a findings file, read piece by
-- piece (a large organization's file can be hundreds of megabytes). False, with a warning,
-- when the file cannot be read.
local function each_line(client, dest, key, on_line, out)
  local ok, err = delivery.each_line(client, dest, key, out, function(text)
    local decoded, f = pcall(cjson.decode, text)
    if decoded and type(f) == "table" and type(f.account) == "string" and type(f.check) == "string"
       and type(f.user) == "string" then
      on_line(f, text)
    end
  end)
  if not ok then
    core.log("warn", "skipping an unreadable findings file", {key = key, error = tostring(err and (err.message or err))})
    return false
  end
  return true
end

-- What one earlier run found: the accounts it evaluated ({account = true}: its manifest rows
-- with `findings`), or nil when its manifest or its findings file cannot be read;
-- on_line(finding, text) is called for each of their findings in its findings file (resolved
-- lines left out).
function M.load_run(client, dest, date, run_id, on_line, out)
  local evaluated = {}
  if not manifest.each_stored_row(client, dest, ("%s/manifest-%s.json"):format(date, run_id), out, function(row)
      if type(row.findings) == "table" then evaluated[row.id] = true end
    end) then
    return nil
  end
  if next(evaluated) and not each_line(client, dest, ("%s/findings-%s.jsonl"):format(date, run_id), function(f, text)
      if evaluated[f.account] and f.change ~= "resolved" then on_line(f, text) end
    end, out) then
    return nil
  end
  return evaluated
end

-- A temporary file without a name (M.open_spool), or nil. Unbuffered: a full disk fails the
-- write, not a later flush, so what a write took is there to read back.
function M.spool_file()
  local file = M.open_spool()
  if file then file:setvbuf("no") end
  return file
end
local spool_file = M.spool_file

-- A day's findings lines, kept by account in a spool file rather than in memory: a large
-- organization's are tens of MB, and each account's are read once, when its outcome
-- arrives. A record is the finding's identity and its line, packed; `where` holds, per
-- account, its records' places in the file ({offset, length} pairs), or the records
-- themselves when the file could not be made or did not take them. Every record is added
-- before any is read (load_day); after a failed write, which may have left part of a record,
-- the next one goes back to where the records end.
local Store = {}
Store.__index = Store

local function line_store()
  return setmetatable({file = spool_file(), size = 0, where = {}, pending = {}, pending_bytes = 0}, Store)
end

-- Records wait to be written together, up to this many bytes: a write each would be a system
-- call per finding, hundreds of thousands for a large organization.
local PENDING_BYTES = 256 * 1024

-- Writes the waiting records, all of one account of one run, to the spool (or keeps them in
-- memory when it does not take them).
function Store:flush()
  local pending = self.pending
  if #pending == 0 then return end
  local bytes, parts = table.concat(pending), self.pending_parts
  self.pending, self.pending_bytes = {}, 0
  local file = self.file
  if file and self.failed then self.failed = file:seek("set", self.size) == nil end
  if file and not self.failed and file:write(bytes) then
    local last = parts[#parts]
    if type(last) == "table" and last[1] + last[2] == self.size then
      last[2] = last[2] + #bytes -- an account's lines come together
    else
      parts[#parts + 1] = {self.size, #bytes}
    end
    self.size = self.size + #bytes
  else
    self.failed = true
    parts[#parts + 1] = bytes
  end
end

-- Adds a line of a run's file: run[account] collects where that account's records are.
function Store:add(run, account, id, text)
  local parts = run[account] or {}
  run[account] = parts
  if parts ~= self.pending_parts or self.pending_bytes >= PENDING_BYTES then
    self:flush()
    self.pending_parts = parts
  end
  local record = string.pack("<s4s4", id, text)
  self.pending[#self.pending + 1] = record
  self.pending_bytes = self.pending_bytes + #record
end

-- The account's lines are those of the run given (later runs win).
function Store:keep(account, parts)
  self:flush()
  self.where[account] = parts or {}
end

-- Calls fn(identity, line) for each of the account's records, in the order they were added;
-- false when no run evaluated it.
function Store:each(account, fn)
  local parts = self.where[account]
  if not parts then return false end
  for _, p in ipairs(parts) do
    local bytes = p
    if type(p) == "table" then
      bytes = self.file:seek("set", p[1]) and self.file:read(p[2]) or ""
    end
    local at = 1
    while at <= #bytes do
      local ok, id, text, after = pcall(string.unpack, "<s4s4", bytes, at)
      if not ok then break end -- the file read short: these lines count as not seen before
      fn(id, text)
      at = after
    end
  end
  return true
end

-- {identity = line} of an account, or nil when no run evaluated it.
function Store:lines(account)
  local lines = {}
  if not self:each(account, function(id, text) lines[id] = text end) then return nil end
  return lines
end

-- What load_day returns as `findings`: {account = {identity = line}}, read from the store
-- when indexed; setting an account to nil lets its lines go.
function Store:view()
  local store = self
  return setmetatable({}, {
    __index = function(_, account) return store:lines(account) end,
    __newindex = function(t, account, v)
      store.where[account] = nil
      if v ~= nil then rawset(t, account, v) end
    end,
    __pairs = function(t)
      local in_store, account = false, nil
      return function()
        if not in_store then
          local v
          account, v = next(t, account)
          if account ~= nil then return account, v end
          in_store = true
        end
        -- accounts the table holds itself (a script's rawset) were given above
        repeat account = next(store.where, account) until account == nil or rawget(t, account) == nil
        if account ~= nil then return account, store:lines(account) end
      end, t, nil
    end,
  })
end

-- What one earlier run found for the accounts wanted(account) accepts: the accounts it
-- evaluated (as load_run) and a store of their lines in a spool file, whose :each(account, fn)
-- gives them back; nil when the run cannot be read.
function M.spool_run(client, dest, date, run_id, wanted, out)
  local store, run = line_store(), {}
  local evaluated = M.load_run(client, dest, date, run_id, function(f, text)
    if wanted(f.account) then store:add(run, f.account, identity(f), text) end
  end, out)
  if not evaluated then return nil end
  for account in pairs(evaluated) do
    if wanted(account) then store:keep(account, run[account]) end
  end
  return evaluated, store
end

-- The findings of one day's runs (see load_baseline), or nil when it has none.
function M.load_day(client, dest, day, out)
  local names = delivery.list(client, dest, day, out)
  if not names then return nil end
  local runs, has_findings = {}, false
  for _, n in ipairs(names) do
    local id = n:match("^manifest%-(.+)%.json$")
    if id then runs[#runs + 1] = id end
    if n:match("^findings%-.+%.jsonl$") then has_findings = true end
  end
  if not has_findings then return nil end
  table.sort(runs) -- run ids start with their time: later runs win
  local base = {date = day, evaluated = {}}
  local store = line_store()
  for _, id in ipairs(runs) do
    local run = {}
    local evaluated = M.load_run(client, dest, day, id, function(f, text)
      store:add(run, f.account, identity(f), text)
    end, out)
    for account in pairs(evaluated or {}) do
      base.evaluated[account] = id
      store:keep(account, run[account])
    end
  end
  base.findings = store:view()
  return base
end

-- A findings line read back, in the compact form evaluate() gives.
function M.compact(line)
  return {check = line.check, user = line.user, subject = line.subject, severity = line.severity,
          evidence = type(line.evidence) == "table" and line.evidence or {}}
end

-- The findings of a run on the main thread: lines of the findings file as outcomes arrive,
-- counts, and what was resolved. The lines wait in a temporary file without a name (they run
-- to hundreds of MB for a large organization: bench/findings-cpu), in memory only when no
-- such file can be made or written; the new and resolved findings kept as tables (for the
-- summary page and the SNS message) are the M.KEEP most severe of each severity.
M.KEEP = 100
-- Opens the spool: a file handle opened for reading and writing, or nil (tests replace it).
M.open_spool = io.tmpfile
local Log = {}
Log.__index = Log

local function severity_table(v)
  local t = {}
  for _, s in ipairs(M.SEVERITIES) do t[s] = v == "list" and {} or 0 end
  return t
end

-- checks: the workflow's (for titles and CIS ids); baseline: load_baseline's result or nil.
function M.log(checks, baseline, run)
  local by_id = {}
  for _, c in ipairs(checks or {}) do by_id[c.id] = c end
  return setmetatable({checks = by_id, baseline = baseline, run = run, chunks = {}, resolved = {},
                       spooled = 0,
                       new_kept = severity_table("list"), new_by_severity = severity_table(),
                       resolved_kept = severity_table("list"), by_account = {},
                       counts = {total = 0, new = 0, persisting = 0, resolved = 0, critical = 0,
                                 high = 0, medium = 0, low = 0, info = 0},
                       by_check = {}}, Log)
end

-- A report more than this older than the run's start was served from AWS's cache.
M.STALE_SECONDS = 300

local SEV_CHAR = {critical = "c", high = "h", medium = "m", low = "l", info = "i"}
local CHAR_SEV = {c = "critical", h = "high", m = "medium", l = "low", i = "info"}

-- The findings of one report packed for the trip to the main thread (as JSON, inside the
-- outcome) and for writing: `lines` the findings file's lines for them, without `change` and
-- `first_seen` (which only the main thread knows), joined by "\n"; `keys` each finding's
-- identity, in the same order, joined by "\n"; `severities` one letter per finding (c, h, m,
-- l, i); `by_check` {check = {n =, severity =}}; `n` how many. A few strings instead of a
-- table per finding: cheap to encode, decode and keep.
function M.pack(found, account, generated_time, stale, checks)
  local cis = {}
  for _, c in ipairs(checks or {}) do cis[c.id] = c.cis end
  local lines, keys, sevs, by_check = {}, {}, {}, {}
  -- One table refilled for every line: a large report has thousands of findings, and a table
  -- each would be garbage for the worker's collector.
  local line = {account = account.id, account_name = account.name, ou_path = account.ou_path,
                report_generated_time = generated_time, stale_report = stale or nil}
  for i, f in ipairs(found) do
    line.user, line.check, line.severity = f.user, f.check, f.severity
    line.cis, line.subject = cis[f.check], f.subject
    line.evidence = next(f.evidence or {}) and f.evidence or nil
    lines[i] = M.encode_line(line)
    keys[i] = identity(f)
    sevs[i] = SEV_CHAR[f.severity] or "i"
    local bc = by_check[f.check] or {n = 0, severity = f.severity}
    by_check[f.check] = bc
    bc.n = bc.n + 1
  end
  return {n = #found, lines = table.concat(lines, "\n"), keys = table.concat(keys, "\n"),
          severities = table.concat(sevs), by_check = by_check}
end

-- The findings of a packed set as tables (findings lines, without change and first_seen).
function M.unpack(packed)
  local out = {}
  for line in (packed.lines or ""):gmatch("[^\n]+") do out[#out + 1] = cjson.decode(line) end
  return out
end

function M.stale(generated_time, run)
  return (report.epoch(generated_time) or run.started) < run.started - M.STALE_SECONDS
end

local function keep(kept, line)
  local list = kept[line.severity]
  if list and #list < M.KEEP then list[#list + 1] = line end
end

-- The lines (each a JSON object) with their "{" replaced by prefix. Cut at each "\n" found
-- by a plain find (memchr), not by a pattern tried at every character: a large account's
-- lines are megabytes.
local function prefixed(lines, prefix)
  local out, at = {}, 1
  while true do
    local nl = lines:find("\n", at, true)
    out[#out + 1] = lines:sub(at + 1, nl and nl - 1 or -1)
    if not nl then break end
    at = nl + 1
  end
  return prefix .. table.concat(out, "\n" .. prefix)
end

-- Adds the findings an account's outcome carries (outcome.findings, packed; then removed from
-- it) and sets outcome.finding_counts for the manifest. Returns the counts, or nil when the
-- outcome has no findings (not evaluated).
function Log:add(account, outcome)
  local p = outcome.findings
  if type(p) ~= "table" or type(p.lines) ~= "string" then return nil end
  outcome.findings = nil
  local counts = {total = 0, new = 0, critical = 0, high = 0, medium = 0, low = 0, info = 0}
  local total = self.counts
  local base = self.baseline
  local before = base and base.evaluated[account.id] and (base.findings[account.id] or {}) or nil
  local n = math.tointeger(p.n) or 0
  local sevs = p.severities or ""
  for i = 1, n do
    local sev = CHAR_SEV[sevs:sub(i, i)] or "info"
    counts[sev] = counts[sev] + 1
    total[sev] = total[sev] + 1
  end
  counts.total, total.total = n, total.total + n
  for check, c in pairs(p.by_check or {}) do
    local bc = self.by_check[check]
    if not bc then
      local def = self.checks[check]
      bc = {check = check, title = def and def.title or check, cis = def and def.cis, total = 0, new = 0,
            severity = c.severity}
      self.by_check[check] = bc
    end
    bc.total = bc.total + math.tointeger(c.n)
  end
  local new_prefix = '{"change":"new","first_seen":"' .. self.run.date .. '",'
  local chunk
  if n == 0 then
    chunk = nil
  elseif not before then
    -- All new: the lines get their prefix in one pass, and the few the summary keeps are read
    -- from the first lines of their severity.
    chunk = prefixed(p.lines, new_prefix)
    self:keep_new(p.lines, sevs)
    self:count_new(p, counts, n, sevs)
  else
    local out, i = {}, 0
    local next_key = p.keys:gmatch("[^\n]+")
    for line in p.lines:gmatch("[^\n]+") do
      i = i + 1
      local key = next_key()
      local prev = before and before[key]
      local sev = CHAR_SEV[sevs:sub(i, i)] or "info"
      if prev then
        local first_seen = prev:match('"first_seen": ?"([^"]+)"') or base.date
        before[key] = nil -- what is left of `before` at the end was resolved
        out[i] = '{"change":"persisting","first_seen":"' .. first_seen .. '",' .. line:sub(2)
        total.persisting = total.persisting + 1
      else
        out[i] = new_prefix .. line:sub(2)
        counts.new = counts.new + 1
        total.new = total.new + 1
        self.new_by_severity[sev] = self.new_by_severity[sev] + 1
        self:keep_new_line(sev, line)
        local bc = self.by_check[key:match("^[^\0]*")]
        if bc then bc.new = bc.new + 1 end
      end
    end
    chunk = table.concat(out, "\n")
  end
  if chunk then self:keep_lines(chunk) end
  if before then
    local resolved = {}
    for _, text in pairs(before) do
      local ok, f = pcall(cjson.decode, text)
      if ok then
        f.change, f.account_name, f.ou_path = "resolved", account.name, account.ou_path
        resolved[#resolved + 1] = M.encode_line(f)
        total.resolved = total.resolved + 1
        keep(self.resolved_kept, f)
      end
    end
    if #resolved > 0 then self.resolved[#self.resolved + 1] = table.concat(resolved, "\n") end
    base.findings[account.id] = nil
  end
  self.by_account[account.id] = counts
  outcome.finding_counts = counts
  return counts
end

-- True when some new finding of these severities would still be kept.
function Log:wants_new(sevs)
  for c, sev in pairs(CHAR_SEV) do
    if #self.new_kept[sev] < M.KEEP and sevs:find(c, 1, true) then return true end
  end
  return false
end

-- Keeps new findings from these lines (sevs: their severities, a character each) while the
-- summary's lists of their severities have room; reads no further than it needs.
function Log:keep_new(lines, sevs)
  if not self:wants_new(sevs) then return end
  local i = 0
  for line in lines:gmatch("[^\n]+") do
    i = i + 1
    local filled = self:keep_new_line(CHAR_SEV[sevs:sub(i, i)] or "info", line)
    if filled and not self:wants_new(sevs) then return end
  end
end

-- Keeps one new finding of this severity (its line) while the summary's list has room.
-- True when that filled the list.
function Log:keep_new_line(sev, line)
  local list = self.new_kept[sev]
  if #list >= M.KEEP then return false end
  local f = cjson.decode(line)
  f.change, f.first_seen = "new", self.run.date
  list[#list + 1] = f
  return #list == M.KEEP
end

-- Counts a packed set whose findings are all new.
function Log:count_new(p, counts, n, sevs)
  counts.new = n
  self.counts.new = self.counts.new + n
  for c, sev in pairs(CHAR_SEV) do
    local k = select(2, sevs:gsub(c, ""))
    self.new_by_severity[sev] = self.new_by_severity[sev] + k
  end
  for check, c in pairs(p.by_check or {}) do
    local bc = self.by_check[check]
    bc.new = bc.new + math.tointeger(c.n)
  end
end

local function by_severity_then_place(a, b)
  local ra, rb = M.RANK[a.severity] or 9, M.RANK[b.severity] or 9
  if ra ~= rb then return ra < rb end
  if a.account ~= b.account then return a.account < b.account end
  if a.user ~= b.user then return a.user < b.user end
  if a.check ~= b.check then return a.check < b.check end
  return (a.subject or "") < (b.subject or "")
end

-- The kept findings of the given severities (all when nil), most severe first.
local function most_severe(kept, severities)
  local out = {}
  for _, s in ipairs(severities or M.SEVERITIES) do
    for _, l in ipairs(kept[s] or {}) do out[#out + 1] = l end
  end
  table.sort(out, by_severity_then_place)
  return out
end

-- Adds lines (joined by "\n") to the file: to the spool while it takes them, else to memory.
-- After a write that failed, the spool takes no more: what it took of that write is not read back.
-- The spool is unbuffered, so the line's end goes in the same write: a system call per account.
function Log:keep_lines(text)
  if self.spool == nil then self.spool = spool_file() or false end
  if self.spool and self.spool:write(text .. "\n") then
    self.spooled = self.spooled + #text + 1
    return
  end
  if self.spool then
    core.log("warn", "cannot spool findings to a temporary file: keeping them in memory",
             {bytes = self.spooled})
    self.spill, self.spool = self.spool, false -- what it took is read back from it
  end
  self.chunks[#self.chunks + 1] = text
end

-- The findings file's content, once (it frees the lines): the run's findings in the order
-- outcomes came, then the resolved ones. When every line is in the spool, the spool itself
-- (a file, sent as it is read, never held whole in memory; the caller closes it); else a
-- string, or nil, err when the spool cannot be read back.
function Log:body()
  for _, c in ipairs(self.resolved) do self:keep_lines(c) end
  self.resolved = {}
  if self.spool and #self.chunks == 0 then
    local file = self.spool
    self.spool, self.spooled = false, 0
    return file
  end
  local head = "" -- what the spool took before it failed, each line ending in "\n"
  local file = self.spill
  if file then
    if self.spooled > 0 then
      head = file:seek("set") and file:read(self.spooled)
    end
    local spooled = self.spooled
    file:close()
    self.spool, self.spill, self.spooled = false, nil, 0
    if #(head or "") ~= spooled then
      return nil, "the findings spooled to a temporary file could not be read back"
    end
  end
  if #self.chunks == 0 then return head end
  local chunks = self.chunks
  self.chunks = {}
  chunks[#chunks + 1] = "" -- the last line's "\n"
  return head .. table.concat(chunks, "\n")
end

-- The most severe new findings (up to M.KEEP of each severity) and how many new ones there
-- are in all, of the given severities (all when nil).
function Log:new_in(severities)
  local n = 0
  for _, s in ipairs(severities or M.SEVERITIES) do n = n + (self.new_by_severity[s] or 0) end
  return most_severe(self.new_kept, severities), n
end

-- The most severe resolved findings (up to M.KEEP of each severity).
function Log:resolved_list()
  return most_severe(self.resolved_kept)
end

return M
