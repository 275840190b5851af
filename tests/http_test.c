/* runtime/http against spec/support/httpd.py:
 *   http_test BASE_URL [TLS_BASE_URL CA_FILE OTHER_CA_FILE]
 * The TLS cases (named "tls: ...") run when httpd.py --tls also serves at
 * TLS_BASE_URL ("https://127.0.0.1:PORT") with the self-signed certificate
 * CA_FILE; OTHER_CA_FILE is another certificate, which must not verify it.
 * Prints "ok <case>" or "FAILED <case>: why" per case and a summary line
 * "http: N passed, M failed"; exits 1 when anything failed. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../runtime/http/http.h"
#include "../runtime/http/pool.h"

static const char *base;
static int passed, failed;
static char why[512];

static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return 0;
}

#define CHECK(cond, ...)                 \
    do {                                 \
        if (!(cond))                     \
            return fail(__VA_ARGS__);    \
    } while (0)

static void run(const char *name, int (*fn)(void))
{
    why[0] = '\0';
    if (fn()) {
        printf("ok %s\n", name);
        passed++;
    } else {
        printf("FAILED %s: %s\n", name, why);
        failed++;
    }
    fflush(stdout);
}

static char url_buf[1024];
static const char *url(const char *path)
{
    snprintf(url_buf, sizeof url_buf, "%s%s", base, path);
    return url_buf;
}

/* The fake sleep records the pauses instead of waiting. */
static long slept[64];
static int nslept;
static void fake_sleep(void *ud, long ms)
{
    (void)ud;
    if (nslept < 64)
        slept[nslept] = ms;
    nslept++;
}

static sd_http_client *new_client(const sd_http_config *cfg)
{
    sd_http_client *c = NULL;
    sd_error *e = sd_http_client_new(cfg, &c);
    if (e) {
        fprintf(stderr, "client: %s\n", e->detail);
        exit(2);
    }
    nslept = 0;
    return c;
}

static sd_http_client *client(long base_ms, int retries)
{
    sd_http_config cfg;
    sd_http_config_default(&cfg);
    cfg.sleep = fake_sleep;
    cfg.retry_base_ms = base_ms;
    cfg.max_retries = retries;
    cfg.connect_timeout_ms = 3000;
    return new_client(&cfg);
}

/* Gives up on a body slower than 100 bytes/s for 1 s. */
static sd_http_client *slow_client(void)
{
    sd_http_config cfg;
    sd_http_config_default(&cfg);
    cfg.sleep = fake_sleep;
    cfg.low_speed_limit = 100;
    cfg.low_speed_time = 1;
    return new_client(&cfg);
}

/* GET url, body as a number. */
static long get_number(sd_http_client *c, const char *u)
{
    sd_http_request q = { .method = "GET", .url = u, .idempotent = true };
    sd_http_response r;
    sd_error *e = sd_http_do(c, &q, &r);
    long v = -1;
    if (!e && r.status == 200 && sd_buf_append(&r.body, "", 1) == 0)
        v = strtol(r.body.data, NULL, 10);
    sd_error_free(e);
    sd_http_response_free(&r);
    return v;
}

static int t_echo_bytes(void)
{
    sd_http_client *c = client(10, 2);
    const char *hdrs[] = { "X-Test: hello", NULL };
    static const char body[] = "put me\0with a nul";
    sd_http_request q = { .method = "PUT", .url = url("/echo"), .headers = hdrs,
                          .body = body, .body_len = sizeof body, .idempotent = true };
    sd_http_response r;
    sd_error *e = sd_http_do(c, &q, &r);
    int ok = e == NULL && r.status == 200 && r.body.len == sizeof body &&
             memcmp(r.body.data, body, sizeof body) == 0;
    const char *m = sd_http_response_header(&r, "x-METHOD");
    const char *t = sd_http_response_header(&r, "X-Got-Test");
    ok = ok && m && strcmp(m, "PUT") == 0 && t && strcmp(t, "hello") == 0 && r.attempts == 1;
    if (!ok)
        fail("err=%s status=%ld len=%zu", e ? e->detail : "-", r.status, r.body.len);
    sd_error_free(e);
    sd_http_response_free(&r);
    sd_http_client_free(c);
    return ok;
}

/* A streamed request body: n bytes of a pattern, rewindable. */
typedef struct src {
    size_t n, off;
    int rewinds;
} src;

static sd_error *src_read(void *ud, void *buf, size_t cap, size_t *n)
{
    src *s = ud;
    size_t k = s->n - s->off < cap ? s->n - s->off : cap;
    for (size_t i = 0; i < k; i++)
        ((char *)buf)[i] = (char)('a' + (s->off + i) % 26);
    s->off += k;
    *n = k;
    return NULL;
}

static sd_error *src_rewind(void *ud)
{
    src *s = ud;
    s->off = 0;
    s->rewinds++;
    return NULL;
}

typedef struct sink {
    size_t n;
    int bad;
    int ended;  /* pull saw the end of the body */
} sink;

static sd_error *sink_write(void *ud, const void *data, size_t len)
{
    sink *k = ud;
    for (size_t i = 0; i < len; i++)
        if (((const char *)data)[i] != (char)('a' + (k->n + i) % 26))
            k->bad = 1;
    k->n += len;
    return NULL;
}

static int stream_case(int64_t declared)
{
    sd_http_client *c = client(10, 2);
    src s = { .n = 3 << 20 };
    sink k = { 0 };
    sd_http_request q = { .method = "PUT", .url = url("/echo"), .body_read = src_read,
                          .body_rewind = src_rewind, .body_ud = &s, .body_size = declared,
                          .idempotent = true, .on_data = sink_write, .data_ud = &k,
                          .max_body = 1024 /* not used: the body is streamed */ };
    sd_http_response r;
    sd_error *e = sd_http_do(c, &q, &r);
    int ok = !e && r.status == 200 && k.n == s.n && !k.bad && r.body.len == 0;
    if (!ok)
        fail("err=%s status=%ld got=%zu bad=%d", e ? e->detail : "-", r.status, k.n, k.bad);
    sd_error_free(e);
    sd_http_response_free(&r);
    sd_http_client_free(c);
    return ok;
}

