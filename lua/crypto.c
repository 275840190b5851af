/*
 * storagedriver.core.crypto: the digests, HMAC, base64, random bytes and RSA
 * signatures that the URL-signing middlewares need, from OpenSSL's libcrypto.
 *
 * Nothing here keeps state between calls: each function makes the OpenSSL
 * objects it needs, frees them on every path and empties OpenSSL's error
 * queue (which is per thread) before it returns, so any number of Lua states
 * on any number of threads (nginx thread pools) may share the module.
 *
 * The OpenSSL work is done first, into buffers on the C stack; Lua values are
 * pushed only once every OpenSSL object is freed, so a Lua error raised while
 * pushing (out of memory) cannot leak one.  Misuse (a wrong argument type, an
 * unknown algorithm) raises; bad data (invalid base64, a malformed key) gives
 * nil, message.
 */
#include "sdlua.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* OpenSSL refuses RSA moduli above 16384 bits, so a signature fits here. */
#define CR_MAX_SIG (16384 / 8)
#define CR_ERRLEN 256

typedef struct cr_digest {
    const char *name;      /* as Lua code spells it */
    const char *ossl_name; /* as EVP_Q_mac wants it */
    const EVP_MD *(*md)(void);
} cr_digest;

static const cr_digest cr_digests[] = {
    {"md5", "MD5", EVP_md5},          {"sha1", "SHA1", EVP_sha1},
    {"sha224", "SHA224", EVP_sha224}, {"sha256", "SHA256", EVP_sha256},
    {"sha384", "SHA384", EVP_sha384}, {"sha512", "SHA512", EVP_sha512},
};

/* ------------------------------------------------------------ helpers */

static const char *cr_check_bytes(lua_State *L, int arg, size_t *len)
{
    if (lua_type(L, arg) != LUA_TSTRING)
        luaL_typeerror(L, arg, "string");
    return lua_tolstring(L, arg, len);
}

static const cr_digest *cr_check_digest(lua_State *L, int arg, bool rsa)
{
    const char *name = cr_check_bytes(L, arg, NULL);
    for (size_t i = 0; i < sizeof cr_digests / sizeof cr_digests[0]; i++) {
        if (rsa && strcmp(cr_digests[i].name, "md5") == 0)
            continue; /* not offered for signatures */
        if (strcmp(cr_digests[i].name, name) == 0)
            return &cr_digests[i];
    }
    lua_pushfstring(L, "unknown algorithm '%s' (expected %s)", name,
                    rsa ? "sha1, sha224, sha256, sha384 or sha512"
                        : "md5, sha1, sha224, sha256, sha384 or sha512");
    luaL_argerror(L, arg, lua_tostring(L, -1));
    return NULL;
}

/* Writes "<what>: <OpenSSL's reason>" into buf and empties the error queue. */
static void cr_ossl_error(char *buf, size_t cap, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    if (reason)
        snprintf(buf, cap, "%s: %s", what, reason);
    else if (e)
        snprintf(buf, cap, "%s: OpenSSL error %lu", what, e);
    else
        snprintf(buf, cap, "%s", what);
    ERR_clear_error();
}

static int cr_fail(lua_State *L, const char *msg)
{
    lua_pushnil(L);
    lua_pushstring(L, msg);
    return 2;
}

/* ------------------------------------------------------------ digests */

static int cr_push_digest(lua_State *L, const EVP_MD *md, int data_arg)
{
    size_t len;
    const char *data = cr_check_bytes(L, data_arg, &len);
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int outlen = 0;
    if (!EVP_Digest(data, len, out, &outlen, md, NULL)) {
        char err[CR_ERRLEN];
        cr_ossl_error(err, sizeof err, "digest failed");
        return cr_fail(L, err);
    }
    lua_pushlstring(L, (const char *)out, outlen);
    return 1;
}

static int cr_md5(lua_State *L) { return cr_push_digest(L, EVP_md5(), 1); }
static int cr_sha1(lua_State *L) { return cr_push_digest(L, EVP_sha1(), 1); }
static int cr_sha256(lua_State *L) { return cr_push_digest(L, EVP_sha256(), 1); }
static int cr_sha512(lua_State *L) { return cr_push_digest(L, EVP_sha512(), 1); }

/* digest(alg, s) */
static int cr_digest_any(lua_State *L)
{
    const cr_digest *d = cr_check_digest(L, 1, false);
    return cr_push_digest(L, d->md(), 2);
}

/* hmac(alg, key, s) --> raw MAC */
static int cr_hmac(lua_State *L)
{
    const cr_digest *d = cr_check_digest(L, 1, false);
    size_t keylen, len;
    const char *key = cr_check_bytes(L, 2, &keylen);
    const char *data = cr_check_bytes(L, 3, &len);
    unsigned char out[EVP_MAX_MD_SIZE];
    size_t outlen = 0;
    /* A zero-length key is legal for HMAC; OpenSSL wants a non-NULL pointer,
     * which a Lua string always gives. */
    if (!EVP_Q_mac(NULL, "HMAC", NULL, d->ossl_name, NULL, key, keylen,
                   (const unsigned char *)data, len, out, sizeof out, &outlen)) {
        char err[CR_ERRLEN];
        cr_ossl_error(err, sizeof err, "hmac failed");
        return cr_fail(L, err);
    }
    lua_pushlstring(L, (const char *)out, outlen);
    return 1;
}

