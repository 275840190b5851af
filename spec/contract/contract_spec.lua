-- The conformance suite (reference/drivers.md §11 and ours), run over every
-- driver of the matrix.  The cases themselves are in spec/contract/cases.lua.
--
-- Environment (see spec/run.sh):
--   SD_DRIVER   run the suite over this driver only (unset: the default
--               matrix inmemory, filesystem with sync=false and sync=true on
--               a fresh temporary rootdirectory, and the Lua driver luamem)
--   SD_PARAMS   its parameters: key=value pairs separated by newlines, spaces
--               or commas (the output of `spec/support/server NAME start`)
--   SD_REQUIRE  a Lua module required first (it may sd.register a driver)
--   SD_CAPS     capabilities of SD_DRIVER, same format, overriding the
--               defaults below: atomic_writer=true|false, walk_order=depth|key,
--               append_chunk=<bytes>
--   SD_LARGE_SIZE  bytes of the #large stream test (default 5 GiB)
--   SD_WRAP     middlewares to put in front of every driver of the run, in
--               order (innermost first), comma-separated, each with empty
--               options: e.g. SD_WRAP=metrics,log
--   SD_S3_PARAMS  (default matrix only) the parameters of a local S3 server,
--               as `spec/support/server s3 start` prints them (make test sets
--               it, see spec/support/with-servers.sh): adds "s3" to the
--               matrix, on a fresh rootdirectory per run; unset, the s3 entry
--               is pending
--   SD_AZURE_PARAMS  (default matrix only) the same for the local azurite
--               (`spec/support/server azure start`): adds "azure"
--   SD_SWIFT_PARAMS  (default matrix only) the same for the swift driver and
--               the local OpenStack Swift (`spec/support/server swift start`):
--               adds "swift", on a fresh prefix per run

local sd = require "storagedriver"
local t = require "sdtest"
local s3t = require "s3test"
local azt = require "aztest"
local swt = require "swifttest"
local cases = require "contract.cases"

local T = {
  describe = describe, it = it, pending = pending,
  before_each = before_each, after_each = after_each,
  lazy_setup = lazy_setup, lazy_teardown = lazy_teardown,
}

local function getenv(k)
  local v = os.getenv(k)
  if v == nil or v == "" then return nil end
  return v
end

-- "a=1 b=2,c=3\nd=4" -> { a = "1", b = "2", c = "3", d = "4" }
local function parse_pairs(s)
  local out = {}
  for item in (s or ""):gmatch("[^%s,]+") do
    local k, v = item:match("^([^=]+)=(.*)$")
    assert(k, "bad key=value item: " .. item)
    out[k] = v
  end
  return out
end

-- What a driver guarantees beyond the reference contract.  Ours keep
-- uploads invisible until commit; a backend we do not know is not assumed to.
local known_caps = {
  inmemory = { atomic_writer = true },
  filesystem = { atomic_writer = true },
  luamem = { atomic_writer = true },
  -- multipart uploads are invisible until CompleteMultipartUpload; the walk
  -- lists flat, so it follows key order; Last-Modified has whole seconds
  s3 = { atomic_writer = true, walk_order = "key", mtime_resolution = 1 },
  s3aws = { atomic_writer = true, walk_order = "key", mtime_resolution = 1 },
  -- Last-Modified has whole seconds; closed uploads are committed blobs
  azure = { append_chunk = 4 * t.MiB, mtime_resolution = 1 },
  -- uploads are segments plus an SLO manifest written at commit; the walk
  -- lists flat (key order)
  swift = { atomic_writer = true, walk_order = "key" },
}

local function caps_for(name, overrides)
  local c = {}
  for k, v in pairs(known_caps[name] or {}) do c[k] = v end
  for k, v in pairs(overrides or {}) do
    if v == "true" then v = true elseif v == "false" then v = false
    elseif tonumber(v) then v = tonumber(v) end
    c[k] = v
  end
  return c
end

if getenv("SD_REQUIRE") then require(getenv("SD_REQUIRE")) end

local matrix = {}
local env_driver = getenv("SD_DRIVER")

if env_driver then
  local params = parse_pairs(getenv("SD_PARAMS"))
  matrix[1] = {
    label = env_driver,
    caps = caps_for(env_driver, parse_pairs(getenv("SD_CAPS"))),
    create = function() return sd.create(env_driver, params) end,
  }
