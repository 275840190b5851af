-- `make bench-azure`: the azure driver against azurite (Azure's emulator,
-- spec/support/server azure), every figure beside a baseline measured by this
-- same run.  A benchmark only: it fails only when a transfer fails.
--
-- Sections 3 and 4 run first, on a fresh server: azurite answers small
-- requests several times slower once it holds gigabytes in memory.
--
--   1. A 1 GiB stream up and down, each a process timed from outside: our
--      writer (1 MiB writes from a file, commit) and reader (1 MiB reads,
--      discarded) vs rclone (`rclone copyto`, 16 MiB blocks x 8, the
--      baseline of the ratios) and one curl request (Put Blob to a SAS URL,
--      GET of our own redirect_url): azurite's ceiling for one stream.
--      Medians of SD_BENCH_AZ_REPS rounds (default 1: azurite keeps deleted
--      bytes in memory for 10 minutes, and refuses writes past ~12 GiB).
--   2. The peak RSS (VmHWM) of our upload and download processes, against
--      chunksize x uploadconcurrency + 16 MiB.
--   3. The reference's benchmark shapes through the Lua API (PutGet 1 KiB and
--      1 MiB, Stream 1 MiB, List50, Delete50) in ms/op (median), vs the Go
--      reference driver's figures of issue 6.
--   4. 1,000 sequential 4 KiB puts and gets, per second, vs Azure's Python
--      SDK (Debian's python3-azure-storage) in one process.
--
-- The server: SD_AZURE_PARAMS when set, else a fresh azurite started here
-- (and stopped at the end, also on an error).  Everything goes under a fresh
-- rootdirectory.  Knobs: SD_BENCH_QUICK=1 (256 MiB, few iterations),
-- SD_BENCH_AZ_MIB, SD_BENCH_AZ_REPS, SD_BENCH_AZ_CHUNK (MiB, default 16),
-- SD_BENCH_AZ_CONC (default 8), SD_BENCH_DIR (temporary files).
--
-- `lua5.4 bench/azure.lua --child MODE PARAMSFILE PATH FILE` is this script's
-- own upload/download process, not for use by hand.

local clock = require "benchclock"
local sd = require "storagedriver"
local crypto = require "storagedriver.crypto"

local MiB = 1024 * 1024
local QUICK = os.getenv("SD_BENCH_QUICK") == "1"

local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function read_params(path)
  local p = {}
  for line in io.lines(path) do
    local k, v = line:match("^([^=]+)=(.*)$")
    if k then p[k] = v end
  end
  return p
end

------------------------------------------------------------------ the child

local function child(mode, paramsfile, path, file)
  local d = assert(sd.create("azure", read_params(paramsfile)))
  if mode == "up" then
    local f = assert(io.open(file, "rb"))
    local w = assert(d:writer(path))
    while true do
      local s = f:read(MiB)
      if not s then break end
      assert(w:write(s))
      -- the 1 MiB strings are garbage at once: collected before they add up
      collectgarbage()
    end
    f:close()
    assert(w:commit())
    w:close()
  else
    local r = assert(d:reader(path))
    while r:read(MiB) do collectgarbage() end
    r:close()
  end
  io.write(clock.peak_rss_kib(), "\n")
end

if arg and arg[1] == "--child" then
  child(arg[2], arg[3], arg[4], arg[5])
  return
end

------------------------------------------------------------------ helpers

local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1; echo \"__rc=$?\""))
  local out = p:read("a")
  p:close()
  local rc = tonumber(out:match("__rc=(%d+)%s*$"))
  return out:gsub("__rc=%d+%s*$", ""), rc == 0
end

local function must_sh(cmd)
  local out, ok = sh(cmd)
  if not ok then error("failed: " .. cmd .. "\n" .. out, 0) end
  return out
end

local function median(t)
  table.sort(t)
  local n = #t
  return n % 2 == 1 and t[(n + 1) / 2] or (t[n / 2] + t[n / 2 + 1]) / 2
