/* AWS Signature Version 4: canonical request, string to sign, signature,
 * Authorization header, presigned query, chunk signatures.  See sigv4.h. */
#include "sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util.h"

#define SCOPE_TERMINATOR "aws4_request"

/* ------------------------------------------------------------ small helpers */

static const char hexdig[] = "0123456789abcdef";

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdig[in[i] >> 4];
        out[2 * i + 1] = hexdig[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    static const char empty = 0;
    if (!EVP_Digest(data ? data : &empty, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return -1;
    to_hex(md, 32, out);
    return 0;
}

static int hmac256(const void *key, size_t keylen, const void *data, size_t len,
                   unsigned char out[32])
{
    size_t outlen = 0;
    static const char empty = 0;
    if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, keylen,
                   data ? data : (const void *)&empty, len, out, 32, &outlen) ||
        outlen != 32)
        return -1;
    return 0;
}

static int buf_str(sd_buf *b, const char *s) { return sd_buf_append(b, s, strlen(s)); }
static int buf_ch(sd_buf *b, char c) { return sd_buf_append(b, &c, 1); }

/* Takes the buffer's bytes as a NUL-terminated string (an empty buffer gives
 * ""); NULL when memory runs out.  The buffer is emptied either way. */
static char *buf_take(sd_buf *b)
{
    if (buf_ch(b, '\0') != 0) {
        sd_buf_free(b);
        return NULL;
    }
    char *s = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return s;
}

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

static int uri_encode_into(sd_buf *b, const char *s, size_t len, int keep_slash)
{
    if (sd_buf_reserve(b, len) != 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            if (buf_ch(b, (char)c) != 0)
                return -1;
        } else {
            char e[3] = {'%', "0123456789ABCDEF"[c >> 4], "0123456789ABCDEF"[c & 15]};
            if (sd_buf_append(b, e, 3) != 0)
                return -1;
        }
    }
    return 0;
}

char *sd_sigv4_uri_encode(const char *s, size_t len, int keep_slash)
{
    sd_buf b = {0};
    if (uri_encode_into(&b, s, len, keep_slash) != 0) {
        sd_buf_free(&b);
        return NULL;
    }
    return buf_take(&b);
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* %-decodes s[0..len) into b ('%' not followed by two hex digits is kept). */
static int pct_decode_into(sd_buf *b, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int hi, lo;
        if (c == '%' && i + 2 < len && (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
            (lo = hexval((unsigned char)s[i + 2])) >= 0) {
            if (buf_ch(b, (char)(hi << 4 | lo)) != 0)
                return -1;
            i += 2;
        } else if (buf_ch(b, (char)c) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Appends the canonical form of one query name or value (decode, encode). */
static int canon_component(sd_buf *out, const char *s, size_t len)
{
    sd_buf dec = {0};
    int rc = pct_decode_into(&dec, s, len);
    if (rc == 0)
        rc = uri_encode_into(out, dec.data ? dec.data : "", dec.len, 0);
    sd_buf_free(&dec);
    return rc;
}

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Validates a short configuration string: non-empty, printable ASCII, and
 * without '/' when it goes into the credential scope. */
static int plain_token(const char *s, int allow_slash)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c >= 0x7f || (!allow_slash && c == '/'))
            return 0;
    }
    return 1;
}

static int valid_time(const char *t)
{
    if (!t || strlen(t) != 16 || t[8] != 'T' || t[15] != 'Z')
        return 0;
    for (int i = 0; i < 15; i++)
        if (i != 8 && (t[i] < '0' || t[i] > '9'))
            return 0;
    return 1;
}

static sd_error *check_config(const sd_sigv4_config *cfg)
{
    if (!cfg)
        return sd_err_driver("sigv4: no configuration");
    if (!plain_token(cfg->access_key, 1))
        return sd_err_driver("sigv4: the access key is missing or not printable ASCII");
    if (!cfg->secret_key || !*cfg->secret_key)
        return sd_err_driver("sigv4: the secret key is missing");
    if (!plain_token(cfg->region, 0))
        return sd_err_driver("sigv4: the region is missing or invalid");
    if (!plain_token(cfg->service, 0))
        return sd_err_driver("sigv4: the service is missing or invalid");
    if (!valid_time(cfg->time))
        return sd_err_driver("sigv4: the time must be ISO 8601 basic UTC, like 20150830T123600Z");
    if (cfg->session_token && *cfg->session_token && strpbrk(cfg->session_token, "\r\n"))
        return sd_err_driver("sigv4: the session token holds a line break");
    return NULL;
}

static int has_token(const sd_sigv4_config *cfg)
{
    return cfg->session_token && *cfg->session_token;
}

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
 * "aws4_request").  The intermediate keys are wiped. */
