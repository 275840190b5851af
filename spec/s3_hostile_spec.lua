-- The s3 driver against a server that plays S3 badly (spec/support/s3hostile.py,
-- started here: no Swift needed): garbage, hostile XML, truncated and reset
-- bodies, bad status lines, throttling, wrong credentials, a missing bucket,
-- an endpoint that never answers.  Every failure must be a clear error: kind
-- Driver (or PathNotFound where right), err.status and err.code where the
-- server sent them, a text that names the operation and never shows the
-- secret key nor a signature; no call may take more than a few seconds, no
-- partial object may become visible, and a reader never returns short data
-- silently.  The well-behaved mode "ok" is the control: the same operations
-- succeed there, and awscli (when installed) talks to it too.
--
-- The server's mode is the first component of the key: the driver's
-- rootdirectory picks it ("MODE.N", N keeping each case's request counts
-- apart).  Cases that show a known defect of the driver are pending, with
-- the finding as their text; once it is fixed they assert.

local sd = require "storagedriver"
local core = require "storagedriver.core"
local t = require "sdtest"
local s3t = require "s3test"

local unpack = table.unpack or unpack
local MiB = t.MiB
local SECRET = "SUPERSECRETVALUE"
local LIMIT = 5                     -- seconds that any one call may take here
local LUA = jit and "luajit" or "lua5.4"
local HERE = "spec/support/s3hostile.py"

local DATA = t.random_bytes(MiB + 17)
local srv                           -- the server (plain HTTP)
local roots = 0

local function pack(...) return { n = select("#", ...), ... } end

-- A root of its own for a case of mode.
local function root(mode)
  roots = roots + 1
  return mode .. "." .. roots
end

local function params(r, extra, port, scheme)
  local p = { accesskey = "AK", secretkey = SECRET, region = "us-east-1",
              regionendpoint = (scheme or "http") .. "://127.0.0.1:" .. (port or srv.port),
              bucket = "b", rootdirectory = r, maxretries = 2 }
  for k, v in pairs(extra or {}) do p[k] = v end
  return p
end

-- A driver on a fresh root of mode: driver, root.
local function driver(mode, extra)
  local r = root(mode)
  local d, err = sd.create("s3", params(r, extra))
  assert(d, "sd.create: " .. tostring(err))
  return d, r
end

-- A control endpoint of the server ("count", "log", "state") for root r.
local function control(what, r)
  local out, ok = t.sh("env -u LD_PRELOAD curl -sS --noproxy '*' " ..
                       t.shq(("http://127.0.0.1:%s/__%s?root=%s"):format(srv.port, what, r)))
  assert(ok, "the server's /__" .. what .. " failed: " .. out)
  return out
end

local function requests(r) return tonumber(control("count", r)) end

-- obj:method(...), which must return within LIMIT seconds.
local function call(obj, method, ...)
  local t0 = core.now()
  local res = pack(obj[method](obj, ...))
  local took = core.now() - t0
  assert.is_true(took < LIMIT, ("%s took %.1f s"):format(method, took))
  return unpack(res, 1, res.n)
end

local function must(v, err, what)
  if v == nil or v == false then
    error((what or "call") .. ": unexpected failure: " .. tostring(err), 2)
  end
  return v
end

-- No secret key and nothing like a signature (64 hex digits; "Signature="
-- with a value other than REDACTED) in text.
local function no_secret(what, text)
  assert.is_falsy(text:find(SECRET, 1, true), what .. ": the secret key is in the error: " .. text)
  assert.is_falsy(text:gsub("Signature=REDACTED", ""):find("Signature=", 1, true),
                  what .. ": a signature is in the error: " .. text)
  assert.is_falsy(text:find(("%x"):rep(40)), what .. ": a signature-like hex run in: " .. text)
end

-- Not even the first 16 digits of a signature the server saw for root r.
local function no_signature_seen(what, r, text)
  for sig in control("log", r):gmatch("sig=(%x+)") do
    assert.is_falsy(text:find(sig:sub(1, 16), 1, true),
                    what .. ": a signature the server saw is in the error: " .. text)
  end
