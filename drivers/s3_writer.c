/* The s3 writer: a multipart upload fed with parts of chunksize bytes, up
 * to uploadconcurrency of them on the wire at once.
 *
 * Memory: at most uploadconcurrency buffers of chunksize bytes (the one being
 * filled included); a write that finds them all busy waits for a part to
 * finish.  A part whose upload failed (after the HTTP layer's retries) keeps
 * its buffer and is sent again, synchronously, by the next call; nothing
 * written is dropped.
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

typedef struct wr_part {
    int num;
    int64_t size;
    char *etag;
} wr_part;

typedef struct s3_writer s3_writer;

typedef struct wr_job {
    s3_writer *w;
    int num;
    char *buf;
    size_t len;
} wr_job;

struct s3_writer {
    sd_writer base;
    s3_driver *d;
    char *key, *path;
    char *upload_id;    /* NULL until the upload exists */
    char *tail_key;     /* the side object of this upload */
    bool tail_stored;   /* the server may hold a tail object */
    int next_part;
    int64_t size;       /* every byte accepted */
    char *buf;          /* the chunk being filled (NULL: none yet) */
    size_t len;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int inflight;
    char **spare;       /* free buffers */
    int nspare, nbufs;  /* nbufs: buffers allocated, in any use */
    wr_part *parts;     /* uploaded parts, in completion order */
    size_t nparts, capparts;
    wr_job **failed;    /* parts to send again */
    size_t nfailed, capfailed;
    sd_error *async_err; /* the latest part failure */
};

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

/* ------------------------------------------------------ parts in flight */

/* Records a finished part; called with w->mu held. */
static int wr_add_part(s3_writer *w, int num, int64_t size, char *etag)
{
    if (w->nparts == w->capparts) {
        size_t ncap = w->capparts ? w->capparts * 2 : 16;
        wr_part *p = realloc(w->parts, ncap * sizeof *p);
        if (!p)
            return -1;
        w->parts = p;
        w->capparts = ncap;
    }
    w->parts[w->nparts++] = (wr_part){ num, size, etag };
    return 0;
}

static int wr_push_failed(s3_writer *w, wr_job *j)
{
    if (w->nfailed == w->capfailed) {
        size_t ncap = w->capfailed ? w->capfailed * 2 : 4;
        wr_job **f = realloc(w->failed, ncap * sizeof *f);
        if (!f)
            return -1;
        w->failed = f;
        w->capfailed = ncap;
    }
    w->failed[w->nfailed++] = j;
    return 0;
}

static void wr_release_buf(s3_writer *w, char *buf)
{
    w->spare[w->nspare++] = buf;
}

/* Runs one part upload and records its outcome.  The job is freed on
 * success, parked in w->failed on failure. */
static void wr_run_job(wr_job *j, sd_http_client *c)
{
    s3_writer *w = j->w;
    char *etag = NULL;
    sd_error *e = upload_part(w->d, c, w->key, w->upload_id, j->num, j->buf, j->len, &etag);
    pthread_mutex_lock(&w->mu);
    if (!e && wr_add_part(w, j->num, (int64_t)j->len, etag) != 0)
        e = wr_oom();
    if (!e) {
        wr_release_buf(w, j->buf);
        free(j);
    } else {
        free(etag);
        if (wr_push_failed(w, j) != 0) {
            /* Cannot even remember it: the bytes are lost; say so for good. */
            sd_error_free(e);
            e = sd_err_driver("out of memory keeping a failed part of %s", w->path);
            wr_release_buf(w, j->buf);
            free(j);
        }
        sd_error_free(w->async_err);
        w->async_err = e;
    }
    pthread_mutex_unlock(&w->mu);
}

static void *wr_thread(void *arg)
{
    wr_job *j = arg;
    s3_writer *w = j->w;
    sd_http_client *c = NULL;
    sd_error *e = s3_client_get(w->d, &c);
    if (e) {
        pthread_mutex_lock(&w->mu);
        if (wr_push_failed(w, j) != 0) {
            wr_release_buf(w, j->buf);
            free(j);
        }
        sd_error_free(w->async_err);
        w->async_err = e;
        pthread_mutex_unlock(&w->mu);
    } else {
        wr_run_job(j, c);
        s3_client_put(w->d, c);
    }
    pthread_mutex_lock(&w->mu);
    w->inflight--;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Waits for every part in flight, then sends the failed ones again, one by
 * one.  An error leaves them parked (and the writer usable). */
static sd_error *wr_settle(s3_writer *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->inflight > 0)
        pthread_cond_wait(&w->cv, &w->mu);
    size_t n = w->nfailed;
    wr_job **jobs = w->failed;
    w->failed = NULL;
    w->nfailed = w->capfailed = 0;
    sd_error_free(w->async_err);
    w->async_err = NULL;
    pthread_mutex_unlock(&w->mu);
    for (size_t i = 0; i < n; i++)
        wr_run_job(jobs[i], NULL);
    free(jobs);
    pthread_mutex_lock(&w->mu);
    sd_error *e = w->async_err;
    w->async_err = NULL;
    pthread_mutex_unlock(&w->mu);
    return e;
}

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

