-- A real nginx for the specs and the benchmark: writes a prefix directory
-- with a configuration, starts nginx on 127.0.0.1 (a free port), waits until
-- it answers, and stops it (kill -QUIT, then -KILL if it lingers).
--
--   local nginx = require "nginx"
--   local ok, why = nginx.available()
--   local srv = nginx.start{ http = "...", workers = 1, threads = 4 }
--   srv.url, srv.port, srv.prefix, srv:worker_pids(), srv:stop()
--
-- In `http`, $PREFIX, $PORT and $REPO are replaced by the prefix directory,
-- the port and the repository root.  The http block already holds
-- lua_package_path / lua_package_cpath for the repository's lua/ and the
-- LuaJIT build (build/luajit), examples/nginx/ and spec/support/, the temp
-- paths under the prefix, and `location = /ping` (200 "pong").
--
-- Workers: when the specs run as root, the configuration says `user root;`
-- so that the workers can read the repository and write the store wherever
-- the checkout lives; otherwise nginx runs entirely as the invoking user.
-- Written for Lua 5.4 and LuaJIT (it only drives the nginx binary).

local t = require "sdtest"

local M = {}

M.MODULES = {
  "/usr/lib/nginx/modules/ndk_http_module.so",
  "/usr/lib/nginx/modules/ngx_http_lua_module.so",
}

-- Runs a shell command like sdtest.sh, without the sanitizer preload that
-- `make sanitize` puts in the environment: curl and nginx are not built for
-- it (curl under a preloaded libasan can hang in its resolver thread).
function M.sh(cmd)
  return t.sh("unset LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS; " .. cmd)
end

-- Lines of cmd's output (run as M.sh does), as an array.
function M.lines(cmd)
  local out = M.sh(cmd)
  local lines = {}
  for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
  return lines
end

local function repo_root()
  local here = debug.getinfo(1, "S").source:match("^@(.*)/spec/support/[^/]*$")
  local out = M.sh("cd " .. t.shq(here or ".") .. " && pwd")
  return (out:gsub("%s+$", ""))
end
M.REPO = repo_root()

local function nginx_bin()
  for _, p in ipairs({ "/usr/sbin/nginx", "/usr/bin/nginx" }) do
    if t.exists(p) then return p end
  end
  local out, ok = M.sh("command -v nginx")
  if ok then return (out:gsub("%s+$", "")) end
  return nil
end

-- true, or false and why nginx with the Lua module cannot run here.
function M.available()
  local bin = nginx_bin()
  if not bin then return false, "nginx is not installed (apt-get install nginx libnginx-mod-http-lua)" end
  for _, m in ipairs(M.MODULES) do
    if not t.exists(m) then return false, m .. " is missing (apt-get install libnginx-mod-http-lua)" end
  end
  if not select(2, M.sh("command -v curl")) then return false, "curl is not installed" end
  return true
end

local function is_root()
  local out = M.sh("id -u")
  return out:match("^0%s*$") ~= nil
end

