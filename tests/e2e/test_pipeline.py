"""The transformation pipeline end to end, against pandas/numpy on a lake written with h5py:
every step's fitted statistics, the curated zone (`sluice transform`), the model trained through
the pipeline, `sluice predict` on the raw lake, validation metrics of the split; identical bits on
1, 2 and 4 ranks; a snapshot's pipeline reproducing the curated zone exactly; and each bad input
refused with its message, nothing published and nothing left under a final name.

Every comparison prints its measured error on stderr ("measured: ...").
"""

import glob
import json
import os
import struct
import sys

import h5py
import numpy as np
import pandas as pd
import xxhash

import sluice_e2e as e2e

SIZES = [5000, 3000, 4000, 2000]
DAYS = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"]
PATHS = [f"day={d}/part.h5" for d in DAYS]
STORAGE = ["contiguous", "gzip", "fletcher32", "contiguous"]
BLOCK_ROWS = 2048  # filters cut rows out of blocks that cross tile and block boundaries
SENTINEL = -999.0
SEED = 7
FRACTION = 0.2
TOL = 1e-12

STEPS = """
[[transform]]
filter = "price > 0 && qty < 1e6"

[[transform]]
derive = "log_price"
expr = "log(price)"

[[transform]]
derive = "ratio"
expr = "qty / (1 + price) > 5000 ? 5000 : qty / (1 + price)"

[[transform]]
impute = "x1"
strategy = "mean"

[[transform]]
impute = "level"
strategy = "most_frequent"
missing = -999

[[transform]]
scale = ["log_price", "ratio", "x1"]
method = "standard"

[[transform]]
scale = "level"
method = "minmax"

[[transform]]
one_hot = "cat"

[[transform]]
one_hot = "day"
"""

FEATURES = ["log_price", "ratio", "x1", "level", "cat", "day"]


def measured(what, error, tolerance):
    print(f"  measured: {what}: {error:.3e} (tolerance {tolerance:.0e})", file=sys.stderr)


def rel_error(actual, expected):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        return float("inf")
    if actual.size == 0:
        return 0.0
    return float(np.max(np.abs(actual - expected) / np.maximum(np.abs(expected), 1.0)))


def make_lake(root, rng):
    for path, rows, storage, day in zip(PATHS, SIZES, STORAGE, DAYS):
        price = rng.lognormal(3.0, 1.0, rows)
        price[rng.random(rows) < 0.05] *= -1.0          # filtered out
        qty = rng.uniform(0.0, 1.2e6, rows)              # > 1e6 filtered out
        x1 = rng.normal(10.0, 3.0, rows)
        x1[rng.random(rows) < 0.07] = np.nan
        level = rng.integers(0, 9, rows).astype(np.float64)
        level[rng.random(rows) < 0.05] = SENTINEL
        cat = rng.integers(0, 6, rows).astype(np.int32)
        day_effect = DAYS.index(day) * 0.3
        y = (2.0 * np.log(np.abs(price)) - 0.001 * np.minimum(qty / (1 + np.abs(price)), 5000)
             + 0.5 * np.nan_to_num(x1, nan=10.0) + 0.2 * cat + day_effect + rng.normal(0, 0.1, rows))
        e2e.write_partition(os.path.join(root, path),
                            {"price": price, "qty": qty, "x1": x1, "level": level, "cat": cat, "y": y},
                            storage=storage)


def job_file(directory, lake, registry, name, steps=STEPS, model=None, split=True, curate="curated",
             extra=""):
    model = model if model is not None else {"kind": "ridge", "features": FEATURES, "label": "y", "alpha": 1.0}
    text = e2e.job_text({"path": lake, "block_rows": BLOCK_ROWS}, model,
                        {"registry": registry, "name": name})
    text += steps
    if split:
        text += f"\n[split]\nfraction = {FRACTION}\nseed = {SEED}\n"
    if curate:
        text += f"\n[curate]\npath = \"{curate}\"\nchunk_rows = 1000\ndeflate = 4\n"
    text += extra
    return e2e.write_text(os.path.join(directory, f"{name}.toml"), text)


