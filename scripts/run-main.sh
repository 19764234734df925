#!/usr/bin/env bash
# The main job: build, run the paper's protocol on the DARTS space at the
# mini budget on Fashion-MNIST (the embedded default data), then audit it.
# Usage: scripts/run-main.sh [RESULTS_DIR]   (default results/mini)
# Re-running it continues an interrupted protocol where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/mini}
cmake --preset cpu > /dev/null
# the program only: the test suites build with the README's test command
cmake --build --preset cpu --target tsedarts
# one run per core (at most 16), each on one thread: small networks keep
# two threads busier apart than together (the bits do not depend on it)
jobs=$(nproc)
[ "$jobs" -gt 16 ] && jobs=16
build/cpu/tsedarts protocol run darts_space --budget mini --jobs "$jobs" --out "$out"
build/cpu/tsedarts verify "$out"
echo
cat "$out/report.md"
echo
# the bits this commit's code should give (tests/golden/root-hashes.txt)
got=$(sha256sum "$out/MANIFEST.sha256" | cut -c1-64)
want=$(awk '$1 == "mini" {print $2}' tests/golden/root-hashes.txt)
echo "root hash obtained: $got"
echo "root hash expected: $want (tests/golden/root-hashes.txt; x86-64 with AVX2 and FMA)"
if [ "$want" = "unknown" ]; then
    echo "no reference run of mini is recorded for this code yet; add the hash obtained to tests/golden/root-hashes.txt"
elif [ "$got" = "$want" ]; then
    echo "same bits as the reference run"
else
    echo "the bits differ from the reference run: see README, \"Same bits where\""
fi
echo
echo "The report as one page, with its figures and cells: $out/report.html"
