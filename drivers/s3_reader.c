/* The s3 reader: one GET (ranged from the offset) whose body is pulled from
 * the network as the caller reads, so memory stays small for any object.
 * A connection that drops mid-body is picked up again with a ranged GET
 * from the current position, pinned to the same object by If-Match on its
 * ETag, so a reader never splices two versions together.
 *
 * One TCP stream is slower than several: when more than two windows
 * (downloadchunksize) are left after the first one, the first read starts
 * a prefetcher (sd_prefetch) on the rest, downloadconcurrency ranged GETs
 * at once, each with If-Match on the ETag; the single GET is abandoned once
 * the first window is read.  A small object stays exactly one GET. */
#include "s3.h"
#include "../runtime/util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S3_READER_RESUMES 3

typedef struct s3_reader {
    sd_reader base;
    s3_driver *d;
    char *key, *path;
    char *etag;          /* of the object first opened */
    int64_t pos;         /* offset of the next byte */
    sd_http_client *c;
    sd_http_stream *s;   /* NULL at the end */
    int resumes;
    bool failed;         /* a read failed: the data is not whole */
    int64_t size;        /* of the object, -1 unknown */
    int64_t switch_at;   /* where the prefetcher takes over; -1: never */
    sd_prefetch *pf;     /* from the first read on, when switch_at >= 0 */
    atomic_bool closing; /* the fetches in flight give up */
} s3_reader;

static sd_error *rd_oom(void)
{
    return sd_err_driver("out of memory");
}

/* The object's size from the first answer: Content-Range "bytes a-b/total"
 * of a 206, Content-Length of a whole 200. */
static void rd_size(s3_reader *r, const sd_http_response *resp)
{
    if (r->size >= 0)
        return;
    const char *v = NULL;
    if (resp->status == 206) {
        const char *cr = sd_http_response_header(resp, "Content-Range");
        v = cr ? strrchr(cr, '/') : NULL;
        v = v ? v + 1 : NULL;
    } else if (resp->status == 200 && r->pos == 0) {
        v = sd_http_response_header(resp, "Content-Length");
    }
    char *end = NULL;
    long long n = v ? strtoll(v, &end, 10) : -1;
    if (v && end != v && n >= 0)
        r->size = n;
}

/* Opens the body at r->pos; at_end set when there is nothing from there. */
static sd_error *rd_open(s3_reader *r, bool *at_end)
{
    char range[64], match[300];
    const char *hdrs[3] = { NULL };
    size_t n = 0;
    *at_end = false;
    if (r->pos > 0) {
        snprintf(range, sizeof range, "Range: bytes=%lld-", (long long)r->pos);
        hdrs[n++] = range;
    }
    if (r->etag && strlen(r->etag) < 200) {
        snprintf(match, sizeof match, "If-Match: %s", r->etag);
        hdrs[n++] = match;
    }
    s3_req q = { .method = "GET", .key = r->key, .headers = hdrs, .idempotent = true };
    sd_http_response resp;
    sd_http_stream *s = NULL;
    sd_error *e = s3_stream(r->d, r->c, &q, &resp, &s);
    if (!e && resp.status == 416) {
        *at_end = true; /* offset at or past the end (InvalidRange) */
    } else if (!e && resp.status / 100 != 2) {
        e = s3_error(&q, &resp, r->path);
    } else if (!e) {
        const char *et = sd_http_response_header(&resp, "ETag");
        if (!r->etag && et && !(r->etag = sd_strdup(et)))
            e = rd_oom();
        rd_size(r, &resp);
        if (!e && r->pos > 0 && resp.status != 206)
            e = sd_err_driver("GET %s: the server ignored the range (HTTP %ld)", r->key,
                              resp.status);
        if (!e) {
            r->s = s;
            s = NULL;
        }
    }
    if (s)
        sd_http_stream_close(s);
    sd_http_response_free(&resp);
    return e;
}

/* The prefetcher's fetch: one ranged GET of [off, off + len) pinned by
 * If-Match, read into buf; a dropped connection is resumed within the range
 * a few times.  Runs on a worker thread: it only reads r's fields that stay
 * put while the prefetcher lives (d, key, path, etag, closing). */
static sd_error *rd_fetch(void *ud, sd_http_client *c, int64_t off, size_t len, void *buf,
                          size_t *got)
{
    s3_reader *r = ud;
    *got = 0;
    for (int tries = 0;; tries++) {
        char range[80], match[300];
        const char *hdrs[3] = { range, match, NULL };
        snprintf(range, sizeof range, "Range: bytes=%lld-%lld", (long long)(off + (int64_t)*got),
                 (long long)(off + (int64_t)len - 1));
        snprintf(match, sizeof match, "If-Match: %s", r->etag);
        s3_req q = { .method = "GET", .key = r->key, .headers = hdrs, .idempotent = true };
        sd_http_response resp;
        sd_http_stream *s = NULL;
        sd_error *e = s3_stream(r->d, c, &q, &resp, &s);
        if (!e && resp.status / 100 != 2)
            e = s3_error(&q, &resp, r->path);
        else if (!e && resp.status != 206)
            e = sd_err_driver("GET %s: the server ignored the range (HTTP %ld)", r->key,
                              resp.status);
        sd_http_response_free(&resp);
        bool broke = false;
        while (!e) {
            if (atomic_load(&r->closing)) {
                e = sd_err_driver("GET %s: the reader was closed", r->key);
                break;
            }
            /* Past len, one byte of room: the end is read, so the connection
             * is kept alive; a byte there is a server sending too much. */
            char extra;
            bool full = *got == len;
            size_t n = 0;
            e = sd_http_stream_read(s, full ? &extra : (char *)buf + *got, full ? 1 : len - *got,
                                    &n);
            broke = e != NULL;
            if (!e && n > 0 && full)
                e = sd_err_driver("GET %s: more bytes than the range %lld-%lld", r->key,
                                  (long long)off, (long long)(off + (int64_t)len - 1));
            if (e || n == 0)
                break;
            *got += n;
        }
        sd_http_stream_close(s);
        if (!e || !broke || tries >= S3_READER_RESUMES || atomic_load(&r->closing))
            return e;
        sd_error_free(e); /* the connection broke: the rest of the range again */
    }
}

