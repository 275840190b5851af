/* The s3 driver's operations on whole objects and on the key space. */
#include "s3.h"
#include "../runtime/sign/sigv4.h"
#include "../runtime/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S3_DELETE_BATCH 1000
#define S3_DELETE_PARALLEL 8
#define S3_REDIRECT_EXPIRY 1200

static sd_error *ops_oom(void)
{
    return sd_err_driver("out of memory");
}

/* ------------------------------------------------------------ content */

static sd_error *s3_get_content(sd_driver *drv, const char *path, sd_buf *out)
{
    s3_driver *d = (s3_driver *)drv;
    char *key = s3_key(d, path);
    if (!key)
        return ops_oom();
    s3_req r = { .method = "GET", .key = key, .idempotent = true, .max_body = SIZE_MAX / 2 };
    sd_http_response resp;
    sd_error *e = s3_call(d, NULL, &r, &resp, path);
    if (!e) {
        *out = resp.body;
        memset(&resp.body, 0, sizeof resp.body);
    }
    sd_http_response_free(&resp);
    free(key);
    return e;
}

sd_error *s3_put_bytes(s3_driver *d, sd_http_client *c, const char *key, const void *data,
                       size_t len, const char *const *extra)
{
    s3_req r = { .method = "PUT", .key = key, .headers = extra, .body = data, .body_len = len,
                 .idempotent = true, .upload = true };
    sd_http_response resp;
    sd_error *e = s3_call(d, c, &r, &resp, NULL);
    sd_http_response_free(&resp);
    return e;
}

static sd_error *s3_put_content(sd_driver *drv, const char *path, const void *data, size_t len)
{
    s3_driver *d = (s3_driver *)drv;
    char *key = s3_key(d, path);
    if (!key)
        return ops_oom();
    sd_error *e = s3_put_bytes(d, NULL, key, data, len, NULL);
    free(key);
    return e;
}

/* ------------------------------------------------------------ listing */

/* One ListObjectsV2 page. */
typedef struct list_page {
    sd_xml_doc *doc;
    const char *next; /* NextContinuationToken when truncated, else NULL */
} list_page;

static sd_error *s3_list_page(s3_driver *d, sd_http_client *c, const char *prefix,
                              const char *delim, const char *token, const char *start_after,
                              int max_keys, list_page *out)
{
    memset(out, 0, sizeof *out);
    char *ep = s3_qenc(prefix);
    char *et = token ? s3_qenc(token) : NULL;
    char *es = start_after ? s3_qenc(start_after) : NULL;
    char *q = NULL;
    if (ep && (!token || et) && (!start_after || es))
        q = sd_asprintf("list-type=2&max-keys=%d&prefix=%s%s%s%s%s%s", max_keys, ep,
                        delim ? "&delimiter=%2F" : "", et ? "&continuation-token=" : "",
                        et ? et : "", es ? "&start-after=" : "", es ? es : "");
    free(ep);
    free(et);
    free(es);
    if (!q)
        return ops_oom();
    char *what = sd_asprintf("list %s", *prefix ? prefix : "/");
    s3_req r = { .method = "GET", .query = q, .idempotent = true, .what = what };
    sd_http_response resp = {0};
    sd_error *e = what ? s3_call(d, c, &r, &resp, NULL) : ops_oom();
    if (!e)
        e = s3_xml(&r, &resp, &out->doc);
    if (!e) {
        const char *trunc = sd_xml_find(out->doc, "ListBucketResult/IsTruncated");
        if (trunc && strcmp(trunc, "true") == 0) {
            out->next = sd_xml_find(out->doc, "ListBucketResult/NextContinuationToken");
            if (!out->next || !*out->next)
                e = sd_err_driver("list %s: truncated answer without a continuation token", prefix);
        }
    }
    sd_http_response_free(&resp);
    free(q);
    free(what);
    return e;
}

/* Calls fn for every entry of a listing, page after page: files (Contents,
 * is_prefix false) then, per page, common prefixes (is_prefix true).  fn
 * returns 0 to go on, 1 to stop, -1 after setting *err. */
typedef int (*list_fn)(void *ud, const char *key, size_t len, const sd_xml_node *n,
                       bool is_prefix, sd_error **err);

