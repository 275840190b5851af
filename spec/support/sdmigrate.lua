-- Registers the Lua driver "migrate" (lua/storagedriver/drivers/migrate.lua)
-- unless storagedriver/init.lua already does, and loads luamem, so that the
-- conformance suite can run over it:
--
--   SD_REQUIRE=sdmigrate SD_DRIVER=migrate SD_PARAMS='new=inmemory old=luamem' \
--     SD_CAPS=atomic_writer=true sh spec/run.sh spec/contract
local sd = require "storagedriver"
require "luamem"

local function registered(name)
  for _, n in ipairs(sd.drivers()) do
    if n == name then return true end
  end
  return false
end

if not registered("migrate") then
  sd.register("migrate", require("storagedriver.drivers.migrate"))
end

return true
