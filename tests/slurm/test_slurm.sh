#!/usr/bin/env bash
# The protocol through a real Slurm: a one-node cluster (cluster.sh), the
# tiny protocol submitted to it, one job killed mid-run, `protocol cancel`,
# the same command again resubmitting only what is not done, and the root
# hash compared with the local executor's. Also: a second submission of the
# same plan submits nothing, and one made while the lock is held is refused.
# Exit 77 (ctest: not run) where Slurm cannot be started, unless
# TSEDARTS_REQUIRE_SLURM=1 (CI), where that is a failure.
set -euo pipefail
bin=$(realpath "${1:?path to tsedarts}")
here=$(cd "$(dirname "$0")" && pwd)
methods=${TSEDARTS_SLURM_METHODS:-darts1,tse}
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive

scratch=$(mktemp -d "${TMPDIR:-/tmp}/tsedarts-slurm-XXXXXX")
cleanup() {
  "$here/cluster.sh" stop "$scratch/cluster" || true
  [ -n "${TSEDARTS_KEEP_SCRATCH:-}" ] || rm -rf "$scratch"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

set +e
env_line=$("$here/cluster.sh" start "$scratch/cluster")
code=$?
set -e
if [ $code -eq 77 ]; then
  [ "${TSEDARTS_REQUIRE_SLURM:-0}" = 1 ] && fail "Slurm is required here but could not be started"
  exit 77
fi
[ $code -eq 0 ] || fail "cluster.sh start exited $code"
eval "$env_line"
echo "cluster up: $SLURM_CONF"

args=(darts_space --budget tiny --dataset synthetic --methods "$methods" --threads 1)
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
t0=$(date +%s.%N)
"$bin" protocol run "${args[@]}" --quiet --out "$scratch/local" > "$scratch/local.out"
t1=$(date +%s.%N)
local_root=$(awk '/^root hash/ {print $3}' "$scratch/local.out")
echo "local: root hash $local_root, $(seconds "$t0" "$t1") s"

out="$scratch/slurm"
tag_jobs() { squeue --noheader --format='%i %j %T %r' | grep " tsedarts-" || true; }
submissions() { grep -c '"event":"submitted"' "$out/slurm/submissions.jsonl"; }

t0=$(date +%s.%N)
"$bin" protocol run "${args[@]}" --out "$out" --executor slurm
first=$(submissions)

# the same plan again while it runs: the queue already holds every run
"$bin" protocol run "${args[@]}" --out "$out" --executor slurm
[ "$(submissions)" = "$first" ] || fail "a second submission of the same plan submitted jobs again"
# and while another submission holds the lock: refused
flock "$out/slurm/locks/submit.lock" sleep 3 &
sleep 0.5
if "$bin" protocol run "${args[@]}" --out "$out" --executor slurm 2> "$scratch/locked.err"; then
  fail "a submission went ahead while another held the lock"
fi
grep -q "held by another process" "$scratch/locked.err" || fail "no lock message: $(cat "$scratch/locked.err")"
wait

# kill a job mid-run: freeze the running tasks while a run has started
# and has no result, then cancel them; Slurm's SIGTERM makes the run save a
# checkpoint and stop. A run whose last step was already under way may
# finish instead: then resubmit and try again.
ours() { squeue --noheader --states="$1" --format='%i %j' | awk '$2 ~ /^tsedarts-/ {print $1}'; }
started() {
  for c in "$out"/runs/*/config.json; do
    d=$(dirname "$c")
    [ -e "$c" ] && [ ! -e "$d/result.json" ] && [ ! -e "$d/failure.json" ] && { echo "$d"; return; }
  done
  true
}
# nothing runs, some job can never start, the rest wait on dependencies
stalled() {
  [ -z "$(ours RUNNING)" ] &&
    [ -z "$(squeue --noheader --states=PENDING --format='%j %r' | awk '$1 ~ /^tsedarts-/ && $2 !~ /^Dependency/')" ] &&
    squeue --noheader --states=PENDING --format='%j %r' | grep -q '^tsedarts-.* DependencyNeverSatisfied'
}
victim=""
for attempt in 1 2 3 4 5 6; do
  caught=""
  for _ in $(seq 3000); do
    running=$(ours RUNNING)
    if [ -n "$running" ] && [ -n "$(started)" ]; then
      scancel --signal=STOP $running || true
      caught=$(started)
      [ -n "$caught" ] && break
      scancel --signal=CONT $running || true
    fi
    [ -z "$(tag_jobs)" ] && break
    sleep 0.05
  done
  [ -n "$caught" ] || fail "no run was ever caught under way"
  echo "killing $running (run $(basename "$caught") under way)"
  scancel $running || true
  # until the cancelled tasks have left the queue
  for _ in $(seq 120); do
    left=$(squeue --noheader --format=%i | grep -Fx -f <(printf '%s\n' $running) || true)
    [ -z "$left" ] && break
    sleep 0.5
  done
  if [ -e "$caught/checkpoint.bin" ] && [ ! -e "$caught/result.json" ]; then
    victim=$caught
    for _ in $(seq 300); do stalled && sleep 3 && stalled && break; sleep 1; done
    break
  fi
  echo "attempt $attempt: it finished before the signal; resubmitting and trying again"
  # the scheduler marks what waited on the cancelled job as never to start
  sleep 6
  "$bin" protocol run "${args[@]}" --quiet --out "$out" --executor slurm
done
[ -n "$victim" ] || fail "no job was killed mid-run in 6 attempts"
echo "--- protocol status after the kill"
"$bin" protocol status darts_space --out "$out" | tee "$scratch/status.txt"
grep -q "failed (job" "$scratch/status.txt" || fail "status does not show the killed job as failed"
"$bin" protocol cancel darts_space --out "$out"
sleep 2
[ -z "$(tag_jobs)" ] || fail "jobs left after protocol cancel: $(tag_jobs)"
ls "$out"/slurm/logs/*.log > /dev/null || fail "no job logs kept"

# the same command again: only what is not done is submitted; the killed
# run resumes from its checkpoint
before=$(submissions)
"$bin" protocol run "${args[@]}" --out "$out" --executor slurm --wait | tee "$scratch/slurm.out"
t1=$(date +%s.%N)
[ "$(submissions)" -gt "$before" ] || fail "nothing was resubmitted"
slurm_root=$(awk '/^root hash/ {print $3}' "$scratch/slurm.out")
echo "slurm: root hash $slurm_root, $(seconds "$t0" "$t1") s including the kill and resubmission"
resumed=$(grep -l '"resumed": true' "$out"/runs/*/timing.json | wc -l)
echo "runs resumed from a checkpoint: $resumed"
[ "$resumed" -ge 1 ] || fail "no run resumed from its checkpoint"
[ -n "$slurm_root" ] || fail "the Slurm protocol did not finish"
[ "$slurm_root" = "$local_root" ] || fail "root hashes differ: slurm $slurm_root, local $local_root"
"$bin" verify "$out" --root-hash "$local_root" | tail -2
diff -r --exclude=timing.json --exclude=host.sha256 "$scratch/local/runs" "$out/runs" || fail "run directories differ"
# verify's check of slurm/ can fail: an edited record, an unlisted file
cp "$out/slurm/submissions.jsonl" "$scratch/records"
sed -i '1s/"job_id":[0-9]*/"job_id":999/' "$out/slurm/submissions.jsonl"
if "$bin" verify "$out" > "$scratch/tampered.txt"; then fail "verify passed an edited slurm/submissions.jsonl"; fi
grep -q "^FAIL.*executor records" "$scratch/tampered.txt" || fail "verify did not name slurm/: $(cat "$scratch/tampered.txt")"
cp "$scratch/records" "$out/slurm/submissions.jsonl"
touch "$out/slurm/extra.txt"
if "$bin" verify "$out" > /dev/null; then fail "verify passed an unlisted file in slurm/"; fi
rm "$out/slurm/extra.txt"
"$bin" verify "$out" > /dev/null || fail "verify fails on the restored tree"
echo "PASS: slurm and local give the root hash $local_root"
