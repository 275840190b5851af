/* The s3 driver: parameters, the endpoint, the pool of HTTP clients, signed
 * requests and the service's errors.  "s3aws" is the same driver under the
 * reference's other name.
 *
 * Parameters (the reference's, README "s3" lists the choices made here):
 *   accesskey, secretkey, sessiontoken  credentials; when accesskey and
 *       secretkey are not both given, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
 *       and AWS_SESSION_TOKEN from the environment
 *   region          required without regionendpoint (or AWS_REGION /
 *                   AWS_DEFAULT_REGION); a known AWS region unless
 *                   regionendpoint is set; with an endpoint, us-east-1 by default
 *   regionendpoint  another S3 service ("http://127.0.0.1:9000" or a host)
 *   forcepathstyle  path-style URLs; default true with regionendpoint, else false
 *   bucket (required), rootdirectory, encrypt, keyid, secure, skipverify,
 *   v4auth (false is refused: requests are signed with SigV4 only), chunksize,
 *   multipartcopychunksize, multipartcopymaxconcurrency,
 *   multipartcopythresholdsize, storageclass, objectacl, useragent,
 *   usedualstack, accelerate, usefipsendpoint, loglevel, redirectendpoint
 *   uploadconcurrency  parts of one writer in flight at once (default 4)
 *   downloadchunksize, downloadconcurrency  a reader of a large object
 *                   fetches ranges of this size (default 8 MiB), this many
 *                   at once (default 4; 1: one GET)
 *   maxretries      HTTP retries of a safe request (default 4)
 *   timeout         seconds a request may move less than 1 KiB/s before it
 *                   is abandoned (default 30); connecttimeout (default 10)
 */
#include "s3.h"
#include "../runtime/sign/sigv4.h"
#include "../runtime/util.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static sd_error *s3_oom(void)
{
    return sd_err_driver("out of memory");
}

/* ------------------------------------------------------------ parameters */

static const char *const s3_regions[] = {
    "af-south-1", "ap-east-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
    "ap-southeast-4", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2",
    "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3",
    "il-central-1", "me-central-1", "me-south-1", "sa-east-1", "us-east-1", "us-east-2",
    "us-west-1", "us-west-2", "cn-north-1", "cn-northwest-1", "us-gov-east-1",
    "us-gov-west-1", "us-iso-east-1", "us-iso-west-1", "us-isob-east-1", "eu-isoe-west-1",
    NULL,
};
static const char *const s3_storage_classes[] = {
    "NONE", "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA",
    "INTELLIGENT_TIERING", "OUTPOSTS", "GLACIER_IR", "EXPRESS_ONEZONE", NULL,
};
static const char *const s3_acls[] = {
    "private", "public-read", "public-read-write", "authenticated-read",
    "aws-exec-read", "bucket-owner-read", "bucket-owner-full-control", NULL,
};

static bool s3_in(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

static char *s3_join(const char *const *list)
{
    sd_buf b = {0};
    for (size_t i = 0; list[i]; i++)
        if (sd_buf_append(&b, i ? " " : "", i ? 1 : 0) || sd_buf_append(&b, list[i], strlen(list[i])))
            break;
    if (sd_buf_append(&b, "", 1)) {
        sd_buf_free(&b);
        return NULL;
    }
    return b.data;
}

/* The raw settings read from the parameters, before the driver is built. */
typedef struct s3_settings {
    char *accesskey, *secretkey, *sessiontoken, *region, *regionendpoint, *bucket;
    char *keyid, *rootdirectory, *storageclass, *objectacl, *useragent, *loglevel;
    char *redirectendpoint;
    bool forcepathstyle, encrypt, secure, skipverify, v4auth, dualstack, accelerate, fips;
    int64_t chunksize, copychunk, copyconc, copythreshold, uploadconc, maxretries;
    int64_t timeout, connecttimeout, downloadchunk, downloadconc;
} s3_settings;

static void s3_settings_free(s3_settings *s)
{
    char **strs[] = { &s->accesskey, &s->secretkey, &s->sessiontoken, &s->region,
                      &s->regionendpoint, &s->bucket, &s->keyid, &s->rootdirectory,
                      &s->storageclass, &s->objectacl, &s->useragent, &s->loglevel,
                      &s->redirectendpoint };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        if (*strs[i] && (strs[i] == &s->secretkey || strs[i] == &s->sessiontoken))
            memset(*strs[i], 0, strlen(*strs[i]));
        free(*strs[i]);
        *strs[i] = NULL;
    }
}

