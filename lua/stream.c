/* Reader and writer userdata.
 *
 * A reader keeps one buffer for its whole life (read-ahead and the bytes a
 * short read(n) left over), so a loop of read(n) calls does not allocate
 * outside Lua's own string.  Writers are a thin check of the state machine
 * over the base layer: misuse raises, storage failures return nil, err. */
#include "sdlua.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    READ_CHUNK = 64 * 1024,    /* the least a driver read asks for */
    READ_RETAIN = 1024 * 1024, /* a larger buffer is freed once drained */
};

struct sdl_reader_ud {
    sd_reader *r; /* NULL once closed */
    sdl_handle *h;
    char *buf; /* bytes [pos, len) are read from the driver, not yet returned */
    size_t cap, pos, len;
    bool eof;
};

struct sdl_writer_ud {
    sd_writer *w; /* NULL once collected */
    sdl_handle *h;
};

/* ------------------------------------------------------------- readers */

sdl_reader_ud *sdl_reader_new(lua_State *L, int driver_idx)
{
    driver_idx = lua_absindex(L, driver_idx);
    sdl_reader_ud *u = lua_newuserdatauv(L, sizeof *u, 1);
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, SDL_READER_MT);
    lua_pushvalue(L, driver_idx);
    lua_setiuservalue(L, -2, 1);
    return u;
}

void sdl_reader_attach(sdl_reader_ud *u, sdl_handle *h, sd_reader *r)
{
    u->r = r;
    u->h = h;
    h->refs++;
}

static sdl_reader_ud *check_reader(lua_State *L)
{
    sdl_reader_ud *u = luaL_checkudata(L, 1, SDL_READER_MT);
    if (!u->r)
        luaL_error(L, "attempt to use a closed reader");
    return u;
}

static void reader_release(lua_State *L, sdl_reader_ud *u)
{
    if (u->r) {
        lua_State *prev = sdl_enter(u->h->d, L);
        sd_reader_close(u->r);
        sdl_leave(u->h->d, prev);
        u->r = NULL;
        sdl_handle_release(L, u->h);
        u->h = NULL;
    }
    free(u->buf);
    u->buf = NULL;
    u->cap = u->pos = u->len = 0;
}

/* Reads from the driver until `want` bytes are buffered or the data ends. */
static sd_error *reader_fill(sdl_reader_ud *u, size_t want)
{
    if (u->pos > 0) {
        memmove(u->buf, u->buf + u->pos, u->len - u->pos);
        u->len -= u->pos;
        u->pos = 0;
    }
    while (!u->eof && u->len < want) {
        if (u->cap == u->len) {
            /* Grow geometrically, at least a chunk (read-ahead for small
             * reads), but not past a large request. */
            size_t more = want - u->len;
            size_t extra = u->len > READ_CHUNK ? u->len : READ_CHUNK;
            if (more >= READ_CHUNK && extra > more)
                extra = more;
            if (extra > SIZE_MAX - u->len)
                return sd_err_driver("out of memory");
            char *nb = realloc(u->buf, u->len + extra);
            if (!nb)
                return sd_err_driver("out of memory");
            u->buf = nb;
            u->cap = u->len + extra;
        }
        size_t got = 0;
        sd_error *e = sd_reader_read(u->r, u->buf + u->len, u->cap - u->len, &got);
        if (e)
            return e;
        if (got == 0)
            u->eof = true;
        u->len += got;
    }
    return NULL;
}

static void reader_drained(sdl_reader_ud *u)
{
    if (u->pos == u->len) {
        u->pos = u->len = 0;
        if (u->cap > READ_RETAIN) {
            free(u->buf);
            u->buf = NULL;
            u->cap = 0;
        }
    }
}

