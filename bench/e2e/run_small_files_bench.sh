#!/usr/bin/env bash
# Small-files benchmark: a lake of many tiny partitions (default 20,000 × 50 rows), a ridge job
# (--no-cache, every file opened and read) at 1 and 2 ranks against h5py opening every file and
# reading the same columns in one process; seconds per partition and the verdict against the
# target (sluice at most 2× h5py's own open-and-read time).
# Usage: bench/e2e/run_small_files_bench.sh [--partitions 20000] [--rows 50] [--reps 2]
#        [--sluice build/apps/sluice]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
partitions=20000 rows=50 reps=2
sluice=$root/build/apps/sluice
tmp=$root/build/tmp/small-files-bench
while (($#)); do
  case $1 in
    --partitions) partitions=$2; shift 2 ;;
    --rows) rows=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --sluice) sluice=$2; shift 2 ;;
    -h|--help) sed -n 2,8p "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
lake=$tmp/lake-$partitions-$rows
mkdir -p "$tmp"
if [[ ! -d $lake ]]; then
  echo "writing the lake: $partitions partitions x $rows rows" >&2
  mpirun -n 2 --oversubscribe "$sluice" gen --out "$lake" --partitions "$partitions" --rows "$rows" \
    --features 4 --seed 1 --job "$tmp/job.toml" --registry "$tmp/registry" --name small >/dev/null
fi
best() { sort -g | head -1; }
declare -A sluice_s
for ranks in 1 2; do
  runs=()
  for ((r = 1; r <= reps; r++)); do
    mpirun -n "$ranks" --oversubscribe --bind-to none "$sluice" run "$tmp/job.toml" --no-cache --dry-run \
      >"$tmp/run.log" 2>&1 || { cat "$tmp/run.log"; exit 1; }
    runs+=("$(sed -n 's/.* seconds=\([0-9.]*\) .*/\1/p' "$tmp/run.log")")
  done
  sluice_s[$ranks]=$(printf '%s\n' "${runs[@]}" | best)
done
runs=()
for ((r = 1; r <= reps; r++)); do
  runs+=("$(/usr/bin/python3 "$here/small_files_h5py.py" "$lake" x00,x01,x02,x03,y | sed 's/.*seconds=//')")
done
h5py_s=$(printf '%s\n' "${runs[@]}" | best)
echo "lake: $partitions partitions x $rows rows x 5 columns (page-cached), best of $reps"
for ranks in 1 2; do
  printf 'sluice %d rank(s): %.3f s, %.1f µs per partition\n' "$ranks" "${sluice_s[$ranks]}" \
    "$(echo "${sluice_s[$ranks]} * 1000000 / $partitions" | bc -l)"
done
printf 'h5py open+read, 1 process: %.3f s, %.1f µs per partition\n' "$h5py_s" \
  "$(echo "$h5py_s * 1000000 / $partitions" | bc -l)"
ratio=$(echo "${sluice_s[2]} / $h5py_s" | bc -l)
verdict=$(echo "$ratio <= 2" | bc -l)
printf 'verdict: sluice at 2 ranks / h5py = %.2f (target <= 2): %s\n' "$ratio" \
  "$([[ $verdict == 1 ]] && echo PASS || echo MISS)"
