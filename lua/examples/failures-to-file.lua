-- The bundled organization-wide workflow, but failed accounts are written to files instead
-- of being published to SNS: one JSON file per failed account under
-- FOLDER/<run id>/<account id>.json (FOLDER is the first script argument, default
-- ./failures). A ticketing or chat integration can pick them up from there.
--   credreport run lua/examples/failures-to-file.lua -c config.ini /var/spool/credreport
--
-- on_failure runs on a worker thread, in the failed account's task, so each account writes
-- its own file: no two threads ever write the same file. core.write_file writes atomically
-- (temporary file + rename) with mode 0600.
local core = require "credreport.core"
local cjson = require "cjson"
local run = require "credreport.run"
local workflow = require "credreport.workflow"

local folder = (arg[1] or "./failures") .. "/" .. run.id

return workflow.new{
  on_failure = function(account, err, ctx)
    local record = cjson.encode{
      run_id = ctx.run.id, account_id = account.id, account_name = account.name,
      ou_path = account.ou_path, error_code = err.code, error_message = err.message,
    }
    -- Do not raise from here: an error in on_failure is recorded as the outcome's
    -- notification_error and logged, but this account's record would be lost. Log and carry
    -- on instead.
    local ok, werr = core.mkdir_p(folder)
    if ok then ok, werr = core.write_file(folder .. "/" .. account.id .. ".json", record .. "\n") end
    if not ok then core.log("error", "cannot record the failure", {account = account.id, error = werr}) end
  end,
}