static sd_error *s3_env_default(char **v, const char *name)
{
    if (*v && **v)
        return NULL;
    const char *e = getenv(name);
    if (!e || !*e)
        return NULL;
    free(*v);
    *v = sd_strdup(e);
    return *v ? NULL : s3_oom();
}

static sd_error *s3_read_params(sd_params *p, const char *n, s3_settings *s)
{
    sd_error *e;
#define STR(key, def, field) \
    if ((e = sd_params_string(p, n, key, def, &s->field)) != NULL) return e
#define BOOL(key, def, field) \
    if ((e = sd_params_bool(p, n, key, def, &s->field)) != NULL) return e
#define INT(key, def, lo, hi, field) \
    if ((e = sd_params_int(p, n, key, def, lo, hi, &s->field)) != NULL) return e
    STR("accesskey", "", accesskey);
    STR("secretkey", "", secretkey);
    STR("sessiontoken", "", sessiontoken);
    STR("region", "", region);
    STR("regionendpoint", "", regionendpoint);
    BOOL("forcepathstyle", s->regionendpoint[0] != '\0', forcepathstyle);
    STR("bucket", "", bucket);
    BOOL("encrypt", false, encrypt);
    STR("keyid", "", keyid);
    BOOL("secure", true, secure);
    BOOL("skipverify", false, skipverify);
    BOOL("v4auth", true, v4auth);
    INT("chunksize", 2 * S3_MIN_PART, S3_MIN_PART, S3_MAX_PART, chunksize);
    INT("multipartcopychunksize", 32 << 20, S3_MIN_PART, S3_MAX_PART, copychunk);
    INT("multipartcopymaxconcurrency", 100, 1, INT64_MAX, copyconc);
    INT("multipartcopythresholdsize", 32 << 20, 0, S3_MAX_PART, copythreshold);
    INT("uploadconcurrency", 4, 1, 64, uploadconc);
    INT("downloadchunksize", 4 << 20, 1 << 20, S3_MAX_PART, downloadchunk);
    INT("downloadconcurrency", 4, 1, 64, downloadconc);
    INT("maxretries", 4, 0, 20, maxretries);
    INT("timeout", 30, 1, 86400, timeout);
    INT("connecttimeout", 10, 1, 3600, connecttimeout);
    STR("rootdirectory", "", rootdirectory);
    STR("storageclass", "STANDARD", storageclass);
    STR("objectacl", "private", objectacl);
    STR("useragent", "", useragent);
    BOOL("usedualstack", false, dualstack);
    BOOL("accelerate", false, accelerate);
    BOOL("usefipsendpoint", false, fips);
    STR("redirectendpoint", "", redirectendpoint);
#undef STR
#undef BOOL
#undef INT
    /* loglevel never fails (the reference ignores what it does not know). */
    if (sd_params_has(p, "loglevel")) {
        e = sd_params_string(p, n, "loglevel", "off", &s->loglevel);
        if (e) {
            sd_error_free(e);
            s->loglevel = NULL;
        }
    }
    if ((e = sd_params_finish(p, n)) != NULL)
        return e;

    if (!s->accesskey[0] || !s->secretkey[0]) {
        free(s->accesskey);
        s->accesskey = sd_strdup("");
        if ((e = s3_env_default(&s->accesskey, "AWS_ACCESS_KEY_ID")) ||
            (e = s3_env_default(&s->secretkey, "AWS_SECRET_ACCESS_KEY")) ||
            (e = s3_env_default(&s->sessiontoken, "AWS_SESSION_TOKEN")))
            return e;
    }
    if ((e = s3_env_default(&s->region, "AWS_REGION")) ||
        (e = s3_env_default(&s->region, "AWS_DEFAULT_REGION")))
        return e;
    if (!s->accesskey || !s->accesskey[0] || !s->secretkey[0])
        return sd_err_invalid_parameter(n, "accesskey",
                                        "no credentials: give accesskey and secretkey, or set "
                                        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
    if (!s->regionendpoint[0]) {
        if (!s->region[0])
            return sd_err_invalid_parameter(n, "region", "no region parameter provided");
        if (!s3_in(s3_regions, s->region))
            return sd_err_invalid_parameter(n, "region", "invalid region provided: %s",
                                            s->region);
    } else if (!s->region[0]) {
        free(s->region);
        if (!(s->region = sd_strdup("us-east-1")))
            return s3_oom();
    }
    if (!s->bucket[0])
        return sd_err_invalid_parameter(n, "bucket", "no bucket parameter provided");
    for (const char *c = s->bucket; *c; c++)
        if (!(isalnum((unsigned char)*c) || *c == '-' || *c == '.' || *c == '_'))
            return sd_err_invalid_parameter(n, "bucket", "invalid bucket name: %s", s->bucket);
    if (!s->v4auth)
        return sd_err_invalid_parameter(n, "v4auth",
                                        "only signature version 4 is supported");
    for (char *c = s->storageclass; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    if (!s3_in(s3_storage_classes, s->storageclass)) {
        char *l = s3_join(s3_storage_classes);
        e = sd_err_invalid_parameter(n, "storageclass", "must be one of [%s], %s invalid",
                                     l ? l : "?", s->storageclass);
        free(l);
        return e;
    }
    if (!s3_in(s3_acls, s->objectacl))
        return sd_err_invalid_parameter(n, "objectacl", "invalid value for objectacl parameter: %s",
                                        s->objectacl);
    if (s->redirectendpoint[0]) {
        const char *r = s->redirectendpoint;
        const char *sep = strstr(r, "://");
        if (!sep || sep == r)
            return sd_err_invalid_parameter(n, "redirectendpoint", "no scheme specified");
        const char *h = sep + 3, *slash = strchr(h, '/');
        if (h[0] == '\0' || h[0] == '/')
            return sd_err_invalid_parameter(n, "redirectendpoint", "no host specified");
        if (strchr(r, '?'))
            return sd_err_invalid_parameter(n, "redirectendpoint", "cannot contain query parameters");
        if (slash && strcmp(slash, "/") != 0)
            return sd_err_invalid_parameter(n, "redirectendpoint", "cannot contain a base path: %s",
                                            slash);
        if (slash)
            *(char *)slash = '\0';
    }
    return NULL;
}

/* ------------------------------------------------------------- endpoint */

static sd_error *s3_endpoint(s3_driver *d, const s3_settings *s)
{
    const char *scheme = s->secure ? "https" : "http";
    char *host = NULL;
    if (s->regionendpoint[0]) {
        const char *ep = s->regionendpoint;
        const char *sep = strstr(ep, "://");
        if (sep) {
            scheme = NULL;
            d->endpoint = sd_strdup(ep);
        } else {
            d->endpoint = sd_asprintf("%s://%s", scheme, ep);
        }
        if (!d->endpoint)
            return s3_oom();
        size_t l = strlen(d->endpoint);
        while (l > 0 && d->endpoint[l - 1] == '/')
            d->endpoint[--l] = '\0';
        const char *h = strstr(d->endpoint, "://") + 3;
        if (strchr(h, '/') || strchr(h, '?') || strchr(h, '@') || !*h)
            return sd_err_invalid_parameter(d->name, "regionendpoint",
                                            "must be scheme://host[:port] or host[:port]: %s", ep);
        host = sd_strdup(h);
    } else {
        const char *suffix = strncmp(s->region, "cn-", 3) == 0 ? "amazonaws.com.cn" : "amazonaws.com";
        if (s->accelerate)
            host = sd_asprintf("s3-accelerate%s.%s", s->dualstack ? ".dualstack" : "", suffix);
        else
            host = sd_asprintf("s3%s%s.%s.%s", s->fips ? "-fips" : "",
                               s->dualstack ? ".dualstack" : "", s->region, suffix);
        if (host && !s->forcepathstyle) {
            char *v = sd_asprintf("%s.%s", d->bucket, host);
            free(host);
            host = v;
        }
        if (host)
            d->endpoint = sd_asprintf("%s://%s", scheme, host);
    }
    if (!host || !d->endpoint) {
        free(host);
        return s3_oom();
    }
    /* Virtual-host style on a custom endpoint: the bucket goes in front. */
    if (s->regionendpoint[0] && !s->forcepathstyle) {
        char *v = sd_asprintf("%s.%s", d->bucket, host);
        char *sch = sd_strndup(d->endpoint, (size_t)(strstr(d->endpoint, "://") - d->endpoint));
        char *ep = v && sch ? sd_asprintf("%s://%s", sch, v) : NULL;
        free(host);
        free(sch);
        host = v;
        free(d->endpoint);
        d->endpoint = ep;
        if (!host || !ep)
            return s3_oom();
    }
    d->host = host;
    d->bucket_path = s->forcepathstyle ? sd_asprintf("/%s", d->bucket) : sd_strdup("");
    return d->bucket_path ? NULL : s3_oom();
}

static sd_error *s3_root(s3_driver *d, const char *root)
{
    while (*root == '/')
        root++;
    size_t len = strlen(root);
    while (len > 0 && root[len - 1] == '/')
        len--;
    d->root = len ? sd_asprintf("%.*s/", (int)len, root) : sd_strdup("");
    if (!d->root)
        return s3_oom();
    d->root_len = strlen(d->root);
    return NULL;
}

static sd_error *s3_headers(s3_driver *d, const s3_settings *s)
{
    char *h[8];
    size_t n = 0;
    h[n++] = sd_strdup("Content-Type: application/octet-stream");
    /* private and STANDARD are what S3 does anyway: not sending them keeps
     * servers that lack ACLs and storage classes working. */
    if (strcmp(s->objectacl, "private") != 0)
        h[n++] = sd_asprintf("x-amz-acl: %s", s->objectacl);
    if (strcmp(s->storageclass, "NONE") != 0 && strcmp(s->storageclass, "STANDARD") != 0)
        h[n++] = sd_asprintf("x-amz-storage-class: %s", s->storageclass);
    if (s->encrypt)
        h[n++] = sd_asprintf("x-amz-server-side-encryption: %s", s->keyid[0] ? "aws:kms" : "AES256");
    if (s->keyid[0])
        h[n++] = sd_asprintf("x-amz-server-side-encryption-aws-kms-key-id: %s", s->keyid);
    d->upload_headers = calloc(n + 1, sizeof *d->upload_headers);
    bool ok = d->upload_headers != NULL;
    for (size_t i = 0; i < n; i++) {
        ok = ok && h[i];
        if (d->upload_headers)
            d->upload_headers[i] = h[i];
        else
            free(h[i]);
    }
    return ok ? NULL : s3_oom();
}

static void s3_trace(void *ud, const char *line)
{
    (void)ud;
    fprintf(stderr, "s3: %s\n", line);
}

void s3_destroy_driver(sd_driver *drv)
{
    s3_driver *d = (s3_driver *)drv;
    sd_http_pool_free(d->pool);
    if (d->secret_key)
        memset(d->secret_key, 0, strlen(d->secret_key));
    if (d->session_token)
        memset(d->session_token, 0, strlen(d->session_token));
    for (char **h = d->upload_headers; h && *h; h++)
        free(*h);
    free(d->upload_headers);
    free(d->access_key);
    free(d->secret_key);
    free(d->session_token);
    free(d->region);
    free(d->endpoint);
    free(d->host);
    free(d->bucket);
    free(d->bucket_path);
    free(d->redirect_endpoint);
    free(d->root);
    free(d->name);
    free(d);
}

static sd_error *s3_create(const char *name, sd_params *params, sd_driver **out)
{
    s3_settings s = {0};
    sd_params *empty = NULL;
    if (!params)
        params = empty = sd_params_new();
    sd_error *e = params ? s3_read_params(params, name, &s) : s3_oom();
    sd_params_free(empty);
    if (e) {
        s3_settings_free(&s);
        return e;
    }
    s3_driver *d = calloc(1, sizeof *d);
    if (!d) {
        s3_settings_free(&s);
        return s3_oom();
    }
    d->base.ops = &s3_driver_ops;
    d->name = sd_strdup(name);
    d->base.name = d->name;
    d->access_key = s.accesskey;
    d->secret_key = s.secretkey;
    d->session_token = s.sessiontoken;
    d->region = s.region;
    d->bucket = s.bucket;
    s.accesskey = s.secretkey = s.sessiontoken = s.region = s.bucket = NULL;
    if (s.redirectendpoint[0]) {
        d->redirect_endpoint = s.redirectendpoint;
        s.redirectendpoint = NULL;
    }
    d->chunksize = s.chunksize;
    d->upload_concurrency = s.uploadconc;
    d->copy_chunksize = s.copychunk;
    d->copy_concurrency = s.copyconc;
    d->copy_threshold = s.copythreshold;
    d->download_chunksize = s.downloadchunk;
    d->download_concurrency = s.downloadconc;
    sd_http_config http;
    sd_http_config_default(&http);
    http.skipverify = s.skipverify;
    /* AWS's own tools take their CA bundle from here; users expect the same. */
    const char *ca = getenv("AWS_CA_BUNDLE");
    http.ca_file = ca && *ca ? ca : NULL;
    http.max_retries = (int)s.maxretries;
    http.connect_timeout_ms = s.connecttimeout * 1000;
    /* Slower than 1 KiB/s for that long (a dead or trickling server): abort. */
    http.low_speed_time = s.timeout;
    http.low_speed_limit = 1024;
    if (s.loglevel && strncasecmp(s.loglevel, "debug", 5) == 0)
        http.trace = s3_trace;
    if (!d->name || (e = s3_endpoint(d, &s)) || (e = s3_root(d, s.rootdirectory)) ||
        (e = s3_headers(d, &s)))
        goto fail;
    char *ua = s.useragent[0] ? sd_asprintf("storagedriver/" SD_VERSION " %s", s.useragent)
                              : sd_strdup("storagedriver/" SD_VERSION);
    http.user_agent = ua;
    e = ua ? sd_http_pool_new(&http, &d->pool) : s3_oom();
    free(ua);
    if (e)
        goto fail;
    s3_settings_free(&s);
    *out = &d->base;
    return NULL;
fail:
    s3_settings_free(&s);
    s3_destroy_driver(&d->base);
    return e ? e : s3_oom();
}

sd_error *sd_s3_factory(sd_params *params, sd_driver **out)
{
    return s3_create("s3", params, out);
}

sd_error *sd_s3aws_factory(sd_params *params, sd_driver **out)
{
    return s3_create("s3aws", params, out);
}

/* ------------------------------------------------------------ requests */

char *s3_key(const s3_driver *d, const char *path)
{
    while (*path == '/')
        path++;
    return sd_asprintf("%s%s", d->root, path);
}

char *s3_path(const s3_driver *d, const char *key, size_t len)
{
    if (len < d->root_len || memcmp(key, d->root, d->root_len) != 0)
        return NULL;
    key += d->root_len;
    len -= d->root_len;
    if (len == 0 || memchr(key, '~', len))
        return NULL;
    return sd_asprintf("/%.*s", (int)len, key);
}

char *s3_qenc(const char *s)
{
    return sd_sigv4_uri_encode(s, strlen(s), 0);
}

void s3_content_md5(const void *data, size_t len, char out[25])
{
    unsigned char md[16];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL);
    EVP_EncodeBlock((unsigned char *)out, md, 16);
}

int64_t s3_http_time(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!s || !strptime(s, "%a, %d %b %Y %H:%M:%S", &tm))
        return 0;
    return (int64_t)timegm(&tm);
}

