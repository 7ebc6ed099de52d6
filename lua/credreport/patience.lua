-- The calls the whole run depends on (the checks before it, listing the organization, the
-- day's manifests and the earlier days' findings, writing the run's own files, its SNS
-- messages) are tried again when they fail for a passing reason (throttling that outlasted
-- the request's own retries, 5xx, network), with backoff, until `window.budget` seconds have
-- gone by since `window.progress` (core.monotonic() of the last call that succeeded; the
-- calls of a listing share one window, so that a large organization listed slowly under
-- throttling keeps going, while an outage does not). Errors that will not pass
-- (AccessDenied, a missing bucket) end it at once. A cron run that meets a short outage of
-- STS at 2 a.m. then still runs.
local core = require "credreport.core"
local pause = require "credreport.pause"

local MAX_BACKOFF = 30

local M = {}

-- A window that starts now: its calls are tried again until `budget` seconds have gone
-- without one that succeeded.
function M.window(budget)
  return {budget = budget, progress = core.monotonic()}
end

-- The error of calls not made because the run was asked to stop.
function M.stopped(doing)
  local _, name = core.stopping()
  return {code = "Interrupted", message = doing .. " was stopped by " .. tostring(name)}
end

-- patience.call(fn, window, what) -> what fn returns: res, or nil and err ({code, message,
-- retryable}). `what.doing` says what the calls do ("listing the organization"), in the log
-- and in the error of a stopped run; what's other fields go into the log line. A run asked
-- to stop still makes the first call (its manifest is written then), but no other.
function M.call(fn, window, what)
  local started = core.monotonic()
  local backoff, tries = 1, 0
  while true do
    local res, err = fn()
    if res then window.progress = core.monotonic() end
    if res or type(err) ~= "table" or not err.retryable then return res, err end
    if core.stopping() then return nil, M.stopped(what.doing) end
    tries = tries + 1
    local since = math.max(window.progress, started)
    local left = since + window.budget - core.monotonic()
    if left <= 0 then
      err.message = ("%s (still failing after %d tries, and nothing done for %.0f s: the time budget "
                     .. "of [run] discovery_timeout is spent)"):format(tostring(err.message), tries,
                                                                     core.monotonic() - since)
      return nil, err
    end
    -- A last try when the budget runs out, unless another call succeeds before.
    local wait = math.min(backoff * (0.5 + math.random() / 2), left)
    local fields = {code = err.code, error = err.message, tries = tries,
                    retry_in = math.floor(wait * 10 + 0.5) / 10}
    for k, v in pairs(what) do if k ~= "doing" then fields[k] = v end end
    core.log("warn", what.doing .. " failed; trying again", fields)
    if not pause(wait) then return nil, M.stopped(what.doing) end
    backoff = math.min(backoff * 2, MAX_BACKOFF)
  end
end

return M
