#include "tsedarts/safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tsedarts/fileio.h"
#include "tsedarts/hash.h"
#include "tsedarts/path.h"

static size_t dtype_bytes(const char *dt)
{
    if (!strcmp(dt, "F32")) return 4;
    if (!strcmp(dt, "F64") || !strcmp(dt, "I64")) return 8;
    return 0;
}

/* The file as parts: the 8-byte length and the padded JSON header (*header,
 * malloc'd), then each tensor's data; parts and lens hold n + 1 entries. */
static td_status encode(const st_tensor *t, int n, const char *metadata_json, char **header, const void **parts,
                        size_t *lens)
{
    json_t *hdr = json_object();
    if (metadata_json) {
        json_error_t err;
        json_t *meta = json_loads(metadata_json, 0, &err);
        if (!meta) {
            json_decref(hdr);
            return TD_FAIL(TD_ERR_ARG, "safetensors: bad metadata JSON: %s", err.text);
        }
        json_object_set_new(hdr, "__metadata__", meta);
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        json_t *e = json_object(), *shape = json_array();
        size_t count = 1;
        for (int d = 0; d < t[i].ndim; d++) {
            json_array_append_new(shape, json_integer(t[i].dims[d]));
            count *= (size_t)t[i].dims[d];
        }
        if (count * dtype_bytes(t[i].dtype) != t[i].bytes) {
            json_decref(e);
            json_decref(shape);
            json_decref(hdr);
            return TD_FAIL(TD_ERR_ARG, "safetensors: tensor %s: %zu bytes do not match its shape", t[i].name,
                           t[i].bytes);
        }
        json_object_set_new(e, "dtype", json_string(t[i].dtype));
        json_object_set_new(e, "shape", shape);
        json_t *offs = json_array();
        json_array_append_new(offs, json_integer((json_int_t)off));
        json_array_append_new(offs, json_integer((json_int_t)(off + t[i].bytes)));
        json_object_set_new(e, "data_offsets", offs);
        json_object_set_new(hdr, t[i].name, e);
        off += t[i].bytes;
    }
    char *text = json_dumps(hdr, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(hdr);
    size_t hl = strlen(text);
    size_t padded = (hl + 7) / 8 * 8; /* data starts 8-byte aligned */
    char *h = malloc(padded + 8);
    if (!h) {
        free(text);
        return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    }
    uint64_t le = padded;
    for (int i = 0; i < 8; i++) h[i] = (char)((le >> (8 * i)) & 0xff);
    memcpy(h + 8, text, hl);
    memset(h + 8 + hl, ' ', padded - hl);
    free(text);
    *header = h;
    parts[0] = h;
    lens[0] = padded + 8;
    for (int i = 0; i < n; i++) {
        parts[i + 1] = t[i].data;
        lens[i + 1] = t[i].bytes;
    }
    return TD_OK;
}

td_status safetensors_write(const char *path, const st_tensor *t, int n, const char *metadata_json)
{
    const void **parts = malloc((size_t)(n + 1) * sizeof *parts);
    size_t *lens = malloc((size_t)(n + 1) * sizeof *lens);
    char *h = NULL;
    td_status s = parts && lens ? encode(t, n, metadata_json, &h, parts, lens) : TD_FAIL(TD_ERR_MEMORY, "out of memory");
    if (s == TD_OK) s = file_write_atomic(path, n + 1, parts, lens);
    free(parts);
    free(lens);
    free(h);
    return s;
}

td_status safetensors_sha256(const st_tensor *t, int n, const char *metadata_json, char hex[SHA256_HEX_LEN])
{
    const void **parts = malloc((size_t)(n + 1) * sizeof *parts);
    size_t *lens = malloc((size_t)(n + 1) * sizeof *lens);
    char *h = NULL;
    td_status s = parts && lens ? encode(t, n, metadata_json, &h, parts, lens) : TD_FAIL(TD_ERR_MEMORY, "out of memory");
    if (s == TD_OK) {
        sha256_ctx *c = sha256_begin();
        for (int i = 0; i <= n; i++) sha256_update(c, parts[i], lens[i]);
        sha256_end(c, hex);
    }
    free(parts);
    free(lens);
    free(h);
    return s;
}

/* The JSON header of a file this program reads lists a few hundred
 * tensors: kilobytes. (The format allows 100 MB; nothing here writes
 * near that.) */
#define HEADER_MAX ((uint64_t)16 << 20)

/* The byte after the last tensor's data, by the header; 0 for none. */
static size_t data_extent(json_t *header)
{
    size_t end = 0;
    const char *key;
    json_t *v;
    json_object_foreach(header, key, v)
    {
        json_t *offs = json_object_get(v, "data_offsets");
        json_int_t hi = json_integer_value(json_array_get(offs, 1));
        if (strcmp(key, "__metadata__") && hi > 0 && (size_t)hi > end) end = (size_t)hi;
    }
    return end;
}

/* The header is read and checked against the file's size first: a file
 * longer or shorter than its tensors is refused before anything else is
 * touched. The data is then mapped, not read: a tensor comes from the
 * page cache when it is used, so the memory holds no more than the
 * tensors the caller reads. */
td_status safetensors_open(const char *path, st_file *f)
{
    memset(f, 0, sizeof *f);
    TD_CHECK(path_format(f->path, sizeof f->path, "%s", path));
    int fd;
    size_t len, got = 0;
    TD_CHECK(file_open_regular(path, &fd, &len));
    unsigned char head[8];
    td_status s = file_read_fd(fd, path, head, 8, &got);
    uint64_t hl = 0;
    for (size_t i = 0; s == TD_OK && i < got; i++) hl |= (uint64_t)head[i] << (8 * i);
    if (s == TD_OK && (got < 8 || hl > len - 8 || hl > HEADER_MAX))
        s = TD_FAIL(TD_ERR_FORMAT, "%s: not a safetensors file (bad header length)", path);
    char *text = s == TD_OK ? malloc(hl + 1) : NULL;
    if (s == TD_OK && !text) s = TD_FAIL(TD_ERR_MEMORY, "out of memory");
    if (s == TD_OK) s = file_read_fd(fd, path, text, hl, &got);
    json_error_t err;
    if (s == TD_OK) {
        f->header = json_loadb(text, hl, 0, &err);
        if (!f->header || !json_is_object((json_t *)f->header))
            s = TD_FAIL(TD_ERR_FORMAT, "%s: bad safetensors header: %s", path, err.text);
    }
    free(text);
    f->data_start = 8 + hl;
    if (s == TD_OK && len - f->data_start != data_extent(f->header))
        s = TD_FAIL(TD_ERR_FORMAT, "%s: %zu bytes, but its header describes %zu; not read", path, len,
                    f->data_start + data_extent(f->header));
    if (s == TD_OK && len) {
        void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) s = TD_FAIL(TD_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
        else f->buf = map, f->len = len;
    }
    close(fd);
    if (s != TD_OK) safetensors_close(f);
    return s;
}

td_status safetensors_get(const st_file *f, const char *name, st_tensor *out)
{
    json_t *e = json_object_get(f->header, name);
    /* a file that lacks what its reader needs is a fault of the file, not
     * of how the program was called */
    if (!e) return TD_FAIL(TD_ERR_FORMAT, "%s: no tensor named %s", f->path, name);
    const char *dt = json_string_value(json_object_get(e, "dtype"));
    json_t *shape = json_object_get(e, "shape"), *offs = json_object_get(e, "data_offsets");
    if (!dt || !json_is_array(shape) || json_array_size(shape) > 4 || !json_is_array(offs) || json_array_size(offs) != 2)
        return TD_FAIL(TD_ERR_FORMAT, "%s: tensor %s: malformed header entry", f->path, name);
    memset(out, 0, sizeof *out);
    out->name = name;
    out->dtype = dt;
    out->ndim = (int)json_array_size(shape);
    size_t count = 1;
    for (int d = 0; d < out->ndim; d++) {
        out->dims[d] = json_integer_value(json_array_get(shape, (size_t)d));
        count *= (size_t)out->dims[d];
    }
    size_t lo = (size_t)json_integer_value(json_array_get(offs, 0)), hi = (size_t)json_integer_value(json_array_get(offs, 1));
    if (hi < lo || hi > f->len - f->data_start || hi - lo != count * dtype_bytes(dt) || !dtype_bytes(dt))
        return TD_FAIL(TD_ERR_FORMAT, "%s: tensor %s: data offsets do not match its shape and dtype %s", f->path,
                       name, dt);
    out->data = f->buf + f->data_start + lo;
    out->bytes = hi - lo;
    return TD_OK;
}

int safetensors_count(const st_file *f)
{
    int n = (int)json_object_size(f->header);
    return json_object_get(f->header, "__metadata__") ? n - 1 : n;
}

const char *safetensors_name(const st_file *f, int i)
{
    const char *key;
    json_t *v;
    int k = 0;
    json_object_foreach((json_t *)f->header, key, v)
    {
        if (!strcmp(key, "__metadata__")) continue;
        if (k++ == i) return key;
    }
    return NULL;
}

void safetensors_close(st_file *f)
{
    if (f->header) json_decref(f->header);
    if (f->buf) munmap(f->buf, f->len);
    memset(f, 0, sizeof *f);
}
