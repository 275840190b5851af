/* The azure driver's operations on whole blobs and on the name space. */
#include "azure.h"
#include "../runtime/util.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AZ_LIST_PAGE 5000
#define AZ_DELETE_PARALLEL 8
#define AZ_REDIRECT_EXPIRY 1200
#define AZ_MAX_EXPIRY (7 * 24 * 3600)

void az_props_free(az_props *p)
{
    free(p->etag);
    free(p->blob_type);
    p->etag = p->blob_type = NULL;
}

/* ------------------------------------------------------------ content */

static sd_error *az_get_content(sd_driver *drv, const char *path, sd_buf *out)
{
    az_driver *d = (az_driver *)drv;
    char *blob = az_name(d, path);
    if (!blob)
        return az_oom();
    az_req r = { .method = "GET", .blob = blob, .idempotent = true, .max_body = SIZE_MAX / 2 };
    sd_http_response resp;
    sd_error *e = az_call(d, NULL, &r, &resp, path);
    if (!e) {
        *out = resp.body;
        memset(&resp.body, 0, sizeof resp.body);
    }
    sd_http_response_free(&resp);
    free(blob);
    return e;
}

/* DELETE of a blob; *status gets the answer's (404 is no error).  A blob
 * with snapshots (made by other tools) goes with them: asking for that only
 * then spares azurite a scan per delete. */
static sd_error *az_delete_one(az_driver *d, sd_http_client *c, const char *blob, long *status)
{
    static const char *const snaps[] = { "x-ms-delete-snapshots: include", NULL };
    az_req r = { .method = "DELETE", .blob = blob, .idempotent = true };
    sd_http_response resp;
    sd_error *e = az_do(d, c, &r, &resp);
    if (!e && resp.status == 409 && az_error_code(&resp) &&
        strcmp(az_error_code(&resp), "SnapshotsPresent") == 0) {
        sd_http_response_free(&resp);
        r.headers = snaps;
        e = az_do(d, c, &r, &resp);
    }
    if (!e && resp.status == 404 && az_error_code(&resp) &&
        strcmp(az_error_code(&resp), "ContainerNotFound") == 0)
        e = az_error(&r, &resp, NULL);
    else if (!e && resp.status / 100 != 2 && resp.status != 404)
        e = az_error(&r, &resp, NULL);
    /* A retried delete whose first try had worked answers 404. */
    *status = !e && resp.status == 404 && resp.attempts > 1 ? 202 : resp.status;
    sd_http_response_free(&resp);
    return e;
}

sd_error *az_delete_blob(az_driver *d, sd_http_client *c, const char *blob)
{
    long status;
    return az_delete_one(d, c, blob, &status);
}

sd_error *az_put_blob(az_driver *d, sd_http_client *c, const char *blob, const void *data,
                      size_t len)
{
    /* The service checks the MD5: a body corrupted in transit is refused. */
    unsigned char md[16];
    unsigned int mdlen = 0;
    char md5[64] = "Content-MD5: ";
    EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL);
    EVP_EncodeBlock((unsigned char *)md5 + strlen(md5), md, 16);
    const char *hdrs[] = { "x-ms-blob-type: BlockBlob", md5, NULL };
    az_req r = { .method = "PUT", .blob = blob, .headers = hdrs, .body = data, .body_len = len,
                 .idempotent = true };
    sd_http_response resp;
    sd_error *e = az_call(d, c, &r, &resp, NULL);
    if (e && e->code && strcmp(e->code, "InvalidBlobType") == 0) {
        /* A blob of another type (an append blob of the reference's
         * writer) is in the way: it is replaced. */
        sd_error_free(e);
        sd_http_response_free(&resp);
        e = az_delete_blob(d, c, blob);
        if (!e)
            e = az_call(d, c, &r, &resp, NULL);
    }
    sd_http_response_free(&resp);
    return e;
}

static sd_error *az_put_content(sd_driver *drv, const char *path, const void *data, size_t len)
{
    az_driver *d = (az_driver *)drv;
    if ((int64_t)len > AZ_PUT_BLOB_MAX)
        return az_put_staged(d, path, data, len);
    char *blob = az_name(d, path);
    if (!blob)
        return az_oom();
    sd_error *e = az_put_blob(d, NULL, blob, data, len);
    free(blob);
    return e;
}

