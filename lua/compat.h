/*
 * One C source for Lua 5.4 and LuaJIT 2.1.
 *
 * The binding is written against the Lua 5.4 API.  LuaJIT 2.1 speaks the 5.1
 * API with a few 5.2 additions (LUA_OK, luaL_setfuncs, luaL_newlib,
 * luaL_setmetatable, luaL_testudata, lua_copy, lua_tointegerx); what is still
 * missing there is supplied below under the 5.4 names, so that the rest of the
 * code never tests the version.
 *
 * Besides the shims, two helpers have the same meaning under both versions:
 *  - sdl_checkinteger / sdl_tointegerx: 5.4 semantics (1.5 is not an integer)
 *    also under LuaJIT, whose own luaL_checkinteger silently truncates;
 *  - sdl_cpcall: run a C function in protected mode without allocating
 *    (5.4 has light C functions; LuaJIT has lua_cpcall).
 */
#ifndef SDL_COMPAT_H
#define SDL_COMPAT_H

#include <lauxlib.h>
#include <lua.h>

#include <stdint.h>

#if LUA_VERSION_NUM < 503 /* LuaJIT 2.1 */

/* Accessors that return the type of the pushed value (5.3+). */
static inline int sdl_compat_getfield(lua_State *L, int idx, const char *k)
{
    lua_getfield(L, idx, k);
    return lua_type(L, -1);
}
static inline int sdl_compat_gettable(lua_State *L, int idx)
{
    lua_gettable(L, idx);
    return lua_type(L, -1);
}
static inline int sdl_compat_rawget(lua_State *L, int idx)
{
    lua_rawget(L, idx);
    return lua_type(L, -1);
}
static inline int sdl_compat_rawgeti(lua_State *L, int idx, lua_Integer n)
{
    lua_rawgeti(L, idx, (int)n);
    return lua_type(L, -1);
}
static inline void sdl_compat_rawseti(lua_State *L, int idx, lua_Integer n)
{
    lua_rawseti(L, idx, (int)n);
}
#define lua_getfield sdl_compat_getfield
#define lua_gettable sdl_compat_gettable
#define lua_rawget sdl_compat_rawget
#define lua_rawgeti sdl_compat_rawgeti
#define lua_rawseti sdl_compat_rawseti

#define lua_rawlen(L, i) lua_objlen((L), (i))
#define lua_pushglobaltable(L) lua_pushvalue((L), LUA_GLOBALSINDEX)
#define luaL_typeerror(L, arg, tname) luaL_typerror((L), (arg), (tname))

static inline int lua_absindex(lua_State *L, int idx)
{
    return (idx > 0 || idx <= LUA_REGISTRYINDEX) ? idx : lua_gettop(L) + idx + 1;
}

/* All LuaJIT numbers are doubles: "integer" means integral and representable
 * as a lua_Integer (int64). */
static inline int sdl_compat_num_is_int(lua_Number n)
{
    return n >= -9223372036854775808.0 && n < 9223372036854775808.0 &&
           n == (lua_Number)(long long)n;
}
static inline int lua_isinteger(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TNUMBER && sdl_compat_num_is_int(lua_tonumber(L, idx));
}

/* User values: LuaJIT has one environment table per userdata, which starts
 * as some function's environment (often the globals) and must not be written
 * to.  The shim keeps the values in a table of its own, made when user value
 * 1 is set: set value 1 first (the binding sets it once, at creation). */
static inline void *lua_newuserdatauv(lua_State *L, size_t sz, int nuv)
{
    (void)nuv;
    return lua_newuserdata(L, sz);
}
static inline int lua_setiuservalue(lua_State *L, int idx, int n)
{
    idx = lua_absindex(L, idx);
    if (n == 1) {
        lua_createtable(L, 1, 0);
        lua_pushvalue(L, -1);
        lua_setfenv(L, idx);
    } else {
        lua_getfenv(L, idx);
    }
    lua_insert(L, -2); /* env, value */
    lua_rawseti(L, -2, n);
    lua_pop(L, 1);
    return 1;
}
static inline int lua_getiuservalue(lua_State *L, int idx, int n)
{
    lua_getfenv(L, idx);
    if (lua_type(L, -1) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_pushnil(L);
        return LUA_TNONE;
    }
    lua_rawgeti(L, -1, n);
    lua_remove(L, -2);
    return lua_type(L, -1);
}

/* luaL_tolstring (5.2+): __tostring, else the default conversion. */
static inline const char *luaL_tolstring(lua_State *L, int idx, size_t *len)
{
    idx = lua_absindex(L, idx);
    if (luaL_callmeta(L, idx, "__tostring")) {
        if (!lua_isstring(L, -1))
            luaL_error(L, "'__tostring' must return a string");
    } else {
        switch (lua_type(L, idx)) {
        case LUA_TNUMBER:
        case LUA_TSTRING:
            lua_pushvalue(L, idx);
            break;
        case LUA_TBOOLEAN:
            lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false");
            break;
        case LUA_TNIL:
            lua_pushliteral(L, "nil");
            break;
        default:
            lua_pushfstring(L, "%s: %p", luaL_typename(L, idx), lua_topointer(L, idx));
            break;
        }
    }
    return lua_tolstring(L, -1, len);
}

/* lua_cpcall: protected, and pushes nothing that allocates. */
static inline int sdl_cpcall(lua_State *L, lua_CFunction fn, void *ud)
{
    return lua_cpcall(L, fn, ud);
}

/* An integer with 5.4's rules: numbers must be integral, numeric strings are
 * converted. */
static inline lua_Integer sdl_tointegerx(lua_State *L, int idx, int *isint)
{
    int isnum = 0;
    lua_Number n = lua_tonumberx(L, idx, &isnum);
    if (isnum && sdl_compat_num_is_int(n)) {
        *isint = 1;
        return (lua_Integer)n;
    }
    *isint = 0;
    return 0;
}

#else /* Lua 5.3 / 5.4 */

static inline int sdl_cpcall(lua_State *L, lua_CFunction fn, void *ud)
{
    lua_pushcfunction(L, fn); /* a light C function: no allocation */
    lua_pushlightuserdata(L, ud);
    return lua_pcall(L, 1, 0, 0);
}

static inline lua_Integer sdl_tointegerx(lua_State *L, int idx, int *isint)
{
    return lua_tointegerx(L, idx, isint);
}

#endif

/* luaL_checkinteger with 5.4's behaviour under both versions. */
static inline lua_Integer sdl_checkinteger(lua_State *L, int arg)
{
    int ok = 0;
    lua_Integer v = sdl_tointegerx(L, arg, &ok);
    if (!ok) {
        if (lua_isnumber(L, arg))
            luaL_argerror(L, arg, "number has no integer representation");
        else
            luaL_typeerror(L, arg, "number");
    }
    return v;
}

static inline lua_Integer sdl_optinteger(lua_State *L, int arg, lua_Integer def)
{
    return lua_isnoneornil(L, arg) ? def : sdl_checkinteger(L, arg);
}

#endif
