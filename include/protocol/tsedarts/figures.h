/* Figures drawn from the logs: a run's curves (matplotlib, through
 * scripts/plots/figures.py), cells drawn with Graphviz dot, and a
 * protocol's figures for its report. Both tools are outside programs; where
 * one is missing the functions fail with TD_ERR_UNSUPPORTED and a message
 * that names it and how to install it, so a caller can go on without the
 * figures. Every output is the same bytes for the same input. */
#ifndef TSEDARTS_FIGURES_H
#define TSEDARTS_FIGURES_H

#include <stddef.h>
#include <stdio.h>

#include "tsedarts/genotype.h"
#include "tsedarts/status.h"

/* The programs used, each from its environment variable where set, else
 * the build's default: TSEDARTS_PYTHON (a Python with matplotlib; the
 * system's /usr/bin/python3 by default, where Debian's python3-matplotlib
 * lives), TSEDARTS_FIGURES_SCRIPT (scripts/plots/figures.py of the source
 * tree) and TSEDARTS_DOT (dot, looked up in PATH). */
const char *figures_python(void);
const char *figures_script(void);
const char *figures_dot(void);

/* curves.svg and curves.png of a finished search or retraining in run_dir,
 * from its metrics.jsonl (and result.json). */
td_status figures_draw_run(const char *run_dir);

/* A genotype's two cells as dot draws them, as "svg" or "png", into
 * out_path (atomically), or to stdout when out_path is NULL. */
td_status figures_draw_genotype(const genotype *g, const char *format, const char *out_path);
/* base.svg and base.png of a genotype. */
td_status figures_draw_genotype_files(const genotype *g, const char *base);

/* A finished run's figures, for the search and train commands: curves,
 * and for a search (g not NULL) its cells as genotype.svg/.png. On failure
 * writes one line to warn naming what is missing and returns 0; 1 when
 * everything was drawn. */
int figures_for_run(const char *run_dir, const genotype *g, FILE *warn);

#endif
