#!/usr/bin/env bash
# Open MPI launch agent for the netns test bed (mpirun --mca plm_rsh_agent THIS): stands in for
# ssh. Open MPI calls it as `agent.sh [ssh-style options] HOST WORDS...`, where WORDS form one
# shell command line for the remote host (as ssh would join them); it is run there with sh -c.
set -euo pipefail
while [[ ${1:-} == -* ]]; do shift; done
(($# >= 2)) || {
  echo "agent.sh: usage: agent.sh HOST COMMAND..." >&2
  exit 255
}
host=$1
shift
exec "$(dirname "${BASH_SOURCE[0]}")/netns-hosts.sh" exec "$host" /bin/sh -c "$*"
