"""Training profile and `sluice drift`: the snapshot's /profile holds each column's moments and
bins (same bits on any rank count and from the partial cache); drift of new partitions is checked
against numpy on the same rows: means, bin shares, PSI, mean shift, verdicts and exit codes."""

import glob
import json
import os

import h5py
import numpy as np

import sluice_e2e as e2e

EXIT_DRIFT = 8
COLUMNS = ["x00", "x01", "x02", "y"]


def profile_of(path):
    with h5py.File(path, "r") as f:
        p = f["profile"]
        names = [n.decode() if isinstance(n, bytes) else n for n in p["columns"][()]]
        offsets = p["edge_offsets"][()].astype(int)
        out = {"names": names, "bytes": {k: p[k][()].tobytes() for k in p if k != "columns"}}
        for c, name in enumerate(names):
            edges = p["edges"][()][offsets[c]:offsets[c + 1]]
            shares = p["proportions"][()][offsets[c] + c:offsets[c + 1] + c + 1]
            out[name] = {"count": p["count"][c], "mean": p["mean"][c], "std": p["std"][c],
                         "edges": edges, "proportions": shares}
        return out


def lake_columns(root, names):
    files = sorted(glob.glob(os.path.join(root, "**", "*.h5"), recursive=True))
    data = {n: [] for n in names}
    for path in files:
        with h5py.File(path, "r") as f:
            for n in names:
                data[n].append(f[n][()])
    return {n: np.concatenate(v) for n, v in data.items()}


