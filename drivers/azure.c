/* The azure driver: parameters, credentials, the endpoint, signed requests
 * and the service's errors.
 *
 * Parameters (the reference's v3 names; README "azure" lists the choices):
 *   accountname, accountkey, container (required), realm, serviceurl,
 *   rootdirectory, connectionstring, skipverify
 *   credentials     a map: type = shared_key (the default with a key),
 *                   sas (with token = the SAS token); client_secret and
 *                   default_credentials (Azure AD) are refused clearly
 *   max_retries     copy-status polls of move (default 5; 0 = 5; -1 = no
 *                   waiting: a pending copy is aborted); also the older
 *                   copy_status_poll_max_retry
 *   retry_delay     base pause between polls (default "100ms", a Go-style
 *                   duration or seconds); also copy_status_poll_delay
 *   chunksize       block size of the writer (default 16 MiB)
 *   uploadconcurrency  blocks of one writer on the wire at once (default 4)
 *   maxretries      HTTP retries of a safe request (default 4)
 *   useragent, loglevel  as the s3 driver's
 * Without accountname/accountkey/connectionstring the environment's
 * AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_ACCOUNT and
 * AZURE_STORAGE_KEY are used. */
#include "azure.h"
#include "../runtime/sign/azure.h"
#include "../runtime/util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define AZ_NAME "azure"

sd_error *az_oom(void)
{
    return sd_err_driver("out of memory");
}

/* ------------------------------------------------------------ parameters */

typedef struct az_settings {
    char *accountname, *accountkey, *container, *realm, *serviceurl, *rootdirectory;
    char *connectionstring, *credtype, *sastoken, *retrydelay, *useragent, *loglevel;
    bool skipverify;
    int64_t maxpolls, chunksize, uploadconc, maxretries;
} az_settings;

static void az_wipe(char *s)
{
    if (s)
        memset(s, 0, strlen(s));
}

static void az_settings_free(az_settings *s)
{
    char **strs[] = { &s->accountname, &s->accountkey, &s->container, &s->realm,
                      &s->serviceurl, &s->rootdirectory, &s->connectionstring, &s->credtype,
                      &s->sastoken, &s->retrydelay, &s->useragent, &s->loglevel };
    az_wipe(s->accountkey);
    az_wipe(s->connectionstring);
    az_wipe(s->sastoken);
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
}

/* Replaces *v with a copy of val. */
static sd_error *az_set(char **v, const char *val, size_t len)
{
    char *n = sd_strndup(val, len);
    if (!n)
        return az_oom();
    az_wipe(*v);
    free(*v);
    *v = n;
    return NULL;
}

/* A Go-style duration ("100ms", "1.5s", "1m30s") or a number of seconds,
 * into milliseconds; -1 when malformed. */
static int64_t az_duration_ms(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end != s && *end == '\0')
        return v < 0 ? -1 : (int64_t)(v * 1000);
    double total = 0;
    const char *p = s;
    if (!*p)
        return -1;
    while (*p) {
        v = strtod(p, &end);
        if (end == p || v < 0)
            return -1;
        p = end;
        double unit;
        if (strncmp(p, "ns", 2) == 0) unit = 1e-6, p += 2;
        else if (strncmp(p, "us", 2) == 0) unit = 1e-3, p += 2;
        else if (strncmp(p, "ms", 2) == 0) unit = 1, p += 2;
        else if (*p == 's') unit = 1000, p++;
        else if (*p == 'm') unit = 60000, p++;
        else if (*p == 'h') unit = 3600000, p++;
        else return -1;
        total += v * unit;
    }
    return (int64_t)total;
}

/* "Key=Value;Key=Value;..." (values may hold '='). */
static sd_error *az_connection_string(const char *cs, az_settings *s)
{
    const char *p = cs;
    sd_error *e = NULL;
    bool any = false;
    char *blob_endpoint = NULL, *protocol = NULL, *suffix = NULL;
    bool dev = false;
    while (*p && !e) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len > 0 && isspace((unsigned char)*p))
            p++, len--;
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            if (!eq || eq == p) {
                e = sd_err_invalid_parameter(AZ_NAME, "connectionstring",
                                             "malformed connection string: an entry without "
                                             "Key=Value (entry %d)", any ? 2 : 1);
                break;
            }
            any = true;
            size_t kl = (size_t)(eq - p);
            const char *v = eq + 1;
            size_t vl = len - kl - 1;
