-- luamem: an in-memory storage driver written in Lua, for the specs.
--
-- It follows the "Lua drivers" protocol (see the project's lua protocol
-- notes): sd.register(name, factory), factory(params) returns a table whose
-- methods the C base layer calls after it has validated paths and offsets.
--
-- Model: a flat map path -> file; directories are derived from the paths
-- (a path is a directory when some file lies below it).  Content is kept as
-- a list of chunks, so a file may exceed LuaJIT's 2 GiB string limit when it
-- is streamed through a writer.  Uploads in progress live in a separate map
-- and become visible only at commit: a writer never exposes half-written
-- content.
--
-- Requiring this module registers "luamem" (once per Lua state: busted
-- re-requires modules in every spec file).

local sd = require "storagedriver"

local M = { name = "luamem" }

local function not_found(p) return sd.error("PathNotFound", { path = p }) end
local function failure(msg) return sd.error("Driver", { detail = msg }) end

-- Modification times: the wall clock has only whole seconds in plain Lua, so
-- a logical clock anchored to it keeps successive writes strictly ordered.
local function clock(store)
  local now = os.time()
  if now <= store.last_time then now = store.last_time + 0.001 end
  store.last_time = now
  return now
end

local function copy_chunks(chunks)
  local c = {}
  for i = 1, #chunks do c[i] = chunks[i] end
  return c
end

local Driver = {}
Driver.__index = Driver

-- Is p a directory (some committed file lies below it)?
function Driver:_is_dir(p)
  if p == "/" then return true end
  local prefix = p .. "/"
  local n = #prefix
  for fp in pairs(self.files) do
    if fp:sub(1, n) == prefix then return true end
  end
  return false
end

-- An error when a file may not be stored at p: p is a directory, or one of
-- its ancestors is a file.
function Driver:_check_file_slot(p)
  if self:_is_dir(p) then return failure("not a file: " .. p) end
  local i = 2
  while true do
    local j = p:find("/", i, true)
    if not j then break end
    if self.files[p:sub(1, j - 1)] then
      return failure("not a directory: " .. p:sub(1, j - 1))
    end
    i = j + 1
  end
  return nil
end

function Driver:_store(p, chunks, size)
  self.files[p] = { chunks = chunks, size = size, modtime = clock(self) }
end

function Driver:get_content(p)
  local f = self.files[p]
  if not f then
    if self:_is_dir(p) then return nil, failure("\"" .. p .. "\" is a directory") end
    return nil, not_found(p)
  end
  return table.concat(f.chunks)
end

