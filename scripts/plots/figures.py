#!/usr/bin/env python3
"""The figures of a run or of a protocol, from their logs.

    figures.py run RUN_DIR            RUN_DIR/curves.svg and curves.png
    figures.py protocol FIG_DIR SPEC  FIG_DIR/<quantity>.svg, .png and index.json

A run's figure has one panel per quantity its log holds: for a search the
skip connections and depth of the derived normal and reduction cells per
epoch (the paper's Fig. 1 and 3), the losses, the dominant eigenvalue of
the architecture Hessian where it was logged, and the cosine and norm
ratio between the exact and first-order TSE gradients per update where
--tse-analysis ran; for a retraining its loss, accuracy and errors.

SPEC (JSON text) names the protocol's finished runs per method:
{"methods": [{"id", "label", "search": [dirs], "search_tasks": [k of each,
from 0], "select": [dirs], "final8": [dirs], "final20": [dirs]}]}. Each
quantity becomes one figure with every method overlaid: the mean over its
runs, and a band from the lowest to the highest; each search also gets its
own curves as curves-<id>-<k+1>. index.json lists the figures drawn, in order, with
a title and caption, for the report page.

Exit status: 0 drawn; 2 bad input (named on stderr); 3 matplotlib cannot
be imported (one line on stderr saying so).
"""
import json
import os
import sys

from runlog import LogError, epoch_records, epoch_series, is_search, load_run, update_series

# (name, title, x axis, y axis, [(panel label, log key)]); a panel is drawn
# when some run logged its key, a figure when some panel is drawn
SEARCH_QUANTITIES = [
    ("search_skips", "Skip connections in the derived cell", "epoch", "skip connections",
     [("normal cell", "normal_skip"), ("reduction cell", "reduce_skip"), ("cell", "skip")]),
    ("search_depth", "Depth of the derived cell", "epoch", "cell depth",
     [("normal cell", "normal_depth"), ("reduction cell", "reduce_depth"), ("cell", "depth")]),
    ("search_loss", "Loss during the search", "epoch", "loss",
     [("training", "train_loss"), ("validation", "valid_loss")]),
    ("search_hessian", "Dominant eigenvalue of the architecture Hessian", "epoch", "largest eigenvalue",
     [("architecture Hessian", "hessian_max_eigenvalue")]),
    ("search_tse_gradient", "Exact against first-order TSE gradient", "architecture update", "",
     [("cosine", "cosine"), ("norm ratio (exact / first-order)", "norm_ratio")]),
]
TRAIN_QUANTITIES = [
    ("retrain_loss", "Retraining loss", "epoch", "loss", [("training", "train_loss"), ("validation", "valid_loss")]),
    ("retrain_accuracy", "Retraining accuracy", "epoch", "accuracy", [("training", "train_acc")]),
    ("retrain_error", "Retraining error", "epoch", "error", [("validation", "valid_error")]),
]
PER_UPDATE = {"search_tse_gradient"}
# the final retrainings by Table 2's columns: a scaled-down budget gives
# them fewer cells than 8 and 20
STAGES = [("select", "selection retraining (one per search)"), ("final8", "final, 8-layer column"),
          ("final20", "final, 20-layer column")]


def series(records, name, key):
    return update_series(records, key) if name in PER_UPDATE else epoch_series(records, key)


def plot_line(ax, pts, **kw):
    if pts:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=3, linewidth=1.4, **kw)


def integer_axes(ax, ylabel):
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if ax.dataLim.width == 0:  # one epoch only: room for integer ticks around it
        x = round(ax.dataLim.x0)
        ax.set_xlim(x - 1, x + 1)
    if ylabel in ("skip connections", "cell depth"):
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(bottom=0)


# ------------------------------------------------------------------ one run

def run_algo(run_dir):
    """" (darts1)" from the run's config.json, or "" where it says none."""
    try:
        with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
            algo = json.load(f).get("algo")
    except (OSError, ValueError, AttributeError):
        return ""
    return f" ({algo})" if isinstance(algo, str) else ""


# a search in a protocol's report, beside its cells: the paper's Fig. 1
# and 3 only, in one column (the rest is in the methods' figures)
BESIDE_CELLS = ("search_skips", "search_depth")


