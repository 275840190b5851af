/* The swift driver's operations on whole objects and on the name space. */
#include "swift.h"
#include "../runtime/util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SWIFT_LIST_LIMIT 10000
#define SWIFT_DELETE_PARALLEL 8
#define SWIFT_DELETE_BATCH 200

/* ------------------------------------------------------------ content */

static sd_error *swift_get_content(sd_driver *drv, const char *path, sd_buf *out)
{
    swift_driver *d = (swift_driver *)drv;
    char *obj = swift_object(d, path);
    if (!obj)
        return swift_oom();
    swift_req r = { .method = "GET", .object = obj, .idempotent = true, .max_body = SIZE_MAX / 2 };
    sd_http_response resp;
    sd_error *e = swift_call(d, NULL, &r, &resp, path);
    if (!e) {
        *out = resp.body;
        memset(&resp.body, 0, sizeof resp.body);
    }
    sd_http_response_free(&resp);
    free(obj);
    return e;
}

static sd_error *swift_put_content(sd_driver *drv, const char *path, const void *data, size_t len)
{
    swift_driver *d = (swift_driver *)drv;
    char *obj = swift_object(d, path);
    if (!obj)
        return swift_oom();
    char line[40];
    const char *hdrs[] = { "Content-Type: application/octet-stream",
                           swift_etag_line(d, data, len, line), NULL };
    swift_req r = { .method = "PUT", .object = obj, .headers = hdrs, .body = data,
                    .body_len = len, .idempotent = true };
    sd_http_response resp;
    sd_error *e = swift_call(d, NULL, &r, &resp, NULL);
    sd_http_response_free(&resp);
    free(obj);
    return e;
}

/* ------------------------------------------------------------ HEAD */

void swift_head_free(swift_head *h)
{
    free(h->etag);
    free(h->stamp);
    memset(h, 0, sizeof *h);
}

sd_error *swift_head_object(swift_driver *d, sd_http_client *c, const char *object,
                            const char *path, swift_head *out)
{
    memset(out, 0, sizeof *out);
    swift_req r = { .method = "HEAD", .object = object, .idempotent = true };
    sd_http_response resp;
    sd_error *e = swift_do(d, c, &r, &resp);
    if (!e && resp.status == 404) {
        sd_http_response_free(&resp);
        return NULL;
    }
    if (!e && resp.status / 100 != 2)
        e = swift_error(&r, &resp, path);
    if (!e) {
        const char *cl = sd_http_response_header(&resp, "Content-Length");
        char *end = NULL;
        long long v = cl ? strtoll(cl, &end, 10) : -1;
        const char *slo = sd_http_response_header(&resp, "X-Static-Large-Object");
        const char *et = sd_http_response_header(&resp, "ETag");
        const char *ts = sd_http_response_header(&resp, "X-Timestamp");
        if (!cl || end == cl || *end || v < 0) {
            e = sd_err_driver("HEAD %s: answer without a valid Content-Length", object);
        } else {
            out->found = true;
            out->size = v;
            out->slo = slo && strcasecmp(slo, "true") == 0;
            out->mtime = swift_timestamp(ts, &out->nsec);
            if ((et && !(out->etag = sd_strdup(et))) || (ts && !(out->stamp = sd_strdup(ts)))) {
                swift_head_free(out);
                e = swift_oom();
            }
        }
    }
    sd_http_response_free(&resp);
    return e;
}

/* ------------------------------------------------------------ listing */

/* One page of a JSON listing. */
static sd_error *list_page(swift_driver *d, const char *prefix, const char *delim,
                           const char *marker, int limit, json_t **out)
{
    *out = NULL;
    char *ep = swift_enc(prefix, 0);
    char *em = marker ? swift_enc(marker, 0) : NULL;
    char *q = NULL;
    if (ep && (!marker || em))
        q = sd_asprintf("format=json&limit=%d&prefix=%s%s%s%s", limit, ep,
                        delim ? "&delimiter=%2F" : "", em ? "&marker=" : "", em ? em : "");
    free(ep);
    free(em);
    char *what = sd_asprintf("list %s", *prefix ? prefix : "/");
    if (!q || !what) {
        free(q);
        free(what);
        return swift_oom();
    }
    swift_req r = { .method = "GET", .query = q, .idempotent = true, .what = what };
    sd_http_response resp;
    sd_error *e = swift_call(d, NULL, &r, &resp, NULL);
    if (!e && resp.status == 204) {
        *out = json_array();
    } else if (!e) {
        json_error_t jerr;
        *out = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, &jerr);
        if (!json_is_array(*out)) {
            json_decref(*out);
            *out = NULL;
            e = sd_err_driver("%s: malformed listing (%s)", what, jerr.text);
        }
    }
    if (!e && !*out)
        e = swift_oom();
    sd_http_response_free(&resp);
    free(q);
    free(what);
    return e;
}

