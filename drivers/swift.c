/* The swift driver (OpenStack Swift): parameters, the driver's life, requests
 * carrying the auth token (renewed once on 401), and the service's errors.
 *
 * Parameters (the reference's; README "swift" lists the choices made here):
 *   authurl, username, password, container  required
 *   authversion     1, 2 or 3; 0 (default): from authurl ("v3", "v2", else 1)
 *   tenant, tenantid, domain, domainid, tenantdomain, tenantdomainid, trustid,
 *   region, endpointtype (public, internal, admin)   Keystone scoping and the
 *                   catalog entry to use
 *   insecureskipverify  no TLS verification
 *   chunksize       segment size, 1 MiB to 5 GiB (default 20 MiB)
 *   prefix          name prefix in the container; rootdirectory is the same
 *                   (one of them)
 *   secretkey       the TempURL key to use (installed when it differs)
 *   accesskey       HP Cloud style TempURL: "<tenantid>:<accesskey>:<sig>"
 *   tempurlcontainerkey, tempurlmethods  used when /info cannot be read
 *   uploadconcurrency  segments of one writer in flight (default 4, 1..64)
 *   checksum        send each body's MD5 as its ETag (default true)
 *   maxretries      HTTP retries of a safe request (default 4)
 */
#include "swift.h"
#include "../runtime/sign/sigv4.h"
#include "../runtime/util.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

sd_error *swift_oom(void)
{
    return sd_err_driver("out of memory");
}

/* ------------------------------------------------------------ parameters */

typedef struct swift_settings {
    char *authurl, *username, *password, *container, *tenant, *tenantid, *domain, *domainid;
    char *tenantdomain, *tenantdomainid, *trustid, *region, *endpointtype, *prefix, *rootdir;
    char *secretkey, *accesskey, *tempurlmethods;
    bool skipverify, containerkey, checksum;
    int64_t authversion, chunksize, uploadconc, maxretries;
} swift_settings;

static void swift_wipe(char *s)
{
    if (s)
        memset(s, 0, strlen(s));
}

static void swift_settings_free(swift_settings *s)
{
    swift_wipe(s->password);
    swift_wipe(s->secretkey);
    char **all[] = { &s->authurl, &s->username, &s->password, &s->container, &s->tenant,
                     &s->tenantid, &s->domain, &s->domainid, &s->tenantdomain,
                     &s->tenantdomainid, &s->trustid, &s->region, &s->endpointtype,
                     &s->prefix, &s->rootdir, &s->secretkey, &s->accesskey,
                     &s->tempurlmethods };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        free(*all[i]);
        *all[i] = NULL;
    }
}