def draw_run(run_dir, out_base=None):
    """The run's curves into RUN_DIR/curves.svg/.png, or with out_base the
    cells' companion (BESIDE_CELLS) there; False when its log holds nothing
    to draw."""
    import figstyle
    records, result = load_run(run_dir)
    if not records:
        if out_base:
            return False
        raise LogError(f"{run_dir}/metrics.jsonl: no records to draw")
    search = is_search(records)
    quantities = SEARCH_QUANTITIES if search else TRAIN_QUANTITIES
    if out_base:
        quantities = [q for q in quantities if q[0] in BESIDE_CELLS]
    drawn = []
    for name, title, xlabel, ylabel, keys in quantities:
        lines = [(label, series(records, name, key)) for label, key in keys]
        lines = [(label, pts) for label, pts in lines if pts]
        if lines:
            drawn.append((name, title, xlabel, ylabel, lines))
    if not drawn:
        raise LogError(f"{run_dir}/metrics.jsonl: none of the logged quantities it knows")
    figstyle.setup()
    fig, axes = figstyle.panels(len(drawn), cols=1 if out_base else 2)
    for ax, (name, title, xlabel, ylabel, lines) in zip(axes, drawn):
        for i, (label, pts) in enumerate(lines):
            plot_line(ax, pts, label=label, color=figstyle.COLOURS[i])
        if name == "retrain_error" and result and isinstance(result.get("test_error"), (int, float)):
            last = max(p[0] for _, pts in lines for p in pts)
            ax.plot([last], [result["test_error"]], marker="*", markersize=10, linestyle="none",
                    color="black", label="test (after the last epoch)")
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        integer_axes(ax, ylabel)
        ax.legend()
    # nothing of the directory's name or place: a run copied elsewhere, or
    # the same run made again, draws the same bytes
    if not out_base:
        fig.suptitle(f"{'Search' if search else 'Retraining'}{run_algo(run_dir)}")
    fig.tight_layout()
    figstyle.save(fig, out_base or os.path.join(run_dir, "curves"))
    return True


# ---------------------------------------------------------------- protocol

def spread(runs_pts):
    """Mean, lowest and highest over runs at each x any run has."""
    xs = sorted({x for pts in runs_pts for x, _ in pts})
    by_x = [[v for pts in runs_pts for x2, v in pts if x2 == x] for x in xs]
    return xs, [sum(v) / len(v) for v in by_x], [min(v) for v in by_x], [max(v) for v in by_x]


def plot_spread(ax, runs_pts, colour, label):
    runs_pts = [pts for pts in runs_pts if pts]
    if not runs_pts:
        return False
    xs, mean, lo, hi = spread(runs_pts)
    if len(runs_pts) > 1:
        ax.fill_between(xs, lo, hi, color=colour, alpha=0.18, linewidth=0)
    ax.plot(xs, mean, marker="o", markersize=3, linewidth=1.4, color=colour, label=f"{label} (n={len(runs_pts)})")
    return True


def load_logs(dirs):
    return [load_run(d) for d in dirs]


def protocol_figure(fig_dir, name, title, xlabel, ylabel, panels, methods, hline=None):
    """panels: [(panel title, [(method index, [series per run], extra)])];
    hline: a level drawn across every panel (the linear baseline's error)."""
    import figstyle
    kept = [(t, rows) for t, rows in panels if any(any(runs) or extra for _, runs, extra in rows)]
    if not kept:
        return False
    figstyle.setup()
    fig, axes = figstyle.panels(len(kept))
    for ax, (ptitle, rows) in zip(axes, kept):
        for m, runs, extra in rows:
            colour = figstyle.COLOURS[m % len(figstyle.COLOURS)]
            plot_spread(ax, runs, colour, methods[m]["label"])
            if extra:
                x, vals = extra
                mean = sum(vals) / len(vals)
                ax.errorbar([x], [mean], yerr=[[mean - min(vals)], [max(vals) - mean]], marker="*", markersize=9,
                            color=colour, capsize=3, linestyle="none", label=f"{methods[m]['label']}, test")
        if hline is not None:
            ax.axhline(hline, color="0.3", linestyle="--", linewidth=1, label="linear baseline, test")
        ax.set_title(ptitle)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        integer_axes(ax, ylabel)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    figstyle.save(fig, os.path.join(fig_dir, name))
    return True


