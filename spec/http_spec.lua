-- runtime/http (libcurl client) against a tiny misbehaving local server
-- (spec/support/httpd.py).  The checking is done by the C program
-- tests/http_test.c, built by make into the build directory;
-- this spec starts the server, runs the program, and always stops the server.

local t = require "sdtest"

local function sh(cmd)
  local out, _, status = t.sh(cmd)
  return out, status
end
local q = t.shq
local root = "."

describe("runtime/http", function()
  local tmp, pid, port

  setup(function()
    local out = sh("mktemp -d \"${TMPDIR:-/tmp}/sdhttp.XXXXXX\"")
    tmp = out:match("^%s*(.-)%s*$")
    -- The server is plain Python: keep the sanitizer preload away from it.
    local cmd = "env -u LD_PRELOAD /usr/bin/python3 " .. q(root .. "/spec/support/httpd.py") ..
                " > " .. q(tmp .. "/port") .. " 2> " .. q(tmp .. "/httpd.err") ..
                " & echo $!"
    local p = assert(io.popen(cmd))
    pid = tonumber(p:read("*l"))
    p:close()
    for _ = 1, 100 do
      local f = io.open(tmp .. "/port")
      local s = f and f:read("*l")
      if f then f:close() end
      if s and s:match("^%d+$") then port = s break end
      sh("sleep 0.05")
    end
  end)

  teardown(function()
    if pid then sh("kill " .. pid .. "; wait " .. pid .. " 2>/dev/null") end
    if tmp then sh("rm -rf " .. q(tmp)) end
  end)

  it("passes every scenario of tests/http_test.c", function()
    assert.is_not_nil(pid, "the server did not start")
    assert.is_not_nil(port, "the server printed no port")
    local bin = t.built("http_test")
    local out, status
    -- No proxy between the client and 127.0.0.1, whatever the environment says.
    out, status = sh("env -u http_proxy -u HTTP_PROXY -u https_proxy -u HTTPS_PROXY " ..
                     "-u all_proxy -u ALL_PROXY timeout 120 " .. q(bin) ..
                     " http://127.0.0.1:" .. port)
    assert.is_nil(out:match("FAILED"), out)
    local p, f = out:match("http: (%d+) passed, (%d+) failed")
    assert.is_not_nil(p, "no summary line in:\n" .. out)
    assert.are.equal("0", f, out)
    assert.is_true(tonumber(p) >= 28, out)
    -- The pulled bodies (sd_http_stream_*) are among them.
    local streams = 0
    for _ in out:gmatch("\nok stream: ") do streams = streams + 1 end
    assert.are.equal(11, streams, out)
    assert.are.equal(0, status, out)
  end)
end)
