-- core.csv_decode / core.csv_encode (libcsv) and report.rows / report.epoch: a credential
-- report with AWS's special values, strictness, errors that name the line, round trips.
local core = require "credreport.core"
local report = require "credreport.report"
local T = require "testlib"

local HEADER = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
  .. "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
  .. "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
  .. "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
  .. "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,"
  .. "cert_1_last_rotated,cert_2_active,cert_2_last_rotated"
local ROOT = "<root_account>,arn:aws:iam::123456789012:root,2020-06-01T00:00:00+00:00,not_supported,"
  .. "no_information,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,"
  .. "false,N/A,false,N/A"
local USER = '"ali,ce",arn:aws:iam::123456789012:user/ali,2021-06-01T09:00:00+00:00,true,'
  .. "2024-01-15T08:30:00+00:00,2023-01-01T00:00:00+00:00,N/A,false,true,2022-02-02T00:00:00+00:00,"
  .. "N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"

local rows, cols = core.csv_decode(HEADER .. "\n" .. ROOT .. "\n" .. USER)
T.check(rows ~= nil, "a report decodes: " .. tostring(cols))
T.eq(#rows, 2, "two rows")
T.eq(#cols, 22, "22 columns, in order")
T.eq(cols[1], "user", "first column")
T.eq(cols[22], "cert_2_last_rotated", "last column")
T.eq(rows[1].user, "<root_account>", "the root row keeps its name")
T.eq(rows[1].password_enabled, "not_supported", "not_supported is a string")
T.eq(rows[1].password_last_used, "no_information", "no_information is a string")
T.eq(rows[2].user, "ali,ce", "a quoted field with a comma")
T.eq(rows[2].access_key_1_last_used_date, "N/A", "N/A is a string")

-- report.rows is the same primitive; report.epoch never reads a special value as a date
local rrows = report.rows(HEADER .. "\n" .. ROOT .. "\n")
T.eq(#rrows, 1, "report.rows")
T.eq(report.epoch("2024-01-15T08:30:00+00:00"), 1705307400, "epoch of a report time")
T.eq(report.epoch("2024-01-15T10:30:00+02:00"), 1705307400, "an offset is honoured")
T.eq(report.epoch("1970-01-01T00:00:00+00:00"), 0, "the epoch")
T.eq(report.epoch("2000-03-01T00:00:00+00:00"), 951868800, "after a leap day")
for _, v in ipairs{"N/A", "no_information", "not_supported", "", "true", "2024-01-15"} do
  T.eq(report.epoch(v), nil, "not a time: " .. v)
  T.check(report.SPECIAL[v] ~= nil or v == "" or v == "true" or v == "2024-01-15", "special " .. v)
end

-- line endings, blank lines, no trailing newline, spaces kept
rows = core.csv_decode("a,b\r\n 1 ,2\r\n\r\n3,\"4\"")
T.eq(#rows, 2, "CRLF and a blank line")
T.eq(rows[1].a, " 1 ", "spaces are data")
T.eq(rows[2].b, "4", "quoted last field without newline")
rows, cols = core.csv_decode("a,b\n")
T.check(rows and #rows == 0 and #cols == 2, "a header alone: no rows")
rows = core.csv_decode('a\n"line\nbreak"\n')
T.eq(rows[1].a, "line\nbreak", "a quoted line break")

-- strictness: every error names its line, and returns nil, err (never raises)
local function fails(text, want, what)
  local r, err = core.csv_decode(text)
  T.check(r == nil and type(err) == "string" and err:find(want, 1, true), what .. ": " .. tostring(err))
end
fails("", "line 1: no header row", "empty text")
fails("a,b\n1,2\n1,2,3\n", "line 3: more fields than the header's 2", "a long row")
fails("a,b\n1,2\n\n1\n", "line 4: the row has 1 field(s), the header 2", "a short row")
fails("a,a\n", "line 1: the header names column 2 like column 1", "a repeated column")
fails("a,,c\n", "line 1: column 2 of the header has no name", "an unnamed column")
fails('a,b\n1,2"x"\n', "line 2: malformed CSV", "a quote inside a field")
fails('a,b\n1,"x"y\n', "line 2: malformed CSV", "text after a closing quote")
fails('a,b\n1,"open\n', "a quoted field is not closed", "an unclosed quote")
local okr, rerr = pcall(core.csv_decode, nil)
T.check(not okr and tostring(rerr):find("string expected", 1, true), "misuse raises: " .. tostring(rerr))

-- encode: quotes only what needs it; anything reads back as itself
local tricky = {"plain", "a,b", 'say "hi"', "two\nlines", "cr\rhere", " lead", "trail\t", "",
                "<b>&amp;</b>", "\1\127ctl", "ünïcödé"}
local text = core.csv_encode{tricky, tricky}
T.eq(text:sub(1, 6), "plain,", "plain fields are not quoted")
local header = {}
for i = 1, #tricky do header[i] = "c" .. i end
local back = core.csv_decode(core.csv_encode{header, tricky})
for i, v in ipairs(tricky) do T.eq(back[1]["c" .. i], v, "round trip " .. i) end
T.eq(core.csv_encode{}, "", "no rows")
local oke, eerr = pcall(core.csv_encode, {{"a", 1}})
T.check(not oke and tostring(eerr):find("row 1, field 2 is a number", 1, true), tostring(eerr))
oke, eerr = pcall(core.csv_encode, {"a"})
T.check(not oke and tostring(eerr):find("row 1 is a string", 1, true), tostring(eerr))

-- a large report: 5,000 users
local lines = {HEADER, ROOT}
for i = 1, 5000 do lines[#lines + 1] = USER:gsub("ali,ce", "user" .. i) end
rows = core.csv_decode(table.concat(lines, "\n"))
T.eq(#rows, 5001, "5,001 rows")
T.eq(rows[5001].user, "user5000", "the last one")

return T.done("csv")
