#!/usr/bin/env bash
# End-to-end benchmark: sluice on a generated lake vs. the machine's limits and Python peers.
# Usage: bench/e2e/run_bench.sh [--partitions 16] [--rows 500000] [--features 32] ... (see --help)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

partitions=16
rows=500000
features=32
block_rows=16384   # the job file's default
reps=3
limit_reps=10
alpha=1.0
sluice=$root/build/apps/sluice
tmp=$root/build/tmp/bench
out=""
writer=sluice
no_sluice=0
skip_peers=0
skip_mem=0
fresh_lake=0
mem_partitions=0
cmd_timeout=900
max_procs=$(nproc --all)
limits_dir=""
native=auto

usage() {
  cat <<EOF
usage: $0 [options]
  --partitions P       partitions in the lake (default $partitions)
  --rows R             rows per partition (default $rows)
  --features D         float64 feature columns (default $features)
  --block-rows B       [lake] block_rows for sluice and the XᵀX probe (default $block_rows)
  --reps K             repetitions per sluice configuration; the best is kept (default $reps)
  --limit-reps K       repetitions inside each limit probe; the best is kept (default $limit_reps)
  --sluice PATH        sluice binary (default build/apps/sluice)
  --tmp DIR            where lakes are written (default build/tmp/bench; never in git)
  --out DIR            results directory (default build/bench/e2e/<timestamp>)
  --lake-writer W      sluice (sluice gen) or python (bench/e2e/make_lake.py)
  --no-sluice          skip every sluice step (limits and peers only; no sluice figures)
  --skip-peers         skip numpy, Dask and scikit-learn
  --skip-mem           skip the peak-memory check (R vs 2R rows per partition)
  --mem-partitions N   partitions in each memory-check lake (default: max ranks)
  --fresh-lake         regenerate the lake even if one with the same shape exists
  --max-procs N        most cores to use for ranks x threads (default nproc --all = $(nproc --all))
  --limits-dir DIR     prebuilt bench/limits binaries (default: build them)
  --native on|off|auto compile the limit probes with -march=native (auto: as the main build)
  --timeout S          per-command time limit in seconds (default $cmd_timeout)
EOF
  exit "${1:-0}"
}

while (($#)); do
  case $1 in
    --partitions) partitions=$2; shift 2 ;;
    --rows) rows=$2; shift 2 ;;
    --features) features=$2; shift 2 ;;
    --block-rows) block_rows=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --limit-reps) limit_reps=$2; shift 2 ;;
    --sluice) sluice=$(realpath "$2"); shift 2 ;;
    --tmp) tmp=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --lake-writer) writer=$2; shift 2 ;;
    --no-sluice) no_sluice=1; shift ;;
    --skip-peers) skip_peers=1; shift ;;
    --skip-mem) skip_mem=1; shift ;;
    --mem-partitions) mem_partitions=$2; shift 2 ;;
    --fresh-lake) fresh_lake=1; shift ;;
    --max-procs) max_procs=$2; shift 2 ;;
    --limits-dir) limits_dir=$2; shift 2 ;;
    --native) native=$2; shift 2 ;;
    --timeout) cmd_timeout=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "unknown option $1" >&2; usage 2 ;;
  esac
done

# Debian's python carries h5py/numpy/dask; another python3 may come first on PATH.
py=/usr/bin/python3
# As root, Open MPI otherwise prints a warning, runs nothing and exits 0.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# --bind-to none: Open MPI binds each rank to one core when np <= 2, which would put a rank's
# OpenMP threads on a single core. --oversubscribe: allow more ranks than cores if asked.
# --mca pml ob1: the shared-memory transport a one-node run uses anyway, chosen up front instead
# of after probing UCX and the network stacks (about 0.2 s of every launch on this machine).
mpirun=(mpirun --oversubscribe --bind-to none --mca pml ob1)
export PYTHONPATH=$here${PYTHONPATH:+:$PYTHONPATH}