# ---------------------------------------------------------------- the independent reference


def read_lake(root):
    frames = []
    for path in sorted(PATHS):
        with h5py.File(os.path.join(root, path), "r") as f:
            frame = pd.DataFrame({k: f[k][()].astype(np.float64) for k in f.keys()})
        frame["_path"] = path
        frame["_row"] = np.arange(len(frame))
        frame["_day"] = path.split("/")[0].split("=")[1]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def is_validation(frame):
    hashes = {p: xxhash.xxh3_64_intdigest(p.encode()) for p in PATHS}
    flags = []
    for path, row in zip(frame["_path"], frame["_row"]):
        key = struct.pack("<QQ", hashes[path], int(row))
        h = xxhash.xxh3_64_intdigest(key, seed=SEED)
        flags.append((h >> 11) * 2.0 ** -53 < FRACTION)
    return np.array(flags, dtype=bool)


def stateless(frame):
    """The filter and the derived columns, as pandas users write them."""
    kept = frame[(frame.price > 0) & (frame.qty < 1e6)].copy()
    kept["log_price"] = np.log(kept.price)
    r = kept.qty / (1 + kept.price)
    kept["ratio"] = np.where(r > 5000, 5000.0, r)
    return kept


def fit_reference(frame):
    """Every fitted statistic, from the training rows that pass the filter (pandas)."""
    kept = stateless(frame)
    train = kept[~is_validation(kept)]
    fit = {"x1_mean": train.x1.mean()}
    levels = train.level[train.level != SENTINEL]
    fit["level_mode"] = float(levels.mode().sort_values().iloc[0])
    train = train.assign(x1=train.x1.fillna(fit["x1_mean"]),
                         level=train.level.replace(SENTINEL, fit["level_mode"]))
    for column in ["log_price", "ratio", "x1"]:
        fit[f"{column}_mean"] = train[column].mean()
        fit[f"{column}_std"] = train[column].std(ddof=0)
    fit["level_min"], fit["level_max"] = train.level.min(), train.level.max()
    fit["cat"] = sorted(train.cat.unique())
    fit["day"] = sorted(train._day.unique())
    return fit


def transform_reference(frame, p):
    """The pipeline applied with the parameters stored in the snapshot (dict from the file)."""
    kept = stateless(frame)
    out = pd.DataFrame(index=kept.index)
    x1 = kept.x1.fillna(p["x1_fill"])
    level = kept.level.replace(SENTINEL, p["level_fill"]).fillna(p["level_fill"])
    for column, values in [("log_price", kept.log_price), ("ratio", kept.ratio), ("x1", x1)]:
        out[column] = (values - p[f"{column}_center"]) / p[f"{column}_scale"]
    out["level"] = (level - p["level_center"]) / p["level_scale"]
    for c in p["cat"]:
        out[f"cat={int(c)}"] = (kept.cat == c).astype(np.float64)
    for code in p["day_codes"]:
        d = DAYS[int(code)]
        out[f"day={d}"] = (kept._day == d).astype(np.float64)
    out["y"] = kept.y
    return kept, out


def stored_pipeline(snapshot):
    with h5py.File(snapshot, "r") as f:
        g = f["pipeline"]

        def vec(step, name):
            return np.asarray(g[f"step{step:02d}.{name}"][()], dtype=np.float64)

        centers, scales = vec(6, "center"), vec(6, "scale")
        p = {"x1_fill": vec(4, "center")[0], "level_fill": vec(5, "center")[0],
             "level_center": vec(7, "center")[0], "level_scale": vec(7, "scale")[0],
             "cat": vec(8, "categories.0"), "day_codes": vec(9, "categories.0"),
             "columns": [c.decode() if isinstance(c, bytes) else c for c in g["columns"][()]]}
        for i, column in enumerate(["log_price", "ratio", "x1"]):
            p[f"{column}_center"] = centers[i]
            p[f"{column}_scale"] = scales[i]
        return p


