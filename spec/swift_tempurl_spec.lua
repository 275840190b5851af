-- Swift TempURL signing (drivers/swift_tempurl.c) against Swift's own vectors
-- in ../shared/vectors/swift (beside the repository, as CI lays it out).  The
-- checking is done by build/swift_tempurl_vectors (tests/swift_tempurl_vectors.c,
-- built by `make`); this spec counts the cases itself, so a case the program
-- skips fails, and so does a missing vectors file.

local t = require "sdtest"

local here = debug.getinfo(1, "S").source:match("^@(.*)$") or "spec/swift_tempurl_spec.lua"
local root = here:match("^(.*)/spec/[^/]*$") or "."
local vectors = root .. "/../shared/vectors/swift/tempurl_vectors.json"

describe("Swift TempURL vectors", function()
  it("every case: the signature in its encoding, and the URL where one is given", function()
    local json = t.read_file(vectors)
    assert(json, "the Swift TempURL vectors are missing: expected " .. vectors ..
                 " (shared/ must sit beside the repository)")
    -- the cases are the objects with a "name" inside "cases"
    local cases_part = json:match('"cases"%s*:%s*(%b[])')
    assert.is_string(cases_part, "no cases array in " .. vectors)
    local expected = 0
    for _ in cases_part:gmatch('"name"%s*:') do expected = expected + 1 end
    assert.is_true(expected > 0, "no case in " .. vectors)

    local out, ok = t.sh(t.shq(t.built("swift_tempurl_vectors")) .. " " .. t.shq(vectors))
    local oks, failed = 0, {}
    for l in out:gmatch("[^\n]+") do
      if l:match("^ok ") then oks = oks + 1 end
      if l:match("^FAILED ") then failed[#failed + 1] = l end
    end
    assert.are.same({}, failed, out)
    local p, f = out:match("swift tempurl vectors: (%d+) passed, (%d+) failed")
    assert.is_not_nil(p, "no summary line in:\n" .. out)
    assert.are.equal(0, tonumber(f), out)
    assert.are.equal(expected, tonumber(p), "cases in the file vs passed:\n" .. out)
    assert.are.equal(expected, oks, out)
    assert.is_true(ok, out)
  end)
end)
