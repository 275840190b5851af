/* benchclock: a monotonic wall clock and the peak RSS, for the benchmarks
 * only (Lua has neither).  Built by `make bench`; not part of the library. */
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int l_now(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

/* Peak resident set size of this process in KiB (VmHWM), or nil. */
static int l_peak_rss_kib(lua_State *L)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0 && sscanf(line + 6, "%ld", &kib) == 1)
            break;
    if (f)
        fclose(f);
    if (kib < 0)
        return 0;
    lua_pushinteger(L, kib);
    return 1;
}

int luaopen_benchclock(lua_State *L)
{
    lua_newtable(L);
    lua_pushcfunction(L, l_now);
    lua_setfield(L, -2, "now");
    lua_pushcfunction(L, l_peak_rss_kib);
    lua_setfield(L, -2, "peak_rss_kib");
    return 1;
}