def model_parameters(snapshot):
    with h5py.File(snapshot, "r") as f:
        m = f["model"]
        features = [c.decode() if isinstance(c, bytes) else c for c in m["feature_names"][()]]
        return features, np.asarray(m["coefficients"][()]), float(m.attrs["intercept"])


def metrics_of(snapshot):
    with h5py.File(snapshot, "r") as f:
        names = [c.decode() if isinstance(c, bytes) else c for c in f["metrics"]["names"][()]]
        return {n: float(f["metrics"].attrs[n]) for n in names}


def value_bits(value):
    value = np.asarray(value)
    if value.dtype.kind in "OSU":  # strings: their text, not the addresses h5py holds them at
        return repr([v.decode() if isinstance(v, bytes) else str(v) for v in value.ravel()])
    return value.tobytes()


def file_bits(snapshot, group):
    """Every dataset and attribute of a group, for bitwise comparison across runs."""
    bits = {}
    with h5py.File(snapshot, "r") as f:
        g = f[group]
        for k, v in g.attrs.items():
            bits["@" + k] = value_bits(v)
        for k in g.keys():
            bits[k] = value_bits(g[k][()])
    return bits


class LakeTestCase(e2e.TempDirTestCase):
    """A test class sharing one lake, written once from the class's seed."""
    seed = 42

    @classmethod
    def setUpClass(cls):
        cls.shared = e2e.TemporaryDirectory(f"pipeline-{cls.seed}")
        cls.lake = os.path.join(cls.shared.name, "lake")
        make_lake(cls.lake, np.random.default_rng(cls.seed))
        cls.frame = read_lake(cls.lake)

    @classmethod
    def tearDownClass(cls):
        cls.shared.cleanup()


