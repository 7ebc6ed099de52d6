-- The core's primitives that need no AWS: tasks, time, encodings, XML, files.
local core = require "credreport.core"
local T = require "testlib"

-- tasks: results, errors kept as raised, join after the end
local t = core.spawn(function(a, b) core.sleep(0.01); return a + b, "x" end, 1, 2)
local ok, sum, x = t:join()
T.check(ok and sum == 3 and x == "x", "join returns the task's results")
T.check(t:done(), "done after join")
local ok2, again = t:join()
T.check(ok2 and again == 3, "join again after the end")
local bad = core.spawn(function() error({code = "Boom", message = "table error"}) end)
local okb, err = bad:join()
T.check(not okb and type(err) == "table" and err.code == "Boom", "a table error stays a table")

-- a wait is refused where Lua cannot yield, before anything starts
local okw, werr = pcall(table.sort, {3, 1, 2}, function(a, b) core.sleep(0); return a < b end)
T.check(not okw and tostring(werr):find("not possible inside a C function", 1, true), tostring(werr))
core.sleep(0.02) -- nothing stray wakes this task
T.check(true, "no stray wake-up")

-- waits overlap instead of adding up
local start = core.monotonic()
local tasks = {}
for i = 1, 50 do tasks[i] = core.spawn(core.sleep, 0.2) end
for _, task in ipairs(tasks) do task:join() end
T.check(core.monotonic() - start < 2, "50 sleeps of 0.2 s run together")

-- a sleep with a shorter wait for a thread short of work: outside a run's workers, the whole wait
start = core.monotonic()
T.eq(core.sleep(0.05, 0.01), false, "the whole wait, outside the workers")
T.check(core.monotonic() - start >= 0.05, "slept the whole 0.05 s")
T.eq(core.sleep(0), false, "a plain sleep says it was not cut short")
T.check(not pcall(core.sleep, 1, -1), "a negative shorter wait raises")

-- encodings and digests (OpenSSL)
T.eq(core.base64_encode("credential report"), "Y3JlZGVudGlhbCByZXBvcnQ=", "base64")
T.eq(core.base64_decode("Y3JlZGVudGlhbCByZXBvcnQ="), "credential report", "unbase64")
T.eq(core.base64_decode("YQ=="), "a", "padding")
T.check(core.base64_decode("not base64!") == nil, "bad base64 is nil, err")
T.eq(core.base64_decode("Y3Jl\nZGVu dGlh\r\nbCBy\tZXBvcnQ=\n"), "credential report", "line breaks and spaces are skipped")
T.eq(core.base64_decode(""), "", "nothing")
T.eq(select(2, core.base64_decode("YWJj\0ZGV")), "base64: invalid characters", "a NUL is no base64")
T.eq(select(2, core.base64_decode("YWJjZ")), "base64: length is not a multiple of 4", "a cut text")
do
  local bytes = {}
  for i = 1, 3 * 2^18 + 2 do bytes[i] = string.char((i * 7919) % 256) end
  bytes = table.concat(bytes)
  T.eq(core.base64_decode(core.base64_encode(bytes)), bytes, "768 KiB there and back")
