-- A workflow: which accounts (discover), what happens to each (process), and what happens
-- at the end (finish). workflow.new{...} builds the bundled behaviour from config.ini; every
-- field given to it replaces a default, so a custom script changes only what it names.
--
-- The C core calls discover() and finish() on the main thread and process() on worker
-- threads, each with its own copy of this script: state shared between them travels in the
-- account record and the outcome, both plain tables.
local core = require "credreport.core"
local config = require "credreport.config"
local run = require "credreport.run"
local organizations = require "credreport.organizations"
local report = require "credreport.report"
local delivery = require "credreport.delivery"
local notify = require "credreport.notify"
local manifest = require "credreport.manifest"
local pause = require "credreport.pause"
local patience = require "credreport.patience"
local tasks = require "credreport.tasks"
local findings = require "credreport.findings"
local dataset = require "credreport.dataset"
local summary = require "credreport.summary"
local cjson = require "cjson"

local M = {}
local Workflow = {}
Workflow.__index = Workflow

local function set_of(list)
  local s = {}
  for _, v in ipairs(list or {}) do s[v] = true end
  return s
end

local function log(level, msg, fields) core.log(level, msg, fields) end

-- opts (all optional):
--   ous, include, exclude, states, tags      scope (defaults: [accounts])
--   role_name, external_id, session_name     how to enter an account
--   management_account                        "self" | "assume" | "skip"
--   report = {retry_limit=, wait_interval=, wait_growth=, max_wait=, retry_on=}
--   destination, key_template, output = {...} where reports go (defaults: [output])
--   sns_topic_arn                             failure notifications ([notify])
--   filter(account) -> bool                   extra scope rule, on the main thread
--   on_report(account, csv, ctx) -> false     act on a report; false skips delivery
--   on_failure(account, err, ctx)             replaces the SNS notification
--   checks                                    the findings' checks (default: [findings]);
--                                             false: none
--   notify_findings                           severities of new findings to publish
function M.new(opts)
  opts = opts or {}
  local acc, out, nfy = config.accounts, config.output, config.notify
  local w = setmetatable({kept_credentials = {}}, Workflow)
  w.scope = {
    ous = opts.ous or acc.ous,
    include = set_of(opts.include or acc.include),
    exclude = set_of(opts.exclude or acc.exclude),
    states = set_of(opts.states or acc.states),
    tags = opts.tags or acc.tags,
  }
  w.role_name = opts.role_name or acc.role_name
  w.external_id = opts.external_id or acc.external_id
  w.session_name = opts.session_name or acc.session_name
  w.role_duration = opts.role_duration or acc.role_duration
  w.management_account = opts.management_account or acc.management_account
  w.policy = report.policy(opts.report, config.report)
  w.output = {}
  for k, v in pairs(out) do w.output[k] = v end
  for k, v in pairs(opts.output or {}) do w.output[k] = v end
  local dok, dest = pcall(delivery.destination, opts.destination or w.output.destination)
  if not dok then M.config_error(tostring(dest)) end
  w.dest = dest
  w.key_template = opts.key_template or w.output.key_template
  w.notify = {sns_topic_arn = opts.sns_topic_arn or nfy.sns_topic_arn, subject = nfy.subject, on = nfy.on}
  w.filter, w.on_report, w.on_failure = opts.filter, opts.on_report, opts.on_failure
  local tok, terr = core.check_key_template(w.key_template)
  if not tok then M.config_error("key_template " .. w.key_template .. ": " .. terr, terr) end
  local shard = opts.shard or config.run.shard
  if shard ~= "" then
    local k, n = core.check_shard(shard)
    if not k then M.config_error("shard " .. shard .. ": " .. n, n) end
    w.shard = {k = k, n = n}
  end
  w.resume = opts.resume
  if w.resume == nil then w.resume = config.run.resume end
  w.discovery_timeout = opts.discovery_timeout or config.run.discovery_timeout
  w.account_attempts = opts.account_attempts or config.run.account_attempts
  w.account_retry_delay = opts.account_retry_delay or config.run.account_retry_delay
  local fnd = config.findings
  if opts.checks ~= nil then
    w.checks = opts.checks or nil
  elseif fnd.enabled then
    w.checks = findings.bundled(fnd)
  end
  local bad = w.checks and findings.invalid(w.checks)
  if bad then M.config_error(bad) end
  w.notify_findings = opts.notify_findings or fnd.notify
  return w
