#!/usr/bin/env bash
# Scaling benchmark: weak scaling (partitions per rank fixed: rank count R reads R x P partitions)
# and strong scaling (one lake, every rank count) of ridge, 1 thread per rank, ranks bound to
# cores, page-cached lakes, --no-cache --dry-run. Prints rows/s (sluice's own timer and wall
# clock) and the efficiency against 1 rank: weak = time(1) / time(R), strong = rows/s(R) /
# (R x rows/s(1)); checks that the model bits of a lake are the same at every rank count.
# Meant for a machine of many cores (default ranks 1, 2, 4, ... up to `nproc --all`); the strong
# lake's default (64 x 4 M rows x 8 features + label, 18 GB) lasts several seconds at 16 ranks.
# Usage: bench/e2e/run_scaling_bench.sh [--ranks "1 2 4 8 16"] [--weak-partitions-per-rank 4]
#        [--weak-rows 2000000] [--strong-partitions 64] [--strong-rows 4000000] [--reps 3]
#        [--sluice build/apps/sluice] [--tmp DIR]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cores=$(nproc --all)
rank_list=""
for ((r = 1; r <= cores; r *= 2)); do rank_list+="$r "; done
per_rank=4 weak_rows=2000000 strong_partitions=64 strong_rows=4000000 reps=3
sluice=$root/build/apps/sluice
tmp=$root/build/tmp/scaling-bench
while (($#)); do
  case $1 in
    --ranks) rank_list=$2; shift 2 ;;
    --weak-partitions-per-rank) per_rank=$2; shift 2 ;;
    --weak-rows) weak_rows=$2; shift 2 ;;
    --strong-partitions) strong_partitions=$2; shift 2 ;;
    --strong-rows) strong_rows=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --sluice) sluice=$2; shift 2 ;;
    --tmp) tmp=$2; shift 2 ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
read -r -a ranks_all <<<"$rank_list"
max_ranks=0
for r in "${ranks_all[@]}"; do ((r > max_ranks)) && max_ranks=$r; done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mkdir -p "$tmp"
# Binding one rank per core needs as many cores as ranks; past that, let them float.
binding() { (($1 <= cores)) && echo "--bind-to core" || echo "--bind-to none --oversubscribe"; }
# shellcheck source=ridge_bench_lib.sh
source "$here/ridge_bench_lib.sh"
gen() { ridge_bench_gen "$@" "$((cores < 8 ? cores : 8))"; }
weak_total=$((max_ranks * per_rank))
weak_done=$tmp/weak-$weak_total-$weak_rows.done
strong_done=$tmp/strong-$strong_partitions-$strong_rows.done
if [[ ! -f $weak_done ]]; then
  rm -rf "$tmp"/weak-*
  echo "writing the weak-scaling lake: $weak_total x $weak_rows rows" >&2
  gen "$tmp/weak-all" "$weak_total" "$weak_rows" 1
  touch "$weak_done"
fi
if [[ ! -f $strong_done ]]; then
  rm -rf "$tmp"/strong-*
  echo "writing the strong-scaling lake: $strong_partitions x $strong_rows rows" >&2
  gen "$tmp/strong-lake" "$strong_partitions" "$strong_rows" 2
  touch "$strong_done"
fi
# R ranks of the weak series read a lake of the first R x P files (links to them).
mapfile -t weak_files < <(find "$tmp/weak-all" -name '*.h5' | sort)
for r in "${ranks_all[@]}"; do
  dir=$tmp/weak-lake-$r
  rm -rf "$dir" && mkdir -p "$dir"
  for ((i = 0; i < r * per_rank; i++)); do ln -s "${weak_files[i]}" "$dir/"; done
