-- alicdn: downloads (GET, HEAD) are redirected to an Alibaba Cloud CDN URL
-- signed with the CDN's URL-authentication key (types A, B and C), over any
-- inner driver.
--
--   sd.wrap(d, "alicdn", { baseurl = "cdn.example.com", authtype = "a",
--                          privatekey = "<the CDN auth key>", duration = "20m" })
--
-- Options:
--   baseurl     (required) the CDN domain, "https://" added when no scheme is
--               given; a base path is joined with the storage path; a query
--               is kept
--   authtype    (required) "a", "b" or "c" (any case)
--   privatekey  (required) the CDN authentication key (the key itself, not a file)
--   duration    added to the signing time, like the reference: the CDN accepts
--               the URL until that time plus the TTL configured on the CDN;
--               "20m", "1h30m", or seconds; default 20m; 0 allowed
-- The signed path is the base path + the storage path (the URI the CDN sees).
--   A: <url>?auth_key=<ts>-<rand>-0-<md5hex(uri-ts-rand-0-key)>
--      (ts: Unix seconds; rand: a random UUID v4 without dashes)
--   B: <scheme>://<host>/<YYYYMMDDHHMM>/<md5hex(key .. YYYYMMDDHHMM .. uri)><uri>
--      (the time in UTC+8, as Alibaba Cloud documents)
--   C: <scheme>://<host>/<md5hex(key .. uri .. HEXTS)>/<HEXTS><uri>
--      (HEXTS: Unix seconds in upper-case hex, as in Alibaba Cloud's example)
-- Other methods go to the inner driver's redirect_url.
local core = require "storagedriver.core"
local crypto = require "storagedriver.crypto"
local u = require "storagedriver.urlsign"

local OPTIONS = { "baseurl", "authtype", "privatekey", "duration", "_now", "_rand" }
local DEFAULT_DURATION = 20 * 60
local UTC8 = 8 * 3600

-- A random UUID (version 4) as 32 hex digits.
local function uuid_hex()
  local b, err = crypto.random_bytes(16)
  if not b then return nil, err end
  local t = { b:byte(1, 16) }
  t[7] = t[7] % 16 + 64   -- version 4
  t[9] = t[9] % 64 + 128  -- variant 10xx
  return crypto.hex(string.char((table.unpack or unpack)(t)))
end

local function md5hex(s)
  return crypto.hex(crypto.md5(s))
end

return function(inner, options)
  local _, err = u.known(options, "alicdn", OPTIONS)
  if err then return nil, err end
  local base, authtype, key, duration, now
  base, err = u.req_string(options, "baseurl")
  if not base then return nil, err end
  local full = base
  if not full:find("://", 1, true) then full = "https://" .. full end
  local url, why = u.parse_url(full)
  if url and (url.host == nil or url.host == "") then url, why = nil, "no host" end
  if url and (url.userinfo or url.fragment) then url, why = nil, "credentials (user@) or a fragment (#) are not allowed" end
  if not url then return u.invalid("baseurl", "invalid baseurl: " .. base .. " (" .. why .. ")") end

  authtype, err = u.req_string(options, "authtype")
  if not authtype then return nil, err end
  authtype = authtype:lower()
  if authtype ~= "a" and authtype ~= "b" and authtype ~= "c" then
    return u.invalid("authtype", "invalid authentication type: " .. options.authtype .. " (expected a, b or c)")
  end
  key, err = u.req_string(options, "privatekey")
  if not key then return nil, err end
  duration, err = u.duration(options, "duration", DEFAULT_DURATION, true)
  if not duration then return nil, err end
  now, err = u.clock(options)
  if not now then return nil, err end
  local rand = options._rand or uuid_hex
  if type(rand) ~= "function" then
    return u.invalid("_rand", "_rand must be a function returning a random string")
  end

  local origin = url.scheme .. "://" .. url.host
  local basepath = u.join_path(url.path)
  if basepath == "/" then basepath = "" end
  local query = url.query
  if query == "" then query = nil end

  local sign
  if authtype == "a" then
    local sep = query and ("?" .. query .. "&auth_key=") or "?auth_key="
    sign = function(uri, ts)
      local r, rerr = rand()
      if not r then return nil, rerr end
      local head = string.format("%d-%s-0-", ts, r)
      return origin .. uri .. sep .. head .. md5hex(uri .. "-" .. head .. key)
    end
  elseif authtype == "b" then
    local tail = query and ("?" .. query) or ""
    sign = function(uri, ts)
      local stamp = os.date("!%Y%m%d%H%M", ts + UTC8)
      return origin .. "/" .. stamp .. "/" .. md5hex(key .. stamp .. uri) .. uri .. tail
    end
  else
    local tail = query and ("?" .. query) or ""
    sign = function(uri, ts)
      local hexts = string.format("%X", ts)
      return origin .. "/" .. md5hex(key .. uri .. hexts) .. "/" .. hexts .. uri .. tail
    end
  end

  return {
    redirect_url = function(_, path, opts)
      if not u.is_download(opts) then
        return inner:redirect_url(path, u.inner_opts(opts))
      end
      local ts = math.floor(now() + u.lifetime(opts, duration))
      local signed, serr = sign(basepath .. path, ts)
      if not signed then
        return nil, core.error("Driver", { detail = "alicdn: cannot sign the URL: " .. tostring(serr) })
      end
      return signed
    end,
  }
end
