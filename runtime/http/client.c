/* The client object: configuration, the reused easy and multi handles, the share. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "../util.h"

struct sd_http_share {
    CURLSH *sh;
    pthread_mutex_t mu[CURL_LOCK_DATA_LAST];
};

static pthread_once_t http_once = PTHREAD_ONCE_INIT;
static CURLcode http_global_rc = CURLE_OK;

static void http_global_init(void)
{
    http_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static sd_error *http_init(void)
{
    pthread_once(&http_once, http_global_init);
    if (http_global_rc != CURLE_OK)
        return sd_err_driver("http: libcurl initialisation failed: %s",
                             curl_easy_strerror(http_global_rc));
    return NULL;
}

void sd_http_config_default(sd_http_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->connect_timeout_ms = 10000;
    cfg->low_speed_limit = 1;
    cfg->low_speed_time = 30;
    cfg->max_retries = 4;
    cfg->retry_base_ms = 100;
    cfg->retry_max_ms = 20000;
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
    (void)h;
    (void)access;
    sd_http_share *s = ud;
    pthread_mutex_lock(&s->mu[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
    (void)h;
    sd_http_share *s = ud;
    pthread_mutex_unlock(&s->mu[data]);
}

sd_http_share *sd_http_share_new(void)
{
    pthread_once(&http_once, http_global_init);
    if (http_global_rc != CURLE_OK)
        return NULL;
    sd_http_share *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->sh = curl_share_init();
    if (!s->sh) {
        free(s);
        return NULL;
    }
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&s->mu[i], NULL);
    curl_share_setopt(s->sh, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(s->sh, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(s->sh, CURLSHOPT_USERDATA, s);
    curl_share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    return s;
}

void sd_http_share_free(sd_http_share *s)
{
    if (!s)
        return;
    curl_share_cleanup(s->sh);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&s->mu[i]);
    free(s);
}

CURLSH *http_share_handle(sd_http_share *s)
{
    return s->sh;
}

static void http_nanosleep(void *ud, long ms)
{
    (void)ud;
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

sd_error *sd_http_client_new(const sd_http_config *cfg, sd_http_client **out)
{
    sd_error *err = http_init();
    if (err)
        return err;
    sd_http_client *c = calloc(1, sizeof *c);
    if (!c)
        return sd_err_driver("http: out of memory");
    if (cfg)
        c->cfg = *cfg;
    else
        sd_http_config_default(&c->cfg);
    if (!c->cfg.sleep)
        c->cfg.sleep = http_nanosleep;
    if (c->cfg.max_retries < 0)
        c->cfg.max_retries = 0;
    c->user_agent = sd_strdup(c->cfg.user_agent ? c->cfg.user_agent
                                                : "storagedriver/" SD_VERSION);
    c->cfg.user_agent = c->user_agent;
    if (!c->user_agent)
        goto oom;
    if (c->cfg.ca_file && *c->cfg.ca_file) {
        if (!(c->ca_file = sd_strdup(c->cfg.ca_file)))
            goto oom;
    }
    c->cfg.ca_file = c->ca_file;
    if (!c->cfg.share) {
        c->own_share = sd_http_share_new();
        if (!c->own_share)
            goto oom;
        c->cfg.share = c->own_share;
    }
    c->easy = curl_easy_init();
    if (!c->easy)
        goto oom;
    /* Seed the jitter from the clock and the object's address: no global state. */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    c->rng = (uint64_t)now.tv_nsec ^ ((uint64_t)now.tv_sec << 32) ^ (uint64_t)(uintptr_t)c;
    if (c->rng == 0)
        c->rng = 0x9e3779b97f4a7c15ULL;
    *out = c;
    return NULL;
oom:
    sd_http_client_free(c);
    return sd_err_driver("http: out of memory creating the client");
}

void sd_http_client_free(sd_http_client *c)
{
    if (!c)
        return;
    /* The multi handle holds the open connections: it goes first. */
    if (c->multi)
        curl_multi_cleanup(c->multi);
    if (c->easy)
        curl_easy_cleanup(c->easy);
    sd_http_share_free(c->own_share);
    free(c->user_agent);
    free(c->ca_file);
    free(c);
}

/* xorshift64*: enough for jitter. */
uint64_t http_random(sd_http_client *c)
{
    uint64_t x = c->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

long http_backoff_ms(sd_http_client *c, int retry)
{
    long cap = c->cfg.retry_max_ms > 0 ? c->cfg.retry_max_ms : 20000;
    long d = c->cfg.retry_base_ms > 0 ? c->cfg.retry_base_ms : 0;
    for (int i = 0; i < retry && d < cap; i++)
        d *= 2;
    if (d > cap)
        d = cap;
    if (d <= 0)
        return 0;
    /* Full jitter: uniform in [0, d]. */
    return (long)(http_random(c) % (uint64_t)(d + 1));
}
