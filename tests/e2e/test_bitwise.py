"""The same job gives bit-identical coefficients and intercept on 1, 2, 3 and 4 ranks and with 2 threads per rank."""

import h5py
import numpy as np

import sluice_e2e as e2e
from test_accuracy import FEATURES, write_lake


class BitwiseTest(e2e.TempDirTestCase):
    def test_identical_bits_at_every_rank_count(self):
        write_lake(self.path("lake"), seed=21)
        job = e2e.write_job(self.path("job.toml"),
                            lake={"path": "lake", "block_rows": 700},
                            model={"kind": "ridge", "features": FEATURES, "label": "y", "alpha": 0.3},
                            publish={"registry": "registry", "name": "bits"})
        # The thread count comes from the job file, so that run gets its own (otherwise equal) job.
        threaded = e2e.write_job(self.path("threaded.toml"),
                                 lake={"path": "lake", "block_rows": 700},
                                 model={"kind": "ridge", "features": FEATURES, "label": "y", "alpha": 0.3},
                                 publish={"registry": "registry", "name": "bits-threads"},
                                 run={"threads": 2})
        runs = {}
        for ranks in (1, 2, 3, 4):
            _, runs[f"{ranks} ranks"] = e2e.run_job(self, job, ranks)
        _, runs["1 ranks, second run"] = e2e.run_job(self, job, 1)
        result, runs["2 ranks x 2 threads"] = e2e.run_job(self, threaded, 2)
        self.assertIn("2 threads", result.stderr + result.stdout)
        with h5py.File(runs["2 ranks x 2 threads"]["path"], "r") as f:
            self.assertEqual(int(f["lineage"].attrs["threads_per_rank"]), 2)

        self.assert_identical(runs)

    def test_identical_bits_on_a_skewed_generated_lake(self):
        # 11 partitions of very different sizes: every rank count gets a different assignment.
        result = e2e.sluice(["gen", "--out", self.path("lake"), "--partitions", 11, "--rows", 3000,
                             "--features", 6, "--seed", 5, "--skew", 1.5, "--days", 3,
                             "--job", self.path("job.toml"), "--registry", self.path("registry"),
                             "--name", "skewed", "--block-rows", 500])
        self.assertEqual(result.returncode, 0, result.describe())
        runs = {}
        for ranks in (1, 2, 3, 4):
            _, runs[f"{ranks} ranks"] = e2e.run_job(self, self.path("job.toml"), ranks)
        # The same rank count again: a difference here is run-to-run, not rank-count, dependence.
        _, runs["1 ranks, second run"] = e2e.run_job(self, self.path("job.toml"), 1)
        _, runs["2 ranks x 2 threads"] = e2e.run_job(self, self.path("job.toml"), 2, threads=2)
        self.assert_identical(runs)

    def assert_identical(self, runs):
        reference = runs["1 ranks"]
        self.assertTrue(np.all(np.isfinite(reference["coefficients"])))
        differing = [label for label, snap in runs.items()
                     if (snap["coefficients_bytes"], snap["intercept_bytes"])
                     != (reference["coefficients_bytes"], reference["intercept_bytes"])]
        for label, snap in runs.items():
            self.assertEqual(snap["coefficients_bytes"], reference["coefficients_bytes"],
                             f"{label}: coefficients differ from 1 rank (all differing: {differing}): "
                             f"{snap['coefficients'].tolist()} vs {reference['coefficients'].tolist()}")
            self.assertEqual(snap["intercept_bytes"], reference["intercept_bytes"],
                             f"{label}: intercept {snap['intercept']!r} vs {reference['intercept']!r}")
            self.assertEqual(snap["metrics"]["rmse"], reference["metrics"]["rmse"], label)


if __name__ == "__main__":
    e2e.main()
