# Shared by the Sluice sbatch scripts (sourced, not run): settings, launch, graceful stop, requeue.
# shellcheck shell=bash
#
# The sbatch scripts find this file through $SLUICE_SLURM_LIB, the directory of the submitted
# script, or $SLURM_SUBMIT_DIR/cluster/slurm. Settings (environment, all optional):
#   SLUICE_BIN           sluice binary (default: `sluice` on PATH, else
#                        $SLURM_SUBMIT_DIR/build/apps/sluice)
#   SLUICE_JOB           job file (or the script's first argument)
#   SLUICE_NP            MPI ranks (default: the allocation's task count, from -n, -N and
#                        --ntasks-per-node; more than that oversubscribes, with a warning)
#   SLUICE_THREADS       OpenMP threads per rank, passed as `--threads` (default:
#                        $SLURM_CPUS_PER_TASK when --cpus-per-task was given, which must then agree
#                        with the job file's [run] threads if it sets them; else the job file or
#                        OMP_NUM_THREADS decides)
#   SLUICE_LAUNCHER      mpirun | srun (each script sets its own default)
#   SLUICE_MPIRUN        mpirun binary (default mpirun)
#   SLUICE_MPIRUN_ARGS   extra mpirun words (default "--bind-to none": binding to cores would pin
#                        a rank's OpenMP threads to one core)
#   SLUICE_MPIRUN_MCA    mpirun's failure-detection settings (default: TCP keepalive on the
#                        daemons' links after 5 s idle, 3 probes 2 s apart, so a dead link or host
#                        ends the job in about 11 s instead of about 8 minutes); "" drops them
#   SLUICE_SRUN_ARGS     extra srun words
#   SLUICE_RUN_ARGS      extra `sluice run` words (e.g. "--no-cache")
#   SLUICE_REQUEUE       auto (requeue, else resubmit) | requeue | resubmit | never
#   SLUICE_MAX_RESTARTS  stop requeueing after this many restarts (default 20)
#   SLUICE_FAST_REQUEUE  1 (default): after a requeue, cut Slurm's start delay for it to about
#                        2 s (`scontrol update jobid=ID StartTime=now`); 0: leave the delay

# Exit code of `sluice run` when it stopped on request, its finished partitions kept in the partial cache.
readonly SLUICE_EX_STOPPED=75

# "run" counts the earlier runs of this job: requeues plus resubmissions.
sluice_log() {
  echo "sluice-slurm: [job ${SLURM_JOB_ID:-?} run $((${SLURM_RESTART_COUNT:-0} + ${SLUICE_RESUBMIT_COUNT:-0}))] $*" >&2
}

# Resolves settings shared by every script; call once, before sluice_launch.
sluice_setup() {
  if [[ -z ${SLURM_JOB_ID:-} ]]; then
    echo "sluice-slurm: not inside a Slurm job; submit this script with sbatch" >&2
    exit 2
  fi
  if [[ -z ${SLUICE_BIN:-} ]]; then
    SLUICE_BIN=$(command -v sluice || echo "${SLURM_SUBMIT_DIR:-.}/build/apps/sluice")
  fi
  [[ -x $SLUICE_BIN ]] || {
    sluice_log "error: sluice binary '$SLUICE_BIN' not found or not executable (set SLUICE_BIN)"
    exit 2
  }
  if [[ $(id -u) -eq 0 ]]; then
    # As root Open MPI otherwise prints a warning, runs nothing and exits 0.
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  fi
  SLUICE_ALLOC_TASKS=$(sluice_allocation_tasks)
  if ((SLUICE_ALLOC_TASKS < 1)); then
    sluice_log "error: the job's allocation is empty (nodes '${SLURM_JOB_NODELIST:-}', tasks per node '${SLURM_TASKS_PER_NODE:-}'); submit with sbatch -N/-n/--ntasks-per-node"
    exit 2
  fi
  SLUICE_NP=${SLUICE_NP:-$SLUICE_ALLOC_TASKS}
  if ! [[ $SLUICE_NP =~ ^[1-9][0-9]*$ ]]; then
    sluice_log "error: SLUICE_NP='$SLUICE_NP' is not a positive rank count"
    exit 2
  fi
  if ((SLUICE_NP > SLUICE_ALLOC_TASKS)); then
    sluice_log "warning: SLUICE_NP=$SLUICE_NP ranks but the allocation has $SLUICE_ALLOC_TASKS tasks (${SLURM_JOB_NUM_NODES:-1} nodes, ${SLURM_TASKS_PER_NODE:-?} per node): oversubscribing, ranks share CPUs; submit with -n $SLUICE_NP to give each its own"
  fi
  SLUICE_THREADS_FROM=SLUICE_THREADS
  if [[ -z ${SLUICE_THREADS:-} && -n ${SLURM_CPUS_PER_TASK:-} ]]; then
    SLUICE_THREADS=$SLURM_CPUS_PER_TASK
    SLUICE_THREADS_FROM=--cpus-per-task
  fi
  SLUICE_THREADS=${SLUICE_THREADS:-}
  if [[ -n $SLUICE_THREADS && ! $SLUICE_THREADS =~ ^[1-9][0-9]*$ ]]; then
    sluice_log "error: SLUICE_THREADS='$SLUICE_THREADS' is not a positive thread count"
    exit 2
  fi
  export OMP_NUM_THREADS=${SLUICE_THREADS:-${OMP_NUM_THREADS:-1}}
  SLUICE_LAUNCHER=${SLUICE_LAUNCHER:-mpirun}
  SLUICE_REQUEUE=${SLUICE_REQUEUE:-auto}
  SLUICE_MAX_RESTARTS=${SLUICE_MAX_RESTARTS:-20}
  SLUICE_FAST_REQUEUE=${SLUICE_FAST_REQUEUE:-1}
}

