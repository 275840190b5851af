/* String and path helpers, and the regulator (a counting semaphore). */
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *sd_strndup(const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *p = malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *sd_strdup(const char *s)
{
    return s ? sd_strndup(s, strlen(s)) : NULL;
}

char *sd_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

char *sd_path_join(const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    if (dl > 0 && dir[dl - 1] == '/')
        dl--;
    char *p = malloc(dl + 1 + nl + 1);
    if (!p)
        return NULL;
    memcpy(p, dir, dl);
    p[dl] = '/';
    memcpy(p + dl + 1, name, nl + 1);
    return p;
}

char *sd_path_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return sd_strdup("/");
    return sd_strndup(path, (size_t)(slash - path));
}

const char *sd_path_base(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

int sd_regulator_init(sd_regulator *r, int64_t limit)
{
    if (pthread_mutex_init(&r->mu, NULL) != 0)
        return -1;
    if (pthread_cond_init(&r->cv, NULL) != 0) {
        pthread_mutex_destroy(&r->mu);
        return -1;
    }
    r->available = limit > 0 ? limit : 1;
    return 0;
}

void sd_regulator_enter(sd_regulator *r)
{
    pthread_mutex_lock(&r->mu);
    while (r->available <= 0)
        pthread_cond_wait(&r->cv, &r->mu);
    r->available--;
    pthread_mutex_unlock(&r->mu);
}

void sd_regulator_leave(sd_regulator *r)
{
    pthread_mutex_lock(&r->mu);
    r->available++;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

void sd_regulator_destroy(sd_regulator *r)
{
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
}