static int derive_key(const sd_sigv4_config *cfg, unsigned char key[32])
{
    size_t slen = strlen(cfg->secret_key);
    char *k0 = malloc(slen + 4);
    if (!k0)
        return -1;
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, cfg->secret_key, slen);
    unsigned char a[32], b[32];
    int rc = hmac256(k0, slen + 4, cfg->time, 8, a);
    OPENSSL_cleanse(k0, slen + 4);
    free(k0);
    if (rc == 0)
        rc = hmac256(a, 32, cfg->region, strlen(cfg->region), b);
    if (rc == 0)
        rc = hmac256(b, 32, cfg->service, strlen(cfg->service), a);
    if (rc == 0)
        rc = hmac256(a, 32, SCOPE_TERMINATOR, strlen(SCOPE_TERMINATOR), key);
    OPENSSL_cleanse(a, sizeof a);
    OPENSSL_cleanse(b, sizeof b);
    return rc;
}

static char *make_scope(const sd_sigv4_config *cfg)
{
    return sd_asprintf("%.8s/%s/%s/" SCOPE_TERMINATOR, cfg->time, cfg->region, cfg->service);
}

/* ------------------------------------------------------------------- path */

typedef struct seg {
    const char *p;
    size_t n;
} seg;

char *sd_sigv4_canonical_path(const char *path, unsigned flags)
{
    if (!path || !*path)
        path = "/";
    size_t plen = strlen(path);
    /* Split into segments (a path not starting with '/' is taken as if it
     * did). */
    const char *s = path[0] == '/' ? path + 1 : path;
    size_t nmax = 1;
    for (const char *q = s; *q; q++)
        nmax += *q == '/';
    seg *segs = malloc(nmax * sizeof *segs);
    if (!segs)
        return NULL;
    size_t n = 0;
    int normalize = (flags & SD_SIGV4_NORMALIZE_PATH) != 0;
    for (const char *q = s;;) {
        const char *e = strchr(q, '/');
        size_t len = e ? (size_t)(e - q) : strlen(q);
        if (!normalize) {
            segs[n++] = (seg){q, len};
        } else if (len == 0 || (len == 1 && q[0] == '.')) {
            /* dropped */
        } else if (len == 2 && q[0] == '.' && q[1] == '.') {
            if (n > 0)
                n--;
        } else {
            segs[n++] = (seg){q, len};
        }
        if (!e)
            break;
        q = e + 1;
    }
    sd_buf b = {0};
    int rc = 0;
    int dbl = (flags & SD_SIGV4_DOUBLE_ENCODE) != 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = buf_ch(&b, '/');
        if (rc == 0 && dbl)
            rc = uri_encode_into(&b, segs[i].p, segs[i].n, 0);
        else if (rc == 0)
            rc = canon_component(&b, segs[i].p, segs[i].n);
    }
    /* Normalising keeps a trailing '/' of a non-root path. */
    if (rc == 0 && (b.len == 0 || (normalize && path[plen - 1] == '/')))
        rc = buf_ch(&b, '/');
    free(segs);
    if (rc != 0) {
        sd_buf_free(&b);
        return NULL;
    }
    return buf_take(&b);
}

/* ------------------------------------------------------------------ query */

typedef struct qparam {
    char *name; /* canonical (encoded) */
    char *value;
} qparam;

typedef struct qlist {
    qparam *v;
    size_t n, cap;
} qlist;

static void qlist_free(qlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].value);
    }
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* Adds name=value, each canonicalised (decoded then encoded). */
static int qlist_add(qlist *l, const char *name, size_t nlen, const char *value, size_t vlen)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        qparam *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    sd_buf nb = {0}, vb = {0};
    if (canon_component(&nb, name, nlen) != 0 || canon_component(&vb, value, vlen) != 0) {
        sd_buf_free(&nb);
        sd_buf_free(&vb);
        return -1;
    }
    char *n = buf_take(&nb), *v = buf_take(&vb);
    if (!n || !v) {
        free(n);
        free(v);
        return -1;
    }
    l->v[l->n++] = (qparam){n, v};
    return 0;
}

