#!/usr/bin/env bash
# Runs cluster/slurm/sluice-drift.sbatch outside Slurm with the real sluice and a stand-in for
# sbatch: drift submits the retraining job, no drift submits nothing, a failed check exits with
# sluice's code and submits nothing.
set -euo pipefail
sluice=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
script=$root/cluster/slurm/sluice-drift.sbatch
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir -p "$work/bin"
printf '#!/bin/bash\necho "$*" >>"$SBATCH_LOG"\n' >"$work/bin/sbatch"
chmod +x "$work/bin/sbatch"
export PATH=$work/bin:$PATH SBATCH_LOG=$work/sbatch.log SLUICE_BIN=$sluice
cd "$work" # the default report (drift-PID.json) lands here

"$sluice" gen --out "$work/lake" --partitions 3 --rows 2000 --features 2 --seed 4 \
  --job "$work/job.toml" --registry "$work/reg" --name m >/dev/null
"$sluice" run "$work/job.toml" >/dev/null || fail "training run failed"

rc=0
bash "$script" "$work/reg" m "$work/lake" "$work/job.toml" >"$work/none.out" 2>&1 || rc=$?
((rc == 0)) || fail "no new partitions: exit $rc: $(cat "$work/none.out")"
grep -q 'no drift' "$work/none.out" || fail "no 'no drift' line: $(cat "$work/none.out")"
[[ ! -e $SBATCH_LOG ]] || fail "submitted without drift: $(cat "$SBATCH_LOG")"

/usr/bin/python3 - "$work/lake/day=2026-12-31/part-new.h5" <<'PY'
import os, sys
import h5py, numpy as np
os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)
rng = np.random.default_rng(1)
with h5py.File(sys.argv[1], "w") as f:
    f.create_dataset("x00", data=rng.normal(0, 1, 2000) + 5.0)
    f.create_dataset("x01", data=rng.normal(0, 1, 2000))
PY
rc=0
SLUICE_DRIFT_REPORT=$work/report.json SLUICE_RETRAIN_SBATCH_ARGS="-N 2" \
  bash "$script" "$work/reg" m "$work/lake" "$work/job.toml" >"$work/drift.out" 2>&1 || rc=$?
((rc == 0)) || fail "drift: exit $rc: $(cat "$work/drift.out")"
[[ $(cat "$SBATCH_LOG") == "-N 2 $root/cluster/slurm/sluice-run.sbatch $work/job.toml" ]] ||
  fail "expected one retraining submission, got: $(cat "$SBATCH_LOG")"
/usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r["drift"] and r["columns"][0]["drift"] else 1)' \
  "$work/report.json" || fail "the JSON report does not say x00 drifted"

rm -f "$SBATCH_LOG"
rc=0
bash "$script" "$work/reg" nosuchmodel "$work/lake" "$work/job.toml" >"$work/bad.out" 2>&1 || rc=$?
((rc == 3)) || fail "unknown model: expected exit 3, got $rc: $(cat "$work/bad.out")"
[[ ! -e $SBATCH_LOG ]] || fail "submitted after a failed check"
echo "PASS: drift submits the retraining job, no drift and failed checks submit nothing"
