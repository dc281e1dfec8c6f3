#!/usr/bin/env bash
# Configures and builds the libFuzzer harness (clang, ASan+UBSan) into ./build-fuzz; extra
# arguments go to cmake. Only the harness and the layers it links are compiled.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_FUZZ=ON \
      -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ "$@" >/dev/null
cmake --build build-fuzz --parallel "$(nproc --all)" --target fuzz_partition