class PipelineTest(LakeTestCase):
    seed = 42

    def run_pipeline_job(self, ranks, name="piped"):
        job = job_file(self.dir, self.lake, self.path("registry"), name)
        result, snap = e2e.run_job(self, job, ranks)
        return job, result, snap["path"]

    def test_fitted_statistics_match_pandas(self):
        _, result, snapshot = self.run_pipeline_job(2)
        p = stored_pipeline(snapshot)
        ref = fit_reference(self.frame)
        pairs = [("x1 mean imputer", p["x1_fill"], ref["x1_mean"]),
                 ("level most frequent", p["level_fill"], ref["level_mode"]),
                 ("level min", p["level_center"], ref["level_min"]),
                 ("level range", p["level_scale"], ref["level_max"] - ref["level_min"])]
        for column in ["log_price", "ratio", "x1"]:
            pairs.append((f"{column} mean", p[f"{column}_center"], ref[f"{column}_mean"]))
            pairs.append((f"{column} std", p[f"{column}_scale"], ref[f"{column}_std"]))
        for what, actual, expected in pairs:
            error = rel_error(actual, expected)
            measured(what, error, TOL)
            self.assertLessEqual(error, TOL, what)
        self.assertEqual(list(p["cat"]), [float(c) for c in ref["cat"]])
        self.assertEqual(list(p["day_codes"]), [0.0, 1.0, 2.0, 3.0])
        self.assertIn("cat=5", p["columns"])
        self.assertIn("day=2026-11-04", p["columns"])
        # Two fitting passes (imputers and one_hot, then the scalers that read imputed columns),
        # then the model's pass and the validation pass.
        self.assertEqual(result.field("passes"), 4, result.describe())

    def test_model_and_predict_match_numpy(self):
        job, _, snapshot = self.run_pipeline_job(2)
        p = stored_pipeline(snapshot)
        kept, X = transform_reference(self.frame, p)
        features, coefficients, intercept = model_parameters(snapshot)
        self.assertEqual(features[:4], ["log_price", "ratio", "x1", "level"])
        train = ~is_validation(kept)
        A, y = X[features].to_numpy()[train], X["y"].to_numpy()[train]
        # Ridge with an unpenalised intercept, from centred data (as scikit-learn's Ridge).
        mean_a, mean_y = A.mean(axis=0), y.mean()
        Ac = A - mean_a
        ref_coef = np.linalg.solve(Ac.T @ Ac + 1.0 * np.eye(A.shape[1]), Ac.T @ (y - mean_y))
        error = rel_error(coefficients, ref_coef)
        measured("ridge coefficients through the pipeline vs numpy", error, 1e-9)
        self.assertLessEqual(error, 1e-9)

        # Validation metrics of the split, against numpy on the validation rows.
        V, yv = X[features].to_numpy()[~train], X["y"].to_numpy()[~train]
        residual = yv - (V @ coefficients + intercept)
        metrics = metrics_of(snapshot)
        rmse = np.sqrt(np.mean(residual ** 2))
        r2 = 1 - np.sum(residual ** 2) / np.sum((yv - yv.mean()) ** 2)
        for what, actual, expected in [("validation rmse", metrics["validation_rmse"], rmse),
                                       ("validation r2", metrics["validation_r2"], r2)]:
            error = rel_error(actual, expected)
            measured(what, error, 1e-10)
            self.assertLessEqual(error, 1e-10, what)
        self.assertEqual(metrics["validation_rows"], float((~train).sum()))

        # predict on the raw lake: the stored pipeline then the model, for every kept row.
        out = self.path("scores")
        result = e2e.sluice(["predict", snapshot, "--lake", self.lake, "--out", out], ranks=2)
        self.assertEqual(result.returncode, 0, result.describe())
        expected = X[features].to_numpy() @ coefficients + intercept
        got, rows = [], []
        for path in sorted(PATHS):
            with h5py.File(os.path.join(out, path), "r") as f:
                got.append(f["prediction"][()])
                rows.append(f["_row"][()])
        error = rel_error(np.concatenate(got), expected)
        measured("predict on the raw lake vs numpy with the stored parameters", error, TOL)
        self.assertLessEqual(error, TOL)
        np.testing.assert_array_equal(np.concatenate(rows), kept["_row"].to_numpy())

    def test_curated_zone_matches_pandas_and_snapshot_reproduces_it(self):
        job, _, snapshot = self.run_pipeline_job(2)
        result = e2e.sluice(["transform", job], ranks=2)
        self.assertEqual(result.returncode, 0, result.describe())
        curated = self.path("curated")
        with open(os.path.join(curated, "_manifest.json")) as f:
            manifest = json.load(f)
        self.assertEqual([e["path"] for e in manifest["partitions"]], sorted(PATHS))
        p = stored_pipeline(snapshot)
        kept, X = transform_reference(self.frame, p)
        self.assertEqual(manifest["rows"], len(kept))
        self.assertEqual(sum(e["source_rows"] for e in manifest["partitions"]), sum(SIZES))
        # pandas reads the curated zone as it is.
        frames = []
        for path in sorted(PATHS):
            with h5py.File(os.path.join(curated, path), "r") as f:
                self.assertEqual(f["log_price"].compression, "gzip")
                frames.append(pd.DataFrame({k: f[k][()] for k in f.keys()}))
        zone = pd.concat(frames, ignore_index=True)
        self.assertEqual(sorted(manifest["columns"]), sorted(c for c in zone.columns if c != "_row"))
        self.assertEqual(manifest["columns"][:5], ["price", "qty", "log_price", "ratio", "x1"])
        for column in X.columns:
            error = rel_error(zone[column].to_numpy(), X[column].to_numpy())
            measured(f"curated column {column} vs pandas", error, TOL)
            self.assertLessEqual(error, TOL, column)

        # The same pipeline from the snapshot writes the same bytes of values.
        again = job_file(self.dir, self.lake, self.path("registry"), "again", curate="curated2")
        result = e2e.sluice(["transform", again, "--snapshot", snapshot], ranks=3)
        self.assertEqual(result.returncode, 0, result.describe())
        for path in PATHS:
            with h5py.File(os.path.join(curated, path), "r") as a, \
                    h5py.File(os.path.join(self.path("curated2"), path), "r") as b:
                self.assertEqual(sorted(a.keys()), sorted(b.keys()))
                for k in a.keys():
                    self.assertEqual(a[k][()].tobytes(), b[k][()].tobytes(), f"{path}:{k}")

        # A rerun reuses every partition; a changed source partition is written again.
        result = e2e.sluice(["transform", job], ranks=2)
        self.assertEqual(result.returncode, 0, result.describe())
        self.assertIn("(4 reused, 0 skipped)", result.stdout, result.describe())

    def test_same_bits_on_1_2_3_4_ranks_and_2_threads(self):
        bits = []
        for ranks, threads in [(1, None), (2, None), (3, None), (4, None), (2, 2)]:
            job = job_file(self.dir, self.lake, self.path("registry"), f"r{ranks}t{threads}")
            _, snap = e2e.run_job(self, job, ranks, threads=threads)
            snapshot = snap["path"]
            bits.append((file_bits(snapshot, "pipeline"), file_bits(snapshot, "model"),
                         metrics_of(snapshot)))
        for other in bits[1:]:
            self.assertEqual(bits[0][0], other[0], "pipeline bits")
            self.assertEqual(bits[0][1], other[1], "model bits")
            self.assertEqual(bits[0][2], other[2], "metrics")


