/* Authentication of the swift driver: a token and the storage URL.
 *
 *   v1  GET authurl with X-Auth-User / X-Auth-Key (tempauth, swauth):
 *       X-Auth-Token and X-Storage-Url come back.
 *   v2  Keystone: POST <authurl>/tokens with passwordCredentials and
 *       tenantName / tenantId; the token and the service catalog come back.
 *   v3  Keystone: POST <authurl>/auth/tokens with the password method (user
 *       by name in a domain), scoped to a project (by id, or by name in its
 *       domain) or to a trust; X-Subject-Token and the catalog come back.
 *
 * The storage URL of v2 and v3 is the catalog's object-store endpoint of the
 * interface endpointtype (default public) in region (when given).
 * Every failure is "authentication failed: ..." with the status when the
 * server answered; the password never appears in it. */
#include "swift.h"
#include "../runtime/util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sd_error *auth_fail(long status, const char *fmt, const char *a, const char *b)
{
    sd_error *e = sd_err_driver(fmt, a, b);
    if (e && e->detail && strcmp(e->detail, "out of memory") != 0 && status)
        e->status = (int)status;
    return e;
}

/* An answer that is not 2xx: "authentication failed: <what>: HTTP <status> ...". */
static sd_error *auth_status(const swift_req *r, const sd_http_response *resp)
{
    sd_error *e = swift_error(r, resp, NULL);
    sd_error *w = auth_fail(resp->status, "authentication failed: %s%s",
                            e && e->detail ? e->detail : "?", "");
    if (w && e && e->code && w->status && !w->code)
        w->code = sd_strdup(e->code);
    sd_error_free(e);
    return w;
}

static char *auth_url_join(const char *base, const char *tail)
{
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    return sd_asprintf("%.*s/%s", (int)n, base, tail);
}

static sd_error *auth_set(swift_driver *d, const char *token, const char *url)
{
    char *t = sd_strdup(token), *u = sd_strdup(url);
    if (!t || !u) {
        free(t);
        free(u);
        return swift_oom();
    }
    size_t n = strlen(u);
    while (n > 0 && u[n - 1] == '/')
        u[--n] = '\0';
    if (d->token)
        memset(d->token, 0, strlen(d->token));
    free(d->token);
    free(d->storage_url);
    d->token = t;
    d->storage_url = u;
    d->auth_gen++;
    return NULL;
}

/* ------------------------------------------------------------ v1 */

static sd_error *auth_v1(swift_driver *d, sd_http_client *c)
{
    char *user = sd_asprintf("X-Auth-User: %s", d->username);
    char *key = sd_asprintf("X-Auth-Key: %s", d->password);
    sd_error *e = NULL;
    sd_http_response resp = {0};
    if (!user || !key) {
        e = swift_oom();
        goto done;
    }
    const char *hdrs[] = { user, key, NULL };
    sd_http_request q = { .method = "GET", .url = d->authurl, .headers = hdrs,
                          .idempotent = true };
    e = sd_http_do(c, &q, &resp);
    if (e)
        goto done;
    char *safe = sd_http_safe_url(d->authurl);
    char what[600];
    snprintf(what, sizeof what, "GET %s", safe ? safe : "authurl");
    free(safe);
    swift_req r = { .method = "GET", .what = what };
    if (resp.status / 100 != 2) {
        e = auth_status(&r, &resp);
        goto done;
    }
    const char *tok = sd_http_response_header(&resp, "X-Auth-Token");
    if (!tok)
        tok = sd_http_response_header(&resp, "X-Storage-Token");
    const char *url = sd_http_response_header(&resp, "X-Storage-Url");
    if (!tok || !*tok || !url || !*url)
        e = auth_fail(resp.status, "authentication failed: %s: HTTP %s answer without "
                      "X-Auth-Token and X-Storage-Url (is authurl an auth v1 endpoint?)",
                      what, "2xx");
    else
        e = auth_set(d, tok, url);
done:
    if (key)
        memset(key, 0, strlen(key));
    free(user);
    free(key);
    sd_http_response_free(&resp);
    return e;
}

/* ------------------------------------------------------------ Keystone */

static json_t *auth_domain(const char *id, const char *name)
{
    if (id && *id)
        return json_pack("{s:s}", "id", id);
    if (name && *name)
        return json_pack("{s:s}", "name", name);
    return NULL;
}

static json_t *auth_v2_body(const swift_driver *d)
{
    json_t *a = json_pack("{s:{s:s,s:s}}", "passwordCredentials", "username", d->username,
                          "password", d->password);
    if (a && d->tenantid[0])
        json_object_set_new(a, "tenantId", json_string(d->tenantid));
    else if (a && d->tenant[0])
        json_object_set_new(a, "tenantName", json_string(d->tenant));
    return a ? json_pack("{s:o}", "auth", a) : NULL;
}

