#!/usr/bin/env bash
# Sends USR1 to a running sbatch job, expects sluice to stop (finished partitions kept in the partial cache), the job to requeue and resume, and the result to match an uninterrupted run bit for bit.
#
# Usage: slurm_graceful_stop_test.sh SLUICE_EXE [mpirun|srun]
# Exit 77 (skip) only without root or without Slurm installed. Fails if sluice does not stop
# with status 75 on USR1, if the job is not requeued, or if the models differ.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/slurm_test_lib.sh"

prepare_sluice_test "${1:-}" "${2:-mpirun}"

start_cluster
# Enough partitions that a stop lands between them, and small read blocks so the run lasts
# seconds rather than milliseconds (the tunables below are for a 2-core machine).
partitions=${SLURM_TEST_PARTITIONS:-16}
rows=${SLURM_TEST_ROWS:-100000}
block_rows=${SLURM_TEST_BLOCK_ROWS:-4}
say "generating a lake: $partitions partitions x $rows rows"
timeout 300 "$sluice" gen --out "$WORK/lake" --partitions "$partitions" --rows "$rows" --features 6 \
  --seed 11 --job "$WORK/job.toml" --registry "$WORK/registry" --name stopped >"$WORK/gen.out" 2>&1 ||
  fail "sluice gen failed: $(tail -n 5 "$WORK/gen.out")"
grep -Eq '^[[:space:]]*block_rows[[:space:]]*=' "$WORK/job.toml" ||
  fail "generated job file has no block_rows line to shrink"
sed -i -E "s/^([[:space:]]*block_rows[[:space:]]*=).*/\1 $block_rows/" "$WORK/job.toml"
# The reference: the same job under another name (its own versions), reading every partition
# (no partial cache, which the interrupted job shares with it in the same registry).
sed -E 's/^([[:space:]]*name[[:space:]]*=).*/\1 "reference"/' "$WORK/job.toml" >"$WORK/job-reference.toml"
grep -q '"reference"' "$WORK/job-reference.toml" || fail "could not rename the reference job"
printf '\n[cache]\nenabled = false\n' >>"$WORK/job-reference.toml"

export SLUICE_BIN=$sluice SLUICE_PROGRESS_SECONDS=0.2

say "submitting the job to interrupt ($(basename "$script"), -n 2)"
jobid=$(timeout 30 sbatch --parsable -n 2 --time=15 --output="$WORK/stopped.out" \
  "$script" "$WORK/job.toml") || fail "sbatch failed"
jobid=${jobid%%;*}
# Signal only once sluice is reading partitions: its progress line says so.
wait_for_line "$WORK/stopped.out" '^\[sluice\] progress: ' 120 ||
  fail "no progress line from sluice within 120 s (job $jobid: $(job_field "$jobid" JobState))"
say "job $jobid is reading partitions: $(grep -m1 '^\[sluice\] progress: ' "$WORK/stopped.out")"
timeout 10 scancel --signal=USR1 --batch "$jobid" || fail "scancel --signal=USR1 failed"
say "sent USR1 to the batch shell of job $jobid"

state=$(wait_job_done "$jobid" 300) || fail "job $jobid did not finish: $state"
cat "$WORK/stopped.out"
[[ $state == COMPLETED ]] ||
  fail "job $jobid ended $state (ExitCode $(job_field "$jobid" ExitCode))$(requeue_failure_hint)"
[[ $(job_field "$jobid" ExitCode) == 0:0 ]] || fail "job $jobid ExitCode $(job_field "$jobid" ExitCode)"
grep -q 'SIGUSR1 received' "$WORK/stopped.out" || fail "the batch shell never saw USR1"
grep -q 'sluice exited with status 75' "$WORK/stopped.out" ||
  fail "sluice did not stop with status 75 (stopped on request) after USR1; the job ran through or failed"
restarts=$(job_field "$jobid" Restarts)
((restarts >= 1)) || fail "job $jobid was not requeued (Restarts=$restarts)"
grep -q "requeued job $jobid" "$WORK/stopped.out" || fail "no requeue message in the job output"
check_rerun_after_requeue "$jobid"
grep -Eq ' cached=[1-9]' "$WORK/stopped.out" || fail "the rerun did not resume from the partial cache"
stopped=$(check_published "$WORK/registry" stopped 2)
[[ $(basename "$stopped") == v000001.h5 ]] || fail "the interrupted job published $stopped, not v000001.h5"

say "submitting the uninterrupted reference run"
# Polled rather than `sbatch --wait`, which checks only every few tens of seconds.
refid=$(timeout 30 sbatch --parsable -n 2 --time=15 --output="$WORK/reference.out" \
  "$script" "$WORK/job-reference.toml") || fail "sbatch failed"
refid=${refid%%;*}
state=$(wait_job_done "$refid" 300) || fail "reference job $refid did not finish: $state"
[[ $state == COMPLETED && $(job_field "$refid" ExitCode) == 0:0 ]] ||
  fail "reference job $refid ended $state (ExitCode $(job_field "$refid" ExitCode))"
grep -q 'sluice exited with status 75' "$WORK/reference.out" && fail "the reference run was interrupted"
reference=$(check_published "$WORK/registry" reference 2)

say "comparing $stopped with $reference"
timeout 60 /usr/bin/python3 - "$stopped" "$reference" <<'PY' || fail "models differ"
import sys
import h5py

def model(path):
    with h5py.File(path, "r") as f:
        c, i = f["/model/coefficients"], f["/model"].attrs["intercept"]
        return (c.dtype.str, c.shape, c[...].tobytes()), (i.dtype.str, i.shape, i.tobytes())

a, b = model(sys.argv[1]), model(sys.argv[2])
for what, x, y in zip(("coefficients", "intercept"), a, b):
    if x != y:
        print(f"{what} differ: {x!r} vs {y!r}")
        sys.exit(1)
    print(f"{what}: identical ({len(x[2])} bytes)")
PY
say "PASS: job $jobid stopped on USR1, requeued ($restarts restart(s)), resumed and published the same bits as the reference"
