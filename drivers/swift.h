/* The swift driver's insides, shared by its files:
 *   swift.c         parameters, the driver's life, requests with the token, errors
 *   swift_auth.c    authentication: v1 (tempauth/swauth), Keystone v2 and v3
 *   swift_ops.c     get/put content, stat, list, delete, move, walk
 *   swift_tempurl.c TempURL signing and redirect_url
 *   swift_reader.c  the streaming reader (ranged GET pulled from the network)
 *   swift_writer.c  the writer: segments in parallel, a Static Large Object
 *
 * Object names in the container (the reference's layout for files, so that a
 * container it wrote reads the same):
 *   <root>files/<path>       a file: a plain object or an SLO manifest
 *   <root>segments/<id>/<n>  segment n (%016d) of upload <id>; ids are unique
 *                            per upload and never derived from a path, so a
 *                            manifest moved by COPY keeps its segments and a
 *                            recursive delete of the old place cannot reach them
 *   <root>uploads/<path>     the record of a closed, uncommitted upload of
 *                            path (an SLO manifest body: every segment so far)
 * where <root> is the prefix (or rootdirectory) without leading and trailing
 * '/' followed by '/', or "" when there is none. */
#ifndef SD_SWIFT_H
#define SD_SWIFT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "drivers.h"
#include "../runtime/http/http.h"
#include "../runtime/http/pool.h"

#define SWIFT_MIN_CHUNK ((int64_t)1 << 20)
#define SWIFT_MAX_CHUNK ((int64_t)5 << 30)

typedef struct swift_driver {
    sd_driver base;
    /* authentication (swift_auth.c); password is wiped on destroy */
    char *authurl, *username, *password;
    char *tenant, *tenantid, *domain, *domainid, *tenantdomain, *tenantdomainid, *trustid;
    char *region, *endpointtype;
    int authversion;           /* 1, 2 or 3 (detected from authurl when 0) */
    /* the token and the storage URL, shared by every thread */
    pthread_mutex_t auth_mu;
    char *token, *storage_url;
    unsigned long auth_gen;    /* bumped at every authentication */

    char *container;
    char *container_enc;       /* URL-encoded */
    char *root;                /* "" or "prefix/" */
    size_t root_len;
    int64_t chunksize, concurrency;
    bool checksum;             /* send the MD5 of every body as its ETag */
    sd_http_config http;
    sd_http_pool *pool;

    /* what the cluster offers (GET /info), or the parameters' fallbacks */
    bool bulk_delete;
    int64_t max_deletes;       /* per bulk-delete request */
    int64_t max_segments;      /* per SLO manifest */
    char *secretkey, *accesskey;
    char *tempurl_key;         /* NULL: no TempURL */
    const char *tempurl_digest; /* "sha256", "sha512" or "sha1" */
    char **tempurl_methods;    /* NULL-terminated */
    bool param_containerkey;   /* tempurlcontainerkey (when /info fails) */
} swift_driver;

/* One request to the container (object NULL: the container itself) or to the
 * account (account true). */
typedef struct swift_req {
    const char *method;
    const char *object;          /* not encoded */
    bool account;
    const char *query;           /* encoded, without '?'; may be NULL */
    const char *const *headers;  /* "Name: value", NULL-terminated */
    const void *body;
    size_t body_len;
    sd_http_read_fn body_read;
    sd_http_rewind_fn body_rewind;
    void *body_ud;
    int64_t body_size;
    bool idempotent;
    sd_http_write_fn on_data;
    void *data_ud;
    size_t max_body;
    const char *what;            /* names the request in errors; NULL: "<method> <object>" */
} swift_req;

/* swift.c */
sd_error *swift_oom(void);
/* Sends r with client c (NULL: one from the pool), authenticating first when
 * there is no token and once more when the answer is 401.  Any HTTP status
 * is an answer. */
sd_error *swift_do(swift_driver *d, sd_http_client *c, const swift_req *r, sd_http_response *resp);
/* swift_do, then a non-2xx answer becomes swift_error(r, resp, path). */
sd_error *swift_call(swift_driver *d, sd_http_client *c, const swift_req *r,
                     sd_http_response *resp, const char *path);
/* Opens a pulled response body (sd_http_stream_open) with the token. */
sd_error *swift_stream(swift_driver *d, sd_http_client *c, const swift_req *r,
                       sd_http_response *resp, sd_http_stream **out);
/* 404 with path set: PathNotFound; otherwise a Driver error
 * "<what>: HTTP <status>[ <Title>][: <text>]" with status (and code) set. */
