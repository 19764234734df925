/* How many OpenMP parallel regions the program has started: the CPU's
 * counterpart of a GPU's kernel launches in bench's figures. */
#ifndef TSEDARTS_CLI_OMP_REGIONS_H
#define TSEDARTS_CLI_OMP_REGIONS_H

/* Top-level regions started so far, and how many of them ran on more than
 * one thread (a region whose `if` clause was false runs on one); -1 each
 * where this build cannot count them. */
long omp_regions_started(void);
long omp_regions_forked(void);

#endif
