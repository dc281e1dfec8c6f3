#!/usr/bin/env bash
# Starts, stops or reports a single-node Slurm (munged + slurmctld + slurmd) on this machine.
#
# Usage: local-slurm.sh start|stop|status|env [WORKDIR]
#   WORKDIR defaults to $SLUICE_SLURM_DIR, else /tmp/sluice-slurm. It holds slurm.conf, state,
#   spool, logs and pid files, so several work dirs never share daemon state.
# Environment:
#   SLUICE_SLURM_PORT           slurmctld port (default 6817); slurmd uses PORT+1. Pick another
#                               pair to run a second cluster beside one on the default ports.
#   SLUICE_SLURM_START_TIMEOUT  seconds to wait for the node to become usable (default 30)
#   SLUICE_SLURM_CRED_EXPIRE    job credential lifetime in seconds (default 20); Slurm also holds a
#                               requeued job back this long before it may start again (its default
#                               of 120 s makes every requeue cost two minutes)
#   SLUICE_SLURM_MEM_MARGIN_MB  memory kept back from RealMemory (default: max(1024, 10 %))
# After `start`, point the client commands at the config with the printed line:
#   export SLURM_CONF=WORKDIR/slurm.conf
# Needs root: slurmd runs jobs as their submitting user and munged must run as user munge.
# There is no init system here, so the daemons are started and stopped by pid.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop|status|env [WORKDIR]" >&2
  exit 2
}

