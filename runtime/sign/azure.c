/* Azure Storage SharedKey and SAS signing (see azure.h). */
#include "azure.h"

#include <ctype.h>
#include <stdbool.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../storagedriver.h"
#include "../util.h"

int sd_azure_key_decode(const char *b64, unsigned char **key, size_t *len)
{
    size_t n = b64 ? strlen(b64) : 0;
    *key = NULL;
    *len = 0;
    if (n == 0 || n % 4 != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b64[i];
        bool pad = c == '=' && i >= n - 2 && (i == n - 1 || b64[n - 1] == '=');
        if (!(isalnum(c) || c == '+' || c == '/' || pad))
            return -1;
    }
    unsigned char *out = malloc(n / 4 * 3 + 1);
    if (!out)
        return -1;
    int got = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);
    if (got < 0) {
        free(out);
        return -1;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    size_t l = (size_t)got;
    if (b64[n - 1] == '=')
        l--;
    if (b64[n - 2] == '=')
        l--;
    *key = out;
    *len = l;
    return 0;
}

char *sd_azure_sign(const unsigned char *key, size_t keylen, const char *msg, size_t msglen)
{
    unsigned char mac[32];
    size_t maclen = 0;
    static const unsigned char none = 0;
    if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, keylen ? key : &none, keylen,
                   (const unsigned char *)msg, msglen, mac, sizeof mac, &maclen) ||
        maclen != sizeof mac)
        return NULL;
    char *out = malloc(45);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen);
    return out;
}

int sd_azure_version_at_least(const char *a, const char *b)
{
    return a && strcmp(a, b) >= 0;
}

/* ------------------------------------------------------------ SharedKey */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes s[0..n) into a new string ('+' stays '+': Azure's query
 * values are RFC 3986, not forms). */
static char *pct_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int h, l;
        if (s[i] == '%' && i + 2 < n && (h = hexval((unsigned char)s[i + 1])) >= 0 &&
            (l = hexval((unsigned char)s[i + 2])) >= 0) {
            out[k++] = (char)(h * 16 + l);
            i += 2;
        } else {
            out[k++] = s[i];
        }
    }
    out[k] = '\0';
    return out;
}

typedef struct kv {
    char *k, *v;
} kv;

static int kv_cmp(const void *a, const void *b)
{
    const kv *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

static void kv_free(kv *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(list[i].k);
        free(list[i].v);
    }
    free(list);
}

/* The query's parameters, names lower-cased, values decoded, sorted by
 * name then value. */
static int parse_query(const char *q, kv **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (!q || !*q)
        return 0;
    size_t cap = 1;
    for (const char *c = q; *c; c++)
        cap += *c == '&';
    kv *list = calloc(cap, sizeof *list);
    if (!list)
        return -1;
    size_t n = 0;
    for (const char *p = q; *p;) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t kl = eq ? (size_t)(eq - p) : len;
            list[n].k = pct_decode(p, kl);
            list[n].v = eq ? pct_decode(eq + 1, len - kl - 1) : sd_strdup("");
            if (!list[n].k || !list[n].v) {
                kv_free(list, n + 1);
                return -1;
            }
            for (char *c = list[n].k; *c; c++)
                *c = (char)tolower((unsigned char)*c);
            n++;
        }
        p += len + (end ? 1 : 0);
    }
    qsort(list, n, sizeof *list, kv_cmp);
    *out = list;
    *nout = n;
    return 0;
}

static int hdr_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The value of header name among h (case-insensitive), or "". */
static const char *hdr_value(const sd_azure_header *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(h[i].name, name) == 0)
            return h[i].value ? h[i].value : "";
    return "";
}

/* "name:value" with the name lower-cased and the value's runs of white
 * space folded to one space, trimmed. */
static char *canon_header(const sd_azure_header *h)
{
    sd_buf b = {0};
    int bad = 0;
    for (const char *c = h->name; *c && !bad; c++) {
        char l = (char)tolower((unsigned char)*c);
        bad = sd_buf_append(&b, &l, 1);
    }
    bad = bad || sd_buf_append(&b, ":", 1);
    const char *v = h->value ? h->value : "";
    while (*v == ' ' || *v == '\t')
        v++;
    bool space = false;
    for (; *v && !bad; v++) {
        if (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n') {
            space = true;
            continue;
        }
        if (space)
            bad = sd_buf_append(&b, " ", 1);
        space = false;
        bad = bad || sd_buf_append(&b, v, 1);
    }
    if (bad || sd_buf_append(&b, "", 1)) {
        sd_buf_free(&b);
        return NULL;
    }
    return b.data;
}

static const char *const std_headers[] = {
    "Content-Encoding", "Content-Language", "Content-Length", "Content-MD5",
    "Content-Type", "Date", "If-Modified-Since", "If-Match", "If-None-Match",
    "If-Unmodified-Since", "Range",
};

