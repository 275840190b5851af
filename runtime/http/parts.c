/* sd_parts (pool.h): chunk buffers, parts sent by worker threads, failed
 * parts kept and sent again.
 *
 * Locking: mu guards inflight, spare, nbufs, parts, failed and async_err,
 * which worker threads update.  buf, len, next and submitted belong to the
 * calling thread (one writer is used by one thread at a time). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

typedef struct parts_job {
    sd_parts *p;
    int num;
    char *buf;
    size_t len;
} parts_job;

struct sd_parts {
    sd_http_pool *pool;
    size_t chunk;
    int conc;
    sd_parts_ops ops;
    void *ud;
    bool begun;
    int next;
    int64_t submitted;
    char *buf;           /* the chunk being filled, or NULL */
    size_t len;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int inflight;
    char **spare;        /* free chunk buffers */
    int nspare, nbufs;   /* nbufs: allocated, in any use */
    sd_part *parts;      /* sent, in completion order */
    size_t nparts, capparts;
    parts_job **failed;  /* to send again */
    size_t nfailed, capfailed;
    sd_error *async_err; /* the latest failure of a worker */
};

static sd_error *parts_oom(void)
{
    return sd_err_driver("out of memory");
}

sd_error *sd_parts_new(sd_http_pool *pool, size_t chunk, int conc, const sd_parts_ops *ops,
                       void *ud, sd_parts **out)
{
    if (chunk == 0 || !ops || !ops->send)
        return sd_err_driver("parts: bad arguments");
    sd_parts *p = calloc(1, sizeof *p);
    if (!p)
        return parts_oom();
    p->pool = pool;
    p->chunk = chunk;
    p->conc = conc < 1 ? 1 : conc;
    p->ops = *ops;
    p->ud = ud;
    p->next = 1;
    p->spare = calloc((size_t)p->conc, sizeof *p->spare);
    if (!p->spare) {
        free(p);
        return parts_oom();
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    *out = p;
    return NULL;
}

static void parts_wait_idle(sd_parts *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->inflight > 0)
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void sd_parts_free(sd_parts *p)
{
    if (!p)
        return;
    parts_wait_idle(p);
    for (size_t i = 0; i < p->nfailed; i++) {
        free(p->failed[i]->buf);
        free(p->failed[i]);
    }
    free(p->failed);
    for (int i = 0; i < p->nspare; i++)
        free(p->spare[i]);
    free(p->spare);
    free(p->buf);
    for (size_t i = 0; i < p->nparts; i++)
        free(p->parts[i].tag);
    free(p->parts);
    sd_error_free(p->async_err);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* With mu held. */
static int parts_record(sd_parts *p, int num, int64_t size, char *tag)
{
    if (p->nparts == p->capparts) {
        size_t ncap = p->capparts ? p->capparts * 2 : 16;
        sd_part *n = realloc(p->parts, ncap * sizeof *n);
        if (!n)
            return -1;
        p->parts = n;
        p->capparts = ncap;
    }
    p->parts[p->nparts++] = (sd_part){ num, size, tag };
    return 0;
}

/* With mu held: the job's outcome.  e NULL: done (buffer back to spare). */
static void parts_outcome(sd_parts *p, parts_job *j, sd_error *e)
{
    if (!e) {
        p->spare[p->nspare++] = j->buf;
        free(j);
        return;
    }
    if (p->nfailed == p->capfailed) {
        size_t ncap = p->capfailed ? p->capfailed * 2 : 4;
        parts_job **n = realloc(p->failed, ncap * sizeof *n);
        if (!n) {
            /* Cannot even keep it: its bytes are lost, say so for good. */
            sd_error_free(e);
            e = sd_err_driver("out of memory keeping part %d to send again", j->num);
            p->spare[p->nspare++] = j->buf;
            free(j);
            goto record;
        }
        p->failed = n;
        p->capfailed = ncap;
    }
    p->failed[p->nfailed++] = j;
record:
    sd_error_free(p->async_err);
    p->async_err = e;
}

/* Sends j with c and records the outcome; false when it failed. */
static bool parts_run(parts_job *j, sd_http_client *c)
{
    sd_parts *p = j->p;
    char *tag = NULL;
    sd_error *e = p->ops.send(p->ud, c, j->num, j->buf, j->len, &tag);
    pthread_mutex_lock(&p->mu);
    if (!e && parts_record(p, j->num, (int64_t)j->len, tag) != 0)
        e = parts_oom();
    if (e)
        free(tag);
    bool ok = e == NULL;
    parts_outcome(p, j, e);
    pthread_mutex_unlock(&p->mu);
    return ok;
}

/* Sends j with a client of the pool. */
static void parts_send(parts_job *j)
{
    sd_parts *p = j->p;
    sd_http_client *c = NULL;
    sd_error *e = sd_http_pool_get(p->pool, &c);
    if (e) {
        pthread_mutex_lock(&p->mu);
        parts_outcome(p, j, e);
        pthread_mutex_unlock(&p->mu);
        return;
    }
    /* A client whose transfer failed may hold a broken connection. */
    sd_http_pool_put(p->pool, c, parts_run(j, c));
}

static void *parts_thread(void *arg)
{
    parts_job *j = arg;
    sd_parts *p = j->p;
    parts_send(j);
    pthread_mutex_lock(&p->mu);
    p->inflight--;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

sd_error *sd_parts_settle(sd_parts *p)
{
    parts_wait_idle(p);
    pthread_mutex_lock(&p->mu);
    size_t n = p->nfailed;
    parts_job **jobs = p->failed;
    p->failed = NULL;
    p->nfailed = p->capfailed = 0;
    sd_error_free(p->async_err);
    p->async_err = NULL;
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < n; i++)
        parts_send(jobs[i]);
    free(jobs);
    pthread_mutex_lock(&p->mu);
    sd_error *e = p->async_err;
    p->async_err = NULL;
    pthread_mutex_unlock(&p->mu);
    return e;
}

/* A chunk buffer: a spare one, a new one under the limit, or wait. */
static sd_error *parts_take_buf(sd_parts *p)
{
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->nspare == 0 && p->nbufs >= p->conc && p->inflight > 0)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->nspare > 0) {
            p->buf = p->spare[--p->nspare];
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        if (p->nbufs < p->conc) {
            p->nbufs++;
            pthread_mutex_unlock(&p->mu);
            if ((p->buf = malloc(p->chunk)) != NULL)
                return NULL;
            pthread_mutex_lock(&p->mu);
            p->nbufs--;
            pthread_mutex_unlock(&p->mu);
            return parts_oom();
        }
        pthread_mutex_unlock(&p->mu);
        /* Every buffer belongs to a failed part: send those again first. */
        sd_error *e = sd_parts_settle(p);
        if (e)
            return e;
    }
}

