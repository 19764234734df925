#include "tsedarts/hash.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sha256_ctx {
    EVP_MD_CTX *md;
};

sha256_ctx *sha256_begin(void)
{
    sha256_ctx *c = malloc(sizeof *c);
    TD_ASSERT(c, "out of memory");
    c->md = EVP_MD_CTX_new();
    TD_ASSERT(c->md && EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) == 1, "OpenSSL: SHA-256 init failed");
    return c;
}

void sha256_update(sha256_ctx *c, const void *data, size_t len)
{
    TD_ASSERT(EVP_DigestUpdate(c->md, data, len) == 1, "OpenSSL: SHA-256 update failed");
}

void sha256_end(sha256_ctx *c, char hex[SHA256_HEX_LEN])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    TD_ASSERT(EVP_DigestFinal_ex(c->md, digest, &len) == 1 && len == 32, "OpenSSL: SHA-256 final failed");
    for (unsigned i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    EVP_MD_CTX_free(c->md);
    free(c);
}

void sha256_buffer(const void *data, size_t len, char hex[SHA256_HEX_LEN])
{
    sha256_ctx *c = sha256_begin();
    sha256_update(c, data, len);
    sha256_end(c, hex);
}

td_status sha256_file(const char *path, char hex[SHA256_HEX_LEN])
{
    FILE *f = fopen(path, "rb");
    if (!f) return TD_FAIL(TD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    sha256_ctx *c = sha256_begin();
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) sha256_update(c, buf, n);
    int err = ferror(f);
    fclose(f);
    sha256_end(c, hex);
    if (err) return TD_FAIL(TD_ERR_IO, "%s: read error", path);
    return TD_OK;
}
