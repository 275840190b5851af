-- Driver parameters: the registry's forms are accepted (numbers or numeric
-- strings, booleans or "true"/"false"); anything else fails sd.create with an
-- InvalidParameter error naming the parameter.

local sd = require "storagedriver"
local t = require "sdtest"

local function invalid(driver, parameter, v, err)
  local e = t.check_err("InvalidParameter", { driver = driver, parameter = parameter }, v, err)
  local prefix = driver .. ": invalid parameter " .. parameter .. ": "
  assert.are.equal(prefix, tostring(e):sub(1, #prefix))
  assert.is_string(e.detail)
  assert.truthy(#e.detail > 0, "the error says why")
  return e
end

describe("filesystem parameters", function()
  local root
  before_each(function() root = t.tmpdir() end)
  after_each(function() t.rmrf(root) end)

  local function create(extra)
    local p = { rootdirectory = root }
    for k, v in pairs(extra or {}) do p[k] = v end
    return sd.create("filesystem", p)
  end

  -- The driver works after creation (the parameter did not break it).
  local function works(d, err)
    assert.is_not_nil(d, tostring(err))
    assert.is_true(d:put_content("/p", "x"))
    assert.are.equal("x", d:get_content("/p"))
  end

  it("rootdirectory alone", function()
    works(create())
    assert.are.equal("x", t.read_file(root .. "/p"))
  end)

  it("maxthreads \"fail\" is InvalidParameter naming maxthreads", function()
    invalid("filesystem", "maxthreads", create({ maxthreads = "fail" }))
  end)

  it("maxthreads as a string or a number", function()
    works(create({ maxthreads = "100" }))
    works(create({ maxthreads = 100 }))
    works(create({ maxthreads = 1 }))       -- below the minimum: becomes 25
    works(create({ maxthreads = "1" }))
    works(create({ maxthreads = 0 }))
    works(create({ maxthreads = -5 }))
    works(create({ maxthreads = "0x10" }))  -- the reference parses base prefixes
  end)

  it("maxthreads of another type is rejected", function()
    invalid("filesystem", "maxthreads", create({ maxthreads = true }))
    invalid("filesystem", "maxthreads", create({ maxthreads = "" }))
    invalid("filesystem", "maxthreads", create({ maxthreads = "12abc" }))
  end)

  it("sync accepts true, \"true\", false, \"false\"", function()
    for _, v in ipairs({ true, "true", false, "false" }) do
      works(create({ sync = v }))
    end
  end)

  it("sync \"maybe\" is rejected naming sync", function()
    invalid("filesystem", "sync", create({ sync = "maybe" }))
    invalid("filesystem", "sync", create({ sync = 3 }))
  end)

  it("an unknown parameter is rejected naming it", function()
    local e = invalid("filesystem", "colour", create({ colour = "blue" }))
    assert.are.equal("colour", e.parameter)
  end)

  it("rootdirectory that is a regular file is rejected naming rootdirectory", function()
    local f = root .. "/plainfile"
    t.write_file(f, "not a directory")
    invalid("filesystem", "rootdirectory", sd.create("filesystem", { rootdirectory = f }))
    assert.are.equal("not a directory", t.read_file(f))
  end)

  it("a rootdirectory that does not exist yet is fine", function()
    local d = assert(sd.create("filesystem", { rootdirectory = root .. "/not/yet" }))
    assert.is_true(d:put_content("/a/b", "ab"))
    assert.are.equal("ab", t.read_file(root .. "/not/yet/a/b"))
  end)
end)

describe("inmemory parameters", function()
  it("no parameters, an empty table or nil", function()
    assert.are.equal("inmemory", assert(sd.create("inmemory", {})):name())
    assert.are.equal("inmemory", assert(sd.create("inmemory")):name())
    assert.are.equal("inmemory", assert(sd.create("inmemory", nil)):name())
  end)

  it("an unknown parameter is rejected naming it", function()
    invalid("inmemory", "rootdirectory", sd.create("inmemory", { rootdirectory = "/tmp" }))
    invalid("inmemory", "whatever", sd.create("inmemory", { whatever = true }))
  end)
end)

describe("sd.create misuse raises", function()
  it("params not a table", function()
    assert.has_error(function() sd.create("inmemory", "rootdirectory=/tmp") end)
    assert.has_error(function() sd.create("inmemory", 42) end)
    assert.has_error(function() sd.create("filesystem", true) end)
  end)

  it("name not a string", function()
    assert.has_error(function() sd.create(nil, {}) end)
    assert.has_error(function() sd.create({}, {}) end)
  end)
end)
