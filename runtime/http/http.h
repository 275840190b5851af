/*
 * runtime/http: the HTTP client every cloud driver shares (libcurl).
 *
 * A client holds one curl easy handle, reused from request to request, run on
 * one curl multi handle whose connection cache keeps connections open
 * (keep-alive) for sd_http_do and streams alike, and a curl share handle for
 * the DNS cache and TLS sessions.  A client is NOT thread-safe: one thread
 * uses it at a time (a driver keeps one client per concurrent worker).
 * Several clients may use one sd_http_share, which is thread-safe.
 *
 * sd_http_do() returns an error only when no usable answer arrived (connection
 * failures, timeouts, truncated or malformed responses, a body over the cap,
 * a callback that failed).  Any HTTP status is an answer: the caller checks
 * resp->status and may turn it into an error with sd_http_status_error().
 *
 * Errors are Driver errors; their texts hold the method and the URL without
 * its query string or user info, never a header value.
 */
#ifndef SD_HTTP_H
#define SD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../storagedriver.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Streaming request body: fill buf with up to cap bytes, *n = 0 at the end. */
typedef sd_error *(*sd_http_read_fn)(void *ud, void *buf, size_t cap, size_t *n);
/* Starts the request body again from its beginning (for a retry). */
typedef sd_error *(*sd_http_rewind_fn)(void *ud);
/* Streaming response body: receives the body of a 2xx answer piece by piece. */
typedef sd_error *(*sd_http_write_fn)(void *ud, const void *data, size_t len);
/* Waits ms milliseconds between retries (tests inject a fake). */
typedef void (*sd_http_sleep_fn)(void *ud, long ms);
/* Debug trace: one line of the exchange, already redacted ("> " request,
 * "< " response, "* " info). */
typedef void (*sd_http_trace_fn)(void *ud, const char *line);

typedef struct sd_http_share sd_http_share;
typedef struct sd_http_client sd_http_client;

typedef struct sd_http_config {
    long connect_timeout_ms;  /* default 10000 */
    long timeout_ms;          /* whole request; 0 (default) = none */
    long low_speed_limit;     /* bytes/s; below it for low_speed_time s aborts */
    long low_speed_time;      /* seconds; default 30 (limit 1 byte/s) */
    bool skipverify;          /* TLS verification is on unless this is set */
    int max_retries;          /* retries after the first attempt; default 4 */
    long retry_base_ms;       /* backoff base; default 100 */
    long retry_max_ms;        /* backoff cap; default 20000 */
    sd_http_sleep_fn sleep;   /* default: nanosleep */
    void *sleep_ud;
    sd_http_trace_fn trace;   /* NULL: no trace */
    void *trace_ud;
    const char *user_agent;   /* copied; NULL: "storagedriver/<version>" */
    const char *ca_file;      /* copied; CA certificates for TLS; NULL: the system's */
    sd_http_share *share;     /* NULL: the client makes its own */
} sd_http_config;

/* Fills cfg with the defaults above. */
void sd_http_config_default(sd_http_config *cfg);

/* A DNS + TLS session cache several clients (threads) may share.  It must
 * outlive the clients that use it. */
sd_http_share *sd_http_share_new(void);
void sd_http_share_free(sd_http_share *s);

/* NULL and *out set on success; cfg is copied. */
sd_error *sd_http_client_new(const sd_http_config *cfg, sd_http_client **out);
void sd_http_client_free(sd_http_client *c);

typedef struct sd_http_request {
    const char *method;           /* "GET", "PUT", "HEAD", ... */
    const char *url;
    const char *const *headers;   /* "Name: value" strings, NULL-terminated; may be NULL */
    /* The body: bytes (body, body_len) or a read callback, or neither. */
    const void *body;
    size_t body_len;
    sd_http_read_fn body_read;
    sd_http_rewind_fn body_rewind; /* NULL: a callback body is never retried */
    void *body_ud;
    int64_t body_size;            /* callback body size; -1: unknown (chunked) */
    bool idempotent;              /* safe to send again */
    /* The response body of a 2xx answer goes to on_data when it is set,
     * otherwise into resp->body, at most max_body bytes (0: 16 MiB).  The
     * body of other answers is always collected (at most 64 KiB kept). */
    sd_http_write_fn on_data;
    void *data_ud;
    size_t max_body;
} sd_http_request;

