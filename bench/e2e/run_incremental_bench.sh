#!/usr/bin/env bash
# Incremental retraining benchmark: a 16-partition lake gains one partition; the full retrain
# (--no-cache, every partition read) against the rerun through the partial cache (only the new
# partition read), both publishing the same ridge bits, at 2 ranks. Prints min/median of each
# and the speed-up, and checks the bits are equal.
# Usage: bench/e2e/run_incremental_bench.sh [--partitions 16] [--rows-per-partition 1000000]
#        [--features 8] [--reps 3] [--ranks 2] [--sluice build/apps/sluice]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
partitions=16 rows=1000000 features=8 reps=3 ranks=2
sluice=$root/build/apps/sluice
tmp=$root/build/tmp/incremental-bench
while (($#)); do
  case $1 in
    --partitions) partitions=$2; shift 2 ;;
    --rows-per-partition|--rows) rows=$2; shift 2 ;;
    --features) features=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --sluice) sluice=$2; shift 2 ;;
    -h|--help) sed -n 2,8p "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mpirun=(mpirun -n "$ranks" --oversubscribe --bind-to none)
rm -rf "$tmp"
mkdir -p "$tmp"
# partitions + 1 generated; the last one is held back and added before the timed reruns.
"$sluice" gen --out "$tmp/all" --partitions $((partitions + 1)) --rows "$rows" --features "$features" \
  --seed 7 --job "$tmp/job.toml" --registry "$tmp/registry" --name inc >/dev/null
sed -i 's|^path = .*|path = "lake"|' "$tmp/job.toml" # the job file sits in $tmp
cp -r "$tmp/all" "$tmp/lake"
extra=$(find "$tmp/lake" -name '*.h5' | sort | tail -1)
mv "$extra" "$tmp/extra.h5"

seconds_of() { sed -n 's/.* seconds=\([0-9.]*\) .*/\1/p' "$1"; }
stats() { sort -g | awk '{v[NR]=$1} END {printf "min %.3f s  median %.3f s", v[1], v[int((NR+1)/2)]}'; }
coefficients() { /usr/bin/python3 -c 'import h5py,sys; f=h5py.File(sys.argv[1]); print(f["model/coefficients"][()].tobytes().hex(), f["model"].attrs["intercept"])' "$1"; }

"${mpirun[@]}" "$sluice" run "$tmp/job.toml" >"$tmp/fill.log" 2>&1 # fills the cache: 16 partitions
find "$tmp/registry/.partials" -name '*.partial' | sort >"$tmp/filled.txt"
mv "$tmp/extra.h5" "$extra"
full=() incremental=()
for ((r = 1; r <= reps; r++)); do
  "${mpirun[@]}" "$sluice" run "$tmp/job.toml" --no-cache >"$tmp/full.log" 2>&1
  full+=("$(seconds_of "$tmp/full.log")")
  full_snapshot=$(sed -n 's/^published \(\S*\.h5\).*/\1/p' "$tmp/full.log")
  # The added partition's entry is removed each time, so every rerun reads exactly it.
  find "$tmp/registry/.partials" -name '*.partial' | sort | comm -13 "$tmp/filled.txt" - | xargs -r rm -f
  "${mpirun[@]}" "$sluice" run "$tmp/job.toml" >"$tmp/incremental.log" 2>&1
  grep -q " read=1 cached=$partitions " "$tmp/incremental.log" ||
    { cat "$tmp/incremental.log"; echo "the rerun did not read exactly 1 partition" >&2; exit 1; }
  incremental+=("$(seconds_of "$tmp/incremental.log")")
  incremental_snapshot=$(sed -n 's/^published \(\S*\.h5\).*/\1/p' "$tmp/incremental.log")
  [[ $(coefficients "$full_snapshot") == $(coefficients "$incremental_snapshot") ]] ||
    { echo "the incremental model's bits differ from the full retrain's" >&2; exit 1; }
done
total_rows=$(((partitions + 1) * rows))
echo "lake: $((partitions + 1)) partitions x $rows rows x $features features, $ranks ranks, $reps runs each"
echo "full retrain (--no-cache, reads all $((partitions + 1))): $(printf '%s\n' "${full[@]}" | stats)"
echo "incremental rerun (reads 1, $partitions from the cache): $(printf '%s\n' "${incremental[@]}" | stats)"
best_full=$(printf '%s\n' "${full[@]}" | sort -g | head -1)
best_incremental=$(printf '%s\n' "${incremental[@]}" | sort -g | head -1)
echo "speed-up (best of each): $(echo "$best_full / $best_incremental" | bc -l | xargs printf '%.1f')x; ridge bits identical in every run; $total_rows rows"
