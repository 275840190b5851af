-- rewrite: rewrites the redirect URLs of the inner driver: another scheme,
-- another host (a CDN in front of the bucket), a leading path removed.
--
--   sd.wrap(s3, "rewrite", { host = "cdn.example.com", trimpathprefix = "/bucket" })
--
-- Options (each optional; a string):
--   scheme          replaces the URL's scheme ("https", not "https://")
--   host            replaces the URL's host[:port]
--   trimpathprefix  removes this leading path from the URL's path, whole
--                   segments only ("/bucket" trims "/bucket/a", not
--                   "/bucketfoo/a"); a leading "/" is implied
-- When the inner driver gives no URL, neither does rewrite (the caller serves
-- the content itself).  Query and fragment are kept byte for byte, so
-- presigned signatures survive.
local core = require "storagedriver.core"
local u = require "storagedriver.urlsign"

local OPTIONS = { "scheme", "host", "trimpathprefix" }

return function(inner, options)
  local _, err = u.known(options, "rewrite", OPTIONS)
  if err then return nil, err end
  local scheme, host, trim
  scheme, err = u.opt_string(options, "scheme")
  if err then return nil, err end
  host, err = u.opt_string(options, "host")
  if err then return nil, err end
  trim, err = u.opt_string(options, "trimpathprefix")
  if err then return nil, err end

  if scheme then
    if not scheme:match("^%a[%w+.-]*$") then
      return u.invalid("scheme", "invalid scheme: " .. scheme .. " (a URL scheme such as https, without \"://\")")
    end
    scheme = scheme:lower()
  end
  if host and not u.valid_host(host) then
    return u.invalid("host", "invalid host: " .. host .. " (a host name or [IPv6] address, with an optional :port)")
  end
  if trim then
    if trim:find("[%z\1-\32\127?#]") then
      return u.invalid("trimpathprefix", "invalid trimpathprefix: " .. trim .. " (a URL path such as /bucket)")
    end
    trim = trim:gsub("/+$", "")
    if trim:sub(1, 1) ~= "/" then trim = "/" .. trim end
    if trim == "/" then trim = nil end
  end
  if not (scheme or host or trim) then return {} end -- nothing to do: no Lua in the way

  return {
    redirect_url = function(_, path, opts)
      local url, ierr = inner:redirect_url(path, u.inner_opts(opts))
      if ierr ~= nil then return nil, ierr end
      if url == nil or url == "" then return nil end
      local p, why = u.parse_url(url)
      if not p or not p.host then
        return nil, core.error("Driver", { detail = "rewrite: cannot parse the inner driver's redirect URL: " ..
          (why or "no host") })
      end
      local upath = p.path
      if trim and (upath == trim or upath:sub(1, #trim + 1) == trim .. "/") then
        upath = upath:sub(#trim + 1)
        if upath == "" then upath = "/" end
      end
      local out = { scheme or p.scheme, "://" }
      if p.userinfo then out[#out + 1] = p.userinfo .. "@" end
      out[#out + 1] = host or p.host
      out[#out + 1] = upath
      if p.query then out[#out + 1] = "?" .. p.query end
      if p.fragment then out[#out + 1] = "#" .. p.fragment end
      return table.concat(out)
    end,
  }
end