sd_error *swift_list_each(swift_driver *d, const char *prefix, const char *delim,
                          const char *marker, swift_list_fn fn, void *ud)
{
    char *next = marker ? sd_strdup(marker) : NULL;
    if (marker && !next)
        return swift_oom();
    sd_error *e = NULL;
    int rc = 0;
    for (;;) {
        json_t *page = NULL;
        if ((e = list_page(d, prefix, delim, next, SWIFT_LIST_LIMIT, &page)) != NULL) {
            rc = -1;
            break;
        }
        size_t n = json_array_size(page), i;
        json_t *it;
        const char *last = NULL;
        json_array_foreach(page, i, it) {
            swift_entry en = {0};
            const char *sub = json_string_value(json_object_get(it, "subdir"));
            const char *name = sub ? sub : json_string_value(json_object_get(it, "name"));
            if (!name)
                continue;
            last = name;
            en.name = name;
            en.len = strlen(name);
            en.is_dir = sub != NULL;
            en.bytes = json_integer_value(json_object_get(it, "bytes"));
            en.slo = json_object_get(it, "slo_etag") != NULL;
            en.hash = json_string_value(json_object_get(it, "hash"));
            en.last_modified = json_string_value(json_object_get(it, "last_modified"));
            if ((rc = fn(ud, &en, &e)) != 0)
                break;
        }
        free(next);
        next = NULL;
        if (!rc && n >= SWIFT_LIST_LIMIT && last && !(next = sd_strdup(last))) {
            e = swift_oom();
            rc = -1;
        }
        json_decref(page);
        if (rc || !next)
            break;
    }
    free(next);
    return rc < 0 ? e : NULL;
}

typedef struct list_ctx {
    swift_driver *d;
    size_t plen;
    sd_strlist *out;
    bool any;
} list_ctx;

static int list_one(void *ud, const swift_entry *en, sd_error **err)
{
    list_ctx *x = ud;
    size_t len = en->len;
    if (en->is_dir)
        len--; /* "dir/" */
    else if (en->name[len - 1] == '/')
        return 0; /* a directory marker made by other tools */
    if (len <= x->plen)
        return 0;
    x->any = true;
    char *p = swift_path(x->d, en->name, len);
    if (!p || sd_path_check(p, strlen(p), false) != 0) {
        free(p); /* a name no path can have (written by other tools) */
        return 0;
    }
    if (sd_strlist_push_owned(x->out, p)) {
        *err = swift_oom();
        return -1;
    }
    return 0;
}

static sd_error *swift_list(sd_driver *drv, const char *path, sd_strlist *out)
{
    swift_driver *d = (swift_driver *)drv;
    char *prefix = swift_dir_prefix(d, path);
    if (!prefix)
        return swift_oom();
    list_ctx x = { d, strlen(prefix), out, false };
    sd_error *e = swift_list_each(d, prefix, "/", NULL, list_one, &x);
    free(prefix);
    if (!e && !x.any && strcmp(path, "/") != 0)
        e = sd_err_path_not_found(path);
    if (e)
        sd_strlist_free(out);
    return e;
}

/* ------------------------------------------------------------ stat */

/* Is there anything under the listing prefix? */
static sd_error *swift_any_under(swift_driver *d, const char *prefix, bool *any)
{
    json_t *page = NULL;
    sd_error *e = list_page(d, prefix, NULL, NULL, 1, &page);
    *any = !e && json_array_size(page) > 0;
    json_decref(page);
    return e;
}

