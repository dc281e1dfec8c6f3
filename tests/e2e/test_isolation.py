"""[lake] isolate = true: partitions that crash libhdf5 1.10.8 itself are checked in a separate,
limited process, refused with a message naming the file, and handled by the bad-partition policy:
no rank crashes or hangs, error mode publishes nothing, skip mode lists them and succeeds.

The crashing inputs are made here (crashing_partitions.py), and each is first shown to crash a
run without isolation: the test cannot pass on inputs that no longer crash."""

import json
import os
import signal
import subprocess
import sys

import numpy as np

import crashing_partitions
import sluice_e2e as e2e
from test_bad_input import DAYS, GOOD_MODEL, good_columns, write_good_lake

# What the refusal of each crashing partition says: the crash seen by the isolated process, or
# (unclosable) the error libhdf5 returned there before the crash it would have had at shutdown.
CRASHED = "libhdf5 crashed (SIGSEGV) while checking it in an isolated process"
REASONS = {"undefined-btree-address": CRASHED, "undefined-btree-child": CRASHED,
           "unclosable": "dataset '/x2': cannot open dataset 'x2' (H5HL_offset_into"}
RTOL = 1e-10  # as test_skip_and_drop: a double-precision solve of the same rows
FEATURES = GOOD_MODEL["features"]
# Runs are small; a run that takes longer than this hangs.
TIMEOUT_S = 40


