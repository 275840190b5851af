/* The swift reader: one GET from the offset, its body pulled from the network
 * as the caller reads (memory stays small for any size).  When the connection
 * drops mid-body, a ranged GET from the current position picks it up, pinned
 * with If-Match to the ETag first seen (for a large object, its SLO ETag), so
 * two versions are never spliced together. */
#include "swift.h"
#include "../runtime/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SWIFT_READER_RESUMES 3

typedef struct swift_reader {
    sd_reader base;
    swift_driver *d;
    char *object, *path, *etag;
    int64_t pos;
    sd_http_client *c;
    sd_http_stream *s;  /* NULL at the end */
    int resumes;
} swift_reader;

/* Opens the body from r->pos (nothing to open at or past the end). */
static sd_error *rd_open(swift_reader *r)
{
    char range[64], match[300];
    const char *hdrs[3] = { NULL };
    size_t n = 0;
    if (r->pos > 0) {
        snprintf(range, sizeof range, "Range: bytes=%lld-", (long long)r->pos);
        hdrs[n++] = range;
    }
    if (r->etag && strlen(r->etag) < 250) {
        snprintf(match, sizeof match, "If-Match: %s", r->etag);
        hdrs[n++] = match;
    }
    swift_req q = { .method = "GET", .object = r->object, .headers = hdrs, .idempotent = true };
    sd_http_response resp;
    sd_http_stream *s = NULL;
    sd_error *e = swift_stream(r->d, r->c, &q, &resp, &s);
    if (!e && resp.status == 416) {
        /* at or past the end: an empty reader */
    } else if (!e && resp.status / 100 != 2) {
        e = swift_error(&q, &resp, r->path);
    } else if (!e) {
        const char *et = sd_http_response_header(&resp, "ETag");
        if (!r->etag && et && !(r->etag = sd_strdup(et)))
            e = swift_oom();
        else if (r->pos > 0 && resp.status != 206)
            e = sd_err_driver("GET %s: the server ignored the range (HTTP %ld)", r->object,
                              resp.status);
        if (!e) {
            r->s = s;
            s = NULL;
        }
    }
    sd_http_stream_close(s);
    sd_http_response_free(&resp);
    return e;
}

static sd_error *rd_read(sd_reader *base, void *buf, size_t cap, size_t *n)
{
    swift_reader *r = (swift_reader *)base;
    *n = 0;
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
        /* The connection broke: start again from here, a few times. */
        sd_http_stream_close(r->s);
        r->s = NULL;
        sd_http_pool_put(r->d->pool, r->c, false);
        r->c = NULL;
        if (r->resumes++ >= SWIFT_READER_RESUMES || !r->etag)
            return e;
        sd_error *oe = sd_http_pool_get(r->d->pool, &r->c);
        if (!oe)
            oe = rd_open(r);
        if (oe) {
            sd_error_free(oe);
            return e;
        }
        sd_error_free(e);
    }
    return NULL;
}

static void rd_close(sd_reader *base)
{
    swift_reader *r = (swift_reader *)base;
    bool clean = r->s == NULL;
    sd_http_stream_close(r->s);
    sd_http_pool_put(r->d->pool, r->c, clean);
    free(r->object);
    free(r->path);
    free(r->etag);
    free(r);
}

static const sd_reader_ops swift_reader_ops = { .read = rd_read, .close = rd_close };

sd_error *swift_reader_open(swift_driver *d, const char *path, int64_t offset, sd_reader **out)
{
    swift_reader *r = calloc(1, sizeof *r);
    if (!r)
        return swift_oom();
    r->base.ops = &swift_reader_ops;
    r->d = d;
    r->pos = offset;
    r->object = swift_object(d, path);
    r->path = sd_strdup(path);
    sd_error *e = !r->object || !r->path ? swift_oom() : sd_http_pool_get(d->pool, &r->c);
    if (!e)
        e = rd_open(r);
    if (e) {
        rd_close(&r->base);
        return e;
    }
    *out = &r->base;
    return NULL;
}