/* Gets a chunk buffer: a spare one, a new one while under the limit, else
 * waits for a part to finish. */
static sd_error *wr_take_buf(s3_writer *w)
{
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (w->nspare == 0 && w->nbufs >= w->d->upload_concurrency && w->inflight > 0)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->nspare > 0) {
            w->buf = w->spare[--w->nspare];
            pthread_mutex_unlock(&w->mu);
            return NULL;
        }
        if (w->nbufs < w->d->upload_concurrency) {
            w->nbufs++;
            pthread_mutex_unlock(&w->mu);
            w->buf = malloc((size_t)w->d->chunksize);
            if (!w->buf) {
                pthread_mutex_lock(&w->mu);
                w->nbufs--;
                pthread_mutex_unlock(&w->mu);
                return wr_oom();
            }
            return NULL;
        }
        pthread_mutex_unlock(&w->mu);
        /* Every buffer belongs to a failed part: send them again first. */
        sd_error *e = wr_settle(w);
        if (e)
            return e;
    }
}

/* Hands the full buffer to a thread as the next part. */
static sd_error *wr_submit(s3_writer *w)
{
    sd_error *e = wr_ensure_upload(w);
    if (e)
        return e;
    wr_job *j = malloc(sizeof *j);
    if (!j)
        return wr_oom();
    *j = (wr_job){ w, w->next_part, w->buf, w->len };
    pthread_mutex_lock(&w->mu);
    w->inflight++;
    pthread_mutex_unlock(&w->mu);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t tid;
    int rc = pthread_create(&tid, &attr, wr_thread, j);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        /* No thread: do it here. */
        wr_thread(j);
    }
    w->next_part++;
    w->buf = NULL;
    w->len = 0;
    return NULL;
}

static sd_error *wr_write(sd_writer *base, const void *data, size_t len)
{
    s3_writer *w = (s3_writer *)base;
    const char *p = data;
    size_t chunk = (size_t)w->d->chunksize;
    pthread_mutex_lock(&w->mu);
    bool failed = w->nfailed > 0;
    pthread_mutex_unlock(&w->mu);
    sd_error *e = failed ? wr_settle(w) : NULL;
    while (!e && len > 0) {
        if (w->buf && w->len == chunk && (e = wr_submit(w)) != NULL)
            break;
        if (!w->buf && (e = wr_take_buf(w)) != NULL)
            break;
        size_t n = chunk - w->len < len ? chunk - w->len : len;
        memcpy(w->buf + w->len, p, n);
        w->len += n;
        w->size += (int64_t)n;
        p += n;
        len -= n;
    }
    if (!e && w->buf && w->len == chunk)
        e = wr_submit(w);
    return e;
}

static int64_t wr_size(sd_writer *base)
{
    return ((s3_writer *)base)->size;
}

static int part_cmp(const void *a, const void *b)
{
    const wr_part *x = a, *y = b;
    return (x->num > y->num) - (x->num < y->num);
}

/* Sorts the parts and checks they are 1..n. */
static sd_error *wr_parts_in_order(s3_writer *w)
{
    qsort(w->parts, w->nparts, sizeof *w->parts, part_cmp);
    for (size_t i = 0; i < w->nparts; i++)
        if (w->parts[i].num != (int)i + 1)
            return sd_err_driver("upload of %s: part %zu is missing", w->path, i + 1);
    return NULL;
}

static int64_t wr_flushed(const s3_writer *w)
{
    int64_t s = 0;
    for (size_t i = 0; i < w->nparts; i++)
        s += w->parts[i].size;
    return s;
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
    sd_error *e = wr_settle(w);
    if (e)
        return e;
    if (w->len >= (size_t)S3_MIN_PART) {
        if ((e = wr_submit(w)) || (e = wr_settle(w)))
            return e;
    }
    if ((e = wr_ensure_upload(w)) != NULL)
        return e;
    if ((e = wr_parts_in_order(w)) != NULL)
        return e;
    if (w->len == 0)
        return wr_delete_tail(w);
    char parts[64], offset[64];
    snprintf(parts, sizeof parts, "x-amz-meta-sd-parts: %zu", w->nparts);
    snprintf(offset, sizeof offset, "x-amz-meta-sd-offset: %lld", (long long)wr_flushed(w));
    const char *extra[] = { parts, offset, NULL };
    w->tail_stored = true;
    return s3_put_bytes(w->d, NULL, w->tail_key, w->buf, w->len, extra);
}

