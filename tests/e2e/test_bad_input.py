"""Bad lakes and bad job files end with one 'sluice: error:' line naming the culprit, and the registry untouched."""

import os
import re
import unittest

import h5py
import numpy as np

import sluice_e2e as e2e

ROWS = 300
DAYS = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"]
# The partition the cases break is the last one: at 2 and 4 ranks a rank other than 0 meets it,
# so the error has to travel to rank 0 to be reported.
LAST = f"day={DAYS[-1]}/part-0.h5"
THIRD = f"day={DAYS[2]}/part-0.h5"
GOOD_MODEL = {"kind": "ridge", "features": ["x1", "x2", "x3"], "label": "y", "alpha": 1.0}


def good_columns(rng, rows=ROWS):
    X = rng.normal(size=(rows, 3))
    return {"x1": X[:, 0], "x2": X[:, 1], "x3": X[:, 2],
            "y": X @ np.array([1.0, -2.0, 0.5]) + 1.0 + rng.normal(0, 0.1, rows)}


def write_good_lake(root, seed=3):
    rng = np.random.default_rng(seed)
    lake = {}
    for day in DAYS:
        relative = f"day={day}/part-0.h5"
        lake[relative] = good_columns(rng)
        e2e.write_partition(os.path.join(root, relative), lake[relative])
    return lake


def corrupt_fletcher32_chunk(path, column):
    """Flips one byte inside the first data chunk of a fletcher32 dataset: the filter must notice."""
    with h5py.File(path, "r") as f:
        offset = f[column].id.get_chunk_info(0).byte_offset
    with open(path, "r+b") as f:
        f.seek(offset + 8)
        byte = f.read(1)
        f.seek(offset + 8)
        f.write(bytes([byte[0] ^ 0xFF]))


