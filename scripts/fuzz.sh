#!/usr/bin/env bash
# Fuzzes every parser of outside input for SECONDS each (default 30):
# safetensors, checkpoints, genotype text, config JSON, metrics logs, manifests, IDX
# and CIFAR-10 files. Builds the fuzz preset (clang, libFuzzer, ASan and
# UBSan), starts each target from its committed seed corpus
# (fuzz/corpus/<target>; a copy, so runs do not change it), and prints the
# executions per target. A crash stops with its input saved under
# out/fuzz/; add that input to the target's corpus as a regression case
# once fixed. Exit status: 0 when no target crashed.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
cmake --preset fuzz >/dev/null && cmake --build --preset fuzz >/dev/null || { echo "fuzz: build failed" >&2; exit 2; }
out=out/fuzz
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/tsedarts-fuzz-XXXXXX")
trap 'rm -rf "$work"' EXIT
failed=0
printf '%-12s %12s %10s %s\n' target executions exec/s result
for dir in fuzz/corpus/*/; do
  target=$(basename "$dir")
  bin=build/fuzz/fuzz/fuzz_$target
  [ -x "$bin" ] || { echo "fuzz: no target for corpus $dir" >&2; failed=1; continue; }
  mkdir -p "$work/$target"
  cp "$dir"* "$work/$target/"
  log=$work/$target.log
  # one process, 2 GiB, inputs up to 64 KiB; leaks are bugs too
  "$bin" "$work/$target" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$out/$target-" >"$log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$')
  if [ $rc = 0 ]; then result=ok; else result="CRASH (see $out/$target-*, log $out/$target.log)"; cp "$log" "$out/"; failed=1; fi
  printf '%-12s %12s %10s %s\n' "$target" "${execs:-?}" "${rate:-?}" "$result"
done
exit $failed