# The allocation's task count: -n if given, else the sum over nodes of the tasks per node
# (SLURM_TASKS_PER_NODE, e.g. "2(x3),1"), which -N and --ntasks-per-node decide; 0 if none.
sluice_allocation_tasks() {
  if [[ ${SLURM_NTASKS:-} =~ ^[0-9]+$ ]]; then
    echo "$SLURM_NTASKS"
    return
  fi
  local total=0 part count times
  local -a parts
  IFS=, read -r -a parts <<<"${SLURM_TASKS_PER_NODE:-}"
  for part in "${parts[@]}"; do
    if [[ $part =~ ^([0-9]+)\(x([0-9]+)\)$ ]]; then
      count=${BASH_REMATCH[1]} times=${BASH_REMATCH[2]}
    elif [[ $part =~ ^[0-9]+$ ]]; then
      count=$part times=1
    else
      continue
    fi
    total=$((total + count * times))
  done
  echo "$total"
}

# The job file's [run] threads, or nothing when it sets none (0 means "not set" to sluice too).
sluice_job_threads() { # job file
  sed -n '/^[[:space:]]*\[run\][[:space:]]*\(#.*\)\{0,1\}$/,/^[[:space:]]*\[/ s/^[[:space:]]*threads[[:space:]]*=[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$1" 2>/dev/null |
    head -n 1
}

# --cpus-per-task and the job file's [run] threads both say how many threads a rank runs; when
# they disagree the job would either leave CPUs idle or run more threads than it was given.
sluice_check_threads() { # job file
  local from_job
  from_job=$(sluice_job_threads "$1")
  [[ -n $from_job && $from_job != 0 && -n $SLUICE_THREADS ]] || return 0
  ((from_job == SLUICE_THREADS)) && return 0
  if [[ $SLUICE_THREADS_FROM == --cpus-per-task ]]; then
    sluice_log "error: the job was submitted with --cpus-per-task=$SLURM_CPUS_PER_TASK but job file $1 sets [run] threads = $from_job; submit with -c $from_job, remove threads from the job file, or set SLUICE_THREADS to choose"
    exit 2
  fi
  sluice_log "note: SLUICE_THREADS=$SLUICE_THREADS overrides [run] threads = $from_job in $1"
}

