#!/usr/bin/env bash
# Quick start 1: install dependencies, build, generate a demo lake and run the demo job on 4 ranks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash cluster/setup.sh
bash cluster/build.sh -DBUILD_TESTING=OFF

# As root Open MPI refuses to start (and exits 0) without these two variables.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
sluice=$PWD/build/apps/sluice
demo=${SLUICE_DEMO_DIR:-$PWD/demo}
rm -rf "$demo/lake"
mkdir -p "$demo"

echo "== generating the demo lake in $demo/lake"
timeout 600 mpirun -n 2 --oversubscribe "$sluice" gen --out "$demo/lake" --partitions 16 \
  --rows 250000 --features 16 --skew 0.5 --seed 2026 --chunk-rows 65536 \
  --truth "$demo/truth.json" --job "$demo/job.toml" --registry "$demo/registry" --name demo

# The demo job trains through a pipeline: a row filter, a derived column, a mean imputer and a
# standard scaler fitted across ranks, with a 10 % validation split.
features=$(sed -n 's/^features = \[\(.*\)\]/\1/p' "$demo/job.toml")
cat > "$demo/pipeline_job.toml" <<JOB
[lake]
path = "$demo/lake"
block_rows = 16384

[[transform]]
filter = "abs(x00) < 4 && abs(x01) < 4"

[[transform]]
derive = "x01_x02"
expr = "x01 * x02"

[[transform]]
impute = ["x03", "x04"]
strategy = "mean"

[[transform]]
scale = ["x00", "x01_x02", "x03"]
method = "standard"

[split]
fraction = 0.1
seed = 1

[model]
kind = "ridge"
features = [$features, "x01_x02"]
label = "y"
alpha = 1.0

[publish]
registry = "$demo/registry"
name = "demo"
JOB

echo "== running the demo job on 4 ranks"
# mpirun hands rank 0 a pipe, not the terminal: ask for the live bar when a person is watching.
[[ -t 2 ]] && export SLUICE_PROGRESS=bar
timeout 600 mpirun -n 4 --oversubscribe "$sluice" run "$demo/pipeline_job.toml"

echo "== the registry"
"$sluice" snapshots list "$demo/registry"
version=$(cat "$demo/registry/demo/CURRENT")
echo "snapshot: $demo/registry/demo/$version"
"$sluice" report "$demo/registry/demo/${version%.h5}.report.json"
