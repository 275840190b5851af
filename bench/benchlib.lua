-- Helpers of the cloud driver benchmarks (bench/swift.lua; bench/s3.lua has
-- copies of most of them that can move here): shell commands that stop the
-- run on Ctrl-C, timing, medians, a source file, and the child process that
-- streams through a driver so that its peak RSS and start-up are its own.
-- Lua 5.4 with build/bench/benchclock.so.

local clock = require "benchclock"

local M = {}

M.MiB = 1024 * 1024
M.KiB = 1024
M.clock = clock

function M.shq(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- "a=1 b=2\nc=3" -> { a = "1", b = "2", c = "3" }
function M.read_params(text)
  local p = {}
  for item in (text or ""):gmatch("[^%s,]+") do
    local k, v = item:match("^([^=]+)=(.*)$")
    assert(k, "bad key=value item: " .. item)
    p[k] = v
  end
  return p
end

function M.file_text(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- Reads r to the end in 1 MiB reads, discarding; closes it; the byte count.
function M.drain(r)
  local n = 0
  while true do
    local b, err = r:read(M.MiB)
    if not b then assert(err == nil, tostring(err)); break end
    n = n + #b
  end
  r:close()
  return n
end

function M.median(xs)
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  local n = #s
  if n == 0 then return nil end
  if n % 2 == 1 then return s[(n + 1) / 2] end
  return (s[n / 2] + s[n / 2 + 1]) / 2
end

local alnum = "abcdefghijklmnopqrstuvwxyz0123456789"
function M.rand_name(n)
  local t = {}
  for i = 1, n do
    local k = math.random(#alnum)
    t[i] = alnum:sub(k, k)
  end
  return table.concat(t)
end

-- A logger "<name> bench [  12 s]: ..." on stderr.
function M.logger(name)
  local started = clock.now()
  return function(fmt, ...)
    io.stderr:write(string.format("%s bench [%3.0f s]: ", name, clock.now() - started),
                    string.format(fmt, ...), "\n")
  end, started
end

-- Runs a shell command; an interrupt of the child (Ctrl-C reaches it, not
-- us: system() ignores SIGINT while it waits) becomes an error here, so the
-- caller's cleanup runs.
function M.run(cmd)
  local ok, how, code = os.execute(cmd)
  if how == "signal" and (code == 2 or code == 15) then error("interrupted", 0) end
  if not ok and how == "exit" and (code == 130 or code == 143) then error("interrupted", 0) end
  return ok, code
end

function M.must(cmd)
  local ok, code = M.run(cmd)
  if not ok then error(("command failed (%s): %s"):format(tostring(code), cmd), 0) end
end

-- Output of a command (stderr passes through); errors when it fails.
function M.capture(cmd)
  local f = assert(io.popen(cmd, "r"))
  local out = f:read("a")
  local ok, how, code = f:close()
  if how == "signal" and (code == 2 or code == 15) then error("interrupted", 0) end
  if not ok then error(("command failed (%s %s): %s"):format(how, tostring(code), cmd), 0) end
  return out
end

-- Wall seconds of a command that must succeed.
function M.timed(cmd)
  local t0 = clock.now()
  M.must(cmd)
  return clock.now() - t0
end

-- A file of mib MiB of random bytes, each MiB made distinct by its number.
function M.make_source(path, mib)
  local t = {}
  for i = 1, M.MiB / 4 do t[i] = string.pack("<I4", math.random(0, 0xffffffff)) end
  local block = table.concat(t)
  local f = assert(io.open(path, "wb"))
  for i = 1, mib do assert(f:write(string.pack("<I8", i), block:sub(9))) end
  assert(f:close())
end

-- Median ms of body(i) over iters (setup(i) untimed before each), after two
-- untimed warm-up calls.
function M.measure(iters, body, setup)
  local ms = {}
  for i = -1, iters do
    if setup then setup(i) end
    local t0 = clock.now()
    body(i)
    if i > 0 then ms[i] = (clock.now() - t0) * 1e3 end
  end
  return M.median(ms)
end

-- The child process of a stream benchmark: creates driver with the
-- parameters of paramsfile (chunksize and uploadconcurrency set), then
--   up:   streams file to path (writer, 1 MiB writes, commit)
--   down: reads path to the end (1 MiB reads), discarding
--   idle: nothing more
--   read: reads file in 1 MiB blocks, discarding (the upload less the driver)
-- and prints "bytes=N secs=S hwm_kib=K" (secs: the transfer alone).
function M.child(driver, mode, paramsfile, chunk, conc, path, file)
  local sd = require "storagedriver"
  local p = M.read_params(M.file_text(paramsfile))
  p.chunksize, p.uploadconcurrency = tonumber(chunk), tonumber(conc)
  local d = assert(sd.create(driver, p))
  local n, t0 = 0, clock.now()
  if mode == "up" or mode == "read" then
    local f = assert(io.open(file, "rb"))
    local w = mode == "up" and assert(d:writer(path))
    while true do
      local b = f:read(M.MiB)
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
    n = M.drain(assert(d:reader(path)))
  else
    assert(mode == "idle", "unknown child mode " .. tostring(mode))
  end
  print(string.format("bytes=%d secs=%.6f hwm_kib=%d", n, clock.now() - t0, clock.peak_rss_kib()))
end

-- Runs script's child (script --child MODE PARAMSFILE CHUNK CONC PATH FILE)
-- with lua: its wall time from outside and its own report.
function M.run_child(lua, script, mode, paramsfile, chunk_mib, conc, path, file)
  local cmd = table.concat({ M.shq(lua), M.shq(script), "--child", mode, M.shq(paramsfile),
    tostring(chunk_mib * M.MiB), tostring(conc), M.shq(path or "-"), M.shq(file or "-") }, " ")
  local t0 = clock.now()
  local out = M.capture(cmd)
  local wall = clock.now() - t0
  local bytes, secs, hwm = out:match("bytes=(%d+) secs=([%d.]+) hwm_kib=(%d+)")
  assert(bytes, "child said: " .. out)
  return { wall = wall, bytes = tonumber(bytes), secs = tonumber(secs), hwm = tonumber(hwm) / 1024 }
end

return M
