-- migrate: a driver that serves a migration between two stores.
--
--   local d = sd.create("migrate", {
--     new = { driver = "s3", parameters = { ... } },     -- or a driver, or a driver name
--     old = sd.create("filesystem", { rootdirectory = "/var/lib/registry" }),
--     copyonread = false, deleteold = true,
--   })
--
-- Reads go to the new store first and fall back to the old one when the new
-- store says PathNotFound (any other error from the new store is returned:
-- old data never masks a real failure).  Writes go to the new store only.
-- list merges both stores; delete and move act on both (deleteold), so that
-- what was deleted or moved away does not reappear from the old store.
-- Where both stores hold something at the same path, the new store's entry
-- wins ("shadows" the old one).  walk is the generic one over list + stat.
--
-- This module returns the factory: function(params) --> driver table | nil, err
-- (storagedriver/init.lua registers it as "migrate").

local sd = require "storagedriver"
local core = require "storagedriver.core"

local NAME = "migrate"
local CHUNK = 1024 * 1024   -- pieces in which an old object seeds a new upload

local function is_not_found(err)
  return type(err) == "table" and err.kind == "PathNotFound"
end

local function not_found(p)
  return sd.error("PathNotFound", { path = p })
end

local function bad_param(name, detail)
  return sd.error("InvalidParameter", { driver = NAME, parameter = name, detail = detail })
end

-- A Driver error of an inner store gets the store's role in its detail
-- ("migrate: new store (filesystem): not a directory: ..."), so an operator
-- knows which store failed; the other kinds keep their fields as they are.
-- role: "new", "old" or "copy" (sd.copy from the old store into the new).
local ROLE = { new = "new store", old = "old store", copy = "copy from the old store to the new" }

local function annotate(role, err)
  if type(err) == "table" and err.kind == "Driver" then
    local detail = err.detail ~= nil and tostring(err.detail) or tostring(err)
    local where = ROLE[role] .. (err.driver and (" (" .. tostring(err.driver) .. ")") or "")
    return sd.error("Driver", {
      detail = where .. ": " .. detail, status = err.status, code = err.code,
    })
  end
  return err
end

---------------------------------------------------------------- driver

local Migrate = {}
Migrate.__index = Migrate

function Migrate:get_content(p)
  local data, err = self.new:get_content(p)
  if data then return data end
  if not is_not_found(err) then return nil, annotate("new", err) end
  data, err = self.old:get_content(p)
  if not data then return nil, annotate("old", err) end
  if self.copyonread then
    -- Best effort: the read succeeds whether or not the copy does.
    self.new:put_content(p, data)
  end
  return data
end

function Migrate:put_content(p, bytes)
  local ok, err = self.new:put_content(p, bytes)
  if not ok then return nil, annotate("new", err) end
  return true
end

function Migrate:reader(p, offset)
  local r, err = self.new:reader(p, offset)
  if r then return r end
  if not is_not_found(err) then return nil, annotate("new", err) end
  if self.copyonread and sd.copy(self.old, p, self.new, p) then
    r = self.new:reader(p, offset)
    if r then return r end
  end
  r, err = self.old:reader(p, offset)
  if not r then return nil, annotate("old", err) end
  return r
end

-- Streams the old store's content at p into the writer w (an upload of the
-- new store).  true, or nil, err (w is then cancelled); a path gone from the
-- old store meanwhile leaves w as it is (an empty upload).
function Migrate:_seed(p, w)
  local r, err = self.old:reader(p, 0)
  if not r then
    if is_not_found(err) then return true end
    w:cancel()
    return nil, annotate("old", err)
  end
  while true do
    local s, rerr = r:read(CHUNK)
    if s == nil then
      if rerr ~= nil then
        r:close()
        w:cancel()
        return nil, annotate("old", rerr)
      end
      break
    end
    local ok, werr = w:write(s)
    if not ok then
      r:close()
      w:cancel()
      return nil, annotate("new", werr)
    end
  end
  r:close()
  return true
end