class PipelineVariantsTest(LakeTestCase):
    """Casts, select, a scaler merged into the model's pass, a Hive-key split and a classifier's
    validation metrics."""
    seed = 9

    def test_cast_and_select_in_the_curated_zone(self):
        steps = ('[[transform]]\nderive = "q"\nexpr = "qty / 1000"\n'
                 '[[transform]]\ncast = "q"\nto = "int32"\n'
                 '[[transform]]\nderive = "p32"\nexpr = "price"\n'
                 '[[transform]]\ncast = "p32"\nto = "float32"\n'
                 '[[transform]]\nselect = ["q", "p32", "y"]\n')
        job = job_file(self.dir, self.lake, self.path("registry"), "cast", steps=steps,
                       model={"kind": "ridge", "features": ["q", "p32"], "label": "y"}, split=False)
        result = e2e.sluice(["transform", job], ranks=2)
        self.assertEqual(result.returncode, 0, result.describe())
        frames = []
        for path in sorted(PATHS):
            with h5py.File(self.path("curated", path), "r") as f:
                self.assertEqual(sorted(f.keys()), ["_row", "p32", "q", "y"])
                frames.append(pd.DataFrame({k: f[k][()] for k in f.keys()}))
        zone = pd.concat(frames, ignore_index=True)
        expected_q = np.trunc(self.frame.qty.to_numpy() / 1000)
        np.testing.assert_array_equal(zone.q.to_numpy(), expected_q)
        np.testing.assert_array_equal(zone.p32.to_numpy(),
                                      self.frame.price.to_numpy().astype(np.float32).astype(np.float64))

    def test_scaler_before_ridge_costs_no_pass_of_its_own(self):
        steps = ('[[transform]]\nfilter = "price > 0 && qty < 1e6"\n'
                 '[[transform]]\nderive = "log_price"\nexpr = "log(price)"\n'
                 '[[transform]]\nimpute = "x1"\n'
                 '[[transform]]\nscale = ["log_price", "x1"]\n')
        model = {"kind": "ridge", "features": ["log_price", "x1", "cat"], "label": "y", "alpha": 1.0}
        job = job_file(self.dir, self.lake, self.path("registry"), "merged", steps=steps, model=model,
                       split=False)
        result, snap = e2e.run_job(self, job, 2)
        # The imputer's pass, then one pass for the scaler and the model together.
        self.assertEqual(result.field("passes"), 2, result.describe())
        kept = stateless(self.frame)
        x1 = kept.x1.fillna(kept.x1.mean())
        with h5py.File(snap["path"], "r") as f:
            center = np.asarray(f["pipeline"]["step04.center"][()])
            scale = np.asarray(f["pipeline"]["step04.scale"][()])
        for what, actual, expected in [("merged scaler means", center, [kept.log_price.mean(), x1.mean()]),
                                       ("merged scaler stds", scale,
                                        [kept.log_price.std(ddof=0), x1.std(ddof=0)])]:
            error = rel_error(actual, expected)
            measured(what, error, TOL)
            self.assertLessEqual(error, TOL, what)
        A = np.column_stack([(kept.log_price - center[0]) / scale[0], (x1 - center[1]) / scale[1], kept.cat])
        y = kept.y.to_numpy()
        Ac = A - A.mean(axis=0)
        reference = np.linalg.solve(Ac.T @ Ac + np.eye(3), Ac.T @ (y - y.mean()))
        _, coefficients, _ = model_parameters(snap["path"])
        error = rel_error(coefficients, reference)
        measured("ridge coefficients with the merged scaler vs numpy", error, 1e-9)
        self.assertLessEqual(error, 1e-9)

    def test_hive_key_split_newest_day_is_validation(self):
        job = job_file(self.dir, self.lake, self.path("registry"), "days", split=False,
                       extra='\n[split]\nkey = "day"\nvalidation = "newest"\n')
        _, snap = e2e.run_job(self, job, 2)
        metrics = metrics_of(snap["path"])
        kept = stateless(self.frame)
        self.assertEqual(metrics["validation_rows"], float((kept._day == DAYS[-1]).sum()))
        self.assertEqual(metrics["num_rows"], float((kept._day != DAYS[-1]).sum()))

    def test_logistic_validation_metrics_match_scikit_learn(self):
        from sklearn.metrics import log_loss, roc_auc_score
        steps = ('[[transform]]\nfilter = "price > 0 && qty < 1e6"\n'
                 '[[transform]]\nderive = "log_price"\nexpr = "log(price)"\n'
                 '[[transform]]\nderive = "high"\nexpr = "y > 8 ? 1 : 0"\n'
                 '[[transform]]\nscale = "log_price"\n')
        model = {"kind": "logistic", "features": ["log_price", "cat"], "label": "high", "C": 1.0}
        job = job_file(self.dir, self.lake, self.path("registry"), "logit", steps=steps, model=model)
        _, snap = e2e.run_job(self, job, 2)
        with h5py.File(snap["path"], "r") as f:
            center = float(f["pipeline"]["step04.center"][0])
            scale = float(f["pipeline"]["step04.scale"][0])
            w = np.asarray(f["model"]["coefficients"][()])
            b = float(f["model"].attrs["intercept"])
        kept = self.frame[(self.frame.price > 0) & (self.frame.qty < 1e6)]
        validation = kept[is_validation(kept)]
        X = np.column_stack([(np.log(validation.price) - center) / scale, validation.cat])
        y = (validation.y > 8).astype(np.float64).to_numpy()
        p = 1 / (1 + np.exp(-(X @ w + b)))
        metrics = metrics_of(snap["path"])
        for what, actual, expected in [("validation auc", metrics["validation_auc"], roc_auc_score(y, p)),
                                       ("validation log loss", metrics["validation_log_loss"], log_loss(y, p))]:
            error = rel_error(actual, expected)
            measured(what, error, 1e-9)
            self.assertLessEqual(error, 1e-9, what)


