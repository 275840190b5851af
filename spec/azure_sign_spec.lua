-- Azure SharedKey and SAS signing (runtime/sign/azure.c) against every case
-- of ../shared/vectors/azure (beside the repository, as for sigv4_spec).
-- The C program build/azure_vectors (tests/azure_vectors.c, built by
-- `make`) does the checking; this spec counts the cases from the JSON itself,
-- so a case the program skips is a failure, and so is a missing directory.
-- That azurite, which really verifies signatures, accepts what the driver
-- signs is in spec/azure_spec.lua.

local cjson = require "cjson"

local function dirname(p) return p:match("^(.*)/[^/]*$") or "." end

local here = debug.getinfo(1, "S").source:match("^@(.*)$") or "spec/azure_sign_spec.lua"
local root = dirname(dirname(here))
if root == "" then root = "." end
local vectors = root .. "/../shared/vectors/azure"
local NODE = vectors .. "/azure_storage_node_sharedkey_sas_2018-03-28.json"
local JAVA = vectors .. "/azure_java_sas_string_to_sign_layouts.json"

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function read_json(path)
  local f = io.open(path, "rb")
  if not f then
    error("the Azure signing vectors are missing: expected " .. path ..
          " (shared/ must sit beside the repository)", 0)
  end
  local body = f:read("*a")
  f:close()
  return cjson.decode(body)
end

local function binary()
  for _, b in ipairs({ os.getenv("SD_BUILD") or "build", "build" }) do
    local path = root .. "/" .. b .. "/azure_vectors"
    local f = io.open(path, "rb")
    if f then f:close() return path end
  end
  error("build/azure_vectors is missing: run `make` first", 0)
end

local function run(files)
  local args = {}
  for i, f in ipairs(files) do args[i] = sh_quote(f) end
  local p = assert(io.popen(sh_quote(binary()) .. " " .. table.concat(args, " ") ..
                            " 2>&1; echo \"exit:$?\""))
  local out = p:read("*a")
  p:close()
  local status = tonumber(out:match("exit:(%d+)%s*$"))
  return out, status
end

local function check(files, expected)
  local out, status = run(files)
  local oks = 0
  for _ in out:gmatch("\nok ") do oks = oks + 1 end
  if out:match("^ok ") then oks = oks + 1 end
  assert.is_nil(out:match("FAILED[^\n]*\n[^\n]*\n[^\n]*"), out)
  local p, f = out:match("azure vectors: (%d+) passed, (%d+) failed")
  assert.is_not_nil(p, "no summary line in:\n" .. out)
  assert.are.equal(0, tonumber(f), out)
  assert.is_true(expected > 0, "no case found")
  assert.are.equal(expected, tonumber(p), "cases expected vs passed:\n" .. out)
  assert.are.equal(expected, oks, out)
  assert.are.equal(0, status, out)
end

describe("Azure signing vectors", function()
  it("Node.js SDK (2018-03-28): exact SharedKey, service SAS and account SAS signatures", function()
    local v = read_json(NODE)
    local n = 0
    for _, c in ipairs(v.cases) do
      n = n + 1
      if c.expected and c.expected.sas_query then n = n + 1 end
    end
    assert.is_true(n >= 5)
    check({ NODE }, n)
  end)

  it("Java SDK and REST docs: service SAS (sv >= 2020-12-06), account SAS and SharedKey layouts", function()
    local v = read_json(JAVA)
    local n = #v.service_sas_blob_canonicalized_resource_cases + #v.account_sas_cases +
              (v.sharedkey_documentation_example and 1 or 0)
    assert.is_true(n >= 9)
    check({ JAVA }, n)
  end)
end)