end

local function timed(cmd)
  local t0 = clock.now()
  local out = must_sh(cmd)
  return clock.now() - t0, out
end

-- A container SAS (sv 2021-08-06) with permissions sp, for curl's Put Blob.
local function container_sas(p, sp)
  local function iso(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", t) end
  local st, se = iso(os.time() - 60), iso(os.time() + 7200)
  local sts = table.concat({ sp, st, se, "/blob/" .. p.accountname .. "/" .. p.container,
                             "", "", "https,http", "2021-08-06", "c", "", "", "", "", "", "", "" }, "\n")
  local sig = crypto.base64_encode(crypto.hmac("sha256", crypto.base64_decode(p.accountkey), sts))
  local function enc(s) return (s:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end)) end
  return ("sv=2021-08-06&st=%s&se=%s&sr=c&sp=%s&spr=https%%2Chttp&sig=%s"):format(enc(st), enc(se), sp, enc(sig))
end

------------------------------------------------------------------ the server

local tmp = must_sh("mktemp -d " .. shq((os.getenv("SD_BENCH_DIR") or os.getenv("TMPDIR") or "/tmp") ..
                                      "/sd-az-bench.XXXXXX")):gsub("%s+$", "")
local started = false
local server_env = "SD_SERVER_DIR=" .. shq(tmp .. "/server")

local function cleanup()
  if started then sh(server_env .. " spec/support/server azure stop") end
  sh("rm -rf " .. shq(tmp))
end