/* ------------------------------------------------------------------ hex */

static int cr_hex(lua_State *L)
{
    static const char digits[] = "0123456789abcdef";
    size_t len;
    const unsigned char *s = (const unsigned char *)cr_check_bytes(L, 1, &len);
    luaL_Buffer b;
    char chunk[512];
    luaL_buffinit(L, &b);
    size_t i = 0;
    while (i < len) {
        size_t n = 0;
        for (; i < len && n + 2 <= sizeof chunk; i++) {
            chunk[n++] = digits[s[i] >> 4];
            chunk[n++] = digits[s[i] & 15];
        }
        luaL_addlstring(&b, chunk, n);
    }
    luaL_pushresult(&b);
    return 1;
}

/* --------------------------------------------------------------- base64 */

/* Input bytes per encoded chunk: a multiple of 3, so that only the last chunk
 * is padded. */
#define CR_B64_IN 3072

static int cr_base64_encode(lua_State *L)
{
    size_t len;
    const unsigned char *s = (const unsigned char *)cr_check_bytes(L, 1, &len);
    unsigned char out[CR_B64_IN / 3 * 4 + 1]; /* EVP_EncodeBlock adds a NUL */
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t off = 0; off < len; off += CR_B64_IN) {
        size_t n = len - off < CR_B64_IN ? len - off : CR_B64_IN;
        int outlen = EVP_EncodeBlock(out, s + off, (int)n);
        luaL_addlstring(&b, (const char *)out, (size_t)outlen);
    }
    luaL_pushresult(&b);
    return 1;
}

static bool cr_b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

/* Strict RFC 4648 §4: the standard alphabet, padded to a multiple of 4, no
 * whitespace.  On error, writes why into err. */
static bool cr_b64_valid(const unsigned char *s, size_t len, size_t *pad, char *err, size_t cap)
{
    if (len % 4 != 0) {
        snprintf(err, cap, "invalid base64: length %zu is not a multiple of 4", len);
        return false;
    }
    *pad = 0;
    if (len >= 1 && s[len - 1] == '=') {
        (*pad)++;
        if (s[len - 2] == '=') /* len is a multiple of 4: len >= 4 */
            (*pad)++;
    }
    for (size_t i = 0; i < len - *pad; i++) {
        if (!cr_b64_char(s[i])) {
            if (s[i] == '=')
                snprintf(err, cap, "invalid base64: padding at offset %zu", i);
            else
                snprintf(err, cap, "invalid base64: unexpected byte 0x%02x at offset %zu",
                         (unsigned)s[i], i);
            return false;
        }
    }
    return true;
}

/* Encoded characters per decoded chunk: a multiple of 4. */
#define CR_B64_OUT 4096

static int cr_base64_decode(lua_State *L)
{
    size_t len;
    const unsigned char *s = (const unsigned char *)cr_check_bytes(L, 1, &len);
    size_t pad = 0;
    char err[CR_ERRLEN];
    if (!cr_b64_valid(s, len, &pad, err, sizeof err))
        return cr_fail(L, err);
    unsigned char out[CR_B64_OUT / 4 * 3];
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t off = 0; off < len; off += CR_B64_OUT) {
        size_t n = len - off < CR_B64_OUT ? len - off : CR_B64_OUT;
        int outlen = EVP_DecodeBlock(out, s + off, (int)n);
        if (outlen < 0) { /* not expected after the validation above */
            luaL_pushresult(&b);
            lua_pop(L, 1);
            cr_ossl_error(err, sizeof err, "invalid base64");
            return cr_fail(L, err);
        }
        /* EVP_DecodeBlock counts the padding as zero bytes. */
        if (off + n == len)
            outlen -= (int)pad;
        luaL_addlstring(&b, (const char *)out, (size_t)outlen);
    }
    luaL_pushresult(&b);
    return 1;
}

/* --------------------------------------------------------------- random */

#define CR_RANDOM_MAX (1 << 24)

/* random_bytes(n) --> n bytes from OpenSSL's CSPRNG | nil, err */
static int cr_random_bytes(lua_State *L)
{
    lua_Integer n = sdl_checkinteger(L, 1);
    luaL_argcheck(L, n >= 0 && n <= CR_RANDOM_MAX, 1, "must be between 0 and 16777216");
    unsigned char chunk[256];
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    while (n > 0) {
        int k = n < (lua_Integer)sizeof chunk ? (int)n : (int)sizeof chunk;
        if (RAND_bytes(chunk, k) != 1) {
            OPENSSL_cleanse(chunk, sizeof chunk);
            luaL_pushresult(&b);
            lua_pop(L, 1);
            char err[CR_ERRLEN];
            cr_ossl_error(err, sizeof err, "random_bytes failed");
            return cr_fail(L, err);
        }
        luaL_addlstring(&b, (const char *)chunk, (size_t)k);
        n -= k;
    }
    OPENSSL_cleanse(chunk, sizeof chunk);
    luaL_pushresult(&b);
    return 1;
}