int64_t s3_iso_time(const char *s, int32_t *nsec)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    *nsec = 0;
    const char *rest = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!rest)
        return 0;
    if (*rest == '.') {
        int32_t scale = 100000000, v = 0;
        for (rest++; isdigit((unsigned char)*rest); rest++, scale /= 10)
            if (scale > 0)
                v += (*rest - '0') * scale;
        *nsec = v;
    }
    return (int64_t)timegm(&tm);
}

/* The request's URL path (not encoded: the signer and the wire both take
 * its canonical form). */
static char *s3_raw_path(const s3_driver *d, const s3_req *r)
{
    return sd_asprintf("%s/%s", d->bucket_path, r->key ? r->key : "");
}

static sd_sigv4_config s3_signing(const s3_driver *d, char when[17])
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, 17, "%Y%m%dT%H%M%SZ", &tm);
    sd_sigv4_config cfg = {
        .access_key = d->access_key,
        .secret_key = d->secret_key,
        .session_token = d->session_token,
        .region = d->region,
        .service = "s3",
        .time = when,
        .flags = SD_SIGV4_FLAGS_S3,
    };
    return cfg;
}

/* The signed header lines and URL of r; both owned by the caller. */
typedef struct s3_built {
    char *url;
    char **lines; /* NULL-terminated */
} s3_built;

