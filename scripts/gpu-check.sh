#!/usr/bin/env bash
# The check of the CUDA backend on a GPU, prepared as one command. It
# builds tsedarts with the CUDA backend, runs every gpu test and
# `selftest --device cuda` on both sides of the convolution switch
# (TSEDARTS_GPU_CONV=own|cudnn; selftest also says which ops give the CPU's
# f32 bits), runs a smoke search twice and compares the hashes of its
# files, times the search step (darts1 at 8 cells first, then darts2, tse
# and 20 cells) and the retraining step, ours on both convolution paths
# and batched (TSEDARTS_BATCH=1), against the PyTorch peer in its fastest and its deterministic mode on the
# same GPU, the darts1 step with its scalars read back by the host and kept on the device
# (TSEDARTS_DEVICE_STEP=0 and 1) one after the other, then batch 256, the per-op GPU-time profile, DrNAS and PDARTS
# smoke searches, the tiny protocol with verify and a replay, and the tiny
# protocol again over every GPU (--device cuda:all) with its root hash
# compared with the one on cuda:0, and its estimate (protocol plan). One
# summary goes to $OUT/gpu-summary.txt, everything printed to
# $OUT/gpu-details.log. GPU_CHECK_QUICK=1 leaves out the darts2/tse/20-cell
# timings.
#
# Before it travels (here, with network): scripts/gpu-deps.sh fetches the
# packages the GPU machine lacks into .deps/debs. On the GPU machine, with
# the device tool: run `scripts/gpu-check.sh` carrying .deps, timeout 600 s.
# Without a GPU it dry-runs: it builds the same way, runs the gpu tests
# (which report not run) and says that the device part did not run.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
OUT=${OUT:-$root/out/gpu-check}
mkdir -p "$OUT"
summary=$OUT/gpu-summary.txt
details=$OUT/gpu-details.log
: >"$summary"
: >"$details"
t_start=$(date +%s)
say() { echo "$*" | tee -a "$summary"; }
# step NAME SECONDS COMMAND...: runs it with a time limit, output to the
# details log; says how it ended and how long it took
step() {
  local name=$1 limit=$2 t0 rc
  shift 2
  t0=$(date +%s)
  echo "=== $name: $*" >>"$details"
  timeout --signal=KILL "$limit" "$@" >>"$details" 2>&1
  rc=$?
  say "$(printf '%-28s %s (%d s)' "$name" "$([ $rc = 0 ] && echo ok || echo "exit $rc")" $(($(date +%s) - t0)))"
  return $rc
}

say "tsedarts gpu-check, $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (edited)'), $(date -u +%Y-%m-%dT%H:%MZ)"

