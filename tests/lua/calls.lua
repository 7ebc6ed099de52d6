-- Makes the AWS calls described by a JSON argument and prints one JSON line per call:
-- {"ok": true, "result": ..., "meta": ...} or {"ok": false, "error": {...}}.
-- {"client": {"profile": ...} | {keys...}, "role": {role_arn...}, "calls": [
--    {"kind": "query"|"json"|"rest_json"|"s3", "service": ..., "action": ..., "params": ...,
--     "method": ..., "path": ..., "body": ..., "opts": ..., "request": {...}, "concurrent": N}]}
-- An s3 request's "body_file": a path whose content is sent from the open file.
local core = require "credreport.core"
local cjson = require "cjson"

local spec = cjson.decode((assert(arg[1], "usage: calls.lua JSON")))
local client, err = core.client(spec.client ~= nil and spec.client ~= cjson.null and spec.client or nil)
if not client then
  print(cjson.encode{ok = false, error = {code = "NoCredentials", message = tostring(err)}})
  return 0
end
if spec.role then client = client:assume_role(spec.role) end

local function call(c)
  local res, meta
  if c.kind == "query" then
    res, meta = client:query(c.service, c.action, c.params or {}, c.opts)
  elseif c.kind == "json" then
    res, meta = client:json(c.service, c.action, c.params or {}, c.opts)
  elseif c.kind == "rest_json" then
    res, meta = client:rest_json(c.service, c.method, c.path, c.body, c.opts)
  elseif c.kind == "s3" then
    local request = c.request
    if request.body_file then -- the body sent from a file, as the findings file is
      request = setmetatable({body = assert(io.open(request.body_file, "rb"))}, {__index = c.request})
    end
    res, meta = client:s3(c.method, request)
    if request.body ~= c.request.body then request.body:close() end
  elseif c.kind == "sleep" then
    core.sleep(c.seconds)
    return {ok = true}
  else
    error("unknown kind " .. tostring(c.kind))
  end
  if res == nil then
    local e = {}
    for k, v in pairs(meta) do e[k] = v end
    e.text = tostring(meta)
    return {ok = false, error = e}
  end
  return {ok = true, result = res, meta = meta}
end

for _, c in ipairs(spec.calls) do
  if c.concurrent then
    local tasks = {}
    for i = 1, c.concurrent do tasks[i] = core.spawn(call, c) end
    local results = {}
    for i, t in ipairs(tasks) do
      local _, r = t:join()
      results[i] = r
    end
    print(cjson.encode{ok = true, results = results})
  else
    print(cjson.encode(call(c)))
  end
end
return 0
