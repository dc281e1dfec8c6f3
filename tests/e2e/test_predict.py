"""`sluice predict` scores a lake with a published snapshot: b + X·w per row, in the lake's layout."""

import os

import h5py
import numpy as np

import sluice_e2e as e2e
from test_bad_input import GOOD_MODEL, write_good_lake


class PredictTest(e2e.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.lake = write_good_lake(self.path("lake"))
        job = e2e.write_job(self.path("job.toml"), lake={"path": "lake"}, model=GOOD_MODEL,
                            publish={"registry": "registry", "name": "m"})
        _, self.snapshot = e2e.run_job(self, job, e2e.Config.ranks)

    def test_predictions_equal_numpy_on_the_snapshot(self):
        out = self.path("scores")
        result = e2e.sluice(["predict", self.path("registry"), "m", "--lake", self.path("lake"),
                             "--out", out, "--block-rows", "100"], ranks=e2e.Config.ranks)
        self.assertEqual(result.returncode, 0, result.describe())
        rows = sum(len(columns["y"]) for columns in self.lake.values())
        self.assertIn(f"scored {rows} rows in {len(self.lake)} partitions", result.stdout,
                      result.describe())
        w = self.snapshot["coefficients"]
        b = self.snapshot["intercept"]
        for relative, columns in self.lake.items():
            X = np.column_stack([columns[name] for name in GOOD_MODEL["features"]])
            with h5py.File(os.path.join(out, relative), "r") as f:
                predicted = f["prediction"][:]
            # The same float64 products, summed in a possibly different order: 1e-12 relative.
            np.testing.assert_allclose(predicted, X @ w + b, rtol=1e-12, atol=1e-12)
        leftovers = [n for _, _, files in os.walk(out) for n in files if ".tmp" in n]
        self.assertEqual(leftovers, [])

    def test_missing_feature_and_missing_snapshot_are_errors(self):
        for relative in self.lake:
            with h5py.File(os.path.join(self.path("lake"), relative), "a") as f:
                del f["x2"]
            break
        result = e2e.sluice(["predict", self.path("registry"), "m", "--lake", self.path("lake"),
                             "--out", self.path("scores")], ranks=e2e.Config.ranks)
        e2e.expect_error(self, result, "missing column '/x2'")
        result = e2e.sluice(["predict", self.path("registry"), "nomodel", "--lake",
                             self.path("lake"), "--out", self.path("scores")],
                            ranks=e2e.Config.ranks)
        e2e.expect_error(self, result, "has no model 'nomodel'")


if __name__ == "__main__":
    e2e.main()
