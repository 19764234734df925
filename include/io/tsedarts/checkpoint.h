/* Checkpoints: a JSON description plus named raw sections, with a SHA-256
 * of everything before it, written atomically. A damaged or truncated
 * checkpoint is refused on load, never half-used. */
#ifndef TSEDARTS_CHECKPOINT_H
#define TSEDARTS_CHECKPOINT_H

#include <stddef.h>

#include "tsedarts/status.h"

#define CHECKPOINT_MAX_SECTIONS 32

typedef struct ckpt_section {
    const char *name;
    const void *data;
    size_t bytes;
} ckpt_section;

/* meta_json: a JSON object describing the state (position, counters). */
td_status checkpoint_write(const char *path, const char *meta_json, const ckpt_section *s, int n);

typedef struct ckpt_file {
    int fd;          /* open while the file is read; -1 after checkpoint_free */
    size_t len;
    char path[4096];
    char *meta_json; /* malloc'd copy */
    int n;
    char name[CHECKPOINT_MAX_SECTIONS][64];
    size_t offset[CHECKPOINT_MAX_SECTIONS];
    size_t bytes[CHECKPOINT_MAX_SECTIONS];
} ckpt_file;

/* Opens a checkpoint: checks its kind (a regular file), magic, directory,
 * that the sections fill the file exactly, and its checksum (streamed),
 * holding only the directory in memory; checkpoint_free closes it. */
td_status checkpoint_read(const char *path, ckpt_file *f);
/* Copies section `name` into dst of exactly `bytes`, or fails naming it. */
td_status checkpoint_section(const ckpt_file *f, const char *name, void *dst, size_t bytes);
int checkpoint_has(const ckpt_file *f, const char *name);
void checkpoint_free(ckpt_file *f);

#endif