local function main()
  local base
  if os.getenv("SD_AZURE_PARAMS") and os.getenv("SD_AZURE_PARAMS") ~= "" then
    base = {}
    for item in os.getenv("SD_AZURE_PARAMS"):gmatch("[^%s,]+") do
      local k, v = item:match("^([^=]+)=(.*)$")
      base[k] = v
    end
  else
    started = true
    local f = assert(io.open(tmp .. "/base.params", "w"))
    f:write(must_sh(server_env .. " spec/support/server azure start 2>/dev/null"))
    f:close()
    base = read_params(tmp .. "/base.params")
  end
  local chunk = tonumber(os.getenv("SD_BENCH_AZ_CHUNK") or "16") * MiB
  local conc = tonumber(os.getenv("SD_BENCH_AZ_CONC") or "8")
  local p = {}
  for k, v in pairs(base) do p[k] = v end
  p.rootdirectory = "bench-" .. os.time() .. "-" .. crypto.hex(crypto.random_bytes(4))
  p.chunksize, p.uploadconcurrency = chunk, conc
  local pf = tmp .. "/driver.params"
  local f = assert(io.open(pf, "w"))
  for k, v in pairs(p) do f:write(k, "=", tostring(v), "\n") end
  f:close()
  local d = assert(sd.create("azure", p))

  ------------------------------------------------------------ 3: shapes
  local n = QUICK and 10 or 50
  local kb, mb = string.rep("k", 1024), crypto.random_bytes(MiB)
  local function per_op(fn, count)
    local t = {}
    for i = 1, count do
      local t0 = clock.now()
      fn(i)
      t[#t + 1] = (clock.now() - t0) * 1000
    end
    return median(t)
  end
  local shapes = {
    { "PutGet1KB", 2.8, function(i) assert(d:put_content("/s/kb" .. i, kb)); assert(d:get_content("/s/kb" .. i)) end },
    { "PutGet1MB", 14.7, function(i) assert(d:put_content("/s/mb" .. i, mb)); assert(d:get_content("/s/mb" .. i)) end },
    { "Stream1MB", 17.9, function(i)
        local w = assert(d:writer("/s/st" .. i)); assert(w:write(mb)); assert(w:commit()); w:close()
        assert(d:reader("/s/st" .. i)):close()
      end },
  }
  print(("\n== azure: the reference's benchmark shapes, ms/op (median of %d) =="):format(n))
  print(("%-12s %10s %14s %8s"):format("shape", "ours", "Go reference", "ratio"))
  local function row(name, ours, go)
    print(("%-12s %10.2f %14.1f %7.1fx%s"):format(name, ours, go, go / ours, go / ours >= 1.5 and "" or "  (target 1.5x)"))
  end
  for _, s in ipairs(shapes) do row(s[1], per_op(s[3], n), s[2]) end
  for i = 1, 50 do assert(d:put_content("/l/f" .. i, "")) end
  row("List50", per_op(function() assert(#assert(d:list("/l")) == 50) end, n), 5.1)
  local del = {}
  for _ = 1, QUICK and 3 or 10 do
    for i = 1, 50 do assert(d:put_content("/del/f" .. i, "")) end
    local t0 = clock.now()
    assert(d:delete("/del"))
    del[#del + 1] = (clock.now() - t0) * 1000
  end
  row("Delete50", median(del), 56)
  d:delete("/s")
  d:delete("/l")

  ------------------------------------------------------------ 4: 4 KiB
  local count = QUICK and 200 or 1000
  local small = crypto.random_bytes(4096)
  local t0 = clock.now()
  for i = 1, count do assert(d:put_content("/q/f" .. i, small)) end
  local put_rate = count / (clock.now() - t0)
  t0 = clock.now()
  for i = 1, count do assert(d:get_content("/q/f" .. i)) end
  local get_rate = count / (clock.now() - t0)
  d:delete("/q")
  local py = [[
import sys, time
from azure.storage.blob import BlobServiceClient
url, acct, key, cont, root, n = sys.argv[1:7]
n = int(n)
svc = BlobServiceClient(account_url=url, credential={"account_name": acct, "account_key": key})
c = svc.get_container_client(cont)
data = b"x" * 4096
t = time.time()
for i in range(n): c.upload_blob("%s/py/f%d" % (root, i), data, overwrite=True)
put = n / (time.time() - t)
t = time.time()
for i in range(n): c.download_blob("%s/py/f%d" % (root, i)).readall()
get = n / (time.time() - t)
for i in range(n): c.delete_blob("%s/py/f%d" % (root, i))
print("%.0f %.0f" % (put, get))
]]
  local pyf = tmp .. "/sdk.py"
  f = assert(io.open(pyf, "w"))
  f:write(py)
  f:close()
  local out, ok = sh("env -u LD_PRELOAD /usr/bin/python3 " .. shq(pyf) .. " " .. shq(base.serviceurl) .. " " ..
                     shq(base.accountname) .. " " .. shq(base.accountkey) .. " " .. shq(base.container) .. " " ..
                     shq(p.rootdirectory) .. " " .. count)
  local pput, pget = out:match("(%d+) (%d+)%s*$")
  print(("\n== azure: %d sequential 4 KiB operations, per second, one process =="):format(count))
  print(("%-28s %8s %8s"):format("client", "put/s", "get/s"))
  print(("%-28s %8.0f %8.0f"):format("storagedriver (azure)", put_rate, get_rate))
  if ok and pput then
    print(("%-28s %8s %8s"):format("Python SDK (azure-storage)", pput, pget))
  else
    print("Python SDK: not run (apt-get install python3-azure-storage): " .. out:sub(1, 200))
  end
  ------------------------------------------------------------ 1 + 2: streams
  local mib = tonumber(os.getenv("SD_BENCH_AZ_MIB") or (QUICK and "256" or "1024"))
  local reps = tonumber(os.getenv("SD_BENCH_AZ_REPS") or "1")
  local file = tmp .. "/data"
  must_sh(("head -c %d /dev/urandom > %s"):format(mib * MiB, shq(file)))
  local me = "LUA_PATH=" .. shq(package.path) .. " LUA_CPATH=" .. shq(package.cpath) ..
             " lua5.4 bench/azure.lua --child"
  local blob = p.rootdirectory .. "/stream"
  local url_put = base.serviceurl .. "/" .. base.container .. "/" .. p.rootdirectory .. "/curl?" ..
                  container_sas(base, "racwd")
  local rclone_env = table.concat({
    "RCLONE_CONFIG_AZ_TYPE=azureblob", "RCLONE_CONFIG_AZ_ACCOUNT=" .. shq(base.accountname),
    "RCLONE_CONFIG_AZ_KEY=" .. shq(base.accountkey), "RCLONE_CONFIG_AZ_ENDPOINT=" .. shq(base.serviceurl),
    "RCLONE_CONFIG_AZ_USE_EMULATOR=true" }, " ")
  local have_rclone = select(2, sh("command -v rclone"))
  local rclone = "rclone --config /dev/null --azureblob-chunk-size 16M --azureblob-upload-concurrency 8 "
  local times = { up = {}, down = {}, curl_up = {}, curl_down = {}, rclone_up = {}, rclone_down = {} }
  local rss = { up = 0, down = 0 }
  for _ = 1, reps do
    local t, out = timed(me .. " up " .. shq(pf) .. " /stream " .. shq(file))
    times.up[#times.up + 1] = t
    rss.up = math.max(rss.up, tonumber(out:match("(%d+)%s*$")) or 0)
    t, out = timed(me .. " down " .. shq(pf) .. " /stream -")
    times.down[#times.down + 1] = t
    rss.down = math.max(rss.down, tonumber(out:match("(%d+)%s*$")) or 0)
    times.curl_up[#times.curl_up + 1] = timed("curl -sS -f -o /dev/null -T " .. shq(file) ..
      " -H 'x-ms-blob-type: BlockBlob' " .. shq(url_put))
    times.curl_down[#times.curl_down + 1] = timed("curl -sS -f -o /dev/null " ..
      shq(assert(d:redirect_url("/stream", { expiry = 7200 }))))
    if have_rclone then
      times.rclone_up[#times.rclone_up + 1] = timed(rclone_env .. " " .. rclone .. "copyto " ..
        shq(file) .. " az:" .. base.container .. "/" .. p.rootdirectory .. "/rclone")
      times.rclone_down[#times.rclone_down + 1] = timed(rclone_env .. " " .. rclone .. "cat az:" ..
        base.container .. "/" .. blob .. " > /dev/null")
    end
  end
  local function rate(list) return #list > 0 and mib / median(list) or nil end
  print(("\n== azure: %d MiB stream against azurite (%s), chunksize %d MiB x %d, median of %d =="):format(
    mib, base.serviceurl, chunk // MiB, conc, reps))
  print(("%-26s %10s %10s"):format("client", "up MiB/s", "down MiB/s"))
  local rows = {
    { "storagedriver (azure)", rate(times.up), rate(times.down) },
    { "rclone 16M x 8", rate(times.rclone_up), rate(times.rclone_down) },
    { "curl, one request", rate(times.curl_up), rate(times.curl_down) },
  }
  for _, r in ipairs(rows) do
    print(("%-26s %10s %10s"):format(r[1], r[2] and ("%.0f"):format(r[2]) or "-",
                                     r[3] and ("%.0f"):format(r[3]) or "-"))
  end
  if have_rclone then
    print(("ratio to rclone: up %.2fx (target 1.2), down %.2fx (target 1.1)"):format(
      rate(times.up) / rate(times.rclone_up), rate(times.down) / rate(times.rclone_down)))
  end
  local bound = (chunk * conc + 16 * MiB) / 1024
  print(("peak RSS: upload %.0f MiB, download %.0f MiB; bound chunksize x concurrency + 16 MiB = %.0f MiB (%s)"):format(
    rss.up / 1024, rss.down / 1024, bound / 1024, (rss.up <= bound and rss.down <= bound) and "within" or "OVER"))
  os.remove(file)
  d:delete("/stream")
  d:delete("/curl")
  d:delete("/rclone")
end

local ok, err = pcall(main)
cleanup()
if not ok then
  io.stderr:write("bench/azure.lua: ", tostring(err), "\n")
  os.exit(1)
end
