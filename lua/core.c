/*
 * storagedriver.core: the Lua face of the C core.
 *
 * Module functions (create, register, drivers, copy, error, is_error), the
 * driver userdata and its methods, and walk.  Every storage operation goes
 * through the C base layer (runtime/base.c), which validates paths and
 * offsets and stamps the driver's name on errors; the binding adds only what
 * the base cannot see: NUL bytes inside a Lua string path, argument types
 * (misuse raises), and the conversion of results and errors.
 *
 * Results that the C core allocates are received into a "box" userdata made
 * before the call, so that an out-of-memory error raised while pushing the
 * result cannot leak them.
 */
#include "sdlua.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SDL_BOX_MT "storagedriver.box"

typedef struct sdl_driver_ud {
    sdl_handle *h; /* NULL once collected (or while being created) */
} sdl_driver_ud;

/* ---------------------------------------------------------------- boxes */

enum { BOX_BUF = 1, BOX_LIST, BOX_INFO, BOX_STR };

typedef struct sdl_box {
    int kind;
    union {
        sd_buf buf;
        sd_strlist list;
        sd_fileinfo fi;
        char *str;
    } u;
} sdl_box;

static void box_clear(sdl_box *b)
{
    switch (b->kind) {
    case BOX_BUF: sd_buf_free(&b->u.buf); break;
    case BOX_LIST: sd_strlist_free(&b->u.list); break;
    case BOX_INFO: sd_fileinfo_clear(&b->u.fi); break;
    case BOX_STR: free(b->u.str); break;
    }
    memset(&b->u, 0, sizeof b->u);
}

static int box_gc(lua_State *L)
{
    box_clear(luaL_checkudata(L, 1, SDL_BOX_MT));
    return 0;
}

static sdl_box *box_new(lua_State *L, int kind)
{
    sdl_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    b->kind = kind;
    luaL_setmetatable(L, SDL_BOX_MT);
    return b;
}

/* -------------------------------------------------------------- handles */

void sdl_handle_release(lua_State *L, sdl_handle *h)
{
    if (h && --h->refs == 0) {
        sdl_enter(h->d, L); /* a Lua driver's destroy unrefs its table */
        sd_driver_free(h->d);
        free(h);
    }
}

static sdl_driver_ud *new_driver_ud(lua_State *L)
{
    sdl_driver_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->h = NULL;
    luaL_setmetatable(L, SDL_DRIVER_MT);
    return u;
}

/* Hands d over to the userdata u (never raises). */
static sd_error *adopt(lua_State *L, sdl_driver_ud *u, sd_driver *d)
{
    sdl_handle *h = malloc(sizeof *h);
    if (!h) {
        sdl_enter(d, L);
        sd_driver_free(d);
        return sd_err_driver("out of memory");
    }
    h->d = d;
    h->refs = 1;
    u->h = h;
    return NULL;
}

static sdl_handle *check_driver(lua_State *L, int idx)
{
    sdl_driver_ud *u = luaL_checkudata(L, idx, SDL_DRIVER_MT);
    if (!u->h)
        luaL_error(L, "attempt to use a released driver");
    return u->h;
}

/* ---------------------------------------------------------- arguments */

static const char *check_bytes(lua_State *L, int arg, size_t *len)
{
    if (lua_type(L, arg) != LUA_TSTRING)
        luaL_typeerror(L, arg, "string");
    return lua_tolstring(L, arg, len);
}

/* The C core sees paths as C strings; a NUL byte inside the Lua string would
 * cut it short, so it is caught here, with the full bytes in the error. */
static sd_error *nul_path(const sd_driver *d, const char *path, size_t len)
{
    if (!memchr(path, '\0', len))
        return NULL;
    sd_error *e = sd_err_invalid_path(path, len);
    sd_error_set_driver(e, sd_driver_name(d));
    return e;
}

/* The path argument: raises unless a string; NULL (nil, err pushed) when it
 * holds a NUL byte. */
