/*
 * runtime/http/pool.h: what every cloud driver needs around the HTTP client.
 *
 *  - sd_http_pool: idle clients shared by the threads of one driver.  A
 *    client is used by one thread at a time; the pool hands one out (a new
 *    one when none is idle) and takes it back.  All clients of a pool share
 *    one DNS/TLS cache (sd_http_share) and one configuration.
 *  - sd_http_parallel: n jobs on up to conc threads, each with its own client.
 *  - sd_parts: the parallel part uploader behind multipart writers (S3 parts,
 *    Swift segments, Azure blocks): bytes are buffered into chunks; each full
 *    chunk is sent by a thread as the next numbered part, with at most conc
 *    chunk buffers in existence (the one being filled included), so memory
 *    stays at chunk x conc whatever the object size.  A part whose send
 *    failed keeps its buffer and is sent again (synchronously) by the next
 *    write, submit or settle: nothing written is lost.
 *  - sd_prefetch: the reading side of the same idea (prefetch.c): an object
 *    of known size is fetched as ranges of `window` bytes by up to k worker
 *    threads ahead of the read position, and handed out in order.  Memory
 *    stays at window x k whatever the object size.
 */
#ifndef SD_HTTP_POOL_H
#define SD_HTTP_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sd_http_pool sd_http_pool;

/* cfg is copied (its strings too); cfg->share NULL: the pool makes one. */
sd_error *sd_http_pool_new(const sd_http_config *cfg, sd_http_pool **out);
/* Frees the idle clients; every client handed out must be back (or freed). */
void sd_http_pool_free(sd_http_pool *p);
sd_error *sd_http_pool_get(sd_http_pool *p, sd_http_client **out);
/* Gives c back; healthy false (its last transfer failed, so its connection
 * may be broken) frees it instead.  c may be NULL. */
void sd_http_pool_put(sd_http_pool *p, sd_http_client *c, bool healthy);

/* Runs job(ud, i, client) for every i in [0, n) on up to conc threads (the
 * calling one included).  After the first error no new job starts; that
 * error is returned (the jobs running still finish). */
typedef sd_error *(*sd_http_job_fn)(void *ud, size_t i, sd_http_client *c);
sd_error *sd_http_parallel(sd_http_pool *p, size_t n, int64_t conc, sd_http_job_fn job,
                           void *ud);

/* ------------------------------------------------------------ sd_parts */

typedef struct sd_part {
    int num;      /* 1, 2, ... */
    int64_t size;
    char *tag;    /* what the commit needs (ETag, block id, ...); owned */
} sd_part;

typedef struct sd_parts_ops {
    /* Sends part num (data, len) with client c; *tag gets a malloc'd tag.
     * Runs on a worker thread: it must only touch what is safe there. */
    sd_error *(*send)(void *ud, sd_http_client *c, int num, const void *data, size_t len,
                      char **tag);
    /* Optional: called once, on the calling thread, before the first part
     * goes out (e.g. to create the multipart upload lazily). */
    sd_error *(*begin)(void *ud);
} sd_parts_ops;

typedef struct sd_parts sd_parts;

/* chunk: bytes per part; conc: chunk buffers at most (>= 1). */
sd_error *sd_parts_new(sd_http_pool *pool, size_t chunk, int conc, const sd_parts_ops *ops,
                       void *ud, sd_parts **out);
/* Waits for the parts in flight, then frees everything. */
void sd_parts_free(sd_parts *p);

/* Appends bytes; every chunk that fills goes out as the next part. */
sd_error *sd_parts_write(sd_parts *p, const void *data, size_t len);
/* Sends what is buffered (if anything) as the next part, whatever its size. */
sd_error *sd_parts_submit(sd_parts *p);
/* Waits for every part in flight and sends the failed ones again; after a
 * success every part written so far is on the server. */
sd_error *sd_parts_settle(sd_parts *p);
/* The bytes buffered and not yet sent (valid until the next call). */
size_t sd_parts_buffered(const sd_parts *p, const char **data);
/* Drops the buffered bytes (cancel). */
void sd_parts_discard(sd_parts *p);
/* Records a part that is already on the server (resuming an upload); the
 * next part written gets the number after the highest one.  Takes tag. */
sd_error *sd_parts_add(sd_parts *p, int num, int64_t size, char *tag);
/* After settle: the parts sorted by number, checked to be 1..n without gaps
 * (a Driver error names the first missing one).  The array stays owned by p. */
sd_error *sd_parts_list(sd_parts *p, const sd_part **parts, size_t *n);
/* Bytes in the parts sent (or in flight). */
int64_t sd_parts_flushed(const sd_parts *p);
/* Number of the next part. */
int sd_parts_next(const sd_parts *p);

/* ------------------------------------------------------------ sd_prefetch */

/* One ranged GET of [off, off + len) into buf (len bytes of room) with
 * client c; *got = the bytes written.  Runs on a worker thread, several at
 * once: it must only touch what is safe there.  A range shorter than asked
 * (*got < len) is an error of the reader, never a short end. */
typedef sd_error *(*sd_prefetch_fn)(void *ud, sd_http_client *c, int64_t off, size_t len,
                                    void *buf, size_t *got);

typedef struct sd_prefetch sd_prefetch;

/* Reads [start, size) through fetch: ranges of window bytes (the last one
 * shorter), up to k (>= 1) of them fetched at once on k threads with clients
 * from pool, at most k ranges ahead of the reader.  Fetching starts here. */
sd_error *sd_prefetch_new(sd_http_pool *pool, int64_t start, int64_t size, size_t window,
                          int k, sd_prefetch_fn fetch, void *ud, sd_prefetch **out);
/* Up to cap bytes in order into buf; *n = 0 only at size (or cap 0).  Once
 * a range has failed, that read and every later one fails (the error of the
 * range, again), after the bytes before it. */
sd_error *sd_prefetch_read(sd_prefetch *p, void *buf, size_t cap, size_t *n);
/* True once sd_prefetch_close has begun: a fetch that reads a body in
 * pieces may check it between pieces and give up (any error will do). */
bool sd_prefetch_stopping(const sd_prefetch *p);
/* Stops fetching, waits for the fetches in flight (fetch may cut them short
 * with sd_prefetch_stopping) and frees everything.  NULL is a no-op. */
void sd_prefetch_close(sd_prefetch *p);

#ifdef __cplusplus
}
#endif

#endif
