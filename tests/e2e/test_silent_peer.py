"""A rank that goes silent (SIGSTOP: alive, its connections open, so no keepalive fires) ends the
job within [run] peer_timeout, even while rank 0 still reads its own share, with one message
naming the rank and its host, nothing published;
a rank busy in a long partition keeps the job alive with its heartbeats."""

import os
import signal
import time

import numpy as np

import sluice_e2e as e2e

# A rank dies or stalls here under mpirun: run Open MPI with its own settings, as users do.
e2e.Config.launcher_defaults = True

RANKS = 2


class SilentPeerTest(e2e.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.features = e2e.gen_lake(self, self.path("lake"), 8, 4000, seed=3)

    def job(self, name, peer_timeout, threads=1):
        return e2e.write_job(self.path(f"{name}.toml"), lake={"path": "lake", "block_rows": 100},
                             model={"kind": "ridge", "features": self.features, "label": "y"},
                             publish={"registry": "registry", "name": name},
                             run={"peer_timeout": peer_timeout, "threads": threads})

    def test_stopped_rank_ends_the_job_naming_it(self):
        job = self.job("stopped", 3)
        # 40 blocks x 100 ms per partition, 4 partitions per rank: rank 0's own share lasts 16 s.
        run = e2e.Running(["run", job, "--test-block-delay-ms", "100"], RANKS, env=e2e.PROGRESS_ENV)
        victim = None
        try:
            self.assertIsNotNone(run.wait_for_line(e2e.PROGRESS, timeout=30), "no progress line")
            victim = e2e.rank_pid(run.process.pid, 1)
            self.assertIsNotNone(victim, "no rank 1 process")
            os.kill(victim, signal.SIGSTOP)
            stopped_at = time.monotonic()
            result = run.finish(timeout=60)
            elapsed = time.monotonic() - stopped_at
        finally:
            if victim is not None:
                for sig in (signal.SIGCONT, signal.SIGKILL):
                    try:
                        os.kill(victim, sig)
                    except ProcessLookupError:
                        pass
        self.assertNotEqual(result.returncode, 0, result.describe())
        self.assertIn("rank 1 on host", result.stderr, result.describe())
        self.assertIn("has sent nothing for", result.stderr, result.describe())
        # Rank 0 checks between its own blocks: the job ends about 3 s after the stop, long before
        # rank 0 would have finished its share (16 s) and started waiting for rank 1.
        self.assertLess(elapsed, 10, result.describe())
        self.assertNotIn("published", result.stdout)
        self.assertIsNone(e2e.current(self.path("registry"), "stopped"))

    def test_long_partitions_keep_the_job_alive(self):
        # Rank 0 must wait for rank 1 for longer than the timeout: the plan balances file sizes,
        # and rank 1's second partition is a small gzip file of many rows (8000 rows of
        # constants: 80 blocks x 50 ms = 4 s), so rank 0 (2400 rows, about 1.2 s) waits about
        # 4 s with peer_timeout = 1. Only the heartbeats between blocks (and, with 2 threads,
        # thread 0's while another thread reads) keep it waiting: without them this job ends
        # with "rank 1 ... has sent nothing for 1 s".
        rng = np.random.default_rng(1)
        for name, rows, storage in (("a", 2400, "contiguous"), ("b", 2000, "contiguous"),
                                    ("c", 8000, "gzip")):
            x = rng.normal(size=rows) if storage == "contiguous" else np.ones(rows)
            y = 2 * x + (rng.normal(size=rows) if storage == "contiguous" else 0.5)
            e2e.write_partition(self.path("uneven", f"{name}.h5"), {"x": x, "y": y}, storage=storage)
        for threads in (1, 2):
            job = e2e.write_job(self.path(f"busy{threads}.toml"), lake={"path": "uneven", "block_rows": 100},
                                model={"kind": "ridge", "features": ["x"], "label": "y"},
                                publish={"registry": "registry", "name": f"busy{threads}"},
                                run={"peer_timeout": 1, "threads": threads})
            result = e2e.sluice(["run", job, "--test-block-delay-ms", "50"], ranks=RANKS)
            self.assertEqual(result.returncode, 0, result.describe())
            self.assertEqual(result.field("rows"), 12400, result.describe())

    def test_bad_peer_timeout_is_refused(self):
        for value in (-1, 1e9, "x"):
            result = e2e.sluice(["run", self.job("bad", value)], ranks=1)
            e2e.expect_error(self, result, "run.peer_timeout", code=e2e.EXIT_CONFIGURATION)


if __name__ == "__main__":
    e2e.main()
