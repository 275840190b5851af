/* One request: curl options, body callbacks, retries with backoff, and the
 * loop that runs a transfer on the client's multi handle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client.h"
#include "../util.h"

#define HTTP_DEFAULT_MAX_BODY ((size_t)16 << 20)
#define HTTP_ERROR_BODY_KEEP ((size_t)64 << 10)

static void headers_clear(sd_http_response *r)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    r->nheaders = 0;
}

void sd_http_response_free(sd_http_response *r)
{
    if (!r)
        return;
    headers_clear(r);
    free(r->headers);
    sd_buf_free(&r->body);
    memset(r, 0, sizeof *r);
}

const char *sd_http_response_header(const sd_http_response *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

size_t http_on_header(char *data, size_t size, size_t nitems, void *ud)
{
    http_xfer *x = ud;
    size_t n = size * nitems;
    sd_http_response *r = x->resp;
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* A new answer (after a 100 Continue, say): forget the earlier headers. */
        headers_clear(r);
        return n;
    }
    char *colon = memchr(data, ':', n);
    if (!colon || colon == data)
        return n; /* the blank end line, or an obsolete folded line */
    size_t vs = (size_t)(colon - data) + 1, ve = n;
    while (vs < ve && is_space(data[vs]))
        vs++;
    while (ve > vs && is_space(data[ve - 1]))
        ve--;
    if (r->nheaders == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 16;
        sd_http_header *h = realloc(r->headers, ncap * sizeof *h);
        if (!h)
            return 0;
        r->headers = h;
        r->cap = ncap;
    }
    char *name = sd_strndup(data, (size_t)(colon - data));
    char *value = sd_strndup(data + vs, ve - vs);
    if (!name || !value) {
        free(name);
        free(value);
        return 0;
    }
    r->headers[r->nheaders].name = name;
    r->headers[r->nheaders].value = value;
    r->nheaders++;
    return n;
}

bool http_keep_error_body(sd_buf *b, const char *data, size_t n)
{
    size_t room = HTTP_ERROR_BODY_KEEP > b->len ? HTTP_ERROR_BODY_KEEP - b->len : 0;
    return sd_buf_append(b, data, n < room ? n : room) == 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    http_xfer *x = ud;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(x->c->easy, CURLINFO_RESPONSE_CODE, &status);
    bool ok = status >= 200 && status < 300;
    if (ok && x->req->on_data) {
        if (n == 0)
            return 0;
        x->delivered = true;
        x->cb_err = x->req->on_data(x->req->data_ud, data, n);
        return x->cb_err ? 0 : n;
    }
    sd_buf *b = &x->resp->body;
    if (!ok) /* an error answer: keep its beginning (for the service's error code) */
        return http_keep_error_body(b, data, n) ? n : 0;
    if (n > x->cap - b->len) {
        x->too_big = true;
        return 0;
    }
    if (sd_buf_append(b, data, n)) {
        x->cb_err = sd_err_driver("http: out of memory reading a response");
        return 0;
    }
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
    http_xfer *x = ud;
    size_t cap = size * nitems;
    const sd_http_request *q = x->req;
    if (q->body_read) {
        size_t n = 0;
        x->cb_err = q->body_read(q->body_ud, buf, cap, &n);
        if (x->cb_err)
            return CURL_READFUNC_ABORT;
        return n > cap ? cap : n;
    }
    size_t left = q->body_len - x->body_off;
    size_t n = left < cap ? left : cap;
    if (n)
        memcpy(buf, (const char *)q->body + x->body_off, n);
    x->body_off += n;
    return n;
}

/* libcurl seeks back when it resends a body itself (a kept-alive
 * connection that the server had closed): a bytes body can go anywhere, a
 * callback body only back to its start. */