else
  require "luamem"
  matrix[#matrix + 1] = {
    label = "inmemory",
    caps = caps_for("inmemory"),
    create = function() return sd.create("inmemory", {}) end,
  }
  for _, sync in ipairs({ false, true }) do
    local root
    matrix[#matrix + 1] = {
      label = sync and "filesystem (sync=true)" or "filesystem",
      caps = caps_for("filesystem"),
      create = function()
        root = t.tmpdir()
        return sd.create("filesystem", { rootdirectory = root, sync = sync })
      end,
      destroy = function() t.rmrf(root) end,
    }
  end
  matrix[#matrix + 1] = {
    label = "luamem",
    caps = caps_for("luamem"),
    create = function() return sd.create("luamem", {}) end,
  }
  matrix[#matrix + 1] = {
    label = "migrate (new=inmemory, old=luamem)",
    caps = { atomic_writer = true },
    create = function() return sd.create("migrate", { new = "inmemory", old = "luamem" }) end,
  }
  -- s3 on the local server of `make test`.  Each run (Lua 5.4, LuaJIT, and
  -- every repeat against a server started by hand) works under a
  -- rootdirectory of its own, so none sees another's objects.
  if s3t.base_params() and s3t.registered("s3") then
    local p
    matrix[#matrix + 1] = {
      label = "s3 (" .. tostring(s3t.base_params().regionendpoint) .. ")",
      caps = caps_for("s3"),
      create = function()
        p = s3t.params()
        return sd.create("s3", p)
      end,
      -- the cases leave nothing behind; this only matters after a failure
      destroy = function() s3t.wipe(p) end,
    }
  elseif s3t.base_params() then
    describe("conformance s3", function()
      it("needs the s3 driver", function() error(s3t.unregistered_why("s3"), 0) end)
    end)
  else
    describe("conformance s3", function()
      it("runs against a local S3 server", function() pending(s3t.WHY) end)
    end)
  end
  -- azure on the local azurite of `make test`, a fresh rootdirectory per run.
  if azt.base_params() and azt.registered() then
    local p
    matrix[#matrix + 1] = {
      label = "azure (" .. tostring(azt.base_params().serviceurl) .. ")",
      caps = caps_for("azure"),
      create = function()
        p = azt.params()
        return sd.create("azure", p)
      end,
      destroy = function() azt.wipe(p) end,
    }
  else
    describe("conformance azure", function()
      it("runs against a local azurite", function()
        if azt.base_params() then error("SD_AZURE_PARAMS is set but no driver azure is registered", 0) end
        pending(azt.WHY)
      end)
    end)
  end
  if swt.base_params() and s3t.registered("swift") then
    local p
    matrix[#matrix + 1] = {
      label = "swift (" .. tostring(swt.base_params().authurl) .. ")",
      caps = caps_for("swift"),
      create = function()
        p = swt.params()
        return sd.create("swift", p)
      end,
      destroy = function() swt.wipe(p) end,
    }
  elseif swt.base_params() then
    describe("conformance swift", function()
      it("needs the swift driver", function() error(swt.unregistered_why(), 0) end)
    end)
  else
    describe("conformance swift", function()
      it("runs against a local Swift server", function() pending(swt.WHY) end)
    end)
  end
end

-- SD_WRAP: the same matrix behind a stack of middlewares.
if getenv("SD_WRAP") then
  for _, entry in ipairs(matrix) do
    local create = entry.create
    entry.label = entry.label .. " behind " .. getenv("SD_WRAP")
    entry.create = function()
      local d, err = create()
      if not d then return nil, err end
      for name in getenv("SD_WRAP"):gmatch("[^,%s]+") do
        d, err = sd.wrap(d, name, {})
        if not d then return nil, err end
      end
      return d
    end
  end
end

for _, entry in ipairs(matrix) do
  describe("conformance " .. entry.label, function()
    cases(T, entry)
  end)
end

-- sd.copy streams between two drivers: inmemory -> the driver under test
-- (filesystem by default) -> luamem.
describe("sd.copy between drivers", function()
  local a, b, c, broot
  local created = {}

  lazy_setup(function()
    require "luamem"
    a = assert(sd.create("inmemory", {}))
    if env_driver then
      b = assert(sd.create(env_driver, parse_pairs(getenv("SD_PARAMS"))))
    else
      broot = t.tmpdir()
      b = assert(sd.create("filesystem", { rootdirectory = broot }))
    end
    c = assert(sd.create("luamem", {}))
  end)

  lazy_teardown(function()
    t.rmrf(broot)
  end)

  after_each(function()
    for _, x in ipairs(created) do x[1]:delete(x[2]) end
    created = {}
    for _, drv in ipairs({ a, b, c }) do
      assert.are.same({}, drv:list("/"), drv:name() .. " did not clean up")
    end
  end)

  local function track(drv, p)
    created[#created + 1] = { drv, t.first_part(p) }
    return p
  end

  it("copies 3 MiB along inmemory -> " .. (env_driver or "filesystem") .. " -> luamem", function()
    local data = t.random_bytes(3 * t.MiB + 17)
    local p1, p2, p3 = track(a, t.random_path(24)), track(b, t.random_path(24)), track(c, t.random_path(24))
    assert.is_true(a:put_content(p1, data))

    local ok, n = sd.copy(a, p1, b, p2)
    assert.is_true(ok, tostring(n))
    assert.are.equal(#data, n)
    assert.is_true(b:get_content(p2) == data, "content differs after the first copy")

    ok, n = sd.copy(b, p2, c, p3)
    assert.is_true(ok, tostring(n))
    assert.are.equal(#data, n)
    assert.is_true(c:get_content(p3) == data, "content differs after the second copy")

    -- And back into the first driver, over an existing file.
    ok, n = sd.copy(c, p3, a, p1)
    assert.is_true(ok, tostring(n))
    assert.is_true(a:get_content(p1) == data)
    assert.are.equal(#data, a:stat(p1).size)
  end)

  it("copies an empty file", function()
    local p = track(a, "/" .. t.random_name(10))
    track(c, p)
    assert.is_true(a:put_content(p, ""))
    local ok, n = sd.copy(a, p, c, p)
    assert.is_true(ok, tostring(n))
    assert.are.equal(0, n)
    assert.are.equal("", c:get_content(p))
  end)

  it("a missing source is PathNotFound and creates nothing", function()
    local p = "/" .. t.random_name(12)
    t.check_err("PathNotFound", { driver = "inmemory", path = p }, sd.copy(a, p, c, p))
    t.check_err("PathNotFound", { driver = "luamem", path = p }, c:get_content(p))
  end)
end)
