-- storagedriver.ngx: the OpenResty adapter.
--
--   local sdngx = require "storagedriver.ngx"
--   local store = sdngx.new{
--     pool = "sd",                                  -- nginx `thread_pool sd ...;`
--     driver = "filesystem", params = { rootdirectory = "/var/lib/blobs" },
--     middlewares = { { "metrics", {} }, { "log", {} } },   -- each wraps the one before
--     modules = { "mymiddlewares" },                -- required first in every Lua VM
--   }
--   store:get_content(p)  store:put_content(p, s)  store:stat(p)  store:list(p)
--   store:delete(p)  store:move(a, b)                -- on the thread pool
--   store:redirect_url(p, opts)                      -- in this VM, no I/O, no hop
--   store:serve(p, { range = ngx.var.http_range })   -- streamed GET/HEAD with Range
--   store:receive(p)                                 -- streamed PUT
--
-- Why it looks like this: a blocking storage call made in a content handler
-- stops the whole nginx worker, so every call that may touch the disk or the
-- network runs through ngx.run_worker_thread.  That function runs
-- require(MODULE)[fname](args...) in a separate Lua VM on a pool thread, and
-- only nil, booleans, numbers, strings and tables (copied, without
-- metatables) cross between the VMs: no driver, reader or writer userdata.
-- So each VM (the request's and every thread VM) builds its own driver from
-- the store's configuration, a plain table, and keeps it in a cache keyed by
-- that configuration; errors travel as plain tables and are rebuilt here into
-- error objects (same kind, same fields, same text).
--
-- Each thread VM has its own driver instance: drivers that keep their data in
-- the Lua VM or in the instance (inmemory, luamem) are not shared between
-- VMs, so under nginx they only make sense for redirect_url or tests.  The
-- filesystem driver, like the network drivers, keeps its state outside the
-- instance and works the same from every VM.
--
-- This file is loaded in both kinds of VM.  The functions named thread_*
-- are the ones run on the pool; nothing at load time needs the request API.

local M = { _VERSION = "0.1.0" }

local MODULE = ... or "storagedriver.ngx"

local DEFAULT_CHUNK = 256 * 1024

local sd_mod                     -- required on first use (both VMs)
local function sd()
  if not sd_mod then sd_mod = require "storagedriver" end
  return sd_mod
end

---------------------------------------------------------------- configuration

-- A canonical text for a configuration: equal configurations give equal
-- text, so it keys the per-VM driver cache.  Only the types that cross the
-- thread boundary are allowed.
local function canon(v, out, what)
  local t = type(v)
  if t == "string" then
    out[#out + 1] = string.format("%q", v)
  elseif t == "number" then
    out[#out + 1] = string.format("%.17g", v)
  elseif t == "boolean" then
    out[#out + 1] = tostring(v)
  elseif t == "table" then
    if getmetatable(v) ~= nil then
      error("storagedriver.ngx: " .. what .. " holds a table with a metatable (it cannot cross to the thread pool)", 0)
    end
    local keys = {}
    for k in pairs(v) do
      local kt = type(k)
      if kt ~= "string" and kt ~= "number" then
        error("storagedriver.ngx: " .. what .. " has a key of type " .. kt, 0)
      end
      keys[#keys + 1] = k
    end
    table.sort(keys, function(a, b)
      if type(a) == type(b) then return a < b end
      return type(a) == "number"
    end)
    out[#out + 1] = "{"
    for _, k in ipairs(keys) do
      canon(k, out, what)
      out[#out + 1] = "="
      canon(v[k], out, what)
      out[#out + 1] = ","
    end
    out[#out + 1] = "}"
  else
    error("storagedriver.ngx: " .. what .. " holds a " .. t ..
      " (only strings, numbers, booleans and tables cross to the thread pool)", 0)
  end
end

-- The part of the options that builds the driver, normalised.
local function driver_config(opts)
  if type(opts.driver) ~= "string" or opts.driver == "" then
    error("storagedriver.ngx.new: `driver` (a driver name) is required", 3)
  end
  if opts.params ~= nil and type(opts.params) ~= "table" then
    error("storagedriver.ngx.new: `params` must be a table", 3)
  end
  local cfg = { driver = opts.driver, params = opts.params or {}, middlewares = {}, modules = {} }
  for i, m in ipairs(opts.middlewares or {}) do
    local name, options
    if type(m) == "string" then
      name = m
    elseif type(m) == "table" then
      name, options = m.name or m[1], m.options or m[2]
    end
    if type(name) ~= "string" then
      error("storagedriver.ngx.new: middlewares[" .. i .. "] must be a name or { name, options }", 3)
    end
    if options ~= nil and type(options) ~= "table" then
      error("storagedriver.ngx.new: the options of middleware " .. name .. " must be a table", 3)
    end
    cfg.middlewares[i] = { name, options or {} }
  end
  for i, name in ipairs(opts.modules or {}) do
    if type(name) ~= "string" then
      error("storagedriver.ngx.new: modules[" .. i .. "] must be a module name", 3)
    end
    cfg.modules[i] = name
  end
  return cfg
end

---------------------------------------------------------------- errors

local ERROR_FIELDS = { "kind", "driver", "path", "offset", "name", "parameter", "detail", "status", "code" }

-- An error value as a plain table that can cross VMs.
local function plain_error(e, driver)
  if type(e) ~= "table" then
    return { kind = "Driver", driver = driver, detail = tostring(e) }
  end
  local p = {}
  for _, k in ipairs(ERROR_FIELDS) do
    local v = rawget(e, k)
    local t = type(v)
    if t == "string" or t == "number" or t == "boolean" then p[k] = v end
  end
  if type(p.kind) ~= "string" then
    return { kind = "Driver", driver = driver, detail = tostring(e) }
  end
  return p
end

-- The error object for a plain table from another VM.
local function rebuild_error(p)
  if type(p) ~= "table" then
    return sd().error("Driver", { detail = tostring(p) })
  end
  local ok, e = pcall(sd().error, p.kind, p)
  if ok then return e end
  p.kind = nil
  return sd().error("Driver", p)
end
M.rebuild_error = rebuild_error

local function driver_error(cfg, detail)
  return sd().error("Driver", { driver = cfg.driver, detail = detail })
end

---------------------------------------------------------------- drivers, per VM

-- key (canonical configuration text) --> driver, in this VM.
local drivers = {}

local function build_driver(cfg)
  for _, name in ipairs(cfg.modules) do
    require(name)
  end
  local d, err = sd().create(cfg.driver, cfg.params)
  if not d then return nil, err end
  for _, m in ipairs(cfg.middlewares) do
    d, err = sd().wrap(d, m[1], m[2])
    if not d then return nil, err end
  end
  return d
end

local NEED_CONFIG = {}

-- The driver for this configuration in this VM (made on first use; a failed
-- creation is not cached, so the next call tries again).  cfg may be nil
-- when the caller hopes the driver is cached: then nil, NEED_CONFIG.
local function driver_for(id, cfg)
  local d = drivers[id]
  if d then return d end
  if cfg == nil then return nil, NEED_CONFIG end
  local ok, err
  ok, d, err = pcall(build_driver, cfg)
  if not ok then
    -- (the first line only: require's list of searched files is no news)
    return nil, driver_error(cfg, "cannot create the driver: " .. (tostring(d):match("^[^\n]*")))
  end
  if not d then return nil, err end
  drivers[id] = d
  return d
end

-- The statuses of a thread function without a driver.
local function no_driver(err, cfg)
  if err == NEED_CONFIG then return "config" end
  return "err", plain_error(err, cfg and cfg.driver)
end

---------------------------------------------------------------- thread side

-- Every thread_* function takes the configuration's id and, when the caller
-- expects this VM not to have the driver yet, the configuration (copying it
-- on every call would cost a third of the hop).  It returns a status first:
-- "ok" and the results, "err" and a plain error table (a storage failure),
-- "raise" and a message (a Lua error: misuse, or a bug), or "config": call
-- again with the configuration.

local CALLS = {
  get_content = true, put_content = true, stat = true, list = true,
  delete = true, move = true, redirect_url = true,
}

function M.thread_call(id, cfg, method, a, b)
  if not CALLS[method] then
    return "raise", "storagedriver.ngx: no method " .. tostring(method)
  end
  local d, err = driver_for(id, cfg)
  if not d then return no_driver(err, cfg) end
  local ok, r1, r2 = pcall(d[method], d, a, b)
  if not ok then return "raise", tostring(r1) end
  if r1 == nil and r2 ~= nil then return "err", plain_error(r2, d:name()) end
  return "ok", r1
end

local function not_found(d, path)
  return plain_error(sd().error("PathNotFound", { driver = d:name(), path = path }))
end

-- Reads up to n bytes of path at offset, after a stat.
--  first call: range is a table (parse_range's result) or false (the whole
--    object): returns "ok", size, modtime, data, first, last where
--    [first, last] is the resolved range (first == nil: unsatisfiable, no data)
--    and data its first min(n, length) bytes;
--  later calls: range nil, want_size/want_mtime what the first call saw:
--    returns "ok", size, modtime, data;
--  either: "changed" if the object changed since the first call or during
--    this one (a stat before and after the read).
function M.thread_read(id, cfg, path, offset, n, range, want_size, want_mtime)
  local d, err = driver_for(id, cfg)
  if not d then return no_driver(err, cfg) end
  local okc, st
  okc, st, err = pcall(d.stat, d, path)
  if not okc then return "raise", tostring(st) end
  if not st then return "err", plain_error(err, d:name()) end
  if st.is_dir then return "err", not_found(d, path) end
  local size, mtime = st.size, st.modtime
  local first, last
  if range ~= nil then
    first, last = M.resolve_range(range or nil, size)
    if not first then return "ok", size, mtime end
    offset = first
    if last - first + 1 < n then n = last - first + 1 end
  elseif size ~= want_size or mtime ~= want_mtime then
    return "changed", size, mtime
  end
  local data = ""
  if n > 0 then
    local okr, r
    okr, r, err = pcall(d.reader, d, path, offset)
    if not okr then return "raise", tostring(r) end
    if not r then return "err", plain_error(err, d:name()) end
    local okd
    okd, data, err = pcall(r.read, r, n)
    r:close()
    if not okd then return "raise", tostring(data) end
    if data == nil and err ~= nil then return "err", plain_error(err, d:name()) end
    data = data or ""
    -- the same object before and after the read, or these bytes may belong
    -- to another version than the size and time that go with them
    local ok2, st2 = pcall(d.stat, d, path)
    if not (ok2 and st2 and st2.size == size and st2.modtime == mtime) then
      return "changed", size, mtime
    end
  end
  return "ok", size, mtime, data, first, last
end

-- One piece of an upload: writer(path, append), write, then commit if last,
-- close.  expect is the writer's size once data is written (every piece so
-- far): anything else means another upload used the same parked upload, and
-- nothing is committed.  On any failure the writer is cancelled, so a failed
-- upload leaves nothing behind.  Returns "ok", size.
function M.thread_write(id, cfg, path, append, data, last, expect)
  local d, err = driver_for(id, cfg)
  if not d then return no_driver(err, cfg) end
  local okc, w
  okc, w, err = pcall(d.writer, d, path, append)
  if not okc then return "raise", tostring(w) end
  if not w then return "err", plain_error(err, d:name()) end
  local ok, r
  ok, r, err = pcall(w.write, w, data)
  if ok and r then
    local size = w:size()
    if expect and size ~= expect then
      pcall(w.cancel, w)
      return "conflict", plain_error(sd().error("Driver", { driver = d:name(),
        detail = "the upload of " .. path .. " was disturbed by another upload to the same path" }))
    elseif last then
      ok, r, err = pcall(w.commit, w)
      if ok and r then
        w:close()
        return "ok", size
      end
    else
      ok, r, err = pcall(w.close, w)
      if ok and r then return "ok", size end
    end
  end
  pcall(w.cancel, w)
  if not ok then return "raise", tostring(r) end
  return "err", plain_error(err, d:name())
end

-- Removes the parked upload of path (after a failed or aborted upload).
function M.thread_cancel(id, cfg, path)
  local d, err = driver_for(id, cfg)
  if not d then return no_driver(err, cfg) end
  local ok, w
  ok, w, err = pcall(d.writer, d, path, true)
  if not ok then return "raise", tostring(w) end
  if not w then return "err", plain_error(err, d:name()) end
  local okc, r
  okc, r, err = pcall(w.cancel, w)
  if not okc then return "raise", tostring(r) end
  if not r then return "err", plain_error(err, d:name()) end
  return "ok", true
end

---------------------------------------------------------------- Range

local function digits(s)
  if s == "" then return nil end
  if #s > 15 then return math.huge end   -- beyond any size we can index exactly
  return tonumber(s)
end

-- The single range of a Range header value: { first = a, last = b },
-- { first = a } (open-ended) or { suffix = n }; nil when the header is absent,
-- not a bytes range, malformed or names several ranges (then the whole object
-- is served, as RFC 9110 allows).
function M.parse_range(h)
  if type(h) ~= "string" then return nil end
  local spec = h:match("^%s*[Bb][Yy][Tt][Ee][Ss]%s*=%s*(.-)%s*$")
  if not spec or spec:find(",", 1, true) then return nil end
  local a, b = spec:match("^(%d*)%s*%-%s*(%d*)$")
  if not a then return nil end
  local first, last = digits(a), digits(b)
  if first == nil then
    if last == nil then return nil end
    return { suffix = last }
  end
  if last ~= nil and last < first then return nil end
  return { first = first, last = last }
end

-- [first, last] of a parsed range (or of the whole object when range is
-- nil) for an object of size bytes; nil when the range is unsatisfiable
-- (416).  The whole of an empty object is first = 0, last = -1.
function M.resolve_range(range, size)
  if range == nil then return 0, size - 1 end
  if range.suffix then
    if range.suffix == 0 or size == 0 then return nil end
    local n = range.suffix < size and range.suffix or size
    return size - n, size - 1
  end
  if range.first >= size then return nil end
  local last = range.last
  if last == nil or last > size - 1 then last = size - 1 end
  return range.first, last
end

---------------------------------------------------------------- the store (request side)

local Store = {}
Store.__index = Store

-- sdngx.new(opts) --> store.  Raises on a malformed configuration; the
-- driver itself is created on first use in each VM (so that init_by_lua,
-- which runs as root in the master, creates nothing on disk).
--   opts.pool        thread pool name (default "sd"); false: run every call
--                    in the request's VM (blocking: for tests and the CLI)
--   opts.driver, opts.params, opts.middlewares, opts.modules: see the top
--   opts.chunk_size  bytes per thread hop in serve/receive (default 256 KiB)
--   opts.lock_dict   name of a lua_shared_dict used to refuse concurrent
--                    uploads to one path across workers (default: per worker)
--   opts.lock_ttl    seconds without progress after which an upload's lock
--                    is considered abandoned (default 120)
--   opts.name        a name for log lines
function M.new(opts)
  if type(opts) ~= "table" then
    error("storagedriver.ngx.new: a table of options expected, got " .. type(opts), 2)
  end
  local cfg = driver_config(opts)
  local buf = {}
  canon(cfg, buf, "the configuration")
  -- uploads lock on the storage (driver and params), whatever the middlewares
  local sbuf = {}
  canon({ cfg.driver, cfg.params }, sbuf, "the configuration")
  local pool = opts.pool
  if pool == nil then pool = "sd" end
  if pool ~= false and type(pool) ~= "string" then
    error("storagedriver.ngx.new: `pool` must be a thread pool name or false", 2)
  end
  local chunk = opts.chunk_size or DEFAULT_CHUNK
  if type(chunk) ~= "number" or chunk < 1 or chunk % 1 ~= 0 then
    error("storagedriver.ngx.new: `chunk_size` must be a positive integer", 2)
  end
  if opts.lock_dict ~= nil and type(opts.lock_dict) ~= "string" then
    error("storagedriver.ngx.new: `lock_dict` must be a lua_shared_dict name", 2)
  end
  if opts.lock_ttl ~= nil and (type(opts.lock_ttl) ~= "number" or opts.lock_ttl <= 0) then
    error("storagedriver.ngx.new: `lock_ttl` must be a positive number of seconds", 2)
  end
  return setmetatable({
    -- the id of the configuration in the driver caches (shorter to pass
    -- across than the canonical text, which only plain Lua uses as is)
    key = ngx and ngx.md5 and ngx.md5(table.concat(buf)) or table.concat(buf),
    storage_key = table.concat(sbuf),
    cfg = cfg,
    pool = pool,
    chunk_size = chunk,
    lock_dict = opts.lock_dict,
    lock_ttl = opts.lock_ttl or 120,
    name = opts.name or cfg.driver,
  }, Store)
end

local unpack = table.unpack or unpack
local function pack(...) return { n = select("#", ...), ... } end

-- Runs M[fname](id, cfg, ...) on the pool (or here when pool is false) and
-- returns its results, status first.  A failure of the pool itself (no such
-- pool, queue full, module not found) becomes "err" with a Driver error.
-- The configuration goes along only when the thread VM asks for it (once per
-- VM and configuration).
function Store:hop(fname, ...)
  if not self.pool then
    return M[fname](self.key, self.cfg, ...)
  end
  local run = ngx.run_worker_thread
  local r = pack(run(self.pool, MODULE, fname, self.key, nil, ...))
  if r[1] and r[2] == "config" then
    r = pack(run(self.pool, MODULE, fname, self.key, self.cfg, ...))
  end
  if not r[1] then
    return "err", { kind = "Driver", driver = self.cfg.driver,
      detail = "thread pool " .. self.pool .. ": " .. tostring(r[2]) }
  end
  return unpack(r, 2, r.n)
end

local function call(self, method, a, b)
  local status, r = self:hop("thread_call", method, a, b)
  if status == "ok" then return r end
  if status == "err" then return nil, rebuild_error(r) end
  error(r, 0)
end

function Store:get_content(path) return call(self, "get_content", path) end
function Store:put_content(path, bytes) return call(self, "put_content", path, bytes) end
function Store:stat(path) return call(self, "stat", path) end
function Store:list(path) return call(self, "list", path) end
function Store:delete(path) return call(self, "delete", path) end
function Store:move(src, dst) return call(self, "move", src, dst) end

-- The driver in this VM (created on first use).  Its calls block the worker:
-- use it only for what does no I/O, as redirect_url does.
function Store:driver()
  local d, err = driver_for(self.key, self.cfg)
  if not d then return nil, rebuild_error(plain_error(err, self.cfg.driver)) end
  return d
end

-- url | nil (the driver does not redirect) | nil, err.  Computed here:
-- presigning needs no I/O, so no thread hop.
function Store:redirect_url(path, opts)
  local d, err = self:driver()
  if not d then return nil, err end
  return d:redirect_url(path, opts)
end

local function log_err(self, ...)
  ngx.log(ngx.ERR, "storagedriver.ngx [", self.name, "]: ", ...)
end

-- The client went away in the middle of a response: nothing more to send
-- (an everyday event, logged at info).
local function client_gone(self, path, err)
  ngx.log(ngx.INFO, "storagedriver.ngx [", self.name, "]: sending ", path, ": ", tostring(err))
  return nil, driver_error(self.cfg, "sending " .. path .. ": " .. tostring(err)), true
end

-- Sends path as the response, read in chunks of chunk_size on the pool:
-- never more than about one chunk of the object in memory at a time.
--   opts.range         the Range header (a single range is honoured: 206 with
--                      Content-Range, or 416 when unsatisfiable; several
--                      ranges or a malformed header: the whole object, 200)
--   opts.head          headers only (default: the request method is HEAD)
--   opts.content_type  default "application/octet-stream"
--   opts.headers       more response headers
--   opts.chunk_size    default: the store's
-- Returns the status sent (200, 206, 416), or nil, err, sent: err an error
-- object; sent is true when the response had already started (the caller
-- can only end the connection: ngx.exit(ngx.ERROR); serve has logged a
-- storage failure at that point).  The object changing while it is sent
-- also ends that way rather than mixing two versions.
function Store:serve(path, opts)
  opts = opts or {}
  local head = opts.head
  if head == nil then head = ngx.req.get_method() == "HEAD" end
  local chunk = opts.chunk_size or self.chunk_size
  local range = M.parse_range(opts.range)

  local status, size, mtime, data, first, last
  for _ = 1, 3 do   -- nothing is sent yet: an object replaced meanwhile is read again
    status, size, mtime, data, first, last =
      self:hop("thread_read", path, 0, head and 0 or chunk, range or false)
    if status ~= "changed" then break end
  end
  if status == "err" then return nil, rebuild_error(size) end
  if status == "changed" then
    return nil, driver_error(self.cfg, "object changed while being read: " .. path)
  end
  if status ~= "ok" then error(size, 0) end

  local h = ngx.header
  h["Accept-Ranges"] = "bytes"
  h["Last-Modified"] = ngx.http_time(math.floor(mtime))
  for k, v in pairs(opts.headers or {}) do h[k] = v end
  if first == nil then
    ngx.status = 416
    h["Content-Range"] = "bytes */" .. string.format("%d", size)
    h["Content-Length"] = 0
    ngx.send_headers()
    return 416
  end
  local code = 200
  if range then
    code = 206
    h["Content-Range"] = string.format("bytes %d-%d/%d", first, last, size)
  end
  local length = last - first + 1
  ngx.status = code
  h["Content-Type"] = opts.content_type or "application/octet-stream"
  h["Content-Length"] = length
  if head then
    ngx.send_headers()
    return code
  end
  local want = length < chunk and length or chunk
  if #data ~= want then
    return nil, driver_error(self.cfg, "object changed while being read: " .. path)
  end
  local offset = first + #data
  local left = length - #data
  -- Each chunk is flushed (waiting until the socket took it) before the next
  -- is read, which bounds memory; the last one goes out when the handler ends.
  local ok, err = ngx.print(data)
  data = nil -- luacheck: ignore (let the chunk be collected)
  if ok and left > 0 then ok, err = ngx.flush(true) end
  if not ok then return client_gone(self, path, err) end
  while left > 0 do
    local n = left < chunk and left or chunk
    status, size, mtime, data = self:hop("thread_read", path, offset, n, nil, size, mtime)
    local e
    if status == "err" then
      e = rebuild_error(size)
    elseif status == "changed" then
      e = driver_error(self.cfg, "object changed while being sent: " .. path)
    elseif status ~= "ok" then
      e = driver_error(self.cfg, "reading " .. path .. ": " .. tostring(size))
    elseif #data ~= n then
      e = driver_error(self.cfg, "object changed while being sent: " .. path)
    end
    if e then
      log_err(self, tostring(e))
      return nil, e, true
    end
    offset, left = offset + n, left - n
    ok, err = ngx.print(data)
    data = nil -- luacheck: ignore
    if ok and left > 0 then ok, err = ngx.flush(true) end
    if not ok then return client_gone(self, path, err) end
  end
  return code
end

---------------------------------------------------------------- uploads

-- Uploads in progress in this worker: lock key --> time of the last sign of
-- life (a lock older than lock_ttl is stale: its request died unseen).
local uploads = {}

local function lock(self, path)
  local k = self.storage_key .. "\0" .. path
  local t = uploads[k]
  if t and ngx.now() - t < self.lock_ttl then return nil end
  if self.lock_dict then
    local dict = ngx.shared[self.lock_dict]
    if not dict then
      error("storagedriver.ngx: no lua_shared_dict named " .. self.lock_dict, 0)
    end
    local ok, err = dict:add(k, ngx.worker.pid(), self.lock_ttl)
    if not ok then
      if err ~= "exists" then log_err(self, "lock_dict: ", err) end
      return nil
    end
  end
  uploads[k] = ngx.now()
  return k
end

local function refresh(self, k)
  uploads[k] = ngx.now()
  if self.lock_dict then
    ngx.shared[self.lock_dict]:set(k, ngx.worker.pid(), self.lock_ttl)
  end
end

local function unlock(self, k)
  uploads[k] = nil
  if self.lock_dict then ngx.shared[self.lock_dict]:delete(k) end
end

-- Stores the request body at path, streamed: the body is read from the
-- socket chunk_size bytes at a time and each chunk is written on the pool by
-- a writer opened in append mode and closed again (a writer cannot cross VMs
-- or stay open between two hops: consecutive hops may run in different VMs);
-- the last chunk commits.  So the content appears at path only when all of
-- it has arrived, and memory stays bounded by a chunk.  Cost: one
-- writer open/close per chunk (on the filesystem: two renames of the parked
-- upload per chunk).
--   opts.max_size    refuse larger bodies (413)
--   opts.timeout     milliseconds to wait for each piece of the body
--                    (default: the request socket's, lua_socket_read_timeout)
--   opts.chunk_size  default: the store's
-- Returns the number of bytes stored, or nil, err, http_status (400 bad path
-- or a short body, 404, 408 timeout, 409 an upload to that path is already
-- running, 411 no Content-Length (chunked bodies cannot be streamed by
-- lua-nginx-module 0.10.23), 413, 500, 505 HTTP/2 (no request socket)).
local receive

function Store:receive(path, opts)
  opts = opts or {}
  if type(path) ~= "string" then
    error("bad argument #1 to 'receive' (string expected, got " .. type(path) .. ")", 2)
  end
  local k = lock(self, path)
  if not k then
    ngx.req.discard_body()
    return nil, driver_error(self.cfg, "an upload to this path is in progress: " .. path), 409
  end
  -- (LuaJIT lets the socket reads and thread hops yield across this pcall)
  local ok, n, err, http = pcall(receive, self, path, opts, k)
  unlock(self, k)
  if not ok then error(n, 0) end
  return n, err, http
end

function receive(self, path, opts, k)
  local chunk = opts.chunk_size or self.chunk_size
  local te = ngx.var.http_transfer_encoding
  local len = tonumber(ngx.var.http_content_length or "")
  if te or not len or len < 0 or len % 1 ~= 0 then
    ngx.req.discard_body()
    return nil, driver_error(self.cfg, "a request body with a Content-Length is required"), 411
  end
  if opts.max_size and len > opts.max_size then
    ngx.req.discard_body()
    return nil, driver_error(self.cfg, "request body too large"), 413
  end

  -- started: a piece was written (and parked); cancel it.  A failed
  -- thread_write has already cancelled its writer.
  local function fail(e, http, started)
    if started then
      local st, r = self:hop("thread_cancel", path)
      if st ~= "ok" then log_err(self, "cancelling the upload of ", path, ": ", tostring(r)) end
    end
    return nil, e, http
  end

  local function write(data, append, last, expect)
    local status, r = self:hop("thread_write", path, append, data, last, expect)
    if status == "ok" then return r end
    if status == "conflict" then return nil, rebuild_error(r), 409 end
    local e = status == "err" and rebuild_error(r) or driver_error(self.cfg, tostring(r))
    return nil, e, M.http_status(e)
  end

  if len == 0 then
    local size, err, http = write("", false, true, 0)
    if not size then return fail(err, http, false) end
    return 0
  end

  -- (lua-nginx-module 0.10.23 has no request socket over HTTP/2: it raises)
  local okso, sock, serr = pcall(ngx.req.socket)
  if not okso then
    ngx.req.discard_body()
    return fail(driver_error(self.cfg, "a streamed upload needs HTTP/1.x: " .. tostring(sock)), 505, false)
  end
  if not sock then
    return fail(driver_error(self.cfg, "reading the request body: " .. tostring(serr)), 400, false)
  end
  if opts.timeout then sock:settimeout(opts.timeout) end
  local done = 0
  while done < len do
    local n = len - done
    if n > chunk then n = chunk end
    local data, rerr = sock:receive(n)
    if not data then
      local http = rerr == "timeout" and 408 or 400
      return fail(driver_error(self.cfg, "reading the request body: " .. tostring(rerr)), http, done > 0)
    end
    local size, err, http = write(data, done > 0, done + n == len, done + n)
    data = nil -- luacheck: ignore
    if not size then return fail(err, http, false) end
    done = done + n
    refresh(self, k)
  end
  return len
end

-- The HTTP status for an error object: 404 PathNotFound, 400 InvalidPath and
-- InvalidOffset, 500 otherwise.
function M.http_status(err)
  local kind = type(err) == "table" and err.kind
  if kind == "PathNotFound" then return 404 end
  if kind == "InvalidPath" or kind == "InvalidOffset" then return 400 end
  return 500
end

return M