static void s3_built_free(s3_built *b)
{
    for (char **l = b->lines; l && *l; l++)
        free(*l);
    free(b->lines);
    free(b->url);
}

static sd_error *s3_build(const s3_driver *d, const s3_req *r, s3_built *out)
{
    memset(out, 0, sizeof *out);
    size_t n = 0, cap = 8;
    for (const char *const *h = r->headers; h && *h; h++)
        cap++;
    for (char **h = d->upload_headers; r->upload && h && *h; h++)
        cap++;
    sd_sigv4_header *hs = calloc(cap, sizeof *hs);
    char **own = calloc(cap, sizeof *own); /* "name\0value" copies */
    char *raw = s3_raw_path(d, r);
    char *wire = raw ? sd_sigv4_canonical_path(raw, 0) : NULL;
    sd_sigv4_result res = {0};
    sd_error *e = NULL;
    if (!hs || !own || !wire) {
        e = s3_oom();
        goto done;
    }
    hs[n++] = (sd_sigv4_header){ "Host", d->host };
    size_t nown = 0;
    for (int pass = 0; pass < 2; pass++) {
        const char *const *list = pass == 0 ? r->headers
                                            : (r->upload ? (const char *const *)d->upload_headers : NULL);
        for (const char *const *h = list; h && *h; h++) {
            const char *colon = strchr(*h, ':');
            if (!colon)
                continue;
            char *c = sd_strdup(*h);
            if (!c) {
                e = s3_oom();
                goto done;
            }
            own[nown++] = c;
            c[colon - *h] = '\0';
            const char *v = c + (colon - *h) + 1;
            while (*v == ' ')
                v++;
            hs[n++] = (sd_sigv4_header){ c, v };
        }
    }
    char when[17];
    sd_sigv4_config cfg = s3_signing(d, when);
    sd_sigv4_request sr = {
        .method = r->method,
        .path = raw,
        .query = r->query,
        .headers = hs,
        .nheaders = n,
        /* A bytes body is hashed and the hash signed: the server checks it,
         * so corruption in transit is refused (SHA-256 is also faster
         * than MD5 here).  A streamed body cannot be hashed first. */
        .payload_hash = r->body_read ? SD_SIGV4_UNSIGNED_PAYLOAD : NULL,
        .payload = r->body,
        .payload_len = r->body_len,
    };
    if ((e = sd_sigv4_sign_headers(&sr, &cfg, &res)) != NULL)
        goto done;
    out->lines = calloc(n + res.nadd_headers + 2, sizeof *out->lines);
    out->url = sd_asprintf("%s%s%s%s", d->endpoint, wire, r->query && *r->query ? "?" : "",
                           r->query ? r->query : "");
    if (!out->lines || !out->url) {
        e = s3_oom();
        goto done;
    }
    size_t k = 0;
    /* Host is libcurl's to send (it derives the same value from the URL). */
    for (size_t i = 1; i < n; i++)
        if (!(out->lines[k++] = sd_asprintf("%s: %s", hs[i].name, hs[i].value)))
            goto oom;
    for (size_t i = 0; i < res.nadd_headers; i++)
        if (!(out->lines[k++] = sd_asprintf("%s: %s", res.add_headers[i].name,
                                            res.add_headers[i].value)))
            goto oom;
    if (!(out->lines[k++] = sd_asprintf("Authorization: %s", res.authorization)))
        goto oom;
    goto done;
oom:
    e = s3_oom();
done:
    if (e)
        s3_built_free(out);
    sd_sigv4_result_free(&res);
    for (size_t i = 0; own && own[i]; i++)
        free(own[i]);
    free(own);
    free(hs);
    free(raw);
    free(wire);
    return e;
}

