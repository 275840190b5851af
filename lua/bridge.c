/*
 * Drivers written in Lua (sd.register), seen by the C core as an sd_driver.
 *
 * A bridge holds its driver table (and each reader/writer object) by registry
 * reference and forwards every operation to the table's methods.  The C core
 * (base layer, sd_copy, the generic walk) calls the bridge like any driver;
 * the bridge calls Lua on `L`, the state of the caller of the current
 * binding function (set by sdl_enter), so a Lua driver used from a coroutine
 * runs on that coroutine.  Lua driver methods must not yield: they run below
 * a C call.
 *
 * Each operation runs in protected mode (sdl_cpcall): nothing raises through
 * the C core's frames.  Inside, Lua work comes first and the C allocation of
 * the result last, so that an error raised half-way leaks nothing.
 *
 * Conversions (the "Lua drivers" protocol):
 *  - a method that raises: a Driver error whose detail is the message (an
 *    error object raised keeps its kind);
 *  - "nil, err": err may be an error object, a table with a kind field, or a
 *    string (Driver error);
 *  - a wrong result type: a Driver error naming the method;
 *  - a missing required method: UnsupportedMethod.  get_content, put_content,
 *    redirect_url and walk are optional: when the table has none at creation,
 *    the base layer's fallbacks serve them.
 */
#include "sdlua.h"

#include <stdlib.h>
#include <string.h>

typedef struct bridge {
    sd_driver base; /* first: the C core sees an sd_driver */
    sd_driver_ops ops;
    char *name;
    int ref;      /* the driver table (a middleware's: its overriding methods) */
    lua_State *L; /* the current caller's state; see sdl_enter */
    sdl_handle *inner; /* middleware only: the wrapped driver (a reference held) */
    sdl_observer *obs; /* middleware only: counters of its pass-through calls, or NULL */
    int obs_ref;
} bridge;

typedef struct br_reader {
    sd_reader base;
    bridge *b;
    int ref;    /* the Lua reader object */
    char *rest; /* what a read returned beyond the capacity asked for */
    size_t rest_len, rest_pos;
} br_reader;

typedef struct br_writer {
    sd_writer base;
    bridge *b;
    int ref; /* the Lua writer object */
} br_writer;

/* One call into Lua.  The protected function reads its arguments here and
 * leaves the outcome in err (set last) and the op's output parameters. */
typedef struct br_ctx {
    bridge *b;
    int self_ref;
    const char *method;
    sd_error *err;
    const char *path, *path2;
    int64_t offset;
    bool flag;
    const void *data;
    size_t len;
    const sd_redirect_opts *ropts;
    void *out;
    int64_t size;
    /* walk */
    sd_walk_fn wfn;
    void *wud;
    int wdone;          /* 0, or SD_WALK_STOP / SD_WALK_ERROR once the walk was told to end */
    sd_error *wstored;  /* the error the walk function reported */
} br_ctx;

static void br_destroy(sd_driver *d);

static bool is_bridge(const sd_driver *d)
{
    return d && d->ops && d->ops->destroy == br_destroy;
}

/* A middleware's readers and writers may be its inner driver's, so entering
 * a middleware enters the whole chain below it. */
lua_State *sdl_enter(const sd_driver *d, lua_State *L)
{
    if (!is_bridge(d))
        return NULL;
    bridge *b = (bridge *)(uintptr_t)d; /* ours: allocated mutable in sdl_bridge_create */
    lua_State *prev = b->L;
    for (bridge *x = b; x; x = x->inner && is_bridge(x->inner->d) ? (bridge *)x->inner->d : NULL)
        x->L = L;
    return prev;
}

void sdl_leave(const sd_driver *d, lua_State *prev)
{
    if (!is_bridge(d))
        return;
    for (bridge *x = (bridge *)(uintptr_t)d; x;
         x = x->inner && is_bridge(x->inner->d) ? (bridge *)x->inner->d : NULL)
        x->L = prev;
}

/* ------------------------------------------------------------ calling */

static bool callable(lua_State *L, int idx)
{
    if (lua_isfunction(L, idx))
        return true;
    if (luaL_getmetafield(L, idx, "__call") != 0) {
        lua_pop(L, 1);
        return true;
    }
    return false;
}

/* Pushes self[method] and self; false (err = UnsupportedMethod) when absent. */
static bool br_method(lua_State *L, br_ctx *c)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->self_ref);
    lua_getfield(L, -1, c->method);
    if (!callable(L, -1)) {
        lua_pop(L, 2);
        c->err = sd_err_unsupported();
        return false;
    }
    lua_insert(L, -2);
    return true;
}

/* The error for a result at vidx that is not what `expected` says: "nil, err"
 * (err at vidx + 1) or a value of the wrong type. */
static sd_error *br_failure(lua_State *L, br_ctx *c, int vidx, const char *expected)
{
    vidx = lua_absindex(L, vidx);
    if (!lua_toboolean(L, vidx))
        return sdl_error_from_lua(L, vidx + 1, c->method);
    return sd_err_driver("%s returned a %s, expected %s", c->method, luaL_typename(L, vidx),
                         expected);
}

/* Calls the method pushed with its arguments; a raised error becomes err. */
static bool br_pcall(lua_State *L, br_ctx *c, int nargs, int nres)
{
    if (lua_pcall(L, nargs, nres, 0) == LUA_OK)
        return true;
    c->err = sdl_error_from_lua(L, -1, c->method);
    return false;
}

