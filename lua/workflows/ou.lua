-- The bundled OU-scoped workflow: only the subtrees of the OUs in [accounts] ous (or --ou),
-- each business unit's reports under its own OU path.
local config = require "credreport.config"
local workflow = require "credreport.workflow"
if #config.accounts.ous == 0 then
  workflow.config_error("the OU workflow needs at least one OU: set [accounts] ous or pass --ou")
end
return workflow.new{
  key_template = "{ou_path}/" .. config.output.key_template,
}
