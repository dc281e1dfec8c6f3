"""Incremental retraining through the partial cache: a rerun reads only new or changed partitions
and publishes the bits of a full retrain; a run killed with SIGKILL resumes from what it cached."""

import glob
import os
import shutil
import signal
import time

import numpy as np


import sluice_e2e as e2e

# A rank dies or stalls here under mpirun: run Open MPI with its own settings, as users do.
e2e.Config.launcher_defaults = True

RANKS = 2
PARTITIONS = 16


class IncrementalTest(e2e.TempDirTestCase):
    def setUp(self):
        super().setUp()
        # 17 generated partitions; the lake starts with the first 16 and the 17th is added later.
        self.features = e2e.gen_lake(self, self.path("all"), PARTITIONS + 1, 2000, seed=29)
        files = sorted(glob.glob(self.path("all", "**", "*.h5"), recursive=True))
        self.assertEqual(len(files), PARTITIONS + 1)
        self.extra = files[-1]
        shutil.copytree(self.path("all"), self.path("lake"))
        os.remove(self.lake_file(self.extra))

    def lake_file(self, generated):
        return self.path("lake", os.path.relpath(generated, self.path("all")))

    def job(self, name="m", model=None, cache=None):
        text = e2e.job_text({"path": "lake", "block_rows": 500},
                            model or {"kind": "ridge", "features": self.features, "label": "y", "alpha": 0.5},
                            {"registry": "registry", "name": name})
        if cache:
            text += "\n[cache]\n" + "".join(f"{k} = {e2e.toml_value(v)}\n" for k, v in cache.items())
        return e2e.write_text(self.path(f"{name}.toml"), text)

    def entries(self):
        return sorted(glob.glob(self.path("registry", ".partials", "*", "*.partial")))

    def run_cached(self, job, read, cached):
        result, snap = e2e.run_job(self, job, RANKS, cache=True)
        self.assertEqual((result.field("read"), result.field("cached")), (read, cached), result.describe())
        return result, snap

    def assert_same_model(self, snap, reference, what):
        self.assertEqual(snap["coefficients_bytes"], reference["coefficients_bytes"],
                         f"{what}: {snap['coefficients'].tolist()} vs {reference['coefficients'].tolist()}")
        self.assertEqual(snap["intercept_bytes"], reference["intercept_bytes"], what)
        self.assertEqual(snap["metrics"]["num_rows"], reference["metrics"]["num_rows"], what)

    def test_reruns_read_only_new_changed_and_removed_partitions(self):
        job = self.job()
        _, first = self.run_cached(job, read=PARTITIONS, cached=0)
        self.assertEqual(len(self.entries()), PARTITIONS)
        _, again = self.run_cached(job, read=0, cached=PARTITIONS)
        self.assert_same_model(again, first, "unchanged lake")

        # One partition added: only it is read; the model is the full retrain's, bit for bit.
        shutil.copy(self.extra, self.lake_file(self.extra))
        _, added = self.run_cached(job, read=1, cached=PARTITIONS)
        _, full = e2e.run_job(self, job, RANKS)
        self.assertEqual(full["metrics"]["num_rows"], (PARTITIONS + 1) * 2000)
        self.assert_same_model(added, full, "one partition added")

        # One partition's content changed (one label value): exactly that one is read again.
        changed = sorted(glob.glob(self.path("lake", "**", "*.h5"), recursive=True))[5]
        with e2e.h5py.File(changed, "r+") as f:
            f["y"][7] = f["y"][7] + 1.0
        _, after_change = self.run_cached(job, read=1, cached=PARTITIONS)
        _, full = e2e.run_job(self, job, RANKS)
        self.assert_same_model(after_change, full, "one partition changed")
        self.assertNotEqual(after_change["coefficients_bytes"], added["coefficients_bytes"])

        # One partition removed: nothing is read.
        os.remove(changed)
        _, removed = self.run_cached(job, read=0, cached=PARTITIONS)
        _, full = e2e.run_job(self, job, RANKS)
        self.assert_same_model(removed, full, "one partition removed")

        # A setting that changes the partials (the model's features) shares nothing.
        fewer = self.job("fewer", {"kind": "ridge", "features": self.features[:-1], "label": "y"})
        self.run_cached(fewer, read=PARTITIONS, cached=0)

    def test_damaged_entry_is_read_again(self):
        job = self.job()
        _, first = self.run_cached(job, read=PARTITIONS, cached=0)
        entry = self.entries()[3]
        with open(entry, "r+b") as f:
            f.seek(os.path.getsize(entry) // 2)
            byte = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([byte[0] ^ 0x10]))
        result, again = self.run_cached(job, read=1, cached=PARTITIONS - 1)
        self.assertIn("ignoring damaged cache entry", result.stderr, result.describe())
        self.assertIn(os.path.basename(entry), result.stderr)
        self.assert_same_model(again, first, "after a damaged entry")

    def test_size_limit_keeps_the_newest_entries(self):
        job = self.job()
        self.run_cached(job, read=PARTITIONS, cached=0)
        sizes = [os.path.getsize(e) for e in self.entries()]
        limit = sum(sizes) // 2
        limited = self.job("limited", cache={"max_bytes": limit})
        self.run_cached(limited, read=0, cached=PARTITIONS)  # trimmed after it published
        kept = self.entries()
        self.assertLessEqual(sum(os.path.getsize(e) for e in kept), limit)
        self.assertGreater(len(kept), 0)
        self.run_cached(limited, read=PARTITIONS - len(kept), cached=len(kept))
        off = self.job("off", cache={"enabled": False})
        self.run_cached(off, read=PARTITIONS, cached=0)

    def test_kmeans_takes_its_first_pass_from_the_cache_and_warm_starts(self):
        rng = np.random.default_rng(5)
        centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])

        def write_blobs(name):
            points = centres[rng.integers(0, 3, 4000)] + rng.normal(size=(4000, 2))
            e2e.write_partition(self.path("blobs", name), {"u": points[:, 0], "v": points[:, 1]})

        for i in range(6):
            write_blobs(f"part-{i}.h5")
        job = e2e.write_text(self.path("km.toml"), e2e.job_text(
            {"path": "blobs"}, {"kind": "kmeans", "features": ["u", "v"], "k": 3, "seed": 4},
            {"registry": "registry", "name": "km"}))
        first_result, first = self.run_cached(job, read=6, cached=0)
        self.assertNotIn("warm start", first_result.stdout)
        self.assertEqual(lineage_attr(first["path"], "warm_start_version"), 0)
        # The sample pass comes from the cache; Lloyd starts from v1's centres instead of k-means||.
        write_blobs("part-6.h5")
        warm_result, warm = self.run_cached(job, read=1, cached=6)
        self.assertIn("warm start from version 1", warm_result.stdout)
        self.assertEqual(lineage_attr(warm["path"], "warm_start_version"), 1)
        np.testing.assert_array_equal(warm["params"]["initial_centers"], first["params"]["centers"])
        _, cold = e2e.run_job(self, job, RANKS)  # no cache: a cold start on the same lake
        self.assertEqual(lineage_attr(cold["path"], "warm_start_version"), 0)
        self.assertLessEqual(len(warm["history"]["inertia"]), len(cold["history"]["inertia"]))
        # Both converge to the same clusters (up to their order) within the tolerance.
        order = lambda c: c[np.lexsort(c.T[::-1])]
        np.testing.assert_allclose(order(warm["params"]["centers"]), order(cold["params"]["centers"]),
                                   atol=1e-6)

    def test_logistic_warm_starts_from_the_current_version(self):
        rng = np.random.default_rng(8)
        for i in range(4):
            x = rng.normal(size=(3000, 3))
            y = (x @ [1.5, -2.0, 0.5] + 0.3 + rng.logistic(size=3000) > 0).astype(np.float64)
            e2e.write_partition(self.path("logit", f"part-{i}.h5"),
                                {"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": y})
        job = e2e.write_text(self.path("logit.toml"), e2e.job_text(
            {"path": "logit"}, {"kind": "logistic", "features": ["a", "b", "c"], "label": "y"},
            {"registry": "registry", "name": "logit"}))
        _, first = e2e.run_job(self, job, RANKS, cache=True)
        x = rng.normal(size=(3000, 3))
        y = (x @ [1.5, -2.0, 0.5] + 0.3 + rng.logistic(size=3000) > 0).astype(np.float64)
        e2e.write_partition(self.path("logit", "part-9.h5"), {"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": y})
        warm_result, warm = e2e.run_job(self, job, RANKS, cache=True)
        self.assertIn("warm start from version 1", warm_result.stdout)
        self.assertEqual(lineage_attr(warm["path"], "warm_start_version"), 1)
        _, cold = e2e.run_job(self, job, RANKS)
        self.assertLess(warm["metrics"]["iterations"], cold["metrics"]["iterations"])
        np.testing.assert_allclose(warm["coefficients"], cold["coefficients"], rtol=1e-6)
        self.assertAlmostEqual(warm["intercept"], cold["intercept"], delta=1e-6)
        self.assertNotEqual(warm["coefficients"].tolist(), first["coefficients"].tolist())

    def test_concurrent_jobs_share_the_cache(self):
        jobs = [self.job(f"c{i}") for i in range(3)]
        runs = [e2e.Running(["run", job, e2e.WITH_CACHE], RANKS) for job in jobs]
        results = [run.finish(timeout=120) for run in runs]
        for result in results:
            self.assertEqual(result.returncode, 0, result.describe())
        self.assertEqual(len(self.entries()), PARTITIONS)
        self.assertEqual(glob.glob(self.path("registry", ".partials", "*", "*.tmp-*")), [])
        snaps = [e2e.read_snapshot(self.path("registry", f"c{i}", "v000001.h5")) for i in range(3)]
        _, full = e2e.run_job(self, jobs[0], RANKS)
        for snap in snaps:
            self.assert_same_model(snap, full, "concurrent")

    def test_sigkill_of_a_rank_resumes_from_the_cache(self):
        job = self.job()
        _, reference = e2e.run_job(self, self.job("reference"), RANKS)  # uninterrupted, no cache
        for victim_rank in (1, 0):
            shutil.rmtree(self.path("registry", ".partials"), ignore_errors=True)
            run = e2e.Running(["run", job, "--test-block-delay-ms", "60", e2e.WITH_CACHE], RANKS)
            deadline = time.monotonic() + 60
            while len(self.entries()) < 3 and time.monotonic() < deadline and run.process.poll() is None:
                time.sleep(0.05)
            victim = e2e.rank_pid(run.process.pid, victim_rank)
            self.assertIsNotNone(victim, f"no rank {victim_rank} process")
            os.kill(victim, signal.SIGKILL)
            killed = run.finish(timeout=60)
            self.assertNotEqual(killed.returncode, 0, killed.describe())
            done = len(self.entries())
            self.assertGreaterEqual(done, 3)
            self.assertLess(done, PARTITIONS, "the job finished before the kill")
            self.assertIsNone(e2e.current(self.path("registry"), "m"), "a killed run published")
            _, resumed = self.run_cached(job, read=PARTITIONS - done, cached=done)
            self.assert_same_model(resumed, reference, f"resumed after SIGKILL of rank {victim_rank}")
            shutil.rmtree(self.path("registry", "m"))


def lineage_attr(path, name):
    with e2e.h5py.File(path, "r") as f:
        return int(f["lineage"].attrs[name])


if __name__ == "__main__":
    e2e.main()