static sd_error *swift_read_params(sd_params *p, const char *n, swift_settings *s)
{
    sd_error *e;
#define STR(key, field) \
    if ((e = sd_params_string(p, n, key, "", &s->field)) != NULL) return e
#define BOOL(key, field) \
    if ((e = sd_params_bool(p, n, key, false, &s->field)) != NULL) return e
    STR("authurl", authurl);
    STR("username", username);
    STR("password", password);
    STR("container", container);
    STR("tenant", tenant);
    STR("tenantid", tenantid);
    STR("domain", domain);
    STR("domainid", domainid);
    STR("tenantdomain", tenantdomain);
    STR("tenantdomainid", tenantdomainid);
    STR("trustid", trustid);
    STR("region", region);
    STR("endpointtype", endpointtype);
    STR("prefix", prefix);
    STR("rootdirectory", rootdir);
    STR("secretkey", secretkey);
    STR("accesskey", accesskey);
    STR("tempurlmethods", tempurlmethods);
    BOOL("insecureskipverify", skipverify);
    BOOL("tempurlcontainerkey", containerkey);
    if ((e = sd_params_bool(p, n, "checksum", true, &s->checksum)) != NULL)
        return e;
#undef STR
#undef BOOL
    if ((e = sd_params_int(p, n, "authversion", 0, 0, 3, &s->authversion)) ||
        (e = sd_params_int(p, n, "uploadconcurrency", 4, 1, 64, &s->uploadconc)) ||
        (e = sd_params_int(p, n, "maxretries", 4, 0, 20, &s->maxretries)))
        return e;
    if ((e = sd_params_int(p, n, "chunksize", 20 << 20, INT64_MIN, INT64_MAX, &s->chunksize)))
        return e;
    if ((e = sd_params_finish(p, n)) != NULL)
        return e;
    if (!s->username[0])
        return sd_err_invalid_parameter(n, "username", "no username parameter provided");
    if (!s->password[0])
        return sd_err_invalid_parameter(n, "password", "no password parameter provided");
    if (!s->authurl[0])
        return sd_err_invalid_parameter(n, "authurl", "no authurl parameter provided");
    if (!s->container[0])
        return sd_err_invalid_parameter(n, "container", "no container parameter provided");
    if (strncmp(s->authurl, "http://", 7) != 0 && strncmp(s->authurl, "https://", 8) != 0)
        return sd_err_invalid_parameter(n, "authurl", "must be an http:// or https:// URL: %s",
                                        s->authurl);
    if (strchr(s->container, '/') || strlen(s->container) > 256)
        return sd_err_invalid_parameter(n, "container", "invalid container name: %s",
                                        s->container);
    if (s->chunksize < SWIFT_MIN_CHUNK)
        return sd_err_invalid_parameter(n, "chunksize",
                                        "the chunksize %lld parameter should be a number that is "
                                        "larger than or equal to %lld",
                                        (long long)s->chunksize, (long long)SWIFT_MIN_CHUNK);
    if (s->chunksize > SWIFT_MAX_CHUNK)
        return sd_err_invalid_parameter(n, "chunksize", "%lld is over Swift's 5 GiB object limit",
                                        (long long)s->chunksize);
    if (s->endpointtype[0] && strcmp(s->endpointtype, "public") != 0 &&
        strcmp(s->endpointtype, "internal") != 0 && strcmp(s->endpointtype, "admin") != 0)
        return sd_err_invalid_parameter(n, "endpointtype",
                                        "must be public, internal or admin, not %s",
                                        s->endpointtype);
    if (s->prefix[0] && s->rootdir[0] && strcmp(s->prefix, s->rootdir) != 0)
        return sd_err_invalid_parameter(n, "rootdirectory",
                                        "give prefix or rootdirectory, not both");
    if (s->authversion == 0) {
        /* The reference's library guesses from the URL. */
        s->authversion = strstr(s->authurl, "v3") ? 3 : strstr(s->authurl, "v2") ? 2 : 1;
    }
    return NULL;
}

/* "a, b c" -> {"A", "B", "C", NULL} */
static char **swift_split_methods(const char *s)
{
    size_t cap = 1;
    for (const char *c = s; *c; c++)
        cap++;
    char **out = calloc(cap, sizeof *out);
    size_t n = 0;
    while (out && *s) {
        while (*s == ',' || isspace((unsigned char)*s))
            s++;
        size_t len = 0;
        while (s[len] && s[len] != ',' && !isspace((unsigned char)s[len]))
            len++;
        if (!len)
            break;
        if (!(out[n] = sd_strndup(s, len)))
            goto oom;
        for (char *c = out[n]; *c; c++)
            *c = (char)toupper((unsigned char)*c);
        n++;
        s += len;
    }
    return out;
oom:
    for (size_t i = 0; i < n; i++)
        free(out[i]);
    free(out);
    return NULL;
}

/* ------------------------------------------------------------ life */

void swift_destroy_driver(sd_driver *drv)
{
    swift_driver *d = (swift_driver *)drv;
    sd_http_pool_free(d->pool);
    pthread_mutex_destroy(&d->auth_mu);
    swift_wipe(d->password);
    swift_wipe(d->token);
    swift_wipe(d->secretkey);
    swift_wipe(d->tempurl_key);
    char *strs[] = { d->authurl, d->username, d->password, d->tenant, d->tenantid, d->domain,
                     d->domainid, d->tenantdomain, d->tenantdomainid, d->trustid, d->region,
                     d->endpointtype, d->token, d->storage_url,
                     d->container, d->container_enc, d->root, d->secretkey, d->accesskey,
                     d->tempurl_key, (char *)d->http.user_agent };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        free(strs[i]);
    for (char **m = d->tempurl_methods; m && *m; m++)
        free(*m);
    free(d->tempurl_methods);
    free(d);
}

/* Headers of Swift's that hold a secret, beyond those the HTTP layer
 * redacts (the v1 key, tokens in answers, TempURL keys). */
static const char *const swift_secret_headers[] = {
    "x-auth-key", "x-storage-token", "x-subject-token", "x-auth-token", "x-service-token",
    "x-container-meta-temp-url-key", "x-container-meta-temp-url-key-2",
    "x-account-meta-temp-url-key", "x-account-meta-temp-url-key-2", NULL,
};

