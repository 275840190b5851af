-- The demo: what storagedriver does, on the filesystem driver under ./demo-data.
-- Run it with `make demo`.
local sd = require "storagedriver"

local root = (os.getenv("PWD") or ".") .. "/demo-data"
local function say(fmt, ...) io.write(string.format(fmt, ...), "\n") end

local d = assert(sd.create("filesystem", { rootdirectory = root, sync = true }))
say("driver %q, rootdirectory %s (registered drivers: %s)", d:name(), root,
    table.concat(sd.drivers(), ", "))

-- Whole objects.
assert(d:put_content("/docker/registry/v2/repositories/demo/hello", "hello, storage"))
say("put_content  /docker/registry/v2/repositories/demo/hello")
say("get_content  -> %q", assert(d:get_content("/docker/registry/v2/repositories/demo/hello")))

-- A streamed upload in two sessions: close keeps it resumable, append continues.
local blob = "/docker/registry/v2/blobs/sha256/ab/abcdef/data"
local w = assert(d:writer(blob))
for i = 1, 4 do assert(w:write(string.rep(string.char(64 + i), 256 * 1024))) end
assert(w:close())
local _, hidden = d:stat(blob)
say("writer       wrote %d bytes and closed; before commit stat says: %s", w:size(),
    tostring(hidden))
w = assert(d:writer(blob, true))
say("writer       reopened with append=true, size() = %d", w:size())
assert(w:write(string.rep("E", 256 * 1024), "\n"))
assert(w:commit())
assert(w:close())
say("commit       %s is now %d bytes", blob, assert(d:stat(blob)).size)

-- Streaming read from an offset.
local r = assert(d:reader(blob, 1024 * 1024 - 4))
say("reader       at offset %d reads %q", 1024 * 1024 - 4, r:read(8))
r:close()

-- List and walk.
say("list         /docker/registry/v2 -> %s",
    table.concat(assert(d:list("/docker/registry/v2")), ", "))
say("walk         /docker:")
assert(d:walk("/docker", function(fi)
  say("               %-60s %s", fi.path, fi.is_dir and "dir" or (fi.size .. " bytes"))
end))

-- Copy to another driver, move, delete.
local mem = assert(sd.create("inmemory"))
local ok, n = assert(sd.copy(d, blob, mem, "/copy/of/blob"))
say("sd.copy      filesystem -> inmemory: %d bytes", n)
assert(d:move(blob, "/docker/registry/v2/blobs/moved"))
say("move         %s -> /docker/registry/v2/blobs/moved", blob)
local _, err = d:get_content(blob)
say("get_content  of the old path -> nil, %s (kind %s)", tostring(err), err.kind)
_, err = d:get_content("/docker/../../etc/passwd")
say("get_content  of a path with .. -> nil, %s", tostring(err))
assert(d:delete("/docker"))
say("delete       /docker; list / -> {%s}", table.concat(assert(d:list("/")), ", "))
say("demo done.")
