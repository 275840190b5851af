-- storagedriver.crypto (lua/crypto.c, OpenSSL): known answers from RFC 1321
-- (MD5), RFC 3174 (SHA-1), FIPS 180-2 (SHA-256/512), RFC 2202 / RFC 4231
-- (HMAC), RFC 4648 (base64); RSA signatures checked with the openssl CLI.

local crypto = require "storagedriver.crypto"
local t = require "sdtest"

local function unhex(h)
  return (h:gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end))
end

describe("crypto module", function()
  it("is storagedriver.core's crypto table", function()
    assert.are.equal(require("storagedriver.core").crypto, crypto)
    assert.is_string(crypto.openssl_version)
    assert.truthy(crypto.openssl_version:match("^OpenSSL 3"))
  end)
end)

describe("crypto.hex", function()
  it("gives lowercase hex of any bytes", function()
    assert.are.equal("", crypto.hex(""))
    assert.are.equal("00ff7f80", crypto.hex("\0\255\127\128"))
    local all = t.all_bytes()
    local h = crypto.hex(all)
    assert.are.equal(2 * #all, #h)
    assert.are.equal(all, unhex(h))
    assert.is_nil(h:find("[^0-9a-f]"))
  end)

  it("works past its internal chunk size", function()
    local s = t.random_bytes(10000)
    assert.are.equal(s, unhex(crypto.hex(s)))
  end)
end)

describe("digests", function()
  it("MD5: RFC 1321 test suite", function()
    local v = {
      { "", "d41d8cd98f00b204e9800998ecf8427e" },
      { "a", "0cc175b9c0f1b6a831c399e269772661" },
      { "abc", "900150983cd24fb0d6963f7d28e17f72" },
      { "message digest", "f96b697d7cb7938d525a2f31aaf161d0" },
      { "abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b" },
      { "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        "d174ab98d277d9f5a5611c2c9f419d9f" },
      { string.rep("1234567890", 8), "57edf4a22be3c955ac49da2e2107b67a" },
    }
    for _, c in ipairs(v) do
      assert.are.equal(c[2], crypto.hex(crypto.md5(c[1])), c[1])
      assert.are.equal(16, #crypto.md5(c[1]))
    end
  end)

  it("SHA-1: RFC 3174 test cases", function()
    local v = {
      { "abc", "a9993e364706816aba3e25717850c26c9cd0d89d" },
      { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1" },
      { string.rep("a", 1000000), "34aa973cd4c4daa4f61eeb2bdbad27316534016f" },
      { string.rep("0123456701234567012345670123456701234567012345670123456701234567", 10),
        "dea356a2cddd90c7a7ecedc5ebb563934f460452" },
    }
    for _, c in ipairs(v) do
      assert.are.equal(c[2], crypto.hex(crypto.sha1(c[1])))
    end
  end)

  it("SHA-256 and SHA-512: FIPS 180-2 examples", function()
    assert.are.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
      crypto.hex(crypto.sha256("abc")))
    assert.are.equal("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
      crypto.hex(crypto.sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")))
    assert.are.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      crypto.hex(crypto.sha256("")))
    assert.are.equal("ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
      .. "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
      crypto.hex(crypto.sha512("abc")))
  end)

  it("digest(alg, s) names the same algorithms", function()
    for _, alg in ipairs({ "md5", "sha1", "sha256", "sha512" }) do
      assert.are.equal(crypto[alg]("abc"), crypto.digest(alg, "abc"))
    end
    assert.are.equal("23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
      crypto.hex(crypto.digest("sha224", "abc")))
  end)

  it("hash bytes, NUL included", function()
    assert.are_not.equal(crypto.sha256("a\0b"), crypto.sha256("a\0c"))
    assert.are_not.equal(crypto.sha256("a\0b"), crypto.sha256("a"))
  end)
end)

describe("crypto.hmac", function()
  local k20 = string.rep("\11", 20)

  it("RFC 4231 test cases 1, 2, 3 and 6", function()
    local v = {
      { "sha224", k20, "Hi There", "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22" },
      { "sha256", k20, "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
      { "sha384", k20, "Hi There",
        "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6" },
      { "sha512", k20, "Hi There",
        "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
        .. "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854" },
      { "sha256", "Jefe", "what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
      { "sha512", "Jefe", "what do ya want for nothing?",
        "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
        .. "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737" },
      { "sha256", string.rep("\170", 20), string.rep("\221", 50),
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
      { "sha256", string.rep("\170", 131), "Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
    }
    for i, c in ipairs(v) do
      assert.are.equal(c[4], crypto.hex(crypto.hmac(c[1], c[2], c[3])), "vector " .. i)
    end
  end)

  it("HMAC-SHA1 and HMAC-MD5: RFC 2202 test cases 1 and 2", function()
    assert.are.equal("b617318655057264e28bc0b6fb378c8ef146be00", crypto.hex(crypto.hmac("sha1", k20, "Hi There")))
    assert.are.equal("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
      crypto.hex(crypto.hmac("sha1", "Jefe", "what do ya want for nothing?")))
    assert.are.equal("9294727a3638bb1c13f48ef8158bfc9d",
      crypto.hex(crypto.hmac("md5", string.rep("\11", 16), "Hi There")))
    assert.are.equal("750c783e6ab0b503eaa86e310a5db738",
      crypto.hex(crypto.hmac("md5", "Jefe", "what do ya want for nothing?")))
  end)

  it("takes an empty key and empty data", function()
    assert.are.equal("b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad",
      crypto.hex(crypto.hmac("sha256", "", "")))
  end)

  it("raises on an unknown algorithm or a non-string argument", function()
    assert.has_error(function() crypto.hmac("sha3", "k", "d") end)
    local ok, err = pcall(crypto.hmac, "whirlpool", "k", "d")
    assert.is_false(ok)
    assert.truthy(tostring(err):find("unknown algorithm 'whirlpool'", 1, true))
    assert.has_error(function() crypto.hmac("sha256", nil, "d") end)
    assert.has_error(function() crypto.hmac("sha256", "k", 42) end)
    assert.has_error(function() crypto.md5(nil) end)
    assert.has_error(function() crypto.sha1({}) end)
  end)
end)

describe("base64", function()
  local v = {
    { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
    { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
  }

  it("encodes the RFC 4648 §10 vectors", function()
    for _, c in ipairs(v) do assert.are.equal(c[2], crypto.base64_encode(c[1])) end
  end)

  it("decodes the RFC 4648 §10 vectors", function()
    for _, c in ipairs(v) do assert.are.equal(c[1], crypto.base64_decode(c[2])) end
  end)

  it("round-trips every byte and sizes around its internal chunks", function()
    assert.are.equal(t.all_bytes(), crypto.base64_decode(crypto.base64_encode(t.all_bytes())))
    for _, n in ipairs({ 1, 2, 3, 3071, 3072, 3073, 4095, 4096, 4097, 100001 }) do
      local s = t.random_bytes(n)
      local e = crypto.base64_encode(s)
      assert.are.equal(4 * math.ceil(n / 3), #e, "size " .. n)
      assert.is_nil(e:find("[^A-Za-z0-9+/=]"))
      assert.are.equal(s, crypto.base64_decode(e), "size " .. n)
    end
  end)

  it("uses the standard alphabet (+ and /)", function()
    assert.are.equal("+/+/", crypto.base64_encode("\251\255\191"))
  end)

  it("gives nil, err on bad input", function()
    local bad = {
      { "Zm9", "not a multiple of 4" },
      { "Zm9v YmFy", "not a multiple of 4" },
      { "Zm9v\nYmF", "unexpected byte 0x0a at offset 4" },
      { "Zm=v", "padding at offset 2" },
      { "Z===", "padding at offset 1" },
      { "====", "padding at offset 0" },
      { "Zm9-", "unexpected byte 0x2d" },
      { "Zm9_", "unexpected byte 0x5f" },
      { "Zm\0v", "unexpected byte 0x00" },
    }
    for _, c in ipairs(bad) do
      local s, err = crypto.base64_decode(c[1])
      assert.is_nil(s, c[1])
      assert.is_string(err)
      assert.truthy(err:find("invalid base64", 1, true), err)
      assert.truthy(err:find(c[2], 1, true), err)
    end
  end)
end)

describe("crypto.random_bytes", function()
  it("gives n bytes, different each time", function()
    assert.are.equal("", crypto.random_bytes(0))
    assert.are.equal(1, #crypto.random_bytes(1))
    local a, b = crypto.random_bytes(1000), crypto.random_bytes(1000)
    assert.are.equal(1000, #a)
    assert.are_not.equal(a, b)
    -- 100 KiB of random bytes use (nearly) every byte value
    local seen, n = {}, 0
    for c in crypto.random_bytes(100 * 1024):gmatch(".") do
      if not seen[c] then seen[c] = true; n = n + 1 end
    end
    assert.are.equal(256, n)
  end)

  it("raises on a bad count", function()
    assert.has_error(function() crypto.random_bytes(-1) end)
    assert.has_error(function() crypto.random_bytes(1.5) end)
    assert.has_error(function() crypto.random_bytes("x") end)
    assert.has_error(function() crypto.random_bytes(2 ^ 40) end)
  end)
end)

describe("crypto.sign (RSA PKCS#1 v1.5)", function()
  local dir, keys

  setup(function()
    local _, has = t.sh("command -v openssl")
    assert(has, "the openssl command-line tool is needed (Debian package openssl)")
    dir = t.tmpdir()
    local q = function(name) return t.shq(dir .. "/" .. name) end
    local cmds = {
      "openssl genrsa -traditional -out " .. q("pkcs1.pem") .. " 2048",
      "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out " .. q("pkcs8.pem"),
      "openssl pkey -in " .. q("pkcs1.pem") .. " -pubout -out " .. q("pkcs1.pub"),
      "openssl pkey -in " .. q("pkcs8.pem") .. " -pubout -out " .. q("pkcs8.pub"),
      "openssl genrsa -aes128 -passout pass:secret -out " .. q("enc.pem") .. " 2048",
      "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " .. q("ec.pem"),
    }
    for _, c in ipairs(cmds) do
      local out, ok = t.sh(c)
      assert(ok, c .. ": " .. out)
    end
    keys = {}
    for _, n in ipairs({ "pkcs1.pem", "pkcs8.pem", "enc.pem", "ec.pem" }) do
      keys[n] = assert(t.read_file(dir .. "/" .. n))
    end
  end)

  teardown(function() t.rmrf(dir) end)

  local function verify(alg, pub, data, sig)
    t.write_file(dir .. "/data.bin", data)
    t.write_file(dir .. "/sig.bin", sig)
    local out, ok = t.sh("openssl dgst -" .. alg .. " -verify " .. t.shq(dir .. "/" .. pub) ..
      " -signature " .. t.shq(dir .. "/sig.bin") .. " " .. t.shq(dir .. "/data.bin"))
    return ok and out:find("Verified OK", 1, true) ~= nil, out
  end

  it("reads both PEM forms and its signatures verify with openssl", function()
    assert.truthy(keys["pkcs1.pem"]:find("BEGIN RSA PRIVATE KEY", 1, true))
    assert.truthy(keys["pkcs8.pem"]:find("BEGIN PRIVATE KEY", 1, true))
    local data = "policy \0 with every byte " .. t.all_bytes()
    for _, c in ipairs({ { "pkcs1", 256 }, { "pkcs8", 384 } }) do
      for _, alg in ipairs({ "sha1", "sha256" }) do
        local sig, err = crypto.sign(alg, keys[c[1] .. ".pem"], data)
        assert.is_nil(err)
        assert.are.equal(c[2], #sig)
        local ok, out = verify(alg, c[1] .. ".pub", data, sig)
        assert(ok, c[1] .. "/" .. alg .. ": " .. out)
        -- and not for other data or the other digest
        assert.is_false((verify(alg, c[1] .. ".pub", data .. "x", sig)))
        assert.is_false((verify(alg == "sha1" and "sha256" or "sha1", c[1] .. ".pub", data, sig)))
      end
    end
  end)

  it("gives the same bytes as openssl dgst -sign (PKCS#1 v1.5 is deterministic)", function()
    local data = "The quick brown fox"
    t.write_file(dir .. "/data.bin", data)
    for _, alg in ipairs({ "sha1", "sha256" }) do
      local out, ok = t.sh("openssl dgst -" .. alg .. " -sign " .. t.shq(dir .. "/pkcs1.pem") ..
        " -out " .. t.shq(dir .. "/ref.bin") .. " " .. t.shq(dir .. "/data.bin"))
      assert(ok, out)
      assert.are.equal(t.read_file(dir .. "/ref.bin"), crypto.sign(alg, keys["pkcs1.pem"], data))
    end
  end)

  it("signs empty data", function()
    local sig = assert(crypto.sign("sha256", keys["pkcs1.pem"], ""))
    assert.is_true((verify("sha256", "pkcs1.pub", "", sig)))
  end)

  it("a malformed or unusable key gives nil and a clear error, never a crash", function()
    local body = keys["pkcs1.pem"]:match("%-%-%-%-%-\n(.-)\n%-%-%-%-%-END")
    local damaged = "-----BEGIN RSA PRIVATE KEY-----\n" .. body:sub(1, 200) .. "\n-----END RSA PRIVATE KEY-----\n"
    local cases = {
      { "", "no -----BEGIN ... PRIVATE KEY----- line" },
      { "not a key at all", "no -----BEGIN ... PRIVATE KEY----- line" },
      { "-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----\n", "malformed PEM private key" },
      { damaged, "malformed PEM private key" },
      { keys["pkcs1.pem"]:sub(1, 300), "malformed PEM private key" },
      { keys["enc.pem"], "encrypted keys are not supported" },
      { keys["ec.pem"], "not an RSA key" },
      { t.read_file(dir .. "/pkcs1.pub"), "no -----BEGIN ... PRIVATE KEY----- line" },
    }
    for i, c in ipairs(cases) do
      local sig, err = crypto.sign("sha256", c[1], "data")
      assert.is_nil(sig, "case " .. i)
      assert.is_string(err)
      assert.truthy(err:find(c[2], 1, true), "case " .. i .. ": " .. err)
      -- no key material in the message
      assert.is_nil(err:find(body:sub(1, 20), 1, true))
    end
    -- and the module still works afterwards (the error queue was emptied)
    assert.truthy(crypto.sign("sha1", keys["pkcs1.pem"], "x"))
  end)

  it("raises on misuse: unknown or unsuitable algorithm, wrong types", function()
    assert.has_error(function() crypto.sign("md5", keys["pkcs1.pem"], "d") end)
    assert.has_error(function() crypto.sign("nosuch", keys["pkcs1.pem"], "d") end)
    assert.has_error(function() crypto.sign("sha1", nil, "d") end)
    assert.has_error(function() crypto.sign("sha1", keys["pkcs1.pem"], nil) end)
  end)
end)
