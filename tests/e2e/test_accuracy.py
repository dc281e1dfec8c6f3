"""A lake written with h5py (mixed dtypes, storage and sizes) fits exactly what scikit-learn fits on the same rows."""

import os

import h5py
import numpy as np

import sluice_e2e as e2e

# Coefficients, intercept, rmse and r2 must agree with the float64 references to 1e-10 relative
# error per value: both sides solve the same normal equations in double precision, the data are
# well conditioned, so anything larger is a wrong row, a wrong cast or a lost block, not rounding.
RTOL = 1e-10

FEATURES = ["f64", "f32", "i64", "i32", "i8", "u8", "flag", "mixed"]
TRUE_W = np.array([0.7, -1.3, 0.04, -0.06, 0.015, -0.01, 1.5, 0.5])

# (Hive path, rows, storage, dtype of the "mixed" column): unequal sizes, every storage variant,
# a one-row partition, and one column whose dtype differs between partitions.
PARTITIONS = [
    ("region=eu/day=2026-11-01/part-0.h5", 2500, "contiguous", np.float64),
    ("region=eu/day=2026-11-02/part-0.h5", 1700, "gzip", np.float32),
    ("region=us/day=2026-11-01/part-0.h5", 3100, "fletcher32", np.int32),
    ("region=us/day=2026-11-02/part-0.h5", 900, "gzip_fletcher32", np.int64),
    ("region=us/day=2026-11-02/part-1.h5", 1, "contiguous", np.float64),
    ("region=ap/day=2026-11-03/part-0.h5", 4000, "gzip", np.float32),
]


def make_columns(rng, rows, mixed_dtype, label_dtype=np.float64):
    """One partition's columns in their stored dtypes; y depends on every feature."""
    mixed = rng.normal(0.0, 1.0, rows)
    if np.issubdtype(mixed_dtype, np.integer):
        mixed = np.round(mixed * 5)
    columns = {
        "f64": rng.normal(0.0, 2.0, rows),
        "f32": rng.normal(1.0, 1.0, rows).astype(np.float32),
        "i64": rng.integers(-40, 41, rows, dtype=np.int64),
        "i32": rng.integers(-25, 26, rows, dtype=np.int32),
        "i8": rng.integers(-100, 101, rows).astype(np.int8),
        "u8": rng.integers(0, 256, rows).astype(np.uint8),
        "flag": rng.random(rows) < 0.3,
        "mixed": mixed.astype(mixed_dtype),
    }
    X = np.column_stack([np.asarray(columns[name], dtype=np.float64) for name in FEATURES])
    columns["y"] = (X @ TRUE_W + 3.0 + rng.normal(0.0, 1.0, rows)).astype(label_dtype)
    return columns


def write_lake(root, seed=11, group="/"):
    """Writes PARTITIONS under root; returns {relative path: columns}."""
    rng = np.random.default_rng(seed)
    lake = {}
    for i, (relative, rows, storage, mixed_dtype) in enumerate(PARTITIONS):
        # One partition stores its label as float32, as a pandas frame sometimes would.
        columns = make_columns(rng, rows, mixed_dtype, np.float32 if i == 3 else np.float64)
        e2e.write_partition(os.path.join(root, relative), columns, storage, group)
        if group not in ("", "/"):
            # Unrelated data beside the table must not confuse the reader.
            with h5py.File(os.path.join(root, relative), "a") as f:
                f.create_dataset("notes", data=np.arange(3))
        lake[relative] = columns
    return lake


def rows_of(lake, relatives):
    X = np.concatenate([np.column_stack([np.asarray(lake[r][n], np.float64) for n in FEATURES])
                        for r in relatives])
    y = np.concatenate([np.asarray(lake[r]["y"], np.float64) for r in relatives])
    return X, y