static int t_stream_sized(void) { return stream_case(3 << 20); }
static int t_stream_chunked(void) { return stream_case(-1); }

static int t_retry_503(void)
{
    sd_http_client *c = client(100, 4);
    sd_http_request q = { .method = "GET", .url = url("/flaky?key=retry"), .idempotent = true };
    sd_http_response r;
    sd_error *e = sd_http_do(c, &q, &r);
    int ok = !e && r.status == 200 && r.attempts == 3 && nslept == 2 &&
             slept[0] >= 0 && slept[0] <= 100 && slept[1] >= 0 && slept[1] <= 200;
    if (!ok)
        fail("err=%s status=%ld attempts=%d slept=%d", e ? e->detail : "-", r.status,
             r.attempts, nslept);
    long hits = get_number(c, url("/count?key=retry"));
    if (ok && hits != 3)
        ok = fail("server saw %ld requests", hits);
    sd_error_free(e);
    sd_http_response_free(&r);
    sd_http_client_free(c);
    return ok;
}

static int t_no_retry_post(void)
{
    sd_http_client *c = client(100, 4);
    sd_http_request q = { .method = "POST", .url = url("/flaky?key=post"), .body = "x",
                          .body_len = 1, .idempotent = false };
    sd_http_response r;
    sd_error *e = sd_http_do(c, &q, &r);
    int ok = !e && r.status == 503 && r.attempts == 1 && nslept == 0;
    if (!ok)
        fail("err=%s status=%ld attempts=%d", e ? e->detail : "-", r.status, r.attempts);
    long hits = get_number(c, url("/count?key=post"));
    if (ok && hits != 1)
        ok = fail("server saw %ld requests", hits);
    if (ok) {
        /* The error answer's body is kept for the caller (service error codes). */
        ok = r.body.len > 0 && memmem(r.body.data, r.body.len, "SlowDown", 8) != NULL;
        if (!ok)
            fail("error body not kept");
    }
    sd_error_free(e);
    sd_http_response_free(&r);
    sd_http_client_free(c);
    return ok;
}

static int t_no_retry_unrewindable(void)
{
    sd_http_client *c = client(100, 4);
    src s = { .n = 10 };
    sd_http_request q = { .method = "PUT", .url = url("/flaky?key=norewind"),
                          .body_read = src_read, .body_ud = &s, .body_size = 10,
                          .idempotent = true };
    sd_http_response r;
    sd_error *e = sd_http_do(c, &q, &r);
    int ok = !e && r.status == 503 && r.attempts == 1;
    if (!ok)
        fail("err=%s status=%ld attempts=%d", e ? e->detail : "-", r.status, r.attempts);
    sd_error_free(e);
    sd_http_response_free(&r);
    sd_http_client_free(c);
    return ok;
}

static int t_retry_rewinds(void)
{
    sd_http_client *c = client(1, 4);
    src s = { .n = 1000 };
    sd_http_request q = { .method = "PUT", .url = url("/flaky?key=rewind"),
                          .body_read = src_read, .body_rewind = src_rewind, .body_ud = &s,
                          .body_size = 1000, .idempotent = true };
    sd_http_response r;
    sd_error *e = sd_http_do(c, &q, &r);
    int ok = !e && r.status == 200 && r.attempts == 3 && s.rewinds == 2;
    if (!ok)
        fail("err=%s status=%ld attempts=%d rewinds=%d", e ? e->detail : "-", r.status,
             r.attempts, s.rewinds);
    sd_error_free(e);
    sd_http_response_free(&r);
    sd_http_client_free(c);
    return ok;
}

static int t_throttle_429(void)
{
    sd_http_client *c = client(50, 3);
    sd_http_request q = { .method = "GET",
                          .url = url("/throttle?key=t429&X-Amz-Signature=deadbeefsecret"),
                          .idempotent = true };
    sd_http_response r;
    sd_error *e = sd_http_do(c, &q, &r);
    int ok = !e && r.status == 429 && r.attempts == 4 && nslept == 3;
    /* Full jitter under a doubling ceiling. */
    for (int i = 0; ok && i < 3; i++)
        if (slept[i] < 0 || slept[i] > 50L << i)
            ok = fail("pause %d was %ld ms", i, slept[i]);
    if (!ok && !why[0])
        fail("err=%s status=%ld attempts=%d slept=%d", e ? e->detail : "-", r.status,
             r.attempts, nslept);
    if (ok) {
        sd_error *se = sd_http_status_error(&q, &r);
        ok = se->kind == SD_ERR_DRIVER && se->status == 429 &&
             strstr(se->detail, "429") && !strstr(se->detail, "deadbeef") &&
             !strchr(se->detail, '?');
        if (!ok)
            fail("status error: %s (status %d)", se->detail, se->status);
        sd_error_free(se);
    }
    sd_error_free(e);
    sd_http_response_free(&r);
    sd_http_client_free(c);
    return ok;
}

static int t_drop(void)
{
    sd_http_client *c = client(1, 2);
    sd_http_request q = { .method = "GET", .url = url("/drop?sig=secretsig"), .idempotent = true };
    sd_http_response r;
    sd_error *e = sd_http_do(c, &q, &r);
    int ok = e && e->kind == SD_ERR_DRIVER && r.attempts == 3 && nslept == 2 &&
             !strstr(e->detail, "secretsig") && strstr(e->detail, "/drop");
    if (!ok)
        fail("err=%s attempts=%d", e ? e->detail : "-", r.attempts);
    sd_error_free(e);
    sd_http_response_free(&r);
    sd_http_client_free(c);
    return ok;
}

static int t_drop_streamed_not_retried(void)
{
    sd_http_client *c = client(1, 2);
    sink k = { 0 };
    k.n = 'a' - '0'; /* makes the pattern check irrelevant: only counts matter */
    sd_http_request q = { .method = "GET", .url = url("/drop"), .idempotent = true,
                          .on_data = sink_write, .data_ud = &k };
    sd_http_response r;
    sd_error *e = sd_http_do(c, &q, &r);
    /* Bytes already went to the consumer: a retry would repeat them. */
    int ok = e && r.attempts == 1;
    if (!ok)
        fail("err=%s attempts=%d", e ? e->detail : "-", r.attempts);
    sd_error_free(e);
    sd_http_response_free(&r);
    sd_http_client_free(c);
    return ok;
}

