/* The safetensors format (8-byte little-endian header length, JSON header,
 * raw little-endian data), for exchanging weights with PyTorch. */
#ifndef TSEDARTS_SAFETENSORS_H
#define TSEDARTS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "tsedarts/hash.h"
#include "tsedarts/status.h"

typedef struct st_tensor {
    const char *name;
    const char *dtype; /* "F32", "F64" or "I64" */
    int ndim;
    int64_t dims[4];
    const void *data;
    size_t bytes;
} st_tensor;

/* Writes tensors in the given order, atomically; metadata is a flat JSON
 * object of strings (or NULL). */
td_status safetensors_write(const char *path, const st_tensor *t, int n, const char *metadata_json);
/* The SHA-256 of the file safetensors_write would write, without writing it. */
td_status safetensors_sha256(const st_tensor *t, int n, const char *metadata_json, char hex[SHA256_HEX_LEN]);

typedef struct st_file {
    char *buf;   /* the file, mapped read-only (len bytes) */
    size_t len;
    void *header; /* json_t * */
    size_t data_start;
    char path[4096];
} st_file;

td_status safetensors_open(const char *path, st_file *f);
/* Finds a tensor; returns TD_ERR_FORMAT naming it when absent. */
td_status safetensors_get(const st_file *f, const char *name, st_tensor *out);
int safetensors_count(const st_file *f);
/* Name of the i-th tensor (header order, metadata excluded). */
const char *safetensors_name(const st_file *f, int i);
void safetensors_close(st_file *f);

#endif
