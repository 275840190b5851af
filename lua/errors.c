/* Error objects: sd_error <-> Lua tables with the metatable "storagedriver.error". */
#include "sdlua.h"

#include <stdlib.h>
#include <string.h>

/* The kinds in sd_error_kind order. */
static const sd_error_kind all_kinds[] = {
    SD_ERR_PATH_NOT_FOUND, SD_ERR_INVALID_PATH,      SD_ERR_INVALID_OFFSET,
    SD_ERR_UNSUPPORTED_METHOD, SD_ERR_INVALID_DRIVER, SD_ERR_INVALID_PARAMETER,
    SD_ERR_DRIVER,
};

static bool kind_from_name(const char *name, sd_error_kind *out)
{
    for (size_t i = 0; i < sizeof all_kinds / sizeof all_kinds[0]; i++) {
        if (strcmp(sd_error_kind_name(all_kinds[i]), name) == 0) {
            *out = all_kinds[i];
            return true;
        }
    }
    return false;
}

static void set_string(lua_State *L, const char *key, const char *s)
{
    if (s) {
        lua_pushstring(L, s);
        lua_setfield(L, -2, key);
    }
}

void sdl_push_error_keep(lua_State *L, const sd_error *e)
{
    lua_createtable(L, 0, 6);
    if (!e) {
        lua_pushliteral(L, "Driver");
        lua_setfield(L, -2, "kind");
        lua_pushliteral(L, "unknown error");
        lua_setfield(L, -2, "detail");
        luaL_setmetatable(L, SDL_ERROR_MT);
        return;
    }
    lua_pushstring(L, sd_error_kind_name(e->kind));
    lua_setfield(L, -2, "kind");
    set_string(L, "driver", e->driver);
    if (e->path) {
        lua_pushlstring(L, e->path, e->path_len);
        lua_setfield(L, -2, "path");
    }
    if (e->kind == SD_ERR_INVALID_OFFSET) {
        lua_pushinteger(L, (lua_Integer)e->offset);
        lua_setfield(L, -2, "offset");
    }
    set_string(L, "name", e->name);
    set_string(L, "parameter", e->parameter);
    set_string(L, "detail", e->detail);
    if (e->status != 0) {
        lua_pushinteger(L, e->status);
        lua_setfield(L, -2, "status");
    }
    set_string(L, "code", e->code);
    luaL_setmetatable(L, SDL_ERROR_MT);
}

/* (Should pushing raise "not enough memory", e is lost: Lua is out of memory
 * then, and that error is the one worth reporting.) */
void sdl_push_error(lua_State *L, sd_error *e)
{
    sdl_push_error_keep(L, e);
    sd_error_free(e);
}

int sdl_fail(lua_State *L, sd_error *e)
{
    lua_pushnil(L);
    sdl_push_error(L, e);
    return 2;
}

bool sdl_is_error(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx))
        return false;
    luaL_getmetatable(L, SDL_ERROR_MT);
    bool yes = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return yes;
}

/* The runtime hands out one shared error when memory runs out; it must not be
 * written to.  It is the only Driver error without a driver whose detail is
 * "out of memory" that we did not ask for. */
static bool is_shared_oom(const sd_error *e, const char *asked)
{
    return e->kind == SD_ERR_DRIVER && !e->driver && e->detail &&
           strcmp(e->detail, "out of memory") == 0 && strcmp(asked, "out of memory") != 0;
}

sd_error *sdl_err_driver_full(const char *detail, int status, const char *code)
{
    sd_error *e = sd_err_driver("%s", detail);
    if ((status == 0 && !code) || is_shared_oom(e, detail))
        return e;
    e->status = status;
    if (code) {
        size_t n = strlen(code);
        e->code = malloc(n + 1);
        if (e->code)
            memcpy(e->code, code, n + 1);
    }
    return e;
}

/* A string field of the table at idx, or NULL; the value stays on the stack
 * (the pointer must outlive the pop), so callers count their pushes. */
static const char *opt_field(lua_State *L, int idx, const char *key, size_t *len)
{
    lua_getfield(L, idx, key);
    if (lua_type(L, -1) == LUA_TSTRING)
        return lua_tolstring(L, -1, len);
    if (lua_type(L, -1) == LUA_TNUMBER) {
        lua_pushvalue(L, -1); /* convert a copy, not the table's value */
        lua_replace(L, -2);
        return lua_tolstring(L, -1, len);
    }
    if (len)
        *len = 0;
    return NULL;
}

