-- `make bench`: the reference's benchmark shapes (BenchDriver in the registry's
-- test suite) through the Lua API, for inmemory and filesystem, with the
-- median µs/op, MB/s, and ratios against the reference Go figures and against
-- a plain C loop doing the filesystem's system calls, run by this same script.
local sd = require "storagedriver"
local clock = require "benchclock"

local BUILD = os.getenv("SD_BUILD") or "build"
local quick = os.getenv("SD_BENCH_QUICK") == "1"

math.randomseed(42)
local alnum = "abcdefghijklmnopqrstuvwxyz0123456789"
local function rand_name(n)
  local t = {}
  for i = 1, n do
    local k = math.random(#alnum)
    t[i] = alnum:sub(k, k)
  end
  return table.concat(t)
end
-- A path of 32 characters below parent, like the reference's randomPath(32).
local function random_path(parent)
  return parent .. "/" .. rand_name(10) .. "/" .. rand_name(10) .. "/" .. rand_name(10)
end

local function median(xs)
  table.sort(xs)
  local n = #xs
  if n % 2 == 1 then return xs[(n + 1) / 2] end
  return (xs[n / 2] + xs[n / 2 + 1]) / 2
end

-- Runs body(i) `iters` times (setup(i) untimed before each), returns median µs.
local function measure(iters, body, setup)
  local times = {}
  for i = 1, iters do
    if setup then setup(i) end
    local t0 = clock.now()
    body(i)
    times[i] = (clock.now() - t0) * 1e6
  end
  return median(times)
end

local KB, MB = 1024, 1024 * 1024
local payload = { [0] = "", [KB] = string.rep("k", KB), [MB] = string.rep("m", MB) }

-- One PutGet or Stream shape: n iterations on fresh random paths below top.
local function putget_or_stream(d, kind, size, n, top)
  local us, p
  local function next_path() p = random_path(top) end -- untimed
  if kind == "PutGet" then
    us = measure(n, function()
      assert(d:put_content(p, payload[size]))
      assert(#assert(d:get_content(p)) == size)
    end, next_path)
  else
    us = measure(n, function()
      local w = assert(d:writer(p))
      if size > 0 then assert(w:write(payload[size])) end
      assert(w:commit())
      assert(w:close())
      assert(d:reader(p, 0)):close()
    end, next_path)
  end
  assert(d:delete(top))
  return us
end

local size_label = { [0] = "Empty", [KB] = "1KB", [MB] = "1MB" }

local function shapes(d, iters)
  local out = {}
  local top = "/bench" .. rand_name(6)
  for _, size in ipairs({ 0, KB, MB }) do
    local n = size == MB and math.max(iters // 4, 20) or iters
    for _, kind in ipairs({ "PutGet", "Stream" }) do
      out[kind .. size_label[size]] = { us = putget_or_stream(d, kind, size, n, top), size = size }
    end
  end
  for _, count in ipairs({ 5, 50 }) do
    local parent = top .. "/list" .. count
    for i = 1, count do assert(d:put_content(parent .. "/" .. rand_name(12) .. i, "")) end
    out["List" .. count] = { us = measure(iters, function()
      assert(#assert(d:list(parent)) == count)
    end) }
    assert(d:delete(top))
    local victim
    out["Delete" .. count] = { us = measure(math.max(iters // 4, 20), function()
      assert(d:delete(victim))
    end, function(i)
      victim = top .. "/del" .. i
      for j = 1, count do assert(d:put_content(victim .. "/" .. rand_name(12) .. j, "")) end
    end) }
    if d:stat(top) then assert(d:delete(top)) end
  end
  return out
end

-- The reference Go drivers on this kind of machine (µs/op, median), from the issue.
local reference = {
  inmemory = { PutGet1KB = 55, Stream1KB = 40, List50 = 18, Delete50 = 85 },
  ["filesystem sync=true"] = { PutGet1KB = 2000, Stream1MB = 4900, Delete50 = 36700 },
}

local order = { "PutGetEmpty", "PutGet1KB", "PutGet1MB", "StreamEmpty", "Stream1KB",
                "Stream1MB", "List5", "List50", "Delete5", "Delete50" }

local function report(label, res)
  print(string.format("\n%s", label))
  print(string.format("  %-12s %12s %10s %14s %12s", "benchmark", "µs/op", "MB/s", "reference µs", "speed-up"))
  local ref = reference[label] or {}
  for _, k in ipairs(order) do
    local r = res[k]
    local mbs = (r.size and r.size > 0) and string.format("%10.1f", r.size / r.us) or string.format("%10s", "-")
    local refs, ratio = "-", "-"
    if ref[k] then
      refs = tostring(ref[k])
      ratio = string.format("%.1fx", ref[k] / r.us)
    end
    print(string.format("  %-12s %12.1f %s %14s %12s", k, r.us, mbs, refs, ratio))
  end
end

local tmp = os.getenv("SD_BENCH_DIR") or "./bench-data"
os.execute("rm -rf '" .. tmp .. "' && mkdir -p '" .. tmp .. "'")
local iters = quick and 50 or 400
local configs = {
  { "inmemory", "inmemory", {}, iters * 5 },
  { "filesystem sync=true", "filesystem", { rootdirectory = tmp .. "/sync", sync = true }, iters },
  { "filesystem sync=false", "filesystem", { rootdirectory = tmp .. "/nosync", sync = false }, iters * 2 },
}
local results = {}
for _, c in ipairs(configs) do
  local d = assert(sd.create(c[2], c[3]))
  results[c[1]] = shapes(d, c[4])
  report(c[1], results[c[1]])
end

-- The same system calls in a plain C loop (bench/fsloop.c), run by this
-- script, alternating with the driver for three rounds (medians of the
-- rounds).  On tmpfs when there is one: the disk's own noise (a new directory
-- costs 0.01 to 0.9 ms here) would otherwise swamp the driver's overhead.
local cmp_dir = os.getenv("SD_BENCH_CMP_DIR") or
  (os.execute("test -d /dev/shm -a -w /dev/shm") and "/dev/shm/sd-bench-" .. rand_name(6) or tmp .. "/cmp")
print(string.format("\nfilesystem sync=false vs a plain C loop doing the same system calls (under %s)", cmp_dir))
print(string.format("  %-12s %12s %12s %10s", "benchmark", "driver µs", "C loop µs", "ratio"))
for _, k in ipairs({ "PutGet1KB", "PutGet1MB", "Stream1KB", "Stream1MB" }) do
  local size = k:match("1MB") and MB or KB
  local kind = k:match("^PutGet") and "PutGet" or "Stream"
  local n = size == MB and 100 or iters * 2
  local ours, theirs = {}, {}
  for round = 1, 3 do
    local d = assert(sd.create("filesystem", { rootdirectory = cmp_dir .. "/drv" .. round, sync = false }))
    ours[round] = putget_or_stream(d, kind, size, n, "/b")
    local f = assert(io.popen(string.format("%s/bench/fsloop %s %d %d '%s/c%d'", BUILD, kind:lower(), size, n, cmp_dir, round)))
    theirs[round] = tonumber(f:read("a"):match("([%d%.]+)"))
    f:close()
  end
  local o, t = median(ours), median(theirs)
  print(string.format("  %-12s %12.1f %12.1f %9.2fx", k, o, t, o / t))
end
os.execute("rm -rf '" .. cmp_dir .. "'")

print(string.format("\npeak RSS of this benchmark process: %.1f MiB", clock.peak_rss_kib() / 1024))
local f = assert(io.popen(string.format("lua5.4 bench/stream_rss.lua '%s/rss' %d", tmp, quick and 256 or 2048)))
io.write(f:read("a"))
f:close()
os.execute("rm -rf '" .. tmp .. "'")