# Fills the array named by $1 with the command that runs `sluice run JOB` under the launcher.
sluice_command() {
  local -n out=$1
  local job=$2 slots=$SLUICE_ALLOC_TASKS
  local -a extra run_args=(run "$job")
  [[ -n $SLUICE_THREADS ]] && run_args+=(--threads "$SLUICE_THREADS")
  local -a more_run_args
  read -r -a more_run_args <<<"${SLUICE_RUN_ARGS-}"
  run_args+=("${more_run_args[@]}")
  case $SLUICE_LAUNCHER in
    mpirun)
      read -r -a extra <<<"${SLUICE_MPIRUN_ARGS---bind-to none}"
      local -a mca
      # Open MPI notices a dead host or link only when TCP does: by default after about 8
      # minutes. Keepalive probes on the daemons' links end such a job in about 11 s.
      read -r -a mca <<<"${SLUICE_MPIRUN_MCA---mca oob_tcp_keepalive_time 5 --mca oob_tcp_keepalive_intvl 2 --mca oob_tcp_keepalive_probes 3}"
      out=("${SLUICE_MPIRUN:-mpirun}" -n "$SLUICE_NP" "${mca[@]}")
      # mpirun gives one slot per allocated task; more ranks than that needs oversubscription.
      ((SLUICE_NP > slots)) && out+=(--oversubscribe)
      out+=(-x OMP_NUM_THREADS "${extra[@]}" "$SLUICE_BIN" "${run_args[@]}")
      ;;
    srun)
      read -r -a extra <<<"${SLUICE_SRUN_ARGS-}"
      # Open MPI here has PMIx but no Slurm PMI support: only --mpi=pmix starts ranks.
      # --kill-on-bad-exit: a rank that dies must not leave its peers waiting forever.
      out=(srun --mpi=pmix -n "$SLUICE_NP" --kill-on-bad-exit=1)
      ((SLUICE_NP > slots)) && out+=(--overcommit)
      # srun no longer inherits --cpus-per-task from the batch allocation (Slurm >= 22.05).
      [[ -n ${SLURM_CPUS_PER_TASK:-} ]] && out+=(--cpus-per-task "$SLURM_CPUS_PER_TASK")
      out+=("${extra[@]}" "$SLUICE_BIN" "${run_args[@]}")
      ;;
    *)
      sluice_log "error: SLUICE_LAUNCHER must be mpirun or srun, not '$SLUICE_LAUNCHER'"
      exit 2
      ;;
  esac
}

# Set by the traps below; read by sluice_launch.
_sluice_child=
_sluice_signals=0
_sluice_usr1=0
_sluice_term=0

_sluice_forward() { # signal name that arrived
  _sluice_signals=$((_sluice_signals + 1))
  if [[ $1 == TERM ]]; then _sluice_term=1; else _sluice_usr1=1; fi
  if [[ -n $_sluice_child ]] && kill -0 "$_sluice_child" 2>/dev/null; then
    sluice_log "SIG$1 received: asking sluice to stop at the next partition boundary"
    # USR1 in both cases: mpirun and srun forward USR1 to every rank, whereas a TERM makes
    # mpirun kill the ranks itself before they can stop cleanly.
    kill -USR1 "$_sluice_child" 2>/dev/null || true
  fi
}

# Runs sluice on job file $1 under the launcher, forwarding USR1/TERM from the batch shell, and
# requeues or resubmits the job when sluice stopped early (finished partitions in the partial cache). Further arguments
# are the script's own, kept for a resubmission. Exits the script with the final status.
sluice_launch() {
  local job=$1
  shift
  local -a cmd
  sluice_check_threads "$job"
  sluice_command cmd "$job"
  trap '_sluice_forward USR1' USR1
  trap '_sluice_forward TERM' TERM
  sluice_log "on $(hostname) ($SLURM_JOB_NODELIST, ${SLURM_JOB_NUM_NODES:-1} nodes, $SLUICE_ALLOC_TASKS tasks), $SLUICE_NP ranks, OMP_NUM_THREADS=$OMP_NUM_THREADS"
  sluice_log "running: ${cmd[*]}"

  # Run in the background and wait: bash runs a trap only between commands, so a foreground
  # child would delay the forwarding until it had finished anyway.
  local srun_log=
  if [[ $SLUICE_LAUNCHER == srun ]]; then
    # srun exits 0 when its step fails to launch ("task 0 launch failed"); its messages are the
    # only sign, so keep a copy of them.
    srun_log=$(mktemp "${TMPDIR:-/tmp}/sluice-srun.XXXXXX")
    "${cmd[@]}" 2> >(tee -a "$srun_log" >&2) &
  else
    "${cmd[@]}" &
  fi
  _sluice_child=$!
  local rc before
  while :; do
    before=$_sluice_signals
    rc=0
    wait "$_sluice_child" || rc=$?
    # A trap interrupts `wait` with 128+signal while the child runs on; wait again then.
    if ((rc > 128 && _sluice_signals != before)) && kill -0 "$_sluice_child" 2>/dev/null; then
      continue
    fi
    if ((rc > 128 && _sluice_signals != before)); then
      # The child may have exited just as the trap ran; bash kept its status for this wait.
      local again=0
      wait "$_sluice_child" 2>/dev/null || again=$?
      # 127: that status was already collected above, so rc is right as it is.
      if ((again != 127)); then rc=$again; fi
    fi
    break
  done
  _sluice_child=
  if [[ -n $srun_log ]]; then
    if ((rc == 0)) && grep -Eq 'launch failed|aborted before step completely launched' "$srun_log"; then
      sluice_log "error: srun reported status 0 but its job step failed to launch"
      rc=1
    fi
    rm -f "$srun_log"
  fi
  sluice_log "sluice exited with status $rc"

  if ((rc != SLUICE_EX_STOPPED)); then
    exit "$rc"
  fi
  if ((_sluice_term)); then
    # A TERM means Slurm is ending the job (scancel, time limit, preemption): leave the
    # partial cache for a later run rather than fight the cancellation.
    sluice_log "stopped by SIGTERM; finished partitions kept in the partial cache, not requeueing"
    exit "$rc"
  fi
  _sluice_wait_steps_gone
  _sluice_continue "$@"
}

