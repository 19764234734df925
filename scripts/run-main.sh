#!/usr/bin/env bash
# The main job: build, run the paper's protocol on the DARTS space at the
# mini budget on Fashion-MNIST (the embedded default data), then audit it.
# Usage: scripts/run-main.sh [RESULTS_DIR]   (default results/mini)
# Re-running it continues an interrupted protocol where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/mini}
cmake --preset cpu > /dev/null
cmake --build --preset cpu
build/cpu/tsedarts protocol run darts_space --budget mini --out "$out"
build/cpu/tsedarts verify "$out"
echo
cat "$out/report.md"
echo
echo "The report as one page, with its figures and cells: $out/report.html"