done
job() { # NAME LAKE_DIR -> job path
  ridge_bench_job "$tmp/job-$1.toml" "$2" "scaling-$1"
  echo "$tmp/job-$1.toml"
}
# Each page-cached lake is read once before it is timed.
cat "$tmp/weak-all"/*.h5 "$tmp/strong-lake"/*.h5 >/dev/null 2>&1 || true
declare -A own wall rows bits
run_series() { # SERIES RANKS LAKE_DIR
  local series=$1 r=$2 lake=$3 best_own="" best_wall="" log=$tmp/run.log
  local path
  path=$(job "$series-$r" "$lake")
  for ((k = 1; k <= reps; k++)); do
    local start end
    start=$(date +%s.%N)
    # shellcheck disable=SC2046 # binding() prints several words
    mpirun -n "$r" $(binding "$r") "$sluice" run "$path" --no-cache --dry-run >"$log" 2>&1 ||
      { cat "$log"; exit 1; }
    end=$(date +%s.%N)
    local seconds
    seconds=$(sed -n 's/.* seconds=\([0-9.]*\) .*/\1/p' "$log")
    rows[$series,$r]=$(sed -n 's/^rows=\([0-9]*\) .*/\1/p' "$log")
    [[ -z $best_own || $(echo "$seconds < $best_own" | bc -l) == 1 ]] && best_own=$seconds
    local elapsed
    elapsed=$(echo "$end - $start" | bc -l)
    [[ -z $best_wall || $(echo "$elapsed < $best_wall" | bc -l) == 1 ]] && best_wall=$elapsed
  done
  own[$series,$r]=$best_own
  wall[$series,$r]=$best_wall
  # The fit itself, for the bit check: a real publish of the same job (not timed).
  mpirun -n "$r" $(binding "$r") "$sluice" run "$path" --no-cache >"$log" 2>&1 || { cat "$log"; exit 1; }
  bits[$series,$r]=$(ridge_bench_bits "$(sed -n 's/^published \(\S*\.h5\).*/\1/p' "$log")")
}
for r in "${ranks_all[@]}"; do
  run_series weak "$r" "$tmp/weak-lake-$r"
  run_series strong "$r" "$tmp/strong-lake"
done
first=${ranks_all[0]}
echo "machine: $(nproc --all) cores, $(lscpu | sed -n 's/^Model name: *//p'); $(date -u +%F)"
echo "weak: $per_rank partitions of $weak_rows rows per rank; strong: $strong_partitions x $strong_rows rows;" \
  "8 features + label (float64), ridge, 1 thread per rank, best of $reps"
printf '%-7s %5s %12s %9s %13s %13s %11s %11s %s\n' series ranks rows own-s wall-s \
  "own-Mrows/s" "wall-Mrows/s" efficiency model-bits
status=0
for series in weak strong; do
  for r in "${ranks_all[@]}"; do
    o=${own[$series,$r]} w=${wall[$series,$r]} n=${rows[$series,$r]}
    if [[ $series == weak ]]; then
      eff=$(echo "${own[weak,$first]} / $o" | bc -l)
    else
      eff=$(echo "${own[strong,$first]} * $first / ($o * $r)" | bc -l)
    fi
    printf '%-7s %5d %12d %9.3f %13.3f %13.1f %11.1f %10.1f%% %s\n' "$series" "$r" "$n" "$o" "$w" \
      "$(echo "$n / $o / 1000000" | bc -l)" "$(echo "$n / $w / 1000000" | bc -l)" "$(echo "100 * $eff" | bc -l)" \
      "${bits[$series,$r]}"
  done
done
# The strong lake is one lake: its model must not depend on the rank count. (The weak lakes
# differ in their rows, so each has bits of its own.)
for r in "${ranks_all[@]}"; do
  if [[ ${bits[strong,$r]} != "${bits[strong,$first]}" ]]; then
    echo "bits differ: strong at $r ranks ${bits[strong,$r]} vs ${bits[strong,$first]}"
    status=1
  fi
done
printf 'bits: %s\n' "$([[ $status == 0 ]] && echo "the strong lake's model is the same at every rank count" || echo DIFFER)"
exit $status
