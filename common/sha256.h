/* sha256 — a self-contained SHA-256 (FIPS 180-4), no OpenSSL.
 *
 * Datasets and artifacts are identified by the SHA-256 of their bytes; this
 * module is the one place that computes it. Streaming interface
 * (init/update/final) plus helpers for hex output and whole files. Pure
 * computation except sha256_file, which reads the file in 1 MiB blocks so a
 * multi-gigabyte file never sits in memory.
 */
#ifndef DROVER_SHA256_H
#define DROVER_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_HEX_LEN    64 /* characters, without the NUL */

typedef struct {
    uint32_t h[8];
    uint64_t total;    /* bytes hashed so far */
    uint8_t block[64]; /* partial block */
    size_t fill;       /* bytes in block */
} sha256_ctx_t;

/* Starts a new hash. Cannot fail. */
void sha256_init(sha256_ctx_t *ctx);
/* Adds len bytes (data may be NULL when len is 0). Cannot fail. */
void sha256_update(sha256_ctx_t *ctx, const void *data, size_t len);
/* Finishes the hash into digest[32]; ctx must be re-initialised before
 * reuse. Cannot fail. */
void sha256_final(sha256_ctx_t *ctx, uint8_t digest[SHA256_DIGEST_LEN]);

/* One-shot hash of a buffer. */
void sha256_buffer(const void *data, size_t len, uint8_t digest[SHA256_DIGEST_LEN]);

/* Writes the digest as 64 lowercase hex characters plus NUL into hex[65]. */
/* HMAC-SHA256 (RFC 2104) of msg under key (any length). */
void sha256_hmac(const void *key, size_t keylen, const void *msg, size_t len,
                 uint8_t mac[SHA256_DIGEST_LEN]);

void sha256_hex(const uint8_t digest[SHA256_DIGEST_LEN], char hex[SHA256_HEX_LEN + 1]);

/* Hashes a whole file, streaming it in 1 MiB blocks. Returns 0 with the
 * lowercase hex digest in hex, or -1 with errno set (from open/read) and a
 * message naming the path in err (err may be NULL when errlen is 0). */
int sha256_file(const char *path, char hex[SHA256_HEX_LEN + 1], char *err, size_t errlen);

/* 1 if s is exactly 64 lowercase hex characters (the only form drover
 * accepts as a content address), else 0. */
int sha256_is_hex(const char *s);

#endif
