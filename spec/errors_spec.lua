-- sd.error objects: fields and the exact texts of all seven kinds, sd.is_error,
-- and the same texts on errors the drivers return.

local sd = require "storagedriver"
local t = require "sdtest"

describe("sd.error", function()
  local cases = {
    { "PathNotFound", { driver = "d1", path = "/a/b" }, "d1: Path not found: /a/b" },
    { "InvalidPath", { driver = "d2", path = "//x" }, "d2: invalid path: //x" },
    { "InvalidOffset", { driver = "d3", path = "/f", offset = -1 }, "d3: invalid offset: -1 for path: /f" },
    { "UnsupportedMethod", { driver = "d4" }, "d4: unsupported method" },
    { "InvalidDriver", { name = "nosuch" }, "StorageDriver not registered: nosuch" },
    { "InvalidParameter", { driver = "d5", parameter = "maxthreads", detail = "must be an integer" },
      "d5: invalid parameter maxthreads: must be an integer" },
    { "Driver", { driver = "d6", detail = "disk on fire" }, "d6: disk on fire" },
  }

  for _, c in ipairs(cases) do
    local kind, fields, text = c[1], c[2], c[3]
    it(kind .. ": fields and text", function()
      local e = sd.error(kind, fields)
      assert.is_true(sd.is_error(e))
      assert.are.equal(kind, e.kind)
      for k, v in pairs(fields) do assert.are.equal(v, e[k], k) end
      assert.are.equal(text, tostring(e))
    end)
  end

  it("the offset is an integer", function()
    local e = sd.error("InvalidOffset", { driver = "d", path = "/f", offset = 12 })
    assert.are.equal(12, e.offset)
    assert.are.equal("d: invalid offset: 12 for path: /f", tostring(e))
    if math.type then assert.are.equal("integer", math.type(e.offset)) end
  end)

  it("keeps status and code of a Driver error", function()
    local e = sd.error("Driver", { driver = "s3aws", detail = "SlowDown", status = 503, code = "SlowDown" })
    assert.are.equal(503, e.status)
    assert.are.equal("SlowDown", e.code)
    assert.are.equal("s3aws: SlowDown", tostring(e))
  end)

  it("texts keep NUL bytes and any other byte of the path", function()
    local e = sd.error("InvalidPath", { driver = "x", path = "/a\0b" })
    assert.are.equal("x: invalid path: /a\0b", tostring(e))
  end)

  it("two errors of one kind share the error metatable", function()
    local e1 = sd.error("PathNotFound", { driver = "a", path = "/1" })
    local e2 = sd.error("Driver", { driver = "a", detail = "x" })
    assert.are.equal(getmetatable(e1), getmetatable(e2))
  end)
end)

describe("sd.is_error", function()
  it("is false for everything but error objects", function()
    assert.is_false(sd.is_error(nil))
    assert.is_false(sd.is_error("PathNotFound"))
    assert.is_false(sd.is_error(42))
    assert.is_false(sd.is_error({}))
    assert.is_false(sd.is_error({ kind = "PathNotFound", path = "/a" }))
    assert.is_false(sd.is_error(print))
  end)

  it("is true for errors the drivers return", function()
    local d = assert(sd.create("inmemory", {}))
    local v, err = d:get_content("/nosuch")
    assert.is_nil(v)
    assert.is_true(sd.is_error(err))
    local _, err2 = sd.create("nosuch-driver", {})
    assert.is_true(sd.is_error(err2))
  end)
end)

describe("errors from drivers", function()
  local d
  before_each(function() d = assert(sd.create("inmemory", {})) end)

  it("PathNotFound", function()
    local e = t.check_err("PathNotFound", { driver = "inmemory", path = "/missing/file" }, d:get_content("/missing/file"))
    assert.is_nil(e.status)
  end)

  it("InvalidPath", function()
    t.check_err("InvalidPath", { driver = "inmemory", path = "no/slash" }, d:get_content("no/slash"))
  end)

  it("InvalidOffset", function()
    assert.is_true(d:put_content("/f", "abc"))
    t.check_err("InvalidOffset", { driver = "inmemory", path = "/f", offset = -5 }, d:reader("/f", -5))
  end)

  it("InvalidDriver", function()
    local e = t.check_err("InvalidDriver", { name = "nope" }, sd.create("nope", {}))
    assert.are.equal("StorageDriver not registered: nope", tostring(e))
  end)

  it("InvalidParameter", function()
    local e = t.check_err("InvalidParameter", { driver = "inmemory", parameter = "bogus" },
      sd.create("inmemory", { bogus = "1" }))
    assert.is_string(e.detail)
    assert.truthy(#e.detail > 0)
  end)

  it("Driver (a walk stopped by a string)", function()
    assert.is_true(d:put_content("/f", "abc"))
    local e = t.check_err("Driver", { driver = "inmemory", detail = "halt" },
      d:walk("/", function() return "halt" end))
    assert.are.equal("inmemory: halt", tostring(e))
    assert.is_nil(e.status, "status only where a backend answered")
  end)

  it("UnsupportedMethod (a Lua driver without the method)", function()
    local n = "errspec" .. t.random_name(8)
    sd.register(n, function() return { name = n } end)
    local ld = assert(sd.create(n, {}))
    t.check_err("UnsupportedMethod", { driver = n }, ld:get_content("/x"))
    t.check_err("UnsupportedMethod", { driver = n }, ld:stat("/x"))
  end)
end)