end

-- Stops a run that cannot start because of its configuration (exit status 2). Only for a
-- script's setup, before any account is touched. why: what a core.check_* primitive said;
-- exactly "out of memory" is no mistake in the settings, and stops with the status of a run
-- that could not start.
function M.config_error(message, why)
  io.stderr:write("credreport: ", core.printable(message), "\n")
  os.exit(why == "out of memory" and core.exit.cannot_start or core.exit.usage)
end

-- The credentials credreport runs with, one client per thread.
function Workflow:client()
  if not self._client then
    local c, err = core.client{profile = config.aws.profile ~= "" and config.aws.profile or nil}
    if not c then error({code = "NoCredentials", message = err}, 0) end
    self._client = c
  end
  return self._client
end

-- true; false and why not (for people: "state SUSPENDED", "excluded"...); or nil and the
-- error when the filter raised (the account then fails with it).
function Workflow:in_scope(a)
  local s = self.scope
  if next(s.include) and not s.include[a.id] then return false, "not in [accounts] include" end
  if s.exclude[a.id] then return false, "excluded" end
  if next(s.states) and not s.states[a.state] then return false, "state " .. tostring(a.state) end
  -- Shards split by account id, so every host computes the same split with no coordination.
  if self.shard and (tonumber(a.id) % self.shard.n) ~= self.shard.k - 1 then
    return false, "another shard"
  end
  if self.filter then
    local ok, keep = pcall(self.filter, a)
    if not ok then
      return nil, {code = "ScriptError", message = "filter: " .. tostring(keep)}
    end
    if not keep then return false, "the filter" end
  end
  return true
end

-- A window of patience with outages (credreport.patience) that starts now: the calls made in
-- it are tried again until [run] discovery_timeout has gone without one that succeeded.
function Workflow:outage_window()
  return patience.window(self.discovery_timeout)
end