static sd_error *br_run(bridge *b, lua_CFunction fn, br_ctx *c)
{
    lua_State *L = b->L;
    if (!L)
        return sd_err_driver("Lua driver called outside its Lua state");
    int top = lua_gettop(L);
    c->b = b;
    c->err = NULL;
    int st = lua_checkstack(L, 8) ? sdl_cpcall(L, fn, c) : LUA_ERRMEM;
    if (st != LUA_OK) { /* not the method's error (br_pcall has that): ours, out of memory */
        sd_error_free(c->err);
        const char *msg = lua_gettop(L) > top ? lua_tostring(L, -1) : NULL;
        c->err = sd_err_driver("%s failed: %s", c->method, msg ? msg : "Lua error");
    }
    lua_settop(L, top);
    return c->err;
}

static br_ctx ctx_for(bridge *b, int self_ref, const char *method)
{
    br_ctx c;
    memset(&c, 0, sizeof c);
    c.b = b;
    c.self_ref = self_ref;
    c.method = method;
    return c;
}

/* "true | nil, err" methods: any true value is success. */
static void br_expect_ok(lua_State *L, br_ctx *c)
{
    if (!lua_toboolean(L, -2))
        c->err = br_failure(L, c, -2, "true");
}

/* -------------------------------------------------------- driver ops */

static int p_get_content(lua_State *L)
{
    br_ctx *c = lua_touserdata(L, 1);
    if (!br_method(L, c))
        return 0;
    lua_pushstring(L, c->path);
    if (!br_pcall(L, c, 2, 2))
        return 0;
    if (lua_type(L, -2) != LUA_TSTRING) {
        c->err = br_failure(L, c, -2, "a string");
        return 0;
    }
    size_t len;
    const char *s = lua_tolstring(L, -2, &len);
    if (sd_buf_append(c->out, s, len) != 0)
        c->err = sd_err_driver("out of memory");
    return 0;
}

static sd_error *br_get_content(sd_driver *d, const char *path, sd_buf *out)
{
    bridge *b = (bridge *)d;
    br_ctx c = ctx_for(b, b->ref, "get_content");
    c.path = path;
    c.out = out;
    return br_run(b, p_get_content, &c);
}

static int p_put_content(lua_State *L)
{
    br_ctx *c = lua_touserdata(L, 1);
    if (!br_method(L, c))
        return 0;
    lua_pushstring(L, c->path);
    lua_pushlstring(L, c->data, c->len);
    if (!br_pcall(L, c, 3, 2))
        return 0;
    br_expect_ok(L, c);
    return 0;
}

static sd_error *br_put_content(sd_driver *d, const char *path, const void *data, size_t len)
{
    bridge *b = (bridge *)d;
    br_ctx c = ctx_for(b, b->ref, "put_content");
    c.path = path;
    c.data = data;
    c.len = len;
    return br_run(b, p_put_content, &c);
}

static const sd_reader_ops br_reader_ops;
static const sd_writer_ops br_writer_ops;

/* Shared by reader and writer: the object at -2 becomes a reference and a
 * C struct of `size` bytes whose first member is the base struct. */
static void *adopt_object(lua_State *L, br_ctx *c, size_t size, int *ref)
{
    int t = lua_type(L, -2);
    if (t != LUA_TTABLE && t != LUA_TUSERDATA) {
        c->err = br_failure(L, c, -2, "a table");
        return NULL;
    }
    lua_pushvalue(L, -2);
    *ref = luaL_ref(L, LUA_REGISTRYINDEX);
    void *o = calloc(1, size);
    if (!o) {
        luaL_unref(L, LUA_REGISTRYINDEX, *ref);
        c->err = sd_err_driver("out of memory");
    }
    return o;
}

static int p_reader(lua_State *L)
{
    br_ctx *c = lua_touserdata(L, 1);
    if (!br_method(L, c))
        return 0;
    lua_pushstring(L, c->path);
    lua_pushinteger(L, (lua_Integer)c->offset);
    if (!br_pcall(L, c, 3, 2))
        return 0;
    int ref;
    br_reader *r = adopt_object(L, c, sizeof *r, &ref);
    if (r) {
        r->base.ops = &br_reader_ops;
        r->b = c->b;
        r->ref = ref;
        *(sd_reader **)c->out = &r->base;
    }
    return 0;
}

static sd_error *br_reader_open(sd_driver *d, const char *path, int64_t offset, sd_reader **out)
{
    bridge *b = (bridge *)d;
    br_ctx c = ctx_for(b, b->ref, "reader");
    c.path = path;
    c.offset = offset;
    c.out = out;
    return br_run(b, p_reader, &c);
}

static int p_writer(lua_State *L)
{
    br_ctx *c = lua_touserdata(L, 1);
    if (!br_method(L, c))
        return 0;
    lua_pushstring(L, c->path);
    lua_pushboolean(L, c->flag);
    if (!br_pcall(L, c, 3, 2))
        return 0;
    int ref;
    br_writer *w = adopt_object(L, c, sizeof *w, &ref);
    if (w) {
        w->base.ops = &br_writer_ops;
        w->b = c->b;
        w->ref = ref;
        *(sd_writer **)c->out = &w->base;
    }
    return 0;
}

