-- Middlewares written in Lua: the middleware core (sd.middleware.register,
-- sd.wrap and the bridge that calls the overriding methods), the
-- conformance suite behind stacks of middlewares, and the shipped
-- operational middlewares (readonly, metrics, log, limit).
-- Runs under Lua 5.4 and LuaJIT.

local sd = require "storagedriver"
local core = require "storagedriver.core"
local t = require "sdtest"
local cases = require "contract.cases"
local cjson = require "cjson"
require "luamem"

local METHODS = { "get_content", "put_content", "reader", "writer", "stat", "list", "move",
                  "delete", "redirect_url", "walk" }

-- Middleware names unique to this run (the registry lives as long as the
-- storagedriver module, and busted may load it more than once).
local serial = 0
local function uniq(base)
  serial = serial + 1
  return string.format("%s_%d_%d", base, serial, math.random(1, 1e9))
end

-- Registers fn under a fresh name and returns the name.
local function mw(fn)
  local name = uniq("spec")
  sd.middleware.register(name, fn)
  return name
end

-- A middleware overriding every method with a Lua function that calls the
-- inner driver, noting each call in trace (as "<tag>:<method>").
local function passthrough_all(tag, trace)
  return mw(function(inner)
    local m = {}
    for _, op in ipairs(METHODS) do
      m[op] = function(_, ...)
        if trace then trace[#trace + 1] = tag .. ":" .. op end
        return inner[op](inner, ...)
      end
    end
    return m
  end)
end

local function mem() return assert(sd.create("inmemory", {})) end

local function assert_error(kind, v, err, text)
  assert.is_nil(v)
  assert.is_true(sd.is_error(err), "expected an error object, got " .. tostring(err))
  assert.are.equal(kind, err.kind)
  if text then assert.are.equal(text, tostring(err)) end
end

-- The same with the expected text first, so that the call comes last (a
-- call in the middle of an argument list gives only its first value).
local function assert_fails(kind, text, v, err)
  assert_error(kind, v, err, text)
end

-- "a", "b", ... of a walk, in order.
local function walked(d, path, opts)
  local seen = {}
  local ok, err = d:walk(path or "/", function(fi) seen[#seen + 1] = fi.path end, opts)
  assert(ok, tostring(err))
  return seen
end

------------------------------------------------------------------ registry

describe("sd.middleware.register", function()
  it("raises when a name is registered twice", function()
    local name = uniq("twice")
    sd.middleware.register(name, function() return {} end)
    assert.has_error(function() sd.middleware.register(name, function() return {} end) end,
                     "name already registered: " .. name)
  end)

  it("raises when a shipped middleware's name is taken", function()
    for _, name in ipairs({ "readonly", "metrics", "log", "limit" }) do
      assert.has_error(function() sd.middleware.register(name, function() return {} end) end,
                       "name already registered: " .. name)
    end
  end)

  it("raises on a name that is not a non-empty string, or a fn that is not a function", function()
    assert.has_error(function() sd.middleware.register(5, function() end) end)
    assert.has_error(function() sd.middleware.register("", function() end) end)
    assert.has_error(function() sd.middleware.register(uniq("x"), {}) end)
    assert.has_error(function() sd.middleware.register(uniq("x")) end)
  end)

  it("lists registered and shipped names, sorted", function()
    local name = mw(function() return {} end)
    local names = sd.middleware.names()
    local set = {}
    for i, n in ipairs(names) do
      set[n] = true
      if i > 1 then assert.is_true(names[i - 1] < n) end
    end
    for _, n in ipairs({ name, "readonly", "metrics", "log", "limit" }) do
      assert.is_true(set[n], n .. " missing")
    end
  end)
end)

------------------------------------------------------------------ sd.wrap

describe("sd.wrap", function()
  it("returns nil, err naming the middleware when none has that name", function()
    local d = mem()
    local w, err = sd.wrap(d, "no-such-middleware", {})
    assert_error("Driver", w, err,
                 "inmemory: no storage middleware registered with name: no-such-middleware")
  end)

  it("raises on options that are not a table, and on bad driver or name arguments", function()
    local name = mw(function() return {} end)
    local d = mem()
    assert.has_error(function() sd.wrap(d, name, 5) end,
                     "bad argument #3 to 'wrap' (table expected, got number)")
    assert.has_error(function() sd.wrap(d, name, "opts") end)
    assert.has_error(function() sd.wrap(d, name, true) end)
    assert.has_error(function() sd.wrap({}, name, {}) end)
    assert.has_error(function() sd.wrap(nil, name) end)
    assert.has_error(function() sd.wrap(d, 7, {}) end)
  end)

  it("hands the options table itself to fn, and {} when there are none", function()
    local got = {}
    local name = mw(function(inner, options)
      got[#got + 1] = { inner = inner, options = options }
      return {}
    end)
    local d = mem()
    local opts = { x = 1 }
    assert(sd.wrap(d, name, opts))
    assert(sd.wrap(d, name))
    assert.are.equal(d, got[1].inner)
    assert.are.equal(opts, got[1].options)
    assert.are.same({}, got[2].options)
  end)

  it("passes on fn's nil, err: a string becomes a Driver error naming the middleware", function()
    local name = mw(function() return nil, "no baseurl provided" end)
    local w, err = sd.wrap(mem(), name, {})
    assert_error("Driver", w, err, name .. ": no baseurl provided")
  end)

  it("keeps the kind of an error object from fn, naming the middleware where it names none", function()
    local name = mw(function()
      return nil, sd.error("InvalidParameter", { parameter = "baseurl", detail = "no baseurl provided" })
    end)
    local w, err = sd.wrap(mem(), name, {})
    assert_error("InvalidParameter", w, err, name .. ": invalid parameter baseurl: no baseurl provided")
    assert.are.equal("baseurl", err.parameter)
  end)

  it("keeps a kind given as a plain table, and the driver it names", function()
    local name = mw(function() return nil, { kind = "PathNotFound", path = "/conf", driver = "x" } end)
    local w, err = sd.wrap(mem(), name, {})
    assert_error("PathNotFound", w, err, "x: Path not found: /conf")
  end)

  it("turns fn returning nothing into an error naming the middleware", function()
    local name = mw(function() end)
    local w, err = sd.wrap(mem(), name, {})
    assert_error("Driver", w, err)
    assert.are.equal(name, err.driver)
    assert.matches("returned nothing", err.detail)
  end)

  it("turns fn raising into a Driver error naming the middleware", function()
    local name = mw(function() error("cannot read the key file") end)
    local w, err = sd.wrap(mem(), name, {})
    assert_error("Driver", w, err)
    assert.are.equal(name, err.driver)
    assert.matches("cannot read the key file", err.detail, 1, true)
    local name2 = mw(function() error(sd.error("InvalidParameter", { parameter = "k", detail = "bad" })) end)
    local w2, err2 = sd.wrap(mem(), name2, {})
    assert_error("InvalidParameter", w2, err2, name2 .. ": invalid parameter k: bad")
  end)

  it("rejects fn returning something other than a table", function()
    for _, v in ipairs({ 5, "methods", true, function() end }) do
      local name = mw(function() return v end)
      local w, err = sd.wrap(mem(), name, {})
      assert_error("Driver", w, err)
      assert.are.equal(name, err.driver)
      assert.matches("returned a " .. type(v) .. ", expected a table of methods", err.detail, 1, true)
    end
  end)

  it("gives a driver whose name is the inner driver's", function()
    local name = mw(function() return {} end)
    local w = assert(sd.wrap(mem(), name))
    assert.are.equal("inmemory", w:name())
    assert.is_true(core.is_driver(w))
    local l = assert(sd.wrap(assert(sd.create("luamem", {})), name))
    assert.are.equal("luamem", l:name())
  end)
end)

--------------------------------------------------------------- pass-through

describe("a middleware", function()
  it("that overrides nothing passes every operation to the inner driver", function()
    local inner = mem()
    local d = assert(sd.wrap(inner, mw(function() return {} end)))
    assert.is_true(d:put_content("/a/b", "one"))
    assert.are.equal("one", inner:get_content("/a/b"))
    assert.are.equal("one", d:get_content("/a/b"))
    local w = assert(d:writer("/a/c"))
    w:write("two")
    assert(w:commit())
    w:close()
    local r = assert(d:reader("/a/c", 1))
    assert.are.equal("wo", r:read("a"))
    r:close()
    assert.are.same({ "/a/b", "/a/c" }, d:list("/a"))
    assert.are.equal(3, d:stat("/a/b").size)
    assert.is_true(d:move("/a/c", "/a/d"))
    assert.are.same({ "/a", "/a/b", "/a/d" }, walked(d))
    local url, err = d:redirect_url("/a/b")
    assert.is_nil(url)
    assert.is_nil(err)
    assert.is_true(d:delete("/a"))
    assert_error("PathNotFound", d:get_content("/a/b"))
    assert_error("PathNotFound", inner:stat("/a"))
  end)

  it("runs only the methods it overrides, with itself as self", function()
    local calls, selves = {}, {}
    local m
    local name = mw(function(inner)
      m = {
        stat = function(self, p)
          calls[#calls + 1] = "stat"
          selves[#selves + 1] = self
          return inner:stat(p)
        end,
      }
      return m
    end)
    local d = assert(sd.wrap(mem(), name))
    assert(d:put_content("/x", "1"))
    assert(d:get_content("/x"))
    assert(d:stat("/x"))
    assert(d:list("/"))
    assert.are.same({ "stat" }, calls)
    assert.are.equal(m, selves[1])
  end)

  it("may be an object whose methods come from a metatable", function()
    local Upper = {}
    Upper.__index = Upper
    function Upper:get_content(p)
      local s, err = self.inner:get_content(p)
      if not s then return nil, err end
      return s:upper()
    end
    local name = mw(function(inner) return setmetatable({ inner = inner }, Upper) end)
    local d = assert(sd.wrap(mem(), name))
    assert(d:put_content("/x", "abc"))
    assert.are.equal("ABC", d:get_content("/x"))
  end)

  it("receives the arguments of each method as the Lua driver protocol gives them", function()
    local got = {}
    local name = mw(function(inner)
      return {
        reader = function(_, p, offset) got.reader = { p, offset } return inner:reader(p, offset) end,
        writer = function(_, p, append) got.writer = { p, append } return inner:writer(p, append) end,
        redirect_url = function(_, p, opts)
          got.redirect = { p, opts.method, opts.expiry }
          return nil
        end,
        walk = function(_, p, fn, opts)
          got.walk = { p, type(fn), opts.start_after }
          return inner:walk(p, fn, opts)
        end,
        move = function(_, src, dst) got.move = { src, dst } return inner:move(src, dst) end,
        put_content = function(_, p, bytes) got.put = { p, bytes } return inner:put_content(p, bytes) end,
      }
    end)
    local d = assert(sd.wrap(mem(), name))
    local data = "a\0b" .. t.all_bytes()
    assert(d:put_content("/p/q", data))
    assert.are.same({ "/p/q", data }, got.put)
    assert(d:reader("/p/q")):close()
    assert.are.same({ "/p/q", 0 }, got.reader)
    assert(d:reader("/p/q", 2)):close()
    assert.are.same({ "/p/q", 2 }, got.reader)
    assert(d:writer("/p/w")):close()
    assert.are.same({ "/p/w", false }, got.writer)
    assert(d:writer("/p/w", true)):cancel()
    assert.are.same({ "/p/w", true }, got.writer)
    d:redirect_url("/p/q")
    assert.are.same({ "/p/q", "GET" }, got.redirect)
    d:redirect_url("/p/q", { method = "HEAD", expiry = 60 })
    assert.are.same({ "/p/q", "HEAD", 60 }, got.redirect)
    walked(d, "/p", { start_after = "/p/a" })
    assert.are.same({ "/p", "function", "/p/a" }, got.walk)
    assert(d:move("/p/q", "/p/r"))
    assert.are.same({ "/p/q", "/p/r" }, got.move)
  end)

  it("never sees an invalid path or offset: the base layer answers first", function()
    local reached = {}
    local name = mw(function(inner)
      local m = {}
      for _, op in ipairs(METHODS) do
        m[op] = function(_, ...)
          reached[#reached + 1] = op
          return inner[op](inner, ...)
        end
      end
      return m
    end)
    local d = assert(sd.wrap(mem(), name))
    local bad = { "", "a", "a/b", "/a/", "//a", "/a//b", "/a/../b", "/./a", "/a/.", "/a b", "/a?b",
                  "/a\0b", "/\195\169" }
    local function fn() end
    for _, p in ipairs(bad) do
      assert_error("InvalidPath", d:get_content(p))
      assert_error("InvalidPath", d:put_content(p, "x"))
      assert_error("InvalidPath", d:reader(p))
      assert_error("InvalidPath", d:writer(p))
      assert_error("InvalidPath", d:move(p, "/ok"))
      assert_error("InvalidPath", d:move("/ok", p))
      assert_error("InvalidPath", d:delete(p))
      assert_error("InvalidPath", d:redirect_url(p))
      if p ~= "/" then
        assert_error("InvalidPath", d:stat(p))
        assert_error("InvalidPath", d:list(p))
        assert_error("InvalidPath", d:walk(p, fn))
      end
    end
    assert_error("InvalidPath", d:get_content("/"))
    assert_error("InvalidOffset", d:reader("/ok", -1))
    assert.are.same({}, reached)
    -- and valid ones do reach it
    d:stat("/ok")
    assert.are.same({ "stat" }, reached)
  end)
end)

---------------------------------------------------------- errors in methods

describe("a middleware method", function()
  local impl
  local d
  before_each(function()
    impl = {}
    local name = mw(function(inner)
      local m = {}
      for _, op in ipairs(METHODS) do
        m[op] = function(self, ...)
          if impl[op] then return impl[op](inner, ...) end
          return inner[op](inner, ...)
        end
      end
      return m
    end)
    d = assert(sd.wrap(mem(), name))
    assert(d:put_content("/f", "content"))
  end)

  it("that raises gives a Driver error, and the driver keeps working", function()
    impl.get_content = function() error("middleware bug") end
    local v, err = d:get_content("/f")
    assert_error("Driver", v, err)
    assert.are.equal("inmemory", err.driver)
    assert.matches("middleware bug", err.detail, 1, true)
    impl.stat = function() error({ "not", "a", "string" }) end
    assert_error("Driver", d:stat("/f"))
    impl.get_content, impl.stat = nil, nil
    assert.are.equal("content", d:get_content("/f"))
    assert.are.equal(7, d:stat("/f").size)
  end)

  it("that raises an error object keeps its kind", function()
    impl.stat = function(_, p) error(sd.error("PathNotFound", { path = p })) end
    assert_fails("PathNotFound", "inmemory: Path not found: /f", d:stat("/f"))
  end)

  it("returns failures as nil, err: a string, a table with a kind, or an error object", function()
    impl.get_content = function() return nil, "backend unavailable" end
    local v, err = d:get_content("/f")
    assert_error("Driver", v, err, "inmemory: backend unavailable")
    impl.get_content = function(_, p) return nil, { kind = "PathNotFound", path = p } end
    assert_error("PathNotFound", d:get_content("/f"))
    impl.delete = function(_, p) return nil, sd.error("InvalidPath", { path = p }) end
    v, err = d:delete("/f")
    assert_error("InvalidPath", v, err, "inmemory: invalid path: /f")
  end)

  it("that returns the wrong type gives a clear Driver error naming the method", function()
    local function expect(pattern, v, err)
      assert_error("Driver", v, err)
      assert.matches(pattern, err.detail, 1, true)
    end
    impl.get_content = function() return 42 end
    expect("get_content returned a number, expected a string", d:get_content("/f"))
    impl.stat = function() return "x" end
    expect("stat returned a string, expected a table", d:stat("/f"))
    impl.stat = function() return { size = -1 } end
    expect("stat returned a bad fileinfo", d:stat("/f"))
    impl.stat = function() return { size = 1.5 } end
    expect("stat returned a bad fileinfo", d:stat("/f"))
    impl.list = function() return { "/a", 2 } end
    expect("list returned a number entry, expected strings", d:list("/"))
    impl.list = function() return "/a" end
    expect("list returned a string, expected a table", d:list("/"))
    impl.reader = function() return 5 end
    expect("reader returned a number, expected a table", d:reader("/f"))
    impl.writer = function() return "w" end
    expect("writer returned a string, expected a table", d:writer("/f"))
    impl.redirect_url = function() return 7 end
    expect("redirect_url returned a number, expected a string", d:redirect_url("/f"))
    impl.put_content = function() return nil end
    expect("put_content", d:put_content("/f", "x"))
    impl.move = function() return false end
    expect("move", d:move("/f", "/g"))
    -- and all is well again
    impl = {}
    assert.are.equal("content", d:get_content("/f"))
  end)

  it("that recurses into its own driver without end gives an error, not a crash", function()
    impl.stat = function(_, p) return d:stat(p) end
    assert_error("Driver", d:stat("/f"))
    impl.stat = nil
    assert.are.equal(7, d:stat("/f").size)
  end)

  it("cannot yield: it runs below a C call (a Driver error, the coroutine goes on)", function()
    impl.stat = function(inner, p)
      coroutine.yield("nope")
      return inner:stat(p)
    end
    local co = coroutine.create(function()
      local fi, err = d:stat("/f")
      return fi, err
    end)
    local ok, fi, err = coroutine.resume(co)
    assert.is_true(ok)
    assert_error("Driver", fi, err)
    assert.matches("yield", err.detail)
    assert.are.equal("dead", coroutine.status(co))
  end)
end)

-------------------------------------------------------------------- stacks

describe("a stack of middlewares", function()
  it("runs the outermost first and returns through each in turn", function()
    local trace = {}
    local function tagger(tag)
      return mw(function(inner)
        return {
          get_content = function(_, p)
            trace[#trace + 1] = tag .. ">"
            local s, err = inner:get_content(p)
            trace[#trace + 1] = "<" .. tag
            if not s then return nil, err end
            return s .. tag
          end,
        }
      end)
    end
    local base = mem()
    assert(base:put_content("/x", "v"))
    local d = base
    for _, tag in ipairs({ "A", "B", "C" }) do d = assert(sd.wrap(d, tagger(tag))) end
    assert.are.equal("vABC", d:get_content("/x"))
    assert.are.same({ "C>", "B>", "A>", "<A", "<B", "<C" }, trace)
    assert.are.equal("inmemory", d:name())
  end)

  it("of pass-throughs over every method behaves like the inner driver", function()
    local trace = {}
    local d = mem()
    for _, tag in ipairs({ "1", "2", "3" }) do d = assert(sd.wrap(d, passthrough_all(tag, trace))) end
    assert(d:put_content("/s/a", "x"))
    assert.are.same({ "3:put_content", "2:put_content", "1:put_content" }, trace)
    assert.are.equal("x", d:get_content("/s/a"))
    assert.are.same({ "/s", "/s/a" }, walked(d))
    assert_error("PathNotFound", d:stat("/s/zz"))
    local _, err = d:stat("/s/zz")
    assert.are.equal("inmemory: Path not found: /s/zz", tostring(err))
  end)

  it("mixes shipped and user middlewares over C and Lua drivers", function()
    for _, inner in ipairs({ mem(), assert(sd.create("luamem", {})) }) do
      local reg = require("storagedriver.middleware.metrics").new_registry()
      local d = assert(sd.wrap(inner, "metrics", { registry = reg }))
      d = assert(sd.wrap(d, passthrough_all("p")))
      d = assert(sd.wrap(d, "readonly", { enabled = false }))
      assert(d:put_content("/m/x", "12345"))
      assert.are.equal("12345", d:get_content("/m/x"))
      assert.matches('written_bytes_total{driver="' .. inner:name() .. '"} 5', reg:render(), 1, true)
    end
  end)
end)

------------------------------------------------------------ derived methods

describe("derived methods", function()
  it("get_content reads through an overridden reader when get_content is not overridden", function()
    local opened = 0
    local name = mw(function(inner)
      return {
        reader = function(_, p, offset)
          opened = opened + 1
          local r, err = inner:reader(p, offset)
          if not r then return nil, err end
          return {
            read = function(_, n)
              local s, e = r:read(n)
              return s and s:upper(), e
            end,
            close = function() return r:close() end,
          }
        end,
      }
    end)
    local inner = mem()
    assert(inner:put_content("/x", "hello"))
    local d = assert(sd.wrap(inner, name))
    assert.are.equal("HELLO", d:get_content("/x"))
    assert.are.equal(1, opened)
    assert_error("PathNotFound", d:get_content("/nope"))
  end)

  it("put_content writes through an overridden writer when put_content is not overridden", function()
    local name = mw(function(inner)
      return {
        writer = function(_, p, append)
          local w, err = inner:writer(p, append)
          if not w then return nil, err end
          return {
            write = function(_, s) return w:write(s:reverse()) end,
            size = function() return w:size() end,
            close = function() return w:close() end,
            commit = function() return w:commit() end,
            cancel = function() return w:cancel() end,
          }
        end,
      }
    end)
    local inner = mem()
    local d = assert(sd.wrap(inner, name))
    assert(d:put_content("/x", "abc"))
    assert.are.equal("cba", inner:get_content("/x"))
  end)

  it("walk is the generic one over an overridden list", function()
    local name = mw(function(inner)
      return {
        list = function(_, p)
          local names, err = inner:list(p)
          if not names then return nil, err end
          local out = {}
          for _, n in ipairs(names) do
            if not n:find("/secret", 1, true) then out[#out + 1] = n end
          end
          return out
        end,
      }
    end)
    local inner = mem()
    for _, p in ipairs({ "/a/one", "/secret/key", "/b/secret2", "/b/two" }) do
      assert(inner:put_content(p, "x"))
    end
    local d = assert(sd.wrap(inner, name))
    assert.are.same({ "/a", "/b" }, d:list("/"))
    assert.are.same({ "/a", "/a/one", "/b", "/b/two" }, walked(d))
    assert.are.same({ "/a", "/a/one", "/b", "/b/secret2", "/b/two", "/secret", "/secret/key" },
                    walked(inner))
  end)

  it("walk is the generic one over an overridden stat", function()
    local name = mw(function(inner)
      return {
        stat = function(_, p)
          local fi, err = inner:stat(p)
          if fi and not fi.is_dir then fi.size = fi.size * 10 end
          return fi, err
        end,
      }
    end)
    local inner = mem()
    assert(inner:put_content("/d/f", "abc"))
    local d = assert(sd.wrap(inner, name))
    local sizes = {}
    assert(d:walk("/", function(fi) sizes[fi.path] = fi.size end))
    assert.are.same({ ["/d"] = 0, ["/d/f"] = 30 }, sizes)
  end)

  it("an overridden walk is used as it is, with SKIP_DIR, STOP and errors passing through", function()
    local walks = 0
    local name = mw(function(inner)
      return {
        list = function(_, p) return inner:list(p) end,
        walk = function(_, p, fn, opts)
          walks = walks + 1
          return inner:walk(p, fn, opts)
        end,
      }
    end)
    local inner = mem()
    for _, p in ipairs({ "/a/x", "/a/y", "/b/z", "/c" }) do assert(inner:put_content(p, "1")) end
    local d = assert(sd.wrap(inner, name))
    local seen = {}
    assert(d:walk("/", function(fi)
      seen[#seen + 1] = fi.path
      if fi.path == "/a" then return sd.SKIP_DIR end
      if fi.path == "/b/z" then return sd.STOP end
    end))
    assert.are.same({ "/a", "/b", "/b/z" }, seen)
    local ok, err = d:walk("/", function() return "stop here" end)
    assert_error("Driver", ok, err)
    assert.are.equal("stop here", err.detail)
    assert.has_error(function() d:walk("/", function() error("raised in fn") end) end)
    assert.are.same({ "/a/x", "/a/y", "/b", "/b/z", "/c" }, walked(d, "/", { start_after = "/a" }))
    assert.are.equal(4, walks)
  end)
end)

---------------------------------------------------------- readers & writers

describe("readers and writers through a middleware", function()
  it("work when the middleware returns the inner driver's own objects", function()
    local name = mw(function(inner)
      return {
        reader = function(_, p, o) return inner:reader(p, o) end,
        writer = function(_, p, a) return inner:writer(p, a) end,
      }
    end)
    local d = assert(sd.wrap(mem(), name))
    local data = t.random_bytes(200 * 1024)
    local w = assert(d:writer("/big"))
    assert(w:write(data:sub(1, 1000)))
    assert(w:close())
    w = assert(d:writer("/big", true))
    assert.are.equal(1000, w:size())
    assert(w:write(data:sub(1001)))
    assert.are.equal(#data, w:size())
    assert(w:commit())
    assert.is_true(w:close())
    assert.has_error(function() w:write("x") end)
    local r = assert(d:reader("/big", 10))
    assert.are.equal(data:sub(11, 20), r:read(10))
    assert.are.equal(data:sub(21), r:read("a"))
    assert.is_nil(r:read(1))
    r:close()
    assert.are.equal(data, d:get_content("/big"))
    local c = assert(d:writer("/gone"))
    c:write("x")
    assert(c:cancel())
    assert_error("PathNotFound", d:stat("/gone"))
    assert_error("PathNotFound", d:reader("/missing"))
    assert_error("InvalidOffset", d:reader("/big", -5))
  end)

  it("work with Lua reader objects returning more or less than asked, and end at \"\"", function()
    local name = mw(function()
      return {
        reader = function(_, _, offset)
          local chunks = { "abc", "defghijklmnop", "q", "" , "never" }
          local i = 0
          local skip = offset
          return {
            read = function()
              i = i + 1
              local c = chunks[i]
              if c and skip > 0 then
                local k = math.min(skip, #c)
                c, skip = c:sub(k + 1), skip - k
              end
              return c
            end,
            close = function() end,
          }
        end,
      }
    end)
    local d = assert(sd.wrap(mem(), name))
    local r = assert(d:reader("/any"))
    assert.are.equal("ab", r:read(2))
    assert.are.equal("cdefghi", r:read(7))
    assert.are.equal("jklmnopq", r:read("a"))
    assert.is_nil(r:read(1))
    r:close()
    assert.are.equal("abcdefghijklmnopq", d:get_content("/any"))
  end)

  it("keep the base layer's writer state machine", function()
    local name = mw(function(inner) return { writer = function(_, p, a) return inner:writer(p, a) end } end)
    local d = assert(sd.wrap(mem(), name))
    local w = assert(d:writer("/w"))
    w:write("abc")
    assert(w:commit())
    assert.has_error(function() w:write("x") end, "inmemory: already committed")
    assert.has_error(function() w:commit() end, "inmemory: already committed")
    assert.is_true(w:close())
    local w2 = assert(d:writer("/w2"))
    w2:write("x")
    assert(w2:close())
    assert.has_error(function() w2:write("x") end, "inmemory: already closed")
  end)

  it("of an abandoned writer are closed when collected, and can be resumed", function()
    local name = mw(function(inner) return { writer = function(_, p, a) return inner:writer(p, a) end } end)
    local d = assert(sd.wrap(mem(), name))
    local w = assert(d:writer("/resume"))
    w:write("abc")
    w = nil -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    local w2 = assert(d:writer("/resume", true))
    assert.are.equal(3, w2:size())
    w2:write("def")
    assert(w2:commit())
    w2:close()
    assert.are.equal("abcdef", d:get_content("/resume"))
  end)
end)

----------------------------------------------------- inner drivers, threads

describe("wrapping", function()
  it("a Lua driver and a C driver (filesystem) gives the same results", function()
    local root = t.tmpdir()
    finally(function() t.rmrf(root) end)
    local inners = { assert(sd.create("luamem", {})),
                     assert(sd.create("filesystem", { rootdirectory = root, sync = false })) }
    for _, inner in ipairs(inners) do
      local d = assert(sd.wrap(inner, passthrough_all("p")))
      assert(d:put_content("/x/y", "z"))
      assert.are.equal("z", d:get_content("/x/y"))
      assert.are.same({ "/x/y" }, d:list("/x"))
      assert.are.same({ "/x", "/x/y" }, walked(d))
      assert(d:move("/x/y", "/x/w"))
      assert.are.equal("z", inner:get_content("/x/w"))
      local _, err = d:get_content("/x/y")
      assert.are.equal(inner:name() .. ": Path not found: /x/y", tostring(err))
      assert(d:delete("/x"))
    end
  end)

  it("runs the middleware on the calling coroutine", function()
    local seen = {}
    local name = mw(function(inner)
      return { stat = function(_, p) seen[#seen + 1] = coroutine.running() return inner:stat(p) end }
    end)
    local d = assert(sd.wrap(assert(sd.create("luamem", {})), name))
    local co = coroutine.create(function() return d:stat("/") end)
    assert.is_true((coroutine.resume(co)))
    assert.are.equal(co, seen[1])
  end)

  it("serves coroutines that interleave their readers and writers", function()
    local d = assert(sd.wrap(assert(sd.wrap(assert(sd.create("luamem", {})), passthrough_all("a"))),
                             passthrough_all("b")))
    local n = 4
    local cos = {}
    for i = 1, n do
      cos[i] = coroutine.create(function()
        local p = "/co/" .. i
        local w = assert(d:writer(p))
        for k = 1, 3 do
          assert(w:write(string.rep(tostring(i), k)))
          coroutine.yield()
        end
        assert(w:commit())
        w:close()
        local r = assert(d:reader(p))
        local got = {}
        while true do
          local s = r:read(2)
          if not s then break end
          got[#got + 1] = s
          coroutine.yield()
        end
        r:close()
        return table.concat(got)
      end)
    end
    local results, alive = {}, n
    while alive > 0 do
      for i = 1, n do
        if coroutine.status(cos[i]) ~= "dead" then
          local ok, res = coroutine.resume(cos[i])
          assert(ok, res)
          if coroutine.status(cos[i]) == "dead" then
            results[i] = res
            alive = alive - 1
          end
        end
      end
    end
    for i = 1, n do
      local c = tostring(i)
      assert.are.equal(c .. c .. c .. c .. c .. c, results[i])
    end
  end)
end)

describe("garbage collection", function()
  local passthrough_none
  setup(function() passthrough_none = mw(function() return {} end) end)

  it("keeps the inner driver alive while only the wrapper is referenced", function()
    for _, make in ipairs({ mem, function() return assert(sd.create("luamem", {})) end }) do
      local d = assert(sd.wrap(make(), passthrough_none))
      d = assert(sd.wrap(d, passthrough_all("x")))
      d = assert(sd.wrap(d, passthrough_none))
      collectgarbage()
      collectgarbage()
      assert(d:put_content("/gc/a", "alive"))
      collectgarbage()
      collectgarbage()
      assert.are.equal("alive", d:get_content("/gc/a"))
      assert.are.same({ "/gc", "/gc/a" }, walked(d))
    end
  end)

  it("lets the inner driver go on after the wrapper is collected", function()
    local inner = mem()
    local d = assert(sd.wrap(inner, passthrough_all("x")))
    assert(d:put_content("/k", "v"))
    d = nil -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    assert.are.equal("v", inner:get_content("/k"))
  end)

  it("keeps a reader working after its wrapped driver is collected", function()
    local inner = mem()
    assert(inner:put_content("/r", "reader outlives"))
    local d = assert(sd.wrap(inner, passthrough_all("x")))
    inner = nil -- luacheck: ignore
    local r = assert(d:reader("/r"))
    d = nil -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    assert.are.equal("reader outlives", r:read("a"))
    r:close()
  end)

  it("frees the methods table with the wrapper", function()
    local weak = setmetatable({}, { __mode = "v" })
    local name = mw(function(inner)
      local m = { stat = function(_, p) return inner:stat(p) end }
      weak[1] = m
      return m
    end)
    local d = assert(sd.wrap(mem(), name))
    assert(d:stat("/"))
    assert.is_table(weak[1])
    d = nil -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    assert.is_nil(weak[1])
  end)
end)

---------------------------------------------------- conformance behind stacks

-- The whole conformance suite through stacks that exercise every kind of
-- override: Lua methods calling the inner driver, Lua reader and writer
-- objects, and the shipped middlewares with their defaults.
describe("conformance behind middlewares:", function()
  local T = {
    describe = describe, it = it, pending = pending,
    before_each = before_each, after_each = after_each,
    lazy_setup = lazy_setup, lazy_teardown = lazy_teardown,
  }

  -- Every method overridden, readers and writers wrapped in Lua objects.
  local objects = mw(function(inner)
    local m = {}
    for _, op in ipairs(METHODS) do
      m[op] = function(_, ...) return inner[op](inner, ...) end
    end
    function m.reader(_, p, o)
      local r, err = inner:reader(p, o)
      if not r then return nil, err end
      return { read = function(_, n) return r:read(n) end, close = function() return r:close() end }
    end
    function m.writer(_, p, a)
      local w, err = inner:writer(p, a)
      if not w then return nil, err end
      return {
        write = function(_, s) return w:write(s) end,
        size = function() return w:size() end,
        close = function() return w:close() end,
        commit = function() return w:commit() end,
        cancel = function() return w:cancel() end,
      }
    end
    return m
  end)

  local quiet = function() end
  local function stack(d, layers)
    for _, l in ipairs(layers) do d = assert(sd.wrap(d, l[1], l[2])) end
    return d
  end
  local metrics = require "storagedriver.middleware.metrics"

  cases(T, {
    label = "inmemory behind Lua objects",
    caps = { atomic_writer = true },
    create = function() return stack(mem(), { { objects } }) end,
  })
  cases(T, {
    label = "luamem behind metrics, log, limit, readonly(enabled=false)",
    caps = { atomic_writer = true },
    create = function()
      return stack(assert(sd.create("luamem", {})), {
        { "metrics", { registry = metrics.new_registry() } },
        { "log", { sink = quiet } },
        { "limit", { rate = 1e9 } },
        { "readonly", { enabled = false } },
      })
    end,
  })
  local root
  cases(T, {
    label = "filesystem behind log, metrics",
    caps = { atomic_writer = true },
    create = function()
      root = t.tmpdir()
      local fs = assert(sd.create("filesystem", { rootdirectory = root, sync = false }))
      return stack(fs, { { "log", { sink = quiet, format = "text" } },
                         { "metrics", { registry = metrics.new_registry(), streams = false } } })
    end,
    destroy = function() t.rmrf(root) end,
  })
end)

------------------------------------------------------------- core.now/sleep

describe("core.now and core.sleep", function()
  it("give a monotonic clock in seconds and a sleep that takes that long", function()
    local a = core.now()
    core.sleep(0.02)
    local b = core.now()
    assert.is_true(b - a >= 0.019, "slept " .. (b - a))
    assert.is_true(b - a < 1)
    core.sleep(0)
    assert.is_true(core.now() >= b)
    assert.has_error(function() core.sleep(-1) end)
    assert.has_error(function() core.sleep("x") end)
    assert.has_error(function() core.sleep(0 / 0) end)
  end)
end)

------------------------------------------------------------------ readonly

describe("readonly", function()
  it("refuses writes with a clear Driver error and leaves the store alone", function()
    local inner = mem()
    assert(inner:put_content("/keep", "old"))
    local d = assert(sd.wrap(inner, "readonly"))
    local v, err = d:put_content("/keep", "new")
    assert_error("Driver", v, err, "inmemory: read-only: put_content refused (maintenance mode)")
    assert.are.equal("ReadOnly", err.code)
    assert_fails("Driver", "inmemory: read-only: writer refused (maintenance mode)",
                 d:writer("/new"))
    assert_error("Driver", d:writer("/keep", true))
    assert_fails("Driver", "inmemory: read-only: move refused (maintenance mode)",
                 d:move("/keep", "/moved"))
    assert_fails("Driver", "inmemory: read-only: delete refused (maintenance mode)",
                 d:delete("/keep"))
    assert.are.equal("old", inner:get_content("/keep"))
    assert.are.same({ "/keep" }, inner:list("/"))
  end)

  it("lets reads through without overriding them", function()
    local inner = mem()
    assert(inner:put_content("/a/b", "data"))
    local m = require("storagedriver.middleware.readonly")(inner, {})
    local keys = {}
    for k in pairs(m) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.are.same({ "delete", "move", "put_content", "writer" }, keys)
    local d = assert(sd.wrap(inner, "readonly"))
    assert.are.equal("data", d:get_content("/a/b"))
    assert.are.equal("data", assert(d:reader("/a/b")):read("a"))
    assert.are.equal(4, d:stat("/a/b").size)
    assert.are.same({ "/a/b" }, d:list("/a"))
    assert.are.same({ "/a", "/a/b" }, walked(d))
  end)

  it("appends the message option to the error", function()
    local d = assert(sd.wrap(mem(), "readonly", { message = "back at 14:00 UTC" }))
    assert_fails("Driver",
                 "inmemory: read-only: put_content refused (maintenance mode): back at 14:00 UTC",
                 d:put_content("/x", "y"))
  end)

  it("passes everything with enabled = false, and asks a function on every write", function()
    local off = assert(sd.wrap(mem(), "readonly", { enabled = false }))
    assert.is_true(off:put_content("/x", "y"))
    assert.are.same({}, require("storagedriver.middleware.readonly")(mem(), { enabled = false }))
    local on = true
    local d = assert(sd.wrap(mem(), "readonly", { enabled = function() return on end }))
    assert_error("Driver", d:put_content("/x", "1"))
    on = false
    assert.is_true(d:put_content("/x", "2"))
    local w = assert(d:writer("/w"))
    w:write("3")
    assert(w:commit())
    assert.is_true(d:move("/w", "/v"))
    on = true
    assert_error("Driver", d:delete("/x"))
    on = false
    assert.is_true(d:delete("/x"))
    assert.are.equal("3", d:get_content("/v"))
  end)

  it("rejects options of the wrong type, naming readonly", function()
    local v, err = sd.wrap(mem(), "readonly", { enabled = "yes" })
    assert_error("InvalidParameter", v, err)
    assert.matches("^readonly: invalid parameter enabled: ", tostring(err))
    v, err = sd.wrap(mem(), "readonly", { message = 5 })
    assert_error("InvalidParameter", v, err)
    assert.matches("^readonly: invalid parameter message: ", tostring(err))
  end)
end)

------------------------------------------------------------------- metrics

-- Parses the text exposition format into samples { name, labels, value }
-- and the TYPE lines into types[name].
local function parse_prometheus(text)
  local samples, types, helps = {}, {}, {}
  for line in text:gmatch("[^\n]+") do
    local kind, name, rest = line:match("^# (%u+) (%S+) (.*)$")
    if kind == "TYPE" then
      assert.is_nil(types[name], "TYPE twice for " .. name)
      types[name] = rest
    elseif kind == "HELP" then
      helps[name] = rest
    else
      local n, body, value = line:match("^([%w_:]+){(.*)} (%S+)$")
      if not n then
        n, value = line:match("^([%w_:]+) (%S+)$")
        body = ""
      end
      assert(n, "unparsable line: " .. line)
      local labels, pos = {}, 1
      while pos <= #body do -- name="value" pairs; values escape \\, \" and \n
        local k, after = body:match('^([%a_][%w_]*)="()', pos)
        assert(k, "bad labels in: " .. line)
        local v, i = {}, after
        while true do
          local ch = body:sub(i, i)
          assert(ch ~= "", "unterminated label value in: " .. line)
          if ch == '"' then break end
          if ch == "\\" then
            local nx = body:sub(i + 1, i + 1)
            assert(nx == "\\" or nx == '"' or nx == "n", "bad escape in: " .. line)
            v[#v + 1] = nx == "n" and "\n" or nx
            i = i + 2
          else
            v[#v + 1] = ch
            i = i + 1
          end
        end
        labels[k] = table.concat(v)
        pos = i + 1
        if body:sub(pos, pos) == "," then pos = pos + 1 end
      end
      local num = value == "+Inf" and math.huge or tonumber(value)
      assert(num, "bad value in: " .. line)
      samples[#samples + 1] = { name = n, labels = labels, value = num }
    end
  end
  return samples, types, helps
end

-- The value of the sample with that name whose labels include `want`.
local function sample(samples, name, want)
  local found
  for _, s in ipairs(samples) do
    if s.name == name then
      local ok = true
      for k, v in pairs(want) do if s.labels[k] ~= v then ok = false end end
      if ok then
        assert.is_nil(found, "two samples match " .. name)
        found = s.value
      end
    end
  end
  return found
end

describe("metrics", function()
  local metrics = require "storagedriver.middleware.metrics"

  -- A clock that moves `step` seconds at every reading: each operation lasts
  -- exactly `step`.
  local function stepping(step)
    local now = 100
    return function()
      now = now + step
      return now
    end
  end

  it("counts operations and errors by kind, with cumulative histograms", function()
    local reg = metrics.new_registry({ buckets = { 0.001, 0.005, 0.01 } })
    local d = assert(sd.wrap(mem(), "metrics", { registry = reg, clock = stepping(0.003) }))
    assert(d:put_content("/a", "12345"))
    assert(d:put_content("/b", "1"))
    assert(d:get_content("/a"))
    assert_error("PathNotFound", d:get_content("/missing"))
    assert_error("PathNotFound", d:stat("/missing"))
    assert(d:stat("/a"))
    assert_error("InvalidPath", d:stat("/bad//path")) -- refused before the middleware
    local samples, types = parse_prometheus(reg:render())

    assert.are.equal("counter", types.storagedriver_operations_total)
    assert.are.equal("counter", types.storagedriver_operation_errors_total)
    assert.are.equal("histogram", types.storagedriver_operation_duration_seconds)
    local function ops(op) return sample(samples, "storagedriver_operations_total", { driver = "inmemory", operation = op }) end
    assert.are.equal(2, ops("put_content"))
    assert.are.equal(2, ops("get_content"))
    assert.are.equal(2, ops("stat"))
    assert.are.equal(0, ops("list"))
    assert.are.equal(1, sample(samples, "storagedriver_operation_errors_total",
      { driver = "inmemory", operation = "get_content", kind = "PathNotFound" }))
    assert.are.equal(1, sample(samples, "storagedriver_operation_errors_total",
      { driver = "inmemory", operation = "stat", kind = "PathNotFound" }))
    assert.is_nil(sample(samples, "storagedriver_operation_errors_total",
      { driver = "inmemory", operation = "put_content" }))

    local H = "storagedriver_operation_duration_seconds"
    for _, op in ipairs({ "get_content", "put_content", "stat", "list" }) do
      local sel = { driver = "inmemory", operation = op }
      local function bucket(le) sel.le = le return sample(samples, H .. "_bucket", sel) end
      local count = sample(samples, H .. "_count", { driver = "inmemory", operation = op })
      assert.are.equal(ops(op), count)
      assert.are.equal(0, bucket("0.001"))
      assert.are.equal(count, bucket("0.005")) -- 3 ms each
      assert.are.equal(count, bucket("0.01"))
      assert.are.equal(count, bucket("+Inf"))
      local sum = sample(samples, H .. "_sum", { driver = "inmemory", operation = op })
      assert.is_true(math.abs(sum - 0.003 * count) < 1e-9, op .. " sum " .. sum)
    end
  end)

  it("places observations in the right bucket, cumulatively", function()
    local reg = metrics.new_registry({ buckets = { 0.01, 0.1, 1 } })
    local durations = { 0.005, 0.01, 0.05, 0.5, 5, 0.0 }
    -- Readings alternate: 0 at the start of an operation, its duration at the end.
    local i, started = 0, false
    local clock = function()
      started = not started
      if started then return 0 end
      i = i + 1
      return durations[i]
    end
    local d = assert(sd.wrap(mem(), "metrics", { registry = reg, clock = clock }))
    for _ = 1, #durations do d:stat("/") end
    local samples = parse_prometheus(reg:render())
    local function bucket(le)
      return sample(samples, "storagedriver_operation_duration_seconds_bucket",
                    { driver = "inmemory", operation = "stat", le = le })
    end
    assert.are.equal(3, bucket("0.01")) -- 0.005, 0.01 (le is inclusive), 0
    assert.are.equal(4, bucket("0.1"))
    assert.are.equal(5, bucket("1"))
    assert.are.equal(6, bucket("+Inf"))
    local sum = sample(samples, "storagedriver_operation_duration_seconds_sum",
                       { driver = "inmemory", operation = "stat" })
    assert.is_true(math.abs(sum - 5.565) < 1e-9)
  end)

  it("counts bytes read and written, reader and writer opens, commit and cancel", function()
    local reg = metrics.new_registry()
    local d = assert(sd.wrap(mem(), "metrics", { registry = reg, clock = stepping(0.001) }))
    assert(d:put_content("/p", "0123456789"))    -- 10 written
    assert(d:get_content("/p"))                  -- 10 read
    local r = assert(d:reader("/p", 4))
    assert.are.equal("45", r:read(2))            -- 2 read
    assert.are.equal("6789", r:read("a"))        -- 4 read
    r:close()
    local w = assert(d:writer("/w"))
    assert(w:write("abc", "de"))                 -- 5 written
    assert.are.equal(5, w:size())
    assert(w:commit())
    w:close()
    local c = assert(d:writer("/c"))
    c:write("zz")                                -- 2 written (then cancelled)
    assert(c:cancel())
    assert_error("PathNotFound", d:reader("/nope"))
    local samples = parse_prometheus(reg:render())
    local lbl = { driver = "inmemory" }
    assert.are.equal(16, sample(samples, "storagedriver_read_bytes_total", lbl))
    assert.are.equal(17, sample(samples, "storagedriver_written_bytes_total", lbl))
    local function ops(op) return sample(samples, "storagedriver_operations_total", { driver = "inmemory", operation = op }) end
    assert.are.equal(2, ops("reader"))
    assert.are.equal(2, ops("writer"))
    assert.are.equal(1, ops("commit"))
    assert.are.equal(1, ops("cancel"))
    assert.are.equal(1, sample(samples, "storagedriver_operation_errors_total",
      { driver = "inmemory", operation = "reader", kind = "PathNotFound" }))
    assert.are.equal("abcde", d:get_content("/w"))
  end)

  it("with streams = false counts only the opens", function()
    for _, clock in ipairs({ false, true }) do -- the C-side counting, and the Lua one
      local reg = metrics.new_registry()
      local inner = mem()
      assert(inner:put_content("/p", "0123456789"))
      local d = assert(sd.wrap(inner, "metrics", { registry = reg, streams = false,
                                                   clock = clock and require("storagedriver.core").now or nil }))
      assert.are.equal("0123456789", assert(d:reader("/p")):read("a"))
      local w = assert(d:writer("/q"))
      assert(w:write("abc"))
      assert(w:commit())
      local samples = parse_prometheus(reg:render())
      assert.are.equal(0, sample(samples, "storagedriver_read_bytes_total", { driver = "inmemory" }))
      assert.are.equal(0, sample(samples, "storagedriver_written_bytes_total", { driver = "inmemory" }))
      assert.are.equal(1, sample(samples, "storagedriver_operations_total",
                                 { driver = "inmemory", operation = "reader" }))
      assert.are.equal(1, sample(samples, "storagedriver_operations_total",
                                 { driver = "inmemory", operation = "writer" }))
    end
  end)

  it("counts the same through the C-side counters as through the Lua ones", function()
    local renders = {}
    for _, clock in ipairs({ false, true }) do
      local reg = metrics.new_registry({ buckets = { 1e9 } }) -- every duration in the first bucket
      local d = assert(sd.wrap(mem(), "metrics", { registry = reg,
                                                   clock = clock and require("storagedriver.core").now or nil }))
      assert(d:put_content("/a/b", "12345"))
      assert(d:get_content("/a/b"))
      assert.is_nil(d:get_content("/a/nope"))
      assert(d:stat("/a"))
      assert(d:list("/a"))
      local w = assert(d:writer("/a/w"))
      assert(w:write("xyz", "w"))
      assert(w:commit())
      w = assert(d:writer("/a/v"))
      assert(w:cancel())
      local r = assert(d:reader("/a/w", 1))
      assert.are.equal("yzw", r:read("a"))
      r:close()
      assert(d:move("/a/w", "/a/x"))
      assert(d:walk("/", function() end))
      assert(d:delete("/a"))
      assert.is_nil(d:delete("/a"))
      -- sums differ run to run: compare everything else
      renders[#renders + 1] = (reg:render():gsub("(_sum{[^}]*}) [^\n]*", "%1 0"))
    end
    assert.are.equal(renders[1], renders[2])
    local samples = parse_prometheus(renders[1])
    assert.are.equal(8, sample(samples, "storagedriver_read_bytes_total", { driver = "inmemory" }))
    assert.are.equal(9, sample(samples, "storagedriver_written_bytes_total", { driver = "inmemory" }))
  end)

  it("times list, move, delete, redirect_url and walk", function()
    local reg = metrics.new_registry()
    local d = assert(sd.wrap(mem(), "metrics", { registry = reg }))
    assert(d:put_content("/a/b", "x"))
    assert(d:list("/a"))
    assert(d:move("/a/b", "/a/c"))
    d:redirect_url("/a/c")
    walked(d)
    assert(d:delete("/a"))
    assert_error("PathNotFound", d:delete("/a"))
    local samples = parse_prometheus(reg:render())
    for _, op in ipairs({ "list", "move", "redirect_url", "walk" }) do
      assert.are.equal(1, sample(samples, "storagedriver_operations_total", { driver = "inmemory", operation = op }), op)
    end
    assert.are.equal(2, sample(samples, "storagedriver_operations_total", { driver = "inmemory", operation = "delete" }))
    assert.are.equal(1, sample(samples, "storagedriver_operation_errors_total",
      { driver = "inmemory", operation = "delete", kind = "PathNotFound" }))
  end)

  it("measures wall time on a monotonic clock by default (not CPU time)", function()
    local drv = uniq("sleepy")
    sd.register(drv, function()
      return {
        stat = function() core.sleep(0.03) return { size = 0, is_dir = true } end,
        list = function() return {} end,
      }
    end)
    local reg = metrics.new_registry()
    local d = assert(sd.wrap(assert(sd.create(drv, {})), "metrics", { registry = reg }))
    assert(d:stat("/"))
    local samples = parse_prometheus(reg:render())
    local sum = sample(samples, "storagedriver_operation_duration_seconds_sum", { driver = drv, operation = "stat" })
    assert.is_true(sum >= 0.029 and sum < 1, "stat took " .. sum)
    assert.are.equal(0, sample(samples, "storagedriver_operation_duration_seconds_bucket",
                               { driver = drv, operation = "stat", le = "0.025" }))
    assert.are.equal(1, sample(samples, "storagedriver_operation_duration_seconds_bucket",
                               { driver = drv, operation = "stat", le = "+Inf" }))
  end)

  it("lets several drivers share a registry, told apart by the driver label", function()
    local reg = metrics.new_registry({ namespace = "shared_spec" })
    local a = assert(sd.wrap(mem(), "metrics", { registry = reg, name = "primary" }))
    local b = assert(sd.wrap(assert(sd.create("luamem", {})), "metrics", { registry = reg }))
    local a2 = assert(sd.wrap(mem(), "metrics", { registry = reg, name = "primary" }))
    assert(a:put_content("/x", "1"))
    assert(a2:put_content("/x", "1"))
    assert(b:put_content("/x", "1"))
    assert(b:stat("/x"))
    local samples, types = parse_prometheus(reg:render())
    assert.are.equal("histogram", types.shared_spec_operation_duration_seconds)
    assert.are.equal(2, sample(samples, "shared_spec_operations_total", { driver = "primary", operation = "put_content" }))
    assert.are.equal(1, sample(samples, "shared_spec_operations_total", { driver = "luamem", operation = "put_content" }))
    assert.are.equal(1, sample(samples, "shared_spec_operations_total", { driver = "luamem", operation = "stat" }))
    assert.are.equal(0, sample(samples, "shared_spec_operations_total", { driver = "primary", operation = "stat" }))
  end)

  it("shares the registry of a namespace between wraps without a registry option", function()
    local ns = "spec_ns_" .. math.random(1, 1e9)
    local reg = metrics.registry({ namespace = ns, buckets = { 1 } })
    assert.are.equal(reg, metrics.registry({ namespace = ns }))
    assert.has_error(function() metrics.registry({ namespace = ns, buckets = { 2 } }) end)
    local d = assert(sd.wrap(mem(), "metrics", { namespace = ns, name = "one" }))
    assert(d:stat("/"))
    local samples = parse_prometheus(reg.render())
    assert.are.equal(1, sample(samples, ns .. "_operations_total", { driver = "one", operation = "stat" }))
    assert.matches(ns .. '_operations_total{driver="one",operation="stat"} 1', metrics.render(), 1, true)
    local v, err = sd.wrap(mem(), "metrics", { namespace = ns, buckets = { 3 } })
    assert_error("InvalidParameter", v, err)
    assert.are.equal(metrics.registry(), metrics.registry({ namespace = "storagedriver" }))
  end)

  it("escapes label values", function()
    local reg = metrics.new_registry()
    local d = assert(sd.wrap(mem(), "metrics", { registry = reg, name = 'a"b\\c\nd' }))
    assert(d:stat("/"))
    local text = reg:render()
    assert.matches('driver="a\\"b\\\\c\\nd"', text, 1, true)
    local samples = parse_prometheus(text)
    assert.are.equal(1, sample(samples, "storagedriver_operations_total", { driver = 'a"b\\c\nd', operation = "stat" }))
  end)

  it("renders one HELP and TYPE per family, and resets", function()
    local reg = metrics.new_registry()
    local empty = reg:render()
    local _, types = parse_prometheus(empty)
    assert.are.same({
      storagedriver_operations_total = "counter",
      storagedriver_operation_errors_total = "counter",
      storagedriver_operation_duration_seconds = "histogram",
      storagedriver_read_bytes_total = "counter",
      storagedriver_written_bytes_total = "counter",
    }, types)
    local d = assert(sd.wrap(mem(), "metrics", { registry = reg }))
    assert(d:put_content("/x", "abc"))
    assert.is_true(#reg:render() > #empty)
    reg:reset()
    local samples = parse_prometheus(reg:render())
    for _, s in ipairs(samples) do assert.are.equal(0, s.value, s.name) end
  end)

  -- The part of ngx.shared.DICT the shdict option uses.
  local function fake_dict()
    local data, order = {}, {}
    local d = {}
    function d.add(_, k, v)
      if data[k] ~= nil then return false, "exists" end
      data[k] = v
      order[#order + 1] = k
      return true
    end
    function d.incr(_, k, v, init)
      if data[k] == nil then
        if init == nil then return nil, "not found" end
        data[k] = init
        order[#order + 1] = k
      end
      data[k] = data[k] + v
      return data[k]
    end
    function d.get(_, k) return data[k] end
    function d.get_keys(_, max)
      assert(max == 0, "metrics must ask for every key")
      local out = {}
      for i, k in ipairs(order) do out[i] = k end
      return out
    end
    return d
  end

  it("keeps its counters in a lua_shared_dict with shdict, shared by every VM", function()
    local dict = fake_dict()
    local saved = rawget(_G, "ngx")
    _G.ngx = { shared = { sdmetrics = dict } }
    finally(function() _G.ngx = saved end)
    -- Two wraps stand for two VMs (a worker and a pool thread) with one label.
    local vm1 = assert(sd.wrap(mem(), "metrics", { shdict = "sdmetrics", clock = stepping(0.002),
                                                   buckets = { 0.001, 0.01 } }))
    local vm2 = assert(sd.wrap(mem(), "metrics", { shdict = "sdmetrics", clock = stepping(0.02),
                                                   buckets = { 0.001, 0.01 } }))
    local other = assert(sd.wrap(assert(sd.create("luamem", {})), "metrics",
                                 { shdict = "sdmetrics", name = 'odd|label:3"' }))
    assert(vm1:put_content("/a", "1234"))
    assert(vm2:put_content("/a", "12"))
    assert(vm1:get_content("/a"))
    assert_error("PathNotFound", vm2:get_content("/nope"))
    local w = assert(vm2:writer("/w"))
    w:write("xyz")
    assert(w:commit())
    w:close()
    local r = assert(vm2:reader("/w"))
    assert.are.equal("xyz", r:read("a"))
    r:close()
    assert(other:stat("/"))
    local text = metrics.render_shdict("sdmetrics", { buckets = { 0.001, 0.01 } })
    local samples, types = parse_prometheus(text)
    assert.are.equal("histogram", types.storagedriver_operation_duration_seconds)
    local function v(name, labels) return sample(samples, "storagedriver_" .. name, labels) end
    local I = "inmemory"
    assert.are.equal(2, v("operations_total", { driver = I, operation = "put_content" }))
    assert.are.equal(2, v("operations_total", { driver = I, operation = "get_content" }))
    assert.are.equal(0, v("operations_total", { driver = I, operation = "list" }))
    assert.are.equal(1, v("operations_total", { driver = I, operation = "commit" }))
    assert.are.equal(1, v("operation_errors_total", { driver = I, operation = "get_content", kind = "PathNotFound" }))
    local H = "operation_duration_seconds_"
    local put = { driver = I, operation = "put_content" }
    assert.is_true(math.abs(v(H .. "sum", put) - 0.022) < 1e-9)
    assert.are.equal(2, v(H .. "count", put))
    put.le = "0.001"; assert.are.equal(0, v(H .. "bucket", put))
    put.le = "0.01"; assert.are.equal(1, v(H .. "bucket", put))
    put.le = "+Inf"; assert.are.equal(2, v(H .. "bucket", put))
    assert.are.equal(9, v("written_bytes_total", { driver = I })) -- 4 + 2 + the writer's 3
    assert.are.equal(7, v("read_bytes_total", { driver = I }))    -- 4 + the reader's 3
    assert.are.equal(1, v("operations_total", { driver = I, operation = "reader" }))
    assert.are.equal(1, v("operations_total", { driver = 'odd|label:3"', operation = "stat" }))
    -- the dict object may be given directly, outside nginx
    _G.ngx = nil
    assert.are.equal(text, metrics.render_shdict("any", { buckets = { 0.001, 0.01 } }, dict))
    local x, err = sd.wrap(mem(), "metrics", { shdict = "sdmetrics" })
    assert_error("InvalidParameter", x, err)
    assert.matches("^metrics: invalid parameter shdict: no lua_shared_dict named sdmetrics", tostring(err))
  end)

  it("rejects bad options, naming metrics", function()
    local bad = {
      { namespace = "9bad" }, { namespace = "has space" }, { buckets = {} }, { buckets = { 1, 1 } },
      { buckets = { 0.1, "x" } }, { buckets = { 1, 0 / 0 } }, { registry = {} }, { clock = 5 },
      { name = "" }, { name = 7 }, { streams = "yes" },
      { registry = metrics.new_registry(), namespace = "other" },
      { registry = metrics.new_registry(), buckets = { 1 } },
    }
    for _, o in ipairs(bad) do
      local v, err = sd.wrap(mem(), "metrics", o)
      assert_error("InvalidParameter", v, err)
      assert.matches("^metrics: invalid parameter ", tostring(err))
    end
    assert.has_error(function() metrics.new_registry({ buckets = { 2, 1 } }) end)
  end)
end)

----------------------------------------------------------------------- log

describe("log", function()
  local logm = require "storagedriver.middleware.log"

  local function collector()
    local recs = {}
    return recs, function(rec) recs[#recs + 1] = rec end
  end

  it("gives one record per operation with duration and outcome", function()
    local recs, sink = collector()
    local d = assert(sd.wrap(mem(), "log", { sink = sink }))
    assert(d:put_content("/a/b", "hello"))
    assert(d:get_content("/a/b"))
    assert_error("PathNotFound", d:get_content("/a/zz"))
    assert(d:move("/a/b", "/a/c"))
    assert(d:reader("/a/c", 2)):close()
    local w = assert(d:writer("/a/w"))
    w:write("abc")
    assert(w:commit())
    w:close()
    walked(d, "/", { start_after = "/a" })
    assert_error("InvalidPath", d:stat("bad")) -- refused before the middleware: no record
    local ops = {}
    for i, r in ipairs(recs) do
      ops[i] = r.op
      assert.are.equal("inmemory", r.driver)
      assert.is_number(r.duration)
      assert.is_true(r.duration >= 0)
      assert.is_number(r.time)
    end
    assert.are.same({ "put_content", "get_content", "get_content", "move", "reader", "writer",
                      "commit", "walk" }, ops)
    assert.are.same({ "/a/b", "ok", 5 }, { recs[1].path, recs[1].outcome, recs[1].bytes })
    assert.are.same({ "ok", 5 }, { recs[2].outcome, recs[2].bytes })
    assert.are.equal("error", recs[3].outcome)
    assert.are.equal("PathNotFound", recs[3].kind)
    assert.are.equal("inmemory: Path not found: /a/zz", recs[3].error)
    assert.is_nil(recs[3].bytes)
    assert.are.same({ "/a/b", "/a/c" }, { recs[4].path, recs[4].dst })
    assert.are.equal(2, recs[5].offset)
    assert.are.equal(false, recs[6].append)
    assert.are.same({ "/a/w", 3 }, { recs[7].path, recs[7].bytes })
    assert.are.same({ "/", "/a" }, { recs[8].path, recs[8].start_after })
  end)

  it("writes JSON lines that parse back, never holding content bytes", function()
    local lines = {}
    local d = assert(sd.wrap(mem(), "log", { sink = function(rec) lines[#lines + 1] = logm.format_json(rec) end }))
    local secret = "CONTENT-" .. t.random_name(20)
    assert(d:put_content("/s/x", secret))
    assert.are.equal(secret, d:get_content("/s/x"))
    local w = assert(d:writer("/s/y"))
    w:write(secret)
    assert(w:commit())
    w:close()
    assert.are.equal(secret, assert(d:reader("/s/y")):read("a"))
    assert(#lines >= 5)
    for _, line in ipairs(lines) do
      assert.is_nil(line:find("CONTENT-", 1, true), line)
      assert.is_nil(line:find("\n", 1, true))
      local rec = cjson.decode(line)
      assert.is_string(rec.op)
      assert.is_string(rec.path)
      assert.are.equal("ok", rec.outcome)
    end
    local rec = cjson.decode(lines[1])
    assert.are.same({ "put_content", "/s/x", #secret }, { rec.op, rec.path, rec.bytes })
  end)

  it("logs only the origin of a redirect URL, and redacts queries in error texts", function()
    local signed = "https://cdn.example.com:8443/a/b?Signature=SIGNED-abc&Expires=99"
    local below = mw(function()
      return {
        redirect_url = function() return signed end,
        stat = function() return nil, "GET " .. signed .. " failed: 403" end,
      }
    end)
    local lines = {}
    local d = assert(sd.wrap(assert(sd.wrap(mem(), below)), "log",
                             { sink = function(r) lines[#lines + 1] = logm.format_json(r) end }))
    assert.are.equal(signed, d:redirect_url("/a/b"))
    assert_error("Driver", d:stat("/a/b"))
    local rec = cjson.decode(lines[1])
    assert.are.equal("https://cdn.example.com:8443", rec.redirect)
    local erec = cjson.decode(lines[2])
    assert.are.equal("inmemory: GET https://cdn.example.com:8443/a/b?REDACTED failed: 403", erec.error)
    for _, line in ipairs(lines) do
      assert.is_nil(line:find("Signature", 1, true), line)
      assert.is_nil(line:find("SIGNED", 1, true), line)
    end
    assert.are.equal("http://h", logm.origin("http://h/x?y"))
    assert.are.equal("a https://h/p?REDACTED and s3://b/k?REDACTED", logm.redact("a https://h/p?x=1 and s3://b/k#f"))
  end)

  it("formats text as key=value pairs in a fixed order, quoting where needed", function()
    local line = logm.format_text({ time = 1700000000, driver = "inmemory", op = "get_content",
      path = "/a/b", duration = 0.0000125, outcome = "error", kind = "Driver",
      error = 'inmemory: bad "thing"\n=x' })
    assert.are.equal('time=1700000000 driver=inmemory op=get_content path=/a/b outcome=error '
      .. 'duration=0.000013 kind=Driver error="inmemory: bad \\"thing\\"\\n=x"', line)
    local lines = {}
    local d = assert(sd.wrap(mem(), "log", { format = "text",
      sink = function(r) lines[#lines + 1] = logm.format_text(r) end }))
    assert(d:put_content("/t", "x"))
    assert.matches("^time=%d+ driver=inmemory op=put_content path=/t outcome=ok duration=[%d.]+ bytes=1$",
                   lines[1])
  end)

  it("with errors_only logs failures only", function()
    local recs, sink = collector()
    local d = assert(sd.wrap(mem(), "log", { sink = sink, errors_only = true }))
    assert(d:put_content("/x", "1"))
    assert(d:get_content("/x"))
    assert_error("PathNotFound", d:stat("/y"))
    assert.are.equal(1, #recs)
    assert.are.same({ "stat", "error", "PathNotFound" }, { recs[1].op, recs[1].outcome, recs[1].kind })
  end)

  -- Runs a Lua script in a child interpreter of the same kind, with this
  -- process's module paths; returns its stdout, its stderr, and success.
  local function child(script)
    local interp = type(jit) == "table" and "luajit" or "lua5.4"
    local errfile = t.tmpname()
    local out, ok = t.sh(string.format("(LUA_PATH=%s LUA_CPATH=%s %s -e %s 2>%s)",
      t.shq(package.path), t.shq(package.cpath), interp, t.shq(script), t.shq(errfile)))
    local err = t.read_file(errfile) or ""
    os.remove(errfile)
    return out, err, ok
  end

  it("does not fail an operation when its sink raises, and says so on stderr", function()
    local out, err, ok = child([[
      local sd = require "storagedriver"
      local d = assert(sd.wrap(sd.create("inmemory", {}), "log", { sink = function() error("sink broken") end }))
      assert(d:put_content("/x", "1"))
      io.write(d:get_content("/x"), "\n")
    ]])
    assert.is_true(ok, out .. err)
    assert.are.equal("1\n", out)
    assert.matches("sink failed: .*sink broken", err)
  end)

  it("writes JSON lines to stderr by default", function()
    local out, err, ok = child([[
      local sd = require "storagedriver"
      local d = assert(sd.wrap(sd.create("inmemory", {}), "log"))
      assert(d:put_content("/std/err", "CONTENT"))
      d:get_content("/std/missing")
      io.write("done\n")
    ]])
    assert.is_true(ok, out .. err)
    assert.are.equal("done\n", out)
    assert.is_nil(err:find("CONTENT", 1, true))
    local lines = {}
    for l in err:gmatch("[^\n]+") do lines[#lines + 1] = cjson.decode(l) end
    assert.are.equal(2, #lines)
    assert.are.same({ "put_content", "/std/err", "ok" }, { lines[1].op, lines[1].path, lines[1].outcome })
    assert.are.same({ "get_content", "error", "PathNotFound" }, { lines[2].op, lines[2].outcome, lines[2].kind })
  end)

  it("sends lines to ngx.log at INFO with sink = \"ngx\"", function()
    local logged = {}
    local saved = rawget(_G, "ngx")
    _G.ngx = { INFO = 7, log = function(level, msg) logged[#logged + 1] = { level, msg } end }
    finally(function() _G.ngx = saved end)
    local d = assert(sd.wrap(mem(), "log", { sink = "ngx", format = "text" }))
    assert(d:put_content("/n", "1"))
    assert.are.equal(1, #logged)
    assert.are.equal(7, logged[1][1])
    assert.matches("^time=%d+ driver=inmemory op=put_content path=/n outcome=ok", logged[1][2])
    _G.ngx = nil
    local v, err = sd.wrap(mem(), "log", { sink = "ngx" })
    assert_error("InvalidParameter", v, err)
    assert.matches("^log: invalid parameter sink: ", tostring(err))
  end)

  it("rejects bad options, naming log", function()
    for _, o in ipairs({ { sink = 5 }, { sink = "file" }, { format = "xml" }, { errors_only = 1 },
                         { name = 5 }, { clock = "now" }, { streams = 0 } }) do
      local v, err = sd.wrap(mem(), "log", o)
      assert_error("InvalidParameter", v, err)
      assert.matches("^log: invalid parameter ", tostring(err))
    end
  end)
end)

--------------------------------------------------------------------- limit

describe("limit", function()
  -- A fake clock, and a sleep that advances it.
  local function fake()
    local c = { now = 0, slept = {} }
    c.clock = function() return c.now end
    c.sleep = function(s) c.slept[#c.slept + 1] = s; c.now = c.now + s end
    return c
  end

  it("rejects beyond the burst, then refills at the rate", function()
    local c = fake()
    local d = assert(sd.wrap(mem(), "limit", { rate = 2, burst = 3, clock = c.clock }))
    assert.is_true(d:put_content("/x", "1"))
    assert(d:get_content("/x"))
    assert(d:stat("/x"))
    local v, err = d:stat("/x")
    assert_error("Driver", v, err, "inmemory: rate limit exceeded: stat refused (2/s, burst 3)")
    assert.are.equal("RateLimited", err.code)
    c.now = 0.5 -- one token back
    assert(d:stat("/x"))
    assert_error("Driver", d:stat("/x"))
    c.now = 100 -- refills up to the burst only
    for _ = 1, 3 do assert(d:list("/")) end
    assert_error("Driver", d:list("/"))
  end)

  it("waits for the token in wait mode, and rejects what would wait past max_wait", function()
    local c = fake()
    local d = assert(sd.wrap(mem(), "limit", { rate = 4, burst = 1, mode = "wait",
                                                clock = c.clock, sleep = c.sleep }))
    for _ = 1, 4 do assert(d:stat("/")) end
    assert.are.same({ 0.25, 0.25, 0.25 }, c.slept)
    assert.are.equal(0.75, c.now)
    local c2 = fake()
    local d2 = assert(sd.wrap(mem(), "limit", { rate = 1, burst = 1, mode = "wait", max_wait = 0.5,
                                                 clock = c2.clock, sleep = c2.sleep }))
    assert(d2:stat("/"))
    assert_error("Driver", d2:stat("/"))
    assert.are.same({}, c2.slept)
    c2.now = 0.6 -- 0.4 s to wait: within max_wait
    assert(d2:stat("/"))
    assert.are.equal(1, #c2.slept)
    assert.is_true(math.abs(c2.slept[1] - 0.4) < 1e-9)
  end)

  it("sleeps for real by default in wait mode", function()
    local d = assert(sd.wrap(mem(), "limit", { rate = 50, burst = 1, mode = "wait" }))
    local t0 = core.now()
    for _ = 1, 6 do assert(d:stat("/")) end
    local took = core.now() - t0
    assert.is_true(took >= 0.095, "took " .. took) -- 5 waits of 20 ms
    assert.is_true(took < 2, "took " .. took)
  end)

  it("leaves redirect_url alone unless it is listed", function()
    local c = fake()
    local d = assert(sd.wrap(mem(), "limit", { rate = 1, burst = 1, clock = c.clock }))
    assert(d:stat("/"))
    for _ = 1, 3 do
      local url, err = d:redirect_url("/x")
      assert.is_nil(url)
      assert.is_nil(err)
    end
    assert_error("Driver", d:stat("/"))
    local d2 = assert(sd.wrap(mem(), "limit", { rate = 1, burst = 1, clock = c.clock,
                                                 methods = { "redirect_url" } }))
    assert.is_nil(select(2, d2:redirect_url("/x")))
    assert_fails("Driver", "inmemory: rate limit exceeded: redirect_url refused (1/s, burst 1)",
                 d2:redirect_url("/x"))
  end)

  it("limits only the listed methods, leaving derived ones to the inner driver", function()
    local c = fake()
    local inner = mem()
    assert(inner:put_content("/x", "abc"))
    local d = assert(sd.wrap(inner, "limit", { rate = 1, burst = 1, clock = c.clock,
                                                methods = { "reader", "stat" } }))
    assert(d:reader("/x")):close()
    assert_error("Driver", d:reader("/x"))
    for _ = 1, 5 do assert.are.equal("abc", d:get_content("/x")) end -- not through the reader
    assert(d:put_content("/y", "1"))
    assert(d:list("/"))
    assert_error("Driver", d:stat("/x"))
    for _ = 1, 3 do assert.are.same({ "/x", "/y" }, walked(d)) end -- the inner walk, unlimited
  end)

  it("rejects bad options, naming limit", function()
    for _, o in ipairs({ {}, { rate = 0 }, { rate = -1 }, { rate = "10" }, { rate = 1 / 0 },
                         { rate = 1, burst = 0.5 }, { rate = 1, mode = "queue" },
                         { rate = 1, max_wait = -1 }, { rate = 1, methods = { "read" } },
                         { rate = 1, methods = "stat" }, { rate = 1, clock = 1 }, { rate = 1, sleep = 1 } }) do
      local v, err = sd.wrap(mem(), "limit", o)
      assert_error("InvalidParameter", v, err)
      assert.matches("^limit: invalid parameter ", tostring(err))
    end
  end)
end)

describe("middleware and Lua driver hardening", function()
  local sd = require "storagedriver"

  it("a non-callable method in a middleware's table is refused at sd.wrap", function()
    local name = "notcallable" .. tostring(math.random(1e9))
    sd.middleware.register(name, function() return { stat = 42 } end)
    local d, err = sd.wrap(assert(sd.create("inmemory")), name, {})
    assert.is_nil(d)
    assert.are.equal("Driver", err.kind)
    assert.are.equal(name .. ": the middleware's stat is a number, expected a function", tostring(err))
  end)

  it("a Lua list that returns an invalid path gives a Driver error, never the path", function()
    local name = "badlist" .. tostring(math.random(1e9))
    sd.middleware.register(name, function()
      return { list = function() return { "/b", "/../etc" } end }
    end)
    local d = assert(sd.wrap(assert(sd.create("inmemory")), name, {}))
    local names, err = d:list("/")
    assert.is_nil(names)
    assert.are.equal("Driver", err.kind)
    assert.are.equal("inmemory: list returned an invalid path: /../etc", tostring(err))
  end)
end)
