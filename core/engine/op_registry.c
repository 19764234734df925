#include "tsedarts/op_registry.h"

#include <stdlib.h>
#include <string.h>

#include "tsedarts/autodiff.h"
#include "tsedarts/philox.h"

#include <stdio.h>

#define S(n, c, h, w) {n, c, h, w}
#define R IN_REAL

/* conv: ip = {stride, pad, dil, groups}; bwd_data sp = x shape. */
const op_case op_cases[] = {
    {"conv2d 3x3 s1 p1", OP_CONV2D, 2, {S(2, 3, 5, 6), S(4, 3, 3, 3)}, {R, R}, {1, 1, 1, 1}},
    {"conv2d 3x3 s2 p1 odd", OP_CONV2D, 2, {S(2, 3, 7, 7), S(4, 3, 3, 3)}, {R, R}, {2, 1, 1, 1}},
    {"conv2d dw 5x5 s2 p4 d2", OP_CONV2D, 2, {S(2, 4, 9, 9), S(4, 1, 5, 5)}, {R, R}, {2, 4, 2, 4}},
    {"conv2d dw 3x3 s1 p2 d2", OP_CONV2D, 2, {S(1, 3, 6, 5), S(3, 1, 3, 3)}, {R, R}, {1, 2, 2, 3}},
    {"conv2d 1x1 s2", OP_CONV2D, 2, {S(2, 4, 7, 6), S(6, 4, 1, 1)}, {R, R}, {2, 0, 1, 1}},
    {"conv2d groups 2", OP_CONV2D, 2, {S(1, 4, 5, 5), S(6, 2, 3, 3)}, {R, R}, {1, 1, 1, 2}},
    {"conv2d 2x2 valid", OP_CONV2D, 2, {S(2, 3, 2, 2), S(5, 3, 2, 2)}, {R, R}, {1, 0, 1, 1}},
    {"conv2d_bwd_data 3x3 s1", OP_CONV2D_BWD_DATA, 2, {S(2, 4, 5, 6), S(4, 3, 3, 3)}, {R, R}, {1, 1, 1, 1}, {0}, S(2, 3, 5, 6)},
    {"conv2d_bwd_data 3x3 s2 odd", OP_CONV2D_BWD_DATA, 2, {S(2, 4, 4, 4), S(4, 3, 3, 3)}, {R, R}, {2, 1, 1, 1}, {0}, S(2, 3, 7, 7)},
    {"conv2d_bwd_data dw 5x5 s2 d2", OP_CONV2D_BWD_DATA, 2, {S(2, 4, 5, 5), S(4, 1, 5, 5)}, {R, R}, {2, 4, 2, 4}, {0}, S(2, 4, 9, 9)},
    {"conv2d_bwd_data 1x1 s2 even", OP_CONV2D_BWD_DATA, 2, {S(1, 5, 3, 3), S(5, 2, 1, 1)}, {R, R}, {2, 0, 1, 1}, {0}, S(1, 2, 6, 6)},
    {"conv2d_bwd_filter 3x3 s1", OP_CONV2D_BWD_FILTER, 2, {S(2, 3, 5, 6), S(2, 4, 5, 6)}, {R, R}, {1, 1, 1, 1, 3, 3}},
    {"conv2d_bwd_filter 3x3 s2 odd", OP_CONV2D_BWD_FILTER, 2, {S(2, 3, 7, 7), S(2, 4, 4, 4)}, {R, R}, {2, 1, 1, 1, 3, 3}},
    {"conv2d_bwd_filter dw 3x3 d2", OP_CONV2D_BWD_FILTER, 2, {S(2, 3, 6, 5), S(2, 3, 6, 5)}, {R, R}, {1, 2, 2, 3, 3, 3}},
    {"conv2d_bwd_filter 1x1 s2", OP_CONV2D_BWD_FILTER, 2, {S(2, 4, 7, 6), S(2, 6, 4, 3)}, {R, R}, {2, 0, 1, 1, 1, 1}},
    {"matmul nn", OP_MATMUL, 2, {S(3, 4, 1, 1), S(4, 5, 1, 1)}, {R, R}, {0, 0}},
    {"matmul tn", OP_MATMUL, 2, {S(4, 3, 1, 1), S(4, 5, 1, 1)}, {R, R}, {1, 0}},
    {"matmul nt (linear)", OP_MATMUL, 2, {S(3, 4, 1, 1), S(5, 4, 1, 1)}, {R, R}, {0, 1}},
    {"matmul tt", OP_MATMUL, 2, {S(4, 3, 1, 1), S(5, 4, 1, 1)}, {R, R}, {1, 1}},
    {"relu", OP_RELU, 1, {S(2, 3, 4, 5)}, {R}},
    {"relu odd", OP_RELU, 1, {S(1, 1, 3, 7)}, {R}},
    {"relu_bwd", OP_RELU_BWD, 2, {S(2, 3, 4, 5), S(2, 3, 4, 5)}, {R, R}},
    {"softplus", OP_SOFTPLUS, 1, {S(2, 3, 4, 5)}, {R}},
    {"sigmoid", OP_SIGMOID, 1, {S(2, 3, 4, 5)}, {R}},
    /* pooling: ip = {k, stride, pad, count_pad}; bwd sp = x shape */
    {"maxpool 3x3 s1 p1", OP_MAXPOOL, 1, {S(2, 3, 6, 7)}, {R}, {3, 1, 1}},
    {"maxpool 3x3 s2 p1 odd", OP_MAXPOOL, 1, {S(1, 2, 5, 5)}, {R}, {3, 2, 1}},
    {"maxpool 3x3 s2 p1 even", OP_MAXPOOL, 1, {S(2, 2, 6, 6)}, {R}, {3, 2, 1}},
    {"maxpool_gather 3x3 s1", OP_MAXPOOL_GATHER, 2, {S(2, 3, 6, 7), S(2, 3, 6, 7)}, {R, R}, {3, 1, 1}},
    {"maxpool_gather 3x3 s2", OP_MAXPOOL_GATHER, 2, {S(1, 2, 5, 5), S(1, 2, 5, 5)}, {R, R}, {3, 2, 1}},
    {"maxpool_scatter 3x3 s1", OP_MAXPOOL_SCATTER, 2, {S(2, 3, 6, 7), S(2, 3, 6, 7)}, {R, R}, {3, 1, 1}},
    {"maxpool_scatter 3x3 s2", OP_MAXPOOL_SCATTER, 2, {S(1, 2, 5, 5), S(1, 2, 3, 3)}, {R, R}, {3, 2, 1}},
    {"avgpool 3x3 s1 p1 exclude-pad", OP_AVGPOOL, 1, {S(2, 3, 6, 7)}, {R}, {3, 1, 1, 0}},
    {"avgpool 3x3 s2 p1 exclude-pad", OP_AVGPOOL, 1, {S(1, 2, 5, 5)}, {R}, {3, 2, 1, 0}},
    {"avgpool 3x3 s1 p1 include-pad", OP_AVGPOOL, 1, {S(1, 2, 5, 4)}, {R}, {3, 1, 1, 1}},
    {"avgpool 5x5 s3 (aux head)", OP_AVGPOOL, 1, {S(2, 3, 8, 8)}, {R}, {5, 3, 0, 0}},
    {"avgpool_bwd 3x3 s1", OP_AVGPOOL_BWD, 1, {S(2, 3, 6, 7)}, {R}, {3, 1, 1, 0}, {0}, S(2, 3, 6, 7)},
    {"avgpool_bwd 3x3 s2 odd", OP_AVGPOOL_BWD, 1, {S(1, 2, 3, 3)}, {R}, {3, 2, 1, 0}, {0}, S(1, 2, 5, 5)},
    {"avgpool_bwd 5x5 s3", OP_AVGPOOL_BWD, 1, {S(2, 3, 2, 2)}, {R}, {5, 3, 0, 0}, {0}, S(2, 3, 8, 8)},
    {"global_avgpool", OP_GAP, 1, {S(2, 3, 4, 5)}, {R}},
    {"global_avgpool_bwd", OP_GAP_BWD, 1, {S(2, 3, 1, 1)}, {R}, {0}, {0}, S(2, 3, 4, 5)},
    /* axis ops: ip = {axis}; bcast sp = output shape */
    {"sum_axis C", OP_SUM_AXIS, 1, {S(3, 4, 2, 3)}, {R}, {AXIS_C}},
    {"sum_axis N", OP_SUM_AXIS, 1, {S(3, 4, 2, 3)}, {R}, {AXIS_N}},
    {"bcast_axis C", OP_BCAST_AXIS, 1, {S(1, 4, 1, 1)}, {R}, {AXIS_C}, {0}, S(3, 4, 2, 3)},
    {"bcast_axis N", OP_BCAST_AXIS, 1, {S(3, 1, 1, 1)}, {R}, {AXIS_N}, {0}, S(3, 4, 2, 3)},
    {"scale_axis C", OP_SCALE_AXIS, 2, {S(3, 4, 2, 3), S(1, 4, 1, 1)}, {R, R}, {AXIS_C}},
    {"scale_axis N (drop path)", OP_SCALE_AXIS, 2, {S(3, 4, 2, 3), S(3, 1, 1, 1)}, {R, R}, {AXIS_N}},
    {"dot_axis C", OP_DOT_AXIS, 2, {S(3, 4, 2, 3), S(3, 4, 2, 3)}, {R, R}, {AXIS_C}},
    {"dot_axis N", OP_DOT_AXIS, 2, {S(3, 4, 2, 3), S(3, 4, 2, 3)}, {R, R}, {AXIS_N}},
    {"affine_axis C", OP_AFFINE_AXIS, 3, {S(3, 4, 2, 3), S(1, 4, 1, 1), S(1, 4, 1, 1)}, {R, R, R}, {AXIS_C}},
    {"affine_axis C no shift", OP_AFFINE_AXIS, 2, {S(2, 5, 3, 3), S(1, 5, 1, 1)}, {R, R}, {AXIS_C}},
    {"lincomb_axis C", OP_LINCOMB_AXIS, 5, {S(3, 4, 2, 3), S(3, 4, 2, 3), S(1, 4, 1, 1), S(1, 4, 1, 1), S(1, 4, 1, 1)},
     {R, R, R, R, R}, {AXIS_C}},
    {"lincomb_axis N", OP_LINCOMB_AXIS, 5, {S(2, 3, 3, 1), S(2, 3, 3, 1), S(2, 1, 1, 1), S(2, 1, 1, 1), S(2, 1, 1, 1)},
     {R, R, R, R, R}, {AXIS_N}},
    {"affine_axis N", OP_AFFINE_AXIS, 3, {S(3, 4, 2, 3), S(3, 1, 1, 1), S(3, 1, 1, 1)}, {R, R, R}, {AXIS_N}},
    {"bn_running_update", OP_BN_RUNNING_UPDATE, 4, {S(1, 4, 1, 1), S(1, 4, 1, 1), S(1, 4, 1, 1), S(1, 4, 1, 1)},
     {R, IN_POSITIVE, IN_BNSTAT, IN_BNSTAT}, {0}, {0.1, 50.0}},
    {"axpby two inputs", OP_AXPBY, 2, {S(2, 3, 4, 5), S(2, 3, 4, 5)}, {R, R}, {0}, {0.7, -1.3}},
    {"axpby one input", OP_AXPBY, 1, {S(2, 3, 1, 5)}, {R}, {0}, {-2.5, 0}},
    {"mul", OP_MUL, 2, {S(2, 3, 4, 5), S(2, 3, 4, 5)}, {R, R}},
    {"exp", OP_EXP, 1, {S(2, 3, 2, 2)}, {R}},
    {"powadd rsqrt", OP_POWADD, 1, {S(1, 6, 1, 1)}, {IN_POSITIVE}, {0}, {1e-5, -0.5}},
    {"powadd cube", OP_POWADD, 1, {S(1, 6, 1, 1)}, {IN_POSITIVE}, {0}, {0.0, 3.0}},
    /* weighted_sum: ip = {has_w, idx0, idx1, idx2}; inputs w then xs */
    {"weighted_sum alpha row", OP_WEIGHTED_SUM, 4, {S(2, 8, 1, 1), S(2, 3, 3, 3), S(2, 3, 3, 3), S(2, 3, 3, 3)},
     {R, R, R, R}, {1, 3, 9, 3}},
    {"weighted_sum plain", OP_WEIGHTED_SUM, 3, {S(2, 3, 3, 3), S(2, 3, 3, 3), S(2, 3, 3, 3)}, {R, R, R}, {0}},
    /* dots: inputs g then xs; ip = {idx0, idx1, idx2}; sp = weight shape */
    {"dots", OP_DOTS, 4, {S(2, 3, 3, 3), S(2, 3, 3, 3), S(2, 3, 3, 3), S(2, 3, 3, 3)}, {R, R, R, R}, {5, 0, 5},
     {0}, S(2, 4, 1, 1)},
    {"softmax_rows", OP_SOFTMAX_ROWS, 1, {S(3, 8, 1, 1)}, {R}},
    {"log_softmax_rows", OP_LOG_SOFTMAX_ROWS, 1, {S(4, 10, 1, 1)}, {R}},
    {"pick_labels", OP_PICK_LABELS, 2, {S(4, 5, 1, 1), S(4, 1, 1, 1)}, {R, IN_LABELS}},
    {"place_labels", OP_PLACE_LABELS, 2, {S(4, 1, 1, 1), S(4, 1, 1, 1)}, {R, IN_LABELS}, {5}},
    {"sum_all", OP_SUM_ALL, 1, {S(2, 3, 4, 5)}, {R}},
    {"fill", OP_FILL, 1, {S(1, 1, 1, 1)}, {R}, {0}, {0}, S(2, 3, 2, 2)},
    {"const", OP_CONST, 0, {S(0, 0, 0, 0)}, {R}, {0}, {0.25}, S(2, 3, 2, 2)},
    {"concat_channels", OP_CONCAT_C, 3, {S(2, 2, 3, 3), S(2, 1, 3, 3), S(2, 3, 3, 3)}, {R, R, R}},
    {"slice_channels middle", OP_SLICE_C, 1, {S(2, 6, 3, 3)}, {R}, {1, 4}},
    {"slice_channels head", OP_SLICE_C, 1, {S(2, 6, 3, 3)}, {R}, {0, 2}},
    {"crop shift 1", OP_CROP, 1, {S(2, 3, 7, 6)}, {R}, {1, 1, 6, 5}},
    {"uncrop shift 1", OP_UNCROP, 1, {S(2, 3, 6, 5)}, {R}, {1, 1}, {0}, S(2, 3, 7, 6)},
};