static const char *path_arg(lua_State *L, sdl_handle *h, int arg, int *nret)
{
    size_t len;
    const char *p = check_bytes(L, arg, &len);
    sd_error *e = nul_path(h->d, p, len);
    if (e) {
        *nret = sdl_fail(L, e);
        return NULL;
    }
    return p;
}

static int ok_or_fail(lua_State *L, sd_error *e)
{
    if (e)
        return sdl_fail(L, e);
    lua_pushboolean(L, 1);
    return 1;
}

/* ------------------------------------------------------------ fileinfo */

void sdl_push_fileinfo(lua_State *L, const sd_fileinfo *fi)
{
    lua_createtable(L, 0, 4);
    lua_pushstring(L, fi->path ? fi->path : "");
    lua_setfield(L, -2, "path");
    lua_pushinteger(L, (lua_Integer)fi->size);
    lua_setfield(L, -2, "size");
    lua_pushnumber(L, (lua_Number)fi->mtime_sec + (lua_Number)fi->mtime_nsec / 1e9);
    lua_setfield(L, -2, "modtime");
    lua_pushboolean(L, fi->is_dir);
    lua_setfield(L, -2, "is_dir");
}

/* ----------------------------------------------------------- sentinels */

void sdl_push_sentinel(lua_State *L, const char *key)
{
    lua_getfield(L, LUA_REGISTRYINDEX, key);
}

static int sentinel_tostring(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, SDL_SKIP_DIR_KEY);
    bool skip = lua_rawequal(L, 1, -1);
    lua_pushstring(L, skip ? "storagedriver.SKIP_DIR" : "storagedriver.STOP");
    return 1;
}

/* The same values for every load of the module in one Lua state. */
static void make_sentinel(lua_State *L, const char *key)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, key) == LUA_TTABLE) {
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    lua_newtable(L);
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, sentinel_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, key);
}

/* ------------------------------------------------------ driver methods */

static int d_name(lua_State *L)
{
    lua_pushstring(L, sd_driver_name(check_driver(L, 1)->d));
    return 1;
}

static int d_get_content(lua_State *L)
{
    sdl_handle *h = check_driver(L, 1);
    int nret;
    const char *path = path_arg(L, h, 2, &nret);
    if (!path)
        return nret;
    sdl_box *b = box_new(L, BOX_BUF);
    lua_State *prev = sdl_enter(h->d, L);
    sd_error *e = sd_get_content(h->d, path, &b->u.buf);
    sdl_leave(h->d, prev);
    if (e)
        return sdl_fail(L, e);
    lua_pushlstring(L, b->u.buf.data ? b->u.buf.data : "", b->u.buf.len);
    box_clear(b);
    return 1;
}

static int d_put_content(lua_State *L)
{
    sdl_handle *h = check_driver(L, 1);
    size_t len;
    const char *bytes = check_bytes(L, 3, &len);
    int nret;
    const char *path = path_arg(L, h, 2, &nret);
    if (!path)
        return nret;
    lua_State *prev = sdl_enter(h->d, L);
    sd_error *e = sd_put_content(h->d, path, bytes, len);
    sdl_leave(h->d, prev);
    return ok_or_fail(L, e);
}

static int d_reader(lua_State *L)
{
    sdl_handle *h = check_driver(L, 1);
    lua_Integer offset = sdl_optinteger(L, 3, 0);
    size_t len;
    const char *path = check_bytes(L, 2, &len);
    sd_error *e = nul_path(h->d, path, len);
    if (e) {
        if (offset < 0 && e->kind == SD_ERR_INVALID_PATH) {
            /* The offset is reported first; sd_err_invalid_offset would cut the
             * path at the NUL, so the InvalidPath error (full bytes) becomes it. */
            e->kind = SD_ERR_INVALID_OFFSET;
            e->offset = (int64_t)offset;
        }
        return sdl_fail(L, e);
    }
    sdl_reader_ud *u = sdl_reader_new(L, 1);
    sd_reader *r = NULL;
    lua_State *prev = sdl_enter(h->d, L);
    e = sd_reader_open(h->d, path, (int64_t)offset, &r);
    sdl_leave(h->d, prev);
    if (e)
        return sdl_fail(L, e);
    sdl_reader_attach(u, h, r);
    return 1;
}

