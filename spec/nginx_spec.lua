-- storagedriver.ngx and the example content handler (examples/nginx/blobs.lua)
-- in a real nginx with the Lua module: started on 127.0.0.1 by these specs,
-- driven with curl, stopped after (spec/support/nginx.lua).  The first
-- blocks need no nginx: the Range parser and the adapter run in-process
-- (pool = false) under plain Lua.

local t = require "sdtest"
local sdngx = require "storagedriver.ngx"

describe("storagedriver.ngx Range parsing", function()
  it("parses a single bytes range in its three forms", function()
    assert.are.same({ first = 0, last = 0 }, sdngx.parse_range("bytes=0-0"))
    assert.are.same({ first = 10, last = 19 }, sdngx.parse_range("bytes=10-19"))
    assert.are.same({ first = 5 }, sdngx.parse_range("bytes=5-"))
    assert.are.same({ suffix = 7 }, sdngx.parse_range("bytes=-7"))
    assert.are.same({ first = 1, last = 2 }, sdngx.parse_range(" Bytes = 1 - 2 "))
  end)

  it("ignores what it cannot honour (the whole object is served)", function()
    assert.is_nil(sdngx.parse_range(nil))
    assert.is_nil(sdngx.parse_range("bytes=0-1,5-6"))   -- several ranges
    assert.is_nil(sdngx.parse_range("bytes=5-2"))       -- last before first
    assert.is_nil(sdngx.parse_range("bytes=-"))
    assert.is_nil(sdngx.parse_range("items=0-1"))
    assert.is_nil(sdngx.parse_range("bytes=a-b"))
  end)

  it("resolves ranges against the size, or says unsatisfiable", function()
    local r = sdngx.resolve_range
    assert.are.same({ 0, 99 }, { r(nil, 100) })
    assert.are.same({ 0, -1 }, { r(nil, 0) })
    assert.are.same({ 10, 19 }, { r({ first = 10, last = 19 }, 100) })
    assert.are.same({ 95, 99 }, { r({ first = 95, last = 500 }, 100) })   -- clamped
    assert.are.same({ 95, 99 }, { r({ first = 95 }, 100) })
    assert.are.same({ 90, 99 }, { r({ suffix = 10 }, 100) })
    assert.are.same({ 0, 99 }, { r({ suffix = 1000 }, 100) })
    assert.is_nil(r({ first = 100 }, 100))
    assert.is_nil(r({ first = 0, last = 5 }, 0))
    assert.is_nil(r({ suffix = 0 }, 100))
    assert.is_nil(r({ suffix = 3 }, 0))
  end)
end)

