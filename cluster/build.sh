#!/usr/bin/env bash
# Configures and builds Sluice (Release, Ninja) into ./build; extra arguments go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build --parallel "$(nproc --all)"