function Driver:put_content(p, bytes)
  local e = self:_check_file_slot(p)
  if e then return nil, e end
  self:_store(p, bytes ~= "" and { bytes } or {}, #bytes)
  self.uploads[p] = nil
  return true
end

-- Readers --------------------------------------------------------------

local Reader = {}
Reader.__index = Reader

-- Up to n bytes (never an empty string), or nil at the end of the data.
function Reader:read(n)
  if n == nil or n <= 0 then n = 65536 end
  while self.ci <= #self.chunks do
    local c = self.chunks[self.ci]
    if self.co <= #c then
      local piece = c:sub(self.co, self.co + n - 1)
      self.co = self.co + #piece
      return piece
    end
    self.ci, self.co = self.ci + 1, 1
  end
  return nil
end

function Reader:close()
  self.chunks = {}
  self.ci = 1
  return true
end

function Driver:reader(p, offset)
  local f = self.files[p]
  if not f then
    if self:_is_dir(p) then return nil, failure("\"" .. p .. "\" is a directory") end
    return nil, not_found(p)
  end
  -- Snapshot the chunk list: a later put or commit does not change what an
  -- open reader sees.
  local r = setmetatable({ chunks = copy_chunks(f.chunks), ci = 1, co = 1 }, Reader)
  local skip = offset or 0
  while r.ci <= #r.chunks and skip > 0 do
    local len = #r.chunks[r.ci]
    if skip >= len then
      skip = skip - len
      r.ci = r.ci + 1
    else
      r.co = skip + 1
      skip = 0
    end
  end
  return r
end

-- Writers --------------------------------------------------------------

local Writer = {}
Writer.__index = Writer

function Writer:write(s)
  if #s > 0 then
    self.chunks[#self.chunks + 1] = s
    self.total = self.total + #s
  end
  return true
end

function Writer:size()
  return self.total
end

-- Keeps the upload so that writer(path, true) resumes it.
function Writer:close()
  self.drv.uploads[self.path] = { chunks = self.chunks, size = self.total }
  return true
end

function Writer:commit()
  local drv = self.drv
  local e = drv:_check_file_slot(self.path)
  if e then return nil, e end
  drv:_store(self.path, self.chunks, self.total)
  drv.uploads[self.path] = nil
  return true
end

function Writer:cancel()
  self.drv.uploads[self.path] = nil
  self.chunks, self.total = {}, 0
  return true
end

function Driver:writer(p, append)
  local e = self:_check_file_slot(p)
  if e then return nil, e end
  local chunks, total = {}, 0
  if append then
    local src = self.uploads[p] or self.files[p]
    if src then chunks, total = copy_chunks(src.chunks), src.size end
  else
    self.uploads[p] = nil
  end
  return setmetatable({ drv = self, path = p, chunks = chunks, total = total }, Writer)
end

-- Metadata -------------------------------------------------------------

function Driver:stat(p)
  local f = self.files[p]
  if f then
    return { path = p, size = f.size, modtime = f.modtime, is_dir = false }
  end
  if p == "/" then
    return { path = p, size = 0, modtime = self.created, is_dir = true }
  end
  local prefix, n = p .. "/", #p + 1
  local newest
  for fp, file in pairs(self.files) do
    if fp:sub(1, n) == prefix and (not newest or file.modtime > newest) then
      newest = file.modtime
    end
  end
  if not newest then return nil, not_found(p) end
  return { path = p, size = 0, modtime = newest, is_dir = true }
end

-- Direct children, in no particular order (the base layer sorts them).
function Driver:list(p)
  if self.files[p] then return nil, failure("not a directory: " .. p) end
  local prefix = p == "/" and "/" or p .. "/"
  local n = #prefix
  local seen, out = {}, {}
  for fp in pairs(self.files) do
    if fp:sub(1, n) == prefix then
      local slash = fp:find("/", n + 1, true)
      local child = slash and fp:sub(1, slash - 1) or fp
      if not seen[child] then
        seen[child] = true
        out[#out + 1] = child
      end
    end
  end
  if #out == 0 and p ~= "/" then return nil, not_found(p) end
  return out
end

function Driver:move(src, dst)
  local f = self.files[src]
  if f then
    if src == dst then return true end
    local e = self:_check_file_slot(dst)
    if e then return nil, e end
    self.files[dst] = { chunks = f.chunks, size = f.size, modtime = clock(self) }
    self.files[src] = nil
    return true
  end
  if not self:_is_dir(src) then return nil, not_found(src) end
  -- A directory: move every file below it.
  if self.files[dst] or self:_is_dir(dst) then
    return nil, failure("destination exists: " .. dst)
  end
  local prefix, n = src .. "/", #src + 1
  local moving = {}
  for fp, file in pairs(self.files) do
    if fp:sub(1, n) == prefix then moving[fp] = file end
  end
  for fp, file in pairs(moving) do
    self.files[fp] = nil
    self.files[dst .. fp:sub(n)] = file
  end
  return true
end

function Driver:delete(p)
  local found = false
  if self.files[p] then
    self.files[p] = nil
    found = true
  end
  local prefix, n = p .. "/", #p + 1
  local doomed = {}
  for fp in pairs(self.files) do
    if fp:sub(1, n) == prefix then doomed[#doomed + 1] = fp end
  end
  for _, fp in ipairs(doomed) do self.files[fp] = nil end
  for up in pairs(self.uploads) do
    if up == p or up:sub(1, n) == prefix then self.uploads[up] = nil end
  end
  if not found and #doomed == 0 then return nil, not_found(p) end
  return true
end

-- Factory ----------------------------------------------------------------

function M.factory(params)
  for k in pairs(params or {}) do
    return nil, sd.error("InvalidParameter", {
      driver = M.name, parameter = tostring(k), detail = "unknown parameter",
    })
  end
  local now = os.time()
  return setmetatable({
    name = M.name,
    files = {},      -- committed: path -> { chunks, size, modtime }
    uploads = {},    -- closed, resumable uploads: path -> { chunks, size }
    created = now,
    last_time = now,
  }, Driver)
end

local function registered(name)
  for _, n in ipairs(sd.drivers()) do
    if n == name then return true end
  end
  return false
end

if not registered(M.name) then
  sd.register(M.name, M.factory)
end

return M
