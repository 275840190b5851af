/* The typed parameter map and the getters factories read it with. */
#include "storagedriver.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct param {
    char *key;
    sd_param_type type;
    bool used;
    union {
        struct {
            char *s;
            size_t len;
        } str;
        int64_t i;
        double n;
        bool b;
        sd_params *map;
    } v;
} param;

struct sd_params {
    param *items;
    size_t len, cap;
};

sd_params *sd_params_new(void)
{
    return calloc(1, sizeof(sd_params));
}

static void param_clear(param *p)
{
    if (p->type == SD_PARAM_STRING)
        free(p->v.str.s);
    else if (p->type == SD_PARAM_MAP)
        sd_params_free(p->v.map);
    p->type = 0;
}

void sd_params_free(sd_params *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->len; i++) {
        param_clear(&p->items[i]);
        free(p->items[i].key);
    }
    free(p->items);
    free(p);
}

static param *find(const sd_params *p, const char *key)
{
    if (!p)
        return NULL;
    for (size_t i = 0; i < p->len; i++)
        if (strcmp(p->items[i].key, key) == 0)
            return &p->items[i];
    return NULL;
}

/* The slot for key: the existing one (cleared) or a new one. */
static param *slot(sd_params *p, const char *key)
{
    param *it = find(p, key);
    if (it) {
        param_clear(it);
        it->used = false;
        return it;
    }
    if (p->len == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        param *items = realloc(p->items, cap * sizeof *items);
        if (!items)
            return NULL;
        p->items = items;
        p->cap = cap;
    }
    char *k = sd_strdup(key);
    if (!k)
        return NULL;
    it = &p->items[p->len++];
    memset(it, 0, sizeof *it);
    it->key = k;
    return it;
}

int sd_params_set_string(sd_params *p, const char *key, const char *val, size_t len)
{
    char *s = sd_strndup(val, len);
    if (!s)
        return -1;
    param *it = slot(p, key);
    if (!it) {
        free(s);
        return -1;
    }
    it->type = SD_PARAM_STRING;
    it->v.str.s = s;
    it->v.str.len = len;
    return 0;
}

int sd_params_set_int(sd_params *p, const char *key, int64_t val)
{
    param *it = slot(p, key);
    if (!it)
        return -1;
    it->type = SD_PARAM_INT;
    it->v.i = val;
    return 0;
}

int sd_params_set_number(sd_params *p, const char *key, double val)
{
    param *it = slot(p, key);
    if (!it)
        return -1;
    it->type = SD_PARAM_NUMBER;
    it->v.n = val;
    return 0;
}

int sd_params_set_bool(sd_params *p, const char *key, bool val)
{
    param *it = slot(p, key);
    if (!it)
        return -1;
    it->type = SD_PARAM_BOOL;
    it->v.b = val;
    return 0;
}

int sd_params_set_map(sd_params *p, const char *key, sd_params *sub)
{
    param *it = slot(p, key);
    if (!it) {
        sd_params_free(sub);
        return -1;
    }
    it->type = SD_PARAM_MAP;
    it->v.map = sub;
    return 0;
}

bool sd_params_has(const sd_params *p, const char *key)
{
    return find(p, key) != NULL;
}

/* Marks key used and returns it, or NULL when absent. */
static param *take(sd_params *p, const char *key)
{
    param *it = find(p, key);
    if (it)
        it->used = true;
    return it;
}

/* The shortest decimal text that reads back as the same double. */
static void format_number(double n, char *buf, size_t size)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, n);
        if (strtod(buf, NULL) == n)
            return;
    }
}

static const char *type_name(sd_param_type t)
{
    switch (t) {
    case SD_PARAM_STRING: return "a string";
    case SD_PARAM_INT: return "an integer";
    case SD_PARAM_NUMBER: return "a number";
    case SD_PARAM_BOOL: return "a boolean";
    case SD_PARAM_MAP: return "a map";
    }
    return "a value";
}

sd_error *sd_params_string(sd_params *p, const char *driver, const char *key,
                           const char *def, char **out)
{
    param *it = take(p, key);
    char num[64];
    const char *src = def;
    size_t len = def ? strlen(def) : 0;
    if (it) {
        switch (it->type) {
        case SD_PARAM_STRING:
            src = it->v.str.s;
            len = it->v.str.len;
            if (memchr(src, '\0', len))
                return sd_err_invalid_parameter(driver, key, "must not contain a NUL byte");
            break;
        case SD_PARAM_INT:
            snprintf(num, sizeof num, "%" PRId64, it->v.i);
            src = num;
            len = strlen(num);
            break;
        case SD_PARAM_NUMBER:
            format_number(it->v.n, num, sizeof num);
            src = num;
            len = strlen(num);
            break;
        default:
            return sd_err_invalid_parameter(driver, key, "must be a string, got %s",
                                            type_name(it->type));
        }
    }
    if (!src) {
        *out = NULL;
        return NULL;
    }
    *out = sd_strndup(src, len);
    return *out ? NULL : sd_err_driver("out of memory");
}

