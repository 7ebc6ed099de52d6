-- The credential report of one account: ask IAM to generate it, wait while it is not
-- COMPLETE, then fetch and decode it. How long and how often to wait is the caller's policy.
local core = require "credreport.core"

local M = {}

-- The polling settings, and the built-in values used when neither a script nor config.ini
-- gives one: those of the system credreport replaces.
local FIELDS = {"retry_limit", "wait_interval", "wait_growth", "max_wait", "retry_on"}
local DEFAULTS = {retry_limit = 45, wait_interval = 60, wait_growth = 1}

-- GetCredentialReport's "no report to give" errors: by the codes IAM sends, and by the names
-- its API reference (CredentialReportNotReady) and the SDKs (...Exception) give them, which
-- an endpoint other than AWS may send instead. Each means what IAM's code means, and
-- retry_on, which lists IAM's codes, covers it.
local REPORT_STATES = {}
for code, names in pairs({ReportInProgress = "NotReady", ReportNotPresent = "NotPresent",
                          ReportExpired = "Expired"}) do
  REPORT_STATES[code] = code
  REPORT_STATES["CredentialReport" .. names] = code
  REPORT_STATES["CredentialReport" .. names .. "Exception"] = code
end

-- A check comes too early for the run's reports when fewer than one in this many would have
-- been found by then, and when at least this many checks were made there (policy.skips).
M.EARLY_CHECKS = 24

-- A polling policy from [report]-shaped settings, each field taken from `settings`, else from
-- `base` (workflow.new passes config.report), else the defaults: retry_limit checks at most,
-- waiting wait_interval seconds, each wait `wait_growth` times the previous, never above
-- max_wait.
function M.policy(settings, base)
  local s = {}
  for _, k in ipairs(FIELDS) do
    local v = settings and settings[k]
    if v == nil and base then v = base[k] end
    if v == nil then v = DEFAULTS[k] end
    s[k] = v
  end
  local retry_on = {}
  for _, code in ipairs(s.retry_on or {}) do retry_on[code] = true end
  -- What the run has seen at each point of its schedules (the n-th wait after IAM said it
  -- STARTED a report): how many checks were made there, and how many found the report.
  local made, found = {}, {}
  return {
    retry_limit = s.retry_limit,
    wait = function(check)
      local w = s.wait_interval * s.wait_growth ^ (check - 1)
      return math.min(w, s.max_wait or w)
    end,
    -- Errors that mean "not yet": the configured codes, and AWS errors the core already
    -- retried without success (throttling, 5xx) that deserve another round later. Not
    -- getting into the account (credentials) is not a report that is late: the account
    -- fails, and may be tried again as a whole.
    waits_on = function(err)
      return type(err) == "table" and not err.credentials and
             (retry_on[REPORT_STATES[err.code] or err.code] or err.retryable == true)
    end,
    learn = function(point, ready)
      made[point] = (made[point] or 0) + 1
      if ready then found[point] = (found[point] or 0) + 1 end
    end,
    -- Whether the check at this point comes too early for the run's reports: fewer than one
    -- in EARLY_CHECKS would have been found by then, as the checks made at this point and
    -- every one before it (at least EARLY_CHECKS at each) tell. The accounts still to check
    -- there skip it and check at the next point, as the few whose report would have been
    -- ready there will too. At 1,000 accounts whose reports take 2-6 s, the checks after 1 s
    -- find none of them, and those after 2.1 s 1 in 40.
    skips = function(point)
      local unfound = 1
      for p = 1, point do
        local n = made[p] or 0
        if n < M.EARLY_CHECKS then return false end
        unfound = unfound * (1 - (found[p] or 0) / n)
      end
      return 1 - unfound < 1 / M.EARLY_CHECKS
    end,
  }
end

