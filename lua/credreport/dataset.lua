-- The reports as a dataset: a consolidated CSV per run (every report's rows, with the
-- account's id, name, OU path and the report's generation time in front) and the key of each
-- report in a Hive-style layout (report_date=YYYY-MM-DD/account_id=<id>/credential_report.csv)
-- that Athena, Glue, Spark or DuckDB read as partitions.
local core = require "credreport.core"

local M = {}

-- The columns of a credential report as AWS writes them today, in its order. The
-- consolidated CSV has these after its own four; a report lacking one (older reports) has
-- an empty field there, and a column AWS may add later is left out of it (the delivered
-- report and the dataset keep every column).
M.REPORT_COLUMNS = {
  "user", "arn", "user_creation_time", "password_enabled", "password_last_used",
  "password_last_changed", "password_next_rotation", "mfa_active", "access_key_1_active",
  "access_key_1_last_rotated", "access_key_1_last_used_date", "access_key_1_last_used_region",
  "access_key_1_last_used_service", "access_key_2_active", "access_key_2_last_rotated",
  "access_key_2_last_used_date", "access_key_2_last_used_region", "access_key_2_last_used_service",
  "cert_1_active", "cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated",
}
M.PREFIX_COLUMNS = {"account_id", "account_name", "ou_path", "report_generated_time"}

function M.consolidated_key(run)
  return ("%s/credential-reports-%s.csv"):format(run.date, run.id)
end

-- The consolidated CSV's header line.
function M.header()
  local h = {}
  for _, c in ipairs(M.PREFIX_COLUMNS) do h[#h + 1] = c end
  for _, c in ipairs(M.REPORT_COLUMNS) do h[#h + 1] = c end
  return core.csv_encode{h}
end

-- One report's lines of the consolidated CSV (no header), from its decoded rows.
function M.chunk(account, generated_time, rows)
  local lines = {}
  local ncol = #M.REPORT_COLUMNS
  for i, row in ipairs(rows) do
    local line = {account.id, account.name or "", account.ou_path or "", generated_time or ""}
    for j = 1, ncol do line[4 + j] = row[M.REPORT_COLUMNS[j]] or "" end
    lines[i] = line
  end
  return core.csv_encode(lines)
end

-- The key of a report in the dataset under `folder`.
function M.partition_key(folder, date, account_id)
  return ("%s/report_date=%s/account_id=%s/credential_report.csv"):format(folder, date, account_id)
end

return M