end
T.eq(core.digest("sha256", "abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256")
T.eq(core.digest("md5", "", "base64"), "1B2M2Y8AsgTpgAmY7PhCfg==", "md5 base64")
T.eq(core.uri_encode("a b/c~"), "a%20b%2Fc~", "uri_encode")
-- a file is a body too: its whole content, read in pieces (over 64 KiB here), wherever it stands
local big = ("0123456789abcdef"):rep(10000) .. "end"
local bigfile = io.tmpfile()
bigfile:write(big)
T.eq(core.digest("sha256", bigfile), core.digest("sha256", big), "the digest of a file is its content's")
T.eq(core.digest("md5", bigfile, "base64"), core.digest("md5", big, "base64"), "md5 of a file")
T.eq(bigfile:seek(), #big, "the file is left where it stood")
local closed = io.tmpfile()
closed:close()
T.check(not pcall(core.digest, "sha256", closed), "a closed file raises")

-- XML (expat)
local doc = core.xml_decode([[<R xmlns="x"><A>1</A><L><member>a</member><member>b</member></L><C>x</C><C>y</C></R>]])
T.check(doc and doc.R.A == "1" and doc.R.L[2] == "b" and doc.R.C[2] == "y", "xml_decode")
T.check(core.xml_decode("<a><b></a>") == nil, "malformed XML is nil, err")

-- files: atomic, private, listed
local dir = os.tmpname()
os.remove(dir)
T.check(core.mkdir_p(dir .. "/x/y"), "mkdir_p")
T.check(core.write_file(dir .. "/x/y/f.csv", "data"), "write_file")
local names = core.list_dir(dir .. "/x/y")
T.check(#names == 1 and names[1] == "f.csv", "list_dir shows no temporary file")
local f = io.open(dir .. "/x/y/f.csv")
T.eq(f:read("a"), "data", "content")
f:close()
local p = io.popen("stat -c %a " .. dir .. "/x/y/f.csv")
T.eq(p:read("l"), "600", "mode 0600")
p:close()

-- under a root: nothing below it is followed, nothing leaves it
T.check(core.mkdir_p(dir .. "/r/a/b", 448, dir .. "/r"), "mkdir_p under a root")
T.check(core.write_file(dir .. "/r/a/b/f", "x", 384, dir .. "/r"), "write_file under a root")
T.eq(core.list_dir(dir .. "/r/a/b", dir .. "/r")[1], "f", "list_dir under a root")
os.execute("ln -s " .. dir .. "/x " .. dir .. "/r/link")
local ok, err = core.write_file(dir .. "/r/link/g", "x", 384, dir .. "/r")
T.check(not ok and err:find("r/link is a symbolic link", 1, true), "a link below the root: " .. tostring(err))
ok, err = core.mkdir_p(dir .. "/r/link/c", 448, dir .. "/r")
T.check(not ok and err:find("symbolic link", 1, true), "mkdir_p through a link: " .. tostring(err))
ok, err = core.write_file(dir .. "/r/a/../../x/g", "x", 384, dir .. "/r")
T.check(not ok and err:find("leaves the destination", 1, true), "'..' below the root: " .. tostring(err))
ok, err = core.write_file(dir .. "/elsewhere/g", "x", 384, dir .. "/r")
T.check(not ok and err:find("not under the destination", 1, true), "outside the root: " .. tostring(err))
T.check(not pcall(core.write_file, dir .. "/r/f", "x", 99999), "a mode past 07777 raises")
T.check(core.write_file(dir .. "/r/big", bigfile, 384, dir .. "/r"), "write_file from a file")
T.eq(core.read_file(dir .. "/r/big", dir .. "/r"), big, "the file's whole content is copied")
bigfile:close()
-- open_file: the same checks, and a Lua file to read in pieces
local of = core.open_file(dir .. "/r/big", dir .. "/r")
T.eq(io.type(of), "file", "open_file gives a Lua file")
T.eq(of:read(5) .. of:read("a"), big, "read in pieces, then the rest")
of:close()
T.eq(io.type(of), "closed file", "closed as io's files are")
ok, err = core.open_file(dir .. "/r/link/f.csv", dir .. "/r")
T.check(not ok and err:find("symbolic link", 1, true), "open_file through a link below the root: " .. tostring(err))
os.execute("ln -s " .. dir .. "/x/y/f.csv " .. dir .. "/r/filelink")
ok, err = core.open_file(dir .. "/r/filelink", dir .. "/r")
T.check(not ok and err:find("not followed", 1, true), "open_file of a link: " .. tostring(err))
ok, err = core.open_file(dir .. "/r/a", dir .. "/r")
T.check(not ok and err:find("not a regular file", 1, true), "open_file of a directory: " .. tostring(err))
ok, err = core.open_file(dir .. "/r/none", dir .. "/r")
T.check(not ok and err:find("No such file", 1, true), "open_file of a missing file: " .. tostring(err))
T.eq(core.open_file(dir .. "/x/y/f.csv"):read("a"), "data", "open_file without a root")
collectgarbage() -- a file left open is closed by the collector
os.execute("rm -rf " .. dir)

return T.done("lua core")