-- append=false: a new upload in the new store.  append=true continues what
-- the new store has at p (committed content or a closed upload); when it has
-- neither but the old store has committed content, the new upload starts
-- from a copy of that content, so the appended result is old .. new bytes
-- and becomes visible (in the new store) at commit.
function Migrate:writer(p, append)
  if not append then
    local w, err = self.new:writer(p, false)
    if not w then return nil, annotate("new", err) end
    return w
  end
  local st, err = self.new:stat(p)
  if not st and not is_not_found(err) then return nil, annotate("new", err) end
  local ost
  if not st then
    ost, err = self.old:stat(p)
    if not ost and not is_not_found(err) then return nil, annotate("old", err) end
  end
  local w
  w, err = self.new:writer(p, true)
  if not w then return nil, annotate("new", err) end
  -- A closed upload with bytes in the new store is resumed as it is: it is
  -- newer than anything in the old store.
  if ost and not ost.is_dir and w:size() == 0 then
    local ok
    ok, err = self:_seed(p, w)
    if not ok then return nil, err end
  end
  return w
end

function Migrate:stat(p)
  local st, err = self.new:stat(p)
  if st then return st end
  if not is_not_found(err) then return nil, annotate("new", err) end
  st, err = self.old:stat(p)
  if not st then return nil, annotate("old", err) end
  return st
end