static int t_huge(void)
{
    sd_http_client *c = client(1, 2);
    sd_http_request q = { .method = "GET", .url = url("/huge"), .idempotent = true,
                          .max_body = 1 << 20 };
    sd_http_response r;
    sd_error *e = sd_http_do(c, &q, &r);
    int ok = e && strstr(e->detail, "response body larger than 1048576 bytes") &&
             r.attempts == 1;
    if (!ok)
        fail("err=%s attempts=%d", e ? e->detail : "-", r.attempts);
    sd_error_free(e);
    sd_http_response_free(&r);
    sd_http_client_free(c);
    return ok;
}

static int t_badstatus(void)
{
    sd_http_client *c = client(1, 2);
    sd_http_request q = { .method = "GET", .url = url("/badstatus"), .idempotent = true };
    sd_http_response r;
    sd_error *e = sd_http_do(c, &q, &r);
    int ok = e && e->kind == SD_ERR_DRIVER && strstr(e->detail, "/badstatus");
    if (!ok)
        fail("err=%s status=%ld", e ? e->detail : "-", r.status);
    sd_error_free(e);
    sd_http_response_free(&r);
    sd_http_client_free(c);
    return ok;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A stalled server ends the attempt at the low-speed limit; a safe request
 * is tried again (a server may stall once), then the error is reported. */
static int t_stall(void)
{
    sd_http_config cfg;
    sd_http_config_default(&cfg);
    cfg.sleep = fake_sleep;
    cfg.low_speed_limit = 100;
    cfg.low_speed_time = 1;
    cfg.max_retries = 1;
    sd_http_client *c = new_client(&cfg);
    sd_http_request q = { .method = "GET", .url = url("/stall"), .idempotent = true };
    sd_http_response r;
    double t0 = now_s();
    sd_error *e = sd_http_do(c, &q, &r);
    double dt = now_s() - t0;
    int ok = e && e->kind == SD_ERR_DRIVER && dt < 10 && r.attempts == 2 &&
             strstr(e->detail, "after 2 attempts") != NULL;
    if (!ok)
        fail("err=%s after %.1f s", e ? e->detail : "-", dt);
    sd_error_free(e);
    sd_http_response_free(&r);
    sd_http_client_free(c);
    return ok;
}

static int t_keepalive(void)
{
    sd_http_client *c = client(1, 2);
    long before = get_number(c, url("/conns"));
    for (int i = 0; i < 5; i++) {
        sd_http_request q = { .method = "PUT", .url = url("/echo"), .body = "abc",
                              .body_len = 3, .idempotent = true };
        sd_http_response r;
        sd_error *e = sd_http_do(c, &q, &r);
        int good = !e && r.status == 200;
        sd_error_free(e);
        sd_http_response_free(&r);
        if (!good)
            return fail("request %d failed", i);
    }
    long after = get_number(c, url("/conns"));
    sd_http_client_free(c);
    CHECK(before > 0 && after == before, "connections before %ld after %ld", before, after);
    return 1;
}

static int t_refused(void)
{
    sd_http_client *c = client(1, 3);
    sd_http_request q = { .method = "GET", .url = "http://user:pw@127.0.0.1:1/x?Signature=abc",
                          .idempotent = true };
    sd_http_response r;
    sd_error *e = sd_http_do(c, &q, &r);
    int ok = e && r.attempts == 4 && nslept == 3 && e->status == 0 &&
             !strstr(e->detail, "Signature") && !strstr(e->detail, "pw@") &&
             strstr(e->detail, "after 4 attempts");
    if (!ok)
        fail("err=%s attempts=%d", e ? e->detail : "-", r.attempts);
    sd_error_free(e);
    sd_http_response_free(&r);
    sd_http_client_free(c);
    return ok;
}

static char trace_all[65536];
static void trace_fn(void *ud, const char *line)
{
    (void)ud;
    strncat(trace_all, line, sizeof trace_all - strlen(trace_all) - 2);
    strcat(trace_all, "\n");
}

static int t_trace_redacts(void)
{
    sd_http_config cfg;
    sd_http_config_default(&cfg);
    cfg.trace = trace_fn;
    sd_http_client *c = NULL;
    sd_error *e = sd_http_client_new(&cfg, &c);
    if (e)
        return fail("client: %s", e->detail);
    const char *hdrs[] = { "Authorization: AWS4-HMAC-SHA256 Credential=AK/x, Signature=topsecret1",
                           "X-Amz-Security-Token: topsecret2", "X-Test: visible", NULL };
    sd_http_request q = { .method = "GET",
                          .url = url("/echo?X-Amz-Signature=topsecret3&a=1&sig=topsecret4"),
                          .headers = hdrs, .idempotent = true };
    sd_http_response r;
    trace_all[0] = '\0';
    e = sd_http_do(c, &q, &r);
    int ok = !e && r.status == 200;
    sd_error_free(e);
    sd_http_response_free(&r);
    sd_http_client_free(c);
    CHECK(ok, "request failed");
    CHECK(!strstr(trace_all, "topsecret"), "secret in trace:\n%s", trace_all);
    CHECK(strstr(trace_all, "> GET /echo?X-Amz-Signature=REDACTED&a=1&sig=REDACTED"),
          "request line missing:\n%s", trace_all);
    CHECK(strstr(trace_all, "X-Test: visible") && strstr(trace_all, "< HTTP/1.1 200"),
          "trace incomplete:\n%s", trace_all);
    return 1;
}

static int t_redact_unit(void)
{
    static const struct { const char *in, *out; } cases[] = {
        { "authorization: Bearer x", "authorization: REDACTED" },
        { "X-Auth-Token: t", "X-Auth-Token: REDACTED" },
        { "Location: https://h/p?a=1&Signature=s&b=2", "Location: https://h/p?a=1&Signature=REDACTED&b=2" },
        { "GET /p?sv=1&sig=abc%2B HTTP/1.1", "GET /p?sv=1&sig=REDACTED HTTP/1.1" },
        { "GET /p?design=1 HTTP/1.1", "GET /p?design=1 HTTP/1.1" },
        { "Host: example", "Host: example" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = sd_http_redact(cases[i].in, strlen(cases[i].in));
        int same = got && strcmp(got, cases[i].out) == 0;
        if (!same)
            fail("%s -> %s", cases[i].in, got ? got : "NULL");
        free(got);
        if (!same)
            return 0;
    }
    char *u = sd_http_safe_url("https://u:p@host:1/a/b?X-Amz-Signature=x#f");
    int ok = u && strcmp(u, "https://host:1/a/b") == 0;
    if (!ok)
        fail("safe_url gave %s", u ? u : "NULL");
    free(u);
    return ok;
}

/* ---- pulled response bodies (sd_http_stream_*) */

/* One scenario's streamed request: the stream, its answer, what was read
 * (k checks the pattern), the first error. */
typedef struct pulled {
    sd_http_client *c;
    sd_http_response r;
    sd_http_stream *s;
    sink k;
    sd_error *e;
    int opened;
} pulled;

static void pull_open(pulled *p, sd_http_client *c, const char *method, const char *path)
{
    memset(p, 0, sizeof *p);
    p->c = c;
    sd_http_request q = { .method = method, .url = url(path), .idempotent = true };
    p->e = sd_http_stream_open(c, &q, &p->r, &p->s);
    p->opened = p->e == NULL;
}

/* Reads in pieces of at most cap bytes until the end, an error, or at least
 * upto bytes in all. */
static void pull(pulled *p, size_t cap, size_t upto)
{
    char *buf = malloc(cap);
    if (!buf && !p->e)
        p->e = sd_err_driver("test: out of memory");
    while (!p->e && p->k.n < upto && !p->k.ended) {
        size_t n = 0;
        p->e = sd_http_stream_read(p->s, buf, cap, &n);
        if (n > cap)
            p->k.bad = 1;
        if (n == 0)
            p->k.ended = !p->e;
        else
            sink_write(&p->k, buf, n);
    }
    free(buf);
}

/* One more read after the end (n 0 again) or after an error (an error again). */
static int pull_again_same(pulled *p)
{
    char b[16];
    size_t n = 1;
    sd_error *e = sd_http_stream_read(p->s, b, sizeof b, &n);
    int same = p->e ? e != NULL : !e && n == 0;
    sd_error_free(e);
    return same;
}

/* Frees all but the client; returns ok. */
static int pull_close(pulled *p, int ok)
{
    sd_error_free(p->e);
    sd_http_stream_close(p->s);
    sd_http_response_free(&p->r);
    p->e = NULL;
    p->s = NULL;
    return ok;
}

static int pull_done(pulled *p, int ok)
{
    pull_close(p, ok);
    sd_http_client_free(p->c);
    return ok;
}

/* GETs path as a stream and reads it all in pieces of cap bytes. */
static int pull_all(const char *path, size_t cap, size_t want)
{
    pulled p;
    pull_open(&p, client(10, 2), "GET", path);
    pull(&p, cap, SIZE_MAX);
    /* The headers were there as soon as open returned. */
    const char *te = sd_http_response_header(&p.r, "transfer-encoding");
    const char *cl = sd_http_response_header(&p.r, "content-length");
    int ok = !p.e && p.r.status == 200 && p.r.attempts == 1 && p.r.body.len == 0 &&
             p.k.ended && !p.k.bad && p.k.n == want &&
             ((te && strcmp(te, "chunked") == 0) || (cl && strtoull(cl, NULL, 10) == want));
    if (!ok)
        fail("err=%s status=%ld got=%zu of %zu bad=%d end=%d length %s",
             p.e ? p.e->detail : "-", p.r.status, p.k.n, want, p.k.bad, p.k.ended,
             cl ? cl : te ? te : "unknown");
    else if (!pull_again_same(&p))
        ok = fail("a read after the end was not the end");
    return pull_done(&p, ok);
}

static int t_sread_small(void)
{
    return pull_all("/bytes?n=5242893", 1000, 5242893);
}

static int t_sread_big(void)
{
    return pull_all("/bytes?n=3145735", 8 << 20, 3145735) &&
           pull_all("/bytes?n=3145735&chunked=1", 8 << 20, 3145735) &&
           pull_all("/bytes?n=0", 4096, 0);
}

static long peak_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            v = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static int t_sread_bounded(void)
{
    /* Peak RSS from here on (Linux: "5" to clear_refs resets VmHWM). */
    FILE *f = fopen("/proc/self/clear_refs", "w");
    int reset = f && fputs("5", f) >= 0;
    if (f)
        reset = fclose(f) == 0 && reset;
    long before = peak_rss_kib();
    CHECK(reset && before > 0, "cannot reset the peak RSS");
    size_t want = (size_t)256 << 20;
    int ok = pull_all("/bytes?n=268435456", 4096, want);
    long grew = peak_rss_kib() - before;
    CHECK(ok, "%s", why);
    CHECK(grew < 32 << 10, "a %zu MiB body grew the peak RSS by %ld KiB", want >> 20, grew);
    return 1;
}

static int t_sread_404(void)
{
    pulled p;
    pull_open(&p, client(10, 2), "GET", "/nothing");
    pull(&p, 64, SIZE_MAX);
    sd_buf *b = &p.r.body;
    int ok = !p.e && p.r.status == 404 && p.r.attempts == 1 && p.k.ended && p.k.n == 0 &&
             b->len == 9 && memcmp(b->data, "not found", 9) == 0;
    if (!ok)
        fail("err=%s status=%ld got=%zu body=%.*s", p.e ? p.e->detail : "-", p.r.status,
             p.k.n, (int)b->len, b->data ? b->data : "");
    return pull_done(&p, ok);
}

/* Opens path, reads until an error; the bytes before it must be right, at
 * most most of them and at least least.  With least 0 the error may come
 * from open (a reset can discard the answer before curl sees it: then it is
 * retried like any dropped connection). */
static int pull_broken(const char *path, size_t least, size_t most)
{
    char where[64]; /* the error names the path, without the query */
    snprintf(where, sizeof where, "%.*s: ", (int)strcspn(path, "?"), path);
    pulled p;
    double t0 = now_s();
    pull_open(&p, client(10, 2), "GET", path);
    pull(&p, 65536, SIZE_MAX);
    double dt = now_s() - t0;
    sd_error *e = p.e;
    int ok = (p.opened || least == 0) && e && e->kind == SD_ERR_DRIVER &&
             strstr(e->detail, "GET http://") && strstr(e->detail, where) &&
             !strchr(e->detail, '?') && !p.k.bad && p.k.n >= least && p.k.n <= most &&
             dt < 10;
    if (!ok)
        fail("opened=%d err=%s got=%zu bad=%d end=%d after %.1f s", p.opened,
             e ? e->detail : "-", p.k.n, p.k.bad, p.k.ended, dt);
    else if (p.s && !pull_again_same(&p))
        ok = fail("a read after the error was no error");
    return pull_done(&p, ok);
}

static int t_sread_truncated(void)
{
    return pull_broken("/bytes?n=4194304&cut=3145728", 3145728, 3145728) &&
           pull_broken("/bytes?n=4194304&chunked=1&cut=3145728", 3145728, 3145728);
}

static int t_sread_reset(void)
{
    return pull_broken("/bytes?n=6291456&chunked=1&cut=3145728&reset=1", 0, 3145728);
}

static int t_sread_retry(void)
{
    pulled p;
    pull_open(&p, client(100, 4), "GET", "/flaky?key=stream");
    pull(&p, 64, SIZE_MAX);
    int ok = !p.e && p.r.status == 200 && p.r.attempts == 3 && nslept == 2 && p.k.ended &&
             p.k.n == 2 && p.r.body.len == 0;
    if (!ok)
        fail("err=%s status=%ld attempts=%d slept=%d got=%zu", p.e ? p.e->detail : "-",
             p.r.status, p.r.attempts, nslept, p.k.n);
    pull_close(&p, ok);
    long hits = get_number(p.c, url("/count?key=stream"));
    if (ok && hits != 3)
        ok = fail("server saw %ld requests", hits);
    return pull_done(&p, ok);
}

/* PUT /echo on c works. */
static int echo_works(sd_http_client *c)
{
    sd_http_request q = { .method = "PUT", .url = url("/echo"), .body = "abc", .body_len = 3,
                          .idempotent = true };
    sd_http_response r;
    sd_error *e = sd_http_do(c, &q, &r);
    int ok = !e && r.status == 200 && r.body.len == 3 && memcmp(r.body.data, "abc", 3) == 0;
    sd_error_free(e);
    sd_http_response_free(&r);
    return ok;
}

static int t_sread_close_early(void)
{
    sd_http_client *c = client(10, 2);
    long before = get_number(c, url("/conns"));
    pulled p;
    pull_open(&p, c, "GET", "/bytes?n=1073741824");
    pull(&p, 65536, 1 << 20);
    int ok = !p.e && p.r.status == 200 && p.k.n >= 1 << 20 && !p.k.bad;
    if (!ok)
        fail("err=%s status=%ld got=%zu", p.e ? p.e->detail : "-", p.r.status, p.k.n);
    /* The client belongs to the stream until it is closed. */
    if (ok && echo_works(c))
        ok = fail("sd_http_do worked on a client with an open stream");
    double t0 = now_s();
    pull_close(&p, ok);
    double dt = now_s() - t0;
    if (ok && dt > 2)
        ok = fail("closing took %.1f s", dt);
    if (ok && !echo_works(c))
        ok = fail("sd_http_do failed after the close");
    /* The stream reused the connection of /conns; closing it half-read
     * dropped it, so the PUT needed one more. */
    long after = get_number(c, url("/conns"));
    if (ok && (before <= 0 || after != before + 1))
        ok = fail("connections before %ld after %ld (want one more)", before, after);
    return pull_done(&p, ok);
}

static int t_sread_keepalive(void)
{
    sd_http_client *c = client(10, 2);
    long before = get_number(c, url("/conns"));
    pulled p;
    int ok = 1;
    for (int i = 0; ok && i < 3; i++) {
        pull_open(&p, c, "GET", "/bytes?n=1048576");
        pull(&p, 65536, SIZE_MAX);
        if (p.e || !p.k.ended || p.k.n != 1048576)
            ok = fail("stream %d: err=%s got=%zu", i, p.e ? p.e->detail : "-", p.k.n);
        pull_close(&p, ok);
    }
    long after = get_number(c, url("/conns"));
    if (ok && (before <= 0 || after != before))
        ok = fail("connections before %ld after %ld", before, after);
    return pull_done(&p, ok);
}

/* A body that stops after `sent` bytes: open returns on the headers (had it
 * waited for the body, it would have failed), then the low-speed limit ends
 * the read. */
static int stall_case(const char *path, size_t sent)
{
    pulled p;
    double t0 = now_s();
    pull_open(&p, slow_client(), "GET", path);
    pull(&p, 256, SIZE_MAX);
    double dt = now_s() - t0;
    sd_error *e = p.e;
    int ok = p.opened && e && e->kind == SD_ERR_DRIVER && strstr(e->detail, path) &&
             p.r.status == 200 && p.r.attempts == 1 && p.k.n == sent && dt < 10;
    if (!ok)
        fail("%s: opened=%d err=%s got=%zu after %.1f s", path, p.opened,
             e ? e->detail : "-", p.k.n, dt);
    return pull_done(&p, ok);
}

static int t_sread_stall(void)
{
    /* /stall's bytes are "12345": only the count matters. */
    return stall_case("/stallhead", 0) && stall_case("/stall", 5);
}

static int t_sread_pause_no_stall(void)
{
    /* The caller's pauses are no stall, however long, with the transfer
     * running (just opened) or paused (the pending bytes full). */
    pulled p;
    pull_open(&p, slow_client(), "GET", "/bytes?n=33554432");
    for (int i = 0; !p.e && i < 3; i++) {
        usleep(2500 * 1000);
        pull(&p, 1 + (size_t)i * 65536, p.k.n + 1);
    }
    pull(&p, 65536, SIZE_MAX);
    int ok = !p.e && p.k.ended && !p.k.bad && p.k.n == 33554432;
    if (!ok)
        fail("err=%s got=%zu bad=%d", p.e ? p.e->detail : "-", p.k.n, p.k.bad);
    return pull_done(&p, ok);
}

/* ---- the prefetcher (sd_prefetch) over ranged GETs of /bytes */

typedef struct pf_src {
    char url[1024];
    int64_t start;
    size_t window;
    int k;
    _Atomic(sd_prefetch *) pf;   /* set after sd_prefetch_new returns */
    atomic_llong consumed;       /* the reader's offset */
    atomic_llong fetched;        /* bytes the fetches received */
    atomic_int inflight, max_inflight, too_far, stopped;
} pf_src;

static void pf_src_init(pf_src *x, const char *path, int64_t start, size_t window, int k)
{
    memset(x, 0, sizeof *x);
    snprintf(x->url, sizeof x->url, "%s%s", base, path);
    x->start = start;
    x->window = window;
    x->k = k;
    atomic_init(&x->pf, NULL);
    atomic_init(&x->consumed, start);
    atomic_init(&x->fetched, 0);
    atomic_init(&x->inflight, 0);
    atomic_init(&x->max_inflight, 0);
    atomic_init(&x->too_far, 0);
    atomic_init(&x->stopped, 0);
}

/* One ranged GET, read piece by piece, giving up once the prefetcher stops. */
static sd_error *pf_fetch(void *ud, sd_http_client *c, int64_t off, size_t len, void *buf,
                          size_t *got)
{
    pf_src *x = ud;
    int now = atomic_fetch_add(&x->inflight, 1) + 1;
    int max = atomic_load(&x->max_inflight);
    while (now > max && !atomic_compare_exchange_weak(&x->max_inflight, &max, now))
        ;
    /* Never more than k windows ahead of the reader. */
    if (off >= atomic_load(&x->consumed) + (int64_t)x->k * (int64_t)x->window)
        atomic_fetch_add(&x->too_far, 1);
    char range[80];
    snprintf(range, sizeof range, "Range: bytes=%lld-%lld", (long long)off,
             (long long)(off + (int64_t)len - 1));
    const char *hdrs[] = { range, NULL };
    sd_http_request q = { .method = "GET", .url = x->url, .headers = hdrs, .idempotent = true };
    sd_http_response r;
    sd_http_stream *s = NULL;
    *got = 0;
    sd_error *e = sd_http_stream_open(c, &q, &r, &s);
    if (!e && r.status != 206)
        e = sd_http_status_error(&q, &r);
    sd_http_response_free(&r);
    while (!e && *got < len) {
        sd_prefetch *pf = atomic_load(&x->pf);
        if (pf && sd_prefetch_stopping(pf)) {
            atomic_fetch_add(&x->stopped, 1);
            e = sd_err_driver("stopped");
            break;
        }
        size_t n = 0;
        e = sd_http_stream_read(s, (char *)buf + *got, len - *got, &n);
        if (!e && n == 0)
            break;
        *got += n;
    }
    atomic_fetch_add(&x->fetched, (long long)*got);
    sd_http_stream_close(s);
    atomic_fetch_sub(&x->inflight, 1);
    return e;
}

static sd_http_pool *pf_pool(void)
{
    sd_http_config cfg;
    sd_http_config_default(&cfg);
    cfg.sleep = fake_sleep;
    cfg.max_retries = 0;
    cfg.connect_timeout_ms = 3000;
    sd_http_pool *p = NULL;
    sd_error *e = sd_http_pool_new(&cfg, &p);
    if (e) {
        fprintf(stderr, "pool: %s\n", e->detail);
        exit(2);
    }
    return p;
}

static sd_prefetch *pf_open(sd_http_pool *pool, pf_src *x, int64_t size)
{
    sd_prefetch *pf = NULL;
    sd_error *e = sd_prefetch_new(pool, x->start, size, x->window, x->k, pf_fetch, x, &pf);
    if (e) {
        fprintf(stderr, "prefetch: %s\n", e->detail);
        exit(2);
    }
    atomic_store(&x->pf, pf);
    return pf;
}

/* Reads with varied sizes until the end or an error; checks every byte.
 * *total: the bytes read; the error (or NULL at the end) is returned. */
static sd_error *pf_drain(sd_prefetch *pf, pf_src *x, int64_t *total, int *bad)
{
    static const size_t caps[] = { 1000, 65536, 7, 300000, 1 };
    static char buf[300000];
    int64_t pos = x->start;
    *bad = 0;
    for (size_t i = 0;; i++) {
        size_t n = 0;
        sd_error *e = sd_prefetch_read(pf, buf, caps[i % 5], &n);
        for (size_t j = 0; j < n; j++)
            if (buf[j] != 'a' + (pos + (int64_t)j) % 26)
                (*bad)++;
        pos += (int64_t)n;
        atomic_store(&x->consumed, pos);
        *total = pos - x->start;
        if (e || n == 0)
            return e;
    }
}

static int t_prefetch_exact(void)
{
    sd_http_pool *pool = pf_pool();
    int64_t size = (3 << 20) + 12345;
    pf_src x;
    pf_src_init(&x, "/bytes?n=3158073", 777, 100000, 4);
    sd_prefetch *pf = pf_open(pool, &x, size);
    int64_t total = 0;
    int bad = 0;
    sd_error *e = pf_drain(pf, &x, &total, &bad);
    size_t n = 1;
    char c;
    sd_error *e2 = e ? NULL : sd_prefetch_read(pf, &c, 1, &n);
    sd_prefetch_close(pf);
    sd_http_pool_free(pool);
    int ok = !e && !e2 && n == 0 && total == size - 777 && bad == 0 &&
             atomic_load(&x.too_far) == 0 && atomic_load(&x.max_inflight) > 1 &&
             atomic_load(&x.max_inflight) <= 4;
    if (!ok)
        fail("err=%s total=%lld of %lld bad=%d again=%zu too far=%d max in flight=%d",
             e ? e->detail : e2 ? e2->detail : "-", (long long)total, (long long)(size - 777),
             bad, n, atomic_load(&x.too_far), atomic_load(&x.max_inflight));
    sd_error_free(e);
    sd_error_free(e2);
    return ok;
}

static int t_prefetch_sticky(void)
{
    /* Bytes from 1050000 on never come: range 10 (1000000..1099999) breaks. */
    sd_http_pool *pool = pf_pool();
    pf_src x;
    pf_src_init(&x, "/bytes?n=2097152&cut=1050000", 0, 100000, 3);
    sd_prefetch *pf = pf_open(pool, &x, 2097152);
    int64_t total = 0;
    int bad = 0;
    sd_error *e = pf_drain(pf, &x, &total, &bad);
    char buf[64];
    size_t n1 = 1, n2 = 1;
    sd_error *e1 = sd_prefetch_read(pf, buf, sizeof buf, &n1);
    sd_error *e2 = sd_prefetch_read(pf, buf, sizeof buf, &n2);
    sd_prefetch_close(pf);
    sd_http_pool_free(pool);
    int ok = e && e1 && e2 && n1 == 0 && n2 == 0 && total == 1000000 && bad == 0 &&
             e1->kind == SD_ERR_DRIVER && strcmp(e->detail, e1->detail) == 0;
    if (!ok)
        fail("err=%s then %s, %s; total=%lld (want 1000000) bad=%d", e ? e->detail : "none",
             e1 ? e1->detail : "none", e2 ? e2->detail : "none", (long long)total, bad);
    sd_error_free(e);
    sd_error_free(e1);
    sd_error_free(e2);
    return ok;
}

static int t_prefetch_close_early(void)
{
    /* 32 MiB windows of a 512 MiB body: closing stops the fetches in flight
     * instead of waiting for their whole ranges. */
    sd_http_pool *pool = pf_pool();
    size_t win = (size_t)32 << 20;
    pf_src x;
    pf_src_init(&x, "/bytes?n=536870912", 0, win, 4);
    double t0 = now_s();
    sd_prefetch *pf = pf_open(pool, &x, 536870912);
    usleep(50000); /* the fetches are under way */
    sd_prefetch_close(pf);
    double closed = now_s() - t0;
    long long fetched = atomic_load(&x.fetched);
    int stopped = atomic_load(&x.stopped);
    /* Then a reader that reads a little and goes. */
    pf_src y;
    pf_src_init(&y, "/bytes?n=536870912", 5, win, 4);
    t0 = now_s();
    pf = pf_open(pool, &y, 536870912);
    char buf[1000];
    size_t n = 0;
    sd_error *e = sd_prefetch_read(pf, buf, sizeof buf, &n);
    sd_prefetch_close(pf);
    double closed2 = now_s() - t0;
    sd_http_pool_free(pool);
    int ok = closed < 5 && stopped > 0 && fetched < 4 * (long long)win && !e && n == 1000 &&
             buf[0] == 'a' + 5 % 26 && closed2 < 10 && atomic_load(&y.fetched) < 5 * (long long)win;
    if (!ok)
        fail("first close %.2f s (%d stopped, %lld bytes fetched); then read %zu (%s), close "
             "%.2f s, %lld bytes fetched",
             closed, stopped, fetched, n, e ? e->detail : "-", closed2,
             (long long)atomic_load(&y.fetched));
    sd_error_free(e);
    return ok;
}

/* ---- TLS (httpd.py --tls with a self-signed certificate) */

static const char *tls_base, *tls_ca, *tls_other_ca;

/* GET /echo (or PUT with a body) over TLS at host ("127.0.0.1" or another
 * name of it) with cfg; the error, if any, into *e. */
static int tls_echo(const sd_http_config *cfg, const char *host, sd_error **e,
                    sd_http_response *r)
{
    char u[1024];
    const char *port = strrchr(tls_base, ':');
    snprintf(u, sizeof u, "https://%s%s/echo?sig=tlssecret", host, port ? port : "");
    sd_http_client *c = new_client(cfg);
    const char *hdrs[] = { "X-Test: over tls", NULL };
    sd_http_request q = { .method = "PUT", .url = u, .headers = hdrs, .body = "sealed",
                          .body_len = 6, .idempotent = true };
    *e = sd_http_do(c, &q, r);
    sd_http_client_free(c);
    return *e == NULL && r->status == 200 && r->body.len == 6 &&
           memcmp(r->body.data, "sealed", 6) == 0;
}

static sd_http_config tls_config(void)
{
    sd_http_config cfg;
    sd_http_config_default(&cfg);
    cfg.sleep = fake_sleep;
    cfg.retry_base_ms = 1;
    cfg.max_retries = 2;
    return cfg;
}

/* The request fails, once (no retry), with a Driver error whose text holds
 * want (and not the query); ok. */
static int tls_refused(const sd_http_config *cfg, const char *host, const char *want)
{
    sd_error *e = NULL;
    sd_http_response r;
    int worked = tls_echo(cfg, host, &e, &r);
    int ok = !worked && e && e->kind == SD_ERR_DRIVER && e->status == 0 && r.attempts == 1 &&
             strcasestr(e->detail, want) && strstr(e->detail, "PUT https://") &&
             !strstr(e->detail, "tlssecret");
    if (!ok)
        fail("err=%s status=%ld attempts=%d (want an error naming \"%s\")",
             e ? e->detail : "-", r.status, r.attempts, want);
    sd_error_free(e);
    sd_http_response_free(&r);
    return ok;
}

static int tls_works(const sd_http_config *cfg)
{
    sd_error *e = NULL;
    sd_http_response r;
    int ok = tls_echo(cfg, "127.0.0.1", &e, &r);
    const char *t = sd_http_response_header(&r, "X-Got-Test");
    ok = ok && t && strcmp(t, "over tls") == 0;
    if (!ok)
        fail("err=%s status=%ld len=%zu", e ? e->detail : "-", r.status, r.body.len);
    sd_error_free(e);
    sd_http_response_free(&r);
    return ok;
}

static int t_tls_default(void)
{
    sd_http_config cfg = tls_config();
    return tls_refused(&cfg, "127.0.0.1", "certificate");
}

static int t_tls_skipverify(void)
{
    sd_http_config cfg = tls_config();
    cfg.skipverify = true;
    return tls_works(&cfg);
}

static int t_tls_ca_file(void)
{
    sd_http_config cfg = tls_config();
    /* The client keeps its own copy of the path. */
    char path[1024];
    snprintf(path, sizeof path, "%s", tls_ca);
    cfg.ca_file = path;
    sd_http_client *c = new_client(&cfg);
    memset(path, 0, sizeof path);
    char u[1024];
    snprintf(u, sizeof u, "%s/echo", tls_base);
    sd_http_request q = { .method = "PUT", .url = u, .body = "abc", .body_len = 3,
                          .idempotent = true };
    sd_http_response r;
    sd_error *e = sd_http_do(c, &q, &r);
    int ok = !e && r.status == 200 && r.body.len == 3;
    if (!ok)
        fail("with the path overwritten after sd_http_client_new: err=%s status=%ld",
             e ? e->detail : "-", r.status);
    sd_error_free(e);
    sd_http_response_free(&r);
    sd_http_client_free(c);
    cfg.ca_file = tls_ca;
    return ok && tls_works(&cfg);
}

static int t_tls_other_ca(void)
{
    sd_http_config cfg = tls_config();
    cfg.ca_file = tls_other_ca;
    return tls_refused(&cfg, "127.0.0.1", "certificate");
}

static int t_tls_hostname(void)
{
    /* The right CA, the wrong name: the certificate is for 127.0.0.1 only. */
    sd_http_config cfg = tls_config();
    cfg.ca_file = tls_ca;
    return tls_refused(&cfg, "localhost", "host name 'localhost'");
}

static int t_tls_ca_missing(void)
{
    sd_http_config cfg = tls_config();
    cfg.ca_file = "/nonexistent/storagedriver-ca.pem";
    return tls_refused(&cfg, "127.0.0.1", "/nonexistent/storagedriver-ca.pem");
}

static int t_tls_stream(void)
{
    sd_http_config cfg = tls_config();
    cfg.ca_file = tls_ca;
    pulled p;
    char u[1024];
    snprintf(u, sizeof u, "%s/bytes?n=3145735", tls_base);
    memset(&p, 0, sizeof p);
    p.c = new_client(&cfg);
    sd_http_request q = { .method = "GET", .url = u, .idempotent = true };
    p.e = sd_http_stream_open(p.c, &q, &p.r, &p.s);
    p.opened = p.e == NULL;
    pull(&p, 65536, SIZE_MAX);
    int ok = !p.e && p.r.status == 200 && p.k.ended && !p.k.bad && p.k.n == 3145735;
    if (!ok)
        fail("err=%s status=%ld got=%zu bad=%d", p.e ? p.e->detail : "-", p.r.status, p.k.n,
             p.k.bad);
    return pull_done(&p, ok);
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 5) {
        fprintf(stderr, "usage: %s http://127.0.0.1:PORT "
                        "[https://127.0.0.1:PORT CA_FILE OTHER_CA_FILE]\n", argv[0]);
        return 2;
    }
    base = argv[1];
    if (argc == 5) {
        tls_base = argv[2];
        tls_ca = argv[3];
        tls_other_ca = argv[4];
    }
    run("redact", t_redact_unit);
    run("echo bytes body, headers case-insensitive", t_echo_bytes);
    run("streamed request and response, known size", t_stream_sized);
    run("streamed request and response, chunked", t_stream_chunked);
    run("503 twice then 200 with backoff", t_retry_503);
    run("non-idempotent request not retried", t_no_retry_post);
    run("unrewindable body not retried", t_no_retry_unrewindable);
    run("retry rewinds the streamed body", t_retry_rewinds);
    run("429 retried then reported, no query in error", t_throttle_429);
    run("connection dropped mid-body", t_drop);
    run("dropped streamed body not retried", t_drop_streamed_not_retried);
    run("huge body capped", t_huge);
    run("malformed status line", t_badstatus);
    run("stall hits low-speed timeout", t_stall);
    run("keep-alive reuses the connection", t_keepalive);
    run("connection refused, retried, no secret", t_refused);
    run("trace redacts secrets", t_trace_redacts);
    run("stream: 5 MiB read in 1000-byte pieces, byte-exact", t_sread_small);
    run("stream: bodies read with an 8 MiB buffer", t_sread_big);
    run("stream: 256 MiB in 4 KiB pieces in bounded memory", t_sread_bounded);
    run("stream: 404 body in resp->body, then the end", t_sread_404);
    run("stream: body shorter than Content-Length is an error", t_sread_truncated);
    run("stream: connection reset mid-body is an error", t_sread_reset);
    run("stream: 503 twice then 200, retried before data", t_sread_retry);
    run("stream: closed half-read, the client works on", t_sread_close_early);
    run("stream: read to the end, the connection is reused", t_sread_keepalive);
    run("stream: stalled body hits the low-speed timeout", t_sread_stall);
    run("stream: the caller's pauses are no stall", t_sread_pause_no_stall);
    run("prefetch: ranges read in order over many windows, byte-exact", t_prefetch_exact);
    run("prefetch: a range that fails fails every later read", t_prefetch_sticky);
    run("prefetch: close stops the fetches in flight, never hangs", t_prefetch_close_early);
    if (tls_base) {
        run("tls: verification on by default: a self-signed certificate is refused",
            t_tls_default);
        run("tls: skipverify accepts it", t_tls_skipverify);
        run("tls: ca_file naming it makes it verify (the path is copied)", t_tls_ca_file);
        run("tls: ca_file naming another certificate refuses it", t_tls_other_ca);
        run("tls: the right CA but another host name is refused", t_tls_hostname);
        run("tls: a ca_file that does not exist is an error, not a fallback", t_tls_ca_missing);
        run("tls: a pulled body over HTTPS, byte-exact", t_tls_stream);
    }
    printf("http: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