#define IS(k) (kl == strlen(k) && strncasecmp(p, k, kl) == 0)
            if (IS("AccountName"))
                e = az_set(&s->accountname, v, vl);
            else if (IS("AccountKey"))
                e = az_set(&s->accountkey, v, vl);
            else if (IS("SharedAccessSignature"))
                e = az_set(&s->sastoken, v, vl);
            else if (IS("BlobEndpoint"))
                e = az_set(&blob_endpoint, v, vl);
            else if (IS("DefaultEndpointsProtocol"))
                e = az_set(&protocol, v, vl);
            else if (IS("EndpointSuffix"))
                e = az_set(&suffix, v, vl);
            else if (IS("UseDevelopmentStorage"))
                dev = vl == 4 && strncasecmp(v, "true", 4) == 0;
#undef IS
            /* Other services' endpoints and unknown keys are not ours. */
        }
        p += len + (end ? 1 : 0);
    }
    if (!e && !any)
        e = sd_err_invalid_parameter(AZ_NAME, "connectionstring",
                                     "malformed connection string: no Key=Value entry");
    if (!e && dev) {
        if ((e = az_set(&s->accountname, "devstoreaccount1", 16)) == NULL)
            e = az_set(&s->accountkey,
                       "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
                       "KBHBeksoGMGw==", 88);
        if (!e && !blob_endpoint)
            e = az_set(&blob_endpoint, "http://127.0.0.1:10000/devstoreaccount1", 39);
    }
    if (!e && blob_endpoint && !s->serviceurl[0])
        e = az_set(&s->serviceurl, blob_endpoint, strlen(blob_endpoint));
    if (!e && suffix && !blob_endpoint)
        e = az_set(&s->realm, suffix, strlen(suffix));
    if (!e && protocol && !blob_endpoint && s->accountname[0] && !s->serviceurl[0]) {
        if (strcasecmp(protocol, "http") != 0 && strcasecmp(protocol, "https") != 0)
            e = sd_err_invalid_parameter(AZ_NAME, "connectionstring",
                                         "malformed connection string: DefaultEndpointsProtocol "
                                         "must be http or https");
        char *url = e ? NULL : sd_asprintf("%s://%s.blob.%s", protocol, s->accountname, s->realm);
        if (!e && !url)
            e = az_oom();
        if (url) {
            free(s->serviceurl);
            s->serviceurl = url;
        }
    }
    if (!e && !s->accountname[0])
        e = sd_err_invalid_parameter(AZ_NAME, "connectionstring",
                                     "malformed connection string: no AccountName");
    free(blob_endpoint);
    free(protocol);
    free(suffix);
    return e;
}

static sd_error *az_read_credentials(sd_params *p, az_settings *s)
{
    sd_params *c = NULL;
    sd_error *e = sd_params_map(p, AZ_NAME, "credentials", &c);
    if (e || !c)
        return e;
    char *dummy = NULL;
    const char *keys[] = { "type", "token", "clientid", "tenantid", "secret" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0] && !e; i++) {
        char **dst = i == 0 ? &s->credtype : i == 1 ? &s->sastoken : &dummy;
        char *v = NULL;
        e = sd_params_string(c, AZ_NAME, keys[i], NULL, &v);
        if (!e && v) {
            az_wipe(*dst);
            free(*dst);
            *dst = v;
        }
    }
    az_wipe(dummy);
    free(dummy);
    if (!e)
        e = sd_params_finish(c, AZ_NAME);
    if (e && e->parameter && strcmp(e->parameter, "credentials") != 0) {
        char *n = sd_asprintf("credentials.%s", e->parameter);
        if (n) {
            free(e->parameter);
            e->parameter = n;
        }
    }
    return e;
}

