/* Kernels that stand for two nodes (backend.h fused_kind), for the batch
 * norms:
 *  - sum_axis(G) then dot_axis(G, Z) (the backward's two statistics): G is
 *    read once for both;
 *  - affine_axis(x) = xc then dot_axis(xc, xc) (the forward's centring and
 *    variance): xc is summed while it is in cache, and when the executor
 *    does not store xc (FUSED_CENTRED_VARIANCE) it lives in a plane-sized
 *    scratch only;
 *  - scale_axis(xc, r) with xc recomputed from x (FUSED_CENTRED_SCALE).
 * Each channel's sums see the same planes in the same order as in the
 * separate kernels (channel_sums.h), and xc is computed as x * f + o with
 * two roundings as there, so the bits are those of the nodes run one after
 * the other, for any thread count. Per-channel results are written after
 * every thread has finished reading: the planner may place them where an
 * input that dies at the first node was. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ref_kernels.h"
#include "ref_template.h"
#include "channel_sums.h"

#define REAL float
#define CHANNELS_AT_ONCE 64

typedef struct pair_job {
    const float *g, *z;                    /* sum and dot */
    const float *x, *sc, *bias; float *xc; /* affine and dot; xc NULL: not stored */
    shape4 s;
    float *first, *second; /* per-channel results (C each; first unused for affine) */
} pair_job;

/* y = x f + o, or x f without a bias: the rounding of affine_axis. */
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

/* Channels [c0, c1), images in order as in reduce_channels; scratch holds
 * one plane when xc is not stored. */
static void pair_channels(const pair_job *j, int c0, int c1, float *scratch)
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
                    float *xc = j->xc ? j->xc + base : scratch;
                    affine_plane(j->x + base, j->sc[c], j->bias ? j->bias + c : NULL, xc, hw);
                    plane_add(&b[c - g0], xc, xc, hw);
                }
            }
        for (int c = g0; c < g1; c++) {
            if (j->g) j->first[c] = sums_total(&a[c - g0]);
            j->second[c] = sums_total(&b[c - g0]);
        }
    }
}

static int same_shape(shape4 a, shape4 b) { return a.n == b.n && a.c == b.c && a.h == b.h && a.w == b.w; }

static td_status run_pair_job(pair_job *j, const kernel_args *a, const kernel_args *b)
{
    int C = j->s.c, failed = 0;
    size_t hw = (size_t)j->s.h * j->s.w;
    float *res = malloc(2 * (size_t)C * sizeof *res);
    if (!res) return TD_FAIL(TD_ERR_MEMORY, "%s + %s: out of memory", op_name(a->nd->op), op_name(b->nd->op));
    j->first = res;
    j->second = res + C;
    /* the split of sum_axis and dot_axis (axis_f32_fast.c): one block of
     * channels per thread */
    int par = ref_work(b) >= REF_PARALLEL_MIN;
    int blocks = par ? omp_get_max_threads() : 1;
    if (blocks > C) blocks = C;
#pragma omp parallel for schedule(static) if (par)
    for (int k = 0; k < blocks; k++) {
        float *scratch = j->xc || j->g ? NULL : malloc(hw * sizeof *scratch);
        if (!j->xc && !j->g && !scratch) {
            failed = 1;
            continue;
        }
        pair_channels(j, (int)((long)C * k / blocks), (int)((long)C * (k + 1) / blocks), scratch);
        free(scratch);
    }
    if (!failed) {
        if (j->g) memcpy(a->out, j->first, (size_t)C * sizeof *res);
        memcpy(b->out, j->second, (size_t)C * sizeof *res);
    }
    free(res);
    return failed ? TD_FAIL(TD_ERR_MEMORY, "%s + %s: out of memory", op_name(a->nd->op), op_name(b->nd->op)) : TD_OK;
}

/* y = (x sc + bias) r per channel: affine_axis then scale_axis, rounded
 * as they round. */
static td_status centred_scale(const kernel_args *a, const kernel_args *b)
{
    shape4 s = b->out_shape;
    const float *x = a->in[0], *sc = a->in[1], *bias = a->nin > 2 ? a->in[2] : NULL, *r = b->in[1];
    float *y = b->out;
    size_t hw = (size_t)s.h * s.w, planes = (size_t)s.n * s.c;
#pragma omp parallel for schedule(static) if (ref_work(b) >= REF_PARALLEL_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        size_t c = pl % (size_t)s.c, i = 0;
        const float *xp = x + pl * hw;
        float *yp = y + pl * hw;
        float f = sc[c], o = bias ? bias[c] : 0.0f, rc = r[c];
        vf8 vf = vf8_set1(f), vo = vf8_set1(o), vr = vf8_set1(rc);
        for (; i + 8 <= hw; i += 8) {
            vf8 v = vf8_mul(vf8_load(xp + i), vf);
            if (bias) v = vf8_add(v, vo);
            vf8_store(yp + i, vf8_mul(v, vr));
        }
        for (; i < hw; i++) {
            float v = bias ? xp[i] * f + o : xp[i] * f;
            yp[i] = v * rc;
        }
    }
    return TD_OK;
}

int ref_fuses(fused_kind kind, dtype dt)
{
    return dt == DT_F32 && (kind == FUSED_PAIR || kind == FUSED_CENTRED_VARIANCE || kind == FUSED_CENTRED_SCALE);
}

int ref_run_fused(fused_kind kind, const kernel_args *a, const kernel_args *b, td_status *result)
{
    op_kind oa = a->nd->op, ob = b->nd->op;
    if (a->dt != DT_F32 || b->dt != DT_F32) return 0;
    const graph *g = a->g;
    const int *ia = graph_node_inputs(g, a->nd), *ib = graph_node_inputs(g, b->nd);
    int centred_head = oa == OP_AFFINE_AXIS && a->nd->p.axis == AXIS_C;
    if (kind == FUSED_CENTRED_SCALE) {
        if (!centred_head || ob != OP_SCALE_AXIS || b->nd->p.axis != AXIS_C || ib[0] != a->nd->out) return 0;
        *result = centred_scale(a, b);
        return 1;
    }
    if (ob != OP_DOT_AXIS || b->nd->p.axis != AXIS_C || !same_shape(b->in_shape[0], b->in_shape[1])) return 0;
    pair_job j;
    memset(&j, 0, sizeof j);
    j.s = b->in_shape[0];
    if (kind == FUSED_PAIR && oa == OP_SUM_AXIS && a->nd->p.axis == AXIS_C && ia[0] == ib[0]) {
        j.g = a->in[0];
        j.z = b->in[1];
    } else if (centred_head && ib[0] == a->nd->out && ib[1] == a->nd->out) {
        j.x = a->in[0];
        j.sc = a->in[1];
        j.bias = a->nin > 2 ? a->in[2] : NULL;
        j.xc = kind == FUSED_CENTRED_VARIANCE ? NULL : a->out;
    } else {
        return 0;
    }
    *result = run_pair_job(&j, a, b);
    return 1;
}
