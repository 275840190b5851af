/* The filesystem driver: parameters, creation, the ops table.
 *
 * Parameters (the reference's names):
 *   rootdirectory  string (numbers accepted), default "/var/lib/registry".
 *                  "" is rejected (the reference would silently store under
 *                  "/").  A relative directory is made absolute against the
 *                  working directory once, at create, so that a later chdir
 *                  cannot move the store; symbolic links in it are kept as
 *                  given (not resolved), so a root that is a link keeps
 *                  following the link.  It is created (mkdir -p, 0777 & umask)
 *                  at create and must be a writable directory, so a bad root is
 *                  reported by create rather than by the first write.
 *   maxthreads     the reference's limit rules, minimum 25, default 100: at
 *                  most that many filesystem calls at once (every operation
 *                  but walk; for readers and writers only their creation).
 *   sync           boolean, default true: put_content and commit fsync the
 *                  file and its directory before they return, and move fsyncs
 *                  the destination's directory.  false: no fsync at all.
 *
 * Symbolic links: the driver never creates any.  Files are opened with
 * O_NOFOLLOW, so a link planted in the root in place of a file is refused
 * rather than read or written through; links planted in place of directories
 * are followed (as are links in the root directory's own path), and stat
 * follows links.  Delete removes a link itself, never what it points to.
 */
#include "filesystem.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FS_DEFAULT_ROOT "/var/lib/registry"
#define FS_MIN_THREADS 25
#define FS_DEFAULT_THREADS 100

static void fs_destroy(sd_driver *drv)
{
    fs_driver *d = (fs_driver *)drv;
    sd_regulator_destroy(&d->reg);
    free(d->root);
    free(d);
}

static const sd_driver_ops fs_ops = {
    .get_content = fs_get_content,
    .put_content = fs_put_content,
    .reader = fs_open_reader,
    .writer = fs_open_writer,
    .stat = fs_stat,
    .list = fs_list,
    .move = fs_move,
    .remove = fs_remove,
    .redirect_url = NULL, /* files are served by the registry itself */
    .walk = NULL,         /* the generic walk over list + stat */
    .destroy = fs_destroy,
};

/* Makes *root absolute and strips trailing slashes ("/" becomes ""). */
static sd_error *normalize_root(char **root)
{
    char *r = *root;
    if (r[0] != '/') {
        char *cwd = getcwd(NULL, 0);
        if (!cwd)
            return sd_err_invalid_parameter(FS_NAME, "rootdirectory",
                                            "cannot resolve relative path '%s': %s", r,
                                            strerror(errno));
        char *abs = sd_asprintf("%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, r);
        free(cwd);
        if (!abs)
            return fs_oom();
        free(r);
        *root = r = abs;
    }
    size_t len = strlen(r);
    while (len > 0 && r[len - 1] == '/')
        r[--len] = '\0';
    /* Leave room for a stored path, "~partial" and the temporary suffixes. */
    if (len > PATH_MAX / 2)
        return sd_err_invalid_parameter(FS_NAME, "rootdirectory", "too long (%zu bytes)", len);
    return NULL;
}

/* Creates the root if needed and checks that it is a writable directory. */
static sd_error *prepare_root(char *root)
{
    size_t len = strlen(root);
    const char *shown = len ? root : "/";
    if (fs_mkdirs(root, len) != 0)
        return sd_err_invalid_parameter(FS_NAME, "rootdirectory", "cannot create %s: %s",
                                        shown, strerror(errno));
    struct stat st;
    if (stat(len ? root : "/", &st) != 0)
        return sd_err_invalid_parameter(FS_NAME, "rootdirectory", "cannot access %s: %s",
                                        shown, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return sd_err_invalid_parameter(FS_NAME, "rootdirectory", "%s exists and is not a directory",
                                        shown);
    if (faccessat(AT_FDCWD, len ? root : "/", W_OK | X_OK, AT_EACCESS) != 0)
        return sd_err_invalid_parameter(FS_NAME, "rootdirectory", "%s is not writable: %s",
                                        shown, strerror(errno));
    return NULL;
}

static uint64_t random_seed(const void *salt)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
        /* Names only need to differ between live drivers; O_EXCL catches the
         * rest. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^
               ((uint64_t)getpid() << 16) ^ (uint64_t)(uintptr_t)salt;
    }
    return seed;
}

sd_error *sd_filesystem_factory(sd_params *params, sd_driver **out)
{
    char *root = NULL;
    int64_t maxthreads = FS_DEFAULT_THREADS;
    bool sync = true;
    sd_error *e = NULL;

    if (params) {
        e = sd_params_string(params, FS_NAME, "rootdirectory", FS_DEFAULT_ROOT, &root);
        if (!e)
            e = sd_params_limit(params, FS_NAME, "maxthreads", FS_MIN_THREADS,
                                FS_DEFAULT_THREADS, &maxthreads);
        if (!e)
            e = sd_params_bool(params, FS_NAME, "sync", true, &sync);
        if (!e)
            e = sd_params_finish(params, FS_NAME);
    } else {
        root = sd_strdup(FS_DEFAULT_ROOT);
    }
    if (!e && !root)
        e = fs_oom();
    if (!e && root[0] == '\0')
        e = sd_err_invalid_parameter(FS_NAME, "rootdirectory", "must not be empty");
    if (!e)
        e = normalize_root(&root);
    if (!e)
        e = prepare_root(root);
    if (e) {
        free(root);
        return e;
    }

    fs_driver *d = calloc(1, sizeof *d);
    if (!d) {
        free(root);
        return fs_oom();
    }
    if (sd_regulator_init(&d->reg, maxthreads) != 0) {
        free(root);
        free(d);
        return sd_err_driver("cannot create the regulator");
    }
    d->base.ops = &fs_ops;
    d->base.name = FS_NAME;
    d->root = root;
    d->root_len = strlen(root);
    d->sync = sync;
    d->tmp_seed = random_seed(d);
    atomic_init(&d->tmp_seq, 0);
    *out = &d->base;
    return NULL;
}
