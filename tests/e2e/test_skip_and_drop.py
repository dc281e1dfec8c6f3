"""on_bad_partition = "skip" and on_nonfinite = "drop_rows": the model is scikit-learn's fit of exactly the rows kept."""

import os

import json

import numpy as np

import sluice_e2e as e2e
from test_bad_input import DAYS, GOOD_MODEL, corrupt_fletcher32_chunk, good_columns, write_good_lake

# Same tolerance and reasoning as test_accuracy: a double-precision solve of the same rows.
RTOL = 1e-10
FEATURES = GOOD_MODEL["features"]


def rows_of(lake, relatives, keep=None):
    X = np.concatenate([np.column_stack([lake[r][n] for n in FEATURES]) for r in relatives])
    y = np.concatenate([lake[r]["y"] for r in relatives])
    if keep is not None:
        X, y = X[keep], y[keep]
    return X, y


class SkipAndDropTest(e2e.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.ranks = e2e.Config.ranks
        self.lake = write_good_lake(self.path("lake"), seed=8)

    def run_and_compare(self, extra_lake, relatives, keep=None):
        job = e2e.write_job(self.path("job.toml"), lake={"path": "lake", "block_rows": 64, **extra_lake},
                            model=GOOD_MODEL, publish={"registry": "registry", "name": "m"})
        _, snap = e2e.run_job(self, job, self.ranks)
        X, y = rows_of(self.lake, relatives, keep)
        coef, intercept = e2e.reference_fit(X, y, "ridge", GOOD_MODEL["alpha"])
        e2e.assert_rel_close(self, snap["coefficients"], coef, RTOL, "coefficients vs scikit-learn")
        e2e.assert_rel_close(self, snap["intercept"], intercept, RTOL, "intercept vs scikit-learn")
        rmse, r2 = e2e.metrics(X, y, snap["coefficients"], snap["intercept"])
        e2e.assert_rel_close(self, snap["metrics"]["rmse"], rmse, RTOL, "rmse vs numpy")
        e2e.assert_rel_close(self, snap["metrics"]["r2"], r2, RTOL, "r2 vs numpy")
        self.assertEqual(snap["metrics"]["num_rows"], len(y))
        self.assertEqual(e2e.current(self.path("registry"), "m"), "v000001.h5\n")
        return snap

    def check_skipped(self, bad, reason_words):
        good = [r for r in self.lake if r != bad]
        del self.lake[bad]
        snap = self.run_and_compare({"on_bad_partition": "skip"}, good)
        self.assertEqual(sorted(snap["partitions"]), sorted(good))
        self.assertEqual(snap["skipped"], [bad])
        for word in reason_words:
            self.assertIn(word, snap["skipped_reasons"][0])
        self.assertEqual(snap["metrics"]["num_skipped_partitions"], 1)
        self.assertEqual(snap["metrics"]["num_partitions"], len(good))
        # The run report beside the snapshot lists it in its skipped list, with the same reason,
        # whether it was found at inspection or while reading.
        with open(self.path("registry", "m", "v000001.report.json")) as f:
            report = json.load(f)
        self.assertEqual([entry["path"] for entry in report["skipped"]], [bad])
        self.assertEqual(report["skipped"][0]["reason"], snap["skipped_reasons"][0])

    def test_skip_partition_with_missing_column(self):
        # Found while inspecting the schema, before any data is read.
        bad = f"day={DAYS[3]}/part-0.h5"
        columns = good_columns(np.random.default_rng(1))
        del columns["x3"]
        e2e.write_partition(self.path("lake", bad), columns)
        self.check_skipped(bad, ["x3"])

    def test_skip_partition_with_corrupt_chunk(self):
        # Found only while reading the data: the fletcher32 filter rejects the chunk.
        bad = f"day={DAYS[1]}/part-0.h5"
        e2e.write_partition(self.path("lake", bad), self.lake[bad], "fletcher32")
        corrupt_fletcher32_chunk(self.path("lake", bad), "x2")
        self.check_skipped(bad, ["x2", "Fletcher32"])

    def test_drop_rows_with_nonfinite_values(self):
        rng = np.random.default_rng(4)
        keep = []
        for relative, columns in self.lake.items():
            rows = len(columns["y"])
            mask = np.ones(rows, dtype=bool)
            for name, value in (("x1", np.nan), ("x3", np.inf), ("y", -np.inf), ("y", np.nan)):
                hit = rng.choice(rows, 6, replace=False)
                columns[name][hit] = value
                mask[hit] = False
            # A NaN in a column the job does not use must not drop its row.
            columns["unused"] = np.where(rng.random(rows) < 0.2, np.nan, 1.0)
            e2e.write_partition(self.path("lake", relative), columns,
                                "gzip" if relative.startswith(f"day={DAYS[0]}") else "contiguous")
            keep.append(mask)
        keep = np.concatenate(keep)
        self.assertGreater((~keep).sum(), 40)  # several rows hit twice: counted once
        snap = self.run_and_compare({"on_nonfinite": "drop_rows"}, list(self.lake), keep)
        self.assertEqual(snap["metrics"]["num_dropped_rows"], int((~keep).sum()))


if __name__ == "__main__":
    e2e.main()
