-- credreport.workflow against a fake client: an account's path (assume the member role,
-- generate, poll, get, deliver), on_report keeping a report back, on_failure and the SNS
-- notification, a second try after a failure that may pass, a filter that raises failing
-- only its account, resume, the shard, and what finish writes, prints, publishes and returns.
local core = require "credreport.core"
local run = require "credreport.run"
local workflow = require "credreport.workflow"
local findings = require "credreport.findings"
local fake = require "fake"
local T = require "testlib"

local MGMT, A, B, C = "111111111111", "222222222222", "333333333333", "444444444444"
local CSV = "user,arn\n<root_account>,arn:aws:iam::%s:root\n"
local TOPIC = "arn:aws:sns:eu-west-1:111111111111:credreport"

-- The organization and each account's IAM: `iam[id]` is the handler of that account's
-- GenerateCredentialReport ("own" for the run's own credentials).
local function org_client(iam, extra)
  local accounts = {}
  for _, id in ipairs{MGMT, A, B, C} do accounts[#accounts + 1] = {Id = id, Name = "acct-" .. id, State = "ACTIVE"} end
  local gen = {}
  for id, h in pairs(iam or {}) do gen[id] = h end
  return fake.client(fake.handlers({
    ["sts GetCallerIdentity"] = function() return {Account = MGMT, Arn = "arn:aws:iam::" .. MGMT .. ":user/runner"} end,
    ["organizations ListRoots"] = function() return {Roots = {{Id = "r-ab12", Name = "Root"}}} end,
    ["organizations ListAccountsForParent"] = function() return {Accounts = accounts} end,
    ["organizations ListOrganizationalUnitsForParent"] = function() return {OrganizationalUnits = {}} end,
    ["iam GenerateCredentialReport"] = fake.by_account(gen),
    ["iam GetCredentialReport"] = function(req)
      return fake.report(CSV:format(fake.account_of(req) or MGMT), "2026-06-01T10:00:00Z")
    end,
    ["sns Publish"] = function(req) return {MessageId = "m-" .. tostring(req.params.Subject)} end,
  }, extra or {}))
end

local function states(list) local t = {} for i, s in ipairs(list) do t[i] = fake.is_error(s) and s or {State = s} end return fake.sequence(t) end

local dir, cleanup = fake.tmpdir()

-- A workflow on the fake, delivering to the temporary folder, with waits too short to notice.
local function new(opts, client)
  local o = {destination = dir, checks = false, account_retry_delay = 0, sns_topic_arn = "",
             report = {wait_interval = 0.001, wait_growth = 1, retry_limit = 5}}
  for k, v in pairs(opts or {}) do o[k] = v end
  local w = workflow.new(o)
  w.client = function() return client end
  return w
end

local function member(id) return {id = id, name = "acct-" .. id, state = "ACTIVE", ou_path = "Root",
                                  role_arn = ("arn:aws:iam::%s:role/OrganizationAccountAccessRole"):format(id)} end
local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- ---- settings ---------------------------------------------------------------------------------
local w = workflow.new{report = {retry_limit = 7}, destination = dir, checks = false, shard = "2/3"}
T.eq(w.policy.retry_limit, 7, "opts.report wins over [report]")
T.eq(w.policy.wait(1), 1, "the rest comes from [report] (wait_interval 1)")
T.eq(w.shard.k .. "/" .. w.shard.n, "2/3", "the shard from opts")
T.eq(math.type(w.shard.k), "integer", "as integers")
T.check(w:in_scope{id = "000000000004", state = "ACTIVE"}, "account id 4 is shard 2 of 3 (4 mod 3 = 1)")
local keep, why = w:in_scope{id = "000000000005", state = "ACTIVE"}
T.check(not keep and why == "another shard", "account id 5 is not")
-- workflow.new checks opts.shard with core.check_shard: the rules of [run] shard
T.check(core.check_shard("3/3"), "3/3 is a shard")
T.check(not core.check_shard("4/3"), "4/3 is not")
T.check(not core.check_shard("1/10001"), "nor 1/10001 ([run] shard allows N up to 10000)")
T.check(not core.check_shard("two/3"), "nor two/3")
local _, auto_err = core.check_shard("auto/3")
T.check(os.getenv("JOB_COMPLETION_INDEX") or auto_err:find("JOB_COMPLETION_INDEX", 1, true),
        "auto/N without JOB_COMPLETION_INDEX says what is missing: " .. tostring(auto_err))
-- config_error: status 2 for a mistake in the settings, 3 when the check ran out of memory
do
  local exit, stderr, statuses = os.exit, io.stderr, {}
  os.exit = function(status) statuses[#statuses + 1] = status; error("exited", 0) end
  io.stderr = {write = function() end}
  pcall(workflow.config_error, "key_template x: takes {account}", "takes {account}")
  pcall(workflow.config_error, "key_template x: out of memory", "out of memory")
  pcall(workflow.config_error, "the OU workflow needs at least one OU")
  os.exit, io.stderr = exit, stderr
  T.eq(table.concat(statuses, " "), ("%d %d %d"):format(core.exit.usage, core.exit.cannot_start, core.exit.usage),
       "config_error's statuses")
end

-- ---- one account's path ------------------------------------------------------------------------
local NOW = os.date("!%Y-%m-%dT%H:%M:%SZ")
local client = org_client({[A] = states{"STARTED"}}, {["iam GetCredentialReport"] = fake.sequence{
  fake.error("ReportInProgress", {status = 404}), fake.report(CSV:format(A), NOW)}})
w = new({external_id = "", role_duration = 900}, client)
local o = w:process(member(A))
T.eq(o.status, "delivered", "delivered: " .. tostring(o.error and o.error.message))
T.eq(o.attempts, 1, "at the first attempt")
T.eq(o.checks, 3, "after three checks")
local key = run.date .. "/credentialReport_" .. A .. ".csv"
T.eq(o.key, key, "under the key template's key")
T.eq(o.location, dir .. "/" .. key, "at its location")
T.eq(read(o.location), CSV:format(A), "the report is stored as fetched")
T.eq(o.sha256, core.digest("sha256", CSV:format(A)), "its SHA-256")
T.eq(o.bytes, #CSV:format(A), "and size")
T.eq(o.generated_time, NOW, "and AWS's report time")
T.eq(#client.assumed, 1, "one role assumed")
local role = client.assumed[1] or {}
T.eq(role.role_arn, member(A).role_arn, "the member role")
T.eq(role.session_name, "credreport", "with the session name")
T.eq(role.external_id, nil, "no external id when it is empty")
T.eq(role.duration, 900, "and the role duration")

local path = {}
for _, r in ipairs(client.requests) do path[#path + 1] = r.action .. "@" .. (fake.account_of(r) or "own") end
T.eq(table.concat(path, " "), ("GenerateCredentialReport@%s GetCredentialReport@%s GetCredentialReport@%s"):format(A, A, A),
     "generate, then get until the report comes, all in the member account")
T.check(client.members[1].closed, "the member client is closed once the report is fetched")

-- prepare: the report asked for ahead of the account's turn, which then starts with getting it
client = org_client({[A] = states{"STARTED", "COMPLETE"}}, {["iam GetCredentialReport"] = fake.sequence{
  fake.report(CSV:format(A), NOW)}})
w = new({}, client)
local a = member(A)
T.eq(w:prepare(a), true, "prepare: IAM started a report")
T.check(type(a.report_requested) == "number" and math.abs(a.report_requested - core.time()) < 1,
        "and the account says when, to the fraction of a second: " .. tostring(a.report_requested))
T.eq(#client:calls("iam GetCredentialReport"), 0, "prepare does not wait for it")
T.check(client.members[1] and client.members[1].closed, "nor keep the role's client")
T.eq(client.assumed[1] and client.assumed[1].ahead, true, "its calls go ahead in the connection queue")
T.eq(client.assumed[1].credentials, nil, "and it assumes the role")
o = w:process(a)
T.eq(o.status, "delivered", "the prepared account is delivered: " .. tostring(o.error and o.error.message))
T.eq(o.checks, 1, "by its first check")
T.eq(#client:calls("iam GenerateCredentialReport"), 1, "which asks for the report itself, without generating again")
T.check(client.assumed[2] and not client.assumed[2].ahead, "the turn's, in their place")
T.eq(client.assumed[2].credentials and client.assumed[2].credentials.kept_for, a.role_arn,
     "the turn starts with the credentials prepare kept of the role")
o = w:process(a)
T.eq(client.assumed[3] and client.assumed[3].credentials, nil, "kept credentials serve one turn")
a = member(A)
T.eq(w:prepare(a), false, "prepare: a report already generated is not one prepare started")
T.eq(a.report_requested, nil, "and the account has no request time")

-- a process of the script's own that never asks for the account's client: what prepare kept
-- is dropped when the turn ends, so that the run's budget for it comes back
do
  local runner = require "credreport.runner"
  local cjson = require "cjson"
  client = org_client({[A] = states{"STARTED"}})
  w = new({}, client)
  a = member(A)
  w:prepare(a)
  T.check(w.kept_credentials[A] ~= nil, "prepare kept the role's credentials")
  function w:process() return {status = "skipped", reason = "a script's own process"} end
  local real_post, posted = core.post_outcome, nil
  core.post_outcome = function(msg) posted = msg end
  local pok, perr = pcall(runner.process, w, cjson.encode(a))
  core.post_outcome = real_post
  T.check(pok and posted ~= nil, "the turn posts its outcome: " .. tostring(perr))
  T.eq(w.kept_credentials[A], nil, "the unused credentials are dropped when the turn ends")
  -- an end_turn of the script's own that raises does not cost the account its outcome
  function w:end_turn() error("end_turn broke") end
  posted = nil
  core.post_outcome = function(msg) posted = msg end
  pok, perr = pcall(runner.process, w, cjson.encode(a))
  core.post_outcome = real_post
  T.check(pok and posted ~= nil, "a raising end_turn still posts the outcome: " .. tostring(perr))
  T.eq(pok and posted and cjson.decode(posted).status, "skipped", "the outcome process returned")
end

client = org_client({[A] = states{fake.error("AccessDenied", {status = 403})}})
a = member(A)
w = new({}, client)
T.eq(w:prepare(a), false, "prepare: an error is no report started")
T.eq(a.report_requested, nil, "and leaves no request time")
T.eq(next(w.kept_credentials), nil, "nor credentials kept")

-- the management account with the run's own credentials: no role
client = org_client{own = states{"COMPLETE"}}
w = new({}, client)
o = w:process{id = MGMT, name = "mgmt", state = "ACTIVE", ou_path = "Root", own_credentials = true}
T.eq(o.status, "delivered", "the management account is delivered")
T.eq(#client.assumed, 0, "with its own credentials")

-- on_report: false keeps the report back; anything else delivers
local seen
client = org_client{[A] = states{"COMPLETE"}, [B] = states{"COMPLETE"}}
w = new({on_report = function(a, csv, ctx)
  seen = {id = a.id, csv = csv, run = ctx.run.id, w = ctx.workflow}
  if a.id == A then return false end
end}, client)
os.remove(dir .. "/" .. run.date .. "/credentialReport_" .. A .. ".csv")
o = w:process(member(A))
T.eq(o.status, "skipped", "on_report returning false: skipped")
T.eq(o.reason, "on_report kept the report back", "with the reason")
T.eq(read(dir .. "/" .. run.date .. "/credentialReport_" .. A .. ".csv"), nil, "and nothing stored")
T.check(seen and seen.id == A and seen.csv == CSV:format(A) and seen.run == run.id and seen.w == w,
        "on_report gets the account, the report and the context")
T.eq(w:process(member(B)).status, "delivered", "on_report returning nothing: delivered")

-- failures: on_failure instead of SNS; SNS otherwise
local hooked = {}
client = org_client{[A] = states{fake.error("AccessDenied", {credentials = true, message = "not authorized"})}}
w = new({sns_topic_arn = TOPIC, account_attempts = 3, on_failure = function(a, err, ctx)
  hooked[#hooked + 1] = {id = a.id, code = err.code, message = err.message, run = ctx.run.id}
end}, client)
o = w:process(member(A))
T.eq(o.status, "failed", "a lasting error fails the account")
T.eq(o.error.code, "AccessDenied", "with its code")
T.eq(o.attempts, 1, "a lasting error is not tried again")
T.check(o.error.message:find("member role", 1, true), "the message hints at the member role: " .. o.error.message)
T.eq(#hooked, 1, "on_failure is called once")
T.check(hooked[1] and hooked[1].id == A and hooked[1].code == "AccessDenied" and hooked[1].run == run.id,
        "with the account, the error and the context")
T.eq(#client:calls("sns Publish"), 0, "on_failure replaces the SNS notification")

client = org_client{[A] = states{fake.error("AccessDenied")}}
w = new({sns_topic_arn = TOPIC}, client)
o = w:process(member(A))
local pub = client:calls("sns Publish")
T.eq(#pub, 1, "without on_failure, one SNS message")
T.eq(pub[1] and pub[1].params.TopicArn, TOPIC, "to the topic")
T.eq(pub[1] and pub[1].opts.region, "eu-west-1", "in the topic's region")
T.eq(pub[1] and fake.account_of(pub[1]), nil, "with the run's own credentials")
T.check(pub[1] and pub[1].params.Message:find(A, 1, true), "naming the account")
T.eq(o.notification_error, nil, "sent")
client = org_client{[A] = states{fake.error("AccessDenied")}}
w = new({sns_topic_arn = TOPIC}, client)
w.notify.on = "never"
T.eq(w:process(member(A)).status, "failed", "[notify] on = never: the account fails")
T.eq(#client:calls("sns Publish"), 0, "and nothing is published")
client = org_client({[A] = states{fake.error("AccessDenied")}}, {["sns Publish"] = fake.sequence{fake.error("AuthorizationError")}})
o = new({sns_topic_arn = TOPIC}, client):process(member(A))
T.check(o.notification_error and o.notification_error:find("AuthorizationError", 1, true), "a message that failed is recorded")

-- on_report raising fails the account with ScriptError, notified like any failure
hooked = {}
client = org_client{[A] = states{"COMPLETE"}}
o = new({on_report = function() error("boom") end, on_failure = function(a, err) hooked[#hooked + 1] = err.code end},
        client):process(member(A))
T.eq(o.status .. " " .. tostring(o.error and o.error.code), "failed ScriptError", "on_report raising: ScriptError")
T.eq(hooked[1], "ScriptError", "handed to on_failure")

-- a failure that may pass is tried again
local throttled = fake.error("Throttling", {retryable = true, credentials = true, message = "rate exceeded"})
client = org_client{[A] = states{throttled, "COMPLETE"}}
o = new({account_attempts = 3}, client):process(member(A))
T.eq(o.status, "delivered", "a role that could not be assumed the first time, the second time")
T.eq(o.attempts, 2, "at the second attempt")
T.eq(#client.assumed, 2, "the role assumed again for it")
client = org_client{[A] = states{throttled}}
o = new({account_attempts = 2}, client):process(member(A))
T.eq(o.status .. " " .. o.attempts, "failed 2", "account_attempts tries at most")
client = org_client{[A] = states{fake.error("ExpiredToken"), "COMPLETE"}}
T.eq(new({account_attempts = 2}, client):process(member(A)).attempts, 2, "expired credentials are tried again")

-- ---- discovery ---------------------------------------------------------------------------------
client = org_client{}
w = new({filter = function(a)
  if a.id == B then error("filter bug") end
  return a.id ~= C
end}, client)
local emitted, skipped = {}, {}
w:discover(function(a) emitted[a.id] = a end, function(a, reason) skipped[a.id] = reason end)
T.check(emitted[B] and emitted[B].error and emitted[B].error.code == "ScriptError",
        "a filter that raises fails its account")
T.check(emitted[B] and emitted[B].error.message:find("filter bug", 1, true), "with the filter's error")
T.check(emitted[A] and not emitted[A].error, "and only its account")
T.eq(emitted[A] and emitted[A].role_arn, member(A).role_arn, "a member account is entered with the member role")
T.check(emitted[MGMT] and emitted[MGMT].own_credentials, "the management account with the run's own credentials")
T.eq(skipped[C], "the filter", "an account the filter leaves out is skipped")

-- resume: the accounts today's manifests show delivered come with what the manifest says
client = org_client{}
w = new({resume = true}, client)
local body = CSV:format(A)
assert(core.mkdir_p(dir .. "/" .. run.date))
assert(core.write_file(dir .. "/" .. run.date .. "/credentialReport_" .. A .. ".csv", body))
assert(core.write_file(dir .. "/" .. run.date .. "/manifest-r0.json", require("cjson").encode{run_id = "r0", accounts = {
  {id = A, status = "delivered", key = run.date .. "/credentialReport_" .. A .. ".csv", bytes = #body,
   sha256 = core.digest("sha256", body)}}}))
emitted = {}
w:discover(function(a) emitted[a.id] = a end)
T.eq(emitted[A] and emitted[A].resumed and emitted[A].resumed.run_id, "r0", "resume marks an account delivered earlier")
T.eq(emitted[B] and emitted[B].resumed, nil, "and no other")
os.remove(dir .. "/" .. run.date .. "/manifest-r0.json")
local s3w = new({resume = true, destination = "s3://audit"}, org_client({}, {["s3 GET"] = fake.sequence{fake.error("AccessDenied")}}))
local ok, err = pcall(s3w.discover, s3w, function() end)
T.check(not ok and type(err) == "table" and err.code == "ResumeFailed", "manifests that cannot be listed stop discovery")
local all_connections, connections = core.all_connections, {}
core.all_connections = function(on) connections[#connections + 1] = on and "on" or "off" end
s3w = new({resume = true, destination = "s3://audit"}, org_client({}, {["s3 GET"] = function() error("bug in a hook") end}))
ok, err = pcall(s3w.discover, s3w, function() end)
core.all_connections = all_connections
T.check(not ok and tostring(err):find("bug in a hook", 1, true), "an error raised while reading the manifests stops discovery")
T.eq(table.concat(connections, " "), "on off",
     "and the main thread keeps to its share of connections again")
-- run from an account that may not list the organization: the error says where to run from
local denied = new({}, org_client({}, {["organizations ListRoots"] = function()
  return nil, fake.error("AccessDeniedException", {service = "organizations", action = "ListRoots",
                                                   message = "You don't have permissions to access this resource."})
end}))
ok, err = pcall(denied.discover, denied, function() end)
T.check(not ok and type(err) == "table" and err.code == "AccessDeniedException", "access denied stops discovery")
T.check(type(err) == "table" and tostring(err.message):find("to access this resource. (organizations ListRoots", 1, true)
        and err.message:find("management account or a delegated administrator", 1, true),
        "with the call and where to run from: " .. tostring(type(err) == "table" and err.message))
local outside = new({}, org_client({}, {["organizations ListRoots"] = function()
  return nil, fake.error("AWSOrganizationsNotInUseException", {service = "organizations", action = "ListRoots",
                         message = "Your account is not a member of an organization."})
end}))
ok, err = pcall(outside.discover, outside, function() end)
T.check(not ok and type(err) == "table" and err.code == "AWSOrganizationsNotInUseException"
        and tostring(err.message):find("not in an organization: run it in the management account", 1, true),
        "an account outside any organization is told where to run: " .. tostring(type(err) == "table" and err.message))

-- ---- finish --------------------------------------------------------------------------------------
-- Runs finish with stdout captured: the exit status and what it printed.
local function finish(fw, info)
  local saved, out = io.stdout, io.tmpfile()
  io.stdout = out
  local fok, status = pcall(fw.finish, fw, info)
  io.stdout = saved
  out:seek("set")
  local text = out:read("a")
  out:close()
  if not fok then error(status, 0) end
  return status, text
end
local function info_of(outcomes)
  local info = {order = {}, accounts = {}, outcomes = {}, done = 0, failed = 0}
  for _, oc in ipairs(outcomes) do
    local a = {id = oc.id, name = "acct-" .. oc.id, state = "ACTIVE", ou_path = "Root"}
    info.order[#info.order + 1] = a.id
    info.accounts[a.id] = a
    oc.o.account = a
    info.outcomes[a.id] = oc.o
  end
  return info
end
local delivered = {status = "delivered", key = "k", location = "l"}

client = org_client{}
w = new({sns_topic_arn = TOPIC}, client)
w.notify.on = "always"
local status, text = finish(w, info_of{{id = A, o = delivered}, {id = C, o = delivered},
                                       {id = B, o = {status = "failed", error = {code = "AccessDenied", message = "no"}}}})
T.eq(status, core.exit.accounts_failed, "an account failed: accounts_failed")
T.check(text:find("3 account(s) in scope, 2 delivered, 1 failed", 1, true), "the summary counts: " .. text)
T.check(text:find("failed " .. B .. " (acct-" .. B .. "): AccessDenied: no", 1, true), "and names the failure")
local mpath = text:match("manifest: (%S+)")
T.check(mpath and read(mpath) and read(mpath):find('"run_id": "' .. run.id .. '"', 1, true), "the manifest is written where the summary says")
T.check(text:find("summary page: " .. dir, 1, true), "and the summary page")
pub = client:calls("sns Publish")
T.eq(#pub, 1, "on = always: the summary is published")
T.check(pub[1] and pub[1].params.Message == text:gsub("\n$", ""), "the same text as printed")
T.check(pub[1] and pub[1].params.Subject:find("2 delivered, 1 failed", 1, true), "its subject counts")

status = finish(new({}, org_client{}), info_of{{id = A, o = delivered}})
T.eq(status, core.exit.delivered, "all delivered: delivered")
status, text = finish(new({}, org_client{}), info_of{})
T.eq(status, core.exit.nothing_in_scope, "no account: nothing_in_scope")
T.check(text:find("no account is in scope", 1, true), "and says so")
local info = info_of{{id = A, o = delivered}}
info.discovery_error = {code = "AccessDenied", message = "cannot list"}
T.eq(finish(new({}, org_client{}), info), core.exit.cannot_start, "the organization not listed: cannot_start")
info = info_of{{id = A, o = delivered}}
info.interrupted = {signal = "SIGTERM", status = 143}
T.eq(finish(new({}, org_client{}), info), 143, "stopped by a signal: the signal's status")
info = info_of{{id = A, o = delivered}}
info.requested_missing = {{id = C, reason = "excluded"}}
T.eq(finish(new({}, org_client{}), info), core.exit.accounts_failed, "an account asked for but not processed: accounts_failed")
-- with checks: the report is examined on the worker, and finish publishes its new findings
local COLS = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
  .. "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,"
  .. "access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,"
  .. "access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,"
  .. "cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n"
local ROOT_KEY = "<root_account>,arn:aws:iam::%s:root,2020-01-01T00:00:00+00:00,not_supported,no_information,"
  .. "not_supported,not_supported,true,true,2020-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
client = org_client({[A] = states{"COMPLETE"}}, {["iam GetCredentialReport"] = function(req)
  return fake.report(COLS .. ROOT_KEY:format(fake.account_of(req)))
end})
w = new({checks = findings.bundled(), notify_findings = {"critical"}, sns_topic_arn = TOPIC}, client)
o = w:process(member(A))
T.eq(o.findings and o.findings.n, 1, "a root access key is found on the worker")
status, text = finish(w, info_of{{id = A, o = o}})
T.eq(status, core.exit.delivered, "findings do not fail a run")
T.check(text:find("findings: 1 (1 critical)", 1, true), "the summary counts the findings: " .. text)
local written = read(text:match("manifest: (%S+)") or "") or ""
T.check(written:find('"findings": {"total": 1, "new": 1', 1, true), "the manifest counts them")
T.check(written:find('"file": "' .. findings.key(run) .. '"', 1, true), "and names the findings file")
pub = client:calls("sns Publish")
T.eq(#pub, 1, "one message for the new findings (on = failure: no summary)")
T.check(pub[1] and pub[1].params.Subject:find("1 new finding(s)", 1, true), "about the new findings")
T.check(pub[1] and pub[1].params.Message:find("[critical] " .. A, 1, true), "listing them")

-- the earlier findings are read from the start of the run, in a task of their own, once
local reads, real_load = 0, findings.load_baseline
findings.load_baseline = function(...)
  reads = reads + 1
  core.sleep(0.05)
  return real_load(...)
end
w = new({checks = findings.bundled()}, client)
w:start()
w:start()
T.eq(reads, 0, "start does not wait for them")
local early = w:process(member(A))
early.account = member(A)
T.eq(early.findings and early.findings.n, 1, "an outcome with a finding")
core.sleep(0) -- the reading starts
w:on_outcome(early)
T.check(reads == 1 and early.findings and early.findings.lines == nil,
        "an outcome that arrives while they are read: its lines wait in a temporary file")
local flog = w:findings_log()
T.check(reads == 1 and flog and w:findings_log() == flog, "read once; the log waits for them")
T.check(early.findings == nil and early.finding_counts and early.finding_counts.total == 1
        and flog.counts.total == 1, "then the waiting findings go to the log")
local later = w:process(member(A))
later.account = member(A)
w:on_outcome(later)
T.check(later.findings == nil and flog.counts.total == 2, "later ones at once")
local text = flog:body()
if io.type(text) == "file" then text = text:seek("set") and text:read("a") end
T.eq(select(2, text:gsub('"account":"' .. A .. '"', "")), 2, "both in the findings file")
local unchecked = new({}, client)
unchecked:start()
T.eq(reads, 1, "without checks, nothing to read")
findings.load_baseline = real_load

-- the files cannot be written: the run did not complete
local bad = new({destination = dir .. "/" .. run.date .. "/credentialReport_" .. A .. ".csv/under-a-file"}, org_client{})
status, text = finish(bad, info_of{{id = A, o = delivered}})
T.eq(status, core.exit.accounts_failed, "a manifest that cannot be written: accounts_failed")
T.check(text:find("manifest: NOT WRITTEN", 1, true), "and the summary says so")

cleanup()
return T.done("workflow")
