/* SHA-256 (OpenSSL EVP) of buffers and files, as lowercase hex. */
#ifndef TSEDARTS_HASH_H
#define TSEDARTS_HASH_H

#include <stddef.h>

#include "tsedarts/status.h"

#define SHA256_HEX_LEN 65 /* 64 hex digits and the terminator */

typedef struct sha256_ctx sha256_ctx;

sha256_ctx *sha256_begin(void);
void sha256_update(sha256_ctx *c, const void *data, size_t len);
/* Finishes, writes hex, frees the context. */
void sha256_end(sha256_ctx *c, char hex[SHA256_HEX_LEN]);

void sha256_buffer(const void *data, size_t len, char hex[SHA256_HEX_LEN]);
td_status sha256_file(const char *path, char hex[SHA256_HEX_LEN]);

#endif