static void s3_http_req(const s3_req *r, const s3_built *b, sd_http_request *q)
{
    memset(q, 0, sizeof *q);
    q->method = r->method;
    q->url = b->url;
    q->headers = (const char *const *)b->lines;
    q->body = r->body;
    q->body_len = r->body_len;
    q->body_read = r->body_read;
    q->body_rewind = r->body_rewind;
    q->body_ud = r->body_ud;
    q->body_size = r->body_size;
    q->idempotent = r->idempotent;
    q->on_data = r->on_data;
    q->data_ud = r->data_ud;
    q->max_body = r->max_body;
}

sd_error *s3_do(s3_driver *d, sd_http_client *c, const s3_req *r, sd_http_response *resp)
{
    memset(resp, 0, sizeof *resp);
    s3_built b;
    sd_error *e = s3_build(d, r, &b);
    if (e)
        return e;
    sd_http_client *own = NULL;
    if (!c && (e = sd_http_pool_get(d->pool, &own)) != NULL) {
        s3_built_free(&b);
        return e;
    }
    sd_http_request q;
    s3_http_req(r, &b, &q);
    e = sd_http_do(c ? c : own, &q, resp);
    /* A client whose transfer failed may hold a broken connection:
     * dropping it costs one reconnect at most. */
    sd_http_pool_put(d->pool, own, e == NULL);
    s3_built_free(&b);
    return e;
}

