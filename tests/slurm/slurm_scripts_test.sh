#!/usr/bin/env bash
# Exercises the sbatch scripts' own mechanics (USR1 forwarding, requeue, resubmission, sweep job files) with a stand-in for sluice.
#
# Usage: slurm_scripts_test.sh
# The stand-in behaves like `sluice run` as far as the scripts can tell: progress lines, exit 75
# with saved progress on USR1, resume on the next run. It needs no build, so this test checks the
# scripts even where sluice itself is broken; the real behaviour is slurm_graceful_stop_test.sh's.
# Exit 77 (skip) only without root or without Slurm installed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/slurm_test_lib.sh"

require_slurm_or_skip
start_cluster

stub=$WORK/stub-sluice
cat >"$stub" <<'STUB'
#!/usr/bin/env bash
# Stand-in for `sluice run JOB`: 20 steps of 0.25 s, state kept next to the job file.
set -euo pipefail
[[ $1 == run ]] || exit 1
job=$2
rank=${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-${SLURM_PROCID:-0}}}
size=${OMPI_COMM_WORLD_SIZE:-${SLURM_STEP_NUM_TASKS:-1}}
state=$(dirname "$job")/stub-state.$rank
stop=0
trap 'stop=1' USR1 TERM
n=$(cat "$state" 2>/dev/null || echo 0)
((rank == 0)) && echo "stub: $size ranks, start at $n, threads ${OMP_NUM_THREADS:-?}, alpha $(sed -n 's/^alpha = //p' "$job")"
while ((n < 20)); do
  sleep 0.25 || true
  n=$((n + 1))
  echo "$n" >"$state"
  ((rank == 0)) && echo "[sluice] progress: $n/20 partitions"
  if ((stop)); then
    ((rank == 0)) && echo "stub: stopped at $n"
    exit 75
  fi
done
((rank == 0)) && echo "published stub $size"
exit 0
STUB
chmod +x "$stub"
export SLUICE_BIN=$stub

mkdir -p "$WORK/jobdir"
cat >"$WORK/jobdir/job.toml" <<'TOML'
[lake]
path = "lake"
glob = "**/*.h5"
block_rows = 65536
[model]
kind = "ridge"
features = ["x00", "x01"]
label = "y"
[publish]
registry = "registry"
name = "demo"
TOML

# Submits, waits for a progress line, sends USR1 to the batch shell; prints the job id.
interrupt() { # output-file sbatch-args...
  local out=$1 id
  shift
  id=$(timeout 30 sbatch --parsable --output="$out" "$@") || fail "sbatch $* failed"
  id=${id%%;*}
  wait_for_line "$out" '^\[sluice\] progress: [0-9]+/20' 60 || fail "job $id never made progress"
  timeout 10 scancel --signal=USR1 --batch "$id" || fail "scancel --signal=USR1 --batch $id failed"
  echo "$id"
}

for launcher in mpirun srun; do
  script=$SLURM_TEST_CLUSTER/sluice-run.sbatch
  [[ $launcher == srun ]] && script=$SLURM_TEST_CLUSTER/sluice-run-srun.sbatch
  say "$launcher: USR1 then requeue"
  rm -f "$WORK"/jobdir/stub-state.*
  out=$WORK/requeue-$launcher.out
  # 3 ranks on 2 allocated tasks: the script must oversubscribe (mpirun) or overcommit (srun).
  id=$(SLUICE_NP=3 interrupt "$out" -n 2 --time=5 "$script" "$WORK/jobdir/job.toml")
  t0=$SECONDS
  state=$(wait_job_done "$id" 120) || fail "job $id did not finish: $state"
  cat "$out"
  [[ $state == COMPLETED ]] || fail "job $id ended $state$(requeue_failure_hint)"
  grep -q 'sluice exited with status 75' "$out" || fail "stand-in did not stop on the forwarded USR1"
  grep -q "requeued job $id" "$out" || fail "no requeue"
  check_rerun_after_requeue "$id"
  (($(job_field "$id" Restarts) == 1)) || fail "Restarts=$(job_field "$id" Restarts), expected 1"
  grep -Eq '^stub: 3 ranks, start at [1-9]' "$out" || fail "the rerun did not start where the first run stopped"
  grep -q '^published stub 3$' "$out" || fail "rerun did not finish with 3 ranks"
  # The helper lifts Slurm's requeue delay (AuthInfo cred_expire); without it this takes > 20 s.
  say "$launcher: requeued run finished $((SECONDS - t0)) s after the signal"
done

say "--no-requeue: USR1 then resubmission"
rm -f "$WORK"/jobdir/stub-state.*
out=$WORK/resubmit.out
id=$(interrupt "$out" -n 2 --time=5 --no-requeue "$SLURM_TEST_CLUSTER/sluice-run.sbatch" "$WORK/jobdir/job.toml")
state=$(wait_job_done "$id" 60) || fail "job $id did not finish: $state"
[[ $state == FAILED && $(job_field "$id" ExitCode) == 75:0 ]] ||
  fail "resubmitting job $id ended $state/$(job_field "$id" ExitCode), expected FAILED/75:0"
next=$(sed -n 's/.*resubmitted as job \([0-9]*\).*/\1/p' "$out" | head -n 1)
[[ -n $next ]] || fail "no resubmission message: $(tail -n 3 "$out")"
state=$(wait_job_done "$next" 120) || fail "job $next did not finish: $state"
cat "$out"
[[ $state == COMPLETED ]] || fail "resubmitted job $next ended $state"
grep -q "\[job $next run 1\] sluice exited with status 0" "$out" || fail "resubmitted job did not append to $out"
grep -q '^published stub 2$' "$out" || fail "resubmitted run did not finish"

say "sweep: 3 alphas as a job array"
rm -f "$WORK"/jobdir/stub-state.*
id=$(SLUICE_ALPHAS="0.5 2 1e-3" timeout 30 sbatch --parsable --array=0-2 --time=5 \
  --output="$WORK/sweep-%A_%a.out" "$SLURM_TEST_CLUSTER/sluice-sweep.sbatch" "$WORK/jobdir/job.toml") ||
  fail "sbatch sweep failed"
id=${id%%;*}
deadline=$((SECONDS + 120))
while [[ -n $(timeout 10 squeue -h -j "$id" 2>/dev/null) ]]; do
  ((SECONDS < deadline)) || fail "sweep $id still queued after 120 s"
  sleep 0.5
done
cat "$WORK"/sweep-*.out
alphas=(0.5 2.0 1e-3)
for i in 0 1 2; do
  f=$WORK/jobdir/sweep-job/a$i/job.toml
  [[ -f $f ]] || fail "sweep task $i wrote no $f"
  grep -qx "alpha = ${alphas[i]}" "$f" || fail "$f: alpha is not ${alphas[i]}"
  grep -qx "name = \"demo-a$i\"" "$f" || fail "$f: model name is not demo-a$i"
  grep -qx "path = \"$WORK/jobdir/lake\"" "$f" || fail "$f: lake path not made absolute"
  grep -qx "registry = \"$WORK/jobdir/registry\"" "$f" || fail "$f: registry not made absolute"
  grep -q '^published stub 1$' "$WORK/sweep-${id}_$i.out" || fail "sweep task $i did not finish"
done
say "PASS: USR1 forwarding, requeue (mpirun, srun), resubmission and sweep job files"
