-- The swift driver against a real OpenStack Swift: the local Swift
-- All-In-One that `make test` starts (spec/support/with-servers.sh sets
-- SD_SWIFT_PARAMS; auth v1 with tempauth).  What the conformance suite cannot
-- show: objects of many segments and their SLO manifest, appends that reuse
-- segments, cancel and delete leaving nothing behind, moves of large objects,
-- TempURLs fetched with curl, a revoked token renewed, listings past Swift's
-- 10,000-name page, objects exchanged with the `swift` command
-- (python3-swiftclient), and clear errors for bad input.
--
-- The parameter checks run without a server; the rest is pending when
-- SD_SWIFT_PARAMS is unset.  Every driver works under a fresh prefix.

local sd = require "storagedriver"
local t = require "sdtest"
local swt = require "swifttest"

local MiB, KiB = t.MiB, t.KiB

local dt = require "drivertest"
local must, same_bytes, write_pieces, curl = dt.must, dt.same_bytes, dt.write_pieces, dt.curl

local function clear_error(...)
  return dt.clear_error("swift", ...)
end

---------------------------------------------------------------- parameters

describe("swift parameters", function()
  local base = { authurl = "http://127.0.0.1:9/auth/v1.0", username = "u", password = "pw-secret",
                 container = "c" }
  local function with(over)
    local p = {}
    for k, v in pairs(base) do p[k] = v end
    for k, v in pairs(over) do
      if v == false then p[k] = nil else p[k] = v end
    end
    return p
  end
  local function bad(over, parameter, text)
    local d, err = sd.create("swift", with(over))
    assert.is_nil(d)
    assert.are.equal("InvalidParameter", err and err.kind, tostring(err))
    assert.are.equal(parameter, err.parameter, tostring(err))
    assert.is_truthy(tostring(err):find(text, 1, true), tostring(err))
  end

  it("names each missing required parameter as the reference does", function()
    bad({ username = false }, "username", "no username parameter provided")
    bad({ password = false }, "password", "no password parameter provided")
    bad({ authurl = false }, "authurl", "no authurl parameter provided")
    bad({ container = false }, "container", "no container parameter provided")
  end)

  it("refuses a chunksize under 1 MiB with the reference's text", function()
    bad({ chunksize = 1048575 }, "chunksize",
        "the chunksize 1048575 parameter should be a number that is larger than or equal to 1048576")
    bad({ chunksize = "12x" }, "chunksize", "")
  end)

  it("refuses unknown parameters, a bad endpointtype and prefix with another rootdirectory", function()
    bad({ bogus = 1 }, "bogus", "unknown parameter")
    bad({ endpointtype = "private" }, "endpointtype", "public, internal or admin")
    bad({ prefix = "a", rootdirectory = "b" }, "rootdirectory", "not both")
    bad({ authurl = "ftp://x/auth" }, "authurl", "http")
    bad({ authversion = 4 }, "authversion", "")
    bad({ container = ("x"):rep(257) }, "container", "invalid container name")
  end)

  it("an unreachable auth URL is a Driver error from sd.create", function()
    local d, err = sd.create("swift", with({ maxretries = 0 }))
    clear_error("unreachable authurl", "pw-secret", { "127.0.0.1:9" }, d, err)
  end)
end)

---------------------------------------------------------------- server

local BASE = swt.base_params()

if not BASE then
  describe("swift driver", function()
    it("runs against a local Swift server", function() pending(swt.WHY) end)
  end)
  return
end

local RUN = swt.params().prefix  -- this run's part of the container
local made = 0

-- A driver on the server under a prefix of its own below RUN; overrides are
-- driver parameters.  Returns driver, params.
local function create(overrides)
  made = made + 1
  local o = { prefix = RUN .. "/d" .. made }
  for k, v in pairs(overrides or {}) do o[k] = v end
  local p = swt.params(o)
  local d, err = sd.create("swift", p)
  assert(d, "sd.create(\"swift\") failed: " .. tostring(err))
  return d, p
end

