-- credreport.runner: an outcome's trip from a worker to the main thread (JSON, with the
-- findings' lines and keys and the consolidated CSV's chunk after it, as they are).
local runner = require "credreport.runner"
local T = require "testlib"

local LINES = '{"user":"a\\"b","evidence":{"x":"1"}}\n{"user":"c"}'
local KEYS = "check\0a\"b\0\ncheck\0c\0"
local CHUNK = 'id,name\n1,"a\nb"\n'
local sent = {account = {id = "123456789012", name = "one\ntwo"}, status = "delivered",
              findings = {n = 2, lines = LINES, keys = KEYS, severities = "cm", by_check = {x = {n = 2, severity = "high"}}},
              consolidated = CHUNK}
local msg = runner.encode_outcome(sent)
T.check(msg:find(LINES, 1, true) ~= nil, "the lines travel as they are, not escaped")
local got = runner.decode_outcome(msg)
T.eq(got.findings.lines, LINES, "the lines come back whole")
T.eq(got.findings.keys, KEYS, "the keys, with their NUL bytes and line breaks")
T.eq(got.consolidated, CHUNK, "the consolidated chunk")
T.eq(got.account.name, "one\ntwo", "a line break inside the JSON part stays in its string")
T.eq(got.findings.by_check.x.n, 2, "the rest is the JSON")
T.eq(got["credreport.raw_lengths"], nil, "no trace of the lengths")

got = runner.decode_outcome(runner.encode_outcome{account = {id = "1"}, status = "delivered",
                                                  findings = {n = 0, lines = "", keys = "", severities = ""}})
T.eq(got.findings.lines, "", "empty texts stay empty strings")
T.eq(got.findings.keys, "", "both of them")
T.eq(got.consolidated, nil, "and what was not there is not made up")

got = runner.decode_outcome(runner.encode_outcome{account = {id = "1"}, status = "failed",
                                                  error = {code = "X", message = "line\nbreak"}})
T.eq(got.error.message, "line\nbreak", "an outcome without texts is plain JSON")
T.eq(got.findings, nil, "without findings")

return T.done("runner")
