/* Liveness-based placement of activations in one arena. */
#ifndef TSEDARTS_PLANNER_H
#define TSEDARTS_PLANNER_H

#include "tsedarts/graph.h"

typedef struct memory_plan {
    size_t *offset;     /* per value: element offset in the arena (ACT only) */
    int *first, *last;  /* per value: live from node first to node last */
    size_t arena_elems; /* arena size in elements */
    size_t align;       /* elements */
} memory_plan;

/* Plans the ACT values of the needed nodes; order is node index order.
 * A value is live from its producer until its last needed consumer (or only
 * during its producer when nothing reads it). Offsets are multiples of
 * align elements. */
td_status planner_plan(const graph *g, const unsigned char *needed, size_t align, memory_plan *plan);
/* The same over the steps of an executor's schedule (schedule.h): time is
 * the step, a value is live from the step that makes it to the last step
 * that reads it, and a step's outputs are placed before the values it
 * last reads are released, so no kernel of a step (a batch's members run
 * at once) writes over what another reads. A value with unplaced[v] set
 * (NULL: none) gets no memory: no kernel writes or reads it (a fused
 * group's unstored head); its first and last are -1. */
struct exec_schedule;
td_status planner_plan_steps(const graph *g, const struct exec_schedule *sched, size_t align,
                             const unsigned char *unplaced, memory_plan *plan);
void planner_free(memory_plan *plan);

/* Independent check that no two values live at the same time overlap;
 * returns the number of violations (0 = sound) and names the first one. */
int planner_count_overlaps(const graph *g, const memory_plan *plan,
                           char *first, size_t len);

#endif
