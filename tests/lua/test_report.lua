-- credreport.report: the polling policy (settings over config.ini over the defaults, wait
-- growth, max wait, which errors mean "not yet") and report.fetch against a fake IAM (retry
-- limit, GetCredentialReport polled once a report is being generated, ReportInProgress and
-- the like waited on, other errors returned as they came).
local report = require "credreport.report"
local fake = require "fake"
local T = require "testlib"

local CSV = "user,arn\n<root_account>,arn:aws:iam::123456789012:root\n"

-- policy: where each value comes from
local p = report.policy(nil)
T.eq(p.retry_limit, 45, "default retry_limit")
T.eq(p.wait(1), 60, "default wait_interval")
T.eq(p.wait(7), 60, "default wait_growth 1: the wait does not grow")
p = report.policy({retry_limit = 3}, {retry_limit = 10, wait_interval = 2, wait_growth = 2, max_wait = 5})
T.eq(p.retry_limit, 3, "a setting wins over the base")
T.eq(p.wait(1), 2, "wait_interval from the base")
T.eq(p.wait(2), 4, "the second wait grows by wait_growth")
T.eq(p.wait(3), 5, "the third would be 8: max_wait caps it")
T.eq(p.wait(20), 5, "capped for good")
p = report.policy({wait_interval = 1}, {wait_interval = 9, retry_on = {"LimitExceeded"}})
T.eq(p.wait(1), 1, "a setting wins for every field")
T.check(p.waits_on(fake.error("LimitExceeded")), "retry_on from the base")

-- waits_on: the configured codes and retryable errors, never a way into the account
p = report.policy{retry_on = {"ReportInProgress", "LimitExceeded"}}
T.check(p.waits_on(fake.error("ReportInProgress")), "a retry_on code is waited on")
T.check(p.waits_on(fake.error("InternalFailure", {retryable = true})), "a retryable error is waited on")
T.check(not p.waits_on(fake.error("AccessDenied")), "AccessDenied is not")
T.check(not p.waits_on(fake.error("Throttling", {retryable = true, credentials = true})),
        "a role that could not be assumed is not a late report, retryable or not")
T.check(not p.waits_on("a string"), "a string error is not")

-- A fake account whose GenerateCredentialReport answers `states` in turn (errors included)
-- and whose GetCredentialReport answers `gets` in turn.
local function account(states, gets)
  local answers = {}
  for i, s in ipairs(states) do answers[i] = fake.is_error(s) and s or {State = s} end
  return fake.client{
    ["iam GenerateCredentialReport"] = fake.sequence(answers),
    ["iam GetCredentialReport"] = fake.sequence(gets or {fake.report(CSV, "2026-06-01T10:00:00Z")}),
  }
end

