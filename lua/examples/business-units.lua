-- One prefix per business unit: only the accounts under the listed OUs, each report under
-- its OU path, e.g. Workloads/Prod/2026-11-28/credentialReport_333333333333.csv.
-- In an OU-scoped run {ou_path} starts at the listed OU's name (not at "Root").
-- Replace the OU ids with yours, then:
--   credreport run lua/examples/business-units.lua -c config.ini
local workflow = require "credreport.workflow"

return workflow.new{
  ous = {"ou-ex12-security", "ou-ex12-workload"},
  key_template = "{ou_path}/{date}/credentialReport_{account}.csv",
}