class DriftTest(e2e.TempDirTestCase):
    def setUp(self):
        super().setUp()
        e2e.gen_lake(self, self.path("lake"), 5, 4000, features=3, seed=13)
        self.job = e2e.write_job(self.path("job.toml"), lake={"path": "lake"},
                                 model={"kind": "ridge", "features": COLUMNS[:3], "label": "y"},
                                 publish={"registry": "registry", "name": "m"})

    def test_profile_matches_numpy_and_is_the_same_on_every_rank_count(self):
        _, one = e2e.run_job(self, self.job, 1)
        _, three = e2e.run_job(self, self.job, 3)
        _, cached = e2e.run_job(self, self.job, 2, cache=True)
        _, from_cache = e2e.run_job(self, self.job, 2, cache=True)
        reference = profile_of(one["path"])
        for snap in (three, cached, from_cache):
            self.assertEqual(profile_of(snap["path"])["bytes"], reference["bytes"], snap["path"])
        self.assertEqual(reference["names"], COLUMNS)
        data = lake_columns(self.path("lake"), COLUMNS)
        for name in COLUMNS:
            values, column = data[name], reference[name]
            self.assertEqual(column["count"], len(values))
            e2e.assert_rel_close(self, column["mean"], values.mean(), 1e-12, f"{name} mean")
            e2e.assert_rel_close(self, column["std"], values.std(), 1e-12, f"{name} std")
            edges, shares = column["edges"], column["proportions"]
            self.assertEqual(len(edges), 9, name)
            self.assertTrue(np.all(np.diff(edges) > 0), name)
            self.assertAlmostEqual(shares.sum(), 1.0, places=12)
            # Bins at the sample's deciles: on all training rows each holds about a tenth.
            full = np.bincount(np.searchsorted(edges, values, side="right"), minlength=10) / len(values)
            np.testing.assert_allclose(full, 0.1, atol=0.03, err_msg=name)
            np.testing.assert_allclose(shares, 0.1, atol=0.005, err_msg=name)

    def test_drift_against_numpy(self):
        _, snap = e2e.run_job(self, self.job, 2)
        profile = profile_of(snap["path"])
        rng = np.random.default_rng(77)
        new = {"x00": rng.normal(0, 1, 3000) + 4.0, "x01": rng.normal(0.5, 1, 3000),
               "x02": rng.normal(1.0, 1, 3000)}
        trained = lake_columns(self.path("lake"), COLUMNS)
        new["x01"] = rng.choice(trained["x01"], 3000)  # the training distribution: no drift
        new["x02"] = rng.choice(trained["x02"], 3000)
        new["x02"][:5] = np.nan  # non-finite values are counted, not binned
        e2e.write_partition(self.path("lake", "day=2026-12-24", "part-new.h5"), new)
        report_path = self.path("drift.json")
        result = e2e.sluice(["drift", self.path("registry"), "m", "--lake", self.path("lake"),
                             "--json", report_path])
        self.assertEqual(result.returncode, EXIT_DRIFT, result.describe())
        self.assertIn("DRIFT in 1 of 3 columns", result.stdout)
        with open(report_path) as f:
            report = json.load(f)
        self.assertEqual(report["partitions"], ["day=2026-12-24/part-new.h5"])
        self.assertEqual(report["rows"], 3000)
        self.assertTrue(report["drift"])
        self.assertEqual([c["name"] for c in report["columns"]], ["x00", "x01", "x02"])  # no label
        for column in report["columns"]:
            name, trained_profile = column["name"], profile[column["name"]]
            values = new[name][np.isfinite(new[name])]
            self.assertEqual(column["count"], len(values))
            self.assertEqual(column["nonfinite"], 5 if name == "x02" else 0)
            e2e.assert_rel_close(self, column["mean"], values.mean(), 1e-12, f"{name} mean")
            e2e.assert_rel_close(self, column["std"], values.std(), 1e-12, f"{name} std")
            shares = np.bincount(np.searchsorted(trained_profile["edges"], values, side="right"),
                                 minlength=len(trained_profile["proportions"])) / len(values)
            self.assertEqual(column["proportions"], shares.tolist(), name)
            e_, a_ = np.maximum(trained_profile["proportions"], 1e-4), np.maximum(shares, 1e-4)
            e2e.assert_rel_close(self, column["psi"], float(np.sum((a_ - e_) * np.log(a_ / e_))), 1e-12,
                                 f"{name} psi")
            shift = (values.mean() - trained_profile["mean"]) / trained_profile["std"]
            e2e.assert_rel_close(self, column["mean_shift_sd"], shift, 1e-9, f"{name} shift")
            self.assertEqual(column["drift"], name == "x00", column)

        # Looser thresholds: nothing drifts, exit 0; the trained partitions alone are not "new".
        loose = e2e.sluice(["drift", self.path("registry"), "m@1", "--lake", self.path("lake"),
                            "--psi-threshold", "100", "--shift-threshold", "100"])
        self.assertEqual(loose.returncode, 0, loose.describe())
        self.assertIn("no drift", loose.stdout)
        os.remove(self.path("lake", "day=2026-12-24", "part-new.h5"))
        none = e2e.sluice(["drift", self.path("registry"), "m", "--lake", self.path("lake")])
        self.assertEqual(none.returncode, 0, none.describe())
        self.assertIn("no new partitions", none.stdout)
        everything = e2e.sluice(["drift", self.path("registry"), "m", "--lake", self.path("lake"), "--all"])
        self.assertEqual(everything.returncode, 0, everything.describe())
        self.assertIn("5 partitions (20000 rows)", everything.stdout)

    def test_bad_input(self):
        _, snap = e2e.run_job(self, self.job, 1)
        # A job that keeps no profile: its snapshot has none, and drift says why.
        plain = e2e.write_job(self.path("plain.toml"), lake={"path": "lake"},
                              model={"kind": "ridge", "features": COLUMNS[:3], "label": "y"},
                              publish={"registry": "registry", "name": "plain"}, run={"profile": False})
        _, unprofiled = e2e.run_job(self, plain, 1)
        with h5py.File(unprofiled["path"], "r") as f:
            self.assertNotIn("profile", f)
        e2e.expect_error(self, e2e.sluice(["drift", self.path("registry"), "plain", "--lake", self.path("lake")]),
                         "keeps no training profile", "[run] profile = false", code=e2e.EXIT_CONFIGURATION)
        e2e.write_partition(self.path("lake", "day=2026-12-24", "part-new.h5"),
                            {"x00": np.zeros(10), "x01": np.zeros(10)})
        registry = self.path("registry")
        cases = [
            (["drift", registry, "nope", "--lake", self.path("lake")], "nope", e2e.EXIT_CONFIGURATION),
            (["drift", registry, "m", "--lake", self.path("lake"), "--columns", "x00,zzz"],
             "column 'zzz' has no training profile", e2e.EXIT_CONFIGURATION),
            (["drift", registry, "m", "--lake", self.path("lake"), "--columns", "x00,x02"],
             "part-new.h5", e2e.EXIT_DATA),
            (["drift", registry, "m", "--lake", self.path("missing-lake")], "missing-lake", None),
        ]
        for args, message, code in cases:
            e2e.expect_error(self, e2e.sluice(args), message, code=code)
        # A snapshot with a flipped byte is refused before anything is read.
        with open(snap["path"], "r+b") as f:
            f.seek(4000)
            byte = f.read(1)
            f.seek(4000)
            f.write(bytes([byte[0] ^ 1]))
        e2e.expect_error(self, e2e.sluice(["drift", snap["path"], "--lake", self.path("lake")]),
                         os.path.basename(snap["path"]))


if __name__ == "__main__":
    e2e.main()
