# Shared by the ridge lake benchmarks (skew, scaling); sourced, not run. Lakes of 8 float64
# features x00..x07 and a label y, written by `sluice gen`.
# shellcheck shell=bash

# Writes a lake: DIR PARTITIONS ROWS_PER_PARTITION SEED [WRITER_RANKS]. Uses $sluice.
ridge_bench_gen() {
  mpirun -n "${5:-2}" --oversubscribe "$sluice" gen --out "$1" --partitions "$2" --rows "$3" \
    --features 8 --seed "$4" >/dev/null
}

# Writes a ridge job file: PATH LAKE_DIR MODEL_NAME [EXTRA_TOML]; the registry is "registry"
# beside the job file.
ridge_bench_job() {
  cat >"$1" <<JOB
[lake]
path = "$2"
[model]
kind = "ridge"
features = ["x00", "x01", "x02", "x03", "x04", "x05", "x06", "x07"]
label = "y"
alpha = 1.0
[publish]
registry = "registry"
name = "$3"
${4:-}
JOB
}

# Prints a short digest of a published snapshot's model (coefficients and intercept bytes).
ridge_bench_bits() {
  /usr/bin/python3 -c "
import h5py, hashlib, sys
with h5py.File(sys.argv[1]) as f:
    print(hashlib.sha256(f['model/coefficients'][()].tobytes() + f['model'].attrs['intercept'].tobytes()).hexdigest()[:16])
" "$1"
}