static int qlist_add_str(qlist *l, const char *name, const char *value)
{
    return qlist_add(l, name, strlen(name), value, strlen(value));
}

static int qlist_parse(qlist *l, const char *q)
{
    if (!q)
        return 0;
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        if (len > 0) {
            const char *eq = memchr(q, '=', len);
            size_t nlen = eq ? (size_t)(eq - q) : len;
            const char *v = eq ? eq + 1 : q + len;
            size_t vlen = eq ? len - nlen - 1 : 0;
            if (qlist_add(l, q, nlen, v, vlen) != 0)
                return -1;
        }
        if (!amp)
            break;
        q = amp + 1;
    }
    return 0;
}

static int qparam_cmp(const void *a, const void *b)
{
    const qparam *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static int qlist_render(qlist *l, sd_buf *b)
{
    if (l->n > 1)
        qsort(l->v, l->n, sizeof *l->v, qparam_cmp);
    for (size_t i = 0; i < l->n; i++) {
        if ((i > 0 && buf_ch(b, '&') != 0) || buf_str(b, l->v[i].name) != 0 ||
            buf_ch(b, '=') != 0 || buf_str(b, l->v[i].value) != 0)
            return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- headers */

typedef struct hentry {
    char *name;  /* lowercased */
    char *value; /* trimmed, whitespace collapsed */
    size_t order;
} hentry;

typedef struct hlist {
    hentry *v;
    size_t n;
} hlist;

static void hlist_free(hlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].value);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int valid_header_name(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c >= 0x7f || c == ':')
            return 0;
    }
    return 1;
}

static char *canon_value(const char *v)
{
    sd_buf b = {0};
    int pending_space = 0;
    if (!v)
        v = "";
    for (; *v; v++) {
        unsigned char c = (unsigned char)*v;
        if (is_ws(c)) {
            pending_space = b.len > 0;
            continue;
        }
        if ((pending_space && buf_ch(&b, ' ') != 0) || buf_ch(&b, (char)c) != 0) {
            sd_buf_free(&b);
            return NULL;
        }
        pending_space = 0;
    }
    return buf_take(&b);
}

/* Appends one header (name is copied and lowercased). */
static sd_error *hlist_add(hlist *l, const char *name, const char *value)
{
    if (!valid_header_name(name))
        return sd_err_driver("sigv4: invalid header name \"%s\"", name ? name : "");
    for (const char *p = value ? value : ""; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c < ' ' && !is_ws(c)) || c == 0x7f)
            return sd_err_driver("sigv4: a control character in the value of header %s", name);
    }
    hentry *v = realloc(l->v, (l->n + 1) * sizeof *v);
    if (!v)
        return sd_err_driver("sigv4: out of memory");
    l->v = v;
    char *n = sd_strdup(name), *val = canon_value(value);
    if (!n || !val) {
        free(n);
        free(val);
        return sd_err_driver("sigv4: out of memory");
    }
    for (char *p = n; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    l->v[l->n] = (hentry){n, val, l->n};
    l->n++;
    return NULL;
}

static int hlist_has(const hlist *l, const char *lname)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].name, lname) == 0)
            return 1;
    return 0;
}

