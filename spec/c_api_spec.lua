-- The C API without Lua: build/example (examples/example.c) drives the
-- filesystem driver through every operation and prints an "ok <step>" line
-- for each, then "example: all operations ok".

local t = require "sdtest"

local EXAMPLE = os.getenv("SD_EXAMPLE") or "build/example"

describe("C API example program", function()
  local function run(args)
    local out, _, rc = t.sh(t.shq(EXAMPLE) .. (args and (" " .. args) or ""))
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    return out, rc, lines
  end

  local function check_output(out, rc, lines)
    assert.are.equal(0, rc, "exit status; output:\n" .. out)
    local last_ok = false
    for _, l in ipairs(lines) do
      assert.is_nil(l:match("^FAILED"), "a step failed: " .. l)
      if l == "example: all operations ok" then last_ok = true end
    end
    assert.is_true(last_ok, "no line \"example: all operations ok\" in:\n" .. out)
    -- An "ok" line for each operation of the contract.
    for _, op in ipairs({ "put_content", "get_content", "writer", "commit", "reader",
                          "stat", "list", "walk", "move", "redirect_url", "delete" }) do
      local found = false
      for _, l in ipairs(lines) do
        if l:sub(1, 3) == "ok " and l:find(op, 4, true) then found = true end
      end
      assert.is_true(found, "no ok line for " .. op .. " in:\n" .. out)
    end
  end

  it("exists (make builds it)", function()
    assert.is_true(t.exists(EXAMPLE), EXAMPLE .. " is missing: run make")
  end)

  it("exits 0 and reports every operation ok (its own temporary root)", function()
    check_output(run())
  end)

  it("exits 0 with a root directory given, and leaves it empty", function()
    local dir = t.tmpdir()
    local out, rc, lines = run(t.shq(dir))
    check_output(out, rc, lines)
    local left = t.lines("find " .. t.shq(dir) .. " -type f")
    t.rmrf(dir)
    assert.are.same({}, left)
  end)
end)

-- `make install PREFIX=DIR`: the LuaRocks tree layout, a pkg-config file that a
-- C program builds against, and Lua modules that load from the installed tree.
describe("make install", function()
  local sanitized = (os.getenv("LD_PRELOAD") or ""):find("asan", 1, true)

  it("installs a usable C library, header, pkg-config file and both Lua modules", function()
    if sanitized then
      pending("the sanitizer build is not installed")
      return
    end
    local prefix = t.tmpdir()
    local out, ok = t.sh("make -s install PREFIX=" .. t.shq(prefix) .. " 2>&1")
    assert.is_true(ok, out)
    for _, f in ipairs({ "include/storagedriver.h", "lib/libstoragedriver.a", "lib/libstoragedriver.so",
                         "lib/pkgconfig/storagedriver.pc", "lib/lua/5.4/storagedriver/core.so",
                         "lib/lua/5.1/storagedriver/core.so", "share/lua/5.4/storagedriver/init.lua",
                         "share/lua/5.1/storagedriver/init.lua" }) do
      assert.is_true(t.exists(prefix .. "/" .. f), f .. " was not installed")
    end
    -- A C program built with pkg-config against the installed library.
    local pc = "PKG_CONFIG_PATH=" .. t.shq(prefix .. "/lib/pkgconfig")
    out, ok = t.sh("cc examples/example.c $(" .. pc .. " pkg-config --cflags --libs storagedriver) -o "
      .. t.shq(prefix .. "/example") .. " 2>&1 && LD_LIBRARY_PATH=" .. t.shq(prefix .. "/lib") .. " "
      .. t.shq(prefix .. "/example"))
    assert.is_true(ok, out)
    assert.truthy(out:find("example: all operations ok", 1, true), out)
    -- The Lua modules from the installed tree, under both VMs.
    for _, v in ipairs({ { "lua5.4", "5.4" }, { "luajit", "5.1" } }) do
      local env = "LUA_PATH=" .. t.shq(prefix .. "/share/lua/" .. v[2] .. "/?.lua;" .. prefix
        .. "/share/lua/" .. v[2] .. "/?/init.lua") .. " LUA_CPATH=" .. t.shq(prefix .. "/lib/lua/" .. v[2] .. "/?.so")
      out, ok = t.sh(env .. " " .. v[1] .. [[ -e 'local sd = require "storagedriver"
        local d = assert(sd.create("inmemory")); assert(d:put_content("/x", "y"))
        io.write(sd.version, " ", d:get_content("/x"))' 2>&1]])
      assert.is_true(ok, v[1] .. ": " .. out)
      assert.are.equal("0.1.0 y", out)
    end
    t.rmrf(prefix)
  end)
end)
