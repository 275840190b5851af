/* Checks runtime/sign/sigv4.c against AWS's official Signature V4 vectors.
 *
 *   build/sigv4_vectors PATH...
 *
 * Each PATH is a directory (walked recursively) or a JSON file.  Recognised:
 *   - a directory holding context.json + request.txt: a case of
 *     aws-signing-test-suite/v4 (header AND query variants checked);
 *   - a directory D holding D.req: a case of the classic aws-sig-v4-test-suite
 *     (context fixed by the suite: AKIDEXAMPLE, us-east-1, service,
 *     20150830T123600Z, normalised, double-encoded paths);
 *   - a JSON file with "cases": the S3 documentation examples, one case each;
 *   - a JSON file with "seed_request": the S3 chunked upload example, one case.
 * Prints "ok <case>" or "FAILED <case>: <what differs>" per case, then
 * "sigv4 vectors: N passed, M failed".  Exit status 0 only when all passed
 * and at least one case was found.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "../runtime/sign/sigv4.h"

static int passed, failed;

/* ------------------------------------------------------------- utilities */

typedef struct text {
    char *data;
    size_t len;
} text;

static int read_file(const char *path, text *t)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 4096, len = 0;
    char *d = malloc(cap + 1);
    size_t n;
    while (d && (n = fread(d + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            char *nd = realloc(d, 2 * cap + 1);
            if (!nd) {
                free(d);
                d = NULL;
                break;
            }
            d = nd;
            cap *= 2;
        }
    }
    fclose(f);
    if (!d)
        return -1;
    d[len] = '\0';
    t->data = d;
    t->len = len;
    return 0;
}

