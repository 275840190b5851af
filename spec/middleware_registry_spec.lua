-- The registry's storage middlewares written in Lua: redirect, rewrite,
-- alicdn, cloudfront.  Every option and error text, the URL shapes, the
-- signatures (recomputed for alicdn, verified with openssl for cloudfront),
-- the AWS IP-range decisions, and the choices made where the reference has
-- quirks.  The middlewares are wrapped over inmemory.

local sd = require "storagedriver"
local crypto = require "storagedriver.crypto"
local t = require "sdtest"

local T0 = 1700000000 -- a fixed clock for the signing middlewares

local function md5hex(s) return crypto.hex(crypto.md5(s)) end

local function mem() return assert(sd.create("inmemory", {})) end

-- A stand-in for s3 below the URL middlewares: presigned-looking URLs for GET
-- and HEAD (no redirect otherwise), and the last opts it was given.
local fake = { last = nil }
local function register_fakes()
  local names = {}
  for _, n in ipairs(sd.middleware.names()) do names[n] = true end
  if names.mwspec_s3 then return end
  sd.middleware.register("mwspec_s3", function()
    return {
      redirect_url = function(_, path, opts)
        fake.last = opts
        local m = opts and opts.method or "GET"
        if m ~= "GET" and m ~= "HEAD" then return nil end
        return "https://bucket.s3.amazonaws.com/root" .. path ..
          "?X-Amz-Expires=" .. tostring(opts and opts.expiry or 1200) .. "&X-Amz-Signature=ab%2Fcd%3D"
      end,
    }
  end)
  sd.middleware.register("mwspec_fail", function()
    return { redirect_url = function() return nil, sd.error("Driver", { detail = "backend down" }) end }
  end)
  sd.middleware.register("mwspec_garbage", function()
    return { redirect_url = function() return "not a url" end }
  end)
end
register_fakes()

local function s3() return assert(sd.wrap(mem(), "mwspec_s3", {})) end

local function wrap(name, options, inner)
  return sd.wrap(inner or mem(), name, options)
end

