#!/usr/bin/env bash
# Quick start 2: install dependencies, build, and run every test (unit, MPI at 1/2/4 ranks, CLI, Slurm).
set -euo pipefail
cd "$(dirname "$0")/.."
bash cluster/setup.sh
# The partition fuzzer is built by clang with sanitizers in its own configuration; this build's
# ctest runs it for a bounded time (label fuzz, SLUICE_FUZZ_SECONDS).
bash cluster/build_fuzz.sh
bash cluster/build.sh -DBUILD_TESTING=ON -DSLUICE_FUZZ_HARNESS="$PWD/build-fuzz/tests/fuzz/fuzz_partition"
# Each MPI test oversubscribes up to 4 ranks on 2 cores; Slurm tests run alone (RUN_SERIAL).
(cd build && GTEST_COLOR=no ctest --output-on-failure --timeout 600 -j "$(nproc --all)" "$@")
# AddressSanitizer+UBSan over a bounded slice (unit tests of the reading, statistics and snapshot
# layers, the MPI driver tests at 2 ranks, two e2e tests) in its own build, ./build-asan;
# SLUICE_SANITIZE_FULL=1 runs the whole suite there. SLUICE_CI_SANITIZERS=0 skips it.
if [[ ${SLUICE_CI_SANITIZERS:-1} != 0 ]]; then
  bash cluster/test_sanitizers.sh address
fi
