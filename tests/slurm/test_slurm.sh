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
hold="$scratch/hold"
holder=
cleanup() {
  # a lock holder still waiting (a failure while it held the lock)
  [ -n "$holder" ] && kill "$holder" 2>/dev/null || true
  # a run still held (a failure before its job was cancelled) is ours to end
  [ -s "$hold" ] && [ ! -e "$hold.ended" ] && kill -TERM "$(cut -d' ' -f1 "$hold")" 2>/dev/null || true
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

# The first submission's jobs carry the hold hook (core/base/runtime.c,
# test_hold_point): the first run to finish one unit of work claims $hold,
# writes its pid and directory there and waits until it is signalled, so
# the kill below always finds a run under way, however busy the machine.
t0=$(date +%s.%N)
TSEDARTS_TEST_HOLD_FILE=$hold TSEDARTS_TEST_HOLD_AFTER=1 \
  "$bin" protocol run "${args[@]}" --out "$out" --executor slurm
first=$(submissions)

# the same plan again while it runs: the queue already holds every run
"$bin" protocol run "${args[@]}" --out "$out" --executor slurm
[ "$(submissions)" = "$first" ] || fail "a second submission of the same plan submitted jobs again"
# and while another submission holds the lock: refused. The holder keeps
# it until told to let go, so the attempt cannot come before it has it. Its
# lock is an fcntl lock, which the submissions' locks (file_lock.h) meet;
# a flock(1) they would not see.
/usr/bin/python3 - "$out/slurm/locks/submit.lock" "$scratch/locked" "$scratch/unlock" <<'PY' &
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.1)
PY
holder=$!
for _ in $(seq 1200); do [ -e "$scratch/locked" ] && break; sleep 0.1; done
[ -e "$scratch/locked" ] || fail "the lock holder never took the lock"
if "$bin" protocol run "${args[@]}" --out "$out" --executor slurm 2> "$scratch/locked.err"; then
  fail "a submission went ahead while another held the lock"
fi
grep -q "held by another process" "$scratch/locked.err" || fail "no lock message: $(cat "$scratch/locked.err")"
touch "$scratch/unlock"
wait "$holder"

# kill a job mid-run: the held run's job is cancelled; Slurm's SIGTERM
# makes the run save a checkpoint and stop.
ours() { squeue --noheader --states="$1" --format='%i %j' | awk '$2 ~ /^tsedarts-/ {print $1}'; }
# nothing runs, some job can never start, the rest wait on dependencies
stalled() {
  [ -z "$(ours RUNNING)" ] &&
    [ -z "$(squeue --noheader --states=PENDING --format='%j %r' | awk '$1 ~ /^tsedarts-/ && $2 !~ /^Dependency/')" ] &&
    squeue --noheader --states=PENDING --format='%j %r' | grep -q '^tsedarts-.* DependencyNeverSatisfied'
}
for _ in $(seq 2400); do [ -s "$hold" ] && break; sleep 0.5; done
[ -s "$hold" ] || fail "no run reached the hold point in 20 minutes"
read -r held_pid victim < "$hold"
job=$(tr '\0' '\n' < "/proc/$held_pid/environ" | sed -n 's/^SLURM_JOB_ID=//p')
[ -n "$job" ] || fail "the held run (pid $held_pid) is not in a Slurm job"
echo "killing job $job (run $(basename "$victim") held mid-run)"
scancel "$job"
# until the cancelled task has left the queue and its process has ended
for _ in $(seq 600); do
  if ! squeue --noheader --format=%A | grep -qx "$job" && ! kill -0 "$held_pid" 2>/dev/null; then break; fi
  sleep 0.5
done
kill -0 "$held_pid" 2>/dev/null && fail "the held run outlived its cancelled job"
# its pid is no longer ours to signal; $hold stays, so no later run holds
touch "$hold.ended"
[ -e "$victim/checkpoint.bin" ] || fail "the killed run left no checkpoint"
[ ! -e "$victim/result.json" ] || fail "the killed run finished"
for _ in $(seq 300); do stalled && sleep 3 && stalled && break; sleep 1; done
echo "--- protocol status after the kill"
"$bin" protocol status darts_space --out "$out" | tee "$scratch/status.txt"
grep -q "failed (job" "$scratch/status.txt" || fail "status does not show the killed job as failed"
"$bin" protocol cancel darts_space --out "$out"
for _ in $(seq 240); do [ -z "$(tag_jobs)" ] && break; sleep 0.5; done
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