-- Checks what would otherwise fail every account, before any is touched: who the run's
-- credentials are, that the destination is usable and that the topic exists. They do not
-- depend on each other, so they are made at once: one round trip before the listing starts,
-- not three. A check that fails for a passing reason is tried again as a listing call is
-- (credreport.patience, within [run] discovery_timeout). Returns true, or nil and {check =,
-- resource =, code =, message =} of the first that failed, in that order (bad credentials
-- fail them all; the identity says why).
function Workflow:preflight()
  local ok, client = pcall(self.client, self)
  if not ok then
    return nil, {check = "credentials", resource = "the AWS credential chain",
                 code = client.code or "NoCredentials", message = tostring(client.message or client)}
  end
  local window = self:outage_window()
  local function patiently(doing, fn) return patience.call(fn, window, {doing = doing}) end
  local checks = {
    function()
      local me, err = patiently("checking the run's credentials", function()
        return client:query("sts", "GetCallerIdentity")
      end)
      if not me then
        return nil, {check = "caller identity (sts:GetCallerIdentity)", resource = "the run's credentials",
                     code = err.code, message = err.message}
      end
      self.caller = me
      local info = client:credentials_info() or {}
      log("info", "running as " .. tostring(me.Arn), {account = me.Account, credentials = info.source})
      return true
    end,
    function()
      local dok, derr = patiently("checking the destination", function()
        return delivery.check(client, self.dest, self.output)
      end)
      if dok then return true end
      return nil, {check = derr.check or "the destination", resource = delivery.describe(self.dest),
                   code = derr.code, message = derr.message}
    end,
  }
  if notify.enabled(self.notify) and not self.on_failure then
    checks[#checks + 1] = function()
      local nok, nerr = patiently("checking the SNS topic", function()
        return notify.check(client, self.notify)
      end)
      if nok then return true end
      return nil, {check = "the SNS topic (sns:GetTopicAttributes)", resource = self.notify.sns_topic_arn,
                   code = nerr.code, message = nerr.message}
    end
  end
  local passed, err = tasks.all(checks)
  if not passed and not err.check then -- a check that raised
    err.check, err.resource = "preflight", "the workflow"
  end
  return passed, err
end

-- Accounts delivered earlier the same day (manifest.delivered): id -> {run_id, location, key,
-- generated_time, sha256, bytes}. Raises {code = "ResumeFailed"} when the day's manifests
-- cannot be listed (tried again as a listing call is, within [run] discovery_timeout): a run
-- asked to resume stops rather than collect everything again.
function Workflow:delivered_today()
  -- The workers have no account yet: the checks may use every connection.
  core.all_connections(true)
  local ok, done, err = pcall(patience.call, function()
    return manifest.delivered(self:client(), self.dest, run.date, self.output)
  end, self:outage_window(), {doing = "listing the day's manifests"})
  core.all_connections(false)
  if not ok then error(done, 0) end
  if not done then
    error({code = "ResumeFailed", message = "cannot list earlier manifests: " .. tostring(err and err.message or err)}, 0)
  end
  return done
end

local function tag_match(tags, wanted)
  for _, t in ipairs(wanted or {}) do
    local k, v = t:match("^([^=]+)=(.*)$")
    if k then
      if tags[k] ~= v then return false end
    elseif tags[t] == nil then
      return false
    end
  end
  return true
end

-- What a first run from the wrong account meets when it lists the organization, said as the
-- fix.
local LISTING_HINTS = {
  AccessDeniedException = "the runner needs the runner policy, in the organization's management "
    .. "account or a delegated administrator (docs/deploy.md, sections 2 and 5)",
  AWSOrganizationsNotInUseException = "the account credreport runs in is not in an organization: "
    .. "run it in the management account or a delegated administrator (docs/deploy.md)",
}

-- Finds the accounts in scope and emits each as soon as it is known; skipped(account, why),
-- when given, hears of every account found but out of scope. Raises a table error
-- {code, message} when the organization cannot be listed.
function Workflow:discover(emit, skipped)
  skipped = skipped or function() end
  local client = self:client()
  local me = self.caller
  if not me then
    local err
    me, err = client:query("sts", "GetCallerIdentity")
    if not me then error(err, 0) end
    self.caller = me
  end
  local partition = me.Arn:match("^arn:([^:]+):") or "aws"
  local delivered = self.resume and self:delivered_today() or {}
  local pending_tags = {}
  local ok, derr = organizations.discover(client, self.scope.ous, function(a)
    -- An id goes into role ARNs, keys and paths: anything but 12 digits is not used.
    if not a.id:match("^%d%d%d%d%d%d%d%d%d%d%d%d$") then
      a.error = {code = "InvalidAccountId", message = "Organizations listed an account whose id is not "
                 .. "12 digits; it is not processed"}
      return emit(a)
    end
    local keep, why = self:in_scope(a)
    if keep == nil then
      a.error = why
      return emit(a)
    end
    if not keep then return skipped(a, why) end
    a.resumed = delivered[a.id]
    if a.id == me.Account then
      if self.management_account == "skip" then return skipped(a, "the management account (skip)") end
      a.own_credentials = self.management_account ~= "assume"
    end
    if not a.own_credentials then
      a.role_arn = ("arn:%s:iam::%s:role/%s"):format(partition, a.id, self.role_name)
    end
    if self.scope.tags and #self.scope.tags > 0 then
      pending_tags[#pending_tags + 1] = core.spawn(function()
        local tags, terr = organizations.tags(client, a.id)
        if not tags then
          -- Whether it is in scope is unknown: it fails, visibly, instead of vanishing.
          a.error = {code = terr.code, message = "cannot read the account's tags to decide "
                     .. "whether it is in scope: " .. tostring(terr.message)}
          emit(a)
        elseif tag_match(tags, self.scope.tags) then
          emit(a)
        else
          skipped(a, "tags")
        end
      end)
    else
      emit(a)
    end
  end, self.discovery_timeout)
  for _, t in ipairs(pending_tags) do t:join() end
  if not ok then
    local hint = type(derr) == "table" and LISTING_HINTS[derr.code]
    if hint then derr = {code = derr.code, message = M.describe(derr) .. "; " .. hint} end
    error(derr, 0)
  end
end

-- The client that acts in an account: the caller's own credentials, or the member role,
-- starting with the credentials prepare kept for it, if any. `ahead`: the role's calls wait
-- for connections ahead of the others (what prepare sends starts work that takes IAM
-- seconds, so it goes first).
function Workflow:account_client(a, ahead)
  if a.own_credentials then return self:client() end
  local kept = self.kept_credentials[a.id]
  self.kept_credentials[a.id] = nil
  return self:client():assume_role{
    role_arn = a.role_arn, session_name = self.session_name,
    external_id = self.external_id ~= "" and self.external_id or nil,
    duration = self.role_duration, ahead = ahead, credentials = kept,
  }
end

-- Called by the runner when the account's turn ends, whatever `process` did: credentials
-- prepare kept and a process of the script's own left unused go now, so that the run's budget
-- for them comes back when they are collected, not at the run's end.
function Workflow:end_turn(a)
  self.kept_credentials[a.id] = nil
end

function Workflow:key_for(a)
  return delivery.render(self.key_template, {
    date = run.date, time = run.time, run_id = run.id, account = a.id,
    account_name = a.name, ou_path = a.ou_path,
  })
end

-- Asks IAM to start generating the account's report, and nothing more: the runner calls it
-- for accounts still waiting their turn, so that the report is ready when it comes, and hands
-- `a` as left here to process() then, on this thread. The role's credentials are kept for
-- the turn while the run's budget for them allows (a call to STS saved for each). True when
-- it started a report (the runner goes on preparing while that pays). What fails here is met
-- again, and reported, in the turn.
function Workflow:prepare(a)
  local client = self:account_client(a, true)
  local gen = client:query("iam", "GenerateCredentialReport")
  if a.role_arn then
    self.kept_credentials[a.id] = gen and client:keep_credentials() or nil
    client:close()
  end
  if not gen or gen.State == "COMPLETE" then return false end
  a.report_requested = core.time()
  return true
end

-- Collects and delivers one account's report. Returns the outcome (a plain table).
function Workflow:collect(a, ctx)
  local client = self:account_client(a)
  local got, err = report.fetch(client, self.policy, {account = a.id}, a.report_requested)
  if a.role_arn then client:close() end
  if not got then return nil, err end
  if self.on_report and self.on_report(a, got.csv, ctx) == false then
    return {status = "skipped", reason = "on_report kept the report back",
            generated_time = got.generated_time, checks = got.checks}
  end
  local key, sha256 = self:key_for(a), core.digest("sha256", got.csv)
  local location, perr = delivery.put(self:client(), self.dest, self.output, key, got.csv, nil, sha256)
  if not location then return nil, perr end
  if self.output.dataset ~= "" then
    local dkey = dataset.partition_key(self.output.dataset, run.date, a.id)
    local dloc, derr = delivery.put(self:client(), self.dest, self.output, dkey, got.csv, nil, sha256)
    if not dloc then return nil, derr end
  end
  local outcome = {status = "delivered", key = key, location = location, generated_time = got.generated_time,
                   checks = got.checks, sha256 = sha256, bytes = #got.csv}
  self:examine(a, got, outcome)
  return outcome
end

-- Reads a delivered report once, here on the worker that has it: the findings (outcome.findings,
-- packed by findings.pack, or outcome.findings_error) and, with [output] consolidated_csv, its lines of the
-- consolidated CSV (outcome.consolidated). A report that cannot be parsed or a check that
-- raises does not fail the account: its report was delivered.
function Workflow:examine(a, got, outcome)
  if not self.checks and not self.output.consolidated_csv then return end
  local rows, perr = report.rows(got.csv)
  if not rows then
    outcome.findings_error = "the report could not be parsed: " .. perr
    log("warn", "report not analysed", {account = a.id, error = outcome.findings_error})
    return
  end
  if self.checks then
    local found, ferr = findings.evaluate(self.checks, rows, a, got.generated_time, run.started)
    if found then
      outcome.findings = findings.pack(found, a, got.generated_time, findings.stale(got.generated_time, run),
                                       self.checks)
    else
      outcome.findings_error = ferr
      log("warn", "report not analysed", {account = a.id, error = ferr})
    end
  end
  if self.output.consolidated_csv then
    outcome.consolidated = dataset.chunk(a, got.generated_time, rows)
  end
end

-- What went wrong, for the manifest, the log and the summary: the service's message, the call
-- and the endpoint it went to, and a hint when the cause is a common one.
function M.describe(err, w)
  if type(err) ~= "table" then return tostring(err) end
  local msg = tostring(err.message or "")
  if err.credentials then
    if err.code == "AccessDenied" or err.code == "AccessDeniedException" then
      msg = msg .. "; is the member role" .. (w and w.role_name and (" " .. w.role_name) or "")
        .. " deployed in this account, trusting the runner? See docs/deploy.md, the member role"
    end
  elseif err.service and err.action then
    msg = ("%s (%s %s%s)"):format(msg, err.service, err.action, err.host and (" on " .. err.host) or "")
  end
  return msg
end

-- Errors that a later attempt may not meet: throttling, 5xx and network failures that
-- outlasted the request's own retries, and credentials that expired on the way.
local PASSING = {ExpiredToken = true, ExpiredTokenException = true, RequestExpired = true,
                 IDPCommunicationError = true}
function M.transient(err)
  return type(err) == "table" and (err.retryable == true or PASSING[err.code] == true)
end

-- One try of collect: the outcome, or nil and the error (a raised one included).
local function try_collect(self, a, ctx)
  local ok, outcome, err = pcall(self.collect, self, a, ctx)
  if ok and outcome then return outcome end
  if not ok then
    err = type(outcome) == "table" and outcome or {code = "ScriptError", message = tostring(outcome)}
  end
  return nil, err
end

-- An account that failed for a passing reason gets up to account_attempts tries, the n-th
-- after account_retry_delay * 2^(n-2) seconds (and up to a quarter more, so that accounts that
-- failed together do not come back together). Every final failure, including a script error
-- in a hook, is notified (or handed to on_failure).
function Workflow:process(a)
  local ctx = {run = run, workflow = self}
  local attempts, outcome, err = 0, nil, nil
  repeat
    attempts = attempts + 1
    outcome, err = try_collect(self, a, ctx)
    if outcome then
      outcome.attempts = attempts
      return outcome
    end
    local again = attempts < self.account_attempts and M.transient(err) and not core.stopping()
    if again then
      local delay = self.account_retry_delay * 2 ^ (attempts - 1) * (1 + math.random() / 4)
      log("info", "will try the account again", {account = a.id, code = err.code, attempt = attempts,
                                                 retry_in = math.floor(delay + 0.5)})
      pause(delay)
    end
  until not again or core.stopping()
  outcome = {status = "failed", attempts = attempts,
             error = {code = tostring(err.code or "Error"), message = M.describe(err, self)}}
  if self.on_failure then
    local hok, herr = pcall(self.on_failure, a, outcome.error, ctx)
    if not hok then outcome.notification_error = "on_failure: " .. tostring(herr) end
  elseif notify.enabled(self.notify) then
    notify.budget = self.discovery_timeout
    local id, nerr = notify.account_failed(self:client(), self.notify, run, a, outcome.error)
    if not id then
      log("error", "SNS notification failed", {account = a.id, error = tostring(nerr)})
      outcome.notification_error = tostring(nerr)
    end
  end
  return outcome
end

-- The client that reads and writes the run's own files at the destination: nil, and the
-- credentials error when the destination needs credentials and the run has none. A folder
-- needs none, so its files are written even then.
local function destination_client(self)
  local ok, client = pcall(self.client, self)
  if ok then return client end
  if delivery.needs_credentials(self.dest) then return nil, client end
  return nil
end

-- The run's findings on the main thread, compared with the latest earlier day's. Only with
-- checks. The earlier days are listed as the day's manifests are for --resume: a listing that
-- failed for a passing reason would make every finding new, and notify them as such.
local function load_findings_log(self)
  local started = core.monotonic()
  local client, err = destination_client(self)
  local base
  if not err then
    base, err = patience.call(function()
      return findings.load_baseline(client, self.dest, run.date, nil, self.output)
    end, self:outage_window(), {doing = "listing the earlier days"})
  end
  if err then
    log("warn", "cannot read earlier findings: every finding counts as new",
        {error = tostring(type(err) == "table" and err.message or err)})
  elseif base then
    log("info", "read the findings of " .. base.date .. " to compare with",
        {seconds = math.floor((core.monotonic() - started) * 10 + 0.5) / 10})
  end
  return findings.log(self.checks, base, run)
end

-- Called by the runner as the run starts, on the main thread: the earlier day's findings
-- are read meanwhile, while the organization is listed and the first reports generate, not
-- when the first outcome arrives. For a large organization they are hundreds of MB, and the
-- findings of every outcome that arrives before they are read wait for them
-- (defer_findings).
local function findings_loader(self)
  self._findings_loader = self._findings_loader or core.spawn(load_findings_log, self)
  return self._findings_loader
end

function Workflow:start()
  if self.checks then findings_loader(self) end
end

-- The findings of outcomes that arrive while the earlier day's are still being read wait for
-- the log: their lines and keys (the bulk: a large organization's run hundreds of MB) in a
-- temporary file, the rest in memory; in memory whole when no such file takes them.
local function defer_findings(self, o)
  local p, d = o.findings, {outcome = o}
  if self._deferred_spool == nil then self._deferred_spool = findings.spool_file() or false end
  local spool = self._deferred_spool
  if spool and type(p.lines) == "string" and type(p.keys) == "string" then
    local at = spool:seek("end")
    if at and spool:write(p.lines, p.keys) then
      d.at, d.lines, d.keys = at, #p.lines, #p.keys
      p.lines, p.keys = nil, nil
    end
  end
  self._deferred = self._deferred or {}
  self._deferred[#self._deferred + 1] = d
end

-- The outcome as it arrived, its lines and keys read back.
local function undefer(self, d)
  local o = d.outcome
  if d.at then
    local spool = self._deferred_spool
    local text = spool:seek("set", d.at) and spool:read(d.lines + d.keys)
    if type(text) == "string" and #text == d.lines + d.keys then
      o.findings.lines, o.findings.keys = text:sub(1, d.lines), text:sub(d.lines + 1)
    else
      o.findings, o.findings_error = nil, "the findings could not be read back from a temporary file"
      log("error", "findings lost", {account = o.account.id, error = o.findings_error})
    end
  end
  return o
end

function Workflow:findings_log()
  if not self._findings_log then
    local ok, flog = findings_loader(self):join()
    if not ok then error(flog, 0) end
    self._findings_log = flog
    for _, d in ipairs(self._deferred or {}) do
      local o = undefer(self, d)
      if o.findings then flog:add(o.account, o) end
    end
    self._deferred = nil
    if self._deferred_spool then self._deferred_spool:close() end
    self._deferred_spool = nil
  end
  return self._findings_log
end

function Workflow:on_outcome(o)
  if self.checks and o.findings then
    if self._findings_loader and not self._findings_loader:done() then
      defer_findings(self, o)
    else
      self:findings_log():add(o.account, o)
    end
  end
  local a = o.account
  if o.status == "failed" and o.error.code == "Interrupted" then
    return -- counted in the summary, not a line each
  elseif o.status == "failed" then
    log("warn", "failed", {account = a.id, code = o.error.code, error = o.error.message})
    if o.notification_error then
      log("error", "the failure could not be notified", {account = a.id, error = o.notification_error})
    end
  elseif o.resumed_from then
    log("info", "resumed from " .. o.resumed_from, {account = a.id, location = o.location})
  else
    log("info", o.status, {account = a.id, location = o.location, reason = o.reason,
                           checks = math.tointeger(o.checks) or o.checks,
                           attempts = math.tointeger(o.attempts),
                           seconds = math.floor((o.duration or 0) * 10 + 0.5) / 10})
  end
end

-- Findings the outcomes still carry (a custom on_outcome that did not call this one), and
-- those of accounts delivered earlier today (--resume): read back from the run that
-- collected them, so that they are neither lost nor counted as resolved.
function Workflow:gather_findings(info, client)
  local flog = self:findings_log()
  local resumed = {} -- run id -> {account id = outcome}
  for _, id in ipairs(info.order) do
    local o = info.outcomes[id]
    if o and o.findings then
      flog:add(o.account, o)
    elseif o and o.resumed_from and o.status == "delivered" then
      resumed[o.resumed_from] = resumed[o.resumed_from] or {}
      resumed[o.resumed_from][id] = o
    end
  end
  -- The lines wait in a spool file, not as tables: those of thousands of accounts are tens of MB.
  for run_id, outcomes in pairs(resumed) do
    local evaluated, store = findings.spool_run(client, self.dest, run.date, run_id,
                                                function(id) return outcomes[id] ~= nil end, self.output)
    for id, o in pairs(outcomes) do
      if evaluated and evaluated[id] then
        local found = {}
        store:each(id, function(_, text) found[#found + 1] = findings.compact(cjson.decode(text)) end)
        o.findings = findings.pack(found, o.account, o.generated_time,
                                   findings.stale(o.generated_time, run), self.checks)
        flog:add(o.account, o)
      end
    end
  end
  return flog
end

-- The consolidated CSV: a header, then each delivered account's lines in discovery order
-- (accounts delivered earlier today are read back from the destination).
function Workflow:consolidated_csv(info, client)
  local parts = {dataset.header()}
  for _, id in ipairs(info.order) do
    local o = info.outcomes[id]
    if o and o.consolidated then
      parts[#parts + 1] = o.consolidated
      o.consolidated = nil
    elseif o and o.resumed_from and o.key then
      local body, err = delivery.get(client, self.dest, o.key, self.output)
      local rows, perr = report.rows(body or "")
      if rows then
        parts[#parts + 1] = dataset.chunk(o.account, o.generated_time, rows)
      else
        log("warn", "a report delivered earlier is missing from the consolidated CSV",
            {account = id, error = tostring(err and (err.message or err) or perr)})
      end
    end
  end
  return table.concat(parts)
end

-- The run's exit status (core.exit), as monitoring reads it. complete: every file of the
-- run was written.
local function exit_status(info, counts, complete)
  if info.interrupted then return info.interrupted.status end
  if info.discovery_error then return core.exit.cannot_start end
  if #info.order == 0 then return core.exit.nothing_in_scope end
  if counts.failed > 0 or not complete or #(info.requested_missing or {}) > 0 then
    return core.exit.accounts_failed
  end
  return core.exit.delivered
end

-- The top-level findings of the manifest: the log's counts, the day compared with and the
-- findings file (nil when it was not written).
local function manifest_findings(flog, file)
  local f = {}
  for k, v in pairs(flog.counts) do f[k] = v end
  f.compared_with = flog.baseline and flog.baseline.date or nil
  f.file = file
  return f
end

-- Writes the findings file, the consolidated CSV, the manifest and the summary page, prints
-- the summary, notifies, and returns the exit status.
function Workflow:finish(info)
  info.destination = delivery.describe(self.dest)
  info.shard = self.shard
  local client, cerr = destination_client(self)
  local files, unwritten = {}, 0
  local window = self:outage_window()
  -- Stores a file of the run beside the manifest (the run's record, which --resume reads:
  -- tried again as a listing call is); logs and counts it when it cannot (or when its body
  -- could not be made: why). A body that is a file is closed.
  local function store(key, body, content_type, what, why)
    local location, err = nil, why or cerr
    if not err then
      location, err = patience.call(function()
        return delivery.put(client, self.dest, self.output, key, body, content_type)
      end, window, {doing = "writing the " .. what})
    end
    if io.type(body) == "file" then body:close() end
    if not location then
      unwritten = unwritten + 1
      log("error", "cannot write the " .. what, {key = key, error = tostring(err and (err.message or err))})
    end
    return location
  end
  local flog = self.checks and self:gather_findings(info, client)
  if flog then
    local body, berr = flog:body()
    files.findings = store(findings.key(run), body, "application/x-ndjson", "findings", berr)
  end
  if self.output.consolidated_csv then
    files.consolidated = store(dataset.consolidated_key(run), self:consolidated_csv(info, client), "text/csv",
                               "consolidated CSV")
  end
  local m, counts = manifest.build(run, info)
  m.findings = flog and manifest_findings(flog, files.findings and findings.key(run)) or nil
  -- Through a temporary file, as the findings: at 10,000 accounts the text is megabytes.
  local spool = io.tmpfile()
  local body = spool and manifest.write(m, spool) or manifest.encode(m)
  files.manifest = store(manifest.key(run), body, "application/json", "manifest")
  if self.output.summary_page then
    files.summary = store(summary.key(run), summary.html(m, flog, files), "text/html; charset=utf-8", "summary page")
  end
  local text = summary.text(m, counts, flog, files, self.output.summary_page)
  io.stdout:write(text, "\n")
  io.stdout:flush()
  if client and notify.enabled(self.notify) then
    notify.budget = self.discovery_timeout
    notify.run_ended(client, self.notify, run, {text = text, counts = counts, log = flog, files = files,
                                                severities = self.notify_findings})
  end
  return exit_status(info, counts, unwritten == 0)
end

return M
