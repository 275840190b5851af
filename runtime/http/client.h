/* Inside runtime/http: the client's fields, shared by client.c and request.c. */
#ifndef SD_HTTP_CLIENT_H
#define SD_HTTP_CLIENT_H

#include <curl/curl.h>
#include <stdint.h>

#include "http.h"

struct sd_http_client {
    sd_http_config cfg;       /* cfg.user_agent points at user_agent */
    char *user_agent;         /* owned */
    sd_http_share *own_share; /* owned when cfg had none */
    CURL *easy;               /* reused: its connection cache gives keep-alive */
    uint64_t rng;             /* jitter state */
};

CURLSH *http_share_handle(sd_http_share *s);
uint64_t http_random(sd_http_client *c);
/* The pause before retry number retry (0-based): full jitter over
 * min(retry_max_ms, retry_base_ms * 2^retry). */
long http_backoff_ms(sd_http_client *c, int retry);

#endif
