/* Keeping secrets out of error texts and the debug trace. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "../util.h"

static const char *const redact_headers[] = {
    "authorization", "proxy-authorization", "x-amz-security-token", "x-auth-token",
    /* Swift and Keystone */
    "x-auth-key", "x-storage-token", "x-subject-token", "x-service-token",
    "x-account-meta-temp-url-key", "x-account-meta-temp-url-key-2",
    "x-container-meta-temp-url-key", "x-container-meta-temp-url-key-2",
    NULL,
};

/* Query parameters that carry a signature or a credential. */
static const char *const redact_params[] = {
    "x-amz-signature", "x-amz-security-token", "x-amz-credential", "signature", "sig",
    "credential", /* inside an Authorization value quoted back by a server */
    "temp_url_sig", /* Swift TempURLs */
    NULL,
};

static const char REDACTED[] = "REDACTED";

char *sd_http_safe_url(const char *url)
{
    if (!url)
        return NULL;
    size_t end = strcspn(url, "?#");
    const char *scheme = strstr(url, "://");
    size_t host = 0;
    if (scheme && (size_t)(scheme - url) < end) {
        host = (size_t)(scheme - url) + 3;
        size_t auth_end = host + strcspn(url + host, "/?#");
        const char *at = memchr(url + host, '@', auth_end - host);
        if (at) {
            /* scheme:// + what follows the '@' */
            size_t after = (size_t)(at + 1 - url);
            char *out = malloc(host + (end - after) + 1);
            if (!out)
                return NULL;
            memcpy(out, url, host);
            memcpy(out + host, url + after, end - after);
            out[host + end - after] = '\0';
            return out;
        }
    }
    return sd_strndup(url, end);
}

static int name_in(const char *s, size_t n, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strlen(list[i]) == n && strncasecmp(s, list[i], n) == 0)
            return 1;
    return 0;
}

char *sd_http_redact(const char *text, size_t textlen)
{
    /* A NUL-terminated copy, so the scans below never run past the end. */
    char *line = sd_strndup(text, textlen);
    if (!line)
        return NULL;
    size_t len = strlen(line);
    sd_buf out = {0};
    /* A header whose whole value is secret. */
    const char *colon = memchr(line, ':', len);
    if (colon) {
        size_t n = (size_t)(colon - line);
        if (name_in(line, n, redact_headers)) {
            if (sd_buf_append(&out, line, n + 1) || sd_buf_append(&out, " ", 1) ||
                sd_buf_append(&out, REDACTED, sizeof REDACTED))
                goto oom;
            free(line);
            return out.data;
        }
    }
    /* Elsewhere: secret query parameters, wherever a name=value follows one of
     * '?', '&', ' ', ',' or the start (request lines, Location headers, URLs). */
    size_t i = 0;
    while (i < len) {
        int boundary = i == 0 || strchr("?&;, ", line[i - 1]) != NULL;
        if (boundary) {
            size_t n = strcspn(line + i, "=&?; ,\r\n");
            if (i + n < len && line[i + n] == '=' && name_in(line + i, n, redact_params)) {
                if (sd_buf_append(&out, line + i, n + 1) ||
                    sd_buf_append(&out, REDACTED, sizeof REDACTED - 1))
                    goto oom;
                i += n + 1;
                i += strcspn(line + i, "& ,;\r\n");
                if (i > len)
                    i = len;
                continue;
            }
        }
        if (sd_buf_append(&out, line + i, 1))
            goto oom;
        i++;
    }
    if (sd_buf_append(&out, "", 1))
        goto oom;
    free(line);
    return out.data;
oom:
    free(line);
    sd_buf_free(&out);
    return NULL;
}