/* ------------------------------------------------------------ listing */

/* One List Blobs page. */
typedef struct list_page {
    sd_xml_doc *doc;
    const char *next; /* NextMarker, or NULL at the end */
} list_page;

static sd_error *az_list_page(az_driver *d, const char *prefix, bool delim, const char *marker,
                              int max, list_page *out)
{
    memset(out, 0, sizeof *out);
    char *ep = az_enc(prefix, false);
    char *em = marker ? az_enc(marker, false) : NULL;
    char *q = NULL;
    if (ep && (!marker || em))
        q = sd_asprintf("restype=container&comp=list&prefix=%s%s&maxresults=%d%s%s", ep,
                        delim ? "&delimiter=%2F" : "", max, em ? "&marker=" : "", em ? em : "");
    free(ep);
    free(em);
    char *what = sd_asprintf("list %s", *prefix ? prefix : "/");
    if (!q || !what) {
        free(q);
        free(what);
        return az_oom();
    }
    az_req r = { .method = "GET", .query = q, .idempotent = true, .what = what };
    sd_http_response resp;
    sd_error *e = az_call(d, NULL, &r, &resp, NULL);
    if (!e) {
        e = sd_xml_parse(resp.body.data ? resp.body.data : "", resp.body.len, NULL, &out->doc);
        if (e) {
            sd_error *w = sd_err_driver("%s: malformed answer (%s)", what, e->detail);
            sd_error_free(e);
            e = w;
        }
    }
    if (!e) {
        const char *nm = sd_xml_find(out->doc, "EnumerationResults/NextMarker");
        out->next = nm && *nm ? nm : NULL;
    }
    sd_http_response_free(&resp);
    free(q);
    free(what);
    return e;
}

/* Calls fn for every entry of a listing, page after page: blobs
 * (is_prefix false) and, with delim, prefixes "dir/" (is_prefix true).
 * fn returns 0 to go on, 1 to stop, -1 after setting *err.  page_done (may
 * be NULL) runs after each page. */
typedef int (*list_fn)(void *ud, const char *name, size_t len, const sd_xml_node *n,
                       bool is_prefix, sd_error **err);

static sd_error *az_list_each(az_driver *d, const char *prefix, bool delim, list_fn fn,
                              sd_error *(*page_done)(void *ud), void *ud)
{
    char *marker = NULL;
    sd_error *e = NULL;
    int rc = 0;
    do {
        list_page pg;
        e = az_list_page(d, prefix, delim, marker, AZ_LIST_PAGE, &pg);
        free(marker);
        marker = NULL;
        if (e) {
            rc = -1;
            break;
        }
        const sd_xml_node *blobs = sd_xml_find_node(pg.doc, "EnumerationResults/Blobs");
        for (const sd_xml_node *n = blobs ? sd_xml_first_child(blobs) : NULL; n && !rc;
             n = sd_xml_next_sibling(n)) {
            bool is_prefix = strcmp(sd_xml_name(n), "BlobPrefix") == 0;
            if (!is_prefix && strcmp(sd_xml_name(n), "Blob") != 0)
                continue;
            size_t len = 0;
            const char *name = sd_xml_text(sd_xml_child(n, "Name"), &len);
            if (name && len > 0)
                rc = fn(ud, name, len, n, is_prefix, &e);
        }
        if (!rc && page_done && (e = page_done(ud)) != NULL)
            rc = -1;
        if (!rc && pg.next && !(marker = sd_strdup(pg.next))) {
            e = az_oom();
            rc = -1;
        }
        sd_xml_doc_free(pg.doc);
    } while (!rc && marker);
    free(marker);
    return rc < 0 ? e : NULL;
}

static char *az_dir_prefix(const az_driver *d, const char *path)
{
    if (strcmp(path, "/") == 0)
        return sd_strdup(d->root);
    char *k = az_name(d, path);
    char *p = k ? sd_asprintf("%s/", k) : NULL;
    free(k);
    return p;
}

typedef struct list_ctx {
    az_driver *d;
    size_t plen;
    sd_strlist *out;
    bool any;
} list_ctx;