static int d_writer(lua_State *L)
{
    sdl_handle *h = check_driver(L, 1);
    bool append = false;
    if (!lua_isnoneornil(L, 3)) {
        if (lua_type(L, 3) != LUA_TBOOLEAN)
            luaL_typeerror(L, 3, "boolean");
        append = lua_toboolean(L, 3);
    }
    int nret;
    const char *path = path_arg(L, h, 2, &nret);
    if (!path)
        return nret;
    sdl_writer_ud *u = sdl_writer_new(L, 1);
    sd_writer *w = NULL;
    lua_State *prev = sdl_enter(h->d, L);
    sd_error *e = sd_writer_open(h->d, path, append, &w);
    sdl_leave(h->d, prev);
    if (e)
        return sdl_fail(L, e);
    sdl_writer_attach(u, h, w);
    return 1;
}

static int d_stat(lua_State *L)
{
    sdl_handle *h = check_driver(L, 1);
    int nret;
    const char *path = path_arg(L, h, 2, &nret);
    if (!path)
        return nret;
    sdl_box *b = box_new(L, BOX_INFO);
    lua_State *prev = sdl_enter(h->d, L);
    sd_error *e = sd_stat(h->d, path, &b->u.fi);
    sdl_leave(h->d, prev);
    if (e)
        return sdl_fail(L, e);
    sdl_push_fileinfo(L, &b->u.fi);
    box_clear(b);
    return 1;
}

static int d_list(lua_State *L)
{
    sdl_handle *h = check_driver(L, 1);
    int nret;
    const char *path = path_arg(L, h, 2, &nret);
    if (!path)
        return nret;
    sdl_box *b = box_new(L, BOX_LIST);
    lua_State *prev = sdl_enter(h->d, L);
    sd_error *e = sd_list(h->d, path, &b->u.list);
    sdl_leave(h->d, prev);
    if (e)
        return sdl_fail(L, e);
    size_t n = b->u.list.len;
    lua_createtable(L, n > (size_t)INT32_MAX ? 0 : (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, b->u.list.items[i]);
        lua_rawseti(L, -2, (lua_Integer)(i + 1));
    }
    box_clear(b);
    return 1;
}

static int d_move(lua_State *L)
{
    sdl_handle *h = check_driver(L, 1);
    check_bytes(L, 3, NULL);
    int nret;
    const char *src = path_arg(L, h, 2, &nret);
    if (!src)
        return nret;
    const char *dst = path_arg(L, h, 3, &nret);
    if (!dst)
        return nret;
    lua_State *prev = sdl_enter(h->d, L);
    sd_error *e = sd_move(h->d, src, dst);
    sdl_leave(h->d, prev);
    return ok_or_fail(L, e);
}

static int d_delete(lua_State *L)
{
    sdl_handle *h = check_driver(L, 1);
    int nret;
    const char *path = path_arg(L, h, 2, &nret);
    if (!path)
        return nret;
    lua_State *prev = sdl_enter(h->d, L);
    sd_error *e = sd_delete(h->d, path);
    sdl_leave(h->d, prev);
    return ok_or_fail(L, e);
}

