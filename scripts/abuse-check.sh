#!/usr/bin/env bash
# Abuse as a skeptical user would: bad input, kills at random moments,
# tampering with a finished results tree. Prints, per kind, how many of the
# attempts the program handled:
#   bad inputs: a clean error (exit 1 or 2, a "tsedarts:" message, no crash
#               or sanitizer report), never success
#   kills:      SIGKILL at a random moment, then --resume until done, ends
#               with the same weights and log as an uninterrupted run
#   tampers:    one byte flipped in one file of a tiny protocol tree: plain
#               verify fails; the same edit with every manifest rebuilt as a
#               forger would (sha256sum): verify --root-hash fails
#   hostile:    inputs that stall or flood a reader, links out of a tree,
#               two writers on one directory, a verdict to a full disk, an
#               edited number on report.html, a finished tree run again:
#               each ends within 60 s with the exit status and message it
#               should (a hang is exit 124, an OOM kill 137: unhandled)
# Usage: scripts/abuse-check.sh [BINARY] [KILLS] [SEED]
# (defaults build/cpu/tsedarts, 10 per kind of run, 1); ABUSE_PARTS names
# the parts to run (default "bad kill tamper hostile"). Exit status 0 when
# every attempt was handled.
set -uo pipefail
bin=$(realpath "${1:-build/cpu/tsedarts}")
kills=${2:-10}
RANDOM=${3:-1}
work=$(mktemp -d "${TMPDIR:-/tmp}/tsedarts-abuse-XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
unhandled=0
parts=${ABUSE_PARTS:-bad kill tamper hostile}
part() { case " $parts " in *" $1 "*) return 0 ;; esac; return 1; }

# ------------------------------------------------------------ bad input
printf 'not a genotype\n' > bad.genotype
printf 'P\x00\x01' > junk.bin
printf '{"algo": "darts1"' > cut.json
mkdir -p notempty && : > notempty/metrics.jsonl
ln -s /nonexistent dangling
bad_inputs=(
  ""
  "bogus"
  "search"
  "search --algo bogus --out o1"
  "search --algo darts1"
  "search --algo darts1 --out o2 extra"
  "search --algo darts1 --out o3 --budget nosuch"
  "search --algo darts1 --out o4 --epochs -1"
  "search --algo darts1 --out o5 --epochs 0"
  "search --algo darts1 --out o6 --batch 0"
  "search --algo darts1 --out o7 --batch abc"
  "search --algo darts1 --out o8 --channels 0"
  "search --algo darts1 --out o9 --layers 1"
  "search --algo darts1 --out o10 --lr-max nan"
  "search --algo darts1 --out o11 --lr-max -1"
  "search --algo darts1 --out o12 --train-portion 1.5"
  "search --algo darts1 --out o13 --train-portion 0"
  "search --algo darts1 --out o14 --dataset cifar10:/nonexistent"
  "search --algo darts1 --out o15 --dataset nosuch"
  "search --algo darts1 --out o16 --data-dir /nonexistent"
  "search --algo darts1 --out o17 --space nosuch"
  "search --algo darts1 --out o18 --dtype f16"
  "search --algo darts1 --out o19 --device cuda:99"
  "search --algo darts1 --out o20 --device tpu"
  "search --algo darts1 --out o21 --threads -3"
  "search --algo darts1 --out o22 --seed -1"
  "search --algo darts1 --out o23 --subset -5"
  "search --algo tse --out o24 --tse-steps 0"
  "search --algo darts1 --out notempty --budget smoke"
  "search --resume /nonexistent"
  "search --resume o1"
  "search --algo darts1 --out /proc/forbidden --budget smoke"
  "search --algo darts1 --out o25 --hessian-every -1"
  "search --algo darts1 --out o26 --budget"
  "search --algo darts1 --out o27 --epochs 99999999999999999999"
  "train"
  "train --genotype NOSUCH --out t1"
  "train --genotype bad.genotype --out t2"
  "train --genotype junk.bin --out t3"
  "train --genotype dangling --out t4"
  "train --genotype DARTS_V2 --out t5 --net bogus"
  "train --genotype DARTS_V2 --out t6 --epochs -2"
  "train --genotype DARTS_V2 --out t7 --budget nosuch"
  "train --genotype DARTS_V2 --out t8 --drop-path 2"
  "train --genotype DARTS_V2 --out t9 --cutout -1"
  "train --resume /nonexistent"
  "genotype show NOSUCH"
  "genotype show bad.genotype"
  "genotype show DARTS_V2 --format bogus"
  "genotype"
  "info --net bogus"
  "info --net eval --genotype NOSUCH"
  "info --net eval --genotype DARTS_V2 --layers 0"
  "verify"
  "verify /nonexistent"
  "verify notempty"
  "verify --replay /nonexistent"
  "verify --replay notempty"
  "protocol"
  "protocol run"
  "protocol run nosuch_space --out p1"
  "protocol run darts_space --out p2 --budget nosuch"
  "protocol run darts_space --out p3 --methods bogus"
  "protocol run darts_space --out p4 --jobs 0"
  "protocol status darts_space --out /nonexistent"
  "protocol report darts_space --out /nonexistent"
  "protocol run darts_space --out p5 --executor bogus"
  "protocol run-one darts_space --out /nonexistent --slot darts1/search/0"
  "bench step --batch -1"
  "bench bogus"
  "selftest --device bogus"
)
handled=0
part bad || bad_inputs=()
for line in "${bad_inputs[@]}"; do
  # shellcheck disable=SC2086
  timeout 300 "$bin" $line >out.txt 2>err.txt < /dev/null
  rc=$?
  if [ $rc -ge 1 ] && [ $rc -le 2 ] && grep -q '^tsedarts: \|^usage:' err.txt out.txt &&
     ! grep -qi 'sanitizer\|runtime error\|segmentation\|core dumped' err.txt; then
    handled=$((handled + 1))
  else
    unhandled=1
    echo "  bad input not handled (exit $rc): tsedarts $line"
    head -3 err.txt | sed 's/^/    /'
  fi
