/* Where a graph's fused groups (fusion.h) are, for one backend and element
 * type: found from the groups' declarations, with what they change in the
 * memory plan (unstored values, inputs kept until their recomputation). */
#ifndef TSEDARTS_FUSION_PLAN_H
#define TSEDARTS_FUSION_PLAN_H

#include "tsedarts/backend.h"

typedef struct fused_instance {
    fused_kind kind;
    int n;                         /* members (the group's count; a chain's own) */
    int member[FUSED_MAX_MEMBERS]; /* node indices, in the group's member order */
    int last;                      /* the last node its kernel covers */
} fused_instance;

/* What a node does in the plan. */
typedef enum fused_role {
    FUSED_ROLE_NONE = 0,
    FUSED_ROLE_RUNS,   /* an instance's kernel runs here (runs[i]) */
    FUSED_ROLE_SILENT  /* runs nothing here: an unstored head, or covered by a kernel run before */
} fused_role;

typedef struct fusion_plan {
    fused_instance *inst;
    int n_inst;
    int *runs;            /* per node: the instance that runs here, or -1 */
    unsigned char *role;  /* per node: fused_role */
    unsigned char *recomputing; /* per node: belongs to a group whose head is not stored (cannot run alone) */
    unsigned char *normed;      /* per node: a batch norm's scale_axis or affine_axis, or a drop path's scale_axis after one, whose output is a normed value (not stored) */
} fusion_plan;

/* The values a normed value y = ((x sc [+ bias]) [r]) [img] is computed
 * from (backend.h normed_input); bias, r and img are -1 where absent (r
 * and img absent: 1). */
typedef struct normed_source {
    int x, sc, bias, r, img;
} normed_source;

/* Where value v is a normed value (fusion_plan.c): the node that defines
 * it (a scale_axis over channels after an unstored centring, an
 * affine_axis, or a scale_axis over images of one of those), with what it
 * is computed from in *src; else -1. */
int fusion_normed_source(const fusion_plan *fp, const graph *g, int v, normed_source *src);

/* Finds the groups be implements for dt among the needed nodes
 * (next_needed[i]: the next needed node after i, or -1), and sets
 * unplaced[v] for each value left unstored (the groups that read it
 * recompute it from the inputs of its node, which the executor's schedule
 * counts as their reads). */
td_status fusion_plan_build(const graph *g, const unsigned char *needed, const int *next_needed, const backend *be,
                            dtype dt, fusion_plan *fp, unsigned char *unplaced);
void fusion_plan_free(fusion_plan *fp);

#endif