char *sd_azure_sharedkey_string(const char *method, const sd_azure_header *headers, size_t n,
                                const char *account, const char *path, const char *query)
{
    sd_buf b = {0};
    char **xms = calloc(n + 1, sizeof *xms);
    size_t nx = 0;
    kv *params = NULL;
    size_t np = 0;
    int bad = !xms || parse_query(query, &params, &np) != 0;
    bad = bad || sd_buf_append(&b, method, strlen(method)) || sd_buf_append(&b, "\n", 1);
    for (size_t i = 0; i < sizeof std_headers / sizeof std_headers[0] && !bad; i++) {
        const char *v = hdr_value(headers, n, std_headers[i]);
        if (i == 2 && strcmp(v, "0") == 0)
            v = ""; /* Content-Length 0 is signed empty (2015-02-21 on) */
        bad = sd_buf_append(&b, v, strlen(v)) || sd_buf_append(&b, "\n", 1);
    }
    for (size_t i = 0; i < n && !bad; i++) {
        if (strncasecmp(headers[i].name, "x-ms-", 5) != 0)
            continue;
        if (!(xms[nx] = canon_header(&headers[i])))
            bad = 1;
        else
            nx++;
    }
    if (!bad)
        qsort(xms, nx, sizeof *xms, hdr_cmp);
    for (size_t i = 0; i < nx && !bad; i++)
        bad = sd_buf_append(&b, xms[i], strlen(xms[i])) || sd_buf_append(&b, "\n", 1);
    bad = bad || sd_buf_append(&b, "/", 1) || sd_buf_append(&b, account, strlen(account));
    bad = bad || sd_buf_append(&b, path && *path ? path : "/", path && *path ? strlen(path) : 1);
    for (size_t i = 0; i < np && !bad; i++) {
        bool first = i == 0 || strcmp(params[i - 1].k, params[i].k) != 0;
        if (first)
            bad = sd_buf_append(&b, "\n", 1) || sd_buf_append(&b, params[i].k, strlen(params[i].k)) ||
                  sd_buf_append(&b, ":", 1);
        else
            bad = sd_buf_append(&b, ",", 1);
        bad = bad || sd_buf_append(&b, params[i].v, strlen(params[i].v));
    }
    bad = bad || sd_buf_append(&b, "", 1);
    for (size_t i = 0; i < nx; i++)
        free(xms[i]);
    free(xms);
    kv_free(params, np);
    if (bad) {
        sd_buf_free(&b);
        return NULL;
    }
    return b.data;
}

char *sd_azure_sharedkey_auth(const char *account, const unsigned char *key, size_t keylen,
                              const char *string_to_sign)
{
    char *sig = sd_azure_sign(key, keylen, string_to_sign, strlen(string_to_sign));
    char *out = sig ? sd_asprintf("SharedKey %s:%s", account, sig) : NULL;
    free(sig);
    return out;
}

/* ------------------------------------------------------------ SAS */

static char *join_lines(const char *const *f, size_t n, bool trailing)
{
    sd_buf b = {0};
    int bad = 0;
    for (size_t i = 0; i < n && !bad; i++) {
        const char *v = f[i] ? f[i] : "";
        bad = (i > 0 && sd_buf_append(&b, "\n", 1)) || sd_buf_append(&b, v, strlen(v));
    }
    bad = bad || (trailing && sd_buf_append(&b, "\n", 1)) || sd_buf_append(&b, "", 1);
    if (bad) {
        sd_buf_free(&b);
        return NULL;
    }
    return b.data;
}

char *sd_azure_service_sas_string(const sd_azure_sas *s)
{
    const char *f[16];
    size_t n = 0;
    f[n++] = s->sp;
    f[n++] = s->st;
    f[n++] = s->se;
    f[n++] = s->canonical;
    f[n++] = s->si;
    f[n++] = s->sip;
    f[n++] = s->spr;
    f[n++] = s->sv;
    if (sd_azure_version_at_least(s->sv, "2018-11-09")) {
        f[n++] = s->sr;
        f[n++] = s->snapshot;
    }
    if (sd_azure_version_at_least(s->sv, "2020-12-06"))
        f[n++] = s->ses;
    f[n++] = s->rscc;
    f[n++] = s->rscd;
    f[n++] = s->rsce;
    f[n++] = s->rscl;
    f[n++] = s->rsct;
    return join_lines(f, n, false);
}

char *sd_azure_account_sas_string(const sd_azure_account_sas *s)
{
    const char *f[] = { s->account, s->sp, s->ss, s->srt, s->st, s->se, s->sip, s->spr, s->sv,
                        s->ses };
    size_t n = sd_azure_version_at_least(s->sv, "2020-12-06") ? 10 : 9;
    return join_lines(f, n, true);
}

/* RFC 3986 unreserved kept, everything else %XX. */
static int qappend(sd_buf *b, const char *name, const char *v)
{
    if (!v || !*v)
        return 0;
    if ((b->len > 0 && sd_buf_append(b, "&", 1)) || sd_buf_append(b, name, strlen(name)) ||
        sd_buf_append(b, "=", 1))
        return -1;
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)v; *c; c++) {
        if (isalnum(*c) || *c == '-' || *c == '_' || *c == '.' || *c == '~') {
            if (sd_buf_append(b, c, 1))
                return -1;
        } else {
            char e[3] = { '%', hex[*c >> 4], hex[*c & 15] };
            if (sd_buf_append(b, e, 3))
                return -1;
        }
    }
    return 0;
}

char *sd_azure_service_sas_query(const sd_azure_sas *s, const char *sig)
{
    sd_buf b = {0};
    int bad = qappend(&b, "sv", s->sv) || qappend(&b, "st", s->st) || qappend(&b, "se", s->se) ||
              qappend(&b, "sr", s->sr) || qappend(&b, "sp", s->sp) || qappend(&b, "sip", s->sip) ||
              qappend(&b, "spr", s->spr) || qappend(&b, "si", s->si) ||
              qappend(&b, "ses", s->ses) || qappend(&b, "rscc", s->rscc) ||
              qappend(&b, "rscd", s->rscd) || qappend(&b, "rsce", s->rsce) ||
              qappend(&b, "rscl", s->rscl) || qappend(&b, "rsct", s->rsct) ||
              qappend(&b, "sig", sig) || sd_buf_append(&b, "", 1);
    if (bad) {
        sd_buf_free(&b);
        return NULL;
    }
    return b.data;
}
