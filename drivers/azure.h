/* The azure driver's insides, shared by its files:
 *   azure.c         parameters, credentials, endpoint, signed requests, errors
 *   azure_ops.c     get/put content, stat, list, delete, move, redirect URL
 *   azure_reader.c  the streaming reader (ranged GET pulled from the network)
 *   azure_writer.c  the block-blob writer (blocks staged in parallel, resumable)
 *
 * Blob names: name(path) = root + path without its leading '/', where root is
 * the rootdirectory without leading and trailing '/' followed by one '/' (or
 * "" when there is none).  Directories are virtual: a name prefix and '/'. */
#ifndef SD_AZURE_H
#define SD_AZURE_H

#include <stdbool.h>
#include <stdint.h>

#include "drivers.h"
#include "../runtime/http/http.h"
#include "../runtime/http/pool.h"
#include "../runtime/xml.h"

/* The REST version of every request, and of the SAS we sign: accepted by
 * azurite 3.35 and by Azure, with 4000 MiB blocks and 5000 MiB Put Blob. */
#define AZ_VERSION "2021-08-06"
/* Azure's limits (x-ms-version 2019-12-12 and later). */
#define AZ_MAX_BLOCK ((int64_t)4000 << 20)
#define AZ_MAX_BLOCKS 50000
/* put_content above this goes up as staged blocks (as the writer's). */
#define AZ_PUT_BLOB_MAX ((int64_t)256 << 20)

typedef enum az_cred {
    AZ_CRED_SHARED_KEY = 1,
    AZ_CRED_SAS
} az_cred;

typedef struct az_driver {
    sd_driver base;
    char *account;
    unsigned char *key;   /* decoded account key (SharedKey) */
    size_t keylen;
    char *sas;            /* SAS token without '?' (SAS credentials) */
    az_cred cred;
    char *container;
    char *service;        /* "https://acct.blob.core.windows.net" or an
                           * emulator's "http://127.0.0.1:10000/devstoreaccount1" */
    char *service_path;   /* the path part of service ("" or "/devstoreaccount1") */
    bool https;
    char *root;           /* "" or "dir/" */
    size_t root_len;
    int64_t chunksize, upload_concurrency;
    int64_t copy_max_retries; /* max_retries: copy-status polls */
    int64_t copy_delay_ms;    /* retry_delay */
    sd_http_config http;
    sd_http_pool *pool;
} az_driver;

/* One request to the container or one of its blobs. */
typedef struct az_req {
    const char *method;
    const char *blob;            /* blob name; NULL: the container */
    const char *query;           /* encoded, without '?'; may be NULL */
    const char *const *headers;  /* "Name: value", NULL-terminated; signed */
    const void *body;
    size_t body_len;
    bool idempotent;
    sd_http_write_fn on_data;
    void *data_ud;
    size_t max_body;
    const char *what;            /* names the request in errors; NULL:
                                  * "<method> <blob>" */
} az_req;

/* azure.c */
sd_error *az_oom(void);
/* Builds, signs and sends r with client c (NULL: one from the pool). */
sd_error *az_do(az_driver *d, sd_http_client *c, const az_req *r, sd_http_response *resp);
/* Opens a pulled response (sd_http_stream_open) for r on client c. */
sd_error *az_stream(az_driver *d, sd_http_client *c, const az_req *r, sd_http_response *resp,
                    sd_http_stream **out);
/* az_do, then a non-2xx answer becomes az_error(r, resp, path). */
sd_error *az_call(az_driver *d, sd_http_client *c, const az_req *r, sd_http_response *resp,
                  const char *path);
/* The error of a non-2xx answer: BlobNotFound (or a 404 without a code) on a
 * blob becomes PathNotFound of path when path is not NULL; otherwise a Driver
 * error "<what>: HTTP <status> <Code>: <Message>" with status and code set. */
sd_error *az_error(const az_req *r, const sd_http_response *resp, const char *path);
/* The service's error code of an answer (header x-ms-error-code), or NULL. */
const char *az_error_code(const sd_http_response *resp);
char *az_name(const az_driver *d, const char *path);
/* The path of a blob name under the root ("/a/b"), or NULL (not under it). */
char *az_path(const az_driver *d, const char *name, size_t len);
/* The URL of a blob (no query). */
char *az_blob_url(const az_driver *d, const char *blob);
/* RFC 3986 encoding ('/' kept when keep_slash). */
char *az_enc(const char *s, bool keep_slash);
/* RFC 1123 time -> seconds; 0 when unparseable. */
int64_t az_http_time(const char *s);
/* A service SAS for blob (sp permissions, valid for expiry seconds from
 * now, signed with the account key), as a query string. */
sd_error *az_blob_sas(az_driver *d, const char *blob, const char *sp, int64_t expiry, char **query);
void az_destroy_driver(sd_driver *drv);

/* azure_ops.c */
extern const sd_driver_ops az_driver_ops;
/* HEAD of a blob: *found false on 404. */
typedef struct az_props {
    int64_t size, mtime;
    char *etag;      /* malloc'd, may be NULL */
    char *blob_type; /* malloc'd, may be NULL */
} az_props;
void az_props_free(az_props *p);
sd_error *az_head(az_driver *d, const char *blob, const char *path, bool *found, az_props *out);
sd_error *az_put_blob(az_driver *d, sd_http_client *c, const char *blob, const void *data,
                      size_t len);
sd_error *az_delete_blob(az_driver *d, sd_http_client *c, const char *blob);

/* azure_reader.c, azure_writer.c */
sd_error *az_reader_open(az_driver *d, const char *path, int64_t offset, sd_reader **out);
sd_error *az_writer_open(az_driver *d, const char *path, bool append, sd_writer **out);
/* put_content of a large object: the writer's staged blocks. */
sd_error *az_put_staged(az_driver *d, const char *path, const void *data, size_t len);

#endif
