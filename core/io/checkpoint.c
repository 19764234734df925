/* Layout: "TSDCKPT1" | u64 directory length | directory JSON
 * {"meta": {...}, "sections": [[name, bytes], ...]} | section bytes ... |
 * 32-byte SHA-256 of all preceding bytes. */
#include "tsedarts/checkpoint.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tsedarts/fileio.h"

static const char MAGIC[8] = {'T', 'S', 'D', 'C', 'K', 'P', 'T', '1'};

static void digest(const void *const *parts, const size_t *lens, int n, unsigned char out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int len = 0;
    TD_ASSERT(md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1, "OpenSSL: SHA-256 init failed");
    for (int i = 0; i < n; i++) EVP_DigestUpdate(md, parts[i], lens[i]);
    EVP_DigestFinal_ex(md, out, &len);
    EVP_MD_CTX_free(md);
}

td_status checkpoint_write(const char *path, const char *meta_json, const ckpt_section *s, int n)
{
    if (n > CHECKPOINT_MAX_SECTIONS) return TD_FAIL(TD_ERR_ARG, "checkpoint: too many sections");
    json_error_t err;
    json_t *meta = json_loads(meta_json, 0, &err);
    if (!meta) return TD_FAIL(TD_ERR_ARG, "checkpoint: bad metadata JSON: %s", err.text);
    json_t *dir = json_object(), *secs = json_array();
    json_object_set_new(dir, "meta", meta);
    for (int i = 0; i < n; i++) {
        json_t *e = json_array();
        json_array_append_new(e, json_string(s[i].name));
        json_array_append_new(e, json_integer((json_int_t)s[i].bytes));
        json_array_append_new(secs, e);
    }
    json_object_set_new(dir, "sections", secs);
    char *text = json_dumps(dir, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(dir);
    unsigned char lenbuf[8];
    uint64_t tl = strlen(text);
    for (int i = 0; i < 8; i++) lenbuf[i] = (unsigned char)(tl >> (8 * i));
    const void *parts[CHECKPOINT_MAX_SECTIONS + 4];
    size_t lens[CHECKPOINT_MAX_SECTIONS + 4];
    int np = 0;
    parts[np] = MAGIC;
    lens[np++] = 8;
    parts[np] = lenbuf;
    lens[np++] = 8;
    parts[np] = text;
    lens[np++] = tl;
    for (int i = 0; i < n; i++) {
        parts[np] = s[i].data;
        lens[np++] = s[i].bytes;
    }
    unsigned char sum[32];
    digest(parts, lens, np, sum);
    parts[np] = sum;
    lens[np++] = 32;
    td_status st = file_write_atomic(path, np, parts, lens);
    free(text);
    return st;
}

/* The directory JSON holds the meta (counters, positions, a few hashes)
 * and the section list: kilobytes. A length past this is not a checkpoint
 * of this program, and is refused before anything is allocated for it. */
#define DIRECTORY_MAX ((uint64_t)16 << 20)

/* The SHA-256 of the file's first len bytes, read in pieces. */
static td_status digest_fd(int fd, const char *path, size_t len, unsigned char out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int dl = 0;
    TD_ASSERT(md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1, "OpenSSL: SHA-256 init failed");
    unsigned char buf[1 << 16];
    td_status s = lseek(fd, 0, SEEK_SET) == 0 ? TD_OK : TD_FAIL(TD_ERR_IO, "%s: cannot seek", path);
    for (size_t done = 0; s == TD_OK && done < len;) {
        size_t want = len - done < sizeof buf ? len - done : sizeof buf, got;
        s = file_read_fd(fd, path, buf, want, &got);
        if (s == TD_OK && got < want) s = TD_FAIL(TD_ERR_FORMAT, "%s: shorter than it was a moment ago", path);
        if (s == TD_OK) EVP_DigestUpdate(md, buf, got);
        done += got;
    }
    EVP_DigestFinal_ex(md, out, &dl);
    EVP_MD_CTX_free(md);
    return s;
}

static td_status read_at(const ckpt_file *f, size_t off, void *dst, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(f->fd, (char *)dst + got, len - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return TD_FAIL(TD_ERR_IO, "%s: cannot read %zu bytes at %zu", f->path, len, off);
        got += (size_t)r;
    }
    return TD_OK;
}

/* The header and directory are read and checked against the file's size
 * first, so a file of the wrong kind or size is refused before its bulk
 * is touched; the sections stay on disk until checkpoint_section copies
 * one into its destination, so memory never holds more than the caller
 * asked for, whatever the file claims. */
td_status checkpoint_read(const char *path, ckpt_file *f)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    snprintf(f->path, sizeof f->path, "%s", path);
    size_t len;
    TD_CHECK(file_open_regular(path, &f->fd, &len));
    f->len = len;
    td_status s = TD_OK;
    unsigned char head[16];
    if (len < 48 || read_at(f, 0, head, 16) != TD_OK || memcmp(head, MAGIC, 8) != 0) {
        s = TD_FAIL(TD_ERR_FORMAT, "%s: not a tsedarts checkpoint (bad magic or too short)", path);
        goto fail;
    }
    uint64_t tl = 0;
    for (int i = 0; i < 8; i++) tl |= (uint64_t)head[8 + i] << (8 * i);
    if (tl > len - 48 || tl > DIRECTORY_MAX) {
        s = TD_FAIL(TD_ERR_FORMAT, "%s: bad directory length", path);
        goto fail;
    }
    char *text = malloc(tl + 1);
    if (!text) {
        s = TD_FAIL(TD_ERR_MEMORY, "out of memory");
        goto fail;
    }
    s = read_at(f, 16, text, tl);
    json_error_t err;
    json_t *dir = s == TD_OK ? json_loadb(text, tl, 0, &err) : NULL;
    free(text);
    if (s != TD_OK) goto fail;
    json_t *meta = dir ? json_object_get(dir, "meta") : NULL, *secs = dir ? json_object_get(dir, "sections") : NULL;
    if (!meta || !json_is_array(secs) || json_array_size(secs) > CHECKPOINT_MAX_SECTIONS) {
        if (dir) json_decref(dir);
        s = TD_FAIL(TD_ERR_FORMAT, "%s: bad directory", path);
        goto fail;
    }
    f->meta_json = json_dumps(meta, JSON_COMPACT | JSON_PRESERVE_ORDER);
    size_t off = 16 + tl;
    f->n = (int)json_array_size(secs);
    for (int i = 0; i < f->n; i++) {
        json_t *e = json_array_get(secs, (size_t)i);
        const char *nm = json_string_value(json_array_get(e, 0));
        json_int_t b = json_integer_value(json_array_get(e, 1));
        if (!nm || b < 0 || (uint64_t)b > len - 32 - off) {
            json_decref(dir);
            s = TD_FAIL(TD_ERR_FORMAT, "%s: section %d overruns the file", path, i);
            goto fail;
        }
        snprintf(f->name[i], sizeof f->name[i], "%s", nm);
        f->offset[i] = off;
        f->bytes[i] = (size_t)b;
        off += (size_t)b;
    }
    json_decref(dir);
    if (off != len - 32) {
        s = TD_FAIL(TD_ERR_FORMAT, "%s: %zu bytes, but its directory describes %zu: sections do not fill the file",
                    path, len, off + 32);
        goto fail;
    }
    unsigned char sum[32], stored[32];
    s = digest_fd(f->fd, path, len - 32, sum);
    if (s == TD_OK) s = read_at(f, len - 32, stored, 32);
    if (s == TD_OK && memcmp(sum, stored, 32) != 0)
        s = TD_FAIL(TD_ERR_CHECK, "%s: checksum mismatch: the checkpoint is damaged or truncated", path);
    if (s == TD_OK) return TD_OK;
fail:
    checkpoint_free(f);
    return s;
}

int checkpoint_has(const ckpt_file *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->name[i], name)) return 1;
    return 0;
}

td_status checkpoint_section(const ckpt_file *f, const char *name, void *dst, size_t bytes)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->name[i], name)) {
            if (f->bytes[i] != bytes)
                return TD_FAIL(TD_ERR_FORMAT, "checkpoint section %s has %zu bytes, expected %zu", name, f->bytes[i],
                               bytes);
            return read_at(f, f->offset[i], dst, bytes);
        }
    return TD_FAIL(TD_ERR_FORMAT, "checkpoint has no section %s", name);
}

void checkpoint_free(ckpt_file *f)
{
    if (f->fd >= 0) close(f->fd);
    free(f->meta_json);
    memset(f, 0, sizeof *f);
    f->fd = -1;
}
