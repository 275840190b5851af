/* The filesystem driver's writer.
 *
 * Each writer writes to a file of its own beside the target (a temporary
 * name, ".<name>~tmp.<hex>"), never to the target itself: commit renames it
 * over the target, so a reader sees the old content or the whole new one, and
 * two writers on one path never share a file (the last commit wins; a failed
 * commit changes nothing).  close parks the file under "<name>~partial";
 * writer(append=true) claims the parked file by renaming it to a name of its
 * own and continues it; with none parked, append starts from a copy of the
 * committed file (so a committed file, even an empty one, can be appended to).
 * writer(append=false) discards a parked upload.
 *
 * Small writes gather in a userspace buffer (allocated on the first one);
 * large ones go straight to the kernel together with what is buffered, in one
 * writev, so data is copied by us at most once and syscalls stay few. */
#include "filesystem.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FS_WBUF_SIZE (256 * 1024)
/* Writes at least this large are not copied into the buffer. */
#define FS_WDIRECT (64 * 1024)

typedef struct fs_writer {
    sd_writer base;
    fs_driver *d;
    int fd;            /* our file, or -1 once closed */
    bool committed;    /* renamed over the target: nothing left to do */
    bool finished;     /* parked, cancelled or committed: nothing left to do */
    int64_t flushed;   /* bytes in the partial file */
    char *buf;         /* FS_WBUF_SIZE, or NULL */
    size_t buflen;
    fs_path final;     /* OS paths: the target, */
    fs_path partial;   /* the parked upload, */
    fs_path own;       /* and this writer's own file */
    char path[];       /* the stored path, for error texts */
} fs_writer;

/* Writes a (the buffer or a part of it) and then b (caller data), keeping
 * the accounts right even when the disk fails half way: what reached the file
 * counts in flushed, what did not stays buffered (or is refused). */
static int push(fs_writer *w, const void *b, size_t blen)
{
    size_t done = 0;
    int e = fs_writev_all(w->fd, w->buf, w->buflen, b, blen, &done);
    w->flushed += (int64_t)done;
    size_t from_buf = done < w->buflen ? done : w->buflen;
    if (from_buf < w->buflen)
        memmove(w->buf, w->buf + from_buf, w->buflen - from_buf);
    w->buflen -= from_buf;
    return e;
}

static sd_error *fs_w_write(sd_writer *sw, const void *data, size_t len)
{
    fs_writer *w = (fs_writer *)sw;
    if (w->committed || w->fd < 0)
        return sd_err_driver("write %s: the upload is no longer open", w->path);
    if (len < FS_WDIRECT) {
        if (!w->buf)
            w->buf = malloc(FS_WBUF_SIZE); /* on failure: unbuffered */
        if (w->buf && w->buflen + len <= FS_WBUF_SIZE) {
            memcpy(w->buf + w->buflen, data, len);
            w->buflen += len;
            return NULL;
        }
    }
    int e = push(w, data, len);
    return e ? fs_err(e, "write", w->path) : NULL;
}

static int64_t fs_w_size(sd_writer *sw)
{
    fs_writer *w = (fs_writer *)sw;
    return w->flushed + (int64_t)w->buflen;
}

/* Buffered bytes to the file, then (with sync) to the disk. */
static sd_error *flush(fs_writer *w, const char *op)
{
    if (w->buflen > 0) {
        int e = push(w, NULL, 0);
        if (e)
            return fs_err(e, op, w->path);
    }
    if (w->d->sync && fdatasync(w->fd) != 0)
        return fs_err(errno, op, w->path);
    return NULL;
}

/* Flushes and closes our file and parks it as the partial.  On failure the
 * writer stays whole: close can be retried, cancel or destroy clean up. */
static sd_error *park(fs_writer *w)
{
    if (w->fd >= 0) {
        sd_error *err = flush(w, "close");
        if (err)
            return err;
        int r = close(w->fd);
        w->fd = -1;
        if (r != 0 && errno != EINTR)
            return fs_err(errno, "close", w->path);
    }
    if (rename(w->own.s, w->partial.s) != 0)
        return fs_err(errno, "close", w->path);
    w->finished = true;
    return NULL;
}

static sd_error *fs_w_close(sd_writer *sw)
{
    fs_writer *w = (fs_writer *)sw;
    if (w->finished)
        return NULL;
    return park(w);
}

static sd_error *fs_w_commit(sd_writer *sw)
{
    fs_writer *w = (fs_writer *)sw;
    if (w->committed)
        return NULL;
    if (w->fd < 0)
        return sd_err_driver("commit %s: the upload is no longer open", w->path);
    sd_error *err = flush(w, "commit");
    if (err)
        return err;
    /* The fd stays open until the rename succeeds: if it fails (the target
     * is a directory, say) the writer is still whole and its file kept. */
    if (rename(w->own.s, w->final.s) != 0)
        return fs_err(errno, "commit", w->path);
    w->committed = true;
    w->finished = true;
    close(w->fd); /* after fdatasync (or without sync) nothing is pending */
    w->fd = -1;
    free(w->buf);
    w->buf = NULL;
    if (w->d->sync && fs_fsync_parent(w->final.s, w->final.len) != 0)
        return fs_err(errno, "commit (fsync of the directory)", w->path);
    return NULL;
}

