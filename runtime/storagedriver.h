/*
 * storagedriver: the public C API.
 *
 * One driver contract (a vtable), a factory that creates drivers by name from
 * a parameter map, and a base layer that every call goes through: it checks
 * paths and offsets before a driver sees them and stamps the driver's name on
 * every error.  Nothing here knows about Lua.
 *
 * Conventions
 *  - Every operation returns an sd_error * : NULL on success, otherwise an
 *    error the caller owns and releases with sd_error_free().
 *  - Paths are NUL-terminated; a caller that holds counted strings (the Lua
 *    binding) checks them first with sd_path_check(), which sees NUL bytes.
 *  - Output parameters (sd_buf, sd_strlist, sd_fileinfo, char **) belong to
 *    the caller; they are only filled on success.
 */
#ifndef STORAGEDRIVER_H
#define STORAGEDRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SD_VERSION "0.1.0"

/* ------------------------------------------------------------------ errors */

typedef enum sd_error_kind {
    SD_ERR_PATH_NOT_FOUND = 1, /* driver, path */
    SD_ERR_INVALID_PATH,       /* driver, path */
    SD_ERR_INVALID_OFFSET,     /* driver, path, offset */
    SD_ERR_UNSUPPORTED_METHOD, /* driver */
    SD_ERR_INVALID_DRIVER,     /* name */
    SD_ERR_INVALID_PARAMETER,  /* driver, parameter, detail (the why) */
    SD_ERR_DRIVER              /* driver, detail, status, code */
} sd_error_kind;

typedef struct sd_error {
    sd_error_kind kind;
    char *driver;      /* driver name; NULL until the base layer sets it */
    char *path;        /* may hold NUL bytes: path_len is authoritative */
    size_t path_len;
    int64_t offset;
    char *name;        /* InvalidDriver: the name asked for */
    char *parameter;   /* InvalidParameter: the parameter's name */
    char *detail;      /* Driver: the message; InvalidParameter: why */
    int status;        /* Driver: HTTP status when a backend answered, else 0 */
    char *code;        /* Driver: backend error code, or NULL */
} sd_error;

/* "PathNotFound", "InvalidPath", ... (the Lua err.kind values) */
const char *sd_error_kind_name(sd_error_kind kind);

/* Constructors.  The driver name is left NULL: the base layer fills it in.
 * When memory runs out they return a shared static "out of memory" error,
 * which sd_error_free() and sd_error_set_driver() recognise and leave alone. */