# --- the packages the build needs, from .deps/debs, in a private prefix
deps=/tmp/tsedarts-deps
if [ -d .deps/debs ] && ls .deps/debs/*.deb >/dev/null 2>&1; then
  rm -rf "$deps" && mkdir -p "$deps"
  for f in .deps/debs/*.deb; do
    if command -v dpkg >/dev/null 2>&1; then
      dpkg -x "$f" "$deps"
    else # a .deb is an ar archive holding data.tar.*
      member=$(ar t "$f" | grep '^data\.tar')
      ar p "$f" "$member" | tar -x -a -f - -C "$deps" 2>/dev/null || ar p "$f" "$member" | tar -xJ -C "$deps"
    fi
  done
  lib=$deps/usr/lib/x86_64-linux-gnu
  # Debian names BLAS and LAPACK through alternatives, which dpkg -x does
  # not set up: the reference ones, by the names pkg-config looks for
  ln -sf blas-netlib.pc "$lib/pkgconfig/blas.pc"
  ln -sf lapack-netlib.pc "$lib/pkgconfig/lapack.pc"
  export PATH=$deps/usr/bin:$PATH
  export PKG_CONFIG_SYSROOT_DIR=$deps PKG_CONFIG_LIBDIR=$lib/pkgconfig:$deps/usr/share/pkgconfig
  export LD_LIBRARY_PATH=$lib:$lib/lapack:$lib/blas:$deps/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  dep_flags=(-DCMAKE_PREFIX_PATH="$deps/usr" -DOPENSSL_ROOT_DIR="$deps/usr"
             "-DCMAKE_C_FLAGS=-isystem $deps/usr/include/x86_64-linux-gnu"
             "-DCMAKE_EXE_LINKER_FLAGS=-Wl,-rpath-link,$lib:$lib/lapack:$lib/blas -L$lib/lapack -L$lib/blas")
  say "packages: $(ls .deps/debs/*.deb | wc -l) carried, unpacked in $deps"
else
  dep_flags=()
  say "packages: none carried (.deps/debs is empty; scripts/gpu-deps.sh fetches them): using the system's"
fi

# --- cuDNN: the toolkit's, else the one in PyTorch's wheel
cudnn_flags=()
if [ ! -f /usr/local/cuda/include/cudnn.h ] && [ ! -f /usr/include/cudnn.h ]; then
  wheel=$(python3 -c 'import nvidia.cudnn as m; print(m.__path__[0])' 2>/dev/null || true)
  if [ -n "$wheel" ] && [ -f "$wheel/include/cudnn.h" ]; then
    so=$(ls "$wheel"/lib/libcudnn.so* | head -1)
    cudnn_flags=(-DCUDNN_INCLUDE_DIR="$wheel/include" -DCUDNN_LIBRARY="$so")
    export LD_LIBRARY_PATH=$wheel/lib:$LD_LIBRARY_PATH
    say "cudnn: PyTorch's wheel ($so)"
  else
    say "cudnn: not found (no toolkit headers, no nvidia-cudnn wheel)"
  fi
else
  say "cudnn: the toolkit's"
fi

# --- the GPU, if any
gpu=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  gpu=1
  say "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)"
else
  say "gpu: NONE PRESENT: this is a dry run; the device part below does not run"
fi

# --- build, CUDA backend included (warnings are errors in gpu/)
build=build/gpu-check
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
rm -rf "$build"
step configure 120 cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DTSEDARTS_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 "${dep_flags[@]}" "${cudnn_flags[@]}" || { say "stop: configure failed"; exit 1; }
grep -q 'CUDA backend ON' "$details" || { say "stop: the CUDA backend was not configured (see the log)"; exit 1; }
step build 300 cmake --build "$build" -j "$(nproc)" || { say "stop: build failed"; exit 1; }
bin=$build/tsedarts

# --- gpu tests and selftest, on both sides of the convolution switch
step "ctest -L gpu" 330 ctest --test-dir "$build" -L gpu --output-on-failure --timeout 300
grep -E 'tests passed|Not Run|Skipped|Failed|\*\*\*' "$details" | tail -6 | sed 's/^/    /' | tee -a "$summary"
for conv in own cudnn; do
  step "selftest ($conv convs)" 120 env TSEDARTS_GPU_CONV=$conv "$bin" selftest --device cuda
  grep -E 'rows passed|not run|^f32 bits|^ops whose|^ops with' "$details" | tail -4 | sed 's/^/    /' | tee -a "$summary"
done
if [ $gpu = 0 ]; then
  # the device list without a GPU: cuda:all counts none and says so
  step "cuda:all without a GPU" 60 "$bin" protocol plan darts_space --budget tiny --dataset synthetic --device cuda:all
  grep -E 'cuda:all' "$details" | tail -1 | sed 's/^/    /' | tee -a "$summary"
  say "dry run complete: built with the CUDA backend; no GPU, so nothing ran on one ($(($(date +%s) - t_start)) s)"
  exit 0
fi

# --- determinism: a smoke search twice
for k in 1 2; do
  rm -rf "/tmp/gpu-smoke-$k"
  step "smoke search $k" 120 "$bin" search --device cuda --algo tse --budget smoke --dataset synthetic --quiet \
    --out "/tmp/gpu-smoke-$k"
done
h1=$(cd /tmp/gpu-smoke-1 && sha256sum weights.safetensors alphas.safetensors metrics.jsonl genotype.txt 2>/dev/null)
h2=$(cd /tmp/gpu-smoke-2 && sha256sum weights.safetensors alphas.safetensors metrics.jsonl genotype.txt 2>/dev/null)
if [ -n "$h1" ] && [ "$h1" = "$h2" ]; then say "    same bits twice: yes"; else say "    same bits twice: NO"; fi
echo "$h1" | sed 's/^/    /' | tee -a "$summary"

# --- ours (both convolution paths) against the PyTorch peer (its fastest
# mode: cudnn.benchmark, TF32 as PyTorch sets it; and its deterministic
# mode: use_deterministic_algorithms, no TF32), same GPU, same run.
# seconds: the figure of the last "step: S s/step" line in the log
last_step() { grep -E '^(train )?step:' "$details" | tail -1 | sed -E 's/.*step: ([0-9.]+) s\/step.*/\1/'; }
# timed NAME ARGS...: a step, its figure in the summary, kept in $t
timed() {
  local name=$1 from
  shift
  t=
  from=$(wc -l <"$details")
  step "$name" 150 "$@" && t=$(last_step)
  say "    ${t:-?} s/step"
  tail -n +$((from + 1)) "$details" | grep -E 'launches per step' | tail -1 | sed 's/^ */    /' | tee -a "$summary"
  # the arena: batching reorders a window by level, which can grow it
  tail -n +$((from + 1)) "$details" | grep -oE 'activation arena [0-9]+ MiB' | tail -1 | sed 's/^/    /' |
    tee -a "$summary"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2fx", a / b; else print "?" }'; }
# compare WHAT OURS_ARGS -- PEER_ARGS: ours on both paths, the peer in both
# modes, then one line of ratios
compare() {
  local what=$1 ours=() peer=()
  shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do ours+=("$1"); shift; done
  shift
  peer=("$@")
  timed "ours $what (own convs, batched)" env TSEDARTS_GPU_CONV=own TSEDARTS_BATCH=1 "$bin" "${ours[@]}"
  local batched=$t
  timed "ours $what (own convs)" env TSEDARTS_GPU_CONV=own "$bin" "${ours[@]}"; local own=$t
  timed "ours $what (cudnn convs)" env TSEDARTS_GPU_CONV=cudnn "$bin" "${ours[@]}"; local old=$t
  timed "peer $what (fastest)" python3 bench/peer_pytorch.py "${peer[@]}"; local fast=$t
  timed "peer $what (deterministic)" python3 bench/peer_pytorch.py "${peer[@]}" --deterministic; local det=$t
  say "    $what: own convs are $(ratio "$old" "$own") faster than cudnn convs; against the peer: \
$(ratio "$fast" "$own") (fastest), $(ratio "$det" "$own") (deterministic)"
  say "    $what, batched: $(ratio "$own" "$batched") faster than unbatched; against the peer: \
$(ratio "$fast" "$batched") (fastest), $(ratio "$det" "$batched") (deterministic)"
}
say "bench: f32; ours deterministic (pinned algorithms, CUDA graphs); search steps batch 64, C=16"
compare "darts1 L=8" bench step --device cuda --algo darts1 --batch 64 --channels 16 --layers 8 --steps 5 -- \
  --device cuda --algo darts1 --batch 64 --channels 16 --layers 8 --steps 5 --warmup 2
# --- the step's scalars read back by the host after each pass (=0) and kept
# on the device with pinned, double-buffered uploads (=1), same run
step_args=(bench step --device cuda --algo darts1 --batch 64 --channels 16 --layers 8 --steps 5)
timed "ours darts1 L=8 (scalars read back)" env TSEDARTS_DEVICE_STEP=0 "$bin" "${step_args[@]}"
read_back=$t
timed "ours darts1 L=8 (device step)" env TSEDARTS_DEVICE_STEP=1 "$bin" "${step_args[@]}"
on_device=$t
say "    darts1 L=8: TSEDARTS_DEVICE_STEP=0 ${read_back:-?} s/step, =1 ${on_device:-?} s/step: \
$(ratio "$read_back" "$on_device") faster on the device"
say "retraining step: DARTS_V2, C=36, 20 cells, batch 96, auxiliary head, drop path"
compare "train" bench train --device cuda --steps 5 -- --train-step --device cuda --steps 5 --warmup 2

# --- batch 256 and the per-op profile
step "batch 256 darts1 L=8" 120 "$bin" bench step --device cuda --algo darts1 --batch 256 --steps 2 --warmup 1
grep -E '^step:|error' "$details" | tail -1 | sed 's/^/    /' | tee -a "$summary"
step "profile darts1 L=8" 120 "$bin" bench step --device cuda --algo darts1 --steps 2 --warmup 1 --profile
sed -n '/kernel profile/,$p' "$details" | head -16 | sed 's/^/    /' | tee -a "$summary"
grep -E 'launches per step' "$details" | tail -1 | sed 's/^/    /' | tee -a "$summary"
step "sync after each node" 120 env TSEDARTS_SYNC_EACH_NODE=1 "$bin" bench step --device cuda --algo darts1 --steps 1 \
  --warmup 1
grep -E '^step:' "$details" | tail -1 | sed 's/^/    /' | tee -a "$summary"

# --- the rest of the matrix (GPU_CHECK_QUICK=1 leaves it out)
if [ "${GPU_CHECK_QUICK:-0}" != 1 ]; then
  for cfg in "darts2 8" "tse 8" "darts1 20" "tse 20" "darts2 20"; do
    set -- $cfg
    n=$([ "$2" = 20 ] && echo 2 || echo 3)
    compare "$1 L=$2" bench step --device cuda --algo "$1" --batch 64 --channels 16 --layers "$2" --steps $n -- \
      --device cuda --algo "$1" --batch 64 --channels 16 --layers "$2" --steps $n --warmup 1
  done
fi

# --- DrNAS, PDARTS, and the tiny protocol with verify and a replay
for algo in drnas pdarts; do
  rm -rf "/tmp/gpu-$algo"
  step "smoke $algo" 120 "$bin" search --device cuda --algo "$algo" --budget smoke --dataset synthetic --quiet \
    --out "/tmp/gpu-$algo"
done
rm -rf /tmp/gpu-tiny
step "tiny protocol" 180 "$bin" protocol run darts_space --budget tiny --dataset synthetic --device cuda \
  --out /tmp/gpu-tiny --jobs 4
root_one=$(sed -n 's/^root hash //p' "$details" | tail -1)
step "verify tiny" 60 "$bin" verify /tmp/gpu-tiny
grep -E 'checks, .* failed' "$details" | tail -1 | sed 's/^/    /' | tee -a "$summary"
run=$(ls -d /tmp/gpu-tiny/runs/*/ 2>/dev/null | head -1)
[ -n "$run" ] && step "replay one run" 120 "$bin" verify --replay "$run" --epochs all

# --- every GPU of this machine: the tiny protocol over --device cuda:all,
# one run per GPU at a time (with one GPU, cuda:all is cuda:0), must give
# the root hash of the run on cuda:0 above; then its estimate on them
say "gpus: $(nvidia-smi -L | wc -l), the tiny protocol over cuda:all"
rm -rf /tmp/gpu-tiny-all
from=$(wc -l <"$details")
step "tiny protocol, cuda:all" 180 "$bin" protocol run darts_space --budget tiny --dataset synthetic \
  --device cuda:all --out /tmp/gpu-tiny-all
root_all=$(tail -n +$((from + 1)) "$details" | sed -n 's/^root hash //p' | tail -1)
grep -E '^estimate: ' "$details" | tail -1 | sed 's/^/    /' | tee -a "$summary"
if [ -n "$root_one" ] && [ "$root_all" = "$root_one" ]; then
  say "    root hash of cuda:all = that of cuda:0: yes ($root_all)"
else
  say "    root hash of cuda:all = that of cuda:0: NO (cuda:0 ${root_one:-none}, cuda:all ${root_all:-none})"
fi
step "plan, tiny, cuda:all" 120 "$bin" protocol plan darts_space --budget tiny --dataset synthetic --device cuda:all
grep -E '^  total|^wall time' "$details" | tail -2 | sed 's/^/    /' | tee -a "$summary"
say "done in $(($(date +%s) - t_start)) s"
