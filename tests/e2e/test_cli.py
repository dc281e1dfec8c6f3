"""`sluice snapshots list/show` report what the registry holds; `sluice gen` is byte-reproducible, also under mpirun."""

import os
import re
import time

import sluice_e2e as e2e
from test_bad_input import GOOD_MODEL, write_good_lake


class SnapshotsCommandTest(e2e.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.registry = self.path("registry")
        write_good_lake(self.path("lake"))
        job = e2e.write_job(self.path("job.toml"), lake={"path": "lake"}, model=GOOD_MODEL,
                            publish={"registry": "registry", "name": "m"})
        ols = e2e.write_job(self.path("ols.toml"), lake={"path": "lake"},
                            model={**GOOD_MODEL, "kind": "ols", "alpha": 0.0},
                            publish={"registry": "registry", "name": "m"})
        _, self.v1 = e2e.run_job(self, job, 2)
        _, self.v2 = e2e.run_job(self, ols, 2)

    def test_list_marks_current_without_mpi_and_once_under_mpirun(self):
        result = e2e.sluice(["snapshots", "list", self.registry])
        self.assertEqual(result.returncode, 0, result.describe())
        rows = [line.split() for line in result.stdout.splitlines()[1:] if line.strip()]
        # Columns: model, version, current marker (only on the current one), created, ...
        self.assertEqual([(r[0], r[1]) for r in rows], [("m", "1"), ("m", "2")], result.describe())
        self.assertNotEqual(rows[0][2], "*", result.describe())
        self.assertEqual(rows[1][2], "*", result.describe())
        # Same answer when asking for the one model by name.
        named = e2e.sluice(["snapshots", "list", self.registry, "m"])
        self.assertEqual(named.returncode, 0, named.describe())
        self.assertEqual(named.stdout, result.stdout)
        # A reading command needs no MPI: it works where MPI cannot start (no such pml), ...
        no_mpi = e2e.sluice(["snapshots", "list", self.registry], env={"OMPI_MCA_pml": "no-such-pml"})
        self.assertEqual(no_mpi.returncode, 0, no_mpi.describe())
        self.assertEqual(no_mpi.stdout, result.stdout)
        # ... and under mpirun one rank prints the table, once; a failure is reported once too.
        launched = e2e.sluice(["snapshots", "list", self.registry], ranks=3)
        self.assertEqual(launched.returncode, 0, launched.describe())
        self.assertEqual(launched.stdout, result.stdout)
        failed = e2e.sluice(["snapshots", "show", self.registry, "nope"], ranks=3)
        e2e.expect_error(self, failed, "nope")

    def coefficients_shown(self, result):
        """{feature: value} and the intercept from `snapshots show` (printed with 17 digits)."""
        values = dict(re.findall(r"^\s+(x\d)\s+(\S+)$", result.stdout, re.MULTILINE))
        intercept = re.search(r"^\s+intercept\s+(\S+)$", result.stdout, re.MULTILINE)
        self.assertIsNotNone(intercept, result.describe())
        return {k: float(v) for k, v in values.items()}, float(intercept.group(1))

    def test_show_current_and_given_version(self):
        for args, snap in ((["m"], self.v2), (["m", "1"], self.v1), (["m", "2"], self.v2)):
            with self.subTest(args=args):
                result = e2e.sluice(["snapshots", "show", self.registry] + args)
                self.assertEqual(result.returncode, 0, result.describe())
                self.assertIn(f"version {snap['version']}", result.stdout)
                self.assertIn(snap["kind"], result.stdout)
                coefficients, intercept = self.coefficients_shown(result)
                # 17 significant digits round-trip a double exactly.
                self.assertEqual(coefficients, dict(zip(snap["feature_names"], snap["coefficients"].tolist())),
                                 result.describe())
                self.assertEqual(intercept, snap["intercept"])
        by_file = e2e.sluice(["snapshots", "show", os.path.join(self.registry, "m", "v000001.h5")])
        self.assertEqual(by_file.returncode, 0, by_file.describe())
        self.assertEqual(self.coefficients_shown(by_file)[1], self.v1["intercept"])

    def test_show_unknown_model_fails_cleanly(self):
        result = e2e.sluice(["snapshots", "show", self.registry, "nope"])
        e2e.expect_error(self, result, "nope")


class GenTest(e2e.TempDirTestCase):
    ARGS = ["--partitions", 5, "--rows", 2000, "--features", 3, "--seed", 42, "--skew", 0.5,
            "--days", 2, "--chunk-rows", 512, "--deflate", 1, "--shuffle"]

    def gen(self, out, ranks=None):
        result = e2e.sluice(["gen", "--out", self.path(out, "lake"), "--truth", self.path(out, "truth.json"),
                             "--job", self.path(out, "job.toml")] + self.ARGS, ranks=ranks)
        self.assertEqual(result.returncode, 0, result.describe())
        return e2e.tree_hashes(self.path(out))

    def test_same_seed_same_bytes(self):
        first = self.gen("a")
        self.assertEqual(len([p for p in first if p.endswith(".h5")]), 5, first)
        # HDF5 stamps objects with the time unless told not to: let the clock tick between gens.
        time.sleep(1.1)
        self.assertEqual(self.gen("b"), first, "a second gen with the same seed wrote other bytes")
        # Ranks share the partitions between them; the files must not depend on that.
        self.assertEqual(self.gen("c", ranks=2), first, "gen under mpirun -n 2 wrote other bytes")
        # An mpirun that ran nothing writes no files, so the comparison above already fails then;
        # a different seed must change the bytes (the comparison can tell lakes apart).
        other_args = [43 if a == 42 else a for a in self.ARGS]
        other = e2e.sluice(["gen", "--out", self.path("d", "lake")] + other_args)
        self.assertEqual(other.returncode, 0, other.describe())
        lake_only = {k[len("lake/"):]: v for k, v in first.items() if k.startswith("lake/")}
        self.assertNotEqual(e2e.tree_hashes(self.path("d", "lake")), lake_only)
    def test_unwritable_output_is_one_clear_error(self):
        # A regular file where a directory must go: refused even for root.
        blocker = self.path("file")
        e2e.write_text(blocker, "not a directory")
        result = e2e.sluice(["gen", "--out", os.path.join(blocker, "lake"), "--partitions", "4",
                             "--rows", "10"], ranks=2)
        e2e.expect_error(self, result, "file/lake")


if __name__ == "__main__":
    e2e.main()
