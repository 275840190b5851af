/* The inmemory driver: a directory tree in memory, for tests and demos.
 *
 * Beyond the reference: uploads are invisible until commit.  A writer fills a
 * private buffer; close (or an abandoned writer) parks that buffer in the
 * driver's list of pending uploads, keyed by path and never part of the tree,
 * and writer(path, append=true) picks it up again.  Commit hands the buffer to
 * the tree without copying it.
 *
 * Locking: one rwlock guards the tree and the pending list.  Bytes are copied
 * and freed outside it wherever possible; readers and writers never hold it
 * between calls (readers keep a reference to the bytes they opened, writers own
 * their buffer while open). */
#include "drivers.h"
#include "inmemory_tree.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IM_NAME "inmemory"

typedef struct im_upload {
    struct im_upload *next;
    char *path;
    sd_buf buf;
} im_upload;

typedef struct im_driver {
    sd_driver base;
    pthread_rwlock_t lock;
    im_node *root;
    im_upload *pending; /* parked uploads, at most one per path */
} im_driver;

typedef struct im_reader {
    sd_reader base;
    im_data *data; /* one reference */
    size_t pos;
} im_reader;

typedef struct im_writer {
    sd_writer base;
    im_driver *drv;
    im_upload *up;  /* owned while open; NULL once parked, committed or cancelled */
    int64_t size;
} im_writer;

static sd_error *im_oom(void)
{
    return sd_err_driver("out of memory");
}

static struct timespec im_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        ts.tv_sec = time(NULL);
        ts.tv_nsec = 0;
    }
    return ts;
}

static const char *im_base(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static void im_rdlock(im_driver *d)
{
    pthread_rwlock_rdlock(&d->lock);
}

static void im_wrlock(im_driver *d)
{
    pthread_rwlock_wrlock(&d->lock);
}

static void im_unlock(im_driver *d)
{
    pthread_rwlock_unlock(&d->lock);
}

/* The error for a write at path that found pos (IM_FOUND dir or IM_BLOCKED). */
static sd_error *im_not_writable(const char *path, const im_pos *pos)
{
    if (pos->where == IM_BLOCKED)
        return sd_err_driver("cannot write %s: %.*s is a file", path,
                             (int)pos->prefix_len, path);
    return sd_err_driver("cannot write %s: it is a directory", path);
}

/* ------------------------------------------------------- pending uploads */

static void im_upload_free(im_upload *u)
{
    if (!u)
        return;
    free(u->path);
    sd_buf_free(&u->buf);
    free(u);
}

/* Unlinks the pending upload for path (lock held for writing). */
static im_upload *im_pending_take(im_driver *d, const char *path)
{
    for (im_upload **pp = &d->pending; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->path, path) == 0) {
            im_upload *u = *pp;
            *pp = u->next;
            u->next = NULL;
            return u;
        }
    }
    return NULL;
}

/* Parks u as the pending upload for its path; a previous one is dropped
 * (the last writer to close wins). */
static void im_pending_park(im_driver *d, im_upload *u)
{
    im_wrlock(d);
    im_upload *old = im_pending_take(d, u->path);
    u->next = d->pending;
    d->pending = u;
    im_unlock(d);
    im_upload_free(old);
}

/* Unlinks every pending upload at or below path and returns them as a list
 * (lock held for writing). */
static im_upload *im_pending_take_under(im_driver *d, const char *path)
{
    size_t n = strlen(path);
    im_upload *taken = NULL;
    for (im_upload **pp = &d->pending; *pp;) {
        im_upload *u = *pp;
        if (strncmp(u->path, path, n) == 0 && (u->path[n] == '\0' || u->path[n] == '/')) {
            *pp = u->next;
            u->next = taken;
            taken = u;
        } else {
            pp = &u->next;
        }
    }
    return taken;
}

static void im_upload_free_list(im_upload *u)
{
    while (u) {
        im_upload *next = u->next;
        im_upload_free(u);
        u = next;
    }
}

/* ----------------------------------------------------------- tree writes */

/* Makes data the content of the file at path, creating it and its parent
 * directories as needed.  On success the tree owns data's reference and *old
 * gets the replaced content (to release after unlocking); on failure nothing
 * changed and data still belongs to the caller. */