class AccuracyTest(e2e.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.ranks = e2e.Config.ranks
        self.lake = write_lake(self.path("lake"))

    def check_fit(self, job, relatives, kind, alpha, fit_intercept=True):
        _, snap = e2e.run_job(self, job, self.ranks)
        X, y = rows_of(self.lake, relatives)
        coef, intercept = e2e.reference_fit(X, y, kind, alpha, fit_intercept)
        self.assertEqual(snap["feature_names"], FEATURES)
        self.assertEqual(snap["kind"], kind)
        e2e.assert_rel_close(self, snap["coefficients"], coef, RTOL, "coefficients vs scikit-learn")
        if fit_intercept:
            e2e.assert_rel_close(self, snap["intercept"], intercept, RTOL, "intercept vs scikit-learn")
        else:
            self.assertEqual(snap["intercept"], 0.0)
        rmse, r2 = e2e.metrics(X, y, snap["coefficients"], snap["intercept"])
        e2e.assert_rel_close(self, snap["metrics"]["rmse"], rmse, RTOL, "rmse vs numpy")
        e2e.assert_rel_close(self, snap["metrics"]["r2"], r2, RTOL, "r2 vs numpy")
        self.assertEqual(snap["metrics"]["num_rows"], len(y))
        self.assertEqual(snap["metrics"]["num_partitions"], len(relatives))
        self.assertEqual(snap["metrics"]["num_dropped_rows"], 0)
        self.assertEqual(sorted(snap["partitions"]), sorted(relatives))
        rows = dict(zip(snap["partitions"], snap["partition_rows"]))
        for relative in relatives:
            self.assertEqual(rows[relative], len(self.lake[relative]["y"]), relative)
        return snap

    def job(self, name, model, select=None, **lake):
        # block_rows = 1000: most partitions span several blocks, the last one partial.
        return e2e.write_job(self.path(f"{name}.toml"),
                             lake={"path": "lake", "block_rows": 1000, **lake},
                             model=model, publish={"registry": "registry", "name": name},
                             select=select)

    def test_ridge_matches_sklearn(self):
        job = self.job("ridge", {"kind": "ridge", "features": FEATURES, "label": "y", "alpha": 2.5})
        self.check_fit(job, list(self.lake), "ridge", 2.5)

    def test_ols_matches_sklearn(self):
        job = self.job("ols", {"kind": "ols", "features": FEATURES, "label": "y"})
        self.check_fit(job, list(self.lake), "ols", 0.0)

    def test_ridge_without_intercept_matches_sklearn(self):
        job = self.job("noint", {"kind": "ridge", "features": FEATURES, "label": "y", "alpha": 0.5,
                                 "fit_intercept": False})
        self.check_fit(job, list(self.lake), "ridge", 0.5, fit_intercept=False)

    def test_select_fits_only_matching_partitions(self):
        # Two keys: only eu/2026-11-01 and ap/2026-11-03 satisfy both.
        select = {"region": ["eu", "ap"], "day": ["2026-11-01", "2026-11-03"]}
        job = self.job("sel", {"kind": "ridge", "features": FEATURES, "label": "y", "alpha": 1.0},
                       select=select)
        self.check_fit(job, ["region=ap/day=2026-11-03/part-0.h5", "region=eu/day=2026-11-01/part-0.h5"],
                       "ridge", 1.0)

    def test_select_single_string_value(self):
        job = self.job("sel1", {"kind": "ols", "features": FEATURES, "label": "y"},
                       select={"region": "us"})
        self.check_fit(job, [r for r in self.lake if r.startswith("region=us/")], "ols", 0.0)

    def test_table_in_a_group(self):
        grouped = write_lake(self.path("glake"), seed=12, group="/table")
        self.lake = grouped
        job = e2e.write_job(self.path("group.toml"),
                            lake={"path": "glake", "group": "/table", "block_rows": 1000},
                            model={"kind": "ridge", "features": FEATURES, "label": "y", "alpha": 1.0},
                            publish={"registry": "registry", "name": "grouped"})
        self.check_fit(job, list(grouped), "ridge", 1.0)


if __name__ == "__main__":
    e2e.main()
