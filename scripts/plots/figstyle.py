"""Matplotlib set up so that the same data give the same bytes.

Agg backend (no display), fixed DPI and font, an SVG id salt that does
not change between runs, and no date, software version or creator that
would: SVG metadata without Date, PNG without Software. Files are written
under a temporary name and renamed, so a reader never sees half a figure.
"""
import os

# read by matplotlib when a date is written at all; fixed in case one is
os.environ.setdefault("SOURCE_DATE_EPOCH", "0")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DPI = 100
CREATOR = "tsedarts"

# one colour per method, in plan order, so a method keeps its colour
# across every figure of a report
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def setup():
    plt.rcParams.update({
        "svg.hashsalt": "tsedarts",
        "svg.fonttype": "path",  # glyphs as paths: the same picture without the fonts
        "font.family": "DejaVu Sans",
        "font.size": 9,
        "figure.dpi": DPI,
        "savefig.dpi": DPI,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.fontsize": 8,
        "legend.frameon": False,
    })


def save(fig, base):
    """Writes base.svg and base.png and closes fig."""
    for ext, meta in (("svg", {"Date": None, "Creator": CREATOR}), ("png", {"Software": None})):
        final = f"{base}.{ext}"
        tmp = f"{final}.tmp.{os.getpid()}"
        fig.savefig(tmp, format=ext, metadata=meta, dpi=DPI)
        os.replace(tmp, final)
    plt.close(fig)


def panels(n, height=2.8, cols=2):
    """A figure of n panels, cols per row; returns (fig, list of n axes)."""
    cols = min(cols, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, height * rows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]
