#!/usr/bin/env bash
# Digests of the result files of a smoke run of every search algorithm and
# of a retraining, on the CPU: a change that claims to move no bit (a
# faster kernel, batching, a new schedule) must leave every line of this
# output the same. Usage: scripts/smoke-digests.sh [BINARY] > digests.txt,
# once before the change and once after, then diff the two files.
set -euo pipefail
bin=${1:-build/cpu/tsedarts}
[ -x "$bin" ] || { echo "smoke-digests: no binary at $bin (build the cpu preset first)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
files="weights.safetensors alphas.safetensors metrics.jsonl genotype.txt result.json"
for algo in darts1 darts2 tse tse-exact drnas pdarts; do
  "$bin" search --algo "$algo" --budget smoke --dataset synthetic --quiet --out "$work/$algo" >/dev/null
  (cd "$work/$algo" && for f in $files; do [ -f "$f" ] && echo "search $algo $f $(sha256sum < "$f" | cut -c1-16)"; done)
done
"$bin" train --genotype DARTS_V2 --budget smoke --dataset synthetic --quiet --out "$work/train" >/dev/null
(cd "$work/train" && for f in weights.safetensors metrics.jsonl result.json; do
  [ -f "$f" ] && echo "train DARTS_V2 $f $(sha256sum < "$f" | cut -c1-16)"; done)