static sd_error *fs_w_cancel(sd_writer *sw)
{
    fs_writer *w = (fs_writer *)sw;
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
    w->buflen = 0;
    if (w->committed)
        return NULL; /* our file became the target; nothing of ours is left */
    if (unlink(w->own.s) != 0 && errno != ENOENT)
        return fs_err(errno, "cancel", w->path);
    w->finished = true;
    return NULL;
}

static void fs_w_destroy(sd_writer *sw)
{
    fs_writer *w = (fs_writer *)sw;
    /* Abandoned (not committed, parked or cancelled): keep what was written
     * resumable, as close would. */
    if (!w->finished) {
        sd_error *err = park(w);
        if (err && w->fd >= 0)
            close(w->fd);
        sd_error_free(err);
    }
    free(w->buf);
    free(w);
}

static const sd_writer_ops fs_writer_ops = {
    .write = fs_w_write,
    .size = fs_w_size,
    .close = fs_w_close,
    .commit = fs_w_commit,
    .cancel = fs_w_cancel,
    .destroy = fs_w_destroy,
};

/* Creates this writer's own file under a fresh name, creating the directory
 * when it is missing.  -1 with errno. */
static int create_own(fs_writer *w)
{
    for (int tries = 0; tries < 16; tries++) {
        if (fs_path_temp(w->d, &w->final, &w->own) != 0)
            return -1;
        int fd = open(w->own.s, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
        if (fd >= 0)
            return fd;
        if (errno == EEXIST)
            continue;
        if (errno != ENOENT || tries >= 3 || fs_mkdir_parent(&w->own) != 0)
            return -1;
    }
    errno = EEXIST;
    return -1;
}

/* append=true: the parked upload (claimed by a rename, so that two writers
 * cannot both continue it), else a copy of the committed file, else empty.
 * Sets w->fd and w->flushed. */
static sd_error *open_append(fs_writer *w)
{
    if (fs_path_temp(w->d, &w->final, &w->own) != 0)
        return fs_err(errno, "writer", w->path);
    if (rename(w->partial.s, w->own.s) == 0) {
        w->fd = open(w->own.s, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        off_t end = w->fd >= 0 ? lseek(w->fd, 0, SEEK_END) : -1;
        if (end < 0) {
            sd_error *err = fs_err(errno, "writer", w->path);
            rename(w->own.s, w->partial.s); /* put it back for a later try */
            return err;
        }
        w->flushed = (int64_t)end;
        return NULL;
    }
    if (!fs_missing(errno))
        return fs_err(errno, "writer", w->path);

    int src = open(w->final.s, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (src < 0) {
        if (!fs_missing(errno))
            return fs_err(errno, "writer", w->path);
        w->fd = create_own(w);
        return w->fd < 0 ? fs_err(errno, "writer", w->path) : NULL;
    }
    struct stat st;
    sd_error *err = NULL;
    if (fstat(src, &st) != 0) {
        err = fs_err(errno, "writer", w->path);
    } else if (S_ISDIR(st.st_mode)) {
        err = sd_err_driver("writer %s: is a directory", w->path);
    } else if ((w->fd = create_own(w)) < 0) {
        err = fs_err(errno, "writer", w->path);
    } else {
        int e = fs_copy_fd(src, w->fd, &w->flushed);
        if (e) {
            err = fs_err(e, "writer (copy of the committed file)", w->path);
            close(w->fd);
            w->fd = -1;
            unlink(w->own.s);
        }
    }
    close(src);
    return err;
}

sd_error *fs_open_writer(sd_driver *drv, const char *path, bool append, sd_writer **out)
{
    fs_driver *d = (fs_driver *)drv;
    size_t plen = strlen(path);
    fs_writer *w = malloc(sizeof *w + plen + 1);
    if (!w)
        return fs_oom();
    /* Field by field: a memset would touch both 4 KiB path buffers. */
    w->base = (sd_writer){.ops = &fs_writer_ops};
    w->d = d;
    w->fd = -1;
    w->committed = false;
    w->finished = false;
    w->flushed = 0;
    w->buf = NULL;
    w->buflen = 0;
    memcpy(w->path, path, plen + 1);
    if (fs_path_make(d, path, &w->final) != 0 || fs_path_partial(&w->final, &w->partial) != 0) {
        sd_error *err = fs_err(errno, "writer", path);
        free(w);
        return err;
    }

    sd_error *err = NULL;
    sd_regulator_enter(&d->reg);
    if (append) {
        err = open_append(w);
    } else {
        /* A new upload replaces a parked one. */
        if (unlink(w->partial.s) != 0 && !fs_missing(errno))
            err = fs_err(errno, "writer", path);
        else if ((w->fd = create_own(w)) < 0)
            err = fs_err(errno, "writer", path);
    }
    sd_regulator_leave(&d->reg);
    if (err) {
        if (w->fd >= 0)
            close(w->fd);
        free(w);
        return err;
    }
    *out = &w->base;
    return NULL;
}