sd_error *sd_params_bool(sd_params *p, const char *driver, const char *key,
                         bool def, bool *out)
{
    param *it = take(p, key);
    if (!it) {
        *out = def;
        return NULL;
    }
    if (it->type == SD_PARAM_BOOL) {
        *out = it->v.b;
        return NULL;
    }
    if (it->type == SD_PARAM_STRING) {
        if (strcasecmp(it->v.str.s, "true") == 0 && strlen(it->v.str.s) == it->v.str.len) {
            *out = true;
            return NULL;
        }
        if (strcasecmp(it->v.str.s, "false") == 0 && strlen(it->v.str.s) == it->v.str.len) {
            *out = false;
            return NULL;
        }
        return sd_err_invalid_parameter(driver, key, "must be a boolean (true or false), got '%s'",
                                        it->v.str.s);
    }
    return sd_err_invalid_parameter(driver, key, "must be a boolean (true or false), got %s",
                                    type_name(it->type));
}

/* An integral double that fits int64. */
static bool number_to_int(double n, int64_t *out)
{
    if (!isfinite(n) || n != floor(n) || n < -9223372036854775808.0 ||
        n >= 9223372036854775808.0)
        return false;
    *out = (int64_t)n;
    return true;
}

/* Decimal with an optional sign, nothing else. */
static bool parse_decimal(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || memchr(s, '\0', len) || isspace((unsigned char)s[0]))
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end != s + len)
        return false;
    *out = v;
    return true;
}

sd_error *sd_params_int(sd_params *p, const char *driver, const char *key,
                        int64_t def, int64_t min, int64_t max, int64_t *out)
{
    param *it = take(p, key);
    int64_t v = def;
    if (it) {
        bool ok;
        switch (it->type) {
        case SD_PARAM_INT:
            v = it->v.i;
            ok = true;
            break;
        case SD_PARAM_NUMBER:
            ok = number_to_int(it->v.n, &v);
            break;
        case SD_PARAM_STRING:
            ok = parse_decimal(it->v.str.s, it->v.str.len, &v);
            break;
        default:
            ok = false;
        }
        if (!ok) {
            if (it->type == SD_PARAM_STRING)
                return sd_err_invalid_parameter(driver, key, "must be an integer, got '%s'",
                                                it->v.str.s);
            return sd_err_invalid_parameter(driver, key, "must be an integer, got %s",
                                            type_name(it->type));
        }
        if (v < min || v > max)
            return sd_err_invalid_parameter(driver, key,
                                            "must be between %" PRId64 " and %" PRId64
                                            ", got %" PRId64,
                                            min, max, v);
    }
    *out = v;
    return NULL;
}

/* Go's unsigned integer literal syntax: 0x/0o/0b prefixes, a leading 0 for
 * octal, '_' only between digits or right after a prefix. */
static bool parse_go_uint(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || memchr(s, '\0', len))
        return false;
    unsigned base = 10;
    size_t i = 0;
    bool after_digit_or_prefix = false, digits = false;
    if (len >= 2 && s[0] == '0') {
        char c = (char)tolower((unsigned char)s[1]);
        base = c == 'x' ? 16 : c == 'o' ? 8 : c == 'b' ? 2 : 8;
        i = (c == 'x' || c == 'o' || c == 'b') ? 2 : 1;
        digits = i == 1; /* the leading 0 of "0755" is a digit */
        after_digit_or_prefix = true;
    }
    uint64_t v = 0;
    for (; i < len; i++) {
        char c = s[i];
        if (c == '_') {
            if (!after_digit_or_prefix)
                return false;
            after_digit_or_prefix = false;
            continue;
        }
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return false;
        if (d >= base || v > (UINT64_MAX - d) / base)
            return false;
        v = v * base + d;
        digits = true;
        after_digit_or_prefix = true;
    }
    if (!digits || !after_digit_or_prefix)
        return false;
    *out = v;
    return true;
}

sd_error *sd_params_limit(sd_params *p, const char *driver, const char *key,
                          int64_t min, int64_t def, int64_t *out)
{
    param *it = take(p, key);
    int64_t v = def;
    if (it) {
        switch (it->type) {
        case SD_PARAM_INT:
            v = it->v.i > 0 ? it->v.i : min;
            break;
        case SD_PARAM_NUMBER:
            if (!number_to_int(it->v.n, &v)) {
                char num[64];
                format_number(it->v.n, num, sizeof num);
                return sd_err_invalid_parameter(driver, key, "must be an integer, got %s", num);
            }
            if (v <= 0)
                v = min;
            break;
        case SD_PARAM_STRING: {
            uint64_t u;
            if (!parse_go_uint(it->v.str.s, it->v.str.len, &u))
                return sd_err_invalid_parameter(driver, key, "must be an integer, got '%s'",
                                                it->v.str.s);
            v = u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u;
            break;
        }
        default:
            return sd_err_invalid_parameter(driver, key, "must be an integer, got %s",
                                            type_name(it->type));
        }
    }
    *out = v < min ? min : v;
    return NULL;
}

sd_error *sd_params_map(sd_params *p, const char *driver, const char *key, sd_params **out)
{
    param *it = take(p, key);
    *out = NULL;
    if (!it)
        return NULL;
    if (it->type != SD_PARAM_MAP)
        return sd_err_invalid_parameter(driver, key, "must be a map, got %s",
                                        type_name(it->type));
    *out = it->v.map;
    return NULL;
}

sd_error *sd_params_finish(const sd_params *p, const char *driver)
{
    if (!p)
        return NULL;
    const char *first = NULL;
    for (size_t i = 0; i < p->len; i++)
        if (!p->items[i].used && (!first || strcmp(p->items[i].key, first) < 0))
            first = p->items[i].key;
    if (first)
        return sd_err_invalid_parameter(driver, first, "unknown parameter");
    return NULL;
}