done
part bad && echo "bad inputs handled: $handled/${#bad_inputs[@]}"

# ---------------------------------------------------------------- kills
hash_of() { cat "$1/metrics.jsonl" "$1/weights.safetensors" 2>/dev/null | sha256sum | cut -c1-64; }
survived=0
total=0
part kill && kinds="search train" || kinds=""
for kind in $kinds; do
  if [ $kind = search ]; then args=(search --algo tse --budget smoke --quiet --threads 2)
  else args=(train --genotype DARTS_V2 --budget smoke --quiet --threads 2); fi
  t0=$(date +%s.%N)
  "$bin" "${args[@]}" --out ref-$kind >/dev/null 2>&1 || { echo "  reference $kind failed"; unhandled=1; continue; }
  span=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')
  want=$(hash_of ref-$kind)
  for i in $(seq 1 "$kills"); do
    d=kill-$kind-$i
    total=$((total + 1))
    # kill at a random moment of the first 90% of the run, up to 3 times
    for k in 1 2 3; do
      delay=$(awk -v s="$span" -v r=$((RANDOM % 900)) 'BEGIN {printf "%.3f", s * r / 1000}')
      if [ -f $d/config.json ]; then "$bin" "${args[0]}" --resume $d --quiet --threads 2 >/dev/null 2>&1 &
      else "$bin" "${args[@]}" --out $d >/dev/null 2>&1 & fi
      pid=$!
      sleep "$delay"
      kill -9 $pid 2>/dev/null
      wait $pid 2>/dev/null
    done
    if [ -f $d/config.json ]; then "$bin" "${args[0]}" --resume $d --quiet --threads 2 >/dev/null 2>err.txt
    else "$bin" "${args[@]}" --out $d >/dev/null 2>err.txt; fi
    rc=$?
    # a run that had already finished says so when resumed
    if [ "$(hash_of $d)" = "$want" ]; then survived=$((survived + 1))
    else unhandled=1; echo "  $kind killed 3 times did not end with the reference bits (exit $rc): $(head -1 err.txt)"; fi
  done
done
part kill && echo "kills survived: $survived/$total (each run killed 3 times at random moments, then resumed)"

