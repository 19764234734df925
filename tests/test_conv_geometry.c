/* The CUDA backend's own convolution kernels on the host, without a GPU:
 * their index arithmetic and orders of addition (gpu/conv_geometry.h, the
 * functions the kernels call) run here as the kernels run them, and must
 * give the CPU's f32 kernels' bits exactly, signed zeros included; their
 * partitions must cover every term once. The same functions on a GPU are
 * checked by test_gpu_ops and `selftest --device cuda`. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/backend_cpu.h"
#include "tsedarts/philox.h"

#include "../gpu/conv_geometry.h"
#define CONV_REAL float
#define CONV_FMA fmaf
#define CONV_SUFFIX f32
#include "../gpu/conv_geometry.h"

/* One CPU f32 kernel call, as the executor makes it. */
static void cpu_conv(op_kind op, const node_params *p, const float *in0, shape4 s0, const float *in1, shape4 s1,
                     float *out, shape4 so)
{
    node nd;
    memset(&nd, 0, sizeof nd);
    nd.op = op;
    nd.nin = 2;
    nd.p = *p;
    void *const in[2] = {(void *)in0, (void *)in1};
    shape4 shapes[2] = {s0, s1};
    kernel_args a = {NULL, &nd, 2, in, shapes, out, so, DT_F32};
    cr_assert_eq(backend_cpu()->run_node(&a), TD_OK, "%s", td_error_message());
}

static float *random_floats(size_t n, uint64_t seed)
{
    float *v = malloc(n * sizeof *v);
    philox_stream s;
    philox_stream_init(&s, seed, PURPOSE_TEST, 7);
    for (size_t i = 0; i < n; i++) v[i] = (float)(2 * philox_next_uniform_f64(&s) - 1);
    return v;
}

static node_params conv_params(int s, int p, int d, int groups)
{
    node_params q;
    memset(&q, 0, sizeof q);
    q.stride = s;
    q.pad = p;
    q.dil = d;
    q.groups = groups;
    return q;
}

static int out_size(int in, int K, int s, int p, int d) { return (in + 2 * p - d * (K - 1) - 1) / s + 1; }

/* Bit for bit, so that a -0 against a +0 counts as a difference. */
static void expect_same_bits(const float *gpu_order, const float *cpu, size_t n, const char *what)
{
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&gpu_order[i], &cpu[i], sizeof(float))) {
            if (!bad) first = i;
            bad++;
        }
    cr_expect_eq(bad, 0, "%s: %zu of %zu differ, first at %zu: %.9g against the CPU's %.9g", what, bad, n, first,
                 bad ? gpu_order[first] : 0.0, bad ? cpu[first] : 0.0);
}

/* ---------------------------------------------------------- pointwise */

/* The product kernel's sums: for each output pixel the source pixel by
 * conv_pw_source / conv_pw_target, the chain over the channels in order. */