static void swift_trace(void *ud, const char *line)
{
    (void)ud;
    if ((line[0] == '>' || line[0] == '<') && line[1] == ' ') {
        const char *colon = strchr(line + 2, ':');
        size_t n = colon ? (size_t)(colon - line - 2) : 0;
        for (const char *const *h = swift_secret_headers; n && *h; h++)
            if (strlen(*h) == n && strncasecmp(line + 2, *h, n) == 0) {
                fprintf(stderr, "swift: %.*s: REDACTED\n", (int)(n + 2), line);
                return;
            }
    }
    fprintf(stderr, "swift: %s\n", line);
}

/* HEAD of the container; created when missing (as the reference does). */
static sd_error *swift_ensure_container(swift_driver *d)
{
    swift_req r = { .method = "HEAD", .idempotent = true, .what = "HEAD container" };
    sd_http_response resp;
    sd_error *e = swift_do(d, NULL, &r, &resp);
    long st = e ? 0 : resp.status;
    if (!e && st != 404 && st / 100 != 2)
        e = swift_error(&r, &resp, NULL);
    sd_http_response_free(&resp);
    if (e || st != 404)
        return e;
    swift_req c = { .method = "PUT", .idempotent = true, .what = "PUT container" };
    e = swift_call(d, NULL, &c, &resp, NULL);
    sd_http_response_free(&resp);
    if (e) {
        sd_error *w = sd_err_driver("failed to create container %s: %s", d->container,
                                    e->detail ? e->detail : "?");
        if (w && w->detail && strcmp(w->detail, "out of memory") != 0)
            w->status = e->status;
        sd_error_free(e);
        e = w;
    }
    return e;
}

static sd_error *swift_root(swift_driver *d, const char *root)
{
    while (*root == '/')
        root++;
    size_t len = strlen(root);
    while (len > 0 && root[len - 1] == '/')
        len--;
    d->root = len ? sd_asprintf("%.*s/", (int)len, root) : sd_strdup("");
    if (!d->root)
        return swift_oom();
    d->root_len = strlen(d->root);
    return NULL;
}

sd_error *sd_swift_factory(sd_params *params, sd_driver **out)
{
    const char *name = "swift";
    swift_settings s = {0};
    sd_params *empty = NULL;
    if (!params)
        params = empty = sd_params_new();
    sd_error *e = params ? swift_read_params(params, name, &s) : swift_oom();
    sd_params_free(empty);
    if (e) {
        swift_settings_free(&s);
        return e;
    }
    swift_driver *d = calloc(1, sizeof *d);
    if (!d) {
        swift_settings_free(&s);
        return swift_oom();
    }
    pthread_mutex_init(&d->auth_mu, NULL);
    d->base.ops = &swift_driver_ops;
    d->base.name = "swift";
#define TAKE(field, from) d->field = s.from, s.from = NULL
    TAKE(authurl, authurl);
    TAKE(username, username);
    TAKE(password, password);
    TAKE(tenant, tenant);
    TAKE(tenantid, tenantid);
    TAKE(domain, domain);
    TAKE(domainid, domainid);
    TAKE(tenantdomain, tenantdomain);
    TAKE(tenantdomainid, tenantdomainid);
    TAKE(trustid, trustid);
    TAKE(region, region);
    TAKE(endpointtype, endpointtype);
    TAKE(container, container);
    TAKE(secretkey, secretkey);
    TAKE(accesskey, accesskey);
#undef TAKE
    d->authversion = (int)s.authversion;
    d->chunksize = s.chunksize;
    d->concurrency = s.uploadconc;
    d->checksum = s.checksum;
    d->bulk_delete = true;
    d->max_deletes = 1000;
    d->max_segments = 1000;
    sd_http_config_default(&d->http);
    d->http.skipverify = s.skipverify;
    d->http.max_retries = (int)s.maxretries;
    const char *lvl = getenv("SD_SWIFT_TRACE");
    if (lvl && *lvl)
        d->http.trace = swift_trace;
    d->http.user_agent = sd_strdup("storagedriver/" SD_VERSION);
    d->container_enc = swift_enc(d->container, 0);
    if (!d->http.user_agent || !d->container_enc) {
        e = swift_oom();
        goto fail;
    }
    if ((e = swift_root(d, s.prefix[0] ? s.prefix : s.rootdir)) != NULL)
        goto fail;
    /* Used only when /info does not answer (swift_setup_info). */
    d->tempurl_methods = s.tempurlmethods[0] ? swift_split_methods(s.tempurlmethods) : NULL;
    if (s.tempurlmethods[0] && !d->tempurl_methods) {
        e = swift_oom();
        goto fail;
    }
    d->param_containerkey = s.containerkey;
    if ((e = sd_http_pool_new(&d->http, &d->pool)) != NULL)
        goto fail;
    /* Authenticate now: bad credentials fail sd.create, as in the reference. */
    pthread_mutex_lock(&d->auth_mu);
    sd_http_client *c = NULL;
    e = sd_http_pool_get(d->pool, &c);
    if (!e)
        e = swift_authenticate(d, c);
    sd_http_pool_put(d->pool, c, e == NULL);
    pthread_mutex_unlock(&d->auth_mu);
    if (e || (e = swift_ensure_container(d)) || (e = swift_setup_info(d)))
        goto fail;
    swift_settings_free(&s);
    *out = &d->base;
    return NULL;
fail:
    swift_settings_free(&s);
    swift_destroy_driver(&d->base);
    return e ? e : swift_oom();
}