def draw_protocol(fig_dir, spec):
    methods = spec.get("methods")
    if not isinstance(methods, list) or not all(isinstance(m, dict) and "label" in m for m in methods):
        raise LogError("spec: expected {\"methods\": [{\"label\": ..., \"search\": [...], ...}]}")
    os.makedirs(fig_dir, exist_ok=True)
    logs = [{stage: load_logs(m.get(stage, [])) for stage in ("search", "select", "final8", "final20")}
            for m in methods]
    index = []
    baseline = None
    if isinstance(spec.get("baseline"), str):
        _, res = load_run(spec["baseline"])
        if res and isinstance(res.get("test_error"), (int, float)):
            baseline = res["test_error"]
    # each search on its own, shown beside the cells it found
    for m in methods:
        tasks = m.get("search_tasks", list(range(len(m.get("search", [])))))
        for d, k in zip(m.get("search", []), tasks):
            draw_run(d, os.path.join(fig_dir, f"curves-{m['id']}-{k + 1}"))
    n_search = sum(len(lg["search"]) for lg in logs)
    for name, title, xlabel, ylabel, keys in SEARCH_QUANTITIES:
        panels = [(label, [(m, [series(rec, name, key) for rec, _ in lg["search"]], None)
                           for m, lg in enumerate(logs)]) for label, key in keys]
        if protocol_figure(fig_dir, name, title, xlabel, ylabel, panels, methods):
            index.append({"name": name, "title": title, "group": "search",
                          "caption": f"{title} per {xlabel}, over the {n_search} searches: each method's mean over "
                                     "its searches, the band from the lowest to the highest."})
    for name, title, xlabel, ylabel, keys in TRAIN_QUANTITIES:
        for label, key in keys:
            panels = []
            for stage, stage_title in STAGES:
                rows = []
                for m, lg in enumerate(logs):
                    runs = [epoch_series(rec, key) for rec, _ in lg[stage]]
                    extra = None
                    tests = [res["test_error"] for _, res in lg[stage]
                             if name == "retrain_error" and res and isinstance(res.get("test_error"), (int, float))]
                    if tests:  # at the last epoch any of the runs logged (1 where none did)
                        last = [r["epoch"] + 1 for rec, _ in lg[stage] for r in epoch_records(rec)]
                        extra = (max(last, default=1), tests)
                    rows.append((m, runs, extra))
                panels.append((stage_title, rows))
            qname = f"{name}_{'train' if key.startswith('train') else 'valid'}" if len(keys) > 1 else name
            qtitle = f"{title}, {label}" if len(keys) > 1 else title
            has_tests = name == "retrain_error"
            if not protocol_figure(fig_dir, qname, qtitle, xlabel, ylabel, panels, methods,
                                   baseline if has_tests else None):
                continue
            caption = (f"{qtitle} per epoch in each stage of retraining: each method's mean over its runs, the band "
                       "from the lowest to the highest.")
            if has_tests:
                caption = ("Retraining error in each stage: lines, the error on the held-out validation split per "
                           "epoch where the run has one (mean over the runs, band from lowest to highest); stars, "
                           "the test error, measured once after the last epoch (mean; bar from lowest to highest), "
                           "as the logs hold no per-epoch test error." +
                           (" Dashed: the test error of the linear baseline, trained on the final retrainings' "
                            "images." if baseline is not None else ""))
            index.append({"name": qname, "title": qtitle, "group": "retrain", "caption": caption})
    tmp = os.path.join(fig_dir, f"index.json.tmp.{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"figures": index}, f, indent=2)
        f.write("\n")
    os.replace(tmp, os.path.join(fig_dir, "index.json"))


def die_with_parent():
    """A report killed mid-way draws again when resumed: a drawing left
    running from the killed one must not write into the new figures/."""
    parent = os.getppid()
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL (Linux)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the request took effect
        sys.exit(1)


def main(argv):
    die_with_parent()
    usage = "usage: figures.py run RUN_DIR | figures.py protocol FIG_DIR SPEC_JSON"
    if len(argv) < 2 or argv[1] not in ("run", "protocol") or len(argv) != (3 if argv[1] == "run" else 4):
        print(usage, file=sys.stderr)
        return 2
    try:
        import figstyle  # noqa: F401  (imports matplotlib)
    except ImportError as e:
        print(f"{sys.executable} cannot import matplotlib ({e}); install python3-matplotlib "
              "(scripts/install-deps.sh)", file=sys.stderr)
        return 3
    try:
        if argv[1] == "run":
            draw_run(argv[2])
        else:
            try:
                spec = json.loads(argv[3])
            except json.JSONDecodeError as e:
                raise LogError(f"spec: not JSON ({e.msg})") from None
            draw_protocol(argv[2], spec)
    except LogError as e:
        print(str(e), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
