-- storagedriver: the public Lua API (DESIGN.md §2).
--
--   local sd = require "storagedriver"
--   local d, err = sd.create("filesystem", { rootdirectory = "/var/lib/registry" })
--
-- The work is done in C (storagedriver.core); this module is its public face.
local core = require "storagedriver.core"

local sd = {
  create   = core.create,    -- (name, params) --> driver | nil, err
  register = core.register,  -- (name, factory): a driver written in Lua
  drivers  = core.drivers,   -- () --> sorted names
  copy     = core.copy,      -- (src, src_path, dst, dst_path) --> true, nbytes | nil, err
  error    = core.error,     -- (kind, fields) --> error object (for Lua drivers)
  is_error = core.is_error,  -- (v) --> boolean
  SKIP_DIR = core.SKIP_DIR,  -- walk: do not enter this directory
  STOP     = core.STOP,      -- walk: end the walk early
  version  = core.version,
}

return sd