static sd_error *s3_list_each(s3_driver *d, const char *prefix, const char *delim,
                              const char *start_after, list_fn fn, void *ud)
{
    char *token = NULL, *prev = NULL;
    sd_error *e = NULL;
    int rc = 0;
    do {
        list_page pg;
        e = s3_list_page(d, NULL, prefix, delim, token, token ? NULL : start_after, 1000, &pg);
        free(token);
        token = NULL;
        if (e) {
            rc = -1;
            break;
        }
        for (int pass = 0; pass < 2 && !rc; pass++) {
            const char *where = pass ? "ListBucketResult/CommonPrefixes" : "ListBucketResult/Contents";
            for (const sd_xml_node *n = sd_xml_find_node(pg.doc, where); n && !rc;
                 n = sd_xml_next(n)) {
                size_t len = 0;
                const char *k = sd_xml_text(sd_xml_child(n, pass ? "Prefix" : "Key"), &len);
                if (k && len > 0)
                    rc = fn(ud, k, len, n, pass == 1, &e);
            }
        }
        if (!rc && pg.next && prev && strcmp(pg.next, prev) == 0) {
            /* A server that hands back the same token would loop forever. */
            e = sd_err_driver("list %s: the server repeated its continuation token", prefix);
            rc = -1;
        } else if (!rc && pg.next && !(token = sd_strdup(pg.next))) {
            e = ops_oom();
            rc = -1;
        }
        free(prev);
        prev = token ? sd_strdup(token) : NULL;
        if (token && !prev) {
            e = ops_oom();
            rc = -1;
        }
        sd_xml_doc_free(pg.doc);
    } while (!rc && token);
    free(token);
    free(prev);
    return rc < 0 ? e : NULL;
}

static char *s3_dir_prefix(const s3_driver *d, const char *path)
{
    if (strcmp(path, "/") == 0)
        return sd_strdup(d->root);
    char *k = s3_key(d, path);
    char *p = k ? sd_asprintf("%s/", k) : NULL;
    free(k);
    return p;
}

typedef struct list_ctx {
    s3_driver *d;
    size_t plen;
    sd_strlist *out;
    bool any;
} list_ctx;

static int list_one(void *ud, const char *k, size_t len, const sd_xml_node *n, bool is_prefix,
                    sd_error **err)
{
    (void)n;
    list_ctx *x = ud;
    if (is_prefix)
        len--; /* "dir/" */
    else if (k[len - 1] == '/')
        return 0; /* a directory's marker object, made by other tools */
    if (len <= x->plen)
        return 0;
    x->any = true;
    char *p = s3_path(x->d, k, len);
    if (p && sd_strlist_push_owned(x->out, p)) {
        *err = ops_oom();
        return -1;
    }
    return 0;
}

static sd_error *s3_list(sd_driver *drv, const char *path, sd_strlist *out)
{
    s3_driver *d = (s3_driver *)drv;
    char *prefix = s3_dir_prefix(d, path);
    if (!prefix)
        return ops_oom();
    list_ctx x = { d, strlen(prefix), out, false };
    sd_error *e = s3_list_each(d, prefix, "/", NULL, list_one, &x);
    free(prefix);
    if (!e && !x.any && strcmp(path, "/") != 0)
        e = sd_err_path_not_found(path);
    if (e)
        sd_strlist_free(out);
    return e;
}

/* ------------------------------------------------------------ stat */

sd_error *s3_head(s3_driver *d, const char *key, const char *path, bool *found, int64_t *size,
                  int64_t *mtime)
{
    s3_req r = { .method = "HEAD", .key = key, .idempotent = true };
    sd_http_response resp;
    sd_error *e = s3_do(d, NULL, &r, &resp);
    *found = false;
    if (!e && resp.status == 404) {
        sd_http_response_free(&resp);
        return NULL;
    }
    if (!e && resp.status / 100 != 2)
        e = s3_error(&r, &resp, path);
    if (!e) {
        const char *cl = sd_http_response_header(&resp, "Content-Length");
        char *end = NULL;
        long long v = cl ? strtoll(cl, &end, 10) : -1;
        if (!cl || end == cl || *end || v < 0) {
            e = sd_err_driver("HEAD %s: answer without a valid Content-Length", key);
        } else {
            *found = true;
            *size = v;
            *mtime = s3_http_time(sd_http_response_header(&resp, "Last-Modified"));
        }
    }
    sd_http_response_free(&resp);
    return e;
}