/* d:redirect_url(path [, {method=, expiry=, client_ip=}]) --> url | nil, nil | nil, err */
static int d_redirect_url(lua_State *L)
{
    sdl_handle *h = check_driver(L, 1);
    check_bytes(L, 2, NULL);
    sd_redirect_opts opts = {"GET", 0, NULL};
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        int t = lua_getfield(L, 3, "method");
        if (t == LUA_TSTRING)
            opts.method = lua_tostring(L, -1); /* stays on the stack */
        else if (t != LUA_TNIL)
            luaL_argerror(L, 3, "method must be a string");
        t = lua_getfield(L, 3, "expiry");
        if (t != LUA_TNIL) {
            int ok = 0;
            lua_Integer x = t == LUA_TNUMBER ? sdl_tointegerx(L, -1, &ok) : 0;
            if (!ok || x < 0)
                luaL_argerror(L, 3, "expiry must be a non-negative integer (seconds)");
            opts.expiry = (int64_t)x;
        }
        t = lua_getfield(L, 3, "client_ip");
        if (t == LUA_TSTRING)
            opts.client_ip = lua_tostring(L, -1); /* stays on the stack */
        else if (t != LUA_TNIL)
            luaL_argerror(L, 3, "client_ip must be a string");
    }
    int nret;
    const char *path = path_arg(L, h, 2, &nret);
    if (!path)
        return nret;
    sdl_box *b = box_new(L, BOX_STR);
    lua_State *prev = sdl_enter(h->d, L);
    sd_error *e = sd_redirect_url(h->d, path, &opts, &b->u.str);
    sdl_leave(h->d, prev);
    if (e)
        return sdl_fail(L, e);
    if (!b->u.str) {
        lua_pushnil(L);
        lua_pushnil(L);
        return 2;
    }
    lua_pushstring(L, b->u.str);
    box_clear(b);
    return 1;
}

/* ----------------------------------------------------------------- walk */

/* The walk's Lua state lives in a registry table (the callback may run in a
 * deeper C frame: a Lua driver's own walk calling back): */
enum { WT_FN = 1, WT_SKIP, WT_STOP, WT_RESULT, WT_RAISED, WT_SIZE = WT_RAISED };
enum { WV_NONE = 0, WV_RESULT, WV_RAISED, WV_FAILED };

typedef struct walk_ctx {
    lua_State *L;
    int ref;
    int verdict;
    int action;
    const sd_fileinfo *fi;
} walk_ctx;

/* Protected: calls fn(fileinfo) and classifies what it returned. */
static int walk_call(lua_State *L)
{
    walk_ctx *w = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, w->ref); /* 2: the walk table */
    lua_rawgeti(L, 2, WT_FN);
    sdl_push_fileinfo(L, w->fi);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        lua_rawseti(L, 2, WT_RAISED);
        w->verdict = WV_RAISED;
        w->action = SD_WALK_ERROR;
        return 0;
    }
    if (lua_isnil(L, 3)) {
        w->action = SD_WALK_CONTINUE;
        return 0;
    }
    lua_rawgeti(L, 2, WT_SKIP);
    lua_rawgeti(L, 2, WT_STOP);
    if (lua_rawequal(L, 3, 4)) {
        w->action = SD_WALK_SKIP_DIR;
    } else if (lua_rawequal(L, 3, 5)) {
        w->action = SD_WALK_STOP;
    } else {
        lua_pushvalue(L, 3);
        lua_rawseti(L, 2, WT_RESULT);
        w->verdict = WV_RESULT;
        w->action = SD_WALK_ERROR;
    }
    return 0;
}

static int walk_cb(void *ud, const sd_fileinfo *fi, sd_error **err)
{
    walk_ctx *w = ud;
    if (w->verdict != WV_NONE) { /* a walk that did not stop when told to */
        *err = sd_err_driver("walk ended by its function");
        return SD_WALK_ERROR;
    }
    lua_State *L = w->L;
    int top = lua_gettop(L);
    w->fi = fi;
    w->action = SD_WALK_CONTINUE;
    int st = lua_checkstack(L, 8) ? sdl_cpcall(L, walk_call, w) : LUA_ERRMEM;
    lua_settop(L, top);
    if (st != LUA_OK) {
        w->verdict = WV_FAILED;
        *err = sd_err_driver("walk: out of memory");
        return SD_WALK_ERROR;
    }
    if (w->action == SD_WALK_ERROR)
        *err = sd_err_driver("walk ended by its function");
    return w->action;
}

