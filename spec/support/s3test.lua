-- Helpers of the specs that run against the local S3 server: its parameters
-- (SD_S3_PARAMS, set by spec/support/with-servers.sh, which `make test`
-- uses), fresh root directories, and Debian's awscli as an independent
-- client.  Written for Lua 5.4 and LuaJIT.

local sd = require "storagedriver"
local t = require "sdtest"

local M = {}

-- Why the S3 specs are pending when there is no server.
M.WHY = "SD_S3_PARAMS is unset: no S3 server (make test starts one; by hand: " ..
        "sh spec/support/with-servers.sh sh spec/run.sh)"

-- "a=1 b=2,c=3\nd=4" -> { a = "1", b = "2", c = "3", d = "4" }
function M.parse_pairs(s)
  local out = {}
  for item in (s or ""):gmatch("[^%s,]+") do
    local k, v = item:match("^([^=]+)=(.*)$")
    assert(k, "bad key=value item: " .. item)
    out[k] = v
  end
  return out
end

-- The server's parameters as a table, or nil when SD_S3_PARAMS is unset.
function M.base_params()
  local s = os.getenv("SD_S3_PARAMS")
  if s == nil or s:match("^%s*$") then return nil end
  return M.parse_pairs(s)
end

function M.registered(name)
  for _, n in ipairs(sd.drivers()) do
    if n == name then return true end
  end
  return false
end

-- Why the s3 specs cannot run although a server is there.
function M.unregistered_why(name)
  return ("SD_S3_PARAMS is set but no driver %q is registered (drivers: %s)")
    :format(name, table.concat(sd.drivers(), ", "))
end

-- A root directory no other run uses: "<prefix>/run-<time>-<random>".
-- Busted runs under Lua 5.4 and LuaJIT, and runs repeat against a server
-- started by hand, so every run (and every driver a spec creates with
-- fresh = true) gets its own part of the bucket.
function M.fresh_root(prefix)
  prefix = (prefix or ""):gsub("/+$", "")
  return prefix .. "/run-" .. os.time() .. "-" .. t.random_name(10)
end

-- base_params() with overrides; rootdirectory is always a fresh one (under
-- the server's rootdirectory, if it gave one) unless overrides names one.
function M.params(overrides)
  local p = assert(M.base_params(), M.WHY)
  local root = M.fresh_root(p.rootdirectory)
  p.rootdirectory = root
  for k, v in pairs(overrides or {}) do p[k] = v end
  return p
end

-- The S3 key of a driver path under a rootdirectory (the reference's
-- s3Path: the root without its leading "/", then the path).
function M.key(root, path)
  return ((root or ""):gsub("/+$", "") .. (path or "")):gsub("^/+", "")
end

---------------------------------------------------------------- awscli

M.AWS = "/usr/bin/aws"       -- Debian's awscli; the one on PATH may be pip's

local aws_config             -- a config file: path-style addressing

-- Runs Debian's awscli against the server: `aws <args>` with the server's
-- credentials and endpoint and nothing from the environment (no profile, no
-- AWS_CA_BUNDLE, no sanitizer preload).  Returns output, ok.
function M.aws(p, args)
  if not aws_config then
    aws_config = t.tmpname()
    t.write_file(aws_config, "[default]\ns3 =\n    addressing_style = path\n")
  end
  local env = {
    "env -u AWS_CA_BUNDLE -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL",
    "-u PYTHONPATH -u PYTHONHOME -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS",
    "AWS_ACCESS_KEY_ID=" .. t.shq(p.accesskey),
    "AWS_SECRET_ACCESS_KEY=" .. t.shq(p.secretkey),
    "AWS_DEFAULT_REGION=" .. t.shq(p.region or "us-east-1"),
    "AWS_CONFIG_FILE=" .. t.shq(aws_config),
    "AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER=",
    M.AWS, "--endpoint-url", t.shq(p.regionendpoint), args,
  }
  return t.sh(table.concat(env, " "))
end

-- As M.aws, failing with its output when it fails.
function M.aws_ok(p, args)
  local out, ok, rc = M.aws(p, args)
  assert(ok, ("aws %s failed (exit %s):\n%s"):format(args, tostring(rc), out))
  return out
end

function M.have_aws()
  local _, ok = t.sh("test -x " .. M.AWS)
  return ok
end

-- s3://bucket/key for a driver path under p.rootdirectory.
function M.url(p, path)
  return "s3://" .. p.bucket .. "/" .. M.key(p.rootdirectory, path)
end

-- The keys under a prefix of the bucket, as awscli lists them, sorted.
function M.raw_keys(p, prefix)
  local out = M.aws_ok(p, "s3api list-objects-v2 --bucket " .. t.shq(p.bucket) ..
                       " --prefix " .. t.shq(prefix) .. " --query 'Contents[].[Key]' --output text")
  local keys = {}
  for line in out:gmatch("[^\n]+") do
    if line ~= "None" then keys[#keys + 1] = line end
  end
  table.sort(keys)
  return keys
end

-- Removes whatever is left under the driver's root (after a failed spec),
-- with awscli so that it works whatever state the driver is in.
function M.wipe(p)
  if p and M.have_aws() then
    M.aws(p, "s3 rm --recursive --quiet " .. t.shq(M.url(p, "/")))
  end
end

return M