/* r:read(n) / r:read("a") */
static int r_read(lua_State *L)
{
    sdl_reader_ud *u = check_reader(L);
    bool all = false;
    size_t n = 0;
    if (lua_type(L, 2) == LUA_TSTRING) {
        const char *fmt = lua_tostring(L, 2);
        if (strcmp(fmt, "a") != 0 && strcmp(fmt, "*a") != 0)
            return luaL_argerror(L, 2, "invalid format");
        all = true;
    } else {
        lua_Integer want = sdl_checkinteger(L, 2);
        luaL_argcheck(L, want >= 0, 2, "must not be negative");
        n = (uint64_t)want > SIZE_MAX ? SIZE_MAX : (size_t)want;
    }
    size_t target = all ? SIZE_MAX : (n == 0 ? 1 : n);

    sd_error *e = NULL;
    if (u->len - u->pos < target && !u->eof) {
        lua_State *prev = sdl_enter(u->h->d, L);
        e = reader_fill(u, target);
        sdl_leave(u->h->d, prev);
    }
    if (e)
        return sdl_fail(L, e); /* what was read stays buffered for the next call */
    size_t avail = u->len - u->pos;
    if (all) {
        lua_pushlstring(L, u->buf ? u->buf + u->pos : "", avail);
        u->pos = u->len;
    } else if (avail == 0) {
        lua_pushnil(L); /* end of data */
    } else if (n == 0) {
        lua_pushliteral(L, "");
    } else {
        size_t k = avail < n ? avail : n;
        lua_pushlstring(L, u->buf + u->pos, k);
        u->pos += k;
    }
    reader_drained(u);
    return 1;
}

static int r_close(lua_State *L)
{
    sdl_reader_ud *u = luaL_checkudata(L, 1, SDL_READER_MT);
    reader_release(L, u);
    lua_pushboolean(L, 1);
    return 1;
}

static int r_gc(lua_State *L)
{
    reader_release(L, luaL_checkudata(L, 1, SDL_READER_MT));
    return 0;
}

static int r_tostring(lua_State *L)
{
    sdl_reader_ud *u = luaL_checkudata(L, 1, SDL_READER_MT);
    if (u->r)
        lua_pushfstring(L, "storagedriver.reader (%s): %p", sd_driver_name(u->h->d), (void *)u);
    else
        lua_pushfstring(L, "storagedriver.reader (closed): %p", (void *)u);
    return 1;
}

/* ------------------------------------------------------------- writers */

sdl_writer_ud *sdl_writer_new(lua_State *L, int driver_idx)
{
    driver_idx = lua_absindex(L, driver_idx);
    sdl_writer_ud *u = lua_newuserdatauv(L, sizeof *u, 1);
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, SDL_WRITER_MT);
    lua_pushvalue(L, driver_idx);
    lua_setiuservalue(L, -2, 1);
    return u;
}

void sdl_writer_attach(sdl_writer_ud *u, sdl_handle *h, sd_writer *w)
{
    u->w = w;
    u->h = h;
    h->refs++;
}

static sdl_writer_ud *check_writer(lua_State *L)
{
    sdl_writer_ud *u = luaL_checkudata(L, 1, SDL_WRITER_MT);
    if (!u->w)
        luaL_error(L, "attempt to use a released writer");
    return u;
}

/* Raises "<driver>: already closed|committed|cancelled" unless the writer is
 * open.  The message is exact: no position prefix. */
static void writer_misuse(lua_State *L, sdl_writer_ud *u)
{
    const char *what;
    switch (sd_writer_get_state(u->w)) {
    case SD_WRITER_OPEN: return;
    case SD_WRITER_CLOSED: what = "closed"; break;
    case SD_WRITER_COMMITTED: what = "committed"; break;
    case SD_WRITER_CANCELLED:
    default: what = "cancelled"; break;
    }
    lua_pushfstring(L, "%s: already %s", sd_driver_name(u->h->d), what);
    lua_error(L);
}

static void writer_release(lua_State *L, sdl_writer_ud *u)
{
    if (!u->w)
        return;
    lua_State *prev = sdl_enter(u->h->d, L);
    sd_writer_free(u->w);
    sdl_leave(u->h->d, prev);
    u->w = NULL;
    sdl_handle_release(L, u->h);
    u->h = NULL;
}

static int result(lua_State *L, sd_error *e)
{
    if (e)
        return sdl_fail(L, e);
    lua_pushboolean(L, 1);
    return 1;
}