/* d:walk(path, fn [, {start_after=}]) --> true | nil, err */
static int d_walk(lua_State *L)
{
    sdl_handle *h = check_driver(L, 1);
    check_bytes(L, 2, NULL);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    const char *start_after = NULL;
    if (!lua_isnoneornil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
        int t = lua_getfield(L, 4, "start_after");
        if (t == LUA_TSTRING)
            start_after = lua_tostring(L, -1); /* stays on the stack */
        else if (t != LUA_TNIL)
            luaL_argerror(L, 4, "start_after must be a string");
    }
    int nret;
    const char *path = path_arg(L, h, 2, &nret);
    if (!path)
        return nret;

    lua_createtable(L, WT_SIZE, 0);
    lua_pushvalue(L, 3);
    lua_rawseti(L, -2, WT_FN);
    sdl_push_sentinel(L, SDL_SKIP_DIR_KEY);
    lua_rawseti(L, -2, WT_SKIP);
    sdl_push_sentinel(L, SDL_STOP_KEY);
    lua_rawseti(L, -2, WT_STOP);
    lua_pushboolean(L, 0); /* placeholders: later stores allocate nothing */
    lua_rawseti(L, -2, WT_RESULT);
    lua_pushboolean(L, 0);
    lua_rawseti(L, -2, WT_RAISED);
    int tidx = lua_gettop(L);
    lua_pushvalue(L, tidx);
    walk_ctx w = {L, luaL_ref(L, LUA_REGISTRYINDEX), WV_NONE, 0, NULL};

    lua_State *prev = sdl_enter(h->d, L);
    sd_error *e = sd_walk(h->d, path, start_after, walk_cb, &w);
    sdl_leave(h->d, prev);
    luaL_unref(L, LUA_REGISTRYINDEX, w.ref);

    switch (w.verdict) {
    case WV_RAISED:
        sd_error_free(e);
        lua_rawgeti(L, tidx, WT_RAISED);
        return lua_error(L);
    case WV_RESULT:
        sd_error_free(e);
        lua_rawgeti(L, tidx, WT_RESULT);
        lua_pushnil(L);
        if (sdl_is_error(L, -2)) {
            lua_pushstring(L, sd_driver_name(h->d));
            lua_setfield(L, -3, "driver");
            lua_insert(L, -2); /* nil, err */
            return 2;
        }
        lua_createtable(L, 0, 4);
        lua_pushliteral(L, "Driver");
        lua_setfield(L, -2, "kind");
        lua_pushstring(L, sd_driver_name(h->d));
        lua_setfield(L, -2, "driver");
        luaL_tolstring(L, -3, NULL);
        lua_setfield(L, -2, "detail");
        lua_pushvalue(L, -3);
        lua_setfield(L, -2, "cause");
        luaL_setmetatable(L, SDL_ERROR_MT);
        return 2;
    default:
        return ok_or_fail(L, e);
    }
}

/* ------------------------------------------------------- driver object */

static int d_gc(lua_State *L)
{
    sdl_driver_ud *u = luaL_checkudata(L, 1, SDL_DRIVER_MT);
    sdl_handle *h = u->h;
    u->h = NULL;
    sdl_handle_release(L, h);
    return 0;
}

static int d_tostring(lua_State *L)
{
    sdl_driver_ud *u = luaL_checkudata(L, 1, SDL_DRIVER_MT);
    if (u->h)
        lua_pushfstring(L, "storagedriver.driver (%s): %p", sd_driver_name(u->h->d), (void *)u);
    else
        lua_pushfstring(L, "storagedriver.driver (released): %p", (void *)u);
    return 1;
}

/* ---------------------------------------------------- module functions */

/* The table of Lua factories of this state (pushed). */
static void push_factories(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, SDL_FACTORIES_KEY) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, SDL_FACTORIES_KEY);
    }
}

