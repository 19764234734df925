/* What every long run (search, train) does with its directory: a config it
 * refuses to overwrite or mix, an environment fingerprint, checkpoints that
 * stage device memory through the host, and a hash-chained metrics log
 * that is cut back to the checkpoint on resume. */
#ifndef TSEDARTS_RUNDIR_H
#define TSEDARTS_RUNDIR_H

#include "tsedarts/backend.h"
#include "tsedarts/checkpoint.h"
#include "tsedarts/hash.h"

/* Creates dir and decides where the run starts. A fresh run refuses a
 * directory holding a checkpoint, another configuration's config.json, or
 * a metrics.jsonl with no config.json beside it; a resumed run refuses a
 * missing or different config, or another device than the checkpoint's
 * unless it is one of the same kind whose description differs only in its
 * number and threads ("cuda:1" for "cuda:0", the same model, driver and
 * libraries: the same bits, as verify --replay also accepts).
 * With no checkpoint yet (a first start, or one killed before its first
 * checkpoint) either way starts from the beginning: the unfinished start's
 * log is removed and config.json (config_json plus newline) and env.json
 * (with be's description) are written. *from_checkpoint: 1 if the caller
 * must load checkpoint.bin. *hash = SHA-256(config_json). */
td_status rundir_prepare(const char *dir, const char *config_json, int resume, int threads, const backend *be,
                         char hash[SHA256_HEX_LEN], int *from_checkpoint);

/* The device name a run directory's env.json records ("cpu" for runs
 * recorded before devices were named); *name is malloc'd. */
td_status rundir_recorded_device(const char *dir, char **name);

/* Writes sections (backend memory) and meta_json (a JSON object) to path;
 * the meta gains "config_hash" and, of metrics_path (which must be an
 * intact chain), "metrics_bytes", "metrics_records" and "metrics_head" (the
 * last record's hash). */
td_status run_checkpoint_save(const char *path, const backend *be, const char *config_hash, const char *meta_json,
                              const char *metrics_path, ckpt_section *s, int n);

/* Loads sections into backend memory, checks config_hash, checks that the
 * metrics log still starts with exactly the records it held at the
 * checkpoint and cuts it back to them; *meta (a new reference; the
 * caller json_decref()s it) is the meta object with the caller's fields. */
struct json_t;
td_status run_checkpoint_load(const char *path, const backend *be, const char *config_hash, const char *metrics_path,
                              ckpt_section *s, int n, struct json_t **meta);

size_t file_size_of(const char *path);

#endif