static int list_one(void *ud, const char *name, size_t len, const sd_xml_node *n, bool is_prefix,
                    sd_error **err)
{
    (void)n;
    list_ctx *x = ud;
    if (is_prefix)
        len--; /* "dir/" */
    else if (name[len - 1] == '/')
        return 0; /* a directory marker blob made by other tools */
    if (len <= x->plen)
        return 0;
    x->any = true;
    char *p = az_path(x->d, name, len);
    if (p && sd_strlist_push_owned(x->out, p)) {
        *err = az_oom();
        return -1;
    }
    return 0;
}

static sd_error *az_list(sd_driver *drv, const char *path, sd_strlist *out)
{
    az_driver *d = (az_driver *)drv;
    char *prefix = az_dir_prefix(d, path);
    if (!prefix)
        return az_oom();
    list_ctx x = { d, strlen(prefix), out, false };
    sd_error *e = az_list_each(d, prefix, true, list_one, NULL, &x);
    free(prefix);
    if (!e && !x.any && strcmp(path, "/") != 0)
        e = sd_err_path_not_found(path);
    if (e)
        sd_strlist_free(out);
    return e;
}

/* ------------------------------------------------------------ stat */

sd_error *az_head(az_driver *d, const char *blob, const char *path, bool *found, az_props *out)
{
    az_req r = { .method = "HEAD", .blob = blob, .idempotent = true };
    sd_http_response resp;
    sd_error *e = az_do(d, NULL, &r, &resp);
    *found = false;
    memset(out, 0, sizeof *out);
    if (!e && resp.status == 404 && !(az_error_code(&resp) &&
                                      strcmp(az_error_code(&resp), "ContainerNotFound") == 0)) {
        sd_http_response_free(&resp);
        return NULL;
    }
    if (!e && resp.status / 100 != 2)
        e = az_error(&r, &resp, path);
    if (!e) {
        const char *cl = sd_http_response_header(&resp, "Content-Length");
        char *end = NULL;
        long long v = cl ? strtoll(cl, &end, 10) : -1;
        const char *et = sd_http_response_header(&resp, "ETag");
        const char *bt = sd_http_response_header(&resp, "x-ms-blob-type");
        if (!cl || end == cl || *end || v < 0) {
            e = sd_err_driver("HEAD %s: answer without a valid Content-Length", blob);
        } else if ((et && !(out->etag = sd_strdup(et))) || (bt && !(out->blob_type = sd_strdup(bt)))) {
            az_props_free(out);
            e = az_oom();
        } else {
            *found = true;
            out->size = v;
            out->mtime = az_http_time(sd_http_response_header(&resp, "Last-Modified"));
        }
    }
    sd_http_response_free(&resp);
    return e;
}

static sd_error *az_stat(sd_driver *drv, const char *path, sd_fileinfo *out)
{
    az_driver *d = (az_driver *)drv;
    sd_error *e = NULL;
    if (strcmp(path, "/") != 0) {
        char *blob = az_name(d, path);
        if (!blob)
            return az_oom();
        bool found = false;
        az_props p;
        e = az_head(d, blob, path, &found, &p);
        free(blob);
        if (e || found) {
            if (!e) {
                out->size = p.size;
                out->mtime_sec = p.mtime;
                out->mtime_nsec = 0;
                out->is_dir = false;
            }
            az_props_free(&p);
            return e;
        }
    }
    /* A directory is a prefix "path/" with something under it. */
    char *prefix = az_dir_prefix(d, path);
    if (!prefix)
        return az_oom();
    list_page pg;
    e = az_list_page(d, prefix, false, NULL, 1, &pg);
    free(prefix);
    if (e)
        return e;
    bool dir = sd_xml_find_node(pg.doc, "EnumerationResults/Blobs/Blob") != NULL;
    sd_xml_doc_free(pg.doc);
    if (!dir)
        return sd_err_path_not_found(path);
    out->size = 0;
    out->mtime_sec = 0;
    out->mtime_nsec = 0;
    out->is_dir = true;
    return NULL;
}

/* ------------------------------------------------------------ delete */

typedef struct remove_ctx {
    az_driver *d;
    sd_strlist batch;
    bool any;
} remove_ctx;

