-- Where reports go: an S3 bucket (with encryption, owner checks and an integrity checksum)
-- or a local folder (written atomically, readable by the owner only).
local core = require "credreport.core"

local M = {}

-- {kind = "s3", bucket =, prefix =} or {kind = "folder", path =}
function M.destination(spec)
  local bucket, prefix = spec:match("^s3://([^/]+)/?(.*)$")
  if bucket then
    prefix = prefix:gsub("/+$", "")
    return {kind = "s3", bucket = bucket, prefix = prefix}
  end
  return {kind = "folder", path = (spec ~= "" and spec or "./reports"):gsub("/+$", "")}
end

function M.describe(dest)
  if dest.kind == "s3" then
    return "s3://" .. dest.bucket .. (dest.prefix ~= "" and "/" .. dest.prefix or "")
  end
  return dest.path
end

-- A path segment from a name: no separators, no "." or "..", nothing invisible.
local function segment(s)
  s = tostring(s or ""):gsub("[%c/\\]", "_")
  if s == "" or s == "." or s == ".." then s = "_" end
  return s
end

-- Fills {name} placeholders. Account and OU names come from the organization and are made
-- safe as path segments; an OU path keeps its slashes between safe segments.
function M.render(template, vars)
  return (template:gsub("{([%w_]+)}", function(name)
    local v = vars[name]
    if v == nil then error(("key template: unknown variable {%s}"):format(name), 0) end
    if name == "ou_path" then
      local parts = {}
      for part in tostring(v):gmatch("[^/]+") do parts[#parts + 1] = segment(part) end
      return table.concat(parts, "/")
    end
    return segment(v)
  end))
end

local function join(prefix, key)
  if prefix == nil or prefix == "" then return key end
  return prefix .. "/" .. key
end

-- The S3 headers an upload carries, from the [output] settings.
function M.s3_headers(out, body)
  local h = {["Content-Type"] = "text/csv"}
  if out.sse == "AES256" then
    h["x-amz-server-side-encryption"] = "AES256"
  elseif out.sse == "aws:kms" then
    h["x-amz-server-side-encryption"] = "aws:kms"
    if out.kms_key_id and out.kms_key_id ~= "" then
      h["x-amz-server-side-encryption-aws-kms-key-id"] = out.kms_key_id
    end
    if out.bucket_key then h["x-amz-server-side-encryption-bucket-key-enabled"] = "true" end
  end
  if out.expected_bucket_owner and out.expected_bucket_owner ~= "" then
    h["x-amz-expected-bucket-owner"] = out.expected_bucket_owner
  end
  if out.acl and out.acl ~= "none" and out.acl ~= "" then h["x-amz-acl"] = out.acl end
  if out.checksum == "md5" then
    h["Content-MD5"] = core.digest("md5", body, "base64")
  elseif out.checksum ~= "none" then
    h["x-amz-checksum-sha256"] = core.digest("sha256", body, "base64")
  end
  return h
end

-- Stores body under key. Returns the location (s3://bucket/key or a file path) or nil, err.
function M.put(client, dest, out, key, body, content_type)
  if dest.kind == "s3" then
    local full = join(dest.prefix, key)
    local headers = M.s3_headers(out, body)
    if content_type then headers["Content-Type"] = content_type end
    local res, err = client:s3("PUT", {bucket = dest.bucket, key = full, body = body, headers = headers,
                                       region = out.region ~= "" and out.region or nil})
    if not res then return nil, err end
    return "s3://" .. dest.bucket .. "/" .. full
  end
  for part in key:gmatch("[^/]+") do
    if part == ".." then return nil, {code = "InvalidKey", message = "key leaves the folder: " .. key} end
  end
  -- Below the destination nothing is a symbolic link, and no directory on the way is
  -- writable by other users (the core checks both: dest.path is the root it trusts).
  local path = dest.path .. "/" .. key
  local dir = path:match("^(.*)/[^/]*$")
  local ok, err = core.mkdir_p(dir, 448, dest.path) -- 0700
  if not ok then return nil, {code = "WriteFailed", message = err} end
  ok, err = core.write_file(path, body, 384, dest.path) -- 0600
  if not ok then return nil, {code = "WriteFailed", message = err} end
  return path
end

-- Names of the objects or files directly under dir (a path relative to the destination),
-- or nil, err. A folder that does not exist has none.
function M.list(client, dest, dir)
  if dest.kind == "folder" then
    local names, err = core.list_dir(dest.path .. "/" .. dir, dest.path)
    if not names then
      if tostring(err):find("No such file", 1, true) then return {} end
      return nil, {code = "ReadFailed", message = err}
    end
    return names
  end
  local prefix = join(dest.prefix, dir) .. "/"
  local names, token = {}, nil
  repeat
    local query = "list-type=2&delimiter=%2F&prefix=" .. core.uri_encode(prefix)
    if token then query = query .. "&continuation-token=" .. core.uri_encode(token) end
    local res, err = client:s3("GET", {bucket = dest.bucket, query = query})
    if not res then return nil, err end
    local doc = core.xml_decode(res.body)
    local r = doc and doc.ListBucketResult or {}
    local contents = r.Contents
    if contents and contents.Key then contents = {contents} end -- a single element
    for _, c in ipairs(contents or {}) do names[#names + 1] = c.Key:sub(#prefix + 1) end
    token = r.IsTruncated == "true" and r.NextContinuationToken or nil
  until not token
  return names
end

-- The content stored under key, or nil, err.
function M.get(client, dest, key)
  if dest.kind == "folder" then
    local f, err = io.open(dest.path .. "/" .. key, "rb")
    if not f then return nil, {code = "ReadFailed", message = err} end
    local body = f:read("a")
    f:close()
    return body
  end
  local res, err = client:s3("GET", {bucket = dest.bucket, key = join(dest.prefix, key)})
  if not res then return nil, err end
  return res.body
end

return M