-- The option set is refused with an InvalidParameter error naming the
-- middleware and the parameter, whose text holds `detail`.
local function refuses(name, options, parameter, detail, inner)
  local d, err = wrap(name, options, inner)
  assert.is_nil(d)
  assert.is_true(sd.is_error(err), tostring(err))
  assert.are.equal("InvalidParameter", err.kind, tostring(err))
  assert.are.equal(name, err.driver)
  assert.are.equal(parameter, err.parameter, tostring(err))
  local text = tostring(err)
  local head = name .. ": invalid parameter " .. parameter .. ": "
  assert.are.equal(head, text:sub(1, #head), text)
  assert.truthy(text:find(detail, 1, true), "expected \"" .. detail .. "\" in: " .. text)
  return err
end

-- Options in a fresh table each time (the middlewares must not depend on
-- options being reused), with overrides; false removes a key.
local function with(base, over)
  local o = {}
  for k, v in pairs(base) do o[k] = v end
  for k, v in pairs(over or {}) do
    if v == false then o[k] = nil else o[k] = v end
  end
  return o
end

------------------------------------------------------------------ redirect

describe("redirect middleware", function()
  it("joins the base path and the storage path", function()
    local cases = {
      { "https://example.com/path/", "https://example.com/path/morty/data" },
      { "https://example.com/path", "https://example.com/path/morty/data" },
      { "https://example.com", "https://example.com/morty/data" },
      { "https://example.com/", "https://example.com/morty/data" },
      { "https://example.com//a//b//", "https://example.com/a/b/morty/data" },
      { "https://example.com/a/./b/../c/", "https://example.com/a/c/morty/data" },
      { "https://example.com/../..", "https://example.com/morty/data" },
      { "http://example.com:8080/x", "http://example.com:8080/x/morty/data" },
      { "http://[::1]:5000/r/", "http://[::1]:5000/r/morty/data" },
      { "HTTPS://Example.COM/Base", "https://Example.COM/Base/morty/data" },
      { "https://example.com/x?token=abc", "https://example.com/x/morty/data?token=abc" },
      { "https://example.com?token=abc", "https://example.com/morty/data?token=abc" },
      { "https://example.com/x#frag", "https://example.com/x/morty/data" },
      { "https://example.com/a%20b/", "https://example.com/a%20b/morty/data" },
    }
    for _, c in ipairs(cases) do
      local d = assert(wrap("redirect", { baseurl = c[1] }))
      assert.are.equal(c[2], d:redirect_url("/morty/data"), c[1])
    end
  end)

  it("redirects GET and HEAD (any case) whatever the inner driver", function()
    local d = assert(wrap("redirect", { baseurl = "https://mirror.example.com/reg" }))
    assert.are.equal("https://mirror.example.com/reg/a", d:redirect_url("/a"))
    assert.are.equal("https://mirror.example.com/reg/a", d:redirect_url("/a", { method = "HEAD" }))
    assert.are.equal("https://mirror.example.com/reg/a", d:redirect_url("/a", { method = "get" }))
    assert.are.equal("https://mirror.example.com/reg/a", d:redirect_url("/a", { method = "GET", expiry = 5 }))
  end)

  it("hands other methods to the inner driver", function()
    local d = assert(wrap("redirect", { baseurl = "https://mirror.example.com" }))
    local url, err = d:redirect_url("/a", { method = "PUT" })
    assert.is_nil(url)
    assert.is_nil(err)
    d = assert(wrap("redirect", { baseurl = "https://mirror.example.com" }, s3()))
    assert.is_nil(d:redirect_url("/a", { method = "DELETE" }))
    assert.are.equal("DELETE", fake.last.method)
  end)

  it("leaves every other operation to the inner driver", function()
    local inner = mem()
    local d = assert(wrap("redirect", { baseurl = "https://m.example.com" }, inner))
    assert.are.equal("inmemory", d:name())
    assert.is_true(d:put_content("/x/y", "data"))
    assert.are.equal("data", inner:get_content("/x/y"))
    assert.are.equal("data", d:get_content("/x/y"))
    assert.are.same({ "/x/y" }, d:list("/x"))
    -- and the base layer still validates paths in front of it
    local url, err = d:redirect_url("/bad//path")
    assert.is_nil(url)
    assert.are.equal("InvalidPath", err.kind)
  end)

  it("refuses a missing, empty or non-string baseurl", function()
    refuses("redirect", {}, "baseurl", "no baseurl provided")
    refuses("redirect", { baseurl = "" }, "baseurl", "no baseurl provided")
    refuses("redirect", { baseurl = 42 }, "baseurl", "baseurl must be a string")
    refuses("redirect", { baseurl = { "https://x" } }, "baseurl", "baseurl must be a string")
    refuses("redirect", { baseurl = true }, "baseurl", "baseurl must be a string")
  end)

  it("refuses a baseurl without scheme or host, or one that does not parse", function()
    refuses("redirect", { baseurl = "example.com/path" }, "baseurl", "no scheme specified for redirect baseurl")
    refuses("redirect", { baseurl = "/just/a/path" }, "baseurl", "no scheme specified for redirect baseurl")
    refuses("redirect", { baseurl = "https://" }, "baseurl", "no host specified for redirect baseurl")
    refuses("redirect", { baseurl = "https:///path" }, "baseurl", "no host specified for redirect baseurl")
    refuses("redirect", { baseurl = "mailto:someone" }, "baseurl", "no host specified for redirect baseurl")
    refuses("redirect", { baseurl = "https://exa mple.com/" }, "baseurl",
      "unable to parse redirect baseurl: https://exa mple.com/")
    refuses("redirect", { baseurl = "https://host/\n" }, "baseurl", "unable to parse redirect baseurl")
    refuses("redirect", { baseurl = "https://ho<st/" }, "baseurl", "unable to parse redirect baseurl")
  end)

  it("refuses credentials in the baseurl and unknown options", function()
    refuses("redirect", { baseurl = "https://user:pw@example.com/" }, "baseurl", "must not hold credentials")
    refuses("redirect", { baseurl = "https://example.com", baseURL = "x" }, "baseURL",
      "unknown option for redirect (known: baseurl)")
  end)
end)

------------------------------------------------------------------- rewrite

describe("rewrite middleware", function()
  local S3 = "https://bucket.s3.amazonaws.com/root/a/b?X-Amz-Expires=1200&X-Amz-Signature=ab%2Fcd%3D"

  it("without options changes nothing", function()
    local d = assert(wrap("rewrite", {}, s3()))
    assert.are.equal(S3, d:redirect_url("/a/b"))
    d = assert(wrap("rewrite", { scheme = "", host = "", trimpathprefix = "" }, s3()))
    assert.are.equal(S3, d:redirect_url("/a/b"))
  end)

  it("replaces scheme and host and keeps the query byte for byte", function()
    local d = assert(wrap("rewrite", { host = "cdn.example.com" }, s3()))
    assert.are.equal("https://cdn.example.com/root/a/b?X-Amz-Expires=1200&X-Amz-Signature=ab%2Fcd%3D",
      d:redirect_url("/a/b"))
    d = assert(wrap("rewrite", { scheme = "HTTP", host = "cdn.example.com:8443" }, s3()))
    assert.are.equal("http://cdn.example.com:8443/root/a/b?X-Amz-Expires=1200&X-Amz-Signature=ab%2Fcd%3D",
      d:redirect_url("/a/b"))
    d = assert(wrap("rewrite", { host = "[2001:db8::1]:443" }, s3()))
    assert.truthy(d:redirect_url("/a/b"):find("^https://%[2001:db8::1%]:443/root/a/b%?"))
  end)

  it("trims a leading path, whole segments only", function()
    local cases = {
      { "/root", "https://cdn.example.com/a/b?" },
      { "/root/", "https://cdn.example.com/a/b?" },
      { "root", "https://cdn.example.com/a/b?" },
      { "/root/a", "https://cdn.example.com/b?" },
      { "/root/a/b", "https://cdn.example.com/?" },
      { "/ro", "https://cdn.example.com/root/a/b?" },     -- not a whole segment
      { "/other", "https://cdn.example.com/root/a/b?" },
      { "/", "https://cdn.example.com/root/a/b?" },
    }
    for _, c in ipairs(cases) do
      local d = assert(wrap("rewrite", { host = "cdn.example.com", trimpathprefix = c[1] }, s3()))
      local url = d:redirect_url("/a/b")
      assert.are.equal(c[2], url:sub(1, #c[2]), c[1] .. " -> " .. url)
      assert.are.equal("X-Amz-Expires=1200&X-Amz-Signature=ab%2Fcd%3D", url:match("%?(.*)$"))
    end
  end)

  it("passes method and expiry to the inner driver", function()
    local d = assert(wrap("rewrite", { host = "cdn.example.com" }, s3()))
    assert.truthy(d:redirect_url("/a/b", { method = "HEAD", expiry = 60 }):find("X-Amz-Expires=60", 1, true))
    assert.are.equal("HEAD", fake.last.method)
    assert.are.equal(60, fake.last.expiry)
  end)

  it("falls back (no URL) when the inner driver does not redirect, instead of the CDN root", function()
    local d = assert(wrap("rewrite", { scheme = "https", host = "cdn.example.com" }))
    local url, err = d:redirect_url("/a/b")
    assert.is_nil(url)
    assert.is_nil(err)
    d = assert(wrap("rewrite", { host = "cdn.example.com" }, s3()))
    url, err = d:redirect_url("/a/b", { method = "PUT" })
    assert.is_nil(url)
    assert.is_nil(err)
  end)

  it("returns the inner driver's error", function()
    local d = assert(wrap("rewrite", { host = "cdn.example.com" }, assert(sd.wrap(mem(), "mwspec_fail", {}))))
    local url, err = d:redirect_url("/a/b")
    assert.is_nil(url)
    assert.are.equal("Driver", err.kind)
    assert.truthy(tostring(err):find("backend down", 1, true))
  end)

  it("gives a Driver error naming rewrite for an inner URL it cannot parse", function()
    local d = assert(wrap("rewrite", { host = "cdn.example.com" }, assert(sd.wrap(mem(), "mwspec_garbage", {}))))
    local url, err = d:redirect_url("/a/b")
    assert.is_nil(url)
    assert.are.equal("Driver", err.kind)
    assert.truthy(tostring(err):find("rewrite: cannot parse the inner driver's redirect URL", 1, true),
      tostring(err))
  end)

  it("refuses options of the wrong type and malformed values", function()
    refuses("rewrite", { scheme = 1 }, "scheme", "scheme must be a string")
    refuses("rewrite", { host = {} }, "host", "host must be a string")
    refuses("rewrite", { trimpathprefix = true }, "trimpathprefix", "trimpathprefix must be a string")
    refuses("rewrite", { scheme = "https://" }, "scheme", "invalid scheme: https://")
    refuses("rewrite", { scheme = "1http" }, "scheme", "invalid scheme")
    refuses("rewrite", { host = "cdn.example.com/x" }, "host", "invalid host: cdn.example.com/x")
    refuses("rewrite", { host = "cdn example" }, "host", "invalid host")
    refuses("rewrite", { host = "cdn:port" }, "host", "invalid host")
    refuses("rewrite", { trimpathprefix = "/a?b" }, "trimpathprefix", "invalid trimpathprefix")
    refuses("rewrite", { hostname = "x" }, "hostname",
      "unknown option for rewrite (known: host, scheme, trimpathprefix)")
  end)
end)

-------------------------------------------------------------------- alicdn

describe("alicdn middleware", function()
  local KEY = "aliyuncdnexp1234"
  local base = { baseurl = "cdn.example.com", authtype = "a", privatekey = KEY,
    _now = function() return T0 end }

  it("type A: auth_key=<ts>-<rand>-0-<md5(uri-ts-rand-0-key)>", function()
    local d = assert(wrap("alicdn", with(base)))
    local url = d:redirect_url("/a/b")
    local ts, rand, hash = url:match("^https://cdn%.example%.com/a/b%?auth_key=(%d+)%-(%x+)%-0%-(%x+)$")
    assert.truthy(ts, url)
    assert.are.equal(tostring(T0 + 1200), ts)
    assert.are.equal(32, #rand)
    assert.truthy(rand:match("^%x%x%x%x%x%x%x%x%x%x%x%x4%x%x%x[89ab]"), "a UUID v4: " .. rand)
    assert.are.equal(md5hex("/a/b-" .. ts .. "-" .. rand .. "-0-" .. KEY), hash)
    -- a fresh random part every time
    local rand2 = d:redirect_url("/a/b"):match("auth_key=%d+%-(%x+)%-")
    assert.are_not.equal(rand, rand2)
  end)

  it("type A signs the base path too and keeps a query of the baseurl", function()
    local d = assert(wrap("alicdn", with(base, { baseurl = "https://cdn.example.com/base/?x=1", _rand = function() return "r4nd" end })))
    local url = d:redirect_url("/a/b")
    local ts = T0 + 1200
    assert.are.equal("https://cdn.example.com/base/a/b?x=1&auth_key=" .. ts .. "-r4nd-0-" ..
      md5hex("/base/a/b-" .. ts .. "-r4nd-0-" .. KEY), url)
  end)

  it("does not double the slash after a baseurl ending in /", function()
    local d = assert(wrap("alicdn", with(base, { baseurl = "https://cdn.example.com/" })))
    assert.truthy(d:redirect_url("/a/b"):find("^https://cdn%.example%.com/a/b%?auth_key="))
  end)

  it("type B: Alibaba Cloud's example (time in UTC+8)", function()
    -- 2015-08-15 08:00 in UTC+8 is 1439596800
    local d = assert(wrap("alicdn", with(base, { baseurl = "http://cdn.example.com", authtype = "B",
      duration = 0, _now = function() return 1439596800 end })))
    assert.are.equal(
      "http://cdn.example.com/201508150800/9044548ef1527deadafa49a890a377f0/4/44/44c0909bcfc20a01afaf256ca99a8b8b.mp3",
      d:redirect_url("/4/44/44c0909bcfc20a01afaf256ca99a8b8b.mp3"))
  end)

  it("type B: the stamp is now + duration, a query is kept, no bare ?", function()
    local d = assert(wrap("alicdn", with(base, { authtype = "b", baseurl = "cdn.example.com/p?x=1" })))
    local stamp = os.date("!%Y%m%d%H%M", T0 + 1200 + 8 * 3600)
    assert.are.equal("https://cdn.example.com/" .. stamp .. "/" .. md5hex(KEY .. stamp .. "/p/a/b") .. "/p/a/b?x=1",
      d:redirect_url("/a/b"))
    d = assert(wrap("alicdn", with(base, { authtype = "b" })))
    assert.is_nil(d:redirect_url("/a/b"):find("?", 1, true))
  end)

  it("type C: Alibaba Cloud's example (upper-case hex time)", function()
    local d = assert(wrap("alicdn", with(base, { baseurl = "http://cdn.example.com", authtype = "c",
      duration = 0, _now = function() return 1439596800 end })))
    assert.are.equal("http://cdn.example.com/a37fa50a5fb8f71214b1e7c95ec7a1bd/55CE8100/test.flv",
      d:redirect_url("/test.flv"))
  end)

  it("type C: md5(key .. uri .. HEXTIME) with the base path", function()
    local d = assert(wrap("alicdn", with(base, { authtype = "c", baseurl = "cdn.example.com/p/" })))
    local hx = string.format("%X", T0 + 1200)
    assert.are.equal("https://cdn.example.com/" .. md5hex(KEY .. "/p/a/b" .. hx) .. "/" .. hx .. "/p/a/b",
      d:redirect_url("/a/b"))
  end)

  it("duration: default 20m, Go durations, seconds, and the caller's expiry", function()
    local function ts(over, opts)
      local d = assert(wrap("alicdn", with(base, over)))
      return tonumber(d:redirect_url("/a", opts):match("auth_key=(%d+)"))
    end
    assert.are.equal(T0 + 1200, ts({}))
    assert.are.equal(T0 + 5400, ts({ duration = "1h30m" }))
    assert.are.equal(T0 + 5400, ts({ duration = "1.5h" }))
    assert.are.equal(T0 + 90, ts({ duration = 90 }))
    assert.are.equal(T0 + 90, ts({ duration = "1m30s" }))
    assert.are.equal(T0 + 90, ts({ duration = "90" }))  -- a numeric string: seconds
    assert.are.equal(T0, ts({ duration = "0" }))
    assert.are.equal(T0 + 60, ts({}, { expiry = 60 }))
  end)

  it("signs for any inner driver, and hands non-downloads to it", function()
    local d = assert(wrap("alicdn", with(base), s3()))
    assert.truthy(d:redirect_url("/a"):find("^https://cdn%.example%.com/a%?auth_key="))
    assert.truthy(d:redirect_url("/a", { method = "HEAD" }):find("^https://cdn%.example%.com/a%?auth_key="))
    assert.is_nil(d:redirect_url("/a", { method = "PUT" }))
    assert.are.equal("PUT", fake.last.method)
    assert.are.equal("inmemory", d:name())
  end)

  it("refuses missing and mistyped options with the reference's texts", function()
    refuses("alicdn", with(base, { baseurl = false }), "baseurl", "no baseurl provided")
    refuses("alicdn", with(base, { baseurl = 7 }), "baseurl", "baseurl must be a string")
    refuses("alicdn", with(base, { baseurl = "https://" }), "baseurl", "invalid baseurl: https://")
    refuses("alicdn", with(base, { baseurl = "https://u@cdn.example.com" }), "baseurl", "invalid baseurl")
    refuses("alicdn", with(base, { authtype = false }), "authtype", "no authtype provided")
    refuses("alicdn", with(base, { authtype = 1 }), "authtype", "authtype must be a string")
    refuses("alicdn", with(base, { authtype = "d" }), "authtype", "invalid authentication type: d")
    refuses("alicdn", with(base, { privatekey = false }), "privatekey", "no privatekey provided")
    refuses("alicdn", with(base, { privatekey = { "k" } }), "privatekey", "privatekey must be a string")
    refuses("alicdn", with(base, { duration = "20 minutes" }), "duration", "invalid duration: 20 minutes")
    refuses("alicdn", with(base, { duration = "m" }), "duration", "invalid duration")
    refuses("alicdn", with(base, { duration = -5 }), "duration", "must not be negative")
    refuses("alicdn", with(base, { duration = {} }), "duration", "invalid duration")
    refuses("alicdn", with(base, { _now = 5 }), "_now", "_now must be a function")
    refuses("alicdn", with(base, { auth_type = "a" }), "auth_type", "unknown option for alicdn")
  end)

  it("never puts the key in a URL", function()
    local d = assert(wrap("alicdn", with(base)))
    assert.is_nil(d:redirect_url("/a"):find(KEY, 1, true))
  end)
end)

---------------------------------------------------------------- cloudfront

describe("cloudfront middleware", function()
  local dir, pkcs1, pkcs8

  local function q(name) return t.shq(dir .. "/" .. name) end

  setup(function()
    local _, has = t.sh("command -v openssl")
    assert(has, "the openssl command-line tool is needed (Debian package openssl)")
    dir = t.tmpdir()
    for _, c in ipairs({
      "openssl genrsa -traditional -out " .. q("k1.pem") .. " 2048",
      "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " .. q("k8.pem"),
      "openssl pkey -in " .. q("k1.pem") .. " -pubout -out " .. q("k1.pub"),
      "openssl pkey -in " .. q("k8.pem") .. " -pubout -out " .. q("k8.pub"),
      "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " .. q("ec.pem"),
    }) do
      local out, ok = t.sh(c)
      assert(ok, c .. ": " .. out)
    end
    pkcs1, pkcs8 = dir .. "/k1.pem", dir .. "/k8.pem"
    t.write_file(dir .. "/bad.pem", "-----BEGIN RSA PRIVATE KEY-----\nnot base64 at all\n-----END RSA PRIVATE KEY-----\n")
  end)

  teardown(function() t.rmrf(dir) end)

  local function opts(over)
    return with({ baseurl = "https://d111111abcdef8.cloudfront.net/", privatekey = pkcs1, keypairid = "K2JCJMDEHXQW5F",
      _now = function() return T0 end }, over)
  end

  local function policy(resource, expires)
    return '{"Statement":[{"Resource":"' .. resource ..
      '","Condition":{"DateLessThan":{"AWS:EpochTime":' .. expires .. '}}}]}'
  end

  -- Splits a signed URL and checks its signature with openssl against pub.
  local function verify(url, pub)
    local resource, expires, sig, kid = url:match("^([^?]+)%?Expires=(%d+)&Signature=([^&]+)&Key%-Pair%-Id=(.+)$")
    assert(resource, "not a signed URL: " .. url)
    assert.is_nil(sig:find("[^%w%-_~]"), "CloudFront-safe base64 only: " .. sig)
    local raw = assert(crypto.base64_decode((sig:gsub("[-_~]", { ["-"] = "+", ["_"] = "=", ["~"] = "/" }))))
    t.write_file(dir .. "/sig.bin", raw)
    t.write_file(dir .. "/policy.json", policy(resource, expires))
    local out, ok = t.sh("openssl dgst -sha1 -verify " .. q(pub) .. " -signature " .. q("sig.bin") ..
      " " .. q("policy.json"))
    assert(ok and out:find("Verified OK", 1, true), "signature check failed: " .. out)
    return resource, tonumber(expires), kid
  end

  it("signs baseurl + path with a canned policy, RSA-SHA1, verified by openssl", function()
    local d = assert(wrap("cloudfront", opts()))
    local url = d:redirect_url("/docker/registry/v2/blobs/sha256/ab/abcd/data")
    local resource, expires, kid = verify(url, "k1.pub")
    assert.are.equal("https://d111111abcdef8.cloudfront.net/docker/registry/v2/blobs/sha256/ab/abcd/data", resource)
    assert.are.equal(T0 + 1200, expires)
    assert.are.equal("K2JCJMDEHXQW5F", kid)
  end)

  it("a wrong key does not verify (the check can fail)", function()
    local d = assert(wrap("cloudfront", opts()))
    assert.has_error(function() verify(d:redirect_url("/a"), "k8.pub") end)
  end)

  it("reads PKCS#8 keys, and PEM text given inline", function()
    local d = assert(wrap("cloudfront", opts({ privatekey = pkcs8 })))
    verify(d:redirect_url("/a/b"), "k8.pub")
    d = assert(wrap("cloudfront", opts({ privatekey = t.read_file(pkcs1) })))
    verify(d:redirect_url("/a/b"), "k1.pub")
  end)

  it("reads the key file once, at init", function()
    local copy = dir .. "/copy.pem"
    t.write_file(copy, t.read_file(pkcs1))
    local d = assert(wrap("cloudfront", opts({ privatekey = copy })))
    os.remove(copy)
    verify(d:redirect_url("/a"), "k1.pub")
  end)

  it("normalises the baseurl: https:// added, one / between base and path", function()
    local cases = {
      { "d111.cloudfront.net", "https://d111.cloudfront.net/a/b" },
      { "d111.cloudfront.net/", "https://d111.cloudfront.net/a/b" },
      { "https://d111.cloudfront.net", "https://d111.cloudfront.net/a/b" },
      { "http://d111.cloudfront.net/prefix", "http://d111.cloudfront.net/prefix/a/b" },
      { "https://d111.cloudfront.net/prefix//", "https://d111.cloudfront.net/prefix/a/b" },
    }
    for _, c in ipairs(cases) do
      local d = assert(wrap("cloudfront", opts({ baseurl = c[1] })))
      local url = d:redirect_url("/a/b")
      assert.are.equal(c[2] .. "?Expires=", url:sub(1, #c[2] + 9), c[1])
    end
    verify(assert(wrap("cloudfront", opts({ baseurl = "http://d111.cloudfront.net/prefix" }))):redirect_url("/a/b"), "k1.pub")
  end)

  it("duration: default 20m, Go durations, seconds; the caller's expiry wins", function()
    local function expires(over, o)
      local d = assert(wrap("cloudfront", opts(over)))
      return tonumber(d:redirect_url("/a", o):match("Expires=(%d+)"))
    end
    assert.are.equal(T0 + 1200, expires({}))
    assert.are.equal(T0 + 1200, expires({ duration = "20m" }))
    assert.are.equal(T0 + 5400, expires({ duration = "1h30m" }))
    assert.are.equal(T0 + 5400, expires({ duration = "1.5h" }))
    assert.are.equal(T0 + 45, expires({ duration = "45s" }))
    assert.are.equal(T0 + 90, expires({ duration = 90 }))
    assert.are.equal(T0 + 1, expires({ duration = "300ms" }))
    assert.are.equal(T0 + 30, expires({}, { expiry = 30 }))
  end)

  it("percent-escapes an unusual key pair id", function()
    local d = assert(wrap("cloudfront", opts({ keypairid = "K 1&x" })))
    assert.truthy(d:redirect_url("/a"):find("&Key%-Pair%-Id=K%%201%%26x$"))
  end)

  it("hands non-downloads to the inner driver and keeps every other operation", function()
    local d = assert(wrap("cloudfront", opts(), s3()))
    assert.is_nil(d:redirect_url("/a", { method = "PUT" }))
    assert.are.equal("PUT", fake.last.method)
    assert.truthy(d:redirect_url("/a", { method = "HEAD" }):find("cloudfront.net/a?Expires=", 1, true))
    assert.is_true(d:put_content("/a", "x"))
    assert.are.equal("x", d:get_content("/a"))
    assert.are.equal("inmemory", d:name())
  end)

  it("refuses missing and mistyped required options with the reference's texts", function()
    refuses("cloudfront", opts({ baseurl = false }), "baseurl", "no baseurl provided")
    refuses("cloudfront", opts({ baseurl = 1 }), "baseurl", "baseurl must be a string")
    refuses("cloudfront", opts({ baseurl = "ftp://host/" }), "baseurl", "invalid baseurl: ftp://host/")
    refuses("cloudfront", opts({ baseurl = "https://host/?a=b" }), "baseurl", "invalid baseurl")
    refuses("cloudfront", opts({ baseurl = "https://" }), "baseurl", "invalid baseurl")
    refuses("cloudfront", opts({ baseurl = "https://ho st/" }), "baseurl", "invalid baseurl")
    refuses("cloudfront", opts({ privatekey = false }), "privatekey", "no privatekey provided")
    refuses("cloudfront", opts({ privatekey = 3 }), "privatekey", "privatekey must be a string")
    refuses("cloudfront", opts({ privatekey = dir .. "/nosuch.pem" }), "privatekey",
      "failed to read privatekey file: ")
    refuses("cloudfront", opts({ keypairid = false }), "keypairid", "no keypairid provided")
    refuses("cloudfront", opts({ keypairid = 12 }), "keypairid", "keypairid must be a string")
    refuses("cloudfront", opts({ duration = "soon" }), "duration", "invalid duration: soon")
    refuses("cloudfront", opts({ duration = "0" }), "duration", "must be positive")
    refuses("cloudfront", opts({ duration = -1 }), "duration", "must be positive")
    refuses("cloudfront", opts({ duration = true }), "duration", "invalid duration")
    refuses("cloudfront", opts({ keypairID = "x" }), "keypairID", "unknown option for cloudfront")
  end)

  it("a malformed PEM key is a clear error naming cloudfront", function()
    local err = refuses("cloudfront", opts({ privatekey = dir .. "/bad.pem" }), "privatekey",
      "failed to decode private key as an rsa private key: malformed PEM private key")
    assert.truthy(tostring(err):find("^cloudfront: "))
    refuses("cloudfront", opts({ privatekey = "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n" }),
      "privatekey", "failed to decode private key as an rsa private key")
    refuses("cloudfront", opts({ privatekey = dir .. "/k1.pub" }), "privatekey", "no -----BEGIN ... PRIVATE KEY----- line")
    refuses("cloudfront", opts({ privatekey = dir .. "/ec.pem" }), "privatekey", "not an RSA key")
    refuses("cloudfront", opts({ privatekey = dir }), "privatekey", "failed to read privatekey file")
  end)

  ------------------------------------------------------------- IP filter

  describe("ipfilteredby", function()
    local ranges = {
      prefixes = {
        { ip_prefix = "52.94.0.0/16", region = "us-east-1", service = "AMAZON" },
        { ip_prefix = "13.32.0.0/15", region = "GLOBAL", service = "CLOUDFRONT" },
        { ip_prefix = "3.5.140.0/22", region = "ap-northeast-2", service = "S3" },
        { ip_prefix = "bogus", region = "us-east-1" },
        { ip_prefix = "10.0.0.0/40", region = "us-east-1" },
      },
      ipv6_prefixes = {
        { ipv6_prefix = "2600:1f18::/33", region = "us-east-1" },
        { ipv6_prefix = "2a05:d07a:a000::/40", region = "EU-WEST-1" },
        { ipv6_prefix = "not::an::ip/12", region = "eu-west-1" },
      },
    }
    local json = require("cjson").encode(ranges)
    local file

    before_each(function()
      file = dir .. "/ip-ranges.json"
      t.write_file(file, json)
    end)

    -- The init function called directly, so that opts.client_ip reaches it.
    local function filter(over)
      local init = require("storagedriver.middleware.cloudfront")
      local m, err = init(s3(), opts(with({ ipfilteredby = "aws", iprangesurl = file }, over)))
      assert(m, tostring(err))
      return function(ip, method)
        local url, e = m:redirect_url("/a/b", { method = method or "GET", client_ip = ip })
        assert.is_nil(e)
        if url == nil then return "none" end
        if url:find("^https://bucket%.s3%.amazonaws%.com/") then return "s3" end
        if url:find("^https://d111111abcdef8%.cloudfront%.net/a/b%?Expires=") then return "cloudfront" end
        return url
      end
    end

    it("aws: clients inside any AWS range get the inner driver's URL, others CloudFront", function()
      local decide = filter()
      local cases = {
        { "52.94.1.2", "s3" }, { "52.94.255.255", "s3" }, { "52.95.0.1", "cloudfront" },
        { "13.32.0.0", "s3" }, { "13.33.255.255", "s3" }, { "13.34.0.0", "cloudfront" },
        { "3.5.143.255", "s3" }, { "3.5.144.0", "cloudfront" }, { "3.5.139.255", "cloudfront" },
        { "2600:1f18::1", "s3" }, { "2600:1f18:7fff:ffff::1", "s3" }, { "2600:1f18:8000::1", "cloudfront" },
        { "2a05:d07a:a0ff::1", "s3" }, { "2a05:d07a:a100::1", "cloudfront" },
        { "::ffff:52.94.3.4", "s3" },                -- IPv4-mapped IPv6
        { "52.94.1.2:443", "s3" }, { "[2600:1f18::5]:443", "s3" },
        { "52.94.1.2, 203.0.113.9", "s3" },          -- an X-Forwarded-For list: its first entry
        { "203.0.113.9, 52.94.1.2", "cloudfront" },
        { "10.0.0.1", "cloudfront" },                -- the /40 entry was skipped
        { "garbage", "cloudfront" }, { "", "cloudfront" }, { "052.94.1.2", "cloudfront" },
        { "1.2.3.4.5", "cloudfront" }, { "2600:1f18::1::2", "cloudfront" },
      }
      for _, c in ipairs(cases) do
        assert.are.equal(c[2], decide(c[1]), c[1])
      end
      assert.are.equal("cloudfront", decide(nil)) -- no client address known
    end)

    it("awsregion: only the listed regions (trimmed, any case)", function()
      local decide = filter({ ipfilteredby = " AWSRegion ", awsregion = "us-east-1, EU-west-1 ,," })
      assert.are.equal("s3", decide("52.94.1.2"))
      assert.are.equal("cloudfront", decide("3.5.140.1"))  -- ap-northeast-2
      assert.are.equal("cloudfront", decide("13.32.0.1"))  -- GLOBAL
      assert.are.equal("s3", decide("2a05:d07a:a000::1"))  -- EU-WEST-1
      assert.are.equal("s3", decide("2600:1f18::1"))
      decide = filter({ ipfilteredby = "awsregion", awsregion = { "ap-northeast-2" } })
      assert.are.equal("s3", decide("3.5.140.1"))
      assert.are.equal("cloudfront", decide("52.94.1.2"))
    end)

    it("none (or empty) does not filter and does not read iprangesurl", function()
      for _, v in ipairs({ "none", " NONE ", "" }) do
        local decide = filter({ ipfilteredby = v, iprangesurl = dir .. "/nosuch.json" })
        assert.are.equal("cloudfront", decide("52.94.1.2"))
      end
      local decide = filter({ ipfilteredby = false, iprangesurl = false })
      assert.are.equal("cloudfront", decide("52.94.1.2"))
    end)

    it("takes the ranges as a file:// URL or as a table", function()
      assert.are.equal("s3", filter({ iprangesurl = "file://" .. file })("52.94.1.2"))
      assert.are.equal("s3", filter({ iprangesurl = "file://localhost" .. file })("52.94.1.2"))
      local decide = filter({ iprangesurl = ranges })
      assert.are.equal("s3", decide("52.94.1.2"))
      assert.are.equal("cloudfront", decide("52.95.1.2"))
    end)

    it("downloads only: other methods go to the inner driver", function()
      local decide = filter()
      assert.are.equal("none", decide("203.0.113.9", "PUT"))
      assert.are.equal("PUT", fake.last.method)
    end)

    it("reads the file again after updatefrequency; a failed read keeps the ranges", function()
      local now = T0
      local decide = filter({ updatefrequency = "1m", _now = function() return now end })
      assert.are.equal("s3", decide("52.94.1.2"))
      t.write_file(file, '{"prefixes":[{"ip_prefix":"198.51.100.0/24","region":"us-east-1"}]}')
      now = T0 + 30
      assert.are.equal("s3", decide("52.94.1.2"))          -- not yet
      now = T0 + 61
      assert.are.equal("cloudfront", decide("52.94.1.2"))  -- read again
      assert.are.equal("s3", decide("198.51.100.7"))
      t.write_file(file, "{ not json")
      now = T0 + 200
      assert.are.equal("s3", decide("198.51.100.7"))       -- kept
      -- the misspelt legacy key works too
      now = T0
      t.write_file(file, json)
      decide = filter({ updatefrenquency = 10, _now = function() return now end })
      t.write_file(file, '{"prefixes":[]}')
      now = T0 + 11
      assert.are.equal("cloudfront", decide("52.94.1.2"))
    end)

    it("d:redirect_url(path, {client_ip = ...}) reaches the filter through the C binding", function()
      local d = assert(wrap("cloudfront", opts({ ipfilteredby = "aws", iprangesurl = file }), s3()))
      local function via(ip)
        local url = assert(d:redirect_url("/a/b", { client_ip = ip }))
        return url:find("^https://bucket") and "s3" or "cloudfront"
      end
      assert.are.equal("s3", via("52.94.1.2"))
      assert.are.equal("cloudfront", via("203.0.113.9"))
      assert.has_error(function() d:redirect_url("/a/b", { client_ip = 5 }) end)
    end)

    it("inside nginx, takes the address from X-Forwarded-For, X-Real-IP, then remote_addr", function()
      local saved = rawget(_G, "ngx")
      local ok, err = pcall(function()
        local d = assert(wrap("cloudfront", opts({ ipfilteredby = "aws", iprangesurl = file }), s3()))
        local function via(var)
          rawset(_G, "ngx", { var = var })
          local url = d:redirect_url("/a/b")  -- through the C binding, no client_ip
          return url:find("^https://bucket") and "s3" or "cloudfront"
        end
        assert.are.equal("s3", via({ remote_addr = "52.94.1.2" }))
        assert.are.equal("cloudfront", via({ remote_addr = "203.0.113.9" }))
        assert.are.equal("s3", via({ http_x_forwarded_for = "52.94.1.2, 10.1.1.1", remote_addr = "203.0.113.9" }))
        assert.are.equal("cloudfront", via({ http_x_forwarded_for = "203.0.113.9", remote_addr = "52.94.1.2" }))
        assert.are.equal("s3", via({ http_x_forwarded_for = "bogus", http_x_real_ip = "52.94.9.9",
          remote_addr = "203.0.113.9" }))
        -- outside a request, ngx.var raises: no address, CloudFront
        rawset(_G, "ngx", setmetatable({}, { __index = function() error("no request") end }))
        assert.truthy(d:redirect_url("/a/b"):find("cloudfront.net", 1, true))
      end)
      rawset(_G, "ngx", saved)
      assert(ok, err)
    end)

    it("refuses bad filter options with the reference's texts", function()
      refuses("cloudfront", opts({ ipfilteredby = 1 }), "ipfilteredby",
        "ipfilteredby only allows a string with the following value: none|aws|awsregion")
      refuses("cloudfront", opts({ ipfilteredby = "gcp", iprangesurl = file }), "ipfilteredby",
        "ipfilteredby only allows a string the following value: none|aws|awsregion (got \"gcp\")")
      refuses("cloudfront", opts({ ipfilteredby = "awsregion", iprangesurl = file }), "awsregion",
        "awsRegion is not defined")
      refuses("cloudfront", opts({ ipfilteredby = "awsregion", awsregion = " , ", iprangesurl = file }), "awsregion",
        "awsRegion is not defined")
      refuses("cloudfront", opts({ ipfilteredby = "awsregion", awsregion = 5, iprangesurl = file }), "awsregion",
        "awsRegion must be a comma separated string of valid aws regions")
      refuses("cloudfront", opts({ ipfilteredby = "awsregion", awsregion = { 5 }, iprangesurl = file }), "awsregion",
        "awsRegion must be a comma separated string of valid aws regions")
      refuses("cloudfront", opts({ ipfilteredby = "aws", iprangesurl = 5 }), "iprangesurl",
        "iprangesurl must be a string")
      refuses("cloudfront", opts({ ipfilteredby = "aws" }), "iprangesurl",
        "cannot fetch https://ip-ranges.amazonaws.com/ip-ranges.json")
      refuses("cloudfront", opts({ ipfilteredby = "aws", iprangesurl = "http://127.0.0.1/ip-ranges.json" }),
        "iprangesurl", "cannot fetch http://127.0.0.1/ip-ranges.json")
      refuses("cloudfront", opts({ ipfilteredby = "aws", iprangesurl = dir .. "/nosuch.json" }), "iprangesurl",
        "failed to read ip ranges")
      t.write_file(dir .. "/broken.json", "{ nope")
      refuses("cloudfront", opts({ ipfilteredby = "aws", iprangesurl = dir .. "/broken.json" }), "iprangesurl",
        "invalid ip ranges JSON in " .. dir .. "/broken.json")
      t.write_file(dir .. "/empty.json", "{}")
      refuses("cloudfront", opts({ ipfilteredby = "aws", iprangesurl = dir .. "/empty.json" }), "iprangesurl",
        "no prefixes or ipv6_prefixes array")
      refuses("cloudfront", opts({ ipfilteredby = "aws", iprangesurl = { foo = 1 } }), "iprangesurl",
        "invalid ip ranges table")
      refuses("cloudfront", opts({ ipfilteredby = "aws", iprangesurl = file, updatefrequency = "often" }),
        "updatefrequency", "invalid updatefrequency: often")
      refuses("cloudfront", opts({ ipfilteredby = "aws", iprangesurl = file, updatefrenquency = "often" }),
        "updatefrenquency", "invalid updatefrenquency: often")
    end)
  end)
end)
