-- Streams N MiB through the filesystem driver (writer, then reader) in a fresh
-- process and prints the process's peak RSS: memory must not grow with size.
local sd = require "storagedriver"
local clock = require "benchclock"
local dir, mib = arg[1], tonumber(arg[2] or "1024")
local d = assert(sd.create("filesystem", { rootdirectory = dir, sync = false }))
local before = clock.peak_rss_kib()
local chunk = string.rep("s", 1024 * 1024)
local w = assert(d:writer("/stream/big"))
local t0 = clock.now()
for _ = 1, mib do assert(w:write(chunk)) end
assert(w:commit()); assert(w:close())
local r = assert(d:reader("/stream/big"))
local total = 0
while true do
  local s = r:read(1024 * 1024)
  if not s then break end
  total = total + #s
end
r:close()
local secs = clock.now() - t0
assert(total == mib * 1024 * 1024, "short read")
assert(d:delete("/stream"))
print(string.format("streaming %d MiB through filesystem (write + read): %.0f MB/s, peak RSS %.1f MiB (%.1f MiB before streaming)",
  mib, 2 * total / secs / 1e6, clock.peak_rss_kib() / 1024, before / 1024))