end

-- Asserts that (v, err) is a clear failure: an error of kind want.kind
-- (default Driver) from s3 whose text names each of want.names, with
-- err.status and err.code as want says (false: absent; nil: not checked),
-- without secret or signature (want.signatures: nor the start of one that
-- the server saw).  Returns err.
local function failure(what, r, want, v, err)
  assert.is_nil(v, what .. ": expected a failure, got " .. t.show(v))
  assert.is_table(err, what .. ": expected an error object, got " .. t.show(err))
  local text = tostring(err)
  assert.are.equal(want.kind or "Driver", err.kind, what .. ": kind of " .. text)
  assert.are.equal("s3", err.driver, what .. ": err.driver of " .. text)
  for _, s in ipairs(want.names or {}) do
    assert.is_truthy(text:find(s, 1, true), what .. ": the error does not name " .. s .. ": " .. text)
  end
  if want.status ~= nil then
    assert.are.equal(want.status or nil, err.status, what .. ": err.status of " .. text)
  end
  if want.code ~= nil then
    assert.are.equal(want.code or nil, err.code, what .. ": err.code of " .. text)
  end
  no_secret(what, text)
  if want.signatures then no_signature_seen(what, r, text) end
  return err
end

-- Reads r to its end or its first error, piece by piece: the bytes, the error.
local function read_all(r)
  local parts = {}
  while true do
    local s, err = call(r, "read", 65536)
    if s == nil then return table.concat(parts), err end
    parts[#parts + 1] = s
  end
end

-- Puts DATA at /o of d and opens a reader on it: the reader, what it reads
-- to its end or its first error, that error.
local function put_and_read(d)
  must(call(d, "put_content", "/o", DATA))
  local rd = must(call(d, "reader", "/o"))
  return rd, read_all(rd)
end

local function is_prefix(got)
  assert.is_true(#got < #DATA and DATA:sub(1, #got) == got,
                 ("%d bytes, not a prefix of the object's %d"):format(#got, #DATA))
end

-- The object keys the server holds under root r, and its open uploads.
local function server_keys(r)
  local objects, uploads = {}, 0
  for line in control("state", r):gmatch("[^\n]+") do
    local key = line:match("^object (%S+)")
    if key then objects[#objects + 1] = key else uploads = uploads + 1 end
  end
  return objects, uploads
end

-- A known defect: pending with the finding while the driver shows it.
local function finding(shown, text)
  if shown then pending("FINDING: " .. text) end
end

-- Starts code in a child interpreter of this kind (this module path) in the
-- background, under `timeout secs`, with env ("NAME=value ..." words,
-- quoted) and args; AWS_CA_BUNDLE is unset unless env sets it.  Returns a
-- handle whose :wait() gives the child's output and whether the timeout
-- ended it.
local function spawn(code, secs, env, ...)
  local f = t.tmpname()
  t.write_file(f .. ".lua", code)
  local args = {}
  for i = 1, select("#", ...) do args[i] = t.shq(tostring(select(i, ...))) end
  local cmd = "env -u AWS_CA_BUNDLE -u SSL_CERT_FILE -u SSL_CERT_DIR " .. (env or "") ..
              " LUA_PATH=" .. t.shq(package.path) .. " LUA_CPATH=" .. t.shq(package.cpath) ..
              " timeout " .. secs .. " " .. LUA .. " " .. t.shq(f .. ".lua") .. " " ..
              table.concat(args, " ")
  t.sh("(" .. cmd .. " > " .. t.shq(f .. ".out") .. " 2>&1; echo $? > " .. t.shq(f .. ".rc") ..
       ") > /dev/null 2>&1 &")
  return {
    wait = function()
      local rc
      for _ = 1, (secs + 10) * 20 do
        rc = tonumber(t.read_file(f .. ".rc") or "")
        if rc then break end
        t.sh("sleep 0.05")
      end
      local out = t.read_file(f .. ".out") or ""
      for _, ext in ipairs({ ".lua", ".out", ".rc" }) do os.remove(f .. ext) end
      assert(rc, "the child did not end: " .. out)
      return out, rc == 124
    end,
  }
end

-- A child's program: one operation of a fresh s3 driver; prints
-- "RESULT ok" or "RESULT error <text>".
local CHILD = [[
local sd = require "storagedriver"
local endpoint, root, op, skipverify, timeout = ...
local d = assert(sd.create("s3", { accesskey = "AK", secretkey = "SUPERSECRETVALUE",
  region = "us-east-1", regionendpoint = endpoint, bucket = "b", rootdirectory = root,
  maxretries = timeout and 0 or 2, skipverify = skipverify == "true",
  timeout = tonumber(timeout) }))
local v, err
if op == "put" then v, err = d:put_content("/o", "child data")
elseif op == "get" then v, err = d:get_content("/o")
else v, err = d:list("/") end
io.write(v and "RESULT ok\n" or ("RESULT error " .. tostring(err) .. "\n"))
]]

describe("s3 driver against a hostile server", function()

  -- the cases that may hang run in children from the start, meanwhile
  local looping, hanging, dripping

  lazy_setup(function()
    srv = assert(t.start_server(HERE))
    local endpoint = "http://127.0.0.1:" .. srv.port
    looping = { r = root("looptoken") }
    looping.child = spawn(CHILD, 3, "", endpoint, looping.r, "list")
    hanging = { r = root("hang") }
    -- with timeout=1 (no retry), both must end in about a second
    hanging.child = spawn(CHILD, 5, "", endpoint, hanging.r, "get", "false", 1)
    dripping = { r = root("drip") }
    dripping.child = spawn(CHILD, 5, "", endpoint, dripping.r, "get", "false", 1)
  end)

  lazy_teardown(function()
    if srv then srv:stop() end
  end)

  describe("the control: mode ok", function()
    it("serves every operation, multipart and resumed uploads included", function()
      local d, r = driver("ok", { chunksize = 5 * MiB })
      must(call(d, "put_content", "/a/b", DATA))
      assert.is_true(DATA == must(call(d, "get_content", "/a/b")), "get_content: other bytes")
      local fi = must(call(d, "stat", "/a/b"))
      assert.are.equal(#DATA, fi.size)
      assert.is_true(must(call(d, "stat", "/a")).is_dir)
      assert.are.same({ "/a/b" }, must(call(d, "list", "/a")))
      must(call(d, "move", "/a/b", "/c"))
      t.check_err("PathNotFound", { driver = "s3", path = "/a/b" }, call(d, "get_content", "/a/b"))
      local rd = must(call(d, "reader", "/c", 1000))
      local got, err = read_all(rd)
      rd:close()
      assert.is_nil(err)
      assert.is_true(DATA:sub(1001) == got, "reader at 1000: other bytes")
      local big = t.random_bytes(5 * MiB + 10)
      local w = must(call(d, "writer", "/w"))
      must(call(w, "write", big:sub(1, 5 * MiB + 3)))
      must(call(w, "close"))
      w = must(call(d, "writer", "/w", true))
      assert.are.equal(5 * MiB + 3, w:size())
      must(call(w, "write", big:sub(5 * MiB + 4)))
      must(call(w, "commit"))
      assert.is_true(big == must(call(d, "get_content", "/w")), "multipart: other bytes")
      assert.are.same({ "/c", "/w" }, must(call(d, "list", "/")))
      must(call(d, "delete", "/c"))
      must(call(d, "delete", "/w"))
      local objects, uploads = server_keys(r)
      assert.are.same({}, objects)
      assert.are.equal(0, uploads)
    end)

    it("speaks S3 to awscli (Debian's) as well: a multipart upload and a recursive download", function()
      if not s3t.have_aws() then
        pending(s3t.AWS .. " is missing: sh spec/support/deps.sh --servers installs awscli")
      end
      local d, r = driver("ok", { chunksize = 5 * MiB })
      local p = params(r)
      local big = t.random_bytes(9 * MiB + 5)     -- awscli: 8 MiB parts above 8 MiB
      local dir = t.tmpdir()
      t.write_file(dir .. "/up", big)
      s3t.aws_ok(p, "s3 cp --quiet " .. t.shq(dir .. "/up") .. " " .. t.shq(s3t.url(p, "/aws/big")))
      assert.is_true(big == must(call(d, "get_content", "/aws/big")), "the driver read other bytes")
      must(call(d, "put_content", "/ours/small", DATA))
      local w = must(call(d, "writer", "/ours/multi"))
      must(call(w, "write", big))
      must(call(w, "commit"))
      s3t.aws_ok(p, "s3 cp --quiet --recursive " .. t.shq(s3t.url(p, "/ours")) .. " " ..
                    t.shq(dir .. "/down"))
      assert.is_true(DATA == t.read_file(dir .. "/down/small"), "awscli read other bytes (PUT)")
      assert.is_true(big == t.read_file(dir .. "/down/multi"), "awscli read other bytes (multipart)")
      t.rmrf(dir)
    end)
  end)

  describe("answers that are no S3 answer", function()
    it("garbage instead of a listing: a Driver error naming the listing; objects still work", function()
      local d, r = driver("garbage")
      must(call(d, "put_content", "/dir/o", "data"))
      local want = { names = { "list", "malformed" }, status = false, code = false }
      failure("list", r, want, call(d, "list", "/dir"))
      failure("stat of a directory", r, want, call(d, "stat", "/dir"))
      failure("delete", r, want, call(d, "delete", "/dir"))
      failure("walk", r, want, call(d, "walk", "/dir", function() end))
      assert.are.equal("data", must(call(d, "get_content", "/dir/o")))
    end)

    it("XML nested 100,000 deep, a DOCTYPE with entities, 100 MiB of text: Driver errors", function()
      local d, r = driver("deepxml")
      failure("deep", r, { names = { "list", "nested too deep" } }, call(d, "list", "/"))
      d, r = driver("entities")
      failure("entities", r, { names = { "list", "document type" } }, call(d, "list", "/"))
      d, r = driver("bigxml")
      -- a transport error: it names the request (GET of the bucket), not "list"
      failure("100 MiB", r, { names = { "GET", "larger than" } }, call(d, "list", "/"))
      assert.are.equal(1, requests(r), "a body over the cap is not asked for again")
    end)

    it("a bad status line: Driver errors, whatever the operation", function()
      local d, r = driver("badstatus")
      local want = { status = false, code = false }
      failure("put_content", r, want, call(d, "put_content", "/o", "data"))
      failure("get_content", r, want, call(d, "get_content", "/o"))
      failure("stat", r, want, call(d, "stat", "/o"))
      failure("list", r, want, call(d, "list", "/"))
      local w = must(call(d, "writer", "/w"))
      must(call(w, "write", "abc"))
      failure("commit", r, want, call(w, "commit"))
    end)

    it("a connection closed without an answer: retried maxretries times, then a Driver error", function()
      local d, r = driver("drop")
      failure("put_content", r, { names = { "PUT", "/b/" .. r .. "/o" }, status = false },
              call(d, "put_content", "/o", "data"))
      assert.are.equal(3, requests(r), "1 try + maxretries=2")
      failure("get_content", r, { names = { "GET" } }, call(d, "get_content", "/o"))
    end)

    it("a 1 MiB header line, an unreadable Content-Length on HEAD: Driver errors", function()
      local d, r = driver("hugeheader")
      failure("put_content", r, { names = { "PUT" } }, call(d, "put_content", "/o", "data"))
      d, r = driver("headbadlen")
      must(call(d, "put_content", "/o", "data"))
      failure("stat", r, { names = { "HEAD", "Content-Length" } }, call(d, "stat", "/o"))
      failure("move", r, { names = { "HEAD" } }, call(d, "move", "/o", "/p"))
      assert.are.equal("data", must(call(d, "get_content", "/o")), "the source stays")
    end)

    it("nothing listening: a Driver error that says so, fast", function()
      local p = params(root("ok"))
      p.regionendpoint = "http://127.0.0.1:1"
      local d = assert(sd.create("s3", p))
      local err = failure("put_content", p.rootdirectory, { names = { "PUT" }, status = false },
                          call(d, "put_content", "/o", "data"))
      assert.is_truthy(tostring(err):lower():find("connect", 1, true), tostring(err))
    end)
  end)

  describe("error statuses", function()
    it("wrong credentials: 403 SignatureDoesNotMatch, named, without secret or signature", function()
      local d, r = driver("denied")
      local want = { status = 403, code = "SignatureDoesNotMatch", signatures = true }
      want.names = { "PUT", "403", "SignatureDoesNotMatch" }
      failure("put_content", r, want, call(d, "put_content", "/o", "data"))
      want.names = { "GET", "403", "SignatureDoesNotMatch" }
      failure("get_content", r, want, call(d, "get_content", "/o"))
      failure("reader", r, want, call(d, "reader", "/o"))
      want.names = { "list", "403" }
      failure("list", r, want, call(d, "list", "/"))
      -- a HEAD answer has no body: the status is all there is
      failure("stat", r, { names = { "HEAD", "403" }, status = 403, code = false,
                           signatures = true }, call(d, "stat", "/o"))
      assert.are.equal(5, requests(r), "a 403 is not retried")
    end)

    it("a service message that quotes the Authorization header does not bring the signature along", function()
      local d, r = driver("echoauth")
      local _, err = call(d, "put_content", "/o", "data")
      assert.are.equal(403, err.status)
      finding(tostring(err):find("Signature=%x%x%x%x%x%x%x%x") or tostring(err):find("Credential=AK"),
              "the driver copies the service's <Message> into the error verbatim (300 bytes): " ..
              "a server or proxy that quotes the request's Authorization puts the " ..
              "signature in the error: " .. tostring(err))
      failure("put_content", r, { status = 403, code = "SignatureDoesNotMatch", signatures = true },
              nil, err)
    end)

    it("a missing bucket: 404 NoSuchBucket, a Driver error and not PathNotFound", function()
      local d, r = driver("nobucket")
      local want = { status = 404, code = "NoSuchBucket", names = { "NoSuchBucket" } }
      failure("get_content", r, want, call(d, "get_content", "/o"))
      failure("put_content", r, want, call(d, "put_content", "/o", "data"))
      failure("list", r, want, call(d, "list", "/"))
      failure("stat", r, want, call(d, "stat", "/o"))
      failure("reader", r, want, call(d, "reader", "/o"))
      failure("delete", r, want, call(d, "delete", "/o"))
    end)

    it("a redirect to another region: 301 PermanentRedirect, not followed", function()
      local d, r = driver("moved")
      failure("get_content", r, { status = 301, code = "PermanentRedirect", names = { "301" } },
              call(d, "get_content", "/o"))
      assert.are.equal(1, requests(r))
    end)

    it("503 twice then success: every operation succeeds within maxretries=2", function()
      local d, r = driver("flaky")
      -- each request is answered 503, 503, then as it should
      local n = 0
      local function sent(what, k)
        local now = requests(r)
        assert.are.equal(n + k, now, what .. ": requests")
        n = now
      end
      must(call(d, "put_content", "/o", DATA))
      sent("put_content", 3)
      local rd = must(call(d, "reader", "/o"))
      local got, err = read_all(rd)
      rd:close()
      assert.is_nil(err)
      assert.is_true(DATA == got, "reader: other bytes")
      sent("reader", 3)
      assert.is_true(DATA == must(call(d, "get_content", "/o")))
      sent("get_content (the reader's GET was the same request)", 1)
      assert.are.equal(#DATA, must(call(d, "stat", "/o")).size)
      sent("stat", 3)
      assert.are.same({ "/o" }, must(call(d, "list", "/")))
      sent("list", 3)
      must(call(d, "delete", "/o"))
      sent("delete (a listing, a DELETE)", 6)
      t.check_err("PathNotFound", { driver = "s3", path = "/o" }, call(d, "get_content", "/o"))
      -- the retries are what made it work: with one retry the PUT fails
      local d1, r1 = driver("flaky", { maxretries = 1 })
      failure("put_content, maxretries=1", r1, { status = 503, code = "SlowDown" },
              call(d1, "put_content", "/o", "data"))
    end)

    it("always 503 SlowDown: after the retries, a Driver error with status 503 and code SlowDown", function()
      local d, r = driver("slowdown")
      local want = { status = 503, code = "SlowDown", names = { "503", "SlowDown" } }
      failure("put_content", r, want, call(d, "put_content", "/o", "data"))
      assert.are.equal(3, requests(r), "1 try + maxretries=2")
      failure("get_content", r, want, call(d, "get_content", "/o"))
      failure("list", r, want, call(d, "list", "/"))
      failure("stat", r, { status = 503, code = false, names = { "HEAD" } }, call(d, "stat", "/o"))
    end)

    it("500 without a body, 500 with a 20 MiB body: status 500, no code, fast", function()
      local want = { status = 500, code = false, names = { "500" } }
      local d, r = driver("e500")
      failure("put_content", r, want, call(d, "put_content", "/o", "data"))
      failure("list", r, want, call(d, "list", "/"))
      d, r = driver("bigerror")
      failure("get_content, 20 MiB error body", r, want, call(d, "get_content", "/o"))
    end)

    it("HEAD 403 without a body: stat and move fail with status 403, GET still works", function()
      local d, r = driver("head403")
      must(call(d, "put_content", "/o", "data"))
      local want = { status = 403, code = false, names = { "HEAD", "403" } }
      failure("stat", r, want, call(d, "stat", "/o"))
      failure("move", r, want, call(d, "move", "/o", "/p"))
      failure("writer(append)", r, want, call(d, "writer", "/o", true))
      assert.are.equal("data", must(call(d, "get_content", "/o")))
    end)
  end)

  describe("truncated and reset bodies", function()
    it("Content-Length larger than the body, then close: errors, never short data", function()
      local d, r = driver("shortlen")
      -- the server keeps the object, but says so in a truncated answer
      failure("put_content", r, { names = { "PUT" } }, call(d, "put_content", "/o", DATA))
      failure("get_content", r, { names = { "GET" } }, call(d, "get_content", "/o"))
      local rd = must(call(d, "reader", "/o"))
      local got, err = read_all(rd)
      rd:close()
      is_prefix(got)
      failure("reader", r, { names = { "GET" } }, nil, err)
    end)

    it("a GET reset mid-body: the reader resumes with a ranged GET pinned by If-Match, byte-exact", function()
      local d, r = driver("reset")
      local rd, got, err = put_and_read(d)
      rd:close()
      assert.is_nil(err, "the reader failed: " .. tostring(err))
      assert.are.equal(#DATA, #got)
      assert.is_true(DATA == got, "the reader returned other bytes")
      local log = control("log", r)
      local etag = log:match("GET /b/" .. r .. "/o range=bytes=%d+%- if%-match=(\"%x+\")")
      assert.is_not_nil(etag, "no ranged GET with If-Match:\n" .. log)
      -- get_content has no resume: a clear error after its retries
      failure("get_content", r, { names = { "GET" } }, call(d, "get_content", "/o"))
    end)

    it("every GET reset mid-body: the reader fails after a prefix, and keeps failing", function()
      local d, r = driver("resetall")
      local rd, got, err = put_and_read(d)
      failure("reader", r, { names = { "GET" } }, nil, err)
      -- bytes that came before the error may still be handed out; then the
      -- end of the data must not be reported as if it were the end
      local rest, err2 = read_all(rd)
      rd:close()
      got = got .. rest
      is_prefix(got)
      finding(err2 == nil,
              "after a failed read, the s3 reader's next reads hand out what was buffered " ..
              "and then report the end of the data (nil, no error): a caller that reads on " ..
              "gets " .. #got .. " of " .. #DATA .. " bytes and a clean end (s3_reader.c " ..
              "rd_read returns n = 0 once its stream is gone)")
      failure("read after the error", r, { names = { "GET" } }, nil, err2)
    end)

    it("the object changes while a reader is reset: an error, not a splice of two versions", function()
      local d, r = driver("swap")
      local rd, got, err = put_and_read(d)
      rd:close()
      is_prefix(got)
      failure("reader", r, { names = { "GET" } }, nil, err)
      assert.is_truthy(control("log", r):find("range=bytes=%d+%- if%-match=\"%x+\""),
                       "the reader did not try to resume")
    end)

    it("a PUT reset before its answer is retried, on a fresh or a reused connection", function()
      local d, r = driver("putreset")
      must(call(d, "put_content", "/a", "data a"))
      assert.are.equal(2, requests(r), "the reset PUT was sent again")
      -- the same client again: its connection is reused for this PUT
      local ok, err = call(d, "put_content", "/b", "data b")
      finding(not ok and requests(r) == 3,
              "a PUT whose reused keep-alive connection is reset is not retried: libcurl " ..
              "wants to resend it itself, cannot rewind the body (runtime/http sets no " ..
              "CURLOPT_SEEKFUNCTION) and fails with CURLE_SEND_FAIL_REWIND, which " ..
              "http_exchange does not retry: " .. tostring(err))
      must(ok, err, "second put_content")
      assert.are.equal("data b", must(call(d, "get_content", "/b")))
    end)

    it("every PUT reset: a Driver error and no object, visible or on the server", function()
      local d, r = driver("putresetall")
      failure("put_content", r, { names = { "PUT" } }, call(d, "put_content", "/o", "data"))
      t.check_err("PathNotFound", { driver = "s3", path = "/o" }, call(d, "stat", "/o"))
      assert.are.same({}, (server_keys(r)))
    end)
  end)

  describe("multipart uploads, copies and listings", function()
    it("CopyObject and CompleteMultipartUpload answering 200 with an <Error>: Driver errors, nothing visible", function()
      local d, r = driver("errbody", { chunksize = 5 * MiB })
      must(call(d, "put_content", "/src", "data"))
      local want = { names = { "PUT", "InternalError" }, code = "InternalError" }
      failure("move", r, want, call(d, "move", "/src", "/dst"))
      assert.are.equal("data", must(call(d, "get_content", "/src")), "the source stays")
      t.check_err("PathNotFound", { driver = "s3", path = "/dst" }, call(d, "stat", "/dst"))
      -- above multipartcopythresholdsize: UploadPartCopy fails, the upload is aborted
      local dm, rm = driver("errbody", { multipartcopythresholdsize = 0 })
      must(call(dm, "put_content", "/src", "data"))
      failure("multipart move", rm, want, call(dm, "move", "/src", "/dst"))
      local objects, uploads = server_keys(rm)
      assert.are.same({ rm .. "/src" }, objects)
      assert.are.equal(0, uploads, "the failed copy's upload was not aborted")
      -- a writer of two parts: the complete fails, the object does not appear
      local w = must(call(d, "writer", "/w"))
      must(call(w, "write", t.random_bytes(5 * MiB + 10)))
      failure("commit", r, { names = { "POST", "InternalError" }, code = "InternalError" },
              call(w, "commit"))
      t.check_err("PathNotFound", { driver = "s3", path = "/w" }, call(d, "stat", "/w"))
      assert.are.same({ "/src" }, must(call(d, "list", "/")))
      assert.are.same({ r .. "/src" }, (server_keys(r)))
    end)

    it("the same <Error> after the white space S3 sends while it copies: its code is kept", function()
      local d, r = driver("errbodyws")
      must(call(d, "put_content", "/src", "data"))
      local _, err = call(d, "move", "/src", "/dst")
      assert.is_table(err, "the move did not fail")
      finding(err.code == nil,
              "an <Error> body after leading white space and an XML declaration " ..
              "(s3_error_in_body skips both to detect it, then parses the body from its " ..
              "first byte, which expat refuses) loses its code and message: " .. tostring(err))
      failure("move", r, { code = "InternalError", names = { "InternalError" } }, nil, err)
    end)

    it("an UploadPart answer without an ETag: the commit fails, nothing visible, cancel cleans up", function()
      local d, r = driver("noetag", { chunksize = 5 * MiB })
      local w = must(call(d, "writer", "/w"))
      local ok, err = call(w, "write", t.random_bytes(5 * MiB + 10))
      if ok then ok, err = call(w, "commit") end
      failure("write/commit", r, { names = { "ETag" } }, ok, err)
      t.check_err("PathNotFound", { driver = "s3", path = "/w" }, call(d, "stat", "/w"))
      must(call(w, "cancel"))
      local objects, uploads = server_keys(r)
      assert.are.same({}, objects)
      assert.are.equal(0, uploads)
    end)

    it("a listing truncated without a continuation token: list, walk and delete fail clearly", function()
      local d, r = driver("notoken")
      local want = { names = { "continuation token" } }
      failure("list", r, want, call(d, "list", "/"))
      failure("walk", r, want, call(d, "walk", "/", function() end))
      failure("delete", r, want, call(d, "delete", "/a"))
    end)

    it("a listing truncated with the same continuation token every time: an error, not a loop", function()
      local r = looping.r
      local out, stuck = looping.child:wait()
      finding(stuck,
              "list asks for the next page forever when the server repeats its " ..
              "NextContinuationToken (s3_list_each has no check that a page makes progress), " ..
              "holding every key it gets: killed after 3 s, " .. requests(r) .. " requests")
      assert.is_truthy(out:find("RESULT error", 1, true), out)
      no_secret("list", out)
    end)
  end)

  describe("a server that never answers", function()
    it("ends the call with an error within seconds (no hang)", function()
      local out, stuck = hanging.child:wait()
      finding(stuck,
              "the s3 driver has no timeout parameter: a GET that is never answered ends " ..
              "only after runtime/http's low-speed limit (1 byte/s for 30 s; a PUT after " ..
              "35 s), with \"Operation too slow\" and no retry")
      assert.is_truthy(out:find("RESULT error", 1, true), out)
      no_secret("get_content", out)
    end)

    it("ends a body that trickles in (2 bytes/s) with an error within seconds", function()
      local out, stuck = dripping.child:wait()
      finding(stuck,
              "no total timeout: a GET whose body comes at 2 bytes/s stays above the " ..
              "low-speed limit (1 byte/s) and holds the call for as long as the server likes " ..
              "(here 100000 bytes: 14 hours)")
      assert.is_truthy(out:find("RESULT error", 1, true), out)
    end)
  end)

  describe("over HTTPS", function()
    local tls, cert, dir

    lazy_setup(function()
      dir = t.tmpdir()
      local key
      cert, key = t.self_signed(dir)
      tls = assert(t.start_server(HERE, "--tls " .. t.shq(cert) .. " " .. t.shq(key)))
    end)

    lazy_teardown(function()
      if tls then tls:stop() end
      t.rmrf(dir)
    end)

    local function put(r, env, skipverify)
      local out = spawn(CHILD, 10, env, "https://127.0.0.1:" .. tls.port, r, "put",
                        tostring(skipverify or false)):wait()
      return out:match("RESULT (.*)$") or out
    end

    it("verifies the certificate: with AWS_CA_BUNDLE naming it, put_content works", function()
      local r = root("ok")
      assert.are.equal("ok\n", put(r, "AWS_CA_BUNDLE=" .. t.shq(cert)))
      local out = t.sh("env -u LD_PRELOAD curl -sS --noproxy '*' --cacert " .. t.shq(cert) ..
                       " https://127.0.0.1:" .. tls.port .. "/b/" .. r .. "/o")
      assert.are.equal("child data", out)
    end)

    it("without AWS_CA_BUNDLE, a self-signed certificate is refused", function()
      local res = put(root("ok"))
      assert.matches("^error s3: PUT https://127%.0%.0%.1:%d+/b/ok%.%d+/o: .*certificate", res)
    end)

    it("skipverify=true accepts it", function()
      assert.are.equal("ok\n", put(root("ok"), "", true))
    end)
  end)
end)
