/* The azure reader: one GET of the blob from the offset, its body pulled from
 * the network as the caller reads (bounded memory for any size).  A
 * connection that drops mid-body is picked up with a ranged GET from the
 * current position, pinned by If-Match to the ETag first seen, so a reader
 * never splices two versions of a blob together. */
#include "azure.h"
#include "../runtime/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AZ_READER_RESUMES 3

typedef struct az_reader {
    sd_reader base;
    az_driver *d;
    char *blob, *path;
    char *etag;
    int64_t pos;
    sd_http_client *c;
    sd_http_stream *s;   /* NULL at the end */
    int resumes;
} az_reader;

/* Opens the body at r->pos (nothing there: r->s stays NULL). */
static sd_error *azr_open(az_reader *r)
{
    char range[64], match[300];
    const char *hdrs[3] = { NULL };
    size_t n = 0;
    if (r->pos > 0) {
        snprintf(range, sizeof range, "x-ms-range: bytes=%lld-", (long long)r->pos);
        hdrs[n++] = range;
    }
    if (r->etag && strlen(r->etag) < 200) {
        snprintf(match, sizeof match, "If-Match: %s", r->etag);
        hdrs[n++] = match;
    }
    az_req q = { .method = "GET", .blob = r->blob, .headers = hdrs, .idempotent = true };
    sd_http_response resp;
    sd_http_stream *s = NULL;
    sd_error *e = az_stream(r->d, r->c, &q, &resp, &s);
    if (!e && resp.status == 416) {
        /* at or past the end (InvalidRange): nothing to read */
    } else if (!e && resp.status / 100 != 2) {
        e = az_error(&q, &resp, r->path);
    } else if (!e) {
        const char *et = sd_http_response_header(&resp, "ETag");
        if (!r->etag && et && !(r->etag = sd_strdup(et)))
            e = az_oom();
        if (!e && r->pos > 0 && resp.status != 206)
            e = sd_err_driver("GET %s: the server ignored the range (HTTP %ld)", r->blob,
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

static sd_error *azr_read(sd_reader *base, void *buf, size_t cap, size_t *n)
{
    az_reader *r = (az_reader *)base;
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
        /* The connection broke: a new client resumes from here. */
        sd_http_stream_close(r->s);
        r->s = NULL;
        sd_http_pool_put(r->d->pool, r->c, false);
        r->c = NULL;
        if (r->resumes++ >= AZ_READER_RESUMES || !r->etag)
            return e;
        sd_error *oe = sd_http_pool_get(r->d->pool, &r->c);
        if (!oe)
            oe = azr_open(r);
        if (oe) {
            sd_error_free(oe);
            return e;
        }
        sd_error_free(e);
    }
    return NULL;
}

static void azr_close(sd_reader *base)
{
    az_reader *r = (az_reader *)base;
    bool clean = r->s == NULL;
    sd_http_stream_close(r->s);
    sd_http_pool_put(r->d->pool, r->c, clean);
    free(r->blob);
    free(r->path);
    free(r->etag);
    free(r);
}

static const sd_reader_ops az_reader_ops = { .read = azr_read, .close = azr_close };

sd_error *az_reader_open(az_driver *d, const char *path, int64_t offset, sd_reader **out)
{
    az_reader *r = calloc(1, sizeof *r);
    if (!r)
        return az_oom();
    r->base.ops = &az_reader_ops;
    r->d = d;
    r->pos = offset;
    r->blob = az_name(d, path);
    r->path = sd_strdup(path);
    sd_error *e = !r->blob || !r->path ? az_oom() : sd_http_pool_get(d->pool, &r->c);
    if (!e)
        e = azr_open(r);
    if (e) {
        azr_close(&r->base);
        return e;
    }
    *out = &r->base;
    return NULL;
}
