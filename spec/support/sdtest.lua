-- Helpers shared by the specs: random data and paths, temporary directories,
-- shell access, and checks on storagedriver error objects.
-- Written for Lua 5.4 and LuaJIT (5.1 syntax: no integer division, no bit
-- operators, no string.pack).

local M = {}

local unpack = table.unpack or unpack

M.KiB = 1024
M.MiB = 1024 * 1024
M.GiB = 1024 * 1024 * 1024

math.randomseed(os.time() + math.floor((os.clock() * 1e6) % 1e6))

---------------------------------------------------------------- shell

-- Quote s for /bin/sh.
function M.shq(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Runs cmd, returns its stdout (stderr is merged in) and whether it exited 0.
function M.sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1; echo \"__rc=$?\""))
  local out = p:read("*a")
  p:close()
  local rc = tonumber(out:match("__rc=(%d+)%s*$"))
  out = out:gsub("__rc=%d+%s*$", "")
  return out, rc == 0, rc
end

-- A program built by `make` into the build directory (build-san under
-- `make sanitize`, whose SD_BUILD says so): its path, or an error naming it.
function M.built(name)
  for _, b in ipairs({ os.getenv("SD_BUILD") or "build", "build" }) do
    local path = b .. "/" .. name
    local _, ok = M.sh("test -x " .. M.shq(path))
    if ok then return path end
  end
  error("build/" .. name .. " is missing: run `make` first", 0)
end

-- Lines of cmd's output, as an array.
function M.lines(cmd)
  local out = M.sh(cmd)
  local t = {}
  for l in out:gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

function M.sleep(seconds)
  -- os.execute returns true (5.4) or 0 (5.1) on success.
  local r = os.execute("sleep " .. tostring(seconds))
  assert(r == true or r == 0, "sleep failed")
end

-- A fresh, empty directory; returns its absolute path.
function M.tmpdir()
  local name = os.tmpname()      -- creates a file (mkstemp): replace it by a dir
  os.remove(name)
  local dir = name .. ".sdspec"
  local _, ok = M.sh("mkdir -p " .. M.shq(dir))
  assert(ok, "cannot create " .. dir)
  return dir
end

-- A path under /tmp that does not exist yet.
function M.tmpname()
  local name = os.tmpname()
  os.remove(name)
  return name
end

function M.rmrf(path)
  if path and path ~= "" and path ~= "/" then
    M.sh("rm -rf " .. M.shq(path))
  end
end

function M.exists(path)
  local _, ok = M.sh("test -e " .. M.shq(path))
  return ok
end

function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

function M.write_file(path, data)
  local f = assert(io.open(path, "wb"))
  assert(f:write(data))
  f:close()
end

---------------------------------------------------------------- test servers

local server_mt = { __index = {} }

-- Stops the server (by its pid) and removes its directory.  It is gone
-- once it no longer runs or is a zombie (its parent shell is gone: whoever
-- adopted it reaps it in its own time).
function server_mt.__index.stop(srv)
  if srv.pid then
    local p = tostring(srv.pid)
    M.sh("kill " .. p .. " 2>/dev/null; for i in $(seq 40); do " ..
         "kill -0 " .. p .. " 2>/dev/null || break; " ..
         "grep -q '^State:.*Z' /proc/" .. p .. "/status 2>/dev/null && break; sleep 0.05; done")
    srv.pid = nil
  end
  M.rmrf(srv.dir)
end

-- Starts one of the Python test servers of spec/support: script, then its
-- arguments (already quoted for the shell).  It prints the port it listens
-- on, alone on its first line.  Returns { pid =, port = "N", dir = } with
-- :stop(), or nil and why.  Python runs without the sanitizer preload.
function M.start_server(script, args)
  local dir = M.tmpdir()
  local p = assert(io.popen("env -u LD_PRELOAD /usr/bin/python3 " .. M.shq(script) .. " " ..
                            (args or "") .. " > " .. M.shq(dir .. "/port") .. " 2> " ..
                            M.shq(dir .. "/err") .. " & echo $!"))
  local srv = setmetatable({ pid = tonumber(p:read("*l")), dir = dir }, server_mt)
  p:close()
  for _ = 1, 200 do
    srv.port = (M.read_file(dir .. "/port") or ""):match("^(%d+)\n")
    if srv.port then return srv end
    M.sh("sleep 0.05")
  end
  local why = script .. " printed no port: " .. (M.read_file(dir .. "/err") or "")
  srv:stop()
  return nil, why
