-- The nginx benchmark: requests/second of GET /blobs/<1 KiB object> through
-- storagedriver.ngx (filesystem driver, every request a hop to the thread
-- pool) against nginx serving the same file statically, measured with wrk on
-- 127.0.0.1, and their ratio.  Also: GET ?redirect (a 302 computed in the
-- request's VM, no hop).
--
--   LUA_PATH='lua/?.lua;lua/?/init.lua;spec/support/?.lua;;' lua5.4 bench/nginx.lua
--
-- Needs nginx, libnginx-mod-http-lua, wrk and curl (Debian packages) and the
-- LuaJIT build (make).  SD_BENCH_DURATION (seconds per wrk run, default 3),
-- SD_BENCH_CONNECTIONS (default 16), SD_BENCH_ROUNDS (default 3).  One nginx
-- worker, a pool of 4 threads, `wrk -t1`: on a 2-core machine wrk and the
-- worker each get a core.  Each round measures the two back to back and the
-- ratio is the median of the rounds' ratios (a busy machine moves both).
local nginx = require "nginx"
local t = require "sdtest"

local duration = tonumber(os.getenv("SD_BENCH_DURATION") or "") or 3
local conns = tonumber(os.getenv("SD_BENCH_CONNECTIONS") or "") or 16
local rounds = tonumber(os.getenv("SD_BENCH_ROUNDS") or "") or 3

local ok, why = nginx.available()
if not ok then
  io.stderr:write("bench/nginx.lua: ", why, "\n")
  os.exit(1)
end
if not select(2, t.sh("command -v wrk")) then
  io.stderr:write("bench/nginx.lua: wrk is not installed (apt-get install wrk)\n")
  os.exit(1)
end

local object = t.random_bytes(1024)

local srv = nginx.start{
  threads = 4,
  setup = function(prefix)
    assert(select(2, t.sh("mkdir -p " .. t.shq(prefix .. "/store/static"))))
    t.write_file(prefix .. "/store/static/obj", object)
  end,
  http = [[
  init_by_lua_block {
    require "resty.core"
    local blobs = require "blobs"
    blobs.configure("default", { pool = "sd", driver = "filesystem",
      params = { rootdirectory = "$PREFIX/store", sync = false } })
    blobs.configure("rd", { pool = "sd", driver = "inmemory",
      middlewares = { { "redirect", { baseurl = "http://cdn.example.test/" } } } })
  }
]],
  server = [[
    location /blobs/ { content_by_lua_block { require("blobs").handle() } }
    location /rblobs/ { content_by_lua_block { require("blobs").handle{ store = "rd", prefix = "/rblobs" } } }
    location /static/ { root $PREFIX/store; }
]],
}

local results = {}
local okrun, err = pcall(function()
  -- both serve the same bytes
  for _, p in ipairs({ "/static/obj", "/blobs/static/obj" }) do
    local body = nginx.sh("curl -s " .. srv.url .. p)
    assert(body == object, "wrong body from " .. p)
  end
  local function wrk(path)
    local out = nginx.sh(string.format("wrk -t1 -c%d -d%ds %s%s", conns, duration, srv.url, path))
    local rps = tonumber(out:match("Requests/sec:%s*([%d.]+)"))
    local non2xx = out:match("Non%-2xx or 3xx responses:%s*(%d+)")
    assert(rps, "wrk gave no figure:\n" .. out)
    assert(not non2xx, "errors from " .. path .. ":\n" .. out)
    return rps
  end
  wrk("/blobs/static/obj")     -- warm-up (thread VMs, page cache)
  results.static, results.pool, results.redirect, results.ratio = {}, {}, {}, {}
  for i = 1, rounds do
    results.static[i] = wrk("/static/obj")
    results.pool[i] = wrk("/blobs/static/obj")
    results.redirect[i] = wrk("/rblobs/obj?redirect")
    results.ratio[i] = results.pool[i] / results.static[i]
  end
end)
srv:stop()
if not okrun then error(err, 0) end

local function median(xs)
  local c = {}
  for i, x in ipairs(xs) do c[i] = x end
  table.sort(c)
  local n = #c
  if n % 2 == 1 then return c[(n + 1) / 2] end
  return (c[n / 2] + c[n / 2 + 1]) / 2
end
local function each(xs, f)
  local out = {}
  for i, x in ipairs(xs) do out[i] = string.format(f, x) end
  return table.concat(out, " ")
end

print(string.format("\nnginx: GET of a 1 KiB object, wrk -t1 -c%d -d%ds on 127.0.0.1, 1 worker, " ..
  "thread_pool threads=4; median of %d rounds", conns, duration, rounds))
print(string.format("  %-46s %12s   %s", "", "requests/s", "(rounds)"))
print(string.format("  %-46s %12.0f   (%s)", "static file (location /static/ { root ...; })",
  median(results.static), each(results.static, "%.0f")))
print(string.format("  %-46s %12.0f   (%s)", "storagedriver.ngx, filesystem, thread pool",
  median(results.pool), each(results.pool, "%.0f")))
print(string.format("  %-46s %12.0f   (%s)", "?redirect: 302 from `redirect`, no hop",
  median(results.redirect), each(results.redirect, "%.0f")))
print(string.format("  ratio thread pool / static: %.2f   (rounds: %s)", median(results.ratio),
  each(results.ratio, "%.2f")))
