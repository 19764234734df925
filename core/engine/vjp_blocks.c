/* Reverse rules of custom-VJP blocks (graph.h vjp_block): runs of nodes
 * differentiated as a whole by a hand-written rule made of primitives. */
#include "tsedarts/autodiff.h"
#include "tsedarts/ops.h"

void vjp_block_rule(graph *g, const vjp_block *b, int G, const unsigned char *want, int *ct)
{
    switch (b->kind) {
    case BLOCK_BATCHNORM: {
        /* y = xhat gamma + beta, xhat = xc r: with s1 = sum G, s2 = sum G xc,
         * dx = r gamma G - (r gamma / M) s1 - xc (r^3 gamma / M) s2,
         * dgamma = r s2, dbeta = s1.
         * Without gamma and beta, y is xhat itself: the same dx reads y,
         * dx = r G - (r / M) s1 - y (r / M) sum G y, so the block keeps
         * only its output (which the mixed op's alpha gradient keeps
         * anyway) and xc dies in the forward pass. */
        double M = b->count;
        int plain = b->gamma < 0 && b->beta < 0;
        int z = plain ? b->out : b->xc;
        int s1 = op_sum_axis(g, G, AXIS_C), s2 = op_dot_axis(g, G, z, AXIS_C);
        int rg = b->gamma >= 0 ? op_mul(g, b->r, b->gamma) : b->r;
        if (want[0]) {
            int r3g = plain ? rg : op_mul(g, rg, op_mul(g, b->r, b->r));
            int cb = op_axpby(g, op_mul(g, r3g, s2), -1, -1.0 / M, 0.0);
            int ce = op_axpby(g, op_mul(g, rg, s1), -1, -1.0 / M, 0.0);
            ct[0] = op_lincomb_axis(g, G, z, rg, cb, ce, AXIS_C);
        }
        if (b->gamma >= 0 && want[1]) ct[1] = op_mul(g, s2, b->r);
        if (b->beta >= 0 && want[2]) ct[2] = s1;
        break;
    }
    default:
        graph_fail(g, "vjp: unknown custom block");
    }
}
