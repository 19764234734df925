#!/usr/bin/env bash
# Installs the Debian packages tsedarts needs to build, test and run its
# default job. Run it as root or as a user with sudo: it asks sudo for
# root only when a package is missing and it is not root already (a fresh
# machine where you are root may have no sudo at all).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  build-essential cmake pkg-config  # compiler and build
  libcriterion-dev                  # tests
  python3-torch                     # the tests against PyTorch (test_oracle, test_dirichlet)
  libssl-dev zlib1g-dev libjansson-dev liblapacke-dev  # SHA-256, gzip, JSON, eigenvalues
  dataset-fashion-mnist             # the embedded default data
  slurm-wlm munge                   # the Slurm executor's test: a one-node cluster
  clang libclang-rt-14-dev libomp-14-dev  # the fuzz targets (libFuzzer) and OpenMP for clang
  python3-matplotlib graphviz       # figures (curves, report) and cells drawn (dot)
  chromium                          # looking at report.html headless (screenshots)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-deps: missing ${missing[*]}; installing them needs root, and there is no sudo: run this as root" >&2
    exit 1
  fi
  exec sudo -- "$(readlink -f "$0")" "$@"
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: all packages present"