static json_t *auth_v3_body(const swift_driver *d)
{
    json_t *udom = auth_domain(d->domainid, d->domain);
    if (!udom)
        udom = json_pack("{s:s}", "name", "Default");
    json_t *auth = json_pack("{s:{s:[s],s:{s:{s:s,s:s,s:o}}}}", "identity", "methods",
                             "password", "password", "user", "name", d->username, "password",
                             d->password, "domain", udom);
    if (!auth)
        return NULL;
    json_t *scope = NULL;
    if (d->trustid[0]) {
        scope = json_pack("{s:{s:s}}", "OS-TRUST:trust", "id", d->trustid);
    } else if (d->tenantid[0]) {
        scope = json_pack("{s:{s:s}}", "project", "id", d->tenantid);
    } else if (d->tenant[0]) {
        json_t *pdom = auth_domain(d->tenantdomainid, d->tenantdomain);
        if (!pdom)
            pdom = auth_domain(d->domainid, d->domain);
        if (!pdom)
            pdom = json_pack("{s:s}", "name", "Default");
        scope = json_pack("{s:{s:s,s:o}}", "project", "name", d->tenant, "domain", pdom);
    }
    if (scope)
        json_object_set_new(auth, "scope", scope);
    return json_pack("{s:o}", "auth", auth);
}

/* The catalog's object-store URL: v2 entries carry <type>URL fields, v3
 * entries an interface and a url. */
static const char *auth_endpoint(const swift_driver *d, json_t *catalog, int version)
{
    const char *iface = d->endpointtype[0] ? d->endpointtype : "public";
    size_t i, j;
    json_t *svc, *ep;
    json_array_foreach(catalog, i, svc) {
        const char *type = json_string_value(json_object_get(svc, "type"));
        if (!type || strcmp(type, "object-store") != 0)
            continue;
        json_array_foreach(json_object_get(svc, "endpoints"), j, ep) {
            const char *region = json_string_value(json_object_get(ep, "region"));
            const char *region_id = json_string_value(json_object_get(ep, "region_id"));
            if (d->region[0] && !(region && strcmp(region, d->region) == 0) &&
                !(region_id && strcmp(region_id, d->region) == 0))
                continue;
            if (version == 2) {
                char field[16];
                snprintf(field, sizeof field, "%sURL", iface);
                const char *url = json_string_value(json_object_get(ep, field));
                if (url && *url)
                    return url;
            } else {
                const char *in = json_string_value(json_object_get(ep, "interface"));
                const char *url = json_string_value(json_object_get(ep, "url"));
                if (in && url && *url && strcmp(in, iface) == 0)
                    return url;
            }
        }
    }
    return NULL;
}

static sd_error *auth_keystone(swift_driver *d, sd_http_client *c)
{
    int v = d->authversion;
    json_t *body = v == 2 ? auth_v2_body(d) : auth_v3_body(d);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    char *url = auth_url_join(d->authurl, v == 2 ? "tokens" : "auth/tokens");
    char *safe = url ? sd_http_safe_url(url) : NULL;
    char what[600];
    snprintf(what, sizeof what, "POST %s", safe ? safe : "authurl");
    sd_http_response resp = {0};
    json_t *doc = NULL;
    sd_error *e = NULL;
    if (!text || !url || !safe) {
        e = swift_oom();
        goto done;
    }
    const char *hdrs[] = { "Content-Type: application/json", "Accept: application/json", NULL };
    sd_http_request q = { .method = "POST", .url = url, .headers = hdrs, .body = text,
                          .body_len = strlen(text), .idempotent = true };
    if ((e = sd_http_do(c, &q, &resp)) != NULL)
        goto done;
    swift_req r = { .method = "POST", .what = what };
    if (resp.status / 100 != 2) {
        e = auth_status(&r, &resp);
        goto done;
    }
    json_error_t jerr;
    doc = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, &jerr);
    if (!json_is_object(doc)) {
        const char *ct = sd_http_response_header(&resp, "Content-Type");
        e = auth_fail(resp.status, "authentication failed: %s: the answer is not a Keystone "
                      "token (Content-Type %s)", what, ct ? ct : "none");
        goto done;
    }
    const char *token;
    json_t *catalog;
    if (v == 2) {
        json_t *access = json_object_get(doc, "access");
        token = json_string_value(json_object_get(json_object_get(access, "token"), "id"));
        catalog = json_object_get(access, "serviceCatalog");
    } else {
        token = sd_http_response_header(&resp, "X-Subject-Token");
        catalog = json_object_get(json_object_get(doc, "token"), "catalog");
    }
    if (!token || !*token) {
        e = auth_fail(resp.status, "authentication failed: %s: no token in the answer%s", what, "");
        goto done;
    }
    const char *storage = auth_endpoint(d, catalog, v);
    if (!storage) {
        char detail[200];
        snprintf(detail, sizeof detail, "(interface %s%s%s)",
                 d->endpointtype[0] ? d->endpointtype : "public", d->region[0] ? ", region " : "",
                 d->region);
        e = auth_fail(0, "authentication failed: no object-store endpoint in the catalog %s%s",
                      detail, "");
        goto done;
    }
    e = auth_set(d, token, storage);
done:
    json_decref(doc);
    if (text)
        memset(text, 0, strlen(text));
    free(text);
    free(url);
    free(safe);
    sd_http_response_free(&resp);
    return e;
}

sd_error *swift_authenticate(swift_driver *d, sd_http_client *c)
{
    return d->authversion == 1 ? auth_v1(d, c) : auth_keystone(d, c);
}
