/* Fast f32 per-channel reductions (sum and dot over N, H, W), the batch
 * statistics of every BN, in the order of channel_sums.h: four
 * accumulators of eight lanes per block of images, the blocks merged in a
 * fixed order, so results do not depend on threads. */
#include "ref_axis_fast.h"
#include <math.h>

#include "normed.h"

#include "ref_template.h"
#include "simd.h"
#include "channel_sums.h"

#define REAL float

typedef struct reduce_job {
    const float *x, *z;     /* z NULL: the sum of x, else the dot of x and z */
    const normed_input *zn; /* or z normed (normed.h) */
    shape4 s;
} reduce_job;

/* Image n, channels [c0, c1): the channels' planes in memory order, one
 * contiguous stretch, which the prefetcher follows. */
static void reduce_image(const void *ctx, int n, int c0, int c1, channel_sums *a, channel_sums *b)
{
    (void)b;
    const reduce_job *j = ctx;
    size_t hw = (size_t)j->s.h * j->s.w;
    for (int c = c0; c < c1; c++) {
        size_t pl = (size_t)n * j->s.c + c, base = pl * hw;
        normed_plane slot;
        plane_add(&a[c], j->x + base, j->z ? j->z + base : NULL, normed_plane_or_null(j->zn, j->s, pl, &slot), hw);
    }
}

int axis_f32_fast(const kernel_args *a, td_status *result)
{
    op_kind op = a->nd->op;
    if ((op != OP_SUM_AXIS && op != OP_DOT_AXIS) || P->axis != AXIS_C) return 0;
    reduce_job j = {IN(0), op == OP_DOT_AXIS ? IN(1) : NULL, op == OP_DOT_AXIS ? normed_in(a, 1) : NULL,
                    a->in_shape[0]};
    *result = channel_sums_run(j.s, ref_work(a) >= REF_PARALLEL_MIN, reduce_image, &j, OUT, NULL)
                  ? TD_OK
                  : TD_FAIL(TD_ERR_MEMORY, "%s: out of memory", op_name(op));
    return 1;
}
