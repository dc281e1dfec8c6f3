#!/usr/bin/env bash
# Runs one MPI rank under /usr/bin/time so each rank's peak RSS lands in its own file.
# usage (under mpirun): rss_wrap.sh OUTDIR command args...
set -euo pipefail
dir=$1
shift
# %M is the maximum resident set size in KiB, the same figure `time -v` prints.
exec /usr/bin/time -f %M -o "$dir/rss.${OMPI_COMM_WORLD_RANK:-0}" "$@"
