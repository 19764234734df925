/* A network's parameters on a backend (one buffer per role, shared by every
 * graph of the network) and graphs ready to run on them. */
#ifndef TSEDARTS_MODEL_H
#define TSEDARTS_MODEL_H

#include <stdint.h>

#include "tsedarts/exec.h"
#include "tsedarts/hash.h"
#include "tsedarts/layers.h"
#include "tsedarts/supernet.h"

/* What a graph computes. */
typedef struct graph_kind {
    int grad_w;         /* gradient w.r.t. the weights */
    int grad_a;         /* gradient w.r.t. the alphas */
    int train_bn;       /* BN uses batch statistics (else running ones) */
    int update_running; /* BN updates its running statistics */
    int hvp_w;          /* Hessian-vector products along ROLE_TANGENT_WEIGHT */
    int hvp_a;          /* ... along ROLE_TANGENT_ALPHA */
} graph_kind;

/* Whether training graphs recompute their marked segments (a cell's mixed
 * ops) in the backward pass instead of storing them. The bits are the same
 * either way: it trades time for memory. */
typedef enum activation_policy {
    /* recompute on the CPU, whose small memory is the point; on a device,
     * keep a graph's activations when its arena fits ACTIVATIONS_FIT_SHARE
     * of the device's free memory, else recompute */
    ACTIVATIONS_AUTO = 0,
    ACTIVATIONS_KEEP,
    ACTIVATIONS_RECOMPUTE
} activation_policy;
#define ACTIVATIONS_FIT_SHARE 0.75

/* Builds the forward pass of a network for a batch into g. */
typedef td_status (*net_builder_fn)(layer_builder *b, const void *net_config, int batch, net_io *io);

typedef struct model {
    const backend *be;
    dtype dt;
    net_builder_fn build;
    const void *net_config;
    graph *layout;          /* a graph holding the parameter registry */
    void *role[ROLE_COUNT]; /* WEIGHT, ALPHA, BNSTAT, GRAD_WEIGHT, GRAD_ALPHA */
    size_t n[ROLE_COUNT];   /* elements per role */
    workspace ws;           /* activations shared by every graph */
    activation_policy activations;
} model;

typedef struct net_exec {
    graph *g;
    exec_ctx *ctx;
    net_io io;
    graph_kind kind;
    int batch;
    void *io_buf[ROLE_COUNT]; /* INPUT, LABEL, OUTPUT (backend memory) */
    void *host_out;           /* OUTPUT downloaded */
    int loss_at, logits_at;   /* offsets in OUTPUT */
    int aux_at;               /* aux logits offset or -1 */
    int recomputes;           /* the graph recomputes its marked segments */
} net_exec;

td_status model_create(model *m, const backend *be, dtype dt, net_builder_fn build, const void *net_config);
void model_destroy(model *m);
/* Initialises weights, alphas and BN statistics from the seed. */
td_status model_init_params(model *m, uint64_t seed);
/* Bytes of one role buffer. */
size_t model_role_bytes(const model *m, value_role r);

td_status net_exec_create(model *m, graph_kind kind, int batch, net_exec **out);
void net_exec_destroy(net_exec *ne);
/* Uploads a batch (images in m->dt, NCHW; int32 labels) and runs. If mask is
 * non-NULL it is uploaded into the drop-path mask inputs of an eval net, or
 * the skip-dropout mask inputs of a search net (io.skip_mask_numel). */
td_status net_exec_run(model *m, net_exec *ne, const void *images, const int32_t *labels, const void *mask);
/* A batch for net_exec_launch. pinned: images and labels lie in the
 * backend's host_alloc memory and stay unchanged until a fence recorded
 * after the launch has passed, so they are uploaded without waiting
 * (upload_async); mask_pinned the same for the mask. */
typedef struct net_batch {
    const void *images;
    const int32_t *labels;
    const void *mask;
    int pinned, mask_pinned;
} net_batch;
/* net_exec_run without the download: the run is queued and nothing is read
 * back, so the host goes on while a device computes. */
td_status net_exec_launch(model *m, net_exec *ne, const net_batch *b);
/* Downloads the outputs of the last launch for net_exec_loss and
 * net_exec_correct (waits for the device). */
td_status net_exec_fetch(model *m, net_exec *ne);
/* Adds the last launch's loss (and, for TALLY_TRAIN, its correct rows) to
 * a tally in backend memory (backend.h tally_pass), read nothing back. */
td_status net_exec_tally(model *m, net_exec *ne, backend_tally *t, unsigned what);
/* Loss and logits of the last run (host copies). */
double net_exec_loss(const net_exec *ne, dtype dt);
/* Correct predictions (first maximum) among the batch. */
int net_exec_correct(const net_exec *ne, dtype dt, const int32_t *labels);

/* Weights and BN statistics under PyTorch state_dict names (plus alphas
 * when the model has them, and num_batches_tracked for each BN). */
td_status model_export_safetensors(const model *m, const char *path, long batches_tracked);
/* The alphas alone (alphas_normal, alphas_reduce). */
td_status model_export_alphas(const model *m, const char *path);
/* Loads weights, alphas and BN statistics by name; every parameter of the
 * model must be present with its PyTorch shape. */
td_status model_import_safetensors(model *m, const char *path);
/* The SHA-256 of the files model_export_safetensors (weights_hex) and, when
 * alphas_hex is not NULL, model_export_alphas would write now. That byte
 * form (F32 little-endian tensors under their PyTorch names, after the
 * safetensors header) is the same on every device and is what a run's
 * weights.safetensors and alphas.safetensors hold, so an audit can tie the
 * published files to the metrics log; an f64 run is pinned through its f32
 * rounding, as the files hold it. */
td_status model_export_sha256(const model *m, long batches_tracked, char weights_hex[SHA256_HEX_LEN],
                              char alphas_hex[SHA256_HEX_LEN]);

/* Host copies of a role buffer in f64, and back. */
td_status model_download_f64(const model *m, value_role r, double *dst);
td_status model_upload_f64(model *m, value_role r, const double *src);

#endif
