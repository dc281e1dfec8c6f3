# Helpers shared by the Slurm test scripts (sourced): skip rules, a private cluster, job polling.
# shellcheck shell=bash
#
# Each test runs its own single-node Slurm in a fresh work dir on ports of its own, so it neither
# sees nor disturbs a cluster started with local-slurm.sh's defaults.

SLURM_TEST_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SLURM_TEST_CLUSTER=$SLURM_TEST_REPO/cluster/slurm
readonly SKIP=77 # CTest's SKIP_RETURN_CODE

say() { echo "[$(date +%T)] $*"; }
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Skips (exit 77) only where the test cannot run at all: Slurm's daemons need root, and the
# packages may be absent. Everything else that goes wrong is a failure.
require_slurm_or_skip() {
  if [[ $(id -u) -ne 0 ]]; then
    echo "SKIP: Slurm tests start slurmctld/slurmd/munged and need root" >&2
    exit "$SKIP"
  fi
  local tool
  for tool in slurmctld slurmd sbatch munged; do
    if ! command -v "$tool" >/dev/null 2>&1 && [[ ! -x /usr/sbin/$tool ]]; then
      echo "SKIP: $tool not installed (cluster/setup.sh installs slurm-wlm and munge)" >&2
      exit "$SKIP"
    fi
  done
}

require_sluice() { # path
  [[ -n ${1:-} && -x $1 ]] || fail "sluice binary '${1:-}' is missing or not executable"
}

# As root Open MPI otherwise prints a warning, runs nothing and exits 0.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

port_in_use() { # port
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Prints a port P such that P and P+1 are both free.
pick_ports() {
  local i p
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + (RANDOM % 10000) * 2))
    if ! port_in_use "$p" && ! port_in_use $((p + 1)); then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# Creates $WORK, starts the cluster and arranges for both to go away on exit (the work dir is
# kept after a failure, for its logs, or when SLURM_TEST_KEEP is set).
start_cluster() {
  WORK=$(mktemp -d /tmp/sluice-slurm-test.XXXXXX)
  SLURM_DIR=$WORK/slurm
  # A free pair of ports of its own, so neither a developer's cluster on 6817/6818 nor a test
  # run by another CTest invocation at the same time is talked to by mistake.
  export SLUICE_SLURM_PORT=${SLUICE_TEST_SLURM_PORT:-$(pick_ports)}
  [[ -n $SLUICE_SLURM_PORT ]] || fail "no free port pair for slurmctld/slurmd"
  export SLURM_CONF=$SLURM_DIR/slurm.conf
  trap on_exit EXIT
  say "starting Slurm in $SLURM_DIR (port $SLUICE_SLURM_PORT)"
  timeout 90 "$SLURM_TEST_CLUSTER/local-slurm.sh" start "$SLURM_DIR" >/dev/null ||
    fail "local-slurm.sh start failed"
  timeout 10 sinfo -N || true
}