static sd_error *br_writer_open(sd_driver *d, const char *path, bool append, sd_writer **out)
{
    bridge *b = (bridge *)d;
    br_ctx c = ctx_for(b, b->ref, "writer");
    c.path = path;
    c.flag = append;
    c.out = out;
    return br_run(b, p_writer, &c);
}

/* A fileinfo table (at idx) into fi, except the path.  NULL or the reason. */
static const char *read_fileinfo(lua_State *L, int idx, sd_fileinfo *fi)
{
    idx = lua_absindex(L, idx);
    int isint = 0;
    int t = lua_getfield(L, idx, "size");
    lua_Integer size = sdl_tointegerx(L, -1, &isint);
    if (t != LUA_TNIL && (t != LUA_TNUMBER || !isint || size < 0))
        return "size must be a non-negative integer";
    fi->size = t == LUA_TNIL ? 0 : (int64_t)size;
    t = lua_getfield(L, idx, "modtime");
    if (t == LUA_TNUMBER) {
        double m = (double)lua_tonumber(L, -1);
        if (!(m >= -9.2e18 && m <= 9.2e18))
            return "modtime out of range";
        int64_t sec = (int64_t)m; /* toward zero: floor it */
        if ((double)sec > m)
            sec--;
        int64_t nsec = (int64_t)((m - (double)sec) * 1e9 + 0.5);
        if (nsec >= 1000000000) {
            sec++;
            nsec -= 1000000000;
        }
        fi->mtime_sec = sec;
        fi->mtime_nsec = (int32_t)nsec;
    } else if (t != LUA_TNIL) {
        return "modtime must be a number (seconds)";
    }
    lua_getfield(L, idx, "is_dir");
    fi->is_dir = lua_toboolean(L, -1);
    lua_pop(L, 3);
    return NULL;
}

static int p_stat(lua_State *L)
{
    br_ctx *c = lua_touserdata(L, 1);
    if (!br_method(L, c))
        return 0;
    lua_pushstring(L, c->path);
    if (!br_pcall(L, c, 2, 2))
        return 0;
    if (lua_type(L, -2) != LUA_TTABLE) {
        c->err = br_failure(L, c, -2, "a table");
        return 0;
    }
    sd_fileinfo fi;
    memset(&fi, 0, sizeof fi);
    const char *why = read_fileinfo(L, -2, &fi);
    if (why) {
        c->err = sd_err_driver("stat returned a bad fileinfo: %s", why);
        return 0;
    }
    *(sd_fileinfo *)c->out = fi; /* the base layer fills the path */
    return 0;
}

static sd_error *br_stat(sd_driver *d, const char *path, sd_fileinfo *out)
{
    bridge *b = (bridge *)d;
    br_ctx c = ctx_for(b, b->ref, "stat");
    c.path = path;
    c.out = out;
    return br_run(b, p_stat, &c);
}

static int p_list(lua_State *L)
{
    br_ctx *c = lua_touserdata(L, 1);
    if (!br_method(L, c))
        return 0;
    lua_pushstring(L, c->path);
    if (!br_pcall(L, c, 2, 2))
        return 0;
    if (lua_type(L, -2) != LUA_TTABLE) {
        c->err = br_failure(L, c, -2, "a table");
        return 0;
    }
    int t = lua_absindex(L, -2);
    size_t n = lua_rawlen(L, t);
    for (size_t i = 1; i <= n; i++) { /* check everything before allocating */
        if (lua_rawgeti(L, t, (lua_Integer)i) != LUA_TSTRING) {
            c->err = sd_err_driver("list returned a %s entry, expected strings",
                                   luaL_typename(L, -1));
            return 0;
        }
        /* A Lua driver must not hand callers a path they could not have
         * written (a traversal, a NUL byte) to use in their next call. */
        size_t len;
        const char *name = lua_tolstring(L, -1, &len);
        if (sd_path_check(name, len, false) != 0) {
            c->err = sd_err_driver("list returned an invalid path: %s", name);
            return 0;
        }
        lua_pop(L, 1);
    }
    sd_strlist *out = c->out;
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, t, (lua_Integer)i);
        int rc = sd_strlist_push(out, lua_tostring(L, -1));
        lua_pop(L, 1);
        if (rc != 0) {
            sd_strlist_free(out);
            c->err = sd_err_driver("out of memory");
            return 0;
        }
    }
    return 0;
}

static sd_error *br_list(sd_driver *d, const char *path, sd_strlist *out)
{
    bridge *b = (bridge *)d;
    br_ctx c = ctx_for(b, b->ref, "list");
    c.path = path;
    c.out = out;
    return br_run(b, p_list, &c);
}

static int p_move(lua_State *L)
{
    br_ctx *c = lua_touserdata(L, 1);
    if (!br_method(L, c))
        return 0;
    lua_pushstring(L, c->path);
    lua_pushstring(L, c->path2);
    if (!br_pcall(L, c, 3, 2))
        return 0;
    br_expect_ok(L, c);
    return 0;
}

static sd_error *br_move(sd_driver *d, const char *src, const char *dst)
{
    bridge *b = (bridge *)d;
    br_ctx c = ctx_for(b, b->ref, "move");
    c.path = src;
    c.path2 = dst;
    return br_run(b, p_move, &c);
}

static int p_path_only(lua_State *L)
{
    br_ctx *c = lua_touserdata(L, 1);
    if (!br_method(L, c))
        return 0;
    lua_pushstring(L, c->path);
    if (!br_pcall(L, c, 2, 2))
        return 0;
    br_expect_ok(L, c);
    return 0;
}