out=${out:-$root/build/bench/e2e/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out/logs" "$tmp"
out=$(realpath "$out")
tmp=$(realpath "$tmp")
rows_file=$out/rows.txt
: >"$rows_file"

log() { echo "[bench $(date +%T)] $*" | tee -a "$out/bench.log"; }
die() { log "ERROR: $*"; exit 1; }

# Runs a command with a time limit, keeps its output in logs/NAME.log and collects ROW lines.
run_logged() {
  local name=$1
  shift
  log "run $name: $*"
  if ! timeout "$cmd_timeout" "$@" >"$out/logs/$name.log" 2>&1; then
    tail -20 "$out/logs/$name.log" >&2
    die "$name failed (log: $out/logs/$name.log)"
  fi
  grep -v '^ROW,' "$out/logs/$name.log" | sed 's/^/    /' | tee -a "$out/bench.log" || true
  grep '^ROW,' "$out/logs/$name.log" >>"$rows_file" || die "$name printed no result row"
}

total_rows=$((partitions * rows))
log "lake shape: $partitions partitions x $rows rows x $features features = $total_rows rows"
log "machine: $(nproc --all) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)," \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
log "results in $out"
# Anything else running on the cores lowers every figure; say so in the log.
load_note() {
  local l
  l=$(cut -d' ' -f1 /proc/loadavg)
  log "load average $1: $l$(awk -v l="$l" 'BEGIN { if (l > 0.5) print " (busy machine: figures will be low)" }')"
}
load_note "at start"

# Power-of-two counts up to max_procs; 1 always included.
counts=(1)
for ((c = 2; c <= max_procs; c *= 2)); do counts+=("$c"); done

# ---------------------------------------------------------------- limit probes (build)
if [[ -z $limits_dir ]]; then
  if [[ $native == auto ]]; then
    native=off
    # The flags the main build really compiles with, not its option help strings.
    if grep -qs -- '-march=native' "$root/build/compile_commands.json"; then native=on; fi
  fi
  limits_dir=$root/build/bench-limits-$native
  nflag=OFF
  [[ $native == on ]] && nflag=ON
  log "building limit probes in $limits_dir (-march=native: $native)"
  cmake -S "$here/../limits" -B "$limits_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DSLUICE_LIMITS_NATIVE=$nflag >"$out/logs/limits-build.log" 2>&1 \
    && cmake --build "$limits_dir" >>"$out/logs/limits-build.log" 2>&1 \
    || { tail -20 "$out/logs/limits-build.log" >&2; die "building bench/limits failed"; }
fi
for b in sluice_limit_triad sluice_limit_xtx sluice_limit_h5read; do
  [[ -x $limits_dir/$b ]] || die "missing $limits_dir/$b"
done

# ---------------------------------------------------------------- lakes
# Writes lake $1 with P=$2, R=$3 unless one of the same shape and writer is already there.
make_lake() {
  local dir=$1 p=$2 r=$3 stamp="writer=$writer partitions=$2 rows=$3 features=$features seed=1"
  if ((fresh_lake == 0)) && [[ -f $dir/.bench-stamp && $(cat "$dir/.bench-stamp") == "$stamp" ]]; then
    log "reusing lake $dir ($stamp)"
    return
  fi
  rm -rf "$dir"
  mkdir -p "$(dirname "$dir")"
  if [[ $writer == sluice ]]; then
    run_gen() {
      timeout "$cmd_timeout" "$sluice" gen --out "$dir" --partitions "$p" --rows "$r" \
        --features "$features" --seed 1
    }
    log "sluice gen --out $dir --partitions $p --rows $r --features $features --seed 1"
    run_gen >"$out/logs/gen-$(basename "$dir").log" 2>&1 \
      || { cat "$out/logs/gen-$(basename "$dir").log" >&2; die "sluice gen failed"; }
  else
    log "make_lake.py --out $dir --partitions $p --rows $r --features $features"
    timeout "$cmd_timeout" "$py" "$here/make_lake.py" --out "$dir" --partitions "$p" --rows "$r" \
      --features "$features" --seed 1 || die "make_lake.py failed"
  fi
  echo "$stamp" >"$dir/.bench-stamp"
}

if ((no_sluice == 0)) && [[ ! -x $sluice ]]; then
  die "no sluice binary at $sluice (build it, or pass --no-sluice --lake-writer python)"
fi
if [[ $writer == sluice ]] && ((no_sluice)); then writer=python; fi

lake=$tmp/lake-${writer}-p${partitions}-r${rows}-d${features}
make_lake "$lake" "$partitions" "$rows"
find "$lake" -name '*.h5' | sort >"$out/files.txt"
nfiles=$(wc -l <"$out/files.txt")
((nfiles == partitions)) || die "lake has $nfiles partition files, expected $partitions"
log "lake $lake: $nfiles files, $(du -sh "$lake" | cut -f1)"

# ---------------------------------------------------------------- machine limits
for t in "${counts[@]}"; do
  run_logged "triad-t$t" env OMP_NUM_THREADS="$t" "$limits_dir/sluice_limit_triad" --threads "$t" \
    --reps "$limit_reps"
done
for n in "${counts[@]}"; do
  run_logged "h5read-p$n" "${mpirun[@]}" -n "$n" "$limits_dir/sluice_limit_h5read" \
    --list "$out/files.txt" --reps "$limit_reps"
done
# The XᵀX probe holds its rows in memory; past a quarter of RAM use fewer rows (rows/s is
# per-row work, so the rate is unchanged) rather than risk swapping.
xtx_rows=$total_rows
mem_bytes=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) * 1024))
max_xtx_rows=$((mem_bytes / 4 / (8 * features)))
((xtx_rows > max_xtx_rows)) && xtx_rows=$max_xtx_rows
for kernel in eigen sluice; do
  for t in "${counts[@]}"; do
    run_logged "xtx-$kernel-t$t" env OMP_NUM_THREADS="$t" "$limits_dir/sluice_limit_xtx" \
      --rows "$xtx_rows" --features "$features" --block-rows "$block_rows" --threads "$t" \
      --reps "$limit_reps" --kernel "$kernel"
  done
