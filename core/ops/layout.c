/* Layout: channel concatenation and slicing, spatial crop and its adjoint
 * (the shifted input of FactorizedReduce). Moves values, computes none. */
#include "op_family.h"

/* f32 against f64: these ops only move values, so f32 gives the f64
 * inputs rounded once. Evidence: test_f32_f64 prints the worst |a - b| /
 * (1e-7 + 1e-7 |b|) per op; the largest seen in this family was 0.19. The
 * project-wide bar (atol 2e-6, rtol 1e-6) leaves far more than that. */
static const op_tolerance layout_tol = {.rtol = 1e-6, .atol = 2e-6};

/* --- concat_channels: (x1..xk) -> channel concat ----------------------- */

int op_concat_c(graph *g, int k, const int *xs)
{
    if (op_any_bad(g, k, xs)) return -1;
    return graph_add_node(g, OP_CONCAT_C, k, xs, NULL);
}

static int concat_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    (void)op, (void)p;
    NEED(nin >= 1, "concat_channels: no inputs");
    shape4 s = vshape(g, in[0]);
    for (int i = 1; i < nin; i++) {
        shape4 t = vshape(g, in[i]);
        NEED(t.n == s.n && t.h == s.h && t.w == s.w, "concat_channels: input %d has shape %s, want (%d, *, %d, %d)",
             i, op_fmt_shape(0, t), s.n, s.h, s.w);
        s.c += t.c;
    }
    *out = s;
    return 1;
}

static void concat_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    int off = 0;
    for (int k = 0; k < a->nin; k++) {
        int c = vshape(g, a->in[k]).c;
        if (want[k]) ct[k] = op_slice_c(g, G, off, off + c);
        off += c;
    }
}

static int concat_jvp(graph *g, const op_rule_args *a, const int *t)
{
    int *parts = malloc((size_t)a->nin * sizeof *parts);
    if (!parts) return graph_fail(g, "out of memory");
    for (int k = 0; k < a->nin; k++) parts[k] = t[k] >= 0 ? t[k] : op_const(g, vshape(g, a->in[k]), 0.0);
    int r = op_concat_c(g, a->nin, parts);
    free(parts);
    return r;
}

static int concat_case(graph *g, const op_case *c, const int *in) { return op_concat_c(g, c->nin, in); }

static const op_case concat_cases[] = {
    {"concat_channels", OP_CONCAT_C, 3, {S(2, 2, 3, 3), S(2, 1, 3, 3), S(2, 3, 3, 3)}, {R, R, R}},
    /* the partial-channel join: processed C/k channels, then the bypass */
    {"concat_channels partial", OP_CONCAT_C, 2, {S(2, 2, 2, 2), S(2, 6, 2, 2)}, {R, R}},
};

const op_def op_def_concat_channels = {
    .op = OP_CONCAT_C,
    .shape = concat_shape,
    .vjp = concat_vjp,
    .jvp = concat_jvp,
    .build_case = concat_case,
    OP_CASES(concat_cases),
    .f32_vs_f64 = &layout_tol,
};

/* --- slice_channels: (x) -> channels [c0, c1) -------------------------- */

int op_slice_c(graph *g, int x, int c0, int c1)
{
    if (op_any_bad(g, 1, &x)) return -1;
    node_params p = op_params();
    p.c0 = c0;
    p.c1 = c1;
    return graph_add_node(g, OP_SLICE_C, 1, &x, &p);
}

static int slice_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    NIN(1);
    shape4 s = vshape(g, in[0]);
    NEED(0 <= p->c0 && p->c0 < p->c1 && p->c1 <= s.c, "slice_channels: range [%d, %d) outside %d channels", p->c0,
         p->c1, s.c);
    s.c = p->c1 - p->c0;
    *out = s;
    return 1;
}

static void slice_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)want;
    const node_params *p = a->p;
    shape4 x = vshape(g, a->in[0]);
    int parts[3], np = 0;
    if (p->c0 > 0) parts[np++] = op_const(g, shape_make(x.n, p->c0, x.h, x.w), 0.0);
    parts[np++] = G;
    if (p->c1 < x.c) parts[np++] = op_const(g, shape_make(x.n, x.c - p->c1, x.h, x.w), 0.0);
    ct[0] = np == 1 ? G : op_concat_c(g, np, parts);
}

static int slice_jvp(graph *g, const op_rule_args *a, const int *t)
{
    return op_slice_c(g, t[0], a->p->c0, a->p->c1);
}

/* ip = {c0, c1} */
static int slice_case(graph *g, const op_case *c, const int *in) { return op_slice_c(g, in[0], c->ip[0], c->ip[1]); }

static const op_case slice_cases[] = {
    {"slice_channels middle", OP_SLICE_C, 1, {S(2, 6, 3, 3)}, {R}, {1, 4}},
    {"slice_channels head", OP_SLICE_C, 1, {S(2, 6, 3, 3)}, {R}, {0, 2}},
    /* the partial-channel split of DrNAS with k=4: C/k processed, the rest bypassed */
    {"slice_channels partial head", OP_SLICE_C, 1, {S(2, 8, 2, 2)}, {R}, {0, 2}},
    {"slice_channels partial tail", OP_SLICE_C, 1, {S(2, 8, 2, 2)}, {R}, {2, 8}},
};

const op_def op_def_slice_channels = {
    .op = OP_SLICE_C,
    .shape = slice_shape,
    .vjp = slice_vjp,
    .jvp = slice_jvp,
    .build_case = slice_case,
    OP_CASES(slice_cases),
    .f32_vs_f64 = &layout_tol,
};

/* --- crop: (x) -> spatial window --------------------------------------- */