static sd_error *az_read_params(sd_params *p, az_settings *s)
{
    sd_error *e;
    const char *n = AZ_NAME;
#define STR(key, def, field) \
    if ((e = sd_params_string(p, n, key, def, &s->field)) != NULL) return e
#define INT(key, def, lo, hi, field) \
    if ((e = sd_params_int(p, n, key, def, lo, hi, &s->field)) != NULL) return e
    STR("accountname", "", accountname);
    STR("accountkey", "", accountkey);
    STR("container", "", container);
    STR("realm", "core.windows.net", realm);
    STR("serviceurl", "", serviceurl);
    STR("rootdirectory", "", rootdirectory);
    STR("connectionstring", "", connectionstring);
    STR("useragent", "", useragent);
    if ((e = sd_params_bool(p, n, "skipverify", false, &s->skipverify)) != NULL)
        return e;
    /* v3 names first; the pre-release names when only they are given. */
    const char *polls = sd_params_has(p, "max_retries") || !sd_params_has(p, "copy_status_poll_max_retry")
                            ? "max_retries" : "copy_status_poll_max_retry";
    INT(polls, 5, -1, 100000, maxpolls);
    const char *delay = sd_params_has(p, "retry_delay") || !sd_params_has(p, "copy_status_poll_delay")
                            ? "retry_delay" : "copy_status_poll_delay";
    STR(delay, "100ms", retrydelay);
    /* the other name, if given too, is read (and ignored) */
    int64_t ignored;
    char *ign = NULL;
    if (strcmp(polls, "max_retries") == 0 &&
        (e = sd_params_int(p, n, "copy_status_poll_max_retry", 0, -1, 100000, &ignored)) != NULL)
        return e;
    if (strcmp(delay, "retry_delay") == 0 &&
        (e = sd_params_string(p, n, "copy_status_poll_delay", "", &ign)) != NULL)
        return e;
    free(ign);
    INT("chunksize", 16 << 20, 64 << 10, AZ_MAX_BLOCK, chunksize);
    INT("uploadconcurrency", 4, 1, 64, uploadconc);
    INT("maxretries", 4, 0, 20, maxretries);
#undef STR
#undef INT
    if (sd_params_has(p, "loglevel")) {
        e = sd_params_string(p, n, "loglevel", "off", &s->loglevel);
        if (e) {
            sd_error_free(e);
            s->loglevel = NULL;
        }
    }
    if ((e = az_read_credentials(p, s)) != NULL || (e = sd_params_finish(p, n)) != NULL)
        return e;

    /* The environment, when the parameters name no account. */
    if (!s->accountname[0] && !s->connectionstring[0]) {
        const char *cs = getenv("AZURE_STORAGE_CONNECTION_STRING");
        const char *acct = getenv("AZURE_STORAGE_ACCOUNT");
        const char *key = getenv("AZURE_STORAGE_KEY");
        if (cs && *cs && (e = az_set(&s->connectionstring, cs, strlen(cs))))
            return e;
        if ((!cs || !*cs) && acct && *acct && (e = az_set(&s->accountname, acct, strlen(acct))))
            return e;
        if ((!cs || !*cs) && key && *key && !s->accountkey[0] &&
            (e = az_set(&s->accountkey, key, strlen(key))))
            return e;
    }
    if (s->connectionstring[0] && (e = az_connection_string(s->connectionstring, s)) != NULL)
        return e;

    if (!s->accountname[0])
        return sd_err_invalid_parameter(n, "accountname", "no accountname parameter provided");
    for (const char *c = s->accountname; *c; c++)
        if (!isalnum((unsigned char)*c))
            return sd_err_invalid_parameter(n, "accountname", "invalid account name: %s",
                                            s->accountname);
    if (!s->container[0])
        return sd_err_invalid_parameter(n, "container", "no container parameter provided");
    for (const char *c = s->container; *c; c++)
        if (!(islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '-' ||
              (*c == '$' && c == s->container)))
            return sd_err_invalid_parameter(n, "container", "invalid container name: %s",
                                            s->container);
    if (!s->credtype) {
        const char *t = s->sastoken && s->sastoken[0] && !s->accountkey[0] ? "sas" : "shared_key";
        if (!(s->credtype = sd_strdup(t)))
            return az_oom();
    }
    if (strcmp(s->credtype, "shared_key") == 0) {
        if (!s->accountkey[0])
            return sd_err_invalid_parameter(n, "accountkey",
                                            "no accountkey parameter provided (shared_key "
                                            "credentials)");
    } else if (strcmp(s->credtype, "sas") == 0) {
        if (!s->sastoken || !s->sastoken[0])
            return sd_err_invalid_parameter(n, "credentials.token",
                                            "no SAS token provided (sas credentials)");
    } else if (strcmp(s->credtype, "client_secret") == 0 ||
               strcmp(s->credtype, "default_credentials") == 0) {
        return sd_err_invalid_parameter(n, "credentials.type",
                                        "%s credentials (Azure AD) are not supported: use "
                                        "shared_key or sas", s->credtype);
    } else {
        return sd_err_invalid_parameter(n, "credentials.type", "invalid credentials type: \"%s\"",
                                        s->credtype);
    }
    int64_t ms = az_duration_ms(s->retrydelay);
    if (ms < 0)
        return sd_err_invalid_parameter(n, delay, "invalid duration: %s", s->retrydelay);
    return NULL;
}

