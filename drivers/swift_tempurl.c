/* TempURLs of the swift driver: the signature (checked against Swift's own
 * vectors by tests/swift_tempurl_vectors.c), what the cluster offers (/info),
 * the key (installed at sd.create when the driver owns it, as the reference
 * does) and redirect_url.
 *
 * Digest: sha256 where the cluster allows it, else sha512, and sha1 only
 * where it offers nothing else (a cluster too old to say allows only sha1).
 * Key: the container's (X-Container-Meta-Temp-Url-Key) where the cluster
 * has container keys (Swift >= 2.3.0, as the reference decides), else the
 * account's. */
#include "swift.h"
#include "../runtime/util.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SWIFT_REDIRECT_EXPIRY 1200

char *swift_tempurl_sig(const char *digest, int form, const char *key, size_t keylen,
                        const char *method, int64_t expires, const char *path,
                        const char *ip_range)
{
    const EVP_MD *md = strcmp(digest, "sha1") == 0     ? EVP_sha1()
                       : strcmp(digest, "sha256") == 0 ? EVP_sha256()
                       : strcmp(digest, "sha512") == 0 ? EVP_sha512()
                                                       : NULL;
    if (!md)
        return NULL;
    char *body = sd_asprintf("%s%s%s%s\n%lld\n%s", ip_range ? "ip=" : "",
                             ip_range ? ip_range : "", ip_range ? "\n" : "", method,
                             (long long)expires, path);
    if (!body)
        return NULL;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    unsigned char *ok = HMAC(md, key, (int)keylen, (const unsigned char *)body, strlen(body),
                             mac, &maclen);
    free(body);
    if (!ok)
        return NULL;
    if (form == SWIFT_SIG_PREFIXED || (form == SWIFT_SIG_AUTO && md == EVP_sha512())) {
        /* "<digest>:" and URL-safe base64: the form Swift requires for SHA-512 */
        char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
        int n = EVP_EncodeBlock((unsigned char *)b64, mac, (int)maclen);
        for (int i = 0; i < n; i++)
            b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
        return sd_asprintf("%s:%.*s", digest, n, b64);
    }
    char *hex = malloc(2 * maclen + 1);
    for (unsigned int i = 0; hex && i < maclen; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    return hex;
}

char *swift_tempurl_url(const char *origin, const char *path, const char *sig, int64_t expires,
                        const char *ip_range)
{
    char *enc = swift_enc(path, 1);
    char *ip = ip_range ? swift_enc(ip_range, 1) : NULL;
    char *url = NULL;
    if (enc && (!ip_range || ip))
        url = sd_asprintf("%s%s?temp_url_sig=%s&temp_url_expires=%lld%s%s", origin, enc, sig,
                          (long long)expires, ip ? "&temp_url_ip_range=" : "", ip ? ip : "");
    free(enc);
    free(ip);
    return url;
}

/* ------------------------------------------------------------ /info */

/* "<scheme>://<host>[/base]/info" from the storage URL ".../v1/AUTH_x". */
static char *info_url(const char *storage)
{
    char *u = sd_strdup(storage);
    if (!u)
        return NULL;
    char *host = strstr(u, "://");
    host = host ? host + 3 : u;
    for (int i = 0; i < 2; i++) {
        char *slash = strrchr(host, '/');
        if (slash)
            *slash = '\0';
    }
    char *out = sd_asprintf("%s/info", u);
    free(u);
    return out;
}

static sd_error *info_get(swift_driver *d, json_t **out)
{
    *out = NULL;
    char *storage = NULL;
    sd_error *e = swift_storage_url(d, &storage);
    char *url = storage ? info_url(storage) : NULL;
    free(storage);
    if (e || !url) {
        free(url);
        return e ? e : swift_oom();
    }
    sd_http_client *c = NULL;
    sd_http_response resp = {0};
    if ((e = sd_http_pool_get(d->pool, &c)) == NULL) {
        sd_http_request q = { .method = "GET", .url = url, .idempotent = true };
        e = sd_http_do(c, &q, &resp);
        sd_http_pool_put(d->pool, c, e == NULL);
    }
    if (!e && resp.status == 200)
        *out = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
    sd_error_free(e); /* no /info is no error: the parameters say instead */
    sd_http_response_free(&resp);
    free(url);
    return NULL;
}

static bool json_has_string(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        const char *x = json_string_value(v);
        if (x && strcmp(x, s) == 0)
            return true;
    }
    return false;
}

static sd_error *methods_from(json_t *arr, char ***out)
{
    size_t n = json_array_size(arr), k = 0, i;
    json_t *v;
    char **m = calloc(n + 1, sizeof *m);
    if (!m)
        return swift_oom();
    json_array_foreach(arr, i, v) {
        const char *s = json_string_value(v);
        if (s && !(m[k++] = sd_strdup(s))) {
            for (size_t j = 0; j < k; j++)
                free(m[j]);
            free(m);
            return swift_oom();
        }
    }
    *out = m;
    return NULL;
}