static char *path2(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static char *read_in(const char *dir, const char *name)
{
    char *p = path2(dir, name);
    text t = {0};
    int rc = p ? read_file(p, &t) : -1;
    free(p);
    return rc == 0 ? t.data : NULL;
}

static int file_exists(const char *dir, const char *name)
{
    char *p = path2(dir, name);
    struct stat st;
    int ok = p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
    free(p);
    return ok;
}

/* Strips trailing whitespace in place (for one-line files like signatures). */
static char *rstrip(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        s[--n] = '\0';
    return s;
}

/* One case's failure messages, joined with "; ". */
typedef struct report {
    char msg[2048];
    size_t len;
} report;

static void failf(report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failf(report *r, const char *fmt, ...)
{
    if (r->len >= sizeof r->msg - 1)
        return;
    if (r->len) {
        int n = snprintf(r->msg + r->len, sizeof r->msg - r->len, "; ");
        r->len += n > 0 ? (size_t)n : 0;
        if (r->len >= sizeof r->msg)
            r->len = sizeof r->msg - 1;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->msg + r->len, sizeof r->msg - r->len, fmt, ap);
    va_end(ap);
    r->len += n > 0 ? (size_t)n : 0;
    if (r->len >= sizeof r->msg)
        r->len = sizeof r->msg - 1;
}

/* Compares two multi-line texts; on a difference, reports the first line
 * that differs (both versions, cut short). */
static void compare(report *r, const char *what, const char *got, const char *want)
{
    if (!got) {
        failf(r, "%s: none produced", what);
        return;
    }
    if (!want) {
        failf(r, "%s: expected file missing", what);
        return;
    }
    if (strcmp(got, want) == 0)
        return;
    int line = 1;
    const char *g = got, *w = want;
    while (*g && *g == *w) {
        if (*g == '\n') {
            line++;
            got = g + 1;
            want = w + 1;
        }
        g++;
        w++;
    }
    int gl = (int)strcspn(got, "\n"), wl = (int)strcspn(want, "\n");
    failf(r, "%s differs at line %d: got \"%.*s\", want \"%.*s\"", what, line,
          gl > 200 ? 200 : gl, got, wl > 200 ? 200 : wl, want);
}

static void finish(const char *name, report *r, const char *note)
{
    if (r->len) {
        printf("FAILED %s: %s\n", name, r->msg);
        failed++;
    } else {
        printf("ok %s%s\n", name, note ? note : "");
        passed++;
    }
}

/* --------------------------------------------------- raw HTTP request files */

typedef struct header_set {
    sd_sigv4_header *v;
    char **own; /* the strings behind v */
    size_t n, nown;
} header_set;

static void header_set_free(header_set *h)
{
    for (size_t i = 0; i < h->nown; i++)
        free(h->own[i]);
    free(h->own);
    free(h->v);
    memset(h, 0, sizeof *h);
}

static char *hs_keep(header_set *h, char *s)
{
    char **o = realloc(h->own, (h->nown + 1) * sizeof *o);
    if (!o || !s) {
        free(s);
        if (o)
            h->own = o;
        return NULL;
    }
    h->own = o;
    h->own[h->nown++] = s;
    return s;
}

static int hs_add(header_set *h, const char *name, size_t nlen, const char *value, size_t vlen)
{
    sd_sigv4_header *v = realloc(h->v, (h->n + 1) * sizeof *v);
    if (!v)
        return -1;
    h->v = v;
    char *n = hs_keep(h, strndup(name, nlen));
    char *val = hs_keep(h, strndup(value, vlen));
    if (!n || !val)
        return -1;
    h->v[h->n++] = (sd_sigv4_header){n, val};
    return 0;
}

typedef struct http_req {
    char *method, *path, *query; /* query NULL when none */
    header_set h;
    char *body;
    size_t body_len;
} http_req;

static void http_req_free(http_req *r)
{
    free(r->method);
    free(r->path);
    free(r->query);
    header_set_free(&r->h);
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* Parses "METHOD target HTTP/1.1\nName:value\n  folded\n...\n\nbody".  The
 * target may hold spaces (the suites' raw paths); the version is the last
 * word.  A line starting with SP/HT continues the previous header's value
 * (kept as "\n" + the line: the signer collapses the whitespace). */
static int parse_http(const char *s, http_req *r)
{
    memset(r, 0, sizeof *r);
    const char *eol = strchr(s, '\n');
    size_t llen = eol ? (size_t)(eol - s) : strlen(s);
    const char *sp = memchr(s, ' ', llen);
    const char *last = NULL;
    for (const char *p = s; p < s + llen; p++)
        if (*p == ' ')
            last = p;
    if (!sp || last == sp)
        return -1;
    r->method = strndup(s, (size_t)(sp - s));
    const char *target = sp + 1;
    size_t tlen = (size_t)(last - target);
    const char *q = memchr(target, '?', tlen);
    r->path = strndup(target, q ? (size_t)(q - target) : tlen);
    if (q)
        r->query = strndup(q + 1, (size_t)(target + tlen - q - 1));
    if (!r->method || !r->path || (q && !r->query))
        return -1;
    const char *p = eol ? eol + 1 : s + llen;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0) { /* blank line: the body follows */
            p = e + 1;
            r->body_len = strlen(p);
            r->body = strndup(p, r->body_len);
            return r->body ? 0 : -1;
        }
        if (*p == ' ' || *p == '\t') {
            if (r->h.n == 0)
                return -1;
            sd_sigv4_header *last_h = &r->h.v[r->h.n - 1];
            size_t ol = strlen(last_h->value);
            char *nv = malloc(ol + 1 + len + 1);
            if (!nv)
                return -1;
            memcpy(nv, last_h->value, ol);
            nv[ol] = '\n';
            memcpy(nv + ol + 1, p, len);
            nv[ol + 1 + len] = '\0';
            if (!hs_keep(&r->h, nv))
                return -1;
            last_h->value = nv;
        } else {
            const char *colon = memchr(p, ':', len);
            if (!colon)
                return -1;
            if (hs_add(&r->h, p, (size_t)(colon - p), colon + 1, len - (size_t)(colon - p) - 1))
                return -1;
        }
        p = e ? e + 1 : p + len;
    }
    return 0;
}

static const char *find_header(const http_req *r, const char *name)
{
    for (size_t i = 0; i < r->h.n; i++)
        if (strcasecmp(r->h.v[i].name, name) == 0)
            return r->h.v[i].value;
    return NULL;
}

/* Sorted copy of a query's '&'-separated parameters, for order-free
 * comparison. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* %-decodes s in place (the signed requests keep raw UTF-8 parameters where
 * we encode them). */
static void pct_decode(char *s)
{
    char *w = s;
    for (char *p = s; *p; p++) {
        unsigned hi, lo;
        if (p[0] == '%' && p[1] && p[2] && sscanf(p + 1, "%1x%1x", &hi, &lo) == 2) {
            *w++ = (char)(hi << 4 | lo);
            p += 2;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
}

static int same_params(const char *a, const char *b)
{
    char *sa = strdup(a), *sb = strdup(b);
    char *va[256], *vb[256];
    size_t na = 0, nb = 0;
    int same = 0;
    if (!sa || !sb)
        goto out;
    for (char *save = NULL, *t = strtok_r(sa, "&", &save); t && na < 256;
         t = strtok_r(NULL, "&", &save))
        va[na++] = t;
    for (char *save = NULL, *t = strtok_r(sb, "&", &save); t && nb < 256;
         t = strtok_r(NULL, "&", &save))
        vb[nb++] = t;
    if (na != nb)
        goto out;
    for (size_t i = 0; i < na; i++) {
        pct_decode(va[i]);
        pct_decode(vb[i]);
    }
    qsort(va, na, sizeof *va, cmp_str);
    qsort(vb, nb, sizeof *vb, cmp_str);
    same = 1;
    for (size_t i = 0; i < na; i++)
        if (strcmp(va[i], vb[i]) != 0)
            same = 0;
out:
    free(sa);
    free(sb);
    return same;
}

static void report_err(report *r, const char *what, sd_error *e)
{
    size_t n;
    char *s = sd_error_string(e, &n);
    failf(r, "%s: error %s", what, s ? s : "(no message)");
    free(s);
    sd_error_free(e);
}

/* -------------------------------------------- aws-signing-test-suite/v4 */

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void run_v4(const char *dir, const char *name)
{
    report r = {0};
    char *ctx_text = read_in(dir, "context.json");
    char *req_text = read_in(dir, "request.txt");
    json_error_t jerr;
    json_t *ctx = ctx_text ? json_loads(ctx_text, 0, &jerr) : NULL;
    http_req req = {0};
    char time[17] = {0};
    if (!ctx || !req_text || parse_http(req_text, &req) != 0) {
        failf(&r, "cannot read context.json or request.txt");
        goto out;
    }
    json_t *cred = json_object_get(ctx, "credentials");
    const char *ts = jstr(ctx, "timestamp");
    /* "2015-08-30T12:36:00Z" -> "20150830T123600Z" */
    size_t k = 0;
    for (const char *p = ts ? ts : ""; *p && k < 16; p++)
        if (*p != '-' && *p != ':')
            time[k++] = *p;
    sd_sigv4_config cfg = {
        .access_key = jstr(cred, "access_key_id"),
        .secret_key = jstr(cred, "secret_access_key"),
        .session_token = jstr(cred, "token"),
        .region = jstr(ctx, "region"),
        .service = jstr(ctx, "service"),
        .time = time,
    };
    if (json_is_true(json_object_get(ctx, "normalize")))
        cfg.flags |= SD_SIGV4_NORMALIZE_PATH;
    /* Every service but S3 double-encodes; the suite's service is "service". */
    if (!cfg.service || strcmp(cfg.service, "s3") != 0)
        cfg.flags |= SD_SIGV4_DOUBLE_ENCODE;
    if (json_is_true(json_object_get(ctx, "omit_session_token")))
        cfg.flags |= SD_SIGV4_OMIT_SESSION_TOKEN;
    int sign_body = json_is_true(json_object_get(ctx, "sign_body"));
    json_int_t expires = json_integer_value(json_object_get(ctx, "expiration_in_seconds"));

    sd_sigv4_request sr = {
        .method = req.method,
        .path = req.path,
        .query = req.query,
        .headers = req.h.v,
        .nheaders = req.h.n,
        .payload = req.body,
        .payload_len = req.body_len,
    };

    /* Header variant. */
    sd_sigv4_result res;
    sd_sigv4_config hcfg = cfg;
    if (sign_body)
        hcfg.flags |= SD_SIGV4_CONTENT_SHA256_HEADER;
    sd_error *e = sd_sigv4_sign_headers(&sr, &hcfg, &res);
    if (e) {
        report_err(&r, "header signing", e);
    } else {
        char *creq = read_in(dir, "header-canonical-request.txt");
        char *sts = read_in(dir, "header-string-to-sign.txt");
        char *sig = read_in(dir, "header-signature.txt");
        char *sreq_text = read_in(dir, "header-signed-request.txt");
        compare(&r, "header canonical request", res.canonical_request, creq);
        compare(&r, "header string to sign", res.string_to_sign, sts);
        compare(&r, "header signature", res.signature, sig ? rstrip(sig) : NULL);
        http_req sreq;
        if (!sreq_text || parse_http(sreq_text, &sreq) != 0) {
            failf(&r, "cannot parse header-signed-request.txt");
        } else {
            compare(&r, "Authorization", res.authorization, find_header(&sreq, "Authorization"));
            /* Every header we add is in the signed request, and the signed
             * request has no header we neither got nor added. */
            for (size_t i = 0; i < res.nadd_headers; i++) {
                const char *v = find_header(&sreq, res.add_headers[i].name);
                if (!v || strcmp(v, res.add_headers[i].value) != 0)
                    failf(&r, "added header %s not in the signed request",
                          res.add_headers[i].name);
            }
            for (size_t i = 0; i < sreq.h.n; i++) {
                const char *n = sreq.h.v[i].name;
                int known = strcasecmp(n, "Authorization") == 0 || find_header(&req, n);
                for (size_t j = 0; j < res.nadd_headers && !known; j++)
                    known = strcasecmp(n, res.add_headers[j].name) == 0;
                if (!known)
                    failf(&r, "the signed request has header %s that we did not add", n);
            }
            http_req_free(&sreq);
        }
        free(creq);
        free(sts);
        free(sig);
        free(sreq_text);
        sd_sigv4_result_free(&res);
    }

    /* Query (presigned) variant. */
    e = sd_sigv4_presign(&sr, &cfg, (int64_t)expires, &res);
    if (e) {
        report_err(&r, "presigning", e);
    } else {
        char *creq = read_in(dir, "query-canonical-request.txt");
        char *sts = read_in(dir, "query-string-to-sign.txt");
        char *sig = read_in(dir, "query-signature.txt");
        char *sreq_text = read_in(dir, "query-signed-request.txt");
        compare(&r, "query canonical request", res.canonical_request, creq);
        compare(&r, "query string to sign", res.string_to_sign, sts);
        compare(&r, "query signature", res.signature, sig ? rstrip(sig) : NULL);
        http_req sreq;
        if (!sreq_text || parse_http(sreq_text, &sreq) != 0) {
            failf(&r, "cannot parse query-signed-request.txt");
        } else {
            if (!sreq.query || !same_params(res.query, sreq.query))
                failf(&r, "presigned query \"%.300s\" has not the parameters of \"%.300s\"",
                      res.query, sreq.query ? sreq.query : "");
            if (strstr(res.query, "X-Amz-Signature=") == NULL ||
                strcmp(strstr(res.query, "X-Amz-Signature=") + 16, res.signature) != 0) {
                /* The signature comes last unless an unsigned token follows. */
                if (!(cfg.flags & SD_SIGV4_OMIT_SESSION_TOKEN))
                    failf(&r, "X-Amz-Signature is not the last query parameter");
            }
            http_req_free(&sreq);
        }
        free(creq);
        free(sts);
        free(sig);
        free(sreq_text);
        sd_sigv4_result_free(&res);
    }
out:
    finish(name, &r, NULL);
    http_req_free(&req);
    json_decref(ctx);
    free(ctx_text);
    free(req_text);
}

/* ------------------------------------------------- aws-sig-v4-test-suite */

/* The classic suite's fixed context (its README and aws-c-auth's harness). */
#define CLASSIC_AK "AKIDEXAMPLE"
#define CLASSIC_SK "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define CLASSIC_TOKEN_VANILLA "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"

/* The session token of post-sts-token/: the last line of its readme.txt. */
static char *sts_readme_token(const char *casedir)
{
    char *parent = path2(casedir, "..");
    char *t = parent ? read_in(parent, "readme.txt") : NULL;
    free(parent);
    if (!t)
        return NULL;
    rstrip(t);
    char *nl = strrchr(t, '\n');
    char *tok = strdup(nl ? nl + 1 : t);
    free(t);
    return tok;
}

static void run_classic(const char *dir, const char *name, const char *base)
{
    report r = {0};
    const char *note = NULL;
    char fn[512];
    snprintf(fn, sizeof fn, "%s.req", base);
    char *req_text = read_in(dir, fn);
    snprintf(fn, sizeof fn, "%s.creq", base);
    char *creq = read_in(dir, fn);
    snprintf(fn, sizeof fn, "%s.sts", base);
    char *sts = read_in(dir, fn);
    snprintf(fn, sizeof fn, "%s.authz", base);
    char *authz = read_in(dir, fn);
    char *token = NULL;
    http_req req = {0};
    if (!req_text || parse_http(req_text, &req) != 0) {
        failf(&r, "cannot parse %s.req", base);
        goto out;
    }
    sd_sigv4_config cfg = {
        .access_key = CLASSIC_AK,
        .secret_key = CLASSIC_SK,
        .region = "us-east-1",
        .service = "service",
        .time = "20150830T123600Z",
        .flags = SD_SIGV4_FLAGS_SERVICE,
    };
    if (strcmp(base, "get-vanilla-with-session-token") == 0) {
        cfg.session_token = CLASSIC_TOKEN_VANILLA;
    } else if (strcmp(base, "post-sts-header-after") == 0 ||
               strcmp(base, "post-sts-header-before") == 0) {
        token = sts_readme_token(dir);
        if (!token) {
            failf(&r, "cannot read the token from post-sts-token/readme.txt");
            goto out;
        }
        cfg.session_token = token;
        if (strcmp(base, "post-sts-header-after") == 0)
            cfg.flags |= SD_SIGV4_OMIT_SESSION_TOKEN;
    }
    sd_sigv4_request sr = {
        .method = req.method,
        .path = req.path,
        .query = req.query,
        .headers = req.h.v,
        .nheaders = req.h.n,
        .payload = req.body,
        .payload_len = req.body_len,
    };
    sd_sigv4_result res;
    sd_error *e = sd_sigv4_sign_headers(&sr, &cfg, &res);
    if (e) {
        report_err(&r, "signing", e);
        goto out;
    }
    compare(&r, "canonical request", res.canonical_request, creq);
    /* Upstream defect (vectors README): these two .sts/.authz were computed
     * from a different request than their .req/.creq. */
    if (strcmp(base, "post-x-www-form-urlencoded") == 0 ||
        strcmp(base, "post-x-www-form-urlencoded-parameters") == 0) {
        note = " (canonical request only: upstream .sts/.authz defect)";
    } else {
        compare(&r, "string to sign", res.string_to_sign, sts);
        compare(&r, "Authorization", res.authorization, authz ? rstrip(authz) : NULL);
    }
    if (token && res.nadd_headers == 0 && (cfg.flags & SD_SIGV4_OMIT_SESSION_TOKEN))
        failf(&r, "the unsigned session token was not returned as a header to add");
    sd_sigv4_result_free(&res);
out:
    finish(name, &r, note);
    http_req_free(&req);
    free(req_text);
    free(creq);
    free(sts);
    free(authz);
    free(token);
}

/* --------------------------------------------------------- S3 doc examples */

static void headers_from_json(json_t *obj, header_set *h)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        if (json_is_string(v))
            hs_add(h, k, strlen(k), json_string_value(v), strlen(json_string_value(v)));
    }
}

/* The S3 docs print "a,b" where we print "a, b". */
static char *no_comma_space(const char *s)
{
    char *o = strdup(s ? s : ""), *w = o;
    if (!o)
        return NULL;
    for (const char *p = s ? s : ""; *p; p++) {
        *w++ = *p;
        if (*p == ',' && p[1] == ' ')
            p++;
    }
    *w = '\0';
    return o;
}

/* Line n (0-based) of s, malloc'd. */
static char *line_of(const char *s, int n)
{
    for (; n > 0 && s; n--) {
        s = strchr(s, '\n');
        if (s)
            s++;
    }
    return s ? strndup(s, strcspn(s, "\n")) : NULL;
}

static void run_s3_docs(const char *file, json_t *root)
{
    json_t *cred = json_object_get(root, "credentials");
    json_t *scope = json_object_get(root, "scope");
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(root, "cases"), i, c)
    {
        report r = {0};
        char name[512];
        snprintf(name, sizeof name, "%s/%s", file, jstr(c, "name") ? jstr(c, "name") : "?");
        json_t *rq = json_object_get(c, "request");
        json_t *ex = json_object_get(c, "expected");
        const char *kind = jstr(c, "kind");
        header_set h = {0};
        char time[17];
        /* The examples all sign at midnight of the scope date. */
        snprintf(time, sizeof time, "%.8sT000000Z", jstr(scope, "date") ? jstr(scope, "date") : "");
        sd_sigv4_config cfg = {
            .access_key = jstr(cred, "access_key_id"),
            .secret_key = jstr(cred, "secret_access_key"),
            .region = jstr(scope, "region"),
            .service = jstr(scope, "service"),
            .time = time,
            .flags = 0, /* S3: no normalisation, single encoding */
        };
        sd_sigv4_request sr = {
            .method = jstr(rq, "method"),
            .path = jstr(rq, "path"),
            .query = jstr(rq, "query"),
        };
        sd_sigv4_result res;
        sd_error *e;
        if (kind && strcmp(kind, "authorization_header") == 0) {
            headers_from_json(json_object_get(rq, "headers"), &h);
            sr.headers = h.v;
            sr.nheaders = h.n;
            const char *body = jstr(rq, "body_utf8");
            if (body) {
                sr.payload = body;
                sr.payload_len = strlen(body);
            } else {
                sr.payload_hash = jstr(rq, "payload_sha256");
            }
            e = sd_sigv4_sign_headers(&sr, &cfg, &res);
        } else if (kind && strcmp(kind, "presigned_query") == 0) {
            const char *host = jstr(rq, "host");
            hs_add(&h, "Host", 4, host ? host : "", host ? strlen(host) : 0);
            sr.headers = h.v;
            sr.nheaders = h.n;
            sr.payload_hash = jstr(rq, "payload_hash_literal");
            e = sd_sigv4_presign(&sr, &cfg,
                                 (int64_t)json_integer_value(json_object_get(rq, "expires_seconds")),
                                 &res);
        } else {
            failf(&r, "unknown kind %s", kind ? kind : "(none)");
            finish(name, &r, NULL);
            continue;
        }
        if (e) {
            report_err(&r, "signing", e);
        } else {
            compare(&r, "canonical request", res.canonical_request, jstr(ex, "canonical_request"));
            compare(&r, "string to sign", res.string_to_sign, jstr(ex, "string_to_sign"));
            compare(&r, "signature", res.signature, jstr(ex, "signature"));
            if (jstr(ex, "canonical_uri")) {
                char *l = line_of(res.canonical_request, 1);
                compare(&r, "canonical URI", l, jstr(ex, "canonical_uri"));
                free(l);
            }
            if (jstr(ex, "canonical_query_string")) {
                char *l = line_of(res.canonical_request, 2);
                compare(&r, "canonical query", l, jstr(ex, "canonical_query_string"));
                free(l);
            }
            if (jstr(ex, "authorization")) {
                char *a = no_comma_space(res.authorization);
                compare(&r, "Authorization (commas without spaces)", a, jstr(ex, "authorization"));
                free(a);
            }
            if (jstr(ex, "url")) {
                char *p = sd_sigv4_canonical_path(sr.path, cfg.flags);
                size_t n = strlen(jstr(rq, "host")) + strlen(p ? p : "") + strlen(res.query) + 16;
                char *url = malloc(n);
                if (url)
                    snprintf(url, n, "https://%s%s?%s", jstr(rq, "host"), p ? p : "", res.query);
                compare(&r, "presigned URL", url, jstr(ex, "url"));
                free(url);
                free(p);
            }
            if (jstr(rq, "signed_headers"))
                compare(&r, "signed headers", res.signed_headers, jstr(rq, "signed_headers"));
            sd_sigv4_result_free(&res);
        }
        header_set_free(&h);
        finish(name, &r, NULL);
    }
}

/* ------------------------------------------------------- chunked example */

static void run_chunked(const char *file, json_t *root)
{
    report r = {0};
    json_t *cred = json_object_get(root, "credentials");
    json_t *scope = json_object_get(root, "scope");
    json_t *seed = json_object_get(root, "seed_request");
    header_set h = {0};
    headers_from_json(json_object_get(seed, "headers"), &h);
    sd_sigv4_config cfg = {
        .access_key = jstr(cred, "access_key_id"),
        .secret_key = jstr(cred, "secret_access_key"),
        .region = jstr(scope, "region"),
        .service = jstr(scope, "service"),
        .time = jstr(seed, "x_amz_date"),
        .flags = 0,
    };
    sd_sigv4_request sr = {
        .method = jstr(seed, "method"),
        .path = jstr(seed, "path"),
        .headers = h.v,
        .nheaders = h.n,
        .payload_hash = SD_SIGV4_STREAMING_PAYLOAD,
    };
    sd_sigv4_result res;
    sd_sigv4_chunk_signer cs;
    sd_error *e = sd_sigv4_sign_headers(&sr, &cfg, &res);
    if (e) {
        report_err(&r, "seed signing", e);
        goto out;
    }
    compare(&r, "seed signed headers", res.signed_headers, jstr(seed, "expected_signed_headers"));
    compare(&r, "seed signature", res.signature, jstr(seed, "expected_seed_signature"));
    compare(&r, "seed Authorization", res.authorization,
            jstr(seed, "expected_authorization_aws_c_auth"));
    e = sd_sigv4_chunk_begin(&cs, &cfg, res.signature);
    sd_sigv4_result_free(&res);
    if (e) {
        report_err(&r, "chunk signer", e);
        goto out;
    }
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(root, "chunks"), i, c)
    {
        size_t size = (size_t)json_integer_value(json_object_get(c, "size"));
        char *data = malloc(size ? size : 1);
        char sig[65];
        if (!data)
            break;
        memset(data, 'a', size);
        e = sd_sigv4_chunk_next(&cs, data, size, sig);
        free(data);
        char what[64];
        snprintf(what, sizeof what, "chunk %zu signature", i + 1);
        if (e)
            report_err(&r, what, e);
        else
            compare(&r, what, sig, jstr(c, "expected_signature"));
    }
    json_t *tr = json_object_get(root, "trailing_headers");
    if (tr) {
        header_set th = {0};
        json_t *pair;
        json_array_foreach(json_object_get(tr, "headers_in_order"), i, pair)
        {
            const char *n = json_string_value(json_array_get(pair, 0));
            const char *v = json_string_value(json_array_get(pair, 1));
            if (n && v)
                hs_add(&th, n, strlen(n), v, strlen(v));
        }
        compare(&r, "trailer previous signature", cs.previous, jstr(tr, "previous_signature"));
        char sig[65];
        e = sd_sigv4_chunk_trailer(&cs, th.v, th.n, sig);
        if (e)
            report_err(&r, "trailer signature", e);
        else
            compare(&r, "trailer signature", sig, jstr(tr, "expected_signature"));
        header_set_free(&th);
    }
    sd_sigv4_chunk_end(&cs);
out:
    header_set_free(&h);
    finish(file, &r, NULL);
}

