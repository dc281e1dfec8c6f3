#!/usr/bin/env bash
# A multi-host test bed on one machine: N network-namespace "hosts" on a bridge, each with its own
# address, hostname, /etc/hosts and /tmp; an mpirun launch agent; optionally a Slurm with one
# slurmd per host. Everything it makes is recorded in its state directory and removed by `down`.
#
# Usage: netns-hosts.sh up N | down | status | hosts | exec HOST CMD... | hostfile SLOTS
#                       | slurm-start | slurm-stop
#   up N         makes hosts NAME-h1..NAME-hN at NET.11.. on bridge NAME-br (NET.1)
#   down         stops the test bed's Slurm, ends every process left inside the hosts, removes
#                the namespaces, links, bridge and state directory (safe to run twice)
#   exec HOST    runs CMD inside HOST (HOST: NAME-h2, h2, 2 or its address); used by agent.sh
#   hostfile S   prints an Open MPI hostfile with S slots per host
#   slurm-start  slurmctld on the bridge address, one slurmd per host (prints SLURM_CONF=...)
# Environment:
#   SLUICE_TESTBED       name, prefix of every namespace/link/hostname (default sltb; <= 8 chars)
#   SLUICE_TESTBED_NET   the /24 to use, as its first three octets (default 10.77.0); `up` refuses
#                        one that any interface here already has an address in
#   SLUICE_TESTBED_DIR   state directory (default /run/sluice-testbed/NAME). Not under /tmp: each
#                        host's /tmp is a bind mount of STATE/HOST/tmp that hides the real /tmp.
#   SLUICE_TESTBED_SLURM_PORT  slurmctld port (default 6827; every slurmd uses PORT+1 in its own
#                        namespace)
# Needs root and ip(8), nsenter/unshare (util-linux). Exit status 3: namespaces cannot be made
# here (no root, no CAP_SYS_ADMIN, no veth/bridge support), so callers can skip cleanly.
set -euo pipefail

name=${SLUICE_TESTBED:-sltb}
net=${SLUICE_TESTBED_NET:-10.77.0}
dir=${SLUICE_TESTBED_DIR:-/run/sluice-testbed/$name}
slurm_port=${SLUICE_TESTBED_SLURM_PORT:-6827}
bridge=$name-br
readonly EX_NO_NETNS=3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$here/../.." && pwd) # kept visible in every host, even under /tmp