(($# >= 1 && $# <= 2)) || usage
action=$1
workdir=${2:-${SLUICE_SLURM_DIR:-/tmp/sluice-slurm}}
workdir=$(realpath -m -- "$workdir")
conf=$workdir/slurm.conf
port=${SLUICE_SLURM_PORT:-6817}
start_timeout=${SLUICE_SLURM_START_TIMEOUT:-30}
cred_expire=${SLUICE_SLURM_CRED_EXPIRE:-20}
munge_key=/etc/munge/munge.key
munge_run=/run/munge
munge_pidfile=$munge_run/munged.pid
# Marks a munged that this script started, so `stop` never ends one that someone else runs.
# It is shared by every cluster on the machine: the last one to stop ends it.
munge_marker=$munge_run/started-by-local-slurm

log() { echo "local-slurm: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# Every client call is bounded: a wedged slurmctld must not hang a test run.
sctl() { timeout 10 "$@"; }

# The pid in a pid file, or nothing; a daemon may remove its file at any moment.
pid_of() { # pidfile
  cat "$1" 2>/dev/null || true
}

pid_alive() { # pidfile
  local pid
  pid=$(pid_of "$1")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

# Whether a live (not zombie) process has this exact name; nothing here reaps orphans.
# shellcheck disable=SC2009 # pgrep cannot leave zombies out
running_named() { # name
  ps -C "$1" -o stat= 2>/dev/null | grep -qv '^Z'
}

munge_ok() {
  timeout 5 munge -n 2>/dev/null | timeout 5 unmunge >/dev/null 2>&1
}

# Our slurmctld: its pid is alive and it answers. The answer alone is not enough, since another
# cluster may listen on the same port.
ctld_ok() {
  pid_alive "$workdir/run/slurmctld.pid" && [[ -f $conf ]] &&
    SLURM_CONF=$conf sctl scontrol ping 2>/dev/null | grep -q 'is UP'
}

port_in_use() { # port
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Node state in sinfo's long form ("idle", "mixed", "allocated", "down", "drained", ...).
node_state() {
  SLURM_CONF=$conf sctl sinfo -h -N -n localhost -o %T 2>/dev/null | head -n 1 || true
}

node_usable() {
  # A trailing "*" means "not responding"; "~", "#", "!", "%" mark power-saving states.
  [[ $(node_state) =~ ^(idle|mixed|allocated|completing)$ ]]
}

write_conf() {
  local cpus mem_kb mem_mb margin real_mem
  cpus=$(nproc --all)
  mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
  mem_mb=$((mem_kb / 1024))
  margin=${SLUICE_SLURM_MEM_MARGIN_MB:-$((mem_mb / 10 > 1024 ? mem_mb / 10 : 1024))}
  # slurmd drains a node whose configured memory exceeds what it finds, so stay below it.
  real_mem=$((mem_mb - margin))
  ((real_mem > 0)) || real_mem=$((mem_mb / 2))

  mkdir -p "$workdir"/{state,spool,log,run}
  cat >"$conf.tmp" <<EOF
# Single-node Slurm for Sluice, written by cluster/slurm/local-slurm.sh; rewritten on each start.
ClusterName=sluice
SlurmctldHost=localhost
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
# Also the delay before a requeued job may start again (Slurm's default is 120 s).
AuthInfo=cred_expire=$cred_expire
# No cgroups in these containers: track processes by parentage and do no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# A job whose start time passes (a requeued one) waits for the next scheduling pass, every 60 s
# by default; a one-node cluster can afford one every 2 s.
SchedulerParameters=sched_interval=2,bf_interval=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
JobRequeue=1
# Without a mail program configured slurmctld refuses to start ("MailProg is invalid").
MailProg=/bin/true
# Keep finished jobs visible to scontrol for a while (there is no accounting database).
MinJobAge=600
KillWait=15
StateSaveLocation=$workdir/state
SlurmdSpoolDir=$workdir/spool/%n
SlurmctldPidFile=$workdir/run/slurmctld.pid
SlurmdPidFile=$workdir/run/slurmd-%n.pid
SlurmctldLogFile=$workdir/log/slurmctld.log
SlurmdLogFile=$workdir/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$real_mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  mv -f "$conf.tmp" "$conf"
}

start_munge() {
  if munge_ok; then
    return 0
  fi
  if [[ ! -s $munge_key ]]; then
    log "creating munge key $munge_key"
    install -d -o munge -g munge -m 0700 "$(dirname "$munge_key")"
    timeout 30 mungekey --create --keyfile="$munge_key"
    chown munge:munge "$munge_key"
    chmod 0600 "$munge_key"
  fi
  # munged refuses to start unless its socket dir belongs to it; /run is empty after a restart.
  install -d -o munge -g munge -m 0755 "$munge_run"
  install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
  # A pid file left by a killed munged makes the new one refuse to start.
  if [[ -e $munge_pidfile ]] && ! pid_alive "$munge_pidfile"; then
    rm -f "$munge_pidfile" "$munge_run/munge.socket.2" "$munge_run/munge.socket.2.lock"
  fi
  timeout 10 runuser -u munge -- /usr/sbin/munged
  touch "$munge_marker"
  local i
  for ((i = 0; i < 50; i++)); do
    munge_ok && return 0
    sleep 0.1
  done
  die "munged did not come up (see /var/log/munge/munged.log)"
}

show_logs() {
  local f
  for f in "$workdir"/log/*.log; do
    [[ -f $f ]] || continue
    echo "----- tail of $f" >&2
    tail -n 20 "$f" >&2
  done
}

do_start() {
  [[ $(id -u) -eq 0 ]] || die "must run as root"
  command -v slurmctld >/dev/null || die "slurmctld not installed (run cluster/setup.sh)"

  if ctld_ok && pid_alive "$workdir/run/slurmd-localhost.pid" && node_usable; then
    log "already running in $workdir"
    echo "export SLURM_CONF=$conf"
    return 0
  fi

  mkdir -p "$workdir"/run
  start_munge
  write_conf

  if ! pid_alive "$workdir/run/slurmctld.pid"; then
    port_in_use "$port" && die "port $port is taken by another process (another cluster?); set SLUICE_SLURM_PORT"
    # slurmctld daemonises itself; the pid file tells us where it went.
    timeout 30 slurmctld -f "$conf" || {
      show_logs
      die "slurmctld failed to start"
    }
  fi
  if ! pid_alive "$workdir/run/slurmd-localhost.pid"; then
    port_in_use $((port + 1)) && die "port $((port + 1)) is taken by another process; set SLUICE_SLURM_PORT"
    # -N: the machine's hostname is not "localhost", the node name in the config.
    timeout 30 slurmd -f "$conf" -N localhost || {
      show_logs
      die "slurmd failed to start"
    }
  fi

  local deadline=$((SECONDS + start_timeout)) state
  until node_usable; do
    if ((SECONDS >= deadline)); then
      show_logs
      die "node not usable after ${start_timeout}s (state: '$(node_state)')"
    fi
    state=$(node_state)
    # A node drained/down from an earlier run comes back once slurmd registers; nudge it.
    if [[ $state =~ ^(down|drained|draining) ]] && ctld_ok; then
      SLURM_CONF=$conf sctl scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true
    fi
    sleep 0.2
  done
  log "up: node localhost $(node_state), $(nproc --all) CPUs, config $conf"
  echo "export SLURM_CONF=$conf"
}

# Waits for a process to end (a zombie counts as ended), then kills it if it has not.
wait_gone() { # pid seconds what
  local pid=$1 secs=$2 i
  [[ -n $pid ]] || return 0
  for ((i = 0; i < secs * 10; i++)); do
    [[ $(ps -p "$pid" -o stat= 2>/dev/null) =~ ^[^Z] ]] || return 0
    sleep 0.1
  done
  log "$3 (pid $pid) still alive after ${secs}s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

do_stop() {
  local ctld_pid slurmd_pid munged_pid
  ctld_pid=$(pid_of "$workdir/run/slurmctld.pid")
  slurmd_pid=$(pid_of "$workdir/run/slurmd-localhost.pid")
  if [[ -f $conf ]] && pid_alive "$workdir/run/slurmctld.pid"; then
    # Stops slurmctld and every registered slurmd, saving state first. Sent only while our
    # slurmctld is alive, since only then is it the one listening on the configured port.
    SLURM_CONF=$conf sctl scontrol shutdown >/dev/null 2>&1 || true
    wait_gone "$ctld_pid" 15 slurmctld
  fi
  # A slurmd that never registered ignores `scontrol shutdown`; end it by its own pid.
  if pid_alive "$workdir/run/slurmd-localhost.pid"; then
    wait_gone "$slurmd_pid" 5 slurmd
  fi
  if pid_alive "$workdir/run/slurmctld.pid"; then
    kill -TERM "$ctld_pid" 2>/dev/null || true
    wait_gone "$ctld_pid" 15 slurmctld
  fi
  if pid_alive "$workdir/run/slurmd-localhost.pid"; then
    kill -TERM "$slurmd_pid" 2>/dev/null || true
    wait_gone "$slurmd_pid" 10 slurmd
  fi
  if [[ -f $munge_marker ]]; then
    if running_named slurmctld || running_named slurmd; then
      # munged is shared by every cluster on this machine; another one still needs it.
      log "leaving munged running: other Slurm daemons on this machine still use it"
    else
      munged_pid=$(pid_of "$munge_pidfile")
      if [[ -n $munged_pid ]] && kill -0 "$munged_pid" 2>/dev/null; then
        kill -TERM "$munged_pid" 2>/dev/null || true
        wait_gone "$munged_pid" 5 munged
      fi
      rm -f "$munge_marker"
    fi
  fi
  log "stopped ($workdir)"
}

do_status() {
  local rc=0
  if ctld_ok; then
    echo "slurmctld: up (pid $(pid_of "$workdir/run/slurmctld.pid"), port $port)"
  else
    echo "slurmctld: down"
    rc=3
  fi
  if pid_alive "$workdir/run/slurmd-localhost.pid"; then
    echo "slurmd: up (pid $(pid_of "$workdir/run/slurmd-localhost.pid"))"
  else
    echo "slurmd: down"
    rc=3
  fi
  if munge_ok; then echo "munged: up"; else
    echo "munged: down"
    rc=3
  fi
  if ((rc == 0)); then
    SLURM_CONF=$conf sctl sinfo -N -l || true
    echo "export SLURM_CONF=$conf"
  fi
  return "$rc"
}

case $action in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  env) echo "export SLURM_CONF=$conf" ;;
  *) usage ;;
esac