static sd_error *im_store(im_driver *d, const char *path, im_data *data, im_data **old)
{
    *old = NULL;
    im_pos pos;
    im_wrlock(d);
    struct timespec now = im_now();
    switch (im_lookup(d->root, path, &pos)) {
    case IM_FOUND:
        if (pos.node->is_dir)
            break;
        *old = pos.node->data;
        pos.node->data = data;
        pos.node->mtime = now;
        im_unlock(d);
        return NULL;
    case IM_BLOCKED:
        break;
    case IM_MISSING: {
        const char *name = im_base(path);
        im_node *leaf = im_file_new(name, strlen(name), data, now);
        im_chain chain;
        if (!leaf || im_prepare(&pos, &chain) != 0) {
            if (leaf)
                leaf->data = NULL; /* not taken: the caller keeps it */
            im_free_tree(leaf);
            im_unlock(d);
            return im_oom();
        }
        im_link(&pos, &chain, leaf, now);
        im_unlock(d);
        return NULL;
    }
    }
    im_unlock(d);
    return im_not_writable(path, &pos);
}

/* ------------------------------------------------------------ operations */

/* A reference to the bytes of the file at path, or the reason there is none. */
static sd_error *im_open_data(im_driver *d, const char *path, im_data **out)
{
    im_pos pos;
    im_rdlock(d);
    im_where w = im_lookup(d->root, path, &pos);
    bool is_dir = w == IM_FOUND && pos.node->is_dir;
    if (w == IM_FOUND && !is_dir)
        *out = im_data_ref(pos.node->data);
    im_unlock(d);
    if (w != IM_FOUND)
        return sd_err_path_not_found(path);
    if (is_dir)
        return sd_err_driver("%s is a directory", path);
    return NULL;
}

static sd_error *im_get_content(sd_driver *d_, const char *path, sd_buf *out)
{
    im_data *data;
    sd_error *err = im_open_data((im_driver *)d_, path, &data);
    if (err)
        return err;
    /* Never NULL, even for an empty file: callers may treat NULL as failure. */
    char *copy = malloc(data->len ? data->len : 1);
    if (!copy) {
        im_data_unref(data);
        return im_oom();
    }
    if (data->len)
        memcpy(copy, data->bytes, data->len);
    out->data = copy;
    out->len = data->len;
    out->cap = data->len ? data->len : 1;
    im_data_unref(data);
    return NULL;
}

static sd_error *im_put_content(sd_driver *d_, const char *path, const void *bytes, size_t len)
{
    char *copy = NULL;
    if (len) {
        copy = malloc(len);
        if (!copy)
            return im_oom();
        memcpy(copy, bytes, len);
    }
    im_data *data = im_data_new(copy, len);
    if (!data) {
        free(copy);
        return im_oom();
    }
    im_data *old;
    sd_error *err = im_store((im_driver *)d_, path, data, &old);
    if (err)
        im_data_unref(data);
    im_data_unref(old);
    return err;
}

static sd_error *im_reader_read(sd_reader *r_, void *buf, size_t cap, size_t *n)
{
    im_reader *r = (im_reader *)r_;
    size_t left = r->data->len - r->pos;
    size_t take = cap < left ? cap : left;
    if (take)
        memcpy(buf, r->data->bytes + r->pos, take);
    r->pos += take;
    *n = take;
    return NULL;
}

static void im_reader_close(sd_reader *r_)
{
    im_reader *r = (im_reader *)r_;
    im_data_unref(r->data);
    free(r);
}

static const sd_reader_ops im_reader_ops = {
    .read = im_reader_read,
    .close = im_reader_close,
};

static sd_error *im_open_reader(sd_driver *d_, const char *path, int64_t offset, sd_reader **out)
{
    im_reader *r = calloc(1, sizeof *r);
    if (!r)
        return im_oom();
    sd_error *err = im_open_data((im_driver *)d_, path, &r->data);
    if (err) {
        free(r);
        return err;
    }
    r->base.ops = &im_reader_ops;
    r->pos = offset < 0 ? 0
             : (uint64_t)offset >= r->data->len ? r->data->len
                                                : (size_t)offset;
    *out = &r->base;
    return NULL;
}

static sd_error *im_stat(sd_driver *d_, const char *path, sd_fileinfo *out)
{
    im_driver *d = (im_driver *)d_;
    im_pos pos;
    im_rdlock(d);
    if (im_lookup(d->root, path, &pos) != IM_FOUND) {
        im_unlock(d);
        return sd_err_path_not_found(path);
    }
    out->is_dir = pos.node->is_dir;
    out->size = pos.node->is_dir ? 0 : (int64_t)pos.node->data->len;
    out->mtime_sec = (int64_t)pos.node->mtime.tv_sec;
    out->mtime_nsec = (int32_t)pos.node->mtime.tv_nsec;
    im_unlock(d);
    return NULL;
}