static sd_error *s3_stat(sd_driver *drv, const char *path, sd_fileinfo *out)
{
    s3_driver *d = (s3_driver *)drv;
    sd_error *e = NULL;
    if (strcmp(path, "/") != 0) {
        char *key = s3_key(d, path);
        if (!key)
            return ops_oom();
        bool found = false;
        int64_t size = 0, mtime = 0;
        e = s3_head(d, key, path, &found, &size, &mtime);
        free(key);
        if (e || found) {
            if (!e) {
                out->size = size;
                out->mtime_sec = mtime;
                out->mtime_nsec = 0;
                out->is_dir = false;
            }
            return e;
        }
    }
    /* A directory is a prefix "path/" with something under it. */
    char *prefix = s3_dir_prefix(d, path);
    if (!prefix)
        return ops_oom();
    list_page pg;
    e = s3_list_page(d, NULL, prefix, NULL, NULL, NULL, 1, &pg);
    free(prefix);
    if (e)
        return e;
    bool dir = sd_xml_find_node(pg.doc, "ListBucketResult/Contents") != NULL;
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

sd_error *s3_delete_key(s3_driver *d, sd_http_client *c, const char *key)
{
    s3_req r = { .method = "DELETE", .key = key, .idempotent = true };
    sd_http_response resp;
    sd_error *e = s3_do(d, c, &r, &resp);
    if (!e && resp.status / 100 != 2 && resp.status != 404)
        e = s3_error(&r, &resp, NULL);
    sd_http_response_free(&resp);
    return e;
}

typedef struct del_ctx {
    s3_driver *d;
    char **keys;
    size_t nkeys, per;
} del_ctx;

static sd_error *delete_objects(s3_driver *d, sd_http_client *c, char **keys, size_t n)
{
    if (n == 1)
        return s3_delete_key(d, c, keys[0]);
    sd_buf b = {0};
    int bad = sd_buf_append(&b, "<Delete><Quiet>true</Quiet>", 27);
    for (size_t i = 0; i < n && !bad; i++)
        bad = sd_buf_append(&b, "<Object><Key>", 13) || s3_xml_escape(&b, keys[i]) ||
              sd_buf_append(&b, "</Key></Object>", 15);
    bad = bad || sd_buf_append(&b, "</Delete>", 9);
    if (bad) {
        sd_buf_free(&b);
        return ops_oom();
    }
    char md5[25], line[48];
    s3_content_md5(b.data, b.len, md5);
    snprintf(line, sizeof line, "Content-MD5: %s", md5);
    const char *hdrs[] = { line, "Content-Type: application/xml", NULL };
    s3_req r = { .method = "POST", .query = "delete=", .headers = hdrs, .body = b.data,
                 .body_len = b.len, .idempotent = true };
    sd_http_response resp;
    sd_xml_doc *doc = NULL;
    sd_error *e = s3_call_xml(d, c, &r, &resp, &doc);
    if (!e) {
        /* Per-key failures (a key already gone is no failure). */
        sd_buf msg = {0};
        size_t failed = 0;
        const char *first_code = NULL;
        for (const sd_xml_node *x = sd_xml_find_node(doc, "DeleteResult/Error"); x;
             x = sd_xml_next(x)) {
            const char *code = sd_xml_child_text(x, "Code");
            if (code && strcmp(code, "NoSuchKey") == 0)
                continue;
            if (failed++ < 5) {
                char *one = sd_asprintf("%s%s (%s)", failed > 1 ? ", " : "",
                                        sd_xml_child_text(x, "Key") ? sd_xml_child_text(x, "Key") : "?",
                                        code ? code : "?");
                if (one)
                    sd_buf_append(&msg, one, strlen(one));
                free(one);
            }
            if (!first_code)
                first_code = code;
        }
        if (failed) {
            e = sd_err_driver("delete: %zu of %zu keys not deleted: %.*s%s", failed, n,
                              (int)msg.len, msg.data ? msg.data : "", failed > 5 ? ", ..." : "");
            if (e && first_code && e->detail && strcmp(e->detail, "out of memory") != 0)
                e->code = sd_strdup(first_code);
        }
        sd_buf_free(&msg);
    }
    sd_xml_doc_free(doc);
    sd_http_response_free(&resp);
    sd_buf_free(&b);
    return e;
}

static sd_error *del_job(void *ud, size_t i, sd_http_client *c)
{
    del_ctx *x = ud;
    size_t lo = i * x->per, hi = lo + x->per;
    if (hi > x->nkeys)
        hi = x->nkeys;
    return delete_objects(x->d, c, x->keys + lo, hi - lo);
}

static sd_error *delete_batch(s3_driver *d, sd_strlist *keys)
{
    if (keys->len == 0)
        return NULL;
    /* Servers delete the keys of one request one after another: several
     * smaller requests at once finish sooner. */
    size_t per = (keys->len + S3_DELETE_PARALLEL - 1) / S3_DELETE_PARALLEL;
    if (per < 4)
        per = 4;
    del_ctx x = { d, keys->items, keys->len, per };
    size_t jobs = (keys->len + per - 1) / per;
    sd_error *e = sd_http_parallel(d->pool, jobs, S3_DELETE_PARALLEL, del_job, &x);
    sd_strlist_free(keys);
    return e;
}

/* Keys that belong to key's object or tree: key itself, "key/...", and the
 * writer's side objects "key~...". */
static bool s3_owned(const char *key, size_t klen, const char *k, size_t len)
{
    if (len < klen || memcmp(k, key, klen) != 0)
        return false;
    return len == klen || k[klen] == '/' || k[klen] == '~';
}

typedef struct remove_ctx {
    s3_driver *d;
    const char *key;
    size_t klen;
    sd_strlist batch;
    bool any;
    bool tree; /* "key/" has something under it */
} remove_ctx;

static int remove_one(void *ud, const char *k, size_t len, const sd_xml_node *n, bool is_prefix,
                      sd_error **err)
{
    (void)n;
    remove_ctx *x = ud;
    if (is_prefix) {
        if (len == x->klen + 1 && k[x->klen] == '/' && memcmp(k, x->key, x->klen) == 0)
            x->tree = true;
        return 0;
    }
    if (!s3_owned(x->key, x->klen, k, len))
        return 0;
    if (len == x->klen || k[x->klen] == '/')
        x->any = true;
    if (sd_strlist_push(&x->batch, k))
        *err = ops_oom();
    else if (x->batch.len == S3_DELETE_BATCH)
        *err = delete_batch(x->d, &x->batch);
    return *err ? -1 : 0;
}

static sd_error *s3_remove(sd_driver *drv, const char *path)
{
    s3_driver *d = (s3_driver *)drv;
    char *key = strcmp(path, "/") == 0 ? NULL : s3_key(d, path);
    if (!key)
        return ops_oom();
    /* The key and its side objects first, with a delimiter, so that
     * siblings sharing the prefix ("/ab" next to "/a") are one entry each
     * rather than every key below them; then the tree "key/", flat. */
    remove_ctx x = { .d = d, .key = key, .klen = strlen(key) };
    sd_error *e = s3_list_each(d, key, "/", NULL, remove_one, &x);
    if (!e && x.tree) {
        char *tree = sd_asprintf("%s/", key);
        e = tree ? s3_list_each(d, tree, NULL, NULL, remove_one, &x) : ops_oom();
        free(tree);
    }
    if (!e && x.any)
        e = delete_batch(d, &x.batch);
    sd_strlist_free(&x.batch);
    free(key);
    if (!e && !x.any)
        e = sd_err_path_not_found(path);
    return e;
}

/* ------------------------------------------------------------ move */

typedef struct copy_ctx {
    s3_driver *d;
    const char *dst, *source, *upload_id;
    int64_t size, chunk;
    char **etags;
} copy_ctx;

char *s3_copy_source(const s3_driver *d, const char *key)
{
    char *enc = sd_sigv4_uri_encode(key, strlen(key), 1);
    char *bucket = sd_sigv4_uri_encode(d->bucket, strlen(d->bucket), 0);
    char *source = enc && bucket ? sd_asprintf("/%s/%s", bucket, enc) : NULL;
    free(enc);
    free(bucket);
    return source;
}

sd_error *s3_copy_part(s3_driver *d, sd_http_client *c, const char *dst, const char *upload_id,
                       int num, const char *source, int64_t first, int64_t last, char **etag)
{
    char *src = sd_asprintf("x-amz-copy-source: %s", source);
    char *range = sd_asprintf("x-amz-copy-source-range: bytes=%lld-%lld", (long long)first,
                              (long long)last);
    char *uid = s3_qenc(upload_id);
    char *q = uid ? sd_asprintf("partNumber=%d&uploadId=%s", num, uid) : NULL;
    sd_error *e = NULL;
    sd_http_response resp = {0};
    sd_xml_doc *doc = NULL;
    if (!src || !range || !q) {
        e = ops_oom();
        goto done;
    }
    const char *hdrs[] = { src, range, NULL };
    s3_req r = { .method = "PUT", .key = dst, .query = q, .headers = hdrs, .idempotent = true };
    e = s3_call(d, c, &r, &resp, NULL);
    if (!e)
        e = s3_error_in_body(&r, &resp);
    if (!e)
        e = s3_xml(&r, &resp, &doc);
    if (!e) {
        const char *et = sd_xml_find(doc, "CopyPartResult/ETag");
        if (!et || !*et)
            e = sd_err_driver("PUT %s: part copy answer without an ETag", dst);
        else if (!(*etag = sd_strdup(et)))
            e = ops_oom();
    }
done:
    sd_xml_doc_free(doc);
    sd_http_response_free(&resp);
    free(src);
    free(range);
    free(uid);
    free(q);
    return e;
}

static sd_error *copy_part(void *ud, size_t i, sd_http_client *c)
{
    copy_ctx *x = ud;
    int64_t first = (int64_t)i * x->chunk, last = first + x->chunk - 1;
    if (last >= x->size)
        last = x->size - 1;
    return s3_copy_part(x->d, c, x->dst, x->upload_id, (int)i + 1, x->source, first, last,
                        &x->etags[i]);
}

static sd_error *copy_multipart(s3_driver *d, const char *dst, const char *source, int64_t size)
{
    copy_ctx x = { .d = d, .dst = dst, .source = source, .size = size, .chunk = d->copy_chunksize };
    size_t parts = (size_t)((size + x.chunk - 1) / x.chunk);
    if (parts > S3_MAX_PARTS) {
        x.chunk = (size + S3_MAX_PARTS - 1) / S3_MAX_PARTS;
        parts = (size_t)((size + x.chunk - 1) / x.chunk);
    }
    char *upload_id = NULL;
    sd_error *e = s3_upload_create(d, dst, &upload_id);
    if (e)
        return e;
    x.upload_id = upload_id;
    x.etags = calloc(parts, sizeof *x.etags);
    int *numbers = calloc(parts, sizeof *numbers);
    if (!x.etags || !numbers)
        e = ops_oom();
    for (size_t i = 0; numbers && i < parts; i++)
        numbers[i] = (int)i + 1;
    if (!e)
        e = sd_http_parallel(d->pool, parts, d->copy_concurrency, copy_part, &x);
    if (!e)
        e = s3_upload_complete(d, NULL, dst, upload_id, x.etags, numbers, parts);
    if (e)
        sd_error_free(s3_upload_abort(d, NULL, dst, upload_id));
    for (size_t i = 0; x.etags && i < parts; i++)
        free(x.etags[i]);
    free(x.etags);
    free(numbers);
    free(upload_id);
    return e;
}

static sd_error *copy_object(s3_driver *d, const char *dst, const char *source, const char *path)
{
    char *src = sd_asprintf("x-amz-copy-source: %s", source);
    if (!src)
        return ops_oom();
    const char *hdrs[] = { src, "x-amz-metadata-directive: REPLACE", NULL };
    s3_req r = { .method = "PUT", .key = dst, .headers = hdrs, .idempotent = true, .upload = true };
    sd_http_response resp;
    sd_error *e = s3_call(d, NULL, &r, &resp, NULL);
    if (!e)
        e = s3_error_in_body(&r, &resp);
    if (e && e->code && strcmp(e->code, "NoSuchKey") == 0) {
        sd_error_free(e);
        e = sd_err_path_not_found(path);
    }
    sd_http_response_free(&resp);
    free(src);
    return e;
}

static sd_error *s3_move(sd_driver *drv, const char *src, const char *dst)
{
    s3_driver *d = (s3_driver *)drv;
    char *skey = s3_key(d, src), *dkey = s3_key(d, dst);
    char *source = skey ? s3_copy_source(d, skey) : NULL;
    sd_error *e = NULL;
    bool found = false;
    int64_t size = 0, mtime = 0;
    if (!dkey || !source) {
        e = ops_oom();
        goto done;
    }
    if ((e = s3_head(d, skey, src, &found, &size, &mtime)) != NULL)
        goto done;
    if (!found) {
        e = sd_err_path_not_found(src);
        goto done;
    }
    if (strcmp(skey, dkey) == 0)
        goto done;
    e = size > d->copy_threshold ? copy_multipart(d, dkey, source, size)
                                 : copy_object(d, dkey, source, src);
    if (!e)
        e = s3_delete_key(d, NULL, skey);
done:
    free(skey);
    free(dkey);
    free(source);
    return e;
}

/* ------------------------------------------------------------ redirect */

static sd_error *s3_redirect_url(sd_driver *drv, const char *path, const sd_redirect_opts *opts,
                                 char **url)
{
    s3_driver *d = (s3_driver *)drv;
    const char *method = opts && opts->method ? opts->method : "GET";
    *url = NULL;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return NULL;
    int64_t expiry = opts && opts->expiry > 0 ? opts->expiry : S3_REDIRECT_EXPIRY;
    if (expiry > SD_SIGV4_MAX_EXPIRES)
        expiry = SD_SIGV4_MAX_EXPIRES;
    const char *base = d->redirect_endpoint ? d->redirect_endpoint : d->endpoint;
    const char *host = strstr(base, "://") + 3;
    char *key = s3_key(d, path);
    char *raw = key ? sd_asprintf("%s/%s", d->bucket_path, key) : NULL;
    char *wire = raw ? sd_sigv4_canonical_path(raw, 0) : NULL;
    sd_error *e = NULL;
    if (!wire) {
        e = ops_oom();
        goto done;
    }
    time_t now = time(NULL);
    struct tm tm;
    char when[17];
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y%m%dT%H%M%SZ", &tm);
    sd_sigv4_config cfg = { .access_key = d->access_key, .secret_key = d->secret_key,
                            .session_token = d->session_token, .region = d->region,
                            .service = "s3", .time = when, .flags = SD_SIGV4_FLAGS_S3 };
    sd_sigv4_header hs[] = { { "Host", host } };
    sd_sigv4_request sr = { .method = method, .path = raw, .headers = hs, .nheaders = 1,
                            .payload_hash = SD_SIGV4_UNSIGNED_PAYLOAD };
    sd_sigv4_result res = {0};
    e = sd_sigv4_presign(&sr, &cfg, expiry, &res);
    if (!e && !(*url = sd_asprintf("%s%s?%s", base, wire, res.query)))
        e = ops_oom();
    sd_sigv4_result_free(&res);
done:
    free(key);
    free(raw);
    free(wire);
    return e;
}

/* ------------------------------------------------------------ walk */

/* Is a an ancestor of b or b itself (component-wise)? */
static bool s3_within(const char *a, const char *b)
{
    if (strcmp(a, "/") == 0)
        return true;
    size_t n = strlen(a);
    return strncmp(a, b, n) == 0 && (b[n] == '\0' || b[n] == '/');
}

typedef struct walk_state {
    const char *from;
    char *prev_dir;   /* the directory of the last file seen */
    char *skip;       /* the directory SKIP_DIR named last */
    sd_walk_fn fn;
    void *ud;
} walk_state;

/* Calls fn for fi; 1 = stop (done), -1 = error in *err. */
static int walk_emit(walk_state *w, sd_fileinfo *fi, sd_error **err)
{
    if (w->skip && s3_within(w->skip, fi->path))
        return 0;
    sd_error *fe = NULL;
    int act = w->fn(w->ud, fi, &fe);
    switch (act) {
    case SD_WALK_CONTINUE:
        sd_error_free(fe);
        return 0;
    case SD_WALK_SKIP_DIR:
        sd_error_free(fe);
        if (fi->is_dir) {
            free(w->skip);
            if (!(w->skip = sd_strdup(fi->path))) {
                *err = ops_oom();
                return -1;
            }
        }
        return 0;
    case SD_WALK_STOP:
        sd_error_free(fe);
        return 1;
    default:
        *err = fe ? fe : sd_err_driver("walk function failed");
        return -1;
    }
}

/* Emits the directories between from (or the last file's directory) and
 * path, outermost first, then path itself. */
static int walk_entry(walk_state *w, char *path, int64_t size, int64_t mtime, int32_t nsec,
                      sd_error **err)
{
    size_t flen = strcmp(w->from, "/") == 0 ? 0 : strlen(w->from);
    for (char *s = strchr(path + flen + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        int rc = 0;
        if (!s3_within(path, w->prev_dir)) {
            sd_fileinfo di = { .path = path, .is_dir = true };
            rc = walk_emit(w, &di, err);
        }
        *s = '/';
        if (rc)
            return rc;
    }
    char *slash = strrchr(path, '/');
    char *dir = slash == path ? sd_strdup("/") : sd_strndup(path, (size_t)(slash - path));
    if (!dir) {
        *err = ops_oom();
        return -1;
    }
    free(w->prev_dir);
    w->prev_dir = dir;
    sd_fileinfo fi = { .path = path, .size = size, .mtime_sec = mtime, .mtime_nsec = nsec };
    return walk_emit(w, &fi, err);
}

typedef struct walk_ctx {
    walk_state *w;
    s3_driver *d;
    bool any;
} walk_ctx;

static int walk_one(void *ud, const char *k, size_t len, const sd_xml_node *n, bool is_prefix,
                    sd_error **err)
{
    (void)is_prefix;
    walk_ctx *x = ud;
    if (k[len - 1] == '/')
        return 0;
    char *path = s3_path(x->d, k, len);
    if (!path)
        return 0;
    x->any = true;
    const char *sz = sd_xml_child_text(n, "Size");
    int32_t nsec = 0;
    int64_t mtime = s3_iso_time(sd_xml_child_text(n, "LastModified"), &nsec);
    int rc = walk_entry(x->w, path, sz ? strtoll(sz, NULL, 10) : 0, mtime, nsec, err);
    free(path);
    return rc;
}

static sd_error *s3_walk(sd_driver *drv, const char *from, const char *hint, sd_walk_fn fn,
                         void *ud)
{
    s3_driver *d = (s3_driver *)drv;
    char *prefix = s3_dir_prefix(d, from);
    char *start = hint ? s3_key(d, hint) : NULL;
    walk_state w = { .from = from, .prev_dir = sd_strdup(from), .fn = fn, .ud = ud };
    walk_ctx x = { &w, d, false };
    sd_error *e = NULL;
    if (!prefix || (hint && !start) || !w.prev_dir)
        e = ops_oom();
    else
        e = s3_list_each(d, prefix, NULL, start, walk_one, &x);
    if (!e && !x.any && strcmp(from, "/") != 0) {
        /* Nothing after the hint may still mean from exists. */
        bool exists = false;
        if (hint) {
            list_page pg;
            e = s3_list_page(d, NULL, prefix, NULL, NULL, NULL, 1, &pg);
            exists = !e && sd_xml_find_node(pg.doc, "ListBucketResult/Contents");
            if (!e)
                sd_xml_doc_free(pg.doc);
        }
        if (!e && !exists)
            e = sd_err_path_not_found(from);
    }
    free(prefix);
    free(start);
    free(w.prev_dir);
    free(w.skip);
    return e;
}

static sd_error *s3_open_reader(sd_driver *drv, const char *path, int64_t offset, sd_reader **out)
{
    return s3_reader_open((s3_driver *)drv, path, offset, out);
}

static sd_error *s3_open_writer(sd_driver *drv, const char *path, bool append, sd_writer **out)
{
    return s3_writer_open((s3_driver *)drv, path, append, out);
}

const sd_driver_ops s3_driver_ops = {
    .get_content = s3_get_content,
    .put_content = s3_put_content,
    .reader = s3_open_reader,
    .writer = s3_open_writer,
    .stat = s3_stat,
    .list = s3_list,
    .move = s3_move,
    .remove = s3_remove,
    .redirect_url = s3_redirect_url,
    .walk = s3_walk,
    .destroy = s3_destroy_driver,
};