static int on_seek(void *ud, curl_off_t offset, int origin)
{
    http_xfer *x = ud;
    const sd_http_request *q = x->req;
    if (origin != SEEK_SET || offset < 0)
        return CURL_SEEKFUNC_CANTSEEK;
    if (!q->body_read) {
        if ((size_t)offset > q->body_len)
            return CURL_SEEKFUNC_FAIL;
        x->body_off = (size_t)offset;
        return CURL_SEEKFUNC_OK;
    }
    if (offset != 0 || !q->body_rewind)
        return CURL_SEEKFUNC_CANTSEEK;
    sd_error *e = q->body_rewind(q->body_ud);
    if (e) {
        sd_error_free(x->cb_err);
        x->cb_err = e;
        return CURL_SEEKFUNC_FAIL;
    }
    return CURL_SEEKFUNC_OK;
}

/* Emits data (one or several CRLF-separated lines) to the trace, redacted. */
static void trace_lines(sd_http_client *c, const char *prefix, const char *data, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && data[e] != '\r' && data[e] != '\n')
            e++;
        if (e > i) {
            char *red = sd_http_redact(data + i, e - i);
            char *line = red ? sd_asprintf("%s%s", prefix, red) : NULL;
            if (line)
                c->cfg.trace(c->cfg.trace_ud, line);
            free(line);
            free(red);
        }
        i = e + 1;
    }
}

static int on_debug(CURL *h, curl_infotype type, char *data, size_t n, void *ud)
{
    (void)h;
    sd_http_client *c = ud;
    switch (type) {
    case CURLINFO_TEXT:
        trace_lines(c, "* ", data, n);
        break;
    case CURLINFO_HEADER_OUT:
        trace_lines(c, "> ", data, n);
        break;
    case CURLINFO_HEADER_IN:
        trace_lines(c, "< ", data, n);
        break;
    default: /* bodies are not traced */
        break;
    }
    return 0;
}

static bool has_body(const sd_http_request *q)
{
    return q->body != NULL || q->body_read != NULL;
}

/* Sets every option for one attempt.  The handle is reset first, which drops
 * the previous request's options (the connections stay in the multi handle). */
static CURLcode setup(http_xfer *x)
{
    sd_http_client *c = x->c;
    const sd_http_request *q = x->req;
    CURL *h = c->easy;
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                   \
    do {                                                \
        if ((rc = curl_easy_setopt(h, opt, val)) != 0)  \
            return rc;                                  \
    } while (0)
    curl_easy_reset(h);
    SET(CURLOPT_URL, q->url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_ERRORBUFFER, x->errbuf);
    SET(CURLOPT_SHARE, http_share_handle(c->cfg.share));
    SET(CURLOPT_USERAGENT, c->user_agent);
    SET(CURLOPT_CONNECTTIMEOUT_MS, c->cfg.connect_timeout_ms);
    if (c->cfg.timeout_ms > 0)
        SET(CURLOPT_TIMEOUT_MS, c->cfg.timeout_ms);
    if (c->cfg.low_speed_limit > 0 && c->cfg.low_speed_time > 0) {
        SET(CURLOPT_LOW_SPEED_LIMIT, c->cfg.low_speed_limit);
        SET(CURLOPT_LOW_SPEED_TIME, c->cfg.low_speed_time);
    }
    if (c->cfg.ca_file)
        SET(CURLOPT_CAINFO, c->cfg.ca_file);
    if (c->cfg.skipverify) {
        SET(CURLOPT_SSL_VERIFYPEER, 0L);
        SET(CURLOPT_SSL_VERIFYHOST, 0L);
    }
    /* Proxies: nothing is set, so libcurl follows http_proxy, https_proxy,
     * all_proxy and no_proxy from the environment. */
    SET(CURLOPT_HTTPHEADER, x->hdrs);
    /* A proxy's CONNECT answer is not the answer: keep it from the callbacks. */
    SET(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    SET(CURLOPT_HEADERFUNCTION, x->on_header ? x->on_header : http_on_header);
    SET(CURLOPT_HEADERDATA, x);
    SET(CURLOPT_WRITEFUNCTION, x->on_body ? x->on_body : on_body);
    SET(CURLOPT_WRITEDATA, x);
    if (c->cfg.trace) {
        SET(CURLOPT_DEBUGFUNCTION, on_debug);
        SET(CURLOPT_DEBUGDATA, c);
        SET(CURLOPT_VERBOSE, 1L);
    }
    const char *m = q->method ? q->method : "GET";
    if (strcmp(m, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
    } else if (has_body(q) || strcmp(m, "PUT") == 0 || strcmp(m, "POST") == 0) {
        SET(CURLOPT_UPLOAD, 1L);
        SET(CURLOPT_READFUNCTION, on_read);
        SET(CURLOPT_READDATA, x);
        SET(CURLOPT_SEEKFUNCTION, on_seek);
        SET(CURLOPT_SEEKDATA, x);
        curl_off_t size = q->body_read ? (curl_off_t)q->body_size
                                       : (curl_off_t)(q->body ? q->body_len : 0);
        if (size >= 0)
            SET(CURLOPT_INFILESIZE_LARGE, size);
        if (strcmp(m, "PUT") != 0)
            SET(CURLOPT_CUSTOMREQUEST, m);
    } else if (strcmp(m, "GET") != 0) {
        SET(CURLOPT_CUSTOMREQUEST, m);
    }
#undef SET
    return rc;
}

static bool retryable_status(long s)
{
    return s == 429 || (s >= 500 && s <= 599);
}

static bool retryable_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SEND_FAIL_REWIND: /* resend over a reused connection failed */
    case CURLE_OPERATION_TIMEDOUT: /* a stalled server (the low-speed limit) */
        return true;
    default:
        return false;
    }
}

