/* Convolutions (forward, and the data and filter adjoints): the own kernels for pointwise and depthwise shapes
 * (conv_own.h) unless TSEDARTS_GPU_CONV=cudnn, and cuDNN's legacy API with pinned algorithms for the rest. */
#include <stdio.h>
#include <stdlib.h>

#include "conv_own.h"

/* Determinism: the cuDNN algorithms are pinned, never searched, and all three are deterministic: forward
 * IMPLICIT_PRECOMP_GEMM (IMPLICIT_GEMM where cuDNN says PRECOMP does not serve a shape), backward data ALGO_1,
 * backward filter ALGO_1; CUDNN_FMA_MATH (no TF32, no tensor-op conversions); compute type = element type. A shape
 * the pinned algorithm cannot serve is an error naming the op. Each call is given the workspace size its plan
 * asked for (the buffer is the largest asked for so far), so the bits never depend on a spare size. */
const char *gpu_conv_algorithms_json(void)
{
    return gpu.conv_own
               ? "{\"conv_kernels\": \"own pointwise and depthwise (TSEDARTS_GPU_CONV=own), cuDNN for the rest\", "
                 "\"conv_fwd\": \"IMPLICIT_PRECOMP_GEMM (IMPLICIT_GEMM where PRECOMP is unsupported)\", "
                 "\"conv_bwd_data\": \"ALGO_1\", \"conv_bwd_filter\": \"ALGO_1\", \"conv_math\": \"CUDNN_FMA_MATH\", "
                 "\"conv_mode\": \"CUDNN_CROSS_CORRELATION\", "
                 "\"matmul\": \"cublasGemmEx, CUBLAS_PEDANTIC_MATH, atomics not allowed, compute = element type "
                 "(32F_PEDANTIC / 64F_PEDANTIC)\"}"
               : "{\"conv_kernels\": \"cuDNN for every convolution (TSEDARTS_GPU_CONV=cudnn)\", "
                 "\"conv_fwd\": \"IMPLICIT_PRECOMP_GEMM (IMPLICIT_GEMM where PRECOMP is unsupported)\", "
                 "\"conv_bwd_data\": \"ALGO_1\", \"conv_bwd_filter\": \"ALGO_1\", \"conv_math\": \"CUDNN_FMA_MATH\", "
                 "\"conv_mode\": \"CUDNN_CROSS_CORRELATION\", "
                 "\"matmul\": \"cublasGemmEx, CUBLAS_PEDANTIC_MATH, atomics not allowed, compute = element type "
                 "(32F_PEDANTIC / 64F_PEDANTIC)\"}";
}

/* What a plan is made for. The three ops see the same three tensors in different roles, so the key names them by
 * their forward meaning: x the image (dx for bwd_data), w the filter (dw for bwd_filter), y the output (dy for the
 * adjoints). */
typedef struct conv_key {
    op_kind op;
    int f64;
    shape4 x, w, y;
    int stride, pad, dil, groups;
} conv_key;

/* Descriptors and the chosen algorithm for one key; made on the first run of a shape (host only), reused after, so
 * a run captured into a CUDA graph creates nothing. */
typedef struct conv_plan {
    conv_key key;
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    int algo; /* a cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t, by key.op */
    size_t workspace; /* the bytes cuDNN asked for with this algorithm */
} conv_plan;

/* The cache: a growable array searched linearly (a network has a few dozen distinct convolutions). */
static conv_plan *plans;
static int n_plans, cap_plans;

static int key_equal(const conv_key *a, const conv_key *b)
{
    return a->op == b->op && a->f64 == b->f64 && shape_equal(a->x, b->x) && shape_equal(a->w, b->w) &&
           shape_equal(a->y, b->y) && a->stride == b->stride && a->pad == b->pad && a->dil == b->dil &&
           a->groups == b->groups;
}

/* The key of a node: where each of x, w, y sits among its inputs and output (see ref/conv_impl.h; like the CPU, the
 * output's shape comes from out_shape, which the shape rules make equal to p.shape for bwd_data and to
 * (Co, Ci / G, p.kh, p.kw) for bwd_filter). */
static conv_key key_of(const kernel_args *a, int f64)
{
    const node_params *p = &a->nd->p;
    conv_key k;
    k.op = a->nd->op;
    k.f64 = f64;
    if (k.op == OP_CONV2D) {
        k.x = a->in_shape[0];
        k.w = a->in_shape[1];
        k.y = a->out_shape;
    } else if (k.op == OP_CONV2D_BWD_DATA) {
        k.y = a->in_shape[0];
        k.w = a->in_shape[1];
        k.x = a->out_shape;
    } else {
        k.x = a->in_shape[0];
        k.y = a->in_shape[1];
        k.w = a->out_shape;
    }
    k.stride = p->stride;
    k.pad = p->pad;
    k.dil = p->dil;
    k.groups = p->groups;
    return k;
}

