-- Path validation by the base layer, on every method and every kind of driver
-- (C built-ins and a Lua driver): ^(/[A-Za-z0-9._-]+)+$ without "." or ".."
-- components or NUL bytes; "/" only for stat, list and walk; Move checks the
-- source first; a negative reader offset is reported before the path.

local sd = require "storagedriver"
local t = require "sdtest"
require "luamem"

local valid = {
  "/a", "/2", "/aa", "/a.a", "/0-9/abcdefg", "/abcdefg/z.75",
  "/abc/1.2.3.4.5-6_zyx/123.z/4", "/docker/docker-registry", "/123.abc",
  "/abc./abc", "/.abc", "/a--b", "/a-.b", "/_.abc",
  "/Docker/docker-registry", "/Abc/Cba",
}
local invalid = { "", "/", "abc", "123.abc", "//bcd", "/abc_123/" }
local ours = {
  "/a/../b", "/.", "/..", "/a/./b", "/a\0b", "/a\0", "/a/..", "/./a", "/a/.",
  "/a b", "/a:b", "/a@b", "/a+b", "/a~b", "/\xc3\xa9", "/a//b", "a/", "/a/", "\0",
}

-- Every method, called on path p; returns what the method returned.
local methods = {
  get_content = function(d, p) return d:get_content(p) end,
  put_content = function(d, p) return d:put_content(p, "x") end,
  reader = function(d, p) return d:reader(p, 0) end,
  writer = function(d, p) return d:writer(p, false) end,
  stat = function(d, p) return d:stat(p) end,
  list = function(d, p) return d:list(p) end,
  delete = function(d, p) return d:delete(p) end,
  ["move (source)"] = function(d, p) return d:move(p, "/dst") end,
  ["move (destination)"] = function(d, p) return d:move("/src", p) end,
  redirect_url = function(d, p) return d:redirect_url(p) end,
  walk = function(d, p) return d:walk(p, function() end) end,
}
local method_names = {}
for k in pairs(methods) do method_names[#method_names + 1] = k end
table.sort(method_names)

local root_ok = { stat = true, list = true, walk = true }

local function make(which)
  if which == "filesystem" then
    local root = t.tmpdir()
    return assert(sd.create("filesystem", { rootdirectory = root })), root
  end
  return assert(sd.create(which, {}))
end

for _, which in ipairs({ "inmemory", "filesystem", "luamem" }) do
  describe("paths on " .. which, function()
    local d, root

    before_each(function()
      d, root = make(which)
      -- "/src" exists so that Move's destination check is reached.
      assert.is_true(d:put_content("/src", "src"))
    end)

    after_each(function()
      t.rmrf(root)
    end)

    for _, m in ipairs(method_names) do
      it(m .. " rejects the reference's invalid paths (\"/\" only where allowed)", function()
        for _, p in ipairs(invalid) do
          if p == "/" and root_ok[m] then
            local v, err = methods[m](d, p)
            assert.is_not_nil(v, m .. "(\"/\"): " .. tostring(err))
          else
            local v, err = methods[m](d, p)
            t.check_err("InvalidPath", { driver = which, path = p }, v, err, m .. " " .. p)
          end
        end
      end)

      it(m .. " rejects traversal, NUL and other bytes", function()
        for _, p in ipairs(ours) do
          local v, err = methods[m](d, p)
          t.check_err("InvalidPath", { driver = which, path = p }, v, err, m .. " " .. p)
        end
      end)

      it(m .. " accepts the reference's valid paths", function()
        for _, p in ipairs(valid) do
          local v, err = methods[m](d, p)
          if v == nil then
            assert.is_true(err == nil or err.kind ~= "InvalidPath",
              m .. " " .. p .. ": " .. tostring(err))
          end
          if v ~= nil and m == "writer" then v:cancel() end
          if v ~= nil and m == "reader" then v:close() end
        end
      end)

      it(m .. " raises on a non-string path", function()
        assert.has_error(function() methods[m](d, {}) end)
        assert.has_error(function() methods[m](d, nil) end)
      end)
    end

    it("valid paths round trip with put and get", function()
      for _, p in ipairs(valid) do
        assert.is_true(d:put_content(p, "content of " .. p))
      end
      for _, p in ipairs(valid) do
        assert.are.equal("content of " .. p, d:get_content(p))
      end
    end)

    it("move checks the source first, then the destination", function()
      t.check_err("InvalidPath", { driver = which, path = "bad1" }, d:move("bad1", "bad2"))
      t.check_err("InvalidPath", { driver = which, path = "/a/../b" }, d:move("/a/../b", "bad2"))
      -- A valid but missing source: the destination is still checked first
      -- (validation happens before the backend is asked).
      t.check_err("InvalidPath", { driver = which, path = "bad2" }, d:move("/nosuch", "bad2"))
      t.check_err("InvalidPath", { driver = which, path = "/" }, d:move("/src", "/"))
      assert.are.equal("src", d:get_content("/src"))
    end)

    it("reader: a negative offset is reported before the path", function()
      t.check_err("InvalidOffset", { driver = which, path = "//bad", offset = -1 }, d:reader("//bad", -1))
      t.check_err("InvalidOffset", { driver = which, path = "/a\0b", offset = -3 }, d:reader("/a\0b", -3))
      t.check_err("InvalidPath", { driver = which, path = "//bad" }, d:reader("//bad", 0))
    end)

    it("an invalid path changes nothing", function()
      for _, p in ipairs(ours) do d:put_content(p, "x") end
      assert.are.same({ "/src" }, d:list("/"))
    end)
  end)
end