/* ------------------------------------------------------------- endpoint */

static sd_error *az_endpoint(az_driver *d, const az_settings *s)
{
    const char *pname = s->serviceurl[0] ? "serviceurl" : "realm";
    if (s->serviceurl[0])
        d->service = sd_strdup(s->serviceurl);
    else
        d->service = sd_asprintf("https://%s.blob.%s", s->accountname, s->realm);
    if (!d->service)
        return az_oom();
    size_t l = strlen(d->service);
    while (l > 0 && d->service[l - 1] == '/')
        d->service[--l] = '\0';
    const char *sep = strstr(d->service, "://");
    if (!sep || (strncasecmp(d->service, "http://", 7) != 0 &&
                 strncasecmp(d->service, "https://", 8) != 0))
        return sd_err_invalid_parameter(AZ_NAME, pname, "must be an http(s) URL: %s", d->service);
    const char *host = sep + 3;
    if (!*host || *host == '/' || strchr(d->service, '?') || strchr(d->service, '#') ||
        strchr(host, '@'))
        return sd_err_invalid_parameter(AZ_NAME, pname, "must be scheme://host[:port][/path]: %s",
                                        d->service);
    d->https = strncasecmp(d->service, "https://", 8) == 0;
    const char *path = strchr(host, '/');
    d->service_path = sd_strdup(path ? path : "");
    return d->service_path ? NULL : az_oom();
}

static sd_error *az_root(az_driver *d, const char *root)
{
    while (*root == '/')
        root++;
    size_t len = strlen(root);
    while (len > 0 && root[len - 1] == '/')
        len--;
    d->root = len ? sd_asprintf("%.*s/", (int)len, root) : sd_strdup("");
    if (!d->root)
        return az_oom();
    d->root_len = strlen(d->root);
    return NULL;
}

static void az_trace(void *ud, const char *line)
{
    (void)ud;
    fprintf(stderr, "azure: %s\n", line);
}

void az_destroy_driver(sd_driver *drv)
{
    az_driver *d = (az_driver *)drv;
    sd_http_pool_free(d->pool);
    if (d->key)
        memset(d->key, 0, d->keylen);
    az_wipe(d->sas);
    free(d->key);
    free(d->sas);
    free((char *)d->http.user_agent);
    free(d->account);
    free(d->container);
    free(d->service);
    free(d->service_path);
    free(d->root);
    free(d);
}