local function conf_text(o, prefix, port)
  local repo = M.REPO
  local http = (o.http or ""):gsub("%$(%u+)", function(v)
    if v == "PREFIX" then return prefix end
    if v == "PORT" then return tostring(port) end
    if v == "REPO" then return repo end
  end)
  local lines = {}
  for _, m in ipairs(M.MODULES) do lines[#lines + 1] = "load_module " .. m .. ";" end
  if is_root() then lines[#lines + 1] = "user root;" end
  lines[#lines + 1] = "worker_processes " .. (o.workers or 1) .. ";"
  lines[#lines + 1] = "pid logs/nginx.pid;"
  lines[#lines + 1] = "error_log logs/error.log " .. (o.log_level or "warn") .. ";"
  lines[#lines + 1] = string.format("thread_pool %s threads=%d max_queue=%d;",
    o.pool or "sd", o.threads or 4, o.max_queue or 256)
  lines[#lines + 1] = "events { worker_connections 1024; }"
  lines[#lines + 1] = "http {"
  lines[#lines + 1] = "  access_log " .. (o.access_log and "logs/access.log" or "off") .. ";"
  for _, k in ipairs({ "client_body", "proxy", "fastcgi", "uwsgi", "scgi" }) do
    lines[#lines + 1] = string.format("  %s_temp_path %s/tmp/%s;", k, prefix, k)
  end
  lines[#lines + 1] = string.format(
    '  lua_package_path "%s/lua/?.lua;%s/lua/?/init.lua;%s/examples/nginx/?.lua;%s/spec/support/?.lua;;";',
    repo, repo, repo, repo)
  lines[#lines + 1] = string.format('  lua_package_cpath "%s/build/luajit/?.so;;";', repo)
  lines[#lines + 1] = http
  lines[#lines + 1] = "  server {"
  lines[#lines + 1] = "    listen 127.0.0.1:" .. port .. ";"
  lines[#lines + 1] = "    location = /ping { return 200 \"pong\\n\"; }"
  lines[#lines + 1] = (o.server or ""):gsub("%$(%u+)", function(v)
    if v == "PREFIX" then return prefix end
    if v == "PORT" then return tostring(port) end
    if v == "REPO" then return repo end
  end)
  lines[#lines + 1] = "  }"
  lines[#lines + 1] = "}"
  return table.concat(lines, "\n") .. "\n"
end

local Server = {}
Server.__index = Server

local function read_pid(pidfile)
  local s = t.read_file(pidfile)
  return s and tonumber(s:match("%d+"))
end

-- Writes conf_fn(port) to conf_path and starts nginx with -p nginx_prefix
-- on a random port (another one if that port is taken), until it answers
-- HTTP; returns the server, whose files live in dir (removed by stop).
local function launch(dir, nginx_prefix, conf_path, conf_fn, pidfile, errlog)
  local bin = nginx_bin()
  local last
  for _ = 1, 8 do
    local port = math.random(20000, 60999)
    t.write_file(conf_path, conf_fn(port))
    local out, started = M.sh(t.shq(bin) .. " -p " .. t.shq(nginx_prefix) .. " -c " .. t.shq(conf_path) ..
      " -e " .. t.shq(errlog))
    local srv = setmetatable({ prefix = dir, port = port, url = "http://127.0.0.1:" .. port,
      pidfile = pidfile, errlog = errlog }, Server)
    if started then
      for _ = 1, 100 do
        srv.pid = srv.pid or read_pid(pidfile)
        local code = M.sh("curl -s -m 1 -o /dev/null -w '%{http_code}' " .. srv.url .. "/ping")
        if srv.pid and code:match("^[1-5]%d%d$") then return srv end
        t.sleep(0.05)
      end
      local log = srv:error_log()
      srv:stop()
      error("nginx started but does not answer on " .. srv.url .. ":\n" .. log)
    end
    last = out .. srv:error_log()
    if not last:find("in use", 1, true) then break end
  end
  t.rmrf(dir)
  error("nginx did not start:\n" .. tostring(last))
end

local function make_prefix()
  local prefix = t.tmpdir()
  for _, d in ipairs({ "conf", "logs", "tmp" }) do
    assert(select(2, M.sh("mkdir -p " .. t.shq(prefix .. "/" .. d))))
  end
  return prefix
end

local function check_build()
  local ok, why = M.available()
  assert(ok, why)
  assert(t.exists(M.REPO .. "/build/luajit/storagedriver/core.so"),
    "build/luajit/storagedriver/core.so is missing (run make)")
end

-- Starts nginx with a generated configuration; raises (after cleaning up)
-- if it does not come up.
--   o.http    text inside http {} (before the server block)
--   o.server  text inside server {}
--   o.workers, o.threads, o.pool, o.max_queue, o.log_level, o.access_log
--   o.setup(prefix) called before the start (to create files)
function M.start(o)
  o = o or {}
  check_build()
  local prefix = make_prefix()
  if o.setup then o.setup(prefix) end
  return launch(prefix, prefix, prefix .. "/conf/nginx.conf",
    function(port) return conf_text(o, prefix, port) end,
    prefix .. "/logs/nginx.pid", prefix .. "/logs/error.log")
end

-- Starts nginx with a configuration file of the repository (the nginx
-- prefix is the repository root, as its comments say), edited by
-- edit(text, dir, port) --> text; dir is a fresh directory for its
-- pid file, logs and data (with logs/ and tmp/ in it), pid file at
-- dir/nginx.pid.
function M.start_file(file, edit)
  check_build()
  local dir = make_prefix()
  local text = assert(t.read_file(M.REPO .. "/" .. file), "cannot read " .. file)
  return launch(dir, M.REPO .. "/", dir .. "/conf/nginx.conf",
    function(port)
      local conf = edit(text, dir, port)
      if is_root() then conf = "user root;\n" .. conf end
      return conf
    end,
    dir .. "/nginx.pid", dir .. "/logs/error.log")
end

-- (A master that has exited but is not reaped yet, a zombie, counts as gone.)
function Server:alive()
  if not self.pid then return false end
  local st = t.read_file("/proc/" .. self.pid .. "/stat")
  if not st then return false end
  local state = st:match("^%d+ %b() (%a)")
  return state ~= nil and state ~= "Z" and state ~= "X"
end

-- Pids of the worker processes (children of the master).
function Server:worker_pids()
  local pids = {}
  for _, l in ipairs(M.lines("ps -o pid= --ppid " .. tostring(self.pid))) do
    local n = tonumber(l:match("%d+"))
    if n then pids[#pids + 1] = n end
  end
  return pids
end

-- A field of /proc/<pid>/status in KiB (VmHWM, VmRSS).
function M.proc_kib(pid, field)
  local s = t.read_file("/proc/" .. pid .. "/status") or ""
  return tonumber(s:match(field .. ":%s*(%d+)"))
end

function Server:error_log()
  return t.read_file(self.errlog) or ""
end

-- Stops nginx (graceful, then forced) and removes the prefix unless keep.
function Server:stop(keep)
  self.pid = self.pid or read_pid(self.pidfile)
  if self.pid then
    local pids = self:worker_pids()
    M.sh("kill -QUIT " .. self.pid)
    for _ = 1, 100 do
      if not self:alive() then break end
      t.sleep(0.05)
    end
    if self:alive() then
      M.sh("kill -KILL " .. self.pid)
      for _, p in ipairs(pids) do M.sh("kill -KILL " .. p) end
    end
    self.pid = nil
  end
  if not keep then t.rmrf(self.prefix) end
end

return M