/* w:write(s, ...): strings, and numbers written as file:write writes them. */
static int w_write(lua_State *L)
{
    sdl_writer_ud *u = check_writer(L);
    int top = lua_gettop(L);
    for (int i = 2; i <= top; i++) {
        int t = lua_type(L, i);
        if (t != LUA_TSTRING && t != LUA_TNUMBER)
            luaL_typeerror(L, i, "string");
    }
    writer_misuse(L, u);
    for (int i = 2; i <= top; i++) {
        size_t len;
        const char *s;
        char num[64];
        if (lua_type(L, i) == LUA_TNUMBER) {
            int k;
            if (lua_isinteger(L, i))
                k = snprintf(num, sizeof num, "%lld", (long long)lua_tointeger(L, i));
            else
                k = snprintf(num, sizeof num, "%.14g", (double)lua_tonumber(L, i));
            s = num;
            len = k < 0 ? 0 : (size_t)k;
        } else {
            s = lua_tolstring(L, i, &len);
        }
        lua_State *prev = sdl_enter(u->h->d, L);
        sd_error *e = sd_writer_write(u->w, s, len);
        sdl_leave(u->h->d, prev);
        if (e)
            return sdl_fail(L, e);
    }
    lua_settop(L, 1);
    return 1;
}

static int w_size(lua_State *L)
{
    sdl_writer_ud *u = check_writer(L);
    lua_State *prev = sdl_enter(u->h->d, L);
    int64_t n = sd_writer_size(u->w);
    sdl_leave(u->h->d, prev);
    if (n < 0)
        return luaL_error(L, "%s: the writer's size is unavailable", sd_driver_name(u->h->d));
    lua_pushinteger(L, (lua_Integer)n);
    return 1;
}

static int w_close(lua_State *L)
{
    sdl_writer_ud *u = check_writer(L);
    if (sd_writer_get_state(u->w) == SD_WRITER_CLOSED)
        writer_misuse(L, u);
    /* after commit or cancel: a no-op that succeeds (the base layer says so) */
    lua_State *prev = sdl_enter(u->h->d, L);
    sd_error *e = sd_writer_close(u->w);
    sdl_leave(u->h->d, prev);
    return result(L, e);
}

static int w_commit(lua_State *L)
{
    sdl_writer_ud *u = check_writer(L);
    writer_misuse(L, u);
    lua_State *prev = sdl_enter(u->h->d, L);
    sd_error *e = sd_writer_commit(u->w);
    sdl_leave(u->h->d, prev);
    return result(L, e);
}

static int w_cancel(lua_State *L)
{
    sdl_writer_ud *u = check_writer(L);
    writer_misuse(L, u);
    lua_State *prev = sdl_enter(u->h->d, L);
    sd_error *e = sd_writer_cancel(u->w);
    sdl_leave(u->h->d, prev);
    return result(L, e);
}

static int w_gc(lua_State *L)
{
    writer_release(L, luaL_checkudata(L, 1, SDL_WRITER_MT));
    return 0;
}

/* to-be-closed (5.4): an open writer is closed (resumable), errors dropped;
 * the userdata stays usable for size(). */
static int w_toclose(lua_State *L)
{
    sdl_writer_ud *u = luaL_checkudata(L, 1, SDL_WRITER_MT);
    if (u->w && sd_writer_get_state(u->w) == SD_WRITER_OPEN) {
        lua_State *prev = sdl_enter(u->h->d, L);
        sd_error_free(sd_writer_close(u->w));
        sdl_leave(u->h->d, prev);
    }
    return 0;
}

static int w_tostring(lua_State *L)
{
    sdl_writer_ud *u = luaL_checkudata(L, 1, SDL_WRITER_MT);
    static const char *const states[] = {"open", "closed", "committed", "cancelled"};
    if (u->w)
        lua_pushfstring(L, "storagedriver.writer (%s, %s): %p", sd_driver_name(u->h->d),
                        states[sd_writer_get_state(u->w)], (void *)u);
    else
        lua_pushfstring(L, "storagedriver.writer (released): %p", (void *)u);
    return 1;
}

/* -------------------------------------------------------------- setup */

static void new_class(lua_State *L, const char *name, const luaL_Reg *methods,
                      lua_CFunction gc, lua_CFunction toclose, lua_CFunction tostring)
{
    luaL_newmetatable(L, name);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, toclose);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushstring(L, name);
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
}

void sdl_open_streams(lua_State *L)
{
    static const luaL_Reg reader_methods[] = {
        {"read", r_read},
        {"close", r_close},
        {NULL, NULL},
    };
    static const luaL_Reg writer_methods[] = {
        {"write", w_write},   {"size", w_size},     {"close", w_close},
        {"commit", w_commit}, {"cancel", w_cancel}, {NULL, NULL},
    };
    new_class(L, SDL_READER_MT, reader_methods, r_gc, r_gc, r_tostring);
    new_class(L, SDL_WRITER_MT, writer_methods, w_gc, w_toclose, w_tostring);
}
