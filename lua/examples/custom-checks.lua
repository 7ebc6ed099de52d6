-- The bundled workflow with the findings' checks changed from Lua, no rebuild needed: one
-- check turned off, one replaced with a stricter version, one added. (Settings alone, with no
-- Lua, are in config.ini's [findings]: days, a severity per check, or off.)
--   credreport run lua/examples/custom-checks.lua -c config.ini
local findings = require "credreport.findings"
local workflow = require "credreport.workflow"

-- The bundled checks with config.ini's [findings] settings, in CIS order.
local checks = findings.bundled()

-- Off: this organization creates keys with users on purpose (a provisioning pipeline).
findings.remove(checks, "key_unused_since_creation")
findings.remove(checks, "console_user_no_mfa") -- SSO users only: console passwords are another finding

-- Replaced: 30 days instead of [findings] rotation_days, and high instead of medium.
findings.replace(checks, {
  id = "key_not_rotated", cis = "1.14", severity = "high", scope = "users",
  title = "Access key older than 30 days",
  evaluate = function(row, ctx, emit)
    for n = 1, 2 do
      local p = "access_key_" .. n .. "_"
      local age = ctx.age_days(row[p .. "last_rotated"]) -- nil for "N/A"
      if row[p .. "active"] == "true" and age and age > 30 then
        emit("access_key_" .. n, {p .. "active", p .. "last_rotated"})
      end
    end
  end,
})

-- Added: users created outside the organization's IAM path convention ("/" is the default
-- path: arn:aws:iam::123456789012:user/name).
checks[#checks + 1] = {
  id = "user_without_path", severity = "info", scope = "users",
  title = "An IAM user outside the /people/ or /service/ paths",
  evaluate = function(row, _, emit)
    local path = row.arn:match(":user(/.*/)") or "/"
    if path ~= "/people/" and path ~= "/service/" then emit(nil, {"arn"}) end
  end,
}

return workflow.new{checks = checks}
