-- AWS Signature Version 4 (runtime/sign/sigv4.c) against every case of the
-- official vectors in ../shared/vectors/aws (beside the repository: CI puts
-- a copy of shared/ in the clone's parent directory).  The checking is done
-- by the C program build/sigv4_vectors (tests/sigv4_vectors.c, built by
-- `make`); this spec counts the cases itself so that a case the program
-- skips is a failure, and a missing vectors directory is a failure too.

local function dirname(p) return p:match("^(.*)/[^/]*$") or "." end

local here = debug.getinfo(1, "S").source:match("^@(.*)$") or "spec/sigv4_spec.lua"
local root = dirname(dirname(here))
if root == "" then root = "." end
local vectors = root .. "/../shared/vectors/aws"

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function exists(path, kind)
  local p = io.popen("test -" .. kind .. " " .. sh_quote(path) .. " && echo yes")
  local out = p:read("*a")
  p:close()
  return out:match("yes") ~= nil
end

local function lines_of(cmd)
  local p = assert(io.popen(cmd))
  local t = {}
  for l in p:lines() do t[#t + 1] = l end
  p:close()
  return t
end

local function need_vectors()
  if not exists(vectors, "d") then
    error("the AWS signing vectors are missing: expected the directory " .. vectors ..
          " (shared/ must sit beside the repository)", 0)
  end
end

local function binary()
  for _, b in ipairs({ os.getenv("SD_BUILD") or "build", "build" }) do
    local path = root .. "/" .. b .. "/sigv4_vectors"
    if exists(path, "x") then return path end
  end
  error("build/sigv4_vectors is missing: run `make` first", 0)
end

-- Number of files under dir matching a find -name pattern.
local function count_files(dir, pattern)
  return #lines_of("find " .. sh_quote(dir) .. " -type f -name " .. sh_quote(pattern))
end

-- Runs the checker over path; returns its output lines and exit status.
local function run(path)
  local out = lines_of(sh_quote(binary()) .. " " .. sh_quote(path) .. " 2>&1; echo \"exit:$?\"")
  local status = tonumber(table.remove(out):match("^exit:(%d+)$"))
  return out, status
end

local function check(path, expected)
  local out, status = run(path)
  local text = table.concat(out, "\n")
  local oks, failed = 0, {}
  for _, l in ipairs(out) do
    if l:match("^ok ") then oks = oks + 1 end
    if l:match("^FAILED ") then failed[#failed + 1] = l end
  end
  assert.are.same({}, failed, text)
  local p, f = text:match("sigv4 vectors: (%d+) passed, (%d+) failed")
  assert.is_not_nil(p, "no summary line in:\n" .. text)
  assert.are.equal(0, tonumber(f), text)
  assert.is_true(expected > 0, "no case found under " .. path)
  assert.are.equal(expected, tonumber(p), "cases found vs passed:\n" .. text)
  assert.are.equal(expected, oks, text)
  assert.are.equal(0, status, text)
end

describe("AWS Signature V4 vectors", function()
  it("aws-signing-test-suite/v4: every case, header and presigned query", function()
    need_vectors()
    local dir = vectors .. "/aws-signing-test-suite/v4"
    check(dir, count_files(dir, "context.json"))
  end)

  it("aws-sig-v4-test-suite (classic): every case", function()
    need_vectors()
    local dir = vectors .. "/aws-sig-v4-test-suite"
    check(dir, count_files(dir, "*.req"))
  end)

  it("S3 documentation examples: every case", function()
    need_vectors()
    local file = vectors .. "/s3_docs_sigv4_examples.json"
    local f = assert(io.open(file, "rb"), "cannot open " .. file)
    local body = f:read("*a")
    f:close()
    local _, n = body:gsub('"kind"%s*:', "")
    check(file, n)
  end)

  it("S3 chunked upload example: seed, chunk and trailer signatures", function()
    need_vectors()
    check(vectors .. "/s3_docs_chunked_upload_example.json", 1)
  end)

  it("the whole aws directory at once", function()
    need_vectors()
    local f = assert(io.open(vectors .. "/s3_docs_sigv4_examples.json", "rb"))
    local _, docs = f:read("*a"):gsub('"kind"%s*:', "")
    f:close()
    local n = count_files(vectors, "context.json") + count_files(vectors, "*.req") + docs +
              count_files(vectors, "s3_docs_chunked_upload_example.json")
    check(vectors, n)
  end)
end)
