-- `make bench`, last: the s3 driver against the local S3 server (OpenStack
-- Swift's S3 API, spec/support/server), every figure beside a baseline
-- measured by this same run.  A benchmark only: nothing here fails on a
-- figure; it fails only when a transfer fails.
--
--   1. A 1 GiB stream up and down, each a process timed from outside (so
--      every client pays its start-up): our writer (1 MiB blocks from a
--      file, commit) and reader (1 MiB reads, discarded) vs Debian's awscli
--      (`aws s3 cp`, the baseline of the ratios), rclone (`rclone copyto`,
--      one run: the slowest, and not a baseline) and a single curl request
--      (PUT to a URL presigned by boto3, GET of our own d:redirect_url): the
--      server's ceiling for one stream.  Every client reads the object our
--      writer made.  Medians of 3 rounds.  Then our upload for several
--      chunksize × uploadconcurrency pairs, interleaved in rounds.
--   2. The peak RSS (VmHWM) of each upload process, against
--      chunksize × uploadconcurrency + 16 MiB, and of the same process doing
--      nothing but loading the module and creating the driver (and that
--      plus reading the file the same way, without the driver).
--   3. The reference's benchmark shapes through the Lua API (PutGet and
--      Stream of 1 KiB and 1 MiB, List50, Delete50) in ms/op (median), vs
--      the Go reference driver's figures of issue 4 and vs a floor run here:
--      Debian's boto3 in one process, sequential (bench/s3_boto3.py).
--
-- The server: SD_S3_PARAMS (key=value lines, as spec/support/with-servers.sh
-- sets it) when set, else one started here (`spec/support/server s3 start`
-- with SD_SERVER_DIR in a temporary directory) and stopped at the end, also
-- on an error or Ctrl-C.  Everything goes under a fresh rootdirectory, which
-- is deleted at the end.
--
-- Knobs: SD_BENCH_QUICK=1 a short run (256 MiB, one round, few iterations);
-- SD_BENCH_S3_MIB the stream size in MiB; SD_BENCH_S3_REPS the rounds of the
-- stream (median); SD_BENCH_DIR where the temporary files go (default
-- $TMPDIR or /tmp).
--
-- `lua5.4 bench/s3.lua --child MODE ...` is this script's own upload/download
-- process (see child() below), not for use by hand.

local clock = require "benchclock"

local MiB = 1024 * 1024

