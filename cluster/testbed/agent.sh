#!/usr/bin/env bash
# Open MPI launch agent for the netns test bed (mpirun --mca plm_rsh_agent THIS): stands in for
# ssh. Open MPI calls it as `agent.sh [ssh-style options] HOST WORDS...`, where WORDS form one
# shell command line for the remote host (as ssh would join them); it is run there with sh -c.
#
# Before running anything it does what ssh does first, over the test bed's network: resolve HOST
# (the host's /etc/hosts) and open a TCP connection to it, giving up after `-o ConnectTimeout=N`
# seconds when one is given (never, otherwise: as ssh, the kernel's own SYN retries decide). So a
# hostfile that names an unknown or unreachable host fails the launch the way ssh would, with
# exit status 255 and a message naming the host. Any answer, even "connection refused" (nothing
# listens on port 22 in a test host), means the host is reachable.
set -euo pipefail
connect_timeout=
while [[ ${1:-} == -* ]]; do
  option=$1
  shift
  case $option in
    -o) option=-o${1:-} && shift ;;&
    -o*) [[ $option == -oConnectTimeout=* ]] && connect_timeout=${option#-oConnectTimeout=} ;;
  esac
done
(($# >= 2)) || {
  echo "agent.sh: usage: agent.sh [-o ConnectTimeout=N] HOST COMMAND..." >&2
  exit 255
}
host=$1
shift
address=$(getent hosts "$host" | awk '{ print $1; exit }') || true
if [[ -z $address ]]; then
  echo "agent.sh: could not resolve hostname $host: not in /etc/hosts" >&2
  exit 255
fi
probe=(bash -c ': >"/dev/tcp/$0/22"' "$address")
[[ -n $connect_timeout ]] && probe=(timeout "$connect_timeout" "${probe[@]}")
if ! reason=$("${probe[@]}" 2>&1); then
  [[ -n $connect_timeout && $reason == "" ]] && reason="connection timed out after ${connect_timeout} s"
  if [[ $reason != *"Connection refused"* ]]; then
    echo "agent.sh: connect to host $host ($address) port 22: ${reason##*: }" >&2
    exit 255
  fi
fi
exec "$(dirname "${BASH_SOURCE[0]}")/netns-hosts.sh" exec "$host" /bin/sh -c "$*"
