-- Where reports go: an S3 bucket (with encryption, owner checks and an integrity checksum)
-- or a local folder (written atomically, readable by the owner only).
--
-- Each kind of destination is a backend: a table with the same operations (check, describe,
-- put, list, get, verify), each taking the destination first. delivery.destination picks the
-- backend once, by the destination's kind; the module's functions only hand over to it, so
-- adding a kind of destination is adding a backend, not a branch in every function.
local core = require "credreport.core"
local paging = require "credreport.paging"

local M = {}

local function join(prefix, key)
  if prefix == nil or prefix == "" then return key end
  return prefix .. "/" .. key
end

-- ---- S3 -----------------------------------------------------------------------------------

local S3 = {credentials = true}

-- The headers of a read from the destination bucket: its expected owner, if set.
local function read_headers(out, extra)
  local h = extra or {}
  if out and out.expected_bucket_owner and out.expected_bucket_owner ~= "" then
    h["x-amz-expected-bucket-owner"] = out.expected_bucket_owner
  end
  return h
end

local function bucket_region(out)
  return out and out.region ~= "" and out.region or nil
end

local BYTE_OF_HEX = {} -- "00" .. "ff" -> the byte (a table: gsub then calls no function)
for b = 0, 255 do BYTE_OF_HEX[("%02x"):format(b)] = string.char(b) end

local function hex_to_base64(hex)
  return core.base64_encode((hex:lower():gsub("%x%x", BYTE_OF_HEX)))
end

function S3.describe(dest)
  return "s3://" .. dest.bucket .. (dest.prefix ~= "" and "/" .. dest.prefix or "")
end

-- GetBucketLocation: the cheapest call that shows the bucket exists, is the expected owner's
-- and can be reached with these credentials.
function S3.check(dest, client, out)
  local res, err = client:s3("GET", {bucket = dest.bucket, query = "location", headers = read_headers(out),
                                     region = bucket_region(out)})
  if res then return true end
  local why = {NoSuchBucket = "the bucket does not exist",
               AccessDenied = "access denied: the runner needs s3:GetBucketLocation on it" ..
                 ((out and out.expected_bucket_owner ~= "") and (", and it must belong to " ..
                   out.expected_bucket_owner .. " (expected_bucket_owner)") or "")}
  return nil, {check = "the bucket exists and can be used (s3:GetBucketLocation)", code = err.code,
               message = (why[err.code] and (why[err.code] .. ": ") or "") .. tostring(err.message),
               retryable = err.retryable}
end

function S3.put(dest, client, out, key, body, content_type, sha256)
  local full = join(dest.prefix, key)
  local headers = M.s3_headers(out, body, sha256)
  if content_type then headers["Content-Type"] = content_type end
  local res, err = client:s3("PUT", {bucket = dest.bucket, key = full, body = body, headers = headers,
                                     region = bucket_region(out)})
  if not res then return nil, err end
  return "s3://" .. dest.bucket .. "/" .. full
end