static sd_error *az_create(sd_params *params, sd_driver **out)
{
    az_settings s = {0};
    sd_params *empty = NULL;
    if (!params)
        params = empty = sd_params_new();
    sd_error *e = params ? az_read_params(params, &s) : az_oom();
    sd_params_free(empty);
    if (e) {
        az_settings_free(&s);
        return e;
    }
    az_driver *d = calloc(1, sizeof *d);
    if (!d) {
        az_settings_free(&s);
        return az_oom();
    }
    d->base.ops = &az_driver_ops;
    d->base.name = AZ_NAME;
    d->account = s.accountname;
    d->container = s.container;
    s.accountname = s.container = NULL;
    if (strcmp(s.credtype, "sas") == 0) {
        d->cred = AZ_CRED_SAS;
        const char *t = s.sastoken[0] == '?' ? s.sastoken + 1 : s.sastoken;
        if (!(d->sas = sd_strdup(t))) {
            e = az_oom();
            goto fail;
        }
    } else {
        d->cred = AZ_CRED_SHARED_KEY;
        if (sd_azure_key_decode(s.accountkey, &d->key, &d->keylen) != 0) {
            e = sd_err_invalid_parameter(AZ_NAME, "accountkey",
                                         "shared key credentials: the key is not valid base64");
            goto fail;
        }
    }
    d->chunksize = s.chunksize;
    d->upload_concurrency = s.uploadconc;
    d->copy_max_retries = s.maxpolls == 0 ? 5 : s.maxpolls;
    d->copy_delay_ms = az_duration_ms(s.retrydelay);
    sd_http_config_default(&d->http);
    d->http.skipverify = s.skipverify;
    d->http.max_retries = (int)s.maxretries;
    if (s.loglevel && strncasecmp(s.loglevel, "debug", 5) == 0)
        d->http.trace = az_trace;
    if ((e = az_endpoint(d, &s)) || (e = az_root(d, s.rootdirectory)))
        goto fail;
    d->http.user_agent = s.useragent[0] ? sd_asprintf("storagedriver/" SD_VERSION " %s", s.useragent)
                                        : sd_strdup("storagedriver/" SD_VERSION);
    if (!d->http.user_agent) {
        e = az_oom();
        goto fail;
    }
    if ((e = sd_http_pool_new(&d->http, &d->pool)) != NULL)
        goto fail;
    az_settings_free(&s);
    *out = &d->base;
    return NULL;
fail:
    az_settings_free(&s);
    az_destroy_driver(&d->base);
    return e ? e : az_oom();
}

sd_error *sd_azure_factory(sd_params *params, sd_driver **out)
{
    return az_create(params, out);
}

/* ------------------------------------------------------------ names */

char *az_name(const az_driver *d, const char *path)
{
    while (*path == '/')
        path++;
    return sd_asprintf("%s%s", d->root, path);
}

char *az_path(const az_driver *d, const char *name, size_t len)
{
    if (len < d->root_len || memcmp(name, d->root, d->root_len) != 0)
        return NULL;
    name += d->root_len;
    len -= d->root_len;
    if (len == 0)
        return NULL;
    return sd_asprintf("/%.*s", (int)len, name);
}

char *az_enc(const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1);
    if (!out)
        return NULL;
    size_t k = 0;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (isalnum(*c) || *c == '-' || *c == '_' || *c == '.' || *c == '~' ||
            (keep_slash && *c == '/')) {
            out[k++] = (char)*c;
        } else {
            out[k++] = '%';
            out[k++] = hex[*c >> 4];
            out[k++] = hex[*c & 15];
        }
    }
    out[k] = '\0';
    return out;
}

int64_t az_http_time(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!s || !strptime(s, "%a, %d %b %Y %H:%M:%S", &tm))
        return 0;
    return (int64_t)timegm(&tm);
}

/* The URL path of a request: service path, container, blob (encoded). */
static char *az_url_path(const az_driver *d, const char *blob)
{
    char *c = az_enc(d->container, false);
    char *b = blob ? az_enc(blob, true) : NULL;
    char *p = c && (!blob || b) ? sd_asprintf("%s/%s%s%s", d->service_path, c, blob ? "/" : "",
                                              blob ? b : "")
                                : NULL;
    free(c);
    free(b);
    return p;
}

char *az_blob_url(const az_driver *d, const char *blob)
{
    char *p = az_url_path(d, blob);
    const char *host = strstr(d->service, "://") + 3;
    const char *slash = strchr(host, '/');
    size_t base = slash ? (size_t)(slash - d->service) : strlen(d->service);
    char *u = p ? sd_asprintf("%.*s%s", (int)base, d->service, p) : NULL;
    free(p);
    return u;
}

/* ------------------------------------------------------------ signing */

static void az_now(char out[32])
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, 32, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void az_iso(time_t t, char out[24])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 24, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

