-- credreport.delivery: destinations, safe keys, the upload headers, and both backends: S3
-- against a fake bucket (keys under the prefix, region and expected owner on every request,
-- the checksum, list paging, verify) and a folder in a temporary directory.
local core = require "credreport.core"
local delivery = require "credreport.delivery"
local fake = require "fake"
local T = require "testlib"

-- destinations
local d = delivery.destination("s3://audit-bucket/credential-reports//")
T.check(d.kind == "s3" and d.bucket == "audit-bucket" and d.prefix == "credential-reports", "s3 with a prefix")
T.eq(delivery.describe(d), "s3://audit-bucket/credential-reports", "described as written, without trailing slashes")
T.eq(delivery.describe(delivery.destination("s3://audit-bucket")), "s3://audit-bucket", "s3 without a prefix")
T.eq(delivery.destination("").path, "./reports", "an empty destination is ./reports")
T.eq(delivery.destination("/var/reports/").path, "/var/reports", "a folder without its trailing slash")
T.eq(delivery.destination("~/r").path, os.getenv("HOME") .. "/r", "~ is HOME")
T.check(not pcall(delivery.destination, "~bob/r"), "~user raises")
T.eq(delivery.needs_credentials(d), true, "S3 needs credentials")
T.eq(delivery.needs_credentials(delivery.destination("/tmp/x")), false, "a folder does not")
T.check(not pcall(delivery.put, nil, {kind = "ftp"}, {}, "k", "b"), "an unknown kind raises")

-- keys
T.eq(delivery.render("{ou_path}/{date}/credentialReport_{account}.csv",
                     {ou_path = "Root/../Prod", date = "2026-06-01", account = "123456789012"}),
     "Root/_/Prod/2026-06-01/credentialReport_123456789012.csv", "an OU path keeps its slashes between safe segments")
T.eq(delivery.render("{account_name}/{account}", {account_name = "a/b\nc", account = "1"}), "a_b_c/1",
     "a name loses its separators and control characters")
T.check(not pcall(delivery.render, "{nope}", {}), "an unknown variable raises")

-- upload headers
local BODY = "user,arn\nann,arn:aws:iam::123456789012:user/ann\n"
local h = delivery.s3_headers({sse = "AES256", checksum = "sha256"}, BODY)
T.eq(h["x-amz-server-side-encryption"], "AES256", "SSE-S3")
T.eq(h["x-amz-checksum-sha256"], core.digest("sha256", BODY, "base64"), "the body's SHA-256, base64")
T.eq(h["Content-Type"], "text/csv", "a report is text/csv")
local hex = core.digest("sha256", BODY)
T.eq(delivery.s3_headers({checksum = "sha256"}, BODY, hex)["x-amz-checksum-sha256"], core.digest("sha256", BODY, "base64"),
     "the SHA-256 already known, in hex, sent in base64")
T.eq(delivery.s3_headers({checksum = "sha256"}, BODY, hex:upper())["x-amz-checksum-sha256"],
     core.digest("sha256", BODY, "base64"), "in either case of hex")
h = delivery.s3_headers({sse = "aws:kms", kms_key_id = "alias/reports", bucket_key = true, checksum = "md5",
                         expected_bucket_owner = "222222222222", acl = "bucket-owner-full-control"}, BODY)
T.eq(h["x-amz-server-side-encryption"], "aws:kms", "SSE-KMS")
T.eq(h["x-amz-server-side-encryption-aws-kms-key-id"], "alias/reports", "with its key")
T.eq(h["x-amz-server-side-encryption-bucket-key-enabled"], "true", "and the bucket key")
T.eq(h["x-amz-expected-bucket-owner"], "222222222222", "the expected owner")
T.eq(h["x-amz-acl"], "bucket-owner-full-control", "the ACL")
T.eq(h["Content-MD5"], core.digest("md5", BODY, "base64"), "checksum = md5: Content-MD5")
T.eq(h["x-amz-checksum-sha256"], nil, "and no SHA-256")
h = delivery.s3_headers({checksum = "none", acl = "none"}, BODY)
T.check(not h["Content-MD5"] and not h["x-amz-checksum-sha256"] and not h["x-amz-acl"], "checksum = none, acl = none")

