-- `make bench`: the swift driver against the local OpenStack Swift
-- (spec/support/server), every figure beside a baseline measured by this same
-- run.  A benchmark only: nothing here fails on a figure; it fails only when
-- a transfer fails.
--
--   1. A 1 GiB stream up and down, each a process timed from outside (every
--      client pays its start-up): our writer (1 MiB writes from a file,
--      commit) and reader (1 MiB reads, discarded), with and without the MD5
--      of every segment (checksum=false), vs the swift command of
--      python3-swiftclient (`swift upload -S 16 MiB --use-slo`, `swift
--      download -o /dev/null`: the baseline of the ratios), rclone (one run)
--      and a single curl request (PUT with a token; GET of our own TempURL):
--      the server's ceiling for one stream.  Medians of 3 rounds.
--   2. The peak RSS (VmHWM) of our upload process against
--      chunksize x uploadconcurrency + 16 MiB, and of the same process doing
--      nothing but creating the driver (and that plus reading the file).
--   3. The reference's benchmark shapes through the Lua API (PutGet and
--      Stream of 1 KiB and 1 MiB, List50, Delete50) in ms/op (median), vs the
--      Go reference driver's figures of issue 5 and vs a floor run here:
--      python3-swiftclient in one process, sequential (bench/swift_client.py),
--      with sequential 4 KiB puts and gets.
--
-- The server: SD_SWIFT_PARAMS when set, else one started here (with
-- SD_SERVER_DIR in a temporary directory) and stopped at the end, also on an
-- error or Ctrl-C.  Everything goes under a fresh prefix, deleted at the end.
-- Knobs: SD_BENCH_QUICK=1 (256 MiB, one round, few iterations),
-- SD_BENCH_SWIFT_MIB, SD_BENCH_SWIFT_REPS, SD_BENCH_DIR.
--
-- `lua5.4 bench/swift.lua --child ...` is this script's own upload/download
-- process (benchlib.child), not for use by hand.

local here = (arg and arg[0] or "bench/swift.lua"):match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path
local B = require "benchlib"

if arg and arg[1] == "--child" then
  B.child("swift", table.unpack(arg, 2, 7))
  return
end

local sd = require "storagedriver"
local clock = B.clock
local MiB, KiB, shq, median = B.MiB, B.KiB, B.shq, B.median
local log, started = B.logger("swift")

local quick = os.getenv("SD_BENCH_QUICK") == "1"
local STREAM_MIB = tonumber(os.getenv("SD_BENCH_SWIFT_MIB") or "") or (quick and 256 or 1024)
local REPS = tonumber(os.getenv("SD_BENCH_SWIFT_REPS") or "") or (quick and 1 or 3)
local LUA = arg and arg[-1] or "lua5.4"
local SCRIPT = arg and arg[0] or "bench/swift.lua"
local SWIFT, RCLONE, PY = "/usr/bin/swift", "/usr/bin/rclone", "/usr/bin/python3"
local CHUNK_MIB, CONC = 20, 4          -- the driver's defaults

-- The Go reference swift driver on this server (ms/op, issue 5).
local GO = { PutGet1KB = 19.5, PutGet1MB = 39, Stream1KB = 76, Stream1MB = 59, List50 = 11.2,
             Delete50 = 710 }

math.randomseed(os.time())

local tmp, server_dir, p, d

local function start_server()
  local given = os.getenv("SD_SWIFT_PARAMS")
  if given and given:match("%S") then
    log("using the server of SD_SWIFT_PARAMS")
    return B.read_params(given)
  end
  server_dir = tmp .. "/server"
  log("starting the local Swift (state in %s)", server_dir)
  local out = B.capture("SD_SERVER_DIR=" .. shq(server_dir) .. " spec/support/server swift start")
  return B.read_params(out)
end

local function stop_server()
  if not server_dir then return end
  local dir = server_dir
  server_dir = nil
  if not os.execute("SD_SERVER_DIR=" .. shq(dir) .. " spec/support/server swift stop") then
    log("stopping the server failed: SD_SERVER_DIR=%s spec/support/server swift stop", dir)
  end
end

-- The object name of a driver path.
local function object(path)
  return p.prefix .. "/files" .. path
end

local function clean_env()
  return "env -u PYTHONPATH -u PYTHONHOME -u LD_PRELOAD -u OS_AUTH_URL -u ST_AUTH"
end

