/* The s3 writer: a multipart upload fed by sd_parts (runtime/http/pool.h):
 * parts of chunksize bytes, up to uploadconcurrency chunk buffers, parts
 * sent by worker threads; a part that failed is kept and sent again.
 *
 * Requests: nothing happens on the server until a chunk is full, so a small
 * object written and committed is one PUT.  Close leaves the upload open:
 * full chunks (and a tail of 5 MiB or more) are parts; a shorter tail, which
 * S3 would refuse as a part that is not the last, goes to a side object
 * "<key>~tail.<id>" whose metadata names the parts it follows.  Reopening with
 * append finds the upload (ListMultipartUploads), its parts (ListParts) and
 * the tail (GET), and carries on.  Commit completes the upload; cancel aborts
 * it.  Appending to a committed object starts an upload from a copy of it. */
#include "s3.h"
#include "../runtime/util.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sd_error *wr_oom(void)
{
    return sd_err_driver("out of memory");
}

typedef struct s3_writer {
    sd_writer base;
    s3_driver *d;
    char *key, *path;
    char *upload_id;    /* NULL until the upload exists */
    char *tail_key;     /* the side object of this upload */
    bool tail_stored;   /* the server may hold a tail object */
    sd_parts *parts;
} s3_writer;

/* ------------------------------------------------------ upload requests */

static char *wr_query(const char *fmt_prefix, const char *upload_id, int part)
{
    char *uid = s3_qenc(upload_id);
    char *q = NULL;
    if (uid)
        q = part > 0 ? sd_asprintf("partNumber=%d&uploadId=%s", part, uid)
                     : sd_asprintf("%suploadId=%s", fmt_prefix, uid);
    free(uid);
    return q;
}

sd_error *s3_upload_create(s3_driver *d, const char *key, char **upload_id)
{
    s3_req r = { .method = "POST", .key = key, .query = "uploads=", .idempotent = true,
                 .upload = true };
    sd_http_response resp;
    sd_xml_doc *doc = NULL;
    sd_error *e = s3_call_xml(d, NULL, &r, &resp, &doc);
    if (!e) {
        const char *id = sd_xml_find(doc, "InitiateMultipartUploadResult/UploadId");
        if (!id || !*id)
            e = sd_err_driver("POST %s: no UploadId in the answer", key);
        else if (!(*upload_id = sd_strdup(id)))
            e = wr_oom();
    }
    sd_xml_doc_free(doc);
    sd_http_response_free(&resp);
    return e;
}

sd_error *s3_upload_complete(s3_driver *d, sd_http_client *c, const char *key,
                             const char *upload_id, char *const *etags, const int *numbers,
                             size_t n)
{
    sd_buf b = {0};
    int bad = sd_buf_append(&b, "<CompleteMultipartUpload>", 25);
    for (size_t i = 0; i < n && !bad; i++) {
        char num[48];
        int l = snprintf(num, sizeof num, "<Part><PartNumber>%d</PartNumber><ETag>", numbers[i]);
        bad = sd_buf_append(&b, num, (size_t)l) || s3_xml_escape(&b, etags[i]) ||
              sd_buf_append(&b, "</ETag></Part>", 14);
    }
    bad = bad || sd_buf_append(&b, "</CompleteMultipartUpload>", 26);
    char *q = wr_query("", upload_id, 0);
    if (bad || !q) {
        sd_buf_free(&b);
        free(q);
        return wr_oom();
    }
    const char *hdrs[] = { "Content-Type: application/xml", NULL };
    s3_req r = { .method = "POST", .key = key, .query = q, .headers = hdrs, .body = b.data,
                 .body_len = b.len, .idempotent = true };
    sd_http_response resp;
    sd_error *e = s3_call(d, c, &r, &resp, NULL);
    if (!e)
        e = s3_error_in_body(&r, &resp);
    /* A retried complete that the server had already done. */
    if (e && resp.attempts > 1 && e->code && strcmp(e->code, "NoSuchUpload") == 0) {
        sd_error_free(e);
        e = NULL;
    }
    sd_http_response_free(&resp);
    sd_buf_free(&b);
    free(q);
    return e;
}