end

-- A self-signed certificate for 127.0.0.1 (subjectAltName IP:127.0.0.1),
-- made by openssl in dir: returns the paths of the certificate and its key.
-- An EC P-256 key: made at once, where an RSA key takes up to seconds.
function M.self_signed(dir)
  local cert, key = dir .. "/cert.pem", dir .. "/key.pem"
  local out, ok = M.sh("env -u LD_PRELOAD openssl req -x509 -newkey ec -pkeyopt " ..
                       "ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 " ..
                       "-addext subjectAltName=IP:127.0.0.1 -keyout " .. M.shq(key) ..
                       " -out " .. M.shq(cert))
  assert(ok, "openssl could not make a certificate: " .. out)
  return cert, key
end

---------------------------------------------------------------- data

-- n random bytes, fast enough for a few KiB at a time.
local function raw_random(n)
  local out, t = {}, {}
  local left = n
  while left > 0 do
    local k = left < 4096 and left or 4096
    for i = 1, k do t[i] = math.random(0, 255) end
    out[#out + 1] = string.char(unpack(t, 1, k))
    left = left - k
  end
  return table.concat(out)
end

local pool            -- 1 MiB + 64 KiB of random bytes, sliced for big payloads
local function get_pool()
  if not pool then pool = raw_random(M.MiB + 64 * M.KiB) end
  return pool
end

-- n random-looking bytes.  Large payloads are assembled from random slices of
-- a random pool (as the reference slices a big random buffer), which keeps
-- generation cheap; every 64 KiB slice starts at a fresh random offset.
function M.random_bytes(n)
  if n <= 64 * M.KiB then return raw_random(n) end
  local p, parts, left = get_pool(), {}, n
  while left > 0 do
    local k = left < 64 * M.KiB and left or 64 * M.KiB
    local off = math.random(1, #p - k + 1)
    parts[#parts + 1] = p:sub(off, off + k - 1)
    left = left - k
  end
  return table.concat(parts)
end

-- Every byte value 0..255, three times, in three orders.
function M.all_bytes()
  local t = {}
  for i = 0, 255 do t[#t + 1] = string.char(i) end
  for i = 255, 0, -1 do t[#t + 1] = string.char(i) end
  for i = 0, 255 do t[#t + 1] = string.char((i * 7 + 3) % 256) end
  return table.concat(t)
end

-- A deterministic stream of chunks: chunk i (1-based) of chunk_size bytes.
-- Each chunk is a slice of the pool at an offset derived from i, prefixed by
-- its index, so a misplaced, repeated or dropped chunk changes the stream.
function M.chunk(i, chunk_size)
  local p = get_pool()
  local maxoff = #p - chunk_size
  assert(maxoff >= 0, "chunk too big for the pool")
  local off = (i * 7919) % (maxoff + 1) + 1
  local head = string.format("%016x", i)
  return head .. p:sub(off + #head, off + chunk_size - 1)
end

-- A cheap rolling checksum (sampled bytes and lengths) over a sequence of
-- strings; feed() it the pieces, value() the result.  Not cryptographic: the
-- specs also compare the bytes themselves.
function M.checksum()
  local sum, total = 7, 0
  local self = {}
  function self.feed(s)
    local n = #s
    local step = n > 64 and math.floor(n / 64) or 1
    for k = 1, n, step do
      sum = (sum * 31 + s:byte(k) + 1) % 4294967291
    end
    sum = (sum * 131 + n % 65521) % 4294967291
    total = total + n
  end
  function self.value() return sum, total end
  return self
end

---------------------------------------------------------------- paths

local alnum = "abcdefghijklmnopqrstuvwxyz0123456789"

local function rand_alnum(n)
  local t = {}
  for i = 1, n do
    local k = math.random(1, #alnum)
    t[i] = alnum:sub(k, k)
  end
  return table.concat(t)
end
M.random_name = rand_alnum

-- A random "/"-separated path of total length n (like the reference's
-- randomPath): components of [a-z0-9] with an isolated "-" now and then.
function M.random_path(n)
  local parts, len = {}, 0
  while len < n do
    local left = n - len - 1                 -- room after the "/"
    if left < 1 then break end
    local clen = math.random(1, 12)
    if clen > left then clen = left end
    local c = rand_alnum(clen)
    if clen >= 3 and math.random() < 0.3 then
      local at = math.random(2, clen - 1)
      c = c:sub(1, at - 1) .. "-" .. c:sub(at + 1)
    end
    parts[#parts + 1] = c
    len = len + 1 + clen
  end
  if #parts == 0 then parts[1] = rand_alnum(1) end
  return "/" .. table.concat(parts, "/")
end

-- "/" followed by the first component of p.
function M.first_part(p)
  return (p:match("^(/[^/]+)")) or p
end

function M.sorted(t)
  local c = {}
  for i, v in ipairs(t) do c[i] = v end
  table.sort(c)
  return c
end

---------------------------------------------------------------- errors

local error_text = {
  PathNotFound = function(e) return e.driver .. ": Path not found: " .. e.path end,
  InvalidPath = function(e) return e.driver .. ": invalid path: " .. e.path end,
  InvalidOffset = function(e)
    return e.driver .. ": invalid offset: " .. string.format("%d", e.offset) .. " for path: " .. e.path
  end,
  UnsupportedMethod = function(e) return e.driver .. ": unsupported method" end,
  InvalidDriver = function(e) return "StorageDriver not registered: " .. e.name end,
  InvalidParameter = function(e)
    return e.driver .. ": invalid parameter " .. e.parameter .. ": " .. e.detail
  end,
  Driver = function(e) return e.driver .. ": " .. e.detail end,
}

-- The text DESIGN.md fixes for an error with these fields.
function M.error_text(kind, fields)
  return error_text[kind](fields)
end

-- Describes v for assertion messages.
function M.show(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "table" then
    local ok, s = pcall(tostring, v)
    local kind = rawget(v, "kind")
    if kind then return "error{" .. tostring(kind) .. "} " .. (ok and s or "?") end
  end
  return tostring(v)
end

-- Asserts that (v, err) is a failure of the given kind: v is nil, err an
-- sd error object with err.kind == kind, every field in `fields` equal, and
-- tostring(err) the exact text for those fields.  Returns err.
function M.check_err(kind, fields, v, err, ...)
  local assert = require "luassert"
  local what = select("#", ...) > 0 and (" (" .. tostring((...)) .. ")") or ""
  assert.is_nil(v, "expected a failure" .. what .. ", got " .. M.show(v))
  assert.is_table(err, "expected an error object" .. what .. ", got " .. M.show(err))
  assert.are.equal(kind, err.kind, "error kind" .. what .. ": " .. M.show(err))
  local merged = {}
  for k, val in pairs(fields or {}) do
    merged[k] = val
    assert.are.equal(val, err[k], "err." .. k .. what .. ": " .. M.show(err))
  end
  for _, k in ipairs({ "driver", "path", "offset", "name", "parameter", "detail" }) do
    if merged[k] == nil then merged[k] = err[k] end
  end
  local ok, expected = pcall(M.error_text, kind, merged)
  assert.is_true(ok, "error lacks the fields its text needs" .. what .. ": " .. M.show(err))
  assert.are.equal(expected, tostring(err), "tostring(err)" .. what)
  return err
end

-- The message of an error raised by f(...), or fails if f did not raise.
function M.raises(f, ...)
  local assert = require "luassert"
  local ok, msg = pcall(f, ...)
  assert.is_false(ok, "expected an error to be raised")
  return msg
end

return M