class IsolationTest(e2e.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.ranks = e2e.Config.ranks
        self.good = write_good_lake(self.path("lake"), seed=11)

    def crashing(self, name, builders=crashing_partitions.CRASHING):
        """Adds the partition `name` to the lake; returns its path relative to the lake. It sorts
        after day=DAYS[1] and before day=DAYS[2], so at 2 ranks rank 1 meets some."""
        relative = f"day={DAYS[1]}/{name}.h5"
        builders[name](self.path("lake", relative), good_columns(np.random.default_rng(len(name))))
        return relative

    def job(self, policy, isolate=True, lake="lake", name="job.toml"):
        return e2e.write_job(self.path(name),
                             lake={"path": lake, "block_rows": 64, "on_bad_partition": policy,
                                   "isolate": isolate},
                             model=GOOD_MODEL, publish={"registry": "registry", "name": "m"})

    def test_each_input_crashes_a_run_without_isolation(self):
        # A good partition and a crashing one per lake, read in the rank's own process: libhdf5
        # takes the process down, even with bad partitions skipped.
        for name in crashing_partitions.CRASHING:
            with self.subTest(name=name):
                e2e.write_partition(self.path(name, "good.h5"), good_columns(np.random.default_rng(2)))
                crashing_partitions.CRASHING[name](self.path(name, f"part-{name}.h5"),
                                                   good_columns(np.random.default_rng(1)))
                job = self.job("skip", isolate=False, lake=name, name=f"{name}.toml")
                result = e2e.sluice(["run", job], timeout=TIMEOUT_S)
                self.assertEqual(result.returncode, -signal.SIGSEGV,
                                 f"{name} must crash libhdf5 1.10.8 in-process\n" + result.describe())
                if name == "unclosable":  # at shutdown: after the run skipped it and published
                    self.assertRegex(result.stdout, r"(?m)^published ", result.describe())

    def test_error_mode_names_the_file_and_publishes_nothing(self):
        e2e.run_job(self, self.job("error"), self.ranks, timeout=TIMEOUT_S)  # v1, every check passed
        for name in crashing_partitions.CRASHING:
            with self.subTest(name=name):
                relative = self.crashing(name)
                result = e2e.sluice(["run", self.job("error")], ranks=self.ranks, timeout=TIMEOUT_S)
                e2e.expect_error(self, result, self.path("lake", relative), REASONS[name],
                                 code=e2e.EXIT_DATA)
                self.assertEqual(e2e.current(self.path("registry"), "m"), "v000001.h5\n")
                self.assertEqual(e2e.version_files(self.path("registry"), "m"), ["v000001.h5"])
                os.remove(self.path("lake", relative))

    def test_heap_forgeries_crash_libhdf5_alone(self):
        # The forged heap addresses crash libhdf5 1.10.8 itself (h5py here, no Sluice in between);
        # Sluice's guard refuses them before the library loads the heap (the next test).
        for name in ("undefined-heap-address", "undefined-heap-data"):
            with self.subTest(name=name):
                path = self.path(f"{name}.h5")
                crashing_partitions.HEAP_FORGERIES[name](path, good_columns(np.random.default_rng(1)))
                read = subprocess.run(
                    [sys.executable, "-c", "import h5py, sys; h5py.File(sys.argv[1], 'r')['x1'][:]", path],
                    capture_output=True, text=True, timeout=TIMEOUT_S)
                self.assertEqual(read.returncode, -signal.SIGSEGV, read.stderr)

    def test_skip_mode_lists_them_and_publishes_the_rest(self):
        expected = {self.crashing(name): REASONS[name] for name in crashing_partitions.CRASHING}
        for name in crashing_partitions.HEAP_FORGERIES:
            rule = ("a heap's free list must end" if "cyclic" in name
                    else "a group's local heap must lie inside the file")
            expected[self.crashing(name, crashing_partitions.HEAP_FORGERIES)] = rule
        bad = sorted(expected)
        result, snap = e2e.run_job(self, self.job("skip"), self.ranks, timeout=TIMEOUT_S)
        # Exit 0 above: no crash at MPI_Finalize either (libhdf5 never opened these files here).
        self.assertEqual(snap["skipped"], bad)
        for relative, reason in zip(snap["skipped"], snap["skipped_reasons"]):
            self.assertIn(self.path("lake", relative), reason)
            self.assertIn(expected[relative], reason)
        self.assertEqual(sorted(snap["partitions"]), sorted(self.good))
        with open(self.path("registry", "m", "v000001.report.json")) as f:
            report = json.load(f)
        self.assertEqual([entry["path"] for entry in report["skipped"]], bad)
        warnings = [line for line in result.stderr.splitlines() if "skipping partition" in line]
        for relative in bad:
            self.assertEqual(sum(self.path("lake", relative) in line for line in warnings), 1,
                             result.describe())
        # The model is the fit of exactly the good partitions' rows.
        X = np.concatenate([np.column_stack([c[n] for n in FEATURES]) for c in self.good.values()])
        y = np.concatenate([c["y"] for c in self.good.values()])
        coef, intercept = e2e.reference_fit(X, y, "ridge", GOOD_MODEL["alpha"])
        e2e.assert_rel_close(self, snap["coefficients"], coef, RTOL, "coefficients vs scikit-learn")
        e2e.assert_rel_close(self, snap["intercept"], intercept, RTOL, "intercept vs scikit-learn")
        self.assertEqual(snap["metrics"]["num_rows"], len(y))

    def test_transform_skips_them_too(self):
        # `sluice transform` checks in its fit passes and again before writing each partition.
        for name in crashing_partitions.CRASHING:
            self.crashing(name)
        job = e2e.write_text(self.path("transform.toml"), e2e.job_text(
            lake={"path": "lake", "block_rows": 64, "on_bad_partition": "skip", "isolate": True},
            model=None, publish={"registry": "registry", "name": "m"}) +
            '\n[[transform]]\nscale = ["x1", "x2"]\n\n[curate]\npath = "curated"\n')
        result = e2e.sluice(["transform", job], ranks=self.ranks, timeout=TIMEOUT_S)
        self.assertEqual(result.returncode, 0, result.describe())
        self.assertIn(f"wrote {len(self.good)} partitions (0 reused, "
                      f"{len(crashing_partitions.CRASHING)} skipped)", result.stdout, result.describe())


if __name__ == "__main__":
    e2e.main()
