#!/usr/bin/env bash
# Installs the Debian packages tsedarts needs to build, test and run its
# default job. Run as root (or through sudo).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  build-essential cmake pkg-config  # compiler and build
  libcriterion-dev                  # tests
  libssl-dev zlib1g-dev libjansson-dev liblapacke-dev  # SHA-256, gzip, JSON, eigenvalues
  dataset-fashion-mnist             # the embedded default data
  slurm-wlm munge                   # the Slurm executor's test: a one-node cluster
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "install-deps: all packages present"
