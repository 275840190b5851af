/* runtime/http against spec/support/httpd.py: http_test BASE_URL
 * Prints "ok <case>" or "FAILED <case>: why" per case and a summary line
 * "http: N passed, M failed"; exits 1 when anything failed. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../runtime/http/http.h"

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

static sd_http_client *client(long base_ms, int retries)
{
    sd_http_config cfg;
    sd_http_config_default(&cfg);
    cfg.sleep = fake_sleep;
    cfg.retry_base_ms = base_ms;
    cfg.max_retries = retries;
    cfg.connect_timeout_ms = 3000;
    sd_http_client *c = NULL;
    sd_error *e = sd_http_client_new(&cfg, &c);
    if (e) {
        fprintf(stderr, "client: %s\n", e->detail);
        exit(2);
    }
    nslept = 0;
    return c;
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

static int t_stall(void)
{
    sd_http_config cfg;
    sd_http_config_default(&cfg);
    cfg.sleep = fake_sleep;
    cfg.low_speed_limit = 100;
    cfg.low_speed_time = 1;
    sd_http_client *c = NULL;
    sd_error *e = sd_http_client_new(&cfg, &c);
    if (e)
        return fail("client: %s", e->detail);
    sd_http_request q = { .method = "GET", .url = url("/stall"), .idempotent = true };
    sd_http_response r;
    double t0 = now_s();
    e = sd_http_do(c, &q, &r);
    double dt = now_s() - t0;
    int ok = e && e->kind == SD_ERR_DRIVER && dt < 10 && r.attempts == 1;
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

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s http://127.0.0.1:PORT\n", argv[0]);
        return 2;
    }
    base = argv[1];
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
    printf("http: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