sd_error *s3_stream(s3_driver *d, sd_http_client *c, const s3_req *r,
                    sd_http_response *resp, sd_http_stream **out)
{
    memset(resp, 0, sizeof *resp);
    s3_built b;
    sd_error *e = s3_build(d, r, &b);
    if (e)
        return e;
    sd_http_request q;
    s3_http_req(r, &b, &q);
    e = sd_http_stream_open(c, &q, resp, out);
    s3_built_free(&b);
    return e;
}

/* ------------------------------------------------------------ errors */

static char *s3_what(const s3_req *r)
{
    if (r->what)
        return sd_strdup(r->what);
    if (r->key)
        return sd_asprintf("%s %s", r->method, r->key);
    return sd_asprintf("%s bucket", r->method);
}

static void s3_set_code(sd_error *e, long status, const char *code)
{
    if (!e || !e->detail || strcmp(e->detail, "out of memory") == 0)
        return;
    e->status = (int)status;
    if (code && *code)
        e->code = sd_strdup(code);
}

sd_error *s3_xml(const s3_req *r, const sd_http_response *resp, sd_xml_doc **out)
{
    sd_error *e = sd_xml_parse(resp->body.data ? resp->body.data : "", resp->body.len, NULL, out);
    if (!e)
        return NULL;
    char *what = s3_what(r);
    sd_error *w = sd_err_driver("%s: malformed answer (%s)", what ? what : r->method,
                                e->detail ? e->detail : "?");
    free(what);
    sd_error_free(e);
    return w;
}