-- A policy with tiny waits that records each wait it is asked for.
local function recording(settings)
  local policy = report.policy(settings, {wait_interval = 0.001, retry_on = {"LimitExceeded", "ReportInProgress"}})
  local inner, waits = policy.wait, {}
  policy.wait = function(n)
    local w = inner(n)
    waits[#waits + 1] = w
    return w
  end
  return policy, waits
end

-- COMPLETE at once
local c = account{"COMPLETE"}
local policy, waits = recording{}
local got, err = report.fetch(c, policy)
T.check(got and got.csv == CSV, "the report is decoded: " .. tostring(err))
T.eq(got and got.generated_time, "2026-06-01T10:00:00Z", "generated_time from GetCredentialReport")
T.eq(got and got.checks, 1, "one check")
T.eq(#c:calls("iam GenerateCredentialReport"), 1, "one GenerateCredentialReport")
T.eq(#c:calls("iam GetCredentialReport"), 1, "one GetCredentialReport")
T.eq(#waits, 0, "no wait")
T.eq(c.requests[1].action, "GenerateCredentialReport", "generate first")
T.eq(c.requests[2].action, "GetCredentialReport", "then get")

-- STARTED: the checks then ask GetCredentialReport until it is ready; the waits grow, capped
local NOW = os.date("!%Y-%m-%dT%H:%M:%SZ")
local in_progress = fake.error("ReportInProgress", {status = 404})
c = account({"STARTED"}, {in_progress, in_progress, fake.report(CSV, NOW)})
policy, waits = recording{wait_growth = 2, max_wait = 0.003}
got, err = report.fetch(c, policy)
T.check(got and got.csv == CSV, "the report comes from the polling GetCredentialReport: " .. tostring(err))
T.eq(got and got.checks, 4, "four checks")
T.eq(#c:calls("iam GenerateCredentialReport"), 1, "one GenerateCredentialReport")
T.eq(#c:calls("iam GetCredentialReport"), 3, "then GetCredentialReport until the report comes")
T.eq(table.concat(waits, " "), "0.001 0.002 0.003", "each wait grows by wait_growth, up to max_wait")

-- The checks keep to a schedule counted from the first one's answer: on a fake clock where
-- every call takes 0.25 s, they still start 2, 5 and 9.5 s after that answer (waits of 2, 3,
-- 4.5); a call slower than its wait (10 s against 6.75) is followed by half the wait, not by
-- another call at once, and the schedule goes on from there.
do
  local core = require "credreport.core"
  local real_monotonic, real_sleep = core.monotonic, core.sleep
  local now, starts, durations = 100, {}, {0.25, 0.25, 0.25, 10, 0.25, 0.25}
  local function slow(answer)
    return function()
      starts[#starts + 1] = now
      now = now + durations[#starts]
      if fake.is_error(answer) then return nil, answer end
      return answer
    end
  end
  c = fake.client{
    ["iam GenerateCredentialReport"] = slow({State = "STARTED"}),
    ["iam GetCredentialReport"] = function(...)
      return slow(#starts < 5 and in_progress or fake.report(CSV, NOW))(...)
    end,
  }
  core.monotonic = function() return now end
  core.sleep = function(s) now = now + s end
  local ok, got_or_err, ferr = pcall(report.fetch, c, report.policy({}, {wait_interval = 2, wait_growth = 1.5, retry_on = {}}))
  core.monotonic, core.sleep = real_monotonic, real_sleep
  T.check(ok and got_or_err and got_or_err.checks == 6, "six checks: " .. tostring(ok and (ferr and ferr.message) or got_or_err))
  local answered, offsets = starts[1] + durations[1], {}
  for i = 2, #starts do offsets[#offsets + 1] = ("%.3f"):format(starts[i] - answered) end
  T.eq(table.concat(offsets, " "), "2.000 5.000 9.500 22.875 33.000",
       "checks on the schedule; half the wait after the slow one")
end

-- A report asked for before the call (requested_at, W:prepare) is checked on the schedule
-- that began when it was asked for, not from the call: waits of 2, 3 and 4.5 s put the checks
-- 2, 5 and 9.5 s after the ask. On a fake clock where calls take no time, a call 0.5 s after
-- the ask checks 1.5 s later, at the first; one 6 s after it (past the second) checks at once,
-- then after the third wait (4.5 s), not the first (2 s); and where the run found the checks
-- after the first wait too early, one 2.5 s after the ask checks at 5 s.
do
  local core = require "credreport.core"
  local real_monotonic, real_sleep, real_time = core.monotonic, core.sleep, core.time
  local now, checked_at, start_at = 1000, {}, nil
  core.monotonic = function() return now end
  core.time = function() return now end
  core.sleep = function(s) now = now + s end
  local function fetch(asked_ago, gets, policy)
    checked_at = {}
    local answers = fake.sequence(gets)
    c = fake.client{["iam GetCredentialReport"] = function(...)
      checked_at[#checked_at + 1] = ("%.2f"):format(now - (start_at - asked_ago))
      return answers(...)
    end}
    start_at = now
    return pcall(report.fetch, c, policy or report.policy({}, {wait_interval = 2, wait_growth = 1.5, retry_on = {}}),
                 nil, now - asked_ago)
  end
  local ok1, got1 = fetch(0.5, {fake.report(CSV, NOW)})
  local at1 = table.concat(checked_at, " ")
  local ok2, got2 = fetch(6, {in_progress, fake.report(CSV, NOW)})
  local at2 = table.concat(checked_at, " ")
  local taught = report.policy({}, {wait_interval = 2, wait_growth = 1.5, retry_on = {}})
  for _ = 1, report.EARLY_CHECKS do taught.learn(1, false) end
  local ok3, got3 = fetch(2.5, {fake.report(CSV, NOW)}, taught)
  local at3 = table.concat(checked_at, " ")
  core.monotonic, core.sleep, core.time = real_monotonic, real_sleep, real_time
  T.check(ok1 and got1 and got1.checks == 1, "asked 0.5 s before: one check: " .. tostring(got1))
  T.eq(at1, "2.00", "asked 0.5 s before: checked at the schedule's first point, 2 s after the ask")
  T.check(ok2 and got2 and got2.checks == 2, "asked 6 s before: two checks: " .. tostring(got2))
  T.eq(at2, "6.00 10.50", "asked 6 s before: checked at once, then after the schedule's wait at that age")
  T.check(ok3 and got3 and got3.checks == 1, "asked 2.5 s before, a run that found 2 s too early: one check: "
          .. tostring(got3))
  T.eq(at3, "5.00", "and that check skips the point the run found too early: 5 s after the ask")
end

-- A check by which fewer than one report in EARLY_CHECKS would have been found is skipped by
-- the run's later accounts. Here EARLY_CHECKS accounts find none after the first wait and
-- theirs after the second: the next account makes no check after the first wait.
policy, waits = recording{}
local checks_made = 0
for _ = 1, report.EARLY_CHECKS do
  c = account({"STARTED"}, {in_progress, fake.report(CSV, NOW)})
  got = report.fetch(c, policy)
  checks_made = checks_made + (got and got.checks or 0)
end
T.eq(checks_made, 3 * report.EARLY_CHECKS, "each of the first accounts checks after each wait")
T.check(policy.skips(1), "the check after the first wait is early")
T.check(not policy.skips(2), "the second, where every report was found, is not")
local waits_before = #waits
c = account({"STARTED"}, {fake.report(CSV, NOW)})
do
  local core = require "credreport.core"
  local real_log, logged = core.log, {}
  core.log = function(level, msg, f) logged[#logged + 1] = level .. " " .. msg .. " " .. tostring(f and f.account) end
  got, err = report.fetch(c, policy, {account = "111122223333"})
  core.log = real_log
  T.eq(logged[2], "debug report check skipped: too early for this run's reports 111122223333",
       "the skip is traced with the account: " .. table.concat(logged, "; "))
end
T.eq(got and got.checks, 2, "the next account: generate, then one get: " .. tostring(err and err.message))
T.eq(#waits - waits_before, 2, "after both waits")
-- A report IAM was already generating (INPROGRESS) started at a time unknown: no check skipped.
waits_before = #waits
c = account({"INPROGRESS"}, {fake.report(CSV, NOW)})
got, err = report.fetch(c, policy)
T.eq(got and got.checks, 2, "INPROGRESS: the check after the first wait is made: " .. tostring(err and err.message))
T.eq(#waits - waits_before, 1, "after one wait")

-- Which points are early: fewer than one report in EARLY_CHECKS found by then, as the checks
-- at that point and every one before it tell (a check late in the schedule that keeps
-- finding nothing, of a report that never completes, is not early once earlier checks found
-- reports; nor are many checks that each find a few, when the few add up).
p = report.policy(nil)
for _ = 1, report.EARLY_CHECKS do p.learn(2, false) end
T.check(not p.skips(2), "not early while the point before it is not")
for _ = 1, report.EARLY_CHECKS - 1 do p.learn(1, false) end
T.check(not p.skips(1), "early only after EARLY_CHECKS checks")
p.learn(1, true)
p.learn(1, true)
T.check(not p.skips(1) and not p.skips(2), "2 reports found in EARLY_CHECKS + 1: not early")
for _ = 1, report.EARLY_CHECKS + 2 do p.learn(1, false) end
T.check(p.skips(1) and p.skips(2), "2 in 2 x EARLY_CHECKS + 3: early, and so is the next point")
p = report.policy(nil)
local n = report.EARLY_CHECKS + 6
for point = 1, 2 do
  for i = 1, n do p.learn(point, i == 1) end
end
T.check(p.skips(1), "1 report in EARLY_CHECKS + 6 found: early")
T.check(not p.skips(2), "as many again at the next point: 2 in about as many accounts, not early")

-- INPROGRESS (another caller started it) is polled the same way; ReportInProgress is IAM's
-- "not yet" there even when retry_on does not name it
c = account({"INPROGRESS"}, {in_progress, fake.report(CSV, NOW)})
got, err = report.fetch(c, report.policy({}, {wait_interval = 0.001, retry_on = {}}))
T.eq(got and got.checks, 3, "INPROGRESS, ReportInProgress, the report: " .. tostring(err and err.message))

-- ReportNotPresent or ReportExpired while polling: the report must be generated again
for _, code in ipairs{"ReportNotPresent", "ReportExpired"} do
  c = account({"STARTED", "STARTED"}, {fake.error(code, {status = 410}), fake.report(CSV, NOW)})
  got, err = report.fetch(c, report.policy({}, {wait_interval = 0.001, retry_on = {}}))
  T.eq(got and got.checks, 4, code .. " while polling: generate, get, generate, get: " .. tostring(err and err.message))
  T.eq(#c:calls("iam GenerateCredentialReport"), 2, code .. ": generated again")
end

-- a report from before IAM started the new one is the old one: generate until COMPLETE
c = account({"STARTED", "COMPLETE"}, {fake.report(CSV, "2020-01-01T00:00:00Z")})
got, err = report.fetch(c, (recording{}))
T.eq(got and got.checks, 3, "an old report while polling: generate again, COMPLETE, get: " .. tostring(err and err.message))
T.eq(#c:calls("iam GenerateCredentialReport"), 2, "two GenerateCredentialReport")
T.eq(got and got.generated_time, "2020-01-01T00:00:00Z", "IAM's COMPLETE makes it the report (stale reports are AWS's to serve)")

-- requested_at (an earlier GenerateCredentialReport, W:prepare): the first check gets the report
c = account({}, {fake.report(CSV, NOW)})
got, err = report.fetch(c, (recording{}), nil, os.time() - 10)
T.eq(got and got.checks, 1, "requested earlier: one check: " .. tostring(err and err.message))
T.eq(#c:calls("iam GenerateCredentialReport"), 0, "without generating again")
c = account({"COMPLETE"}, {fake.report(CSV, "2020-01-01T00:00:00Z"), fake.report(CSV, "2020-01-01T00:00:00Z")})
got, err = report.fetch(c, (recording{}), nil, os.time() - 10)
T.eq(got and got.checks, 2, "requested earlier, but the report is older than the request: generate, then get: "
     .. tostring(err and err.message))
c = account({"STARTED"}, {fake.error("ReportNotPresent", {status = 410}), fake.report(CSV, NOW)})
got, err = report.fetch(c, (recording{}), nil, os.time() - 10)
T.eq(got and got.checks, 3, "requested earlier, but IAM has none: generate, then get: " .. tostring(err and err.message))

-- a report without content is no report: asked for again, never delivered empty
c = account({"COMPLETE"}, {{Content = "", GeneratedTime = NOW}, fake.report(CSV, NOW)})
got, err = report.fetch(c, (recording{}))
T.check(got and got.csv == CSV, "an empty GetCredentialReport is checked again: " .. tostring(err and err.message))
T.eq(got and got.checks, 2, "two checks")
c = account({"STARTED"}, {{GeneratedTime = NOW}})
got, err = report.fetch(c, (recording{retry_limit = 3}))
T.eq(err and err.code, "ReportNotReady", "a report that stays empty: ReportNotReady, not an empty file")

-- the retry limit
c = account({"STARTED"}, {in_progress})
policy, waits = recording{retry_limit = 3}
got, err = report.fetch(c, policy)
T.check(not got, "never ready: no report")
T.eq(err and err.code, "ReportNotReady", "ReportNotReady")
T.check(err and tostring(err.message):find("after 3 checks", 1, true), "the message counts the checks: " .. tostring(err and err.message))
T.check(err and tostring(err.message):find("retry_limit 3", 1, true), "and names the limit")
T.eq(#c.requests, 3, "exactly retry_limit checks")
T.eq(#waits, 2, "no wait after the last check")
c = account{"INPROGRESS", fake.error("ServiceUnavailable", {retryable = true})}
c.handlers["iam GetCredentialReport"] = fake.sequence{fake.error("ServiceUnavailable", {retryable = true, status = 503})}
got, err = report.fetch(c, (recording{retry_limit = 2}))
T.check(err and tostring(err.message):find("last error ServiceUnavailable", 1, true),
        "a retryable error while polling is waited on, and named: " .. tostring(err and err.message))

-- errors that mean "not yet" are waited on, and the last one is named when time runs out
c = account{fake.error("LimitExceeded"), "COMPLETE"}
got = report.fetch(c, (recording{}))
T.eq(got and got.checks, 2, "LimitExceeded is waited on, then the report comes")
c = account{fake.error("LimitExceeded")}
got, err = report.fetch(c, (recording{retry_limit = 2}))
T.eq(err and err.code, "ReportNotReady", "LimitExceeded until the limit: ReportNotReady")
T.check(err and tostring(err.message):find("last error LimitExceeded", 1, true), "naming the last error: " .. tostring(err and err.message))

-- ReportInProgress from GetCredentialReport: generate again after a wait
c = account({"COMPLETE"}, {fake.error("ReportInProgress"), fake.report(CSV)})
policy, waits = recording{}
got, err = report.fetch(c, policy)
T.check(got and got.csv == CSV, "ReportInProgress, then the report: " .. tostring(err))
T.eq(got and got.checks, 2, "two checks")
T.eq(#c:calls("iam GenerateCredentialReport"), 2, "generated again")
T.eq(#waits, 1, "after one wait")

-- the same by the name IAM's API reference gives it (an endpoint other than AWS): retry_on's
-- ReportInProgress covers it
c = account({"COMPLETE"}, {fake.error("CredentialReportNotReadyException"), fake.report(CSV)})
policy, waits = recording{}
got, err = report.fetch(c, policy)
T.check(got and got.csv == CSV, "CredentialReportNotReadyException, then the report: " .. tostring(err))
T.eq(#c:calls("iam GenerateCredentialReport"), 2, "generated again after a wait")

-- other errors come back at once, as they came
local denied = fake.error("AccessDenied", {status = 403})
c = account{denied}
got, err = report.fetch(c, (recording{}))
T.check(not got and err == denied, "AccessDenied from Generate is returned as it came")
T.eq(#c.requests, 1, "without another call")
c = account({"COMPLETE"}, {fake.error("ReportNotPresent")})
got, err = report.fetch(c, (recording{}))
T.eq(err and err.code, "ReportNotPresent", "a Get error outside retry_on is returned")
T.eq(#c.requests, 2, "at once")
local locked_out = fake.error("Throttling", {retryable = true, credentials = true})
c = account{locked_out}
got, err = report.fetch(c, (recording{}))
T.check(err == locked_out and #c.requests == 1, "a role that could not be assumed is returned at once")

-- a report that is not base64
c = account({"COMPLETE"}, {{Content = "not base64!", GeneratedTime = "x"}})
got, err = report.fetch(c, (recording{}))
T.eq(err and err.code, "MalformedReport", "a body that is not base64")

-- report times
T.eq(report.epoch("1970-01-02T00:00:00+00:00"), 86400, "a report time")
T.eq(report.epoch("1970-01-02T01:00:00+01:00"), 86400, "its offset is honoured")
T.eq(report.epoch("N/A"), nil, "N/A is not a time")
T.eq(report.epoch("no_information"), nil, "nor no_information")

-- rows: yes/no columns read "true" or "false", however the report capitalized them
local rows = assert(report.rows("user,mfa_active,password_enabled,access_key_1_active,cert_1_active\n"
                                .. "<root_account>,True,not_supported,FALSE,false\nalice,false,TRUE,true,N/A\n"))
T.eq(rows[1].mfa_active, "true", "True is true")
T.eq(rows[1].access_key_1_active, "false", "FALSE is false")
T.eq(rows[1].password_enabled, "not_supported", "other values as they are")
T.eq(rows[2].password_enabled, "true", "TRUE is true")
T.eq(rows[2].cert_1_active, "N/A", "N/A as it is")
T.eq(rows[2].user, "alice", "other columns as they are")

return T.done("report")
