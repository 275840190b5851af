-- The local test servers of spec/support/server: NAME s3 and NAME swift, one
-- OpenStack Swift All-In-One on 127.0.0.1 (Swift API with tempauth, S3 API
-- with s3api).  Starts it (installing Debian's Swift packages if they are
-- missing), checks the printed driver parameters, talks to both APIs with
-- curl (the S3 requests signed with SigV4 by a small signer here, over
-- storagedriver.crypto), then stops it and checks nothing it started remains.
--
-- Only with SD_SERVERS=1 (it may install packages and starts servers);
-- otherwise every test is pending.  The server's state lives in a temporary
-- directory (SD_SERVER_DIR), so a server started by hand under build/servers
-- is left alone.

local t = require "sdtest"

local ENABLED = os.getenv("SD_SERVERS") == "1"
local WHY = "set SD_SERVERS=1 to run the local server tests (installs Swift)"

local function test(name, fn)
  if ENABLED then
    it(name, fn)
  else
    it(name, function() pending(WHY) end)
  end
end

local function here_root()
  local src = debug.getinfo(1, "S").source:match("^@(.*)$") or "spec/servers_spec.lua"
  local root = src:match("^(.*)/spec/[^/]*$") or "."
  return root
end

local ROOT = here_root()
local SERVER = ROOT .. "/spec/support/server"

-- Shell without the sanitizer preload (curl and Swift are not built for it).
local function sh(cmd)
  return t.sh("unset LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS; " .. cmd)
end

local state                    -- SD_SERVER_DIR of this run

local function server(name, action)
  -- stdout only: the parameters; stderr (progress, errors) to a file shown on failure
  local errf = state .. "/.stderr"
  local out, ok, rc = sh("(SD_SERVER_DIR=" .. t.shq(state) .. " " .. t.shq(SERVER) .. " " ..
                         name .. " " .. action .. " 2>" .. t.shq(errf) .. ")")
  local err = t.read_file(errf) or ""
  assert(ok, ("server %s %s failed (exit %s):\n%s%s"):format(name, action, tostring(rc), out, err))
  return out, err
end