static sd_error *swift_stat(sd_driver *drv, const char *path, sd_fileinfo *out)
{
    swift_driver *d = (swift_driver *)drv;
    sd_error *e = NULL;
    if (strcmp(path, "/") != 0) {
        char *obj = swift_object(d, path);
        if (!obj)
            return swift_oom();
        swift_head h;
        e = swift_head_object(d, NULL, obj, path, &h);
        free(obj);
        if (e)
            return e;
        if (h.found) {
            out->size = h.size;
            out->mtime_sec = h.mtime;
            out->mtime_nsec = h.nsec;
            out->is_dir = false;
            swift_head_free(&h);
            return NULL;
        }
    }
    char *prefix = swift_dir_prefix(d, path);
    if (!prefix)
        return swift_oom();
    bool dir = false;
    e = swift_any_under(d, prefix, &dir);
    free(prefix);
    if (e)
        return e;
    if (!dir)
        return sd_err_path_not_found(path);
    out->size = 0;
    out->mtime_sec = 0;
    out->mtime_nsec = 0;
    out->is_dir = true;
    return NULL;
}

/* ------------------------------------------------------------ delete */

typedef struct bulk_ctx {
    swift_driver *d;
    char *const *names;
    size_t n, per;
} bulk_ctx;

static sd_error *bulk_one(swift_driver *d, sd_http_client *c, char *const *names, size_t n)
{
    sd_buf b = {0};
    int bad = 0;
    for (size_t i = 0; i < n && !bad; i++) {
        char *enc = swift_enc(names[i], 1);
        bad = !enc || sd_buf_append(&b, "/", 1) ||
              sd_buf_append(&b, d->container_enc, strlen(d->container_enc)) ||
              sd_buf_append(&b, "/", 1) || sd_buf_append(&b, enc, strlen(enc)) ||
              sd_buf_append(&b, "\n", 1);
        free(enc);
    }
    if (bad) {
        sd_buf_free(&b);
        return swift_oom();
    }
    const char *hdrs[] = { "Content-Type: text/plain", "Accept: application/json", NULL };
    swift_req r = { .method = "POST", .account = true, .query = "bulk-delete", .headers = hdrs,
                    .body = b.data, .body_len = b.len, .idempotent = true,
                    .what = "bulk delete" };
    sd_http_response resp;
    sd_error *e = swift_call(d, c, &r, &resp, NULL);
    json_t *doc = NULL;
    if (!e) {
        json_error_t jerr;
        doc = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, &jerr);
        const char *st = json_string_value(json_object_get(doc, "Response Status"));
        json_t *errs = json_object_get(doc, "Errors");
        size_t failed = 0, i;
        json_t *it;
        const char *first = NULL, *first_status = NULL;
        json_array_foreach(errs, i, it) {
            const char *status = json_string_value(json_array_get(it, 1));
            if (status && strncmp(status, "404", 3) == 0)
                continue;
            if (!failed++) {
                first = json_string_value(json_array_get(it, 0));
                first_status = status;
            }
        }
        if (!st)
            e = sd_err_driver("bulk delete: malformed answer (%s)", jerr.text);
        else if (failed)
            e = sd_err_driver("bulk delete: %zu of %zu objects not deleted: %s (%s)", failed, n,
                              first ? first : "?", first_status ? first_status : "?");
        else if (strncmp(st, "200", 3) != 0 && strncmp(st, "404", 3) != 0)
            e = sd_err_driver("bulk delete: %s", st);
    }
    json_decref(doc);
    sd_http_response_free(&resp);
    sd_buf_free(&b);
    return e;
}

static sd_error *delete_one(swift_driver *d, sd_http_client *c, const char *name)
{
    swift_req r = { .method = "DELETE", .object = name, .idempotent = true };
    sd_http_response resp;
    sd_error *e = swift_do(d, c, &r, &resp);
    if (!e && resp.status / 100 != 2 && resp.status != 404)
        e = swift_error(&r, &resp, NULL);
    sd_http_response_free(&resp);
    return e;
}

static sd_error *bulk_job(void *ud, size_t i, sd_http_client *c)
{
    bulk_ctx *x = ud;
    size_t lo = i * x->per, hi = lo + x->per;
    if (hi > x->n)
        hi = x->n;
    if (!x->d->bulk_delete)
        return delete_one(x->d, c, x->names[lo]);
    if (hi - lo == 1)
        return delete_one(x->d, c, x->names[lo]);
    return bulk_one(x->d, c, x->names + lo, hi - lo);
}

