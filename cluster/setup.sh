#!/usr/bin/env bash
# Installs every Debian package Sluice needs to build, test, benchmark and run under Slurm.
# Idempotent and non-interactive: packages already present are left as they are.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libopenmpi-dev openmpi-bin
  libhdf5-openmpi-dev hdf5-tools
  libeigen3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev libxxhash-dev nlohmann-json3-dev
  libcairo2-dev libmuparser-dev
  python3 python3-h5py python3-numpy python3-sklearn python3-pandas python3-matplotlib
  python3-dask python3-distributed python3-xxhash libopenblas0-pthread
  slurm-wlm munge
  libcpp-httplib-dev wrk
  clang libclang-rt-14-dev libomp-dev
  iproute2 util-linux
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages already installed"
  exit 0
fi

sudo_cmd=()
[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
echo "setup: installing ${#missing[@]} packages: ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