local function parse_params(out)
  local p, order = {}, {}
  for line in out:gmatch("[^\n]+") do
    local k, v = line:match("^([%w_]+)=(.*)$")
    assert(k, "not a key=value line: " .. line)
    assert.is_nil(p[k], "key twice: " .. k)
    p[k] = v
    order[#order + 1] = k
  end
  table.sort(order)
  return p, order
end

local function keys_of(list)
  local c = {}
  for _, k in ipairs(list) do c[#c + 1] = k end
  table.sort(c)
  return c
end

---------------------------------------------------------------- curl

-- curl{ method=, url=, headers={...}, body_file= } --> status, headers (lowercase keys), body
local function curl(req)
  local tmp = t.tmpname()
  local args = { "curl", "-sS", "--noproxy", "'*'", "-o", t.shq(tmp .. ".body"),
                 "-D", t.shq(tmp .. ".hdr"), "-w", "'%{http_code}'",
                 "-X", req.method or "GET" }
  for k, v in pairs(req.headers or {}) do
    args[#args + 1] = "-H " .. t.shq(k .. ": " .. v)
  end
  if req.body_file then
    args[#args + 1] = "--data-binary @" .. t.shq(req.body_file)
    args[#args + 1] = "-H 'Content-Type:'"          -- curl adds a form type otherwise
  end
  if req.method == "HEAD" then args[#args + 1] = "-I" end
  args[#args + 1] = t.shq(req.url)
  local out, ok = sh(table.concat(args, " "))
  local hdr = t.read_file(tmp .. ".hdr") or ""
  local body = t.read_file(tmp .. ".body") or ""
  os.remove(tmp .. ".hdr")
  os.remove(tmp .. ".body")
  assert(ok, "curl failed: " .. out)
  local headers = {}
  -- only the last response's headers (after a 100 Continue there are two blocks)
  local last = hdr:gsub("\r", ""):match(".*\n(HTTP/[^\n]*\n.-)\n\n") or hdr:gsub("\r", "")
  for line in last:gmatch("[^\n]+") do
    local k, v = line:match("^([^:]+):%s*(.-)%s*$")
    if k then headers[k:lower()] = v end
  end
  return tonumber(out:match("(%d+)%s*$")), headers, body
end

---------------------------------------------------------------- SigV4

local crypto = require "storagedriver.crypto"
local hex = crypto.hex

local function sha256hex(s) return hex(crypto.sha256(s)) end
local function hmac(k, s) return crypto.hmac("sha256", k, s) end

-- Headers that sign an S3 request (path-style, no query string) with SigV4.
local function s3_sign(p, method, path, payload)
  local host = p.regionendpoint:match("^https?://([^/]+)")
  local now = os.time()
  local amzdate = os.date("!%Y%m%dT%H%M%SZ", now)
  local day = amzdate:sub(1, 8)
  local phash = sha256hex(payload or "")
  local signed = "host;x-amz-content-sha256;x-amz-date"
  local creq = table.concat({
    method, path, "",
    "host:" .. host, "x-amz-content-sha256:" .. phash, "x-amz-date:" .. amzdate, "",
    signed, phash }, "\n")
  local scope = day .. "/" .. p.region .. "/s3/aws4_request"
  local sts = "AWS4-HMAC-SHA256\n" .. amzdate .. "\n" .. scope .. "\n" .. sha256hex(creq)
  local k = hmac(hmac(hmac(hmac("AWS4" .. p.secretkey, day), p.region), "s3"), "aws4_request")
  return {
    ["x-amz-date"] = amzdate,
    ["x-amz-content-sha256"] = phash,
    ["Authorization"] = ("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s")
      :format(p.accesskey, scope, signed, hex(hmac(k, sts))),
  }
end

local function s3(p, method, key, body_file, secret)
  local path = "/" .. p.bucket .. (key and ("/" .. key) or "")
  local payload = body_file and t.read_file(body_file) or ""
  local signer = p
  if secret then
    signer = setmetatable({ secretkey = secret }, { __index = p })
  end
  return curl{ method = method, url = p.regionendpoint .. path,
               headers = s3_sign(signer, method, path, payload), body_file = body_file }
end

local function xml_code(body)
  return body:match("<Code>([^<]*)</Code>")
end

---------------------------------------------------------------- processes

local function pids_of(dir)
  local pids = {}
  for _, n in ipairs({ "memcached", "account", "container", "object", "proxy" }) do
    local s = t.read_file(dir .. "/run/" .. n .. ".pid")
    if s then pids[n] = tonumber(s:match("%d+")) end
  end
  return pids
end

local function alive(pid)
  local stat = t.read_file("/proc/" .. pid .. "/stat")
  if not stat then return false end
  local st = stat:match("%)%s+(%S)")
  return st ~= "Z" and st ~= "X"
end

-- Live processes whose command line mentions our state directory or our
-- memcached port.
local function leftovers(dir, memcached_port)
  local found = {}
  for _, line in ipairs(t.lines("ps -eo pid=,args=")) do
    local pid, args = line:match("^%s*(%d+)%s+(.*)$")
    if pid and alive(pid) and not args:find("ps -eo", 1, true) and
       (args:find(dir, 1, true) or
        (memcached_port and args:find("memcached", 1, true) and
         args:find("-p " .. memcached_port, 1, true))) then
      found[#found + 1] = line
    end
  end
  return found
end

---------------------------------------------------------------- specs

describe("spec/support/server (OpenStack Swift on 127.0.0.1)", function()
  local s3p, swp

  setup(function()
    if not ENABLED then return end
    state = t.tmpdir()
    local started = os.time()
    local out = server("s3", "start")
    s3p = parse_params(out)
    io.stderr:write(("\n[servers_spec] swift started in about %d s\n"):format(os.time() - started))
  end)

  teardown(function()
    if not ENABLED or not state then return end
    pcall(server, "s3", "stop")
    t.rmrf(state)
  end)

  test("prints the s3 driver parameters", function()
    local _, keys = parse_params(server("s3", "start"))
    assert.are.same(keys_of{ "accesskey", "secretkey", "region", "regionendpoint",
                             "bucket", "forcepathstyle", "secure" }, keys)
    assert.are.equal("us-east-1", s3p.region)
    assert.are.equal("true", s3p.forcepathstyle)
    assert.are.equal("false", s3p.secure)
    assert.matches("^http://127%.0%.0%.1:%d+$", s3p.regionendpoint)
    assert.matches("^[a-z0-9][a-z0-9.-]+[a-z0-9]$", s3p.bucket)
    assert.is_true(#s3p.accesskey > 0 and #s3p.secretkey > 0)
  end)

  test("prints the swift driver parameters, for the same running server", function()
    local out = server("swift", "start")
    local keys
    swp, keys = parse_params(out)
    assert.are.same(keys_of{ "username", "password", "authurl", "container" }, keys)
    assert.matches("^http://127%.0%.0%.1:%d+/auth/v1%.0$", swp.authurl)
    assert.are.equal(s3p.regionendpoint .. "/auth/v1.0", swp.authurl)
    assert.is_true(#swp.container > 0 and swp.container ~= s3p.bucket)
    -- start again: idempotent, same parameters, same processes
    local before = pids_of(state .. "/swift")
    assert.are.equal(out, (server("swift", "start")))
    assert.are.same(before, pids_of(state .. "/swift"))
  end)

  local function swift_auth()
    local st, h = curl{ url = swp.authurl,
                        headers = { ["X-Auth-User"] = swp.username, ["X-Auth-Key"] = swp.password } }
    assert.are.equal(200, st)
    assert.is_string(h["x-auth-token"])
    assert.matches("^http://127%.0%.0%.1:%d+/v1/AUTH_", h["x-storage-url"])
    return h["x-auth-token"], h["x-storage-url"]
  end

  test("serves the Swift API: auth v1, PUT, GET byte-equal, DELETE", function()
    local token, url = swift_auth()
    local auth = { ["X-Auth-Token"] = token }
    local data = t.all_bytes() .. t.random_bytes(100000)
    local f = t.tmpname()
    t.write_file(f, data)
    local obj = url .. "/" .. swp.container .. "/spec/" .. t.random_name(12)
    local st = curl{ method = "PUT", url = obj, headers = auth, body_file = f }
    os.remove(f)
    assert.are.equal(201, st)
    local st2, h, body = curl{ url = obj, headers = auth }
    assert.are.equal(200, st2)
    assert.are.equal(#data, tonumber(h["content-length"]))
    assert.is_true(body == data, "the object read back differs")
    assert.are.equal(204, (curl{ method = "DELETE", url = obj, headers = auth }))
    assert.are.equal(404, (curl{ url = obj, headers = auth }))
    -- a wrong key is refused
    assert.are.equal(401, (curl{ url = swp.authurl,
      headers = { ["X-Auth-User"] = swp.username, ["X-Auth-Key"] = "wrong" } }))
  end)

  test("serves the S3 API: signed PUT, GET byte-equal, DELETE; a wrong secret is refused", function()
    local data = t.random_bytes(70000) .. t.all_bytes()
    local f = t.tmpname()
    t.write_file(f, data)
    local key = "spec/" .. t.random_name(12)
    local st, _, body = s3(s3p, "PUT", key, f)
    assert.are.equal(200, st, body)

    -- the same object through the Swift API: one server behind both
    local token, url = swift_auth()
    local st1, _, sbody = curl{ url = url .. "/" .. s3p.bucket .. "/" .. key,
                                headers = { ["X-Auth-Token"] = token } }
    assert.are.equal(200, st1)
    assert.is_true(sbody == data, "the object read through the Swift API differs")

    local st2, h, got = s3(s3p, "GET", key)
    assert.are.equal(200, st2, got)
    assert.are.equal(#data, tonumber(h["content-length"]))
    assert.is_true(got == data, "the object read back differs")

    -- a wrong secret: an S3 XML error from s3api, nothing written
    local st3, _, bad = s3(s3p, "PUT", key .. "-bad", f, "not-the-secret")
    os.remove(f)
    assert.are.equal(403, st3)
    assert.are.equal("SignatureDoesNotMatch", xml_code(bad))
    local st4, _, nf = s3(s3p, "GET", key .. "-bad")
    assert.are.equal(404, st4)
    assert.are.equal("NoSuchKey", xml_code(nf))

    assert.are.equal(204, (s3(s3p, "DELETE", key)))
    local st5, _, gone = s3(s3p, "GET", key)
    assert.are.equal(404, st5)
    assert.are.equal("NoSuchKey", xml_code(gone))

    -- the bucket exists and lists
    local st6, _, list = s3(s3p, "GET", nil)
    assert.are.equal(200, st6, list)
    assert.matches("<ListBucketResult", list, 1, true)
  end)

  test("stop leaves no process behind; start after stop works", function()
    local dir = state .. "/swift"
    local ports = t.read_file(dir .. "/ports.json") or ""
    local mport = ports:match('"memcached":%s*(%d+)')
    local pids = pids_of(dir)
    local n = 0
    for _, pid in pairs(pids) do
      n = n + 1
      assert.is_true(alive(pid))
    end
    assert.are.equal(5, n)
    server("s3", "stop")
    for name, pid in pairs(pids) do
      assert.is_false(alive(pid), name .. " (pid " .. pid .. ") still runs")
    end
    assert.are.same({}, leftovers(dir, mport))
    -- stop when stopped: fine
    server("swift", "stop")

    -- again: start, answer, stop
    local p = parse_params(server("swift", "start"))
    swp = p
    local token = swift_auth()
    assert.is_string(token)
    local pids2 = pids_of(dir)
    server("swift", "stop")
    for name, pid in pairs(pids2) do
      assert.is_false(alive(pid), name .. " (pid " .. pid .. ") still runs")
    end
    local ports2 = t.read_file(dir .. "/ports.json") or ""
    assert.are.same({}, leftovers(dir, ports2:match('"memcached":%s*(%d+)')))
  end)
end)