done

# ---------------------------------------------------------------- sluice
feature_list=$(for ((j = 0; j < features; j++)); do printf '"x%02d", ' "$j"; done)
feature_list="[${feature_list%, }]"

# Writes a job file for lake $1 with $2 threads and registry $3.
write_job() {
  cat <<EOF
# Generated by bench/e2e/run_bench.sh
[lake]
path = "$1"
glob = "**/*.h5"
group = "/"
block_rows = $block_rows
on_bad_partition = "error"

[model]
kind = "ridge"
features = $feature_list
label = "y"
alpha = $alpha

[publish]
registry = "$3"
name = "bench"

[run]
threads = $2
EOF
}

# Runs sluice with $1 ranks x $2 threads on lake $3, registry $4, extra prefix args after.
# Sets sluice_seconds to the wall time; fails unless sluice exits 0 and reports a published
# snapshot. Not run in a subshell, so a failure stops the whole benchmark.
sluice_once() {
  local n=$1 t=$2 lk=$3 reg=$4 tag=$5
  shift 5
  local job=$out/jobs/$tag.toml
  mkdir -p "$out/jobs"
  rm -rf "$reg"
  write_job "$lk" "$t" "$reg" >"$job"
  local t0=$EPOCHREALTIME rc=0
  OMP_NUM_THREADS=$t timeout "$cmd_timeout" "${mpirun[@]}" -n "$n" "$@" "$sluice" run "$job" \
    >"$out/logs/$tag.log" 2>&1 || rc=$?
  local t1=$EPOCHREALTIME
  if ((rc != 0)) || ! grep -q '^published ' "$out/logs/$tag.log"; then
    tail -20 "$out/logs/$tag.log" >&2
    die "sluice $tag: exit $rc or no 'published' line (log: $out/logs/$tag.log)"
  fi
  sluice_seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
  # sluice's own timer (job start to publish, no MPI launch), from the run report.
  local report
  report=$(find "$reg" -name 'v*.report.json' | sort | tail -1)
  sluice_inproc=""
  [[ -n $report ]] && sluice_inproc=$("$py" -c \
    'import json, sys; print("%.6f" % json.load(open(sys.argv[1]))["seconds"])' "$report" 2>/dev/null)
  return 0
}