sd_error *sd_parts_submit(sd_parts *p)
{
    if (!p->buf || p->len == 0)
        return NULL;
    if (!p->begun && p->ops.begin) {
        sd_error *e = p->ops.begin(p->ud);
        if (e)
            return e;
    }
    p->begun = true;
    parts_job *j = malloc(sizeof *j);
    if (!j)
        return parts_oom();
    *j = (parts_job){ p, p->next, p->buf, p->len };
    pthread_mutex_lock(&p->mu);
    p->inflight++;
    pthread_mutex_unlock(&p->mu);
    p->next++;
    p->submitted += (int64_t)p->len;
    p->buf = NULL;
    p->len = 0;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t tid;
    int rc = pthread_create(&tid, &attr, parts_thread, j);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        parts_thread(j); /* no thread to be had: send it from here */
    return NULL;
}

sd_error *sd_parts_write(sd_parts *p, const void *data, size_t len)
{
    const char *s = data;
    pthread_mutex_lock(&p->mu);
    bool failed = p->nfailed > 0;
    pthread_mutex_unlock(&p->mu);
    sd_error *e = failed ? sd_parts_settle(p) : NULL;
    while (!e && len > 0) {
        if (p->buf && p->len == p->chunk && (e = sd_parts_submit(p)) != NULL)
            break;
        if (!p->buf && (e = parts_take_buf(p)) != NULL)
            break;
        size_t n = p->chunk - p->len < len ? p->chunk - p->len : len;
        memcpy(p->buf + p->len, s, n);
        p->len += n;
        s += n;
        len -= n;
    }
    if (!e && p->buf && p->len == p->chunk)
        e = sd_parts_submit(p);
    return e;
}

size_t sd_parts_buffered(const sd_parts *p, const char **data)
{
    if (data)
        *data = p->buf;
    return p->buf ? p->len : 0;
}

void sd_parts_discard(sd_parts *p)
{
    p->len = 0;
}

sd_error *sd_parts_add(sd_parts *p, int num, int64_t size, char *tag)
{
    pthread_mutex_lock(&p->mu);
    int rc = parts_record(p, num, size, tag);
    pthread_mutex_unlock(&p->mu);
    if (rc != 0) {
        free(tag);
        return parts_oom();
    }
    if (num >= p->next)
        p->next = num + 1;
    p->submitted += size;
    p->begun = true;
    return NULL;
}

static int part_cmp(const void *a, const void *b)
{
    const sd_part *x = a, *y = b;
    return (x->num > y->num) - (x->num < y->num);
}

sd_error *sd_parts_list(sd_parts *p, const sd_part **parts, size_t *n)
{
    parts_wait_idle(p);
    pthread_mutex_lock(&p->mu);
    if (p->nparts > 1) /* qsort wants a non-NULL base even for nothing */
        qsort(p->parts, p->nparts, sizeof *p->parts, part_cmp);
    sd_error *e = NULL;
    for (size_t i = 0; i < p->nparts && !e; i++)
        if (p->parts[i].num != (int)i + 1)
            e = sd_err_driver("part %zu of the upload is missing", i + 1);
    *parts = p->parts;
    *n = p->nparts;
    pthread_mutex_unlock(&p->mu);
    return e;
}

int64_t sd_parts_flushed(const sd_parts *p)
{
    return p->submitted;
}

int sd_parts_next(const sd_parts *p)
{
    return p->next;
}