sd_error *sd_err_path_not_found(const char *path);
sd_error *sd_err_invalid_path(const char *path, size_t len);
sd_error *sd_err_invalid_offset(const char *path, int64_t offset);
sd_error *sd_err_unsupported(void);
sd_error *sd_err_invalid_driver(const char *name);
sd_error *sd_err_invalid_parameter(const char *driver, const char *parameter,
                                   const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
sd_error *sd_err_driver(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Driver error whose detail is "<formatted>: <strerror(errnum)>". */
sd_error *sd_err_errno(int errnum, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Replaces the driver name (the base layer calls it on every error). */
void sd_error_set_driver(sd_error *e, const char *driver);
/* The error's text as DESIGN.md fixes it; malloc'd, NUL-terminated, *len (if
 * not NULL) gets its length (the path part may hold NUL bytes).  NULL on OOM. */
char *sd_error_string(const sd_error *e, size_t *len);
void sd_error_free(sd_error *e);

/* --------------------------------------------------------- small containers */

typedef struct sd_buf {
    char *data;
    size_t len, cap;
} sd_buf;

/* 0 on success, -1 when memory runs out (the buffer is left as it was). */
int sd_buf_reserve(sd_buf *b, size_t extra);
int sd_buf_append(sd_buf *b, const void *data, size_t len);
void sd_buf_free(sd_buf *b);

typedef struct sd_strlist {
    char **items;
    size_t len, cap;
} sd_strlist;

int sd_strlist_push(sd_strlist *l, const char *s);        /* copies s */
int sd_strlist_push_owned(sd_strlist *l, char *s);        /* takes s (freed on failure) */
void sd_strlist_sort(sd_strlist *l);                      /* byte order */
void sd_strlist_free(sd_strlist *l);

typedef struct sd_fileinfo {
    char *path;          /* malloc'd; the base layer fills it for stat */
    int64_t size;        /* 0 for directories */
    int64_t mtime_sec;   /* seconds since the epoch */
    int32_t mtime_nsec;  /* 0..999999999 */
    bool is_dir;
} sd_fileinfo;

void sd_fileinfo_clear(sd_fileinfo *fi);

/* ------------------------------------------------------------------- params */

/* A typed parameter map, as the registry's configuration hands it over:
 * strings, integers, numbers, booleans and nested maps, by key. */
typedef struct sd_params sd_params;

typedef enum sd_param_type {
    SD_PARAM_STRING = 1,
    SD_PARAM_INT,
    SD_PARAM_NUMBER,
    SD_PARAM_BOOL,
    SD_PARAM_MAP
} sd_param_type;

sd_params *sd_params_new(void);
void sd_params_free(sd_params *p);
/* Setters replace an existing key; they return 0, or -1 when memory runs out. */
int sd_params_set_string(sd_params *p, const char *key, const char *val, size_t len);
int sd_params_set_int(sd_params *p, const char *key, int64_t val);
int sd_params_set_number(sd_params *p, const char *key, double val);
int sd_params_set_bool(sd_params *p, const char *key, bool val);
int sd_params_set_map(sd_params *p, const char *key, sd_params *sub); /* takes sub */

/* For factories.  Each getter marks the key as used; an absent key yields the
 * default; a present key of the wrong form yields an InvalidParameter error
 * naming the driver and the key. */
bool sd_params_has(const sd_params *p, const char *key);
/* strings; numbers are accepted and written in decimal.  *out is malloc'd
 * (a copy of def when absent; NULL if def is NULL). */
sd_error *sd_params_string(sd_params *p, const char *driver, const char *key,
                           const char *def, char **out);
/* true/false, or the strings "true"/"false" (any case). */
sd_error *sd_params_bool(sd_params *p, const char *driver, const char *key,
                         bool def, bool *out);
/* an integer in [min, max]: an integral number, or a decimal string. */
sd_error *sd_params_int(sd_params *p, const char *driver, const char *key,
                        int64_t def, int64_t min, int64_t max, int64_t *out);
/* The reference's concurrency-limit rule (maxthreads): an integer or an
 * integer string (0x, 0o/0 and 0b prefixes, '_' between digits); values
 * <= 0 or below min become min. */
sd_error *sd_params_limit(sd_params *p, const char *driver, const char *key,
                          int64_t min, int64_t def, int64_t *out);
/* a nested map (borrowed; NULL when absent) */
sd_error *sd_params_map(sd_params *p, const char *driver, const char *key,
                        sd_params **out);
/* InvalidParameter "unknown parameter" for the first key (in sorted order)
 * that no getter has read.  Factories call it after reading every parameter
 * and before any side effect. */
sd_error *sd_params_finish(const sd_params *p, const char *driver);

/* ------------------------------------------------------ the driver contract */

typedef struct sd_driver sd_driver;
typedef struct sd_reader sd_reader;
typedef struct sd_writer sd_writer;

typedef struct sd_redirect_opts {
    const char *method;  /* "GET" (default when NULL), "HEAD", ... */
    int64_t expiry;      /* seconds the URL stays valid; 0: the driver's default */
    const char *client_ip; /* the requesting client's address, NULL: unknown
                            * (CDN middlewares choose by it) */
} sd_redirect_opts;

/* Walk callback: return SD_WALK_CONTINUE, SD_WALK_SKIP_DIR (do not enter this
 * directory; ignored for files), SD_WALK_STOP (end the walk, no error), or
 * SD_WALK_ERROR after setting *err (the walk ends with that error). */
enum { SD_WALK_CONTINUE = 0, SD_WALK_SKIP_DIR = 1, SD_WALK_STOP = 2, SD_WALK_ERROR = 3 };
typedef int (*sd_walk_fn)(void *ud, const sd_fileinfo *fi, sd_error **err);

typedef struct sd_reader_ops {
    /* Up to cap bytes into buf; *n = 0 only at the end of the data. */
    sd_error *(*read)(sd_reader *r, void *buf, size_t cap, size_t *n);
    /* Releases everything, r included. */
    void (*close)(sd_reader *r);
} sd_reader_ops;

/* Drivers embed this as the FIRST member of their reader struct. */
struct sd_reader {
    const sd_reader_ops *ops;
    const sd_driver *driver; /* set by the base layer */
    bool closed;             /* base layer */
};

typedef struct sd_writer_ops {
    sd_error *(*write)(sd_writer *w, const void *data, size_t len);
    /* Bytes written in total, earlier appends and buffered bytes included. */
    int64_t (*size)(sd_writer *w);
    /* Flush; the upload stays resumable with append=true. */
    sd_error *(*close)(sd_writer *w);
    /* Flush and make the content visible at the path. */
    sd_error *(*commit)(sd_writer *w);
    /* Remove what this upload wrote. */
    sd_error *(*cancel)(sd_writer *w);
    /* Release everything, w included.  Called exactly once, last.  If none of
     * close/commit/cancel succeeded the writer was abandoned: keep what was
     * written resumable, as close would, without reporting errors. */
    void (*destroy)(sd_writer *w);
} sd_writer_ops;

typedef enum sd_writer_state {
    SD_WRITER_OPEN = 0,
    SD_WRITER_CLOSED,
    SD_WRITER_COMMITTED,
    SD_WRITER_CANCELLED
} sd_writer_state;

/* Drivers embed this as the FIRST member of their writer struct. */
struct sd_writer {
    const sd_writer_ops *ops;
    const sd_driver *driver; /* set by the base layer */
    sd_writer_state state;   /* base layer */
    bool finished;           /* base layer: close after commit/cancel done */
};

typedef struct sd_driver_ops {
    /* Optional (NULL): the base layer falls back to reader + read. */
    sd_error *(*get_content)(sd_driver *d, const char *path, sd_buf *out);
    /* Optional (NULL): the base layer falls back to writer + commit. */
    sd_error *(*put_content)(sd_driver *d, const char *path, const void *data, size_t len);
    /* offset >= 0; offset >= size gives a reader at its end. */
    sd_error *(*reader)(sd_driver *d, const char *path, int64_t offset, sd_reader **out);
    sd_error *(*writer)(sd_driver *d, const char *path, bool append, sd_writer **out);
    /* fill size, mtime, is_dir; path may be left NULL (the base sets it). */
    sd_error *(*stat)(sd_driver *d, const char *path, sd_fileinfo *out);
    /* absolute paths of the direct children; the base layer sorts them. */
    sd_error *(*list)(sd_driver *d, const char *path, sd_strlist *out);
    sd_error *(*move)(sd_driver *d, const char *src, const char *dst);
    sd_error *(*remove)(sd_driver *d, const char *path); /* recursive delete */
    /* Optional: NULL, or *url left NULL, means "no redirect". */
    sd_error *(*redirect_url)(sd_driver *d, const char *path,
                              const sd_redirect_opts *opts, char **url);
    /* Optional: NULL means the generic list + stat walk (sd_walk_fallback). */
    sd_error *(*walk)(sd_driver *d, const char *path, const char *start_after,
                      sd_walk_fn fn, void *ud);
    /* Releases the driver, d included. */
    void (*destroy)(sd_driver *d);
} sd_driver_ops;

/* Drivers embed this as the FIRST member of their driver struct. */
struct sd_driver {
    const sd_driver_ops *ops;
    const char *name; /* used in every error; owned by the driver */
};

/* ------------------------------------------------------------ the factory */

typedef sd_error *(*sd_factory_fn)(sd_params *params, sd_driver **out);

/* Registers a driver factory under name; a name registered twice is an error.
 * The built-in drivers are registered before the first call returns. */
sd_error *sd_register(const char *name, sd_factory_fn factory);
/* Creates a driver; an unknown name gives InvalidDriver.  params may be NULL
 * (no parameters); it is not taken. */
sd_error *sd_create(const char *name, sd_params *params, sd_driver **out);
/* The registered names, sorted. */
sd_error *sd_drivers(sd_strlist *out);
bool sd_driver_registered(const char *name);

void sd_driver_free(sd_driver *d);
const char *sd_driver_name(const sd_driver *d);

/* ------------------------------------------------- the base layer (public) */

/* 0 when path matches ^(/[A-Za-z0-9._-]+)+$ without "." or ".." components
 * (or is exactly "/" when allow_root), -1 otherwise.  Sees NUL bytes. */
int sd_path_check(const char *path, size_t len, bool allow_root);

sd_error *sd_get_content(sd_driver *d, const char *path, sd_buf *out);
sd_error *sd_put_content(sd_driver *d, const char *path, const void *data, size_t len);
sd_error *sd_reader_open(sd_driver *d, const char *path, int64_t offset, sd_reader **out);
sd_error *sd_writer_open(sd_driver *d, const char *path, bool append, sd_writer **out);
sd_error *sd_stat(sd_driver *d, const char *path, sd_fileinfo *out);
sd_error *sd_list(sd_driver *d, const char *path, sd_strlist *out);
sd_error *sd_move(sd_driver *d, const char *src, const char *dst);
sd_error *sd_delete(sd_driver *d, const char *path);
/* *url = NULL with no error: the driver does not redirect. */
sd_error *sd_redirect_url(sd_driver *d, const char *path,
                          const sd_redirect_opts *opts, char **url);
sd_error *sd_walk(sd_driver *d, const char *path, const char *start_after,
                  sd_walk_fn fn, void *ud);
/* The generic walk over the driver's own list and stat (no base checks). */
sd_error *sd_walk_fallback(sd_driver *d, const char *path, const char *start_after,
                           sd_walk_fn fn, void *ud);

/* Readers: *n = 0 at the end of the data. */
sd_error *sd_reader_read(sd_reader *r, void *buf, size_t cap, size_t *n);
void sd_reader_close(sd_reader *r); /* frees r */

/* Writers.  write/commit/cancel on a writer that is closed, committed or
 * cancelled give a Driver error "already closed" / "already committed" /
 * "already cancelled"; close after commit or cancel is a no-op that succeeds,
 * close after close gives "already closed".  A commit, close or cancel that
 * fails leaves the writer open (drivers keep it usable: retry or cancel).
 * Readers and writers must be freed before their driver. */
sd_error *sd_writer_write(sd_writer *w, const void *data, size_t len);
int64_t sd_writer_size(sd_writer *w);
sd_writer_state sd_writer_get_state(const sd_writer *w);
sd_error *sd_writer_close(sd_writer *w);
sd_error *sd_writer_commit(sd_writer *w);
sd_error *sd_writer_cancel(sd_writer *w);
void sd_writer_free(sd_writer *w); /* an open writer is kept resumable, as by close */

/* Streams src_path of src into dst_path of dst (a new writer, committed at
 * the end; cancelled on failure) with a fixed-size buffer.  *copied (may be
 * NULL) gets the byte count. */
sd_error *sd_copy(sd_driver *src, const char *src_path, sd_driver *dst,
                  const char *dst_path, int64_t *copied);

#ifdef __cplusplus
}
#endif
#endif