static sd_error *s3_error_doc(const s3_req *r, long status, sd_xml_doc *doc)
{
    const char *code = doc ? sd_xml_find(doc, "Error/Code") : NULL;
    const char *msg = doc ? sd_xml_find(doc, "Error/Message") : NULL;
    char *what = s3_what(r);
    sd_error *e;
    /* A proxy may quote the request in its message: never pass on what
     * looks like credentials or signatures. */
    char *safe = msg && *msg ? sd_http_redact(msg, strlen(msg)) : NULL;
    if (code && safe)
        e = sd_err_driver("%s: HTTP %ld %s: %.300s", what ? what : r->method, status, code, safe);
    else if (code)
        e = sd_err_driver("%s: HTTP %ld %s", what ? what : r->method, status, code);
    else
        e = sd_err_driver("%s: HTTP %ld", what ? what : r->method, status);
    free(what);
    free(safe);
    s3_set_code(e, status, code);
    return e;
}

sd_error *s3_error(const s3_req *r, const sd_http_response *resp, const char *path)
{
    sd_xml_doc *doc = NULL;
    if (resp->body.len > 0) {
        sd_error *pe = sd_xml_parse(resp->body.data, resp->body.len, NULL, &doc);
        sd_error_free(pe);
    }
    const char *code = doc ? sd_xml_find(doc, "Error/Code") : NULL;
    if (path && r->key &&
        ((code && strcmp(code, "NoSuchKey") == 0) || (resp->status == 404 && !code))) {
        sd_xml_doc_free(doc);
        return sd_err_path_not_found(path);
    }
    sd_error *e = s3_error_doc(r, resp->status, doc);
    sd_xml_doc_free(doc);
    return e;
}

