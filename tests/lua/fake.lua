-- A stand-in for core.client{} in the Lua library's tests: the methods the library calls
-- (query, json, s3, assume_role, keep_credentials, credentials_info, close), answered by handlers the test
-- gives, and a log of every request so that tests assert on what was sent. An in-memory S3
-- bucket and IAM's credential report come as ready-made handlers, as most modules need them.
local core = require "credreport.core"

local M = {}

local ERR_MT = {__tostring = function(e)
  return ("%s %s: %s: %s"):format(tostring(e.service), tostring(e.action), tostring(e.code), tostring(e.message))
end}

-- An error table shaped like the core's (see docs/lua-api.md, errors).
function M.error(code, fields)
  local e = {code = code, message = code .. " (from the fake)", status = 400, attempts = 1}
  for k, v in pairs(fields or {}) do e[k] = v end
  return setmetatable(e, ERR_MT)
end

function M.is_error(v)
  return getmetatable(v) == ERR_MT
end

local Client = {}
Client.__index = Client

-- handlers: {["SERVICE Action"] = function(request, client) -> result | nil, err}, S3's keyed
-- "s3 METHOD". A call nothing handles fails with NotImplemented, so a test sees it.
function M.client(handlers)
  return setmetatable({handlers = handlers or {}, requests = {}, assumed = {}}, Client)
end