static sd_error *br_remove(sd_driver *d, const char *path)
{
    bridge *b = (bridge *)d;
    br_ctx c = ctx_for(b, b->ref, "delete");
    c.path = path;
    return br_run(b, p_path_only, &c);
}

static int p_redirect_url(lua_State *L)
{
    br_ctx *c = lua_touserdata(L, 1);
    if (!br_method(L, c))
        return 0;
    lua_pushstring(L, c->path);
    lua_createtable(L, 0, 3);
    lua_pushstring(L, c->ropts->method ? c->ropts->method : "GET");
    lua_setfield(L, -2, "method");
    if (c->ropts->expiry > 0) {
        lua_pushinteger(L, (lua_Integer)c->ropts->expiry);
        lua_setfield(L, -2, "expiry");
    }
    if (c->ropts->client_ip) {
        lua_pushstring(L, c->ropts->client_ip);
        lua_setfield(L, -2, "client_ip");
    }
    if (!br_pcall(L, c, 3, 2))
        return 0;
    if (lua_type(L, -2) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, -2, &len);
        char *u = malloc(len + 1);
        if (!u) {
            c->err = sd_err_driver("out of memory");
            return 0;
        }
        memcpy(u, s, len + 1);
        *(char **)c->out = u;
    } else if (lua_toboolean(L, -2)) {
        c->err = br_failure(L, c, -2, "a string");
    } else if (!lua_isnil(L, -1)) {
        c->err = sdl_error_from_lua(L, -1, c->method);
    } /* nil: no redirect */
    return 0;
}

static sd_error *br_redirect_url(sd_driver *d, const char *path, const sd_redirect_opts *opts,
                                 char **url)
{
    bridge *b = (bridge *)d;
    br_ctx c = ctx_for(b, b->ref, "redirect_url");
    c.path = path;
    c.ropts = opts;
    c.out = url;
    return br_run(b, p_redirect_url, &c);
}

/* ---------------------------------------------------------------- walk */

/* The fn handed to the Lua walk: forwards a fileinfo table to the C walk
 * function and answers as a user's fn would (nothing, SKIP_DIR, STOP, or an
 * error object).  Its upvalue points at the walk's context while the walk
 * runs, and at NULL after. */
static int br_walk_fn(lua_State *L)
{
    br_ctx **slot = lua_touserdata(L, lua_upvalueindex(1));
    br_ctx *c = *slot;
    if (!c)
        return luaL_error(L, "walk function called after its walk ended");
    if (c->wdone == SD_WALK_STOP) {
        sdl_push_sentinel(L, SDL_STOP_KEY);
        return 1;
    }
    if (c->wdone == SD_WALK_ERROR) {
        sdl_push_error_keep(L, c->wstored);
        return 1;
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    sd_fileinfo fi;
    memset(&fi, 0, sizeof fi);
    size_t plen;
    if (lua_getfield(L, 1, "path") != LUA_TSTRING)
        return luaL_argerror(L, 1, "fileinfo.path must be a string");
    const char *p = lua_tolstring(L, -1, &plen);
    if (strlen(p) != plen)
        return luaL_argerror(L, 1, "fileinfo.path holds a NUL byte");
    const char *why = read_fileinfo(L, 1, &fi);
    if (why)
        return luaL_argerror(L, 1, why);
    fi.path = (char *)(uintptr_t)p; /* borrowed for the call: the string is on the stack */
    if (fi.is_dir)
        fi.size = 0;

    /* The walk function may call back into Lua: on this coroutine. */
    lua_State *prev = sdl_enter(&c->b->base, L);
    sd_error *e = NULL;
    int act = c->wfn(c->wud, &fi, &e);
    sdl_leave(&c->b->base, prev);
    switch (act) {
    case SD_WALK_CONTINUE:
        sd_error_free(e);
        return 0;
    case SD_WALK_SKIP_DIR:
        sd_error_free(e);
        sdl_push_sentinel(L, SDL_SKIP_DIR_KEY);
        return 1;
    case SD_WALK_STOP:
        sd_error_free(e);
        c->wdone = SD_WALK_STOP;
        sdl_push_sentinel(L, SDL_STOP_KEY);
        return 1;
    default:
        c->wstored = e ? e : sd_err_driver("walk function failed");
        c->wdone = SD_WALK_ERROR;
        sdl_push_error_keep(L, c->wstored);
        return 1;
    }
}

static int p_walk(lua_State *L)
{
    br_ctx *c = lua_touserdata(L, 1);
    br_ctx **slot = lua_newuserdatauv(L, sizeof *slot, 0); /* 2: anchored for the call */
    *slot = c;
    if (!br_method(L, c)) {
        *slot = NULL;
        return 0;
    }
    lua_pushstring(L, c->path);
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, br_walk_fn, 1);
    lua_createtable(L, 0, 1);
    if (c->path2) {
        lua_pushstring(L, c->path2);
        lua_setfield(L, -2, "start_after");
    }
    int st = lua_pcall(L, 4, 2, 0);
    *slot = NULL;
    if (c->wstored)
        return 0; /* the walk function's own error is the outcome */
    if (st != LUA_OK) {
        c->err = sdl_error_from_lua(L, -1, c->method);
        return 0;
    }
    br_expect_ok(L, c);
    return 0;
}

