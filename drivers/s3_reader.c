/* The s3 reader: one GET (ranged from the offset) whose body is pulled from
 * the network as the caller reads, so memory stays small for any object.
 * A connection that drops mid-body is picked up again with a ranged GET
 * from the current position, pinned to the same object by If-Match on its
 * ETag, so a reader never splices two versions together. */
#include "s3.h"
#include "../runtime/util.h"

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
} s3_reader;

static sd_error *rd_oom(void)
{
    return sd_err_driver("out of memory");
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

static sd_error *rd_read(sd_reader *base, void *buf, size_t cap, size_t *n)
{
    s3_reader *r = (s3_reader *)base;
    *n = 0;
    if (r->failed) /* never a clean end after bytes went missing */
        return sd_err_driver("GET %s: the body broke off at offset %lld", r->key, (long long)r->pos);
    while (r->s) {
        sd_error *e = sd_http_stream_read(r->s, buf, cap, n);
        if (!e) {
            r->pos += (int64_t)*n;
            if (*n == 0) {
                sd_http_stream_close(r->s);
                r->s = NULL;
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
    r->key = s3_key(d, path);
    r->path = sd_strdup(path);
    sd_error *e = !r->key || !r->path ? rd_oom() : sd_http_pool_get(d->pool, &r->c);
    bool at_end = false;
    if (!e)
        e = rd_open(r, &at_end);
    if (e) {
        rd_close(&r->base);
        return e;
    }
    *out = &r->base;
    return NULL;
}