/* ------------------------------------------------------------ names */

const char *swift_etag_line(const swift_driver *d, const void *data, size_t len, char line[40])
{
    if (!d->checksum)
        return NULL;
    unsigned char md[16];
    unsigned int n = 0;
    EVP_Digest(len ? data : "", len, md, &n, EVP_md5(), NULL);
    memcpy(line, "ETag: ", 6);
    for (int i = 0; i < 16; i++)
        snprintf(line + 6 + 2 * i, 3, "%02x", md[i]);
    return line;
}

char *swift_enc(const char *s, int keep_slash)
{
    return sd_sigv4_uri_encode(s, strlen(s), keep_slash);
}

char *swift_object(const swift_driver *d, const char *path)
{
    while (*path == '/')
        path++;
    return sd_asprintf("%sfiles/%s", d->root, path);
}

char *swift_dir_prefix(const swift_driver *d, const char *path)
{
    if (strcmp(path, "/") == 0)
        return sd_asprintf("%sfiles/", d->root);
    return sd_asprintf("%sfiles%s/", d->root, path);
}

char *swift_path(const swift_driver *d, const char *name, size_t len)
{
    if (len < d->root_len + 6 || memcmp(name, d->root, d->root_len) != 0 ||
        memcmp(name + d->root_len, "files/", 6) != 0)
        return NULL;
    name += d->root_len + 5;
    len -= d->root_len + 5;
    if (len < 2)
        return NULL;
    return sd_strndup(name, len);
}

/* The nanoseconds of a fraction ".123456" at p (0 without one). */
static int32_t swift_frac(const char *p)
{
    int32_t scale = 100000000, v = 0;
    if (*p != '.')
        return 0;
    for (p++; isdigit((unsigned char)*p); p++, scale /= 10)
        if (scale > 0)
            v += (*p - '0') * scale;
    return v;
}

int64_t swift_timestamp(const char *s, int32_t *nsec)
{
    char *end = NULL;
    long long sec = s ? strtoll(s, &end, 10) : 0;
    *nsec = s && end != s ? swift_frac(end) : 0;
    return s && end != s ? sec : 0;
}

int64_t swift_iso_time(const char *s, int32_t *nsec)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *rest = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    *nsec = rest ? swift_frac(rest) : 0;
    return rest ? (int64_t)timegm(&tm) : 0;
}

/* ------------------------------------------------------------ requests */

/* The token and storage URL, authenticating when there is none or when the
 * one that failed (gen) is still the current one. */
static sd_error *swift_token(swift_driver *d, sd_http_client *c, bool renew, unsigned long gen,
                             char **token, char **url, unsigned long *out_gen)
{
    sd_error *e = NULL;
    pthread_mutex_lock(&d->auth_mu);
    if (!d->token || (renew && d->auth_gen == gen))
        e = swift_authenticate(d, c);
    if (!e) {
        *token = sd_strdup(d->token);
        *url = sd_strdup(d->storage_url);
        *out_gen = d->auth_gen;
        if (!*token || !*url) {
            free(*token);
            free(*url);
            e = swift_oom();
        }
    }
    pthread_mutex_unlock(&d->auth_mu);
    return e;
}

