-- runtime/xml (expat): S3 response shapes and hostile bodies.  The checking is
-- done by the C program tests/xml_test.c (built by make into the build
-- directory); this spec runs it and asserts every case passed.

local t = require "sdtest"

describe("runtime/xml", function()
  it("passes every case of tests/xml_test.c", function()
    local out, _, status = t.sh("timeout 60 " .. t.shq(t.built("xml_test")))
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