-- Between the checks of its schedule, an account of a thread that has run short of work (the
-- run's last accounts: every account started, fewer in flight than connections) is checked
-- every IDLE_WAIT seconds, or a twentieth of the time it has waited when that is longer,
-- where the schedule waits at least 4 times as long. The run ends when their reports are
-- seen, and the schedule's waits have grown by then (1.5 s after 6 s); the connections are
-- idle, and IAM's limits are per account. These checks are not counted in retry_limit: the
-- schedule keeps its time. Each has one attempt: an account whose IAM refuses one (it
-- throttles) is left to its schedule, never delayed by the retries' waits.
M.IDLE_WAIT = 0.25
local EXTRA = {attempts = 1}

-- IAM regenerates a report at most every 4 hours, and its clock and ours may differ: a report
-- generated this long before IAM said it started a new one is the old report.
local CLOCK_SKEW = 900

-- A call's result, or nil and its error: without the metadata a successful call brings.
local function result(res, err)
  if res then return res end
  return nil, err
end

-- Returns {csv=, generated_time=, checks=} or nil, err (err.code "ReportNotReady" when the
-- report was not COMPLETE within the policy's checks). fields, when given, go with the debug
-- lines that trace the polling (e.g. {account = id}). requested_at (seconds since the epoch,
-- core.time()), when given, is when IAM said it started generating a report for this account
-- earlier in the run: the checks ask for the report itself, on the schedule that began then.
--
-- Each check is one call. GenerateCredentialReport first; once IAM says STARTED (or
-- INPROGRESS), the checks ask GetCredentialReport, which answers ReportInProgress
-- until the report is ready and then the report itself: one call fewer per account than
-- generating until COMPLETE and then getting. ReportNotPresent or ReportExpired (or an old
-- or empty report) sends the next check back to GenerateCredentialReport.
function M.fetch(client, policy, fields, requested_at)
  local checks = 0 -- those of the schedule, which policy.retry_limit counts
  local extras = 0 -- those between them (M.IDLE_WAIT)
  local extra = false -- whether this check is one of them
  local no_extras = false -- after one failed
  local last_err
  local started = core.monotonic()
  local due -- core.monotonic() when the next check is due
  local generating_since = requested_at -- when IAM said a new report was being generated (epoch s)
  local waits = 0
  local wait -- the schedule's wait before the next check
  local point -- waits since IAM said it STARTED generating (and the policy learns which
              -- checks come too early)
  -- The checks the run has found too early are not made: the next one is waited for.
  local function skip_early()
    while point and policy.skips(point) do
      waits, point = waits + 1, point + 1
      due = due + policy.wait(waits)
      local now = core.monotonic()
      if fields then
        core.log("debug", "report check skipped: too early for this run's reports",
                 {account = fields.account, next_check_in = due - now})
      end
      core.sleep(math.max(0, due - now))
    end
  end
  if requested_at then
    -- The report was asked for before this call (W:prepare): its schedule began then. The
    -- first check comes at once, unless the run found checks at the report's age too early,
    -- and the waits after it are those of that age, not the first ones again (reports of
    -- 20-40 s: 3 checks an account that find them not ready, instead of 6-8).
    local age, passed = core.time() - requested_at, 0
    while waits < policy.retry_limit do
      local w = policy.wait(waits + 1)
      if passed + w > age then break end
      passed, waits = passed + w, waits + 1
    end
    due = core.monotonic() - math.max(0, age - passed) -- when the check at this age was due
    point = policy.skips and waits or nil
    skip_early()
    due = core.monotonic()
  end
  while true do
    if extra then extras = extras + 1 else checks = checks + 1 end
    local rep, err, state
    if generating_since then
      -- Due checks beyond what the connections can carry wait their turn here, in the task.
      core.wait_queue()
      rep, err = result(client:query("iam", "GetCredentialReport", nil, extra and EXTRA or nil))
      local t = rep and M.epoch(rep.GeneratedTime)
      local code = err and REPORT_STATES[err.code]
      if t and t < generating_since - CLOCK_SKEW then
        rep, state, generating_since = nil, "OLD_REPORT", nil
      elseif code == "ReportNotPresent" or code == "ReportExpired" then
        state, err, generating_since = code, nil, nil
      elseif code == "ReportInProgress" then
        state, err = code, nil
      end
      if point and not extra and (rep or state == "ReportInProgress") then policy.learn(point, rep ~= nil) end
    else
      local gen
      gen, err = result(client:query("iam", "GenerateCredentialReport"))
      if gen and gen.State == "COMPLETE" then
        -- ReportInProgress and the like: generate again after a wait
        rep, err = result(client:query("iam", "GetCredentialReport"))
      elseif gen then
        state, generating_since = gen.State, os.time()
        point = gen.State == "STARTED" and policy.skips and 0 or nil
      end
    end
    if rep and (rep.Content == nil or rep.Content == "") then
      -- Not a report (AWS's always has a header and the root user's row): ask again.
      rep, state, generating_since = nil, "EMPTY_REPORT", nil
    end
    if rep then
      local csv, derr = core.base64_decode(rep.Content)
      if not csv then return nil, {code = "MalformedReport", message = derr} end
      return {csv = csv, generated_time = rep.GeneratedTime, checks = checks + extras}
    end
    if err then
      if not policy.waits_on(err) then return nil, err end
      last_err, no_extras = err, no_extras or extra
    end
    if not extra then
      if checks >= policy.retry_limit then
        local detail = last_err and ("; last error " .. tostring(last_err.code)) or ""
        local more = extras > 0 and (", and %d checks between them with few accounts left"):format(extras) or ""
        return nil, {code = "ReportNotReady",
                     message = ("credential report not COMPLETE after %d checks over %.0f s (retry_limit %d%s%s)"):format(
                       checks, core.monotonic() - started, policy.retry_limit, more, detail)}
      end
      -- The checks keep to a schedule that starts when the first one is answered (when IAM
      -- started generating): each comes its wait after the previous one was due, however
      -- long the calls queued and took; after a call slower than its wait (throttled,
      -- retried) half the wait still passes.
      waits = waits + 1
      wait = policy.wait(waits)
      local now = core.monotonic()
      due = math.max((due or now) + wait, now + wait / 2)
      if fields then
        core.log("debug", "report not ready", {account = fields.account, check = checks,
                 state = state or (err and err.code), next_check_in = due - now})
      end
    end
    -- A report being generated (not an error) may be checked sooner, between these.
    local now = core.monotonic()
    local idle = math.max(M.IDLE_WAIT, (now - started) / 20)
    if state ~= "ReportInProgress" or idle * 4 > wait or no_extras then idle = nil end
    extra = core.sleep(math.max(0, due - now), idle)
    if not extra then
      point = generating_since and point and point + 1
      skip_early()
    end
  end
end

-- The report's yes/no columns. AWS writes "true" and "false", and checks (the bundled ones and
-- scripts') compare with those; an endpoint other than AWS may capitalize them (Python's
-- True), which read as "not true" made every root user one without MFA.
local FLAGS = {"password_enabled", "mfa_active", "access_key_1_active", "access_key_2_active",
               "cert_1_active", "cert_2_active"}
local FLAG_VALUES = {True = "true", TRUE = "true", False = "false", FALSE = "false"}

-- Parses the CSV into rows keyed by column name (columns differ between report versions, so
-- read them by name, never by position), with core.csv_decode: rows, columns, or nil and
-- "line N: ..." when the text is not a well-formed CSV with a header row. Yes/no columns
-- read "true" or "false", however the report capitalized them.
function M.rows(csv)
  local rows, columns = core.csv_decode(csv)
  for _, row in ipairs(rows or {}) do
    for _, f in ipairs(FLAGS) do
      local v = FLAG_VALUES[row[f]]
      if v then row[f] = v end
    end
  end
  return rows, columns
end

-- The report's special values: not dates, not booleans. "N/A": not applicable (no password,
-- no key, never used); "no_information": no sign-in recorded (password_last_used);
-- "not_supported": does not apply to the root user's row.
M.SPECIAL = {["N/A"] = true, no_information = true, not_supported = true}
M.ROOT_USER = "<root_account>"

-- Seconds since the epoch of a report time ("2024-01-15T08:30:00+00:00", AWS writes UTC), or
-- nil for a special value or anything else that is not such a time. Computed by hand:
-- os.time() would read the fields as local time.
function M.epoch(iso)
  if type(iso) ~= "string" or not iso:find("^%d") then return nil end -- N/A, no_information...
  local y, mo, d, h, mi, s, rest = iso:match("^(%d%d%d%d)-(%d%d)-(%d%d)T(%d%d):(%d%d):(%d%d)(.*)$")
  if not y then return nil end
  y, mo = tonumber(y), tonumber(mo)
  local offset = 0
  local sign, oh, om = rest:match("([+-])(%d%d):?(%d%d)$")
  if sign then offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "+" and 1 or -1) end
  if mo <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * (mo + (mo > 2 and -3 or 9)) + 2) // 5 + tonumber(d) - 1
  local days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s) - offset
end

return M
