/* sd_prefetch (pool.h): ranges of an object fetched by worker threads ahead
 * of the reader, handed out in order.
 *
 * Range i is [start + i * window, ...) and lives in slot i % k.  Workers take
 * ranges in order (next) but never range cur + k or beyond, so the slot they
 * fill is one the reader has finished with; the reader waits for its slot to
 * be done.  Memory: k slot buffers of window bytes, allocated on first use.
 *
 * Locking: mu guards next, cur, failed and every slot's fields except buf,
 * which belongs to the worker between taking its range and marking it done,
 * then to the reader until cur moves past it.  roff and err belong to the
 * reader (one reader is used by one thread at a time). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "../util.h"

typedef struct pf_slot {
    char *buf;       /* window bytes, or NULL until first used */
    int64_t range;   /* the range it holds or is being filled with; -1: none */
    size_t len;      /* the range's size */
    size_t got;      /* bytes in buf once done */
    bool done;
    sd_error *err;   /* the range failed; owned until the reader takes it */
} pf_slot;

struct sd_prefetch {
    sd_http_pool *pool;
    int64_t start, size;
    size_t window;
    int k;
    sd_prefetch_fn fetch;
    void *ud;
    int64_t nranges;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t next;        /* the next range a worker takes */
    int64_t cur;         /* the range the reader is in */
    size_t roff;         /* the reader's offset in it */
    bool failed;         /* a range failed: no worker takes another */
    atomic_bool stop;    /* close has begun */
    sd_error *err;       /* sticky: the failure the reader met */
    pf_slot *slots;      /* k of them */
    pthread_t *tids;
    int nthreads;
};

static sd_error *pf_oom(void)
{
    return sd_err_driver("out of memory");
}

/* The sticky error again, for the next read (the caller frees each one). */
static sd_error *pf_again(const sd_error *e)
{
    if (e->kind == SD_ERR_PATH_NOT_FOUND && e->path)
        return sd_err_path_not_found(e->path);
    sd_error *c = sd_err_driver("%s", e->detail ? e->detail : sd_error_kind_name(e->kind));
    if (c && c->kind == SD_ERR_DRIVER && c->detail) { /* not the static OOM error */
        c->status = e->status;
        c->code = e->code ? sd_strdup(e->code) : NULL;
    }
    return c;
}

static size_t pf_range_len(const sd_prefetch *p, int64_t i)
{
    int64_t off = p->start + i * (int64_t)p->window;
    int64_t left = p->size - off;
    return left < (int64_t)p->window ? (size_t)left : p->window;
}

static void *pf_worker(void *arg)
{
    sd_prefetch *p = arg;
    sd_http_client *c = NULL;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!atomic_load(&p->stop) && !p->failed && p->next < p->nranges &&
               p->next >= p->cur + p->k)
            pthread_cond_wait(&p->cv, &p->mu);
        if (atomic_load(&p->stop) || p->failed || p->next >= p->nranges)
            break;
        int64_t i = p->next++;
        pf_slot *s = &p->slots[i % p->k];
        s->range = i;
        s->len = pf_range_len(p, i);
        s->got = 0;
        s->done = false;
        pthread_mutex_unlock(&p->mu);

        int64_t off = p->start + i * (int64_t)p->window;
        size_t got = 0;
        sd_error *e = NULL;
        if (!s->buf && !(s->buf = malloc(p->window)))
            e = pf_oom();
        if (!e && !c)
            e = sd_http_pool_get(p->pool, &c);
        if (!e)
            e = p->fetch(p->ud, c, off, s->len, s->buf, &got);
        if (!e && got != s->len)
            e = sd_err_driver("range %lld-%lld: %zu of %zu bytes arrived", (long long)off,
                              (long long)(off + (int64_t)s->len - 1), got, s->len);
        if (e) { /* its connection may be broken */
            sd_http_pool_put(p->pool, c, false);
            c = NULL;
        }

        pthread_mutex_lock(&p->mu);
        s->got = got;
        s->err = e;
        s->done = true;
        if (e)
            p->failed = true;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    sd_http_pool_put(p->pool, c, true);
    return NULL;
}

sd_error *sd_prefetch_new(sd_http_pool *pool, int64_t start, int64_t size, size_t window,
                          int k, sd_prefetch_fn fetch, void *ud, sd_prefetch **out)
{
    *out = NULL;
    if (!pool || !fetch || window == 0 || k < 1 || start < 0 || start > size)
        return sd_err_driver("prefetch: bad arguments");
    sd_prefetch *p = calloc(1, sizeof *p);
    if (!p)
        return pf_oom();
    p->pool = pool;
    p->start = start;
    p->size = size;
    p->window = window;
    p->fetch = fetch;
    p->ud = ud;
    p->nranges = (size - start + (int64_t)window - 1) / (int64_t)window;
    p->k = p->nranges < k ? (int)(p->nranges > 0 ? p->nranges : 1) : k;
    atomic_init(&p->stop, false);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->slots = calloc((size_t)p->k, sizeof *p->slots);
    p->tids = calloc((size_t)p->k, sizeof *p->tids);
    if (!p->slots || !p->tids) {
        sd_prefetch_close(p);
        return pf_oom();
    }
    for (int i = 0; i < p->k; i++)
        p->slots[i].range = -1;
    for (int i = 0; p->nranges > 0 && i < p->k; i++)
        if (pthread_create(&p->tids[p->nthreads], NULL, pf_worker, p) == 0)
            p->nthreads++;
    /* One worker is enough to make progress; none is not. */
    if (p->nranges > 0 && p->nthreads == 0) {
        sd_prefetch_close(p);
        return sd_err_driver("prefetch: cannot start a thread");
    }
    *out = p;
    return NULL;
}

sd_error *sd_prefetch_read(sd_prefetch *p, void *buf, size_t cap, size_t *n)
{
    *n = 0;
    if (p->err)
        return pf_again(p->err);
    if (cap == 0 || p->cur >= p->nranges)
        return NULL;
    pf_slot *s = &p->slots[p->cur % p->k];
    pthread_mutex_lock(&p->mu);
    /* Ours may not be taken yet (the slot still holds range cur - k); once
     * it is, a worker finishes it, since no range before it failed. */
    while (s->range != p->cur || !s->done)
        pthread_cond_wait(&p->cv, &p->mu);
    if (s->err) {
        p->err = s->err;
        s->err = NULL;
        pthread_mutex_unlock(&p->mu);
        return pf_again(p->err);
    }
    pthread_mutex_unlock(&p->mu);
    size_t k = s->got - p->roff < cap ? s->got - p->roff : cap;
    memcpy(buf, s->buf + p->roff, k);
    p->roff += k;
    *n = k;
    if (p->roff == s->got) { /* the slot is free for range cur + k */
        pthread_mutex_lock(&p->mu);
        p->cur++;
        p->roff = 0;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

bool sd_prefetch_stopping(const sd_prefetch *p)
{
    return atomic_load(&((sd_prefetch *)p)->stop);
}

void sd_prefetch_close(sd_prefetch *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, true);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->tids[i], NULL);
    for (int i = 0; p->slots && i < p->k; i++) {
        free(p->slots[i].buf);
        sd_error_free(p->slots[i].err);
    }
    sd_error_free(p->err);
    free(p->slots);
    free(p->tids);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