sd_error *az_blob_sas(az_driver *d, const char *blob, const char *sp, int64_t expiry, char **query)
{
    *query = NULL;
    time_t now = time(NULL);
    char st[24], se[24];
    /* A start a little in the past: the client's clock may run ahead. */
    az_iso(now - 10, st);
    az_iso(now + (time_t)expiry, se);
    char *canonical = sd_asprintf("/blob/%s/%s/%s", d->account, d->container, blob);
    if (!canonical)
        return az_oom();
    sd_azure_sas sas = { .sv = AZ_VERSION, .sp = sp, .st = st, .se = se, .canonical = canonical,
                         .spr = d->https ? "https" : "https,http", .sr = "b" };
    char *sts = sd_azure_service_sas_string(&sas);
    char *sig = sts ? sd_azure_sign(d->key, d->keylen, sts, strlen(sts)) : NULL;
    *query = sig ? sd_azure_service_sas_query(&sas, sig) : NULL;
    free(sts);
    free(sig);
    free(canonical);
    return *query ? NULL : az_oom();
}

/* The URL and the header lines of r, signed; both owned by the caller. */
typedef struct az_built {
    char *url;
    char **lines; /* NULL-terminated */
} az_built;

static void az_built_free(az_built *b)
{
    for (char **l = b->lines; l && *l; l++)
        free(*l);
    free(b->lines);
    free(b->url);
}

static sd_error *az_build(const az_driver *d, const az_req *r, az_built *out)
{
    memset(out, 0, sizeof *out);
    size_t nh = 0;
    for (const char *const *h = r->headers; h && *h; h++)
        nh++;
    char date[32], clen[32];
    az_now(date);
    snprintf(clen, sizeof clen, "%zu", r->body_len);
    bool upload = strcmp(r->method, "PUT") == 0 || r->body_len > 0;
    sd_azure_header *hs = calloc(nh + 4, sizeof *hs);
    char **own = calloc(nh + 1, sizeof *own);
    out->lines = calloc(nh + 4, sizeof *out->lines);
    char *path = az_url_path(d, r->blob);
    char *query = NULL, *sts = NULL, *auth = NULL;
    sd_error *e = NULL;
    if (!hs || !own || !out->lines || !path)
        goto oom;
    size_t n = 0, k = 0;
    for (size_t i = 0; i < nh; i++) {
        const char *h = r->headers[i], *colon = strchr(h, ':');
        if (!colon)
            continue;
        if (!(own[i] = sd_strdup(h)) || !(out->lines[k++] = sd_strdup(h)))
            goto oom;
        own[i][colon - h] = '\0';
        const char *v = own[i] + (colon - h) + 1;
        while (*v == ' ')
            v++;
        hs[n++] = (sd_azure_header){ own[i], v };
    }
    hs[n++] = (sd_azure_header){ "x-ms-date", date };
    hs[n++] = (sd_azure_header){ "x-ms-version", AZ_VERSION };
    if (upload)
        hs[n++] = (sd_azure_header){ "Content-Length", clen };
    if (!(out->lines[k++] = sd_asprintf("x-ms-date: %s", date)) ||
        !(out->lines[k++] = sd_strdup("x-ms-version: " AZ_VERSION)))
        goto oom;
    const char *q = r->query && *r->query ? r->query : NULL;
    if (d->cred == AZ_CRED_SAS)
        query = q ? sd_asprintf("%s&%s", q, d->sas) : sd_strdup(d->sas);
    else
        query = q ? sd_strdup(q) : NULL;
    if (q && !query)
        goto oom;
    if (d->cred == AZ_CRED_SHARED_KEY) {
        sts = sd_azure_sharedkey_string(r->method, hs, n, d->account, path, q);
        auth = sts ? sd_azure_sharedkey_auth(d->account, d->key, d->keylen, sts) : NULL;
        if (!auth || !(out->lines[k++] = sd_asprintf("Authorization: %s", auth)))
            goto oom;
    }
    const char *host = strstr(d->service, "://") + 3;
    const char *slash = strchr(host, '/');
    size_t base = slash ? (size_t)(slash - d->service) : strlen(d->service);
    out->url = sd_asprintf("%.*s%s%s%s", (int)base, d->service, path, query ? "?" : "",
                           query ? query : "");
    if (!out->url)
        goto oom;
    goto done;
oom:
    e = az_oom();
    az_built_free(out);
    memset(out, 0, sizeof *out);
done:
    for (size_t i = 0; own && i < nh; i++)
        free(own[i]);
    free(own);
    free(hs);
    free(path);
    free(query);
    free(sts);
    if (auth)
        az_wipe(auth);
    free(auth);
    return e;
}

