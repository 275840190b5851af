/* AWS Signature Version 4 (AWS4-HMAC-SHA256): Authorization headers,
 * presigned query strings, and the chunk signatures of S3 streaming uploads.
 *
 * Checked against AWS's test suites and the S3 documentation examples by
 * tests/sigv4_vectors.c (spec/sigv4_spec.lua).
 *
 * Memory: every function fills caller-provided storage; what it allocates
 * belongs to the result (freed with sd_sigv4_result_free) or to the chunk
 * signer (sd_sigv4_chunk_end).  Errors are sd_error (kind SD_ERR_DRIVER,
 * detail starting "sigv4: "), owned by the caller.  No global mutable state:
 * any number of threads may sign at once.  No secret (secret key, derived
 * keys) ever appears in an output or an error message, and derived keys are
 * wiped after use.  The session token is part of the outputs where the
 * protocol puts it there (header or query value).
 *
 * Path ("path", as given):
 *   - SD_SIGV4_DOUBLE_ENCODE set (every service but S3): the path is the one
 *     sent on the wire, and each segment is URI-encoded once more, so an
 *     already %-encoded path ends up double-encoded as AWS wants.
 *   - unset (S3): the path is URI-encoded once: each segment is %-decoded,
 *     then encoded, so "/a b", "/a%20b" and "/test$x" give "/a%20b",
 *     "/a%20b" and "/test%24x".  (A key holding a literal '%' must be given
 *     encoded, "%25".)
 *   - SD_SIGV4_NORMALIZE_PATH (not for S3) first removes "." and empty
 *     segments and resolves "..", keeping a trailing '/'.
 *   Encoding keeps RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~) and
 *   '/', and writes everything else as %XX (uppercase hex).
 *
 * Query ("query", raw, without '?', possibly not encoded): split on '&',
 * each piece into name and value at the first '='; both are %-decoded then
 * encoded as above ('/' encoded too; '+' is a literal plus, not a space),
 * sorted by name then value, and a name without value becomes "name=".
 *
 * Headers: every header given is signed.  Names are lowercased; values are
 * trimmed and every run of whitespace (SP, HT, CR, LF, also inside quotes
 * and across folded lines) becomes one space; headers of the same name are
 * joined with ',' in the order given.  A Host header is required; an
 * X-Amz-Date header, when given, must equal the signing time.
 */
#ifndef SD_SIGV4_H
#define SD_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#include "../storagedriver.h"

#define SD_SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SD_SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define SD_SIGV4_STREAMING_PAYLOAD "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
#define SD_SIGV4_MAX_EXPIRES 604800 /* 7 days: the longest presigned URL */

/* One header: name and value, not necessarily NUL-free of whitespace.  The
 * value may hold folded lines ("a\n  b"). */
typedef struct sd_sigv4_header {
    const char *name;
    const char *value;
} sd_sigv4_header;

/* A header the signer adds and the caller must send (owned by the result). */
typedef struct sd_sigv4_field {
    char *name;
    char *value;
} sd_sigv4_field;

typedef struct sd_sigv4_request {
    const char *method;             /* "GET", ... */
    const char *path;               /* see above; NULL or "" means "/" */
    const char *query;              /* raw, without '?'; NULL or "" for none */
    const sd_sigv4_header *headers; /* duplicates allowed; must include Host */
    size_t nheaders;
    /* The payload: payload_hash verbatim when not NULL (lowercase hex of
     * SHA-256, UNSIGNED-PAYLOAD, STREAMING-...), else SHA-256 of
     * payload[0..payload_len) (payload may be NULL when payload_len is 0). */
    const char *payload_hash;
    const void *payload;
    size_t payload_len;
} sd_sigv4_request;

/* Flags of sd_sigv4_config.flags. */
enum {
    SD_SIGV4_NORMALIZE_PATH = 1u << 0,      /* not for S3 */
    SD_SIGV4_DOUBLE_ENCODE = 1u << 1,       /* not for S3 */
    /* The session token is sent (header or query) but not signed: added
     * after the signature. */
    SD_SIGV4_OMIT_SESSION_TOKEN = 1u << 2,
    /* Header signing: add and sign x-amz-content-sha256 (S3 needs it). */
    SD_SIGV4_CONTENT_SHA256_HEADER = 1u << 3,
};
/* The usual sets. */
#define SD_SIGV4_FLAGS_S3 (SD_SIGV4_CONTENT_SHA256_HEADER)
#define SD_SIGV4_FLAGS_SERVICE (SD_SIGV4_NORMALIZE_PATH | SD_SIGV4_DOUBLE_ENCODE)

