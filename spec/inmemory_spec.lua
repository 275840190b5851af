-- The inmemory driver beyond the conformance suite.

local sd = require "storagedriver"
local t = require "sdtest"

describe("inmemory", function()
  local d
  before_each(function() d = assert(sd.create("inmemory", {})) end)

  it("name() is inmemory", function()
    assert.are.equal("inmemory", d:name())
  end)

  -- The reference's tree mishandled a directory holding a child of its own
  -- name: after /p/x/x/y existed, writing /p/x/f failed.
  it("nested directories of the same name (the reference defect)", function()
    assert.is_true(d:put_content("/p/x/x/y", "y"))
    assert.is_true(d:put_content("/p/x/f", "f"))
    assert.is_true(d:put_content("/p/x/x/x/x", "xxxx"))
    local w = assert(d:writer("/p/x/x/x/w", false))
    w:write("w")
    assert.is_true(w:commit())
    assert.are.equal("y", d:get_content("/p/x/x/y"))
    assert.are.equal("f", d:get_content("/p/x/f"))
    assert.are.equal("xxxx", d:get_content("/p/x/x/x/x"))
    assert.are.equal("w", d:get_content("/p/x/x/x/w"))
    assert.are.same({ "/p/x/f", "/p/x/x" }, d:list("/p/x"))
    assert.are.same({ "/p/x/x/x", "/p/x/x/y" }, d:list("/p/x/x"))
    assert.are.same({ "/p/x/x/x/w", "/p/x/x/x/x" }, d:list("/p/x/x/x"))
    assert.is_true(d:stat("/p/x/x").is_dir)
    assert.is_false(d:stat("/p/x/x/x/x").is_dir)
    assert.is_true(d:move("/p/x/f", "/p/x/x/f"))
    assert.are.equal("f", d:get_content("/p/x/x/f"))
    assert.is_true(d:delete("/p/x/x"))
    for _, p in ipairs({ "/p/x/x/y", "/p/x/x/f", "/p/x/x/x/x", "/p/x/x/x/w" }) do
      local v, err = d:get_content(p)
      assert.is_nil(v, p)
      assert.are.equal("PathNotFound", err.kind, p)
    end
    local v, err = d:stat("/p/x/x")
    assert.is_nil(v)
    assert.are.equal("PathNotFound", err.kind)
  end)

  it("a 256 MiB stream in 1 MiB writes completes with the right size", function()
    local chunk = t.chunk(1, t.MiB)
    local w = assert(d:writer("/big", false))
    for _ = 1, 256 do assert(w:write(chunk)) end
    assert.is_true(w:commit())
    assert.is_true(w:close())
    assert.are.equal(256 * t.MiB, w:size())
    assert.are.equal(256 * t.MiB, d:stat("/big").size)
    local r = assert(d:reader("/big", 255 * t.MiB))
    assert.is_true(r:read("a") == chunk)
    r:close()
    assert.is_true(d:delete("/big"))
  end)

  it("list(\"/\") of a new store is empty and stat(\"/\") a directory", function()
    assert.are.same({}, d:list("/"))
    local st = assert(d:stat("/"))
    assert.is_true(st.is_dir)
    assert.are.equal(0, st.size)
  end)

  it("two drivers do not share content", function()
    local d2 = assert(sd.create("inmemory", {}))
    assert.is_true(d:put_content("/only-here", "1"))
    local v, err = d2:get_content("/only-here")
    assert.is_nil(v)
    assert.are.equal("PathNotFound", err.kind)
  end)

  it("a file cannot be written below a file", function()
    assert.is_true(d:put_content("/f", "file"))
    local v, err = d:put_content("/f/g", "below a file")
    assert.is_nil(v)
    assert.is_true(sd.is_error(err))
    assert.are.equal("inmemory", err.driver)
    assert.are.equal("file", d:get_content("/f"))
  end)
end)
