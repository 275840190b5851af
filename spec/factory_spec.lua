-- The factory (sd.create, sd.register, sd.drivers) and drivers written in Lua:
-- how the C base layer calls them and turns their failures into errors.

local sd = require "storagedriver"
local t = require "sdtest"

-- Lua registrations live as long as the Lua state, across spec files: every
-- name used here is fresh.
local function fresh_name(tag)
  return "spec" .. tag .. t.random_name(10)
end

local function contains(list, v)
  for _, x in ipairs(list) do if x == v then return true end end
  return false
end

-- A minimal Lua driver over a table of files (no directories).
local function tiny_driver(overrides)
  local files = {}
  local drv = {}
  function drv:get_content(p)
    if files[p] == nil then return nil, sd.error("PathNotFound", { path = p }) end
    return files[p]
  end
  function drv:put_content(p, b) files[p] = b; return true end
  function drv:stat(p)
    if files[p] then return { size = #files[p], modtime = 1700000000.25, is_dir = false } end
    if p == "/" then return { size = 0, modtime = 1700000000, is_dir = true } end
    return nil, sd.error("PathNotFound", { path = p })
  end
  function drv:list(p)
    if p ~= "/" then return nil, sd.error("PathNotFound", { path = p }) end
    local out = {}
    for k in pairs(files) do out[#out + 1] = k end
    return out
  end
  function drv:delete(p)
    if files[p] == nil then return nil, sd.error("PathNotFound", { path = p }) end
    files[p] = nil
    return true
  end
  for k, v in pairs(overrides or {}) do drv[k] = v end
  return drv, files
end

describe("sd.drivers", function()
  it("is sorted and holds the built-in drivers", function()
    local list = sd.drivers()
    assert.is_table(list)
    assert.are.same(t.sorted(list), list)
    assert.is_true(contains(list, "filesystem"))
    assert.is_true(contains(list, "inmemory"))
  end)

  it("includes drivers registered from Lua, still sorted", function()
    local n = fresh_name("aaa")
    sd.register(n, function() return tiny_driver() end)
    local list = sd.drivers()
    assert.is_true(contains(list, n))
    assert.are.same(t.sorted(list), list)
  end)
end)

describe("sd.create", function()
  it("an unknown name is InvalidDriver", function()
    local e = t.check_err("InvalidDriver", { name = "nosuch" }, sd.create("nosuch", {}))
    assert.are.equal("StorageDriver not registered: nosuch", tostring(e))
  end)

  it("creates the built-in drivers by name", function()
    assert.are.equal("inmemory", assert(sd.create("inmemory", {})):name())
    local root = t.tmpdir()
    assert.are.equal("filesystem", assert(sd.create("filesystem", { rootdirectory = root })):name())
    t.rmrf(root)
  end)
end)

describe("sd.register", function()
  it("a name twice raises \"StorageDriverFactory named <n> already registered\"", function()
    local n = fresh_name("twice")
    sd.register(n, function() return tiny_driver() end)
    local ok, msg = pcall(sd.register, n, function() return tiny_driver() end)
    assert.is_false(ok)
    local want = "StorageDriverFactory named " .. n .. " already registered"
    assert.are.equal(want, tostring(msg):sub(-#want), tostring(msg))
  end)

  it("a built-in name raises", function()
    for _, n in ipairs({ "inmemory", "filesystem" }) do
      local ok, msg = pcall(sd.register, n, function() return tiny_driver() end)
      assert.is_false(ok)
      local want = "StorageDriverFactory named " .. n .. " already registered"
      assert.are.equal(want, tostring(msg):sub(-#want), tostring(msg))
    end
    -- and the built-in still works
    assert.is_true(assert(sd.create("inmemory", {})):put_content("/a", "a"))
  end)

  it("a factory that is not a function raises", function()
    assert.has_error(function() sd.register(fresh_name("nf"), "factory") end)
    assert.has_error(function() sd.register(fresh_name("nf"), nil) end)
  end)

  it("the factory receives the parameters", function()
    local n, got = fresh_name("params"), nil
    sd.register(n, function(params) got = params; return tiny_driver() end)
    assert(sd.create(n, { a = "x", b = 2, c = true }))
    assert.is_table(got)
    assert.are.equal("x", got.a)
    assert.are.equal(2, got.b)
    assert.are.equal(true, got.c)
  end)

  it("a factory returning nil, err: sd.create returns nil, err", function()
    local n = fresh_name("nilerr")
    sd.register(n, function()
      return nil, sd.error("InvalidParameter", { driver = n, parameter = "region", detail = "required" })
    end)
    local e = t.check_err("InvalidParameter", { driver = n, parameter = "region", detail = "required" },
      sd.create(n, {}))
    assert.are.equal(n .. ": invalid parameter region: required", tostring(e))
  end)

  it("a factory returning nil and a string: a Driver error with that detail", function()
    local n = fresh_name("nilstr")
    sd.register(n, function() return nil, "no credentials" end)
    local v, e = sd.create(n, {})
    assert.is_nil(v)
    assert.is_true(sd.is_error(e))
    assert.are.equal("Driver", e.kind)
    assert.truthy(tostring(e):find("no credentials", 1, true), tostring(e))
  end)

  it("a factory raising: nil and a Driver error", function()
    local n = fresh_name("raise")
    sd.register(n, function() error("factory blew up") end)
    local v, e = sd.create(n, {})
    assert.is_nil(v)
    assert.is_true(sd.is_error(e), t.show(e))
    assert.are.equal("Driver", e.kind)
    assert.truthy(tostring(e.detail):find("factory blew up", 1, true), tostring(e))
  end)
end)

describe("drivers written in Lua", function()
  it("name() is drv.name, or else the registered name", function()
    local n1, n2 = fresh_name("named"), fresh_name("unnamed")
    sd.register(n1, function() local d = tiny_driver(); d.name = "custom"; return d end)
    sd.register(n2, function() return tiny_driver() end)
    assert.are.equal("custom", assert(sd.create(n1, {})):name())
    assert.are.equal(n2, assert(sd.create(n2, {})):name())
  end)

  it("errors carry the driver's name, and methods get validated paths", function()
    local n = fresh_name("calls")
    local seen = {}
    sd.register(n, function()
      return tiny_driver({
        get_content = function(_, p) seen[#seen + 1] = p; return nil, sd.error("PathNotFound", { path = p }) end,
      })
    end)
    local d = assert(sd.create(n, {}))
    t.check_err("PathNotFound", { driver = n, path = "/x" }, d:get_content("/x"))
    t.check_err("InvalidPath", { driver = n, path = "/../x" }, d:get_content("/../x"))
    assert.are.same({ "/x" }, seen)   -- the invalid path never reached the driver
  end)

  it("a plain table with a kind, or a string, as err", function()
    local n = fresh_name("plainerr")
    sd.register(n, function()
      return tiny_driver({
        get_content = function(_, p) return nil, { kind = "PathNotFound", path = p } end,
        delete = function() return nil, "backend said no" end,
      })
    end)
    local d = assert(sd.create(n, {}))
    t.check_err("PathNotFound", { driver = n, path = "/q" }, d:get_content("/q"))
    local e = t.check_err("Driver", { driver = n, detail = "backend said no" }, d:delete("/q"))
    assert.are.equal(n .. ": backend said no", tostring(e))
  end)

  it("a method that raises: a Driver error with the driver name", function()
    local n = fresh_name("boom")
    sd.register(n, function()
      return tiny_driver({ stat = function() error("stat exploded") end })
    end)
    local d = assert(sd.create(n, {}))
    local v, e = d:stat("/x")
    assert.is_nil(v)
    assert.is_true(sd.is_error(e), t.show(e))
    assert.are.equal("Driver", e.kind)
    assert.are.equal(n, e.driver)
    assert.truthy(tostring(e.detail):find("stat exploded", 1, true), tostring(e))
    assert.are.equal(n .. ": " .. e.detail, tostring(e))
  end)

  it("a method returning the wrong type: a Driver error naming the method", function()
    local n = fresh_name("wrongtype")
    sd.register(n, function()
      return tiny_driver({
        reader = function() return 42 end,
        writer = function() return "a writer" end,
        stat = function() return "a stat" end,
        list = function() return 7 end,
        get_content = function() return {} end,
      })
    end)
    local d = assert(sd.create(n, {}))
    for _, call in ipairs({
      { "reader", function() return d:reader("/x", 0) end },
      { "writer", function() return d:writer("/x", false) end },
      { "stat", function() return d:stat("/x") end },
      { "list", function() return d:list("/") end },
      { "get_content", function() return d:get_content("/x") end },
    }) do
      local v, e = call[2]()
      assert.is_nil(v, call[1])
      assert.is_true(sd.is_error(e), call[1] .. ": " .. t.show(e))
      assert.are.equal("Driver", e.kind, call[1])
      assert.are.equal(n, e.driver, call[1])
      assert.truthy(tostring(e.detail):find(call[1], 1, true), call[1] .. ": " .. tostring(e))
    end
  end)

  it("a missing method is UnsupportedMethod", function()
    local n = fresh_name("partial")
    sd.register(n, function() return { put_content = function() return true end } end)
    local d = assert(sd.create(n, {}))
    assert.is_true(d:put_content("/a", "a"))
    t.check_err("UnsupportedMethod", { driver = n }, d:move("/a", "/b"))
    t.check_err("UnsupportedMethod", { driver = n }, d:delete("/a"))
    t.check_err("UnsupportedMethod", { driver = n }, d:list("/"))
    t.check_err("UnsupportedMethod", { driver = n }, d:writer("/a", false))
    local e = t.check_err("UnsupportedMethod", { driver = n }, d:stat("/a"))
    assert.are.equal(n .. ": unsupported method", tostring(e))
  end)

  it("no redirect_url method means no redirect: nil, nil", function()
    local n = fresh_name("noredirect")
    sd.register(n, function() return tiny_driver() end)
    local d = assert(sd.create(n, {}))
    local url, err = d:redirect_url("/a")
    assert.is_nil(url)
    assert.is_nil(err)
  end)

  it("redirect_url receives the options and its URL is returned", function()
    local n = fresh_name("redirect")
    local got
    sd.register(n, function()
      return tiny_driver({
        redirect_url = function(_, p, opts)
          got = opts
          return "https://example.invalid" .. p .. "?m=" .. tostring(opts and opts.method)
        end,
      })
    end)
    local d = assert(sd.create(n, {}))
    assert.are.equal("https://example.invalid/a?m=HEAD", d:redirect_url("/a", { method = "HEAD", expiry = 60 }))
    assert.are.equal("HEAD", got.method)
    assert.are.equal(60, got.expiry)
  end)

  it("the generic walk runs over list and stat, skipping a child that vanished", function()
    local n = fresh_name("walk")
    sd.register(n, function()
      local drv, files = tiny_driver()
      files["/a"], files["/c"] = "a", "ccc"
      local list = drv.list
      drv.list = function(self, p)
        local l, e = list(self, p)
        if l then l[#l + 1] = "/b-vanished" end   -- listed, but stat says not found
        return l, e
      end
      return drv
    end)
    local d = assert(sd.create(n, {}))
    local seen = {}
    assert.is_true(d:walk("/", function(fi)
      seen[#seen + 1] = fi.path .. ":" .. fi.size .. ":" .. tostring(fi.is_dir)
    end))
    assert.are.same({ "/a:1:false", "/c:3:false" }, seen)
  end)

  it("a Lua driver's own walk is used when it has one", function()
    local n = fresh_name("ownwalk")
    sd.register(n, function()
      return tiny_driver({
        walk = function(_, p, fn, opts)
          fn({ path = p .. "/x", size = 1, modtime = 0, is_dir = false })
          fn({ path = p .. "/y", size = 2, modtime = 0, is_dir = false })
          return true
        end,
      })
    end)
    local d = assert(sd.create(n, {}))
    local seen = {}
    assert.is_true(d:walk("/top", function(fi) seen[#seen + 1] = fi.path end))
    assert.are.same({ "/top/x", "/top/y" }, seen)
  end)

  it("writers and readers of a Lua driver go through the base layer", function()
    local n = fresh_name("rw")
    local store = {}
    sd.register(n, function()
      return tiny_driver({
        writer = function(_, p, append)
          local parts = { append and store[p] or "" }
          local w = {}
          function w:write(s) parts[#parts + 1] = s; return true end
          function w:size() return #table.concat(parts) end
          function w:close() store[p] = table.concat(parts); return true end
          function w:commit() store[p] = table.concat(parts); return true end
          function w:cancel() store[p] = nil; return true end
          return w
        end,
        reader = function(_, p, off)
          if not store[p] then return nil, sd.error("PathNotFound", { path = p }) end
          local data, pos = store[p], off + 1
          return {
            read = function(_, k)
              if pos > #data then return nil end
              local s = data:sub(pos, pos + math.min(k, 3) - 1)   -- short reads
              pos = pos + #s
              return s
            end,
            close = function() return true end,
          }
        end,
      })
    end)
    local d = assert(sd.create(n, {}))
    local w = assert(d:writer("/f", false))
    assert.are.equal(w, w:write("hello", " ", "world"))
    assert.are.equal(11, w:size())
    assert.is_true(w:commit())
    assert.is_true(w:close())
    local msg = t.raises(function() w:write("x") end)
    assert.are.equal(n .. ": already committed", tostring(msg))
    local r = assert(d:reader("/f", 2))
    assert.are.equal("llo w", r:read(5))   -- the base gathers short reads
    assert.are.equal("orld", r:read("a"))
    assert.is_nil(r:read(1))
    r:close()
    t.check_err("InvalidOffset", { driver = n, path = "/f", offset = -1 }, d:reader("/f", -1))
  end)

  it("a Lua driver works from inside a coroutine", function()
    require "luamem"
    local d = assert(sd.create("luamem", {}))
    local co = coroutine.create(function()
      assert(d:put_content("/co/a", "one"))
      coroutine.yield("put")
      local w = assert(d:writer("/co/b", false))
      w:write("two")
      coroutine.yield("writing")
      assert(w:commit())
      local r = assert(d:reader("/co/a", 1))
      coroutine.yield("reading")
      local s = r:read("a")
      r:close()
      local names = {}
      assert(d:walk("/co", function(fi) names[#names + 1] = fi.path end))
      return s, d:get_content("/co/b"), table.concat(names, ",")
    end)
    local steps = {}
    while true do
      local ok, a, b, c = coroutine.resume(co)
      assert.is_true(ok, tostring(a))
      if coroutine.status(co) == "dead" then
        assert.are.same({ "ne", "two", "/co/a,/co/b" }, { a, b, c })
        break
      end
      steps[#steps + 1] = a
    end
    assert.are.same({ "put", "writing", "reading" }, steps)
  end)
end)

describe("the module", function()
  it("version and the walk sentinels", function()
    assert.are.equal("0.1.0", sd.version)
    assert.is_not_nil(sd.SKIP_DIR)
    assert.is_not_nil(sd.STOP)
    assert.are_not.equal(sd.SKIP_DIR, sd.STOP)
    assert.is_false(sd.is_error(sd.STOP))
  end)

  it("readers and writers keep their driver alive", function()
    local d = assert(sd.create("inmemory", {}))
    assert.is_true(d:put_content("/kept", "alive"))
    local r = assert(d:reader("/kept", 0))
    local w = assert(d:writer("/new", false))
    d = nil
    for _ = 1, 3 do collectgarbage() end
    assert.are.equal("alive", r:read("a"))
    assert.is_true(r:close())
    w:write("still here")
    assert.is_true(w:commit())
    assert.is_true(w:close())
  end)

  it("an abandoned writer or reader is collected without trouble", function()
    local d = assert(sd.create("inmemory", {}))
    assert.is_true(d:put_content("/f", "f"))
    do
      local w = assert(d:writer("/g", false))
      w:write("g")
      local r = assert(d:reader("/f", 0))
      r:read(1)
    end
    for _ = 1, 3 do collectgarbage() end
    assert.are.equal("f", d:get_content("/f"))
  end)

  if _VERSION == "Lua 5.4" then
    it("a reader in a <close> variable is closed at the end of its scope (Lua 5.4)", function()
      local d = assert(sd.create("inmemory", {}))
      assert.is_true(d:put_content("/c", "closable"))
      local chunk = assert(load([[
        local d = ...
        local kept
        do
          local r <close> = assert(d:reader("/c", 0))
          kept = r
          assert(r:read(3) == "clo")
        end
        return kept
      ]]))
      local r = chunk(d)
      local ok, msg = pcall(r.read, r, 1)
      assert.is_false(ok)
      assert.truthy(tostring(msg):find("attempt to use a closed reader", 1, true), tostring(msg))
    end)

    it("a writer in a <close> variable (Lua 5.4) leaves committed content alone", function()
      local d = assert(sd.create("inmemory", {}))
      local chunk = assert(load([[
        local d = ...
        do
          local w <close> = assert(d:writer("/w", false))
          w:write("written")
          assert(w:commit())
        end
      ]]))
      chunk(d)
      assert.are.equal("written", d:get_content("/w"))
    end)
  end
end)