/* Reads the key in force and installs ours when needed. */
static sd_error *tempurl_key(swift_driver *d, bool container)
{
    const char *hname = container ? "X-Container-Meta-Temp-Url-Key" : "X-Account-Meta-Temp-Url-Key";
    swift_req h = { .method = "HEAD", .account = !container, .idempotent = true };
    sd_http_response resp;
    sd_error *e = swift_call(d, NULL, &h, &resp, NULL);
    if (e) {
        sd_http_response_free(&resp);
        return e;
    }
    const char *cur = sd_http_response_header(&resp, hname);
    char *want = NULL;
    if (d->secretkey[0]) {
        want = sd_strdup(d->secretkey);
    } else if (cur && *cur) {
        want = sd_strdup(cur); /* a key set by someone else: use it, change nothing */
    } else {
        unsigned char raw[32];
        if (RAND_bytes(raw, sizeof raw) == 1 && (want = malloc(65)))
            for (int i = 0; i < 32; i++)
                snprintf(want + 2 * i, 3, "%02x", raw[i]);
    }
    bool same = cur && want && strcmp(cur, want) == 0;
    sd_http_response_free(&resp);
    if (!want)
        return swift_oom();
    if (!same) {
        char *line = sd_asprintf("%s: %s", hname, want);
        const char *hdrs[] = { line, NULL };
        swift_req p = { .method = "POST", .account = !container, .headers = hdrs,
                        .idempotent = true, .what = "POST (set the TempURL key)" };
        e = line ? swift_call(d, NULL, &p, &resp, NULL) : swift_oom();
        if (line)
            memset(line, 0, strlen(line));
        free(line);
        sd_http_response_free(&resp);
        if (e) {
            memset(want, 0, strlen(want));
            free(want);
            return e;
        }
    }
    d->tempurl_key = want;
    return NULL;
}

sd_error *swift_setup_info(swift_driver *d)
{
    json_t *info = NULL;
    sd_error *e = info_get(d, &info);
    if (e)
        return e;
    bool container_keys = d->param_containerkey;
    if (json_is_object(info)) {
        json_t *bulk = json_object_get(info, "bulk_delete");
        d->bulk_delete = json_is_object(bulk);
        json_int_t max = json_integer_value(json_object_get(bulk, "max_deletes_per_request"));
        d->max_deletes = max > 0 ? max : 1000;
        json_int_t segs = json_integer_value(json_object_get(json_object_get(info, "slo"),
                                                             "max_manifest_segments"));
        if (segs > 0)
            d->max_segments = segs;
        const char *ver = json_string_value(json_object_get(json_object_get(info, "swift"),
                                                            "version"));
        container_keys = ver && strcmp(ver, "2.3.0") >= 0;
        json_t *tu = json_object_get(info, "tempurl");
        for (char **m = d->tempurl_methods; m && *m; m++)
            free(*m);
        free(d->tempurl_methods);
        d->tempurl_methods = NULL;
        if (json_is_object(tu) && (e = methods_from(json_object_get(tu, "methods"),
                                                    &d->tempurl_methods)) != NULL)
            goto done;
        json_t *digests = json_object_get(tu, "allowed_digests");
        d->tempurl_digest = json_has_string(digests, "sha256")   ? "sha256"
                            : json_has_string(digests, "sha512") ? "sha512"
                                                                 : "sha1";
    } else {
        d->bulk_delete = false;
        d->tempurl_digest = "sha1";
    }
    if (d->tempurl_methods && d->tempurl_methods[0])
        e = tempurl_key(d, container_keys);
done:
    json_decref(info);
    return e;
}

/* ------------------------------------------------------------ redirect */

static bool method_allowed(const swift_driver *d, const char *method)
{
    for (char **m = d->tempurl_methods; m && *m; m++)
        if (strcmp(*m, method) == 0)
            return true;
    return false;
}

sd_error *swift_redirect_url(sd_driver *drv, const char *path, const sd_redirect_opts *opts,
                             char **url)
{
    swift_driver *d = (swift_driver *)drv;
    *url = NULL;
    const char *method = opts && opts->method ? opts->method : "GET";
    if (!d->tempurl_key || !method_allowed(d, method))
        return NULL; /* the caller serves the content itself */
    /* A HEAD is accepted with a signature for GET (as the reference signs it). */
    const char *signed_method = strcmp(method, "HEAD") == 0 ? "GET" : method;
    int64_t expires = (int64_t)time(NULL) +
                      (opts && opts->expiry > 0 ? opts->expiry : SWIFT_REDIRECT_EXPIRY);
    char *storage = NULL;
    sd_error *e = swift_storage_url(d, &storage);
    if (e)
        return e;
    /* origin "scheme://host[:port]", then the path Swift signs ("/v1/...") */
    char *host = strstr(storage, "://");
    char *spath = host ? strchr(host + 3, '/') : NULL;
    char *origin = spath ? sd_strndup(storage, (size_t)(spath - storage)) : sd_strdup(storage);
    char *obj = swift_object(d, path);
    char *sign_path = obj ? sd_asprintf("%s/%s/%s", spath ? spath : "", d->container, obj) : NULL;
    char *sig = sign_path ? swift_tempurl_sig(d->tempurl_digest, SWIFT_SIG_AUTO, d->tempurl_key,
                                              strlen(d->tempurl_key), signed_method, expires,
                                              sign_path, NULL)
                          : NULL;
    /* HP Cloud's form names the tenant and access key before the signature */
    char *full = sig && d->accesskey[0] ? sd_asprintf("%s:%s:%s", d->tenantid, d->accesskey, sig)
                                        : NULL;
    if (origin && sig && (full || !d->accesskey[0]))
        *url = swift_tempurl_url(origin, sign_path, full ? full : sig, expires, NULL);
    free(origin);
    free(full);
    if (!*url)
        e = swift_oom();
    free(storage);
    free(obj);
    free(sign_path);
    free(sig);
    return e;
}
