/* The filesystem driver's whole-file operations and its reader.
 *
 * put_content is atomic: the bytes go to a temporary file beside the target,
 * which is renamed over it once complete (and durable, with sync).  Readers
 * see the old content or the new, never a part. */
#include "filesystem.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Opens an existing file for reading; a directory is an error.  *st is
 * filled.  Returns the fd, or -1 with *err set. */
static int open_file(const fs_path *p, const char *op, const char *path, struct stat *st,
                     sd_error **err)
{
    int fd = open(p->s, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        *err = fs_err_read(errno, op, path);
        return -1;
    }
    if (fstat(fd, st) != 0) {
        *err = fs_err(errno, op, path);
        close(fd);
        return -1;
    }
    if (S_ISDIR(st->st_mode)) {
        *err = sd_err_driver("%s %s: is a directory", op, path);
        close(fd);
        return -1;
    }
    return fd;
}

sd_error *fs_get_content(sd_driver *drv, const char *path, sd_buf *out)
{
    fs_driver *d = (fs_driver *)drv;
    fs_path p;
    if (fs_path_make(d, path, &p) != 0)
        return fs_err(errno, "get_content", path);

    sd_error *err = NULL;
    struct stat st;
    sd_regulator_enter(&d->reg);
    int fd = open_file(&p, "get_content", path, &st, &err);
    if (fd < 0)
        goto out;
    /* Reads the size fstat saw, without a last read to see EOF: stored files
     * are replaced by rename, never changed in place, so a file that grows
     * meanwhile was changed by someone else; it is read up to the size seen
     * here, one that shrinks up to its end. */
    if ((uint64_t)st.st_size >= SIZE_MAX) {
        err = sd_err_driver("get_content %s: too large for memory", path);
        goto out;
    }
    size_t want = st.st_size > 0 ? (size_t)st.st_size : 0;
    /* Exactly the size (+1: never a NULL buffer), not sd_buf_reserve's
     * doubling: a large file would otherwise take up to twice its size. */
    if (out->cap - out->len < want + 1) {
        char *nb = realloc(out->data, out->len + want + 1);
        if (!nb) {
            err = fs_oom();
            goto out;
        }
        out->data = nb;
        out->cap = out->len + want + 1;
    }
    while (out->len < want) {
        ssize_t n = read(fd, out->data + out->len, want - out->len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            err = fs_err(errno, "get_content", path);
            goto out;
        }
        if (n == 0)
            break;
        out->len += (size_t)n;
    }
out:
    if (fd >= 0)
        close(fd);
    sd_regulator_leave(&d->reg);
    return err; /* on error the base layer frees out */
}

/* Creates a fresh temporary file beside p; fills tmp.  -1 with errno. */
static int create_temp(fs_driver *d, fs_path *p, fs_path *tmp)
{
    for (int tries = 0; tries < 16; tries++) {
        if (fs_path_temp(d, p, tmp) != 0)
            return -1;
        int fd = open(tmp->s, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0)
            return fd;
        if (errno == EEXIST)
            continue; /* a leftover of a crashed process: pick another name */
        /* The parent is missing (created only now, not checked before every
         * put); retried a few times as a concurrent delete may remove it. */
        if (errno == ENOENT && tries < 3) {
            if (fs_mkdir_parent(p) != 0)
                return -1;
            continue;
        }
        return -1;
    }
    errno = EEXIST;
    return -1;
}

sd_error *fs_put_content(sd_driver *drv, const char *path, const void *data, size_t len)
{
    fs_driver *d = (fs_driver *)drv;
    fs_path p, tmp;
    if (fs_path_make(d, path, &p) != 0)
        return fs_err(errno, "put_content", path);

    sd_error *err = NULL;
    sd_regulator_enter(&d->reg);
    int fd = create_temp(d, &p, &tmp);
    if (fd < 0) {
        err = fs_err(errno, "put_content", path);
        goto out;
    }
    size_t done;
    int e = fs_writev_all(fd, data, len, NULL, 0, &done);
    /* fdatasync is enough for the file: it makes the data and the metadata
     * needed to read it back (size, block map) durable, which is what the
     * rename must not overtake; timestamps may lag.  The rename itself is made
     * durable by the fsync of the directory. */
    if (!e && d->sync && fdatasync(fd) != 0)
        e = errno;
    if (close(fd) != 0 && !e && errno != EINTR)
        e = errno;
    if (!e && rename(tmp.s, p.s) != 0)
        e = errno;
    if (e) {
        unlink(tmp.s);
        err = fs_err(e, "put_content", path);
        goto out;
    }
    if (d->sync && fs_fsync_parent(p.s, p.len) != 0)
        err = fs_err(errno, "put_content (fsync of the directory)", path);
out:
    sd_regulator_leave(&d->reg);
    return err;
}

/* ------------------------------------------------------------------ reader */

typedef struct fs_reader {
    sd_reader base;
    int fd;
    char path[]; /* for error texts */
} fs_reader;

static sd_error *fs_reader_read(sd_reader *r, void *buf, size_t cap, size_t *n)
{
    fs_reader *fr = (fs_reader *)r;
    for (;;) {
        ssize_t got = read(fr->fd, buf, cap);
        if (got >= 0) {
            *n = (size_t)got;
            return NULL;
        }
        if (errno != EINTR)
            return fs_err(errno, "read", fr->path);
    }
}

static void fs_reader_close(sd_reader *r)
{
    fs_reader *fr = (fs_reader *)r;
    close(fr->fd);
    free(fr);
}

static const sd_reader_ops fs_reader_ops = {
    .read = fs_reader_read,
    .close = fs_reader_close,
};

sd_error *fs_open_reader(sd_driver *drv, const char *path, int64_t offset, sd_reader **out)
{
    fs_driver *d = (fs_driver *)drv;
    fs_path p;
    if (fs_path_make(d, path, &p) != 0)
        return fs_err(errno, "reader", path);
    size_t plen = strlen(path);
    fs_reader *r = malloc(sizeof *r + plen + 1);
    if (!r)
        return fs_oom();
    memcpy(r->path, path, plen + 1);

    sd_error *err = NULL;
    struct stat st;
    sd_regulator_enter(&d->reg);
    int fd = open_file(&p, "reader", path, &st, &err);
    /* Seeking past the end is allowed: the first read then gives 0 bytes. */
    if (fd >= 0 && offset > 0 && lseek(fd, (off_t)offset, SEEK_SET) < 0) {
        err = fs_err(errno, "reader", path);
        close(fd);
        fd = -1;
    }
    sd_regulator_leave(&d->reg);
    if (fd < 0) {
        free(r);
        return err;
    }
    r->base.ops = &fs_reader_ops;
    r->fd = fd;
    *out = &r->base;
    return NULL;
}
