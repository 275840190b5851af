-- Helpers of the specs that run against the local OpenStack Swift: its swift
-- driver parameters (SD_SWIFT_PARAMS, set by spec/support/with-servers.sh,
-- which `make test` uses), fresh prefixes, and the `swift` command of
-- python3-swiftclient as an independent client.  Lua 5.4 and LuaJIT.

local t = require "sdtest"
local s3t = require "s3test"

local M = {}

M.WHY = "SD_SWIFT_PARAMS is unset: no Swift server (make test starts one; by hand: " ..
        "sh spec/support/with-servers.sh sh spec/run.sh)"

-- The server's parameters as a table, or nil when SD_SWIFT_PARAMS is unset.
function M.base_params()
  local s = os.getenv("SD_SWIFT_PARAMS")
  if s == nil or s:match("^%s*$") then return nil end
  return s3t.parse_pairs(s)
end

function M.unregistered_why()
  return "SD_SWIFT_PARAMS is set but no driver \"swift\" is registered"
end

-- base_params() with overrides, on a prefix no other run uses (the Lua 5.4
-- and LuaJIT runs, and repeated runs against a server started by hand).
function M.params(overrides)
  local p = assert(M.base_params(), M.WHY)
  p.prefix = (s3t.fresh_root(p.prefix):gsub("^/+", ""))
  for k, v in pairs(overrides or {}) do p[k] = v end
  return p
end

-- The object name of a driver path under a prefix (the reference's layout).
function M.object(prefix, path)
  local root = (prefix or ""):gsub("^/+", ""):gsub("/+$", "")
  if root ~= "" then root = root .. "/" end
  return root .. "files" .. path
end

---------------------------------------------------------------- swift CLI

M.SWIFT = "/usr/bin/swift"    -- python3-swiftclient, run by Debian's python3

-- Runs `swift <args>` against the server with p's credentials (auth v1) and
-- nothing from the environment.  Returns output, ok.
function M.swift(p, args)
  local cmd = table.concat({
    "env -u OS_AUTH_URL -u OS_USERNAME -u OS_PASSWORD -u ST_AUTH -u ST_USER -u ST_KEY",
    "-u PYTHONPATH -u PYTHONHOME -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS",
    M.SWIFT, "-A", t.shq(p.authurl), "-U", t.shq(p.username), "-K", t.shq(p.password),
    args,
  }, " ")
  return t.sh(cmd)
end

function M.swift_ok(p, args)
  local out, ok, rc = M.swift(p, args)
  assert(ok, ("swift %s failed (exit %s):\n%s"):format(args, tostring(rc), out))
  return out
end

function M.have_swift()
  local _, ok = t.sh("test -x " .. M.SWIFT)
  return ok
end

-- The object names under a prefix of the container, sorted.
function M.names(p, prefix)
  local out = M.swift_ok(p, "list " .. t.shq(p.container) .. " --prefix " .. t.shq(prefix))
  local names = {}
  for line in out:gmatch("[^\n]+") do names[#names + 1] = line end
  table.sort(names)
  return names
end

-- Removes whatever is left under the driver's prefix (after a failed spec).
function M.wipe(p)
  if p and p.prefix and p.prefix ~= "" and M.have_swift() then
    M.swift(p, "delete " .. t.shq(p.container) .. " --prefix " .. t.shq(p.prefix .. "/"))
  end
end

return M