sd_error *swift_storage_url(swift_driver *d, char **out)
{
    char *token = NULL;
    unsigned long gen;
    sd_http_client *c = NULL;
    sd_error *e = sd_http_pool_get(d->pool, &c);
    if (!e)
        e = swift_token(d, c, false, 0, &token, out, &gen);
    sd_http_pool_put(d->pool, c, e == NULL);
    swift_wipe(token);
    free(token);
    return e;
}

/* The URL and header lines of r with token; owned by the caller. */
typedef struct swift_built {
    char *url;
    char **lines;
} swift_built;

static void swift_built_free(swift_built *b)
{
    for (char **l = b->lines; l && *l; l++) {
        swift_wipe(*l);
        free(*l);
    }
    free(b->lines);
    free(b->url);
}

static sd_error *swift_build(swift_driver *d, const swift_req *r, const char *token,
                             const char *base, swift_built *out)
{
    memset(out, 0, sizeof *out);
    size_t n = 2;
    for (const char *const *h = r->headers; h && *h; h++)
        n++;
    out->lines = calloc(n, sizeof *out->lines);
    char *obj = r->object ? swift_enc(r->object, 1) : NULL;
    if (!out->lines || (r->object && !obj))
        goto oom;
    const char *q = r->query && *r->query ? r->query : NULL;
    if (r->account)
        out->url = sd_asprintf("%s%s%s", base, q ? "?" : "", q ? q : "");
    else
        out->url = sd_asprintf("%s/%s%s%s%s%s", base, d->container_enc, obj ? "/" : "",
                               obj ? obj : "", q ? "?" : "", q ? q : "");
    free(obj);
    obj = NULL;
    if (!out->url || !(out->lines[0] = sd_asprintf("X-Auth-Token: %s", token)))
        goto oom;
    size_t k = 1;
    for (const char *const *h = r->headers; h && *h; h++)
        if (!(out->lines[k++] = sd_strdup(*h)))
            goto oom;
    return NULL;
oom:
    free(obj);
    swift_built_free(out);
    return swift_oom();
}

static void swift_http_req(const swift_req *r, const swift_built *b, sd_http_request *q)
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

/* Sends r once with the current token (or a renewed one); *gen gets the
 * generation of the token used.  stream: open a pulled body instead. */
static sd_error *swift_send(swift_driver *d, sd_http_client *c, const swift_req *r, bool renew,
                            unsigned long *gen, sd_http_response *resp, sd_http_stream **stream)
{
    char *token = NULL, *base = NULL;
    sd_error *e = swift_token(d, c, renew, *gen, &token, &base, gen);
    if (e)
        return e;
    swift_built b;
    e = swift_build(d, r, token, base, &b);
    swift_wipe(token);
    free(token);
    free(base);
    if (e)
        return e;
    sd_http_request q;
    swift_http_req(r, &b, &q);
    if (stream)
        e = sd_http_stream_open(c, &q, resp, stream);
    else
        e = sd_http_do(c, &q, resp);
    swift_built_free(&b);
    return e;
}

/* Sends r, and once more with a renewed token after a 401. */
static sd_error *swift_exchange(swift_driver *d, sd_http_client *c, const swift_req *r,
                                sd_http_response *resp, sd_http_stream **stream)
{
    unsigned long gen = 0;
    memset(resp, 0, sizeof *resp);
    sd_error *e = swift_send(d, c, r, false, &gen, resp, stream);
    if (e || resp->status != 401)
        return e;
    if (r->body_read && !r->body_rewind)
        return NULL; /* the body is gone: the 401 is the answer */
    if (r->body_read && (e = r->body_rewind(r->body_ud)) != NULL)
        return e;
    if (stream && *stream) {
        sd_http_stream_close(*stream);
        *stream = NULL;
    }
    sd_http_response_free(resp);
    return swift_send(d, c, r, true, &gen, resp, stream);
}

sd_error *swift_do(swift_driver *d, sd_http_client *c, const swift_req *r, sd_http_response *resp)
{
    sd_http_client *own = NULL;
    sd_error *e = NULL;
    if (!c && (e = sd_http_pool_get(d->pool, &own)) != NULL) {
        memset(resp, 0, sizeof *resp);
        return e;
    }
    e = swift_exchange(d, c ? c : own, r, resp, NULL);
    /* A client whose transfer failed may hold a broken connection. */
    sd_http_pool_put(d->pool, own, e == NULL);
    return e;
}