static sd_error *from_kind_table(lua_State *L, int idx, const char *kindname)
{
    int top = lua_gettop(L);
    size_t plen = 0;
    const char *path = opt_field(L, idx, "path", &plen);
    const char *name = opt_field(L, idx, "name", NULL);
    const char *parameter = opt_field(L, idx, "parameter", NULL);
    const char *detail = opt_field(L, idx, "detail", NULL);
    const char *code = opt_field(L, idx, "code", NULL);
    int isint = 0;
    lua_getfield(L, idx, "offset");
    lua_Integer offset = sdl_tointegerx(L, -1, &isint);
    lua_getfield(L, idx, "status");
    lua_Integer status = sdl_tointegerx(L, -1, &isint);
    if (!isint)
        status = 0;

    sd_error *e;
    sd_error_kind kind;
    if (!kind_from_name(kindname, &kind)) {
        /* Not one of ours: keep what it says as a Driver error. */
        const char *what = detail ? detail : lua_pushfstring(L, "unknown error kind %s", kindname);
        e = sdl_err_driver_full(what, (int)status, code);
        lua_settop(L, top);
        return e;
    }
    switch (kind) {
    case SD_ERR_PATH_NOT_FOUND:
        e = sd_err_path_not_found(path ? path : "");
        break;
    case SD_ERR_INVALID_PATH:
        e = sd_err_invalid_path(path ? path : "", plen);
        break;
    case SD_ERR_INVALID_OFFSET:
        e = sd_err_invalid_offset(path ? path : "", (int64_t)offset);
        break;
    case SD_ERR_UNSUPPORTED_METHOD:
        e = sd_err_unsupported();
        break;
    case SD_ERR_INVALID_DRIVER:
        e = sd_err_invalid_driver(name ? name : "");
        break;
    case SD_ERR_INVALID_PARAMETER:
        e = sd_err_invalid_parameter(NULL, parameter ? parameter : "", "%s",
                                     detail ? detail : "invalid");
        break;
    case SD_ERR_DRIVER:
    default:
        e = sdl_err_driver_full(detail ? detail : "error", (int)status, code);
        break;
    }
    lua_settop(L, top);
    return e;
}

sd_error *sdl_error_from_lua(lua_State *L, int idx, const char *what)
{
    idx = lua_absindex(L, idx);
    int t = lua_type(L, idx);
    if (t == LUA_TSTRING || t == LUA_TNUMBER) {
        lua_pushvalue(L, idx);
        sd_error *e = sd_err_driver("%s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return e;
    }
    if (t == LUA_TTABLE) {
        lua_getfield(L, idx, "kind");
        if (lua_type(L, -1) == LUA_TSTRING) {
            sd_error *e = from_kind_table(L, idx, lua_tostring(L, -1));
            lua_pop(L, 1);
            return e;
        }
        lua_pop(L, 1);
    }
    if (t != LUA_TNIL && luaL_getmetafield(L, idx, "__tostring") != 0) {
        lua_pop(L, 1);
        const char *s = luaL_tolstring(L, idx, NULL);
        sd_error *e = sd_err_driver("%s", s);
        lua_pop(L, 1);
        return e;
    }
    if (t == LUA_TNIL)
        return sd_err_driver("%s failed without an error value", what);
    return sd_err_driver("%s failed with an error value of type %s", what, lua_typename(L, t));
}

/* ------------------------------------------------------------ Lua side */

/* Pushes the field as text ("" when absent). */
static void push_text(lua_State *L, int idx, const char *key)
{
    lua_getfield(L, idx, key);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushliteral(L, "");
    } else if (lua_type(L, -1) != LUA_TSTRING) {
        luaL_tolstring(L, -1, NULL);
        lua_remove(L, -2);
    }
}

static int err_tostring(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "kind");
    const char *kindname = lua_tostring(L, -1);
    sd_error_kind kind = SD_ERR_DRIVER;
    if (!kindname || !kind_from_name(kindname, &kind))
        kind = SD_ERR_DRIVER;
    lua_settop(L, 1);
    switch (kind) {
    case SD_ERR_PATH_NOT_FOUND:
        push_text(L, 1, "driver");
        lua_pushliteral(L, ": Path not found: ");
        push_text(L, 1, "path");
        break;
    case SD_ERR_INVALID_PATH:
        push_text(L, 1, "driver");
        lua_pushliteral(L, ": invalid path: ");
        push_text(L, 1, "path");
        break;
    case SD_ERR_INVALID_OFFSET:
        push_text(L, 1, "driver");
        lua_pushliteral(L, ": invalid offset: ");
        push_text(L, 1, "offset");
        lua_pushliteral(L, " for path: ");
        push_text(L, 1, "path");
        break;
    case SD_ERR_UNSUPPORTED_METHOD:
        push_text(L, 1, "driver");
        lua_pushliteral(L, ": unsupported method");
        break;
    case SD_ERR_INVALID_DRIVER:
        lua_pushliteral(L, "StorageDriver not registered: ");
        push_text(L, 1, "name");
        break;
    case SD_ERR_INVALID_PARAMETER:
        push_text(L, 1, "driver");
        lua_pushliteral(L, ": invalid parameter ");
        push_text(L, 1, "parameter");
        lua_pushliteral(L, ": ");
        push_text(L, 1, "detail");
        break;
    case SD_ERR_DRIVER:
    default:
        push_text(L, 1, "driver");
        lua_pushliteral(L, ": ");
        push_text(L, 1, "detail");
        break;
    }
    lua_concat(L, lua_gettop(L) - 1);
    return 1;
}

/* sd.error(kind, fields) */
int sdl_l_error(lua_State *L)
{
    const char *kindname = luaL_checkstring(L, 1);
    sd_error_kind kind;
    if (!kind_from_name(kindname, &kind))
        return luaL_argerror(L, 1, lua_pushfstring(L, "unknown error kind '%s'", kindname));
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    lua_newtable(L);
    if (!lua_isnil(L, 2)) {
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, 3);
        }
    }
    lua_pushstring(L, sd_error_kind_name(kind));
    lua_setfield(L, 3, "kind");
    luaL_setmetatable(L, SDL_ERROR_MT);
    return 1;
}

/* sd.is_error(v) */
int sdl_l_is_error(lua_State *L)
{
    lua_pushboolean(L, sdl_is_error(L, 1));
    return 1;
}

void sdl_open_errors(lua_State *L)
{
    luaL_newmetatable(L, SDL_ERROR_MT);
    lua_pushcfunction(L, err_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, SDL_ERROR_MT);
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
}
