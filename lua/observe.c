/*
 * Observers: per-operation counters kept in C for a middleware whose only
 * job is to measure (the metrics middleware).  A middleware returning
 * { _observe = core.observer(bounds [, streams]) } overrides nothing; the
 * bridge times each pass-through call to the inner driver and records it
 * here, so measuring costs two clock reads instead of a trip through Lua.
 * obs:drain() hands the counts to Lua (and zeroes them) when it renders.
 *
 * An observer belongs to one Lua state (like the middleware bridge that
 * records into it), so it takes no lock.
 */
#include "sdlua.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SDL_OBSERVER_MT "storagedriver.observer"
#define OBS_MAX_BOUNDS 64

static const char *const op_names[SDL_OBS_NOPS] = {
    "get_content", "put_content", "reader", "writer",       "stat", "list",
    "move",        "delete",      "walk",   "redirect_url", "commit", "cancel",
};

struct sdl_observer {
    size_t nb;                     /* bucket bounds (seconds), increasing */
    double bounds[OBS_MAX_BOUNDS];
    bool streams;                  /* count bytes and time commit/cancel */
    bool detached;                 /* its middleware is gone: drain once more, then drop */
    uint64_t read, written;
    struct {
        uint64_t count;
        double sum;
        uint64_t errors[SD_ERR_DRIVER + 1];
        uint64_t counts[OBS_MAX_BOUNDS + 1]; /* (bounds[i-1], bounds[i]]; last: above all */
    } op[SDL_OBS_NOPS];
};

double sdl_obs_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sdl_obs_record(sdl_observer *o, int op, double t0, const sd_error *e)
{
    double dt = sdl_obs_now() - t0;
    o->op[op].count++;
    o->op[op].sum += dt;
    size_t i = 0;
    while (i < o->nb && dt > o->bounds[i])
        i++;
    o->op[op].counts[i]++;
    if (e) {
        int k = e->kind >= SD_ERR_PATH_NOT_FOUND && e->kind <= SD_ERR_DRIVER ? (int)e->kind
                                                                              : SD_ERR_DRIVER;
        o->op[op].errors[k]++;
    }
}

void sdl_obs_bytes(sdl_observer *o, bool written, uint64_t n)
{
    if (written)
        o->written += n;
    else
        o->read += n;
}

bool sdl_obs_streams(const sdl_observer *o)
{
    return o->streams;
}

void sdl_obs_detach(sdl_observer *o)
{
    o->detached = true;
}

sdl_observer *sdl_obs_test(lua_State *L, int idx)
{
    return luaL_testudata(L, idx, SDL_OBSERVER_MT);
}

/* core.observer(bounds [, streams=true]) --> observer */
static int l_observer(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    bool streams = lua_isnoneornil(L, 2) ? true : lua_toboolean(L, 2);
    size_t nb = lua_rawlen(L, 1);
    luaL_argcheck(L, nb <= OBS_MAX_BOUNDS, 1, "too many bucket bounds");
    sdl_observer *o = lua_newuserdatauv(L, sizeof *o, 0);
    memset(o, 0, sizeof *o);
    o->nb = nb;
    o->streams = streams;
    for (size_t i = 0; i < nb; i++) {
        lua_rawgeti(L, 1, (lua_Integer)(i + 1));
        int isnum = 0;
        o->bounds[i] = (double)lua_tonumberx(L, -1, &isnum);
        lua_pop(L, 1);
        luaL_argcheck(L, isnum && (i == 0 || o->bounds[i] > o->bounds[i - 1]), 1,
                      "bucket bounds must be increasing numbers");
    }
    luaL_setmetatable(L, SDL_OBSERVER_MT);
    return 1;
}

/* obs:drain() --> { ops = { [op] = { count=, sum=, counts={...}, errors={kind=n} } },
 *                   read=, written=, detached= }, only operations seen; zeroes. */
static int o_drain(lua_State *L)
{
    sdl_observer *o = luaL_checkudata(L, 1, SDL_OBSERVER_MT);
    lua_createtable(L, 0, 4);
    lua_newtable(L);
    for (int op = 0; op < SDL_OBS_NOPS; op++) {
        if (o->op[op].count == 0)
            continue;
        lua_createtable(L, 0, 4);
        lua_pushnumber(L, (lua_Number)o->op[op].count);
        lua_setfield(L, -2, "count");
        lua_pushnumber(L, o->op[op].sum);
        lua_setfield(L, -2, "sum");
        lua_createtable(L, (int)o->nb + 1, 0);
        for (size_t i = 0; i <= o->nb; i++) {
            lua_pushnumber(L, (lua_Number)o->op[op].counts[i]);
            lua_rawseti(L, -2, (lua_Integer)(i + 1));
        }
        lua_setfield(L, -2, "counts");
        lua_newtable(L);
        for (int k = SD_ERR_PATH_NOT_FOUND; k <= SD_ERR_DRIVER; k++) {
            if (o->op[op].errors[k]) {
                lua_pushnumber(L, (lua_Number)o->op[op].errors[k]);
                lua_setfield(L, -2, sd_error_kind_name((sd_error_kind)k));
            }
        }
        lua_setfield(L, -2, "errors");
        lua_setfield(L, -2, op_names[op]);
    }
    lua_setfield(L, -2, "ops");
    lua_pushnumber(L, (lua_Number)o->read);
    lua_setfield(L, -2, "read");
    lua_pushnumber(L, (lua_Number)o->written);
    lua_setfield(L, -2, "written");
    lua_pushboolean(L, o->detached);
    lua_setfield(L, -2, "detached");
    /* Zeroed only once the table is built: a raise above loses nothing. */
    bool detached = o->detached, streams = o->streams;
    size_t nb = o->nb;
    double bounds[OBS_MAX_BOUNDS];
    memcpy(bounds, o->bounds, sizeof bounds);
    memset(o, 0, sizeof *o);
    o->nb = nb;
    memcpy(o->bounds, bounds, sizeof bounds);
    o->detached = detached;
    o->streams = streams;
    return 1;
}

void sdl_open_observer(lua_State *L)
{
    luaL_newmetatable(L, SDL_OBSERVER_MT);
    lua_newtable(L);
    lua_pushcfunction(L, o_drain);
    lua_setfield(L, -2, "drain");
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

void sdl_push_observer_ctor(lua_State *L)
{
    lua_pushcfunction(L, l_observer);
}