/* ------------------------------------------------------------------ walk */

static void run_json_file(const char *path)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        return; /* not ours */
    if (json_is_array(json_object_get(root, "cases")) && json_object_get(root, "credentials"))
        run_s3_docs(path, root);
    else if (json_is_object(json_object_get(root, "seed_request")))
        run_chunked(path, root);
    json_decref(root);
}

static int walk(const char *dir)
{
    const char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : dir;
    char reqname[512];
    snprintf(reqname, sizeof reqname, "%s.req", base);
    if (file_exists(dir, "context.json") && file_exists(dir, "request.txt")) {
        run_v4(dir, dir);
        return 0;
    }
    if (file_exists(dir, reqname)) {
        run_classic(dir, dir, base);
        return 0;
    }
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, alphasort);
    if (n < 0) {
        printf("FAILED %s: cannot read the directory: %s\n", dir, strerror(errno));
        failed++;
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const char *nm = ents[i]->d_name;
        if (nm[0] != '.') {
            char *p = path2(dir, nm);
            struct stat st;
            if (p && stat(p, &st) == 0) {
                size_t l = strlen(nm);
                if (S_ISDIR(st.st_mode))
                    walk(p);
                else if (S_ISREG(st.st_mode) && l > 5 && strcmp(nm + l - 5, ".json") == 0)
                    run_json_file(p);
            }
            free(p);
        }
        free(ents[i]);
    }
    free(ents);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s VECTOR-DIR-OR-JSON...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        char *a = strdup(argv[i]);
        size_t l = a ? strlen(a) : 0;
        while (l > 1 && a[l - 1] == '/')
            a[--l] = '\0';
        struct stat st;
        if (!a || stat(a, &st) != 0) {
            printf("FAILED %s: no such file or directory\n", argv[i]);
            failed++;
        } else if (S_ISDIR(st.st_mode)) {
            walk(a);
        } else {
            run_json_file(a);
        }
        free(a);
    }
    printf("sigv4 vectors: %d passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}
