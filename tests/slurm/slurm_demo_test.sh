#!/usr/bin/env bash
# Runs a small generated job through sbatch on a private single-node Slurm and checks the published snapshot.
#
# Usage: slurm_demo_test.sh SLUICE_EXE [mpirun|srun] [RANKS]
#   mpirun: cluster/slurm/sluice-run.sbatch; srun: cluster/slurm/sluice-run-srun.sbatch.
#   RANKS (default 2) may exceed the 2 allocated tasks; the script then oversubscribes.
# Exit 77 (skip) only without root or without Slurm installed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/slurm_test_lib.sh"

ranks=${3:-2}
prepare_sluice_test "${1:-}" "${2:-mpirun}"

start_cluster
say "generating a lake"
timeout 120 "$sluice" gen --out "$WORK/lake" --partitions 6 --rows 20000 --features 5 --seed 7 \
  --job "$WORK/job.toml" --registry "$WORK/registry" --name demo >"$WORK/gen.out" 2>&1 ||
  fail "sluice gen failed: $(tail -n 5 "$WORK/gen.out")"
[[ -f $WORK/job.toml ]] || fail "sluice gen wrote no job file"

say "sbatch --wait -n 2 $(basename "$script") (SLUICE_NP=$ranks)"
rc=0
# At most 2 tasks: this node has 2 CPUs and a larger request would pend forever.
SLUICE_BIN=$sluice SLUICE_NP=$ranks timeout 240 sbatch --wait --parsable -n 2 --time=10 \
  --output="$WORK/demo.out" "$script" "$WORK/job.toml" >"$WORK/jobid" || rc=$?
jobid=$(head -n 1 "$WORK/jobid" 2>/dev/null || true)
cat "$WORK/demo.out" 2>/dev/null || true
((rc != 124)) || fail "sbatch --wait timed out (job $jobid: $(job_field "$jobid" JobState))"
((rc == 0)) || fail "job $jobid exited with $rc (state $(job_field "$jobid" JobState))"
[[ $(job_field "$jobid" ExitCode) == 0:0 ]] || fail "job $jobid ExitCode $(job_field "$jobid" ExitCode)"
grep -q "^published .*/demo/v000001.h5" "$WORK/demo.out" ||
  fail "no 'published .../demo/v000001.h5' line in the job output"

snap=$(check_published "$WORK/registry" demo "$ranks")
say "PASS: job $jobid published $snap with $ranks ranks via $launcher"