const int n_op_cases = (int)(sizeof op_cases / sizeof op_cases[0]);

/* Map widths of real networks (8 to 33, some odd): the registry's small
 * maps never reach the CPU kernels' vector paths (rows of 8 and more,
 * stride-2 splits of 16 and more) nor their scalar tails. */
#define DW(s, p, d) {s, p, d, 8} /* depthwise on 8 channels */
const op_case op_cases_wide[] = {
    {"wide conv2d dw 3x3 s1 32x32", OP_CONV2D, 2, {S(2, 8, 32, 32), S(8, 1, 3, 3)}, {R, R}, DW(1, 1, 1)},
    {"wide conv2d dw 5x5 s1 28x28", OP_CONV2D, 2, {S(2, 8, 28, 28), S(8, 1, 5, 5)}, {R, R}, DW(1, 2, 1)},
    {"wide conv2d dw 3x3 s1 d2 16x16", OP_CONV2D, 2, {S(2, 8, 16, 16), S(8, 1, 3, 3)}, {R, R}, DW(1, 2, 2)},
    {"wide conv2d dw 5x5 s1 d2 13x13", OP_CONV2D, 2, {S(2, 8, 13, 13), S(8, 1, 5, 5)}, {R, R}, DW(1, 4, 2)},
    {"wide conv2d dw 3x3 s2 32x32", OP_CONV2D, 2, {S(2, 8, 32, 32), S(8, 1, 3, 3)}, {R, R}, DW(2, 1, 1)},
    {"wide conv2d dw 5x5 s2 28x28", OP_CONV2D, 2, {S(2, 8, 28, 28), S(8, 1, 5, 5)}, {R, R}, DW(2, 2, 1)},
    {"wide conv2d dw 3x3 s2 d2 33x33", OP_CONV2D, 2, {S(2, 8, 33, 33), S(8, 1, 3, 3)}, {R, R}, DW(2, 2, 2)},
    {"wide conv2d dw 5x5 s2 d2 16x16", OP_CONV2D, 2, {S(2, 8, 16, 16), S(8, 1, 5, 5)}, {R, R}, DW(2, 4, 2)},
    {"wide conv2d 1x1 16->16 32x32", OP_CONV2D, 2, {S(2, 16, 32, 32), S(16, 16, 1, 1)}, {R, R}, {1, 0, 1, 1}},
    {"wide conv2d 1x1 s2 16->8 32x32", OP_CONV2D, 2, {S(2, 16, 32, 32), S(8, 16, 1, 1)}, {R, R}, {2, 0, 1, 1}},
    {"wide conv2d 3x3 3->24 32x32", OP_CONV2D, 2, {S(2, 3, 32, 32), S(24, 3, 3, 3)}, {R, R}, {1, 1, 1, 1}},
    {"wide conv2d_bwd_data dw 3x3 s1 32x32", OP_CONV2D_BWD_DATA, 2, {S(2, 8, 32, 32), S(8, 1, 3, 3)}, {R, R},
     DW(1, 1, 1), {0}, S(2, 8, 32, 32)},
    {"wide conv2d_bwd_data dw 5x5 s1 28x28", OP_CONV2D_BWD_DATA, 2, {S(2, 8, 28, 28), S(8, 1, 5, 5)}, {R, R},
     DW(1, 2, 1), {0}, S(2, 8, 28, 28)},
    {"wide conv2d_bwd_data dw 3x3 s1 d2 16x16", OP_CONV2D_BWD_DATA, 2, {S(2, 8, 16, 16), S(8, 1, 3, 3)}, {R, R},
     DW(1, 2, 2), {0}, S(2, 8, 16, 16)},
    {"wide conv2d_bwd_data dw 3x3 s2 32x32", OP_CONV2D_BWD_DATA, 2, {S(2, 8, 16, 16), S(8, 1, 3, 3)}, {R, R},
     DW(2, 1, 1), {0}, S(2, 8, 32, 32)},
    {"wide conv2d_bwd_data dw 5x5 s2 28x28", OP_CONV2D_BWD_DATA, 2, {S(2, 8, 14, 14), S(8, 1, 5, 5)}, {R, R},
     DW(2, 2, 1), {0}, S(2, 8, 28, 28)},
    {"wide conv2d_bwd_data dw 3x3 s2 d2 33x33", OP_CONV2D_BWD_DATA, 2, {S(2, 8, 17, 17), S(8, 1, 3, 3)}, {R, R},
     DW(2, 2, 2), {0}, S(2, 8, 33, 33)},
    {"wide conv2d_bwd_data 1x1 32x32", OP_CONV2D_BWD_DATA, 2, {S(2, 16, 32, 32), S(16, 16, 1, 1)}, {R, R},
     {1, 0, 1, 1}, {0}, S(2, 16, 32, 32)},
    {"wide conv2d_bwd_data 1x1 s2 32x32", OP_CONV2D_BWD_DATA, 2, {S(2, 8, 16, 16), S(8, 16, 1, 1)}, {R, R},
     {2, 0, 1, 1}, {0}, S(2, 16, 32, 32)},
    {"wide conv2d_bwd_filter dw 3x3 s1 32x32", OP_CONV2D_BWD_FILTER, 2, {S(2, 8, 32, 32), S(2, 8, 32, 32)}, {R, R},
     {1, 1, 1, 8, 3, 3}},
    {"wide conv2d_bwd_filter dw 5x5 s1 28x28", OP_CONV2D_BWD_FILTER, 2, {S(2, 8, 28, 28), S(2, 8, 28, 28)}, {R, R},
     {1, 2, 1, 8, 5, 5}},
    {"wide conv2d_bwd_filter dw 3x3 s1 13x13", OP_CONV2D_BWD_FILTER, 2, {S(2, 8, 13, 13), S(2, 8, 13, 13)}, {R, R},
     {1, 1, 1, 8, 3, 3}},
    {"wide conv2d_bwd_filter dw 3x3 s2 32x32", OP_CONV2D_BWD_FILTER, 2, {S(2, 8, 32, 32), S(2, 8, 16, 16)}, {R, R},
     {2, 1, 1, 8, 3, 3}},
    {"wide conv2d_bwd_filter dw 5x5 s2 d2 16x16", OP_CONV2D_BWD_FILTER, 2, {S(2, 8, 16, 16), S(2, 8, 8, 8)}, {R, R},
     {2, 4, 2, 8, 5, 5}},
    {"wide conv2d_bwd_filter dw 3x3 s2 26x26", OP_CONV2D_BWD_FILTER, 2, {S(2, 8, 26, 26), S(2, 8, 13, 13)}, {R, R},
     {2, 1, 1, 8, 3, 3}},
    {"wide conv2d_bwd_filter 1x1 32x32", OP_CONV2D_BWD_FILTER, 2, {S(2, 16, 32, 32), S(2, 16, 32, 32)}, {R, R},
     {1, 0, 1, 1, 1, 1}},
    {"wide conv2d_bwd_filter 1x1 s2 32x32", OP_CONV2D_BWD_FILTER, 2, {S(2, 16, 32, 32), S(2, 8, 16, 16)}, {R, R},
     {2, 0, 1, 1, 1, 1}},
    {"wide conv2d_bwd_filter 3x3 3->24 32x32", OP_CONV2D_BWD_FILTER, 2, {S(2, 3, 32, 32), S(2, 24, 32, 32)}, {R, R},
     {1, 1, 1, 1, 3, 3}},
    /* pooling: ip = {k, stride, pad, count_pad} */
    {"wide maxpool 3x3 s1 32x32", OP_MAXPOOL, 1, {S(2, 8, 32, 32)}, {R}, {3, 1, 1}},
    {"wide maxpool 3x3 s1 13x13", OP_MAXPOOL, 1, {S(2, 8, 13, 13)}, {R}, {3, 1, 1}},
    {"wide maxpool 3x3 s2 32x32", OP_MAXPOOL, 1, {S(2, 8, 32, 32)}, {R}, {3, 2, 1}},
    {"wide maxpool_gather 3x3 s1 32x32", OP_MAXPOOL_GATHER, 2, {S(2, 8, 32, 32), S(2, 8, 32, 32)}, {R, R}, {3, 1, 1}},
    {"wide maxpool_gather 3x3 s2 28x28", OP_MAXPOOL_GATHER, 2, {S(2, 8, 28, 28), S(2, 8, 28, 28)}, {R, R}, {3, 2, 1}},
    {"wide maxpool_scatter 3x3 s1 32x32", OP_MAXPOOL_SCATTER, 2, {S(2, 8, 32, 32), S(2, 8, 32, 32)}, {R, R}, {3, 1, 1}},
    {"wide maxpool_scatter 3x3 s1 13x13", OP_MAXPOOL_SCATTER, 2, {S(2, 8, 13, 13), S(2, 8, 13, 13)}, {R, R}, {3, 1, 1}},
    {"wide maxpool_scatter 3x3 s2 32x32", OP_MAXPOOL_SCATTER, 2, {S(2, 8, 32, 32), S(2, 8, 16, 16)}, {R, R}, {3, 2, 1}},
    {"wide avgpool 3x3 s1 32x32", OP_AVGPOOL, 1, {S(2, 8, 32, 32)}, {R}, {3, 1, 1, 0}},
    {"wide avgpool 3x3 s2 28x28", OP_AVGPOOL, 1, {S(2, 8, 28, 28)}, {R}, {3, 2, 1, 0}},
    {"wide avgpool_bwd 3x3 s1 32x32", OP_AVGPOOL_BWD, 1, {S(2, 8, 32, 32)}, {R}, {3, 1, 1, 0}, {0}, S(2, 8, 32, 32)},
    {"wide avgpool_bwd 3x3 s2 32x32", OP_AVGPOOL_BWD, 1, {S(2, 8, 16, 16)}, {R}, {3, 2, 1, 0}, {0}, S(2, 8, 32, 32)},
    /* per-channel reductions of batch norm */
    {"wide sum_axis C 32x32", OP_SUM_AXIS, 1, {S(4, 8, 32, 32)}, {R}, {AXIS_C}},
    {"wide sum_axis C 7x7", OP_SUM_AXIS, 1, {S(3, 8, 7, 7)}, {R}, {AXIS_C}},
    {"wide dot_axis C 28x28", OP_DOT_AXIS, 2, {S(4, 8, 28, 28), S(4, 8, 28, 28)}, {R, R}, {AXIS_C}},
    {"wide sum_axis C 70 channels 5x5", OP_SUM_AXIS, 1, {S(2, 70, 5, 5)}, {R}, {AXIS_C}},
    /* mixed-op sums, summed cotangents and the alphas' gradients */
    {"wide weighted_sum plain 13x13", OP_WEIGHTED_SUM, 3, {S(3, 5, 13, 13), S(3, 5, 13, 13), S(3, 5, 13, 13)},
     {R, R, R}, {0}},
    {"wide dots 32x32", OP_DOTS, 4, {S(2, 8, 32, 32), S(2, 8, 32, 32), S(2, 8, 32, 32), S(2, 8, 32, 32)},
     {R, R, R, R}, {5, 0, 5}, {0}, S(2, 4, 1, 1)},
    {"wide dots 13x13", OP_DOTS, 3, {S(3, 5, 13, 13), S(3, 5, 13, 13), S(3, 5, 13, 13)}, {R, R, R}, {1, 6}, {0},
     S(2, 4, 1, 1)},
};
#undef DW