-- The object names under the driver's prefix (with the prefix cut off).
local function names(p, sub)
  local out = {}
  for _, n in ipairs(swt.names(p, p.prefix .. "/" .. (sub or ""))) do
    out[#out + 1] = n:sub(#p.prefix + 2)
  end
  return out
end

local function count_prefix(list, prefix)
  local n = 0
  for _, s in ipairs(list) do
    if s:sub(1, #prefix) == prefix then n = n + 1 end
  end
  return n
end

-- The server's state directory (spec/support/server), for its ports and its
-- container databases.
local function server_dir()
  local base = os.getenv("SD_SERVER_DIR")
  if not base or base == "" then base = "build/servers" end
  return base .. "/swift"
end

-- An auth v1 token of the test user, fresh from the server.
local function token(p)
  local out = t.sh("unset LD_PRELOAD; curl -sS -D - -o /dev/null -H " ..
                   t.shq("X-Auth-User: " .. p.username) .. " -H " ..
                   t.shq("X-Auth-Key: " .. p.password) .. " " .. t.shq(p.authurl))
  local tok = out:match("[Xx]%-[Aa]uth%-[Tt]oken: ([^\r\n]+)")
  local url = out:match("[Xx]%-[Ss]torage%-[Uu]rl: ([^\r\n]+)")
  assert(tok and url, "auth v1 failed:\n" .. out)
  return tok, url
end

-- The local server's memcached port, or nil (a server not started by
-- spec/support/server).
local function memcached_port()
  local ports = t.read_file(server_dir() .. "/ports.json")
  return ports and ports:match('"memcached":%s*(%d+)')
end

-- Revokes every token: tempauth keeps them in memcached, emptied here.
local function revoke_tokens(mc)
  local out, ok = t.sh("env -u LD_PRELOAD -u PYTHONPATH /usr/bin/python3 -c " ..
    t.shq("import socket,sys; s=socket.create_connection(('127.0.0.1',int(sys.argv[1]))); " ..
          "s.sendall(b'flush_all\\r\\n'); print(s.recv(16).decode())") .. " " .. mc)
  assert(ok and out:find("OK", 1, true), "flush_all failed: " .. out)
end

describe("swift driver on " .. BASE.authurl, function()
  lazy_teardown(function()
    swt.wipe(swt.params{ prefix = RUN })
  end)

  it("writes an object of many segments and publishes it as an SLO manifest", function()
    local d, p = create{ chunksize = MiB, uploadconcurrency = 3 }
    local path = "/big/blob"
    local data = t.random_bytes(5 * MiB + 12345)
    local w = must(d:writer(path, false))
    write_pieces(w, data, 300 * KiB + 7)
    assert.are.equal(#data, w:size())
    t.check_err("PathNotFound", { driver = "swift", path = path }, d:stat(path))
    must(w:commit())
    must(w:close())

    local all = names(p)
    assert.are.equal(6, count_prefix(all, "segments/"), "segments:\n" .. table.concat(all, "\n"))
    assert.are.equal(0, count_prefix(all, "uploads/"), "no upload record after commit")
    local st = swt.swift_ok(p, "stat " .. t.shq(p.container) .. " " ..
                            t.shq(swt.object(p.prefix, path)))
    assert.is_truthy(st:find("X-Static-Large-Object: True", 1, true), st)
    assert.are.equal(#data, must(d:stat(path)).size)
    same_bytes(data, must(d:get_content(path)), "get_content")
    for _, off in ipairs({ 0, MiB - 1, MiB, 3 * MiB + 5, #data - 1, #data }) do
      local r = must(d:reader(path, off))
      same_bytes(data:sub(off + 1), r:read("a") or "", "reader at " .. off)
      r:close()
    end

    -- deleting it deletes its segments
    must(d:delete("/big"))
    assert.are.same({}, names(p), "objects left after delete")
  end)

  it("append after commit reuses the segments; after close it resumes the upload", function()
    local d, p = create{ chunksize = MiB }
    local path = "/app/blob"
    local a = t.random_bytes(2 * MiB + 100)
    local w = must(d:writer(path))
    must(w:write(a))
    must(w:commit())
    must(w:close())
    local first = names(p, "segments/")
    assert.are.equal(3, #first)

    local b = t.random_bytes(MiB + 17)
    w = must(d:writer(path, true))
    assert.are.equal(#a, w:size())
    must(w:write(b))
    must(w:close())                   -- closed: a record, the object unchanged
    assert.are.equal(1, count_prefix(names(p), "uploads/"))
    same_bytes(a, must(d:get_content(path)), "content before the second commit")

    w = must(d:writer(path, true))
    assert.are.equal(#a + #b, w:size())
    must(w:write("end"))
    must(w:commit())
    must(w:close())
    same_bytes(a .. b .. "end", must(d:get_content(path)), "appended content")
    local now = {}
    for _, n in ipairs(names(p, "segments/")) do now[n] = true end
    for _, n in ipairs(first) do
      assert.is_true(now[n] == true, "segment of the first upload gone: " .. n)
    end
    assert.are.equal(0, count_prefix(names(p), "uploads/"), "record left after commit")

    -- a plain object (put_content) continues from a server-side copy
    must(d:put_content("/app/plain", "plain "))
    w = must(d:writer("/app/plain", true))
    assert.are.equal(6, w:size())
    must(w:write("and more"))
    must(w:commit())
    must(w:close())
    assert.are.equal("plain and more", must(d:get_content("/app/plain")))
    must(d:delete("/app"))
    assert.are.same({}, names(p), "objects left after delete")
  end)

  it("checksum=false sends no MD5 and still writes segments, manifests and plain objects", function()
    local d = create{ chunksize = MiB, checksum = false }
    local big, small = t.random_bytes(2 * MiB + 3), t.random_bytes(100)
    local w = must(d:writer("/nosum/big"))
    write_pieces(w, big, 333 * KiB)
    must(w:commit())
    must(w:close())
    must(d:put_content("/nosum/small", small))
    same_bytes(big, must(d:get_content("/nosum/big")), "segmented, checksum=false")
    same_bytes(small, must(d:get_content("/nosum/small")), "plain, checksum=false")
    must(d:delete("/nosum"))
  end)

  it("cancel deletes the upload's segments and its record, and keeps the committed object", function()
    local d, p = create{ chunksize = MiB }
    local path = "/c/blob"
    must(d:put_content(path, "committed"))
    local w = must(d:writer(path, false))
    must(w:write(t.random_bytes(2 * MiB + 3)))
    must(w:close())
    w = must(d:writer(path, true))
    assert.are.equal(2 * MiB + 3, w:size())
    must(w:write(t.random_bytes(MiB)))
    must(w:cancel())
    assert.are.same({ "files/c/blob" }, names(p))
    assert.are.equal("committed", must(d:get_content(path)))
    must(d:delete("/c"))
  end)

  it("moves a large object as its manifest: deleting the old directory keeps its segments", function()
    local d, p = create{ chunksize = MiB }
    local data = t.random_bytes(3 * MiB + 1)
    local old = t.random_bytes(2 * MiB + 5)
    -- an existing large object at the destination: replaced, its segments deleted
    local w = must(d:writer("/blobs/b/data"))
    must(w:write(old))
    must(w:commit())
    must(w:close())
    w = must(d:writer("/uploads/u1/data"))
    must(w:write(data))
    must(w:commit())
    must(w:close())
    assert.are.equal(7, count_prefix(names(p), "segments/"))

    must(d:move("/uploads/u1/data", "/blobs/b/data"))
    -- the registry deletes the upload directory after the move
    t.check_err("PathNotFound", { driver = "swift", path = "/uploads/u1" }, d:delete("/uploads/u1"))
    same_bytes(data, must(d:get_content("/blobs/b/data")), "moved content")
    assert.are.equal(4, count_prefix(names(p), "segments/"), "segments of the replaced object")
    t.check_err("PathNotFound", { driver = "swift", path = "/uploads/u1/data" },
                d:stat("/uploads/u1/data"))
    must(d:delete("/blobs"))
    assert.are.same({}, names(p))
  end)

  it("a commit or a move over a large object deletes the segments it replaces", function()
    local d, p = create{ chunksize = MiB }
    local function large(path, n)
      local w = must(d:writer(path))
      must(w:write(t.random_bytes(n * MiB)))
      must(w:commit())
      must(w:close())
    end
    large("/r/a", 3)
    large("/r/a", 2)
    assert.are.equal(2, count_prefix(names(p), "segments/"), "after a commit over it")
    large("/r/b", 1)
    must(d:move("/r/b", "/r/a"))
    assert.are.equal(1, count_prefix(names(p), "segments/"), "after a move over it")
    assert.are.equal(MiB, must(d:stat("/r/a")).size)
    must(d:delete("/r"))
    assert.are.same({}, names(p))
  end)

  it("SD_SWIFT_TRACE shows requests and answers, never the key, a token or the TempURL key", function()
    local p = swt.params{ secretkey = "trace-key-" .. t.random_name(8) }
    local script = t.tmpname()
    local args = {}
    for k, v in pairs(p) do args[#args + 1] = ("[%q] = %q"):format(k, v) end
    t.write_file(script, ([[
      local sd = require "storagedriver"
      local d = assert(sd.create("swift", { %s }))
      assert(d:put_content("/tr/x", "x"))
      assert(d:get_content("/tr/x"))
      assert(d:redirect_url("/tr/x"))
      assert(d:delete("/tr"))
    ]]):format(table.concat(args, ", ")))
    local lua = jit and "luajit" or "lua5.4"
    local cpath = jit and "build/luajit/?.so;;" or ((os.getenv("SD_BUILD") or "build") .. "/lua54/?.so;;")
    local out, ok = t.sh("SD_SWIFT_TRACE=1 LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH=" ..
                         t.shq(cpath) .. " " .. lua .. " " .. t.shq(script))
    os.remove(script)
    assert(ok, out)
    assert.is_truthy(out:find("swift: > PUT ", 1, true), out)
    assert.is_truthy(out:find("swift: < HTTP/1.1 201", 1, true), out)
    assert.is_truthy(out:find("X-Auth-Key: REDACTED", 1, true), out)
    assert.is_falsy(out:find(p.password, 1, true), "the password shows:\n" .. out)
    assert.is_falsy(out:find("AUTH_tk", 1, true), "a token shows:\n" .. out)
    assert.is_falsy(out:find(p.secretkey, 1, true), "the TempURL key shows:\n" .. out)
  end)

  it("redirect_url gives a TempURL that curl fetches, refused with another method or once expired", function()
    local d = create()
    local data = t.random_bytes(1000)
    must(d:put_content("/t/obj", data))
    local url = must(d:redirect_url("/t/obj"))
    assert.is_truthy(url:find("temp_url_sig=%x+&temp_url_expires=%d+$"), url)
    assert.are.equal(64, #url:match("temp_url_sig=(%x+)"), "a SHA-256 signature: " .. url)
    local status, body = curl(url)
    assert.are.equal(200, status)
    same_bytes(data, body, "body fetched with curl")
    status = curl(must(d:redirect_url("/t/obj", { method = "HEAD" })), "-I")
    assert.are.equal(200, status, "HEAD")
    status = curl(url, "-X PUT --data-binary x")
    assert.are.equal(401, status, "a GET URL used for PUT")
    status = curl(url:gsub("temp_url_expires=(%d+)", function(e) return "temp_url_expires=" .. (e + 1) end))
    assert.are.equal(401, status, "a changed expiry")

    local short = must(d:redirect_url("/t/obj", { expiry = 2 }))
    assert.are.equal(200, (curl(short)))
    t.sleep(3.1)
    assert.are.equal(401, (curl(short)), "an expired URL")
    -- a method the cluster does not allow: no redirect, no error
    local u, err = d:redirect_url("/t/obj", { method = "PATCH" })
    assert.is_nil(u)
    assert.is_nil(err)
    must(d:delete("/t"))
  end)

  it("a secretkey is installed as the container's TempURL key and used", function()
    local d, p = create{ secretkey = "spec-key-" .. t.random_name(8) }
    must(d:put_content("/k/obj", "keyed"))
    local st = swt.swift_ok(p, "stat " .. t.shq(p.container))
    assert.is_truthy(st:find(p.secretkey, 1, true), "container key not set:\n" .. st)
    local status, body = curl(must(d:redirect_url("/k/obj")))
    assert.are.equal(200, status)
    assert.are.equal("keyed", body)
    must(d:delete("/k"))
  end)

  it("renews a revoked token once, transparently, for every kind of request", function()
    local d = create{ chunksize = MiB }
    must(d:put_content("/tok/a", "before"))
    local mc = memcached_port()
    if not mc then
      pending("no ports.json of the local server in " .. server_dir())
      return
    end
    local old = token(BASE)
    local function revoke() revoke_tokens(mc) end
    revoke()
    local _, surl = token(BASE)                       -- the revocation is real
    assert.are.equal(401, (curl(surl, "-H " .. t.shq("X-Auth-Token: " .. old))))
    -- the next request of each kind meets a 401 and renews once
    must(d:put_content("/tok/b", "after"))
    assert.are.equal("before", must(d:get_content("/tok/a")))
    revoke()
    local w = must(d:writer("/tok/big"))
    must(w:write(t.random_bytes(2 * MiB + 1)))
    must(w:commit())
    must(w:close())
    revoke()
    local r = must(d:reader("/tok/big", MiB))
    assert.are.equal(MiB + 1, #r:read("a"))
    r:close()
    assert.are.same({ "/tok/a", "/tok/b", "/tok/big" }, must(d:list("/tok")))
    must(d:delete("/tok"))
  end)

  it("lists and walks more than 10,000 objects of one directory (two listing pages)", function()
    local d, p = create()
    local sdir = server_dir()
    local n = 10050
    local rows = "env -u LD_PRELOAD -u PYTHONPATH -u PYTHONHOME /usr/bin/python3 spec/support/swift_rows.py "
    local args = table.concat({ t.shq(sdir), "AUTH_test", t.shq(p.container),
                                t.shq(swt.object(p.prefix, "/many/f")), n }, " ")
    local out, ok = t.sh(rows .. args)
    if not ok and out:find("no database", 1, true) then
      pending("the container database is not on this machine (" .. sdir .. ")")
      return
    end
    assert(ok, out)
    must(d:put_content("/many/f05000d/x", "x"))   -- a directory among them,
    must(d:put_content("/many/f09997z/y", "y"))   -- and one last on the first page
    local list = must(d:list("/many"))
    assert.are.equal(n + 2, #list)
    assert.are.equal("/many/f00000", list[1])
    assert.are.equal("/many/f05000d", list[5002])
    assert.are.equal("/many/f09997z", list[10000])
    assert.are.equal("/many/f09998", list[10001])
    assert.are.equal("/many/f10049", list[#list])
    local files, dirs = 0, 0
    must(d:walk("/many", function(fi)
      if fi.is_dir then dirs = dirs + 1 else files = files + 1 end
    end))
    assert.are.equal(n + 2, files)
    assert.are.equal(2, dirs)
    -- the rows go as they came (deleting 10,000 objects takes a minute here);
    -- a few hundred are deleted by the driver, in several bulk requests
    assert(t.sh(rows .. "--delete " .. args))
    args = table.concat({ t.shq(sdir), "AUTH_test", t.shq(p.container),
                          t.shq(swt.object(p.prefix, "/many/g")), 450 }, " ")
    assert(t.sh(rows .. args))
    assert.are.equal(452, #must(d:list("/many")))
    must(d:delete("/many"))
    t.check_err("PathNotFound", { driver = "swift", path = "/many" }, d:list("/many"))
    assert.are.same({}, names(p))
  end)

  it("reads what the swift command wrote (plain and SLO) and the other way round", function()
    local d, p = create{ chunksize = MiB }
    local dir = t.tmpdir()
    local small, big = t.random_bytes(5000), t.random_bytes(3 * MiB + 11)
    t.write_file(dir .. "/small", small)
    t.write_file(dir .. "/big", big)
    local c = t.shq(p.container)
    swt.swift_ok(p, "upload " .. c .. " " .. t.shq(dir .. "/small") .. " --object-name " ..
                 t.shq(swt.object(p.prefix, "/cli/small")))
    swt.swift_ok(p, "upload " .. c .. " " .. t.shq(dir .. "/big") .. " --use-slo -S 1048576" ..
                 " --object-name " .. t.shq(swt.object(p.prefix, "/cli/big")))
    same_bytes(small, must(d:get_content("/cli/small")), "plain object of the swift command")
    same_bytes(big, must(d:get_content("/cli/big")), "SLO of the swift command")
    assert.are.equal(#big, must(d:stat("/cli/big")).size)
    assert.are.same({ "/cli/big", "/cli/small" }, must(d:list("/cli")))

    local mine = t.random_bytes(2 * MiB + 99)
    local w = must(d:writer("/cli/mine"))
    must(w:write(mine))
    must(w:commit())
    must(w:close())
    local got = dir .. "/got"
    swt.swift_ok(p, "download " .. c .. " " .. t.shq(swt.object(p.prefix, "/cli/mine")) ..
                 " -o " .. t.shq(got))
    same_bytes(mine, t.read_file(got), "our SLO downloaded by the swift command")
    -- the driver's delete removes the command's segments too (they live in
    -- <container>_segments)
    must(d:delete("/cli"))
    local left = swt.swift(p, "list " .. t.shq(p.container .. "_segments") .. " --prefix " ..
                           t.shq(swt.object(p.prefix, "/cli/big")))
    assert.are.equal("", (left:gsub("%s+", "")), "segments of the command's SLO left")
    assert.are.same({}, names(p))
    t.rmrf(dir)
  end)
end)

describe("swift bad input", function()
  it("bad credentials: a Driver error naming the status, never the password", function()
    local p = swt.params{ password = "wrong-" .. t.random_name(6) }
    clear_error("bad password", p.password, { "authentication failed", "401" },
                sd.create("swift", p))
    p = swt.params{ username = "nobody:none" }
    clear_error("unknown user", nil, { "authentication failed", "401" }, sd.create("swift", p))
  end)

  it("an auth URL that is not an auth endpoint: a clear Driver error", function()
    local base = BASE.authurl:match("^(https?://[^/]+)")
    local p = swt.params{ authurl = base .. "/healthcheck", authversion = 1 }
    clear_error("v1 on /healthcheck", "testing", { "authentication failed", "X-Auth-Token" },
                sd.create("swift", p))
    p = swt.params{ authurl = base .. "/info", authversion = 3 }
    clear_error("v3 on /info", "testing", { "authentication failed" }, sd.create("swift", p))
  end)

  it("a container that does not exist is created (as the reference does)", function()
    local name = "sd-spec-" .. t.random_name(10):lower()
    local p = swt.params{ container = name }
    local d = must(sd.create("swift", p))
    must(d:put_content("/x", "y"))
    assert.are.equal("y", must(d:get_content("/x")))
    must(d:delete("/x"))
    swt.swift(p, "delete " .. t.shq(name))
  end)

  it("a manifest whose segments went missing: reads fail clearly, nothing half visible", function()
    local d, p = create{ chunksize = MiB }
    local data = t.random_bytes(3 * MiB)
    local w = must(d:writer("/broken/blob"))
    must(w:write(data))
    must(w:commit())
    must(w:close())
    local segs = names(p, "segments/")
    assert.are.equal(3, #segs)
    swt.swift_ok(p, "delete " .. t.shq(p.container) .. " " .. t.shq(p.prefix .. "/" .. segs[2]))
    local v, err = d:get_content("/broken/blob")
    clear_error("get_content of a broken manifest", nil, { "broken/blob" }, v, err)
    local r = must(d:reader("/broken/blob", 0))
    local got, rerr = r:read("a")
    r:close()
    assert.is_nil(got, "read of a broken manifest gave " .. t.show(got and #got))
    clear_error("reader of a broken manifest", nil, {}, nil, rerr)
    -- appending to it fails at commit (Swift checks every segment) and
    -- leaves the object as it was
    w = must(d:writer("/broken/blob", true))
    must(w:write("more"))
    clear_error("commit onto missing segments", nil, {}, w:commit())
    must(w:cancel())
    must(d:delete("/broken"))
    assert.are.same({}, names(p))
  end)
end)

---------------------------------------------------------------- Keystone

-- Keystone v2.0 and v3 against spec/support/swift_identity.py, a small
-- identity server of ours (Debian's keystone 22 has no v2.0 API any more)
-- whose tokens are real tempauth tokens of the local Swift: the driver
-- authenticates there, then works on the real server.  python3-keystoneclient
-- (the swift command's --auth-version 2 and 3) is run against it first, to
-- show that it speaks the protocol.
describe("swift Keystone auth", function()
  local srv, origin

  lazy_setup(function()
    local err
    srv, err = t.start_server("spec/support/swift_identity.py",
                              table.concat({ t.shq(BASE.authurl), t.shq(BASE.username),
                                             t.shq(BASE.password) }, " "))
    assert(srv, err)
    origin = "http://127.0.0.1:" .. srv.port
  end)

  lazy_teardown(function()
    if srv then srv:stop() end
  end)

  -- A driver through the identity server: Keystone parameters over the
  -- server's container, on a fresh prefix.
  local function ks(over)
    local p = swt.params{ authurl = origin .. "/v3", username = "demo", password = "secret",
                          tenant = "demo", domain = "Default", region = "RegionOne" }
    for k, v in pairs(over or {}) do
      if v == false then p[k] = nil else p[k] = v end
    end
    return p, sd.create("swift", p)
  end

  local function last()
    local _, body = curl(origin .. "/_last")
    return require("cjson").decode(body)
  end

  local function works(d, what)
    must(d, nil, what)
    must(d:put_content("/ks/x", what))
    assert.are.equal(what, must(d:get_content("/ks/x")))
    must(d:delete("/ks"))
  end

  it("the swift command (python3-keystoneclient) authenticates there with v2 and v3", function()
    local cli = "env -u LD_PRELOAD -u PYTHONPATH -u OS_AUTH_URL -u OS_USERNAME -u OS_PASSWORD " ..
                swt.SWIFT .. " "
    local out, ok = t.sh(cli .. "--auth-version 3 -A " .. t.shq(origin .. "/v3") ..
                         " -U demo -K secret --os-project-name demo --os-project-domain-name Default" ..
                         " --os-user-domain-name Default --os-region-name RegionOne stat")
    assert(ok, out)
    assert.is_truthy(out:find("Account: AUTH_", 1, true), out)
    out, ok = t.sh(cli .. "--auth-version 2 -A " .. t.shq(origin .. "/v2.0") ..
                   " -U demo -K secret --os-tenant-name demo --os-region-name RegionOne stat")
    assert(ok, out)
    assert.is_truthy(out:find("Account: AUTH_", 1, true), out)
  end)

  it("v3 with a project by name in the user's domain (authversion from the URL)", function()
    local _, d = ks()
    works(d, "v3 project name")
    local a = last().auth
    assert.are.same({ "password" }, a.identity.methods)
    assert.are.same({ name = "demo", password = "***", domain = { name = "Default" } },
                    a.identity.password.user)
    assert.are.same({ project = { name = "demo", domain = { name = "Default" } } }, a.scope)
  end)

  it("v3 with ids: user domain, project id; and a project in another domain", function()
    local _, d = ks{ tenant = false, tenantid = "p-demo", domain = false, domainid = "default" }
    works(d, "v3 ids")
    assert.are.same({ project = { id = "p-demo" } }, last().auth.scope)
    _, d = ks{ username = "alt", domain = "other", tenant = "alt", tenantdomainid = "d-other" }
    works(d, "v3 other domain")
    assert.are.same({ project = { name = "alt", domain = { id = "d-other" } } }, last().auth.scope)
  end)

  it("v3 scoped to a trust", function()
    local _, d = ks{ tenant = false, trustid = "t-demo" }
    works(d, "v3 trust")
    assert.are.same({ ["OS-TRUST:trust"] = { id = "t-demo" } }, last().auth.scope)
  end)

  it("v2.0 with a tenant by name and by id, and the internal endpoint", function()
    local _, d = ks{ authurl = origin .. "/v2.0", domain = false }
    works(d, "v2 tenant name")
    local a = last().auth
    assert.are.equal("demo", a.tenantName)
    assert.are.same({ username = "demo", password = "***" }, a.passwordCredentials)
    _, d = ks{ authurl = origin .. "/v2.0", tenant = false, tenantid = "p-demo",
               endpointtype = "internal", authversion = 2 }
    works(d, "v2 tenant id")
    assert.are.equal("p-demo", last().auth.tenantId)
  end)

  it("renews a revoked Keystone token through the identity server", function()
    local _, d = ks()
    must(d:put_content("/ks/a", "a"))
    local mc = memcached_port()
    if not mc then
      pending("no ports.json of the local server in " .. server_dir())
      return
    end
    revoke_tokens(mc)
    assert.are.equal("a", must(d:get_content("/ks/a")))
    must(d:delete("/ks"))
  end)

  it("bad input: wrong password, no matching endpoint, an HTML answer", function()
    local p, d, err = ks{ password = "not-the-password" }
    clear_error("v3 wrong password", p.password, { "authentication failed", "401" }, d, err)
    p, d, err = ks{ authurl = origin .. "/v2.0", password = "not-the-password" }
    clear_error("v2 wrong password", p.password, { "authentication failed", "401" }, d, err)
    _, d, err = ks{ region = "RegionX" }
    clear_error("unknown region", "secret", { "no object-store endpoint", "RegionX" }, d, err)
    _, d, err = ks{ username = "nocatalog" }
    clear_error("catalog without swift", "secret", { "no object-store endpoint" }, d, err)
    _, d, err = ks{ region = "RegionTwo", maxretries = 0 }
    clear_error("an endpoint that leads nowhere", "secret", { "127.0.0.1:9" }, d, err)
    _, d, err = ks{ authurl = origin .. "/html/v3" }
    clear_error("v3 answered with HTML", "secret", { "authentication failed", "text/html" }, d, err)
    _, d, err = ks{ authurl = origin .. "/html/v1.0", authversion = 1 }
    clear_error("v1 answered with HTML", "secret", { "authentication failed", "X-Auth-Token" },
                d, err)
  end)
end)

---------------------------------------------------------------- Debian's keystone

-- The real Identity service: Debian's keystone (v3 only since Queens) with
-- sqlite on 127.0.0.1, and a second proxy of the same Swift that takes its
-- tokens (authtoken + keystoneauth), both started by
-- spec/support/swift_keystone.py.  The project's account is AUTH_<project id>.
local have_keystone = select(2, t.sh("test -x /usr/bin/keystone-manage -a -x /usr/bin/openstack"))

describe("swift with Debian's keystone (v3, sqlite)", function()
  if not have_keystone then
    it("runs against Debian's keystone", function()
      pending("the keystone package is not installed (spec/support/deps.sh --servers installs it)")
    end)
    return
  end
  local ks, work
  local script = "env -u LD_PRELOAD -u PYTHONPATH /usr/bin/python3 spec/support/swift_keystone.py "

  lazy_setup(function()
    work = t.tmpdir()
    local out, ok = t.sh(script .. "start " .. t.shq(server_dir()) .. " " .. t.shq(work .. "/ks"))
    assert(ok, "keystone did not start:\n" .. out)
    ks = {}
    for k, v in out:gmatch("(%w+)=([^\n]*)") do ks[k] = v end
  end)

  lazy_teardown(function()
    if work then
      t.sh(script .. "stop " .. t.shq(work .. "/ks"))
      t.rmrf(work)
    end
  end)

  local function params(over)
    local p = { authurl = ks.authurl, username = ks.username, password = ks.password,
                tenant = ks.tenant, domain = ks.domain, region = ks.region,
                container = "sd-keystone", prefix = RUN .. "/ks" }
    for k, v in pairs(over or {}) do
      if v == false then p[k] = nil else p[k] = v end
    end
    return p
  end

  it("authenticates with v3 (project by name), then reads, writes segments and signs TempURLs", function()
    local d = must(sd.create("swift", params{ chunksize = MiB }))
    must(d:put_content("/a", "via keystone"))
    assert.are.equal("via keystone", must(d:get_content("/a")))
    local big = t.random_bytes(2 * MiB + 1)
    local w = must(d:writer("/big"))
    must(w:write(big))
    must(w:commit())
    must(w:close())
    same_bytes(big, must(d:get_content("/big")), "large object through keystone")
    local url = must(d:redirect_url("/a"))
    assert.is_truthy(url:find(":" .. ks.proxyport .. "/v1/AUTH_", 1, true), url)
    local status, body = curl(url)
    assert.are.equal(200, status)
    assert.are.equal("via keystone", body)
    must(d:delete("/a"))
    must(d:delete("/big"))
  end)

  it("authversion 3 by parameter, the user's domain by id, the internal interface absent", function()
    local d = must(sd.create("swift", params{ authversion = 3, domain = false, domainid = "default" }))
    must(d:put_content("/b", "b"))
    must(d:delete("/b"))
    clear_error("no internal endpoint", ks.password, { "no object-store endpoint", "internal" },
                sd.create("swift", params{ endpointtype = "internal" }))
  end)

  it("a wrong password and an unknown region are clear errors", function()
    clear_error("wrong password", "not-it", { "authentication failed", "401" },
                sd.create("swift", params{ password = "not-it" }))
    clear_error("unknown region", ks.password, { "no object-store endpoint", "RegionX" },
                sd.create("swift", params{ region = "RegionX" }))
  end)
end)