sd_error *s3_upload_abort(s3_driver *d, sd_http_client *c, const char *key, const char *upload_id)
{
    char *q = wr_query("", upload_id, 0);
    if (!q)
        return wr_oom();
    s3_req r = { .method = "DELETE", .key = key, .query = q, .idempotent = true };
    sd_http_response resp;
    sd_error *e = s3_do(d, c, &r, &resp);
    if (!e && resp.status / 100 != 2 && resp.status != 404)
        e = s3_error(&r, &resp, NULL);
    sd_http_response_free(&resp);
    free(q);
    return e;
}

static sd_error *upload_part(s3_driver *d, sd_http_client *c, const char *key,
                             const char *upload_id, int num, const void *data, size_t len,
                             char **etag)
{
    char *q = wr_query("", upload_id, num);
    if (!q)
        return wr_oom();
    s3_req r = { .method = "PUT", .key = key, .query = q, .body = data,
                 .body_len = len, .idempotent = true };
    sd_http_response resp;
    sd_error *e = s3_call(d, c, &r, &resp, NULL);
    if (!e) {
        const char *et = sd_http_response_header(&resp, "ETag");
        if (!et || !*et)
            e = sd_err_driver("PUT %s part %d: answer without an ETag", key, num);
        else if (!(*etag = sd_strdup(et)))
            e = wr_oom();
    }
    sd_http_response_free(&resp);
    free(q);
    return e;
}

/* ------------------------------------------------------ the writer */

/* The side object of the upload: named after its id, so that a tail left
 * by another upload of the same key is never taken for this one's. */
static sd_error *wr_set_tail_key(s3_writer *w)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(w->upload_id, strlen(w->upload_id), md, &mdlen, EVP_sha256(), NULL);
    char hex[17];
    for (int i = 0; i < 8; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    free(w->tail_key);
    w->tail_key = sd_asprintf("%s~tail.%s", w->key, hex);
    return w->tail_key ? NULL : wr_oom();
}

static sd_error *wr_ensure_upload(s3_writer *w)
{
    if (w->upload_id)
        return NULL;
    sd_error *e = s3_upload_create(w->d, w->key, &w->upload_id);
    return e ? e : wr_set_tail_key(w);
}

static sd_error *wr_begin(void *ud)
{
    return wr_ensure_upload(ud);
}

static sd_error *wr_send(void *ud, sd_http_client *c, int num, const void *data, size_t len,
                         char **tag)
{
    s3_writer *w = ud;
    return upload_part(w->d, c, w->key, w->upload_id, num, data, len, tag);
}

static const sd_parts_ops wr_parts_ops = { .send = wr_send, .begin = wr_begin };

static sd_error *wr_write(sd_writer *base, const void *data, size_t len)
{
    return sd_parts_write(((s3_writer *)base)->parts, data, len);
}

static int64_t wr_size(sd_writer *base)
{
    s3_writer *w = (s3_writer *)base;
    return sd_parts_flushed(w->parts) + (int64_t)sd_parts_buffered(w->parts, NULL);
}

/* Sends the buffered bytes as a part and waits for every part. */
static sd_error *wr_flush(s3_writer *w)
{
    sd_error *e = sd_parts_submit(w->parts);
    return e ? e : sd_parts_settle(w->parts);
}

static sd_error *wr_delete_tail(s3_writer *w)
{
    if (!w->tail_stored || !w->tail_key)
        return NULL;
    sd_error *e = s3_delete_key(w->d, NULL, w->tail_key);
    if (!e)
        w->tail_stored = false;
    return e;
}