static sd_error *br_walk(sd_driver *d, const char *path, const char *start_after, sd_walk_fn fn,
                         void *ud)
{
    bridge *b = (bridge *)d;
    br_ctx c = ctx_for(b, b->ref, "walk");
    c.path = path;
    c.path2 = start_after;
    c.wfn = fn;
    c.wud = ud;
    sd_error *e = br_run(b, p_walk, &c);
    if (c.wstored) {
        sd_error_free(e);
        return c.wstored;
    }
    return e;
}

static void br_destroy(sd_driver *d)
{
    bridge *b = (bridge *)d;
    if (b->L) {
        luaL_unref(b->L, LUA_REGISTRYINDEX, b->ref);
        if (b->obs) {
            sdl_obs_detach(b->obs);
            luaL_unref(b->L, LUA_REGISTRYINDEX, b->obs_ref);
        }
        if (b->inner)
            sdl_handle_release(b->L, b->inner);
    }
    free(b->name);
    free(b);
}

static const sd_driver_ops br_ops_template = {
    .get_content = br_get_content,
    .put_content = br_put_content,
    .reader = br_reader_open,
    .writer = br_writer_open,
    .stat = br_stat,
    .list = br_list,
    .move = br_move,
    .remove = br_remove,
    .redirect_url = br_redirect_url,
    .walk = br_walk,
    .destroy = br_destroy,
};

/* ------------------------------------------------------------- readers */

static int p_read(lua_State *L)
{
    br_ctx *c = lua_touserdata(L, 1);
    br_reader *r = (br_reader *)c->out;
    if (!br_method(L, c))
        return 0;
    lua_pushinteger(L, (lua_Integer)c->len);
    if (!br_pcall(L, c, 2, 2))
        return 0;
    if (lua_type(L, -2) != LUA_TSTRING) {
        if (lua_toboolean(L, -2))
            c->err = br_failure(L, c, -2, "a string");
        else if (!lua_isnil(L, -1))
            c->err = sdl_error_from_lua(L, -1, c->method);
        return 0; /* nil: end of data */
    }
    /* "" counts as the end too: *n = 0 means nothing else to the C core. */
    size_t len;
    const char *s = lua_tolstring(L, -2, &len);
    size_t k = len < c->len ? len : c->len;
    memcpy((void *)(uintptr_t)c->data, s, k);
    c->size = (int64_t)k;
    if (len > k) { /* more than asked for: keep the rest for the next read */
        r->rest = malloc(len - k);
        if (!r->rest) {
            c->err = sd_err_driver("out of memory");
            return 0;
        }
        memcpy(r->rest, s + k, len - k);
        r->rest_len = len - k;
        r->rest_pos = 0;
    }
    return 0;
}

static sd_error *br_read(sd_reader *sr, void *buf, size_t cap, size_t *n)
{
    br_reader *r = (br_reader *)sr;
    *n = 0;
    if (r->rest) {
        size_t k = r->rest_len - r->rest_pos;
        if (k > cap)
            k = cap;
        memcpy(buf, r->rest + r->rest_pos, k);
        r->rest_pos += k;
        if (r->rest_pos == r->rest_len) {
            free(r->rest);
            r->rest = NULL;
        }
        *n = k;
        return NULL;
    }
    br_ctx c = ctx_for(r->b, r->ref, "read");
    c.data = buf;
    c.len = cap;
    c.out = r;
    sd_error *e = br_run(r->b, p_read, &c);
    if (!e)
        *n = (size_t)c.size; /* 0 ("" or nil): end of data */
    return e;
}

static int p_close_quiet(lua_State *L)
{
    br_ctx *c = lua_touserdata(L, 1);
    if (!br_method(L, c)) {
        sd_error_free(c->err);
        c->err = NULL;
        return 0;
    }
    lua_call(L, 1, 0);
    return 0;
}

static void br_read_close(sd_reader *sr)
{
    br_reader *r = (br_reader *)sr;
    if (r->b->L) {
        br_ctx c = ctx_for(r->b, r->ref, "close");
        sd_error_free(br_run(r->b, p_close_quiet, &c));
        luaL_unref(r->b->L, LUA_REGISTRYINDEX, r->ref);
    }
    free(r->rest);
    free(r);
}

static const sd_reader_ops br_reader_ops = {
    .read = br_read,
    .close = br_read_close,
};

/* ------------------------------------------------------------- writers */

static int p_write(lua_State *L)
{
    br_ctx *c = lua_touserdata(L, 1);
    if (!br_method(L, c))
        return 0;
    lua_pushlstring(L, c->data, c->len);
    if (!br_pcall(L, c, 2, 2))
        return 0;
    br_expect_ok(L, c);
    return 0;
}

static sd_error *br_write(sd_writer *sw, const void *data, size_t len)
{
    br_writer *w = (br_writer *)sw;
    br_ctx c = ctx_for(w->b, w->ref, "write");
    c.data = data;
    c.len = len;
    return br_run(w->b, p_write, &c);
}

static int p_size(lua_State *L)
{
    br_ctx *c = lua_touserdata(L, 1);
    if (!br_method(L, c))
        return 0;
    if (!br_pcall(L, c, 1, 1))
        return 0;
    int isint = 0;
    lua_Integer n = lua_type(L, -1) == LUA_TNUMBER ? sdl_tointegerx(L, -1, &isint) : 0;
    if (!isint || n < 0)
        c->err = sd_err_driver("size returned a %s, expected a non-negative integer",
                               luaL_typename(L, -1));
    else
        c->size = (int64_t)n;
    return 0;
}