static int remove_one(void *ud, const char *name, size_t len, const sd_xml_node *n,
                      bool is_prefix, sd_error **err)
{
    (void)n;
    (void)is_prefix;
    remove_ctx *x = ud;
    char *c = sd_strndup(name, len);
    if (!c || sd_strlist_push_owned(&x->batch, c)) {
        *err = az_oom();
        return -1;
    }
    x->any = true;
    return 0;
}

static sd_error *remove_job(void *ud, size_t i, sd_http_client *c)
{
    remove_ctx *x = ud;
    return az_delete_blob(x->d, c, x->batch.items[i]);
}

/* Azure has no multi-delete that azurite speaks: one request per blob,
 * many at once. */
static sd_error *remove_page(void *ud)
{
    remove_ctx *x = ud;
    sd_error *e = NULL;
    if (x->batch.len > 0)
        e = sd_http_parallel(x->d->pool, x->batch.len, AZ_DELETE_PARALLEL, remove_job, x);
    sd_strlist_free(&x->batch);
    return e;
}

static sd_error *az_remove(sd_driver *drv, const char *path)
{
    az_driver *d = (az_driver *)drv;
    char *blob = az_name(d, path);
    char *prefix = blob ? sd_asprintf("%s/", blob) : NULL;
    if (!prefix) {
        free(blob);
        return az_oom();
    }
    remove_ctx x = { .d = d };
    long status = 0;
    sd_error *e = az_delete_one(d, NULL, blob, &status);
    x.any = !e && status / 100 == 2;
    if (!e)
        e = az_list_each(d, prefix, false, remove_one, remove_page, &x);
    sd_strlist_free(&x.batch);
    free(blob);
    free(prefix);
    if (!e && !x.any)
        e = sd_err_path_not_found(path);
    return e;
}

/* ------------------------------------------------------------ move */