sd_error *swift_error(const swift_req *r, const sd_http_response *resp, const char *path);
/* "<METHOD> <object>" or "<METHOD> container" (malloc'd). */
char *swift_what(const swift_req *r);
/* "<root>files/<path without '/'>"; for "/" "<root>files/" */
char *swift_object(const swift_driver *d, const char *path);
/* "<root>files/<path>/" (the listing prefix of a directory); "/" gives "<root>files/". */
char *swift_dir_prefix(const swift_driver *d, const char *path);
/* The path of an object name under <root>files/ ("/a/b"), or NULL. */
char *swift_path(const swift_driver *d, const char *name, size_t len);
/* "ETag: <hex MD5 of data>" in line (the server refuses a body that does not
 * match), or NULL when the checksum parameter is off. */
const char *swift_etag_line(const swift_driver *d, const void *data, size_t len, char line[40]);
/* URL-encodes s, '/' kept when keep_slash. */
char *swift_enc(const char *s, int keep_slash);
/* The current storage URL (copied under the lock), authenticating if needed. */
sd_error *swift_storage_url(swift_driver *d, char **out);
/* Seconds since the epoch from an X-Timestamp / listing time. */
int64_t swift_timestamp(const char *s, int32_t *nsec);
int64_t swift_iso_time(const char *s, int32_t *nsec);
void swift_destroy_driver(sd_driver *drv);

/* swift_auth.c: authenticates with client c; on success sets d->token and
 * d->storage_url (the caller holds d->auth_mu). */
sd_error *swift_authenticate(swift_driver *d, sd_http_client *c);

/* swift_ops.c */
extern const sd_driver_ops swift_driver_ops;
/* HEAD of an object: *found false on 404; *slo when it is an SLO manifest;
 * *stamp the X-Timestamp text (malloc'd, may be NULL) when stamp is not NULL. */
typedef struct swift_head {
    bool found, slo;
    int64_t size, mtime;
    int32_t nsec;
    char *etag, *stamp;
} swift_head;
sd_error *swift_head_object(swift_driver *d, sd_http_client *c, const char *object,
                            const char *path, swift_head *out);
void swift_head_free(swift_head *h);
/* Deletes objects (names in the container) by bulk delete, in parallel
 * requests; objects already gone are no error. */
sd_error *swift_delete_objects(swift_driver *d, char *const *names, size_t n);
/* Listing of the container: calls fn for every entry (subdir entries have
 * is_dir set, bytes 0) in pages of up to 10,000. fn returns 0 to go on, 1 to
 * stop, -1 after setting *err. */
typedef struct swift_entry {
    const char *name;
    size_t len;
    bool is_dir, slo;
    int64_t bytes;
    const char *hash, *last_modified;
} swift_entry;
typedef int (*swift_list_fn)(void *ud, const swift_entry *e, sd_error **err);
sd_error *swift_list_each(swift_driver *d, const char *prefix, const char *delim,
                          const char *marker, swift_list_fn fn, void *ud);

/* swift_tempurl.c */
/* The TempURL signature of method, expires and path (from "/v1/") with key.
 * form: SWIFT_SIG_HEX, SWIFT_SIG_PREFIXED ("<digest>:<base64url>") or
 * SWIFT_SIG_AUTO (hex for sha1 and sha256, prefixed for sha512, as Swift
 * wants them).  ip_range may be NULL.  malloc'd, NULL on failure. */
enum { SWIFT_SIG_AUTO, SWIFT_SIG_HEX, SWIFT_SIG_PREFIXED };
char *swift_tempurl_sig(const char *digest, int form, const char *key, size_t keylen,
                        const char *method, int64_t expires, const char *path,
                        const char *ip_range);
/* origin ("scheme://host[:port]") + path (URL-encoded here) + the TempURL
 * query.  malloc'd, NULL on OOM. */
char *swift_tempurl_url(const char *origin, const char *path, const char *sig, int64_t expires,
                        const char *ip_range);
/* Reads /info and installs the TempURL key (at sd.create). */
sd_error *swift_setup_info(swift_driver *d);
sd_error *swift_redirect_url(sd_driver *drv, const char *path, const sd_redirect_opts *opts,
                             char **url);

/* swift_reader.c, swift_writer.c */
sd_error *swift_reader_open(swift_driver *d, const char *path, int64_t offset, sd_reader **out);
sd_error *swift_writer_open(swift_driver *d, const char *path, bool append, sd_writer **out);
/* The segments of a large object (its manifest) for deleting them. */
sd_error *swift_manifest_segments(swift_driver *d, const char *object, sd_strlist *names);

#endif
