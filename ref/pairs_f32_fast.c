/* Two consecutive nodes as one pass over memory, for the batch norms:
 *  - sum_axis(G) then dot_axis(G, Z) (the backward's two statistics): G is
 *    read once for both;
 *  - affine_axis(x) = xc then dot_axis(xc, xc) (the forward's centring and
 *    variance): xc is summed while it is in cache.
 * Each channel's sums see the same planes in the same order as in the
 * separate kernels (channel_sums.h) and xc is computed as x * f + o with
 * two roundings as there, so the bits are those of the two nodes run one
 * after the other, for any thread count. Per-channel results are written
 * after every thread has finished reading: the planner may place them
 * where an input that dies at the first node was. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ref_kernels.h"
#include "ref_template.h"
#include "channel_sums.h"

#define REAL float
#define CHANNELS_AT_ONCE 64

/* G, Z: sums of G and of G Z; or x, sc, bias: xc = x sc + bias and the
 * sums of xc xc. Channels [c0, c1), images in order as in reduce_channels. */
typedef struct pair_job {
    const float *g, *z;                  /* sum and dot */
    const float *x, *sc, *bias; float *xc; /* affine and dot */
    shape4 s;
    float *first, *second; /* per-channel results (C each; first unused for affine) */
} pair_job;

static void affine_plane(const float *x, float f, const float *o, float *y, size_t hw)
{
    vf8 vf = vf8_set1(f), vo = vf8_set1(o ? *o : 0.0f);
    size_t i = 0;
    for (; i + 8 <= hw; i += 8) {
        vf8 v = vf8_mul(vf8_load(x + i), vf);
        vf8_store(y + i, o ? vf8_add(v, vo) : v);
    }
    for (; i < hw; i++) y[i] = o ? x[i] * f + *o : x[i] * f;
}

static void pair_channels(const pair_job *j, int c0, int c1)
{
    shape4 s = j->s;
    size_t hw = (size_t)s.h * s.w;
    channel_sums a[CHANNELS_AT_ONCE], b[CHANNELS_AT_ONCE];
    for (int g0 = c0; g0 < c1; g0 += CHANNELS_AT_ONCE) {
        int g1 = g0 + CHANNELS_AT_ONCE < c1 ? g0 + CHANNELS_AT_ONCE : c1;
        memset(a, 0, sizeof a);
        memset(b, 0, sizeof b);
        for (int n = 0; n < s.n; n++)
            for (int c = g0; c < g1; c++) {
                size_t base = ((size_t)n * s.c + c) * hw;
                if (j->g) {
                    plane_add(&a[c - g0], j->g + base, NULL, hw);
                    plane_add(&b[c - g0], j->g + base, j->z + base, hw);
                } else {
                    affine_plane(j->x + base, j->sc[c], j->bias ? j->bias + c : NULL, j->xc + base, hw);
                    plane_add(&b[c - g0], j->xc + base, j->xc + base, hw);
                }
            }
        for (int c = g0; c < g1; c++) {
            if (j->g) j->first[c] = sums_total(&a[c - g0]);
            j->second[c] = sums_total(&b[c - g0]);
        }
    }
}

static int same_shape(shape4 a, shape4 b) { return a.n == b.n && a.c == b.c && a.h == b.h && a.w == b.w; }

int ref_run_pair(const kernel_args *a, const kernel_args *b, td_status *result)
{
    op_kind oa = a->nd->op, ob = b->nd->op;
    if (a->dt != DT_F32 || b->dt != DT_F32 || ob != OP_DOT_AXIS || b->nd->p.axis != AXIS_C) return 0;
    const graph *g = a->g;
    const int *ia = graph_node_inputs(g, a->nd), *ib = graph_node_inputs(g, b->nd);
    pair_job j;
    memset(&j, 0, sizeof j);
    j.s = b->in_shape[0];
    if (!same_shape(b->in_shape[0], b->in_shape[1])) return 0;
    if (oa == OP_SUM_AXIS && a->nd->p.axis == AXIS_C && ia[0] == ib[0]) {
        j.g = a->in[0];
        j.z = b->in[1];
    } else if (oa == OP_AFFINE_AXIS && a->nd->p.axis == AXIS_C && ib[0] == a->nd->out && ib[1] == a->nd->out) {
        j.x = a->in[0];
        j.sc = a->in[1];
        j.bias = a->nin > 2 ? a->in[2] : NULL;
        j.xc = a->out;
    } else {
        return 0;
    }
    int C = j.s.c;
    float *res = malloc(2 * (size_t)C * sizeof *res);
    if (!res) {
        *result = TD_FAIL(TD_ERR_MEMORY, "%s + %s: out of memory", op_name(oa), op_name(ob));
        return 1;
    }
    j.first = res;
    j.second = res + C;
    /* the split of sum_axis and dot_axis (axis_f32_fast.c): one block of
     * channels per thread */
    int par = ref_work(b) >= REF_PARALLEL_MIN;
    int blocks = par ? omp_get_max_threads() : 1;
    if (blocks > C) blocks = C;
#pragma omp parallel for schedule(static) if (par)
    for (int k = 0; k < blocks; k++) pair_channels(&j, (int)((long)C * k / blocks), (int)((long)C * (k + 1) / blocks));
    if (j.g) memcpy(a->out, j.first, (size_t)C * sizeof *res);
    memcpy(b->out, j.second, (size_t)C * sizeof *res);
    free(res);
    *result = TD_OK;
    return 1;
}