class BadInputTest(e2e.TempDirTestCase):
    @classmethod
    def setUpClass(cls):
        # One registry for all cases (publishing v1 once keeps the suite quick): v1, published by
        # a good run at this rank count, is what every failed run must leave alone.
        cls.shared = e2e.TemporaryDirectory("bad-input-registry")
        check = unittest.TestCase()
        write_good_lake(os.path.join(cls.shared.name, "good-lake"))
        job = e2e.write_job(os.path.join(cls.shared.name, "good.toml"), lake={"path": "good-lake"},
                            model=GOOD_MODEL, publish={"registry": "registry", "name": "m"})
        e2e.run_job(check, job, e2e.Config.ranks)
        cls.registry = os.path.join(cls.shared.name, "registry")
        check.assertEqual(e2e.current(cls.registry, "m"), "v000001.h5\n")
        cls.baseline_entries = e2e.model_dir_entries(cls.registry, "m")
        cls.v1_hash = e2e.sha256(os.path.join(cls.registry, "m", "v000001.h5"))

    @classmethod
    def tearDownClass(cls):
        cls.shared.cleanup()

    def setUp(self):
        super().setUp()
        self.ranks = e2e.Config.ranks
        # Expected failures at 1 rank run as a singleton: `mpirun -n 1` alone spends 2 s reporting
        # any non-zero exit, which would make this entry the slowest of the suite.
        self.launch = None if self.ranks == 1 else self.ranks

    # ------------------------------------------------------------ helpers

    def lake_with(self, name, change):
        """A copy of the good lake under lake-NAME, then change(root, rng) breaks it."""
        root = self.path(f"lake-{name}")
        write_good_lake(root)
        if change is not None:
            change(root, np.random.default_rng(99))
        return root

    def job_for(self, name, lake=None, model=None, text=None):
        path = self.path(f"{name}.toml")
        if text is not None:
            return e2e.write_text(path, text)
        return e2e.write_job(path, lake={"path": f"lake-{name}", **(lake or {})},
                             model=GOOD_MODEL if model is None else model,
                             publish={"registry": self.registry, "name": "m"})

    def expect_failure(self, job, *substrings):
        result = e2e.sluice(["run", job], ranks=self.launch, timeout=60)
        try:
            line = e2e.expect_error(self, result, *substrings)
            # Nothing published: pointer, versions and files exactly as before, v1 unchanged.
            self.assertEqual(e2e.current(self.registry, "m"), "v000001.h5\n", result.describe())
            self.assertEqual(e2e.model_dir_entries(self.registry, "m"), self.baseline_entries,
                             "registry changed by a failed run\n" + result.describe())
            self.assertEqual(e2e.sha256(os.path.join(self.registry, "m", "v000001.h5")), self.v1_hash)
        finally:
            self.restore_registry()
        if e2e.Config.verbose:
            print(f"\n    {line}", end="")
        return line

    def restore_registry(self):
        """Undoes a run that wrongly published, so one failure does not cascade into the next cases."""
        directory = os.path.join(self.registry, "m")
        for entry in e2e.model_dir_entries(self.registry, "m"):
            if entry not in self.baseline_entries:
                os.remove(os.path.join(directory, entry))
        e2e.write_text(os.path.join(directory, "CURRENT"), "v000001.h5\n")

    def break_last(self, name, change_columns, storage="contiguous", relative=LAST, **job):
        """A lake whose partition `relative` is rewritten with change_columns(columns)."""
        def change(root, rng):
            columns = good_columns(rng)
            change_columns(columns)
            e2e.write_partition(os.path.join(root, relative), columns, storage)
        self.lake_with(name, change)
        return self.job_for(name, **job)

    # ------------------------------------------------------------ the lake

    def test_lake_errors(self):
        cases = []

        # Lake directory that does not exist.
        job = e2e.write_job(self.path("nolake.toml"), lake={"path": "no-such-lake"}, model=GOOD_MODEL,
                            publish={"registry": self.registry, "name": "m"})
        cases.append(("missing lake dir", job, ["no-such-lake"]))

        # A lake directory with nothing that looks like a partition.
        empty = self.path("lake-empty")
        e2e.write_text(os.path.join(empty, "day=2026-11-01", "README.txt"), "not a partition\n")
        cases.append(("no partitions", self.job_for("empty"), ["lake-empty"]))

        # A glob that matches none of the files.
        self.lake_with("glob", None)
        cases.append(("glob matches nothing", self.job_for("glob", lake={"glob": "**/*.hdf5"}),
                      ["*.hdf5"]))

        # A selection that matches no partition.
        self.lake_with("select", None)
        job = e2e.write_job(self.path("select.toml"), lake={"path": "lake-select"}, model=GOOD_MODEL,
                            publish={"registry": self.registry, "name": "m"},
                            select={"day": ["1999-01-01"]})
        cases.append(("selection matches nothing", job, ["1999-01-01"]))

        # The job's group is absent from the partitions.
        self.lake_with("group", None)
        cases.append(("missing group", self.job_for("group", lake={"group": "/nope"}),
                      ["part-0.h5", "/nope"]))

        cases.append(("missing column", self.break_last("missing", lambda c: c.pop("x2")),
                      [LAST, "x2"]))
        cases.append(("2-D dataset", self.break_last(
            "twod", lambda c: c.update(x2=np.column_stack([c["x2"], c["x2"]]))), [LAST, "x2"]))
        cases.append(("unequal lengths", self.break_last("unequal", lambda c: c.update(y=c["y"][:-1])),
                      [LAST, "y"]))
        cases.append(("string column", self.break_last(
            "string", lambda c: c.update(x3=np.array([b"%8.3f" % v for v in c["x3"]]))), [LAST, "x3"]))
        cases.append(("int16 column", self.break_last(
            "int16", lambda c: c.update(x3=(c["x3"] * 100).astype(np.int16))), [LAST, "x3"]))
        cases.append(("float16 column", self.break_last(
            "float16", lambda c: c.update(x3=c["x3"].astype(np.float16))), [LAST, "x3"]))
        cases.append(("complex column", self.break_last(
            "complex", lambda c: c.update(x3=c["x3"] + 1j)), [LAST, "x3"]))

        # A valid file cut to half its size, as a crashed copy leaves it.
        def truncate(root, rng):
            path = os.path.join(root, LAST)
            os.truncate(path, os.path.getsize(path) // 2)
        self.lake_with("truncated", truncate)
        cases.append(("truncated HDF5 file", self.job_for("truncated"), [LAST]))

        # A file with an .h5 name that is not HDF5 at all.
        def not_hdf5(root, rng):
            e2e.write_text(os.path.join(root, f"day={DAYS[-1]}", "part-x.h5"), "id,x1\n1,2.0\n" * 50)
        self.lake_with("nothdf5", not_hdf5)
        cases.append(("non-HDF5 file", self.job_for("nothdf5"), ["part-x.h5"]))

        # Data corrupted on disk under a fletcher32 filter: found only when the chunk is read.
        def corrupt(root, rng):
            path = os.path.join(root, LAST)
            e2e.write_partition(path, good_columns(rng), "fletcher32")
            corrupt_fletcher32_chunk(path, "x1")
        self.lake_with("fletcher", corrupt)
        cases.append(("fletcher32 checksum mismatch", self.job_for("fletcher"), [LAST, "x1"]))

        # A partition whose file name is not UTF-8: refused at discovery, the bytes shown as '?'.
        def latin1_name(root, rng):
            path = os.path.join(root.encode(), f"day={DAYS[-1]}".encode(), b"caf\xe9.h5")
            os.rename(os.path.join(root, LAST), path)
        self.lake_with("latin1", latin1_name)
        cases.append(("non-UTF-8 file name", self.job_for("latin1"), ["caf?.h5", "not printable UTF-8"]))

        for label, job, substrings in cases:
            with self.subTest(label):
                self.expect_failure(job, *substrings)

    def test_nonfinite_values(self):
        def with_nan(c):
            c["x2"][10:80:10] = np.nan  # 7 values from row 10
        line = self.expect_failure(self.break_last("nan", with_nan, relative=THIRD), THIRD, "x2")
        # The count: read from the line without the path (its digits are not the count).
        self.assertRegex(line.replace(THIRD, ""), r"\b7\b", "NaN count missing")

        def with_inf(c):
            c["y"][[50, 60, 70]] = np.inf
            c["y"][[80, 90]] = -np.inf
        line = self.expect_failure(self.break_last("inf", with_inf, relative=THIRD), THIRD, "y")
        self.assertRegex(line.replace(THIRD, ""), r"\b5\b", "Inf count missing")

    def test_singular_ols(self):
        # x1dup is x1: the normal equations have no unique solution without a penalty.
        def duplicate(root, rng):
            for relative in os.listdir(root):
                path = os.path.join(root, relative, "part-0.h5")
                with h5py.File(path, "a") as f:
                    f.create_dataset("x1dup", data=f["x1"][()])
        self.lake_with("singular", duplicate)
        job = self.job_for("singular", model={"kind": "ols", "features": ["x1", "x2", "x1dup"], "label": "y"})
        self.expect_failure(job, "singular")

    # ------------------------------------------------------------ the job file

    def test_job_file_errors(self):
        self.lake_with("job", None)
        good = e2e.job_text({"path": "lake-job"}, GOOD_MODEL, {"registry": self.registry, "name": "m"})
        cases = [
            ("unknown key", good.replace('path = "lake-job"', 'path = "lake-job"\nglobb = "*.h5"'),
             ["lake.globb"]),
            ("wrong type", good.replace('path = "lake-job"', 'path = "lake-job"\nblock_rows = "big"'),
             ["lake.block_rows"]),
            ("missing [model]", e2e.job_text({"path": "lake-job"}, None,
                                             {"registry": self.registry, "name": "m"}), ["model"]),
            ("label is a feature", good.replace('label = "y"', 'label = "x2"'), ["model.label", "x2"]),
            ("TOML syntax error", good.replace('name = "m"', 'name = "m'), ["syntax.toml"]),
            ("unknown kind", good.replace('kind = "ridge"', 'kind = "lasso"'), ["model.kind", "lasso"]),
        ]
        for label, text, substrings in cases:
            with self.subTest(label):
                name = "syntax" if label == "TOML syntax error" else re.sub(r"\W+", "_", label)
                job = self.job_for(name, text=text)
                self.expect_failure(job, *substrings)
        with self.subTest("missing job file"):
            self.expect_failure(self.path("no-such-job.toml"), "no-such-job.toml")


if __name__ == "__main__":
    e2e.main()
