-- credreport.findings: each bundled check on crafted report rows (fires, does not fire, never
-- reads a special value as a date), severities and days from settings, "off", and checks
-- removed, replaced and added from Lua.
local core = require "credreport.core"
local findings = require "credreport.findings"
local report = require "credreport.report"
local T = require "testlib"

local GEN = "2026-06-01T00:00:00+00:00"
local NOW = report.epoch(GEN)
local function ago(days) return os.date("!%Y-%m-%dT%H:%M:%S+00:00", NOW - math.floor(days * 86400)) end

local COLS = {"user", "arn", "user_creation_time", "password_enabled", "password_last_used",
  "password_last_changed", "password_next_rotation", "mfa_active", "access_key_1_active",
  "access_key_1_last_rotated", "access_key_1_last_used_date", "access_key_1_last_used_region",
  "access_key_1_last_used_service", "access_key_2_active", "access_key_2_last_rotated",
  "access_key_2_last_used_date", "access_key_2_last_used_region", "access_key_2_last_used_service",
  "cert_1_active", "cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated"}

-- A row with nothing to find, changed by `t`.
local function user(name, t)
  local r = {user = name, arn = "arn:aws:iam::123456789012:user/" .. name, user_creation_time = ago(400),
             password_enabled = "false", password_last_used = "N/A", password_last_changed = "N/A",
             password_next_rotation = "N/A", mfa_active = "false"}
  for n = 1, 2 do
    local p = "access_key_" .. n .. "_"
    r[p .. "active"], r[p .. "last_rotated"], r[p .. "last_used_date"] = "false", "N/A", "N/A"
    r[p .. "last_used_region"], r[p .. "last_used_service"] = "N/A", "N/A"
  end
  r.cert_1_active, r.cert_1_last_rotated, r.cert_2_active, r.cert_2_last_rotated = "false", "N/A", "false", "N/A"
  for k, v in pairs(t or {}) do r[k] = v end
  return r
end
local function root(t)
  local r = user("<root_account>", {arn = "arn:aws:iam::123456789012:root", password_enabled = "not_supported",
                                    password_last_used = "no_information", password_last_changed = "not_supported",
                                    password_next_rotation = "not_supported", mfa_active = "true"})
  for k, v in pairs(t or {}) do r[k] = v end
  return r
end

