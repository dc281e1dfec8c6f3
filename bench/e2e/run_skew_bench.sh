#!/usr/bin/env bash
# Skew benchmark: three lakes of the same rows (default 8 M rows × 8 features + label) — balanced
# (16 equal partitions), one single file, and one whose largest partition holds half the rows —
# trained (ridge, --no-cache --dry-run, page-cached) at 1 and 2 ranks (and more with --ranks),
# with large partitions split over the ranks ([run] split = true, the default) and read whole
# (split = false, the behaviour before splits). Reports rows/s and the efficiency against the
# balanced lake at the same rank count, checks every run's model bits are equal per lake, and
# gives the verdict against the target: a single-file lake at 2 ranks within 85 % of a balanced
# lake's rows/s.
# Usage: bench/e2e/run_skew_bench.sh [--rows 8000000] [--reps 3] [--ranks "1 2"]
#        [--sluice build/apps/sluice]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
rows=8000000 reps=3 rank_list="1 2"
sluice=$root/build/apps/sluice
tmp=$root/build/tmp/skew-bench
while (($#)); do
  case $1 in
    --rows) rows=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --ranks) rank_list=$2; shift 2 ;;
    --sluice) sluice=$2; shift 2 ;;
    -h|--help) sed -n 2,11p "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mkdir -p "$tmp"
# shellcheck source=ridge_bench_lib.sh
source "$here/ridge_bench_lib.sh"
gen() { ridge_bench_gen "$@"; }
lakes=(balanced single half)
if [[ ! -f $tmp/lakes-$rows.done ]]; then
  rm -rf "$tmp"/lake-*
  echo "writing three lakes of $rows rows" >&2
  gen "$tmp/lake-balanced" 16 $((rows / 16)) 1
  gen "$tmp/lake-single" 1 "$rows" 2
  gen "$tmp/lake-half/big" 1 $((rows / 2)) 3
  gen "$tmp/lake-half/rest" 15 $((rows / 30)) 4
  touch "$tmp/lakes-$rows.done"
fi
job() { # LAKE SPLIT -> job path
  ridge_bench_job "$tmp/job-$1-$2.toml" "lake-$1" "skew-$1" $'[run]\nsplit = '"$2"
  echo "$tmp/job-$1-$2.toml"
}
best() { sort -g | head -1; }
declare -A seconds counted bits
for lake in "${lakes[@]}"; do
  for split in true false; do
    for ranks in $rank_list; do
      [[ $lake == balanced && $split == false ]] && continue # nothing to split: the same runs
      runs=()
      for ((r = 1; r <= reps; r++)); do
        mpirun -n "$ranks" --oversubscribe --bind-to none "$sluice" run "$(job "$lake" "$split")" \
          --no-cache --dry-run >"$tmp/run.log" 2>&1 || { cat "$tmp/run.log"; exit 1; }
        runs+=("$(sed -n 's/.* seconds=\([0-9.]*\) .*/\1/p' "$tmp/run.log")")
        counted[$lake]=$(sed -n 's/^rows=\([0-9]*\) .*/\1/p' "$tmp/run.log")
      done
      seconds[$lake,$split,$ranks]=$(printf '%s\n' "${runs[@]}" | best)
      # The fit itself, for the bit check: a real publish of the same job (not timed).
      mpirun -n "$ranks" --oversubscribe "$sluice" run "$(job "$lake" "$split")" --no-cache \
        >"$tmp/publish.log" 2>&1 || { cat "$tmp/publish.log"; exit 1; }
      snapshot=$(sed -n 's/^published \(\S*\.h5\).*/\1/p' "$tmp/publish.log")
      bits[$lake,$split,$ranks]=$(ridge_bench_bits "$snapshot")
    done
  done
done
seconds[balanced,false,1]=${seconds[balanced,true,1]}
echo "lakes of $rows rows x 9 float64 columns (page-cached), ridge, best of $reps, OMP_NUM_THREADS=1"
printf '%-9s %-6s %5s %9s %12s %10s %s\n' lake split ranks seconds rows/s efficiency model-bits
for lake in "${lakes[@]}"; do
  for split in true false; do
    for ranks in $rank_list; do
      [[ $lake == balanced && $split == false ]] && continue
      s=${seconds[$lake,$split,$ranks]}
      rate=$(echo "${counted[$lake]} / $s" | bc -l)
      base=$(echo "${counted[balanced]} / ${seconds[balanced,true,$ranks]}" | bc -l)
      printf '%-9s %-6s %5d %9.3f %12.0f %9.1f%% %s\n' "$lake" "$split" "$ranks" "$s" "$rate" \
        "$(echo "100 * $rate / $base" | bc -l)" "${bits[$lake,$split,$ranks]}"
    done
  done
done
status=0
for lake in single half; do
  reference=${bits[$lake,true,${rank_list%% *}]}
  for key in "${!bits[@]}"; do
    if [[ $key == $lake,* && ${bits[$key]} != "$reference" ]]; then
      echo "bits differ: $key ${bits[$key]} vs $reference"; status=1
    fi
  done
done
single=$(echo "${counted[single]} / ${seconds[single,true,2]}" | bc -l)
balanced=$(echo "${counted[balanced]} / ${seconds[balanced,true,2]}" | bc -l)
ratio=$(echo "$single / $balanced" | bc -l)
printf 'verdict: single-file lake at 2 ranks = %.1f%% of the balanced lake'"'"'s rows/s (target >= 85%%): %s\n' \
  "$(echo "100 * $ratio" | bc -l)" "$([[ $(echo "$ratio >= 0.85" | bc -l) == 1 ]] && echo PASS || echo MISS)"
printf 'bits: %s\n' "$([[ $status == 0 ]] && echo "equal for split and whole reads at every rank count" || echo DIFFER)"
exit $status
