-- runtime/http (libcurl client) against a tiny misbehaving local server
-- (spec/support/httpd.py), over HTTP and, with a self-signed certificate
-- made here by openssl, over HTTPS.  The checking is done by the C program
-- tests/http_test.c, built by make into the build directory; this spec
-- starts the servers, runs the program, and always stops the servers.

local t = require "sdtest"

local q = t.shq

describe("runtime/http", function()
  local plain, tls, dir, cert, other, why

  setup(function()
    dir = t.tmpdir()
    local key
    cert, key = t.self_signed(dir)
    -- another self-signed certificate: a CA file that must not verify the first
    t.sh("mkdir -p " .. q(dir .. "/other"))
    other = t.self_signed(dir .. "/other")
    plain, why = t.start_server("spec/support/httpd.py")
    if plain then
      tls, why = t.start_server("spec/support/httpd.py", "--tls " .. q(cert) .. " " .. q(key))
    end
  end)

  teardown(function()
    if plain then plain:stop() end
    if tls then tls:stop() end
    t.rmrf(dir)
  end)

  it("passes every scenario of tests/http_test.c, TLS included", function()
    assert(plain and tls, why)
    local bin = t.built("http_test")
    -- No proxy between the client and 127.0.0.1, whatever the environment says.
    local out, _, status = t.sh("env -u http_proxy -u HTTP_PROXY -u https_proxy -u HTTPS_PROXY " ..
                                "-u all_proxy -u ALL_PROXY timeout 120 " .. q(bin) ..
                                " http://127.0.0.1:" .. plain.port ..
                                " https://127.0.0.1:" .. tls.port .. " " .. q(cert) .. " " ..
                                q(other))
    assert.is_nil(out:match("FAILED"), out)
    local p, f = out:match("http: (%d+) passed, (%d+) failed")
    assert.is_not_nil(p, "no summary line in:\n" .. out)
    assert.are.equal("0", f, out)
    assert.is_true(tonumber(p) >= 35, out)
    -- The pulled bodies (sd_http_stream_*), the prefetcher (sd_prefetch) and
    -- the TLS cases are among them.
    local streams, prefetch, tlscases = 0, 0, 0
    for _ in out:gmatch("\nok stream: ") do streams = streams + 1 end
    for _ in out:gmatch("\nok prefetch: ") do prefetch = prefetch + 1 end
    for _ in out:gmatch("\nok tls: ") do tlscases = tlscases + 1 end
    assert.are.equal(11, streams, out)
    assert.are.equal(3, prefetch, out)
    assert.are.equal(7, tlscases, out)
    assert.are.equal(0, status, out)
  end)
end)
