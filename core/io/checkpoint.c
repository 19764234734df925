/* Layout: "TSDCKPT1" | u64 directory length | directory JSON
 * {"meta": {...}, "sections": [[name, bytes], ...]} | section bytes ... |
 * 32-byte SHA-256 of all preceding bytes. */
#include "tsedarts/checkpoint.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

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

td_status checkpoint_read(const char *path, ckpt_file *f)
{
    memset(f, 0, sizeof *f);
    TD_CHECK(file_read_all(path, &f->buf, &f->len));
    td_status s = TD_OK;
    if (f->len < 48 || memcmp(f->buf, MAGIC, 8) != 0) {
        s = TD_FAIL(TD_ERR_FORMAT, "%s: not a tsedarts checkpoint (bad magic or too short)", path);
        goto fail;
    }
    unsigned char sum[32];
    const void *whole[1] = {f->buf};
    size_t wl[1] = {f->len - 32};
    digest(whole, wl, 1, sum);
    if (memcmp(sum, f->buf + f->len - 32, 32) != 0) {
        s = TD_FAIL(TD_ERR_CHECK, "%s: checksum mismatch: the checkpoint is damaged or truncated", path);
        goto fail;
    }
    uint64_t tl = 0;
    for (int i = 0; i < 8; i++) tl |= (uint64_t)(unsigned char)f->buf[8 + i] << (8 * i);
    if (tl > f->len - 48) {
        s = TD_FAIL(TD_ERR_FORMAT, "%s: bad directory length", path);
        goto fail;
    }
    json_error_t err;
    json_t *dir = json_loadb(f->buf + 16, tl, 0, &err);
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
        size_t b = (size_t)json_integer_value(json_array_get(e, 1));
        if (!nm || off + b > f->len - 32) {
            json_decref(dir);
            s = TD_FAIL(TD_ERR_FORMAT, "%s: section %d overruns the file", path, i);
            goto fail;
        }
        snprintf(f->name[i], sizeof f->name[i], "%s", nm);
        f->data[i] = f->buf + off;
        f->bytes[i] = b;
        off += b;
    }
    json_decref(dir);
    if (off != f->len - 32) {
        s = TD_FAIL(TD_ERR_FORMAT, "%s: sections do not fill the file", path);
        goto fail;
    }
    return TD_OK;
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
            memcpy(dst, f->data[i], bytes);
            return TD_OK;
        }
    return TD_FAIL(TD_ERR_FORMAT, "checkpoint has no section %s", name);
}

void checkpoint_free(ckpt_file *f)
{
    free(f->buf);
    free(f->meta_json);
    memset(f, 0, sizeof *f);
}
