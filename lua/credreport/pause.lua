-- Waiting between tries that gives way to a stop request (SIGINT/SIGTERM): pause(seconds)
-- sleeps that long, or less when the run is asked to stop; returns false when it is.
local core = require "credreport.core"

return function(seconds)
  local until_ = core.monotonic() + seconds
  while not core.stopping() and core.monotonic() < until_ do
    core.sleep(math.min(0.25, until_ - core.monotonic()))
  end
  return not core.stopping()
end
