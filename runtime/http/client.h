/* Inside runtime/http: the client's fields and one exchange's state, shared by
 * client.c, request.c and stream.c. */
#ifndef SD_HTTP_CLIENT_H
#define SD_HTTP_CLIENT_H

#include <curl/curl.h>
#include <stdint.h>

#include "http.h"

struct sd_http_client {
    sd_http_config cfg;       /* cfg.user_agent points at user_agent */
    char *user_agent;         /* owned */
    char *ca_file;            /* owned; cfg.ca_file points at it (or NULL) */
    sd_http_share *own_share; /* owned when cfg had none */
    CURL *easy;               /* reused for every request */
    CURLM *multi;             /* made on first use; every transfer runs on it, and its
                               * connection cache gives keep-alive */
    bool busy;                /* an exchange (or an open stream) holds easy */
    uint64_t rng;             /* jitter state */
};

CURLSH *http_share_handle(sd_http_share *s);
uint64_t http_random(sd_http_client *c);
/* The pause before retry number retry (0-based): full jitter over
 * min(retry_max_ms, retry_base_ms * 2^retry). */
long http_backoff_ms(sd_http_client *c, int retry);

/* One exchange (every attempt of one request), handed to the curl callbacks
 * as their user data.  curl points into it (errbuf) while it runs, so it stays
 * where it is until http_xfer_end. */
typedef struct http_xfer http_xfer;
struct http_xfer {
    sd_http_client *c;
    const sd_http_request *req;
    sd_http_response *resp;
    struct curl_slist *hdrs;  /* owned: req->headers and "Expect:" */
    char errbuf[CURL_ERROR_SIZE];
    size_t body_off;          /* position in a bytes body */
    size_t cap;               /* max_body in effect */
    sd_error *cb_err;         /* a callback's error: ends the request as is */
    bool too_big;
    bool delivered;           /* on_data saw bytes: a retry would repeat them */
    bool holds;               /* this exchange set c->busy */
    bool running;             /* the transfer is on c->multi */
    /* A stream's own pieces; all NULL for sd_http_do.  The callbacks get the
     * http_xfer as their user data. */
    curl_write_callback on_body;
    curl_write_callback on_header;
    bool (*ready)(http_xfer *x);   /* the caller may take the running transfer */
    void (*restart)(http_xfer *x); /* an attempt begins */
};

/* Sends x->req, retrying as configured, until the answer is complete or, for a
 * stream, x->ready holds (then x->running is true).  x->resp is cleared first.
 * Call http_xfer_end afterwards whatever the outcome. */
sd_error *http_exchange(http_xfer *x);
/* Runs the transfer until it ends (x->running false, its result returned) or
 * enough(x) holds after a round of work (CURLE_OK, still running). */
CURLcode http_drive(http_xfer *x, bool (*enough)(http_xfer *x));
/* Takes a running transfer off the multi handle; a half-read connection is
 * closed by curl, never reused. */
void http_halt(http_xfer *x);
/* Halts, drops curl's pointers into x, frees x->hdrs, gives the client back. */
void http_xfer_end(http_xfer *x);
/* The header callback that fills x->resp->headers. */
size_t http_on_header(char *data, size_t size, size_t nitems, void *ud);
/* Keeps the first 64 KiB of an error answer's body (for the service's error
 * code); false when memory ran out. */
bool http_keep_error_body(sd_buf *b, const char *data, size_t n);
/* Driver error "<METHOD> <safe url>: <what>" for a failed transfer. */
sd_error *http_transport_error(const http_xfer *x, CURLcode rc, int attempts);

#endif