static sd_error *im_list(sd_driver *d_, const char *path, sd_strlist *out)
{
    im_driver *d = (im_driver *)d_;
    im_pos pos;
    sd_strlist l = {0};
    size_t plen = strlen(path);
    bool root = strcmp(path, "/") == 0;
    im_rdlock(d);
    im_where w = im_lookup(d->root, path, &pos);
    bool is_dir = w == IM_FOUND && pos.node->is_dir;
    bool oom = false;
    if (is_dir) {
        const im_node *dir = pos.node;
        for (size_t i = 0; i < dir->nkids && !oom; i++) {
            size_t nlen = strlen(dir->kids[i]->name);
            size_t pre = root ? 0 : plen;
            char *child = malloc(pre + 1 + nlen + 1);
            if (!child) {
                oom = true;
                break;
            }
            memcpy(child, path, pre);
            child[pre] = '/';
            memcpy(child + pre + 1, dir->kids[i]->name, nlen + 1);
            oom = sd_strlist_push_owned(&l, child) != 0;
        }
    }
    im_unlock(d);
    if (w != IM_FOUND)
        return sd_err_path_not_found(path);
    if (!is_dir)
        return sd_err_driver("not a directory: %s", path);
    if (oom) {
        sd_strlist_free(&l);
        return im_oom();
    }
    *out = l;
    return NULL;
}

static bool im_is_under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && path[n] == '/';
}

static sd_error *im_move(sd_driver *d_, const char *src, const char *dst)
{
    im_driver *d = (im_driver *)d_;
    im_pos spos, dpos;
    im_chain chain = {0};
    im_node *garbage = NULL;
    sd_error *err = NULL;

    char *name = strdup(im_base(dst));
    if (!name)
        return im_oom();

    im_wrlock(d);
    im_where sw = im_lookup(d->root, src, &spos);
    if (sw != IM_FOUND || !spos.dir) { /* "/" cannot move */
        im_unlock(d);
        free(name);
        return sd_err_path_not_found(src);
    }
    if (strcmp(src, dst) == 0)
        goto out;
    if (spos.node->is_dir && im_is_under(dst, src)) {
        err = sd_err_driver("cannot move %s to %s: the destination is inside the source",
                            src, dst);
        goto out;
    }
    im_where dw = im_lookup(d->root, dst, &dpos);
    if (dw == IM_BLOCKED) {
        err = sd_err_driver("cannot move %s to %s: %.*s is a file", src, dst,
                            (int)dpos.prefix_len, dst);
        goto out;
    }
    if (dw == IM_FOUND && dpos.node->is_dir) {
        err = sd_err_driver("cannot move %s to %s: %s is a directory", src, dst, dst);
        goto out;
    }
    if (dw == IM_MISSING && im_prepare(&dpos, &chain) != 0) {
        err = im_oom();
        goto out;
    }

    /* Nothing can fail from here on. */
    struct timespec now = im_now();
    im_node *node = im_detach(spos.dir, spos.index);
    free(node->name);
    node->name = name;
    name = NULL;
    if (dw == IM_FOUND) {
        /* dst's index may have shifted if src sat in the same directory. */
        bool found;
        size_t idx = im_search(dpos.dir, node->name, strlen(node->name), &found);
        garbage = dpos.dir->kids[idx];
        dpos.dir->kids[idx] = node;
        dpos.dir->mtime = now;
    } else {
        im_link(&dpos, &chain, node, now);
    }
out:
    im_unlock(d);
    free(name);
    im_free_tree(garbage);
    return err;
}

static sd_error *im_remove(sd_driver *d_, const char *path)
{
    im_driver *d = (im_driver *)d_;
    im_pos pos;
    im_node *gone = NULL;
    im_wrlock(d);
    /* Uploads below a deleted path go too, found or not: the caller wants
     * nothing left there. */
    im_upload *uploads = im_pending_take_under(d, path);
    im_where w = im_lookup(d->root, path, &pos);
    if (w == IM_FOUND && pos.dir)
        gone = im_detach(pos.dir, pos.index);
    im_unlock(d);
    im_upload_free_list(uploads);
    if (!gone)
        return sd_err_path_not_found(path);
    im_free_tree(gone);
    return NULL;
}

/* ---------------------------------------------------------------- writer */

static sd_error *im_writer_write(sd_writer *w_, const void *data, size_t len)
{
    im_writer *w = (im_writer *)w_;
    if (len > (uint64_t)INT64_MAX - (uint64_t)w->size || sd_buf_append(&w->up->buf, data, len) != 0)
        return im_oom();
    w->size += (int64_t)len;
    return NULL;
}

static int64_t im_writer_size(sd_writer *w_)
{
    return ((im_writer *)w_)->size;
}

static sd_error *im_writer_close(sd_writer *w_)
{
    im_writer *w = (im_writer *)w_;
    if (w->up) {
        im_pending_park(w->drv, w->up);
        w->up = NULL;
    }
    return NULL;
}