# -------------------------------------------------------------- tampers
tree_made=0
make_tree() {
  [ $tree_made = 1 ] && return 0
  "$bin" protocol run darts_space --budget tiny --methods darts1 --out tree --quiet >/dev/null 2>&1 ||
    { echo "  the tiny protocol did not finish"; exit 1; }
  tree_made=1
}
if part tamper; then
make_tree
root=$(sha256sum tree/MANIFEST.sha256 | cut -c1-64)
caught=0
forged_caught=0
forged_n=0
n=0
while IFS= read -r f; do
  n=$((n + 1))
  rm -rf t && cp -a tree t
  size=$(stat -c %s "t/$f")
  [ "$size" -gt 0 ] || { n=$((n - 1)); continue; }
  at=$(( (RANDOM * 32768 + RANDOM) % size ))
  printf "$(printf '\\%03o' $(( ( $(od -An -tu1 -j $at -N1 "t/$f") + 1 + RANDOM % 255) % 256 )))" |
    dd of="t/$f" bs=1 seek=$at conv=notrunc status=none
  "$bin" verify t >/dev/null 2>&1 && { unhandled=1; echo "  plain verify missed a flipped byte in $f"; } || caught=$((caught + 1))
  # the forger rebuilds every manifest the edit touches
  ( cd t && for m in runs/*/manifest.sha256 runs/*/host.sha256; do
      dir=$(dirname "$m"); list=$(basename "$m")
      awk '{print $2}' "$m" | (cd "$dir" && xargs -r sha256sum) > "$m.new" 2>/dev/null && mv "$m.new" "$m"
    done
    for m in MANIFEST.sha256 HOST.sha256; do
      awk '{print $2}' "$m" | xargs -r sha256sum > "$m.new" 2>/dev/null && mv "$m.new" "$m"
    done )
  # what HOST.sha256 lists is outside the root hash by design (env.json,
  # timing.json, the figures and the page); a flipped manifest is undone by
  # the forger's rebuild
  case "$f" in */env.json | */timing.json | figures/* | report.html | *.sha256) continue ;; esac
  forged_n=$((forged_n + 1))
  "$bin" verify t --root-hash "$root" >/dev/null 2>&1 && { unhandled=1; echo "  --root-hash missed a forged edit of $f"; } ||
    forged_caught=$((forged_caught + 1))
done < <(cd tree && find . -type f ! -name checkpoint.bin -printf '%P\n' | sort)
echo "tampers caught by plain verify: $caught/$n (one byte flipped in each file but checkpoints)"
echo "forged tampers caught by verify --root-hash: $forged_caught/$forged_n (the same edits with every manifest rebuilt; files outside the root hash and the manifests themselves left out)"
fi

# -------------------------------------------------------------- hostile
part hostile || exit $unhandled
make_tree
root=$(sha256sum tree/MANIFEST.sha256 | cut -c1-64)
hostile_ok=0
hostile_n=0
# expect RC PATTERN CMD...: within 60 s, exit RC and output matching PATTERN
# (grep -E), without a sanitizer report and without "hunter" (the secret
# that links below point at, which no reader may print)
expect() {
  local want=$1 pattern=$2
  shift 2
  hostile_n=$((hostile_n + 1))
  timeout "${limit:-60}" "$@" >out.txt 2>&1 < /dev/null
  local rc=$?
  if [ $rc = "$want" ] && grep -qE "$pattern" out.txt && ! grep -qi 'sanitizer\|runtime error\|hunter' out.txt; then
    hostile_ok=$((hostile_ok + 1))
  else
    unhandled=1
    echo "  hostile case not handled (exit $rc, wanted $want and /$pattern/): ${*/#$bin/tsedarts}"
    head -3 out.txt | sed 's/^/    /'
  fi
}
fresh() { rm -rf "$1" && cp -a tree "$1"; }
printf 'hunter2\n' > secret.txt
secret=$(realpath secret.txt)
# a stopped search to resume
"$bin" search --algo darts1 --budget smoke --dataset synthetic --quiet --threads 2 --stop-after 2 --out stopped >/dev/null 2>&1
mkfifo fifo.genotype
expect 1 'a FIFO, not a regular file' "$bin" genotype show fifo.genotype
expect 1 'a character device' "$bin" genotype show /dev/zero
expect 2 'a character device' "$bin" train --genotype /dev/zero --out t-zero
for f in checkpoint.bin config.json metrics.jsonl; do
  rm -rf s && cp -a stopped s && rm -f s/$f && mkfifo s/$f
  expect 1 'a FIFO, not a regular file' "$bin" search --resume s --quiet
