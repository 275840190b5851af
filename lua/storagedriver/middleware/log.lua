-- log: one structured line per operation, with its duration and outcome.
--
--   sd.wrap(d, "log", { sink = "ngx", format = "json" })
--   sd.wrap(d, "log", { sink = function(rec) mylogger:info(rec) end })
--
-- A record holds: time (wall clock, seconds), driver, op, path, and where
-- they apply dst (move), offset (reader), append (writer), start_after
-- (walk), bytes (get_content / put_content sizes, a writer's size at commit
-- and cancel); duration (seconds, monotonic clock); outcome ("ok" or
-- "error"); on error kind and error (its text); for redirect_url, redirect
-- = the URL's origin only (scheme://host[:port]).
-- Never logged: content bytes, the path and query of a redirect URL (they
-- hold signatures), and URL queries inside error texts (replaced by
-- "?REDACTED").
--
-- Options:
--   sink         "stderr" (default) | "ngx" (ngx.log at ngx.INFO, kept by nginx
--                with `error_log ... info;`; where ngx.log is missing, as in a
--                worker-thread VM, stderr, which nginx points at its error
--                log) | function(record) (called with the record
--                table; a sink that raises does not fail the operation: the
--                failure is reported on stderr)
--   format       "json" (default; lua-cjson) | "text" (key=value pairs) for the
--                "stderr" and "ngx" sinks
--   errors_only  false (default) | true: log failed operations only
--   name         the driver field (default: the inner driver's name)
--   clock        function () -> seconds, monotonic (default: core.now)
--   streams      true (default): writers are wrapped so that commit and cancel
--                are logged too; false: only opening them is logged
local core = require "storagedriver.core"

local M = {}

local fmt, type, tostring = string.format, type, tostring
local stderr = io.stderr

-- Wall-clock seconds: ngx.now() (milliseconds) where there is one.
local wallclock = (type(ngx) == "table" and type(ngx.now) == "function") and ngx.now or os.time

-- "https://host:8443/path?sig=..." -> "https://host:8443"
function M.origin(url)
  if type(url) ~= "string" then return nil end
  return url:match("^(%a[%w+.-]*://[^/?#]*)") or "(redirect)"
end

-- Error texts keep their URLs' scheme, host and path, never their query.
function M.redact(text)
  return (text:gsub("(%a[%w+.-]*://[^%s?#]*)[?#]%S*", "%1?REDACTED"))
end

-- The text format writes the fields in this order (fields of other names
-- are not written: the formatters are for log records).
local ORDER = { "time", "driver", "op", "path", "dst", "offset", "append", "start_after",
                "outcome", "duration", "bytes", "kind", "error", "redirect" }
local NORDER = #ORDER

local find, gsub, floor = string.find, string.gsub, math.floor

local function integral(v)
  return v == floor(v) and v > -1e15 and v < 1e15
end

-- text: key=value pairs (logfmt); a string holding anything but letters,
-- digits and "/._-" is quoted, with \\, \", \n, \t and \xNN escapes.
local TEXT_ESC = { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n", ["\t"] = "\\t" }
local function text_escape(c)
  return TEXT_ESC[c] or fmt("\\x%02x", c:byte())
end

local function text_value(v)
  local tv = type(v)
  if tv == "string" then
    -- Bare when made of path characters only (one anchored scan, whose
    -- first class item matches most characters); quoted otherwise.
    if find(v, "^[%w/._-]+$") then return v end
    return '"' .. gsub(v, '[\\"%c]', text_escape) .. '"'
  elseif tv == "number" then
    if integral(v) then return tostring(floor(v)) end -- floor: 5.4's integer, no ".0"
    return fmt("%.6f", v)
  end
  return tostring(v)
end

function M.format_text(rec)
  -- Appending to one string beats filling and concatenating a table here.
  local out
  for i = 1, NORDER do
    local k = ORDER[i]
    local v = rec[k]
    if v ~= nil then
      -- time: milliseconds at most (ngx.now()); other numbers: microseconds
      local text = (i == 1 and type(v) == "number" and not integral(v)) and fmt("%.3f", v)
                   or text_value(v)
      if out then out = out .. " " .. k .. "=" .. text
      else out = k .. "=" .. text end
    end
  end
  return out or ""
end

-- json: lua-cjson's encoding of the record (key order is cjson's).  Where
-- cjson can be told (OpenResty's can), "/" is written as is; older versions
-- write it as "\/", which every JSON parser reads back as "/".
local json_encode
local function load_cjson()
  if json_encode then return true end
  local ok, cjson = pcall(require, "cjson")
  if not ok then return nil, "json needs lua-cjson: " .. tostring(cjson) end
  local c = cjson.new and cjson.new() or cjson -- a private instance: settings stay ours
  if c.encode_escape_forward_slash then c.encode_escape_forward_slash(false) end
  json_encode = c.encode
  return true
end

function M.format_json(rec)
  assert(load_cjson())
  return json_encode(rec)
end

local function bad(parameter, detail)
  return nil, core.error("InvalidParameter", { parameter = parameter, detail = detail })
end

-- The writer behind a logged writer (streams = true).
local Writer = {}
Writer.__index = Writer

function Writer:write(s) return self.w:write(s) end
function Writer:size() return self.w:size() end
function Writer:close() return self.w:close() end

function Writer:commit()
  local t0 = self.clock()
  local ok, err = self.w:commit()
  self.emit("commit", self.path, self.clock() - t0, err, "bytes", self.w:size())
  return ok, err
end

function Writer:cancel()
  local t0 = self.clock()
  local ok, err = self.w:cancel()
  self.emit("cancel", self.path, self.clock() - t0, err, "bytes", self.w:size())
  return ok, err
end

function M.init(inner, options)
  options = options or {}
  local sink, format = options.sink, options.format
  if sink == nil then sink = "stderr" end
  if format == nil then format = "json" end
  if format ~= "json" and format ~= "text" then
    return bad("format", 'expected "json" or "text"')
  end
  local encode
  if format == "json" then
    local ok, why = load_cjson()
    if not ok then return bad("format", why) end
    encode = M.format_json
  else
    encode = M.format_text
  end
  local write
  if type(sink) == "function" then
    local fn = sink
    write = function(rec)
      local ok, why = pcall(fn, rec)
      if not ok then
        stderr:write("storagedriver log middleware: the sink failed: ", tostring(why), "\n")
      end
    end
  elseif sink == "stderr" or sink == "ngx" then
    local ngx_log = sink == "ngx" and type(ngx) == "table" and ngx.log
    if sink == "ngx" and type(ngx) ~= "table" then
      return bad("sink", '"ngx" needs OpenResty (no ngx table here)')
    end
    if type(ngx_log) == "function" then
      local level = ngx.INFO
      write = function(rec) ngx_log(level, encode(rec)) end
    else
      write = function(rec) stderr:write(encode(rec), "\n") end
    end
  else
    return bad("sink", 'expected "stderr", "ngx" or a function')
  end
  local errors_only = options.errors_only
  if errors_only ~= nil and type(errors_only) ~= "boolean" then
    return bad("errors_only", "a boolean expected")
  end
  local name = options.name
  if name == nil then name = inner:name() end
  if type(name) ~= "string" then return bad("name", "a string expected") end
  local now = options.clock
  if now == nil then now = core.now end
  if type(now) ~= "function" then return bad("clock", "a function expected") end
  local streams = options.streams
  if streams == nil then streams = true end
  if type(streams) ~= "boolean" then return bad("streams", "a boolean expected") end

  -- One record: k/v is the one operation-specific field (dst, offset, ...).
  local function emit(op, path, dt, err, k, v)
    if err == nil and errors_only then return end
    -- One constructor sizes the table for every field at once (the nil
    -- entries reserve room for kind/error and the extra field k).
    local rec
    if err == nil then
      rec = { time = wallclock(), driver = name, op = op, path = path, duration = dt,
              outcome = "ok", kind = nil, error = nil }
    else
      rec = { time = wallclock(), driver = name, op = op, path = path, duration = dt,
              outcome = "error", kind = type(err) == "table" and err.kind or "Driver",
              error = M.redact(tostring(err)) }
    end
    if k then rec[k] = v end
    write(rec)
  end

  local m = {}
  -- The inner driver's C methods, looked up once.
  local i_get, i_put, i_reader, i_writer = inner.get_content, inner.put_content, inner.reader,
                                           inner.writer
  local i_stat, i_list, i_move, i_delete = inner.stat, inner.list, inner.move, inner.delete
  local i_redirect, i_walk = inner.redirect_url, inner.walk

  function m.get_content(_, path)
    local t0 = now()
    local data, err = i_get(inner, path)
    emit("get_content", path, now() - t0, err, "bytes", data and #data)
    return data, err
  end

  function m.put_content(_, path, bytes)
    local t0 = now()
    local ok, err = i_put(inner, path, bytes)
    emit("put_content", path, now() - t0, err, "bytes", #bytes)
    return ok, err
  end

  function m.reader(_, path, offset)
    local t0 = now()
    local r, err = i_reader(inner, path, offset)
    emit("reader", path, now() - t0, err, "offset", offset)
    return r, err
  end

  function m.writer(_, path, append)
    local t0 = now()
    local w, err = i_writer(inner, path, append)
    emit("writer", path, now() - t0, err, "append", append)
    if w and streams then
      return setmetatable({ w = w, path = path, clock = now, emit = emit }, Writer)
    end
    return w, err
  end

  function m.stat(_, path)
    local t0 = now()
    local fi, err = i_stat(inner, path)
    emit("stat", path, now() - t0, err)
    return fi, err
  end

  function m.list(_, path)
    local t0 = now()
    local names, err = i_list(inner, path)
    emit("list", path, now() - t0, err)
    return names, err
  end

  function m.move(_, src, dst)
    local t0 = now()
    local ok, err = i_move(inner, src, dst)
    emit("move", src, now() - t0, err, "dst", dst)
    return ok, err
  end

  function m.delete(_, path)
    local t0 = now()
    local ok, err = i_delete(inner, path)
    emit("delete", path, now() - t0, err)
    return ok, err
  end

  function m.redirect_url(_, path, opts)
    local t0 = now()
    local url, err = i_redirect(inner, path, opts)
    emit("redirect_url", path, now() - t0, err, "redirect", M.origin(url))
    return url, err
  end

  -- The inner driver's own walk (see metrics.lua); one line for the walk.
  function m.walk(_, path, fn, opts)
    local t0 = now()
    local ok, err = i_walk(inner, path, fn, opts)
    emit("walk", path, now() - t0, err, "start_after", opts and opts.start_after)
    return ok, err
  end

  return m
end

return setmetatable(M, { __call = function(_, inner, options) return M.init(inner, options) end })
