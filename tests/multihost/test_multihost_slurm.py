"""The cluster/slurm scripts on a two-node Slurm (one slurmd per network-namespace host): `sbatch -N 2 --ntasks-per-node=2` runs 4 ranks over both nodes, `-c 2` gives each rank 2 threads, and the model bits equal a one-host run."""

import os
import random
import shutil
import socket
import sys
import time

import multihost_bed as bed

SLURM_DIR = os.path.join(bed.REPO, "cluster", "slurm")
DONE_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
               "BOOT_FAIL", "DEADLINE", "PREEMPTED"}


def free_port():
    for _ in range(100):
        port = random.randrange(20000, 40000)
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port for slurmctld")


class MultiHostSlurmTest(bed.MultiHostTestCase):
    BED_NAME = "sltbslm"
    BED_NET = "10.77.3"

    @classmethod
    def setUpClass(cls):
        missing = [t for t in ("slurmctld", "slurmd", "sbatch", "munged")
                   if shutil.which(t) is None and not os.access(f"/usr/sbin/{t}", os.X_OK)]
        if missing:
            print(f"skipped: needs slurm-wlm and munge ({', '.join(missing)} not installed)", flush=True)
            sys.exit(bed.SKIP)
        super().setUpClass()
        # slurmctld listens outside the hosts: a port of its own, not a developer cluster's.
        cls.bed.env["SLUICE_TESTBED_SLURM_PORT"] = str(free_port())
        started = cls.bed.script("slurm-start", timeout=90)
        if started.returncode != 0:
            cls.bed.down()
            raise RuntimeError("slurm-start failed:\n" + started.describe())
        cls.slurm_conf = f"/run/sluice-testbed/{cls.BED_NAME}/slurm/slurm.conf"

    def slurm_env(self):
        return {"SLURM_CONF": self.slurm_conf, "SLUICE_BIN": bed.Config.sluice}

    def sbatch(self, script, job, options, output):
        """Submits, waits for the end (polling: sbatch --wait polls slowly); returns (state, exit code)."""
        submitted = bed.run(["sbatch", "--parsable", "--time=5", f"--output={output}", *options,
                             os.path.join(SLURM_DIR, script), job], 30, env=self.slurm_env())
        self.assertEqual(submitted.returncode, 0, submitted.describe())
        job_id = submitted.stdout.strip().split(";")[0]
        deadline = time.monotonic() + 120
        fields = {}
        while time.monotonic() < deadline:
            shown = bed.run(["scontrol", "show", "job", "-o", job_id], 10, env=self.slurm_env())
            fields = dict(word.split("=", 1) for word in shown.stdout.split() if "=" in word)
            if fields.get("JobState") in DONE_STATES:
                break
            time.sleep(0.2)
        with open(output) as f:
            log = f.read()
        return fields.get("JobState"), fields.get("ExitCode"), log

    def test_scripts_follow_the_allocation_across_two_nodes(self):
        lake = self.path("lake")
        features = self.gen_lake(lake, partitions=6, rows=3000, features=5, seed=4)
        registry = self.path("registry")
        self.sluice(["run", self.write_job("one", lake, features, "one")])
        reference, _ = bed.model_bits(bed.current_snapshot(registry, "one"))
        self.assertTrue(reference)
        h1, h2 = self.bed.host(1), self.bed.host(2)
        cases = [
            # (script, sbatch options, ranks, threads, hosts of the ranks in order)
            ("sluice-run.sbatch", ["-N", "2", "--ntasks-per-node=2"], 4, 1, [h1, h1, h2, h2]),
            ("sluice-run-srun.sbatch", ["-N", "2", "--ntasks-per-node=2"], 4, 1, [h1, h1, h2, h2]),
            ("sluice-run.sbatch", ["-N", "2", "--ntasks-per-node=1", "-c", "2"], 2, 2, [h1, h2]),
            ("sluice-run-srun.sbatch", ["-N", "2", "--ntasks-per-node=1", "-c", "2"], 2, 2, [h1, h2]),
        ]
        for number, (script, options, ranks, threads, hosts) in enumerate(cases):
            with self.subTest(script=script, options=" ".join(options)):
                name = f"slurm{number}"
                job = self.write_job(name, lake, features, name)
                state, code, log = self.sbatch(script, job, options, self.path(f"{name}.out"))
                self.assertEqual((state, code), ("COMPLETED", "0:0"), log)
                snapshot = bed.current_snapshot(registry, name)
                bits, num_ranks = bed.model_bits(snapshot)
                self.assertEqual(num_ranks, ranks, log)
                self.assertEqual(bits, reference, f"{name}: model bits differ from the one-host run")
                report = bed.report_of(snapshot)
                self.assertEqual([rank["host"] for rank in report["ranks"]], hosts, log)
                self.assertEqual([rank["threads"] for rank in report["ranks"]], [threads] * ranks, log)
                self.assertEqual(report["threads_per_rank"], threads)
                if script == "sluice-run.sbatch":
                    self.assertIn("oob_tcp_keepalive_time 5", log)
                else:
                    self.assertIn("--kill-on-bad-exit=1", log)

    def test_cpus_per_task_against_job_threads_is_refused(self):
        lake = self.path("lake-threads")
        features = self.gen_lake(lake, partitions=2, rows=100, features=2, seed=5)
        job = self.write_job("threads", lake, features, "threads", extra="\n[run]\nthreads = 1\n")
        state, code, log = self.sbatch("sluice-run.sbatch", job, ["-N", "1", "-c", "2"],
                                       self.path("threads.out"))
        self.assertEqual((state, code), ("FAILED", "2:0"), log)
        self.assertIn("--cpus-per-task=2 but job file", log)
        self.assertIn("[run] threads = 1", log)
        self.assertFalse(os.path.exists(self.path("registry", "threads")), log)


if __name__ == "__main__":
    bed.main()
