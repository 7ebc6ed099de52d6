-- The bundled workflow with each failed account sent to an SQS queue instead of SNS. SQS is
-- not a service credreport lists, so the call names what the binary cannot know: the protocol
-- (client:json, JSON 1.0) and the X-Amz-Target prefix. Its endpoint follows the region's
-- pattern (https://sqs.<region>.amazonaws.com); AWS_ENDPOINT_URL_SQS or [endpoints] sqs
-- change it. The runner needs sqs:SendMessage on the queue.
--   credreport run lua/examples/failures-to-sqs.lua -c config.ini QUEUE_URL
local cjson = require "cjson"
local core = require "credreport.core"
local workflow = require "credreport.workflow"

local queue = arg[1]
if not queue or not queue:match("^https://sqs%.[%w-]+%.") then
  workflow.config_error("usage: failures-to-sqs.lua QUEUE_URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)")
end
local SQS = {target_prefix = "AmazonSQS", json_version = "1.0", region = queue:match("^https://sqs%.([%w-]+)%.")}

return workflow.new{
  on_failure = function(account, err, ctx)
    local body = cjson.encode{account = account.id, name = account.name, code = err.code,
                              message = err.message, run = ctx.run.id}
    local sent, serr = ctx.workflow:client():json("sqs", "SendMessage", {QueueUrl = queue, MessageBody = body}, SQS)
    if not sent then
      core.log("error", "the failure could not be queued", {account = account.id, error = tostring(serr)})
    end
  end,
}
