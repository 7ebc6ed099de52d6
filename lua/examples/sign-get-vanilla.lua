-- Reproduces AWS's SigV4 test-suite case get-vanilla
-- (tests/data/aws-sigv4-suite/v4/get-vanilla) with core.sign, which signs without sending.
-- Compare what it prints with the case's header-canonical-request.txt,
-- header-string-to-sign.txt and header-signed-request.txt. Needs no credentials or network:
--   credreport run lua/examples/sign-get-vanilla.lua
local core = require "credreport.core"

-- context.json of the case
local context = {
  access_key_id = "AKIDEXAMPLE",
  secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
  region = "us-east-1", service = "service", time = "2015-08-30T12:36:00Z",
}

-- request.txt: "GET / HTTP/1.1", Host: example.amazonaws.com (X-Amz-Date is added by signing)
local add, d = core.sign{
  method = "GET", url = "https://example.amazonaws.com/",
  service = context.service, region = context.region, time = context.time,
  access_key_id = context.access_key_id, secret_access_key = context.secret_access_key,
}

print("canonical request:\n" .. d.canonical_request .. "\n")
print("string to sign:\n" .. d.string_to_sign .. "\n")
print("headers to add:")
local names = {}
for name in pairs(add) do names[#names + 1] = name end
table.sort(names)
for _, name in ipairs(names) do print("  " .. name .. ": " .. add[name]) end

-- header-signature.txt
assert(d.signature == "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
       "signature differs from the test suite")

-- The query-signing variant of the same case (query-*.txt, expiration_in_seconds = 3600)
local _, q = core.sign{
  method = "GET", url = "https://example.amazonaws.com/",
  service = context.service, region = context.region, time = context.time, presign = 3600,
  access_key_id = context.access_key_id, secret_access_key = context.secret_access_key,
}
print("\npresigned query:\n  " .. q.query)
assert(q.signature == "e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d",
       "presigned signature differs from the test suite")
print("\nget-vanilla: both signatures match the AWS test suite")
