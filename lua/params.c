/* A Lua parameter table -> sd_params (the typed map C factories read). */
#include "sdlua.h"

#include <string.h>

#define SDL_PARAMS_BOX_MT "storagedriver.params_box"

enum { PARAMS_MAX_DEPTH = 16 };

/* Owns the maps while they are filled: reading the table may raise (a
 * metamethod, out of memory), and then the userdata's __gc frees them.
 * pending[0] is the root; pending[i] the map being filled at depth i, not
 * yet attached to its parent. */
typedef struct params_box {
    sd_params *pending[PARAMS_MAX_DEPTH];
} params_box;

static int box_gc(lua_State *L)
{
    params_box *b = luaL_checkudata(L, 1, SDL_PARAMS_BOX_MT);
    for (int i = 0; i < PARAMS_MAX_DEPTH; i++) {
        sd_params_free(b->pending[i]);
        b->pending[i] = NULL;
    }
    return 0;
}

/* The parameter's full name for errors ("a.b" inside nested maps); pushed. */
static const char *push_name(lua_State *L, const char *prefix, int key_idx)
{
    if (lua_type(L, key_idx) == LUA_TSTRING || lua_type(L, key_idx) == LUA_TNUMBER) {
        lua_pushvalue(L, key_idx); /* tolstring on a copy: lua_next needs the key intact */
        const char *k = lua_tostring(L, -1);
        if (prefix)
            lua_pushfstring(L, "%s.%s", prefix, k);
        else
            lua_pushvalue(L, -1);
        lua_remove(L, -2);
    } else if (prefix) {
        lua_pushfstring(L, "%s.(%s key)", prefix, luaL_typename(L, key_idx));
    } else {
        lua_pushfstring(L, "(%s key)", luaL_typename(L, key_idx));
    }
    return lua_tostring(L, -1);
}

/* Fills b->pending[depth] from the table at tidx. */
static sd_error *fill(lua_State *L, params_box *b, const char *driver, int tidx,
                      const char *prefix, int depth)
{
    sd_params *p = b->pending[depth];
    luaL_checkstack(L, 6, "parameters nested too deeply");
    lua_pushnil(L);
    while (lua_next(L, tidx)) {
        int kidx = lua_gettop(L) - 1, vidx = lua_gettop(L);
        const char *name = push_name(L, prefix, kidx);
        if (lua_type(L, kidx) != LUA_TSTRING)
            return sd_err_invalid_parameter(driver, name, "parameter names must be strings");
        size_t klen;
        const char *key = lua_tolstring(L, kidx, &klen);
        if (strlen(key) != klen)
            return sd_err_invalid_parameter(driver, name, "parameter names must not hold NUL bytes");
        int rc = 0;
        switch (lua_type(L, vidx)) {
        case LUA_TSTRING: {
            size_t len;
            const char *s = lua_tolstring(L, vidx, &len);
            rc = sd_params_set_string(p, key, s, len);
            break;
        }
        case LUA_TNUMBER:
            /* Under LuaJIT an integral number is an integer (5.4 keeps 1.0 a
             * float; the C getters accept integral floats either way). */
            if (lua_isinteger(L, vidx))
                rc = sd_params_set_int(p, key, (int64_t)lua_tointeger(L, vidx));
            else
                rc = sd_params_set_number(p, key, (double)lua_tonumber(L, vidx));
            break;
        case LUA_TBOOLEAN:
            rc = sd_params_set_bool(p, key, lua_toboolean(L, vidx));
            break;
        case LUA_TTABLE: {
            if (depth + 1 >= PARAMS_MAX_DEPTH)
                return sd_err_invalid_parameter(driver, name, "nested too deeply");
            sd_params *sub = sd_params_new();
            if (!sub)
                return sd_err_driver("out of memory");
            b->pending[depth + 1] = sub;
            sd_error *e = fill(L, b, driver, vidx, name, depth + 1);
            if (e)
                return e;
            b->pending[depth + 1] = NULL;
            rc = sd_params_set_map(p, key, sub); /* takes sub, even on failure */
            break;
        }
        default:
            return sd_err_invalid_parameter(driver, name, "unsupported value type %s",
                                            luaL_typename(L, vidx));
        }
        if (rc != 0)
            return sd_err_driver("out of memory");
        lua_settop(L, kidx); /* keep the key for lua_next */
    }
    return NULL;
}

sd_error *sdl_params_from_lua(lua_State *L, int idx, const char *driver, sd_params **out)
{
    *out = NULL;
    if (lua_isnoneornil(L, idx))
        return NULL;
    idx = lua_absindex(L, idx);
    int top = lua_gettop(L);
    params_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    if (luaL_newmetatable(L, SDL_PARAMS_BOX_MT)) {
        lua_pushcfunction(L, box_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    b->pending[0] = sd_params_new();
    sd_error *e = b->pending[0] ? fill(L, b, driver, idx, NULL, 0) : sd_err_driver("out of memory");
    if (!e) {
        *out = b->pending[0];
        b->pending[0] = NULL;
    }
    for (int i = 0; i < PARAMS_MAX_DEPTH; i++) {
        sd_params_free(b->pending[i]);
        b->pending[i] = NULL;
    }
    lua_settop(L, top);
    return e;
}