sd_error *swift_delete_objects(swift_driver *d, char *const *names, size_t n)
{
    if (n == 0)
        return NULL;
    /* The server deletes the names of one request one after another:
     * several smaller requests at once finish sooner. */
    size_t per = 1;
    if (d->bulk_delete) {
        per = (n + SWIFT_DELETE_PARALLEL - 1) / SWIFT_DELETE_PARALLEL;
        if (per < 4)
            per = 4;
        /* the server answers only at the end of a request (bar a space every
         * 10 s): short requests keep clear of the low-speed timeout */
        if (per > SWIFT_DELETE_BATCH)
            per = SWIFT_DELETE_BATCH;
        if ((int64_t)per > d->max_deletes)
            per = (size_t)d->max_deletes;
    }
    bulk_ctx x = { d, names, n, per };
    return sd_http_parallel(d->pool, (n + per - 1) / per, SWIFT_DELETE_PARALLEL, bulk_job, &x);
}

/* Deletes an SLO manifest with its segments (the server does both). */
static sd_error *delete_large(swift_driver *d, sd_http_client *c, const char *name)
{
    const char *hdrs[] = { "Accept: application/json", NULL };
    swift_req r = { .method = "DELETE", .object = name, .query = "multipart-manifest=delete",
                    .headers = hdrs, .idempotent = true };
    sd_http_response resp;
    sd_error *e = swift_do(d, c, &r, &resp);
    if (!e && resp.status / 100 != 2 && resp.status != 404)
        e = swift_error(&r, &resp, NULL);
    if (!e && resp.status == 200) {
        json_t *doc = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
        const char *st = json_string_value(json_object_get(doc, "Response Status"));
        if (st && strncmp(st, "200", 3) != 0 && strncmp(st, "404", 3) != 0)
            e = sd_err_driver("DELETE %s (with its segments): %s", name, st);
        json_decref(doc);
    }
    sd_http_response_free(&resp);
    return e;
}

static sd_error *large_job(void *ud, size_t i, sd_http_client *c)
{
    bulk_ctx *x = ud;
    return delete_large(x->d, c, x->names[i]);
}

/* Names of the tree at name: name itself and "name/...". */
static bool swift_owned(const char *name, size_t nlen, const char *k, size_t len)
{
    if (len < nlen || memcmp(k, name, nlen) != 0)
        return false;
    return len == nlen || name[nlen - 1] == '/' || k[nlen] == '/';
}

typedef struct remove_ctx {
    const char *name;
    size_t nlen;
    sd_strlist plain, large;
} remove_ctx;

static int remove_one(void *ud, const swift_entry *en, sd_error **err)
{
    remove_ctx *x = ud;
    if (!swift_owned(x->name, x->nlen, en->name, en->len))
        return 0;
    if (sd_strlist_push(en->slo ? &x->large : &x->plain, en->name)) {
        *err = swift_oom();
        return -1;
    }
    return 0;
}

/* The upload records under name (closed, uncommitted uploads of the tree):
 * each with the segments of its upload. */
static sd_error *remove_uploads(swift_driver *d, const char *path)
{
    char *name = strcmp(path, "/") == 0 ? sd_asprintf("%suploads/", d->root)
                                        : sd_asprintf("%suploads%s", d->root, path);
    if (!name)
        return swift_oom();
    remove_ctx x = { .name = name, .nlen = strlen(name) };
    sd_error *e = swift_list_each(d, name, NULL, NULL, remove_one, &x);
    for (size_t i = 0; !e && i < x.plain.len; i++)
        e = swift_manifest_segments(d, x.plain.items[i], &x.large);
    if (!e)
        e = swift_delete_objects(d, x.large.items, x.large.len);
    if (!e)
        e = swift_delete_objects(d, x.plain.items, x.plain.len);
    sd_strlist_free(&x.plain);
    sd_strlist_free(&x.large);
    free(name);
    return e;
}

static sd_error *swift_remove(sd_driver *drv, const char *path)
{
    swift_driver *d = (swift_driver *)drv;
    char *name = strcmp(path, "/") == 0 ? swift_dir_prefix(d, path) : swift_object(d, path);
    if (!name)
        return swift_oom();
    remove_ctx x = { .name = name, .nlen = strlen(name) };
    sd_error *e = swift_list_each(d, name, NULL, NULL, remove_one, &x);
    bool any = x.plain.len + x.large.len > 0;
    if (!e && x.large.len) {
        bulk_ctx b = { d, x.large.items, x.large.len, 1 };
        e = sd_http_parallel(d->pool, x.large.len, SWIFT_DELETE_PARALLEL, large_job, &b);
    }
    if (!e)
        e = swift_delete_objects(d, x.plain.items, x.plain.len);
    if (!e)
        e = remove_uploads(d, path);
    sd_strlist_free(&x.plain);
    sd_strlist_free(&x.large);
    free(name);
    if (!e && !any)
        e = sd_err_path_not_found(path);
    return e;
}

