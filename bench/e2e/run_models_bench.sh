#!/usr/bin/env bash
# Model-kind benchmark: ridge, PCA, logistic and k-means passes of sluice on one generated lake,
# at each rank count, with scikit-learn on the same rows, verdicts against the targets.
# Usage: bench/e2e/run_models_bench.sh [--partitions 16] [--rows-per-partition 250000] ... (--help)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

partitions=16
rows=250000
features=32
ranks_list="1,2"
reps=2
pass_reps=5
block_rows=16384   # the job file's default
kmeans_k=8
kmeans_iters=10
pca_components=8
logistic_C=1.0
logistic_tol=1e-8
logistic_max_iter=100
sluice=$root/build/apps/sluice
tmp=$root/build/tmp/bench
out=""
fresh_lake=0
skip_peers=0
cmd_timeout=600
max_procs=$(nproc --all)

usage() {
  cat <<EOF
usage: $0 [options]
  --rows-per-partition R  rows per partition (default $rows)
  --partitions P          partitions in the lake (default $partitions)
  --features D            float64 feature columns (default $features)
  --ranks-list L          MPI rank counts, comma-separated (default $ranks_list); the comparisons
                          with scikit-learn and the cache check use the largest
  --reps K                runs of each iterative kind at the largest rank count (with and
                          without the column cache) and of each peer; the best is kept (default $reps)
  --pass-reps K           runs of ridge and PCA at each rank count; the best is kept (default $pass_reps)
  --kmeans-iters N        Lloyd iterations of sluice and of scikit-learn (tol 0; default $kmeans_iters)
  --block-rows B          [lake] block_rows (default $block_rows)
  --sluice PATH           sluice binary (default build/apps/sluice)
  --tmp DIR               where the lake is written (default build/tmp/bench; never in git)
  --out DIR               results directory (default build/bench/models/<timestamp>)
  --fresh-lake            regenerate the lake even if one with the same shape exists
  --skip-peers            sluice only (no scikit-learn figures, their targets read n/a)
  --timeout S             per-command time limit in seconds (default $cmd_timeout)
EOF
  exit "${1:-0}"
}

while (($#)); do
  case $1 in
    --rows-per-partition|--rows) rows=$2; shift 2 ;;
    --partitions) partitions=$2; shift 2 ;;
    --features) features=$2; shift 2 ;;
    --ranks-list) ranks_list=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --pass-reps) pass_reps=$2; shift 2 ;;
    --kmeans-iters) kmeans_iters=$2; shift 2 ;;
    --block-rows) block_rows=$2; shift 2 ;;
    --sluice) sluice=$(realpath "$2"); shift 2 ;;
    --tmp) tmp=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --fresh-lake) fresh_lake=1; shift ;;
    --skip-peers) skip_peers=1; shift ;;
    --timeout) cmd_timeout=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "unknown option $1" >&2; usage 2 ;;
  esac
done