static sd_error *wr_close(sd_writer *base)
{
    s3_writer *w = (s3_writer *)base;
    const sd_part *parts;
    size_t n;
    const char *tail;
    sd_error *e = sd_parts_settle(w->parts);
    if (!e && sd_parts_buffered(w->parts, NULL) >= (size_t)S3_MIN_PART)
        e = wr_flush(w);
    if (e || (e = wr_ensure_upload(w)) || (e = sd_parts_list(w->parts, &parts, &n)))
        return e;
    size_t len = sd_parts_buffered(w->parts, &tail);
    if (len == 0)
        return wr_delete_tail(w);
    char np[64], off[64];
    snprintf(np, sizeof np, "x-amz-meta-sd-parts: %zu", n);
    snprintf(off, sizeof off, "x-amz-meta-sd-offset: %lld", (long long)sd_parts_flushed(w->parts));
    const char *extra[] = { np, off, NULL };
    w->tail_stored = true;
    return s3_put_bytes(w->d, NULL, w->tail_key, tail, len, extra);
}

static sd_error *wr_commit(sd_writer *base)
{
    s3_writer *w = (s3_writer *)base;
    const sd_part *parts;
    size_t n;
    const char *buf;
    sd_error *e = sd_parts_settle(w->parts);
    if (e || (e = sd_parts_list(w->parts, &parts, &n)))
        return e;
    if (n == 0) {
        /* One PUT; an upload opened by an earlier close is dropped after. */
        size_t len = sd_parts_buffered(w->parts, &buf);
        if ((e = s3_put_bytes(w->d, NULL, w->key, len ? buf : "", len, NULL)) != NULL)
            return e;
        if (w->upload_id) {
            sd_error_free(s3_upload_abort(w->d, NULL, w->key, w->upload_id));
            sd_error_free(wr_delete_tail(w));
        }
        return NULL;
    }
    if ((e = wr_flush(w)) || (e = sd_parts_list(w->parts, &parts, &n)))
        return e;
    char **etags = calloc(n, sizeof *etags);
    int *nums = calloc(n, sizeof *nums);
    if (!etags || !nums) {
        free(etags);
        free(nums);
        return wr_oom();
    }
    for (size_t i = 0; i < n; i++) {
        etags[i] = parts[i].tag;
        nums[i] = parts[i].num;
    }
    e = s3_upload_complete(w->d, NULL, w->key, w->upload_id, etags, nums, n);
    free(etags);
    free(nums);
    if (!e)
        sd_error_free(wr_delete_tail(w)); /* hidden, and named after a finished upload */
    return e;
}

static sd_error *wr_cancel(sd_writer *base)
{
    s3_writer *w = (s3_writer *)base;
    sd_error_free(sd_parts_settle(w->parts));
    sd_parts_discard(w->parts);
    sd_error *e = NULL;
    if (w->upload_id) {
        e = s3_upload_abort(w->d, NULL, w->key, w->upload_id);
        sd_error *te = wr_delete_tail(w);
        if (!e)
            e = te;
        else
            sd_error_free(te);
    }
    return e;
}

static void wr_destroy(sd_writer *base)
{
    s3_writer *w = (s3_writer *)base;
    if (w->parts && w->base.state == SD_WRITER_OPEN)
        sd_error_free(wr_close(base)); /* abandoned: keep it resumable */
    sd_parts_free(w->parts);
    free(w->key);
    free(w->path);
    free(w->upload_id);
    free(w->tail_key);
    free(w);
}

static const sd_writer_ops s3_writer_ops = {
    .write = wr_write,
    .size = wr_size,
    .close = wr_close,
    .commit = wr_commit,
    .cancel = wr_cancel,
    .destroy = wr_destroy,
};

/* ------------------------------------------------------ resuming */