/* sd.create(name [, params]) --> driver | nil, err */
static int l_create(lua_State *L)
{
    const char *name = check_bytes(L, 1, NULL);
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    push_factories(L);
    lua_getfield(L, 3, name); /* 4: the Lua factory, if any */
    sdl_driver_ud *u = new_driver_ud(L); /* 5 */
    sd_driver *d = NULL;
    sd_error *e;
    if (lua_isfunction(L, 4)) {
        if (lua_isnil(L, 2)) {
            lua_newtable(L);
            lua_replace(L, 2);
        }
        e = sdl_bridge_create(L, name, 4, 2, &d);
    } else {
        sd_params *p = NULL;
        e = sdl_params_from_lua(L, 2, name, &p);
        if (!e)
            e = sd_create(name, p, &d);
        sd_params_free(p);
    }
    if (!e)
        e = adopt(L, u, d);
    if (e)
        return sdl_fail(L, e);
    lua_settop(L, 5);
    return 1;
}

/* sd.register(name, factory) */
static int l_register(lua_State *L)
{
    const char *name = check_bytes(L, 1, NULL);
    luaL_argcheck(L, *name != '\0', 1, "a driver needs a name");
    luaL_checktype(L, 2, LUA_TFUNCTION);
    push_factories(L);
    int lua_taken = lua_getfield(L, 3, name) != LUA_TNIL;
    lua_pop(L, 1);
    if (lua_taken || sd_driver_registered(name)) {
        lua_pushfstring(L, "StorageDriverFactory named %s already registered", name);
        return lua_error(L);
    }
    lua_pushvalue(L, 2);
    lua_setfield(L, 3, name);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* sd.drivers() --> sorted names, C and Lua */
static int l_drivers(lua_State *L)
{
    sdl_box *b = box_new(L, BOX_LIST); /* 1 */
    sd_error *e = sd_drivers(&b->u.list);
    if (e) {
        lua_pushstring(L, e->detail ? e->detail : "sd_drivers failed");
        sd_error_free(e);
        return lua_error(L);
    }
    lua_newtable(L); /* 2: the set of names */
    for (size_t i = 0; i < b->u.list.len; i++) {
        lua_pushboolean(L, 1);
        lua_setfield(L, 2, b->u.list.items[i]);
    }
    box_clear(b);
    push_factories(L); /* 3 */
    lua_pushnil(L);
    while (lua_next(L, 3)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING) {
            lua_pushvalue(L, -1);
            lua_pushboolean(L, 1);
            lua_rawset(L, 2);
        }
    }
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        lua_pop(L, 1);
        n++;
    }
    /* The names stay anchored as keys of the set while they are sorted. */
    const char **names = lua_newuserdatauv(L, (n ? n : 1) * sizeof *names, 0); /* 4 */
    size_t i = 0;
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        lua_pop(L, 1);
        names[i++] = lua_tostring(L, -1);
    }
    qsort(names, n, sizeof *names, cmp_names);
    lua_createtable(L, (int)n, 0);
    for (i = 0; i < n; i++) {
        lua_pushstring(L, names[i]);
        lua_rawseti(L, -2, (lua_Integer)(i + 1));
    }
    return 1;
}

/* core.wrap(driver, methods) --> driver: the middleware bridge (sd.wrap in
 * init.lua checks the middleware and its options first). */
