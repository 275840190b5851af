-- storagedriver: the public Lua API (DESIGN.md §2).
--
--   local sd = require "storagedriver"
--   local d, err = sd.create("filesystem", { rootdirectory = "/var/lib/registry" })
--
-- The work is done in C (storagedriver.core); this module is its public face,
-- plus the registry of middlewares (per Lua state, like Lua drivers).
local core = require "storagedriver.core"

local sd = {
  create   = core.create,    -- (name, params) --> driver | nil, err
  register = core.register,  -- (name, factory): a driver written in Lua
  drivers  = core.drivers,   -- () --> sorted names
  copy     = core.copy,      -- (src, src_path, dst, dst_path) --> true, nbytes | nil, err
  error    = core.error,     -- (kind, fields) --> error object (for Lua drivers)
  is_error = core.is_error,  -- (v) --> boolean
  SKIP_DIR = core.SKIP_DIR,  -- walk: do not enter this directory
  STOP     = core.STOP,      -- walk: end the walk early
  version  = core.version,
}

-- Drivers and middlewares shipped as Lua modules, registered by name here and
-- loaded on first use (storagedriver.drivers.<name>, .middleware.<name>); each
-- module returns its factory / init function.
local SHIPPED_DRIVERS = { "migrate" }
local SHIPPED_MIDDLEWARES = { "alicdn", "cloudfront", "redirect", "rewrite", "readonly", "metrics", "log", "limit" }

-- Once per Lua state: the factories live in the state's registry, and this
-- module may be loaded again in the same state (busted's insulation).
local known = {}
for _, name in ipairs(core.drivers()) do known[name] = true end
for _, name in ipairs(SHIPPED_DRIVERS) do
  if not known[name] then
    core.register(name, function(params)
      return require("storagedriver.drivers." .. name)(params)
    end)
  end
end

local middlewares = {}
for _, name in ipairs(SHIPPED_MIDDLEWARES) do
  middlewares[name] = function(inner, options)
    return require("storagedriver.middleware." .. name)(inner, options)
  end
end

-- An error value from a middleware's init (nil, err) or a raise: an error
-- object keeps its kind; the middleware's name fills a missing driver field.
local function middleware_error(name, err)
  if core.is_error(err) or (type(err) == "table" and type(err.kind) == "string") then
    local fields = {}
    for k, v in pairs(err) do fields[k] = v end
    if fields.driver == nil then fields.driver = name end
    local ok, e = pcall(core.error, fields.kind, fields)
    if ok then return e end
  end
  return core.error("Driver", { driver = name, detail = tostring(err) })
end

local METHODS = {
  get_content = true, put_content = true, reader = true, writer = true, stat = true,
  list = true, move = true, delete = true, redirect_url = true, walk = true,
}

local function callable(v)
  if type(v) == "function" then return true end
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__call ~= nil
end

sd.middleware = {}

-- sd.middleware.register(name, fn): fn(inner_driver, options) --> table of
-- the methods it overrides | nil, err.  A name registered twice raises.
function sd.middleware.register(name, fn)
  if type(name) ~= "string" or name == "" then
    error("bad argument #1 to 'register' (a middleware needs a name)", 2)
  end
  if type(fn) ~= "function" then
    error("bad argument #2 to 'register' (function expected, got " .. type(fn) .. ")", 2)
  end
  if middlewares[name] then
    error("name already registered: " .. name, 2)
  end
  middlewares[name] = fn
end

-- sd.middleware.names() --> sorted names of the registered middlewares
function sd.middleware.names()
  local out = {}
  for name in pairs(middlewares) do out[#out + 1] = name end
  table.sort(out)
  return out
end

-- sd.wrap(driver, name, options) --> driver with the middleware in front | nil, err
-- Methods the middleware does not override reach the inner driver unchanged
-- (in C); the base layer validates and decorates errors at the outside.
function sd.wrap(driver, name, options)
  if not core.is_driver(driver) then
    error("bad argument #1 to 'wrap' (storagedriver.driver expected, got " .. type(driver) .. ")", 2)
  end
  if type(name) ~= "string" then
    error("bad argument #2 to 'wrap' (string expected, got " .. type(name) .. ")", 2)
  end
  if options ~= nil and type(options) ~= "table" then
    error("bad argument #3 to 'wrap' (table expected, got " .. type(options) .. ")", 2)
  end
  local fn = middlewares[name]
  if not fn then
    return nil, core.error("Driver", { driver = driver:name(),
      detail = "no storage middleware registered with name: " .. name })
  end
  local ok, methods, err = pcall(fn, driver, options or {})
  if not ok then
    return nil, middleware_error(name, methods)
  end
  if methods == nil then
    return nil, middleware_error(name, err or "the middleware returned nothing")
  end
  if type(methods) ~= "table" then
    return nil, core.error("Driver", { driver = name,
      detail = "the middleware returned a " .. type(methods) .. ", expected a table of methods" })
  end
  -- A non-callable method would otherwise be passed over in silence, and the
  -- inner driver's used instead.  (Other fields are the middleware's own:
  -- an object may keep its state beside its methods.)
  for k in pairs(METHODS) do
    local v = methods[k]
    if v ~= nil and not callable(v) then
      return nil, core.error("Driver", { driver = name,
        detail = "the middleware's " .. k .. " is a " .. type(v) .. ", expected a function" })
    end
  end
  return core.wrap(driver, methods)
end

return sd