/* Reads from the prefetcher, started on the first call. */
static sd_error *rd_prefetched(s3_reader *r, void *buf, size_t cap, size_t *n)
{
    if (r->s) { /* the first window is read: the single GET ends here */
        sd_http_stream_close(r->s);
        r->s = NULL;
    }
    sd_error *e = sd_prefetch_read(r->pf, buf, cap, n);
    if (!e)
        r->pos += (int64_t)*n;
    return e;
}

static sd_error *rd_read(sd_reader *base, void *buf, size_t cap, size_t *n)
{
    s3_reader *r = (s3_reader *)base;
    *n = 0;
    if (r->switch_at >= 0 && !r->pf) {
        sd_error *e = sd_prefetch_new(r->d->pool, r->switch_at, r->size,
                                      (size_t)r->d->download_chunksize,
                                      (int)r->d->download_concurrency, rd_fetch, r, &r->pf);
        if (e) { /* no threads: the single GET goes on */
            sd_error_free(e);
            r->switch_at = -1;
        }
    }
    if (r->pf && r->pos >= r->switch_at)
        return rd_prefetched(r, buf, cap, n);
    if (r->failed) /* never a clean end after bytes went missing */
        return sd_err_driver("GET %s: the body broke off at offset %lld", r->key, (long long)r->pos);
    if (r->pf && (int64_t)cap > r->switch_at - r->pos)
        cap = (size_t)(r->switch_at - r->pos);
    while (r->s) {
        sd_error *e = sd_http_stream_read(r->s, buf, cap, n);
        if (!e) {
            r->pos += (int64_t)*n;
            if (*n == 0 && cap > 0) {
                sd_http_stream_close(r->s);
                r->s = NULL;
                if (r->pf) { /* ended before the first window did: short */
                    r->failed = true;
                    return sd_err_driver("GET %s: the body ended at offset %lld of %lld", r->key,
                                         (long long)r->pos, (long long)r->size);
                }
            }
            return NULL;
        }
        /* The connection broke: resume from here, a few times. */
        sd_http_stream_close(r->s);
        r->s = NULL;
        sd_http_client_free(r->c);
        r->c = NULL;
        if (r->resumes++ >= S3_READER_RESUMES || !r->etag) {
            r->failed = true;
            return e;
        }
        sd_error *ce = sd_http_pool_get(r->d->pool, &r->c);
        bool at_end = false;
        sd_error *oe = ce ? ce : rd_open(r, &at_end);
        if (oe) {
            r->failed = true;
            /* The object changed (412) says more than the broken connection. */
            if (oe->status == 412) {
                sd_error_free(e);
                return oe;
            }
            sd_error_free(oe);
            return e;
        }
        sd_error_free(e);
        if (at_end)
            return NULL;
    }
    return NULL;
}

static void rd_close(sd_reader *base)
{
    s3_reader *r = (s3_reader *)base;
    atomic_store(&r->closing, true);
    sd_prefetch_close(r->pf);
    bool clean = r->s == NULL;
    if (r->s)
        sd_http_stream_close(r->s);
    sd_http_pool_put(r->d->pool, r->c, clean);
    free(r->key);
    free(r->path);
    free(r->etag);
    free(r);
}

static const sd_reader_ops s3_reader_ops = { .read = rd_read, .close = rd_close };

sd_error *s3_reader_open(s3_driver *d, const char *path, int64_t offset, sd_reader **out)
{
    s3_reader *r = calloc(1, sizeof *r);
    if (!r)
        return rd_oom();
    r->base.ops = &s3_reader_ops;
    r->d = d;
    r->pos = offset;
    r->size = r->switch_at = -1;
    atomic_init(&r->closing, false);
    r->key = s3_key(d, path);
    r->path = sd_strdup(path);
    sd_error *e = !r->key || !r->path ? rd_oom() : sd_http_pool_get(d->pool, &r->c);
    bool at_end = false;
    if (!e)
        e = rd_open(r, &at_end);
    /* Prefetch when more than two windows are left after the first one. */
    int64_t win = d->download_chunksize;
    if (!e && !at_end && d->download_concurrency > 1 && r->size >= 0 && r->etag &&
        strlen(r->etag) < 200 && r->size - r->pos > 3 * win)
        r->switch_at = r->pos + win;
    if (e) {
        rd_close(&r->base);
        return e;
    }
    *out = &r->base;
    return NULL;
}