typedef struct sd_http_header {
    char *name, *value;
} sd_http_header;

typedef struct sd_http_response {
    long status;
    sd_http_header *headers;  /* of the final answer, in order */
    size_t nheaders, cap;
    sd_buf body;
    int attempts;             /* how many times the request was sent */
} sd_http_response;

/* Sends req, retrying as configured when it is safe.  resp is cleared first
 * and belongs to the caller (sd_http_response_free) whatever the outcome. */
sd_error *sd_http_do(sd_http_client *c, const sd_http_request *req, sd_http_response *resp);

/* ---- pulled response bodies (stream.c)
 *
 * For bodies of any size in bounded memory: the caller pulls bytes as it
 * needs them, and while it does not the transfer waits; that wait is no stall
 * for the low-speed timeout, but cfg.timeout_ms (when set) counts the whole
 * life of the stream. */
typedef struct sd_http_stream sd_http_stream;

/* Sends req and returns once the final answer's status line and headers have
 * arrived: resp->status and resp->headers are set.  For a non-2xx answer the
 * body (at most 64 KiB kept) is read into resp->body before returning and the
 * stream is already at its end.  Retries exactly like sd_http_do (idempotent,
 * status 429/5xx, dropped connection) as long as no byte of a 2xx body has been
 * handed to the caller.  req->on_data / max_body are ignored.  While the stream is
 * open it uses client c's connection: c must not be used for anything else until
 * sd_http_stream_close() (sd_http_do on it fails meanwhile).  On error *out is
 * NULL and nothing needs closing.
 * resp is cleared first and belongs to the caller whatever the outcome; the
 * stream does not touch it after this returns (trailers are not kept).  req is
 * copied, all but a request body (bytes or callbacks): that must stay valid
 * until the close, since a server may answer before it has read it all. */
sd_error *sd_http_stream_open(sd_http_client *c, const sd_http_request *req,
                              sd_http_response *resp, sd_http_stream **out);
/* Up to cap bytes of the body into buf; *n = 0 only at the end of the body
 * (or when cap is 0).  A body shorter than its Content-Length, a dropped
 * connection, a timeout: a Driver error (text "<METHOD> <safe url>: <what>",
 * like sd_http_do's), after every byte received before it. */
sd_error *sd_http_stream_read(sd_http_stream *s, void *buf, size_t cap, size_t *n);
/* Ends the transfer (reading or not reading the rest: never hangs on a long
 * body; a half-read connection is closed, not reused) and frees s.  NULL is a
 * no-op.  Close every stream of a client before sd_http_client_free. */
void sd_http_stream_close(sd_http_stream *s);

/* First value of header name (case-insensitive), or NULL. */
const char *sd_http_response_header(const sd_http_response *r, const char *name);
void sd_http_response_free(sd_http_response *r);

/* Driver error "<METHOD> <url without query>: HTTP <status>" with status set. */
sd_error *sd_http_status_error(const sd_http_request *req, const sd_http_response *resp);

/* ---- redaction (redact.c) */

/* url without "?query", "#fragment" and "user:pass@"; malloc'd, NULL on OOM. */
char *sd_http_safe_url(const char *url);
/* A copy of a header or request line with secrets replaced by "REDACTED":
 * the value of Authorization, Proxy-Authorization, X-Amz-Security-Token,
 * X-Auth-Token, X-Auth-Key, X-Storage-Token, X-Subject-Token,
 * X-Service-Token and Swift's Temp-URL-Key metadata headers, and of the
 * X-Amz-Signature, X-Amz-Security-Token, X-Amz-Credential, Signature, sig,
 * Credential and temp_url_sig parameters.  malloc'd. */
char *sd_http_redact(const char *line, size_t len);

#ifdef __cplusplus
}
#endif

#endif