static void pointwise_case(int N, int Ci, int Co, int H, int s)
{
    int Ho = out_size(H, 1, s, 0, 1);
    conv_geom g = {N, Ci, H, H, Co, Ho, Ho, 1, s, 0, 1};
    shape4 xs = shape_make(N, Ci, H, H), ws = shape_make(Co, Ci, 1, 1), ys = shape_make(N, Co, Ho, Ho);
    size_t nx = shape_numel(xs), ny = shape_numel(ys);
    float *x = random_floats(nx, 1), *w = random_floats(shape_numel(ws), 2), *dy = random_floats(ny, 3);
    /* a zero input channel and zero gradient rows: their sums are signed zeros */
    for (int i = 0; i < H * H; i++) x[i] = 0;
    for (int co = 0; co < Co; co++) w[co * Ci] = -w[co * Ci];
    float *y = malloc(ny * sizeof *y), *y_cpu = malloc(ny * sizeof *y), *dx = malloc(nx * sizeof *dx),
          *dx_cpu = malloc(nx * sizeof *dx);
    node_params p = conv_params(s, 0, 1, 1);
    char what[96];

    cpu_conv(OP_CONV2D, &p, x, xs, w, ws, y_cpu, ys);
    for (int n = 0; n < N; n++)
        for (int co = 0; co < Co; co++)
            for (int q = 0; q < Ho * Ho; q++)
                y[((size_t)n * Co + co) * Ho * Ho + q] =
                    conv_pw_chain_f32(w + (size_t)co * Ci, 1, x + (size_t)n * Ci * H * H + conv_pw_source(&g, q),
                                      (long long)H * H, Ci);
    snprintf(what, sizeof what, "pointwise forward N%d %d->%d %dx%d stride %d", N, Ci, Co, H, H, s);
    expect_same_bits(y, y_cpu, ny, what);

    cpu_conv(OP_CONV2D_BWD_DATA, &p, dy, ys, w, ws, dx_cpu, xs);
    for (int n = 0; n < N; n++)
        for (int ci = 0; ci < Ci; ci++)
            for (int q = 0; q < H * H; q++) {
                int src = conv_pw_target(&g, q);
                float v = src < 0 ? 0.0f
                                  : conv_pw_chain_f32(w + ci, Ci, dy + (size_t)n * Co * Ho * Ho + src,
                                                      (long long)Ho * Ho, Co);
                dx[((size_t)n * Ci + ci) * H * H + q] = v;
            }
    snprintf(what, sizeof what, "pointwise data gradient N%d %d->%d %dx%d stride %d", N, Ci, Co, H, H, s);
    expect_same_bits(dx, dx_cpu, nx, what);
    free(x), free(w), free(dy), free(y), free(y_cpu), free(dx), free(dx_cpu);
}

Test(conv_geometry, pointwise_sums_are_the_cpus_bits)
{
    pointwise_case(3, 16, 16, 32, 1); /* the search cells (with AVX-512, 32-column blocks) */
    pointwise_case(2, 8, 12, 9, 1);   /* 81 pixels: 32-, then 16-column blocks, then a tail */
    pointwise_case(2, 12, 8, 16, 2);  /* factorized reduce: strided */
    pointwise_case(4, 6, 5, 4, 1);    /* 16 pixels: the CPU's small-map path (which adds into zeros) */
    pointwise_case(4, 6, 5, 7, 2);    /* strided small map */
}

/* ---------------------------------------------------------- depthwise */

/* A plane staged with its zero border, as the kernels stage it in shared memory. */
static float *staged(const float *plane, int h, int w, int pad)
{
    int pitch = conv_padded_pitch(w, pad), rows = conv_padded_rows(h, pad);
    float *st = calloc((size_t)rows * pitch, sizeof *st);
    for (int r = 0; r < h; r++) memcpy(st + (size_t)(r + pad) * pitch + pad, plane + (size_t)r * w, (size_t)w * sizeof *st);
    return st;
}