/* ------------------------------------------------------------------ RSA */

/* An encrypted key must fail, not prompt on the terminal. */
static int cr_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

/* Signs data with the PEM private key (PKCS#1 v1.5 over md).  sig holds
 * CR_MAX_SIG bytes.  Returns false with the reason in err. */
static bool cr_rsa_sign(const EVP_MD *md, const char *pem, size_t pemlen, const char *data,
                        size_t len, unsigned char *sig, size_t *siglen, char *err, size_t cap)
{
    bool ok = false;
    BIO *bio = NULL;
    EVP_PKEY *pkey = NULL;
    EVP_MD_CTX *ctx = NULL;
    EVP_PKEY_CTX *pctx = NULL; /* owned by ctx */

    ERR_clear_error();
    if (pemlen > INT_MAX) {
        snprintf(err, cap, "malformed PEM private key: too large");
        goto done;
    }
    bio = BIO_new_mem_buf(pem, (int)pemlen);
    if (!bio) {
        cr_ossl_error(err, cap, "out of memory");
        goto done;
    }
    pkey = PEM_read_bio_PrivateKey(bio, NULL, cr_no_passphrase, NULL);
    if (!pkey) {
        /* OpenSSL's own reason is often just "unsupported": say what was seen. */
        if (!memmem(pem, pemlen, "PRIVATE KEY-----", 16)) {
            ERR_clear_error();
            snprintf(err, cap, "malformed PEM private key: no -----BEGIN ... PRIVATE KEY----- line "
                               "(expected BEGIN RSA PRIVATE KEY or BEGIN PRIVATE KEY)");
        } else if (memmem(pem, pemlen, "ENCRYPTED", 9)) {
            ERR_clear_error();
            snprintf(err, cap, "malformed PEM private key: encrypted keys are not supported");
        } else {
            unsigned long e = ERR_peek_last_error();
            const char *reason = e ? ERR_reason_error_string(e) : NULL;
            if (!reason || strcmp(reason, "unsupported") == 0) {
                ERR_clear_error();
                snprintf(err, cap, "malformed PEM private key: the PEM block does not hold a "
                                   "readable private key (damaged base64 or key data)");
            } else {
                cr_ossl_error(err, cap, "malformed PEM private key");
            }
        }
        goto done;
    }
    if (!EVP_PKEY_is_a(pkey, "RSA")) {
        snprintf(err, cap, "the PEM private key is not an RSA key (%s)",
                 EVP_PKEY_get0_type_name(pkey) ? EVP_PKEY_get0_type_name(pkey) : "unknown type");
        goto done;
    }
    if (EVP_PKEY_get_size(pkey) <= 0 || EVP_PKEY_get_size(pkey) > CR_MAX_SIG) {
        snprintf(err, cap, "unsupported RSA key size");
        goto done;
    }
    ctx = EVP_MD_CTX_new();
    if (!ctx) {
        cr_ossl_error(err, cap, "out of memory");
        goto done;
    }
    if (EVP_DigestSignInit(ctx, &pctx, md, NULL, pkey) <= 0 ||
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0) {
        cr_ossl_error(err, cap, "cannot sign with this key");
        goto done;
    }
    *siglen = CR_MAX_SIG;
    if (EVP_DigestSign(ctx, sig, siglen, (const unsigned char *)data, len) <= 0) {
        cr_ossl_error(err, cap, "signing failed");
        goto done;
    }
    ok = true;
done:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    ERR_clear_error();
    return ok;
}

/* sign(alg, pem, data) --> signature bytes | nil, err */
static int cr_sign(lua_State *L)
{
    const cr_digest *d = cr_check_digest(L, 1, true);
    size_t pemlen, len;
    const char *pem = cr_check_bytes(L, 2, &pemlen);
    const char *data = cr_check_bytes(L, 3, &len);
    unsigned char sig[CR_MAX_SIG];
    size_t siglen = 0;
    char err[CR_ERRLEN];
    if (!cr_rsa_sign(d->md(), pem, pemlen, data, len, sig, &siglen, err, sizeof err))
        return cr_fail(L, err);
    lua_pushlstring(L, (const char *)sig, siglen);
    return 1;
}

/* ---------------------------------------------------------------- open */

void sdl_open_crypto(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"md5", cr_md5},
        {"sha1", cr_sha1},
        {"sha256", cr_sha256},
        {"sha512", cr_sha512},
        {"digest", cr_digest_any},
        {"hmac", cr_hmac},
        {"hex", cr_hex},
        {"base64_encode", cr_base64_encode},
        {"base64_decode", cr_base64_decode},
        {"random_bytes", cr_random_bytes},
        {"sign", cr_sign},
        {NULL, NULL},
    };
    luaL_newlib(L, funcs);
    lua_pushstring(L, OpenSSL_version(OPENSSL_VERSION));
    lua_setfield(L, -2, "openssl_version");
}
