/* The order in which an executor runs a graph's kernels, and which of them
 * run together as one batched call (backend.h run_batched).
 *
 * A unit is what one kernel call does today: a node alone, or a fused
 * group (fusion_plan.h) at the node where its kernel runs. The units of
 * the needed nodes start in graph order. Batching then takes each run of
 * `window` consecutive units, sorts it by dependency level (a unit's level
 * is one more than that of any unit of the window it reads from), and
 * within a level puts together the units that match: one op (or one fused
 * group kind), the same shapes and parameters. Units of one level never
 * read each other's results, so a batch's members may run at once; the
 * window bounds how far the order moves, and so how much more memory the
 * activations need at once. Every value is still written before it is
 * read, and the results are those of the plain order, bit for bit: each
 * member computes exactly what it computes alone. A unit larger than the
 * backend's batch_member_max (backend.h) is never batched: it is a window
 * of its own and keeps its place in graph order. */
#ifndef TSEDARTS_SCHEDULE_H
#define TSEDARTS_SCHEDULE_H

#include "tsedarts/backend.h"
#include "tsedarts/fusion_plan.h"

/* At most this many units in one batched call. */
#define SCHEDULE_MAX_BATCH 32
/* Units reordered together by default (schedule_default_window). */
#define SCHEDULE_DEFAULT_WINDOW 1024

typedef struct exec_schedule {
    int n_units;
    int *unit;       /* in execution order: the node where the unit's kernel runs */
    int n_steps;
    int *step_first; /* step s runs units step_first[s] .. step_first[s + 1] - 1 (n_steps + 1 entries) */
    /* For the memory planner: step s makes values wval[woff[s] .. woff[s + 1]) and reads values
     * rval[roff[s] .. roff[s + 1]) (a fused group reads the inputs of a head it recomputes) */
    int *woff, *wval, *roff, *rval;
} exec_schedule;

/* The schedule of the needed nodes with fusion plan fp on backend be; window 0 keeps graph order with no batches
 * (a plain context, or a backend that batches nothing). */
td_status schedule_build(const graph *g, const unsigned char *needed, const fusion_plan *fp, const backend *be,
                         dtype dt, int window, exec_schedule *out);
void schedule_free(exec_schedule *s);

/* The nodes unit node u's kernel computes (u itself, or its fused group's members from where the kernel runs);
 * returns how many (at most FUSED_MAX_MEMBERS). */
int schedule_unit_members(const fusion_plan *fp, int u, int *members);

/* The window batching uses on be by default: 0 where the backend batches nothing or TSEDARTS_BATCH=0 asks for none
 * (a speed switch that changes no bits); TSEDARTS_BATCH_WINDOW=N sets it. */
int schedule_default_window(const backend *be);

#endif
