"""The run report says where each rank ran: its host, the CPUs it was allowed on (the launcher's binding) and its thread count."""

import json
import os
import socket
import subprocess

import sluice_e2e as e2e

RANKS = 2


class ReportPlacementTest(e2e.TempDirTestCase):
    def run_with(self, name, mpirun_words, threads):
        features = e2e.gen_lake(self, self.path("lake"), 4, 500, seed=9)
        job = e2e.write_text(self.path(f"{name}.toml"), e2e.job_text(
            {"path": "lake"}, {"kind": "ridge", "features": features, "label": "y"},
            {"registry": "registry", "name": name}))
        args = [e2e.Config.mpiexec, "-n", RANKS, *mpirun_words, e2e.Config.sluice, "run", job,
                "--threads", threads]
        process = subprocess.run([str(a) for a in args], env=e2e.environment(), text=True,
                                     capture_output=True, timeout=e2e.DEFAULT_TIMEOUT_S)
        e2e.Result(args, process.returncode, process.stdout, process.stderr).check_sanitizers()
        self.assertEqual(process.returncode, 0, process.stderr)
        with open(self.path("registry", name, "v000001.report.json")) as f:
            report = json.load(f)
        # mpirun as root without its variables "succeeds" having run nothing: count the ranks.
        self.assertEqual(report["num_ranks"], RANKS)
        self.assertEqual([rank["rank"] for rank in report["ranks"]], list(range(RANKS)))
        for rank in report["ranks"]:
            self.assertEqual(rank["host"], socket.gethostname(), rank)
            self.assertEqual(rank["threads"], threads, rank)
        return [rank["cpus"] for rank in report["ranks"]]

    def test_unbound_ranks_may_use_every_cpu(self):
        allowed = sorted(os.sched_getaffinity(0))
        cpus = self.run_with("unbound", ["--oversubscribe", "--bind-to", "none"], threads=2)
        self.assertEqual(cpus, [allowed] * RANKS)

    def test_ranks_bound_to_cores_report_their_own_cpus(self):
        allowed = set(os.sched_getaffinity(0))
        if len(allowed) < RANKS:
            self.skipTest(f"binding {RANKS} ranks to cores needs {RANKS} CPUs")
        cpus = self.run_with("bound", ["--bind-to", "core", "--map-by", "core"], threads=1)
        for mine in cpus:
            self.assertTrue(mine, "a bound rank lists no CPUs")
            self.assertTrue(set(mine) <= allowed, f"{mine} not within {sorted(allowed)}")
            self.assertLess(len(mine), len(allowed), f"rank bound to a core lists all CPUs: {mine}")
        self.assertFalse(set(cpus[0]) & set(cpus[1]), f"two ranks bound to the same CPUs: {cpus}")


if __name__ == "__main__":
    e2e.main()