describe("storagedriver.ngx in-process (pool = false)", function()
  it("runs every call and rebuilds errors with their kind, fields and text", function()
    local store = sdngx.new{ pool = false, driver = "inmemory" }
    assert.is_true(store:put_content("/a/b", "bytes\0here"))
    assert.are.equal("bytes\0here", store:get_content("/a/b"))
    local st = assert(store:stat("/a/b"))
    assert.are.equal(10, st.size)
    assert.is_false(st.is_dir)
    assert.are.same({ "/a/b" }, store:list("/a"))
    assert.is_true(store:move("/a/b", "/a/c"))
    local err = t.check_err("PathNotFound", { driver = "inmemory", path = "/a/b" }, store:get_content("/a/b"))
    assert.is_true(require("storagedriver").is_error(err))
    t.check_err("InvalidPath", { driver = "inmemory", path = "/a//b" }, store:stat("/a//b"))
    assert.is_true(store:delete("/a"))
    t.check_err("PathNotFound", { driver = "inmemory", path = "/a/c" }, store:stat("/a/c"))
    assert.is_nil(store:redirect_url("/x"))
  end)

  it("reports a driver that cannot be created, on use, with the driver's error", function()
    local store = sdngx.new{ pool = false, driver = "filesystem", params = { bogus = 1 } }
    local _, err = store:stat("/")
    assert.are.equal("InvalidParameter", err.kind)
    assert.matches("^filesystem: invalid parameter bogus", tostring(err))
    t.check_err("InvalidDriver", { name = "nosuch" }, sdngx.new{ pool = false, driver = "nosuch" }:stat("/"))
  end)

  it("passes errors across as plain tables and rebuilds them", function()
    local store = sdngx.new{ pool = false, driver = "inmemory" }
    local status, p = sdngx.thread_call(store.key, store.cfg, "get_content", "/missing")
    assert.are.equal("err", status)
    assert.is_nil(getmetatable(p))
    for _, v in pairs(p) do assert.is_true(type(v) ~= "table" and type(v) ~= "userdata") end
    t.check_err("PathNotFound", { driver = "inmemory", path = "/missing" }, nil, sdngx.rebuild_error(p))
    assert.are.equal("raise", (sdngx.thread_call(store.key, store.cfg, "walk", "/")))
    -- a VM without the driver asks for the configuration; once it has it,
    -- the id alone is enough
    local other = sdngx.new{ pool = false, driver = "inmemory", name = "other", params = {} }
    local fresh = other.key .. "-not-seen"
    assert.are.equal("config", (sdngx.thread_call(fresh, nil, "stat", "/")))
    assert.are.equal("ok", (sdngx.thread_call(fresh, other.cfg, "stat", "/")))
    assert.are.equal("ok", (sdngx.thread_call(fresh, nil, "stat", "/")))
  end)

  it("refuses configurations that cannot cross to the thread pool", function()
    assert.matches("driver", t.raises(sdngx.new, {}))
    assert.matches("function", t.raises(sdngx.new, { driver = "inmemory", params = { f = print } }))
    assert.matches("metatable", t.raises(sdngx.new, { driver = "inmemory",
      middlewares = { { "log", setmetatable({}, {}) } } }))
    assert.matches("pool", t.raises(sdngx.new, { driver = "inmemory", pool = 3 }))
    assert.matches("chunk_size", t.raises(sdngx.new, { driver = "inmemory", chunk_size = 0 }))
    -- equal configurations share a key (and so a driver per VM)
    local a = sdngx.new{ driver = "filesystem", params = { rootdirectory = "/x", sync = false } }
    local b = sdngx.new{ params = { sync = false, rootdirectory = "/x" }, driver = "filesystem" }
    assert.are.equal(a.key, b.key)
    assert.are_not.equal(a.key, sdngx.new{ driver = "inmemory" }.key)
  end)
end)

---------------------------------------------------------------- real nginx

local nginx = require "nginx"
local sh = nginx.sh   -- (curl and nginx without the sanitizer preload)