/* ------------------------------------------------------------ move */

/* Segments of dst's old manifest that src's manifest does not use. */
static sd_error *move_orphans(swift_driver *d, const char *sobj, bool src_slo, const char *dobj,
                              sd_strlist *out)
{
    sd_strlist old = {0}, keep = {0};
    sd_error *e = swift_manifest_segments(d, dobj, &old);
    if (!e && src_slo)
        e = swift_manifest_segments(d, sobj, &keep);
    for (size_t i = 0; !e && i < old.len; i++) {
        bool used = false;
        for (size_t j = 0; j < keep.len && !used; j++)
            used = strcmp(old.items[i], keep.items[j]) == 0;
        if (!used && sd_strlist_push(out, old.items[i]))
            e = swift_oom();
    }
    sd_strlist_free(&old);
    sd_strlist_free(&keep);
    return e;
}

static sd_error *swift_move(sd_driver *drv, const char *src, const char *dst)
{
    swift_driver *d = (swift_driver *)drv;
    char *sobj = swift_object(d, src), *dobj = swift_object(d, dst);
    char *dest = NULL;
    sd_strlist orphans = {0};
    swift_head sh = {0}, dh = {0};
    sd_http_response resp = {0};
    sd_error *e = NULL;
    if (!sobj || !dobj) {
        e = swift_oom();
        goto done;
    }
    if ((e = swift_head_object(d, NULL, sobj, src, &sh)) != NULL)
        goto done;
    if (!sh.found) {
        e = sd_err_path_not_found(src);
        goto done;
    }
    if (strcmp(sobj, dobj) == 0)
        goto done;
    /* A large object overwritten at dst would leave its segments behind. */
    if ((e = swift_head_object(d, NULL, dobj, NULL, &dh)) != NULL)
        goto done;
    if (dh.found && dh.slo) {
        /* not knowing them (a manifest of other tools) costs a leak, not the move */
        sd_error *oe = move_orphans(d, sobj, sh.slo, dobj, &orphans);
        if (oe)
            sd_strlist_free(&orphans);
        sd_error_free(oe);
    }
    char *enc = swift_enc(dobj, 1);
    dest = enc ? sd_asprintf("Destination: %s/%s", d->container_enc, enc) : NULL;
    free(enc);
    if (!dest) {
        e = swift_oom();
        goto done;
    }
    /* A large object moves as its manifest: the segments stay where they are. */
    const char *hdrs[] = { dest, NULL };
    swift_req r = { .method = "COPY", .object = sobj, .headers = hdrs,
                    .query = sh.slo ? "multipart-manifest=get" : NULL, .idempotent = true };
    if ((e = swift_call(d, NULL, &r, &resp, src)) != NULL)
        goto done;
    swift_req del = { .method = "DELETE", .object = sobj, .idempotent = true };
    sd_http_response_free(&resp);
    e = swift_do(d, NULL, &del, &resp);
    if (!e && resp.status / 100 != 2 && resp.status != 404)
        e = swift_error(&del, &resp, NULL);
    if (!e)
        e = swift_delete_objects(d, orphans.items, orphans.len);
done:
    sd_http_response_free(&resp);
    swift_head_free(&sh);
    swift_head_free(&dh);
    sd_strlist_free(&orphans);
    free(sobj);
    free(dobj);
    free(dest);
    return e;
}

/* ------------------------------------------------------------ walk */

/* Is a the directory b or one of its ancestors (component-wise)? */
static bool walk_within(const char *a, const char *b)
{
    if (strcmp(a, "/") == 0)
        return true;
    size_t n = strlen(a);
    return strncmp(a, b, n) == 0 && (b[n] == '\0' || b[n] == '/');
}

typedef struct walk_ctx {
    swift_driver *d;
    size_t from_len;    /* strlen(from), 0 for "/" */
    char *seen;         /* directory of the last entry: it and its ancestors were given */
    char *skip;         /* directory the callback skipped, or NULL */
    sd_walk_fn fn;
    void *ud;
    bool any;
} walk_ctx;