read -r -a ranks_arr <<<"${ranks_list//,/ }"
((${#ranks_arr[@]})) || usage 2
# The comparisons with the peers run at the largest rank count (2 by default).
top_ranks=$(printf '%s\n' "${ranks_arr[@]}" | sort -n | tail -1)
((features >= pca_components)) || pca_components=$features

# Debian's python carries h5py/numpy/scikit-learn; another python3 may come first on PATH.
py=/usr/bin/python3
# As root, Open MPI otherwise prints a warning, runs nothing and exits 0.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# As run_bench.sh: no binding (a rank's threads would share one core), shared-memory transport
# chosen up front (saves the ~0.2 s UCX/network probe of every launch).
mpirun=(mpirun --oversubscribe --bind-to none --mca pml ob1)
export PYTHONPATH=$here${PYTHONPATH:+:$PYTHONPATH}

out=${out:-$root/build/bench/models/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out/logs" "$out/jobs" "$tmp"
out=$(realpath "$out")
tmp=$(realpath "$tmp")
runs_file=$out/runs.jsonl     # one line per sluice run: kind, ranks, wall time, report, snapshot
peers_file=$out/peers.jsonl   # the peers' RESULT lines
: >"$runs_file"
: >"$peers_file"

log() { echo "[models $(date +%T)] $*" | tee -a "$out/bench.log"; }
die() { log "ERROR: $*"; exit 1; }
bench_start=$EPOCHREALTIME

[[ -x $sluice ]] || die "no sluice binary at $sluice (build it, or pass --sluice PATH)"

# OpenBLAS picks its kernels from the CPU it detects. On VMs whose CPUID names no known model
# ("Intel Xeon Processor") it falls back to Prescott (SSE3) kernels, which handicaps numpy and
# scikit-learn; name the core from the CPU flags then (a value set by the caller is kept).
if [[ -z ${OPENBLAS_CORETYPE:-} ]]; then
  arch=$(OPENBLAS_NUM_THREADS=1 "$py" -c 'import numpy, threadpoolctl
print(next((i.get("architecture", "") for i in threadpoolctl.threadpool_info()
            if i.get("internal_api") == "openblas"), ""))' 2>/dev/null || true)
  if [[ $arch == Prescott ]]; then
    if grep -qw avx512f /proc/cpuinfo && grep -qw avx512vl /proc/cpuinfo; then
      export OPENBLAS_CORETYPE=SkylakeX
    elif grep -qw avx2 /proc/cpuinfo; then
      export OPENBLAS_CORETYPE=Haswell
    fi
    if [[ -n ${OPENBLAS_CORETYPE:-} ]]; then
      log "OpenBLAS detected $arch; OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE from the CPU flags"
    fi
  fi
fi

total_rows=$((partitions * rows))
# The checkout's sources at the start (what build/ is usually built from; a --sluice binary may
# come from elsewhere).
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$root" status --porcelain -- src include apps 2>/dev/null) ]]; then
  commit+=" + uncommitted changes"
fi
cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
mem_gib=$(awk '/MemTotal/ {printf "%.1f", $2/1048576}' /proc/meminfo)
load_start=$(cut -d' ' -f1 /proc/loadavg)
log "lake shape: $partitions partitions x $rows rows x $features features = $total_rows rows"
log "machine: $max_procs cores (nproc --all), $mem_gib GiB, $cpu_model"
log "ranks: ${ranks_arr[*]} (peers compared at $top_ranks); reps $reps, ridge/PCA $pass_reps; k-means k=$kmeans_k, $kmeans_iters Lloyd iterations"
log "load average at start: $load_start$(awk -v l="$load_start" 'BEGIN { if (l > 0.5) print " (busy machine: figures will be low)" }')"
log "sluice: $sluice (checkout at $commit)"
log "results in $out"

# ---------------------------------------------------------------- lake
lake=$tmp/models-lake-p${partitions}-r${rows}-d${features}
stamp="models_peers.py partitions=$partitions rows=$rows features=$features seed=1"
if ((fresh_lake == 0)) && [[ -f $lake/.bench-stamp && $(cat "$lake/.bench-stamp") == "$stamp" ]]; then
  log "reusing lake $lake"
else
  rm -rf "$lake"
  log "writing lake $lake (h5py: x00..x$(printf '%02d' $((features - 1))), y for ridge, c (0/1) for logistic)"
  timeout "$cmd_timeout" "$py" "$here/models_peers.py" make-lake --out "$lake" \
    --partitions "$partitions" --rows "$rows" --features "$features" --seed 1 \
    >"$out/logs/make-lake.log" 2>&1 || { tail -20 "$out/logs/make-lake.log" >&2; die "make-lake failed"; }
  echo "$stamp" >"$lake/.bench-stamp"
fi
grep '^RESULT ' "$out/logs/make-lake.log" 2>/dev/null | sed 's/^RESULT //' >>"$peers_file" || true
nfiles=$(find "$lake" -name '*.h5' | wc -l)
((nfiles == partitions)) || die "lake has $nfiles partition files, expected $partitions"
log "lake: $nfiles files, $(du -sh "$lake" | cut -f1)"

# ---------------------------------------------------------------- sluice
feature_list=$(for ((j = 0; j < features; j++)); do printf '"x%02d", ' "$j"; done)
feature_list="[${feature_list%, }]"

# The [model] table of each kind; labels: y (regression), c (0/1).
model_keys() {
  case $1 in
    ridge) printf 'label = "y"\nalpha = 1.0\n' ;;
    pca) printf 'components = %d\n' "$pca_components" ;;
    logistic) printf 'label = "c"\nC = %s\ntol = %s\nmax_iter = %d\n' "$logistic_C" "$logistic_tol" \
      "$logistic_max_iter" ;;
    kmeans) printf 'k = %d\ntol = 0.0\nmax_iter = %d\nseed = 0\n' "$kmeans_k" "$kmeans_iters" ;;
  esac
}

# Job for kind $1, registry $2, memory budget $3 (empty: the default, half the node's memory).
write_job() {
  cat <<EOF
# Generated by bench/e2e/run_models_bench.sh
[lake]
path = "$lake"
glob = "**/*.h5"
group = "/"
block_rows = $block_rows
on_bad_partition = "error"

[model]
kind = "$1"
features = $feature_list
$(model_keys "$1")

[publish]
registry = "$2"
name = "bench"

[run]
threads = 1
EOF
  [[ -n $3 ]] && echo "memory_budget = $3"
  return 0
}

# Runs kind $1 at $2 ranks, variant $3 (default | reread), repetition $4; appends to runs.jsonl.
# Stops the benchmark unless sluice exits 0 and publishes.
sluice_run() {
  local kind=$1 n=$2 variant=$3 rep=$4 budget=""
  local tag=$kind-r$n-$variant-k$rep
  local reg=$out/registry/$tag job=$out/jobs/$tag.toml
  [[ $variant == reread ]] && budget=1  # 1 byte: nothing fits, every pass reads HDF5
  rm -rf "$reg"
  write_job "$kind" "$reg" "$budget" >"$job"
  local t0=$EPOCHREALTIME rc=0
  OMP_NUM_THREADS=1 timeout "$cmd_timeout" "${mpirun[@]}" -n "$n" "$sluice" run "$job" \
    >"$out/logs/$tag.log" 2>&1 || rc=$?
  local t1=$EPOCHREALTIME
  if ((rc != 0)) || ! grep -q '^published ' "$out/logs/$tag.log"; then
    tail -20 "$out/logs/$tag.log" >&2
    die "sluice $tag: exit $rc or no 'published' line (log: $out/logs/$tag.log)"
  fi
  local wall report snapshot
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
  report=$(find "$reg" -name 'v*.report.json' | sort | tail -1)
  snapshot=$(find "$reg" -name 'v*.h5' | sort | tail -1)
  [[ -n $report && -n $snapshot ]] || die "sluice $tag: no report or snapshot under $reg"
  [[ $variant == warmup ]] && return 0
  printf '{"kind": "%s", "ranks": %d, "variant": "%s", "rep": %d, "wall_seconds": %s, "report": "%s", "snapshot": "%s", "log": "%s"}\n' \
    "$kind" "$n" "$variant" "$rep" "$wall" "$report" "$snapshot" "$out/logs/$tag.log" >>"$runs_file"
  log "sluice $kind, $n rank(s), $variant #$rep: wall $wall s | $(grep -E '^(rows=|metrics:)' \
    "$out/logs/$tag.log" | sed 's/ resumed=0//' | tr '\n' ' ')"
}

# Untimed warm-up: the lake's pages and sluice's own first-run costs out of the figures.
sluice_run ridge 1 warmup 1

# Ridge and PCA (one short pass each, the noisiest figures) run --pass-reps times, in turn. The
# iterative kinds run once, --reps times at the top rank count (the comparisons with the peers),
# there each run followed by one with memory_budget = 1 (cached columns vs re-reading HDF5 under
# the same machine load). Ridge, the reference of every pass ratio, runs again before each
# iterative run, so that its best pass is taken over the same stretch of (shared) machine time.
for n in "${ranks_arr[@]}"; do
  ridge_k=0
  for ((k = 1; k <= pass_reps; k++)); do
    sluice_run ridge "$n" default $((++ridge_k))
    sluice_run pca "$n" default "$k"
  done
  for kind in logistic kmeans; do
    k_reps=1
    [[ $n == "$top_ranks" ]] && k_reps=$reps
    for ((k = 1; k <= k_reps; k++)); do
      sluice_run ridge "$n" default $((++ridge_k))
      sluice_run "$kind" "$n" default "$k"
      if [[ $n == "$top_ranks" ]]; then sluice_run "$kind" "$n" reread "$k"; fi
    done
  done
done

# ---------------------------------------------------------------- peers
# The snapshot sluice published for kind $1 at the top rank count (first repetition).
snapshot_of() {
  "$py" -c 'import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["kind"] == sys.argv[2] and r["ranks"] == int(sys.argv[3]) and r["variant"] == "default":
        print(r["snapshot"]); break' "$runs_file" "$1" "$top_ranks"
}

# Runs a peer with every core for OpenBLAS and OpenMP (scikit-learn's k-means), keeps its log and
# collects its RESULT lines.
run_peer() {
  local name=$1
  shift
  log "run $name: $*"
  if ! OPENBLAS_NUM_THREADS=$max_procs OMP_NUM_THREADS=$max_procs timeout "$cmd_timeout" \
      "$py" "$here/models_peers.py" "$@" >"$out/logs/$name.log" 2>&1; then
    tail -20 "$out/logs/$name.log" >&2
    die "$name failed (log: $out/logs/$name.log)"
  fi
  grep -v '^RESULT ' "$out/logs/$name.log" | sed 's/^/    /' | tee -a "$out/bench.log" || true
  grep '^RESULT ' "$out/logs/$name.log" | sed 's/^RESULT //' >>"$peers_file" \
    || die "$name printed no RESULT line"
}

if ((skip_peers == 0)); then
  run_peer sklearn-logistic logistic --lake "$lake" --snapshot "$(snapshot_of logistic)" \
    --C "$logistic_C" --tol "$logistic_tol" --reps "$reps"
  run_peer sklearn-kmeans kmeans --lake "$lake" --snapshot "$(snapshot_of kmeans)" \
    --iters "$kmeans_iters" --reps "$reps"
  run_peer sklearn-pca pca --lake "$lake" --snapshot "$(snapshot_of pca)" \
    --components "$pca_components" --reps "$reps"
fi

# ---------------------------------------------------------------- report
load_end=$(cut -d' ' -f1 /proc/loadavg)
bench_seconds=$(awk -v a="$bench_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
log "load average at end: $load_end; benchmark took $bench_seconds s; writing results.json and verdicts"
"$py" - "$out/meta.json" <<EOF
import json, sys
json.dump({"partitions": $partitions, "rows_per_partition": $rows, "features": $features,
           "total_rows": $total_rows, "ranks": [$(IFS=,; echo "${ranks_arr[*]}")], "top_ranks": $top_ranks,
           "reps": $reps, "pass_reps": $pass_reps, "block_rows": $block_rows, "kmeans_k": $kmeans_k,
           "kmeans_iters": $kmeans_iters, "pca_components": $pca_components,
           "logistic_C": $logistic_C, "logistic_tol": $logistic_tol,
           "cores": $max_procs, "cpu_model": """$cpu_model""", "memory_gib": $mem_gib,
           "load_start": $load_start, "load_end": $load_end, "bench_seconds": $bench_seconds,
           "openblas_coretype": "${OPENBLAS_CORETYPE:-}", "lake": "$lake",
           "sluice": "$sluice", "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
           "commit": "$commit"},
          open(sys.argv[1], "w"), indent=1)
EOF
"$py" "$here/models_report.py" --runs "$runs_file" --peers "$peers_file" --meta "$out/meta.json" \
  --out "$out" | tee -a "$out/bench.log"
