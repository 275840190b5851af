-- The s3 driver against a real S3 server: the local OpenStack Swift with its
-- S3 API that `make test` starts (spec/support/with-servers.sh sets
-- SD_S3_PARAMS).  What the conformance suite cannot show: multipart uploads
-- resumed across parts, listings and deletes past 1000 keys, multipart
-- copy, presigned URLs, clear errors for bad credentials, a missing bucket
-- and an unreachable endpoint, key names, and objects exchanged with an
-- independent client (Debian's awscli).
--
-- Pending when SD_S3_PARAMS is unset.  Every run works under a fresh
-- rootdirectory, so the Lua 5.4 and LuaJIT runs never meet.

local sd = require "storagedriver"
local t = require "sdtest"
local s3t = require "s3test"

local MiB, KiB = t.MiB, t.KiB
local CHUNK = 5 * MiB          -- the smallest part S3 takes, as chunksize

local BASE = s3t.base_params()

if not BASE then
  describe("s3 driver", function()
    it("runs against a local S3 server", function() pending(s3t.WHY) end)
  end)
  return
end

if not s3t.registered("s3") then
  describe("s3 driver", function()
    it("needs the s3 driver", function() error(s3t.unregistered_why("s3"), 0) end)
  end)
  return
end

-- This run's part of the bucket: every driver below gets a directory of its
-- own under it, and one wipe at the end removes what a failed spec left.
local RUN = s3t.fresh_root(BASE.rootdirectory)
local drivers_made = 0

-- Parameters of the server with overrides, on a fresh rootdirectory under RUN.
local function params(overrides)
  drivers_made = drivers_made + 1
  local o = { rootdirectory = RUN .. "/d" .. drivers_made }
  for k, v in pairs(overrides or {}) do o[k] = v end
  return s3t.params(o)
end

-- A driver on the server; overrides are driver parameters.  Returns driver,
-- params.
local function create(overrides)
  local p = params(overrides)
  local d, err = sd.create("s3", p)
  assert(d, "sd.create(\"s3\") failed: " .. tostring(err))
  return d, p
end

-- v, or fails with the error's text.
local function must(v, err, what)
  if v == nil or v == false then
    error((what and (what .. ": ") or "") .. "unexpected failure: " .. tostring(err), 2)
  end
  return v
end

local function write_pieces(w, data, piece)
  local pos = 1
  while pos <= #data do
    must(w:write(data:sub(pos, pos + piece - 1)), nil, "write")
    pos = pos + piece
  end
end

local function same_bytes(expected, got, what)
  assert.is_string(got, what .. ": not a string: " .. t.show(got))
  assert.are.equal(#expected, #got, what .. ": length")
  assert.is_true(expected == got, what .. ": the bytes differ")
end

local function now()
  local out = t.sh("date +%s.%N")
  return tonumber(out:match("[%d.]+"))
end

-- curl URL [extra args] --> status, body (the body's bytes from a file)
local function curl(url, extra)
  local f = t.tmpname()
  local out, ok = t.sh("unset LD_PRELOAD; curl -sS --noproxy '*' -o " .. t.shq(f) ..
                       " -w '%{http_code}' " .. (extra or "") .. " " .. t.shq(url))
  local body = t.read_file(f) or ""
  os.remove(f)
  assert(ok, "curl failed: " .. out)
  return tonumber(out:match("(%d+)%s*$")), body
end

-- Asserts that (v, err), the results of an operation, are a Driver error
-- whose text names what it must and never the secret.  Returns err.
local function clear_error(what, secret, must_name, v, err)
  assert.is_nil(v, what .. ": expected a failure, got " .. t.show(v))
  assert.is_table(err, what .. ": expected an error object, got " .. t.show(err))
  local text = tostring(err)
  assert.are.equal("Driver", err.kind, what .. ": error kind: " .. text)
  assert.are.equal("s3", err.driver, what .. ": err.driver: " .. text)
  for _, s in ipairs(must_name) do
    assert.is_truthy(text:lower():find(s:lower(), 1, true),
                     what .. ": the error does not mention " .. s .. ": " .. text)
  end
  if secret then
    assert.is_falsy(text:find(secret, 1, true), what .. ": the error shows the secret: " .. text)
    assert.is_falsy(tostring(err.detail):find(secret, 1, true), what .. ": err.detail shows the secret")
  end
  return err
end

describe("s3 driver on " .. BASE.regionendpoint, function()
  lazy_teardown(function()
    -- what a failed spec left behind, whatever state the driver is in
    s3t.wipe(s3t.params{ rootdirectory = RUN })
  end)

  it("a writer closed after several parts resumes with append=true (size, more parts, byte-exact)", function()
    local d, p = create{ chunksize = CHUNK }
    local path = "/resume/blob"
    -- 2 full parts and a short third one: the resumed upload must carry it on
    local part1 = t.random_bytes(2 * CHUNK + MiB + 3)
    local w = must(d:writer(path, false))
    write_pieces(w, part1, MiB)
    assert.are.equal(#part1, w:size())
    must(w:close())
    t.check_err("PathNotFound", { driver = "s3", path = path }, d:stat(path))

    w = must(d:writer(path, true))
    assert.are.equal(#part1, w:size(), "size() of the resumed writer")
    local part2 = t.random_bytes(CHUNK + 4321)
    write_pieces(w, part2, 700 * KiB)
    assert.are.equal(#part1 + #part2, w:size())
    must(w:close())

    -- resumed once more: a resumed upload is itself resumable
    w = must(d:writer(path, true))
    assert.are.equal(#part1 + #part2, w:size(), "size() after the second close")
    local part3 = t.all_bytes()
    must(w:write(part3))
    must(w:commit())
    must(w:close())
    local all = part1 .. part2 .. part3
    assert.are.equal(#all, w:size())

    same_bytes(all, must(d:get_content(path)), "get_content")
    assert.are.equal(#all, must(d:stat(path)).size)
    local off = #part1 + 1000            -- inside the second writer's data
    local r = must(d:reader(path, off))
    same_bytes(all:sub(off + 1), r:read("a"), "reader at " .. off)
    r:close()
    assert.are.same({ path }, must(d:list("/resume")))
    -- nothing left in progress on the server
    local out = s3t.aws_ok(p, "s3api list-multipart-uploads --bucket " .. t.shq(p.bucket) ..
                           " --prefix " .. t.shq(s3t.key(p.rootdirectory, "/")) ..
                           " --query 'Uploads[].[Key]' --output text")
    assert.are.equal("None", (out:gsub("%s+$", "")), "uploads left in progress:\n" .. out)
    must(d:delete("/resume"))
  end)

  it("a reader of a 40 MiB object fetches 1 MiB ranges in parallel, byte-exact at any offset", function()
    local d = create{ downloadchunksize = MiB, downloadconcurrency = 4 }
    local path = "/prefetch/blob"
    local all = t.random_bytes(40 * MiB + 12345)
    must(d:put_content(path, all))
    -- offsets: the start, inside the first window, on a window boundary,
    -- near the end (fewer than three windows left: one GET), the very end
    for _, off in ipairs{ 0, 1, MiB - 1, 3 * MiB + 17, 38 * MiB, #all - 10, #all } do
      local r = must(d:reader(path, off))
      local got, pos = {}, off
      -- pieces that straddle window boundaries, and one byte at a time too
      local sizes = { 1, 700 * KiB, 3 * MiB + 5, 4096 }
      local i = 0
      while true do
        i = i + 1
        local s, err = r:read(sizes[(i - 1) % #sizes + 1])
        if s == nil then
          assert.is_nil(err, "read at " .. pos .. ": " .. tostring(err))
          break
        end
        got[#got + 1] = s
        pos = pos + #s
      end
      r:close()
      same_bytes(all:sub(off + 1), table.concat(got), "reader at " .. off)
    end
    -- closed after a few bytes, with ranges in flight: no hang, no leak
    local r = must(d:reader(path, 0))
    assert.are.equal(all:sub(1, 10), must(r:read(10)))
    r:close()
    must(d:delete(path))
  end)

  it("a parallel reader fails (412) rather than splice in a changed object", function()
    local d = create{ downloadchunksize = MiB, downloadconcurrency = 2 }
    local path = "/prefetch/changing"
    must(d:put_content(path, t.random_bytes(40 * MiB)))
    local r = must(d:reader(path, 0))
    must(r:read(1))
    -- the ranges after the first few are fetched after this
    must(d:put_content(path, t.random_bytes(40 * MiB)))
    local v, err
    repeat v, err = r:read(MiB) until v == nil
    r:close()
    assert.is_table(err, "the reader ended cleanly across a changed object")
    assert.are.equal("Driver", err.kind, tostring(err))
    assert.are.equal(412, err.status, tostring(err))
    must(d:delete(path))
  end)

  it("lists and deletes more than 1000 keys in one directory", function()
    local d, p = create()
    local n = 1100
    local dir = t.tmpdir()
    local expected = {}
    for i = 0, n - 1 do
      local name = ("f%04d"):format(i)
      t.write_file(dir .. "/" .. name, name)
      expected[#expected + 1] = "/many/" .. name
    end
    -- awscli uploads them 10 at a time: a sequential writer does ~55 PUT/s here
    local t0 = now()
    s3t.aws_ok(p, "s3 cp --recursive --quiet " .. t.shq(dir) .. " " .. t.shq(s3t.url(p, "/many/")))
    t.rmrf(dir)
    -- two directories among the files, one on each side of the 1000th key
    must(d:put_content("/many/f0500d/x", "x"))
    must(d:put_content("/many/zz/y", "y"))
    expected[#expected + 1] = "/many/f0500d"
    expected[#expected + 1] = "/many/zz"
    table.sort(expected)
    local t1 = now()

    local names = must(d:list("/many"))
    assert.are.equal(#expected, #names, "entries listed")
    assert.are.same(expected, names)
    local files, dirs = 0, 0
    must(d:walk("/many", function(fi)
      if fi.is_dir then dirs = dirs + 1 else files = files + 1 end
    end))
    assert.are.equal(n + 2, files, "files walked")
    assert.are.equal(2, dirs, "directories walked")
    local t2 = now()

    must(d:delete("/many"))
    local t3 = now()
    t.check_err("PathNotFound", { driver = "s3", path = "/many" }, d:list("/many"))
    assert.are.same({}, s3t.raw_keys(p, s3t.key(p.rootdirectory, "/many/")), "keys left after delete")
    io.stderr:write(("\n[s3_spec] %d keys: upload (awscli) %.1f s, list+walk %.1f s, delete %.1f s\n")
      :format(n + 2, t1 - t0, t2 - t1, t3 - t2))
  end)

  it("moves an object above multipartcopythresholdsize by multipart copy, byte-exact", function()
    local d, p = create{ multipartcopythresholdsize = CHUNK, multipartcopychunksize = CHUNK }
    local data = t.random_bytes(2 * CHUNK + 2 * MiB + 77)       -- 3 parts of copy
    must(d:put_content("/mv/src", data))
    must(d:move("/mv/src", "/mv/dst/obj"))
    t.check_err("PathNotFound", { driver = "s3", path = "/mv/src" }, d:stat("/mv/src"))
    same_bytes(data, must(d:get_content("/mv/dst/obj")), "moved object")
    assert.are.equal(#data, must(d:stat("/mv/dst/obj")).size)
    assert.are.same({ "/mv/dst" }, must(d:list("/mv")))
    -- a multipart object's ETag ends with -<parts>: the copy went by parts
    local etag = s3t.aws_ok(p, "s3api head-object --bucket " .. t.shq(p.bucket) .. " --key " ..
                            t.shq(s3t.key(p.rootdirectory, "/mv/dst/obj")) ..
                            " --query ETag --output text")
    assert.matches("%-3\"?%s*$", etag, 1, false)
    must(d:delete("/mv"))
  end)

  it("redirect_url gives presigned GET and HEAD URLs that curl can use", function()
    local d, p = create()
    local data = t.all_bytes() .. t.random_bytes(100 * KiB)
    must(d:put_content("/url/obj.bin", data))

    local url = must(d:redirect_url("/url/obj.bin"))
    assert.is_string(url)
    assert.are.equal(p.regionendpoint, url:sub(1, #p.regionendpoint), "URL on the endpoint: " .. url)
    assert.is_truthy(url:find("X-Amz-Signature=", 1, true), "not a presigned URL: " .. url)
    assert.is_falsy(url:find(p.secretkey, 1, true), "the URL holds the secret")
    local st, body = curl(url)
    assert.are.equal(200, st, body)
    same_bytes(data, body, "GET of the presigned URL")

    local hurl = must(d:redirect_url("/url/obj.bin", { method = "HEAD" }))
    local f = t.tmpname()
    local out = t.sh("unset LD_PRELOAD; curl -sS --noproxy '*' -I -o /dev/null -D " .. t.shq(f) ..
                     " -w '%{http_code}' " .. t.shq(hurl))
    local hdr = (t.read_file(f) or ""):lower()
    os.remove(f)
    assert.are.equal("200", out:match("(%d+)%s*$"), "HEAD of the presigned URL: " .. out .. hdr)
    assert.are.equal(tostring(#data), hdr:match("content%-length:%s*(%d+)"), hdr)

    -- the expiry option is honoured
    local short = must(d:redirect_url("/url/obj.bin", { expiry = 1 }))
    t.sleep(2.5)
    local st2, body2 = curl(short)
    assert.are.equal(403, st2, "an expired URL still works: " .. body2)
    must(d:delete("/url"))
  end)

  it("a wrong secret gives a clear error: status 403, SignatureDoesNotMatch, no secret", function()
    local secret = "wrong-secret-" .. t.random_name(16)
    local d = create{ secretkey = secret }
    local name = { "403", "SignatureDoesNotMatch" }
    local err = clear_error("put_content", secret, name, d:put_content("/auth/x", "data"))
    assert.are.equal(403, err.status, "err.status")
    assert.are.equal("SignatureDoesNotMatch", err.code, "err.code")
    -- a failed signature is not a missing object
    clear_error("get_content", secret, name, d:get_content("/auth/x"))
    clear_error("list", secret, name, d:list("/auth"))
    -- HEAD answers have no body: the status is all there is
    clear_error("stat", secret, { "403" }, d:stat("/auth/x"))
  end)

  it("a missing bucket gives a clear error: NoSuchBucket", function()
    local bucket = "sd-missing-" .. t.random_name(12)
    local p = params{ bucket = bucket }
    local d, err = sd.create("s3", p)
    if not d then   -- a driver may check the bucket at create: then there
      clear_error("sd.create", p.secretkey, { "NoSuchBucket" }, d, err)
      return
    end
    local name = { "NoSuchBucket", "404" }
    err = clear_error("put_content", p.secretkey, name, d:put_content("/b/x", "data"))
    assert.are.equal(404, err.status, "err.status")
    assert.are.equal("NoSuchBucket", err.code, "err.code")
    clear_error("get_content", p.secretkey, name, d:get_content("/b/x"))
    clear_error("list", p.secretkey, name, d:list("/"))
  end)

  it("an unreachable endpoint gives a clear Driver error, fast", function()
    local p = params{ regionendpoint = "http://127.0.0.1:1" }
    local t0 = now()
    local d, err = sd.create("s3", p)
    local v
    if d then v, err = d:put_content("/x", "data") end
    local took = now() - t0
    clear_error("put_content to 127.0.0.1:1", p.secretkey, {}, v, err)
    local text = tostring(err):lower()
    assert.is_truthy(text:find("connect", 1, true) or text:find("refused", 1, true),
                     "the error does not say the connection failed: " .. tostring(err))
    assert.is_true(took < 10, ("took %.1f s"):format(took))
    if d then
      t0 = now()
      clear_error("get_content", p.secretkey, {}, d:get_content("/x"))
      assert.is_true(now() - t0 < 10, "get_content took too long")
    end
  end)

  it("loglevel=debug traces each request on stderr, with no credential or signature", function()
    local p = params({ loglevel = "debug" })
    local lit = {}
    for k, v in pairs(p) do lit[#lit + 1] = string.format("[%q] = %q", k, tostring(v)) end
    local script = t.tmpname()
    t.write_file(script, "local sd = require 'storagedriver'\n" ..
      "local d = assert(sd.create('s3', {" .. table.concat(lit, ", ") .. "}))\n" ..
      "assert(d:put_content('/trace/x', 'abc'))\n" ..
      "assert(d:get_content('/trace/x') == 'abc')\n" ..
      "assert(d:delete('/trace'))\n")
    -- The script prints nothing: what t.sh collects (stdout and stderr) is the trace.
    local interp = rawget(_G, "jit") and "luajit" or "lua5.4"
    local trace, ok = t.sh("LUA_PATH=" .. t.shq(package.path) .. " LUA_CPATH=" .. t.shq(package.cpath) ..
                           " " .. interp .. " " .. t.shq(script))
    os.remove(script)
    assert(ok, "the traced script failed: " .. trace)
    assert.is_truthy(trace:find("> PUT ", 1, true), "no PUT in the trace:\n" .. trace)
    assert.is_truthy(trace:find("> GET ", 1, true), "no GET in the trace")
    assert.is_truthy(trace:find("< HTTP/1.1 200", 1, true), "no answer in the trace")
    assert.is_truthy(trace:find("Authorization: REDACTED", 1, true), "Authorization not redacted")
    assert.is_falsy(trace:find(p.secretkey, 1, true), "the secret key is in the trace")
    assert.is_falsy(trace:find("Signature=%x%x%x%x%x%x%x%x"), "a signature is in the trace")
  end)

  it("keeps names made of '.', '-', '_', capitals and long components, under such a root", function()
    local root = RUN .. "/Root.dir_with-Odd.-_chars."
    local d, p = create{ rootdirectory = root }
    local long = ("Ab.c_d-e"):rep(32)                              -- 256 bytes
    local deep = {}
    for i = 1, 30 do deep[i] = ("d%02d.-_"):format(i) end
    local paths = {
      "/.hidden", "/-dash", "/_under", "/a..b", "/trailing.", "/UPPER.lower",
      "/x/y-z_0.9", "/x/...", "/x/.-_", "/" .. long:sub(1, 255),
      "/" .. table.concat(deep, "/"),
    }
    local content = {}
    for i, path in ipairs(paths) do
      content[path] = path .. "#" .. i .. t.random_bytes(i * 10)
      must(d:put_content(path, content[path]), nil, path)
    end
    for _, path in ipairs(paths) do
      same_bytes(content[path], must(d:get_content(path)), path)
      assert.are.equal(#content[path], must(d:stat(path)).size, path)
    end
    -- the keys on the server are exactly root + path, nothing escaped twice
    local want = {}
    for _, path in ipairs(paths) do want[#want + 1] = s3t.key(root, path) end
    table.sort(want)
    assert.are.same(want, s3t.raw_keys(p, s3t.key(root, "/")))
    -- list names them back
    local top = {}
    for _, path in ipairs(paths) do top[t.first_part(path)] = true end
    local want_top = {}
    for k in pairs(top) do want_top[#want_top + 1] = k end
    table.sort(want_top)
    assert.are.same(want_top, must(d:list("/")))
    assert.are.same({ "/x/.-_", "/x/...", "/x/y-z_0.9" }, must(d:list("/x")))   -- byte order
    -- move between such names
    must(d:move("/a..b", "/x/-moved_.b"))
    same_bytes(content["/a..b"], must(d:get_content("/x/-moved_.b")), "moved")
    t.check_err("PathNotFound", { driver = "s3", path = "/a..b" }, d:get_content("/a..b"))
    for _, e in ipairs(must(d:list("/"))) do must(d:delete(e)) end
    assert.are.same({}, must(d:list("/")))
  end)

  describe("with awscli (Debian's) as the other client", function()
    lazy_setup(function()
      assert(s3t.have_aws(), s3t.AWS .. " is missing: sh spec/support/deps.sh --servers installs awscli")
    end)

    it("reads back byte-exact what the driver wrote (one PUT and a multipart upload)", function()
      local d, p = create{ chunksize = CHUNK }
      local small = t.all_bytes() .. t.random_bytes(100 * KiB)
      must(d:put_content("/interop/ours-small", small))
      local big = t.random_bytes(2 * CHUNK + MiB + 5)
      local w = must(d:writer("/interop/ours-multi", false))
      write_pieces(w, big, 256 * KiB)
      must(w:commit())
      must(w:close())
      for path, data in pairs({ ["/interop/ours-small"] = small, ["/interop/ours-multi"] = big }) do
        local f = t.tmpname()
        s3t.aws_ok(p, "s3 cp --quiet " .. t.shq(s3t.url(p, path)) .. " " .. t.shq(f))
        local got = t.read_file(f)
        os.remove(f)
        same_bytes(data, got, "aws s3 cp of " .. path)
      end
      must(d:delete("/interop"))
    end)

    it("reads byte-exact and stats what awscli uploaded (one PUT and a multipart upload)", function()
      local d, p = create()
      local small = t.random_bytes(100 * KiB) .. t.all_bytes()
      local big = t.random_bytes(9 * MiB + 123)           -- awscli: 8 MiB parts above 8 MiB
      for path, data in pairs({ ["/interop/aws-small"] = small, ["/interop/aws-multi"] = big }) do
        local f = t.tmpname()
        t.write_file(f, data)
        s3t.aws_ok(p, "s3 cp --quiet " .. t.shq(f) .. " " .. t.shq(s3t.url(p, path)))
        os.remove(f)
      end
      local etag = s3t.aws_ok(p, "s3api head-object --bucket " .. t.shq(p.bucket) .. " --key " ..
                              t.shq(s3t.key(p.rootdirectory, "/interop/aws-multi")) ..
                              " --query ETag --output text")
      assert.matches("%-2\"?%s*$", etag, 1, false)    -- it was a multipart upload

      for path, data in pairs({ ["/interop/aws-small"] = small, ["/interop/aws-multi"] = big }) do
        same_bytes(data, must(d:get_content(path)), "get_content of " .. path)
        local fi = must(d:stat(path))
        assert.are.equal(#data, fi.size, "stat size of " .. path)
        assert.is_false(fi.is_dir)
        assert.are.equal(path, fi.path)
      end
      -- a range across awscli's part boundary
      local off = 8 * MiB - 10
      local r = must(d:reader("/interop/aws-multi", off))
      same_bytes(big:sub(off + 1, off + 100), r:read(100), "read at " .. off)
      r:close()
      assert.are.same({ "/interop/aws-multi", "/interop/aws-small" }, must(d:list("/interop")))
      must(d:delete("/interop"))
    end)
  end)
end)
