/* The base layer: every public operation goes through here.  It checks paths
 * and offsets before a driver sees them, keeps the writer state machine, and
 * stamps the driver's name on every error. */
#include "storagedriver.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static bool component_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

int sd_path_check(const char *path, size_t len, bool allow_root)
{
    if (!path || len == 0 || path[0] != '/')
        return -1;
    if (len == 1)
        return allow_root ? 0 : -1;
    size_t start = 1;
    for (size_t i = 1; i <= len; i++) {
        if (i == len || path[i] == '/') {
            size_t n = i - start;
            if (n == 0)
                return -1; /* "//" or a trailing slash */
            if ((n == 1 && path[start] == '.') ||
                (n == 2 && path[start] == '.' && path[start + 1] == '.'))
                return -1;
            start = i + 1;
        } else if (!component_char((unsigned char)path[i])) {
            return -1; /* NUL bytes land here too */
        }
    }
    return 0;
}

static sd_error *decorate(const sd_driver *d, sd_error *e)
{
    if (e)
        sd_error_set_driver(e, d->name);
    return e;
}

static sd_error *check_path(const sd_driver *d, const char *path, bool allow_root)
{
    if (!path)
        return decorate(d, sd_err_invalid_path("", 0));
    size_t len = strlen(path);
    if (sd_path_check(path, len, allow_root) != 0)
        return decorate(d, sd_err_invalid_path(path, len));
    return NULL;
}

const char *sd_driver_name(const sd_driver *d)
{
    return d->name;
}

void sd_driver_free(sd_driver *d)
{
    if (d)
        d->ops->destroy(d);
}

/* get_content for drivers without one: read the whole stream. */
static sd_error *get_via_reader(sd_driver *d, const char *path, sd_buf *out)
{
    sd_reader *r = NULL;
    sd_error *e = d->ops->reader(d, path, 0, &r);
    if (e)
        return e;
    sd_buf b = {0};
    for (;;) {
        if (sd_buf_reserve(&b, 64 * 1024) != 0) {
            e = sd_err_driver("out of memory");
            break;
        }
        size_t n = 0;
        e = r->ops->read(r, b.data + b.len, b.cap - b.len, &n);
        if (e || n == 0)
            break;
        b.len += n;
    }
    r->ops->close(r);
    if (e) {
        sd_buf_free(&b);
        return e;
    }
    *out = b;
    return NULL;
}

sd_error *sd_get_content(sd_driver *d, const char *path, sd_buf *out)
{
    sd_error *e = check_path(d, path, false);
    if (e)
        return e;
    sd_buf b = {0};
    e = d->ops->get_content ? d->ops->get_content(d, path, &b) : get_via_reader(d, path, &b);
    if (e) {
        sd_buf_free(&b);
        return decorate(d, e);
    }
    *out = b;
    return NULL;
}

/* put_content for drivers without one: a writer, committed. */
static sd_error *put_via_writer(sd_driver *d, const char *path, const void *data, size_t len)
{
    sd_writer *w = NULL;
    sd_error *e = d->ops->writer(d, path, false, &w);
    if (e)
        return e;
    w->driver = d;
    w->state = SD_WRITER_OPEN;
    if (len > 0)
        e = w->ops->write(w, data, len);
    if (!e) {
        e = w->ops->commit(w);
        if (!e)
            w->state = SD_WRITER_COMMITTED;
    }
    if (e) {
        sd_error *ce = w->ops->cancel(w);
        if (!ce)
            w->state = SD_WRITER_CANCELLED;
        sd_error_free(ce);
    }
    w->ops->destroy(w);
    return e;
}

sd_error *sd_put_content(sd_driver *d, const char *path, const void *data, size_t len)
{
    sd_error *e = check_path(d, path, false);
    if (e)
        return e;
    if (!data)
        len = 0;
    e = d->ops->put_content ? d->ops->put_content(d, path, data ? data : "", len)
                            : put_via_writer(d, path, data ? data : "", len);
    return decorate(d, e);
}

sd_error *sd_reader_open(sd_driver *d, const char *path, int64_t offset, sd_reader **out)
{
    /* The reference checks the offset before the path. */
    if (offset < 0)
        return decorate(d, sd_err_invalid_offset(path ? path : "", offset));
    sd_error *e = check_path(d, path, false);
    if (e)
        return e;
    sd_reader *r = NULL;
    e = d->ops->reader(d, path, offset, &r);
    if (e)
        return decorate(d, e);
    r->driver = d;
    r->closed = false;
    *out = r;
    return NULL;
}

sd_error *sd_reader_read(sd_reader *r, void *buf, size_t cap, size_t *n)
{
    *n = 0;
    if (r->closed)
        return decorate(r->driver, sd_err_driver("reader is closed"));
    if (cap == 0)
        return NULL;
    return decorate(r->driver, r->ops->read(r, buf, cap, n));
}

void sd_reader_close(sd_reader *r)
{
    if (r)
        r->ops->close(r);
}

