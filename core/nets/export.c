/* Weights, BN statistics and alphas to and from safetensors under the
 * reference PyTorch state_dict names, so PyTorch users can load them. */
#include <stdlib.h>
#include <string.h>

#include "tsedarts/buffers.h"
#include "tsedarts/safetensors.h"
#include "tsedarts/model.h"

/* Host f32 copies of the three parameter roles. */
typedef struct host_params {
    float *role[ROLE_COUNT];
} host_params;

static td_status download_f32(const model *m, host_params *h)
{
    memset(h, 0, sizeof *h);
    value_role roles[3] = {ROLE_WEIGHT, ROLE_ALPHA, ROLE_BNSTAT};
    for (int i = 0; i < 3; i++) {
        value_role r = roles[i];
        double *d = malloc((m->n[r] + 1) * sizeof *d);
        h->role[r] = malloc((m->n[r] + 1) * sizeof(float));
        if (!d || !h->role[r]) {
            free(d);
            return TD_FAIL(TD_ERR_MEMORY, "out of memory");
        }
        td_status s = model_download_f64(m, r, d);
        for (size_t k = 0; k < m->n[r]; k++) h->role[r][k] = (float)d[k];
        free(d);
        TD_CHECK(s);
    }
    return TD_OK;
}

static void free_host(host_params *h)
{
    for (int r = 0; r < ROLE_COUNT; r++) free(h->role[r]);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Writes the roles to path, or, with path NULL, only hashes the file that
 * would be written into hex. */
static td_status export_roles(const model *m, const char *path, long batches_tracked, int weights, int alphas,
                              char *hex)
{
    const graph *g = m->layout;
    host_params h;
    td_status s = download_f32(m, &h);
    int cap = 2 * g->n_params + 1, n = 0;
    st_tensor *t = calloc((size_t)cap, sizeof *t);
    char **names = calloc((size_t)cap, sizeof *names);
    int64_t *tracked = malloc((size_t)cap * sizeof *tracked);
    for (int p = 0; s == TD_OK && p < g->n_params; p++) {
        const param *pr = &g->params[p];
        int want = pr->role == ROLE_ALPHA ? alphas : weights;
        if (!want) continue;
        st_tensor *e = &t[n++];
        e->name = pr->name;
        e->dtype = "F32";
        e->ndim = pr->torch_ndim;
        for (int d = 0; d < pr->torch_ndim; d++) e->dims[d] = pr->torch_dims[d];
        e->data = h.role[pr->role] + pr->offset;
        e->bytes = shape_numel(pr->shape) * sizeof(float);
        /* BatchNorm2d state dicts also hold num_batches_tracked. */
        if (pr->role == ROLE_BNSTAT && ends_with(pr->name, ".running_var")) {
            size_t base = strlen(pr->name) - strlen(".running_var");
            names[n] = malloc(base + 32);
            snprintf(names[n], base + 32, "%.*s.num_batches_tracked", (int)base, pr->name);
            tracked[n] = batches_tracked;
            st_tensor *b = &t[n];
            b->name = names[n];
            b->dtype = "I64";
            b->ndim = 0;
            b->data = &tracked[n];
            b->bytes = 8;
            n++;
        }
    }
    static const char meta[] = "{\"format\":\"pt\",\"producer\":\"tsedarts\"}";
    if (s == TD_OK) s = path ? safetensors_write(path, t, n, meta) : safetensors_sha256(t, n, meta, hex);
    for (int i = 0; i < cap; i++) free(names[i]);
    free(names);
    free(tracked);
    free(t);
    free_host(&h);
    return s;
}

td_status model_export_safetensors(const model *m, const char *path, long batches_tracked)
{
    return export_roles(m, path, batches_tracked, 1, 1, NULL);
}

td_status model_export_alphas(const model *m, const char *path)
{
    return export_roles(m, path, 0, 0, 1, NULL);
}

td_status model_export_sha256(const model *m, long batches_tracked, char weights_hex[SHA256_HEX_LEN],
                              char alphas_hex[SHA256_HEX_LEN])
{
    TD_CHECK(export_roles(m, NULL, batches_tracked, 1, 1, weights_hex));
    if (alphas_hex) TD_CHECK(export_roles(m, NULL, 0, 0, 1, alphas_hex));
    return TD_OK;
}

td_status model_import_safetensors(model *m, const char *path)
{
    const graph *g = m->layout;
    st_file f;
    TD_CHECK(safetensors_open(path, &f));
    double *host[ROLE_COUNT] = {0};
    value_role roles[3] = {ROLE_WEIGHT, ROLE_ALPHA, ROLE_BNSTAT};
    td_status s = TD_OK;
    for (int i = 0; i < 3; i++) host[roles[i]] = calloc(m->n[roles[i]] + 1, sizeof(double));
    for (int p = 0; s == TD_OK && p < g->n_params; p++) {
        const param *pr = &g->params[p];
        st_tensor t;
        s = safetensors_get(&f, pr->name, &t);
        if (s != TD_OK) break;
        int ok = t.ndim == pr->torch_ndim;
        for (int d = 0; ok && d < t.ndim; d++) ok = t.dims[d] == pr->torch_dims[d];
        if (!ok) {
            s = TD_FAIL(TD_ERR_FORMAT, "%s: tensor %s has the wrong shape for this network", path, pr->name);
            break;
        }
        size_t n = shape_numel(pr->shape);
        double *dst = host[pr->role] + pr->offset;
        if (!strcmp(t.dtype, "F32"))
            for (size_t k = 0; k < n; k++) dst[k] = ((const float *)t.data)[k];
        else if (!strcmp(t.dtype, "F64"))
            for (size_t k = 0; k < n; k++) dst[k] = ((const double *)t.data)[k];
        else
            s = TD_FAIL(TD_ERR_FORMAT, "%s: tensor %s has dtype %s, expected F32 or F64", path, pr->name, t.dtype);
    }
    for (int i = 0; s == TD_OK && i < 3; i++) s = model_upload_f64(m, roles[i], host[roles[i]]);
    for (int i = 0; i < 3; i++) free(host[roles[i]]);
    safetensors_close(&f);
    return s;
}