static void set_status(sd_error *e, long status)
{
    /* The shared static out-of-memory error is never written to. */
    if (e && e->detail && strcmp(e->detail, "out of memory") != 0)
        e->status = (int)status;
}

sd_error *http_transport_error(const http_xfer *x, CURLcode rc, int attempts)
{
    const sd_http_request *q = x->req;
    char *url = sd_http_safe_url(q->url);
    const char *m = q->method ? q->method : "GET";
    char tries[48] = "";
    if (attempts > 1)
        snprintf(tries, sizeof tries, " (after %d attempts)", attempts);
    sd_error *e;
    if (x->too_big)
        e = sd_err_driver("%s %s: response body larger than %zu bytes%s", m,
                          url ? url : "?", x->cap, tries);
    else
        e = sd_err_driver("%s %s: %s%s", m, url ? url : "?",
                          x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc), tries);
    free(url);
    return e;
}

sd_error *sd_http_status_error(const sd_http_request *req, const sd_http_response *resp)
{
    char *url = sd_http_safe_url(req->url);
    sd_error *e = sd_err_driver("%s %s: HTTP %ld", req->method ? req->method : "GET",
                                url ? url : "?", resp->status);
    free(url);
    set_status(e, resp->status);
    return e;
}

void http_halt(http_xfer *x)
{
    if (!x->running)
        return;
    curl_multi_remove_handle(x->c->multi, x->c->easy);
    x->running = false;
}

/* A failure of the multi interface itself, told like a transfer's. */
static CURLcode multi_failed(http_xfer *x, CURLMcode mc)
{
    snprintf(x->errbuf, sizeof x->errbuf, "%s", curl_multi_strerror(mc));
    return mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_FAILED_INIT;
}

CURLcode http_drive(http_xfer *x, bool (*enough)(http_xfer *x))
{
    CURLM *m = x->c->multi;
    CURLcode rc = CURLE_OK;
    for (;;) {
        int still = 0;
        CURLMcode mc = curl_multi_perform(m, &still);
        if (mc != CURLM_OK) {
            rc = multi_failed(x, mc);
            break;
        }
        bool done = false;
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            if (msg->msg == CURLMSG_DONE && msg->easy_handle == x->c->easy) {
                done = true;
                rc = msg->data.result;
            }
        }
        if (done)
            break;
        if (enough && enough(x))
            return CURLE_OK;
        /* Waits for the socket, or for curl's next timer (timeouts, the
         * low-speed check) when that comes sooner. */
        mc = curl_multi_poll(m, NULL, 0, 1000, NULL);
        if (mc != CURLM_OK) {
            rc = multi_failed(x, mc);
            break;
        }
    }
    http_halt(x);
    return rc;
}