-- curl ARGS, returning status, headers (lowercase names), body.  (With -I
-- curl writes the headers as the output: what follows them is the body.)
local function curl(args)
  local dir = t.tmpdir()
  local out = sh("curl -s -S -D " .. t.shq(dir .. "/h") .. " -o " .. t.shq(dir .. "/b") ..
    " -w '%{http_code}' " .. args)
  local status = tonumber(out:match("(%d%d%d)%s*$"))
  local headers = {}
  for line in (t.read_file(dir .. "/h") or ""):gmatch("[^\r\n]+") do
    local k, v = line:match("^([^:]+):%s*(.-)%s*$")
    if k then headers[k:lower()] = v end
  end
  local body = t.read_file(dir .. "/b") or ""
  if args:match("^%-I ") then
    local hdr = t.read_file(dir .. "/h") or ""
    assert(body:sub(1, #hdr) == hdr, "curl -I output starts with the headers")
    body = body:sub(#hdr + 1)
  end
  t.rmrf(dir)
  return status, headers, body, out
end

local SLEEP = 1.5     -- seconds the slow store sleeps in each read

describe("the blobs handler in nginx", function()
  local available, why = nginx.available()
  if not available then
    pending("nginx with the Lua module cannot run here: " .. why)
    return
  end

  local srv, url, work
  local shipped_redirect = t.exists(nginx.REPO .. "/lua/storagedriver/middleware/redirect.lua")
  local redirect_mw = shipped_redirect and "redirect" or "ngxtest_redirect"

  setup(function()
    work = t.tmpdir()
    srv = nginx.start{
      threads = 4,
      http = [[
  lua_shared_dict sd_uploads 1m;
  init_by_lua_block {
    require "resty.core"
    local blobs = require "blobs"
    local fs = { rootdirectory = "$PREFIX/store", sync = false }
    blobs.configure("default", { pool = "sd", driver = "filesystem", params = fs, lock_dict = "sd_uploads" })
    blobs.configure("rd", { pool = "sd", driver = "inmemory", modules = { "ngxtest" },
      middlewares = { { "]] .. redirect_mw .. [[", { baseurl = "http://cdn.example.test/base" } } } })
    blobs.configure("slow", { pool = "sd", driver = "filesystem", params = fs, modules = { "ngxtest" },
      middlewares = { { "ngxtest_sleep", { seconds = ]] .. SLEEP .. [[, writer = true } } } })
    blobs.configure("direct", { pool = false, driver = "filesystem", params = fs, modules = { "ngxtest" },
      middlewares = { { "ngxtest_sleep", { seconds = ]] .. SLEEP .. [[ } } } })
    blobs.configure("raise", { pool = "sd", driver = "filesystem", params = fs, modules = { "ngxtest" },
      middlewares = { "ngxtest_raise" } })
    blobs.configure("bad", { pool = "sd", driver = "filesystem", params = { rootdirectory = "$PREFIX/store", bogus = "x" } })
  }
]],
      server = [[
    client_max_body_size 0;
    location /blobs/ { content_by_lua_block { require("blobs").handle() } }
    location /rblobs/ { content_by_lua_block { require("blobs").handle{ store = "rd", prefix = "/rblobs" } } }
    location /slow/ { content_by_lua_block { require("blobs").handle{ store = "slow", prefix = "/slow" } } }
    location /direct/ { content_by_lua_block { require("blobs").handle{ store = "direct", prefix = "/direct" } } }
    location /raise/ { content_by_lua_block { require("blobs").handle{ store = "raise", prefix = "/raise" } } }
    location /bad/ { content_by_lua_block { require("blobs").handle{ store = "bad", prefix = "/bad" } } }
]],
    }
    url = srv.url
  end)

  teardown(function()
    if srv then srv:stop() end
    t.rmrf(work)
  end)

  local function put_file(path, file, extra)
    return curl((extra or "") .. " -X PUT -T " .. t.shq(file) .. " " .. url .. "/blobs" .. path)
  end

  it("stores and serves objects through the filesystem driver", function()
    local data = t.all_bytes() .. t.random_bytes(5000)
    t.write_file(work .. "/obj", data)
    local status = put_file("/dir/obj", work .. "/obj")
    assert.are.equal(201, status)
    -- on disk, where the filesystem driver puts it
    assert.are.equal(data, t.read_file(srv.prefix .. "/store/dir/obj"))
    local s, h, body = curl(url .. "/blobs/dir/obj")
    assert.are.equal(200, s)
    assert.are.equal(#data, #body)
    assert.are.equal(data, body)
    assert.are.equal(tostring(#data), h["content-length"])
    assert.are.equal("bytes", h["accept-ranges"])
    -- replaced by a second PUT; an empty object too
    t.write_file(work .. "/obj2", "second")
    assert.are.equal(201, (put_file("/dir/obj", work .. "/obj2")))
    assert.are.equal("second", select(3, curl(url .. "/blobs/dir/obj")))
    t.write_file(work .. "/empty", "")
    assert.are.equal(201, (put_file("/dir/empty", work .. "/empty")))
    s, h, body = curl(url .. "/blobs/dir/empty")
    assert.are.equal(200, s)
    assert.are.equal("0", h["content-length"])
    assert.are.equal("", body)
    -- an object spanning several chunks (256 KiB each)
    local big = t.random_bytes(3 * 256 * 1024 + 777)
    t.write_file(work .. "/big", big)
    assert.are.equal(201, (put_file("/dir/big", work .. "/big")))
    assert.are.equal(big, t.read_file(srv.prefix .. "/store/dir/big"))
    assert.are.equal(big, select(3, curl(url .. "/blobs/dir/big")))
  end)

  it("answers Range requests with the right bytes", function()
    local data = t.random_bytes(3 * 256 * 1024 + 1000)   -- several chunks
    local n = #data
    t.write_file(work .. "/ranged", data)
    assert.are.equal(201, (put_file("/ranged", work .. "/ranged")))
    local cases = {
      { "bytes=0-0", 0, 0 },
      { "bytes=10-19", 10, 19 },
      { "bytes=200000-700000", 200000, 700000 },       -- across chunk boundaries
      { "bytes=" .. (n - 10) .. "-", n - 10, n - 1 },  -- open-ended
      { "bytes=1000-", 1000, n - 1 },                  -- open-ended, several chunks
      { "bytes=-25", n - 25, n - 1 },                  -- suffix
      { "bytes=-" .. (n + 5000), 0, n - 1 },           -- suffix longer than the object
      { "bytes=" .. (n - 5) .. "-" .. (n + 100), n - 5, n - 1 },  -- end clamped
    }
    for _, c in ipairs(cases) do
      local s, h, body = curl("-H " .. t.shq("Range: " .. c[1]) .. " " .. url .. "/blobs/ranged")
      assert.are.equal(206, s, c[1])
      assert.are.equal(string.format("bytes %d-%d/%d", c[2], c[3], n), h["content-range"], c[1])
      assert.are.equal(tostring(c[3] - c[2] + 1), h["content-length"], c[1])
      assert.is_true(body == data:sub(c[2] + 1, c[3] + 1), "the bytes of " .. c[1])
    end
    for _, r in ipairs({ "bytes=" .. n .. "-", "bytes=" .. (n + 10) .. "-" .. (n + 20), "bytes=-0" }) do
      local s, h, body = curl("-H " .. t.shq("Range: " .. r) .. " " .. url .. "/blobs/ranged")
      assert.are.equal(416, s, r)
      assert.are.equal("bytes */" .. n, h["content-range"], r)
      assert.are.equal("", body)
    end
    -- several ranges or a malformed header: the whole object
    for _, r in ipairs({ "bytes=0-1,5-6", "bytes=9-3" }) do
      local s, _, body = curl("-H " .. t.shq("Range: " .. r) .. " " .. url .. "/blobs/ranged")
      assert.are.equal(200, s, r)
      assert.is_true(body == data, r)
    end
    -- any range of an empty object is unsatisfiable
    t.write_file(work .. "/empty", "")
    assert.are.equal(201, (put_file("/ranged-empty", work .. "/empty")))
    assert.are.equal(416, (curl("-H 'Range: bytes=0-' " .. url .. "/blobs/ranged-empty")))
  end)

  it("answers HEAD with the object's length and no body", function()
    t.write_file(work .. "/head", string.rep("h", 12345))
    assert.are.equal(201, (put_file("/head/x", work .. "/head")))
    local s, h, body = curl("-I " .. url .. "/blobs/head/x")
    assert.are.equal(200, s)
    assert.are.equal("12345", h["content-length"])
    assert.are.equal("", body)
    assert.truthy(h["last-modified"])
    s = curl("-I " .. url .. "/blobs/head/none")
    assert.are.equal(404, s)
    s = curl("-I " .. url .. "/blobs/head")          -- a directory is not an object
    assert.are.equal(404, s)
  end)

  it("deletes, then answers 404 with the error's text", function()
    t.write_file(work .. "/del", "to be deleted")
    assert.are.equal(201, (put_file("/del/x", work .. "/del")))
    local s, h = curl("-X DELETE " .. url .. "/blobs/del/x")
    assert.are.equal(204, s)
    assert.is_nil(h["content-length"])
    assert.is_false(t.exists(srv.prefix .. "/store/del/x"))
    local body
    s, _, body = curl(url .. "/blobs/del/x")
    assert.are.equal(404, s)
    assert.are.equal("filesystem: Path not found: /del/x\n", body)
    s, _, body = curl("-X DELETE " .. url .. "/blobs/del/x")
    assert.are.equal(404, s)
    assert.are.equal("filesystem: Path not found: /del/x\n", body)
  end)

  it("maps errors to statuses: 400 bad path, 405, 411, 500 with the text", function()
    local s, _, body = curl(url .. "/blobs/a/b%20c")
    assert.are.equal(400, s)
    assert.are.equal("filesystem: invalid path: /a/b c\n", body)
    s = curl("-X PUT --data-binary x " .. url .. "/blobs/a/b%3Ac")
    assert.are.equal(400, s)
    local h
    s, h = curl("-X POST --data-binary x " .. url .. "/blobs/a")
    assert.are.equal(405, s)
    assert.are.equal("GET, HEAD, PUT, DELETE", h["allow"])
    t.write_file(work .. "/chunked", "chunked body")
    s = curl("-X PUT -H 'Transfer-Encoding: chunked' -T " .. t.shq(work .. "/chunked") .. " " .. url .. "/blobs/c")
    assert.are.equal(411, s)
    -- a driver that cannot be created: its error, kind and text intact
    s, _, body = curl(url .. "/bad/x")
    assert.are.equal(500, s)
    assert.matches("^filesystem: invalid parameter bogus", body)
    -- a middleware raising in the thread VM: a 500 naming it; nginx keeps serving
    t.write_file(work .. "/r", "r")
    assert.are.equal(201, (put_file("/r", work .. "/r")))
    s, _, body = curl(url .. "/raise/r")
    assert.are.equal(500, s)
    assert.matches("boom from ngxtest_raise", body, 1, true)
    assert.are.equal(200, (curl(url .. "/ping")))
    assert.are.equal("r", select(3, curl(url .. "/blobs/r")))
  end)

  it("?redirect gives 302 to the driver's URL, or serves when there is none", function()
    local s, h = curl("'" .. url .. "/rblobs/some/blob?redirect'")
    assert.are.equal(302, s)
    assert.matches("^http://cdn%.example%.test/", h["location"])
    assert.matches("/some/blob$", h["location"])
    -- filesystem gives no redirect URL: the object itself
    t.write_file(work .. "/nr", "no redirect")
    assert.are.equal(201, (put_file("/nr", work .. "/nr")))
    local body
    s, h, body = curl("'" .. url .. "/blobs/nr?redirect'")
    assert.are.equal(200, s)
    assert.is_nil(h["location"])
    assert.are.equal("no redirect", body)
  end)

  it("streams a 100 MiB upload and download with the worker's memory bounded", function()
    local pid = srv:worker_pids()[1]
    assert.truthy(pid, "no worker process")
    local file = work .. "/100m"
    assert.is_true(select(2, sh("head -c " .. (100 * t.MiB) .. " /dev/urandom > " .. t.shq(file))))
    -- warm the thread VMs first: the baseline then holds the drivers
    t.write_file(work .. "/warm", "warm")
    for _ = 1, 4 do
      assert.are.equal(201, (put_file("/warm", work .. "/warm")))
      assert.are.equal(200, (curl(url .. "/blobs/warm")))
    end
    local hwm0 = nginx.proc_kib(pid, "VmHWM")
    local rss0 = nginx.proc_kib(pid, "VmRSS")
    assert.are.equal(201, (put_file("/big/100m", file)))
    local hwm_put = nginx.proc_kib(pid, "VmHWM")
    local out, ok = sh("curl -s -S -o " .. t.shq(work .. "/100m.out") .. " -w '%{http_code}' " .. url .. "/blobs/big/100m")
    assert.is_true(ok, out)
    assert.are.equal("200", out)
    local hwm1 = nginx.proc_kib(pid, "VmHWM")
    local rss1 = nginx.proc_kib(pid, "VmRSS")
    local sums = nginx.lines("sha256sum " .. t.shq(file) .. " " .. t.shq(work .. "/100m.out") ..
      " " .. t.shq(srv.prefix .. "/store/big/100m") .. " | cut -d' ' -f1")
    assert.are.equal(3, #sums)
    assert.are.equal(sums[1], sums[2], "the bytes downloaded")
    assert.are.equal(sums[1], sums[3], "the bytes stored")
    local growth = (hwm1 - hwm0) / 1024
    print(string.format("\n[nginx] worker VmHWM %.1f MiB -> %.1f MiB after the 100 MiB PUT -> %.1f MiB after the GET " ..
      "(growth %.1f MiB); VmRSS %.1f -> %.1f MiB", hwm0 / 1024, hwm_put / 1024, hwm1 / 1024, growth,
      rss0 / 1024, rss1 / 1024))
    assert.is_true(growth < 32, string.format("peak memory grew by %.1f MiB", growth))
  end)

  -- Runs a GET of path (taking about SLEEP seconds) and, 0.3 s in, a /ping;
  -- returns the seconds each took and whether the ping ended first.
  local function ping_during(path)
    local f1, f2 = work .. "/slow.t", work .. "/ping.t"
    local cmd = "curl -s -o /dev/null -w '%{http_code} %{time_total}' " .. url .. path .. " > " .. t.shq(f1) ..
      " & sleep 0.3; curl -s -o /dev/null -w '%{http_code} %{time_total}' " .. url .. "/ping > " .. t.shq(f2) ..
      "; test -s " .. t.shq(f1) .. "; echo \"slow-done-first=$?\"; wait"
    local out = sh(cmd)
    local s1, t1 = (t.read_file(f1) or ""):match("^(%d+) ([%d.]+)")
    local s2, t2 = (t.read_file(f2) or ""):match("^(%d+) ([%d.]+)")
    return tonumber(s1), tonumber(t1), tonumber(s2), tonumber(t2), out:match("slow%-done%-first=1") ~= nil
  end

  it("answers other requests while a slow storage call runs in the thread pool", function()
    t.write_file(work .. "/s", "slow object")
    assert.are.equal(201, (put_file("/slow-obj", work .. "/s")))
    local s1, t1, s2, t2, ping_first = ping_during("/slow/slow-obj")
    print(string.format("\n[nginx] /ping answered in %.3f s while a %.1f s storage call ran in the pool (that GET took %.3f s)",
      t2, SLEEP, t1))
    assert.are.equal(200, s1)
    assert.are.equal(200, s2)
    assert.is_true(t1 >= SLEEP * 0.9, "the slow GET took " .. t1 .. " s")
    assert.is_true(ping_first, "the ping ended before the slow GET")
    assert.is_true(t2 < 0.5, "the ping took " .. t2 .. " s")
  end)

  it("(control) the same slow call made in the request's VM blocks the worker", function()
    t.write_file(work .. "/s", "slow object")
    assert.are.equal(201, (put_file("/slow-obj", work .. "/s")))
    local s1, t1, s2, t2 = ping_during("/direct/slow-obj")
    assert.are.equal(200, s1)
    assert.are.equal(200, s2)
    assert.is_true(t1 >= SLEEP * 0.9)
    -- the ping waited for the sleep to end (started 0.3 s into it)
    assert.is_true(t2 >= SLEEP - 0.3 - 0.2, "the ping took " .. t2 .. " s")
  end)

  it("cuts a response short rather than mix two versions of an object", function()
    -- two chunks through the slow store: each read sleeps SLEEP seconds; the
    -- object is replaced while the second chunk is being read
    local old = t.random_bytes(256 * 1024 + 1000)
    local new = t.random_bytes(256 * 1024 + 1000)
    t.write_file(work .. "/old", old)
    t.write_file(work .. "/new", new)
    assert.are.equal(201, (put_file("/versioned", work .. "/old")))
    local got = work .. "/got"
    local out = sh("(curl -s -o " .. t.shq(got) .. " " .. url .. "/slow/versioned; echo \"rc=$?\") & " ..
      "sleep " .. (SLEEP * 1.45) .. "; curl -s -o /dev/null -w 'put=%{http_code}' -X PUT -T " ..
      t.shq(work .. "/new") .. " " .. url .. "/blobs/versioned; wait")
    assert.matches("put=201", out)
    assert.matches("rc=18", out)          -- curl: partial file
    local body = t.read_file(got) or ""
    assert.are.equal(256 * 1024, #body)
    assert.is_true(body == old:sub(1, #body), "the part sent is the old version's")
    assert.matches("object changed while being sent: /versioned", srv:error_log(), 1, true)
    assert.is_true(new == select(3, curl(url .. "/blobs/versioned")))
  end)

  it("refuses a second upload to a path while one is running (409)", function()
    t.write_file(work .. "/u1", "first upload")
    t.write_file(work .. "/u2", "second upload")
    local f1 = work .. "/u1.code"
    local slow = "curl -s -o /dev/null -w '%{http_code}' -X PUT -T " .. t.shq(work .. "/u1") .. " " ..
      url .. "/slow/up > " .. t.shq(f1)
    local out = sh(slow .. " & sleep 0.3; curl -s -w ' %{http_code}' -X PUT -T " .. t.shq(work .. "/u2") ..
      " " .. url .. "/blobs/up; wait")
    assert.matches("in progress: /up\n 409$", out)
    assert.are.equal("201", t.read_file(f1))
    assert.are.equal("first upload", select(3, curl(url .. "/blobs/up")))
  end)
end)

describe("examples/nginx/nginx.conf", function()
  local available, why = nginx.available()
  if not available then
    pending("nginx with the Lua module cannot run here: " .. why)
    return
  end

  it("works as written (but for its port and its data directory)", function()
    local srv
    local ok, err = pcall(function()
      srv = nginx.start_file("examples/nginx/nginx.conf", function(text, dir, port)
        local n
        text, n = text:gsub('ngx%.config%.prefix%(%) %.%. "build/nginx%-example/store"', '"' .. dir .. '/store"')
        assert(n == 1, "the store path is where the spec expects it")
        text, n = text:gsub("build/nginx%-example", dir)
        assert(n >= 8, "the run directory is where the spec expects it")
        text, n = text:gsub("listen 127%.0%.0%.1:8080;", "listen 127.0.0.1:" .. port .. ";")
        assert(n == 1, "the listen line is where the spec expects it")
        return text
      end)
      local url = srv.url
      local work = srv.prefix .. "/work"
      assert.is_true(select(2, sh("mkdir -p " .. t.shq(work))))
      local data = t.random_bytes(300 * 1024)
      t.write_file(work .. "/f", data)
      assert.are.equal(201, (curl("-T " .. t.shq(work .. "/f") .. " " .. url .. "/blobs/dir/f")))
      assert.are.equal(data, t.read_file(srv.prefix .. "/store/dir/f"))
      assert.is_true(data == select(3, curl(url .. "/blobs/dir/f")))
      local s, h, body = curl("-H 'Range: bytes=-100' " .. url .. "/blobs/dir/f")
      assert.are.equal(206, s)
      assert.are.equal(string.format("bytes %d-%d/%d", #data - 100, #data - 1, #data), h["content-range"])
      assert.is_true(body == data:sub(-100))
      s, h = curl("-I " .. url .. "/blobs/dir/f")
      assert.are.equal(200, s)
      assert.are.equal(tostring(#data), h["content-length"])
      if t.exists(nginx.REPO .. "/lua/storagedriver/middleware/redirect.lua") then
        s, h = curl("'" .. url .. "/cdn/dir/f?redirect'")
        assert.are.equal(302, s)
        assert.matches("^https://cdn%.example%.com/.*dir/f$", h["location"])
      end
      assert.is_true(data == select(3, curl(url .. "/cdn/dir/f")))
      assert.are.equal(204, (curl("-X DELETE " .. url .. "/blobs/dir/f")))
      assert.are.equal(404, (curl(url .. "/blobs/dir/f")))
    end)
    if srv then srv:stop() end
    assert(ok, err)
  end)
end)