local function swift(args)
  return table.concat({ clean_env(), SWIFT, "-A", shq(p.authurl), "-U", shq(p.username),
                        "-K", shq(p.password), args }, " ")
end

local function rclone(args)
  return table.concat({ clean_env(), "RCLONE_CONFIG_SDBENCH_TYPE=swift",
    "RCLONE_CONFIG_SDBENCH_AUTH=" .. shq(p.authurl), "RCLONE_CONFIG_SDBENCH_USER=" .. shq(p.username),
    "RCLONE_CONFIG_SDBENCH_KEY=" .. shq(p.password), RCLONE, "--config /dev/null -q", args }, " ")
end

-- A token and the storage URL (for curl's single request).
local function token()
  local out = B.capture("curl -sS -D - -o /dev/null -H " .. shq("X-Auth-User: " .. p.username) ..
                        " -H " .. shq("X-Auth-Key: " .. p.password) .. " " .. shq(p.authurl))
  return out:match("[Xx]%-[Aa]uth%-[Tt]oken: ([^\r\n]+)"), out:match("[Xx]%-[Ss]torage%-[Uu]rl: ([^\r\n]+)")
end

local function child(mode, chunk, conc, path, file, params)
  return B.run_child(LUA, SCRIPT, mode, tmp .. "/" .. (params or "params"), chunk, conc, path, file)
end

------------------------------------------------------------------ 1 and 2: streams

local function stream_part()
  local src = tmp .. "/source.bin"
  local bytes = STREAM_MIB * MiB
  log("writing a %d MiB source file", STREAM_MIB)
  B.make_source(src, STREAM_MIB)
  local tools = { "ours", "nosum", "swift", "rclone", "curl" }
  local up, down, hwm = {}, {}, {}
  for _, t in ipairs(tools) do up[t], down[t] = {}, {} end
  local function mibs(secs) return STREAM_MIB / secs end
  local c = shq(p.container)
  for rep = 1, REPS do
    log("stream round %d/%d", rep, REPS)
    local dir = "/stream" .. rep
    local r = child("up", CHUNK_MIB, CONC, dir .. "/ours", src)
    assert(r.bytes == bytes)
    up.ours[rep], hwm[rep] = mibs(r.wall), r.hwm
    r = child("up", CHUNK_MIB, CONC, dir .. "/nosum", src, "params-nosum")
    assert(r.bytes == bytes)
    up.nosum[rep] = mibs(r.wall)
    up.swift[rep] = mibs(B.timed(swift("upload -q -S 16777216 --use-slo " .. c .. " " .. shq(src) ..
                                       " --object-name " .. shq(object(dir .. "/cli")))))
    if rep == 1 then
      up.rclone[rep] = mibs(B.timed(rclone("copyto " .. shq(src) .. " " ..
                                           shq("sdbench:" .. p.container .. "/" .. object(dir .. "/rclone")))))
    end
    local tok, surl = token()
    up.curl[rep] = mibs(B.timed("curl -sS -f -o /dev/null -H " .. shq("X-Auth-Token: " .. tok) ..
                                " -T " .. shq(src) .. " " .. shq(surl .. "/" .. p.container .. "/" ..
                                                              object(dir .. "/curl"))))
    r = child("down", CHUNK_MIB, CONC, dir .. "/ours")
    assert(r.bytes == bytes, "short read: " .. r.bytes)
    down.ours[rep] = mibs(r.wall)
    r = child("down", CHUNK_MIB, CONC, dir .. "/nosum", nil, "params-nosum")
    assert(r.bytes == bytes, "short read: " .. r.bytes)
    down.nosum[rep] = mibs(r.wall)
    down.swift[rep] = mibs(B.timed(swift("download -q " .. c .. " " .. shq(object(dir .. "/ours")) ..
                                         " -o /dev/null")))
    if rep == 1 then
      down.rclone[rep] = mibs(B.timed(rclone("cat " .. shq("sdbench:" .. p.container .. "/" ..
                                                           object(dir .. "/ours")) .. " >/dev/null")))
    end
    down.curl[rep] = mibs(B.timed("curl -sS -f -o /dev/null " .. shq(assert(d:redirect_url(dir .. "/ours")))))
    assert(d:delete(dir))
    B.run(swift("delete -q " .. c .. " --prefix " .. shq(object(dir) .. "/")) .. " >/dev/null 2>&1")
  end
  local idle = child("idle", CHUNK_MIB, CONC)
  local readonly = child("read", CHUNK_MIB, CONC, "-", src)
  os.remove(src)

  print(string.format("\nswift: a %d MiB stream, MiB/s (medians, rounds: %d; rclone: 1 run; each a process timed from outside)",
    STREAM_MIB, REPS))
  print(string.format("  %-40s %9s %9s %9s %9s", "client", "up", "vs swift", "down", "vs swift"))
  local names = {
    ours = ("storagedriver %d MiB x %d (writer/reader)"):format(CHUNK_MIB, CONC),
    nosum = "storagedriver, checksum=false",
    swift = "swift upload/download (16 MiB SLO)",
    rclone = "rclone copyto / cat (defaults)",
    curl = "curl, one request (token / TempURL)",
  }
  local su, sdn = median(up.swift), median(down.swift)
  for _, t in ipairs(tools) do
    local u, dn = median(up[t]), median(down[t])
    print(string.format("  %-40s %9.1f %8.2fx %9.1f %8.2fx", names[t], u, u / su, dn, dn / sdn))
  end
  print(string.format("  ours: up %.2fx the swift command (target >= 1.2), down %.2fx (target >= 1.1); %.0f%% / %.0f%% of curl's single request",
    median(up.ours) / su, median(down.ours) / sdn, 100 * median(up.ours) / median(up.curl),
    100 * median(down.ours) / median(down.curl)))
  print(string.format("  peak RSS of our upload: %.1f MiB (target chunksize x concurrency + 16 = %d MiB); only creating the driver: %.1f MiB; that and reading the file: %.1f MiB",
    median(hwm), CHUNK_MIB * CONC + 16, idle.hwm, readonly.hwm))
end

------------------------------------------------------------------ 3: shapes

local payload = { [KiB] = string.rep("k", KiB), [4 * KiB] = string.rep("f", 4 * KiB),
                  [MiB] = string.rep("m", MiB) }

local function shapes_part()
  local small, big = quick and 10 or 30, quick and 5 or 20
  local top = "/shapes"
  local res = {}
  local path
  local function fresh() path = top .. "/" .. B.rand_name(10) .. "/" .. B.rand_name(10) end

  for _, size in ipairs({ KiB, MiB }) do
    local label = size == KiB and "1KB" or "1MB"
    local n = size == KiB and small or big
    log("%sStream%s (%d each)", size == MiB and "PutGet1MB, " or "", label, n)
    if size == MiB then
      res.PutGet1MB = { n = n, ms = B.measure(n, function()
        assert(d:put_content(path, payload[size]))
        assert(#assert(d:get_content(path)) == size)
      end, fresh) }
    end
    res["Stream" .. label] = { n = n, ms = B.measure(n, function()
      local w = assert(d:writer(path))
      assert(w:write(payload[size]))
      assert(w:commit())
      assert(w:close())
      assert(B.drain(assert(d:reader(path))) == size)
    end, fresh) }
    assert(d:delete(top))
  end
  log("List50 (%d)", small)
  local parent = top .. "/list50"
  for i = 1, 50 do assert(d:put_content(parent .. "/" .. B.rand_name(12) .. i, "")) end
  res.List50 = { n = small, ms = B.measure(small, function()
    assert(#assert(d:list(parent)) == 50)
  end) }
  assert(d:delete(top))

  -- ours and swiftclient (one process a round) in alternating rounds
  local rounds = quick and 1 or 3
  local del_ours, del_py = quick and 5 or 7, quick and 2 or 3
  local ours = { putget1k = {}, put4k = {}, get4k = {}, delete50 = {} }
  local theirs = { putget1k = {}, put4k = {}, get4k = {}, delete50 = {} }
  for round = 1, rounds do
    log("PutGet1KB, 4 KiB put and get (%d each), Delete50 (%d) vs swiftclient (%d), round %d/%d",
      small, del_ours, del_py, round, rounds)
    local dir = "/small" .. round
    ours.putget1k[round] = B.measure(small, function()
      assert(d:put_content(path, payload[KiB]))
      assert(#assert(d:get_content(path)) == KiB)
    end, fresh)
    ours.put4k[round] = B.measure(small, function(i)
      assert(d:put_content(dir .. "/" .. i, payload[4 * KiB]))
    end)
    ours.get4k[round] = B.measure(small, function(i)
      assert(#assert(d:get_content(dir .. "/" .. i)) == 4 * KiB)
    end)
    local victim
    ours.delete50[round] = B.measure(del_ours, function()
      assert(d:delete(victim))
    end, function(i)
      victim = dir .. "/del" .. (i + 2)
      for j = 1, 50 do assert(d:put_content(victim .. "/" .. B.rand_name(12) .. j, "")) end
    end)
    local py = object("/py" .. round)
    local out = B.capture(table.concat({ clean_env(), PY, shq(here .. "/swift_client.py"),
      shq(p.authurl), shq(p.username), shq(p.password), shq(p.container), shq(py), small, del_py }, " "))
    for k, v in out:gmatch("(%w+) ([%d.]+)") do table.insert(theirs[k], tonumber(v)) end
    assert(d:delete(dir))
    assert(d:delete("/py" .. round))
  end
  if d:stat(top) then assert(d:delete(top)) end
  res.PutGet1KB = { n = rounds * small, ms = median(ours.putget1k) }
  res.Delete50 = { n = rounds * del_ours, ms = median(ours.delete50) }
  local floor = { PutGet1KB = median(theirs.putget1k), Delete50 = median(theirs.delete50) }

  print("\nswift: the reference's benchmark shapes through the Lua API, ms/op (median)")
  print("  Go = the reference swift driver on this server (issue 5); swiftclient = the same work by")
  print(string.format("  python3-swiftclient, sequential, in one process, in alternating rounds (%d; PutGet1KB:", rounds))
  print(string.format("  put_object + get_object, %d a round; Delete50: listing + one bulk delete, %d a round, ours %d)",
    small, del_py, del_ours))
  print(string.format("  %-12s %6s %10s %10s %10s %12s %12s", "benchmark", "iters", "ms/op", "Go ms/op",
    "speed-up", "swiftclient", "ours/client"))
  for _, k in ipairs({ "PutGet1KB", "PutGet1MB", "Stream1KB", "Stream1MB", "List50", "Delete50" }) do
    local r = res[k]
    local fl, fr = "-", "-"
    if floor[k] then fl, fr = string.format("%.2f", floor[k]), string.format("%.2fx", r.ms / floor[k]) end
    print(string.format("  %-12s %6d %10.2f %10.1f %9.2fx %12s %12s", k, r.n, r.ms, GO[k], GO[k] / r.ms, fl, fr))
  end
  print("  speed-up = Go ms / ours; targets: Stream and Delete50 >= 2x; PutGet1KB <= 1.10x swiftclient")

  print(string.format("\nswift: sequential 4 KiB objects vs swiftclient in one process, ms/op (medians; rounds: %d, x %d ops)",
    rounds, small))
  print(string.format("  %-18s %10s %12s %12s", "operation", "ours", "swiftclient", "ours/client"))
  for _, k in ipairs({ { "put4k", "put 4 KiB" }, { "get4k", "get 4 KiB" } }) do
    local o, t = median(ours[k[1]]), median(theirs[k[1]])
    print(string.format("  %-18s %10.2f %12.2f %11.2fx", k[2], o, t, o / t))
  end
  print("  target: ours/client <= 1.00x")
end

------------------------------------------------------------------ main

local function main()
  local base = os.getenv("SD_BENCH_DIR") or os.getenv("TMPDIR") or "/tmp"
  tmp = B.capture("mktemp -d " .. shq(base .. "/sd-swift-bench.XXXXXX")):gsub("%s+$", "")
  local server = start_server()
  p = {}
  for k, v in pairs(server) do p[k] = v end
  p.prefix = "bench-" .. os.time() .. "-" .. B.rand_name(8)
  for _, name in ipairs({ "params", "params-nosum" }) do
    local f = assert(io.open(tmp .. "/" .. name, "w"))
    for k, v in pairs(p) do f:write(k, "=", v, "\n") end
    if name == "params-nosum" then f:write("checksum=false\n") end
    f:close()
  end
  d = assert(sd.create("swift", p))
  log("%s run, prefix %s", quick and "quick" or "full", p.prefix)
  stream_part()
  shapes_part()
  print(string.format("\nswift bench: %.0f s", clock.now() - started))
end

local ok, err = xpcall(main, debug.traceback)
if p and tmp then
  os.execute(swift("delete -q " .. shq(p.container) .. " --prefix " .. shq(p.prefix .. "/")) ..
             " >/dev/null 2>&1")
end
stop_server()
if tmp then os.execute("rm -rf " .. shq(tmp)) end
log("cleaned up")
if not ok then
  io.stderr:write("swift bench failed: ", tostring(err), "\n")
  os.exit(1)
end