configs=()
if ((no_sluice == 0)); then
  # Ranks alone, threads alone, then mixed shapes that fill the cores.
  for n in "${counts[@]}"; do configs+=("$n 1"); done
  for t in "${counts[@]:1}"; do configs+=("1 $t"); done
  for n in "${counts[@]:1}"; do
    for t in "${counts[@]:1}"; do ((n * t <= max_procs)) && configs+=("$n $t"); done
  done
  # Untimed warm-up: page cache, and sluice's own first-run costs, out of the figures.
  sluice_once 1 1 "$lake" "$out/registry/warmup" warmup
  log "sluice warm-up: $(grep -E '^(published|metrics:) ' "$out/logs/warmup.log" | tr '\n' ' ')"
  for cfg in "${configs[@]}"; do
    read -r n t <<<"$cfg"
    times=()
    inproc=()
    for ((k = 1; k <= reps; k++)); do
      sluice_once "$n" "$t" "$lake" "$out/registry/r${n}t${t}k$k" "sluice-r${n}t${t}-k$k"
      times+=("$sluice_seconds")
      [[ -n $sluice_inproc ]] && inproc+=("$sluice_inproc")
    done
    best=$(printf '%s\n' "${times[@]}" | sort -g | head -1)
    median=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    log "sluice $n rank(s) x $t thread(s): runs ${times[*]} s; best $best, median $median" \
        "| $(grep -E '^(published|metrics:) ' "$out/logs/sluice-r${n}t${t}-k1.log" | tr '\n' ' ')"
    echo "ROW,sluice,mpirun -n $n threads=$t,$n,$t,$best,$total_rows," >>"$rows_file"
    if ((${#inproc[@]})); then
      best_in=$(printf '%s\n' "${inproc[@]}" | sort -g | head -1)
      log "  sluice's own timer (report.json seconds): ${inproc[*]} s; best $best_in"
      echo "ROW,sluice-inproc,report.json seconds -n $n threads=$t,$n,$t,$best_in,$total_rows," \
        >>"$rows_file"
    fi
  done
fi

# ---------------------------------------------------------------- peers
if ((skip_peers == 0)); then
  # numpy and scikit-learn get every core through OpenBLAS; Dask parallelises itself, so its
  # BLAS runs one thread per worker to avoid oversubscribing the cores. dask.array keeps its own
  # chunk size (65,536 rows): a peer's settings do not follow sluice's block_rows.
  run_logged numpy env OPENBLAS_NUM_THREADS="$max_procs" OMP_NUM_THREADS="$max_procs" \
    "$py" "$here/peer_numpy.py" --lake "$lake" --alpha "$alpha" --reps "$reps"
  run_logged dask env OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
    "$py" "$here/peer_dask.py" --lake "$lake" --alpha "$alpha" --reps "$reps" \
    --workers "$max_procs"
  run_logged sklearn env OPENBLAS_NUM_THREADS="$max_procs" OMP_NUM_THREADS="$max_procs" \
    "$py" "$here/peer_sklearn.py" --lake "$lake" --alpha "$alpha" --reps "$reps"
fi

# ---------------------------------------------------------------- peak memory per rank
mem_csv=$out/memory.csv
if ((no_sluice == 0 && skip_mem == 0)); then
  mem_ranks=$((max_procs >= 2 ? 2 : 1))
  ((mem_partitions > 0)) || mem_partitions=$mem_ranks
  echo "rows_per_partition,block_rows,ranks,rank,max_rss_kib" >"$mem_csv"
  for r in "$rows" "$((2 * rows))"; do
    mlake=$tmp/memlake-${writer}-p${mem_partitions}-r${r}-d${features}
    make_lake "$mlake" "$mem_partitions" "$r"
    rss_dir=$out/rss/r$r
    rm -rf "$rss_dir"
    mkdir -p "$rss_dir"
    sluice_once "$mem_ranks" 1 "$mlake" "$out/registry/mem-r$r" "mem-r$r" \
      "$here/rss_wrap.sh" "$rss_dir"
    for ((k = 0; k < mem_ranks; k++)); do
      [[ -s $rss_dir/rss.$k ]] || die "no peak-RSS figure for rank $k (rows $r)"
      echo "$r,$block_rows,$mem_ranks,$k,$(tail -1 "$rss_dir/rss.$k")" >>"$mem_csv"
    done
    log "peak RSS per rank, $r rows/partition: $(tr '\n' ' ' <<<"$(grep "^$r," "$mem_csv" | cut -d, -f4,5)")"
  done
fi

# ---------------------------------------------------------------- report
log "writing CSV, plots and verdicts"
"$py" "$here/report.py" --rows "$rows_file" --memory "$mem_csv" --out "$out" \
  --features "$features" | tee -a "$out/bench.log"
