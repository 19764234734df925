/* What every long run (search, train) does with its directory: a config it
 * refuses to overwrite or mix, an environment fingerprint, checkpoints that
 * stage device memory through the host, and a hash-chained metrics log
 * that is cut back to the checkpoint on resume. */
#ifndef TSEDARTS_RUNDIR_H
#define TSEDARTS_RUNDIR_H

#include "tsedarts/backend.h"
#include "tsedarts/checkpoint.h"
#include "tsedarts/hash.h"

/* Creates dir; a fresh run refuses a directory that already holds one; a
 * resumed run refuses a different config or another device. Writes
 * config.json (config_json plus newline) and env.json (with be's
 * description) for fresh runs; *hash = SHA-256(config_json). */
td_status rundir_prepare(const char *dir, const char *config_json, int resume, int threads, const backend *be,
                         char hash[SHA256_HEX_LEN]);

/* The device name a run directory's env.json records ("cpu" for runs
 * recorded before devices were named); *name is malloc'd. */
td_status rundir_recorded_device(const char *dir, char **name);

/* Writes sections (backend memory) and meta_json (a JSON object) to path;
 * the meta gains "config_hash" and "metrics_bytes" (size of metrics_path). */
td_status run_checkpoint_save(const char *path, const backend *be, const char *config_hash, const char *meta_json,
                              const char *metrics_path, ckpt_section *s, int n);

/* Loads sections into backend memory, checks config_hash, cuts the metrics
 * log back to its size at the checkpoint; *meta (a new reference; the
 * caller json_decref()s it) is the meta object with the caller's fields. */
struct json_t;
td_status run_checkpoint_load(const char *path, const backend *be, const char *config_hash, const char *metrics_path,
                              ckpt_section *s, int n, struct json_t **meta);

size_t file_size_of(const char *path);

#endif