static int hentry_cmp(const void *a, const void *b)
{
    const hentry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Sorts, then writes "name:v1,v2\n"... into canon and "a;b" into signed. */
static int hlist_render(hlist *l, sd_buf *canon, sd_buf *signed_h)
{
    if (l->n > 1)
        qsort(l->v, l->n, sizeof *l->v, hentry_cmp);
    for (size_t i = 0; i < l->n; i++) {
        int first = i == 0 || strcmp(l->v[i].name, l->v[i - 1].name) != 0;
        int last = i + 1 == l->n || strcmp(l->v[i].name, l->v[i + 1].name) != 0;
        if (first) {
            if ((signed_h->len > 0 && buf_ch(signed_h, ';') != 0) ||
                buf_str(signed_h, l->v[i].name) != 0 || buf_str(canon, l->v[i].name) != 0 ||
                buf_ch(canon, ':') != 0)
                return -1;
        } else if (buf_ch(canon, ',') != 0) {
            return -1;
        }
        if (buf_str(canon, l->v[i].value) != 0 || (last && buf_ch(canon, '\n') != 0))
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ sign */

void sd_sigv4_result_free(sd_sigv4_result *r)
{
    if (!r)
        return;
    free(r->canonical_request);
    free(r->string_to_sign);
    free(r->credential_scope);
    free(r->signed_headers);
    free(r->authorization);
    free(r->query);
    for (size_t i = 0; i < r->nadd_headers; i++) {
        free(r->add_headers[i].name);
        free(r->add_headers[i].value);
    }
    free(r->add_headers);
    memset(r, 0, sizeof *r);
}

static int add_field(sd_sigv4_result *r, const char *name, const char *value)
{
    sd_sigv4_field *v = realloc(r->add_headers, (r->nadd_headers + 1) * sizeof *v);
    if (!v)
        return -1;
    r->add_headers = v;
    char *n = sd_strdup(name), *val = sd_strdup(value);
    if (!n || !val) {
        free(n);
        free(val);
        return -1;
    }
    v[r->nadd_headers++] = (sd_sigv4_field){n, val};
    return 0;
}

#define OOM() sd_err_driver("sigv4: out of memory")

/* The common part.  presign_expires < 0: header signing. */
static sd_error *sign(const sd_sigv4_request *req, const sd_sigv4_config *cfg,
                      int64_t presign_expires, sd_sigv4_result *out)
{
    memset(out, 0, sizeof *out);
    sd_error *err = check_config(cfg);
    if (err)
        return err;
    if (!req || !plain_token(req->method, 0))
        return sd_err_driver("sigv4: the method is missing or invalid");
    if (req->nheaders && !req->headers)
        return sd_err_driver("sigv4: nheaders without headers");
    if (req->payload_len && !req->payload && !req->payload_hash)
        return sd_err_driver("sigv4: payload_len without payload");
    if (req->payload_hash && (!*req->payload_hash || strpbrk(req->payload_hash, "\r\n")))
        return sd_err_driver("sigv4: invalid payload hash");
    int presign = presign_expires >= 0;
    int token = has_token(cfg);
    int sign_token = token && !(cfg->flags & SD_SIGV4_OMIT_SESSION_TOKEN);

    hlist hl = {0};
    qlist ql = {0};
    sd_buf cr = {0}, canon_h = {0}, signed_h = {0}, b = {0};
    char *path = NULL;
    char payload_hex[65];
    const char *payload_hash = req->payload_hash;
    unsigned char key[32], mac[32];

    for (size_t i = 0; i < req->nheaders && !err; i++)
        err = hlist_add(&hl, req->headers[i].name, req->headers[i].value);
    if (err)
        goto done;
    for (size_t i = 0; i < hl.n; i++) {
        if (strcmp(hl.v[i].name, "x-amz-date") == 0 && strcmp(hl.v[i].value, cfg->time) != 0) {
            err = sd_err_driver("sigv4: the request's X-Amz-Date differs from the signing time");
            goto done;
        }
    }
    if (!hlist_has(&hl, "host")) {
        err = sd_err_driver("sigv4: the request has no Host header");
        goto done;
    }
    if (!payload_hash) {
        if (sha256_hex(req->payload, req->payload_len, payload_hex) != 0) {
            err = sd_err_driver("sigv4: SHA-256 failed");
            goto done;
        }
        payload_hash = payload_hex;
    }

    if (!(out->credential_scope = make_scope(cfg))) {
        err = OOM();
        goto done;
    }

    /* The headers the signer adds (header signing only). */
    if (!presign) {
        if (!hlist_has(&hl, "x-amz-date")) {
            if ((err = hlist_add(&hl, "X-Amz-Date", cfg->time)))
                goto done;
            if (add_field(out, "X-Amz-Date", cfg->time) != 0)
                goto oom;
        }
        if (token && !hlist_has(&hl, "x-amz-security-token")) {
            if (sign_token && (err = hlist_add(&hl, "X-Amz-Security-Token", cfg->session_token)))
                goto done;
            if (add_field(out, "X-Amz-Security-Token", cfg->session_token) != 0)
                goto oom;
        }
        if ((cfg->flags & SD_SIGV4_CONTENT_SHA256_HEADER) &&
            !hlist_has(&hl, "x-amz-content-sha256")) {
            if ((err = hlist_add(&hl, "x-amz-content-sha256", payload_hash)))
                goto done;
            if (add_field(out, "x-amz-content-sha256", payload_hash) != 0)
                goto oom;
        }
    }
    if (hlist_render(&hl, &canon_h, &signed_h) != 0 ||
        !(out->signed_headers = buf_take(&signed_h)))
        goto oom;

    /* Query. */
    if (qlist_parse(&ql, req->query) != 0)
        goto oom;
    if (presign) {
        char expires[24];
        snprintf(expires, sizeof expires, "%lld", (long long)presign_expires);
        char *cred = sd_asprintf("%s/%s", cfg->access_key, out->credential_scope);
        int rc = cred ? 0 : -1;
        if (rc == 0)
            rc = qlist_add_str(&ql, "X-Amz-Algorithm", SD_SIGV4_ALGORITHM);
        if (rc == 0)
            rc = qlist_add_str(&ql, "X-Amz-Credential", cred);
        if (rc == 0)
            rc = qlist_add_str(&ql, "X-Amz-Date", cfg->time);
        if (rc == 0)
            rc = qlist_add_str(&ql, "X-Amz-Expires", expires);
        if (rc == 0)
            rc = qlist_add_str(&ql, "X-Amz-SignedHeaders", out->signed_headers);
        if (rc == 0 && sign_token)
            rc = qlist_add_str(&ql, "X-Amz-Security-Token", cfg->session_token);
        free(cred);
        if (rc != 0)
            goto oom;
    }

    /* Canonical request. */
    if (!(path = sd_sigv4_canonical_path(req->path, cfg->flags)))
        goto oom;
    if (buf_str(&cr, req->method) != 0 || buf_ch(&cr, '\n') != 0 || buf_str(&cr, path) != 0 ||
        buf_ch(&cr, '\n') != 0 || qlist_render(&ql, &cr) != 0 || buf_ch(&cr, '\n') != 0 ||
        sd_buf_append(&cr, canon_h.data ? canon_h.data : "", canon_h.len) != 0 ||
        buf_ch(&cr, '\n') != 0 || buf_str(&cr, out->signed_headers) != 0 ||
        buf_ch(&cr, '\n') != 0 || buf_str(&cr, payload_hash) != 0)
        goto oom;
    if (!(out->canonical_request = buf_take(&cr)))
        goto oom;

    /* String to sign. */
    char creq_hash[65];
    if (sha256_hex(out->canonical_request, strlen(out->canonical_request), creq_hash) != 0) {
        err = sd_err_driver("sigv4: SHA-256 failed");
        goto done;
    }
    if (!(out->string_to_sign = sd_asprintf(SD_SIGV4_ALGORITHM "\n%s\n%s\n%s", cfg->time,
                                            out->credential_scope, creq_hash)))
        goto oom;

    /* Signature. */
    int rc = derive_key(cfg, key);
    if (rc == 0)
        rc = hmac256(key, 32, out->string_to_sign, strlen(out->string_to_sign), mac);
    OPENSSL_cleanse(key, sizeof key);
    if (rc != 0) {
        err = sd_err_driver("sigv4: HMAC-SHA256 failed");
        goto done;
    }
    to_hex(mac, 32, out->signature);

    if (presign) {
        /* The canonical query, then the signature, then an unsigned token. */
        if (qlist_render(&ql, &b) != 0 || buf_str(&b, "&X-Amz-Signature=") != 0 ||
            buf_str(&b, out->signature) != 0)
            goto oom;
        if (token && !sign_token &&
            (buf_str(&b, "&X-Amz-Security-Token=") != 0 ||
             uri_encode_into(&b, cfg->session_token, strlen(cfg->session_token), 0) != 0))
            goto oom;
        if (!(out->query = buf_take(&b)))
            goto oom;
    } else {
        if (!(out->authorization =
                  sd_asprintf(SD_SIGV4_ALGORITHM " Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                              cfg->access_key, out->credential_scope, out->signed_headers,
                              out->signature)))
            goto oom;
    }
    goto done;

oom:
    err = OOM();
done:
    hlist_free(&hl);
    qlist_free(&ql);
    sd_buf_free(&cr);
    sd_buf_free(&canon_h);
    sd_buf_free(&signed_h);
    sd_buf_free(&b);
    free(path);
    OPENSSL_cleanse(mac, sizeof mac);
    if (err)
        sd_sigv4_result_free(out);
    return err;
}

sd_error *sd_sigv4_sign_headers(const sd_sigv4_request *req, const sd_sigv4_config *cfg,
                                sd_sigv4_result *out)
{
    return sign(req, cfg, -1, out);
}

sd_error *sd_sigv4_presign(const sd_sigv4_request *req, const sd_sigv4_config *cfg,
                           int64_t expires, sd_sigv4_result *out)
{
    if (expires < 1 || expires > SD_SIGV4_MAX_EXPIRES) {
        memset(out, 0, sizeof *out);
        return sd_err_driver("sigv4: presigned URL expiry must be 1 to %d seconds, not %lld",
                             SD_SIGV4_MAX_EXPIRES, (long long)expires);
    }
    return sign(req, cfg, expires, out);
}

/* ----------------------------------------------------------------- chunks */

sd_error *sd_sigv4_chunk_begin(sd_sigv4_chunk_signer *s, const sd_sigv4_config *cfg,
                               const char *seed_signature)
{
    memset(s, 0, sizeof *s);
    sd_error *err = check_config(cfg);
    if (err)
        return err;
    if (!seed_signature || strlen(seed_signature) != 64)
        return sd_err_driver("sigv4: the seed signature must be 64 hex digits");
    if (!(s->scope = make_scope(cfg)))
        return OOM();
    if (derive_key(cfg, s->key) != 0) {
        sd_sigv4_chunk_end(s);
        return sd_err_driver("sigv4: HMAC-SHA256 failed");
    }
    memcpy(s->time, cfg->time, 17);
    memcpy(s->previous, seed_signature, 65);
    return NULL;
}

/* HMAC(key, "<algo>\n<time>\n<scope>\n<previous>\n<rest>") into out and
 * previous. */
static sd_error *chunk_sign(sd_sigv4_chunk_signer *s, const char *algo, const char *rest,
                            char out[65])
{
    if (!s->scope)
        return sd_err_driver("sigv4: the chunk signer is not started");
    char *sts = sd_asprintf("%s\n%s\n%s\n%s\n%s", algo, s->time, s->scope, s->previous, rest);
    if (!sts)
        return OOM();
    unsigned char mac[32];
    int rc = hmac256(s->key, 32, sts, strlen(sts), mac);
    free(sts);
    if (rc != 0)
        return sd_err_driver("sigv4: HMAC-SHA256 failed");
    to_hex(mac, 32, s->previous);
    memcpy(out, s->previous, 65);
    return NULL;
}

sd_error *sd_sigv4_chunk_next(sd_sigv4_chunk_signer *s, const void *data, size_t len,
                              char out[65])
{
    if (len && !data)
        return sd_err_driver("sigv4: chunk length without data");
    char empty[65], hash[65], rest[131];
    if (sha256_hex(NULL, 0, empty) != 0 || sha256_hex(data, len, hash) != 0)
        return sd_err_driver("sigv4: SHA-256 failed");
    snprintf(rest, sizeof rest, "%s\n%s", empty, hash);
    return chunk_sign(s, "AWS4-HMAC-SHA256-PAYLOAD", rest, out);
}

sd_error *sd_sigv4_chunk_trailer(sd_sigv4_chunk_signer *s, const sd_sigv4_header *headers,
                                 size_t nheaders, char out[65])
{
    if (nheaders && !headers)
        return sd_err_driver("sigv4: nheaders without headers");
    hlist hl = {0};
    sd_error *err = NULL;
    for (size_t i = 0; i < nheaders && !err; i++)
        err = hlist_add(&hl, headers[i].name, headers[i].value);
    sd_buf canon = {0}, names = {0};
    char hash[65];
    if (!err && hlist_render(&hl, &canon, &names) != 0)
        err = OOM();
    if (!err && sha256_hex(canon.data, canon.len, hash) != 0)
        err = sd_err_driver("sigv4: SHA-256 failed");
    hlist_free(&hl);
    sd_buf_free(&canon);
    sd_buf_free(&names);
    if (err)
        return err;
    return chunk_sign(s, "AWS4-HMAC-SHA256-TRAILER", hash, out);
}

void sd_sigv4_chunk_end(sd_sigv4_chunk_signer *s)
{
    if (!s)
        return;
    OPENSSL_cleanse(s->key, sizeof s->key);
    free(s->scope);
    memset(s, 0, sizeof *s);
}
