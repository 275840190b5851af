/* Checks the swift driver's TempURL signing (drivers/swift_tempurl.c)
 * against Swift's own vectors (../shared/vectors/swift/tempurl_vectors.json).
 *
 *   build/swift_tempurl_vectors FILE
 *
 * Each case of "cases": the signature in the encoding the case names (hex,
 * or "<digest>:" + URL-safe base64), compared with temp_url_sig or hmac_hex;
 * and, where the case gives one, the whole URL built on its origin.  A HEAD
 * case is signed with its signed_method, as the driver signs HEAD as GET.
 * Prints "ok <case>" or "FAILED <case>: <what differs>" per case, then
 * "swift tempurl vectors: N passed, M failed"; exit 0 only when all passed
 * and at least one case was found. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../drivers/swift.h"

static int passed, failed;

static void fail(const char *name, const char *what, const char *want, const char *got)
{
    printf("FAILED %s: %s\n  want %s\n  got  %s\n", name, what, want ? want : "(none)",
           got ? got : "(none)");
    failed++;
}

static void check_case(json_t *c)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    json_t *in = json_object_get(c, "inputs"), *ex = json_object_get(c, "expected");
    const char *key = json_string_value(json_object_get(in, "key"));
    const char *method = json_string_value(json_object_get(in, "method"));
    if (!method)
        method = json_string_value(json_object_get(in, "signed_method"));
    const char *path = json_string_value(json_object_get(in, "path"));
    const char *digest = json_string_value(json_object_get(in, "digest"));
    const char *encoding = json_string_value(json_object_get(in, "encoding"));
    const char *ip = json_string_value(json_object_get(in, "ip_range"));
    json_t *expires = json_object_get(in, "expires");
    const char *want = json_string_value(json_object_get(ex, "temp_url_sig"));
    if (!want)
        want = json_string_value(json_object_get(ex, "hmac_hex"));
    if (!name || !key || !method || !path || !digest || !encoding ||
        !json_is_integer(expires) || !want) {
        fail(name ? name : "?", "case without the inputs this checker reads", NULL, NULL);
        return;
    }
    int form = strcmp(encoding, "hex") == 0 ? SWIFT_SIG_HEX : SWIFT_SIG_PREFIXED;
    char *sig = swift_tempurl_sig(digest, form, key, strlen(key), method,
                                  json_integer_value(expires), path, ip);
    if (!sig || strcmp(sig, want) != 0) {
        fail(name, "signature", want, sig);
        free(sig);
        return;
    }
    const char *want_url = json_string_value(json_object_get(ex, "url"));
    if (want_url) {
        /* the origin is everything before the path */
        const char *p = strstr(want_url, "://");
        p = p ? strchr(p + 3, '/') : NULL;
        char *origin = p ? strndup(want_url, (size_t)(p - want_url)) : NULL;
        char *url = origin ? swift_tempurl_url(origin, path, sig, json_integer_value(expires), ip)
                           : NULL;
        int bad = !url || strcmp(url, want_url) != 0;
        if (bad)
            fail(name, "url", want_url, url);
        free(origin);
        free(url);
        if (bad) {
            free(sig);
            return;
        }
    }
    printf("ok %s\n", name);
    passed++;
    free(sig);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s tempurl_vectors.json\n", argv[0]);
        return 2;
    }
    json_error_t err;
    json_t *doc = json_load_file(argv[1], 0, &err);
    if (!doc) {
        fprintf(stderr, "%s: %s (line %d)\n", argv[1], err.text, err.line);
        return 2;
    }
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(doc, "cases"), i, c)
        check_case(c);
    json_decref(doc);
    printf("swift tempurl vectors: %d passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}
