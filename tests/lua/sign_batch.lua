-- Signs every request of a JSON-lines file with core.sign and prints one JSON line per
-- request: the headers to add and the signature details. Used to compare with AWS's SDKs.
local core = require "credreport.core"
local cjson = require "cjson"

local path = assert(arg[1], "usage: sign_batch.lua REQUESTS.jsonl")
for line in io.lines(path) do
  local r = cjson.decode(line)
  local headers = {}
  for _, pair in ipairs(r.headers) do headers[#headers + 1] = pair end
  local add, details = core.sign{
    method = r.method, url = r.url, headers = headers, body = r.body,
    service = r.service, region = r.region, time = r.time,
    access_key_id = r.access_key_id, secret_access_key = r.secret_access_key,
    session_token = r.session_token ~= cjson.null and r.session_token or nil,
    presign = r.presign ~= cjson.null and r.presign or nil,
  }
  print(cjson.encode{id = r.id, headers = add, details = details})
end
