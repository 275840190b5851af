/* The client pool and parallel jobs of pool.h. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "../util.h"

struct sd_http_pool {
    sd_http_config cfg;     /* strings point at the copies below */
    char *user_agent, *ca_file;
    sd_http_share *own_share;
    pthread_mutex_t mu;
    sd_http_client **idle;
    size_t nidle, cap;
};

static sd_error *pool_oom(void)
{
    return sd_err_driver("out of memory");
}

void sd_http_pool_free(sd_http_pool *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nidle; i++)
        sd_http_client_free(p->idle[i]);
    free(p->idle);
    sd_http_share_free(p->own_share);
    pthread_mutex_destroy(&p->mu);
    free(p->user_agent);
    free(p->ca_file);
    free(p);
}

sd_error *sd_http_pool_new(const sd_http_config *cfg, sd_http_pool **out)
{
    sd_http_pool *p = calloc(1, sizeof *p);
    if (!p)
        return pool_oom();
    pthread_mutex_init(&p->mu, NULL);
    if (cfg)
        p->cfg = *cfg;
    else
        sd_http_config_default(&p->cfg);
    bool ok = true;
    if (p->cfg.user_agent)
        ok = ok && (p->cfg.user_agent = p->user_agent = sd_strdup(p->cfg.user_agent));
    if (p->cfg.ca_file)
        ok = ok && (p->cfg.ca_file = p->ca_file = sd_strdup(p->cfg.ca_file));
    if (ok && !p->cfg.share)
        ok = (p->cfg.share = p->own_share = sd_http_share_new()) != NULL;
    if (!ok) {
        sd_http_pool_free(p);
        return pool_oom();
    }
    *out = p;
    return NULL;
}

sd_error *sd_http_pool_get(sd_http_pool *p, sd_http_client **out)
{
    pthread_mutex_lock(&p->mu);
    if (p->nidle > 0) {
        *out = p->idle[--p->nidle];
        pthread_mutex_unlock(&p->mu);
        return NULL;
    }
    pthread_mutex_unlock(&p->mu);
    return sd_http_client_new(&p->cfg, out);
}

void sd_http_pool_put(sd_http_pool *p, sd_http_client *c, bool healthy)
{
    if (!c)
        return;
    if (!healthy) {
        sd_http_client_free(c);
        return;
    }
    pthread_mutex_lock(&p->mu);
    if (p->nidle == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 8;
        sd_http_client **n = realloc(p->idle, ncap * sizeof *n);
        if (!n) {
            pthread_mutex_unlock(&p->mu);
            sd_http_client_free(c);
            return;
        }
        p->idle = n;
        p->cap = ncap;
    }
    p->idle[p->nidle++] = c;
    pthread_mutex_unlock(&p->mu);
}

/* ------------------------------------------------------------ parallel */

typedef struct par_ctx {
    sd_http_pool *pool;
    size_t n, next;
    sd_http_job_fn job;
    void *ud;
    pthread_mutex_t mu;
    sd_error *err;
} par_ctx;

static void par_fail(par_ctx *x, sd_error *e)
{
    pthread_mutex_lock(&x->mu);
    if (!x->err)
        x->err = e;
    else
        sd_error_free(e);
    pthread_mutex_unlock(&x->mu);
}

static void *par_worker(void *arg)
{
    par_ctx *x = arg;
    sd_http_client *c = NULL;
    sd_error *e = sd_http_pool_get(x->pool, &c);
    if (e) {
        par_fail(x, e);
        return NULL;
    }
    bool healthy = true;
    for (;;) {
        pthread_mutex_lock(&x->mu);
        size_t i = x->next;
        bool stop = x->err != NULL || i >= x->n;
        if (!stop)
            x->next++;
        pthread_mutex_unlock(&x->mu);
        if (stop)
            break;
        if ((e = x->job(x->ud, i, c)) != NULL) {
            healthy = false;
            par_fail(x, e);
        }
    }
    sd_http_pool_put(x->pool, c, healthy);
    return NULL;
}

sd_error *sd_http_parallel(sd_http_pool *p, size_t n, int64_t conc, sd_http_job_fn job,
                           void *ud)
{
    par_ctx x = { .pool = p, .n = n, .job = job, .ud = ud };
    pthread_mutex_init(&x.mu, NULL);
    size_t nthreads = conc < 1 ? 1 : (size_t)conc;
    if (nthreads > n)
        nthreads = n;
    pthread_t *tids = nthreads > 1 ? calloc(nthreads - 1, sizeof *tids) : NULL;
    size_t started = 0;
    for (size_t i = 0; tids && i + 1 < nthreads; i++)
        if (pthread_create(&tids[started], NULL, par_worker, &x) == 0)
            started++;
    if (n > 0)
        par_worker(&x); /* the calling thread works too */
    for (size_t i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    free(tids);
    pthread_mutex_destroy(&x.mu);
    return x.err;
}
