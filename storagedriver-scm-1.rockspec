rockspec_format = "3.0"
package = "storagedriver"
version = "scm-1"
source = {
   url = "git+file:///work/main",
   branch = "main",
}
description = {
   summary = "Registry-style storage drivers (inmemory, filesystem, cloud stores) with a C core",
   detailed = [[
One driver contract (get/put content, streaming reader and resumable writer,
stat, list, move, delete, redirect URL, walk), a factory that creates drivers
by name from a parameter map, and the drivers themselves, in C, for Lua 5.4
and LuaJIT/OpenResty.
]],
   license = "Apache-2.0",
}
dependencies = {
   "lua >= 5.1",
}
build = {
   type = "make",
   build_target = "rock",
   build_variables = {
      CFLAGS = "$(CFLAGS)",
      LUA_INCDIR = "$(LUA_INCDIR)",
   },
   install_target = "install-rock",
   install_variables = {
      INST_LIBDIR = "$(LIBDIR)",
      INST_LUADIR = "$(LUADIR)",
   },
}