static int64_t br_size(sd_writer *sw)
{
    br_writer *w = (br_writer *)sw;
    br_ctx c = ctx_for(w->b, w->ref, "size");
    sd_error *e = br_run(w->b, p_size, &c);
    if (e) {
        sd_error_free(e);
        return -1;
    }
    return c.size;
}

static int p_no_args(lua_State *L)
{
    br_ctx *c = lua_touserdata(L, 1);
    if (!br_method(L, c))
        return 0;
    if (!br_pcall(L, c, 1, 2))
        return 0;
    br_expect_ok(L, c);
    return 0;
}

static sd_error *br_writer_call(sd_writer *sw, const char *method)
{
    br_writer *w = (br_writer *)sw;
    br_ctx c = ctx_for(w->b, w->ref, method);
    return br_run(w->b, p_no_args, &c);
}

static sd_error *br_wclose(sd_writer *w) { return br_writer_call(w, "close"); }
static sd_error *br_commit(sd_writer *w) { return br_writer_call(w, "commit"); }
static sd_error *br_cancel(sd_writer *w) { return br_writer_call(w, "cancel"); }

static void br_wdestroy(sd_writer *sw)
{
    br_writer *w = (br_writer *)sw;
    if (w->b->L) {
        if (w->base.state == SD_WRITER_OPEN) /* abandoned: keep it resumable */
            sd_error_free(br_wclose(sw));
        luaL_unref(w->b->L, LUA_REGISTRYINDEX, w->ref);
    }
    free(w);
}

static const sd_writer_ops br_writer_ops = {
    .write = br_write,
    .size = br_size,
    .close = br_wclose,
    .commit = br_commit,
    .cancel = br_cancel,
    .destroy = br_wdestroy,
};

/* ------------------------------------------------------------ creation */

static bool has_method(lua_State *L, int t, const char *name)
{
    lua_getfield(L, t, name);
    bool yes = callable(L, -1);
    lua_pop(L, 1);
    return yes;
}

/* Runs in sd.create's frame: raising is allowed (nothing is held until the
 * bridge is allocated, last). */
sd_error *sdl_bridge_create(lua_State *L, const char *name, int factory_idx, int params_idx,
                            sd_driver **out)
{
    int top = lua_gettop(L);
    br_ctx fc = ctx_for(NULL, LUA_NOREF, "factory");
    lua_pushvalue(L, factory_idx);
    lua_pushvalue(L, params_idx);
    if (!br_pcall(L, &fc, 1, 2)) {
        lua_settop(L, top);
        sd_error_set_driver(fc.err, name);
        return fc.err;
    }
    if (lua_type(L, -2) != LUA_TTABLE) {
        sd_error *e = br_failure(L, &fc, -2, "a table");
        lua_settop(L, top);
        sd_error_set_driver(e, name);
        return e;
    }
    lua_pop(L, 1);
    int t = lua_gettop(L);
    if (lua_getfield(L, t, "name") == LUA_TSTRING)
        name = lua_tostring(L, -1); /* stays on the stack */
    sd_driver_ops ops = br_ops_template;
    if (!has_method(L, t, "get_content"))
        ops.get_content = NULL;
    if (!has_method(L, t, "put_content"))
        ops.put_content = NULL;
    if (!has_method(L, t, "redirect_url"))
        ops.redirect_url = NULL;
    if (!has_method(L, t, "walk"))
        ops.walk = NULL;
    lua_pushvalue(L, t);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);

    bridge *b = calloc(1, sizeof *b);
    size_t nlen = strlen(name);
    char *nm = malloc(nlen + 1);
    if (!b || !nm) {
        free(b);
        free(nm);
        luaL_unref(L, LUA_REGISTRYINDEX, ref);
        lua_settop(L, top);
        return sd_err_driver("out of memory");
    }
    memcpy(nm, name, nlen + 1);
    lua_settop(L, top);
    b->ops = ops;
    b->base.ops = &b->ops;
    b->base.name = nm;
    b->name = nm;
    b->ref = ref;
    *out = &b->base;
    return NULL;
}

/* ---------------------------------------------------------- middleware */

/* The methods a middleware does not override reach the wrapped driver
 * straight from C, through its own ops: the outer base layer has validated
 * the arguments already and does the post-processing (names on errors, the
 * stat path, the sorted list, reader and writer state), so a pass-through
 * costs one indirect call.  Optional ops the inner driver lacks get the base
 * layer's fallbacks through its public entry points. */

#define MW_INNER(d) (((bridge *)(d))->inner->d)
#define MW_OBS(d) (((bridge *)(d))->obs)

/* Times a pass-through call when the middleware observes (metrics). */
#define MW_OBSERVED(d, op, call)                                                              \
    do {                                                                                      \
        sdl_observer *o_ = MW_OBS(d);                                                         \
        if (!o_)                                                                              \
            return (call);                                                                    \
        double t0_ = sdl_obs_now();                                                           \
        sd_error *e_ = (call);                                                                \
        sdl_obs_record(o_, (op), t0_, e_);                                                    \
        return e_;                                                                            \
    } while (0)

static sd_error *mw_get_content_raw(sd_driver *in, const char *path, sd_buf *out)
{
    return in->ops->get_content ? in->ops->get_content(in, path, out)
                                : sd_get_content(in, path, out);
}