/* An error naming the op, element type, shapes and params, then what failed. */
static td_status conv_fail(const conv_key *k, td_status code, const char *file, int line, const char *what)
{
    char xs[64], ws[64], ys[64];
    return td_error_at(code, file, line, "cuda %s %s: x %s w %s y %s stride %d pad %d dil %d groups %d: %s",
                       op_name(k->op), k->f64 ? "f64" : "f32", shape_format(k->x, xs, sizeof xs),
                       shape_format(k->w, ws, sizeof ws), shape_format(k->y, ys, sizeof ys), k->stride, k->pad, k->dil,
                       k->groups, what);
}

/* A cuDNN status other than success: NOT_SUPPORTED (any of its sub-codes) means this build cannot serve the shape;
 * anything else is a backend failure. Both name the op and the call. */
static td_status conv_fail_dnn(const conv_key *k, cudnnStatus_t e, const char *call, const char *file, int line)
{
    char what[256];
    snprintf(what, sizeof what, "%s: %s", call, cudnnGetErrorString(e));
    int unsupported = CUDNN_STATUS_CATEGORY(e) == CUDNN_STATUS_NOT_SUPPORTED;
    return conv_fail(k, unsupported ? TD_ERR_UNSUPPORTED : TD_ERR_BACKEND, file, line, what);
}

#define DNN_TRY(k, call)                                                                        \
    do {                                                                                        \
        cudnnStatus_t e_ = (call);                                                              \
        if (e_ != CUDNN_STATUS_SUCCESS) return conv_fail_dnn((k), e_, #call, __FILE__, __LINE__); \
    } while (0)

/* The CPU's output size (core/ops/conv.c conv_out_shape): (H + 2p - d (K - 1) - 1) / s + 1, or -1 if the window
 * does not fit. */
static int conv_out_size(int in, int kernel, int s, int p, int d)
{
    int span = in + 2 * p - d * (kernel - 1) - 1;
    return span < 0 ? -1 : span / s + 1;
}

/* The key describes a convolution the CPU reference computes: parameters in range, channels that split into the
 * groups, and y exactly the forward output of x (for bwd_data, x is the target shape p.shape, so this also says
 * there is no output padding to express: dx's size is given to cuDNN and its rows that no output reads come out
 * zero, as on the CPU). */
static td_status key_check(const conv_key *k)
{
    char why[160];
    const int G = k->groups;
    if (k->stride < 1 || k->dil < 1 || k->pad < 0 || G < 1)
        return conv_fail(k, TD_ERR_UNSUPPORTED, __FILE__, __LINE__, "parameters out of range");
    if (k->x.c % G || k->y.c % G || k->w.n != k->y.c || k->w.c * G != k->x.c || k->x.n != k->y.n)
        return conv_fail(k, TD_ERR_UNSUPPORTED, __FILE__, __LINE__, "channels or batch do not fit the groups");
    int ho = conv_out_size(k->x.h, k->w.h, k->stride, k->pad, k->dil);
    int wo = conv_out_size(k->x.w, k->w.w, k->stride, k->pad, k->dil);
    if (ho != k->y.h || wo != k->y.w) {
        snprintf(why, sizeof why, "y is %dx%d but x convolved gives %dx%d (for bwd_data: output padding)", k->y.h,
                 k->y.w, ho, wo);
        return conv_fail(k, TD_ERR_UNSUPPORTED, __FILE__, __LINE__, why);
    }
    return TD_OK;
}

static void plan_destroy(conv_plan *p)
{
    if (p->x) cudnnDestroyTensorDescriptor(p->x);
    if (p->y) cudnnDestroyTensorDescriptor(p->y);
    if (p->w) cudnnDestroyFilterDescriptor(p->w);
    if (p->conv) cudnnDestroyConvolutionDescriptor(p->conv);
    p->x = p->y = NULL;
    p->w = NULL;
    p->conv = NULL;
}

/* Sets the descriptors of a plan (created already): NCHW, packed; the filter (Co, Ci / G, KH, KW) as on the CPU;
 * symmetric padding, stride and dilation the same in both directions. */
static td_status plan_describe(conv_plan *p)
{
    const conv_key *k = &p->key;
    cudnnDataType_t t = k->f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
    DNN_TRY(k, cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, t, k->x.n, k->x.c, k->x.h, k->x.w));
    DNN_TRY(k, cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, t, k->y.n, k->y.c, k->y.h, k->y.w));
    DNN_TRY(k, cudnnSetFilter4dDescriptor(p->w, t, CUDNN_TENSOR_NCHW, k->w.n, k->w.c, k->w.h, k->w.w));
    DNN_TRY(k, cudnnSetConvolution2dDescriptor(p->conv, k->pad, k->pad, k->stride, k->stride, k->dil, k->dil,
                                               CUDNN_CROSS_CORRELATION, t));
    DNN_TRY(k, cudnnSetConvolutionGroupCount(p->conv, k->groups));
    DNN_TRY(k, cudnnSetConvolutionMathType(p->conv, CUDNN_FMA_MATH));
    /* cuDNN's own output size must be the CPU's (key_check): same padding, stride and dilation semantics */
    int n = 0, c = 0, h = 0, w = 0;
    DNN_TRY(k, cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->w, &n, &c, &h, &w));
    if (!shape_equal(shape_make(n, c, h, w), k->y)) {
        char why[128];
        snprintf(why, sizeof why, "cuDNN's forward output would be (%d, %d, %d, %d)", n, c, h, w);
        return conv_fail(k, TD_ERR_UNSUPPORTED, __FILE__, __LINE__, why);
    }
    return TD_OK;
}

