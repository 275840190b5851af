-- Assertions and tools shared by the specs of the cloud drivers (swift_spec
-- today; s3_spec and azure_spec hold copies of the same helpers that can move
-- here).  Lua 5.4 and LuaJIT.

local t = require "sdtest"
local assert = require "luassert"

local M = {}

-- v, or fails with the error's text (level: the caller's caller).
function M.must(v, err, what)
  if v == nil or v == false then
    error((what and (what .. ": ") or "") .. "unexpected failure: " .. tostring(err), 2)
  end
  return v
end

function M.same_bytes(expected, got, what)
  assert.is_string(got, what .. ": not a string: " .. t.show(got))
  assert.are.equal(#expected, #got, what .. ": length")
  assert.is_true(expected == got, what .. ": the bytes differ")
end

-- Writes data to writer w in pieces of piece bytes.
function M.write_pieces(w, data, piece)
  local pos = 1
  while pos <= #data do
    M.must(w:write(data:sub(pos, pos + piece - 1)), nil, "write")
    pos = pos + piece
  end
end

-- Asserts that (v, err), the results of an operation, are a Driver error of
-- driver whose text names each of must_name and never secret.  Returns err.
function M.clear_error(driver, what, secret, must_name, v, err)
  assert.is_nil(v, what .. ": expected a failure, got " .. t.show(v))
  assert.is_table(err, what .. ": expected an error object, got " .. t.show(err))
  local text = tostring(err)
  assert.are.equal("Driver", err.kind, what .. ": error kind: " .. text)
  assert.are.equal(driver, err.driver, what .. ": err.driver: " .. text)
  for _, s in ipairs(must_name) do
    assert.is_truthy(text:lower():find(s:lower(), 1, true),
                     what .. ": the error does not mention " .. s .. ": " .. text)
  end
  if secret then
    assert.is_falsy(text:find(secret, 1, true), what .. ": the error shows the secret: " .. text)
    assert.is_falsy(tostring(err.detail):find(secret, 1, true), what .. ": err.detail shows the secret")
  end
  return err
end

-- curl URL [extra args] --> status, body (the body's bytes through a file)
function M.curl(url, extra)
  local f = t.tmpname()
  local out, ok = t.sh("unset LD_PRELOAD; curl -sS --noproxy '*' -o " .. t.shq(f) ..
                       " -w '%{http_code}' " .. (extra or "") .. " " .. t.shq(url))
  local body = t.read_file(f) or ""
  os.remove(f)
  assert(ok, "curl failed: " .. out)
  return tonumber(out:match("(%d+)%s*$")), body
end

return M
