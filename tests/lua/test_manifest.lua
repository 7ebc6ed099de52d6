-- credreport.manifest: the rows and counts built from a run's outcomes, the JSON's key order,
-- and what --resume trusts (manifest.delivered): the latest claim first, unreadable manifests
-- skipped, a report that is missing or differs not resumed; in a folder and in a fake bucket.
local core = require "credreport.core"
local delivery = require "credreport.delivery"
local manifest = require "credreport.manifest"
local cjson = require "cjson"
local fake = require "fake"
local T = require "testlib"

local RUN = {id = "20260601T100000Z-aa", date = "2026-06-01", started_iso = "2026-06-01T10:00:00Z", version = "t"}
T.eq(manifest.key(RUN), "2026-06-01/manifest-20260601T100000Z-aa.json", "the manifest's key")

-- build: one row per account in scope, in discovery order
local function acct(id) return {id = id, name = "n" .. id, state = "ACTIVE", ou_path = "Root/Prod"} end
local info = {
  order = {"1", "2", "3", "4", "5"},
  accounts = {["1"] = acct("1"), ["2"] = acct("2"), ["3"] = acct("3"), ["4"] = acct("4"), ["5"] = acct("5")},
  outcomes = {
    ["1"] = {account = acct("1"), status = "delivered", key = "k1", location = "/r/k1", sha256 = "ab", bytes = 10,
             generated_time = "g", checks = 2.0, attempts = 1.0, duration = 1.23456, finding_counts = {total = 0}},
    ["2"] = {account = acct("2"), status = "failed", error = {code = "AccessDenied", message = "no"},
             notification_error = "sns down"},
    ["3"] = {account = acct("3"), status = "skipped", reason = "on_report kept the report back"},
    ["4"] = {account = acct("4"), status = "delivered", resumed_from = "r0", key = "k4"},
  },
  destination = "/r", shard = {k = 2, n = 3},
}
local m, counts = manifest.build(RUN, info)
T.eq(#m.accounts, 5, "every account has a row")
T.eq(table.concat({counts.delivered, counts.failed, counts.skipped, counts.resumed}, " "), "2 2 1 1",
     "counts: delivered (resumed included), failed (no outcome included), skipped, resumed")
T.eq(math.type(m.accounts[1].checks), "integer", "numbers back from JSON are integers again")
T.eq(math.type(m.accounts[1].attempts), "integer", "attempts too")
T.eq(m.accounts[1].duration_seconds, 1.235, "durations in milliseconds")
T.eq(m.accounts[2].notification_error, "sns down", "a failure keeps its notification error")
T.eq(m.accounts[4].resumed_from, "r0", "a resumed row names its run")
T.eq(m.accounts[5].error.code, "NoOutcome", "an account without an outcome failed with NoOutcome")
T.eq(m.shard, "2/3", "the shard as K/N")
T.eq(m.summary.in_scope, 5, "in scope")
info.interrupted = {signal = "SIGTERM", status = 143}
m = manifest.build(RUN, info)
T.eq(m.accounts[5].error.code, "Interrupted", "stopped by a signal: Interrupted")
T.eq(m.interrupted_by, "SIGTERM", "and the manifest names the signal")

-- encode: keys in the documented order, custom keys after them sorted, "/" as is
m.zz_custom, m.aa_custom = 1, 2
m.accounts[1].extra = true
local text = manifest.encode(m)
local function before(a, b, what)
  local i, j = text:find('"' .. a .. '"', 1, true), text:find('"' .. b .. '"', 1, true)
  T.check(i and j and i < j, what .. ": " .. a .. " before " .. b)
end
before("run_id", "started", "top level")
before("started", "finished", "top level")
before("version", "destination", "top level")
before("shard", "interrupted_by", "top level")
before("summary", "aa_custom", "custom keys after the known ones")
before("aa_custom", "zz_custom", "custom keys sorted")
before("zz_custom", "accounts", "accounts last")
local row = text:match('\n    (%b{})')
T.check(row and row:find('^{"id"'), "a row starts with its id")
T.check(row and row:find('"status".*"key".*"location".*"sha256".*"bytes".*"duration_seconds".*"extra"'),
        "a row's keys in order, a custom one last: " .. tostring(row))
T.check(text:find('"destination": "/r"', 1, true), "slashes are not escaped")
T.eq(select(2, text:gsub('\n    {"id"', "")), 5, "one account a line")
local back = cjson.decode(text)
T.eq(back.accounts[2].error.code, "AccessDenied", "the text decodes to the same manifest")
-- written to a file, row by row: the same text
local spool = io.tmpfile()
T.eq(manifest.write(m, spool), spool, "written into the file given")
T.eq(spool:seek("set") and spool:read("a"), text, "the file holds the same text")
spool:close()
local full = setmetatable({}, {__index = {write = function() return nil, "No space left on device" end}})
local none, why = manifest.write(m, full)
T.check(none == nil and why:find("cannot write the manifest", 1, true), "a write that fails: " .. tostring(why))
T.check(manifest.encode(manifest.build(RUN, {order = {}, accounts = {}, outcomes = {}})):find('"accounts": []', 1, true),
        "no account: an empty list, not {}")
-- Names come from the organization: whatever they hold, the row's line decodes to them, and
-- one account stays one line.
local names = {'say "hi"', "back\\slash", "tab\there", "new\nline", "del\127", "nul\0byte", "a/b", "café 中",
               "plain"}
local odd = {order = {}, accounts = {}, outcomes = {}}
for i, name in ipairs(names) do
  local a = acct(tostring(i))
  a.name = name
  odd.order[i], odd.accounts[a.id] = a.id, a
end
text = manifest.encode(manifest.build(RUN, odd))
T.eq(select(2, text:gsub('\n    {"id"', "")), #names, "names that need escaping: still one account a line")
back = cjson.decode(text)
for i, name in ipairs(names) do
  T.eq(back.accounts[i].name, name, "a name decodes as it was: " .. ("%q"):format(name))
  local as_cjson = cjson.encode(name):gsub("\\/", "/")
  T.check(text:find('"name": ' .. as_cjson .. ',', 1, true), "and is written as lua-cjson writes it: " .. as_cjson)
end

-- Numbers (the writer formats most without lua-cjson): a float as lua-cjson writes it, an
-- integer exactly (lua-cjson would round one beyond 14 digits).
local numbers = {1.235, 0.1, 1e-05, 1e+20, -0.0, 2.0 ^ 53, 5.0, 1 / 3, 3, -7, math.maxinteger}
local nums = {order = {"1"}, accounts = {["1"] = acct("1")}, outcomes = {}}
local mn = manifest.build(RUN, nums)
for i, v in ipairs(numbers) do mn.accounts[1]["n" .. string.char(96 + i)] = v end
text = manifest.encode(mn)
for i, v in ipairs(numbers) do
  local want = '"n' .. string.char(96 + i) .. '": ' .. (math.type(v) == "integer" and tostring(v) or cjson.encode(v))
  T.check(text:find(want, 1, true), ("%s (%s) written as %s"):format(v, math.type(v), want))
end
T.check(not pcall(manifest.encode, {accounts = {{id = "1", duration_seconds = 0 / 0}}}),
        "a NaN is refused, as lua-cjson refuses it")

-- ---- resume: what the day's manifests claim, and what holds ---------------------------------
local DATE = "2026-06-01"
local function report(id) return "report of " .. id .. "\n" end
local function claim(id, body, extra)
  local r = {id = id, status = "delivered", key = DATE .. "/credentialReport_" .. id .. ".csv",
             location = "somewhere", sha256 = core.digest("sha256", body), bytes = #body,
             report_generated_time = "g-" .. id}
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end
local function manifest_text(run_id, rows)
  return manifest.encode{run_id = run_id, summary = {}, accounts = rows}
end

-- The same day, in any destination: put writes through delivery, so both backends are read
-- back the way the run wrote them.
local function scenario(client, dest, out)
  local function put(key, body) assert(delivery.put(client, dest, out, key, body)) end
  for _, id in ipairs{"111111111111", "222222222222", "333333333333", "444444444444", "555555555555", "666666666666"} do
    put(DATE .. "/credentialReport_" .. id .. ".csv", report(id))
  end
  local a, b = "111111111111", "222222222222"
  -- run 1 delivered a, b, c, d; run 2 delivered a again (resumed from run 1) and e
  put(DATE .. "/manifest-20260601T010000Z-r1.json", manifest_text("20260601T010000Z-r1", {
    claim(a, report(a)), claim(b, report(b)),
    claim("333333333333", report("333333333333")), claim("444444444444", "what it was then\n"),
    claim("666666666666", report("666666666666"), {status = "failed", error = {code = "X", message = "y"}}),
  }))
  put(DATE .. "/manifest-20260601T020000Z-r2.json", manifest_text("20260601T020000Z-r2", {
    claim(a, report(a), {resumed_from = "20260601T010000Z-r1", location = "latest"}),
    -- a claim that does not hold (a forged or stale checksum): the earlier one is tried
    claim(b, "a forged report\n"),
    claim("555555555555", report("555555555555"), {key = DATE .. "/gone.csv"}),
  }))
  put(DATE .. "/manifest-20260601T030000Z-r3.json", "{not json")
  put(DATE .. "/findings-20260601T010000Z-r1.jsonl", "{}\n")
end

local function check_claims(done, where)
  T.check(done, where .. ": manifests read")
  done = done or {}
  T.eq(done["111111111111"] and done["111111111111"].location, "latest", where .. ": the latest claim first")
  T.eq(done["111111111111"] and done["111111111111"].run_id, "20260601T010000Z-r1",
       where .. ": a resumed row names the run that collected the report")
  T.eq(done["222222222222"] and done["222222222222"].manifest, "manifest-20260601T010000Z-r1.json",
       where .. ": a claim that does not hold gives way to an earlier one that does")
  T.eq(done["222222222222"] and done["222222222222"].generated_time, "g-222222222222", where .. ": with its report time")
  T.check(done["333333333333"], where .. ": a claim that holds is resumed")
  T.eq(done["444444444444"], nil, where .. ": a report that differs from its claim is not resumed")
  T.eq(done["555555555555"], nil, where .. ": a report that is missing is not resumed")
  T.eq(done["666666666666"], nil, where .. ": a failed row is no claim, whatever it records")
  local n = 0
  for _ in pairs(done) do n = n + 1 end
  T.eq(n, 3, where .. ": three accounts resumed")
end

local dir, cleanup = fake.tmpdir()
local folder = delivery.destination(dir)
scenario(nil, folder, {})
check_claims(manifest.delivered(nil, folder, DATE), "folder")
local none = manifest.delivered(nil, folder, "2026-05-31")
T.check(none and next(none) == nil, "a day without manifests resumes nothing")
cleanup()

local OUT = {checksum = "sha256", expected_bucket_owner = "111111111111", region = ""}
local bucket = fake.bucket("audit", "111111111111")
local client = fake.client(bucket.handlers)
local s3 = delivery.destination("s3://audit/reports")
scenario(client, s3, OUT)
client = fake.client(bucket.handlers)
check_claims(manifest.delivered(client, s3, DATE, OUT), "s3")
T.eq(#client:calls("s3 GET") - 1, 4,
     "s3: one listing and the three manifests read (not the reports), the one not laid out a row per line again whole")
T.check(#client:calls("s3 HEAD") >= 5, "s3: the claims are checked with HEAD")
local got, err = manifest.delivered(fake.client{["s3 GET"] = fake.sequence{fake.error("AccessDenied")}}, s3, DATE, OUT)
T.check(not got and err.code == "AccessDenied", "manifests that cannot be listed: nil and the error")

-- each_row: the rows of a manifest as written (one per line, each decoded on its own), of one
-- laid out otherwise (decoded whole), the same; braces and "}," inside values change nothing
local odd = {id = "000000000009", name = "team {a},", state = "ACTIVE", ou_path = "Root/{x}",
             status = "failed", error = {code = "X", message = "bad }, {\n\"quoted\""}}
local with_odd = manifest.build(RUN, {order = {"000000000009"}, accounts = {["000000000009"] = odd},
                                      outcomes = {["000000000009"] = {account = odd, status = "failed",
                                                                      error = odd.error}}})
local function rows_of(text)
  local ids = {}
  local ok = manifest.each_row(text, function(row)
    ids[#ids + 1] = row.id .. ":" .. row.status .. ":" .. tostring(row.name)
  end)
  return ok and table.concat(ids, " ") or ok
end
local written = rows_of(manifest.encode(m))
local expected = {}
for _, row in ipairs(m.accounts) do expected[#expected + 1] = row.id .. ":" .. row.status .. ":" .. tostring(row.name) end
T.eq(written, table.concat(expected, " "), "each_row: every row of a manifest as written, in order")
T.eq(rows_of(cjson.encode(m)), written, "each_row: a manifest on one line, the same rows")
T.eq(rows_of(manifest.encode(m):sub(1, -8)), written, "each_row: row by row, not the whole text at once")
T.eq(rows_of(manifest.encode(with_odd)), "000000000009:failed:team {a},", "each_row: braces inside values")
T.eq(rows_of("not a manifest"), false, "each_row: text that is not a manifest")
T.eq(rows_of(cjson.encode{run_id = "r", accounts = {}}), "", "each_row: a manifest without accounts")
local decode, decoded = cjson.decode, 0
cjson.decode = function(...) decoded = decoded + 1; return decode(...) end
rows_of(cjson.encode(m))
cjson.decode = decode
T.eq(decoded, 1, "each_row: a manifest on one line is decoded once")

-- each_stored_row: a manifest at the destination read line by line in pieces, never whole
-- when it is laid out a row per line; one laid out otherwise is read again whole
local stored = fake.bucket("audit", "111111111111")
local function stored_rows(text)
  stored.objects["reports/m.json"] = {body = text, headers = {}}
  local c = fake.client(stored.handlers)
  local ids = {}
  local ok, err = manifest.each_stored_row(c, s3, "m.json", OUT, function(row)
    ids[#ids + 1] = row.id .. ":" .. row.status .. ":" .. tostring(row.name)
  end)
  local ranged = 0
  for _, r in ipairs(c.requests) do if r.headers.range then ranged = ranged + 1 end end
  if ok == nil then return err.code end
  return ok and table.concat(ids, " "), #c.requests, ranged
end
local real_piece = delivery.PIECE
delivery.PIECE = 64
local text = manifest.encode(m)
local got, calls, ranged = stored_rows(text)
T.eq(got, written, "each_stored_row: every row of a manifest as written, in order")
T.eq(ranged, math.ceil(#text / 64), "each_stored_row: read in ranged pieces only")
got, calls = stored_rows(cjson.encode(m))
T.eq(got, written, "each_stored_row: a manifest on one line, the same rows")
T.eq(calls, math.ceil(#cjson.encode(m) / 64), "each_stored_row: a manifest on one line is read once")
got, calls, ranged = stored_rows(cjson.encode{run_id = "r", accounts = {{id = "000000000001", status = "failed"}}}
                                 :gsub(",", ",\n  "))
T.eq(got, "000000000001:failed:nil", "each_stored_row: a manifest laid out otherwise, read again whole")
T.eq(calls - ranged, 1, "each_stored_row: that is one more read")
T.eq(stored_rows("not a manifest"), false, "each_stored_row: an object that is not a manifest")
T.eq(manifest.each_stored_row(fake.client(stored.handlers), s3, "gone.json", OUT, function() end), nil,
     "each_stored_row: a missing manifest")
delivery.PIECE = real_piece

return T.done("manifest")