static void az_http_req(const az_req *r, const az_built *b, sd_http_request *q)
{
    memset(q, 0, sizeof *q);
    q->method = r->method;
    q->url = b->url;
    q->headers = (const char *const *)b->lines;
    q->body = r->body;
    q->body_len = r->body_len;
    q->idempotent = r->idempotent;
    q->on_data = r->on_data;
    q->data_ud = r->data_ud;
    q->max_body = r->max_body;
}

sd_error *az_do(az_driver *d, sd_http_client *c, const az_req *r, sd_http_response *resp)
{
    memset(resp, 0, sizeof *resp);
    az_built b;
    sd_error *e = az_build(d, r, &b);
    if (e)
        return e;
    sd_http_client *own = NULL;
    if (!c && (e = sd_http_pool_get(d->pool, &own)) != NULL) {
        az_built_free(&b);
        return e;
    }
    sd_http_request q;
    az_http_req(r, &b, &q);
    e = sd_http_do(c ? c : own, &q, resp);
    sd_http_pool_put(d->pool, own, e == NULL);
    az_built_free(&b);
    return e;
}

sd_error *az_stream(az_driver *d, sd_http_client *c, const az_req *r, sd_http_response *resp,
                    sd_http_stream **out)
{
    memset(resp, 0, sizeof *resp);
    az_built b;
    sd_error *e = az_build(d, r, &b);
    if (e)
        return e;
    sd_http_request q;
    az_http_req(r, &b, &q);
    e = sd_http_stream_open(c, &q, resp, out);
    az_built_free(&b);
    return e;
}

/* ------------------------------------------------------------ errors */

const char *az_error_code(const sd_http_response *resp)
{
    return sd_http_response_header(resp, "x-ms-error-code");
}

sd_error *az_error(const az_req *r, const sd_http_response *resp, const char *path)
{
    sd_xml_doc *doc = NULL;
    if (resp->body.len > 0) {
        sd_error *pe = sd_xml_parse(resp->body.data, resp->body.len, NULL, &doc);
        sd_error_free(pe);
    }
    const char *code = doc ? sd_xml_find(doc, "Error/Code") : NULL;
    const char *msg = doc ? sd_xml_find(doc, "Error/Message") : NULL;
    if (!code)
        code = az_error_code(resp);
    if (path && r->blob && resp->status == 404 &&
        (!code || strcmp(code, "BlobNotFound") == 0 || strcmp(code, "ResourceNotFound") == 0)) {
        sd_xml_doc_free(doc);
        return sd_err_path_not_found(path);
    }
    char *what = r->what ? sd_strdup(r->what)
                         : r->blob ? sd_asprintf("%s %s", r->method, r->blob)
                                   : sd_asprintf("%s container", r->method);
    const char *w = what ? what : r->method;
    /* The message's first line: Azure appends RequestId and Time lines. */
    size_t ml = msg ? strcspn(msg, "\r\n") : 0;
    sd_error *e;
    if (code && ml)
        e = sd_err_driver("%s: HTTP %ld %s: %.*s", w, resp->status, code, (int)(ml > 300 ? 300 : ml),
                          msg);
    else if (code)
        e = sd_err_driver("%s: HTTP %ld %s", w, resp->status, code);
    else
        e = sd_err_driver("%s: HTTP %ld", w, resp->status);
    free(what);
    if (e && e->detail && strcmp(e->detail, "out of memory") != 0) {
        e->status = (int)resp->status;
        if (code && *code)
            e->code = sd_strdup(code);
    }
    sd_xml_doc_free(doc);
    return e;
}

sd_error *az_call(az_driver *d, sd_http_client *c, const az_req *r, sd_http_response *resp,
                  const char *path)
{
    sd_error *e = az_do(d, c, r, resp);
    if (!e && resp->status / 100 != 2)
        e = az_error(r, resp, path);
    return e;
}