/* The pinned algorithm of the plan's op and its workspace size. Forward takes IMPLICIT_PRECOMP_GEMM unless cuDNN
 * reports it unsupported for the shape, then IMPLICIT_GEMM (both deterministic); the adjoints have no alternative. */
static td_status plan_choose(conv_plan *p)
{
    const conv_key *k = &p->key;
    size_t bytes = 0;
    if (k->op == OP_CONV2D) {
        cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
        cudnnStatus_t e = cudnnGetConvolutionForwardWorkspaceSize(gpu.dnn, p->x, p->w, p->conv, p->y, algo, &bytes);
        if (CUDNN_STATUS_CATEGORY(e) == CUDNN_STATUS_NOT_SUPPORTED) {
            algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
            e = cudnnGetConvolutionForwardWorkspaceSize(gpu.dnn, p->x, p->w, p->conv, p->y, algo, &bytes);
        }
        if (e != CUDNN_STATUS_SUCCESS)
            return conv_fail_dnn(k, e, "cudnnGetConvolutionForwardWorkspaceSize (IMPLICIT_PRECOMP_GEMM, IMPLICIT_GEMM)",
                                 __FILE__, __LINE__);
        p->algo = (int)algo;
    } else if (k->op == OP_CONV2D_BWD_DATA) {
        cudnnConvolutionBwdDataAlgo_t algo = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
        DNN_TRY(k, cudnnGetConvolutionBackwardDataWorkspaceSize(gpu.dnn, p->w, p->y, p->conv, p->x, algo, &bytes));
        p->algo = (int)algo;
    } else {
        cudnnConvolutionBwdFilterAlgo_t algo = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;
        DNN_TRY(k, cudnnGetConvolutionBackwardFilterWorkspaceSize(gpu.dnn, p->x, p->y, p->conv, p->w, algo, &bytes));
        p->algo = (int)algo;
    }
    p->workspace = bytes;
    /* plans are made on a shape's first, direct run: the buffer grows before any recording */
    void *ws;
    return gpu_conv_workspace(bytes, &ws) == TD_OK
               ? TD_OK
               : conv_fail(k, TD_ERR_MEMORY, __FILE__, __LINE__, td_error_message());
}

/* Creates the descriptors of a plan for k; on failure nothing is left allocated. */
static td_status plan_create(const conv_key *k, conv_plan *p)
{
    td_status s = key_check(k);
    if (s != TD_OK) return s;
    p->key = *k;
    p->x = p->y = NULL;
    p->w = NULL;
    p->conv = NULL;
    cudnnStatus_t e = cudnnCreateTensorDescriptor(&p->x);
    if (e == CUDNN_STATUS_SUCCESS) e = cudnnCreateTensorDescriptor(&p->y);
    if (e == CUDNN_STATUS_SUCCESS) e = cudnnCreateFilterDescriptor(&p->w);
    if (e == CUDNN_STATUS_SUCCESS) e = cudnnCreateConvolutionDescriptor(&p->conv);
    s = e == CUDNN_STATUS_SUCCESS ? plan_describe(p)
                                  : conv_fail_dnn(k, e, "cudnnCreate*Descriptor", __FILE__, __LINE__);
    if (s == TD_OK) s = plan_choose(p);
    if (s != TD_OK) plan_destroy(p);
    return s;
}

