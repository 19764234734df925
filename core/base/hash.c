#include "tsedarts/hash.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tsedarts/fileio.h"

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
    /* streamed: constant memory at any size; never a FIFO or a device */
    int fd;
    TD_CHECK(file_open_regular(path, &fd, NULL));
    sha256_ctx *c = sha256_begin();
    unsigned char buf[1 << 16];
    size_t n;
    td_status s;
    while ((s = file_read_fd(fd, path, buf, sizeof buf, &n)) == TD_OK && n > 0) sha256_update(c, buf, n);
    close(fd);
    sha256_end(c, hex);
    return s;
}
