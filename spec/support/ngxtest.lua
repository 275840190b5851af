-- Test middlewares for the nginx specs, registered in every Lua VM that
-- requires this module (the request VMs and the thread-pool VMs: the
-- storagedriver.ngx configuration lists it under `modules`).
--
--   ngxtest_sleep    { seconds = s, writer = bool }: get_content and reader
--                    (and writer when asked) sleep s seconds first (a slow
--                    backend); everything else passes through
--   ngxtest_raise    reader and get_content raise a Lua error
--   ngxtest_redirect { baseurl = u }: redirect_url(path) = u .. path
--                    (stands in for the shipped `redirect` middleware)

local sd = require "storagedriver"

local sleep
do
  local ok, ffi = pcall(require, "ffi")
  if ok then
    pcall(ffi.cdef, "int poll(void *fds, unsigned long nfds, int timeout);")
    sleep = function(s) ffi.C.poll(nil, 0, math.floor(s * 1000)) end
  else
    sleep = function(s) os.execute("sleep " .. tostring(s)) end
  end
end

local names = {}
for _, n in ipairs(sd.middleware.names()) do names[n] = true end

if not names.ngxtest_sleep then
  sd.middleware.register("ngxtest_sleep", function(inner, options)
    local s = tonumber(options.seconds) or 1
    local methods = {
      get_content = function(_, path)
        sleep(s)
        return inner:get_content(path)
      end,
      reader = function(_, path, offset)
        sleep(s)
        return inner:reader(path, offset)
      end,
    }
    if options.writer then
      methods.writer = function(_, path, append)
        sleep(s)
        return inner:writer(path, append)
      end
    end
    return methods
  end)
end

if not names.ngxtest_raise then
  sd.middleware.register("ngxtest_raise", function()
    local function boom() error("boom from ngxtest_raise") end
    return { get_content = boom, reader = boom }
  end)
end

if not names.ngxtest_redirect then
  sd.middleware.register("ngxtest_redirect", function(_, options)
    if type(options.baseurl) ~= "string" then
      return nil, sd.error("InvalidParameter", { parameter = "baseurl", detail = "no baseurl provided" })
    end
    local base = options.baseurl:gsub("/+$", "")
    return {
      redirect_url = function(_, path) return base .. path end,
    }
  end)
end

return { sleep = sleep }