on_exit() {
  local rc=$?
  set +e
  if ((rc != 0 && rc != SKIP)) && [[ -n ${WORK:-} ]]; then
    echo "----- test failed (rc=$rc); job outputs and daemon logs follow; work dir kept: $WORK" >&2
    local f
    for f in "$WORK"/*.out "$SLURM_DIR"/log/*.log; do
      [[ -f $f ]] || continue
      echo "----- $f (last 40 lines)" >&2
      tail -n 40 "$f" >&2
    done
    timeout 10 squeue >&2
  fi
  if [[ -n ${SLURM_DIR:-} ]]; then
    timeout 60 "$SLURM_TEST_CLUSTER/local-slurm.sh" stop "$SLURM_DIR" >/dev/null 2>&1 ||
      echo "warning: local-slurm.sh stop failed" >&2
  fi
  # SLURM_TEST_KEEP=1 keeps the work dir (job outputs, daemon logs) after a pass too.
  if ((rc == 0)) && [[ -n ${WORK:-} && -d $WORK && -z ${SLURM_TEST_KEEP:-} ]]; then
    rm -rf -- "$WORK"
  fi
  exit "$rc"
}

# One field of `scontrol show job` (JobState, ExitCode, Restarts, ...), empty if unknown.
job_field() { # jobid field
  timeout 10 scontrol show job -o "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

# Waits until the job has ended for good (a requeued job passes through several states).
wait_job_done() { # jobid seconds
  local id=$1 deadline=$((SECONDS + $2)) state
  while ((SECONDS < deadline)); do
    state=$(job_field "$id" JobState)
    case $state in
      COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED)
        echo "$state"
        return 0
        ;;
    esac
    sleep 0.5
  done
  echo "TIMEOUT_WAITING($(job_field "$id" JobState))"
  return 1
}

# Why a requeued job may have failed to rerun, if the daemon logs tell (else nothing): slurmd
# refuses a batch launch whose credential dates from the second its last run was ended in.
requeue_failure_hint() {
  if grep -qs 'already killed, do not launch batch job' "$SLURM_DIR"/log/slurmd-*.log; then
    echo "; slurmd refused the rerun's launch as already killed (rerun started within the second of the requeue)"
  fi
}

# Checks that a requeued job's last run started in a later second than its requeue (its
# SubmitTime): an earlier start races with slurmd's credential revocation and can fail the job.
check_rerun_after_requeue() { # jobid
  local submit start
  submit=$(job_field "$1" SubmitTime)
  start=$(job_field "$1" StartTime)
  submit=$(date -d "$submit" +%s 2>/dev/null) || fail "job $1: no SubmitTime"
  start=$(date -d "$start" +%s 2>/dev/null) || fail "job $1: no StartTime"
  ((start > submit)) ||
    fail "job $1's rerun started $((start - submit)) s after its requeue; it must start in a later second"
}

# Waits until a regex appears in a file.
wait_for_line() { # file regex seconds
  local deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    grep -Eq -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

# Checks REGISTRY/NAME/CURRENT names an existing, readable snapshot made by RANKS ranks (when
# given); prints the snapshot's path.
check_published() { # registry name [ranks]
  local dir=$1/$2 ranks=${3:-0} current snap
  [[ -s $dir/CURRENT ]] || fail "$dir/CURRENT missing or empty"
  current=$(head -n 1 "$dir/CURRENT")
  [[ $current =~ ^v[0-9]{6}\.h5$ ]] || fail "CURRENT holds '$current', not a snapshot name"
  snap=$dir/$current
  [[ -f $snap ]] || fail "CURRENT names $current but $snap does not exist"
  timeout 60 /usr/bin/python3 - "$snap" "$ranks" <<'EOF' >&2 || fail "snapshot $snap is not readable or wrong"
import sys
import h5py
import numpy as np

with h5py.File(sys.argv[1], "r") as f:
    coef = np.asarray(f["/model/coefficients"][...])
    intercept = np.asarray(f["/model"].attrs["intercept"])
    assert coef.ndim == 1 and coef.size > 0, f"coefficients shape {coef.shape}"
    assert np.all(np.isfinite(coef)) and np.all(np.isfinite(intercept)), "non-finite model"
    ranks = int(f["/lineage"].attrs["num_ranks"])
    want = int(sys.argv[2])
    # mpirun as root without its two variables "succeeds" having run nothing; a wrong rank
    # count here would also mean the launcher ignored the requested size.
    assert want == 0 or ranks == want, f"made by {ranks} ranks, expected {want}"
    print(f"snapshot {sys.argv[1]}: {coef.size} coefficients, intercept "
          f"{intercept.ravel()[0]!r}, {ranks} ranks")
EOF
  echo "$snap"
}

# Shared start of the sluice-on-Slurm tests: checks prerequisites, resolves the sluice binary into
# $sluice and the batch script for the launcher (mpirun or srun) into $script.
prepare_sluice_test() {
  sluice=${1:-}
  launcher=${2:-mpirun}
  require_slurm_or_skip
  require_sluice "$sluice"
  sluice=$(realpath "$sluice")
  case $launcher in
    mpirun) script=$SLURM_TEST_CLUSTER/sluice-run.sbatch ;;
    srun) script=$SLURM_TEST_CLUSTER/sluice-run-srun.sbatch ;;
    *) fail "launcher must be mpirun or srun" ;;
  esac
}