/* The cached plan for k, made on first use. Only successful plans are kept: a shape that fails, fails each time. */
static td_status plan_get(const conv_key *k, const conv_plan **out)
{
    for (int i = 0; i < n_plans; i++)
        if (key_equal(&plans[i].key, k)) {
            *out = &plans[i];
            return TD_OK;
        }
    if (n_plans == cap_plans) {
        int cap = cap_plans ? 2 * cap_plans : 64;
        conv_plan *grown = (conv_plan *)realloc(plans, (size_t)cap * sizeof *grown);
        if (!grown) return conv_fail(k, TD_ERR_MEMORY, __FILE__, __LINE__, "no memory for the plan cache");
        plans = grown;
        cap_plans = cap;
    }
    td_status s = plan_create(k, &plans[n_plans]);
    if (s != TD_OK) return s;
    *out = &plans[n_plans++];
    return TD_OK;
}

void gpu_conv_release(void)
{
    for (int i = 0; i < n_plans; i++) plan_destroy(&plans[i]);
    free(plans);
    plans = NULL;
    n_plans = cap_plans = 0;
}

/* The own kernels serve the node when the switch allows and the shape is theirs; *served says whether they did. */
template <typename T> static td_status conv_try_own(const kernel_args *a, const conv_key *k, int *served)
{
    *served = 0;
    TD_CHECK(key_check(k));
    if (!gpu.conv_own) return TD_OK;
    if (conv_own_pointwise(a)) {
        *served = 1;
        return conv_pw_run<T>(a, conv_geom_of(a));
    }
    if (conv_own_depthwise(a, sizeof(T))) {
        *served = 1;
        return conv_dw_run<T>(a, conv_geom_of(a));
    }
    return TD_OK;
}

/* The plan of a node, for element type T, and the workspace it asked for; or the own kernels ran it (*served). */
template <typename T>
static td_status conv_plan_for(const kernel_args *a, conv_key *k, const conv_plan **p, void **ws, int *served)
{
    *k = key_of(a, sizeof(T) == sizeof(double));
    TD_CHECK(conv_try_own<T>(a, k, served));
    if (*served) return TD_OK;
    TD_CHECK(plan_get(k, p));
    return gpu_conv_workspace((*p)->workspace, ws);
}

/* conv2d: (x, w) -> y; y overwritten (beta = 0). alpha and beta have the element type, as cuDNN requires. */
template <typename T> static td_status conv2d(const kernel_args *a)
{
    conv_key k;
    const conv_plan *p;
    void *ws;
    int served;
    TD_CHECK(conv_plan_for<T>(a, &k, &p, &ws, &served));
    if (served) return TD_OK;
    const T one = 1, zero = 0;
    DNN_TRY(&k, cudnnConvolutionForward(gpu.dnn, &one, p->x, a->in[0], p->w, a->in[1], p->conv,
                                        (cudnnConvolutionFwdAlgo_t)p->algo, ws, p->workspace, &zero, p->y, a->out));
    gpu.launches++; /* one cuDNN call, counted as one launch */
    return TD_OK;
}

/* conv2d_bwd_data: (dy, w) -> dx, the adjoint of conv2d in x; dx overwritten (beta = 0). */
template <typename T> static td_status conv2d_bwd_data(const kernel_args *a)
{
    conv_key k;
    const conv_plan *p;
    void *ws;
    int served;
    TD_CHECK(conv_plan_for<T>(a, &k, &p, &ws, &served));
    if (served) return TD_OK;
    const T one = 1, zero = 0;
    DNN_TRY(&k, cudnnConvolutionBackwardData(gpu.dnn, &one, p->w, a->in[1], p->y, a->in[0], p->conv,
                                             (cudnnConvolutionBwdDataAlgo_t)p->algo, ws, p->workspace, &zero,
                                             p->x, a->out));
    gpu.launches++; /* one cuDNN call, counted as one launch */
    return TD_OK;
}

/* conv2d_bwd_filter: (x, dy) -> dw, the adjoint of conv2d in w; dw overwritten (beta = 0). */
template <typename T> static td_status conv2d_bwd_filter(const kernel_args *a)
{
    conv_key k;
    const conv_plan *p;
    void *ws;
    int served;
    TD_CHECK(conv_plan_for<T>(a, &k, &p, &ws, &served));
    if (served) return TD_OK;
    const T one = 1, zero = 0;
    DNN_TRY(&k, cudnnConvolutionBackwardFilter(gpu.dnn, &one, p->x, a->in[0], p->y, a->in[1], p->conv,
                                               (cudnnConvolutionBwdFilterAlgo_t)p->algo, ws, p->workspace, &zero,
                                               p->w, a->out));
    gpu.launches++; /* one cuDNN call, counted as one launch */
    return TD_OK;
}

GPU_INSTANTIATE(conv2d, conv2d)
GPU_INSTANTIATE(conv2d_bwd_data, conv2d_bwd_data)
GPU_INSTANTIATE(conv2d_bwd_filter, conv2d_bwd_filter)