log() { echo "netns-hosts: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

usage() {
  sed -n '6,14p' "$0" >&2
  exit 2
}

[[ $name =~ ^[a-z][a-z0-9]{0,7}$ ]] || die "SLUICE_TESTBED '$name' must be 1-8 lower-case letters/digits (interface names are at most 15 characters)"
[[ $net =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "SLUICE_TESTBED_NET '$net' must be three octets, e.g. 10.77.0"
[[ $dir == /tmp || $dir == /tmp/* ]] && die "SLUICE_TESTBED_DIR must not be under /tmp (each host's own /tmp hides it)"

num_hosts() { cat "$dir/num_hosts" 2>/dev/null || echo 0; }

# HOST given as NAME-hI, hI, I or NET.(10+I): prints I.
host_index() { # host
  local h=$1 n
  n=$(num_hosts)
  case $h in
    "$name"-h*) h=${h#"$name"-h} ;;
    h[0-9]*) h=${h#h} ;;
    "$net".*) h=$((${h##*.} - 10)) ;;
  esac
  if ! [[ $h =~ ^[0-9]+$ ]] || ((h < 1 || h > n)); then
    die "no host '$1' in test bed '$name' ($n hosts)"
  fi
  echo "$h"
}

host_name() { echo "$name-h$1"; }
host_addr() { echo "$net.$((10 + $1))"; }

# Runs CMD in host I: its network namespace, a private mount namespace whose /tmp and /etc/hosts
# are the host's own, and a UTS namespace with its hostname. Every entry into a host binds the
# same directory onto /tmp, so the processes of one host share a /tmp (PMIx and Open MPI keep
# their session files there and would collide across hosts in a shared one).
do_exec() { # host cmd...
  local i
  i=$(host_index "$1")
  shift
  (($# > 0)) || die "exec: no command"
  # A checkout (or build) under /tmp stays visible: the real /tmp is bound aside first and the
  # checkout bound back at its own path inside the host's /tmp.
  mkdir -p "$dir/h$i/outer-tmp"
  # shellcheck disable=SC2016 # the inner shell expands its own arguments
  exec nsenter --net="/run/netns/$(host_name "$i")" -- \
    unshare --mount --uts --propagation slave -- /bin/sh -c '
      mount --rbind /tmp "$4" && mount --bind "$1" /tmp && mount --bind "$2" /etc/hosts &&
        hostname "$3" || exit 125
      case $5 in
        /tmp/*) mkdir -p "$5" && mount --bind "$4/${5#/tmp/}" "$5" || exit 125 ;;
      esac
      shift 5
      exec "$@"' netns-host "$dir/h$i/tmp" "$dir/hosts" "$(host_name "$i")" "$dir/h$i/outer-tmp" \
    "$repo_root" "$@"
}

# Whether this machine lets us make network namespaces, veth pairs and bridges at all.
can_make_netns() {
  [[ $(id -u) -eq 0 ]] || return 1
  command -v ip >/dev/null && command -v nsenter >/dev/null && command -v unshare >/dev/null || return 1
  local probe=${name}-probe$$
  ip netns add "$probe" 2>/dev/null || return 1
  ip netns del "$probe" 2>/dev/null || true
  unshare --mount --uts --propagation slave true 2>/dev/null || return 1
}

do_up() { # num_hosts
  local n=${1:-}
  if ! [[ $n =~ ^[0-9]+$ ]] || ((n < 1 || n > 200)); then
    die "up: give a host count 1..200, not '${n}'"
  fi
  if ! can_make_netns; then
    log "cannot create network namespaces here (needs root, ip netns, veth and bridge support)"
    exit "$EX_NO_NETNS"
  fi
  [[ -e $dir/num_hosts ]] && die "test bed '$name' is already up ($dir); run down first"
  ip link show "$bridge" >/dev/null 2>&1 && die "interface $bridge exists but is not this test bed's; choose another SLUICE_TESTBED"
  if ip -4 -o addr show | awk '{print $4}' | grep -q "^${net//./\\.}\."; then
    die "addresses in $net.0/24 are already in use here; choose another SLUICE_TESTBED_NET"
  fi
  mkdir -p "$dir"
  # Written before anything is made, so a failed `up` can still be undone by `down`.
  echo "$n" >"$dir/num_hosts"
  trap 'log "up failed; undoing"; do_down; exit 1' ERR
  ip link add "$bridge" type bridge
  ip addr add "$net.1/24" dev "$bridge"
  ip link set "$bridge" up
  {
    echo "127.0.0.1 localhost"
    echo "$net.1 $name-gw $(hostname -s)"
  } >"$dir/hosts"
  local i ns
  for ((i = 1; i <= n; i++)); do
    ns=$(host_name "$i")
    ip netns add "$ns"
    ip link add "$ns" type veth peer name eth0 netns "$ns"
    ip link set "$ns" master "$bridge" up
    ip -n "$ns" addr add "$(host_addr "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    echo "$(host_addr "$i") $ns h$i" >>"$dir/hosts"
    mkdir -p "$dir/h$i/tmp"
    chmod 1777 "$dir/h$i/tmp"
  done
  trap - ERR
  log "up: $n hosts $(host_name 1)..$(host_name "$n") at $(host_addr 1)..$(host_addr "$n"), bridge $bridge ($net.1), state $dir"
}

# Ends the processes still inside host I's network namespace (ours: nothing else enters it).
end_host_processes() { # index
  local ns pids pid i
  ns=$(host_name "$1")
  [[ -e /run/netns/$ns ]] || return 0
  for sig in TERM KILL; do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -z $pids ]] && return 0
    for pid in $pids; do kill "-$sig" "$pid" 2>/dev/null || true; done
    for ((i = 0; i < 30; i++)); do
      [[ -z $(ip netns pids "$ns" 2>/dev/null) ]] && return 0
      sleep 0.1
    done
  done
}

do_down() {
  local n i ns
  n=$(num_hosts)
  if [[ -e $dir/slurm/slurm.conf ]]; then do_slurm_stop || true; fi
  for ((i = 1; i <= n; i++)); do
    end_host_processes "$i"
    ns=$(host_name "$i")
    ip link del "$ns" 2>/dev/null || true
    [[ -e /run/netns/$ns ]] && { ip netns del "$ns" || log "warning: could not remove namespace $ns"; }
  done
  if ((n > 0)) && ip link show "$bridge" >/dev/null 2>&1; then
    ip link del "$bridge" || log "warning: could not remove bridge $bridge"
  fi
  if [[ -d $dir ]]; then
    rm -rf -- "$dir"
    log "down: test bed '$name' removed"
  fi
}

do_status() {
  local n i
  n=$(num_hosts)
  ((n > 0)) || {
    echo "test bed '$name': down"
    return 3
  }
  echo "test bed '$name': $n hosts, bridge $bridge ($net.1), state $dir"
  for ((i = 1; i <= n; i++)); do
    echo "  $(host_name "$i") $(host_addr "$i") processes: $(ip netns pids "$(host_name "$i")" 2>/dev/null | wc -l)"
  done
}

do_hostfile() { # slots
  local slots=${1:-1} n i
  n=$(num_hosts)
  ((n > 0)) || die "test bed '$name' is not up"
  for ((i = 1; i <= n; i++)); do echo "$(host_name "$i") slots=$slots"; done
}

# ---------------------------------------------------------------- Slurm, one slurmd per host

slurm_conf() { echo "$dir/slurm/slurm.conf"; }

do_slurm_start() {
  local n i conf cpus mem_kb real_mem sdir
  n=$(num_hosts)
  ((n > 0)) || die "test bed '$name' is not up"
  command -v slurmctld >/dev/null || die "slurmctld not installed (run cluster/setup.sh)"
  sdir=$dir/slurm
  conf=$(slurm_conf)
  mkdir -p "$sdir"/{state,spool,log,run}
  cpus=$(nproc --all)
  mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
  # Every host believes it has the whole machine; ask for little memory per node.
  real_mem=$((mem_kb / 1024 / (2 * n)))
  {
    cat <<EOF
# Slurm of the netns test bed '$name', written by cluster/testbed/netns-hosts.sh.
ClusterName=$name
# slurmctld runs outside the hosts, reached on the bridge address.
SlurmctldHost=$(hostname -s)($net.1)
SlurmctldPort=$slurm_port
SlurmdPort=$((slurm_port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
AuthInfo=cred_expire=20
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
MailProg=/bin/true
MinJobAge=600
KillWait=5
# A host that stops answering fails its jobs (NODE_FAIL) after this many seconds.
SlurmdTimeout=${SLUICE_TESTBED_SLURMD_TIMEOUT:-20}
StateSaveLocation=$sdir/state
SlurmdSpoolDir=$sdir/spool/%n
SlurmctldPidFile=$sdir/run/slurmctld.pid
SlurmdPidFile=$sdir/run/slurmd-%n.pid
SlurmctldLogFile=$sdir/log/slurmctld.log
SlurmdLogFile=$sdir/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
EOF
    for ((i = 1; i <= n; i++)); do
      echo "NodeName=$(host_name "$i") NodeAddr=$(host_addr "$i") CPUs=$cpus RealMemory=$real_mem State=UNKNOWN"
    done
    echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
  } >"$conf"
  start_munge
  timeout 30 slurmctld -f "$conf" || {
    tail -n 20 "$sdir/log/slurmctld.log" >&2 || true
    die "slurmctld failed to start"
  }
  for ((i = 1; i <= n; i++)); do
    # slurmd daemonises inside the host's namespaces (its children, the jobs, stay there).
    timeout 30 "$0" exec "$i" slurmd -f "$conf" -N "$(host_name "$i")" || {
      tail -n 20 "$sdir/log/slurmd-$(host_name "$i").log" >&2 || true
      die "slurmd on $(host_name "$i") failed to start"
    }
  done
  local deadline=$((SECONDS + 30)) idle
  while :; do
    idle=$(SLURM_CONF=$conf timeout 10 sinfo -h -N -o '%N %T' 2>/dev/null | grep -cE ' (idle|mixed|allocated)$' || true)
    ((idle == n)) && break
    ((SECONDS < deadline)) || {
      SLURM_CONF=$conf timeout 10 sinfo -N >&2 || true
      die "only $idle of $n nodes usable after 30 s (logs in $sdir/log)"
    }
    sleep 0.2
  done
  log "slurm up: $n nodes; export SLURM_CONF=$conf"
  echo "SLURM_CONF=$conf"
}

# munged is shared with any other Slurm on this machine: started only if none answers, and then
# stopped by slurm-stop.
start_munge() {
  if timeout 5 munge -n 2>/dev/null | timeout 5 unmunge >/dev/null 2>&1; then return 0; fi
  if [[ ! -s /etc/munge/munge.key ]]; then
    install -d -o munge -g munge -m 0700 /etc/munge
    timeout 30 mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 0600 /etc/munge/munge.key
  fi
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
  rm -f /run/munge/munged.pid.stale
  timeout 10 runuser -u munge -- /usr/sbin/munged
  cat /run/munge/munged.pid >"$dir/slurm/munged.pid"
  local i
  for ((i = 0; i < 50; i++)); do
    timeout 5 munge -n 2>/dev/null | timeout 5 unmunge >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "munged did not come up"
}

do_slurm_stop() {
  local sdir=$dir/slurm pid n i
  [[ -e $sdir/slurm.conf ]] || return 0
  pid=$(cat "$sdir/run/slurmctld.pid" 2>/dev/null || true)
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    SLURM_CONF=$sdir/slurm.conf timeout 10 scontrol shutdown >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  n=$(num_hosts)
  local -a slurmds=()
  for ((i = 1; i <= n; i++)); do
    pid=$(cat "$sdir/run/slurmd-$(host_name "$i").pid" 2>/dev/null || true)
    [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null && slurmds+=("$pid")
  done
  for pid in "${slurmds[@]}"; do
    for ((i = 0; i < 50; i++)); do [[ $(ps -p "$pid" -o stat= 2>/dev/null) =~ ^[^Z] ]] || break; sleep 0.1; done
  done
  pid=$(cat "$sdir/munged.pid" 2>/dev/null || true)
  # munged serves every Slurm on this machine: leave it to one that still runs.
  # shellcheck disable=SC2009 # pgrep cannot leave zombies out
  if [[ -n $pid ]] && ! ps -C slurmctld,slurmd -o stat= 2>/dev/null | grep -qv '^Z'; then
    kill -TERM "$pid" 2>/dev/null || true
  fi
  rm -f "$sdir/slurm.conf" "$sdir/munged.pid"
  log "slurm stopped"
}

(($# >= 1)) || usage
action=$1
shift
case $action in
  up) do_up "$@" ;;
  down) do_down ;;
  status) do_status ;;
  exec) do_exec "$@" ;;
  hostfile) do_hostfile "$@" ;;
  hosts) cat "$dir/hosts" ;;
  slurm-start) do_slurm_start ;;
  slurm-stop) do_slurm_stop ;;
  agent) exec "$here/agent.sh" "$@" ;;
  *) usage ;;
esac