/* The callback on fi; 0 go on, 1 stop, -1 error. */
static int walk_call(walk_ctx *w, const sd_fileinfo *fi, sd_error **err)
{
    sd_error *fe = NULL;
    int act = w->fn(w->ud, fi, &fe);
    if (act != SD_WALK_ERROR)
        sd_error_free(fe);
    if (act == SD_WALK_CONTINUE)
        return 0;
    if (act == SD_WALK_STOP)
        return 1;
    if (act == SD_WALK_SKIP_DIR) {
        if (fi->is_dir) {
            free(w->skip);
            if (!(w->skip = sd_strdup(fi->path))) {
                *err = swift_oom();
                return -1;
            }
        }
        return 0;
    }
    *err = fe ? fe : sd_err_driver("walk function failed");
    return -1;
}

static int walk_one(void *ud, const swift_entry *en, sd_error **err)
{
    walk_ctx *w = ud;
    if (en->name[en->len - 1] == '/')
        return 0;
    char *path = swift_path(w->d, en->name, en->len);
    if (!path || sd_path_check(path, strlen(path), false) != 0) {
        free(path);
        return 0;
    }
    w->any = true;
    int rc = 0;
    if (w->skip && walk_within(w->skip, path))
        goto done;
    /* The directories between from and path not given yet, outermost first. */
    for (char *s = strchr(path + w->from_len + 1, '/'); s && !rc; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (!walk_within(path, w->seen) && !(w->skip && walk_within(w->skip, path))) {
            sd_fileinfo di = { .path = path, .is_dir = true };
            rc = walk_call(w, &di, err);
        }
        *s = '/';
        if (w->skip && walk_within(w->skip, path))
            goto done;
    }
    if (rc)
        goto done;
    char *dir = sd_path_parent(path);
    if (!dir) {
        *err = swift_oom();
        rc = -1;
        goto done;
    }
    free(w->seen);
    w->seen = dir;
    sd_fileinfo fi = { .path = path, .size = en->bytes };
    fi.mtime_sec = swift_iso_time(en->last_modified, &fi.mtime_nsec);
    rc = walk_call(w, &fi, err);
done:
    free(path);
    return rc;
}

/* Walks the listing without delimiter: one request per 10,000 names and no
 * stat per entry, in name order (so "/a-b" comes before "/a/x"). */
static sd_error *swift_walk(sd_driver *drv, const char *from, const char *hint, sd_walk_fn fn,
                            void *ud)
{
    swift_driver *d = (swift_driver *)drv;
    char *prefix = swift_dir_prefix(d, from);
    char *marker = hint ? swift_object(d, hint) : NULL;
    bool hint_inside = hint && walk_within(from, hint) && strcmp(from, hint) != 0;
    walk_ctx w = { .d = d, .from_len = strcmp(from, "/") == 0 ? 0 : strlen(from), .fn = fn,
                   .ud = ud };
    /* After a hint, the directories above it were given before it. */
    w.seen = hint_inside ? sd_path_parent(hint) : sd_strdup(from);
    sd_error *e = NULL;
    if (!prefix || (hint && !marker) || !w.seen)
        e = swift_oom();
    else
        e = swift_list_each(d, prefix, NULL, marker, walk_one, &w);
    if (!e && !w.any && strcmp(from, "/") != 0) {
        bool exists = false;
        if (hint)
            e = swift_any_under(d, prefix, &exists);
        if (!e && !exists)
            e = sd_err_path_not_found(from);
    }
    free(prefix);
    free(marker);
    free(w.seen);
    free(w.skip);
    return e;
}

static sd_error *swift_open_reader(sd_driver *drv, const char *path, int64_t offset,
                                   sd_reader **out)
{
    return swift_reader_open((swift_driver *)drv, path, offset, out);
}

static sd_error *swift_open_writer(sd_driver *drv, const char *path, bool append,
                                   sd_writer **out)
{
    return swift_writer_open((swift_driver *)drv, path, append, out);
}

const sd_driver_ops swift_driver_ops = {
    .get_content = swift_get_content,
    .put_content = swift_put_content,
    .reader = swift_open_reader,
    .writer = swift_open_writer,
    .stat = swift_stat,
    .list = swift_list,
    .move = swift_move,
    .remove = swift_remove,
    .redirect_url = swift_redirect_url,
    .walk = swift_walk,
    .destroy = swift_destroy_driver,
};