static int l_wrap(lua_State *L)
{
    sdl_handle *h = check_driver(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    sdl_driver_ud *u = new_driver_ud(L); /* 3 */
    sd_driver *d = NULL;
    sd_error *e = sdl_middleware_create(L, h, 2, &d);
    if (!e)
        e = adopt(L, u, d);
    if (e)
        return sdl_fail(L, e);
    lua_settop(L, 3);
    return 1;
}

/* core.is_driver(v) --> boolean */
static int l_is_driver(lua_State *L)
{
    lua_pushboolean(L, luaL_testudata(L, 1, SDL_DRIVER_MT) != NULL);
    return 1;
}

/* sd.copy(src, src_path, dst, dst_path) --> true, nbytes | nil, err */
static int l_copy(lua_State *L)
{
    sdl_handle *src = check_driver(L, 1);
    check_bytes(L, 2, NULL);
    sdl_handle *dst = check_driver(L, 3);
    check_bytes(L, 4, NULL);
    int nret;
    const char *sp = path_arg(L, src, 2, &nret);
    if (!sp)
        return nret;
    const char *dp = path_arg(L, dst, 4, &nret);
    if (!dp)
        return nret;
    int64_t copied = 0;
    lua_State *prev_src = sdl_enter(src->d, L);
    lua_State *prev_dst = sdl_enter(dst->d, L);
    sd_error *e = sd_copy(src->d, sp, dst->d, dp, &copied);
    sdl_leave(dst->d, prev_dst);
    sdl_leave(src->d, prev_src);
    if (e)
        return sdl_fail(L, e);
    lua_pushboolean(L, 1);
    lua_pushinteger(L, (lua_Integer)copied);
    return 2;
}

/* ---------------------------------------------------------------- time */

/* core.now() --> seconds on the monotonic clock (for latencies: os.clock is
 * CPU time, os.time whole seconds of the wall clock). */
static int l_now(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

/* core.sleep(seconds): blocks the calling OS thread (never use it on
 * nginx's event loop; ngx.sleep is the non-blocking one there). */
static int l_sleep(lua_State *L)
{
    lua_Number s = luaL_checknumber(L, 1);
    luaL_argcheck(L, s >= 0 && s <= 1e9, 1, "seconds must be a number from 0 to 1e9");
    struct timespec req;
    req.tv_sec = (time_t)s;
    req.tv_nsec = (long)((s - (lua_Number)req.tv_sec) * 1e9);
    if (req.tv_nsec > 999999999L)
        req.tv_nsec = 999999999L;
    while (nanosleep(&req, &req) != 0 && errno == EINTR)
        ;
    return 0;
}

/* --------------------------------------------------------------- open */

__attribute__((visibility("default"))) int luaopen_storagedriver_core(lua_State *L);

int luaopen_storagedriver_core(lua_State *L)
{
    static const luaL_Reg driver_methods[] = {
        {"name", d_name},
        {"get_content", d_get_content},
        {"put_content", d_put_content},
        {"reader", d_reader},
        {"writer", d_writer},
        {"stat", d_stat},
        {"list", d_list},
        {"move", d_move},
        {"delete", d_delete},
        {"redirect_url", d_redirect_url},
        {"walk", d_walk},
        {NULL, NULL},
    };
    static const luaL_Reg funcs[] = {
        {"create", l_create},
        {"register", l_register},
        {"drivers", l_drivers},
        {"copy", l_copy},
        {"wrap", l_wrap},
        {"is_driver", l_is_driver},
        {"error", sdl_l_error},
        {"is_error", sdl_l_is_error},
        {"now", l_now},
        {"sleep", l_sleep},
        {NULL, NULL},
    };

    luaL_newmetatable(L, SDL_DRIVER_MT);
    luaL_newlib(L, driver_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, d_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, d_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, SDL_DRIVER_MT);
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);

    luaL_newmetatable(L, SDL_BOX_MT);
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);

    sdl_open_streams(L);
    sdl_open_errors(L);
    make_sentinel(L, SDL_SKIP_DIR_KEY);
    make_sentinel(L, SDL_STOP_KEY);
    push_factories(L);
    lua_pop(L, 1);

    luaL_newlib(L, funcs);
    sdl_push_sentinel(L, SDL_SKIP_DIR_KEY);
    lua_setfield(L, -2, "SKIP_DIR");
    sdl_push_sentinel(L, SDL_STOP_KEY);
    lua_setfield(L, -2, "STOP");
    lua_pushliteral(L, SD_VERSION);
    lua_setfield(L, -2, "version");
    sdl_open_crypto(L);
    lua_setfield(L, -2, "crypto");
    sdl_open_observer(L);
    sdl_push_observer_ctor(L);
    lua_setfield(L, -2, "observer");
    return 1;
}