static sd_error *mw_get_content(sd_driver *d, const char *path, sd_buf *out)
{
    sdl_observer *o = MW_OBS(d);
    if (!o)
        return mw_get_content_raw(MW_INNER(d), path, out);
    double t0 = sdl_obs_now();
    sd_error *e = mw_get_content_raw(MW_INNER(d), path, out);
    sdl_obs_record(o, SDL_OBS_GET_CONTENT, t0, e);
    if (!e && sdl_obs_streams(o))
        sdl_obs_bytes(o, false, out->len);
    return e;
}

static sd_error *mw_put_content_raw(sd_driver *in, const char *path, const void *data, size_t len)
{
    return in->ops->put_content ? in->ops->put_content(in, path, data, len)
                                : sd_put_content(in, path, data, len);
}

static sd_error *mw_put_content(sd_driver *d, const char *path, const void *data, size_t len)
{
    sdl_observer *o = MW_OBS(d);
    if (!o)
        return mw_put_content_raw(MW_INNER(d), path, data, len);
    double t0 = sdl_obs_now();
    sd_error *e = mw_put_content_raw(MW_INNER(d), path, data, len);
    sdl_obs_record(o, SDL_OBS_PUT_CONTENT, t0, e);
    if (!e && sdl_obs_streams(o))
        sdl_obs_bytes(o, true, len);
    return e;
}

/* Readers and writers of an observing middleware: the inner driver's, with
 * their bytes counted (and commit/cancel timed). */
typedef struct obs_reader {
    sd_reader base;
    sd_reader *in;
    sdl_observer *obs; /* alive while the middleware is: the reader holds it */
} obs_reader;

static sd_error *obs_read(sd_reader *r, void *buf, size_t cap, size_t *n)
{
    obs_reader *x = (obs_reader *)r;
    sd_error *e = x->in->ops->read(x->in, buf, cap, n);
    if (!e)
        sdl_obs_bytes(x->obs, false, *n);
    return e;
}

static void obs_read_close(sd_reader *r)
{
    obs_reader *x = (obs_reader *)r;
    x->in->ops->close(x->in);
    free(x);
}

static const sd_reader_ops obs_reader_ops = {.read = obs_read, .close = obs_read_close};

typedef struct obs_writer {
    sd_writer base;
    sd_writer *in;
    sdl_observer *obs;
} obs_writer;

static sd_error *obs_write(sd_writer *w, const void *data, size_t len)
{
    obs_writer *x = (obs_writer *)w;
    sd_error *e = x->in->ops->write(x->in, data, len);
    if (!e)
        sdl_obs_bytes(x->obs, true, len);
    return e;
}

static int64_t obs_size(sd_writer *w)
{
    obs_writer *x = (obs_writer *)w;
    return x->in->ops->size(x->in);
}

/* The inner writer's state follows ours: its destroy may look at it. */
static sd_error *obs_finish(obs_writer *x, sd_error *(*op)(sd_writer *), int obs_op,
                            sd_writer_state state)
{
    double t0 = sdl_obs_now();
    sd_error *e = op(x->in);
    if (obs_op >= 0)
        sdl_obs_record(x->obs, obs_op, t0, e);
    if (!e)
        x->in->state = state;
    return e;
}

static sd_error *obs_close(sd_writer *w)
{
    obs_writer *x = (obs_writer *)w;
    return obs_finish(x, x->in->ops->close, -1, SD_WRITER_CLOSED);
}

static sd_error *obs_commit(sd_writer *w)
{
    obs_writer *x = (obs_writer *)w;
    return obs_finish(x, x->in->ops->commit, SDL_OBS_COMMIT, SD_WRITER_COMMITTED);
}

static sd_error *obs_cancel(sd_writer *w)
{
    obs_writer *x = (obs_writer *)w;
    return obs_finish(x, x->in->ops->cancel, SDL_OBS_CANCEL, SD_WRITER_CANCELLED);
}

static void obs_wdestroy(sd_writer *w)
{
    obs_writer *x = (obs_writer *)w;
    x->in->ops->destroy(x->in);
    free(x);
}

static const sd_writer_ops obs_writer_ops = {
    .write = obs_write,
    .size = obs_size,
    .close = obs_close,
    .commit = obs_commit,
    .cancel = obs_cancel,
    .destroy = obs_wdestroy,
};

static sd_error *mw_reader(sd_driver *d, const char *path, int64_t offset, sd_reader **out)
{
    sd_driver *in = MW_INNER(d);
    sdl_observer *o = MW_OBS(d);
    if (!o)
        return in->ops->reader(in, path, offset, out);
    obs_reader *x = NULL;
    if (sdl_obs_streams(o) && !(x = malloc(sizeof *x)))
        return sd_err_driver("out of memory");
    double t0 = sdl_obs_now();
    sd_reader *r = NULL;
    sd_error *e = in->ops->reader(in, path, offset, &r);
    sdl_obs_record(o, SDL_OBS_READER, t0, e);
    if (e || !x) {
        free(x);
        if (!e)
            *out = r;
        return e;
    }
    memset(x, 0, sizeof *x);
    x->base.ops = &obs_reader_ops;
    x->in = r;
    x->obs = o;
    *out = &x->base;
    return NULL;
}

