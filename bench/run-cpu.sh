#!/usr/bin/env bash
# The CPU figures of bench/README.md: a search step of tsedarts and of the
# PyTorch peer (same supernet, same step, same threads) at batch 64, C=16,
# 8 and 20 layers, and one exact against one first-order TSE gradient.
# Usage: bench/run-cpu.sh [THREADS] [LAYERS...]   (default: 2 threads, 8 20)
# The peer runs only up to PEER_MAX_LAYERS layers (default 8): its memory.
# Run it on an otherwise idle machine: the figures are wall-clock times.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
[ $# -gt 0 ] && shift
if [ $# -gt 0 ]; then layers=("$@"); else layers=(8 20); fi
bin=build/cpu/tsedarts
[ -x "$bin" ] || { cmake --preset cpu > /dev/null && cmake --build --preset cpu; }
py=/usr/bin/python3
for L in "${layers[@]}"; do
  echo "== darts1 step, batch 64, C=16, $L layers, $threads threads"
  echo "-- tsedarts: $bin bench step --algo darts1 --batch 64 --layers $L --channels 16 --threads $threads --steps 5"
  "$bin" bench step --algo darts1 --batch 64 --layers "$L" --channels 16 --threads "$threads" --steps 5
  if [ "$L" -gt "${PEER_MAX_LAYERS:-8}" ]; then
    # the peer passed 23 GiB resident at 20 layers on a 24 GiB machine
    echo "-- peer: not run at $L layers (PEER_MAX_LAYERS=${PEER_MAX_LAYERS:-8}; it needs over 23 GiB at 20)"
  elif "$py" -c "import torch" 2> /dev/null; then
    echo "-- peer: $py bench/peer_pytorch.py --algo darts1 --batch 64 --layers $L --channels 16 --threads $threads --steps 3"
    "$py" bench/peer_pytorch.py --algo darts1 --batch 64 --layers "$L" --channels 16 --threads "$threads" --steps 3 ||
      echo "peer: failed (exit $?)"
  else
    echo "-- peer: not run (no torch for $py)"
  fi
done
echo "== exact vs first-order TSE gradient"
echo "-- $bin bench tse-gradient --layers 4 --channels 4 --batch 16 --tse-steps 100 --threads $threads"
"$bin" bench tse-gradient --layers 4 --channels 4 --batch 16 --tse-steps 100 --threads "$threads"
