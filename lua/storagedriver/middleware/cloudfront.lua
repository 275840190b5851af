-- cloudfront: downloads (GET, HEAD) are redirected to Amazon CloudFront URLs
-- signed with a CloudFront key pair (canned policy, RSA-SHA1), over any inner
-- driver; optionally, clients inside AWS (by IP range) get the inner driver's
-- own redirect (a presigned S3 URL) instead.
--
--   sd.wrap(d, "cloudfront", { baseurl = "https://d111111abcdef8.cloudfront.net/",
--     privatekey = "/etc/registry/cloudfront.pem", keypairid = "K2JCJMDEHXQW5F" })
--
-- Options:
--   baseurl          (required) "https://" added when no scheme is given, "/"
--                    appended; the signed URL is baseurl .. the storage path
--                    without its leading "/"
--   privatekey       (required) path of the PEM RSA private key (PKCS#1 or
--                    PKCS#8, unencrypted), read at init; or the PEM text itself
--   keypairid        (required) the CloudFront key pair / public key id
--   duration         URL lifetime: "20m", "1h30m", or seconds; default 20m
--                    (redirect_url's opts.expiry, when given, wins)
--   ipfilteredby     none (default) | aws | awsregion
--   awsregion        for awsregion: "us-east-1, eu-west-1" (or an array)
--   iprangesurl      the AWS ip-ranges.json as a local file (a path or a
--                    file:// URL) or as an already-decoded table; the network
--                    is not used (an http(s) URL is refused when a filter is on)
--   updatefrequency  how often the file is read again (checked when a URL is
--                    made); default 12h; the misspelt updatefrenquency is
--                    accepted too
-- The client's address comes from redirect_url's opts.client_ip ("1.2.3.4",
-- "1.2.3.4:5678", "[2001:db8::1]:443", or an X-Forwarded-For list: its first
-- entry); without it, inside nginx, from X-Forwarded-For, X-Real-IP, then the
-- connection's address, like the registry.  Unknown address: CloudFront.
local core = require "storagedriver.core"
local crypto = require "storagedriver.crypto"
local u = require "storagedriver.urlsign"

local OPTIONS = { "baseurl", "privatekey", "keypairid", "duration", "ipfilteredby", "awsregion",
  "iprangesurl", "updatefrequency", "updatefrenquency", "_now" }
local DEFAULT_DURATION = 20 * 60
local DEFAULT_UPDATE = 12 * 3600
local DEFAULT_IPRANGES = "https://ip-ranges.amazonaws.com/ip-ranges.json"
local FILTER_VALUES = "none|aws|awsregion"

------------------------------------------------------------ IP addresses

-- "a.b.c.d" --> number | nil
local function parse_v4(s)
  local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return nil end
  local n = 0
  for _, x in ipairs({ a, b, c, d }) do
    if #x > 3 or (#x > 1 and x:sub(1, 1) == "0") then return nil end
    local v = tonumber(x)
    if v > 255 then return nil end
    n = n * 256 + v
  end
  return n
end

-- "2001:db8::1", "::ffff:1.2.3.4" --> array of 8 numbers (16 bits) | nil
local function parse_v6(s)
  if s:find("[^%x:.]") then return nil end
  local head, tail = s, nil
  local dc = s:find("::", 1, true)
  if dc then
    head, tail = s:sub(1, dc - 1), s:sub(dc + 2)
    if tail:find("::", 1, true) then return nil end
  end
  local function groups(part, allow_v4)
    local out = {}
    if part == "" then return out end
    local fields = {}
    for f in (part .. ":"):gmatch("([^:]*):") do fields[#fields + 1] = f end
    for i, f in ipairs(fields) do
      if allow_v4 and i == #fields and f:find(".", 1, true) then
        local v4 = parse_v4(f)
        if not v4 then return nil end
        out[#out + 1] = math.floor(v4 / 65536)
        out[#out + 1] = v4 % 65536
      elseif f:match("^%x%x?%x?%x?$") then
        out[#out + 1] = tonumber(f, 16)
      else
        return nil
      end
    end
    return out
  end
  local h = groups(head, not dc)
  local t = dc and groups(tail, true) or {}
  if not h or not t then return nil end
  local n = #h + #t
  if (dc and n > 7) or (not dc and n ~= 8) then return nil end
  local out = {}
  for _, g in ipairs(h) do out[#out + 1] = g end
  for _ = 1, 8 - n do out[#out + 1] = 0 end
  for _, g in ipairs(t) do out[#out + 1] = g end
  return out
end

-- --> "v4", number | "v6", groups | nil.  An IPv4-mapped IPv6 address
-- (::ffff:a.b.c.d) is IPv4, as in Go.
local function parse_ip(s)
  local v4 = parse_v4(s)
  if v4 then return "v4", v4 end
  local g = parse_v6(s)
  if not g then return nil end
  if g[1] == 0 and g[2] == 0 and g[3] == 0 and g[4] == 0 and g[5] == 0 and g[6] == 65535 then
    return "v4", g[7] * 65536 + g[8]
  end
  return "v6", g
end

-- The key of an address's first `bits` bits.
local function key_v4(n, bits)
  return math.floor(n / 2 ^ (32 - bits))
end

local function key_v6(g, bits)
  local parts = {}
  local full = math.floor(bits / 16)
  for i = 1, full do parts[i] = g[i] end
  local r = bits - full * 16
  if r > 0 then parts[full + 1] = math.floor(g[full + 1] / 2 ^ (16 - r)) end
  return table.concat(parts, ":")
end

-- The address given by the caller, or by nginx for this request.
local function ip_of(s)
  if type(s) ~= "string" then return nil end
  s = s:match("^%s*([^,]*)"):match("^(.-)%s*$") -- first entry of a list
  local v6 = s:match("^%[([^%]]+)%]") -- [v6] or [v6]:port
  if v6 then s = v6 end
  local kind, addr = parse_ip(s)
  if not kind then
    local host = s:match("^([%d.]+):%d+$") -- v4:port
    if host then kind, addr = parse_ip(host) end
  end
  return kind, addr
end

local function nginx_client()
  local ngx = rawget(_G, "ngx")
  if type(ngx) ~= "table" then return nil end
  local ok, kind, addr = pcall(function()
    local var = ngx.var
    for _, name in ipairs({ "http_x_forwarded_for", "http_x_real_ip", "remote_addr" }) do
      local k, a = ip_of(var[name])
      if k then return k, a end
    end
  end)
  if ok then return kind, addr end
  return nil
end

------------------------------------------------------------ IP ranges

-- The ranges of an ip-ranges.json document kept for the regions (nil: all):
-- { [4] = { bits = { [key] = true } }, [6] = ..., count = n } | nil, why
local function build_ranges(doc, regions)
  if type(doc) ~= "table" or (type(doc.prefixes) ~= "table" and type(doc.ipv6_prefixes) ~= "table") then
    return nil, "no prefixes or ipv6_prefixes array"
  end
  local r = { v4 = {}, v6 = {}, count = 0 }
  local function add(list, field, want)
    if type(list) ~= "table" then return end
    for _, e in ipairs(list) do
      if type(e) == "table" and type(e[field]) == "string" then
        local region = type(e.region) == "string" and e.region:lower() or ""
        if not regions or regions[region] then
          local ip, bits = e[field]:match("^([^/]+)/(%d+)$")
          bits = tonumber(bits)
          local kind, addr = nil, nil
          if ip then kind, addr = parse_ip(ip) end
          if kind == want and bits and bits <= (want == "v4" and 32 or 128) then
            local set = r[want][bits]
            if not set then set = {}; r[want][bits] = set end
            set[want == "v4" and key_v4(addr, bits) or key_v6(addr, bits)] = true
            r.count = r.count + 1
          end -- an unparseable entry is skipped, as in the registry
        end
      end
    end
  end
  add(doc.prefixes, "ip_prefix", "v4")
  add(doc.ipv6_prefixes, "ipv6_prefix", "v6")
  -- the prefix lengths present, for the lookups
  for _, fam in ipairs({ "v4", "v6" }) do
    local lens = {}
    for bits in pairs(r[fam]) do lens[#lens + 1] = bits end
    table.sort(lens)
    r[fam .. "_lens"] = lens
  end
  return r
end

local function in_ranges(r, kind, addr)
  local sets = r[kind]
  for _, bits in ipairs(r[kind .. "_lens"]) do
    local key = kind == "v4" and key_v4(addr, bits) or key_v6(addr, bits)
    if sets[bits][key] then return true end
  end
  return false
end

-- "file:///x", "file://localhost/x", "/x", "x" --> path | nil (a network URL)
local function local_path(src)
  local rest = src:match("^[Ff][Ii][Ll][Ee]://(.*)$")
  if rest then
    if rest:sub(1, 1) == "/" then return rest end
    local p = rest:match("^localhost(/.*)$")
    return p
  end
  if src:match("^%a[%w+.-]*://") then return nil end
  return src
end

local function read_ranges(path, regions)
  local cjson = require "cjson.safe"
  local f, oerr = io.open(path, "rb")
  if not f then return nil, "failed to read ip ranges: " .. tostring(oerr) end
  local text = f:read("*a")
  f:close()
  if not text then return nil, "failed to read ip ranges from " .. path end
  local doc, jerr = cjson.decode(text)
  if doc == nil then return nil, "invalid ip ranges JSON in " .. path .. ": " .. tostring(jerr) end
  local r, why = build_ranges(doc, regions)
  if not r then return nil, "invalid ip ranges in " .. path .. ": " .. why end
  return r
end

------------------------------------------------------------ signing

local SAFE_B64 = { ["+"] = "-", ["="] = "_", ["/"] = "~" }

local function json_string(s)
  return (s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end))
end

local function query_escape(s)
  return (s:gsub("[^%w._~-]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function read_key(value)
  if value:find("-----BEGIN", 1, true) then return value end
  local f, oerr = io.open(value, "rb")
  if not f then return nil, "failed to read privatekey file: " .. tostring(oerr) end
  local pem, rerr = f:read("*a")
  f:close()
  if not pem then return nil, "failed to read privatekey file: " .. value .. ": " .. tostring(rerr) end
  return pem
end

------------------------------------------------------------ options

local function filter_options(options, now)
  local src = options.iprangesurl
  if src ~= nil and type(src) ~= "string" and type(src) ~= "table" then
    return nil, select(2, u.invalid("iprangesurl", "iprangesurl must be a string (or a table of ranges)"))
  end
  local by = options.ipfilteredby
  if by == nil then return nil end
  if type(by) ~= "string" then
    return nil, select(2, u.invalid("ipfilteredby",
      "ipfilteredby only allows a string with the following value: " .. FILTER_VALUES))
  end
  local mode = by:match("^%s*(.-)%s*$"):lower()
  if mode == "" or mode == "none" then return nil end
  if mode ~= "aws" and mode ~= "awsregion" then
    return nil, select(2, u.invalid("ipfilteredby",
      "ipfilteredby only allows a string the following value: " .. FILTER_VALUES .. " (got \"" .. by .. "\")"))
  end

  local regions
  if mode == "awsregion" then
    local v = options.awsregion
    local list = {}
    local bad = v ~= nil and type(v) ~= "string" and type(v) ~= "table"
    if type(v) == "string" then
      for entry in v:gmatch("[^,]+") do list[#list + 1] = entry end
    elseif type(v) == "table" then
      for _, entry in ipairs(v) do
        if type(entry) ~= "string" then bad = true end
        list[#list + 1] = tostring(entry)
      end
    end
    if bad then
      return nil, select(2, u.invalid("awsregion",
        "awsRegion must be a comma separated string of valid aws regions"))
    end
    regions = {}
    local n = 0
    for _, entry in ipairs(list) do
      entry = entry:match("^%s*(.-)%s*$"):lower()
      if entry ~= "" then regions[entry] = true; n = n + 1 end
    end
    if n == 0 then return nil, select(2, u.invalid("awsregion", "awsRegion is not defined")) end
  end

  local freq_key = options.updatefrequency ~= nil and "updatefrequency" or "updatefrenquency"
  local freq, err = u.duration(options, freq_key, DEFAULT_UPDATE, false)
  if not freq then return nil, err end

  if src == nil or src == "" then src = DEFAULT_IPRANGES end
  local state = { regions = regions, freq = freq }
  if type(src) == "table" then
    local r, why = build_ranges(src, regions)
    if not r then return nil, select(2, u.invalid("iprangesurl", "invalid ip ranges table: " .. why)) end
    state.ranges = r
  else
    local path = local_path(src)
    if not path then
      return nil, select(2, u.invalid("iprangesurl", "cannot fetch " .. src ..
        ": the ranges are read from a local file; download ip-ranges.json and give its path"))
    end
    local r, why = read_ranges(path, regions)
    if not r then return nil, select(2, u.invalid("iprangesurl", why)) end
    state.ranges, state.path, state.next = r, path, now() + freq
  end
  return state
end

-- The current ranges; the file is read again once updatefrequency has passed
-- (a failed read keeps the ranges in use).
local function current_ranges(state, t)
  if state.path and t >= state.next then
    state.next = t + state.freq
    local r = read_ranges(state.path, state.regions)
    if r then state.ranges = r end
  end
  return state.ranges
end

return function(inner, options)
  local _, err = u.known(options, "cloudfront", OPTIONS)
  if err then return nil, err end

  local base
  base, err = u.req_string(options, "baseurl")
  if not base then return nil, err end
  local full = base
  if not full:find("://", 1, true) then full = "https://" .. full end
  if full:sub(-1) ~= "/" then full = full .. "/" end
  local url, why = u.parse_url(full)
  if url and url.scheme ~= "https" and url.scheme ~= "http" then url, why = nil, "the scheme must be http or https" end
  if url and (url.host == nil or url.host == "") then url, why = nil, "no host" end
  if url and (url.userinfo or url.query or url.fragment) then
    url, why = nil, "credentials (user@), a query (?) or a fragment (#) are not allowed"
  end
  if not url then return u.invalid("baseurl", "invalid baseurl: " .. base .. " (" .. why .. ")") end

  local keyopt, pem, keypairid, duration, now
  keyopt, err = u.req_string(options, "privatekey")
  if not keyopt then return nil, err end
  pem, err = read_key(keyopt)
  if not pem then return u.invalid("privatekey", err) end
  -- A key that cannot sign is refused now rather than on the first download.
  local probe, kerr = crypto.sign("sha1", pem, "storagedriver")
  if not probe then
    return u.invalid("privatekey", "failed to decode private key as an rsa private key: " .. kerr)
  end

  keypairid, err = u.req_string(options, "keypairid")
  if not keypairid then return nil, err end
  duration, err = u.duration(options, "duration", DEFAULT_DURATION, false)
  if not duration then return nil, err end
  now, err = u.clock(options)
  if not now then return nil, err end
  local filter
  filter, err = filter_options(options, now)
  if err then return nil, err end

  local prefix = url.scheme .. "://" .. url.host .. u.join_path(url.path)
  if prefix:sub(-1) ~= "/" then prefix = prefix .. "/" end
  local key_param = "&Key-Pair-Id=" .. query_escape(keypairid)

  local function signed_url(path, lifetime)
    local resource = prefix .. path:sub(2)
    local expires = math.floor(now()) + math.ceil(lifetime)
    local policy = string.format('{"Statement":[{"Resource":"%s","Condition":{"DateLessThan":{"AWS:EpochTime":%d}}}]}',
      json_string(resource), expires)
    local sig, serr = crypto.sign("sha1", pem, policy)
    if not sig then
      return nil, core.error("Driver", { detail = "cloudfront: cannot sign the URL: " .. tostring(serr) })
    end
    return string.format("%s?Expires=%d&Signature=%s%s", resource, expires,
      (crypto.base64_encode(sig):gsub("[+=/]", SAFE_B64)), key_param)
  end

  return {
    redirect_url = function(_, path, opts)
      if not u.is_download(opts) then
        return inner:redirect_url(path, u.inner_opts(opts))
      end
      if filter then
        local kind, addr
        if opts and opts.client_ip ~= nil then
          kind, addr = ip_of(opts.client_ip)
        else
          kind, addr = nginx_client()
        end
        if kind and in_ranges(current_ranges(filter, now()), kind, addr) then
          return inner:redirect_url(path, u.inner_opts(opts))
        end
      end
      return signed_url(path, u.lifetime(opts, duration))
    end,
  }
end