static sd_error *im_writer_commit(sd_writer *w_)
{
    im_writer *w = (im_writer *)w_;
    im_upload *u = w->up;
    im_data *data = im_data_new(u->buf.data, u->buf.len);
    if (!data)
        return im_oom();
    im_data *old;
    sd_error *err = im_store(w->drv, u->path, data, &old);
    if (err) {
        data->bytes = NULL; /* still the upload's */
        im_data_unref(data);
        return err;
    }
    u->buf.data = NULL;
    u->buf.len = u->buf.cap = 0;
    im_upload_free(u);
    w->up = NULL;
    im_data_unref(old);
    return NULL;
}

static sd_error *im_writer_cancel(sd_writer *w_)
{
    im_writer *w = (im_writer *)w_;
    im_upload_free(w->up);
    w->up = NULL;
    return NULL;
}

static void im_writer_destroy(sd_writer *w_)
{
    im_writer *w = (im_writer *)w_;
    im_writer_close(w_); /* an abandoned upload stays resumable */
    free(w);
}

static const sd_writer_ops im_writer_ops = {
    .write = im_writer_write,
    .size = im_writer_size,
    .close = im_writer_close,
    .commit = im_writer_commit,
    .cancel = im_writer_cancel,
    .destroy = im_writer_destroy,
};

static sd_error *im_open_writer(sd_driver *d_, const char *path, bool append, sd_writer **out)
{
    im_driver *d = (im_driver *)d_;
    im_writer *w = calloc(1, sizeof *w);
    im_upload *fresh = calloc(1, sizeof *fresh);
    if (!w || !fresh || !(fresh->path = strdup(path))) {
        free(w);
        im_upload_free(fresh);
        return im_oom();
    }

    im_pos pos;
    im_data *committed = NULL;
    im_wrlock(d);
    im_where where = im_lookup(d->root, path, &pos);
    if (where == IM_BLOCKED || (where == IM_FOUND && pos.node->is_dir)) {
        im_unlock(d);
        free(w);
        im_upload_free(fresh);
        return im_not_writable(path, &pos);
    }
    im_upload *parked = im_pending_take(d, path);
    if (append && !parked && where == IM_FOUND)
        committed = im_data_ref(pos.node->data);
    im_unlock(d);

    if (append && parked) {
        im_upload_free(fresh);
        fresh = parked;
    } else {
        im_upload_free(parked);
        if (committed && committed->len &&
            sd_buf_append(&fresh->buf, committed->bytes, committed->len) != 0) {
            im_data_unref(committed);
            free(w);
            im_upload_free(fresh);
            return im_oom();
        }
        im_data_unref(committed);
    }
    w->base.ops = &im_writer_ops;
    w->drv = d;
    w->up = fresh;
    w->size = (int64_t)fresh->buf.len;
    *out = &w->base;
    return NULL;
}

/* ---------------------------------------------------------------- driver */

static void im_destroy(sd_driver *d_)
{
    im_driver *d = (im_driver *)d_;
    im_free_tree(d->root);
    im_upload_free_list(d->pending);
    pthread_rwlock_destroy(&d->lock);
    free(d);
}

static const sd_driver_ops im_ops = {
    .get_content = im_get_content,
    .put_content = im_put_content,
    .reader = im_open_reader,
    .writer = im_open_writer,
    .stat = im_stat,
    .list = im_list,
    .move = im_move,
    .remove = im_remove,
    .redirect_url = NULL, /* never redirects */
    .walk = NULL,         /* the generic list + stat walk */
    .destroy = im_destroy,
};

sd_error *sd_inmemory_factory(sd_params *params, sd_driver **out)
{
    if (params) {
        sd_error *err = sd_params_finish(params, IM_NAME);
        if (err)
            return err;
    }
    im_driver *d = calloc(1, sizeof *d);
    if (!d)
        return im_oom();
    d->root = im_dir_new("", 0, im_now());
    if (!d->root) {
        free(d);
        return im_oom();
    }
    pthread_rwlockattr_t attr;
    int rc = pthread_rwlockattr_init(&attr);
    if (rc == 0) {
#ifdef __GLIBC__
        /* Writers must not starve behind a steady stream of readers. */
        pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
        rc = pthread_rwlock_init(&d->lock, &attr);
        pthread_rwlockattr_destroy(&attr);
    }
    if (rc != 0) {
        im_free_tree(d->root);
        free(d);
        return sd_err_errno(rc, "cannot create a lock");
    }
    d->base.ops = &im_ops;
    d->base.name = IM_NAME;
    *out = &d->base;
    return NULL;
}
