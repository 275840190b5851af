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