class PipelineBadInputTest(LakeTestCase):
    seed = 5

    def refused(self, steps, *substrings, code, features=("price",), split=False):
        model = {"kind": "ridge", "features": list(features), "label": "y"}
        job = job_file(self.dir, self.lake, self.path("registry"), "bad", steps=steps, model=model,
                       split=split)
        for command in (["run", job], ["transform", job]):
            result = e2e.sluice(command, ranks=2)
            e2e.expect_error(self, result, *substrings, code=code)
            self.assertEqual(e2e.version_files(self.path("registry"), "bad"), [])
            final = [p for p in glob.glob(self.path("curated", "**", "*"), recursive=True)
                     if os.path.isfile(p)]
            self.assertEqual(final, [], "nothing under the curated zone's final names")

    def test_syntax_error_names_step_and_position(self):
        self.refused('[[transform]]\nderive = "z"\nexpr = "price * (qty"\n',
                     "transform[1] (derive)", "position", code=e2e.EXIT_CONFIGURATION)

    def test_unknown_function(self):
        self.refused('[[transform]]\nderive = "z"\nexpr = "frobnicate(price)"\n',
                     "transform[1] (derive)", "frobnicate", code=e2e.EXIT_CONFIGURATION)

    def test_shadowing_and_order(self):
        self.refused('[[transform]]\nderive = "price"\nexpr = "qty * 2"\n',
                     "transform[1] (derive)", "shadows", code=e2e.EXIT_CONFIGURATION,
                     features=("qty",))
        self.refused('[[transform]]\nderive = "a"\nexpr = "b + 1"\n[[transform]]\nderive = "b"\nexpr = "qty"\n',
                     "transform[1] (derive)", "'b'", "transform[2] (derive) derives later",
                     code=e2e.EXIT_CONFIGURATION)
        self.refused('[[transform]]\nderive = "a"\nexpr = "a + 1"\n',
                     "transform[1] (derive)", "in terms of itself", code=e2e.EXIT_CONFIGURATION)

    def test_unknown_key_and_two_actions(self):
        self.refused('[[transform]]\nscale = "price"\nbogus = 1\n', "'transform[1].bogus'",
                     code=e2e.EXIT_CONFIGURATION)
        self.refused('[[transform]]\nscale = "price"\nfilter = "price > 0"\n', "transform[1]",
                     "exactly one of", code=e2e.EXIT_CONFIGURATION)

    def test_unknown_column(self):
        self.refused('[[transform]]\nderive = "z"\nexpr = "nosuch * 2"\n', "nosuch",
                     code=e2e.EXIT_DATA, features=("z",))

    def test_filter_keeping_no_rows(self):
        self.refused('[[transform]]\nfilter = "price > 1e300"\n', "transform[1] (filter)",
                     "keeps none of the", code=e2e.EXIT_DATA)

    def test_constant_column_before_scaling(self):
        self.refused('[[transform]]\nderive = "one"\nexpr = "1"\n[[transform]]\nscale = "one"\n',
                     "transform[2] (scale)", "'one' is constant", code=e2e.EXIT_DATA,
                     features=("one",))

    def test_too_many_categories(self):
        self.refused('[[transform]]\none_hot = "cat"\nmax_categories = 3\n',
                     "transform[1] (one_hot)", "more than 3 distinct", code=e2e.EXIT_DATA,
                     features=("cat",))

    def test_nan_from_expression(self):
        job = job_file(self.dir, self.lake, self.path("registry"), "bad",
                       steps='[[transform]]\nderive = "bad"\nexpr = "log(price - 1000)"\n',
                       model={"kind": "ridge", "features": ["bad"], "label": "y"}, split=False)
        result = e2e.sluice(["run", job], ranks=2)
        line = e2e.expect_error(self, result, "NaN/Inf", "'bad' (made by transform[1] (derive))",
                                code=e2e.EXIT_DATA)
        self.assertIn("row", line)
        self.assertEqual(e2e.version_files(self.path("registry"), "bad"), [])


if __name__ == "__main__":
    e2e.main()
