/*
 * Internal interface between the files of the Lua binding (storagedriver.core).
 *
 *   core.c    the module: sd.create/register/drivers/copy, driver methods, walk
 *   stream.c  reader and writer userdata
 *   errors.c  error objects (sd_error <-> Lua), sd.error, sd.is_error
 *   params.c  Lua parameter table -> sd_params
 *   bridge.c  drivers written in Lua, seen by the C core as sd_driver
 *
 * Nothing here is global: per-state data lives in the Lua registry under the
 * keys below, so one process can host many Lua states (OpenResty's worker
 * threads share the .so).
 */
#ifndef SDL_SDLUA_H
#define SDL_SDLUA_H

#include "compat.h"
#include "../runtime/storagedriver.h"

#include <stdbool.h>

/* Shared between the binding's files, not exported from core.so. */
#define SDL_INTERNAL __attribute__((visibility("hidden")))

#define SDL_DRIVER_MT "storagedriver.driver"
#define SDL_READER_MT "storagedriver.reader"
#define SDL_WRITER_MT "storagedriver.writer"
#define SDL_ERROR_MT "storagedriver.error"
#define SDL_SKIP_DIR_KEY "storagedriver.SKIP_DIR"
#define SDL_STOP_KEY "storagedriver.STOP"
#define SDL_FACTORIES_KEY "storagedriver.factories" /* name -> Lua factory */

/* A driver shared by its Lua userdata and the readers and writers opened on
 * it.  The last of them to go frees the driver, so finalisers may run in any
 * order (LuaJIT, lua_close) without a reader outliving its driver. */
typedef struct sdl_handle {
    sd_driver *d;
    unsigned refs;
} sdl_handle;

/* core.c */
SDL_INTERNAL void sdl_handle_release(lua_State *L, sdl_handle *h);
/* Pushes { path=, size=, modtime=, is_dir= }. */
SDL_INTERNAL void sdl_push_fileinfo(lua_State *L, const sd_fileinfo *fi);
/* Pushes the SKIP_DIR / STOP sentinel. */
SDL_INTERNAL void sdl_push_sentinel(lua_State *L, const char *key);

/* stream.c.  The userdata is pushed (closed, keeping the driver userdata at
 * driver_idx alive) before the C object is opened, so that nothing can raise
 * between the open and the attach; attach takes a reference on h. */
typedef struct sdl_reader_ud sdl_reader_ud;
typedef struct sdl_writer_ud sdl_writer_ud;
SDL_INTERNAL void sdl_open_streams(lua_State *L);
SDL_INTERNAL sdl_reader_ud *sdl_reader_new(lua_State *L, int driver_idx);
SDL_INTERNAL void sdl_reader_attach(sdl_reader_ud *u, sdl_handle *h, sd_reader *r);
SDL_INTERNAL sdl_writer_ud *sdl_writer_new(lua_State *L, int driver_idx);
SDL_INTERNAL void sdl_writer_attach(sdl_writer_ud *u, sdl_handle *h, sd_writer *w);

/* errors.c */
SDL_INTERNAL void sdl_open_errors(lua_State *L);
/* Pushes the error object for e (e is kept / e is freed). */
SDL_INTERNAL void sdl_push_error_keep(lua_State *L, const sd_error *e);
SDL_INTERNAL void sdl_push_error(lua_State *L, sd_error *e);
/* Pushes nil, err (frees e); returns 2. */
SDL_INTERNAL int sdl_fail(lua_State *L, sd_error *e);
SDL_INTERNAL bool sdl_is_error(lua_State *L, int idx);
/* The sd_error for a Lua error value: an error object, a table with a kind
 * field, a string (Driver error with that detail), a value with __tostring,
 * or anything else (a Driver error naming `what`).  May raise (it reads
 * fields, calls __tostring): call it where raising is safe. */
SDL_INTERNAL sd_error *sdl_error_from_lua(lua_State *L, int idx, const char *what);
/* A Driver error with a status and a backend code. */
SDL_INTERNAL sd_error *sdl_err_driver_full(const char *detail, int status, const char *code);
SDL_INTERNAL int sdl_l_error(lua_State *L);
SDL_INTERNAL int sdl_l_is_error(lua_State *L);

/* params.c: a parameter table (idx; nil gives NULL) to sd_params.  Errors
 * name `driver`.  May raise (a metamethod of the table): nothing leaks. */
SDL_INTERNAL sd_error *sdl_params_from_lua(lua_State *L, int idx, const char *driver,
                                          sd_params **out);

/* crypto.c: pushes the table of OpenSSL-backed functions (core.crypto). */
SDL_INTERNAL void sdl_open_crypto(lua_State *L);

/* bridge.c */
/* Makes the Lua state L the one a Lua driver calls into, and returns the
 * previous one for sdl_leave; no-op for C drivers.  Every call into the C
 * core on a driver that may be a Lua driver is wrapped in enter/leave, so
 * the Lua driver runs on the caller's coroutine. */
SDL_INTERNAL lua_State *sdl_enter(const sd_driver *d, lua_State *L);
SDL_INTERNAL void sdl_leave(const sd_driver *d, lua_State *prev);
/* Calls the Lua factory at factory_idx with the parameter table at
 * params_idx and wraps the driver table it returns.  Runs in sd.create's
 * frame and may raise (a metamethod of the table): nothing leaks. */
SDL_INTERNAL sd_error *sdl_bridge_create(lua_State *L, const char *name, int factory_idx,
                                         int params_idx, sd_driver **out);
/* A middleware: the driver whose handle is h, behind the table of overriding
 * methods at methods_idx (takes a reference on h).  May raise: nothing leaks. */
SDL_INTERNAL sd_error *sdl_middleware_create(lua_State *L, sdl_handle *h, int methods_idx,
                                             sd_driver **out);

/* observe.c: C-side counters for measuring middlewares (see observe.c). */
enum {
    SDL_OBS_GET_CONTENT, SDL_OBS_PUT_CONTENT, SDL_OBS_READER, SDL_OBS_WRITER, SDL_OBS_STAT,
    SDL_OBS_LIST, SDL_OBS_MOVE, SDL_OBS_DELETE, SDL_OBS_WALK, SDL_OBS_REDIRECT_URL,
    SDL_OBS_COMMIT, SDL_OBS_CANCEL, SDL_OBS_NOPS
};
typedef struct sdl_observer sdl_observer;
SDL_INTERNAL void sdl_open_observer(lua_State *L);
SDL_INTERNAL void sdl_push_observer_ctor(lua_State *L);
SDL_INTERNAL sdl_observer *sdl_obs_test(lua_State *L, int idx);
SDL_INTERNAL double sdl_obs_now(void);
/* Records operation op that started at t0 (sdl_obs_now) and ended with e. */
SDL_INTERNAL void sdl_obs_record(sdl_observer *o, int op, double t0, const sd_error *e);
SDL_INTERNAL void sdl_obs_bytes(sdl_observer *o, bool written, uint64_t n);
SDL_INTERNAL bool sdl_obs_streams(const sdl_observer *o);
SDL_INTERNAL void sdl_obs_detach(sdl_observer *o);

#endif
