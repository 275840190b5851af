/*
 * runtime/sign/azure.h: Azure Storage request signing (Blob service).
 *
 *  - SharedKey: the string-to-sign of a request (twelve standard header
 *    slots, the canonicalized x-ms-* headers, the canonicalized resource) and
 *    its Authorization header value.
 *  - SAS: the string-to-sign of a service SAS for each layout Azure has used
 *    (the version sv picks it) and of an account SAS, and the query of a
 *    service SAS.
 *
 * Signatures are Base64(HMAC-SHA256(Base64Decode(account key), string)).
 * Nothing here does I/O or keeps state; every result is malloc'd and belongs
 * to the caller (NULL when memory runs out).
 */
#ifndef SD_SIGN_AZURE_H
#define SD_SIGN_AZURE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Decodes a base64 account key into *key (malloc'd, *len bytes).  Returns 0,
 * or -1 when b64 is not valid base64 (or empty, or memory runs out). */
int sd_azure_key_decode(const char *b64, unsigned char **key, size_t *len);

/* Base64(HMAC-SHA256(key, msg)); NULL on failure. */
char *sd_azure_sign(const unsigned char *key, size_t keylen, const char *msg, size_t msglen);

typedef struct sd_azure_header {
    const char *name, *value;
} sd_azure_header;

/* The SharedKey string-to-sign of a Blob/Queue/File request (version
 * 2009-09-19 and later).  path is the URL's path as sent (percent-encoded,
 * starting with '/'; with a path-style emulator URL it starts with the
 * account); query is the URL's raw query without '?' (may be NULL).  A
 * Content-Length of "0" is signed as the empty string. */
char *sd_azure_sharedkey_string(const char *method, const sd_azure_header *headers, size_t n,
                                const char *account, const char *path, const char *query);

/* "SharedKey <account>:<signature>" of that string; NULL on failure. */
char *sd_azure_sharedkey_auth(const char *account, const unsigned char *key, size_t keylen,
                              const char *string_to_sign);

/* The fields of a service SAS; NULL stands for empty.  canonical is
 * "/blob/<account>/<container>[/<blob>]". */
typedef struct sd_azure_sas {
    const char *sv, *sp, *st, *se, *canonical, *si, *sip, *spr, *sr, *snapshot, *ses;
    const char *rscc, *rscd, *rsce, *rscl, *rsct;
} sd_azure_sas;

/* The service SAS string-to-sign in the layout of version s->sv:
 *   <= 2018-03-28:          sp st se canonical si sip spr sv rscc rscd rsce rscl rsct
 *   2018-11-09..2020-10-02: ... sv sr snapshot rscc ...
 *   >= 2020-12-06:          ... sv sr snapshot ses rscc ...
 * joined by '\n'. */
char *sd_azure_service_sas_string(const sd_azure_sas *s);

/* The query of that SAS with signature sig, fields in Azure's documented
 * order (sv, st, se, sr, sp, sip, spr, si, ses, rscc..rsct, sig), values
 * encoded, empty ones left out. */
char *sd_azure_service_sas_query(const sd_azure_sas *s, const char *sig);

typedef struct sd_azure_account_sas {
    const char *account, *sv, *sp, *ss, *srt, *st, *se, *sip, *spr, *ses;
} sd_azure_account_sas;

/* The account SAS string-to-sign: account sp ss srt st se sip spr sv, each
 * followed by '\n', and from 2020-12-06 on ses + '\n' too. */
char *sd_azure_account_sas_string(const sd_azure_account_sas *s);

/* 1 when version a sorts at or after b (both "YYYY-MM-DD"). */
int sd_azure_version_at_least(const char *a, const char *b);

#ifdef __cplusplus
}
#endif

#endif