static void az_sleep_ms(int64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static sd_error *az_abort_copy(az_driver *d, const char *blob, const char *id)
{
    char *eid = az_enc(id, false);
    char *q = eid ? sd_asprintf("comp=copy&copyid=%s", eid) : NULL;
    free(eid);
    if (!q)
        return az_oom();
    const char *hdrs[] = { "x-ms-copy-action: abort", NULL };
    az_req r = { .method = "PUT", .blob = blob, .query = q, .headers = hdrs, .idempotent = true };
    sd_http_response resp;
    sd_error *e = az_call(d, NULL, &r, &resp, NULL);
    sd_http_response_free(&resp);
    free(q);
    return e;
}

/* Waits until the copy id onto blob is done (azurite copies at once; Azure
 * may take a while): max_retries polls, pausing retry_delay × n. */
static sd_error *az_wait_copy(az_driver *d, const char *blob, const char *id)
{
    for (int64_t n = 1;; n++) {
        if (d->copy_max_retries < 0 || n >= d->copy_max_retries) {
            sd_error_free(az_abort_copy(d, blob, id));
            return sd_err_driver("move to %s: the copy is still pending after %lld polls; "
                                 "aborted", blob, (long long)(n - 1));
        }
        az_sleep_ms(d->copy_delay_ms * n);
        az_req r = { .method = "HEAD", .blob = blob, .idempotent = true };
        sd_http_response resp;
        sd_error *e = az_call(d, NULL, &r, &resp, NULL);
        const char *st = e ? NULL : sd_http_response_header(&resp, "x-ms-copy-status");
        const char *cid = e ? NULL : sd_http_response_header(&resp, "x-ms-copy-id");
        if (!e && cid && strcmp(cid, id) != 0)
            e = sd_err_driver("move to %s: another copy replaced this one", blob);
        else if (!e && st && (strcmp(st, "failed") == 0 || strcmp(st, "aborted") == 0)) {
            const char *desc = sd_http_response_header(&resp, "x-ms-copy-status-description");
            e = sd_err_driver("move to %s: copy %s: %s", blob, st, desc ? desc : "");
        }
        bool done = e || !st || strcmp(st, "success") == 0;
        sd_http_response_free(&resp);
        if (done)
            return e;
    }
}

static sd_error *az_move(sd_driver *drv, const char *src, const char *dst)
{
    az_driver *d = (az_driver *)drv;
    char *sblob = az_name(d, src), *dblob = az_name(d, dst);
    char *surl = sblob ? az_blob_url(d, sblob) : NULL;
    char *hdr = NULL;
    sd_error *e = NULL;
    sd_http_response resp = {0};
    if (!dblob || !surl) {
        e = az_oom();
        goto done;
    }
    if (strcmp(sblob, dblob) == 0) {
        bool found = false;
        az_props p;
        e = az_head(d, sblob, src, &found, &p);
        az_props_free(&p);
        if (!e && !found)
            e = sd_err_path_not_found(src);
        goto done;
    }
    /* Same account: SharedKey authorizes the source too; with SAS
     * credentials the source URL carries the token. */
    hdr = d->cred == AZ_CRED_SAS ? sd_asprintf("x-ms-copy-source: %s?%s", surl, d->sas)
                                 : sd_asprintf("x-ms-copy-source: %s", surl);
    if (!hdr) {
        e = az_oom();
        goto done;
    }
    const char *hdrs[] = { hdr, NULL };
    az_req r = { .method = "PUT", .blob = dblob, .headers = hdrs, .idempotent = true,
                 .what = "move" };
    e = az_do(d, NULL, &r, &resp);
    if (!e && resp.status / 100 != 2) {
        const char *code = az_error_code(&resp);
        if (resp.status == 404 && code &&
            (strcmp(code, "CannotVerifyCopySource") == 0 || strcmp(code, "BlobNotFound") == 0))
            e = sd_err_path_not_found(src);
        else
            e = az_error(&r, &resp, NULL);
    }
    if (!e) {
        const char *st = sd_http_response_header(&resp, "x-ms-copy-status");
        const char *id = sd_http_response_header(&resp, "x-ms-copy-id");
        if (st && strcmp(st, "pending") == 0)
            e = id ? az_wait_copy(d, dblob, id)
                   : sd_err_driver("move to %s: pending copy without an id", dst);
        else if (st && strcmp(st, "success") != 0)
            e = sd_err_driver("move to %s: copy %s", dst, st);
    }
    if (!e)
        e = az_delete_blob(d, NULL, sblob);
done:
    sd_http_response_free(&resp);
    free(sblob);
    free(dblob);
    free(surl);
    free(hdr);
    return e;
}

/* ------------------------------------------------------------ redirect */

static sd_error *az_redirect_url(sd_driver *drv, const char *path, const sd_redirect_opts *opts,
                                 char **url)
{
    az_driver *d = (az_driver *)drv;
    const char *method = opts && opts->method ? opts->method : "GET";
    *url = NULL;
    /* A read-only SAS serves GET and HEAD; other methods are not redirected. */
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return NULL;
    /* With SAS credentials there is no key to sign a narrower token, and
     * the driver's own (write, delete) must not go to clients. */
    if (d->cred == AZ_CRED_SAS)
        return NULL;
    int64_t expiry = opts && opts->expiry > 0 ? opts->expiry : AZ_REDIRECT_EXPIRY;
    if (expiry > AZ_MAX_EXPIRY)
        expiry = AZ_MAX_EXPIRY;
    char *blob = az_name(d, path);
    char *base = blob ? az_blob_url(d, blob) : NULL;
    char *q = NULL;
    sd_error *e = base ? az_blob_sas(d, blob, "r", expiry, &q) : az_oom();
    if (!e && !(*url = sd_asprintf("%s?%s", base, q)))
        e = az_oom();
    free(blob);
    free(base);
    free(q);
    return e;
}

static sd_error *az_open_reader(sd_driver *drv, const char *path, int64_t offset, sd_reader **out)
{
    return az_reader_open((az_driver *)drv, path, offset, out);
}

static sd_error *az_open_writer(sd_driver *drv, const char *path, bool append, sd_writer **out)
{
    return az_writer_open((az_driver *)drv, path, append, out);
}

const sd_driver_ops az_driver_ops = {
    .get_content = az_get_content,
    .put_content = az_put_content,
    .reader = az_open_reader,
    .writer = az_open_writer,
    .stat = az_stat,
    .list = az_list,
    .move = az_move,
    .remove = az_remove,
    .redirect_url = az_redirect_url,
    .destroy = az_destroy_driver,
};
