-- metrics: per-operation counts, error counts by kind, latency histograms
-- and bytes moved, rendered in the Prometheus text exposition format.
--
--   local metrics = require "storagedriver.middleware.metrics"
--   local d = sd.wrap(inner, "metrics", { name = "primary" })
--   ...
--   ngx.print(metrics.registry():render())     -- or metrics.render()
--
-- A registry holds the series of every driver wrapped with it; drivers are
-- told apart by the `driver` label (option `name`, default the inner
-- driver's name), so several drivers can share one registry.  Registries
-- are per Lua state.  In OpenResty, where every worker and every thread-pool
-- VM builds its own driver, give the option `shdict` instead: the counters
-- then live in that lua_shared_dict, shared by all of them, and
-- metrics.render_shdict(name) renders them from any VM.
--
-- Wrap options:
--   registry   a registry from metrics.registry() / metrics.new_registry()
--              (default: the registry of `namespace`, made on first use)
--   namespace  prefix of the metric names (default "storagedriver")
--   buckets    histogram bounds in seconds, increasing (default DEFAULT_BUCKETS)
--   name       value of the driver label (default: the inner driver's name)
--   clock      function () -> seconds, monotonic (default: core.now)
--   streams    true (default): readers and writers are wrapped to count the
--              bytes read and written and to time commit and cancel;
--              false: only their opening is counted and timed
--   shdict     name of a lua_shared_dict (OpenResty) to keep the counters in,
--              instead of a registry; render with
--              metrics.render_shdict(name [, { namespace =, buckets = }])
--
-- Series (with the default namespace):
--   storagedriver_operations_total{driver,operation}               counter
--   storagedriver_operation_errors_total{driver,operation,kind}    counter
--   storagedriver_operation_duration_seconds{driver,operation}     histogram
--   storagedriver_read_bytes_total{driver}                         counter
--   storagedriver_written_bytes_total{driver}                      counter
-- Operations are the driver methods plus "commit" and "cancel" of writers.
-- A failed operation is counted in operations_total and the histogram too.
local core = require "storagedriver.core"

local M = {}

M.DEFAULT_BUCKETS = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                      0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 }

-- Order of the operations in the output.
local OPERATIONS = { "get_content", "put_content", "reader", "writer", "stat", "list",
                     "move", "delete", "redirect_url", "walk", "commit", "cancel" }

local fmt, concat, sort = string.format, table.concat, table.sort

---------------------------------------------------------------- registry

local Registry = {}
Registry.__index = Registry

-- The shortest text that reads back as x (0.005, not 0.0050000000000000001).
local function number_text(x)
  if x == math.huge then return "+Inf" end
  if x == math.floor(x) and x > -1e15 and x < 1e15 then return fmt("%d", x) end
  for digits = 15, 16 do
    local s = fmt("%." .. digits .. "g", x)
    if tonumber(s) == x then return s end
  end
  return fmt("%.17g", x)
end

-- Prometheus label values: backslash, double quote and newline escaped.
local function label_value(s)
  return (s:gsub('[\\"\n]', { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }))
end

local function check_buckets(b)
  if type(b) ~= "table" or #b == 0 then return "a non-empty array of seconds expected" end
  local prev = -math.huge
  for i = 1, #b do
    local x = b[i]
    if type(x) ~= "number" or x ~= x or x == math.huge or x <= prev then
      return "bounds must be finite numbers in increasing order"
    end
    prev = x
  end
end

local function check_namespace(ns)
  if type(ns) ~= "string" or not ns:match("^[%a_:][%w_:]*$") then
    return "a metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*) expected"
  end
end

local function same_buckets(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

-- A new registry: { namespace =, buckets = } (both optional).  Raises on bad
-- options (metrics.registry and the wrap report them as errors).
function M.new_registry(opts)
  opts = opts or {}
  local ns = opts.namespace or "storagedriver"
  local why = check_namespace(ns)
  if why then error("invalid namespace: " .. why, 2) end
  local b = opts.buckets or M.DEFAULT_BUCKETS
  why = check_buckets(b)
  if why then error("invalid buckets: " .. why, 2) end
  local bounds = {}
  for i = 1, #b do bounds[i] = b[i] end
  local reg = setmetatable({ namespace = ns, buckets = bounds, drivers = {} }, Registry)
  -- reg.render() and reg:render() both work.
  reg.render = function() return Registry.render(reg) end
  reg.reset = function() return Registry.reset(reg) end
  return reg
end

function M.is_registry(v)
  return getmetatable(v) == Registry
end

-- The series of one driver label: { ops = { [op] = series }, read, written }.
function Registry:_series(label)
  local dv = self.drivers[label]
  if dv then return dv end
  dv = { ops = {}, read = 0, written = 0 }
  local n = #self.buckets
  for _, op in ipairs(OPERATIONS) do
    -- counts[i]: observations in (bounds[i-1], bounds[i]]; counts[n+1]: above the last
    local counts = {}
    for i = 1, n + 1 do counts[i] = 0 end
    dv.ops[op] = { count = 0, sum = 0, counts = counts, errors = {} }
  end
  self.drivers[label] = dv
  return dv
end

-- Counts kept in C by observing wraps (see M.init) join the series here,
-- before anything reads them.
function Registry:_drain()
  for _, dv in pairs(self.drivers) do
    local observers = dv.observers
    if observers then
      for obs in pairs(observers) do
        local d = obs:drain()
        for op, x in pairs(d.ops) do
          local s = dv.ops[op]
          s.count = s.count + x.count
          s.sum = s.sum + x.sum
          local c = s.counts
          for i = 1, #c do c[i] = c[i] + x.counts[i] end
          local e = s.errors
          for kind, n in pairs(x.errors) do e[kind] = (e[kind] or 0) + n end
        end
        dv.read = dv.read + d.read
        dv.written = dv.written + d.written
        if d.detached then observers[obs] = nil end -- its driver is gone
      end
    end
  end
end

function Registry:reset()
  self:_drain()
  for _, dv in pairs(self.drivers) do
    dv.read, dv.written = 0, 0
    for _, s in pairs(dv.ops) do
      s.count, s.sum, s.errors = 0, 0, {}
      for i = 1, #s.counts do s.counts[i] = 0 end
    end
  end
end

local function sorted_keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  sort(out)
  return out
end

-- The text exposition format (version 0.0.4), one family after another.
function Registry:render()
  self:_drain()
  local ns, bounds = self.namespace, self.buckets
  local labels = sorted_keys(self.drivers)
  local out = {}
  local function family(name, typ, help)
    out[#out + 1] = "# HELP " .. ns .. "_" .. name .. " " .. help
    out[#out + 1] = "# TYPE " .. ns .. "_" .. name .. " " .. typ
  end
  local quoted = {}
  for i, l in ipairs(labels) do quoted[i] = 'driver="' .. label_value(l) .. '"' end

  family("operations_total", "counter", "Storage operations by driver and operation, failed ones included.")
  for i, l in ipairs(labels) do
    local dv = self.drivers[l]
    for _, op in ipairs(OPERATIONS) do
      out[#out + 1] = fmt('%s_operations_total{%s,operation="%s"} %s', ns, quoted[i], op,
                          number_text(dv.ops[op].count))
    end
  end

  family("operation_errors_total", "counter", "Failed storage operations by error kind.")
  for i, l in ipairs(labels) do
    local dv = self.drivers[l]
    for _, op in ipairs(OPERATIONS) do
      local errs = dv.ops[op].errors
      for _, kind in ipairs(sorted_keys(errs)) do
        out[#out + 1] = fmt('%s_operation_errors_total{%s,operation="%s",kind="%s"} %s', ns,
                            quoted[i], op, label_value(kind), number_text(errs[kind]))
      end
    end
  end

  family("operation_duration_seconds", "histogram", "Duration of storage operations in seconds.")
  local les = {}
  for j = 1, #bounds do les[j] = number_text(bounds[j]) end
  les[#bounds + 1] = "+Inf"
  for i, l in ipairs(labels) do
    local dv = self.drivers[l]
    for _, op in ipairs(OPERATIONS) do
      local s = dv.ops[op]
      local sel = quoted[i] .. ',operation="' .. op .. '"'
      local cum = 0
      for j = 1, #les do
        cum = cum + s.counts[j]
        out[#out + 1] = fmt('%s_operation_duration_seconds_bucket{%s,le="%s"} %s', ns, sel, les[j],
                            number_text(cum))
      end
      out[#out + 1] = fmt("%s_operation_duration_seconds_sum{%s} %s", ns, sel, number_text(s.sum))
      out[#out + 1] = fmt("%s_operation_duration_seconds_count{%s} %s", ns, sel,
                          number_text(s.count))
    end
  end

  family("read_bytes_total", "counter", "Bytes returned by get_content and readers.")
  for i, l in ipairs(labels) do
    out[#out + 1] = fmt("%s_read_bytes_total{%s} %s", ns, quoted[i], number_text(self.drivers[l].read))
  end
  family("written_bytes_total", "counter", "Bytes given to put_content and writers.")
  for i, l in ipairs(labels) do
    out[#out + 1] = fmt("%s_written_bytes_total{%s} %s", ns, quoted[i],
                        number_text(self.drivers[l].written))
  end
  out[#out + 1] = ""
  return concat(out, "\n")
end

local shared = {} -- namespace -> registry, for metrics.registry()

-- metrics.registry([{ namespace =, buckets = }]) --> the registry of that
-- namespace (made on first use).  Asking again with other buckets raises.
function M.registry(opts)
  opts = opts or {}
  local ns = opts.namespace or "storagedriver"
  local reg = shared[ns]
  if reg then
    if opts.buckets and not same_buckets(opts.buckets, reg.buckets) then
      error("the registry of namespace " .. ns .. " already has other buckets", 2)
    end
    return reg
  end
  local ok, r = pcall(M.new_registry, opts)
  if not ok then error(r, 2) end
  shared[ns] = r
  return r
end

-- metrics.render() --> the text of every registry made by metrics.registry()
-- (and used by wraps without a registry option), sorted by namespace.
function M.render()
  local parts = {}
  for _, ns in ipairs(sorted_keys(shared)) do parts[#parts + 1] = shared[ns]:render() end
  return concat(parts)
end

-------------------------------------------------------------- middleware

local function bad(parameter, detail)
  return nil, core.error("InvalidParameter", { parameter = parameter, detail = detail })
end

-- Records one operation: dt seconds, err (nil on success).
local function observe(s, bounds, nb, dt, err)
  s.count = s.count + 1
  s.sum = s.sum + dt
  local i = 1
  while i <= nb and dt > bounds[i] do i = i + 1 end
  local c = s.counts
  c[i] = c[i] + 1
  if err ~= nil then
    local kind = type(err) == "table" and err.kind or "Driver"
    local e = s.errors
    e[kind] = (e[kind] or 0) + 1
  end
end

-- Readers and writers wrapped to count bytes (streams = true).
local Reader = {}
Reader.__index = Reader

function Reader:read(n)
  local s, err = self.r:read(n)
  if s then
    local dv = self.dv
    dv.read = dv.read + #s
  end
  return s, err
end

function Reader:close() return self.r:close() end

local Writer = {}
Writer.__index = Writer

function Writer:write(s)
  local w, err = self.w:write(s)
  if w then
    local dv = self.dv
    dv.written = dv.written + #s
  end
  return w, err
end

function Writer:size() return self.w:size() end
function Writer:close() return self.w:close() end

function Writer:commit()
  local t0 = self.clock()
  local ok, err = self.w:commit()
  observe(self.dv.ops.commit, self.bounds, #self.bounds, self.clock() - t0, err)
  return ok, err
end

function Writer:cancel()
  local t0 = self.clock()
  local ok, err = self.w:cancel()
  observe(self.dv.ops.cancel, self.bounds, #self.bounds, self.clock() - t0, err)
  return ok, err
end

----------------------------------------------------- shared-dict counters

-- In a lua_shared_dict every counter is one key:
--   <ns>|<#label>:<label>|<op>|c       count
--   <ns>|<#label>:<label>|<op>|s       sum of the durations
--   <ns>|<#label>:<label>|<op>|b<i>    observations in bucket i (not cumulative)
--   <ns>|<#label>:<label>|<op>|e:<kind> errors of that kind
--   <ns>|<#label>:<label>|_bytes|r / w  bytes read / written
-- (the label's length makes any label text safe to embed).
local function shkey_prefix(ns, label)
  return ns .. "|" .. #label .. ":" .. label .. "|"
end

local function shared_dict(name)
  local shared = type(ngx) == "table" and ngx.shared
  local dict = shared and shared[name]
  if not dict then return nil end
  return dict
end

-- The recorder of one wrapped driver: observe(op, dt, err), bytes(rw, n).
-- Failed dict updates (a full dict) lose a count, never the operation.
local function shdict_recorder(dict, ns, label, bounds)
  local prefix = shkey_prefix(ns, label)
  local nb = #bounds
  local keys = {}
  for _, op in ipairs(OPERATIONS) do
    local k = { c = prefix .. op .. "|c", s = prefix .. op .. "|s", b = {}, e = prefix .. op .. "|e:" }
    for i = 1, nb + 1 do k.b[i] = prefix .. op .. "|b" .. i end
    keys[op] = k
    dict:add(k.c, 0) -- the series shows (at 0) from the start; no-op when present
  end
  local kread, kwritten = prefix .. "_bytes|r", prefix .. "_bytes|w"
  dict:add(kread, 0)
  dict:add(kwritten, 0)
  local rec = {}
  function rec.observe(op, dt, err)
    local k = keys[op]
    dict:incr(k.c, 1, 0)
    dict:incr(k.s, dt, 0)
    local i = 1
    while i <= nb and dt > bounds[i] do i = i + 1 end
    dict:incr(k.b[i], 1, 0)
    if err ~= nil then
      dict:incr(k.e .. (type(err) == "table" and err.kind or "Driver"), 1, 0)
    end
  end
  function rec.bytes(rw, n)
    if n > 0 then dict:incr(rw == "r" and kread or kwritten, n, 0) end
  end
  return rec
end

local SReader = {}
SReader.__index = SReader

function SReader:read(n)
  local s, err = self.r:read(n)
  if s then self.rec.bytes("r", #s) end
  return s, err
end

function SReader:close() return self.r:close() end

local SWriter = {}
SWriter.__index = SWriter

function SWriter:write(s)
  local w, err = self.w:write(s)
  if w then self.rec.bytes("w", #s) end
  return w, err
end

function SWriter:size() return self.w:size() end
function SWriter:close() return self.w:close() end

function SWriter:commit()
  local t0 = self.clock()
  local ok, err = self.w:commit()
  self.rec.observe("commit", self.clock() - t0, err)
  return ok, err
end

function SWriter:cancel()
  local t0 = self.clock()
  local ok, err = self.w:cancel()
  self.rec.observe("cancel", self.clock() - t0, err)
  return ok, err
end

local function shdict_methods(inner, rec, now, streams)
  local m = {}
  local function timed(op)
    local f = inner[op]
    return function(_, a, b, c)
      local t0 = now()
      local r, err = f(inner, a, b, c)
      rec.observe(op, now() - t0, err)
      return r, err
    end
  end
  for _, op in ipairs({ "stat", "list", "move", "delete", "redirect_url", "walk" }) do
    m[op] = timed(op)
  end
  local get, put = timed("get_content"), timed("put_content")
  function m.get_content(self, path)
    local data, err = get(self, path)
    if data then rec.bytes("r", #data) end
    return data, err
  end
  function m.put_content(self, path, bytes)
    local ok, err = put(self, path, bytes)
    if ok then rec.bytes("w", #bytes) end
    return ok, err
  end
  local open_reader, open_writer = timed("reader"), timed("writer")
  if streams then
    function m.reader(self, path, offset)
      local r, err = open_reader(self, path, offset)
      if r then return setmetatable({ r = r, rec = rec }, SReader) end
      return r, err
    end
    function m.writer(self, path, append)
      local w, err = open_writer(self, path, append)
      if w then return setmetatable({ w = w, rec = rec, clock = now }, SWriter) end
      return w, err
    end
  else
    m.reader, m.writer = open_reader, open_writer
  end
  return m
end

-- metrics.render_shdict(name [, { namespace =, buckets = }]) --> the text of
-- the counters kept in the lua_shared_dict `name` (in any VM of nginx).
-- The buckets must be those the wraps used (both default alike).
-- dict_object: the dict itself instead of looking ngx.shared[name] up.
function M.render_shdict(name, opts, dict_object)
  opts = opts or {}
  local dict = dict_object or shared_dict(name)
  if not dict then error("no lua_shared_dict named " .. tostring(name), 2) end
  local reg = M.new_registry({ namespace = opts.namespace, buckets = opts.buckets })
  local head = reg.namespace .. "|"
  local nb = #reg.buckets
  for _, key in ipairs(dict:get_keys(0)) do
    if key:sub(1, #head) == head then
      local len, at = key:match("^(%d+):()", #head + 1)
      len = tonumber(len)
      if len then
        local label = key:sub(at, at + len - 1)
        local op, field = key:match("^|([^|]+)|(.+)$", at + len)
        local v = dict:get(key)
        if op and type(v) == "number" then
          local dv = reg:_series(label)
          local sr = dv.ops[op]
          if op == "_bytes" then
            if field == "r" then dv.read = v elseif field == "w" then dv.written = v end
          elseif sr then
            if field == "c" then
              sr.count = v
            elseif field == "s" then
              sr.sum = v
            elseif field:sub(1, 2) == "e:" then
              sr.errors[field:sub(3)] = v
            else
              local i = tonumber(field:match("^b(%d+)$"))
              if i and i >= 1 and i <= nb + 1 then sr.counts[i] = v end
            end
          end
        end
      end
    end
  end
  return reg:render()
end

function M.init(inner, options)
  options = options or {}
  if options.shdict ~= nil then
    return M.init_shdict(inner, options)
  end
  local reg = options.registry
  if reg ~= nil then
    if not M.is_registry(reg) then
      return bad("registry", "a registry from metrics.registry() or metrics.new_registry() expected")
    end
    if options.namespace ~= nil and options.namespace ~= reg.namespace then
      return bad("namespace", "differs from the registry's (" .. reg.namespace .. ")")
    end
    if options.buckets ~= nil and not same_buckets(options.buckets, reg.buckets) then
      return bad("buckets", "differ from the registry's")
    end
  else
    local ns = options.namespace
    if ns ~= nil then
      local why = check_namespace(ns)
      if why then return bad("namespace", why) end
    end
    if options.buckets ~= nil then
      local why = check_buckets(options.buckets)
      if why then return bad("buckets", why) end
    end
    local ok, r = pcall(M.registry, { namespace = ns, buckets = options.buckets })
    if not ok then return bad("buckets", tostring(r):gsub("^.-: ", "")) end
    reg = r
  end
  local label = options.name
  if label == nil then label = inner:name() end
  if type(label) ~= "string" or label == "" then
    return bad("name", "a non-empty string expected")
  end
  local now = options.clock
  if now == nil then now = core.now end
  if type(now) ~= "function" then return bad("clock", "a function expected") end
  local streams = options.streams
  if streams == nil then streams = true end
  if type(streams) ~= "boolean" then return bad("streams", "a boolean expected") end

  local bounds = reg.buckets
  local nb = #bounds
  local dv = reg:_series(label)

  -- With the default clock, the counting is done in C: the wrap overrides
  -- nothing and the bridge times each call on its way to the inner driver
  -- (two clock reads, no trip through Lua); render() collects the counts.
  if options.clock == nil then
    local obs = core.observer(bounds, streams)
    dv.observers = dv.observers or {}
    dv.observers[obs] = true
    return { _observe = obs }
  end

  local ops = dv.ops
  local m = {}

  -- The inner driver's C methods, looked up once; observations are inlined
  -- (a Lua call less per operation), errors counted out of line.
  local function count_error(s, err)
    local kind = type(err) == "table" and err.kind or "Driver"
    local e = s.errors
    e[kind] = (e[kind] or 0) + 1
  end

  -- An operation returning (result | nil, err), timed and counted.
  local function timed(op)
    local s, f = ops[op], inner[op]
    local counts = s.counts
    return function(_, a, b, c)
      local t0 = now()
      local r, err = f(inner, a, b, c)
      local dt = now() - t0
      s.count = s.count + 1
      s.sum = s.sum + dt
      local i = 1
      while i <= nb and dt > bounds[i] do i = i + 1 end
      counts[i] = counts[i] + 1
      if err ~= nil then count_error(s, err) end
      return r, err
    end
  end

  for _, op in ipairs({ "stat", "list", "move", "delete", "redirect_url" }) do
    m[op] = timed(op)
  end

  -- Overridden so that the inner driver's own walk is used (with stat and
  -- list overridden, the base would otherwise walk generically over them).
  -- The duration includes the time spent in the walk function.
  m.walk = timed("walk")

  do
    local s, f = ops.get_content, inner.get_content
    local counts = s.counts
    function m.get_content(_, path)
      local t0 = now()
      local data, err = f(inner, path)
      local dt = now() - t0
      s.count = s.count + 1
      s.sum = s.sum + dt
      local i = 1
      while i <= nb and dt > bounds[i] do i = i + 1 end
      counts[i] = counts[i] + 1
      if data then
        dv.read = dv.read + #data
      else
        count_error(s, err)
      end
      return data, err
    end
  end

  do
    local s, f = ops.put_content, inner.put_content
    local counts = s.counts
    function m.put_content(_, path, bytes)
      local t0 = now()
      local ok, err = f(inner, path, bytes)
      local dt = now() - t0
      s.count = s.count + 1
      s.sum = s.sum + dt
      local i = 1
      while i <= nb and dt > bounds[i] do i = i + 1 end
      counts[i] = counts[i] + 1
      if ok then
        dv.written = dv.written + #bytes
      else
        count_error(s, err)
      end
      return ok, err
    end
  end

  local open_reader, open_writer = timed("reader"), timed("writer")
  if streams then
    function m.reader(self, path, offset)
      local r, err = open_reader(self, path, offset)
      if r then return setmetatable({ r = r, dv = dv }, Reader) end
      return r, err
    end
    function m.writer(self, path, append)
      local w, err = open_writer(self, path, append)
      if w then return setmetatable({ w = w, dv = dv, clock = now, bounds = bounds }, Writer) end
      return w, err
    end
  else
    m.reader, m.writer = open_reader, open_writer
  end

  return m
end

-- The wrap with option shdict: counters in ngx.shared[options.shdict].
function M.init_shdict(inner, options)
  local name = options.shdict
  if type(name) ~= "string" then return bad("shdict", "the name of a lua_shared_dict expected") end
  local dict = shared_dict(name)
  if not dict then
    return bad("shdict", "no lua_shared_dict named " .. name .. " (it needs OpenResty and a lua_shared_dict directive)")
  end
  if options.registry ~= nil then return bad("registry", "not with shdict") end
  local ns = options.namespace or "storagedriver"
  local why = check_namespace(ns)
  if why then return bad("namespace", why) end
  local bounds = options.buckets or M.DEFAULT_BUCKETS
  why = check_buckets(bounds)
  if why then return bad("buckets", why) end
  local label = options.name
  if label == nil then label = inner:name() end
  if type(label) ~= "string" or label == "" then
    return bad("name", "a non-empty string expected")
  end
  local now = options.clock
  if now == nil then now = core.now end
  if type(now) ~= "function" then return bad("clock", "a function expected") end
  local streams = options.streams
  if streams == nil then streams = true end
  if type(streams) ~= "boolean" then return bad("streams", "a boolean expected") end
  return shdict_methods(inner, shdict_recorder(dict, ns, label, bounds), now, streams)
end

-- The module is what the middleware registry calls (fn(inner, options)),
-- and also carries registry(), new_registry() and render().
return setmetatable(M, { __call = function(_, inner, options) return M.init(inner, options) end })
