#!/usr/bin/env bash
# Checks how the sbatch scripts turn an allocation (-N, --ntasks-per-node, -n, -c) into ranks, threads and launcher words, and their messages for allocations they cannot use.
#
# Usage: slurm_allocation_test.sh
# Runs the scripts outside Slurm with the variables sbatch would set and stand-ins for mpirun,
# srun and sluice that print what they were given, so it needs neither root nor Slurm.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
slurm_dir=$repo/cluster/slurm
work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-allocation-test.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

for tool in mpirun srun; do
  cat >"$work/$tool" <<EOF
#!/usr/bin/env bash
echo "$tool: \$*"
# The stand-in "starts" the program given last words: run the sluice stand-in once.
for ((i = 1; i <= \$#; i++)); do [[ \${!i} == "$work/sluice" ]] && exec "\${@:i}"; done
EOF
done
cat >"$work/sluice" <<'EOF'
#!/usr/bin/env bash
echo "sluice: $* OMP_NUM_THREADS=$OMP_NUM_THREADS"
EOF
chmod +x "$work/mpirun" "$work/srun" "$work/sluice"

printf '[lake]\npath = "lake"\n[model]\nkind = "ridge"\n' >"$work/job.toml"
printf '[lake]\npath = "lake"\n[run]\nthreads = 3\n' >"$work/job3.toml"
printf '[lake]\npath = "lake"\n[run]  # per rank\nthreads = 2\n' >"$work/job2.toml"

# Runs SCRIPT JOB with the Slurm variables given as NAME=VALUE words; output in $out, status in $rc.
run_script() { # script job vars...
  local script=$1 job=$2
  shift 2
  rc=0
  out=$(env -i PATH="$work:$PATH" HOME="$work" SLUICE_BIN="$work/sluice" SLUICE_MPIRUN="$work/mpirun" \
    SLUICE_SLURM_LIB="$slurm_dir/sluice-slurm-lib.sh" SLURM_JOB_ID=7 SLURM_JOB_NODELIST=n[1-2] "$@" \
    bash "$slurm_dir/$script" "$work/$job" 2>&1) || rc=$?
}

expect() { # what regex
  grep -Eq -- "$2" <<<"$out" || fail "$1: no line matching '$2' in:"$'\n'"$out"
}
expect_not() { # what regex
  ! grep -Eq -- "$2" <<<"$out" || fail "$1: unexpected line matching '$2' in:"$'\n'"$out"
}

# (b) A task count in the #SBATCH defaults would override sbatch's -N/--ntasks-per-node.
for script in sluice-run.sbatch sluice-run-srun.sbatch sluice-sweep.sbatch; do
  ! grep -Eq '^#SBATCH +(--ntasks|-n|--ntasks-per-node|--nodes|-N)\b' "$slurm_dir/$script" ||
    fail "$script sets a task or node count in its #SBATCH lines"
done

keepalive='--mca oob_tcp_keepalive_time 5 --mca oob_tcp_keepalive_intvl 2 --mca oob_tcp_keepalive_probes 3'

# sbatch -N 2 --ntasks-per-node=2: 4 ranks, with or without SLURM_NTASKS exported.
for ntasks in SLURM_NTASKS=4 NO_NTASKS=1; do
  run_script sluice-run.sbatch job.toml SLURM_JOB_NUM_NODES=2 SLURM_NTASKS_PER_NODE=2 \
    SLURM_TASKS_PER_NODE='2(x2)' "$ntasks"
  ((rc == 0)) || fail "-N2 --ntasks-per-node=2 ($ntasks): exit $rc: $out"
  expect "mpirun, 2x2" "^mpirun: -n 4 $keepalive .*--bind-to none .*$work/sluice run $work/job.toml\$"
  expect_not "mpirun, 2x2" "oversubscribe|warning"
done
run_script sluice-run-srun.sbatch job.toml SLURM_JOB_NUM_NODES=2 SLURM_TASKS_PER_NODE='2(x2)'
((rc == 0)) || fail "srun -N2 --ntasks-per-node=2: exit $rc: $out"
expect "srun, 2x2" "^srun: --mpi=pmix -n 4 --kill-on-bad-exit=1 $work/sluice run"
expect_not "srun, 2x2" "overcommit|keepalive"

# Uneven nodes (-n 5 on nodes of 2 CPUs): SLURM_NTASKS wins.
run_script sluice-run.sbatch job.toml SLURM_JOB_NUM_NODES=3 SLURM_NTASKS=5 SLURM_TASKS_PER_NODE='2(x2),1'
expect "-n 5" "^mpirun: -n 5 "

# -c 2: two threads per rank, as --threads and OMP_NUM_THREADS; srun is given -c again.
run_script sluice-run-srun.sbatch job.toml SLURM_JOB_NUM_NODES=2 SLURM_TASKS_PER_NODE='1(x2)' \
  SLURM_CPUS_PER_TASK=2
((rc == 0)) || fail "srun -c 2: exit $rc: $out"
expect "srun -c 2" "^srun: --mpi=pmix -n 2 --kill-on-bad-exit=1 --cpus-per-task 2 "
expect "srun -c 2" "^sluice: run $work/job.toml --threads 2 OMP_NUM_THREADS=2\$"
run_script sluice-run.sbatch job2.toml SLURM_TASKS_PER_NODE=1 SLURM_CPUS_PER_TASK=2
((rc == 0)) || fail "-c 2 with [run] threads = 2: exit $rc: $out"
expect "mpirun -c 2" "^sluice: run $work/job2.toml --threads 2 OMP_NUM_THREADS=2\$"
# SLUICE_RUN_ARGS: extra sluice words, after the script's own.
run_script sluice-run.sbatch job.toml SLURM_TASKS_PER_NODE=1 SLURM_CPUS_PER_TASK=2 \
  SLUICE_RUN_ARGS='--no-cache --dry-run'
((rc == 0)) || fail "SLUICE_RUN_ARGS: exit $rc: $out"
expect "SLUICE_RUN_ARGS" "^sluice: run $work/job.toml --threads 2 --no-cache --dry-run OMP_NUM_THREADS=2\$"

# -c 2 against a job file asking for 3 threads: refused, naming both.
run_script sluice-run.sbatch job3.toml SLURM_TASKS_PER_NODE=1 SLURM_CPUS_PER_TASK=2
((rc == 2)) || fail "-c 2 with [run] threads = 3: exit $rc, expected 2: $out"
expect "threads conflict" "error: the job was submitted with --cpus-per-task=2 but job file $work/job3.toml sets \[run\] threads = 3"
expect_not "threads conflict" "^(mpirun|sluice):"
# ... unless SLUICE_THREADS chooses.
run_script sluice-run.sbatch job3.toml SLURM_TASKS_PER_NODE=1 SLURM_CPUS_PER_TASK=2 SLUICE_THREADS=3
((rc == 0)) || fail "SLUICE_THREADS=3: exit $rc: $out"
expect "SLUICE_THREADS" "note: SLUICE_THREADS=3 overrides \[run\] threads = 3|^sluice: run .* --threads 3"

# More ranks than the allocation's tasks: said clearly, then oversubscribed.
run_script sluice-run.sbatch job.toml SLURM_JOB_NUM_NODES=1 SLURM_NTASKS=2 SLURM_TASKS_PER_NODE=2 SLUICE_NP=3
((rc == 0)) || fail "SLUICE_NP=3 on 2 tasks: exit $rc: $out"
expect "SLUICE_NP > tasks" "warning: SLUICE_NP=3 ranks but the allocation has 2 tasks"
expect "SLUICE_NP > tasks" "^mpirun: -n 3 .*--oversubscribe"
run_script sluice-run-srun.sbatch job.toml SLURM_NTASKS=2 SLURM_TASKS_PER_NODE=2 SLUICE_NP=3
expect "srun SLUICE_NP > tasks" "^srun: --mpi=pmix -n 3 --kill-on-bad-exit=1 --overcommit"

# Allocations that cannot run anything, and rank counts that are not counts.
for vars in "SLURM_TASKS_PER_NODE=" "SLURM_NTASKS=0 SLURM_TASKS_PER_NODE=0"; do
  # shellcheck disable=SC2086 # the words are NAME=VALUE pairs
  run_script sluice-run.sbatch job.toml $vars
  ((rc == 2)) || fail "empty allocation ($vars): exit $rc, expected 2: $out"
  expect "empty allocation" "error: the job's allocation is empty"
  expect_not "empty allocation" "^(mpirun|sluice):"
done
for np in 0 abc -2; do
  run_script sluice-run.sbatch job.toml SLURM_TASKS_PER_NODE=2 SLUICE_NP=$np
  ((rc == 2)) || fail "SLUICE_NP=$np: exit $rc, expected 2: $out"
  expect "SLUICE_NP=$np" "error: SLUICE_NP='$np' is not a positive rank count"
done
run_script sluice-run.sbatch job.toml SLURM_TASKS_PER_NODE=2 SLUICE_THREADS=x
((rc == 2)) || fail "SLUICE_THREADS=x: exit $rc: $out"
expect "SLUICE_THREADS=x" "error: SLUICE_THREADS='x' is not a positive thread count"

# SLUICE_MPIRUN_MCA="" drops the keepalive settings.
run_script sluice-run.sbatch job.toml SLURM_TASKS_PER_NODE=2 SLUICE_MPIRUN_MCA=
expect "no MCA" "^mpirun: -n 2 -x OMP_NUM_THREADS"

echo "PASS: ranks from -N/--ntasks-per-node/-n, threads from -c, launcher words and messages"
