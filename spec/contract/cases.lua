-- The conformance cases, run over one driver (see contract_spec.lua).
--
-- Every case of the reference suite (reference/drivers.md §11) plus ours
-- (paths, walk, errors, readers and writers).  After every case List("/")
-- must be empty, as in the reference: each case records the top-level
-- entries it creates and after_each deletes them, then checks.
--
-- Called as cases(T, entry): T carries busted's functions (a required module
-- does not see them as globals), entry describes the driver:
--   entry.label, entry.create() -> driver, entry.caps = {
--     atomic_writer = bool,   -- uncommitted writes never visible at the path
--     walk_order = "depth" | "key",  -- "depth": the generic depth-first walk
--     append_chunk = bytes,   -- chunk size of TestContinueStreamAppendLarge
--     mtime_resolution = s,   -- granularity of modtime (S3's Last-Modified: 1)
--   }

local sd = require "storagedriver"
local t = require "sdtest"
local assert = require "luassert"

local MiB, KiB = t.MiB, t.KiB
-- curl for redirect URLs: never the sanitizer preload of `make sanitize`
-- (curl deadlocks under it), never forever.
local CURL = "env -u LD_PRELOAD curl -sS -k --max-time 60 "

return function(T, entry)
  local describe, it = T.describe, T.it
  local before_each, after_each = T.before_each, T.after_each
  local lazy_setup, lazy_teardown = T.lazy_setup, T.lazy_teardown
  local caps = entry.caps or {}

  local d, name
  local roots = {}

  lazy_setup(function()
    local drv, err = entry.create()
    assert(drv, "cannot create driver " .. entry.label .. ": " .. tostring(err))
    d = drv
    name = d:name()
  end)

  lazy_teardown(function()
    d = nil
    collectgarbage()
    if entry.destroy then entry.destroy() end
  end)

  -- Records the top-level entry of p for cleanup; returns p.
  local function track(p)
    roots[#roots + 1] = t.first_part(p)
    return p
  end

  after_each(function()
    local problems = {}
    for _, r in ipairs(roots) do
      local ok, err = d:delete(r)
      if not ok and not (type(err) == "table" and err.kind == "PathNotFound") then
        problems[#problems + 1] = "delete " .. r .. ": " .. tostring(err)
      end
    end
    roots = {}
    local left, err = d:list("/")
    -- Remove leftovers so that only the case at fault fails.
    if type(left) == "table" then
      for _, p in ipairs(left) do d:delete(p) end
    end
    assert.are.same({}, problems, "cleanup failed")
    assert.is_table(left, "List(\"/\") failed after the case: " .. tostring(err))
    assert.are.same({}, left, "did not clean up properly")
  end)

  ------------------------------------------------------------ helpers

  -- v, or fails with err's text.
  local function must(v, err, what)
    if v == nil or v == false then
      error((what and (what .. ": ") or "") .. "unexpected failure: " .. tostring(err), 2)
    end
    return v
  end

  local function put(p, data)
    local ok, err = d:put_content(track(p), data)
    return must(ok, err, "put " .. p)
  end

  local function get(p)
    local s, err = d:get_content(p)
    return must(s, err, "get " .. p)
  end

  local function not_found(p, v, err)
    return t.check_err("PathNotFound", { driver = name, path = p }, v, err, p)
  end

  -- Reads r to its end in pieces of n bytes; checks that no read fails.
  local function read_all(r, n)
    local parts = {}
    while true do
      local s, err = r:read(n or 64 * KiB)
      if s == nil then
        assert.is_nil(err, "read failed: " .. tostring(err))
        break
      end
      assert.is_string(s)
      parts[#parts + 1] = s
    end
    return table.concat(parts)
  end

  -- Streams data through a new writer in pieces, commits and closes.
  local function stream(p, data, piece)
    piece = piece or 32 * KiB
    local w = must(d:writer(track(p), false))
    local pos = 1
    while pos <= #data do
      must(w:write(data:sub(pos, pos + piece - 1)))
      pos = pos + piece
    end
    must(w:commit())
    must(w:close())
    assert.are.equal(#data, w:size())
    return w
  end

  local function write_read(data)
    local p = t.random_path(32)
    put(p, data)
    local got = get(p)
    assert.are.equal(#data, #got)
    assert.is_true(data == got, "content differs")
  end

  local function write_read_stream(data)
    local p = t.random_path(32)
    stream(p, data)
    local r = must(d:reader(p, 0))
    local got = read_all(r)
    r:close()
    assert.are.equal(#data, #got)
    assert.is_true(data == got, "content differs")
  end

  ---------------------------------------------------- reference suite

  it("TestRootExists", function()
    local l, err = d:list("/")
    assert.is_table(l, "List(\"/\"): " .. tostring(err))
    assert.are.same({}, l)
  end)

  local valid_paths = {
    "/a", "/2", "/aa", "/a.a", "/0-9/abcdefg", "/abcdefg/z.75",
    "/abc/1.2.3.4.5-6_zyx/123.z/4", "/docker/docker-registry", "/123.abc",
    "/abc./abc", "/.abc", "/a--b", "/a-.b", "/_.abc",
    "/Docker/docker-registry", "/Abc/Cba",
  }

  it("TestValidPaths", function()
    local contents = {}
    for i, p in ipairs(valid_paths) do
      contents[i] = t.random_bytes(64)
      put(p, contents[i])
    end
    -- Read all back only after writing all: keys are case-sensitive
    -- (/Docker/... and /docker/... are different files).
    for i, p in ipairs(valid_paths) do
      assert.is_true(get(p) == contents[i], "content of " .. p)
    end
  end)

  local invalid_paths = { "", "/", "abc", "123.abc", "//bcd", "/abc_123/" }

  it("TestInvalidPaths", function()
    for _, p in ipairs(invalid_paths) do
      t.check_err("InvalidPath", { driver = name, path = p }, d:put_content(p, "x"))
      t.check_err("InvalidPath", { driver = name, path = p }, d:get_content(p))
    end
  end)

  it("TestWriteRead1", function() write_read("a") end)
  it("TestWriteRead2", function() write_read("\xc3\x9f") end)
  it("TestWriteRead3", function() write_read(t.random_bytes(32)) end)
  it("TestWriteRead4", function() write_read(t.random_bytes(MiB)) end)
  it("TestWriteReadNonUTF8", function() write_read("\x80\x80\x80\x80") end)

  it("TestTruncate", function()
    local p = t.random_path(32)
    put(p, t.random_bytes(MiB))
    local short = t.random_bytes(KiB)
    put(p, short)
    local got = get(p)
    assert.are.equal(KiB, #got)
    assert.is_true(got == short)
  end)

  it("TestReadNonexistent", function()
    local p = t.random_path(32)
    not_found(p, d:get_content(p))
  end)

  it("TestWriteReadStreams1", function() write_read_stream("a") end)
  it("TestWriteReadStreams2", function() write_read_stream("\xc3\x9f") end)
  it("TestWriteReadStreams3", function() write_read_stream(t.random_bytes(32)) end)
  it("TestWriteReadStreams4", function() write_read_stream(t.random_bytes(MiB)) end)
  it("TestWriteReadStreamsNonUTF8", function() write_read_stream("\x80\x80\x80\x80") end)

  it("TestWriteReadLargeStreams #large", function()
    local total = tonumber(os.getenv("SD_LARGE_SIZE") or "") or 5 * t.GiB
    local chunk = MiB
    local nchunks = math.ceil(total / chunk)
    local p = track(t.random_path(32))
    local w = must(d:writer(p, false))
    local sum_in = t.checksum()
    local written = 0
    for i = 1, nchunks do
      local c = t.chunk(i, chunk)
      if written + #c > total then c = c:sub(1, total - written) end
      sum_in.feed(c)
      must(w:write(c))
      written = written + #c
    end
    must(w:commit())
    must(w:close())
    assert.are.equal(total, w:size())

    -- Read back in pieces of another size; compare every byte with the
    -- regenerated stream and fold the expected chunks into a checksum.
    local r = must(d:reader(p, 0))
    local sum_out = t.checksum()
    local exp, epos, nexti, got_total = "", 1, 1, 0
    while true do
      local s, err = r:read(3 * 256 * KiB + 7)
      if s == nil then
        assert.is_nil(err, tostring(err))
        break
      end
      while #exp - epos + 1 < #s and nexti <= nchunks do
        local c = t.chunk(nexti, chunk)
        local done = (nexti - 1) * chunk
        if done + #c > total then c = c:sub(1, total - done) end
        sum_out.feed(c)
        exp = exp:sub(epos) .. c
        epos = 1
        nexti = nexti + 1
      end
      if s ~= exp:sub(epos, epos + #s - 1) then
        error("content differs in the " .. #s .. " bytes at offset " .. got_total)
      end
      epos = epos + #s
      got_total = got_total + #s
    end
    r:close()
    assert.are.equal(total, got_total)
    local a, an = sum_in.value()
    local b, bn = sum_out.value()
    assert.are.equal(a, b)
    assert.are.equal(an, bn)
    local st = must(d:stat(p))
    assert.are.equal(total, st.size)
  end)

  it("TestReaderWithOffset", function()
    local p = t.random_path(32)
    local c1, c2, c3 = t.random_bytes(32), t.random_bytes(32), t.random_bytes(32)
    local content = c1 .. c2 .. c3
    put(p, content)

    local r = must(d:reader(p, 0))
    assert.is_true(read_all(r) == content)
    r:close()

    r = must(d:reader(p, 32))
    assert.is_true(read_all(r) == c2 .. c3)
    r:close()

    r = must(d:reader(p, 64))
    assert.is_true(read_all(r) == c3)
    r:close()

    -- A negative offset is InvalidOffset and no reader.
    local err = t.check_err("InvalidOffset", { driver = name, path = p, offset = -1 }, d:reader(p, -1))
    assert.are.equal(name .. ": invalid offset: -1 for path: " .. p, tostring(err))

    -- offset == size: no error, and the first read is the end of the data.
    r = must(d:reader(p, 96))
    local s, e = r:read(10)
    assert.is_nil(s)
    assert.is_nil(e)
    r:close()

    -- offset == size - 1: one byte, then the end.
    r = must(d:reader(p, 95))
    s = must(r:read(10))
    assert.are.equal(content:sub(96), s)
    assert.is_nil(r:read(10))
    r:close()
  end)

  local function continue_append(chunk)
    local p = track(t.random_path(32))
    local a, b, c = t.random_bytes(chunk), t.random_bytes(chunk), t.random_bytes(chunk)

    local w = must(d:writer(p, false))
    must(w:write(a))
    must(w:close())
    assert.are.equal(chunk, w:size())

    w = must(d:writer(p, true))
    assert.are.equal(chunk, w:size())
    must(w:write(b))
    must(w:close())
    assert.are.equal(2 * chunk, w:size())

    w = must(d:writer(p, true))
    assert.are.equal(2 * chunk, w:size())
    must(w:write(c))
    must(w:commit())
    must(w:close())
    assert.are.equal(3 * chunk, w:size())

    local got = get(p)
    assert.are.equal(3 * chunk, #got)
    assert.is_true(got == a .. b .. c, "content differs")
  end

  it("TestContinueStreamAppendLarge", function()
    continue_append(caps.append_chunk or 10 * MiB)
  end)

  it("TestContinueStreamAppendSmall", function()
    continue_append(32)
  end)

  it("TestReadNonexistentStream", function()
    local p = t.random_path(32)
    not_found(p, d:reader(p, 0))
    not_found(p, d:reader(p, 64))
  end)

  local function zero_then_append(make_empty)
    local p = track(t.random_path(32))
    make_empty(p)
    assert.are.equal("", get(p))
    local r = must(d:reader(p, 0))
    assert.is_nil(r:read(10))
    r:close()

    local content = t.random_bytes(32)
    local w = must(d:writer(p, true))
    must(w:write(content))
    must(w:commit())
    must(w:close())
    assert.are.equal(32, w:size())
    assert.is_true(get(p) == content)
  end

  it("TestWriteZeroByteStreamThenAppend", function()
    zero_then_append(function(p)
      local w = must(d:writer(p, false))
      must(w:commit())
      must(w:close())
      assert.are.equal(0, w:size())
    end)
  end)

  it("TestWriteZeroByteContentThenAppend", function()
    zero_then_append(function(p) must(d:put_content(p, "")) end)
  end)

  it("TestList", function()
    local root = track("/" .. t.random_name(math.random(8, 15)))
    local missing = root .. "/" .. t.random_name(math.random(8, 15))
    local err = not_found(missing, d:list(missing))
    assert.are.equal(name, err.driver)

    local parent = root .. "/" .. t.random_name(math.random(8, 15))
    local children, seen = {}, {}
    while #children < 50 do
      local c = parent .. "/" .. t.random_name(math.random(8, 15))
      if not seen[c] then
        seen[c] = true
        children[#children + 1] = c
        put(c, t.random_bytes(32))
      end
    end
    assert.are.same({ root }, must(d:list("/")))
    assert.are.same({ parent }, must(d:list(root)))
    -- Our contract: list is sorted (byte order), so compare exactly.
    assert.are.same(t.sorted(children), must(d:list(parent)))
  end)

  it("TestMove", function()
    local src, dst = t.random_path(32), t.random_path(32)
    local content = t.random_bytes(32)
    put(src, content)
    track(dst)
    must(d:move(src, dst))
    assert.is_true(get(dst) == content)
    not_found(src, d:get_content(src))
  end)

  it("TestMoveOverwrite", function()
    local src, dst = t.random_path(32), t.random_path(32)
    local content = t.random_bytes(32)
    put(src, content)
    put(dst, t.random_bytes(64))
    must(d:move(src, dst))
    local got = get(dst)
    assert.are.equal(32, #got)
    assert.is_true(got == content)
    not_found(src, d:get_content(src))
  end)

  it("TestMoveNonexistent", function()
    local src, dst = t.random_path(32), t.random_path(32)
    local content = t.random_bytes(32)
    put(dst, content)
    t.check_err("PathNotFound", { driver = name }, d:move(src, dst))
    assert.is_true(get(dst) == content, "the destination changed")
  end)

  it("TestMoveInvalid", function()
    local file = "/" .. t.random_name(12) .. "notadir"
    put(file, t.random_bytes(32))
    local v, err = d:move(file .. "/foo", file .. "/bar")
    assert.is_nil(v)
    assert.is_true(sd.is_error(err), "expected an error object, got " .. t.show(err))
    assert.are.equal(name, err.driver)
  end)

  it("TestDelete", function()
    local p = t.random_path(32)
    put(p, t.random_bytes(32))
    assert.is_true(d:delete(p))
    not_found(p, d:get_content(p))
  end)

  it("TestRedirectURL (nil, nil or a URL)", function()
    local p = t.random_path(32)
    local content = t.random_bytes(32)
    put(p, content)
    for _, method in ipairs({ "GET", "HEAD" }) do
      local url, err = d:redirect_url(p, { method = method, expiry = 1200 })
      assert.is_nil(err, "redirect_url " .. method .. ": " .. tostring(err))
      if url ~= nil then
        assert.is_string(url)
        assert.truthy(url:match("^https?://"), "not a URL: " .. url)
        if method == "GET" then
          local tmp = t.tmpname()
          local _, ok = t.sh(CURL .. "-o " .. t.shq(tmp) .. " " .. t.shq(url))
          local body = t.read_file(tmp)
          os.remove(tmp)
          assert.is_true(ok, "GET " .. url .. " failed")
          assert.is_true(body == content, "GET of the redirect URL returned other bytes")
        else
          local out, ok = t.sh(CURL .. "-I " .. t.shq(url))
          assert.is_true(ok, "HEAD " .. url .. " failed")
          assert.truthy(out:match("^HTTP/[%d.]+ 200"), out)
          assert.truthy(out:lower():match("\ncontent%-length: 32\r?\n"), out)
        end
      end
    end
    -- The default options are GET.
    local url, err = d:redirect_url(p)
    assert.is_nil(err)
    assert.is_true(url == nil or type(url) == "string")
  end)

  it("TestDeleteNonexistent", function()
    local p = t.random_path(32)
    not_found(p, d:delete(p))
  end)

  it("TestDeleteFolder", function()
    local dir = t.random_path(32)
    local f1, f2, f3 = dir .. t.random_path(32), dir .. t.random_path(32), dir .. t.random_path(32)
    put(f1, t.random_bytes(32))
    put(f2, t.random_bytes(32))
    put(f3, t.random_bytes(32))

    assert.is_true(d:delete(f1))
    not_found(f1, d:get_content(f1))
    get(f2)
    get(f3)

    assert.is_true(d:delete(dir))
    not_found(f1, d:get_content(f1))
    not_found(f2, d:get_content(f2))
    not_found(f3, d:get_content(f3))
  end)

  it("TestDeleteOnlyDeletesSubpaths", function()
    local dir = t.random_path(32)
    local fname = t.random_name(12)
    local sub = t.random_name(12)
    local f, fs = dir .. "/" .. fname, dir .. "/" .. fname .. "suffix"
    local sf, ssf = dir .. "/" .. sub .. "/" .. fname, dir .. "/" .. sub .. "suffix/" .. fname
    for _, p in ipairs({ f, fs, sf, ssf }) do put(p, t.random_bytes(32)) end

    assert.is_true(d:delete(f))
    not_found(f, d:get_content(f))
    get(fs)

    assert.is_true(d:delete(dir .. "/" .. sub))
    not_found(sf, d:get_content(sf))
    get(ssf)
  end)

  local function stat_call(pause1, pause2)
    local dir = track(t.random_path(32))
    local file = dir .. "/" .. t.random_name(12)
    not_found(dir, d:stat(dir))
    not_found(file, d:stat(file))

    must(d:put_content(file, t.random_bytes(4096)))
    local fi = must(d:stat(file))
    assert.are.equal(file, fi.path)
    assert.are.equal(4096, fi.size)
    assert.is_false(fi.is_dir)
    assert.is_number(fi.modtime)

    -- A backend with whole-second times needs more than a second to show a
    -- later modtime (the reference pauses 10 s anyway).
    t.sleep(math.max(pause1, (caps.mtime_resolution or 0) * 1.1))
    must(d:put_content(file, t.random_bytes(4096)))
    local fi2 = must(d:stat(file))
    if pause2 > 0 then t.sleep(pause2) end
    assert.is_true(fi2.modtime > fi.modtime,
      string.format("modtime did not advance: %.6f then %.6f", fi.modtime, fi2.modtime))

    local di = must(d:stat(dir))
    assert.are.equal(dir, di.path)
    assert.are.equal(0, di.size)
    assert.is_true(di.is_dir)

    -- Stat("/") is a health check: it succeeds (a directory) or is PathNotFound.
    local ri, err = d:stat("/")
    if ri then
      assert.is_true(ri.is_dir)
    else
      not_found("/", ri, err)
    end
  end

  it("TestStatCall", function() stat_call(0.05, 0) end)
  it("TestStatCall with the reference's 10 s and 5 s pauses #slow", function() stat_call(10, 5) end)

  it("TestPutContentMultipleTimes", function()
    local p = t.random_path(32)
    put(p, t.random_bytes(4096))
    local second = t.random_bytes(2048)
    put(p, second)
    local got = get(p)
    assert.are.equal(2048, #got)
    assert.is_true(got == second)
  end)

  -- Readers at random offsets, interleaved round-robin.
  local function concurrent_reads(size, nreaders)
    local p = t.random_path(32)
    local content = t.random_bytes(size)
    put(p, content)
    local readers = {}
    for i = 1, nreaders do
      local off = math.random(0, size - 1)
      readers[i] = { r = must(d:reader(p, off)), pos = off + 1 }
    end
    local active = nreaders
    while active > 0 do
      for _, rd in ipairs(readers) do
        if rd.r then
          local s, err = rd.r:read(256 * KiB)
          if s == nil then
            assert.is_nil(err, tostring(err))
            assert.are.equal(size + 1, rd.pos, "reader ended early")
            rd.r:close()
            rd.r = nil
            active = active - 1
          else
            if s ~= content:sub(rd.pos, rd.pos + #s - 1) then
              error("reader got wrong bytes at offset " .. (rd.pos - 1))
            end
            rd.pos = rd.pos + #s
          end
        end
      end
    end
  end

  it("TestConcurrentStreamReads", function() concurrent_reads(10 * MiB, 10) end)
  it("TestConcurrentStreamReads full size #large", function() concurrent_reads(128 * MiB, 10) end)

  -- Writers fed from OS files, interleaved round-robin, then read back.
  local function concurrent_streams(nstreams, size)
    local piece = 256 * KiB
    local npieces = math.ceil(size / piece)
    local streams = {}
    local function expected(i, k) return t.chunk(i * 1000 + k, piece) end
    for i = 1, nstreams do
      local tmp = t.tmpname()
      local f = assert(io.open(tmp, "wb"))
      for k = 1, npieces do f:write(expected(i, k)) end
      f:close()
      local p = track(t.random_path(32))
      streams[i] = { tmp = tmp, f = assert(io.open(tmp, "rb")), w = must(d:writer(p, false)), p = p }
    end
    local active = nstreams
    while active > 0 do
      for _, st in ipairs(streams) do
        if st.f then
          local s = st.f:read(piece)
          if s then
            must(st.w:write(s))
          else
            st.f:close()
            st.f = nil
            os.remove(st.tmp)
            must(st.w:commit())
            must(st.w:close())
            assert.are.equal(npieces * piece, st.w:size())
            active = active - 1
          end
        end
      end
    end
    for i, st in ipairs(streams) do
      local r = must(d:reader(st.p, 0))
      for k = 1, npieces do
        local s = r:read(piece)
        if s ~= expected(i, k) then
          error("stream " .. i .. " differs in piece " .. k)
        end
      end
      assert.is_nil(r:read(1))
      r:close()
    end
  end

  it("TestConcurrentFileStreams", function() concurrent_streams(8, 8 * MiB) end)
  it("TestConcurrentFileStreams full size #large", function() concurrent_streams(32, 32 * MiB) end)

  ---------------------------------------------------------- ours: paths

  describe("paths", function()
    local bad = { "/a/../b", "/.", "/..", "/a/./b", "/a\0b", "/a\0", "/a/..", "/./a" }

    it("traversal components and NUL bytes are InvalidPath on every method", function()
      for _, p in ipairs(bad) do
        local f = { driver = name, path = p }
        t.check_err("InvalidPath", f, d:put_content(p, "x"))
        t.check_err("InvalidPath", f, d:get_content(p))
        t.check_err("InvalidPath", f, d:reader(p, 0))
        t.check_err("InvalidPath", f, d:writer(p, false))
        t.check_err("InvalidPath", f, d:stat(p))
        t.check_err("InvalidPath", f, d:list(p))
        t.check_err("InvalidPath", f, d:delete(p))
        t.check_err("InvalidPath", f, d:move(p, "/x"))
        t.check_err("InvalidPath", f, d:redirect_url(p))
        t.check_err("InvalidPath", f, d:walk(p, function() end))
      end
    end)

    it("the error text holds the full path, NUL bytes included", function()
      local err = t.check_err("InvalidPath", { driver = name, path = "/a\0b" }, d:get_content("/a\0b"))
      assert.are.equal(name .. ": invalid path: /a\0b", tostring(err))
      err = t.check_err("InvalidPath", { driver = name, path = "/a/../b" }, d:get_content("/a/../b"))
      assert.are.equal(name .. ": invalid path: /a/../b", tostring(err))
    end)

    it("components that only contain dots are fine when not . or ..", function()
      for _, p in ipairs({ "/...", "/..a", "/a..", "/.a/b." }) do
        put(p, p)
        assert.are.equal(p, get(p))
      end
    end)

    it("nested directories of the same name", function()
      local root = track("/" .. t.random_name(10))
      put(root .. "/x/x/y", "y")
      put(root .. "/x/f", "f")
      put(root .. "/x/x/x/x", "xx")
      assert.are.equal("y", get(root .. "/x/x/y"))
      assert.are.equal("f", get(root .. "/x/f"))
      assert.are.equal("xx", get(root .. "/x/x/x/x"))
      assert.are.same({ root .. "/x/f", root .. "/x/x" }, must(d:list(root .. "/x")))
      assert.are.same({ root .. "/x/x/x", root .. "/x/x/y" }, must(d:list(root .. "/x/x")))
      assert.are.same({ root .. "/x/x/x/x" }, must(d:list(root .. "/x/x/x")))
    end)

    it("list is sorted in byte order", function()
      local root = track("/" .. t.random_name(10))
      for _, n in ipairs({ "B", "_x", "-y", ".z", "0", "Z9", "a-b", "a.b" }) do
        put(root .. "/" .. n, n)
      end
      put(root .. "/a/inner", "a directory")
      local want = {}
      for _, n in ipairs({ "-y", ".z", "0", "B", "Z9", "_x", "a", "a-b", "a.b" }) do
        want[#want + 1] = root .. "/" .. n
      end
      assert.are.same(want, must(d:list(root)))
    end)

    it("list of an empty store is an empty table", function()
      assert.are.same({}, must(d:list("/")))
    end)

    it("list and walk of a missing directory are PathNotFound naming it", function()
      local p = "/" .. t.random_name(12) .. "/sub"
      not_found(p, d:list(p))
      not_found(p, d:walk(p, function() end))
    end)

    it("stat of a directory: is_dir, size 0", function()
      local root = track("/" .. t.random_name(10))
      put(root .. "/dir/file", t.random_bytes(100))
      local fi = must(d:stat(root .. "/dir"))
      assert.are.same({ path = root .. "/dir", size = 0, is_dir = true },
        { path = fi.path, size = fi.size, is_dir = fi.is_dir })
      fi = must(d:stat(root .. "/dir/file"))
      assert.are.same({ path = root .. "/dir/file", size = 100, is_dir = false },
        { path = fi.path, size = fi.size, is_dir = fi.is_dir })
    end)
  end)

  ------------------------------------------------------- ours: content

  describe("content", function()
    it("every byte value round trips, through put and through a stream", function()
      local data = t.all_bytes()
      write_read(data)
      write_read_stream(data)
      write_read_stream(data .. "\0")
    end)

    it("put_content replaces: a shorter second put leaves no tail", function()
      local p = t.random_path(20)
      put(p, "0123456789")
      put(p, "abc")
      assert.are.equal("abc", get(p))
      put(p, "")
      assert.are.equal("", get(p))
    end)

    it("delete /a leaves /ab and /a-b", function()
      local a = "/" .. t.random_name(10)
      put(a, "a")
      put(a .. "b", "ab")
      put(a .. "-b/c", "a-b/c")
      assert.is_true(d:delete(a))
      not_found(a, d:get_content(a))
      assert.are.equal("ab", get(a .. "b"))
      assert.are.equal("a-b/c", get(a .. "-b/c"))
      -- the same with /a a directory
      put(a .. "/c", "a/c")
      assert.is_true(d:delete(a))
      not_found(a .. "/c", d:get_content(a .. "/c"))
      not_found(a, d:stat(a))
      assert.are.equal("ab", get(a .. "b"))
      assert.are.equal("a-b/c", get(a .. "-b/c"))
    end)

    it("move of a missing file leaves the destination alone", function()
      local dst = t.random_path(20)
      put(dst, "keep")
      local src = "/" .. t.random_name(12)
      t.check_err("PathNotFound", { driver = name }, d:move(src, dst))
      assert.are.equal("keep", get(dst))
      not_found(src, d:get_content(src))
    end)

    it("move onto an existing file replaces it", function()
      local root = track("/" .. t.random_name(10))
      put(root .. "/src", "new")
      put(root .. "/dst", "old content")
      assert.is_true(d:move(root .. "/src", root .. "/dst"))
      assert.are.equal("new", get(root .. "/dst"))
      assert.are.equal(3, must(d:stat(root .. "/dst")).size)
      assert.are.same({ root .. "/dst" }, must(d:list(root)))
    end)

    it("put_content with a non-string raises", function()
      local p = "/" .. t.random_name(10)
      assert.has_error(function() d:put_content(p, {}) end)
      assert.has_error(function() d:put_content(p, nil) end)
      not_found(p, d:get_content(p))
    end)

    it("a non-string path raises", function()
      assert.has_error(function() d:get_content({}) end)
      assert.has_error(function() d:get_content(nil) end)
      assert.has_error(function() d:stat(true) end)
    end)
  end)

  ------------------------------------------------------- ours: readers

  describe("readers", function()
    local p, content
    before_each(function()
      p = t.random_path(24)
      content = t.random_bytes(96)
      put(p, content)
    end)

    for _, off in ipairs({ 0, 32, 64, 95, 96, 200 }) do
      it("offset " .. off .. " reads the rest", function()
        local r = must(d:reader(p, off))
        assert.are.equal(content:sub(off + 1), read_all(r, 7))
        assert.is_nil(r:read(1))
        r:close()
      end)
    end

    it("offset defaults to 0", function()
      local r = must(d:reader(p))
      assert.are.equal(content, read_all(r))
      r:close()
    end)

    it("negative offset is InvalidOffset with err.offset == -1", function()
      local err = t.check_err("InvalidOffset", { driver = name, path = p, offset = -1 }, d:reader(p, -1))
      assert.are.equal(name .. ": invalid offset: -1 for path: " .. p, tostring(err))
      if math.type then assert.are.equal("integer", math.type(err.offset)) end
      t.check_err("InvalidOffset", { driver = name, path = p, offset = -7 }, d:reader(p, -7))
    end)

    it("negative offset is checked before the path", function()
      t.check_err("InvalidOffset", { driver = name, path = "bad", offset = -1 }, d:reader("bad", -1))
    end)

    it("read(n) returns exactly n bytes while there are that many", function()
      local r = must(d:reader(p, 0))
      assert.are.equal(content:sub(1, 10), r:read(10))
      assert.are.equal(content:sub(11, 50), r:read(40))
      assert.are.equal(content:sub(51, 96), r:read(1000))
      assert.is_nil(r:read(1000))
      r:close()
    end)

    it("read(0) is \"\" before the end and nil at the end", function()
      local r = must(d:reader(p, 90))
      assert.are.equal("", r:read(0))
      assert.are.equal(content:sub(91), r:read(6))
      assert.is_nil(r:read(0))
      r:close()
    end)

    it("read(\"a\") returns the rest, \"\" at the end", function()
      local r = must(d:reader(p, 0))
      assert.are.equal(content:sub(1, 5), r:read(5))
      assert.are.equal(content:sub(6), r:read("a"))
      assert.are.equal("", r:read("a"))
      assert.are.equal("", r:read("*a"))
      r:close()
      r = must(d:reader(p, 50))
      assert.are.equal(content:sub(51), r:read("*a"))
      r:close()
    end)

    it("close twice is true; read after close raises", function()
      local r = must(d:reader(p, 0))
      assert.is_true(r:close())
      assert.is_true(r:close())
      local msg = t.raises(function() return r:read(1) end)
      assert.truthy(tostring(msg):find("attempt to use a closed reader", 1, true), tostring(msg))
    end)

    it("misuse raises: read(-1), read(1.5), read({}), reader(p, 1.5), walk without a function", function()
      local r = must(d:reader(p, 0))
      assert.has_error(function() r:read(-1) end)
      assert.has_error(function() r:read(1.5) end)
      assert.has_error(function() r:read({}) end)
      assert.are.equal(content:sub(1, 4), r:read(4))   -- still usable
      r:close()
      assert.has_error(function() d:reader(p, 1.5) end)
      assert.has_error(function() d:reader(p, "x") end)
      assert.has_error(function() d:walk(p, "not a function") end)
    end)

    it("interleaved readers on one file each see their own position", function()
      local r1 = must(d:reader(p, 0))
      local r2 = must(d:reader(p, 10))
      local r3 = must(d:reader(p, 0))
      local a, b, c = {}, {}, {}
      local live = 3
      while live > 0 do
        live = 0
        local s = r1:read(7)
        if s then a[#a + 1] = s; live = live + 1 end
        s = r2:read(5)
        if s then b[#b + 1] = s; live = live + 1 end
        s = r3:read(13)
        if s then c[#c + 1] = s; live = live + 1 end
      end
      assert.are.equal(content, table.concat(a))
      assert.are.equal(content:sub(11), table.concat(b))
      assert.are.equal(content, table.concat(c))
      r1:close(); r2:close(); r3:close()
    end)

    it("an open reader is not disturbed by a put to the same path", function()
      local r = must(d:reader(p, 0))
      local first = r:read(10)
      put(p, content)                 -- same bytes: any consistent view is right
      assert.are.equal(content:sub(1, 10), first)
      assert.are.equal(content:sub(11), read_all(r))
      r:close()
    end)
  end)

  ------------------------------------------------------- ours: writers

  describe("writers", function()
    local function fresh()
      local p = track(t.random_path(24))
      return p, must(d:writer(p, false))
    end

    local function msg_of(f)
      local m = t.raises(f)
      return tostring(m)
    end

    it("write returns the writer and takes several strings and numbers", function()
      local p, w = fresh()
      assert.are.equal(w, w:write("abc", "de"))
      assert.are.equal(w, w:write(12))
      assert.are.equal(w, w:write(""))
      assert.are.equal(7, w:size())
      must(w:commit())
      assert.is_true(w:close())
      assert.are.equal("abcde12", get(p))
      assert.are.equal(7, w:size())
    end)

    it("write of a table or a boolean raises", function()
      local p, w = fresh()
      assert.has_error(function() w:write({}) end)
      assert.has_error(function() w:write(true) end)
      must(w:cancel())
      not_found(p, d:get_content(p))
    end)

    it("after close: write, commit, cancel and close raise \"already closed\"", function()
      local p, w = fresh()
      must(w:write("abc"))
      assert.is_true(w:close())
      local want = name .. ": already closed"
      assert.are.equal(want, msg_of(function() w:write("x") end))
      assert.are.equal(want, msg_of(function() w:commit() end))
      assert.are.equal(want, msg_of(function() w:cancel() end))
      assert.are.equal(want, msg_of(function() w:close() end))
      assert.are.equal(3, w:size())
      -- Tidy the resumable upload away.
      local w2 = must(d:writer(p, true))
      assert.are.equal(3, w2:size())
      must(w2:cancel())
    end)

    it("after commit: write, commit, cancel raise \"already committed\"; close is true", function()
      local p, w = fresh()
      must(w:write("abc"))
      assert.is_true(w:commit())
      local want = name .. ": already committed"
      assert.are.equal(want, msg_of(function() w:write("x") end))
      assert.are.equal(want, msg_of(function() w:commit() end))
      assert.are.equal(want, msg_of(function() w:cancel() end))
      assert.is_true(w:close())
      assert.is_true(w:close())
      assert.are.equal(3, w:size())
      assert.are.equal("abc", get(p))
    end)

    it("after cancel: write, commit, cancel raise \"already cancelled\"; close is true", function()
      local p, w = fresh()
      must(w:write("abc"))
      assert.is_true(w:cancel())
      local want = name .. ": already cancelled"
      assert.are.equal(want, msg_of(function() w:write("x") end))
      assert.are.equal(want, msg_of(function() w:commit() end))
      assert.are.equal(want, msg_of(function() w:cancel() end))
      assert.is_true(w:close())
      assert.is_number(w:size())       -- size() works in any state
      not_found(p, d:get_content(p))
    end)

    it("cancel removes what was written", function()
      local p, w = fresh()
      must(w:write(t.random_bytes(1000)))
      must(w:cancel())
      not_found(p, d:get_content(p))
      not_found(p, d:stat(p))
      -- an upload that was closed, resumed, then cancelled is gone too
      w = must(d:writer(p, false))
      must(w:write("abc"))
      must(w:close())
      w = must(d:writer(p, true))
      must(w:write("def"))
      must(w:cancel())
      not_found(p, d:get_content(p))
      local w3, err = d:writer(p, true)
      if w3 then
        assert.are.equal(0, w3:size(), "a new upload after cancel resumed the cancelled one")
        must(w3:cancel())
      else
        not_found(p, w3, err)
      end
    end)

    it("close then append resumes; size() counts the earlier part", function()
      local p, w = fresh()
      must(w:write("hello "))
      assert.are.equal(6, w:size())
      must(w:close())
      assert.are.equal(6, w:size())
      local w2 = must(d:writer(p, true))
      assert.are.equal(6, w2:size())
      must(w2:write("world"))
      assert.are.equal(11, w2:size())
      must(w2:commit())
      must(w2:close())
      assert.are.equal(11, w2:size())
      assert.are.equal("hello world", get(p))
    end)

    it("writer(path) without append starts over", function()
      local p, w = fresh()
      must(w:write("first"))
      must(w:commit())
      must(w:close())
      local w2 = must(d:writer(p, false))
      assert.are.equal(0, w2:size())
      must(w2:write("2nd"))
      must(w2:commit())
      must(w2:close())
      assert.are.equal("2nd", get(p))
    end)

    if caps.atomic_writer then
      it("never exposes half-written content (atomic_writer)", function()
        local p, w = fresh()
        must(w:write(t.random_bytes(10000)))
        not_found(p, d:get_content(p))
        not_found(p, d:stat(p))
        not_found(p, d:reader(p, 0))
        must(w:close())
        not_found(p, d:get_content(p))
        local w2 = must(d:writer(p, true))
        must(w2:write("tail"))
        not_found(p, d:get_content(p))
        must(w2:commit())
        must(w2:close())
        assert.are.equal(10004, #get(p))
      end)

      it("a rewrite keeps the old content visible until commit (atomic_writer)", function()
        local p = t.random_path(24)
        put(p, "old")
        local w = must(d:writer(p, false))
        must(w:write("new content"))
        assert.are.equal("old", get(p))
        must(w:close())
        assert.are.equal("old", get(p))
        local w2 = must(d:writer(p, true))
        assert.are.equal(11, w2:size())
        must(w2:commit())
        must(w2:close())
        assert.are.equal("new content", get(p))
      end)

      it("two writers on one path: the last successful commit wins, a failed one changes nothing (atomic_writer)", function()
        local p = track(t.random_path(24))
        local w1 = must(d:writer(p, false))
        must(w1:write("from the first writer"))
        local w2 = must(d:writer(p, false))
        must(w2:write("second"))
        must(w2:commit())
        must(w2:close())
        assert.are.equal("second", get(p))
        local ok, err = w1:commit()
        if ok then
          assert.are.equal("from the first writer", get(p))
        else
          assert.are.equal("second", get(p), "a commit that failed (" .. tostring(err) .. ") changed the content")
        end
        w1:close()
      end)

      it("an open writer adds nothing to list or walk (atomic_writer)", function()
        local root = track("/" .. t.random_name(10))
        put(root .. "/old", "old")
        local w = must(d:writer(root .. "/new", false))
        must(w:write("partial"))
        assert.are.same({ root .. "/old" }, must(d:list(root)))
        local seen = {}
        must(d:walk(root, function(fi) seen[#seen + 1] = fi.path end))
        assert.are.same({ root .. "/old" }, seen)
        must(w:cancel())
        assert.are.same({ root .. "/old" }, must(d:list(root)))
      end)
    end
  end)

  ---------------------------------------------------------- ours: walk

  describe("walk", function()
    local R
    local files = {
      "/file1", "/folder1/file1", "/folder1/file2", "/folder1/folder3/file4",
      "/folder1-suffix/file1", "/folder2/folder4/file6",
    }
    local dirs = {
      ["/folder1"] = true, ["/folder1/folder3"] = true, ["/folder1-suffix"] = true,
      ["/folder2"] = true, ["/folder2/folder4"] = true,
    }
    local full = {
      "/file1", "/folder1", "/folder1/file1", "/folder1/file2", "/folder1/folder3",
      "/folder1/folder3/file4", "/folder1-suffix", "/folder1-suffix/file1",
      "/folder2", "/folder2/folder4", "/folder2/folder4/file6",
    }

    before_each(function()
      R = track("/w" .. t.random_name(10))
      for _, f in ipairs(files) do put(R .. f, "content of " .. f) end
    end)

    local function under(list)
      local out = {}
      for i, p in ipairs(list) do out[i] = R .. p end
      return out
    end

    -- Walks from `from`; decide(fi) gives fn's return value.  Returns the
    -- paths seen and walk's results.
    local function walk(from, opts, decide)
      local seen = {}
      local ok, err = d:walk(from, function(fi)
        seen[#seen + 1] = fi.path
        if decide then return decide(fi) end
      end, opts)
      return seen, ok, err
    end

    local depth = caps.walk_order == nil or caps.walk_order == "depth"

    it("reports every entry, parents first, with stat fields", function()
      local infos = {}
      must(d:walk(R, function(fi) infos[#infos + 1] = fi end))
      local seen = {}
      for i, fi in ipairs(infos) do
        seen[i] = fi.path
        local rel = fi.path:sub(#R + 1)
        if dirs[rel] then
          assert.is_true(fi.is_dir, fi.path)
          assert.are.equal(0, fi.size, fi.path)
        else
          assert.is_false(fi.is_dir, fi.path)
          assert.are.equal(#("content of " .. rel), fi.size, fi.path)
          assert.is_number(fi.modtime)
        end
      end
      if depth then
        assert.are.same(under(full), seen)
      else
        assert.are.same(t.sorted(under(full)), t.sorted(seen))
      end
    end)

    it("from / reports the top-level directory first", function()
      local seen = walk("/")
      local want = { R }
      for _, p in ipairs(under(full)) do want[#want + 1] = p end
      if depth then
        assert.are.same(want, seen)
      else
        assert.are.same(t.sorted(want), t.sorted(seen))
      end
    end)

    if depth then
      it("depth-first order: /folder1 subtree before /folder1-suffix", function()
        local seen = walk(R)
        assert.are.same(under(full), seen)
      end)

      it("SKIP_DIR does not enter that directory", function()
        local seen, ok, err = walk(R, nil, function(fi)
          if fi.path == R .. "/folder1" then return sd.SKIP_DIR end
        end)
        assert.is_true(ok, tostring(err))
        assert.are.same(under({
          "/file1", "/folder1", "/folder1-suffix", "/folder1-suffix/file1",
          "/folder2", "/folder2/folder4", "/folder2/folder4/file6",
        }), seen)
      end)

      it("SKIP_DIR on a file is ignored", function()
        local seen, ok, err = walk(R, nil, function(fi)
          if fi.path == R .. "/folder1/file1" then return sd.SKIP_DIR end
        end)
        assert.is_true(ok, tostring(err))
        assert.are.same(under(full), seen)
      end)

      it("STOP ends the walk early and walk returns true", function()
        local seen, ok, err = walk(R, nil, function(fi)
          if fi.path == R .. "/folder1/file1" then return sd.STOP end
        end)
        assert.is_true(ok, tostring(err))
        assert.is_nil(err)
        assert.are.same(under({ "/file1", "/folder1", "/folder1/file1" }), seen)
      end)

      it("start_after a directory resumes after it (start late)", function()
        local seen, ok, err = walk(R, { start_after = R .. "/folder1-suffix" })
        assert.is_true(ok, tostring(err))
        assert.are.same(under({
          "/folder1-suffix/file1", "/folder2", "/folder2/folder4", "/folder2/folder4/file6",
        }), seen)
      end)

      it("start_after sorting after from walks nothing", function()
        local seen, ok, err = walk(R .. "/folder1", { start_after = R .. "/folder1-suffix" })
        assert.is_true(ok, tostring(err))
        assert.are.same({}, seen)
      end)

      it("start_after sorting before from (depth-first order) walks everything", function()
        local seen, ok, err = walk(R .. "/folder1-suffix", { start_after = R .. "/folder1/file1" })
        assert.is_true(ok, tostring(err))
        assert.are.same(under({ "/folder1-suffix/file1" }), seen)
      end)

      it("start_after equal to from walks all of from", function()
        local seen, ok, err = walk(R .. "/folder1", { start_after = R .. "/folder1" })
        assert.is_true(ok, tostring(err))
        assert.are.same(under({
          "/folder1/file1", "/folder1/file2", "/folder1/folder3", "/folder1/folder3/file4",
        }), seen)
      end)

      it("a nonexistent start_after resumes after where it would be", function()
        local seen, ok, err = walk(R, { start_after = R .. "/folder1/file15" })
        assert.is_true(ok, tostring(err))
        assert.are.same(under({
          "/folder1/file2", "/folder1/folder3", "/folder1/folder3/file4",
          "/folder1-suffix", "/folder1-suffix/file1",
          "/folder2", "/folder2/folder4", "/folder2/folder4/file6",
        }), seen)
      end)

      it("a nonexistent start_after in a nonexistent directory", function()
        local seen, ok, err = walk(R, { start_after = R .. "/folder15/x" })
        assert.is_true(ok, tostring(err))
        assert.are.same(under({ "/folder2", "/folder2/folder4", "/folder2/folder4/file6" }), seen)
      end)

      it("an empty start_after walks everything", function()
        local seen, ok, err = walk(R, { start_after = "" })
        assert.is_true(ok, tostring(err))
        assert.are.same(under(full), seen)
      end)

      it("STOP after a start_after ends the whole walk", function()
        local seen, ok, err = walk(R, { start_after = R .. "/folder1" }, function(fi)
          if fi.path == R .. "/folder1/file2" then return sd.STOP end
        end)
        assert.is_true(ok, tostring(err))
        assert.are.same(under({ "/folder1/file1", "/folder1/file2" }), seen)
      end)

      it("a sub-directory walk stays inside it", function()
        local seen = walk(R .. "/folder2")
        assert.are.same(under({ "/folder2/folder4", "/folder2/folder4/file6" }), seen)
      end)
    end

    it("a missing directory is PathNotFound", function()
      local p = R .. "/nosuch"
      local calls = 0
      not_found(p, d:walk(p, function() calls = calls + 1 end))
      assert.are.equal(0, calls)
    end)

    it("fn returning a string ends the walk with a Driver error", function()
      local calls = 0
      local err = t.check_err("Driver", { driver = name, detail = "enough of this" },
        d:walk(R, function() calls = calls + 1; return "enough of this" end))
      assert.are.equal(name .. ": enough of this", tostring(err))
      assert.are.equal(1, calls)
    end)

    it("fn returning an sd error ends the walk with that error", function()
      local calls = 0
      t.check_err("PathNotFound", { driver = name, path = "/gone" },
        d:walk(R, function()
          calls = calls + 1
          return sd.error("PathNotFound", { path = "/gone" })
        end))
      assert.are.equal(1, calls)
    end)

    it("fn raising: the error propagates and the driver stays usable", function()
      local calls = 0
      local ok, msg = pcall(d.walk, d, R, function()
        calls = calls + 1
        error("walk fn exploded")
      end)
      assert.is_false(ok)
      assert.truthy(tostring(msg):find("walk fn exploded", 1, true), tostring(msg))
      assert.are.equal(1, calls)
      -- The driver still works, walks included.
      local seen = walk(R)
      assert.are.equal(#full, #seen)
    end)

    it("fn raising a table: the same value propagates", function()
      local token = { "token" }
      local ok, v = pcall(d.walk, d, R, function() error(token) end)
      assert.is_false(ok)
      assert.are.equal(token, v)
    end)
  end)
end
