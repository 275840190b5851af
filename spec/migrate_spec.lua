-- The migrate driver (lua/storagedriver/drivers/migrate.lua): reads the new
-- store and falls back to the old one, writes go to the new, list merges both,
-- delete and move act on both.  The conformance suite runs over it as well
-- (SD_REQUIRE=sdmigrate SD_DRIVER=migrate SD_PARAMS='new=inmemory old=luamem').

local sd = require "storagedriver"
local t = require "sdtest"
require "sdmigrate"

-- A middleware for these specs: makes the methods named in options.fail fail
-- with a Driver error "boom" for paths under options.prefix, and gives
-- redirect URLs "http://<options.host>/<path>" when options.host is set.
local FAIL = "migrate_spec_fail"
local function mw_registered(name)
  for _, n in ipairs(sd.middleware.names()) do
    if n == name then return true end
  end
  return false
end
if not mw_registered(FAIL) then
  sd.middleware.register(FAIL, function(inner, options)
    local fail, prefix, host = options.fail or {}, options.prefix or "/", options.host
    local function failing(method, p)
      return fail[method] and p:sub(1, #prefix) == prefix
    end
    local function boom() return nil, sd.error("Driver", { detail = "boom" }) end
    local m = {}
    for _, method in ipairs({ "get_content", "put_content", "reader", "writer", "stat",
                              "list", "delete" }) do
      m[method] = function(_, p, ...)
        if failing(method, p) then return boom() end
        return inner[method](inner, p, ...)
      end
    end
    m.move = function(_, src, dst)
      if failing("move", src) then return boom() end
      return inner:move(src, dst)
    end
    m.redirect_url = function(_, p, opts)
      if failing("redirect_url", p) then return boom() end
      if host then return "http://" .. host .. p end
      return inner:redirect_url(p, opts)
    end
    return m
  end)
end

local function must(v, err)
  if v == nil or v == false then error("unexpected failure: " .. tostring(err), 2) end
  return v
end

local function not_found(p, v, err)
  return t.check_err("PathNotFound", { driver = "migrate", path = p }, v, err)
end

-- PathNotFound from one of the inner stores.
local function gone(d, p)
  local v, err = d:get_content(p)
  return t.check_err("PathNotFound", { driver = d:name(), path = p }, v, err)
end

-- Everything below p, depth first, as "path" or "path/" for directories.
local function walk_all(d, p)
  local seen = {}
  must(d:walk(p, function(fi)
    seen[#seen + 1] = fi.path .. (fi.is_dir and "/" or "")
  end))
  return seen
end

local function read_all(r)
  local parts = {}
  while true do
    local s = r:read(7)
    if not s then break end
    parts[#parts + 1] = s
  end
  r:close()
  return table.concat(parts)
end

describe("migrate", function()
  local new, old, m

  -- A fresh pair of stores (new: inmemory, old: luamem) and a migrate
  -- driver over them with the given extra parameters.
  local function setup(extra)
    new = assert(sd.create("inmemory"))
    old = assert(sd.create("luamem"))
    local params = { new = new, old = old }
    for k, v in pairs(extra or {}) do params[k] = v end
    m = assert(sd.create("migrate", params))
    return m
  end

  before_each(function() setup() end)

  it("is registered by the module and named migrate", function()
    local found = false
    for _, n in ipairs(sd.drivers()) do found = found or n == "migrate" end
    assert.is_true(found)
    assert.are.equal("migrate", m:name())
  end)

  describe("objects only in the old store", function()
    before_each(function()
      must(old:put_content("/old/a/file", "old bytes"))
      must(old:put_content("/old/b", "b"))
    end)

    it("are readable through get_content and reader (at an offset)", function()
      assert.are.equal("old bytes", must(m:get_content("/old/a/file")))
      assert.are.equal("old bytes", read_all(must(m:reader("/old/a/file"))))
      assert.are.equal("bytes", read_all(must(m:reader("/old/a/file", 4))))
      gone(new, "/old/a/file")   -- no copy by default
    end)

    it("are statted and listed", function()
      local fi = must(m:stat("/old/a/file"))
      assert.are.same({ path = "/old/a/file", size = 9, is_dir = false },
        { path = fi.path, size = fi.size, is_dir = fi.is_dir })
      assert.is_true(must(m:stat("/old/a")).is_dir)
      assert.are.same({ "/old" }, must(m:list("/")))
      assert.are.same({ "/old/a", "/old/b" }, must(m:list("/old")))
    end)

    it("are walked", function()
      assert.are.same({ "/old/", "/old/a/", "/old/a/file", "/old/b" }, walk_all(m, "/"))
    end)

    it("a path missing from both is PathNotFound from migrate", function()
      not_found("/old/nope", m:get_content("/old/nope"))
      not_found("/old/nope", m:reader("/old/nope", 0))
      not_found("/old/nope", m:stat("/old/nope"))
      not_found("/old/nope", m:list("/old/nope"))
      not_found("/nope", m:walk("/nope", function() end))
    end)
  end)

  describe("writes land in the new store", function()
    it("put_content", function()
      must(old:put_content("/x", "old"))
      must(m:put_content("/x", "new"))
      must(m:put_content("/y", "y"))
      assert.are.equal("new", new:get_content("/x"))
      assert.are.equal("y", new:get_content("/y"))
      assert.are.equal("old", old:get_content("/x"))
      gone(old, "/y")
      assert.are.equal("new", m:get_content("/x"))     -- the new store wins
    end)

    it("writer, resumable across close", function()
      local w = must(m:writer("/up", false))
      must(w:write("part1 "))
      must(w:close())
      w = must(m:writer("/up", true))
      assert.are.equal(6, w:size())
      must(w:write("part2"))
      must(w:commit())
      must(w:close())
      assert.are.equal("part1 part2", new:get_content("/up"))
      gone(old, "/up")
    end)

    it("append to content only in the old store starts from that content", function()
      must(old:put_content("/blob", "hello "))
      local w = must(m:writer("/blob", true))
      assert.are.equal(6, w:size())
      must(w:write("world"))
      assert.are.equal("hello ", m:get_content("/blob"))   -- nothing visible before commit
      must(w:commit())
      must(w:close())
      assert.are.equal(11, w:size())
      assert.are.equal("hello world", m:get_content("/blob"))
      assert.are.equal("hello world", new:get_content("/blob"))
      assert.are.equal("hello ", old:get_content("/blob"))   -- the old store is not written
    end)

    it("append seeds large old content in pieces", function()
      local big = t.random_bytes(3 * t.MiB + 5)
      must(old:put_content("/big", big))
      local w = must(m:writer("/big", true))
      assert.are.equal(#big, w:size())
      must(w:write("!"))
      must(w:commit())
      must(w:close())
      assert.is_true(new:get_content("/big") == big .. "!")
    end)

    it("a cancelled append leaves the old content visible and the new store empty", function()
      must(old:put_content("/blob", "old"))
      local w = must(m:writer("/blob", true))
      must(w:write("more"))
      must(w:cancel())
      gone(new, "/blob")
      assert.are.equal("old", m:get_content("/blob"))
    end)

    it("append resumes an upload of the new store rather than the old content", function()
      must(old:put_content("/blob", "old content"))
      local w = must(m:writer("/blob", false))
      must(w:write("fresh"))
      must(w:close())
      w = must(m:writer("/blob", true))
      assert.are.equal(5, w:size())
      must(w:write("!"))
      must(w:commit())
      must(w:close())
      assert.are.equal("fresh!", m:get_content("/blob"))
    end)

    it("append continues content committed in the new store", function()
      must(old:put_content("/f", "stale"))
      must(new:put_content("/f", "abc"))
      local w = must(m:writer("/f", true))
      assert.are.equal(3, w:size())
      must(w:write("def"))
      must(w:commit())
      must(w:close())
      assert.are.equal("abcdef", m:get_content("/f"))
    end)

    it("writer without append ignores the old content", function()
      must(old:put_content("/f", "old content"))
      local w = must(m:writer("/f", false))
      assert.are.equal(0, w:size())
      must(w:write("new"))
      must(w:commit())
      must(w:close())
      assert.are.equal("new", m:get_content("/f"))
    end)
  end)

  describe("list", function()
    it("merges both stores, sorted, each entry once", function()
      must(new:put_content("/d/both", "n"))
      must(old:put_content("/d/both", "o"))
      must(new:put_content("/d/n1", "n"))
      must(old:put_content("/d/o1", "o"))
      must(old:put_content("/d/a/deep", "o"))
      must(new:put_content("/d/a/deeper", "n"))
      must(new:put_content("/top-new", "n"))
      assert.are.same({ "/d/a", "/d/both", "/d/n1", "/d/o1" }, must(m:list("/d")))
      assert.are.same({ "/d", "/top-new" }, must(m:list("/")))
      assert.are.same({ "/d/a/deep", "/d/a/deeper" }, must(m:list("/d/a")))
      assert.are.equal("n", m:get_content("/d/both"))
    end)

    it("of a directory in one store only", function()
      must(old:put_content("/o/x", "1"))
      must(new:put_content("/n/y", "2"))
      assert.are.same({ "/o/x" }, must(m:list("/o")))
      assert.are.same({ "/n/y" }, must(m:list("/n")))
    end)

    it("a file of the old store under a directory of the new one is shadowed", function()
      must(new:put_content("/s/x/child", "n"))
      must(old:put_content("/s/x", "an old file where the new store has a directory"))
      assert.are.same({ "/s/x/child" }, must(m:list("/s/x")))
      assert.is_true(must(m:stat("/s/x")).is_dir)
      assert.are.same({ "/s/x/", "/s/x/child" }, walk_all(m, "/s"))
    end)

    it("walk merges both stores depth first", function()
      must(new:put_content("/w/a/1", "n"))
      must(old:put_content("/w/a/2", "o"))
      must(old:put_content("/w/a-b/3", "o"))
      must(new:put_content("/w/c", "n"))
      must(old:put_content("/w/c", "o"))
      assert.are.same({ "/w/a/", "/w/a/1", "/w/a/2", "/w/a-b/", "/w/a-b/3", "/w/c" },
        walk_all(m, "/w"))
    end)
  end)

  describe("delete", function()
    it("removes the path from both stores", function()
      must(new:put_content("/d/f", "n"))
      must(old:put_content("/d/f", "o"))
      must(old:put_content("/d/g", "o"))
      assert.is_true(m:delete("/d/f"))
      not_found("/d/f", m:get_content("/d/f"))
      gone(old, "/d/f")
      assert.are.same({ "/d/g" }, must(m:list("/d")))
      assert.is_true(m:delete("/d"))   -- only in the old store now
      not_found("/d", m:stat("/d"))
      assert.are.same({}, must(old:list("/")))
    end)

    it("of a path missing from both is PathNotFound", function()
      not_found("/nothing", m:delete("/nothing"))
    end)

    it("deleteold=false deletes in the new store only (old content shows again)", function()
      setup({ deleteold = "false" })
      must(new:put_content("/f", "new"))
      must(old:put_content("/f", "old"))
      assert.is_true(m:delete("/f"))
      assert.are.equal("old", m:get_content("/f"))
      assert.are.equal("old", old:get_content("/f"))
      -- A path only in the old store cannot be deleted: a clear error.
      local v, err = m:delete("/f")
      t.check_err("Driver", { driver = "migrate" }, v, err)
      assert.truthy(tostring(err):find("deleteold=false", 1, true), tostring(err))
      assert.are.equal("old", m:get_content("/f"))
    end)
  end)

  describe("move", function()
    it("of a file only in the old store copies it to dst in the new store", function()
      must(old:put_content("/src", "payload"))
      assert.is_true(m:move("/src", "/dir/dst"))
      assert.are.equal("payload", new:get_content("/dir/dst"))
      assert.are.equal("payload", m:get_content("/dir/dst"))
      not_found("/src", m:get_content("/src"))
      gone(old, "/src")
    end)

    it("onto a dst that existed only in the old store", function()
      must(old:put_content("/src", "new content"))
      must(old:put_content("/dst", "old dst"))
      assert.is_true(m:move("/src", "/dst"))
      assert.are.equal("new content", m:get_content("/dst"))
    end)

    it("of a file in the new store also removes a stale old copy of src", function()
      must(new:put_content("/src", "current"))
      must(old:put_content("/src", "stale"))
      assert.is_true(m:move("/src", "/dst"))
      assert.are.equal("current", m:get_content("/dst"))
      not_found("/src", m:get_content("/src"))     -- the stale copy does not reappear
      gone(old, "/src")
    end)

    it("deleteold=false leaves the old store alone (src then reads from it)", function()
      setup({ deleteold = false })
      must(old:put_content("/src", "payload"))
      assert.is_true(m:move("/src", "/dst"))
      assert.are.equal("payload", new:get_content("/dst"))
      assert.are.equal("payload", old:get_content("/src"))
      assert.are.equal("payload", m:get_content("/src"))
    end)

    it("of a directory split across both stores moves all of it", function()
      must(new:put_content("/dir/n", "n"))
      must(new:put_content("/dir/both", "new both"))
      must(old:put_content("/dir/both", "old both"))
      must(old:put_content("/dir/sub/o", "o"))
      assert.is_true(m:move("/dir", "/moved"))
      assert.are.equal("n", m:get_content("/moved/n"))
      assert.are.equal("new both", m:get_content("/moved/both"))
      assert.are.equal("o", m:get_content("/moved/sub/o"))
      not_found("/dir", m:stat("/dir"))
      assert.are.same({ "/moved" }, must(m:list("/")))
      assert.are.same({}, must(old:list("/")))
    end)

    it("of a directory only in the old store copies every file into the new store", function()
      must(old:put_content("/od/a", "a"))
      must(old:put_content("/od/sub/b", "b"))
      assert.is_true(m:move("/od", "/nd"))
      assert.are.equal("a", new:get_content("/nd/a"))
      assert.are.equal("b", new:get_content("/nd/sub/b"))
      assert.are.same({ "/nd" }, must(m:list("/")))
      assert.are.same({}, must(old:list("/")))
    end)

    it("of a missing path is PathNotFound naming src; dst is unchanged", function()
      must(old:put_content("/dst", "keep"))
      not_found("/src", m:move("/src", "/dst"))
      assert.are.equal("keep", m:get_content("/dst"))
    end)
  end)

  describe("copyonread", function()
    it("get_content copies an old object into the new store", function()
      setup({ copyonread = true })
      must(old:put_content("/c", "copy me"))
      assert.are.equal("copy me", m:get_content("/c"))
      assert.are.equal("copy me", new:get_content("/c"))
    end)

    it("reader copies an old object into the new store and reads from the offset", function()
      setup({ copyonread = "TRUE" })
      local data = t.random_bytes(100000)
      must(old:put_content("/c", data))
      assert.is_true(read_all(must(m:reader("/c", 10))) == data:sub(11))
      assert.is_true(new:get_content("/c") == data)
    end)

    it("is off by default", function()
      must(old:put_content("/c", "stay"))
      assert.are.equal("stay", m:get_content("/c"))
      read_all(must(m:reader("/c")))
      gone(new, "/c")
    end)

    it("a failed copy does not fail the read", function()
      local inner = assert(sd.create("inmemory"))
      new = assert(sd.wrap(inner, FAIL, { fail = { put_content = true, writer = true } }))
      old = assert(sd.create("luamem"))
      m = assert(sd.create("migrate", { new = new, old = old, copyonread = true }))
      must(old:put_content("/c", "data"))
      assert.are.equal("data", m:get_content("/c"))
      assert.are.equal("data", read_all(must(m:reader("/c"))))
      gone(inner, "/c")
    end)
  end)

  describe("errors from the new store are not masked by old data", function()
    before_each(function()
      local inner = assert(sd.create("inmemory"))
      new = assert(sd.wrap(inner, FAIL, {
        prefix = "/bad",
        fail = { get_content = true, reader = true, stat = true, list = true,
                 delete = true, move = true, writer = true, put_content = true },
      }))
      old = assert(sd.create("luamem"))
      m = assert(sd.create("migrate", { new = new, old = old }))
      must(old:put_content("/bad/f", "old data"))
    end)

    local function boom(v, err)
      local e = t.check_err("Driver", { driver = "migrate" }, v, err)
      assert.are.equal("migrate: new store (inmemory): boom", tostring(e))
    end

    it("on every method", function()
      boom(m:get_content("/bad/f"))
      boom(m:reader("/bad/f", 0))
      boom(m:stat("/bad/f"))
      boom(m:list("/bad"))
      boom(m:walk("/bad", function() end))
      boom(m:put_content("/bad/f", "x"))
      boom(m:writer("/bad/f", false))
      boom(m:writer("/bad/f", true))
      boom(m:delete("/bad/f"))
      boom(m:move("/bad/f", "/elsewhere"))
      -- nothing was changed in the old store
      assert.are.equal("old data", old:get_content("/bad/f"))
      not_found("/elsewhere", m:get_content("/elsewhere"))
    end)

    it("nor are errors of the old store", function()
      local oinner = assert(sd.create("luamem"))
      old = assert(sd.wrap(oinner, FAIL, { prefix = "/o", fail = { get_content = true, list = true } }))
      m = assert(sd.create("migrate", { new = new, old = old }))
      local v, err = m:get_content("/o/x")
      t.check_err("Driver", { driver = "migrate" }, v, err)
      assert.are.equal("migrate: old store (luamem): boom", tostring(err))
      v, err = m:list("/o")
      assert.are.equal("migrate: old store (luamem): boom", tostring(err))
    end)
  end)

  describe("redirect_url", function()
    it("is nil when neither store redirects", function()
      must(old:put_content("/r", "x"))
      local url, err = m:redirect_url("/r")
      assert.is_nil(url)
      assert.is_nil(err)
    end)

    it("comes from the store that holds the object, the new one first", function()
      new = assert(sd.wrap(assert(sd.create("inmemory")), FAIL, { host = "new.example" }))
      old = assert(sd.wrap(assert(sd.create("luamem")), FAIL, { host = "old.example" }))
      m = assert(sd.create("migrate", { new = new, old = old }))
      must(new:put_content("/both", "n"))
      must(old:put_content("/both", "o"))
      must(old:put_content("/only-old", "o"))
      must(new:put_content("/only-new", "n"))
      assert.are.equal("http://new.example/both", m:redirect_url("/both", { method = "GET" }))
      assert.are.equal("http://old.example/only-old", m:redirect_url("/only-old"))
      assert.are.equal("http://new.example/only-new", m:redirect_url("/only-new"))
      local url, err = m:redirect_url("/missing")
      assert.is_nil(url)
      assert.is_nil(err)
    end)

    it("is nil for an object in a store that does not redirect", function()
      old = assert(sd.wrap(assert(sd.create("luamem")), FAIL, { host = "old.example" }))
      m = assert(sd.create("migrate", { new = new, old = old }))
      must(new:put_content("/n", "n"))
      must(old:put_content("/n", "o"))
      local url, err = m:redirect_url("/n")
      assert.is_nil(url)
      assert.is_nil(err)
    end)
  end)

  describe("a filesystem new store over an inmemory old store", function()
    local root
    before_each(function()
      root = t.tmpdir()
      old = assert(sd.create("inmemory"))
      m = assert(sd.create("migrate", {
        new = { driver = "filesystem", parameters = { rootdirectory = root, sync = false } },
        old = old,
      }))
    end)
    after_each(function() t.rmrf(root) end)

    it("reads old objects, writes files on disk, merges listings", function()
      must(old:put_content("/docker/registry/v2/blobs/aa", "blob from the old store"))
      must(m:put_content("/docker/registry/v2/blobs/bb", "blob in the new store"))
      assert.are.equal("blob from the old store", m:get_content("/docker/registry/v2/blobs/aa"))
      assert.are.equal("blob in the new store", t.read_file(root .. "/docker/registry/v2/blobs/bb"))
      assert.is_false(t.exists(root .. "/docker/registry/v2/blobs/aa"))
      assert.are.same({ "/docker/registry/v2/blobs/aa", "/docker/registry/v2/blobs/bb" },
        must(m:list("/docker/registry/v2/blobs")))
      -- the registry publishes uploads by move
      assert.is_true(m:move("/docker/registry/v2/blobs/aa", "/docker/registry/v2/blobs/cc"))
      assert.are.equal("blob from the old store", t.read_file(root .. "/docker/registry/v2/blobs/cc"))
      gone(old, "/docker/registry/v2/blobs/aa")
      assert.is_true(m:delete("/docker"))
      assert.are.same({}, must(m:list("/")))
    end)
  end)

  describe("parameters", function()
    local function bad(params, parameter, detail_part)
      local v, err = sd.create("migrate", params)
      local e = t.check_err("InvalidParameter", { driver = "migrate", parameter = parameter }, v, err)
      assert.truthy(tostring(e):find("migrate: invalid parameter " .. parameter .. ": ", 1, true), tostring(e))
      if detail_part then
        assert.truthy(tostring(e):find(detail_part, 1, true), tostring(e))
      end
      return e
    end

    it("accept driver names, tables and drivers", function()
      local a = must(sd.create("migrate", { new = "inmemory", old = "luamem" }))
      must(a:put_content("/p", "x"))
      local b = must(sd.create("migrate", {
        new = { driver = "inmemory" }, old = { driver = "luamem", parameters = {} },
        copyonread = "false", deleteold = "TRUE",
      }))
      not_found("/p", b:get_content("/p"))
      -- migrate over migrate works too
      local c = must(sd.create("migrate", { new = a, old = b }))
      assert.are.equal("x", c:get_content("/p"))
    end)

    it("unknown parameters are rejected, naming them", function()
      bad({ new = "inmemory", old = "inmemory", newstore = "x" }, "newstore", "unknown parameter")
    end)

    it("new and old are required", function()
      bad({ old = "inmemory" }, "new", "required")
      bad({ new = "inmemory" }, "old", "required")
      bad({}, "new")
    end)

    it("a store that cannot be created names the parameter and the cause", function()
      bad({ new = "inmemory", old = "nosuch" }, "old", "StorageDriver not registered: nosuch")
      bad({ new = { driver = "nosuch" }, old = "inmemory" }, "new", "StorageDriver not registered: nosuch")
      bad({ new = "inmemory", old = { driver = "filesystem", parameters = { rootdirectory = "" } } },
        "old", "filesystem: invalid parameter rootdirectory")
      bad({ new = "inmemory", old = { driver = "inmemory", parameters = { x = 1 } } },
        "old", "inmemory: invalid parameter x")
    end)

    it("store values of the wrong shape", function()
      bad({ new = 42, old = "inmemory" }, "new", "got number")
      bad({ new = "inmemory", old = { name = "inmemory" } }, "old", "unknown key name")
      bad({ new = "inmemory", old = { driver = 1 } }, "old", "driver must be a driver name")
      bad({ new = "inmemory", old = { driver = "inmemory", parameters = "x" } }, "old",
        "parameters must be a table")
      bad({ new = "", old = "inmemory" }, "new", "empty driver name")
      local d = assert(sd.create("inmemory"))
      bad({ new = d, old = d }, "old", "the same driver as new")
    end)

    it("booleans", function()
      bad({ new = "inmemory", old = "inmemory", copyonread = "yes please" }, "copyonread", "boolean")
      bad({ new = "inmemory", old = "inmemory", deleteold = 1 }, "deleteold", "boolean")
    end)
  end)
end)
