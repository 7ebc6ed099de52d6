-- A tiny check library for Lua tests run with `credreport run`: counts checks and ends
-- with the "N passed, N failed" line.
local T = {passed = 0, failed = 0}

function T.check(cond, what)
  if cond then
    T.passed = T.passed + 1
  else
    T.failed = T.failed + 1
    io.stderr:write("FAIL ", what, "\n", debug.traceback("", 2), "\n")
  end
  return cond
end

function T.eq(got, want, what)
  return T.check(got == want, ("%s: got %s, want %s"):format(what, tostring(got), tostring(want)))
end

function T.done(name)
  print(("%s: %d passed, %d failed"):format(name, T.passed, T.failed))
  return T.failed == 0 and 0 or 1
end

return T