function S3.list(dest, client, dir, out)
  local top = dir == "" and dest.prefix or join(dest.prefix, dir)
  local prefix = top == "" and "" or top .. "/"
  local names, token = {}, nil
  local next_page = paging.guard("S3 listing of s3://" .. dest.bucket .. "/" .. prefix)
  repeat
    local perr = next_page(token)
    if perr then return nil, perr end
    if core.stopping() then
      return nil, {code = "Interrupted", message = "listing s3://" .. dest.bucket .. "/" .. prefix .. " was stopped"}
    end
    local query = "list-type=2&delimiter=%2F&prefix=" .. core.uri_encode(prefix)
    if token then query = query .. "&continuation-token=" .. core.uri_encode(token) end
    local res, err = client:s3("GET", {bucket = dest.bucket, query = query, headers = read_headers(out),
                                       region = bucket_region(out)})
    if not res then return nil, err end
    local doc = core.xml_decode(res.body)
    local r = doc and doc.ListBucketResult or {}
    local contents = r.Contents
    if contents and contents.Key then contents = {contents} end -- a single element
    for _, c in ipairs(contents or {}) do names[#names + 1] = c.Key:sub(#prefix + 1) end
    local folders = r.CommonPrefixes
    if folders and folders.Prefix then folders = {folders} end
    for _, f in ipairs(type(folders) == "table" and folders or {}) do names[#names + 1] = f.Prefix:sub(#prefix + 1) end
    -- An XML boolean: "true" or "1" (capitalized by some endpoints other than AWS).
    local more = r.IsTruncated == "true" or r.IsTruncated == "1" or r.IsTruncated == "True"
    token = more and r.NextContinuationToken or nil
  until not token
  return names
end

function S3.get(dest, client, key, out)
  local res, err = client:s3("GET", {bucket = dest.bucket, key = join(dest.prefix, key),
                                     headers = read_headers(out), region = bucket_region(out)})
  if not res then return nil, err end
  return res.body
end

-- Pieces of at most M.PIECE bytes, by ranged GETs: an object of any size is read without
-- meeting the core's largest body, and never held whole.
function S3.each_piece(dest, client, key, out, fn)
  local full = join(dest.prefix, key)
  local from = 0
  while true do
    local range = ("bytes=%d-%d"):format(from, from + M.PIECE - 1)
    local res, err = client:s3("GET", {bucket = dest.bucket, key = full, region = bucket_region(out),
                                       headers = read_headers(out, {Range = range})})
    if not res then
      if from == 0 and err.code == "InvalidRange" then return true end -- an empty object
      return nil, err
    end
    if res.status ~= 206 then -- the whole object: the server ignored the range
      fn(res.body)
      return true
    end
    local last, total = (res.headers["content-range"] or ""):match("^bytes %d+%-(%d+)/(%d+)$")
    last, total = tonumber(last), tonumber(total)
    if not last or last < from or last - from + 1 ~= #res.body then
      return nil, {code = "MalformedResponse", message = ("s3://%s/%s: the piece asked for as %s came back as %q"):format(
        dest.bucket, full, range, tostring(res.headers["content-range"]))}
    end
    fn(res.body)
    from = last + 1
    if from >= total then return true end
  end
end

-- S3 is asked for the checksum it stored with the upload (sent with every upload unless
-- [output] checksum is md5 or none; then the size alone is compared): nothing is downloaded.
function S3.verify(dest, client, out, key, bytes, sha256)
  local res, err = client:s3("HEAD", {bucket = dest.bucket, key = join(dest.prefix, key),
                                      headers = read_headers(out, {["x-amz-checksum-mode"] = "ENABLED"}),
                                      region = bucket_region(out)})
  if not res then return nil, tostring(err.code) end
  local size = tonumber(res.headers["content-length"])
  if size ~= bytes then return nil, ("%s bytes, not %d"):format(tostring(size), bytes) end
  local stored = res.headers["x-amz-checksum-sha256"]
  if stored and stored ~= hex_to_base64(sha256) then return nil, "its SHA-256 differs" end
  return true
end

-- ---- a local folder ------------------------------------------------------------------------

local Folder = {credentials = false}

function Folder.describe(dest)
  return dest.path
end

-- Files can be created in the folder (or under its nearest existing parent); nothing is written.
function Folder.check(dest)
  local ok, err = core.can_write(dest.path)
  if not ok then
    return nil, {check = "the folder can be written", code = "WriteFailed", message = tostring(err)}
  end
  return true
end

function Folder.put(dest, _, _, key, body)
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

function Folder.list(dest, _, dir)
  local names, err = core.list_dir(dir == "" and dest.path or dest.path .. "/" .. dir, dest.path)
  if not names then
    if tostring(err):find("No such file", 1, true) then return {} end
    return nil, {code = "ReadFailed", message = err}
  end
  return names
end

-- Opened without following a link planted inside the destination, as files are written.
local function open(dest, key)
  local file, err = core.open_file(dest.path .. "/" .. key, dest.path)
  if not file then return nil, {code = "ReadFailed", message = err} end
  return file
end

function Folder.get(dest, _, key)
  local file, err = open(dest, key)
  if not file then return nil, err end
  local body, rerr = file:read("a")
  file:close()
  if not body then return nil, {code = "ReadFailed", message = rerr} end
  return body
end

-- Pieces of at most M.PIECE bytes, as from S3: a file of any size is never held whole.
function Folder.each_piece(dest, _, key, _, fn)
  local file, err = open(dest, key)
  if not file then return nil, err end
  while true do
    local piece, rerr = file:read(M.PIECE)
    if not piece then
      file:close()
      if rerr then return nil, {code = "ReadFailed", message = rerr} end
      return true
    end
    fn(piece)
  end
end

-- A file has no stored checksum: it is hashed where it lies.
function Folder.verify(dest, _, _, key, bytes, sha256)
  local file, err = open(dest, key)
  if not file then return nil, tostring(err.message) end
  local size = file:seek("end")
  local digest, derr = size == bytes and core.digest("sha256", file)
  file:close()
  if size ~= bytes then return nil, ("%d bytes, not %d"):format(size, bytes) end
  if not digest then return nil, tostring(derr) end
  if digest ~= sha256:lower() then return nil, "its SHA-256 differs" end
  return true
end

-- ---- the module's functions ------------------------------------------------------------------

local BACKENDS = {s3 = S3, folder = Folder}

local function backend(dest)
  return BACKENDS[dest.kind] or error("not a destination: kind " .. tostring(dest.kind), 2)
end

-- {kind = "s3", bucket =, prefix =} or {kind = "folder", path =}. A folder's leading ~ is the
-- home directory (config.ini's values arrive expanded; a script's may not).
function M.destination(spec)
  local bucket, prefix = spec:match("^s3://([^/]+)/?(.*)$")
  if bucket then
    prefix = prefix:gsub("/+$", "")
    return {kind = "s3", bucket = bucket, prefix = prefix}
  end
  local path = spec ~= "" and spec or "./reports"
  if path == "~" or path:sub(1, 2) == "~/" then
    local home = os.getenv("HOME")
    if not home or home == "" then error("cannot expand ~ in the destination: HOME is not set", 0) end
    path = home .. path:sub(2)
  elseif path:sub(1, 1) == "~" then
    error("the destination " .. path .. " starts with ~user: write the folder out in full", 0)
  end
  return {kind = "folder", path = (path:gsub("(.)/+$", "%1"))}
end

-- Whether the destination needs AWS credentials (a folder does not: its files are written
-- even when the run has none).
function M.needs_credentials(dest)
  return backend(dest).credentials
end

function M.describe(dest)
  return backend(dest).describe(dest)
end

-- Whether reports can be delivered at all, checked once before any account; nothing is
-- written. Returns true, or nil and {check =, code =, message =}.
function M.check(client, dest, out)
  return backend(dest).check(dest, client, out)
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

-- The S3 headers an upload carries, from the [output] settings. sha256: the body's SHA-256
-- (hex), when the caller has it: the checksum is then not computed again, nor the signature's
-- hash of the body, which the core takes from the checksum.
function M.s3_headers(out, body, sha256)
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
    h["x-amz-checksum-sha256"] = sha256 and hex_to_base64(sha256) or core.digest("sha256", body, "base64")
  end
  return h
end

-- Stores body under key. Returns the location (s3://bucket/key or a file path) or nil, err.
-- content_type: optional (text/csv); sha256: the body's SHA-256 (hex), optional, when the
-- caller has it (see s3_headers).
function M.put(client, dest, out, key, body, content_type, sha256)
  return backend(dest).put(dest, client, out, key, body, content_type, sha256)
end

-- Names of the objects or files directly under dir (a path relative to the destination; ""
-- for its top), or nil, err. Sub-folders are listed too (S3: common prefixes, with a
-- trailing "/"). A folder that does not exist has none. out: the [output] settings (for the
-- bucket's region and expected owner), optional.
function M.list(client, dest, dir, out)
  return backend(dest).list(dest, client, dir, out)
end

-- The content stored under key, or nil, err.
function M.get(client, dest, key, out)
  return backend(dest).get(dest, client, key, out)
end

-- The content stored under key handed to fn(piece) piece by piece, in order (S3: ranged
-- reads of M.PIECE bytes). Returns true, or nil, err (after the pieces read before it).
-- A piece and the strings cut from it are garbage soon after. At 8 MiB a 10,000-account run
-- peaked 30 MiB higher while it read the day before's findings: glibc serves blocks that
-- large from the heap once one was freed (its mmap threshold rises), so they stay resident.
M.PIECE = 1024 * 1024
function M.each_piece(client, dest, key, out, fn)
  return backend(dest).each_piece(dest, client, key, out, fn)
end

-- The lines of the content stored under key (empty ones left out) handed to fn(line) in
-- order, read piece by piece (M.each_piece): a file of a large organization, tens of MB, is
-- never held whole. A line cut by the end of a piece is joined once it ends. Returns true, or
-- nil, err (after the lines read before it).
function M.each_line(client, dest, key, out, fn)
  local cut = {} -- the pieces of a line not ended yet
  local ok, err = M.each_piece(client, dest, key, out, function(piece)
    local from = 1
    while true do
      local nl = piece:find("\n", from, true)
      if not nl then
        if from <= #piece then cut[#cut + 1] = piece:sub(from) end
        return
      end
      local line = piece:sub(from, nl - 1)
      if #cut > 0 then
        cut[#cut + 1] = line
        line, cut = table.concat(cut), {}
      end
      if line ~= "" then fn(line) end
      from = nl + 1
    end
  end)
  if not ok then return nil, err end
  if #cut > 0 then fn(table.concat(cut)) end
  return true
end

-- Whether key holds exactly what a manifest says was delivered: bytes long, with that
-- SHA-256 (hex). Returns true, or nil and why not.
function M.verify(client, dest, out, key, bytes, sha256)
  if type(bytes) ~= "number" or type(sha256) ~= "string" or not sha256:match("^%x+$") or #sha256 ~= 64 then
    return nil, "the manifest does not record the report's size and checksum"
  end
  return backend(dest).verify(dest, client, out, key, bytes, sha256)
end

return M
