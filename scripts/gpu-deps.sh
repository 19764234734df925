#!/usr/bin/env bash
# Fetches, here, the Debian packages the build needs that the GPU machine
# lacks (it reaches no package registry): Criterion, jansson, LAPACKE,
# OpenSSL and zlib headers and libraries, and pkg-config. They land in
# .deps/debs (ignored by git, about 12 MB), which the device call carries;
# scripts/gpu-check.sh unpacks them with dpkg -x into a private prefix.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(
  libcriterion-dev libcriterion3 libnanomsg5 libgit2-1.5 libhttp-parser2.9 libmbedtls14 libmbedx509-1
  libmbedcrypto7 libssh2-1 libpcre2-8-0                           # Criterion and what it links
  libjansson-dev libjansson4                                      # JSON
  liblapacke-dev liblapacke libtmglib3 liblapack3 liblapack-dev libblas3 libblas-dev libgfortran5 libquadmath0
                                                                  # eigenvalues
  libssl-dev libssl3 zlib1g-dev                                   # SHA-256, gzip
  pkgconf pkgconf-bin libpkgconf3                                 # pkg-config itself
)
mkdir -p .deps/debs
cd .deps/debs
rm -f ./*.deb
apt-get download "${packages[@]}"
echo "gpu-deps: $(ls ./*.deb | wc -l) packages, $(du -sh . | cut -f1) in .deps/debs"