/* Sets the options of one attempt and puts the transfer on the multi handle. */
static CURLcode start(http_xfer *x)
{
    CURLcode rc = setup(x);
    if (rc != CURLE_OK)
        return rc;
    CURLMcode mc = curl_multi_add_handle(x->c->multi, x->c->easy);
    if (mc != CURLM_OK)
        return multi_failed(x, mc);
    x->running = true;
    return CURLE_OK;
}

/* Takes the client for x, makes its multi handle, builds the header list. */
static sd_error *prepare(http_xfer *x)
{
    sd_http_client *c = x->c;
    if (!x->req->url)
        return sd_err_driver("http: request without a URL");
    if (c->busy)
        return sd_err_driver("http: the client is in use (an open stream?)");
    c->busy = true;
    x->holds = true;
    if (!c->multi && !(c->multi = curl_multi_init()))
        return sd_err_driver("http: out of memory creating a multi handle");
    for (const char *const *h = x->req->headers; h && *h; h++) {
        struct curl_slist *n = curl_slist_append(x->hdrs, *h);
        if (!n)
            return sd_err_driver("http: out of memory building a request");
        x->hdrs = n;
    }
    /* No "Expect: 100-continue" round trip before bodies. */
    struct curl_slist *n = curl_slist_append(x->hdrs, "Expect:");
    if (!n)
        return sd_err_driver("http: out of memory building a request");
    x->hdrs = n;
    return NULL;
}

sd_error *http_exchange(http_xfer *x)
{
    sd_http_client *c = x->c;
    const sd_http_request *req = x->req;
    sd_http_response *resp = x->resp;
    memset(resp, 0, sizeof *resp);
    sd_error *err = prepare(x);
    if (err)
        return err;
    bool can_retry = req->idempotent && (!req->body_read || req->body_rewind);
    for (int attempt = 0;; attempt++) {
        if (attempt > 0) {
            c->cfg.sleep(c->cfg.sleep_ud, http_backoff_ms(c, attempt - 1));
            if (req->body_read && (err = req->body_rewind(req->body_ud)) != NULL)
                break;
        }
        headers_clear(resp);
        resp->body.len = 0;
        resp->status = 0;
        resp->attempts = attempt + 1;
        x->body_off = 0;
        x->cap = req->max_body ? req->max_body : HTTP_DEFAULT_MAX_BODY;
        x->too_big = false;
        x->errbuf[0] = '\0';
        if (x->restart)
            x->restart(x);
        CURLcode rc = start(x);
        if (rc == CURLE_OK)
            rc = http_drive(x, x->ready);
        bool more = can_retry && attempt < c->cfg.max_retries;
        if (x->cb_err) {
            err = x->cb_err;
            x->cb_err = NULL;
            break;
        }
        if (rc != CURLE_OK) {
            if (more && !x->delivered && !x->too_big && retryable_curl(rc))
                continue;
            err = http_transport_error(x, rc, attempt + 1);
            break;
        }
        if (x->running)
            break; /* a stream's 2xx answer: its reader takes it from here */
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &resp->status);
        if (more && retryable_status(resp->status))
            continue;
        break;
    }
    return err;
}

void http_xfer_end(http_xfer *x)
{
    http_halt(x);
    if (x->holds) {
        /* The easy handle keeps pointers to hdrs and to x until the next
         * reset: drop them now. */
        curl_easy_setopt(x->c->easy, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(x->c->easy, CURLOPT_ERRORBUFFER, NULL);
        x->c->busy = false;
        x->holds = false;
    }
    curl_slist_free_all(x->hdrs);
    x->hdrs = NULL;
}

sd_error *sd_http_do(sd_http_client *c, const sd_http_request *req, sd_http_response *resp)
{
    http_xfer x = { .c = c, .req = req, .resp = resp };
    sd_error *err = http_exchange(&x);
    http_xfer_end(&x);
    return err;
}