static void depthwise_case(int N, int C, int H, int K, int s, int d)
{
    int p = d * (K - 1) / 2, Ho = out_size(H, K, s, p, d);
    conv_geom g = {N, C, H, H, C, Ho, Ho, K, s, p, d};
    shape4 xs = shape_make(N, C, H, H), ws = shape_make(C, 1, K, K), ys = shape_make(N, C, Ho, Ho);
    size_t nx = shape_numel(xs), ny = shape_numel(ys);
    float *x = random_floats(nx, 11), *w = random_floats(shape_numel(ws), 12), *dy = random_floats(ny, 13);
    for (int i = 0; i < H * H; i++) x[i] = 0; /* a zero plane: signed zeros */
    float *y = malloc(ny * sizeof *y), *y_cpu = malloc(ny * sizeof *y), *dx = malloc(nx * sizeof *dx),
          *dx_cpu = malloc(nx * sizeof *dx);
    node_params prm = conv_params(s, p, d, C);
    char what[96];

    cpu_conv(OP_CONV2D, &prm, x, xs, w, ws, y_cpu, ys);
    for (int pl = 0; pl < N * C; pl++) {
        float *st = staged(x + (size_t)pl * H * H, H, H, p);
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Ho; ow++)
                y[(size_t)pl * Ho * Ho + oh * Ho + ow] = conv_dw_gather_f32(st, conv_padded_pitch(H, p),
                                                                            w + (size_t)(pl % C) * K * K, K, s, d, 0, oh, ow);
        free(st);
    }
    snprintf(what, sizeof what, "depthwise forward %dx%d K%d stride %d dil %d", H, H, K, s, d);
    expect_same_bits(y, y_cpu, ny, what);

    cpu_conv(OP_CONV2D_BWD_DATA, &prm, dy, ys, w, ws, dx_cpu, xs);
    int flipped = conv_dw_bwd_is_flipped(&g);
    for (int pl = 0; pl < N * C; pl++) {
        const float *wk = w + (size_t)(pl % C) * K * K, *dyp = dy + (size_t)pl * Ho * Ho;
        float *st = flipped ? staged(dyp, Ho, Ho, p) : NULL;
        for (int ih = 0; ih < H; ih++)
            for (int iw = 0; iw < H; iw++)
                dx[(size_t)pl * H * H + ih * H + iw] =
                    flipped ? conv_dw_gather_f32(st, conv_padded_pitch(Ho, p), wk, K, 1, d, 1, ih, iw)
                            : conv_dw_scatter_gather_f32(dyp, wk, &g, ih, iw);
        free(st);
    }
    snprintf(what, sizeof what, "depthwise data gradient %dx%d K%d stride %d dil %d (%s)", H, H, K, s, d,
             flipped ? "flipped" : "gathered");
    if (flipped || s == 2)
        expect_same_bits(dx, dx_cpu, nx, what);
    else /* the CPU's plain kernel: other roundings, the same terms */
        for (size_t i = 0; i < nx; i++)
            cr_expect(fabsf(dx[i] - dx_cpu[i]) <= 1e-5f * (1 + fabsf(dx_cpu[i])), "%s: element %zu: %.9g against %.9g",
                      what, i, dx[i], dx_cpu[i]);
    free(x), free(w), free(dy), free(y), free(y_cpu), free(dx), free(dx_cpu);
}

Test(conv_geometry, depthwise_sums_are_the_cpus_bits)
{
    /* sep_conv and dil_conv 3x3 and 5x5, normal and reduction cells, and
     * widths with tails after the CPU's 8-wide vectors; widths 32 and 16
     * take the CPU's 16-wide rows where the build targets AVX-512 */
    int sizes[] = {32, 16, 8, 11};
    for (int i = 0; i < 4; i++)
        for (int K = 3; K <= 5; K += 2)
            for (int d = 1; d <= 2; d++)
                for (int s = 1; s <= 2; s++) depthwise_case(2, 3, sizes[i], K, s, d);
    depthwise_case(1, 2, 9, 7, 1, 1); /* the largest kernel the own path takes */
    /* 16- and 32-wide maps with kernels outside the DARTS ops: the padded
     * planes in 16-wide rows where the build has AVX-512 */
    depthwise_case(1, 2, 16, 7, 1, 1);
    depthwise_case(1, 2, 32, 3, 1, 3);
    depthwise_case(1, 2, 12, 3, 3, 1); /* stride 3: the CPU's scalar strided path */
}

/* The CPU's depthwise weight gradient, term by term: tap t of channel c
 * keeps 8 lanes, position ow of a full 8-vector going to lane ow mod 8,
 * positions past the last full vector to tail lanes, each lane one FMA
 * per term in (n, oh, ow) order, padding terms included; then the lanes
 * pairwise in vf8_sum's order, plus the tail lanes summed in turn. */
static float dw_filter_in_lane_order(const float *x, const float *dy, const conv_geom *g, int c, int t)
{
    int kh = t / g->K, kw = t % g->K, full = g->Wo / 8 * 8;
    float lane[8] = {0}, tail[8] = {0};
    for (int n = 0; n < g->N; n++)
        for (int oh = 0; oh < g->Ho; oh++)
            for (int ow = 0; ow < g->Wo; ow++) {
                int ih = oh * g->s - g->p + kh * g->d, iw = ow * g->s - g->p + kw * g->d;
                float xv = ih >= 0 && ih < g->H && iw >= 0 && iw < g->W
                               ? x[(((size_t)n * g->C + c) * g->H + ih) * g->W + iw]
                               : 0.0f;
                float gv = dy[(((size_t)n * g->Co + c) * g->Ho + oh) * g->Wo + ow];
                float *l = ow < full ? &lane[ow % 8] : &tail[(ow - full) % 8];
                *l = fmaf(gv, xv, *l);
            }
    float r = 0;
    for (int j = 0; j < 8; j++) r += tail[j];
    return (((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]))) + r;
}