local function shq(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function read_params(text)
  local p = {}
  for item in (text or ""):gmatch("[^%s,]+") do
    local k, v = item:match("^([^=]+)=(.*)$")
    assert(k, "bad key=value item: " .. item)
    p[k] = v
  end
  return p
end

local function file_text(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- Reads r to the end in 1 MiB reads, discarding; closes it; the byte count.
local function drain(r)
  local n = 0
  while true do
    local b, err = r:read(MiB)
    if not b then assert(err == nil, tostring(err)); break end
    n = n + #b
  end
  r:close()
  return n
end

------------------------------------------------------------------ the child
-- lua5.4 bench/s3.lua --child MODE PARAMSFILE CHUNKSIZE CONCURRENCY PATH FILE
--   MODE up:   streams FILE to PATH (writer, 1 MiB writes, commit)
--   MODE down: reads PATH to the end (1 MiB reads), discarding
--   MODE idle: only loads the module and creates the driver
--   MODE read: that, and reads FILE in 1 MiB blocks, discarding (what the
--              upload does less the driver's part)
-- and prints "bytes=N secs=S hwm_kib=K" (secs: the transfer alone).

local function child(mode, paramsfile, chunk, conc, path, file)
  local sd = require "storagedriver"
  local p = read_params(file_text(paramsfile))
  p.chunksize, p.uploadconcurrency = tonumber(chunk), tonumber(conc)
  local d = assert(sd.create("s3", p))
  local n, t0 = 0, clock.now()
  if mode == "up" or mode == "read" then
    local f = assert(io.open(file, "rb"))
    local w = mode == "up" and assert(d:writer(path))
    while true do
      local b = f:read(MiB)
      if not b then break end
      if w then assert(w:write(b)) end
      n = n + #b
    end
    f:close()
    if w then
      assert(w:commit())
      assert(w:close())
    end
  elseif mode == "down" then
    n = drain(assert(d:reader(path)))
  else
    assert(mode == "idle", "unknown child mode " .. tostring(mode))
  end
  print(string.format("bytes=%d secs=%.6f hwm_kib=%d", n, clock.now() - t0, clock.peak_rss_kib()))
end

if arg and arg[1] == "--child" then
  child(table.unpack(arg, 2, 7))
  return
end

------------------------------------------------------------------ settings

local sd                       -- the module, loaded from the copy (pin_modules)
local quick = os.getenv("SD_BENCH_QUICK") == "1"
local STREAM_MIB = tonumber(os.getenv("SD_BENCH_S3_MIB") or "") or (quick and 256 or 1024)
local REPS = tonumber(os.getenv("SD_BENCH_S3_REPS") or "") or (quick and 1 or 3)
local LUA = arg and arg[-1] or "lua5.4"
local SCRIPT = arg and arg[0] or "bench/s3.lua"
local AWS, RCLONE, PY = "/usr/bin/aws", "/usr/bin/rclone", "/usr/bin/python3"
local HERE = SCRIPT:match("^(.*)/[^/]*$") or "."

-- chunksize (MiB) × uploadconcurrency for the upload table; the first is
-- the driver's default, which the stream rounds use.
local CONFIGS = quick and { { 10, 4 }, { 16, 4 } } or
  { { 10, 4 }, { 16, 4 }, { 8, 8 }, { 32, 4 }, { 16, 8 } }

-- The Go reference s3 driver on this server (ms/op, issue 4).
local GO = { PutGet1MB = 42, Stream1MB = 100, Delete50 = 528 }

math.randomseed(os.time())
local alnum = "abcdefghijklmnopqrstuvwxyz0123456789"
local function rand_name(n)
  local t = {}
  for i = 1, n do
    local k = math.random(#alnum)
    t[i] = alnum:sub(k, k)
  end
  return table.concat(t)
end

local function median(xs)
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  local n = #s
  if n == 0 then return nil end
  if n % 2 == 1 then return s[(n + 1) / 2] end
  return (s[n / 2] + s[n / 2 + 1]) / 2
end

local started = clock.now()
local function log(fmt, ...)
  io.stderr:write(string.format("s3 bench [%3.0f s]: ", clock.now() - started), string.format(fmt, ...), "\n")
end

------------------------------------------------------------------ commands

-- Runs a shell command; an interrupt of the child (Ctrl-C reaches it, not
-- us: system() ignores SIGINT while it waits) becomes an error here, so the
-- cleanup runs.
local function run(cmd)
  local ok, how, code = os.execute(cmd)
  if how == "signal" and (code == 2 or code == 15) then error("interrupted", 0) end
  if not ok and how == "exit" and (code == 130 or code == 143) then error("interrupted", 0) end
  return ok, code
end

local function must(cmd)
  local ok, code = run(cmd)
  if not ok then error(("command failed (%s): %s"):format(tostring(code), cmd), 0) end
end

-- Output of a command (stderr passes through); errors when it fails.
local function capture(cmd)
  local f = assert(io.popen(cmd, "r"))
  local out = f:read("a")
  local ok, how, code = f:close()
  if how == "signal" and (code == 2 or code == 15) then error("interrupted", 0) end
  if not ok then error(("command failed (%s %s): %s"):format(how, tostring(code), cmd), 0) end
  return out
end

-- Wall seconds of a command that must succeed.
local function timed(cmd)
  local t0 = clock.now()
  must(cmd)
  return clock.now() - t0
end

------------------------------------------------------------------ state

local tmp                      -- our temporary directory
local server_dir               -- set when this run started the server
local p                        -- driver parameters (fresh rootdirectory)
local d                        -- the driver, default settings

local function start_server()
  local given = os.getenv("SD_S3_PARAMS")
  if given and given:match("%S") then
    log("using the server of SD_S3_PARAMS")
    return read_params(given)
  end
  server_dir = tmp .. "/server"
  log("starting the local S3 server (state in %s)", server_dir)
  local t0 = clock.now()
  local out = capture("SD_SERVER_DIR=" .. shq(server_dir) .. " spec/support/server s3 start")
  log("server ready in %.1f s", clock.now() - t0)
  return read_params(out)
end

local function stop_server()
  if not server_dir then return end
  local dir = server_dir
  server_dir = nil
  if not os.execute("SD_SERVER_DIR=" .. shq(dir) .. " spec/support/server s3 stop") then
    log("stopping the server failed: stop it with SD_SERVER_DIR=%s spec/support/server s3 stop", dir)
  end
end

-- The S3 key of a driver path (the root without its leading "/").
local function key_of(path)
  return ((p.rootdirectory or ""):gsub("/+$", "") .. path):gsub("^/+", "")
end

local function env_aws()
  return table.concat({
    "env -u AWS_CA_BUNDLE -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL",
    "-u PYTHONPATH -u PYTHONHOME -u LD_PRELOAD",
    "AWS_ACCESS_KEY_ID=" .. shq(p.accesskey),
    "AWS_SECRET_ACCESS_KEY=" .. shq(p.secretkey),
    "AWS_DEFAULT_REGION=" .. shq(p.region or "us-east-1"),
    "AWS_CONFIG_FILE=" .. shq(tmp .. "/aws.config"),
    "AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER=",
  }, " ")
end

local function aws(args)
  return env_aws() .. " " .. AWS .. " --endpoint-url " .. shq(p.regionendpoint) .. " " .. args
end

local function s3url(path)
  return shq("s3://" .. p.bucket .. "/" .. key_of(path))
end

-- rclone with a remote "sdbench" from the environment alone, its defaults
-- otherwise (5 MiB parts, 4 at once up; 4 streams down to a file).
local function rclone(args)
  return table.concat({
    "env -u AWS_CA_BUNDLE -u AWS_PROFILE",
    "RCLONE_CONFIG_SDBENCH_TYPE=s3 RCLONE_CONFIG_SDBENCH_PROVIDER=Other",
    "RCLONE_CONFIG_SDBENCH_ENDPOINT=" .. shq(p.regionendpoint),
    "RCLONE_CONFIG_SDBENCH_ACCESS_KEY_ID=" .. shq(p.accesskey),
    "RCLONE_CONFIG_SDBENCH_SECRET_ACCESS_KEY=" .. shq(p.secretkey),
    "RCLONE_CONFIG_SDBENCH_REGION=" .. shq(p.region or "us-east-1"),
    RCLONE, "--config /dev/null -q", args,
  }, " ")
end

local function rremote(path)
  return shq("sdbench:" .. p.bucket .. "/" .. key_of(path))
end

local function boto3(args)
  return env_aws() .. " " .. PY .. " " .. shq(HERE .. "/s3_boto3.py") .. " " ..
    shq(p.regionendpoint) .. " " .. shq(p.bucket) .. " " .. args
end

-- One child process (see child()): its wall time from outside, and its own
-- report.
local child_env = ""           -- LUA_PATH and LUA_CPATH of the copy

-- The build tree may be rebuilt while this runs (make from another shell):
-- every process of the run loads one copy of the modules, made at the start.
local function pin_modules()
  local lib, lua = tmp .. "/lib", tmp .. "/lua"
  must("mkdir -p " .. shq(lib .. "/storagedriver") .. " " .. shq(lua))
  must("cp " .. shq(assert(package.searchpath("storagedriver.core", package.cpath))) .. " " ..
    shq(lib .. "/storagedriver/core.so"))
  must("cp " .. shq(assert(package.searchpath("benchclock", package.cpath))) .. " " .. shq(lib))
  local init = assert(package.searchpath("storagedriver", package.path))
  local dir = init:match("^(.*)/storagedriver/init%.lua$")
  if dir then must("cp -R " .. shq(dir .. "/storagedriver") .. " " .. shq(lua)) end
  package.path = lua .. "/?.lua;" .. lua .. "/?/init.lua;" .. package.path
  package.cpath = lib .. "/?.so;" .. package.cpath
  child_env = "env LUA_PATH=" .. shq(package.path) .. " LUA_CPATH=" .. shq(package.cpath) .. " "
  sd = require "storagedriver"
end

local function run_child(mode, chunk_mib, conc, path, file)
  local cmd = child_env .. table.concat({ shq(LUA), shq(SCRIPT), "--child", mode, shq(tmp .. "/params"),
    tostring(chunk_mib * MiB), tostring(conc), shq(path or "-"), shq(file or "-") }, " ")
  local t0 = clock.now()
  local out = capture(cmd)
  local wall = clock.now() - t0
  local bytes, secs, hwm = out:match("bytes=(%d+) secs=([%d.]+) hwm_kib=(%d+)")
  assert(bytes, "child said: " .. out)
  return { wall = wall, bytes = tonumber(bytes), secs = tonumber(secs), hwm = tonumber(hwm) / 1024 }
end

------------------------------------------------------------------ 1 and 2: streams

local function make_source(path, mib)
  -- 1 MiB of random bytes, each MiB of the file made distinct by its number
  local t = {}
  for i = 1, MiB / 4 do t[i] = string.pack("<I4", math.random(0, 0xffffffff)) end
  local block = table.concat(t)
  local f = assert(io.open(path, "wb"))
  for i = 1, mib do assert(f:write(string.pack("<I8", i), block:sub(9))) end
  assert(f:close())
end

local function stream_part()
  local src = tmp .. "/source.bin"
  local bytes = STREAM_MIB * MiB
  log("writing a %d MiB source file", STREAM_MIB)
  make_source(src, STREAM_MIB)
  local down_file = tmp .. "/rclone.down"
  local tools = { "ours", "aws", "rclone", "curl" }
  local up, down = {}, {}
  for _, t in ipairs(tools) do up[t], down[t] = {}, {} end
  local function mibs(secs) return STREAM_MIB / secs end
  local def = CONFIGS[1]
  local def_label = def[1] .. "×" .. def[2]
  local hwm_default = {}

  -- The stream rounds: each tool up, then each tool reading the object our
  -- writer made.  rclone in the first round only: its figures are a point
  -- of comparison, not the baseline, and it is the slowest (time budget).
  for rep = 1, REPS do
    log("stream round %d/%d", rep, REPS)
    local dir = "/stream" .. rep
    local c = run_child("up", def[1], def[2], dir .. "/ours", src)
    assert(c.bytes == bytes)
    up.ours[rep] = mibs(c.wall)
    hwm_default[rep] = c.hwm
    up.aws[rep] = mibs(timed(aws("s3 cp --only-show-errors " .. shq(src) .. " " .. s3url(dir .. "/aws"))))
    if rep == 1 then
      up.rclone[rep] = mibs(timed(rclone("copyto " .. shq(src) .. " " .. rremote(dir .. "/rclone"))))
    end
    local put_url = capture(boto3(shq(key_of(dir .. "/curl")) .. " presign-put")):gsub("%s+$", "")
    up.curl[rep] = mibs(timed("curl -sS -f -o /dev/null -T " .. shq(src) .. " " .. shq(put_url)))
    c = run_child("down", def[1], def[2], dir .. "/ours")
    assert(c.bytes == bytes, "short read: " .. c.bytes)
    down.ours[rep] = mibs(c.wall)
    down.aws[rep] = mibs(timed(aws("s3 cp --only-show-errors " .. s3url(dir .. "/ours") .. " - >/dev/null")))
    if rep == 1 then
      down.rclone[rep] = mibs(timed(rclone("copyto " .. rremote(dir .. "/ours") .. " " .. shq(down_file))))
      os.remove(down_file)
    end
    local get_url = assert(d:redirect_url(dir .. "/ours"))
    down.curl[rep] = mibs(timed("curl -sS -f -o /dev/null " .. shq(get_url)))
    assert(d:delete(dir))
  end

  -- Our upload for each chunksize × uploadconcurrency, the default among
  -- them, in interleaved rounds (the load of a shared machine drifts).
  local cfg_reps = quick and 1 or 2
  local upcfg, rss = {}, {}
  for rep = 1, cfg_reps do
    for _, cfg in ipairs(CONFIGS) do
      local label = cfg[1] .. "×" .. cfg[2]
      log("upload %s MiB × %d, round %d/%d", cfg[1], cfg[2], rep, cfg_reps)
      local c = run_child("up", cfg[1], cfg[2], "/cfg/c" .. cfg[1] .. "x" .. cfg[2], src)
      assert(c.bytes == bytes)
      upcfg[label] = upcfg[label] or {}
      table.insert(upcfg[label], mibs(c.wall))
      rss[label] = rss[label] or {}
      table.insert(rss[label], c.hwm)
      assert(d:delete("/cfg"))
    end
  end
  local idle = run_child("idle", def[1], def[2])
  local readonly = run_child("read", def[1], def[2], "-", src)
  assert(readonly.bytes == bytes)
  os.remove(src)

  print(string.format("\ns3: a %d MiB stream, MiB/s (medians, rounds: %d; rclone: 1 run; each a process timed from outside)",
    STREAM_MIB, REPS))
  print(string.format("  %-36s %9s %8s %9s %8s", "client", "up", "vs aws", "down", "vs aws"))
  local names = {
    ours = "storagedriver " .. def_label .. " (writer/reader)",
    aws = "aws s3 cp (8 MiB × 10 parts/ranges)",
    rclone = "rclone copyto (5 MiB × 4; 4 streams)",
    curl = "curl, one presigned request",
  }
  local aws_up, aws_down = median(up.aws), median(down.aws)
  for _, t in ipairs(tools) do
    local u, dn = median(up[t]), median(down[t])
    print(string.format("  %-36s %9.1f %7.2fx %9.1f %7.2fx", names[t], u, u / aws_up, dn, dn / aws_down))
  end
  print(string.format("  ours: up %.2fx aws (target >= 2), down %.2fx aws (target >= 1.5); %.0f%% / %.0f%% of curl's single request",
    median(up.ours) / aws_up, median(down.ours) / aws_down,
    100 * median(up.ours) / median(up.curl), 100 * median(down.ours) / median(down.curl)))
  print(string.format("  peak RSS of our %d MiB upload (%s): %.1f MiB (target %d MiB); baselines, the same process",
    STREAM_MIB, def_label, median(hwm_default), def[1] * def[2] + 16))
  print(string.format("  only loading the module and creating the driver: %.1f MiB; that and reading the file: %.1f MiB",
    idle.hwm, readonly.hwm))

  print(string.format("\ns3: our %d MiB upload by chunksize (MiB) × uploadconcurrency, interleaved (medians, rounds: %d)",
    STREAM_MIB, cfg_reps))
  print(string.format("  %-8s %10s %9s %9s %12s %12s %10s", "config", "up MiB/s", "vs " .. def_label,
    "vs aws", "peak RSS", "target RSS", "RSS/target"))
  local base = median(upcfg[def_label])
  for _, cfg in ipairs(CONFIGS) do
    local label = cfg[1] .. "×" .. cfg[2]
    local target = cfg[1] * cfg[2] + 16
    local u, r = median(upcfg[label]), median(rss[label])
    print(string.format("  %-8s %10.1f %8.2fx %8.2fx %8.1f MiB %8d MiB %9.2fx", label, u, u / base,
      u / aws_up, r, target, r / target))
  end
  print(string.format("  target RSS: chunksize × uploadconcurrency + 16 MiB; baselines: %.1f MiB (module + driver), %.1f MiB (+ reading the file)",
    idle.hwm, readonly.hwm))
end

------------------------------------------------------------------ 3: shapes

local KiB = 1024
local payload = { [KiB] = string.rep("k", KiB), [4 * KiB] = string.rep("f", 4 * KiB),
                  [MiB] = string.rep("m", MiB) }

local function random_path(parent)
  return parent .. "/" .. rand_name(10) .. "/" .. rand_name(10) .. "/" .. rand_name(10)
end

-- Median ms of body(i) over iters (setup(i) untimed before each), after
-- two untimed warm-up calls.
local function measure(iters, body, setup)
  local ms = {}
  for i = -1, iters do
    if setup then setup(i) end
    local t0 = clock.now()
    body(i)
    if i > 0 then ms[i] = (clock.now() - t0) * 1e3 end
  end
  return median(ms)
end

local function shapes_part()
  local small, big = quick and 10 or 30, quick and 5 or 20
  local top = "/shapes"
  local res = {}
  local path
  local function fresh() path = random_path(top) end

  -- The shapes with no floor here: ours alone.
  for _, size in ipairs({ KiB, MiB }) do
    local label = size == KiB and "1KB" or "1MB"
    local n = size == KiB and small or big
    log("%sStream%s (%d each)", size == MiB and "PutGet1MB, " or "", label, n)
    if size == MiB then
      res.PutGet1MB = { n = n, ms = measure(n, function()
        assert(d:put_content(path, payload[size]))
        assert(#assert(d:get_content(path)) == size)
      end, fresh) }
    end
    res["Stream" .. label] = { n = n, ms = measure(n, function()
      local w = assert(d:writer(path))
      assert(w:write(payload[size]))
      assert(w:commit())
      assert(w:close())
      assert(drain(assert(d:reader(path))) == size)
    end, fresh) }
    assert(d:delete(top))
  end
  log("List50 (%d)", small)
  local parent = top .. "/list50"
  for i = 1, 50 do assert(d:put_content(parent .. "/" .. rand_name(12) .. i, "")) end
  res.List50 = { n = small, ms = measure(small, function()
    assert(#assert(d:list(parent)) == 50)
  end) }
  assert(d:delete(top))

  -- The shapes with a floor: ours and boto3 (one process a round) in
  -- alternating rounds, the median of the rounds' medians (the load of a
  -- shared machine drifts).  Delete50: 50 empty files put (untimed), then
  -- the delete of their directory; boto3: list + one DeleteObjects.
  local rounds = quick and 1 or 3
  local del_ours, del_boto3 = quick and 5 or 7, quick and 2 or 3
  local ours = { putget1k = {}, put4k = {}, get4k = {}, delete50 = {} }
  local theirs = { putget1k = {}, put4k = {}, get4k = {}, delete50 = {} }
  for round = 1, rounds do
    log("PutGet1KB, 4 KiB put and get (%d each), Delete50 (%d) vs boto3 (%d), round %d/%d",
      small, del_ours, del_boto3, round, rounds)
    local dir = "/small" .. round
    ours.putget1k[round] = measure(small, function()
      assert(d:put_content(path, payload[KiB]))
      assert(#assert(d:get_content(path)) == KiB)
    end, fresh)
    ours.put4k[round] = measure(small, function(i)
      assert(d:put_content(dir .. "/" .. i, payload[4 * KiB]))
    end)
    ours.get4k[round] = measure(small, function(i)
      assert(#assert(d:get_content(dir .. "/" .. i)) == 4 * KiB)
    end)
    local victim
    ours.delete50[round] = measure(del_ours, function()
      assert(d:delete(victim))
    end, function(i)
      victim = dir .. "/del" .. (i + 2)
      for j = 1, 50 do assert(d:put_content(victim .. "/" .. rand_name(12) .. j, "")) end
    end)
    local out = capture(boto3(shq(key_of("/boto3-" .. round)) .. " " .. small .. " " .. del_boto3))
    for k, v in out:gmatch("(%w+) ([%d.]+)") do table.insert(theirs[k], tonumber(v)) end
    assert(d:delete(dir))
    assert(d:delete("/boto3-" .. round))
  end
  if d:stat(top) then assert(d:delete(top)) end
  res.PutGet1KB = { n = rounds * small, ms = median(ours.putget1k) }
  res.Delete50 = { n = rounds * del_ours, ms = median(ours.delete50) }
  local floor = { PutGet1KB = median(theirs.putget1k), Delete50 = median(theirs.delete50) }

  print("\ns3: the reference's benchmark shapes through the Lua API, ms/op (median)")
  print("  Go = the reference s3 driver on this server (issue 4); boto3 = the same work by Debian's boto3,")
  print(string.format("  sequential, in one process, this run, in alternating rounds (%d; PutGet1KB: put_object + get_object,", rounds))
  print(string.format("  %d a round; Delete50: list + DeleteObjects, %d a round, ours %d)", small, del_boto3, del_ours))
  print(string.format("  %-12s %6s %10s %10s %14s %10s %12s", "benchmark", "iters", "ms/op", "Go ms/op",
    "speed-up", "boto3 ms", "ours/boto3"))
  for _, k in ipairs({ "PutGet1KB", "PutGet1MB", "Stream1KB", "Stream1MB", "List50", "Delete50" }) do
    local r = res[k]
    local go, ratio, fl, fr = "-", "-", "-", "-"
    if GO[k] then go, ratio = tostring(GO[k]), string.format("%.2fx", GO[k] / r.ms) end
    if floor[k] then fl, fr = string.format("%.2f", floor[k]), string.format("%.2fx", r.ms / floor[k]) end
    print(string.format("  %-12s %6d %10.2f %10s %14s %10s %12s", k, r.n, r.ms, go, ratio, fl, fr))
  end
  print("  speed-up = Go ms / ours; targets: Stream1MB and Delete50 >= 2x; PutGet1KB <= 1.10x boto3")

  print(string.format("\ns3: sequential 4 KiB objects vs boto3 in one process, ms/op (medians; alternating rounds: %d, × %d ops)",
    rounds, small))
  print(string.format("  %-18s %10s %10s %10s", "operation", "ours", "boto3", "ours/boto3"))
  for _, k in ipairs({ { "put4k", "put 4 KiB" }, { "get4k", "get 4 KiB" } }) do
    local o, t = median(ours[k[1]]), median(theirs[k[1]])
    print(string.format("  %-18s %10.2f %10.2f %9.2fx", k[2], o, t, o / t))
  end
  print("  target: ours/boto3 <= 1.00x")
end

------------------------------------------------------------------ main

local function main()
  local base = os.getenv("SD_BENCH_DIR") or os.getenv("TMPDIR") or "/tmp"
  tmp = capture("mktemp -d " .. shq(base .. "/sd-s3-bench.XXXXXX")):gsub("%s+$", "")
  pin_modules()
  local server = start_server()
  p = {}
  for k, v in pairs(server) do p[k] = v end
  p.rootdirectory = (server.rootdirectory or ""):gsub("/+$", "") .. "/bench-" .. os.time() .. "-" .. rand_name(8)
  local f = assert(io.open(tmp .. "/params", "w"))
  for k, v in pairs(p) do f:write(k, "=", v, "\n") end
  f:close()
  f = assert(io.open(tmp .. "/aws.config", "w"))
  f:write("[default]\ns3 =\n    addressing_style = path\n")
  f:close()
  d = assert(sd.create("s3", p))
  log("%s run, rootdirectory %s", quick and "quick" or "full", p.rootdirectory)
  stream_part()
  shapes_part()
  print(string.format("\ns3 bench: %.0f s", clock.now() - started))
end

local ok, err = xpcall(main, debug.traceback)
if p and tmp then
  -- whatever is left under our root (after an error too), by awscli so that
  -- it works whatever state the driver is in
  os.execute(aws("s3 rm --recursive --only-show-errors " .. s3url("/") .. " >/dev/null 2>&1"))
end
stop_server()
if tmp then os.execute("rm -rf " .. shq(tmp)) end
log("cleaned up")
if not ok then
  io.stderr:write("s3 bench failed: ", tostring(err), "\n")
  os.exit(1)
end
