#!/usr/bin/env bash
# Quick start 2: install dependencies, build, and run every test (unit, MPI at 1/2/4 ranks, CLI, Slurm).
set -euo pipefail
cd "$(dirname "$0")/.."
bash cluster/setup.sh
# The partition fuzzer is built by clang with sanitizers in its own configuration; this build's
# ctest runs it for a bounded time (label fuzz, SLUICE_FUZZ_SECONDS).
bash cluster/build_fuzz.sh
bash cluster/build.sh -DBUILD_TESTING=ON -DSLUICE_FUZZ_HARNESS="$PWD/build-fuzz/tests/fuzz/fuzz_partition"
cd build
# Each MPI test oversubscribes up to 4 ranks on 2 cores; Slurm tests run alone (RUN_SERIAL).
GTEST_COLOR=no ctest --output-on-failure --timeout 600 -j "$(nproc --all)" "$@"