static void depthwise_filter_case(int N, int C, int H, int K, int s, int d)
{
    int p = d * (K - 1) / 2, Ho = out_size(H, K, s, p, d);
    conv_geom g = {N, C, H, H, C, Ho, Ho, K, s, p, d};
    shape4 xs = shape_make(N, C, H, H), ws = shape_make(C, 1, K, K), ys = shape_make(N, C, Ho, Ho);
    float *x = random_floats(shape_numel(xs), 21), *dy = random_floats(shape_numel(ys), 22);
    for (int i = 0; i < H * H; i++) x[i] = -0.0f; /* signed zeros through the padding terms */
    float *dw = malloc(shape_numel(ws) * sizeof *dw), *want = malloc(shape_numel(ws) * sizeof *want);
    node_params prm = conv_params(s, p, d, C);
    cpu_conv(OP_CONV2D_BWD_FILTER, &prm, x, xs, dy, ys, dw, ws);
    for (int c = 0; c < C; c++)
        for (int t = 0; t < K * K; t++) want[c * K * K + t] = dw_filter_in_lane_order(x, dy, &g, c, t);
    char what[96];
    snprintf(what, sizeof what, "depthwise weight gradient %dx%d K%d stride %d dil %d", H, H, K, s, d);
    expect_same_bits(want, dw, shape_numel(ws), what);
    free(x), free(dy), free(dw), free(want);
}

Test(conv_geometry, depthwise_filter_gradients_keep_their_lane_order)
{
    /* 32 and 16 wide: the CPU's register-shift path with AVX-512; 11 and
     * 8: the padded planes, with and without tail lanes */
    int sizes[] = {32, 16, 11, 8};
    for (int i = 0; i < 4; i++)
        for (int K = 3; K <= 5; K += 2)
            for (int d = 1; d <= 2; d++)
                for (int s = 1; s <= 2; s++) depthwise_filter_case(3, 2, sizes[i], K, s, d);
}

/* The CPU's pointwise weight gradient, term by term: entry (co, ci) keeps
 * 8 lanes, position p of a full 8-vector going to lane p mod 8, positions
 * past the last full vector to tail lanes, each lane one FMA per term in
 * (n, p) order; then the lanes in vf8_sum's order plus the tail lanes
 * summed in turn. With AVX-512 two entries' lanes share a 16-wide vector;
 * this says each lane still sums exactly what it summed alone. */
static float pw_filter_in_lane_order(const float *x, const float *dy, int N, int Ci, int Co, int H, int s, int Ho, int co,
                                     int ci)
{
    int np = Ho * Ho, full = np / 8 * 8;
    float lane[8] = {0}, tail[8] = {0};
    for (int n = 0; n < N; n++)
        for (int q = 0; q < np; q++) {
            int oh = q / Ho, ow = q % Ho;
            float xv = x[(((size_t)n * Ci + ci) * H + oh * s) * H + ow * s];
            float gv = dy[((size_t)n * Co + co) * np + q];
            float *l = q < full ? &lane[q % 8] : &tail[q - full];
            *l = fmaf(gv, xv, *l);
        }
    float r = 0;
    for (int j = 0; j < 8; j++) r += tail[j];
    return (((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]))) + r;
}