const int n_op_cases_wide = (int)(sizeof op_cases_wide / sizeof op_cases_wide[0]);

void op_case_inputs(graph *g, const op_case *c, int *in)
{
    for (int k = 0; k < c->nin; k++) {
        if (c->kind[k] == IN_BNSTAT) {
            char name[64];
            snprintf(name, sizeof name, "running_%d", k);
            in[k] = graph_param(g, ROLE_BNSTAT, name, c->in[k], k == 2 ? INIT_ZEROS : INIT_ONES, 0, 0, NULL);
        } else {
            in[k] = graph_input(g, c->in[k], c->kind[k] == IN_LABELS);
        }
    }
}

int op_case_input_differentiable(const op_case *c, int k)
{
    if (c->kind[k] == IN_LABELS || c->kind[k] == IN_BNSTAT) return 0;
    return op_input_differentiable(c->op, k);
}

int op_case_build(graph *g, const op_case *c, const int *in)
{
    const int *ip = c->ip;
    switch (c->op) {
    case OP_CONV2D: return op_conv2d(g, in[0], in[1], ip[0], ip[1], ip[2], ip[3]);
    case OP_CONV2D_BWD_DATA: return op_conv2d_bwd_data(g, in[0], in[1], c->sp, ip[0], ip[1], ip[2], ip[3]);
    case OP_CONV2D_BWD_FILTER: return op_conv2d_bwd_filter(g, in[0], in[1], ip[4], ip[5], ip[0], ip[1], ip[2], ip[3]);
    case OP_MATMUL: return op_matmul(g, in[0], in[1], ip[0], ip[1]);
    case OP_RELU: return op_relu(g, in[0]);
    case OP_RELU_BWD: return op_relu_bwd(g, in[0], in[1]);
    case OP_SOFTPLUS: return op_softplus(g, in[0]);
    case OP_SIGMOID: return op_sigmoid(g, in[0]);
    case OP_MAXPOOL: return op_maxpool(g, in[0], ip[0], ip[1], ip[2]);
    case OP_MAXPOOL_GATHER: return op_maxpool_gather(g, in[0], in[1], ip[0], ip[1], ip[2]);
    case OP_MAXPOOL_SCATTER: return op_maxpool_scatter(g, in[0], in[1], ip[0], ip[1], ip[2]);
    case OP_AVGPOOL: return op_avgpool(g, in[0], ip[0], ip[1], ip[2], ip[3]);
    case OP_AVGPOOL_BWD: return op_avgpool_bwd(g, in[0], c->sp, ip[0], ip[1], ip[2], ip[3]);
    case OP_GAP: return op_gap(g, in[0]);
    case OP_GAP_BWD: return op_gap_bwd(g, in[0], c->sp);
    case OP_SUM_AXIS: return op_sum_axis(g, in[0], ip[0]);
    case OP_BCAST_AXIS: return op_bcast_axis(g, in[0], c->sp, ip[0]);
    case OP_SCALE_AXIS: return op_scale_axis(g, in[0], in[1], ip[0]);
    case OP_DOT_AXIS: return op_dot_axis(g, in[0], in[1], ip[0]);
    case OP_LINCOMB_AXIS: return op_lincomb_axis(g, in[0], in[1], in[2], in[3], in[4], ip[0]);
    case OP_AFFINE_AXIS: return op_affine_axis(g, in[0], in[1], c->nin > 2 ? in[2] : -1, ip[0]);
    case OP_BN_RUNNING_UPDATE: return op_bn_running_update(g, in[0], in[1], in[2], in[3], c->dp[0], c->dp[1]);
    case OP_AXPBY: return op_axpby(g, in[0], c->nin > 1 ? in[1] : -1, c->dp[0], c->dp[1]);
    case OP_MUL: return op_mul(g, in[0], in[1]);
    case OP_EXP: return op_exp(g, in[0]);
    case OP_POWADD: return op_powadd(g, in[0], c->dp[0], c->dp[1]);
    case OP_WEIGHTED_SUM:
        if (ip[0]) return op_weighted_sum(g, in[0], c->nin - 1, in + 1, ip + 1);
        return op_weighted_sum(g, -1, c->nin, in, NULL);
    case OP_DOTS: return op_dots(g, in[0], c->nin - 1, in + 1, ip, c->sp);
    case OP_SOFTMAX_ROWS: return op_softmax_rows(g, in[0]);
    case OP_LOG_SOFTMAX_ROWS: return op_log_softmax_rows(g, in[0]);
    case OP_PICK_LABELS: return op_pick_labels(g, in[0], in[1]);
    case OP_PLACE_LABELS: return op_place_labels(g, in[0], in[1], ip[0]);
    case OP_SUM_ALL: return op_sum_all(g, in[0]);
    case OP_FILL: return op_fill(g, in[0], c->sp);
    case OP_CONST: return op_const(g, c->sp, c->dp[0]);
    case OP_CONCAT_C: return op_concat_c(g, c->nin, in);
    case OP_SLICE_C: return op_slice_c(g, in[0], ip[0], ip[1]);
    case OP_CROP: return op_crop(g, in[0], ip[0], ip[1], ip[2], ip[3]);
    case OP_UNCROP: return op_uncrop(g, in[0], c->sp, ip[0], ip[1]);
    case OP_COUNT: break;
    }
    return -1;
}