-- The union of both listings (the base layer sorts it).  PathNotFound only
-- when both stores say so.
function Migrate:list(p)
  local a, aerr = self.new:list(p)
  if not a and not is_not_found(aerr) then return nil, annotate("new", aerr) end
  local b, berr = self.old:list(p)
  if not b and not is_not_found(berr) then
    -- A file in the old store under a directory of the new one is shadowed:
    -- its "not a directory" is no failure of this listing.
    local ost = a and self.old:stat(p)
    if not (ost and not ost.is_dir) then return nil, annotate("old", berr) end
  end
  if not a and not b then return nil, not_found(p) end
  local out, seen = {}, {}
  for _, l in ipairs({ a or {}, b or {} }) do
    for i = 1, #l do
      local c = l[i]
      if not seen[c] then
        seen[c] = true
        out[#out + 1] = c
      end
    end
  end
  return out
end

-- The files below dir in the old store (paths), for a directory move.
function Migrate:_old_files(dir)
  local files = {}
  local ok, err = self.old:walk(dir, function(fi)
    if not fi.is_dir then files[#files + 1] = fi.path end
  end)
  if not ok then return nil, err end
  return files
end

function Migrate:move(src, dst)
  local st, err = self.new:stat(src)
  if not st and not is_not_found(err) then return nil, annotate("new", err) end

  if st and not st.is_dir then
    -- A file of the new store.  Any old copy of src is shadowed by it;
    -- removing that first means a failure leaves nothing half done that
    -- could show the old copy at src again.
    if self.deleteold then
      local ok, derr = self.old:delete(src)
      if not ok and not is_not_found(derr) then return nil, annotate("old", derr) end
    end
    local ok, merr = self.new:move(src, dst)
    if not ok then return nil, annotate("new", merr) end
    return true
  end

  local ost, oerr = self.old:stat(src)
  if not ost and not is_not_found(oerr) then return nil, annotate("old", oerr) end
  if not st and not ost then return nil, not_found(src) end

  if not st and not ost.is_dir then
    -- A file only in the old store: copied into the new store at dst
    -- (atomically, through a writer), then removed from the old store.
    local ok, cerr = sd.copy(self.old, src, self.new, dst)
    if not ok then return nil, annotate("copy", cerr) end
    if self.deleteold then
      local dok, derr = self.old:delete(src)
      if not dok and not is_not_found(derr) then return nil, annotate("old", derr) end
    end
    return true
  end

  -- A directory in one store or both: the new store's part moves there, the
  -- old store's files that the new store does not have are copied to their
  -- place under dst, then the old part goes.
  local files = {}
  if ost and ost.is_dir then
    local ferr
    files, ferr = self:_old_files(src)
    if not files then return nil, annotate("old", ferr) end
  end
  if st then
    local ok, merr = self.new:move(src, dst)
    if not ok then return nil, annotate("new", merr) end
  end
  for _, f in ipairs(files) do
    local target = dst .. f:sub(#src + 1)
    local have, herr = self.new:stat(target)
    if not have then
      if not is_not_found(herr) then return nil, annotate("new", herr) end
      local ok, cerr = sd.copy(self.old, f, self.new, target)
      if not ok and not is_not_found(cerr) then   -- PathNotFound: deleted meanwhile
        return nil, annotate("copy", cerr)
      end
    end
  end
  if self.deleteold and ost then
    local ok, derr = self.old:delete(src)
    if not ok and not is_not_found(derr) then return nil, annotate("old", derr) end
  end
  return true
end

function Migrate:delete(p)
  local found_new, err = self.new:delete(p)
  if not found_new and not is_not_found(err) then return nil, annotate("new", err) end
  local found_old = false
  if self.deleteold then
    found_old, err = self.old:delete(p)
    if not found_old and not is_not_found(err) then return nil, annotate("old", err) end
  elseif not found_new then
    -- The old store is left alone: what it holds at p cannot be deleted.
    local ost, oerr = self.old:stat(p)
    if ost then
      return nil, sd.error("Driver", {
        detail = p .. " is only in the old store, which is not changed (deleteold=false)",
      })
    elseif not is_not_found(oerr) then
      return nil, annotate("old", oerr)
    end
  end
  if not found_new and not found_old then return nil, not_found(p) end
  return true
end

-- The URL of the store that holds p (the new one first); nil when that
-- store does not redirect.  Stores that never redirect cost no lookup.
function Migrate:redirect_url(p, opts)
  local un, nerr = self.new:redirect_url(p, opts)
  if nerr then return nil, annotate("new", nerr) end
  local uo, oerr = self.old:redirect_url(p, opts)
  if oerr then return nil, annotate("old", oerr) end
  if un == nil and uo == nil then return nil end
  local st, err = self.new:stat(p)
  if st then return un end
  if not is_not_found(err) then return nil, annotate("new", err) end
  st, err = self.old:stat(p)
  if st then return uo end
  if not is_not_found(err) then return nil, annotate("old", err) end
  return nil
end

--------------------------------------------------------------- factory

local KNOWN = { new = true, old = true, copyonread = true, deleteold = true }

-- A store parameter: a driver, a driver name, or { driver =, parameters = }.
local function store_param(name, v)
  if v == nil then
    return nil, bad_param(name, "required: a driver, a driver name or { driver = name, parameters = {...} }")
  end
  if core.is_driver(v) then return v end
  local dname, dparams
  if type(v) == "string" then
    dname = v
  elseif type(v) == "table" then
    for k in pairs(v) do
      if k ~= "driver" and k ~= "parameters" then
        return nil, bad_param(name, "unknown key " .. tostring(k) .. " (expected driver and parameters)")
      end
    end
    dname, dparams = v.driver, v.parameters
    if type(dname) ~= "string" then
      return nil, bad_param(name, "driver must be a driver name, got " .. type(dname))
    end
    if dparams ~= nil and type(dparams) ~= "table" then
      return nil, bad_param(name, "parameters must be a table, got " .. type(dparams))
    end
  else
    return nil, bad_param(name, "expected a driver, a driver name or a table, got " .. type(v))
  end
  if dname == "" then return nil, bad_param(name, "empty driver name") end
  local ok, d, err = pcall(sd.create, dname, dparams or {})
  if not ok then return nil, bad_param(name, tostring(d)) end
  if not d then return nil, bad_param(name, tostring(err)) end
  return d
end

local function bool_param(params, name, default)
  local v = params[name]
  if v == nil then return default end
  if type(v) == "boolean" then return v end
  if type(v) == "string" then
    local l = v:lower()
    if l == "true" then return true end
    if l == "false" then return false end
  end
  return nil, bad_param(name, "must be a boolean (true or false), got " .. tostring(v))
end

return function(params)
  params = params or {}
  local names = {}
  for k in pairs(params) do names[#names + 1] = tostring(k) end
  table.sort(names)
  for _, k in ipairs(names) do
    if not KNOWN[k] then return nil, bad_param(k, "unknown parameter") end
  end
  local copyonread, err = bool_param(params, "copyonread", false)
  if copyonread == nil then return nil, err end
  local deleteold
  deleteold, err = bool_param(params, "deleteold", true)
  if deleteold == nil then return nil, err end
  local new, old
  new, err = store_param("new", params.new)
  if not new then return nil, err end
  old, err = store_param("old", params.old)
  if not old then return nil, err end
  if rawequal(new, old) then
    return nil, bad_param("old", "the same driver as new")
  end
  return setmetatable({
    name = NAME,
    new = new,
    old = old,
    copyonread = copyonread,
    deleteold = deleteold,
  }, Migrate)
end
