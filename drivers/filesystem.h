/* The filesystem driver's internals, shared by drivers/filesystem*.c.
 *
 * Files:
 *   filesystem.c         parameters, create, destroy, the ops table
 *   filesystem_content.c get_content, put_content, reader
 *   filesystem_tree.c    stat, list, move, delete
 *   filesystem_writer.c  the resumable writer
 *   filesystem_os.c      OS paths, mkdir -p, tree removal, I/O loops
 *
 * Layout on disk.  The OS path of "/a/b" is root + "/a/b"; the base layer has
 * checked the path (components [A-Za-z0-9._-]+, never "." or ".."), so plain
 * concatenation cannot leave the root.  Two kinds of private files live next
 * to the files they belong to; their names hold a '~', which no valid path
 * component can hold, so they can never collide with a stored path and list
 * skips them:
 *   ".<name>~tmp.<16 hex>"  put_content's temporary file, renamed over <name>
 *   "<name>~partial"        a writer's upload in progress, renamed over <name>
 *                           on commit, kept across close so append resumes it
 */
#ifndef SD_FILESYSTEM_INTERNAL_H
#define SD_FILESYSTEM_INTERNAL_H

#include "drivers.h"
#include "../runtime/util.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FS_NAME "filesystem"

typedef struct fs_driver {
    sd_driver base;
    char *root;      /* absolute, no trailing '/'; "" when the root is "/" */
    size_t root_len;
    bool sync;       /* fsync files and directories on put_content, commit, move */
    sd_regulator reg;
    uint64_t tmp_seed;            /* random, per driver: temp names */
    atomic_uint_fast64_t tmp_seq; /* the only mutable shared field */
} fs_driver;

/* An OS path in a fixed buffer, so that no operation allocates for it. */
typedef struct fs_path {
    size_t len;
    char s[PATH_MAX];
} fs_path;

/* root + path into out; -1 with errno = ENAMETOOLONG when it does not fit. */
int fs_path_make(const fs_driver *d, const char *path, fs_path *out);
/* The partial file beside the OS path p ("<p>~partial"). */
int fs_path_partial(const fs_path *p, fs_path *out);
/* A fresh temporary name beside the OS path p (".<name>~tmp.<hex>"). */
int fs_path_temp(fs_driver *d, const fs_path *p, fs_path *out);
/* Length of the directory part of p ("/r/a/b" -> 4), at least 1 when p is
 * absolute. */
size_t fs_dir_len(const char *p, size_t len);

/* mkdir -p of p[0..len) (p is modified during the call and restored).
 * 0, or -1 with errno set. */
int fs_mkdirs(char *p, size_t len);
/* mkdir -p of the directory that holds the OS path p. */
int fs_mkdir_parent(fs_path *p);
/* fsync of the directory that holds the OS path p.  0 or -1 with errno. */
int fs_fsync_parent(const char *p, size_t len);

/* Writes a[0..alen) then b[0..blen) with as few writev calls as it takes.
 * *done gets the bytes written, even on failure.  0, or an errno value. */
int fs_writev_all(int fd, const void *a, size_t alen, const void *b, size_t blen,
                  size_t *done);
/* Copies src (from its start) into dst (at its position) until src ends;
 * *copied gets the byte count.  0 or an errno value. */
int fs_copy_fd(int src, int dst, int64_t *copied);

/* Removes the directory name (relative to dirfd, or absolute) and everything
 * below it, never following symbolic links.  0 or an errno value. */
int fs_remove_tree(int dirfd, const char *name);

/* true when name is a name a valid path can hold: [A-Za-z0-9._-]+, not "."
 * or "..".  Everything else in a directory is private or foreign. */
bool fs_valid_name(const char *name);

/* ENOENT and ENOTDIR (a file where a directory should be) both mean the path
 * does not exist, for operations that only read. */
static inline bool fs_missing(int e)
{
    return e == ENOENT || e == ENOTDIR;
}

/* A Driver error "<op> <path>: <why>" for the errno value e. */
sd_error *fs_err(int e, const char *op, const char *path);
/* The same, but PathNotFound(path) when e says the path is missing: for
 * operations that only look. */
sd_error *fs_err_read(int e, const char *op, const char *path);
sd_error *fs_oom(void);

sd_error *fs_get_content(sd_driver *drv, const char *path, sd_buf *out);
sd_error *fs_put_content(sd_driver *drv, const char *path, const void *data, size_t len);
sd_error *fs_open_reader(sd_driver *drv, const char *path, int64_t offset, sd_reader **out);
sd_error *fs_open_writer(sd_driver *drv, const char *path, bool append, sd_writer **out);
sd_error *fs_stat(sd_driver *drv, const char *path, sd_fileinfo *out);
sd_error *fs_list(sd_driver *drv, const char *path, sd_strlist *out);
sd_error *fs_move(sd_driver *drv, const char *src, const char *dst);
sd_error *fs_remove(sd_driver *drv, const char *path);

#endif