-- ---- S3 ----------------------------------------------------------------------------------
local OUT = {sse = "AES256", checksum = "sha256", expected_bucket_owner = "111111111111", region = "eu-west-1"}
local bucket = fake.bucket("audit-bucket", "111111111111")
local client = fake.client(bucket.handlers)

local loc, err = delivery.put(client, d, OUT, "2026-06-01/credentialReport_1.csv", BODY)
T.eq(loc, "s3://audit-bucket/credential-reports/2026-06-01/credentialReport_1.csv", "put returns the object's location: " .. tostring(err))
local put = client.requests[#client.requests]
T.eq(put.key, "credential-reports/2026-06-01/credentialReport_1.csv", "the key is under the prefix")
T.eq(put.bucket, "audit-bucket", "in the bucket")
T.eq(put.region, "eu-west-1", "in the bucket's region")
T.eq(put.body, BODY, "with the body")
T.eq(put.headers["x-amz-expected-bucket-owner"], "111111111111", "an upload carries the expected owner")
T.eq(put.headers["x-amz-checksum-sha256"], core.digest("sha256", BODY, "base64"), "and the checksum")
T.eq(put.headers["x-amz-server-side-encryption"], "AES256", "and SSE")
delivery.put(client, d, OUT, "2026-06-01/manifest-r.json", "{}", "application/json")
T.eq(client.requests[#client.requests].headers["content-type"], "application/json", "a content type given wins")
delivery.put(client, delivery.destination("s3://audit-bucket"), {checksum = "sha256"}, "top.csv", BODY)
T.eq(client.requests[#client.requests].key, "top.csv", "no prefix: no leading slash")
T.eq(client.requests[#client.requests].region, nil, "no region set: the client's")

local wrong = fake.client(bucket.handlers)
loc, err = delivery.put(wrong, d, {checksum = "sha256", expected_bucket_owner = "999999999999"}, "k.csv", BODY)
T.check(not loc and err.code == "AccessDenied", "another owner's bucket refuses the upload, and the error comes back")

-- list: pages, sub-folders, the expected owner on every page
for i = 1, 5 do bucket.objects[("credential-reports/2026-06-02/r%d.csv"):format(i)] = {body = "x", headers = {}} end
bucket.objects["credential-reports/2026-06-02/sub/deep.csv"] = {body = "x", headers = {}}
bucket.page_size = 2
client = fake.client(bucket.handlers)
local names, lerr = delivery.list(client, d, "2026-06-02", OUT)
T.check(names, "listed: " .. tostring(lerr))
table.sort(names or {})
T.eq(table.concat(names or {}, " "), "r1.csv r2.csv r3.csv r4.csv r5.csv sub/", "every name of every page, without the folder, sub-folders with /")
local pages = client:calls("s3 GET")
T.eq(#pages, 3, "six entries two a page: three requests")
T.check(pages[1].query:find("prefix=credential-reports%2F2026-06-02%2F", 1, true), "the prefix is the folder under the destination's prefix: " .. pages[1].query)
T.check(pages[1].query:find("delimiter=%2F", 1, true), "with a delimiter")
T.check(not pages[1].query:find("continuation-token", 1, true), "the first page has no token")
T.check(pages[2] and pages[2].query:find("continuation-token=page3", 1, true), "the next page sends the token it was given")
local owners = 0
for _, r in ipairs(pages) do if r.headers["x-amz-expected-bucket-owner"] == "111111111111" and r.region == "eu-west-1" then owners = owners + 1 end end
T.eq(owners, 3, "every page carries the expected owner and goes to the bucket's region")
T.eq(#(delivery.list(client, d, "2026-07-01", OUT) or {1}), 0, "a folder with nothing under it lists nothing")

-- IsTruncated as another endpoint may write it
for _, flag in ipairs{"True", "1"} do
  local capital = fake.client{["s3 GET"] = fake.sequence{
    {status = 200, headers = {}, body = "<ListBucketResult><Contents><Key>reports/a</Key></Contents><IsTruncated>"
     .. flag .. "</IsTruncated><NextContinuationToken>next</NextContinuationToken></ListBucketResult>"},
    {status = 200, headers = {}, body = "<ListBucketResult><Contents><Key>reports/b</Key></Contents>"
     .. "<IsTruncated>false</IsTruncated></ListBucketResult>"}}}
  T.eq(#(delivery.list(capital, d, "", OUT) or {}), 2, "IsTruncated " .. flag .. ": the next page is read")
end

local looping = fake.client{["s3 GET"] = function(_, c)
  -- so that a listing without its guard fails here instead of looping for ever
  if #c.requests > 10 then return nil, fake.error("FakeGaveUp") end
  return {status = 200, headers = {}, body = "<ListBucketResult><IsTruncated>true</IsTruncated>"
          .. "<NextContinuationToken>same</NextContinuationToken></ListBucketResult>"}
end}
names, lerr = delivery.list(looping, d, "", OUT)
T.check(not names and lerr.code == "EndlessListing", "a token that comes back ends the listing")
T.eq(#looping.requests, 2, "on its second appearance")
names, lerr = delivery.list(fake.client{["s3 GET"] = fake.sequence{fake.error("AccessDenied")}}, d, "", OUT)
T.check(not names and lerr.code == "AccessDenied", "a failed listing returns S3's error")

-- get
client = fake.client(bucket.handlers)
T.eq(delivery.get(client, d, "2026-06-01/credentialReport_1.csv", OUT), BODY, "get returns what put stored")
T.eq(client.requests[1].headers["x-amz-expected-bucket-owner"], "111111111111", "a read carries the expected owner")
local body, gerr = delivery.get(client, d, "2026-06-01/missing.csv", OUT)
T.check(not body and gerr.code == "NoSuchKey", "a missing object is S3's error")

-- each_piece: ranged reads of PIECE bytes, in order, whatever the size
local function pieces_of(c, key)
  local got = {}
  local ok, err = delivery.each_piece(c, d, key, OUT, function(p) got[#got + 1] = p end)
  return got, ok, err
end
local real_piece = delivery.PIECE
delivery.PIECE = 7
client = fake.client(bucket.handlers)
local got, pok = pieces_of(client, "2026-06-01/credentialReport_1.csv")
T.check(pok and table.concat(got) == BODY, "the pieces make the object")
T.eq(#got, math.ceil(#BODY / 7), "pieces of PIECE bytes")
T.eq(client.requests[2].headers.range, "bytes=7-13", "each asked for by its range")
T.eq(client.requests[1].headers["x-amz-expected-bucket-owner"], "111111111111", "with the expected owner")
bucket.objects["credential-reports/empty"] = {body = "", headers = {}}
got, pok = pieces_of(client, "empty")
T.check(pok and #got == 0, "an empty object has no piece")
local _, perr
got, pok, perr = pieces_of(client, "missing")
T.check(not pok and perr.code == "NoSuchKey", "a missing object is S3's error")
got, pok, perr = pieces_of(fake.client{["s3 GET"] = function()
  return {status = 206, headers = {["content-range"] = "bytes 0-3/10"}, body = "ab"}
end}, "x")
T.check(not pok and perr.code == "MalformedResponse", "a piece that is not what was asked for: " .. tostring(perr and perr.message))
got, pok = pieces_of(fake.client{["s3 GET"] = function() return {status = 200, headers = {}, body = "whole"} end}, "x")
T.check(pok and #got == 1 and got[1] == "whole", "a server that ignores the range gives it whole")

-- each_line: the lines of the object, whatever the pieces cut, empty ones left out
local function lines_of(text)
  bucket.objects["credential-reports/lines"] = {body = text, headers = {}}
  local lines = {}
  local ok, err = delivery.each_line(fake.client(bucket.handlers), d, "lines", OUT, function(l) lines[#lines + 1] = l end)
  return ok and table.concat(lines, "|") or err.code
end
T.eq(lines_of("one\ntwo\n"), "one|two", "each_line: lines cut by pieces are joined")
T.eq(lines_of("a\n\n\nlonger than three pieces\nend"), "a|longer than three pieces|end",
     "each_line: a line over several pieces, empty lines, a last line without its line break")
T.eq(lines_of("\r\nx\r\n"), "\r|x\r", "each_line: a carriage return stays on its line")
T.eq(lines_of(""), "", "each_line: an empty object has no line")
T.eq(select(2, delivery.each_line(client, d, "missing", OUT, function() end)).code, "NoSuchKey",
     "each_line: a missing object is S3's error")
delivery.PIECE = real_piece

-- verify: HEAD with checksum mode, the size and the checksum S3 stored
local SHA = core.digest("sha256", BODY)
client = fake.client(bucket.handlers)
T.eq(delivery.verify(client, d, OUT, "2026-06-01/credentialReport_1.csv", #BODY, SHA), true, "the same size and checksum")
local head = client.requests[1]
T.eq(head.action, "HEAD", "verify asks with HEAD: nothing is downloaded")
T.eq(head.headers["x-amz-checksum-mode"], "ENABLED", "for the stored checksum")
T.eq(head.headers["x-amz-expected-bucket-owner"], "111111111111", "of the expected owner's bucket")
local ok, why = delivery.verify(client, d, OUT, "2026-06-01/credentialReport_1.csv", #BODY + 1, SHA)
T.check(not ok and why:find("bytes"), "another size: " .. tostring(why))
ok, why = delivery.verify(client, d, OUT, "2026-06-01/credentialReport_1.csv", #BODY, core.digest("sha256", "other"))
T.check(not ok and why == "its SHA-256 differs", "another checksum: " .. tostring(why))
ok, why = delivery.verify(client, d, OUT, "2026-06-01/gone.csv", #BODY, SHA)
T.check(not ok and why == "NotFound", "a missing object: " .. tostring(why))
delivery.put(client, d, {checksum = "md5"}, "2026-06-01/md5.csv", BODY)
T.eq(delivery.verify(client, d, OUT, "2026-06-01/md5.csv", #BODY, core.digest("sha256", "other")), true,
     "an upload without a stored SHA-256 is compared by size alone")
local before = #client.requests
ok, why = delivery.verify(client, d, OUT, "2026-06-01/credentialReport_1.csv", #BODY, "not-hex")
T.check(not ok and why:find("does not record", 1, true), "a claim without a usable checksum is refused")
ok, why = delivery.verify(client, d, OUT, "2026-06-01/credentialReport_1.csv", #BODY, nil)
T.check(not ok and why:find("does not record", 1, true), "and one without a checksum")
T.eq(#client.requests, before, "without asking S3")

-- check
client = fake.client(bucket.handlers)
T.eq(delivery.check(client, d, OUT), true, "the bucket can be used")
T.eq(client.requests[1].query, "location", "checked with GetBucketLocation")
local cok, cerr = delivery.check(client, delivery.destination("s3://other-bucket"), OUT)
T.check(not cok and cerr.code == "NoSuchBucket" and cerr.message:find("does not exist", 1, true), "a missing bucket is explained")
cok, cerr = delivery.check(client, d, {expected_bucket_owner = "999999999999"})
T.check(not cok and cerr.message:find("expected_bucket_owner", 1, true), "another owner's bucket names the setting: " .. tostring(cerr and cerr.message))

-- ---- a folder ------------------------------------------------------------------------------
local dir, cleanup = fake.tmpdir()
local f = delivery.destination(dir .. "/reports/")
T.eq(delivery.check(nil, f), true, "a folder that does not exist yet can be created")
loc, err = delivery.put(nil, f, OUT, "2026-06-01/credentialReport_1.csv", BODY)
T.eq(loc, dir .. "/reports/2026-06-01/credentialReport_1.csv", "put returns the file's path, needing no client: " .. tostring(err))
T.eq(delivery.get(nil, f, "2026-06-01/credentialReport_1.csv"), BODY, "the file holds the body")
local fh = io.open(loc, "rb")
T.check(fh and fh:read("a") == BODY, "as written on disk")
if fh then fh:close() end
loc, err = delivery.put(nil, f, OUT, "2026-06-01/../../escape.csv", BODY)
T.check(not loc and err.code == "InvalidKey", "a key with .. is refused")
delivery.put(nil, f, OUT, "2026-06-01/sub/x.csv", BODY)
names = delivery.list(nil, f, "2026-06-01") or {}
table.sort(names)
T.eq(table.concat(names, " "), "credentialReport_1.csv sub", "list names the files and folders under dir")
T.eq(#(delivery.list(nil, f, "1999-01-01") or {1}), 0, "a folder that does not exist lists nothing")
body, gerr = delivery.get(nil, f, "nope.csv")
T.check(not body and gerr.code == "ReadFailed", "a missing file: ReadFailed")
T.eq(delivery.verify(nil, f, OUT, "2026-06-01/credentialReport_1.csv", #BODY, SHA), true, "verify hashes the file")
ok, why = delivery.verify(nil, f, OUT, "2026-06-01/credentialReport_1.csv", #BODY, core.digest("sha256", "other"))
T.check(not ok and why == "its SHA-256 differs", "a file that differs")
ok, why = delivery.verify(nil, f, OUT, "2026-06-01/credentialReport_1.csv", 3, SHA)
T.check(not ok and why:find("bytes"), "a file of another size")
-- each_piece: a file is read in pieces of PIECE bytes, never whole
delivery.PIECE = 7
local pieces = {}
T.eq(delivery.each_piece(nil, f, "2026-06-01/credentialReport_1.csv", OUT, function(p) pieces[#pieces + 1] = p end), true,
     "each_piece reads a file")
delivery.PIECE = real_piece
T.eq(#pieces, math.ceil(#BODY / 7), "a file comes in pieces of PIECE bytes")
T.eq(table.concat(pieces), BODY, "the pieces make up the file, in order")
ok, why = delivery.each_piece(nil, f, "nope.csv", OUT, function() end)
T.check(not ok and why.code == "ReadFailed", "each_piece of a missing file: ReadFailed")
-- links planted inside the destination are not followed when reading either
local outside = dir .. "/outside.csv"
local oh = assert(io.open(outside, "wb"))
oh:write(BODY)
oh:close()
os.execute(("ln -s %q %q && ln -s %q %q"):format(outside, dir .. "/reports/2026-06-01/planted.csv",
                                                 dir, dir .. "/reports/2026-06-02"))
body, gerr = delivery.get(nil, f, "2026-06-01/planted.csv")
T.check(not body and gerr.code == "ReadFailed" and gerr.message:find("symbolic link", 1, true),
        "a planted link to a file is not read: " .. tostring(gerr and gerr.message))
body, gerr = delivery.get(nil, f, "2026-06-02/outside.csv")
T.check(not body and gerr.code == "ReadFailed", "a planted link to a folder is not read through: " ..
        tostring(gerr and gerr.message))
ok, why = delivery.verify(nil, f, OUT, "2026-06-01/planted.csv", #BODY, SHA)
T.check(not ok, "a planted link does not verify as a delivered report")
ok, why = delivery.each_piece(nil, f, "2026-06-01/planted.csv", OUT, function() error("read through a link") end)
T.check(not ok and why.message:find("symbolic link", 1, true), "nor is it read in pieces: " .. tostring(why and why.message))
cok, cerr = delivery.check(nil, delivery.destination(dir .. "/reports/2026-06-01/credentialReport_1.csv/sub"))
T.check(not cok and cerr.code == "WriteFailed", "a folder under a file cannot be written: the check fails")
cleanup()

return T.done("delivery")