done
rm -rf s && cp -a stopped s && truncate -s +64G s/checkpoint.bin
expect 1 'sections do not fill the file' "$bin" search --resume s --quiet
rm -rf s && cp -a stopped s && rm s/checkpoint.bin && truncate -s 64G s/checkpoint.bin
expect 1 'not a tsedarts checkpoint' "$bin" search --resume s --quiet
# verify with a FIFO, a device-sized giant or a link out in place of tree files
for f in plan.json MANIFEST.sha256 report.json report.md report.html; do
  fresh t && rm t/$f && mkfifo t/$f
  expect 1 'a FIFO, not a regular file' "$bin" verify t
  fresh t && rm t/$f && truncate -s 40G t/$f
  expect 1 'more than the' "$bin" verify t
  fresh t && ln -sf "$secret" t/$f
  expect 1 'symbolic link' "$bin" verify t
done
run=$(ls tree/runs | head -1)
for f in config.json metrics.jsonl result.json; do
  fresh t && ln -sf "$secret" t/runs/$run/$f
  expect 1 'symbolic link' "$bin" verify t
done
fresh t && mv t/runs t/runs-elsewhere && ln -s "$(realpath t/runs-elsewhere)" t/runs
expect 1 'symbolic link' "$bin" verify t
# the root hash in capitals is the same hash; a typo is a usage error
expect 0 '0 failed' "$bin" verify tree --root-hash "$(echo "$root" | tr a-f A-F)"
expect 2 'not a SHA-256' "$bin" verify tree --root-hash "${root:0:60}"
# a verdict that cannot be written
expect 1 'cannot write the output' sh -c '"$1" verify tree > /dev/full' sh "$bin"
# an edited number on the page, HOST.sha256 rebuilt as a forger would
fresh t
num=$(grep -o '<td class="num">[0-9.]* ([0-9.]*), n=[0-9]*</td>' t/report.html | head -1)
if [ -n "$num" ]; then
  sed -i "s|$num|<td class=\"num\">0.01 (0.00), n=3</td>|" t/report.html
  ( cd t && awk '{print $2}' HOST.sha256 | xargs -r sha256sum > HOST.new && mv HOST.new HOST.sha256 )
  expect 1 'FAIL  report.html' "$bin" verify t --root-hash "$root"
fi
# two writers on one directory
"$bin" search --algo darts1 --budget smoke --dataset synthetic --quiet --threads 1 --out busy >/dev/null 2>&1 &
busy=$!
for _ in $(seq 100); do [ -f busy/.tsedarts-lock ] && break; sleep 0.1; done
expect 1 'is being written by process' "$bin" search --algo darts1 --budget smoke --dataset synthetic --quiet --out busy
kill -9 $busy 2>/dev/null
wait $busy 2>/dev/null
# the dead holder's lock is taken over by the same command (a whole smoke
# search: more time than a refusal needs)
limit=600 expect 0 'genotype' "$bin" search --algo darts1 --budget smoke --dataset synthetic --quiet --threads 2 --out busy
fresh t2
"$bin" protocol report darts_space --out t2 >/dev/null 2>&1 &
report=$!
for _ in $(seq 50); do [ -f t2/.tsedarts-lock ] && break; sleep 0.05; done
if [ -f t2/.tsedarts-lock ]; then
  # (protocol run would leave this finished tree alone without writing, so
  # the second writer is a second report)
  expect 1 'is being written by process' "$bin" protocol report darts_space --out t2
fi
wait $report 2>/dev/null
# a finished tree run again is left alone, figures and all
fresh t
before=$(find t -type f | sort | xargs sha256sum | sha256sum)
expect 0 'left as it is' env TSEDARTS_PYTHON=/nonexistent "$bin" protocol run darts_space --budget tiny --methods darts1 --out t
[ "$(find t -type f | sort | xargs sha256sum | sha256sum)" = "$before" ] ||
  { unhandled=1; echo "  protocol run changed a finished tree"; }
# cancel on a tree that ran here
expect 1 'holds no Slurm submissions' "$bin" protocol cancel darts_space --out tree
# a start that never recorded anything does not block its directory
"$bin" search --algo darts1 --dataset synthetic --channels 2048 --layers 60 --epochs 1 --quiet --out never >/dev/null 2>&1
limit=600 expect 0 'genotype' "$bin" search --algo darts1 --budget smoke --dataset synthetic --quiet --threads 2 --out never
echo "hostile inputs handled: $hostile_ok/$hostile_n (FIFOs, devices, sparse giants, links out of the tree, two writers, a full disk, an edited page, a finished tree run again)"
exit $unhandled
