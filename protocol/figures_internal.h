/* Shared by the figure files of the protocol layer; not a public interface. */
#ifndef TSEDARTS_FIGURES_INTERNAL_H
#define TSEDARTS_FIGURES_INTERNAL_H

#include "tsedarts/figures.h"
#include "tsedarts/protocol.h"

/* Runs argv (argv[0] a path or a name looked up in PATH) with input on
 * its standard input (NULL: /dev/null) and its standard output inherited.
 * Returns its exit status, or -1 when it could not start or was killed;
 * why holds the last line it wrote to standard error, or why it did not
 * run. */
int figures_spawn(const char *const *argv, const char *input, char *why, size_t why_len);

/* figures/ of a protocol's results tree, drawn again from the finished
 * runs: the search and retraining figures with their index.json and each
 * search's own curves as curves-<method>-<k>.svg/.png (by the script), and
 * each searched genotype's cells as cell-<method>-<k>.svg/.png (k from 1). What could not be drawn is said in missing ("" when all
 * was), and the call still succeeds: a report without figures is a report. */
td_status figures_draw_protocol(const char *out_dir, const char *plan_json, const method_result *res, int n,
                                char *missing, size_t missing_len);

/* The name in figures/, without extension, of search k's (from 0) drawing
 * of a kind ("cell", "curves"). */
void figures_search_name(char *buf, size_t len, const char *kind, const char *method_id, int k);

#endif