# A step whose tasks have exited can still be tearing down for a few seconds after slurmctld has
# forgotten it. A requeued run that starts meanwhile (see _sluice_clear_requeue_delay) reuses the
# step id, and its srun --mpi=pmix then fails on the old step's PMIx socket. So wait until
# slurmctld lists no step and, on this node, no step daemon's socket is left in slurmd's spool
# directory (where that cannot be read, wait SLUICE_STEP_GRACE seconds, default 5, instead).
_sluice_wait_steps_gone() {
  local i spool busy f step
  spool=$(timeout 10 scontrol show config 2>/dev/null | sed -n 's/^SlurmdSpoolDir *= *//p')
  spool=${spool//%n/${SLURMD_NODENAME:-$(hostname -s)}}
  spool=${spool//%h/$(hostname -s)}
  for ((i = 0; i < 120; i++)); do
    busy=$(timeout 10 squeue -h -s -j "$SLURM_JOB_ID" -o %i 2>/dev/null | grep -E "^${SLURM_JOB_ID}\.[0-9]+$" || true)
    if [[ -z $busy && -n $spool && -r $spool && -x $spool ]]; then
      for f in "$spool"/*_"$SLURM_JOB_ID".* "$spool"/stepd.slurm.pmix."$SLURM_JOB_ID".*; do
        [[ -e $f ]] || continue
        step=${f##*.}
        # The batch and extern steps have ids near 2^32; they are this script's own.
        [[ $step =~ ^[0-9]+$ ]] && ((step < 4294967000)) && busy+=" $(basename "$f")"
      done
    elif [[ -z $busy ]]; then
      sleep "${SLUICE_STEP_GRACE:-5}"
      return 0
    fi
    [[ -z $busy ]] && return 0
    sleep 0.5
  done
  sluice_log "warning: job steps still present after 60 s:$busy"
}

# Requeues this job (same id, same options) or, where that is refused, submits a copy of the
# script that starts after this job. Either way the next run resumes from the partial cache.
_sluice_continue() {
  local restarts=$((${SLURM_RESTART_COUNT:-0} + ${SLUICE_RESUBMIT_COUNT:-0}))
  if ((restarts >= SLUICE_MAX_RESTARTS)); then
    sluice_log "stopped on request, but $restarts restarts reached SLUICE_MAX_RESTARTS; not continuing"
    exit "$SLUICE_EX_STOPPED"
  fi
  case $SLUICE_REQUEUE in
    never)
      sluice_log "stopped with its finished partitions in the partial cache; SLUICE_REQUEUE=never, rerun the job to resume"
      exit "$SLUICE_EX_STOPPED"
      ;;
    auto | requeue)
      if timeout 30 scontrol requeue "$SLURM_JOB_ID"; then
        sluice_log "stopped with its finished partitions in the partial cache; requeued job $SLURM_JOB_ID to resume"
        ((SLUICE_FAST_REQUEUE)) && _sluice_clear_requeue_delay
        # Slurm now ends this run of the job; wait for that rather than report a status
        # that would race with the requeue.
        sleep 120 &
        wait $! || true
        exit "$SLUICE_EX_STOPPED"
      fi
      if [[ $SLUICE_REQUEUE == requeue ]]; then
        sluice_log "error: scontrol requeue refused and SLUICE_REQUEUE=requeue"
        exit "$SLUICE_EX_STOPPED"
      fi
      sluice_log "requeue refused (submitted with --no-requeue?); resubmitting instead"
      ;& # fall through
    resubmit)
      _sluice_resubmit "$@"
      ;;
    *)
      sluice_log "error: SLUICE_REQUEUE must be auto, requeue, resubmit or never"
      exit "$SLUICE_EX_STOPPED"
      ;;
  esac
}

# Slurm holds a requeued job back for the credential lifetime (120 s by default) before it may
# start again. `scontrol update jobid=ID StartTime=now` lifts that, but only once the job is
# PENDING, which is after this script has been ended; so a detached helper waits for that.
# It must not lift it at once: ending the old run makes slurmd revoke the job's credentials as of
# that second (slurmctld's clock, whole seconds), and slurmd refuses a batch launch whose
# credential is not strictly newer ("Job N already killed, do not launch batch job"); slurmctld
# then ends the job FAILED instead of running it. So the helper first lets 2 s pass after the
# later of the requeue (the job's new SubmitTime, on slurmctld's clock) and its own first sight
# of the job PENDING (the old run may have been killed again while completing); the margin
# covers a small clock difference to slurmctld. A StartTime set in the future instead would
# wait for the next periodic scheduling pass (up to 30 s or more); StartTime=now starts one.
_sluice_clear_requeue_delay() {
  # shellcheck disable=SC2016 # the helper expands its own variables
  setsid -f bash -c '
    for ((i = 0; i < 240; i++)); do
      IFS="|" read -r state submit < <(timeout 10 squeue -h -j "$1" -o "%T|%V" 2>/dev/null) ||
        state=
      if [[ $state == PENDING ]]; then
        now=$(date +%s)
        submitted=$(date -d "$submit" +%s 2>/dev/null) || submitted=$now
        start=$(((submitted > now ? submitted : now) + 2))
        while (($(date +%s) < start)); do sleep 0.1; done
        timeout 10 scontrol update jobid="$1" StartTime=now
        exit
      fi
      sleep 0.5
    done' sluice-requeue-helper "$SLURM_JOB_ID" </dev/null >/dev/null 2>&1 || true
}

# Submits this script again, dependent on this job, carrying over the main resource options.
# Options given only on the original sbatch command line and not listed here are not carried
# over; SLUICE_REQUEUE=requeue (the default where allowed) keeps every option.
_sluice_resubmit() {
  # --no-requeue: this job could not be requeued, so neither will the copy; it resubmits too.
  local -a opts=(--dependency="afterany:$SLURM_JOB_ID" --open-mode=append --no-requeue
    --job-name="$SLURM_JOB_NAME" --nodes="${SLURM_JOB_NUM_NODES:-1}"
    --ntasks="$SLUICE_ALLOC_TASKS")
  [[ -n ${SLURM_NTASKS_PER_NODE:-} ]] && opts+=(--ntasks-per-node="$SLURM_NTASKS_PER_NODE")
  [[ -n ${SLURM_CPUS_PER_TASK:-} ]] && opts+=(--cpus-per-task="$SLURM_CPUS_PER_TASK")
  [[ -n ${SLURM_MEM_PER_NODE:-} ]] && opts+=(--mem="$SLURM_MEM_PER_NODE")
  [[ -n ${SLURM_MEM_PER_CPU:-} ]] && opts+=(--mem-per-cpu="$SLURM_MEM_PER_CPU")
  [[ -n ${SLURM_JOB_PARTITION:-} ]] && opts+=(--partition="$SLURM_JOB_PARTITION")
  local info limit out err
  info=$(timeout 30 scontrol show job "$SLURM_JOB_ID" 2>/dev/null) || info=
  limit=$(sed -n 's/.*TimeLimit=\([^ ]*\).*/\1/p' <<<"$info" | head -n 1)
  out=$(sed -n 's/^ *StdOut=//p' <<<"$info" | head -n 1)
  err=$(sed -n 's/^ *StdErr=//p' <<<"$info" | head -n 1)
  [[ -n $limit && $limit != UNLIMITED ]] && opts+=(--time="$limit")
  [[ -n $out ]] && opts+=(--output="$out")
  [[ -n $err ]] && opts+=(--error="$err")

  # The new job must not inherit this job's SLURM_* variables (a stale SLURM_RESTART_COUNT,
  # array ids); SLURM_CONF is the one that says which cluster to talk to.
  local -a clean=(env)
  local v
  for v in $(compgen -e); do
    [[ $v == SLURM_* && $v != SLURM_CONF ]] && clean+=(-u "$v")
  done
  local next=$((${SLUICE_RESUBMIT_COUNT:-0} + 1)) newid
  # $0 is Slurm's copy of the batch script, still in place while this job runs.
  if newid=$(SLUICE_RESUBMIT_COUNT=$next SLUICE_ARRAY_TASK_ID=${SLURM_ARRAY_TASK_ID:-${SLUICE_ARRAY_TASK_ID:-}} \
    timeout 30 "${clean[@]}" sbatch --parsable "${opts[@]}" "$0" "$@"); then
    sluice_log "stopped with its finished partitions in the partial cache; resubmitted as job $newid to resume"
  else
    sluice_log "error: resubmission failed; rerun the job to resume from the partial cache"
  fi
  exit "$SLUICE_EX_STOPPED"
}
