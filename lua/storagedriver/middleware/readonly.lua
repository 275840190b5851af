-- readonly: maintenance mode.  Writes (put_content, writer, move, delete)
-- fail with a Driver error whose code is "ReadOnly"; reads are not
-- overridden, so they reach the inner driver straight from C at no cost.
--
--   sd.wrap(d, "readonly", { message = "migration until 14:00 UTC" })
--
-- Options:
--   enabled  true (default) | false (everything passes, nothing is
--            overridden) | a function () -> boolean asked on every write,
--            for a switch flipped at run time (e.g. a flag in ngx.shared)
--   message  text appended to the error's detail
local core = require "storagedriver.core"

local WRITES = { "put_content", "writer", "move", "delete" }

local function bad(parameter, detail)
  return nil, core.error("InvalidParameter", { parameter = parameter, detail = detail })
end

return function(inner, options)
  options = options or {}
  local enabled, message = options.enabled, options.message
  if enabled == nil then enabled = true end
  local te = type(enabled)
  if te ~= "boolean" and te ~= "function" then
    return bad("enabled", "a boolean or a function expected, got a " .. te)
  end
  if message ~= nil and type(message) ~= "string" then
    return bad("message", "a string expected, got a " .. type(message))
  end
  if enabled == false then return {} end

  local methods = {}
  for _, op in ipairs(WRITES) do
    -- Built once: a refusal allocates nothing but the error the base makes.
    local detail = "read-only: " .. op .. " refused (maintenance mode)"
    if message and message ~= "" then detail = detail .. ": " .. message end
    local refusal = core.error("Driver", { detail = detail, code = "ReadOnly" })
    if enabled == true then
      methods[op] = function() return nil, refusal end
    else
      local switch, pass = enabled, inner[op] -- the C method, looked up once
      methods[op] = function(_, a, b)
        if switch() then return nil, refusal end
        return pass(inner, a, b)
      end
    end
  end
  return methods
end