/* The most recent open upload of exactly key, or *id NULL. */
static sd_error *wr_find_upload(s3_writer *w, char **id)
{
    s3_driver *d = w->d;
    char *ekey = s3_qenc(w->key);
    char *km = NULL, *um = NULL;
    sd_error *e = NULL;
    *id = NULL;
    for (;;) {
        char *ekm = km ? s3_qenc(km) : NULL, *eum = um ? s3_qenc(um) : NULL;
        char *q = ekey ? sd_asprintf("uploads=&prefix=%s%s%s%s%s", ekey, ekm ? "&key-marker=" : "",
                                     ekm ? ekm : "", eum ? "&upload-id-marker=" : "",
                                     eum ? eum : "")
                       : NULL;
        free(ekm);
        free(eum);
        if (!q) {
            e = wr_oom();
            break;
        }
        s3_req r = { .method = "GET", .query = q, .idempotent = true };
        sd_http_response resp;
        sd_xml_doc *doc = NULL;
        e = s3_call_xml(d, NULL, &r, &resp, &doc);
        bool more = false;
        for (const sd_xml_node *n = doc ? sd_xml_find_node(doc, "ListMultipartUploadsResult/Upload")
                                        : NULL;
             n && !e; n = sd_xml_next(n)) {
            const char *k = sd_xml_child_text(n, "Key"), *u = sd_xml_child_text(n, "UploadId");
            if (k && u && strcmp(k, w->key) == 0) {
                free(*id);
                if (!(*id = sd_strdup(u)))
                    e = wr_oom();
            }
        }
        if (!e) {
            const char *t = sd_xml_find(doc, "ListMultipartUploadsResult/IsTruncated");
            const char *nk = sd_xml_find(doc, "ListMultipartUploadsResult/NextKeyMarker");
            const char *nu = sd_xml_find(doc, "ListMultipartUploadsResult/NextUploadIdMarker");
            more = t && strcmp(t, "true") == 0 && nk && *nk;
            if (more && km && strcmp(nk, km) == 0 && (!nu || !um || strcmp(nu, um) == 0)) {
                e = sd_err_driver("list uploads of %s: the server repeated its markers", w->path);
                more = false;
            }
            free(km);
            free(um);
            km = more ? sd_strdup(nk) : NULL;
            um = more && nu && *nu ? sd_strdup(nu) : NULL;
            if (more && !km)
                e = wr_oom();
        }
        sd_xml_doc_free(doc);
        sd_http_response_free(&resp);
        free(q);
        if (e || !more)
            break;
    }
    free(ekey);
    free(km);
    free(um);
    if (e) {
        free(*id);
        *id = NULL;
    }
    return e;
}

static sd_error *wr_list_parts(s3_writer *w)
{
    s3_driver *d = w->d;
    int marker = 0;
    sd_error *e = NULL;
    for (;;) {
        char *uid = s3_qenc(w->upload_id);
        char *q = uid ? sd_asprintf("part-number-marker=%d&uploadId=%s", marker, uid) : NULL;
        free(uid);
        if (!q)
            return wr_oom();
        s3_req r = { .method = "GET", .key = w->key, .query = q, .idempotent = true };
        sd_http_response resp;
        sd_xml_doc *doc = NULL;
        e = s3_call_xml(d, NULL, &r, &resp, &doc);
        for (const sd_xml_node *n = doc ? sd_xml_find_node(doc, "ListPartsResult/Part") : NULL;
             n && !e; n = sd_xml_next(n)) {
            const char *num = sd_xml_child_text(n, "PartNumber"), *size = sd_xml_child_text(n, "Size");
            const char *etag = sd_xml_child_text(n, "ETag");
            char *et = etag ? sd_strdup(etag) : NULL;
            if (!num || !size || !et) {
                free(et);
                e = sd_err_driver("list parts of %s: malformed answer", w->path);
            } else {
                e = sd_parts_add(w->parts, atoi(num), strtoll(size, NULL, 10), et);
            }
        }
        bool more = false;
        if (!e) {
            const char *t = sd_xml_find(doc, "ListPartsResult/IsTruncated");
            const char *nm = sd_xml_find(doc, "ListPartsResult/NextPartNumberMarker");
            more = t && strcmp(t, "true") == 0 && nm && atoi(nm) > marker;
            if (more)
                marker = atoi(nm);
        }
        sd_xml_doc_free(doc);
        sd_http_response_free(&resp);
        free(q);
        if (e || !more)
            break;
    }
    const sd_part *parts;
    size_t n;
    return e ? e : sd_parts_list(w->parts, &parts, &n);
}

