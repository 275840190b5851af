-- storagedriver.urlsign: what the URL middlewares (cloudfront, redirect,
-- rewrite, alicdn) share: option checks that return InvalidParameter errors,
-- Go-style durations, a small URL splitter and path joining.
-- Written for Lua 5.4 and LuaJIT (no integer division, no bit operators).
local core = require "storagedriver.core"

local M = {}

-- nil, InvalidParameter error (wrap fills in the middleware's name).
function M.invalid(parameter, detail)
  return nil, core.error("InvalidParameter", { parameter = parameter, detail = detail })
end

-- An optional string option: value | nil (absent or "") | nil, err.
function M.opt_string(options, key)
  local v = options[key]
  if v == nil then return nil end
  if type(v) ~= "string" then return M.invalid(key, key .. " must be a string") end
  if v == "" then return nil end
  return v
end

-- A required string option (the reference's texts: "no <key> provided",
-- "<key> must be a string"): value | nil, err.
function M.req_string(options, key)
  local v = options[key]
  if v == nil or v == "" then return M.invalid(key, "no " .. key .. " provided") end
  if type(v) ~= "string" then return M.invalid(key, key .. " must be a string") end
  return v
end

-- Rejects options the middleware does not know (a misspelt key would
-- otherwise be ignored silently): nil | nil, err.
function M.known(options, mw, names)
  local set = {}
  for _, n in ipairs(names) do set[n] = true end
  for k in pairs(options) do
    if not set[k] then
      local shown = {}
      for _, n in ipairs(names) do
        if n:sub(1, 1) ~= "_" then shown[#shown + 1] = n end
      end
      table.sort(shown)
      return M.invalid(tostring(k), "unknown option for " .. mw .. " (known: " ..
        table.concat(shown, ", ") .. ")")
    end
  end
  return nil
end

---------------------------------------------------------------- durations

-- Go's time.ParseDuration units, in seconds.
local UNITS = {
  ns = 1e-9, us = 1e-6, ["\194\181s"] = 1e-6, ["\206\188s"] = 1e-6,  -- µs (U+00B5, U+03BC)
  ms = 1e-3, s = 1, m = 60, h = 3600,
}

-- "1h30m", "20m", "1.5h", "300ms", "-2s", "0" --> seconds | nil
function M.parse_duration(s)
  if type(s) ~= "string" then return nil end
  local sign, rest = s:match("^([-+]?)(.*)$")
  if rest == "0" then return 0 end
  if rest == "" then return nil end
  local total, pos = 0, 1
  while pos <= #rest do
    local num, unit, stop = rest:match("^(%d*%.?%d*)([^%d%.]+)()", pos)
    if not num or num == "" or num == "." then return nil end
    local mult = UNITS[unit]
    if not mult then return nil end
    total = total + tonumber(num) * mult
    pos = stop
  end
  if sign == "-" then total = -total end
  return total
end

-- A duration option: a Go duration string or a number of seconds; absent:
-- default.  min_zero allows 0, otherwise it must be positive.
-- --> seconds | nil, err ("invalid <key>: ...")
function M.duration(options, key, default, min_zero)
  local v = options[key]
  if v == nil then return default end
  local secs
  if type(v) == "number" then
    secs = v
  elseif type(v) == "string" then
    -- "1200" (no unit): seconds, as a number would be
    secs = v:match("^%d+%.?%d*$") and tonumber(v) or M.parse_duration(v)
    if not secs then
      return M.invalid(key, "invalid " .. key .. ": " .. v ..
        " (a duration such as \"20m\" or \"1h30m\", or a number of seconds)")
    end
  else
    return M.invalid(key, "invalid " .. key .. ": a duration string such as \"20m\" or a number of seconds expected, got a " .. type(v))
  end
  if secs ~= secs or secs == math.huge or secs < 0 or (secs == 0 and not min_zero) then
    return M.invalid(key, "invalid " .. key .. ": " .. tostring(v) ..
      (min_zero and " (must not be negative)" or " (must be positive)"))
  end
  return secs
end

---------------------------------------------------------------------- URLs

-- Splits an absolute URL: { scheme=, userinfo=, host=, path=, query=, fragment= }
-- (query and fragment without their "?"/"#"; nil when absent; host keeps its
-- port) | nil, why.  No decoding: every part stays as written.
function M.parse_url(s)
  if type(s) ~= "string" then return nil, "not a string" end
  if s:find("[%z\1-\32\127]") then return nil, "whitespace or a control character in the URL" end
  local scheme, rest = s:match("^(%a[%w+.-]*):(.*)$")
  if not scheme then return nil, "missing or malformed scheme" end
  local u = { scheme = scheme:lower() }
  local authority = rest:match("^//([^/?#]*)")
  if authority then
    rest = rest:sub(#authority + 3)
    local userinfo, host = authority:match("^(.*)@([^@]*)$")
    if userinfo then u.userinfo = userinfo else host = authority end
    u.host = host
    if host ~= "" and not M.valid_host(host) then return nil, "invalid host \"" .. host .. "\"" end
  end
  local path, tail = rest:match("^([^?#]*)(.*)$")
  u.path = path
  if tail:sub(1, 1) == "?" then
    u.query, tail = tail:match("^%?([^#]*)(.*)$")
  end
  if tail:sub(1, 1) == "#" then u.fragment = tail:sub(2) end
  return u
end

-- host, host:port, [v6] or [v6]:port; registered names may hold %-escapes.
function M.valid_host(h)
  local name, port = h:match("^(%[[%x:.]+%])(.*)$")
  if not name then name, port = h:match("^([%w._~%%!$&'()*+,;=-]+)(.*)$") end
  if not name then return false end
  return port == "" or port:match("^:%d*$") ~= nil
end

-- Joins and cleans like Go's path.Join: "/path/" + "/a/b" --> "/path/a/b";
-- "." and ".." resolved, repeated slashes collapsed, never above the root.
function M.join_path(...)
  local parts = {}
  for i = 1, select("#", ...) do
    for seg in tostring(select(i, ...)):gmatch("[^/]+") do
      if seg == ".." then
        parts[#parts] = nil
      elseif seg ~= "." then
        parts[#parts + 1] = seg
      end
    end
  end
  return "/" .. table.concat(parts, "/")
end

-- Only downloads are redirected to a CDN or mirror: GET and HEAD.
function M.is_download(opts)
  local m = opts and opts.method
  if m == nil then return true end
  m = tostring(m):upper()
  return m == "GET" or m == "HEAD"
end

-- What to pass on to the inner driver's redirect_url (the C binding reads
-- method and expiry; client_ip is kept for the day it carries it too).
function M.inner_opts(opts)
  if not opts then return nil end
  return { method = opts.method, expiry = opts.expiry, client_ip = opts.client_ip }
end

-- The clock: options._now (a function returning Unix seconds, for tests) or
-- os.time.  Checked at init.
function M.clock(options)
  local now = options._now
  if now == nil then return os.time end
  if type(now) ~= "function" then
    return M.invalid("_now", "_now must be a function returning Unix seconds")
  end
  return now
end

-- Seconds a URL stays valid: the caller's opts.expiry when given (> 0),
-- else the middleware's duration.
function M.lifetime(opts, duration)
  local e = opts and tonumber(opts.expiry)
  if e and e > 0 then return e end
  return duration
end

return M
