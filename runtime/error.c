/* Error values: constructors, the texts DESIGN.md fixes, and release. */
#include "storagedriver.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Returned when an error cannot be allocated; never written to or freed. */
static sd_error oom_error = {
    .kind = SD_ERR_DRIVER,
    .detail = (char *)"out of memory",
};

static const char *const kind_names[] = {
    [SD_ERR_PATH_NOT_FOUND] = "PathNotFound",
    [SD_ERR_INVALID_PATH] = "InvalidPath",
    [SD_ERR_INVALID_OFFSET] = "InvalidOffset",
    [SD_ERR_UNSUPPORTED_METHOD] = "UnsupportedMethod",
    [SD_ERR_INVALID_DRIVER] = "InvalidDriver",
    [SD_ERR_INVALID_PARAMETER] = "InvalidParameter",
    [SD_ERR_DRIVER] = "Driver",
};

const char *sd_error_kind_name(sd_error_kind kind)
{
    if (kind < SD_ERR_PATH_NOT_FOUND || kind > SD_ERR_DRIVER)
        return "Driver";
    return kind_names[kind];
}

static sd_error *err_new(sd_error_kind kind)
{
    sd_error *e = calloc(1, sizeof *e);
    if (e)
        e->kind = kind;
    return e;
}

static sd_error *err_with_path(sd_error_kind kind, const char *path, size_t len)
{
    sd_error *e = err_new(kind);
    if (!e)
        return &oom_error;
    e->path = sd_strndup(path ? path : "", path ? len : 0);
    e->path_len = path ? len : 0;
    if (!e->path) {
        free(e);
        return &oom_error;
    }
    return e;
}

sd_error *sd_err_path_not_found(const char *path)
{
    return err_with_path(SD_ERR_PATH_NOT_FOUND, path, path ? strlen(path) : 0);
}

sd_error *sd_err_invalid_path(const char *path, size_t len)
{
    return err_with_path(SD_ERR_INVALID_PATH, path, len);
}

sd_error *sd_err_invalid_offset(const char *path, int64_t offset)
{
    sd_error *e = err_with_path(SD_ERR_INVALID_OFFSET, path, path ? strlen(path) : 0);
    if (e != &oom_error)
        e->offset = offset;
    return e;
}

sd_error *sd_err_unsupported(void)
{
    sd_error *e = err_new(SD_ERR_UNSUPPORTED_METHOD);
    return e ? e : &oom_error;
}

sd_error *sd_err_invalid_driver(const char *name)
{
    sd_error *e = err_new(SD_ERR_INVALID_DRIVER);
    if (!e)
        return &oom_error;
    e->name = sd_strdup(name ? name : "");
    if (!e->name) {
        free(e);
        return &oom_error;
    }
    return e;
}

static char *vformat(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        return NULL;
    return s;
}

sd_error *sd_err_invalid_parameter(const char *driver, const char *parameter,
                                   const char *fmt, ...)
{
    sd_error *e = err_new(SD_ERR_INVALID_PARAMETER);
    if (!e)
        return &oom_error;
    va_list ap;
    va_start(ap, fmt);
    e->detail = vformat(fmt, ap);
    va_end(ap);
    e->driver = sd_strdup(driver ? driver : "");
    e->parameter = sd_strdup(parameter ? parameter : "");
    if (!e->detail || !e->driver || !e->parameter) {
        sd_error_free(e);
        return &oom_error;
    }
    return e;
}

sd_error *sd_err_driver(const char *fmt, ...)
{
    sd_error *e = err_new(SD_ERR_DRIVER);
    if (!e)
        return &oom_error;
    va_list ap;
    va_start(ap, fmt);
    e->detail = vformat(fmt, ap);
    va_end(ap);
    if (!e->detail) {
        free(e);
        return &oom_error;
    }
    return e;
}

sd_error *sd_err_errno(int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *what = vformat(fmt, ap);
    va_end(ap);
    if (!what)
        return &oom_error;
    char buf[256];
    const char *msg = strerror_r(errnum, buf, sizeof buf);
    sd_error *e = sd_err_driver("%s: %s", what, msg);
    free(what);
    return e;
}

void sd_error_set_driver(sd_error *e, const char *driver)
{
    if (!e || e == &oom_error || !driver)
        return;
    if (e->driver && strcmp(e->driver, driver) == 0)
        return;
    char *d = sd_strdup(driver);
    if (!d)
        return; /* keep the old name rather than lose the error */
    free(e->driver);
    e->driver = d;
}

/* Appends to a growing text; returns -1 once memory ran out. */
static int text_add(sd_buf *b, const char *s, size_t n)
{
    return sd_buf_append(b, s, n);
}

static int text_adds(sd_buf *b, const char *s)
{
    return text_add(b, s ? s : "", s ? strlen(s) : 0);
}

char *sd_error_string(const sd_error *e, size_t *len)
{
    sd_buf b = {0};
    int rc = 0;
    const char *drv = e->driver ? e->driver : "";
    char num[32];
    switch (e->kind) {
    case SD_ERR_PATH_NOT_FOUND:
        rc |= text_adds(&b, drv);
        rc |= text_adds(&b, ": Path not found: ");
        rc |= text_add(&b, e->path ? e->path : "", e->path ? e->path_len : 0);
        break;
    case SD_ERR_INVALID_PATH:
        rc |= text_adds(&b, drv);
        rc |= text_adds(&b, ": invalid path: ");
        rc |= text_add(&b, e->path ? e->path : "", e->path ? e->path_len : 0);
        break;
    case SD_ERR_INVALID_OFFSET:
        snprintf(num, sizeof num, "%" PRId64, e->offset);
        rc |= text_adds(&b, drv);
        rc |= text_adds(&b, ": invalid offset: ");
        rc |= text_adds(&b, num);
        rc |= text_adds(&b, " for path: ");
        rc |= text_add(&b, e->path ? e->path : "", e->path ? e->path_len : 0);
        break;
    case SD_ERR_UNSUPPORTED_METHOD:
        rc |= text_adds(&b, drv);
        rc |= text_adds(&b, ": unsupported method");
        break;
    case SD_ERR_INVALID_DRIVER:
        rc |= text_adds(&b, "StorageDriver not registered: ");
        rc |= text_adds(&b, e->name);
        break;
    case SD_ERR_INVALID_PARAMETER:
        rc |= text_adds(&b, drv);
        rc |= text_adds(&b, ": invalid parameter ");
        rc |= text_adds(&b, e->parameter);
        rc |= text_adds(&b, ": ");
        rc |= text_adds(&b, e->detail);
        break;
    case SD_ERR_DRIVER:
    default:
        rc |= text_adds(&b, drv);
        rc |= text_adds(&b, ": ");
        rc |= text_adds(&b, e->detail);
        break;
    }
    rc |= text_add(&b, "", 1);
    if (rc != 0) {
        sd_buf_free(&b);
        return NULL;
    }
    if (len)
        *len = b.len - 1;
    return b.data;
}

void sd_error_free(sd_error *e)
{
    if (!e || e == &oom_error)
        return;
    free(e->driver);
    free(e->path);
    free(e->name);
    free(e->parameter);
    free(e->detail);
    free(e->code);
    free(e);
}