local function answer(self, req)
  if self.closed then error("client is closed", 3) end
  req.role = self.role
  self.requests[#self.requests + 1] = req
  local h = self.handlers[req.service .. " " .. req.action]
  local res, err
  if h then
    res, err = h(req, self)
  else
    err = M.error("NotImplemented", {message = "the fake has no handler for " .. req.service .. " " .. req.action})
  end
  if res ~= nil then return res, {status = 200, attempts = 1} end
  err.service, err.action = err.service or req.service, err.action or req.action
  return nil, err
end

function Client:query(service, action, params, opts)
  return answer(self, {kind = "query", service = service, action = action, params = params or {}, opts = opts or {}})
end

function Client:json(service, operation, body, opts)
  return answer(self, {kind = "json", service = service, action = operation, body = body or {}, opts = opts or {}})
end

function Client:s3(method, request)
  assert(request.bucket, "bucket is required")
  local headers = {}
  for k, v in pairs(request.headers or {}) do headers[k:lower()] = v end
  return answer(self, {kind = "s3", service = "s3", action = method, bucket = request.bucket,
                       key = request.key or "", query = request.query or "", headers = headers,
                       body = request.body or "", region = request.region})
end

-- The member client shares the handlers and the request log; its requests carry the role.
function Client:assume_role(opts)
  assert(type(opts.role_arn) == "string" and opts.role_arn:find("^arn:"), "role_arn must start with arn:")
  self.assumed[#self.assumed + 1] = opts
  local c = setmetatable({handlers = self.handlers, requests = self.requests, assumed = self.assumed,
                          role = opts.role_arn}, Client)
  self.members = self.members or {}
  self.members[#self.members + 1] = c
  return c
end

function Client:credentials_info() return {source = "fake"} end

-- A member client's kept credentials: a table naming its role, which assume_role's opts then
-- carry (self.assumed[i].credentials).
function Client:keep_credentials()
  if not self.role then return nil end
  return {kept_for = self.role}
end

function Client:close() self.closed = true end

-- The requests made with this service and action ("iam GenerateCredentialReport", "s3 PUT").
function Client:calls(what)
  local out = {}
  for _, r in ipairs(self.requests) do
    if r.service .. " " .. r.action == what then out[#out + 1] = r end
  end
  return out
end

-- The account id in a member client's role ARN (nil for the run's own credentials).
function M.account_of(req)
  return req.role and req.role:match("^arn:[^:]+:iam::(%d+):")
end

-- A handler answering with the items of `list` in turn, then the last one again and again:
-- an error made by M.error is that call's error, anything else its result.
function M.sequence(list)
  local i = 0
  return function()
    i = math.min(i + 1, #list)
    local item = list[i]
    if M.is_error(item) then return nil, item end
    return item
  end
end

-- A handler that hands each request to the handler of its member account (the role's
-- account id), or to map.own for the run's own credentials.
function M.by_account(map)
  return function(req, client)
    local h = map[M.account_of(req) or "own"]
    if not h then return nil, M.error("AccessDenied", {message = "no such account in the fake"}) end
    return h(req, client)
  end
end

-- GetCredentialReport's result for this CSV.
function M.report(csv, generated_time)
  return {Content = core.base64_encode(csv), ReportFormat = "text/csv",
          GeneratedTime = generated_time or "2026-06-01T00:00:00Z"}
end

local function uri_decode(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function query_of(q)
  local t = {}
  for k, v in q:gmatch("([^&=]+)=?([^&]*)") do t[uri_decode(k)] = uri_decode(v) end
  return t
end

local function xml_escape(s)
  return (s:gsub("[&<>]", {["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;"}))
end

-- An in-memory bucket: bucket.objects[key] = {body =, headers =}; bucket.handlers go into
-- M.client. It checks the expected owner as S3 does, stores the checksum an upload carries
-- and returns it to a HEAD with checksum mode, and lists as ListObjectsV2 with a delimiter,
-- bucket.page_size entries a page.
function M.bucket(name, owner)
  local b = {name = name, owner = owner or "111111111111", objects = {}, page_size = 1000}
  local function refuse(req)
    if req.bucket ~= b.name then return M.error("NoSuchBucket", {status = 404}) end
    local expected = req.headers["x-amz-expected-bucket-owner"]
    if expected and expected ~= b.owner then return M.error("AccessDenied", {status = 403}) end
  end
  local function list(req)
    local q = query_of(req.query)
    local prefix, delim = q.prefix or "", q.delimiter
    local entries, seen = {}, {}
    for key in pairs(b.objects) do
      if key:sub(1, #prefix) == prefix then
        local rest = key:sub(#prefix + 1)
        local cut = delim and rest:find(delim, 1, true)
        if cut then
          local p = prefix .. rest:sub(1, cut)
          if not seen[p] then seen[p] = true; entries[#entries + 1] = {prefix = p} end
        else
          entries[#entries + 1] = {key = key}
        end
      end
    end
    table.sort(entries, function(x, y) return (x.key or x.prefix) < (y.key or y.prefix) end)
    local first = tonumber((q["continuation-token"] or ""):match("^page(%d+)$") or "1")
    local last = math.min(#entries, first + b.page_size - 1)
    local xml = {"<ListBucketResult><Name>" .. b.name .. "</Name><Prefix>" .. xml_escape(prefix) .. "</Prefix>"}
    for i = first, last do
      local e = entries[i]
      xml[#xml + 1] = e.key and ("<Contents><Key>%s</Key><Size>%d</Size></Contents>"):format(xml_escape(e.key), #b.objects[e.key].body)
                      or ("<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>"):format(xml_escape(e.prefix))
    end
    if last < #entries then
      xml[#xml + 1] = ("<IsTruncated>true</IsTruncated><NextContinuationToken>page%d</NextContinuationToken>"):format(last + 1)
    else
      xml[#xml + 1] = "<IsTruncated>false</IsTruncated>"
    end
    xml[#xml + 1] = "</ListBucketResult>"
    return {status = 200, headers = {}, body = table.concat(xml)}
  end
  b.handlers = {
    ["s3 PUT"] = function(req)
      local err = refuse(req)
      if err then return nil, err end
      b.objects[req.key] = {body = req.body, headers = req.headers}
      return {status = 200, headers = {}, body = ""}
    end,
    ["s3 GET"] = function(req)
      local err = refuse(req)
      if err then return nil, err end
      if req.query == "location" then return {status = 200, headers = {}, body = "<LocationConstraint/>"} end
      if req.key == "" then return list(req) end
      local o = b.objects[req.key]
      if not o then return nil, M.error("NoSuchKey", {status = 404}) end
      local first, last = (req.headers.range or ""):match("^bytes=(%d+)%-(%d*)$")
      if first then -- one range, as S3 serves it
        first, last = tonumber(first), math.min(tonumber(last) or #o.body - 1, #o.body - 1)
        if first >= #o.body then return nil, M.error("InvalidRange", {status = 416}) end
        return {status = 206, headers = {["content-range"] = ("bytes %d-%d/%d"):format(first, last, #o.body)},
                body = o.body:sub(first + 1, last + 1)}
      end
      return {status = 200, headers = {["content-length"] = tostring(#o.body)}, body = o.body}
    end,
    ["s3 HEAD"] = function(req)
      local err = refuse(req)
      if err then return nil, err end
      local o = b.objects[req.key]
      if not o then return nil, M.error("NotFound", {status = 404}) end
      local h = {["content-length"] = tostring(#o.body)}
      if req.headers["x-amz-checksum-mode"] == "ENABLED" then h["x-amz-checksum-sha256"] = o.headers["x-amz-checksum-sha256"] end
      return {status = 200, headers = h, body = ""}
    end,
  }
  return b
end

-- handlers: the union of several handler tables (the later win).
function M.handlers(...)
  local out = {}
  for _, t in ipairs{...} do for k, v in pairs(t) do out[k] = v end end
  return out
end

-- A fresh folder for a test, and a function that removes it.
function M.tmpdir()
  local base = os.tmpname()
  os.remove(base)
  local dir = base .. ".d"
  assert(core.mkdir_p(dir))
  return dir, function() os.execute("rm -rf '" .. dir .. "'") end
end

return M