Test(conv_geometry, pointwise_filter_gradients_keep_their_lane_order)
{
    /* channel counts that fill the register blocks (6 or 4 output
     * channels by 8 input channels with AVX-512, 4 by 2 without) and ones
     * that leave partial blocks (last blocks of 4, 6 and 2 input channels
     * among them: 36, 22 and 18), more input channels than output
     * channels and fewer; maps of 32x32, 16x16, 8x8 and 6x6 (tail lanes),
     * at stride 1 and 2 (the gathered input). N = 11 splits into groups
     * of images with a shorter last one at every map size below 32x32 (8
     * images of 8x8 a group, 2 of 16x16). */
    int chans[][2] = {{8, 8}, {16, 16}, {16, 8}, {12, 6}, {5, 3}, {36, 36}, {22, 8}, {18, 12}, {8, 20}, {22, 12}};
    int sizes[] = {32, 16, 6, 12, 8};
    for (int i = 0; i < 10; i++)
        for (int k = 0; k < 5; k++)
            for (int s = 1; s <= 2; s++) {
                int Ci = chans[i][0], Co = chans[i][1], H = sizes[k], Ho = (H - 1) / s + 1, N = Ho < 32 ? 11 : 3;
                if (Ho * Ho < 32) continue; /* small maps: all images as one row (not this order) */
                shape4 xs = shape_make(N, Ci, H, H), ws = shape_make(Co, Ci, 1, 1), ys = shape_make(N, Co, Ho, Ho);
                float *x = random_floats(shape_numel(xs), 31), *dy = random_floats(shape_numel(ys), 32);
                float *dw = malloc(shape_numel(ws) * sizeof *dw), *want = malloc(shape_numel(ws) * sizeof *want);
                node_params prm = conv_params(s, 0, 1, 1);
                cpu_conv(OP_CONV2D_BWD_FILTER, &prm, x, xs, dy, ys, dw, ws);
                for (int co = 0; co < Co; co++)
                    for (int ci = 0; ci < Ci; ci++) want[co * Ci + ci] = pw_filter_in_lane_order(x, dy, N, Ci, Co, H, s, Ho, co, ci);
                char what[96];
                snprintf(what, sizeof what, "pointwise weight gradient %d->%d %dx%d stride %d", Ci, Co, H, H, s);
                expect_same_bits(want, dw, shape_numel(ws), what);
                free(x), free(dy), free(dw), free(want);
            }
}

/* -------------------------------------------------------- partitions */

static void covers_once(conv_slices sl, long long total, int align, const char *what)
{
    cr_expect_geq(sl.count, 1, "%s", what);
    cr_expect_eq(sl.len % align, 0, "%s: slice length %d not a multiple of %d", what, sl.len, align);
    cr_expect_geq((long long)sl.count * sl.len, total, "%s: slices miss terms", what);
    cr_expect_lt((long long)(sl.count - 1) * sl.len, total, "%s: the last slice is empty", what);
}

Test(conv_geometry, filter_gradient_slices_cover_every_term_once)
{
    int Ns[] = {1, 2, 7, 64, 96, 256}, Cs[] = {3, 16, 36, 64, 144, 576}, Hs[] = {1, 2, 8, 16, 32};
    char what[96];
    for (int a = 0; a < 6; a++)
        for (int b = 0; b < 6; b++)
            for (int c = 0; c < 5; c++) {
                conv_geom g = {Ns[a], Cs[b], Hs[c], Hs[c], Cs[5 - b], Hs[c], Hs[c], 1, 1, 0, 1};
                snprintf(what, sizeof what, "pointwise N%d C%d->%d %d^2", g.N, g.C, g.Co, g.H);
                conv_slices pw = conv_pwf_slices(&g);
                covers_once(pw, (long long)g.N * g.Ho * g.Wo, CONV_PWF_CHUNK, what);
                int tiles = ((g.Co + 15) / 16) * ((g.C + 15) / 16);
                cr_expect(pw.count * tiles <= 2 * CONV_SLICE_TARGET || pw.count == 1, "%s: %d slices x %d tiles", what,
                          pw.count, tiles);
                snprintf(what, sizeof what, "depthwise N%d C%d %d^2", g.N, g.C, g.H);
                covers_once(conv_dwf_slices(&g), g.N, 1, what);
            }
    /* the split is the shape's: the same shape, the same slices */
    conv_geom g = {64, 16, 32, 32, 16, 32, 32, 1, 1, 0, 1};
    conv_slices a1 = conv_pwf_slices(&g), a2 = conv_pwf_slices(&g);
    cr_expect(a1.count == a2.count && a1.len == a2.len);
    cr_expect_gt(a1.count, 1, "a search cell's filter gradient is split across blocks");
}
