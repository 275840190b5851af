-- runtime/xml (expat): S3 response shapes and hostile bodies.  The checking is
-- done by the C program tests/xml_test.c, compiled here against the build's
-- libstoragedriver.a; this spec runs it and asserts every case passed.

local function dirname(p) return p:match("^(.*)/[^/]*$") or "." end

local here = debug.getinfo(1, "S").source:match("^@(.*)$") or "spec/xml_spec.lua"
local root = dirname(dirname(here))
if root == "" then root = "." end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1; echo \"exit:$?\""))
  local out = p:read("*a")
  p:close()
  local status = tonumber(out:match("exit:(%d+)%s*$"))
  return out:gsub("exit:%d+%s*$", ""), status
end

local build = os.getenv("SD_BUILD") or "build"
local sanitized = build == "build-san"

describe("runtime/xml", function()
  local tmp

  setup(function()
    local out = sh("mktemp -d \"${TMPDIR:-/tmp}/sdxml.XXXXXX\"")
    tmp = out:match("^%s*(.-)%s*$")
  end)

  teardown(function()
    if tmp then sh("rm -rf " .. q(tmp)) end
  end)

  it("passes every case of tests/xml_test.c", function()
    local lib = root .. "/" .. build .. "/libstoragedriver.a"
    local flags = "-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O1 -g"
    if sanitized then
      flags = flags .. " -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
    end
    local bin = tmp .. "/xml_test"
    local out, status = sh("cc " .. flags .. " -o " .. q(bin) .. " " ..
                           q(root .. "/tests/xml_test.c") .. " " .. q(lib) ..
                           " -lpthread -lcrypto -lcurl -lexpat")
    assert.are.equal(0, status, "compiling tests/xml_test.c:\n" .. out)
    out, status = sh("timeout 60 " .. q(bin))
    assert.is_nil(out:match("FAILED"), out)
    local p, f = out:match("xml: (%d+) passed, (%d+) failed")
    assert.is_not_nil(p, "no summary line in:\n" .. out)
    assert.are.equal("0", f, out)
    assert.is_true(tonumber(p) >= 28, out)
    assert.are.equal(0, status, out)
    -- the hostile cases must each have run, not merely not failed
    for _, name in ipairs({"billion laughs with a DTD", "external entity",
                           "10,000-deep nesting", "huge text node beyond the limit",
                           "truncated document", "mismatched tags"}) do
      assert.is_truthy(out:find("ok " .. name, 1, true), name .. " did not pass:\n" .. out)
    end
  end)
end)
