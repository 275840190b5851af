/* A response body the caller pulls (sd_http_stream_*).  The transfer runs on
 * the client's multi handle only while the caller asks for bytes: curl hands
 * a piece to stream_on_body, which fills the caller's buffer and keeps what
 * does not fit in a small pending buffer; once that is full the transfer is
 * paused, so memory stays bounded whatever the size of the body. */
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "../util.h"

/* Above this many pending bytes the transfer pauses: with the piece curl
 * hands over on top (CURLOPT_BUFFERSIZE, 16 KiB by default) at most ~272 KiB
 * wait.  curl's default piece size is kept: 512 KiB pieces were no faster
 * (about 4 GiB/s either way from a loopback server). */
#define STREAM_PENDING_MAX ((size_t)256 << 10)

struct sd_http_stream {
    http_xfer x;          /* first: the curl callbacks get &x as user data */
    sd_http_request req;  /* the caller's, with method and url our own */
    char *method, *url;   /* owned */
    long status;          /* of the final answer, once headers_done */
    bool headers_done;    /* after this, resp is the caller's alone */
    bool paused;          /* stream_on_body said CURL_WRITEFUNC_PAUSE */
    CURLcode result;      /* how the transfer ended, once !x.running */
    sd_buf pending;       /* owned; the unread bytes start at pending_off */
    size_t pending_off;
    char *dst;            /* the caller's buffer during a read, else NULL */
    size_t dst_cap, dst_len;
};

static bool is_2xx(long status)
{
    return status >= 200 && status < 300;
}

static size_t pending_len(const sd_http_stream *s)
{
    return s->pending.len - s->pending_off;
}

static size_t stream_on_header(char *data, size_t size, size_t nitems, void *ud)
{
    sd_http_stream *s = ud;
    size_t n = size * nitems;
    if (s->headers_done)
        return n; /* trailers: resp is the caller's once open has returned */
    if (http_on_header(data, size, nitems, ud) != n)
        return 0;
    if (n <= 2 && (data[0] == '\r' || data[0] == '\n')) {
        /* The blank line: the end of an answer's headers, the final one's
         * unless it was a 1xx. */
        long status = 0;
        curl_easy_getinfo(s->x.c->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200) {
            s->status = s->x.resp->status = status;
            s->headers_done = true;
        }
    }
    return n;
}

static size_t stream_on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    sd_http_stream *s = ud;
    size_t n = size * nmemb;
    if (!is_2xx(s->status))
        return http_keep_error_body(&s->x.resp->body, data, n) ? n : 0;
    size_t room = s->dst_cap - s->dst_len;
    if (room == 0 && pending_len(s) >= STREAM_PENDING_MAX) {
        /* curl keeps this piece and hands it over again after CURLPAUSE_CONT. */
        s->paused = true;
        return CURL_WRITEFUNC_PAUSE;
    }
    size_t k = n < room ? n : room;
    if (k) {
        memcpy(s->dst + s->dst_len, data, k);
        s->dst_len += k;
    }
    /* pending_off is 0 here: a read lets curl run only once pending is empty. */
    if (k < n) {
        if (sd_buf_append(&s->pending, data + k, n - k)) {
            s->x.cb_err = sd_err_driver("http: out of memory reading a response");
            return 0;
        }
    }
    return n;
}

/* The final answer is a 2xx whose headers are in: open may return. */
static bool stream_ready(http_xfer *x)
{
    sd_http_stream *s = (sd_http_stream *)x;
    return s->headers_done && is_2xx(s->status);
}

static bool stream_has_bytes(http_xfer *x)
{
    return ((sd_http_stream *)x)->dst_len > 0;
}

static void stream_restart(http_xfer *x)
{
    sd_http_stream *s = (sd_http_stream *)x;
    s->pending.len = s->pending_off = 0;
    s->status = 0;
    s->headers_done = s->paused = false;
}

sd_error *sd_http_stream_open(sd_http_client *c, const sd_http_request *req,
                              sd_http_response *resp, sd_http_stream **out)
{
    *out = NULL;
    memset(resp, 0, sizeof *resp);
    sd_http_stream *s = calloc(1, sizeof *s);
    if (!s)
        return sd_err_driver("http: out of memory opening a stream");
    /* Error texts need the method and URL after the caller's strings are gone. */
    s->req = *req;
    s->req.on_data = NULL;
    s->req.max_body = 0;
    s->method = sd_strdup(req->method ? req->method : "GET");
    s->url = req->url ? sd_strdup(req->url) : NULL;
    s->req.method = s->method;
    s->req.url = s->url;
    s->x = (http_xfer){ .c = c, .req = &s->req, .resp = resp, .on_body = stream_on_body,
                        .on_header = stream_on_header, .ready = stream_ready,
                        .restart = stream_restart };
    sd_error *err = NULL;
    if (!s->method || (req->url && !s->url))
        err = sd_err_driver("http: out of memory opening a stream");
    else
        err = http_exchange(&s->x);
    s->req.headers = NULL; /* copied into x.hdrs; the caller's may go now */
    if (err) {
        sd_http_stream_close(s);
        return err;
    }
    *out = s;
    return NULL;
}

/* Moves pending bytes to buf; how many. */
static size_t stream_take(sd_http_stream *s, char *buf, size_t cap)
{
    size_t k = pending_len(s) < cap ? pending_len(s) : cap;
    if (k) {
        memcpy(buf, s->pending.data + s->pending_off, k);
        s->pending_off += k;
    }
    if (s->pending_off == s->pending.len)
        s->pending.len = s->pending_off = 0;
    return k;
}

/* With pending empty: lets curl fill buf (after the got bytes already there)
 * until a byte arrives or the transfer ends; how many bytes buf holds then. */
static size_t stream_fill(sd_http_stream *s, char *buf, size_t cap, size_t got)
{
    s->dst = buf;
    s->dst_cap = cap;
    s->dst_len = got;
    CURLcode rc = CURLE_OK;
    if (s->paused) {
        /* curl hands the piece it kept to stream_on_body right here. */
        s->paused = false;
        rc = curl_easy_pause(s->x.c->easy, CURLPAUSE_CONT);
    }
    if (rc == CURLE_OK && s->dst_len == 0)
        rc = http_drive(&s->x, stream_has_bytes);
    if (rc == CURLE_OK && s->x.cb_err)
        rc = CURLE_WRITE_ERROR; /* read returns cb_err once, then this */
    if (rc != CURLE_OK)
        http_halt(&s->x);
    if (!s->x.running)
        s->result = rc;
    got = s->dst_len;
    s->dst = NULL;
    s->dst_cap = s->dst_len = 0;
    return got;
}

sd_error *sd_http_stream_read(sd_http_stream *s, void *buf, size_t cap, size_t *n)
{
    *n = stream_take(s, buf, cap);
    if (s->x.running && *n < cap) /* then pending is empty */
        *n = stream_fill(s, buf, cap, *n);
    if (*n > 0 || cap == 0)
        return NULL;
    /* The end, and every byte that came before it is handed over. */
    if (s->x.cb_err) {
        sd_error *e = s->x.cb_err;
        s->x.cb_err = NULL;
        return e;
    }
    if (s->result != CURLE_OK)
        return http_transport_error(&s->x, s->result, 1);
    return NULL;
}

void sd_http_stream_close(sd_http_stream *s)
{
    if (!s)
        return;
    http_xfer_end(&s->x);
    sd_error_free(s->x.cb_err);
    sd_buf_free(&s->pending);
    free(s->method);
    free(s->url);
    free(s);
}