/* Reads the tail side object into the buffer when it belongs after the parts. */
static sd_error *wr_load_tail(s3_writer *w)
{
    s3_req r = { .method = "GET", .key = w->tail_key, .idempotent = true,
                 .max_body = (size_t)w->d->chunksize };
    sd_http_response resp;
    sd_error *e = s3_do(w->d, NULL, &r, &resp);
    if (!e && resp.status == 404) {
        sd_http_response_free(&resp);
        return NULL;
    }
    if (!e && resp.status / 100 != 2)
        e = s3_error(&r, &resp, NULL);
    if (!e) {
        w->tail_stored = true;
        const char *np = sd_http_response_header(&resp, "x-amz-meta-sd-parts");
        const char *no = sd_http_response_header(&resp, "x-amz-meta-sd-offset");
        char want[32];
        snprintf(want, sizeof want, "%lld", (long long)sd_parts_flushed(w->parts));
        bool ours = np && no && strtol(np, NULL, 10) == sd_parts_next(w->parts) - 1 &&
                    strcmp(no, want) == 0;
        if (ours)
            e = sd_parts_write(w->parts, resp.body.data, resp.body.len);
    }
    sd_http_response_free(&resp);
    return e;
}

/* Appending to a committed object: an upload that starts with its bytes. */
static sd_error *wr_from_object(s3_writer *w, int64_t size)
{
    sd_error *e;
    if (size < S3_MIN_PART) {
        s3_req r = { .method = "GET", .key = w->key, .idempotent = true,
                     .max_body = (size_t)w->d->chunksize };
        sd_http_response resp;
        e = s3_call(w->d, NULL, &r, &resp, w->path);
        if (!e)
            e = sd_parts_write(w->parts, resp.body.data, resp.body.len);
        sd_http_response_free(&resp);
        return e;
    }
    if (size > S3_MAX_PART)
        return sd_err_driver("append to %s: objects over 5 GiB cannot be appended to", w->path);
    if ((e = wr_ensure_upload(w)) != NULL)
        return e;
    char *source = s3_copy_source(w->d, w->key);
    char *etag = NULL;
    e = source ? s3_copy_part(w->d, NULL, w->key, w->upload_id, 1, source, 0, size - 1, &etag)
               : wr_oom();
    free(source);
    return e ? e : sd_parts_add(w->parts, 1, size, etag);
}

sd_error *s3_writer_open(s3_driver *d, const char *path, bool append, sd_writer **out)
{
    s3_writer *w = calloc(1, sizeof *w);
    if (!w)
        return wr_oom();
    w->base.ops = &s3_writer_ops;
    w->d = d;
    w->key = s3_key(d, path);
    w->path = sd_strdup(path);
    sd_error *e = NULL;
    if (!w->key || !w->path)
        e = wr_oom();
    else
        e = sd_parts_new(d->pool, (size_t)d->chunksize, (int)d->upload_concurrency,
                         &wr_parts_ops, w, &w->parts);
    if (!e && append) {
        char *id = NULL;
        e = wr_find_upload(w, &id);
        if (!e && id) {
            w->upload_id = id;
            if (!(e = wr_set_tail_key(w)) && !(e = wr_list_parts(w)))
                e = wr_load_tail(w);
        } else if (!e) {
            bool found = false;
            int64_t size = 0, mtime = 0;
            e = s3_head(d, w->key, path, &found, &size, &mtime);
            if (!e && !found)
                e = sd_err_path_not_found(path);
            if (!e && size > 0)
                e = wr_from_object(w, size);
        }
    }
    if (e) {
        w->base.state = SD_WRITER_CANCELLED; /* nothing to keep */
        wr_destroy(&w->base);
        return e;
    }
    *out = &w->base;
    return NULL;
}
