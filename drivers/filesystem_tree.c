/* The filesystem driver's namespace operations: stat, list, move, delete.
 * They never show or touch the private files ('~' in their names) except
 * that deleting a file also drops its unfinished upload. */
#include "filesystem.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* getdents64 buffer for list (stack: one level only). */
#define FS_LIST_BUF 8192

sd_error *fs_stat(sd_driver *drv, const char *path, sd_fileinfo *out)
{
    fs_driver *d = (fs_driver *)drv;
    fs_path p;
    if (fs_path_make(d, path, &p) != 0)
        return fs_err(errno, "stat", path);
    struct stat st;
    sd_regulator_enter(&d->reg);
    int r = stat(p.s, &st);
    int e = errno;
    sd_regulator_leave(&d->reg);
    if (r != 0)
        return fs_err_read(e, "stat", path);
    out->is_dir = S_ISDIR(st.st_mode);
    out->size = out->is_dir ? 0 : (int64_t)st.st_size;
    out->mtime_sec = (int64_t)st.st_mtim.tv_sec;
    out->mtime_nsec = (int32_t)st.st_mtim.tv_nsec;
    return NULL;
}

/* "<path>/<name>", or "/<name>" for the root. */
static char *child_path(const char *path, size_t plen, const char *name)
{
    if (plen == 1)
        plen = 0;
    size_t nlen = strlen(name);
    char *s = malloc(plen + nlen + 2);
    if (!s)
        return NULL;
    memcpy(s, path, plen);
    s[plen] = '/';
    memcpy(s + plen + 1, name, nlen + 1);
    return s;
}

static sd_error *list_open_error(int e, const fs_path *p, const char *path)
{
    if (e == ENOTDIR) {
        /* The path is a file, or one of its parents is. */
        struct stat st;
        if (stat(p->s, &st) == 0)
            return sd_err_driver("list %s: not a directory", path);
        e = errno;
    }
    return fs_err_read(e, "list", path);
}

sd_error *fs_list(sd_driver *drv, const char *path, sd_strlist *out)
{
    fs_driver *d = (fs_driver *)drv;
    fs_path p;
    if (fs_path_make(d, path, &p) != 0)
        return fs_err(errno, "list", path);
    size_t plen = strlen(path);
    sd_error *err = NULL;
    /* Not opendir: it allocates and fstats; getdents64 into a stack buffer
     * does neither. */
    _Alignas(struct dirent64) char buf[FS_LIST_BUF];

    sd_regulator_enter(&d->reg);
    int fd = open(p.s, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        err = list_open_error(errno, &p, path);
        goto out;
    }
    for (;;) {
        ssize_t n = getdents64(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            err = fs_err(errno, "list", path);
            break;
        }
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) {
            struct dirent64 *de = (struct dirent64 *)(buf + off);
            off += de->d_reclen;
            if (!fs_valid_name(de->d_name))
                continue; /* ".", "..", temporary and partial files, foreign names */
            char *child = child_path(path, plen, de->d_name);
            if (!child || sd_strlist_push_owned(out, child) != 0) {
                err = fs_oom();
                goto out;
            }
        }
    }
out:
    if (fd >= 0)
        close(fd);
    sd_regulator_leave(&d->reg);
    return err; /* on error the base layer frees out */
}

sd_error *fs_move(sd_driver *drv, const char *src, const char *dst)
{
    fs_driver *d = (fs_driver *)drv;
    fs_path ps, pd;
    if (fs_path_make(d, src, &ps) != 0)
        return fs_err(errno, "move", src);
    if (fs_path_make(d, dst, &pd) != 0)
        return fs_err(errno, "move", dst);

    sd_error *err = NULL;
    sd_regulator_enter(&d->reg);
    for (int tries = 0;; tries++) {
        if (rename(ps.s, pd.s) == 0)
            break;
        int e = errno;
        if (e == ENOENT || e == ENOTDIR) {
            /* Either side may be missing: only now find out which. */
            struct stat st;
            if (lstat(ps.s, &st) != 0 && fs_missing(errno)) {
                err = sd_err_path_not_found(src);
                goto out;
            }
        }
        /* The destination's directory does not exist yet. */
        if (e == ENOENT && tries < 3) {
            if (fs_mkdir_parent(&pd) == 0)
                continue;
            e = errno;
        }
        err = sd_err_errno(e, "move %s to %s", src, dst);
        goto out;
    }
    /* A move is how the registry publishes an upload: with sync it must
     * survive a crash like a commit. */
    if (d->sync && fs_fsync_parent(pd.s, pd.len) != 0)
        err = sd_err_errno(errno, "move %s to %s (fsync of the directory)", src, dst);
out:
    sd_regulator_leave(&d->reg);
    return err;
}

sd_error *fs_remove(sd_driver *drv, const char *path)
{
    fs_driver *d = (fs_driver *)drv;
    fs_path p;
    if (fs_path_make(d, path, &p) != 0)
        return fs_err(errno, "delete", path);

    sd_error *err = NULL;
    sd_regulator_enter(&d->reg);
    /* unlink first (a file, or a link itself); EISDIR says it is a
     * directory, which saves an lstat in both cases. */
    if (unlink(p.s) == 0) {
        fs_path partial;
        if (fs_path_partial(&p, &partial) == 0)
            unlink(partial.s); /* an unfinished upload of the file */
    } else if (errno == EISDIR) {
        int e = fs_remove_tree(AT_FDCWD, p.s);
        if (e)
            err = fs_err(e, "delete", path);
    } else {
        err = fs_err_read(errno, "delete", path);
    }
    sd_regulator_leave(&d->reg);
    return err;
}
