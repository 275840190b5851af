/* The s3 driver's insides, shared by its files:
 *   s3.c         parameters, endpoint, the client pool, signed requests, errors
 *   s3_ops.c     get/put content, stat, list, delete, move, redirect URL, walk
 *   s3_reader.c  the streaming reader (one GET pulled from the network, then
 *                parallel ranged GETs for a large object)
 *   s3_writer.c  the multipart writer (parallel parts, resumable)
 *
 * Keys: key(path) = root + path without its leading '/', where root is the
 * rootdirectory without leading and trailing '/' followed by one '/' (or ""
 * when there is none).  The writer keeps the unflushed tail of a closed
 * upload in a side object "<key>~tail.<id>"; '~' cannot occur in a valid path,
 * so list and walk hide every key holding it and delete removes them with
 * their object. */
#ifndef SD_S3_H
#define SD_S3_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "drivers.h"
#include "../runtime/http/http.h"
#include "../runtime/http/pool.h"
#include "../runtime/xml.h"

#define S3_MIN_PART ((int64_t)5 << 20)
#define S3_MAX_PART ((int64_t)5 << 30)
#define S3_MAX_PARTS 10000

typedef struct s3_driver {
    sd_driver base;
    char *name;          /* "s3" or "s3aws" */
    char *access_key, *secret_key, *session_token;
    char *region;
    char *endpoint;      /* "https://host[:port]": where requests go */
    char *host;          /* its host[:port], the signed Host header */
    char *bucket;
    char *bucket_path;   /* "/bucket" (path style) or "" (virtual host) */
    char *redirect_endpoint; /* scheme://host for presigned URLs, or NULL */
    char *root;          /* key prefix, "" or "dir/" */
    size_t root_len;
    /* "Name: value" lines every upload carries (content type, ACL, SSE,
     * storage class), NULL-terminated. */
    char **upload_headers;
    int64_t chunksize;
    int64_t upload_concurrency;
    int64_t copy_chunksize, copy_concurrency, copy_threshold;
    int64_t download_chunksize;   /* bytes per ranged GET of a reader */
    int64_t download_concurrency; /* ranged GETs of one reader at once; 1: one GET */
    sd_http_pool *pool;  /* the clients, shared by every thread */
} s3_driver;

/* One request to the bucket. */
typedef struct s3_req {
    const char *method;
    const char *key;             /* object key; NULL: the bucket itself */
    const char *query;           /* already encoded, without '?'; may be NULL */
    const char *const *headers;  /* "Name: value", NULL-terminated; signed */
    const void *body;            /* bytes body */
    size_t body_len;
    sd_http_read_fn body_read;   /* or a streamed body */
    sd_http_rewind_fn body_rewind;
    void *body_ud;
    int64_t body_size;
    bool idempotent;
    sd_http_write_fn on_data;
    void *data_ud;
    size_t max_body;
    bool upload;                 /* add the driver's upload_headers */
    const char *what;            /* names the request in errors; NULL:
                                  * "<method> <key>" */
} s3_req;

/* s3.c */
/* Builds, signs and sends r with client c (NULL: one from the pool).  Any
 * HTTP status is an answer (see sd_http_do). */
sd_error *s3_do(s3_driver *d, sd_http_client *c, const s3_req *r, sd_http_response *resp);
/* Opens a streamed response (sd_http_stream_open) for r on client c. */
sd_error *s3_stream(s3_driver *d, sd_http_client *c, const s3_req *r,
                    sd_http_response *resp, sd_http_stream **out);
/* s3_do, then a non-2xx answer becomes s3_error(r, resp, path). */
sd_error *s3_call(s3_driver *d, sd_http_client *c, const s3_req *r, sd_http_response *resp,
                  const char *path);
/* s3_call, then the body (an <Error> in a 200 answer is an error) parsed as
 * XML into *doc, which the caller frees; NULL on error. */
sd_error *s3_call_xml(s3_driver *d, sd_http_client *c, const s3_req *r, sd_http_response *resp,
                      sd_xml_doc **doc);
/* The error of a non-2xx answer: NoSuchKey (and 404 without a body) on an
 * object → PathNotFound of path when path is not NULL; otherwise a Driver
 * error "<what>: HTTP <status> <Code>: <Message>" with status and code set. */
sd_error *s3_error(const s3_req *r, const sd_http_response *resp, const char *path);
/* An <Error> document in a 200 answer (CopyObject, CompleteMultipartUpload
 * may fail that way); NULL when the body is not one. */
sd_error *s3_error_in_body(const s3_req *r, const sd_http_response *resp);
/* Parses an XML answer body. */
sd_error *s3_xml(const s3_req *r, const sd_http_response *resp, sd_xml_doc **out);
char *s3_key(const s3_driver *d, const char *path);
/* The path of a key under the root ("/a/b"), or NULL (not under it, hidden). */
char *s3_path(const s3_driver *d, const char *key, size_t len);
/* base64(MD5(data)) into out[25]. */
void s3_content_md5(const void *data, size_t len, char out[25]);
/* x-www-form-style query value encoding (RFC 3986 unreserved kept). */
char *s3_qenc(const char *s);
/* RFC 1123 / ISO 8601 times → seconds; 0 when unparseable. */
int64_t s3_http_time(const char *s);
int64_t s3_iso_time(const char *s, int32_t *nsec);

int s3_xml_escape(sd_buf *b, const char *s);
void s3_destroy_driver(sd_driver *drv);

/* s3_ops.c */
extern const sd_driver_ops s3_driver_ops;
/* HEAD of a key: *found false on 404. */
sd_error *s3_head(s3_driver *d, const char *key, const char *path, bool *found,
                  int64_t *size, int64_t *mtime);
sd_error *s3_delete_key(s3_driver *d, sd_http_client *c, const char *key);
/* PUT of bytes at key (with the upload headers and extra ones, NULL-
 * terminated or NULL); the body's SHA-256 is signed, so that corruption in
 * transit is refused by the server. */
sd_error *s3_put_bytes(s3_driver *d, sd_http_client *c, const char *key, const void *data,
                       size_t len, const char *const *extra);

/* "/bucket/key", encoded, for x-amz-copy-source. */
char *s3_copy_source(const s3_driver *d, const char *key);
/* UploadPartCopy of bytes first..last of source as part num; *etag malloc'd. */
sd_error *s3_copy_part(s3_driver *d, sd_http_client *c, const char *dst, const char *upload_id,
                       int num, const char *source, int64_t first, int64_t last, char **etag);

/* s3_writer.c: multipart uploads (c may be NULL: a pooled client) */
sd_error *s3_upload_create(s3_driver *d, const char *key, char **upload_id);
/* etags[i] is the ETag of part numbers[i]; numbers ascending. */
sd_error *s3_upload_complete(s3_driver *d, sd_http_client *c, const char *key,
                             const char *upload_id, char *const *etags, const int *numbers,
                             size_t n);
sd_error *s3_upload_abort(s3_driver *d, sd_http_client *c, const char *key, const char *upload_id);

/* s3_reader.c, s3_writer.c */
sd_error *s3_reader_open(s3_driver *d, const char *path, int64_t offset, sd_reader **out);
sd_error *s3_writer_open(s3_driver *d, const char *path, bool append, sd_writer **out);

#endif