graph *op_case_graph(const op_case *c, double *host[ROLE_COUNT], int *inputs)
{
    return op_case_graph_seeded(c, (uint64_t)(c - op_cases), host, inputs);
}

graph *op_case_graph_seeded(const op_case *c, uint64_t seed, double *host[ROLE_COUNT], int *inputs)
{
    graph *g = graph_create();
    int in[OP_CASE_MAX_IN];
    op_case_inputs(g, c, in);
    if (inputs) memcpy(inputs, in, sizeof in);
    int y = op_case_build(g, c, in);
    if (y > 0 && g->nodes[g->n_nodes - 1].out == y) graph_bind(g, y, ROLE_OUTPUT, (size_t)-1);
    for (int r = 0; r < ROLE_COUNT; r++) host[r] = calloc(g->role_size[r] + 1, sizeof(double));
    for (int k = 0; k < c->nin; k++) {
        const value *v = &g->values[in[k]];
        size_t n = shape_numel(v->shape);
        double *dst = host[v->role] + v->offset;
        philox_stream s;
        philox_stream_init(&s, 500 + (uint64_t)k, PURPOSE_TEST, seed);
        for (size_t i = 0; i < n; i++) {
            double u = philox_next_uniform_f64(&s);
            switch (c->kind[k]) {
            case IN_LABELS: {
                int classes = c->op == OP_PICK_LABELS ? c->in[0].c : c->ip[0];
                dst[i] = (double)((i * 3 + 1) % (size_t)classes);
                break;
            }
            case IN_POSITIVE: dst[i] = 0.5 + 1.5 * u; break;
            case IN_BNSTAT: dst[i] = 0.5 + u; break;
            default: dst[i] = 2 * u - 1; break;
            }
        }
    }
    return g;
}

void op_case_host_free(double *host[ROLE_COUNT])
{
    for (int r = 0; r < ROLE_COUNT; r++) free(host[r]);
}
