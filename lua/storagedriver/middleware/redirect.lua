-- redirect: downloads (GET, HEAD) are redirected to baseurl + the storage
-- path, whatever the inner driver is, e.g. to a mirror or a CDN that pulls
-- from the same store.
--
--   sd.wrap(d, "redirect", { baseurl = "https://mirror.example.com/registry/" })
--   d:redirect_url("/a/b") --> "https://mirror.example.com/registry/a/b"
--
-- Option:
--   baseurl  (required) scheme://host[:port][/base/path][?query]; the base path
--            and the storage path are joined like Go's path.Join; a query is
--            kept after the joined path.
-- Other methods (PUT, ...) go to the inner driver's redirect_url.
local u = require "storagedriver.urlsign"

local OPTIONS = { "baseurl" }

return function(inner, options)
  local _, err = u.known(options, "redirect", OPTIONS)
  if err then return nil, err end
  local base
  base, err = u.req_string(options, "baseurl")
  if not base then return nil, err end
  if not base:find("[%z\1-\32\127]") and not base:match("^%a[%w+.-]*:") then
    return u.invalid("baseurl", "no scheme specified for redirect baseurl")
  end
  local url = u.parse_url(base)
  if not url then
    return u.invalid("baseurl", "unable to parse redirect baseurl: " .. base)
  end
  if url.host == nil or url.host == "" then
    return u.invalid("baseurl", "no host specified for redirect baseurl")
  end
  if url.userinfo then
    return u.invalid("baseurl", "redirect baseurl must not hold credentials (user@host)")
  end

  local prefix = url.scheme .. "://" .. url.host
  local basepath = u.join_path(url.path)
  if basepath ~= "/" then prefix = prefix .. basepath end
  local suffix = url.query and ("?" .. url.query) or ""

  return {
    redirect_url = function(_, path, opts)
      if not u.is_download(opts) then
        return inner:redirect_url(path, u.inner_opts(opts))
      end
      return prefix .. path .. suffix
    end,
  }
end