typedef struct sd_sigv4_config {
    const char *access_key;
    const char *secret_key;
    const char *session_token; /* NULL or "" for none */
    const char *region;        /* "us-east-1" */
    const char *service;       /* "s3" */
    const char *time;          /* ISO 8601 basic, UTC: "20150830T123600Z" */
    unsigned flags;
} sd_sigv4_config;

typedef struct sd_sigv4_result {
    char *canonical_request;
    char *string_to_sign;
    char *credential_scope;   /* "20150830/us-east-1/service/aws4_request" */
    char *signed_headers;     /* "host;x-amz-date" */
    char signature[65];       /* lowercase hex */
    /* sd_sigv4_sign_headers: the Authorization header value
     * ("AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...")
     * and the headers to add to the request (X-Amz-Date when the request has
     * none, X-Amz-Security-Token, x-amz-content-sha256 when asked).
     * NULL / 0 after sd_sigv4_presign. */
    char *authorization;
    sd_sigv4_field *add_headers;
    size_t nadd_headers;
    /* sd_sigv4_presign: the whole query string of the presigned URL (the
     * canonical query, which holds the request's own parameters and the
     * X-Amz-* ones, then X-Amz-Signature, then X-Amz-Security-Token when
     * it is not signed).  URL = scheme://host + canonical path + '?' + query.
     * NULL after sd_sigv4_sign_headers. */
    char *query;
} sd_sigv4_result;

/* Signs for an Authorization header.  *out is overwritten (not freed first);
 * on error it is left empty (safe to pass to sd_sigv4_result_free). */
sd_error *sd_sigv4_sign_headers(const sd_sigv4_request *req, const sd_sigv4_config *cfg,
                                sd_sigv4_result *out);

/* Signs a presigned URL valid for expires seconds (1 .. SD_SIGV4_MAX_EXPIRES).
 * The headers given are the ones signed (usually only Host); for S3 give
 * payload_hash = SD_SIGV4_UNSIGNED_PAYLOAD. */
sd_error *sd_sigv4_presign(const sd_sigv4_request *req, const sd_sigv4_config *cfg,
                           int64_t expires, sd_sigv4_result *out);

void sd_sigv4_result_free(sd_sigv4_result *r);

/* The canonical URI of a path under cfg-style flags (see above), malloc'd;
 * a driver uses it as the wire path too.  NULL when memory runs out. */
char *sd_sigv4_canonical_path(const char *path, unsigned flags);

/* URI-encodes s[0..len) (unreserved kept; '/' kept when keep_slash).
 * malloc'd, NULL when memory runs out. */
char *sd_sigv4_uri_encode(const char *s, size_t len, int keep_slash);

/* ---------------------------------------- S3 streaming (aws-chunked) upload
 * Sign the request first with payload_hash = SD_SIGV4_STREAMING_PAYLOAD and
 * headers Content-Encoding: aws-chunked, x-amz-decoded-content-length and the
 * encoded Content-Length; then start a chunk signer from its signature and
 * sign every chunk in order, the empty final chunk included. */
typedef struct sd_sigv4_chunk_signer {
    unsigned char key[32]; /* the derived signing key; wiped by _end */
    char time[17];
    char *scope;
    char previous[65]; /* the signature of the previous chunk (or the seed) */
} sd_sigv4_chunk_signer;

sd_error *sd_sigv4_chunk_begin(sd_sigv4_chunk_signer *s, const sd_sigv4_config *cfg,
                               const char *seed_signature);
/* Signs the next chunk; out receives its signature (also kept as previous). */
sd_error *sd_sigv4_chunk_next(sd_sigv4_chunk_signer *s, const void *data, size_t len,
                              char out[65]);
/* Signs trailing headers (AWS4-HMAC-SHA256-TRAILER) after the final chunk:
 * names lowercased, values trimmed, each "name:value\n", sorted by name. */
sd_error *sd_sigv4_chunk_trailer(sd_sigv4_chunk_signer *s, const sd_sigv4_header *headers,
                                 size_t nheaders, char out[65]);
void sd_sigv4_chunk_end(sd_sigv4_chunk_signer *s);

#endif
