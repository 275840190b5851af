-- blobs: an nginx content handler serving a storagedriver store over HTTP.
--
--   GET    /blobs/<path>            the object, streamed; a single Range is honoured
--                                   (206 + Content-Range, 416 when unsatisfiable)
--   GET    /blobs/<path>?redirect   302 to the driver's redirect URL when it has one,
--                                   else the object as above
--   HEAD   /blobs/<path>            headers only (Content-Length from stat)
--   PUT    /blobs/<path>            stores the body, streamed (needs Content-Length); 201
--   DELETE /blobs/<path>            deletes (recursively); 204
-- Errors: 404 PathNotFound, 400 InvalidPath/InvalidOffset (and a malformed
-- request), 405 another method, 409 a concurrent upload to the same path,
-- 411/413 body without length / too large, 500 anything else; the body is
-- the error's text (storage errors never hold secrets).
--
-- Configuration (nginx.conf):
--
--   init_by_lua_block {
--     require "resty.core"
--     require("blobs").configure("default", {
--       pool = "sd", driver = "filesystem",
--       params = { rootdirectory = "/var/lib/blobs" },
--     })
--   }
--   location /blobs/ {
--     client_max_body_size 0;          # nginx checks Content-Length before Lua runs
--     content_by_lua_block { require("blobs").handle() }
--   }
--   location /other/ {                 # another store under another prefix
--     client_max_body_size 0;
--     content_by_lua_block { require("blobs").handle{ store = "other", prefix = "/other" } }
--   }
--
-- The options of configure() are those of storagedriver.ngx.new, plus
-- max_size (bytes; larger PUT bodies get 413).  Stores are configured in
-- Lua rather than with `set $var` lines because a store is a structured
-- value (params, a middleware stack with options); the location only names
-- the store.

local sdngx = require "storagedriver.ngx"

local M = {}

local stores = {}     -- name --> { store = , max_size = }

-- Defines a store by name (in init_by_lua: every worker inherits it).
function M.configure(name, opts)
  if type(name) ~= "string" then
    error("blobs.configure: a store name expected", 2)
  end
  if type(opts) ~= "table" then
    error("blobs.configure: a table of options expected", 2)
  end
  stores[name] = { store = sdngx.new(opts), max_size = opts.max_size }
  return stores[name].store
end

function M.store(name)
  local s = stores[name or "default"]
  return s and s.store
end

local function reply(status, text, headers)
  ngx.status = status
  for k, v in pairs(headers or {}) do ngx.header[k] = v end
  if text then
    ngx.header["Content-Type"] = "text/plain"
    ngx.header["Content-Length"] = #text + 1
    ngx.say(text)
  else
    if status ~= 204 then ngx.header["Content-Length"] = 0 end   -- (204: none allowed)
    ngx.send_headers()
  end
  return ngx.exit(ngx.HTTP_OK)
end

local function fail(err, status)
  return reply(status or sdngx.http_status(err), tostring(err))
end

-- The content handler.  opts.store: the store's name (default "default");
-- opts.prefix: the location's URI prefix (default "/blobs").
function M.handle(opts)
  opts = opts or {}
  local name = opts.store or "default"
  local conf = stores[name]
  if not conf then
    ngx.log(ngx.ERR, "blobs: no store configured with name ", name)
    return reply(500, "no store configured with name " .. name)
  end
  local store = conf.store
  local prefix = opts.prefix or "/blobs"
  local uri = ngx.var.uri
  if uri:sub(1, #prefix) ~= prefix then
    return reply(404, "not under " .. prefix)
  end
  local path = uri:sub(#prefix + 1)
  local method = ngx.req.get_method()

  if method == "GET" or method == "HEAD" then
    if ngx.var.args and ngx.req.get_uri_args().redirect then
      local url, err = store:redirect_url(path, { method = method })
      if err then return fail(err) end
      if url then return ngx.redirect(url, ngx.HTTP_MOVED_TEMPORARILY) end
    end
    local status, err, sent = store:serve(path, { range = ngx.var.http_range })
    if status then return ngx.exit(ngx.HTTP_OK) end
    if sent then
      -- the status line is gone (serve has logged why): all we can do is
      -- cut the response short
      return ngx.exit(ngx.ERROR)
    end
    return fail(err)

  elseif method == "PUT" then
    local n, err, status = store:receive(path, { max_size = conf.max_size })
    if not n then return fail(err, status) end
    return reply(201, nil)

  elseif method == "DELETE" then
    local ok, err = store:delete(path)
    if not ok then return fail(err) end
    return reply(204, nil)
  end

  return reply(405, "method not allowed: " .. method, { Allow = "GET, HEAD, PUT, DELETE" })
end

return M