static sd_error *mw_writer(sd_driver *d, const char *path, bool append, sd_writer **out)
{
    sd_driver *in = MW_INNER(d);
    sdl_observer *o = MW_OBS(d);
    if (!o)
        return in->ops->writer(in, path, append, out);
    obs_writer *x = NULL;
    if (sdl_obs_streams(o) && !(x = malloc(sizeof *x)))
        return sd_err_driver("out of memory");
    double t0 = sdl_obs_now();
    sd_writer *w = NULL;
    sd_error *e = in->ops->writer(in, path, append, &w);
    sdl_obs_record(o, SDL_OBS_WRITER, t0, e);
    if (e || !x) {
        free(x);
        if (!e)
            *out = w;
        return e;
    }
    memset(x, 0, sizeof *x);
    x->base.ops = &obs_writer_ops;
    x->in = w;
    x->obs = o;
    *out = &x->base;
    return NULL;
}

static sd_error *mw_stat(sd_driver *d, const char *path, sd_fileinfo *out)
{
    sd_driver *in = MW_INNER(d);
    MW_OBSERVED(d, SDL_OBS_STAT, in->ops->stat(in, path, out));
}

static sd_error *mw_list(sd_driver *d, const char *path, sd_strlist *out)
{
    sd_driver *in = MW_INNER(d);
    MW_OBSERVED(d, SDL_OBS_LIST, in->ops->list(in, path, out));
}

static sd_error *mw_move(sd_driver *d, const char *src, const char *dst)
{
    sd_driver *in = MW_INNER(d);
    MW_OBSERVED(d, SDL_OBS_MOVE, in->ops->move(in, src, dst));
}

static sd_error *mw_remove(sd_driver *d, const char *path)
{
    sd_driver *in = MW_INNER(d);
    MW_OBSERVED(d, SDL_OBS_DELETE, in->ops->remove(in, path));
}

static sd_error *mw_redirect_url(sd_driver *d, const char *path, const sd_redirect_opts *opts,
                                 char **url)
{
    sd_driver *in = MW_INNER(d);
    MW_OBSERVED(d, SDL_OBS_REDIRECT_URL,
                in->ops->redirect_url ? in->ops->redirect_url(in, path, opts, url) : NULL);
}

static sd_error *mw_walk(sd_driver *d, const char *path, const char *start_after, sd_walk_fn fn,
                         void *ud)
{
    sd_driver *in = MW_INNER(d);
    MW_OBSERVED(d, SDL_OBS_WALK,
                in->ops->walk ? in->ops->walk(in, path, start_after, fn, ud)
                              : sd_walk_fallback(in, path, start_after, fn, ud));
}

/* The driver userdata at inner_idx (its handle is h) wrapped by the table of
 * overriding methods at methods_idx.  Overridden methods are called on that
 * table like a Lua driver's; derived ones follow what is overridden: with
 * reader overridden, get_content reads through it; with list or stat
 * overridden, walk is the generic one over them. */
sd_error *sdl_middleware_create(lua_State *L, sdl_handle *h, int methods_idx, sd_driver **out)
{
    methods_idx = lua_absindex(L, methods_idx);
    bool has[10];
    static const char *const names[10] = {"get_content", "put_content", "reader", "writer",
                                          "stat",        "list",        "move",   "delete",
                                          "redirect_url", "walk"};
    for (int i = 0; i < 10; i++)
        has[i] = has_method(L, methods_idx, names[i]);
    sd_driver_ops ops = br_ops_template;
    ops.get_content = has[0] ? br_get_content : has[2] ? NULL : mw_get_content;
    ops.put_content = has[1] ? br_put_content : has[3] ? NULL : mw_put_content;
    ops.reader = has[2] ? br_reader_open : mw_reader;
    ops.writer = has[3] ? br_writer_open : mw_writer;
    ops.stat = has[4] ? br_stat : mw_stat;
    ops.list = has[5] ? br_list : mw_list;
    ops.move = has[6] ? br_move : mw_move;
    ops.remove = has[7] ? br_remove : mw_remove;
    ops.redirect_url = has[8] ? br_redirect_url : mw_redirect_url;
    ops.walk = has[9] ? br_walk : (has[4] || has[5]) ? NULL : mw_walk;

    /* A measuring middleware: { _observe = core.observer(...) } */
    lua_getfield(L, methods_idx, "_observe");
    sdl_observer *obs = sdl_obs_test(L, -1);
    int obs_ref = obs ? luaL_ref(L, LUA_REGISTRYINDEX) : LUA_NOREF;
    if (!obs)
        lua_pop(L, 1);
    lua_pushvalue(L, methods_idx);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX); /* may raise: only obs_ref held (leaks a ref at worst) */
    const char *name = sd_driver_name(h->d);
    bridge *b = calloc(1, sizeof *b);
    size_t nlen = strlen(name);
    char *nm = malloc(nlen + 1);
    if (!b || !nm) {
        free(b);
        free(nm);
        luaL_unref(L, LUA_REGISTRYINDEX, ref);
        luaL_unref(L, LUA_REGISTRYINDEX, obs_ref);
        return sd_err_driver("out of memory");
    }
    memcpy(nm, name, nlen + 1);
    b->ref = ref;
    b->obs = obs;
    b->obs_ref = obs_ref;
    b->ops = ops;
    b->base.ops = &b->ops;
    b->base.name = nm;
    b->name = nm;
    h->refs++;
    b->inner = h;
    *out = &b->base;
    return NULL;
}