sd_error *sd_writer_open(sd_driver *d, const char *path, bool append, sd_writer **out)
{
    sd_error *e = check_path(d, path, false);
    if (e)
        return e;
    sd_writer *w = NULL;
    e = d->ops->writer(d, path, append, &w);
    if (e)
        return decorate(d, e);
    w->driver = d;
    w->state = SD_WRITER_OPEN;
    w->finished = false;
    *out = w;
    return NULL;
}

static sd_error *state_error(const sd_writer *w)
{
    switch (w->state) {
    case SD_WRITER_CLOSED: return decorate(w->driver, sd_err_driver("already closed"));
    case SD_WRITER_COMMITTED: return decorate(w->driver, sd_err_driver("already committed"));
    case SD_WRITER_CANCELLED: return decorate(w->driver, sd_err_driver("already cancelled"));
    case SD_WRITER_OPEN: break;
    }
    return NULL;
}

sd_error *sd_writer_write(sd_writer *w, const void *data, size_t len)
{
    sd_error *e = state_error(w);
    if (e || len == 0)
        return e;
    return decorate(w->driver, w->ops->write(w, data, len));
}

int64_t sd_writer_size(sd_writer *w)
{
    return w->ops->size(w);
}

sd_writer_state sd_writer_get_state(const sd_writer *w)
{
    return w->state;
}

sd_error *sd_writer_close(sd_writer *w)
{
    if (w->state == SD_WRITER_COMMITTED || w->state == SD_WRITER_CANCELLED) {
        w->finished = true;
        return NULL;
    }
    sd_error *e = state_error(w);
    if (e)
        return e;
    e = w->ops->close(w);
    if (e)
        return decorate(w->driver, e);
    w->state = SD_WRITER_CLOSED;
    return NULL;
}

sd_error *sd_writer_commit(sd_writer *w)
{
    sd_error *e = state_error(w);
    if (e)
        return e;
    e = w->ops->commit(w);
    if (e)
        return decorate(w->driver, e);
    w->state = SD_WRITER_COMMITTED;
    return NULL;
}

sd_error *sd_writer_cancel(sd_writer *w)
{
    sd_error *e = state_error(w);
    if (e)
        return e;
    e = w->ops->cancel(w);
    if (e)
        return decorate(w->driver, e);
    w->state = SD_WRITER_CANCELLED;
    return NULL;
}

void sd_writer_free(sd_writer *w)
{
    if (w)
        w->ops->destroy(w);
}

sd_error *sd_stat(sd_driver *d, const char *path, sd_fileinfo *out)
{
    sd_error *e = check_path(d, path, true);
    if (e)
        return e;
    sd_fileinfo fi = {0};
    e = d->ops->stat(d, path, &fi);
    if (e) {
        sd_fileinfo_clear(&fi);
        return decorate(d, e);
    }
    free(fi.path);
    fi.path = sd_strdup(path);
    if (!fi.path)
        return decorate(d, sd_err_driver("out of memory"));
    if (fi.is_dir)
        fi.size = 0;
    *out = fi;
    return NULL;
}

sd_error *sd_list(sd_driver *d, const char *path, sd_strlist *out)
{
    sd_error *e = check_path(d, path, true);
    if (e)
        return e;
    sd_strlist l = {0};
    e = d->ops->list(d, path, &l);
    if (e) {
        sd_strlist_free(&l);
        return decorate(d, e);
    }
    sd_strlist_sort(&l);
    *out = l;
    return NULL;
}

sd_error *sd_move(sd_driver *d, const char *src, const char *dst)
{
    sd_error *e = check_path(d, src, false);
    if (!e)
        e = check_path(d, dst, false);
    if (e)
        return e;
    return decorate(d, d->ops->move(d, src, dst));
}

sd_error *sd_delete(sd_driver *d, const char *path)
{
    sd_error *e = check_path(d, path, false);
    if (e)
        return e;
    return decorate(d, d->ops->remove(d, path));
}

sd_error *sd_redirect_url(sd_driver *d, const char *path, const sd_redirect_opts *opts,
                          char **url)
{
    *url = NULL;
    sd_error *e = check_path(d, path, false);
    if (e || !d->ops->redirect_url)
        return e;
    sd_redirect_opts def = {"GET", 0, NULL};
    if (!opts)
        opts = &def;
    char *u = NULL;
    e = d->ops->redirect_url(d, path, opts, &u);
    if (e) {
        free(u);
        return decorate(d, e);
    }
    *url = u;
    return NULL;
}

sd_error *sd_walk(sd_driver *d, const char *path, const char *start_after, sd_walk_fn fn,
                  void *ud)
{
    sd_error *e = check_path(d, path, true);
    if (e)
        return e;
    if (start_after && !*start_after)
        start_after = NULL;
    e = d->ops->walk ? d->ops->walk(d, path, start_after, fn, ud)
                     : sd_walk_fallback(d, path, start_after, fn, ud);
    return decorate(d, e);
}
