-- The cost of Lua middlewares (README "Benchmarks"): PutGet1KB (put_content
-- then get_content of 1 KiB) and Stat, on inmemory and, for scale, on
-- filesystem (sync=false), behind
--   passthrough (none)  a middleware that overrides nothing,
--   passthrough (all)   one overriding every method with a Lua function that
--                       calls the inner driver,
--   metrics             the shipped one (its own registry),
--   log                 the shipped one, with a sink that discards the record,
--   log+json            the same, the sink encoding the record to JSON,
--   limit               the shipped one, with a rate never reached,
--   readonly            the shipped one (writes refused: Stat only),
-- each as the ratio of its time to the bare driver's in the same run.
-- Blocks of K operations are timed with the monotonic clock (core.now); the
-- configurations take turns block by block, so that drift hits all alike;
-- a figure is the median over its configuration's blocks.
--
--   LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/lua54/?.so;;' lua5.4 bench/middleware.lua
--   LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/luajit/?.so;;' luajit bench/middleware.lua
--   SD_BENCH_QUICK=1   fewer blocks
local sd = require "storagedriver"
local core = require "storagedriver.core"
local metrics = require "storagedriver.middleware.metrics"
local log_mw = require "storagedriver.middleware.log"

local now = core.now
local quick = os.getenv("SD_BENCH_QUICK") == "1"
local K -- operations per block (set by run)

sd.middleware.register("bench_none", function() return {} end)
sd.middleware.register("bench_all", function(inner)
  local m = {}
  for _, op in ipairs({ "get_content", "put_content", "reader", "writer", "stat", "list",
                        "move", "delete", "redirect_url", "walk" }) do
    local f = inner[op]
    m[op] = function(_, a, b, c) return f(inner, a, b, c) end
  end
  return m
end)

local function discard() end
local function json_discard(rec) log_mw.format_json(rec) end

local function all_configs()
  return {
    { label = "bare", wrap = {} },
    { label = "passthrough (none)", wrap = { { "bench_none" } } },
    { label = "passthrough (all)", wrap = { { "bench_all" } } },
    { label = "metrics", wrap = { { "metrics", { registry = metrics.new_registry() } } } },
    { label = "log", wrap = { { "log", { sink = discard } } } },
    { label = "log+json", wrap = { { "log", { sink = json_discard } } } },
    { label = "limit", wrap = { { "limit", { rate = 1e12 } } } },
    { label = "readonly", wrap = { { "readonly", {} } }, reads_only = true },
  }
end

local payload = string.rep("k", 1024)
local paths = {}
for i = 1, 1000 do paths[i] = string.format("/bench/%04d/abcdefghij/klmnopqrst", i) end
local STAT_PATH = "/stat/abcdefghij/klmnopqrst/file"

-- One timed block of each shape; µs per operation (PutGet: per pair).
local function putget_block(d)
  local t0 = now()
  for i = 1, K do
    local p = paths[i]
    d:put_content(p, payload)
    d:get_content(p)
  end
  return (now() - t0) / K * 1e6
end

local function stat_block(d)
  local t0 = now()
  for _ = 1, K do d:stat(STAT_PATH) end
  return (now() - t0) / K * 1e6
end

local function median(xs)
  local s = {}
  for i = 1, #xs do s[i] = xs[i] end
  table.sort(s)
  local n = #s
  if n % 2 == 1 then return s[(n + 1) / 2] end
  return (s[n / 2] + s[n / 2 + 1]) / 2
end

-- Runs every configuration over a store of its own made by make_inner(),
-- in `blocks` blocks of `k` operations.
local function run(store, make_inner, blocks, k)
  K = k
  local configs = all_configs()
  for _, c in ipairs(configs) do
    local inner = make_inner()
    assert(inner:put_content(STAT_PATH, payload)) -- before readonly is put in front
    local d = inner
    for _, w in ipairs(c.wrap) do d = assert(sd.wrap(d, w[1], w[2])) end
    c.d, c.inner = d, inner
    c.times = { PutGet1KB = {}, Stat = {} }
    -- Sanity: every configuration does what it should.
    assert(d:stat(STAT_PATH).size == #payload)
    if c.reads_only then
      assert(d:put_content(paths[1], payload) == nil, c.label .. " must refuse writes")
    else
      assert(d:put_content(paths[1], payload))
      assert(d:get_content(paths[1]) == payload)
      assert(d:delete("/bench"))
    end
  end
  -- Warm up (and, under LuaJIT, let the traces form).
  for _ = 1, 5 do
    for _, c in ipairs(configs) do
      local w = c.reads_only and c.inner or c.d
      putget_block(w)
      assert(w:delete("/bench"))
      stat_block(c.d)
    end
  end
  for _ = 1, blocks do
    for _, c in ipairs(configs) do
      if not c.reads_only then
        local tp = c.times.PutGet1KB
        tp[#tp + 1] = putget_block(c.d)
        assert(c.d:delete("/bench")) -- untimed: the next block writes fresh paths
      else
        -- Untimed, on the store behind readonly: every store goes through
        -- the same history (a filesystem's Stat depends on it).
        putget_block(c.inner)
        assert(c.inner:delete("/bench"))
      end
      local ts = c.times.Stat
      ts[#ts + 1] = stat_block(c.d)
    end
  end

  print(string.format("\n%s (median of %d blocks of %d operations)", store, blocks, K))
  print(string.format("%-20s %13s %7s %9s %7s", "", "PutGet1KB µs", "ratio", "Stat µs", "ratio"))
  local bput, bstat = median(configs[1].times.PutGet1KB), median(configs[1].times.Stat)
  for _, c in ipairs(configs) do
    local put = #c.times.PutGet1KB > 0 and median(c.times.PutGet1KB) or nil
    local st = median(c.times.Stat)
    print(string.format("%-20s %13s %7s %9.3f %7.2f", c.label,
                        put and string.format("%.3f", put) or "-",
                        put and string.format("%.2f", put / bput) or "-", st, st / bstat))
  end
end

print("Lua middleware cost, " .. (type(jit) == "table" and jit.version or _VERSION)
      .. " (ratio: time / the bare driver's time)")

run("inmemory", function() return assert(sd.create("inmemory", {})) end, quick and 41 or 301, 200)

local tmp = os.tmpname()
os.remove(tmp)
local roots = {}
local ok, err = pcall(run, "filesystem, sync=false", function()
  local root = tmp .. ".mwbench" .. (#roots + 1)
  roots[#roots + 1] = root
  return assert(sd.create("filesystem", { rootdirectory = root, sync = false }))
end, quick and 7 or 31, 20) -- creating a file costs ~1 ms on some disks: fewer, smaller blocks
for _, root in ipairs(roots) do os.execute("rm -rf '" .. root .. "'") end
if not ok then error(err, 0) end