static sd_error *wr_commit(sd_writer *base)
{
    s3_writer *w = (s3_writer *)base;
    sd_error *e = wr_settle(w);
    if (e)
        return e;
    if (w->nparts == 0) {
        /* One PUT; an upload opened by an earlier close is dropped after. */
        e = s3_put_bytes(w->d, NULL, w->key, w->buf ? w->buf : "", w->len, NULL);
        if (e)
            return e;
        if (w->upload_id) {
            sd_error_free(s3_upload_abort(w->d, NULL, w->key, w->upload_id));
            sd_error_free(wr_delete_tail(w));
        }
        return NULL;
    }
    if (w->len > 0) {
        if ((e = wr_submit(w)) || (e = wr_settle(w)))
            return e;
    }
    if ((e = wr_parts_in_order(w)) != NULL)
        return e;
    char **etags = calloc(w->nparts, sizeof *etags);
    int *nums = calloc(w->nparts, sizeof *nums);
    if (!etags || !nums) {
        free(etags);
        free(nums);
        return wr_oom();
    }
    for (size_t i = 0; i < w->nparts; i++) {
        etags[i] = w->parts[i].etag;
        nums[i] = w->parts[i].num;
    }
    e = s3_upload_complete(w->d, NULL, w->key, w->upload_id, etags, nums, w->nparts);
    free(etags);
    free(nums);
    if (!e)
        sd_error_free(wr_delete_tail(w)); /* hidden, and named after a finished upload */
    return e;
}

static sd_error *wr_cancel(sd_writer *base)
{
    s3_writer *w = (s3_writer *)base;
    sd_error_free(wr_settle(w));
    sd_error *e = NULL;
    if (w->upload_id) {
        e = s3_upload_abort(w->d, NULL, w->key, w->upload_id);
        sd_error *te = wr_delete_tail(w);
        if (!e)
            e = te;
        else
            sd_error_free(te);
    }
    w->len = 0;
    return e;
}

static void wr_destroy(sd_writer *base)
{
    s3_writer *w = (s3_writer *)base;
    if (w->base.state == SD_WRITER_OPEN)
        sd_error_free(wr_close(base)); /* abandoned: keep it resumable */
    pthread_mutex_lock(&w->mu);
    while (w->inflight > 0)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    for (size_t i = 0; i < w->nfailed; i++) {
        free(w->failed[i]->buf);
        free(w->failed[i]);
    }
    free(w->failed);
    for (int i = 0; i < w->nspare; i++)
        free(w->spare[i]);
    free(w->spare);
    free(w->buf);
    for (size_t i = 0; i < w->nparts; i++)
        free(w->parts[i].etag);
    free(w->parts);
    sd_error_free(w->async_err);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
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
            } else if (wr_add_part(w, atoi(num), strtoll(size, NULL, 10), et) != 0) {
                free(et);
                e = wr_oom();
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
    if (!e)
        e = wr_parts_in_order(w);
    return e;
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
        snprintf(want, sizeof want, "%lld", (long long)wr_flushed(w));
        bool ours = np && no && strtoull(np, NULL, 10) == w->nparts && strcmp(no, want) == 0;
        if (ours && resp.body.len > 0 && (e = wr_take_buf(w)) == NULL) {
            memcpy(w->buf, resp.body.data, resp.body.len);
            w->len = resp.body.len;
        }
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
        if (!e && resp.body.len > 0 && (e = wr_take_buf(w)) == NULL) {
            memcpy(w->buf, resp.body.data, resp.body.len);
            w->len = resp.body.len;
        }
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
    if (!e && wr_add_part(w, 1, size, etag) != 0) {
        free(etag);
        e = wr_oom();
    }
    if (!e)
        w->next_part = 2;
    return e;
}

sd_error *s3_writer_open(s3_driver *d, const char *path, bool append, sd_writer **out)
{
    s3_writer *w = calloc(1, sizeof *w);
    if (!w)
        return wr_oom();
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->base.ops = &s3_writer_ops;
    w->d = d;
    w->next_part = 1;
    w->key = s3_key(d, path);
    w->path = sd_strdup(path);
    w->spare = calloc((size_t)d->upload_concurrency, sizeof *w->spare);
    sd_error *e = NULL;
    if (!w->key || !w->path || !w->spare)
        e = wr_oom();
    if (!e && append) {
        char *id = NULL;
        e = wr_find_upload(w, &id);
        if (!e && id) {
            w->upload_id = id;
            if (!(e = wr_set_tail_key(w)) && !(e = wr_list_parts(w)))
                e = wr_load_tail(w);
            w->next_part = (int)w->nparts + 1;
        } else if (!e) {
            bool found = false;
            int64_t size = 0, mtime = 0;
            e = s3_head(d, w->key, path, &found, &size, &mtime);
            if (!e && !found)
                e = sd_err_path_not_found(path);
            if (!e && size > 0)
                e = wr_from_object(w, size);
        }
        w->size = wr_flushed(w) + (int64_t)w->len;
    }
    if (e) {
        w->base.state = SD_WRITER_CANCELLED; /* nothing to keep */
        wr_destroy(&w->base);
        return e;
    }
    *out = &w->base;
    return NULL;
}
