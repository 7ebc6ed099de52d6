-- Calls made at once: each function runs as a task of its own.
local core = require "credreport.core"

local M = {}

-- Runs fns concurrently and returns true, or nil and the first error in their order (a
-- function that returned nil, err; one that raised counts as {code = "ScriptError"}).
function M.all(fns)
  local tasks = {}
  for i, fn in ipairs(fns) do tasks[i] = core.spawn(fn) end
  local first_err
  for _, t in ipairs(tasks) do
    local ok, res, err = t:join()
    if not ok then first_err = first_err or {code = "ScriptError", message = tostring(res)}
    elseif res == nil then first_err = first_err or err end
  end
  if first_err then return nil, first_err end
  return true
end

return M