sd_error *swift_stream(swift_driver *d, sd_http_client *c, const swift_req *r,
                       sd_http_response *resp, sd_http_stream **out)
{
    *out = NULL;
    return swift_exchange(d, c, r, resp, out);
}

sd_error *swift_call(swift_driver *d, sd_http_client *c, const swift_req *r,
                     sd_http_response *resp, const char *path)
{
    sd_error *e = swift_do(d, c, r, resp);
    if (!e && resp->status / 100 != 2)
        e = swift_error(r, resp, path);
    return e;
}

/* ------------------------------------------------------------ errors */

char *swift_what(const swift_req *r)
{
    if (r->what)
        return sd_strdup(r->what);
    if (r->object)
        return sd_asprintf("%s %s", r->method, r->object);
    return sd_asprintf("%s %s", r->method, r->account ? "account" : "container");
}

/* The text of an error body: tags dropped, white space folded, at most 200
 * bytes; *title gets the <h1> text (Swift's "Not Found", "Unauthorized"). */
static char *swift_body_text(const sd_http_response *resp, char **title)
{
    *title = NULL;
    const char *b = resp->body.data;
    size_t n = resp->body.len;
    if (!b || !n)
        return NULL;
    const char *h1 = memmem(b, n, "<h1>", 4);
    if (h1) {
        const char *end = memmem(h1, n - (size_t)(h1 - b), "</h1>", 5);
        if (end && end - h1 - 4 < 80)
            *title = sd_strndup(h1 + 4, (size_t)(end - h1 - 4));
    }
    sd_buf t = {0};
    bool tag = false, space = false;
    for (size_t i = 0; i < n && t.len < 200; i++) {
        char ch = b[i];
        if (ch == '<') {
            tag = true;
            space = t.len > 0;
            continue;
        }
        if (tag) {
            tag = ch != '>';
            continue;
        }
        if (isspace((unsigned char)ch) || (unsigned char)ch < 32) {
            space = t.len > 0;
            continue;
        }
        if (space && sd_buf_append(&t, " ", 1))
            break;
        space = false;
        if (sd_buf_append(&t, &ch, 1))
            break;
    }
    if (sd_buf_append(&t, "", 1)) {
        sd_buf_free(&t);
        return NULL;
    }
    return t.data;
}

/* Keystone's errors: {"error": {"title": "Unauthorized", "message": "..."}}. */
static char *swift_json_text(const sd_http_response *resp, char **title)
{
    *title = NULL;
    if (!resp->body.len || resp->body.data[0] != '{')
        return NULL;
    json_t *doc = json_loadb(resp->body.data, resp->body.len, 0, NULL);
    json_t *err = json_object_get(doc, "error");
    const char *t = json_string_value(json_object_get(err, "title"));
    const char *m = json_string_value(json_object_get(err, "message"));
    char *text = NULL;
    if (t && m) {
        *title = sd_strndup(t, strnlen(t, 80)); /* sd_strndup copies n bytes */
        text = sd_asprintf("%s %.200s", t, m);
    }
    json_decref(doc);
    return text;
}

sd_error *swift_error(const swift_req *r, const sd_http_response *resp, const char *path)
{
    if (path && r->object && resp->status == 404)
        return sd_err_path_not_found(path);
    char *what = swift_what(r);
    char *title = NULL;
    char *text = swift_json_text(resp, &title);
    if (!text)
        text = swift_body_text(resp, &title);
    /* The title repeats in the text: keep what follows it. */
    const char *rest = text;
    if (title && text && strncmp(text, title, strlen(title)) == 0) {
        rest = text + strlen(title);
        while (*rest == ' ')
            rest++;
    }
    sd_error *e;
    if (rest && *rest)
        e = sd_err_driver("%s: HTTP %ld%s%s: %s", what ? what : r->method, resp->status,
                          title ? " " : "", title ? title : "", rest);
    else
        e = sd_err_driver("%s: HTTP %ld%s%s", what ? what : r->method, resp->status,
                          title ? " " : "", title ? title : "");
    if (e && e->detail && strcmp(e->detail, "out of memory") != 0) {
        e->status = (int)resp->status;
        if (title) {
            /* "Not Found" -> "NotFound": a code like the other drivers'. */
            char *code = malloc(strlen(title) + 1), *o = code;
            for (const char *c = title; code && *c; c++)
                if (!isspace((unsigned char)*c))
                    *o++ = *c;
            if (code)
                *o = '\0';
            e->code = code;
        }
    }
    free(what);
    free(title);
    free(text);
    return e;
}