sd_error *s3_error_in_body(const s3_req *r, const sd_http_response *resp)
{
    const char *b = resp->body.data;
    size_t n = resp->body.len;
    /* Skip the XML declaration and whitespace; S3 may send spaces first
     * while it works (keep-alive of long copies). */
    size_t i = 0;
    while (i < n && isspace((unsigned char)b[i]))
        i++;
    if (i + 5 < n && memcmp(b + i, "<?xml", 5) == 0) {
        const char *end = memmem(b + i, n - i, "?>", 2);
        i = end ? (size_t)(end - b) + 2 : n;
    }
    while (i < n && isspace((unsigned char)b[i]))
        i++;
    if (n - i < 7 || memcmp(b + i, "<Error>", 7) != 0)
        return NULL;
    sd_xml_doc *doc = NULL;
    sd_error *pe = sd_xml_parse(b + i, n - i, NULL, &doc);
    if (pe) {
        sd_error_free(pe);
        return s3_error_doc(r, resp->status, NULL);
    }
    sd_error *e = s3_error_doc(r, resp->status, doc);
    sd_xml_doc_free(doc);
    return e;
}

int s3_xml_escape(sd_buf *b, const char *s)
{
    for (; *s; s++) {
        const char *rep = NULL;
        switch (*s) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&apos;"; break;
        default: break;
        }
        if (rep ? sd_buf_append(b, rep, strlen(rep)) : sd_buf_append(b, s, 1))
            return -1;
    }
    return 0;
}

sd_error *s3_call(s3_driver *d, sd_http_client *c, const s3_req *r, sd_http_response *resp,
                  const char *path)
{
    sd_error *e = s3_do(d, c, r, resp);
    if (!e && resp->status / 100 != 2)
        e = s3_error(r, resp, path);
    return e;
}

sd_error *s3_call_xml(s3_driver *d, sd_http_client *c, const s3_req *r, sd_http_response *resp,
                      sd_xml_doc **doc)
{
    *doc = NULL;
    sd_error *e = s3_call(d, c, r, resp, NULL);
    if (!e)
        e = s3_error_in_body(r, resp);
    if (!e)
        e = s3_xml(r, resp, doc);
    return e;
}