int op_crop(graph *g, int x, int top, int left, int h, int w)
{
    if (op_any_bad(g, 1, &x)) return -1;
    node_params p = op_params();
    p.top = top;
    p.left = left;
    p.shape = shape_make(0, 0, h, w);
    return graph_add_node(g, OP_CROP, 1, &x, &p);
}

static int crop_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    NIN(1);
    shape4 s = vshape(g, in[0]);
    NEED(p->top >= 0 && p->left >= 0 && p->shape.h >= 1 && p->shape.w >= 1 && p->top + p->shape.h <= s.h &&
             p->left + p->shape.w <= s.w,
         "crop: window outside %s", op_fmt_shape(0, s));
    *out = shape_make(s.n, s.c, p->shape.h, p->shape.w);
    return 1;
}

static void crop_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)want;
    ct[0] = op_uncrop(g, G, vshape(g, a->in[0]), a->p->top, a->p->left);
}

static int crop_jvp(graph *g, const op_rule_args *a, const int *t)
{
    const node_params *p = a->p;
    return op_crop(g, t[0], p->top, p->left, p->shape.h, p->shape.w);
}

/* ip = {top, left, h, w} */
static int crop_case(graph *g, const op_case *c, const int *in)
{
    return op_crop(g, in[0], c->ip[0], c->ip[1], c->ip[2], c->ip[3]);
}

static const op_case crop_cases[] = {
    {"crop shift 1", OP_CROP, 1, {S(2, 3, 7, 6)}, {R}, {1, 1, 6, 5}},
};

const op_def op_def_crop = {
    .op = OP_CROP,
    .shape = crop_shape,
    .vjp = crop_vjp,
    .jvp = crop_jvp,
    .build_case = crop_case,
    OP_CASES(crop_cases),
    .f32_vs_f64 = &layout_tol,
};

/* --- uncrop: (g) -> zero-padded back to the uncropped shape ------------ */

int op_uncrop(graph *g, int gr, shape4 xshape, int top, int left)
{
    if (op_any_bad(g, 1, &gr)) return -1;
    node_params p = op_params();
    p.top = top;
    p.left = left;
    p.shape = xshape;
    return graph_add_node(g, OP_UNCROP, 1, &gr, &p);
}

static int uncrop_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    NIN(1);
    shape4 s = vshape(g, in[0]), x = p->shape;
    NEED(s.n == x.n && s.c == x.c && p->top >= 0 && p->left >= 0 && p->top + s.h <= x.h && p->left + s.w <= x.w,
         "uncrop: %s does not fit in %s", op_fmt_shape(0, s), op_fmt_shape(1, x));
    *out = x;
    return 1;
}

static void uncrop_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)want;
    shape4 s = vshape(g, a->in[0]);
    ct[0] = op_crop(g, G, a->p->top, a->p->left, s.h, s.w);
}

static int uncrop_jvp(graph *g, const op_rule_args *a, const int *t)
{
    return op_uncrop(g, t[0], a->p->shape, a->p->top, a->p->left);
}

/* ip = {top, left}; sp = the uncropped shape */
static int uncrop_case(graph *g, const op_case *c, const int *in)
{
    return op_uncrop(g, in[0], c->sp, c->ip[0], c->ip[1]);
}

static const op_case uncrop_cases[] = {
    {"uncrop shift 1", OP_UNCROP, 1, {S(2, 3, 6, 5)}, {R}, {1, 1}, {0}, S(2, 3, 7, 6)},
};

const op_def op_def_uncrop = {
    .op = OP_UNCROP,
    .shape = uncrop_shape,
    .vjp = uncrop_vjp,
    .jvp = uncrop_jvp,
    .build_case = uncrop_case,
    OP_CASES(uncrop_cases),
    .f32_vs_f64 = &layout_tol,
};

/* --- channel_shuffle: (x) -> channel j*k + g is channel g*(C/k) + j ---- */

int op_channel_shuffle(graph *g, int x, int groups)
{
    if (op_any_bad(g, 1, &x)) return -1;
    node_params p = op_params();
    p.groups = groups;
    return graph_add_node(g, OP_CHANNEL_SHUFFLE, 1, &x, &p);
}

static int shuffle_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    NIN(1);
    shape4 s = vshape(g, in[0]);
    NEED(p->groups >= 1 && s.c % p->groups == 0, "channel_shuffle: %d channels do not split into %d groups", s.c,
         p->groups);
    *out = s;
    return 1;
}

/* The inverse permutation is the shuffle with C/k groups. */
static void shuffle_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)want;
    ct[0] = op_channel_shuffle(g, G, vshape(g, a->in[0]).c / a->p->groups);
}

static int shuffle_jvp(graph *g, const op_rule_args *a, const int *t)
{
    return op_channel_shuffle(g, t[0], a->p->groups);
}

/* ip = {groups} */
static int shuffle_case(graph *g, const op_case *c, const int *in) { return op_channel_shuffle(g, in[0], c->ip[0]); }

static const op_case shuffle_cases[] = {
    {"channel_shuffle k=4", OP_CHANNEL_SHUFFLE, 1, {S(2, 8, 3, 3)}, {R}, {4}},
    {"channel_shuffle k=6", OP_CHANNEL_SHUFFLE, 1, {S(1, 12, 2, 3)}, {R}, {6}},
    {"channel_shuffle k=1", OP_CHANNEL_SHUFFLE, 1, {S(1, 3, 2, 2)}, {R}, {1}},
};

const op_def op_def_channel_shuffle = {
    .op = OP_CHANNEL_SHUFFLE,
    .shape = shuffle_shape,
    .vjp = shuffle_vjp,
    .jvp = shuffle_jvp,
    .build_case = shuffle_case,
    OP_CASES(shuffle_cases),
    .f32_vs_f64 = &layout_tol,
};
