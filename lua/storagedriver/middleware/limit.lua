-- limit: a token-bucket rate limit on storage operations, to keep a caller
-- under a backend's request-rate quota (S3 and GCS throttle per prefix,
-- and a throttled backend costs retries) or to protect a shared filesystem.
--
--   sd.wrap(d, "limit", { rate = 100, burst = 200 })              -- reject
--   sd.wrap(d, "limit", { rate = 100, mode = "wait", max_wait = 2 })
--
-- Every limited operation takes one token; the bucket holds `burst` tokens
-- and refills at `rate` per second.  Opening a reader or writer is one
-- operation; reading and writing through it is free.
--
-- Options:
--   rate      operations per second (required, > 0)
--   burst     bucket size (default: max(1, rate)); >= 1
--   mode      "reject" (default): an operation without a token fails at once
--             with a Driver error whose code is "RateLimited";
--             "wait": it sleeps until its token is due, then runs
--   max_wait  "wait" mode: an operation that would wait longer (seconds) is
--             rejected instead (default: no bound)
--   methods   the operations to limit (default: every driver method but
--             redirect_url, which signs a URL without calling the backend and
--             runs on nginx's event loop in OpenResty); the others pass to the
--             inner driver untouched
--   clock     function () -> seconds, monotonic (default: core.now)
--   sleep     function (seconds) (default: core.sleep, which blocks the OS
--             thread: use "wait" where blocking is fine, e.g. in OpenResty's
--             thread pool, never on nginx's event loop; ngx.sleep cannot be
--             used because a middleware method runs below a C call and
--             cannot yield)
--
-- The bucket belongs to one wrapped driver in one Lua state; calls within a
-- state never overlap (they cannot yield), so no lock is needed.  Several
-- states (nginx workers, thread-pool VMs) have a bucket each.
local core = require "storagedriver.core"

local ALL = { "get_content", "put_content", "reader", "writer", "stat", "list", "move",
              "delete", "redirect_url", "walk" }
local DEFAULT = { "get_content", "put_content", "reader", "writer", "stat", "list", "move",
                  "delete", "walk" }

local function bad(parameter, detail)
  return nil, core.error("InvalidParameter", { parameter = parameter, detail = detail })
end

local function positive(x)
  return type(x) == "number" and x > 0 and x < math.huge
end

local function number_text(x)
  if x == math.floor(x) and x < 1e15 then return string.format("%d", x) end
  return string.format("%g", x)
end

return function(inner, options)
  options = options or {}
  local rate = options.rate
  if rate == nil then return bad("rate", "required (operations per second)") end
  if not positive(rate) then return bad("rate", "a positive number expected") end
  local burst = options.burst
  if burst == nil then burst = math.max(1, rate) end
  if not positive(burst) or burst < 1 then return bad("burst", "a number >= 1 expected") end
  local mode = options.mode or "reject"
  if mode ~= "reject" and mode ~= "wait" then return bad("mode", 'expected "reject" or "wait"') end
  local max_wait = options.max_wait
  if max_wait == nil then max_wait = math.huge end
  if type(max_wait) ~= "number" or not (max_wait >= 0) then
    return bad("max_wait", "a non-negative number of seconds expected")
  end
  local now, sleep = options.clock or core.now, options.sleep or core.sleep
  if type(now) ~= "function" then return bad("clock", "a function expected") end
  if type(sleep) ~= "function" then return bad("sleep", "a function expected") end
  local limited = options.methods or DEFAULT
  if type(limited) ~= "table" then return bad("methods", "an array of method names expected") end
  local known = {}
  for _, op in ipairs(ALL) do known[op] = true end
  local set = {}
  for _, op in ipairs(limited) do
    if not known[op] then return bad("methods", "no driver method named " .. tostring(op)) end
    set[op] = true
  end

  local tokens, last = burst, now()

  -- true when the operation may run (after sleeping, in "wait" mode).
  local function take()
    local t = now()
    tokens = tokens + (t - last) * rate
    if tokens > burst then tokens = burst end
    last = t
    if tokens >= 1 then
      tokens = tokens - 1
      return true
    end
    if mode == "reject" then return false end
    local wait = (1 - tokens) / rate
    if wait > max_wait then return false end
    tokens = tokens - 1 -- a debt the refill pays off while we sleep
    sleep(wait)
    return true
  end

  local limits = " (" .. number_text(rate) .. "/s, burst " .. number_text(burst) .. ")"
  local m = {}
  for _, op in ipairs(ALL) do
    local pass = inner[op] -- the C method, looked up once
    if set[op] then
      local refusal = core.error("Driver", { code = "RateLimited",
        detail = "rate limit exceeded: " .. op .. " refused" .. limits })
      m[op] = function(_, a, b, c)
        if not take() then return nil, refusal end
        return pass(inner, a, b, c)
      end
    end
  end
  -- A method left out must not be derived from a limited one (get_content
  -- through reader, walk through list): it passes through as is.
  local derived = { get_content = "reader", put_content = "writer", walk = { "stat", "list" } }
  for op, from in pairs(derived) do
    local needed = false
    if type(from) == "table" then
      for _, f in ipairs(from) do needed = needed or set[f] end
    else
      needed = set[from]
    end
    if needed and not m[op] then
      local pass = inner[op]
      m[op] = function(_, a, b, c) return pass(inner, a, b, c) end
    end
  end
  return m
end
