/* The generic walk over a driver's own list and stat: depth first, children
 * in byte order, parents before their children, with a start-after hint that
 * resumes strictly after a path (the reference's WalkFallback). */
#include "storagedriver.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

enum { WALK_OK = 0, WALK_STOPPED = 1, WALK_FAILED = -1 };

typedef struct walk_ctx {
    sd_driver *d;
    sd_walk_fn fn;
    void *ud;
    sd_error *err;
} walk_ctx;

static int walk_dir(walk_ctx *c, const char *dir, const char *hint)
{
    sd_strlist kids = {0};
    sd_error *e = c->d->ops->list(c->d, dir, &kids);
    if (e) {
        sd_strlist_free(&kids);
        c->err = e;
        return WALK_FAILED;
    }
    sd_strlist_sort(&kids);
    int rc = WALK_OK;
    for (size_t i = 0; i < kids.len && rc == WALK_OK; i++) {
        const char *child = kids.items[i];
        if (hint && strcmp(child, hint) <= 0)
            continue;
        sd_fileinfo fi = {0};
        e = c->d->ops->stat(c->d, child, &fi);
        if (e) {
            sd_fileinfo_clear(&fi);
            if (e->kind == SD_ERR_PATH_NOT_FOUND) { /* removed since the list */
                sd_error_free(e);
                continue;
            }
            c->err = e;
            rc = WALK_FAILED;
            break;
        }
        free(fi.path);
        fi.path = kids.items[i];
        if (fi.is_dir)
            fi.size = 0;
        sd_error *ferr = NULL;
        int act = c->fn(c->ud, &fi, &ferr);
        fi.path = NULL;
        switch (act) {
        case SD_WALK_CONTINUE:
            sd_error_free(ferr);
            if (fi.is_dir)
                rc = walk_dir(c, child, hint);
            break;
        case SD_WALK_SKIP_DIR:
            sd_error_free(ferr);
            break;
        case SD_WALK_STOP:
            sd_error_free(ferr);
            rc = WALK_STOPPED;
            break;
        default:
            c->err = ferr ? ferr : sd_err_driver("walk function failed");
            rc = WALK_FAILED;
            break;
        }
    }
    sd_strlist_free(&kids);
    return rc;
}

/* Compares two paths in depth-first order: as if every '/' were a NUL. */
static int depth_first_cmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char ca = (unsigned char)(*a == '/' ? 0 : *a);
        unsigned char cb = (unsigned char)(*b == '/' ? 0 : *b);
        if (!*a || !*b)
            return (*a != 0) - (*b != 0);
        if (ca != cb)
            return ca < cb ? -1 : 1;
    }
}

static bool inside(const char *from, const char *p)
{
    if (strcmp(from, "/") == 0)
        return true;
    size_t n = strlen(from);
    return strncmp(p, from, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

/* Is path a file (so that listing it cannot work)? */
static bool is_file(sd_driver *d, const char *path)
{
    sd_fileinfo fi = {0};
    sd_error *e = d->ops->stat(d, path, &fi);
    bool file = !e && !fi.is_dir;
    sd_error_free(e);
    sd_fileinfo_clear(&fi);
    return file;
}

sd_error *sd_walk_fallback(sd_driver *d, const char *from, const char *hint, sd_walk_fn fn,
                           void *ud)
{
    walk_ctx c = {d, fn, ud, NULL};
    if (hint && !*hint)
        hint = NULL;
    if (!hint || !inside(from, hint)) {
        if (hint && depth_first_cmp(hint, from) >= 0)
            return NULL; /* everything under from sorts before the hint */
        walk_dir(&c, from, NULL);
        return c.err;
    }
    /* Resume after the hint: walk what follows it in each directory from the
     * hint up to from. */
    char *base = sd_strdup(hint);
    char *cur_hint = sd_strdup(hint);
    if (!base || !cur_hint) {
        free(base);
        free(cur_hint);
        return sd_err_driver("out of memory");
    }
    for (;;) {
        int rc = walk_dir(&c, base, cur_hint);
        if (rc == WALK_FAILED) {
            /* The hint may name something deleted since, or a file. */
            bool tolerable = strcmp(base, from) != 0 &&
                             (c.err->kind == SD_ERR_PATH_NOT_FOUND || is_file(d, base));
            if (!tolerable)
                break;
            sd_error_free(c.err);
            c.err = NULL;
        } else if (rc == WALK_STOPPED) {
            break;
        }
        if (strcmp(base, from) == 0)
            break;
        char *parent = sd_path_parent(base);
        if (!parent) {
            c.err = sd_err_driver("out of memory");
            break;
        }
        free(cur_hint);
        cur_hint = base;
        base = parent;
    }
    free(base);
    free(cur_hint);
    return c.err;
}
