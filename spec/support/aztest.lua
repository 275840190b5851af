-- Helpers of the specs that run against the local azurite (Azure's
-- emulator): its parameters (SD_AZURE_PARAMS, set by
-- spec/support/with-servers.sh, which `make test` uses) and fresh root
-- directories.  Written for Lua 5.4 and LuaJIT.

local sd = require "storagedriver"
local t = require "sdtest"
local s3t = require "s3test"

local M = {}

M.WHY = "SD_AZURE_PARAMS is unset: no azurite (make test starts one; by hand: " ..
        "sh spec/support/with-servers.sh sh spec/run.sh)"

-- The server's parameters as a table, or nil when SD_AZURE_PARAMS is unset.
function M.base_params()
  local s = os.getenv("SD_AZURE_PARAMS")
  if s == nil or s:match("^%s*$") then return nil end
  return s3t.parse_pairs(s)
end

function M.registered()
  for _, n in ipairs(sd.drivers()) do
    if n == "azure" then return true end
  end
  return false
end

-- base_params() with overrides; rootdirectory is a fresh one per call (runs
-- under Lua 5.4 and LuaJIT share one server) unless overrides names one.
function M.params(overrides)
  local p = assert(M.base_params(), M.WHY)
  p.rootdirectory = s3t.fresh_root(p.rootdirectory)
  for k, v in pairs(overrides or {}) do p[k] = v end
  return p
end

-- Removes whatever is left under the driver's root (after a failed spec).
function M.wipe(p)
  if not p then return end
  local q = {}
  for k, v in pairs(p) do q[k] = v end
  q.loglevel = nil
  local d = sd.create("azure", q)
  if not d then return end
  for _, e in ipairs(d:list("/") or {}) do d:delete(e) end
end

-- curl's answer to a URL: status (number), body.
function M.curl(url, method)
  local out = t.tmpname()
  -- never the sanitizer preload of `make sanitize` (curl deadlocks under it)
  local cmd = ("env -u LD_PRELOAD curl --max-time 60 -s -o %s -w '%%{http_code}' %s %s"):format(
    t.shq(out), method == "HEAD" and "-I" or "", t.shq(url))
  local code = t.sh(cmd)
  local body = t.read_file(out) or ""
  os.remove(out)
  return tonumber(code), body
end

return M