-- The rows as AWS would write them, through the real parser.
local function csv_of(rows)
  local lines = {COLS}
  for _, r in ipairs(rows) do
    local l = {}
    for i, c in ipairs(COLS) do l[i] = r[c] end
    lines[#lines + 1] = l
  end
  return core.csv_encode(lines)
end

local function run(rows, checks)
  local parsed = assert(report.rows(csv_of(rows)))
  return assert(findings.evaluate(checks or findings.bundled(), parsed, {id = "123456789012"}, GEN, NOW))
end

-- "check:user:subject" of each finding, sorted
local function ids(found)
  local out = {}
  for _, f in ipairs(found) do out[#out + 1] = f.check .. ":" .. f.user .. ":" .. (f.subject or "") end
  table.sort(out)
  return table.concat(out, " ")
end

T.eq(ids(run{root(), user("clean")}), "", "a clean report has no findings")

-- root
T.eq(ids(run{root{access_key_1_active = "true", access_key_1_last_rotated = ago(10)}}),
     "root_access_key:<root_account>:access_key_1", "root with an active key")
T.eq(ids(run{root{mfa_active = "false"}}), "root_no_mfa:<root_account>:", "root without MFA")
T.eq(ids(run{root{password_last_used = ago(3)}}), "root_used_recently:<root_account>:", "root used 3 days ago")
T.eq(ids(run{root{password_last_used = ago(31)}}), "", "root used 31 days ago (30 by default)")
T.eq(ids(run{root{access_key_2_last_used_date = ago(1)}}), "root_used_recently:<root_account>:", "a root key used yesterday")
T.eq(ids(run{root{password_enabled = "not_supported", password_last_used = "not_supported"}}), "",
     "not_supported is never a date")

-- console users without MFA
T.eq(ids(run{user("ann", {password_enabled = "true", password_last_used = ago(1), password_last_changed = ago(10)})}),
     "console_user_no_mfa:ann:", "console password, no MFA")
T.eq(ids(run{user("ann", {password_enabled = "true", password_last_used = ago(1), password_last_changed = ago(10),
                          mfa_active = "true"})}), "", "with MFA")

-- unused credentials (45 days or more)
T.eq(ids(run{user("bob", {password_enabled = "true", mfa_active = "true", password_last_used = ago(45),
                          password_last_changed = ago(100)})}), "credentials_unused:bob:password", "45 days")
T.eq(ids(run{user("bob", {password_enabled = "true", mfa_active = "true", password_last_used = ago(44),
                          password_last_changed = ago(100)})}), "", "44 days")
T.eq(ids(run{user("bob", {password_enabled = "true", mfa_active = "true", password_last_used = "no_information",
                          password_last_changed = ago(50)})}), "credentials_unused:bob:password",
     "no_information: idle since it was set")
T.eq(ids(run{user("bob", {password_enabled = "true", mfa_active = "true", password_last_used = "no_information",
                          password_last_changed = ago(5)})}), "", "no_information, set 5 days ago")
T.eq(ids(run{user("kim", {access_key_1_active = "true", access_key_1_last_rotated = ago(80),
                          access_key_1_last_used_date = ago(60)})}), "credentials_unused:kim:access_key_1",
     "a key last used 60 days ago")
T.eq(ids(run{user("kim", {access_key_1_active = "false", access_key_1_last_rotated = ago(80),
                          access_key_1_last_used_date = ago(60)})}), "", "an inactive key is no finding")

-- rotation (more than 90 days)
T.eq(ids(run{user("lee", {access_key_2_active = "true", access_key_2_last_rotated = ago(91),
                          access_key_2_last_used_date = ago(1)})}), "key_not_rotated:lee:access_key_2", "91 days")
T.eq(ids(run{user("lee", {access_key_2_active = "true", access_key_2_last_rotated = ago(89),
                          access_key_2_last_used_date = ago(1)})}), "", "89 days")

-- two active keys
T.eq(ids(run{user("max", {access_key_1_active = "true", access_key_1_last_rotated = ago(10), access_key_1_last_used_date = ago(1),
                          access_key_2_active = "true", access_key_2_last_rotated = ago(10), access_key_2_last_used_date = ago(1)})}),
     "multiple_active_keys:max:", "two active keys")

-- a key created with the user, never used
local created = ago(20)
T.eq(ids(run{user("new", {user_creation_time = created, access_key_1_active = "true", access_key_1_last_rotated = created})}),
     "key_unused_since_creation:new:access_key_1", "created with the user, never used")
T.eq(ids(run{user("new", {user_creation_time = created, access_key_1_active = "true", access_key_1_last_rotated = ago(19)})}),
     "", "created a day later")
T.eq(ids(run{user("new", {user_creation_time = created, access_key_1_active = "true", access_key_1_last_rotated = created,
                          access_key_1_last_used_date = ago(1)})}), "", "used since")

-- the root row is not a user, users are not root
T.eq(ids(run{root{password_enabled = "true", mfa_active = "true"}}), "", "user checks skip the root row")
T.eq(ids(run{user("notroot", {mfa_active = "false"})}), "", "root checks skip users")

-- each bundled check's evidence: the columns it names, for the key it is about
local function evidence_of(found, check)
  for _, x in ipairs(found) do
    if x.check == check then
      local cols = {}
      for k in pairs(x.evidence) do cols[#cols + 1] = k end
      table.sort(cols)
      return table.concat(cols, " ")
    end
  end
end
local both = user("two", {password_enabled = "true", mfa_active = "false", password_last_used = ago(50),
                          user_creation_time = created, access_key_2_active = "true", access_key_2_last_rotated = created,
                          access_key_1_active = "true", access_key_1_last_rotated = ago(100), access_key_1_last_used_date = ago(60)})
local found = run{root{mfa_active = "false", password_last_used = ago(1), access_key_2_active = "true",
                       access_key_2_last_rotated = ago(5)}, both}
T.eq(evidence_of(found, "root_access_key"), "access_key_2_active access_key_2_last_rotated access_key_2_last_used_date",
     "root_access_key: the key's columns")
T.eq(evidence_of(found, "root_no_mfa"), "mfa_active", "root_no_mfa")
T.eq(evidence_of(found, "root_used_recently"), "access_key_1_last_used_date access_key_2_last_used_date password_last_used",
     "root_used_recently")
T.eq(evidence_of(found, "console_user_no_mfa"), "mfa_active password_enabled password_last_used", "console_user_no_mfa")
T.eq(evidence_of(found, "key_not_rotated"), "access_key_1_active access_key_1_last_rotated", "key_not_rotated")
T.eq(evidence_of(found, "multiple_active_keys"),
     "access_key_1_active access_key_1_last_rotated access_key_2_active access_key_2_last_rotated", "multiple_active_keys")
T.eq(evidence_of(found, "key_unused_since_creation"),
     "access_key_2_active access_key_2_last_rotated access_key_2_last_used_date user_creation_time", "key_unused_since_creation")
local unused = {}
for _, x in ipairs(found) do
  if x.check == "credentials_unused" then
    local cols = {}
    for k in pairs(x.evidence) do cols[#cols + 1] = k end
    table.sort(cols)
    unused[#unused + 1] = x.subject .. ": " .. table.concat(cols, " ")
  end
end
table.sort(unused)
T.eq(table.concat(unused, "; "), "access_key_1: access_key_1_active access_key_1_last_rotated access_key_1_last_used_date; "
     .. "password: password_enabled password_last_changed password_last_used", "credentials_unused, for the password and the key")

-- evidence comes from the report; severity from the check
local f = run{root{access_key_1_active = "true", access_key_1_last_rotated = ago(10)}}[1]
T.eq(f.severity, "critical", "root key severity")
T.eq(f.evidence.access_key_1_last_rotated, ago(10), "evidence copied from the row")
T.eq(f.evidence.access_key_1_last_used_date, "N/A", "N/A kept as written")

-- settings: days, severities, off
local checks = findings.bundled{rotation_days = 30, key_not_rotated = "high", multiple_active_keys = "off"}
local two = user("max", {access_key_1_active = "true", access_key_1_last_rotated = ago(40), access_key_1_last_used_date = ago(1),
                         access_key_2_active = "true", access_key_2_last_rotated = ago(10), access_key_2_last_used_date = ago(1)})
local got = run({two}, checks)
T.eq(ids(got), "key_not_rotated:max:access_key_1", "rotation_days = 30, multiple_active_keys = off")
T.eq(got[1].severity, "high", "severity from settings")
T.eq(#findings.bundled{}, 8, "eight bundled checks")
T.check(findings.bundled{}[1].title and findings.bundled{}[1].cis == "1.4", "titles and CIS ids")

-- from Lua: remove, replace, add
checks = findings.bundled{}
findings.remove(checks, "root_no_mfa")
findings.replace(checks, {id = "key_not_rotated", title = "Key older than 7 days", severity = "low", scope = "users",
  evaluate = function(row, ctx, emit)
    if row.access_key_1_active == "true" and ctx.age_days(row.access_key_1_last_rotated) > 7 then
      emit("access_key_1", {"access_key_1_last_rotated"})
    end
  end})
checks[#checks + 1] = {id = "admin_named", title = "A user named like an admin", severity = "info",
  evaluate = function(row, _, emit) if row.user:find("admin", 1, true) then emit(nil, {user = row.user}) end end}
T.eq(findings.invalid(checks), nil, "a valid list")
got = run({root{mfa_active = "false"}, user("admin1", {access_key_1_active = "true", access_key_1_last_rotated = ago(8),
                                                       access_key_1_last_used_date = ago(1)})}, checks)
T.eq(ids(got), "admin_named:admin1: key_not_rotated:admin1:access_key_1", "removed, replaced and added")

-- mistakes in checks are found before a run, a raising check does not raise
T.check(findings.invalid{{id = "x y", title = "t", severity = "low", evaluate = print}}, "a bad id")
T.check(findings.invalid{{id = "x", title = "t", severity = "urgent", evaluate = print}}, "a bad severity")
T.check(findings.invalid{{id = "x", title = "t", severity = "low"}}, "no evaluate")
local dup = findings.bundled{}
dup[#dup + 1] = findings.bundled{}[1]
T.check((findings.invalid(dup) or ""):find("used twice", 1, true), "an id used twice")
local boom = {{id = "boom", title = "t", severity = "low", evaluate = function() error("kaput") end}}
local none, err = findings.evaluate(boom, {root()}, {id = "1"}, GEN, NOW)
T.check(none == nil and err:find("check boom", 1, true) and err:find("kaput", 1, true), tostring(err))

-- findings lines: every text escaped as JSON, one line each
local line = findings.encode_line{account = "1", account_name = 'a"b\nc\1', user = "u", check = "c", severity = "low",
                                  evidence = {z = "1", a = "/x"}}
T.check(not line:find("\n", 1, true), "one line")
local back = require("cjson").decode(line)
T.eq(back.account_name, 'a"b\nc\1', "control characters and quotes survive")
T.eq(back.evidence.a, "/x", "evidence")

-- the main thread's log: packed findings in, lines with change and first_seen out; the
-- one-pass path (nothing left to keep) and the line-by-line one give the same file
local cjson = require "cjson"
local the_run = {date = "2026-06-01", started = NOW, id = "r"}
local rows = {root{mfa_active = "false", access_key_1_active = "true", access_key_1_last_rotated = ago(3)},
              user("a/b", {password_enabled = "true", password_last_used = ago(100), password_last_changed = ago(200)})}
local found = run(rows)
-- Packed once: lua-cjson writes a table's keys in no fixed order (it can differ between two
-- packings of the same findings), and what is compared here is what the log makes of them.
local accounts, packed = {}, {}
for i = 1, 3 do
  accounts[i] = {id = "00000000000" .. i, name = 'n"' .. i, ou_path = "Root/X"}
  packed[i] = cjson.encode(findings.pack(found, accounts[i], GEN, false, findings.bundled{}))
end
local function file_of(keep_n, baseline)
  findings.KEEP = keep_n
  local log = findings.log(findings.bundled{}, baseline, the_run)
  for i = 1, 3 do
    local acct = accounts[i]
    local o = {findings = cjson.decode(packed[i]), generated_time = GEN}
    log:add(acct, o)
    T.eq(o.finding_counts.total, #found, "counts per account")
    T.eq(o.findings, nil, "the packed findings are taken")
  end
  findings.KEEP = 100
  local body, err = log:body()
  if io.type(body) == "file" then -- the spool, read here as the upload reads it: from its start
    local file = body
    body = file:seek("set") and file:read("a")
    file:close()
  end
  return body, log, err
end
local slow, slow_log = file_of(100)
local fast, fast_log = file_of(0)
T.eq(fast, slow, "the same file either way")
-- the lines wait in a temporary file; without one, or when it stops taking them, in memory
local real_open = findings.open_spool
findings.open_spool = function() return nil end
T.eq(file_of(100), slow, "the same file kept in memory")
local writes = 0
findings.open_spool = function()
  local f = io.tmpfile()
  return setmetatable({write = function(self, ...)
    writes = writes + 1
    if writes == 3 then f:write("partial") return nil, "No space left on device" end
    return f:write(...) and self
  end}, {__index = function(_, k) return function(_, ...) return f[k](f, ...) end end})
end
T.eq(file_of(100), slow, "the same file when the spool fails part way")
T.check(writes >= 3, "the spool failed part way")
local spool = io.tmpfile()
findings.open_spool = function() return spool end
local log = findings.log(findings.bundled{}, nil, the_run)
log:keep_lines("a")
T.eq(log:body(), spool, "the spool itself is the body")
T.eq(io.type(spool), "file", "left open for the upload")
T.eq(log:body(), "", "given once")
spool:close()
findings.open_spool = real_open
T.eq(fast_log.counts.new, 3 * #found, "all new")
for k, v in pairs(slow_log.counts) do T.eq(fast_log.counts[k], v, "the same count of " .. k) end
T.eq(fast_log.by_check.root_no_mfa.new, 3, "new per check (one pass)")
T.eq(slow_log.by_check.root_no_mfa.new, 3, "new per check (line by line)")
local nlines = 0
for l in slow:gmatch("[^\n]+") do
  local f = cjson.decode(l)
  nlines = nlines + 1
  T.check(f.change == "new" and f.first_seen == "2026-06-01" and f.account_name:find('"', 1, true), "a line: " .. l)
end
T.eq(nlines, 3 * #found, "one line per finding")
local kept = slow_log:new_in{"critical"}
T.check(#kept == 6 and kept[1].severity == "critical", "the most severe kept")

-- with a baseline: persisting keeps first_seen, a finding gone is resolved
local base_findings = {}
for l in slow:gmatch("[^\n]+") do
  local f = cjson.decode(l)
  f.first_seen = "2026-05-01"
  local per = base_findings[f.account] or {}
  base_findings[f.account] = per
  per[f.check .. "\0" .. f.user .. "\0" .. (f.subject or "")] = cjson.encode(f)
end
base_findings["000000000001"]["gone\0bob\0"] = cjson.encode{account = "000000000001", user = "bob", check = "gone",
                                                              severity = "low", first_seen = "2026-05-01"}
local body, log = file_of(100, {date = "2026-05-31", evaluated = {["000000000001"] = "x", ["000000000002"] = "x"},
                                findings = base_findings})
local changes = {}
for l in body:gmatch("[^\n]+") do
  local f = cjson.decode(l)
  changes[f.change] = (changes[f.change] or 0) + 1
  if f.change == "persisting" then T.eq(f.first_seen, "2026-05-01", "first_seen carried over") end
end
T.eq(changes.persisting, 2 * #found, "persisting in the two accounts compared")
T.eq(changes.new, #found, "new in the account not compared")
T.eq(changes.resolved, 1, "one resolved")
T.eq(log.counts.resolved, 1, "counted")
T.eq(log:resolved_list()[1].check, "gone", "listed")

-- an earlier day read back from S3 in pieces: lines cut anywhere by a piece's end come out
-- whole, the same as in one piece; a findings file that cannot be read leaves its run out
local fake = require "fake"
local delivery = require "credreport.delivery"
local bucket = fake.bucket("b")
local function put(key, text) bucket.objects["cr/" .. key] = {body = text, headers = {}} end
put("2026-05-31/manifest-r1.json", cjson.encode{run_id = "r1", accounts = {
  {id = "000000000001", findings = {total = 2}}, {id = "000000000002", findings = {total = 1}}, {id = "000000000003"}}})
put("2026-05-31/findings-r1.jsonl", slow) -- the lines of three accounts, from above
local dest = delivery.destination("s3://b/cr")
local function baseline(piece)
  local real = delivery.PIECE
  delivery.PIECE = piece
  local base = findings.load_baseline(fake.client(bucket.handlers), dest, "2026-06-01")
  delivery.PIECE = real
  return base
end
local whole, cut = baseline(1 << 20), baseline(13)
local function lines_of(base, account)
  local out = {}
  for k, v in pairs(base.findings[account] or {}) do out[#out + 1] = k .. "=" .. v end
  table.sort(out)
  return table.concat(out, "\n")
end
T.check(whole and whole.date == "2026-05-31" and whole.evaluated["000000000001"] == "r1", "the day's run read")
T.eq(whole.evaluated["000000000003"], nil, "an account its manifest shows not evaluated is not")
T.check(#lines_of(whole, "000000000001") > 0 and lines_of(cut, "000000000001") == lines_of(whole, "000000000001")
        and lines_of(cut, "000000000002") == lines_of(whole, "000000000002"), "13-byte pieces give the same lines")

-- the lines wait in a temporary file; without one, or when writing to it fails part way,
-- they wait in memory: the same lines either way
local tmpfile = findings.open_spool
local function same_as_whole(base)
  return lines_of(base, "000000000001") == lines_of(whole, "000000000001")
     and lines_of(base, "000000000002") == lines_of(whole, "000000000002")
end
findings.open_spool = function() return nil end
local in_memory = baseline(1 << 20)
local writes = 0
findings.open_spool = function()
  local f = tmpfile()
  return {seek = function(_, ...) return f:seek(...) end, read = function(_, ...) return f:read(...) end,
          setvbuf = function(_, ...) return f:setvbuf(...) end,
          write = function(_, s)
            writes = writes + 1
            if writes > 1 then return nil, "No space left on device" end
            return f:write(s)
          end}
end
local half_written = baseline(1 << 20)
local calls = 0
findings.open_spool = function()
  local f = tmpfile()
  return {seek = function(_, ...) return f:seek(...) end, read = function(_, ...) return f:read(...) end,
          setvbuf = function(_, ...) return f:setvbuf(...) end,
          write = function(_, s) calls = calls + 1 return f:write(s) end}
end
local batched = baseline(1 << 20)
findings.open_spool = tmpfile
T.check(#lines_of(whole, "000000000001") > 2 and calls == 2 and same_as_whole(batched),
        "an account's lines are written to the temporary file together: " .. calls .. " writes")
T.check(same_as_whole(in_memory), "no temporary file: the lines are kept in memory")
T.check(writes >= 2 and same_as_whole(half_written), "a temporary file that fills up: the rest in memory")
local compared = {}
for id in pairs(whole.findings) do compared[#compared + 1] = id end
table.sort(compared)
T.eq(table.concat(compared, " "), "000000000001 000000000002", "pairs: the accounts compared")
T.eq(whole.findings["000000000003"], nil, "an account not compared has no lines")
whole.findings["000000000001"] = nil
T.eq(whole.findings["000000000001"], nil, "an account's lines, once used, are let go")
T.check(#lines_of(whole, "000000000002") > 0, "the others' kept")
rawset(whole.findings, "000000000002", {mine = "set with rawset"})
local seen = {}
for id, lines in pairs(whole.findings) do seen[#seen + 1] = id .. ":" .. tostring(lines.mine) end
T.eq(table.concat(seen, " "), "000000000002:set with rawset", "pairs: an account set with rawset, once, as set")

-- spool_run (--resume): the lines of the accounts wanted, back from the spool in the file's order
local evaluated, store = findings.spool_run(fake.client(bucket.handlers), dest, "2026-05-31", "r1",
                                            function(id) return id == "000000000001" end)
local spooled, want = {}, {}
store:each("000000000001", function(_, text) spooled[#spooled + 1] = text end)
for l in slow:gmatch("[^\n]+") do
  local f = cjson.decode(l)
  if f.account == "000000000001" and f.change ~= "resolved" then want[#want + 1] = l end
end
T.check(#want > 1 and table.concat(spooled, "\n") == table.concat(want, "\n"),
        "spool_run: a wanted account's lines, in the file's order")
T.eq(store:each("000000000002", function() end), false, "spool_run: none of an account not wanted")
T.check(evaluated["000000000001"] and evaluated["000000000002"], "spool_run: the accounts the run evaluated")
bucket.objects["cr/2026-05-31/findings-r1.jsonl"] = nil
T.eq(findings.load_run(fake.client(bucket.handlers), dest, "2026-05-31", "r1", function() end), nil,
     "a run whose findings file cannot be read")

return T.done("findings")
