"""The registry's governance through the CLI: references NAME@VERSION|@ALIAS, aliases, rollback,
gc, history, verify (checksums) and diff, each checked against the files themselves (h5py)."""

import json
import os
import re
import shutil

import numpy as np

import sluice_e2e as e2e
from test_bad_input import GOOD_MODEL, good_columns, write_good_lake

EXTRA_PARTITION = "day=extra/part-0.h5"


class RegistryGovernanceTest(e2e.TempDirTestCase):
    @classmethod
    def setUpClass(cls):
        # Two known versions of model "m": v1 (alpha 1) and v2 (alpha 3, one more partition).
        cls.template = e2e.TemporaryDirectory("registry-template")
        root = cls.template.name
        write_good_lake(os.path.join(root, "lake"))
        for alias, alpha in (("one", 1.0), ("three", 3.0)):
            e2e.write_job(os.path.join(root, f"{alias}.toml"), lake={"path": "lake"},
                          model={**GOOD_MODEL, "alpha": alpha}, publish={"registry": "registry", "name": "m"})
        cls.first = cls.publish(os.path.join(root, "one.toml"))
        e2e.write_partition(os.path.join(root, "lake", EXTRA_PARTITION),
                            good_columns(np.random.default_rng(9)))
        cls.second = cls.publish(os.path.join(root, "three.toml"))

    @classmethod
    def tearDownClass(cls):
        cls.template.cleanup()

    @classmethod
    def publish(cls, job):
        result = e2e.sluice(["run", job])
        assert result.returncode == 0, result.describe()
        path = re.search(r"^published (\S+\.h5)", result.stdout, re.MULTILINE).group(1)
        return e2e.read_snapshot(path)  # h5py reads a snapshot with its checksum block

    def setUp(self):
        super().setUp()
        self.registry = self.path("registry")
        shutil.copytree(os.path.join(self.template.name, "registry"), self.registry)

    def cli(self, *args, code=0):
        result = e2e.sluice(["snapshots"] + [str(a) for a in args])
        self.assertEqual(result.returncode, code, result.describe())
        return result

    def pointer(self, *parts):
        with open(os.path.join(self.registry, "m", *parts)) as f:
            return f.read()

    def history(self):
        with open(os.path.join(self.registry, "m", "history.jsonl")) as f:
            return [json.loads(line) for line in f]

    def test_aliases_resolve_everywhere_and_are_recorded(self):
        out = self.cli("alias", "set", self.registry, "m", "production", 1, "--reason", "first release").stdout
        self.assertIn("m@production: (none) -> 1", out)
        self.assertEqual(self.pointer("aliases", "production"), "v000001.h5\n")
        shown = self.cli("show", self.registry, "m@production").stdout
        self.assertIn("model      m version 1", shown)
        self.assertIn("pointers   production", shown)
        self.assertIn("model      m version 2", self.cli("show", self.registry, "m@2").stdout)
        self.assertIn("pointers   CURRENT", self.cli("show", self.registry, "m").stdout)
        listed = self.cli("list", self.registry).stdout.splitlines()
        self.assertRegex(listed[1], r"^m\s+1\s+production\s+ridge")
        self.assertRegex(listed[2], r"^m\s+2\s+\*\s+ridge")
        only = self.cli("list", self.registry, "m@production").stdout.splitlines()
        self.assertEqual(len(only), 2)
        aliases = self.cli("alias", "list", self.registry, "m").stdout
        self.assertRegex(aliases, r"CURRENT\s+2\n")
        self.assertRegex(aliases, r"production\s+1\n")
        self.cli("alias", "rm", self.registry, "m", "production", "--reason", "retired")
        self.assertFalse(os.path.exists(os.path.join(self.registry, "m", "aliases", "production")))
        moves = [(h["action"], h["pointer"], h["from"], h["to"], h["reason"]) for h in self.history()]
        self.assertEqual(moves, [("publish", "CURRENT", None, 1, ""), ("publish", "CURRENT", 1, 2, ""),
                                 ("alias_set", "production", None, 1, "first release"),
                                 ("alias_remove", "production", 1, None, "retired")])
        self.assertTrue(all(h["user"] and h["host"] and h["time"].endswith("Z") for h in self.history()))
        text = self.cli("history", self.registry, "m").stdout
        self.assertRegex(text, r"alias_set\s+production\s+\(none\) -> 1 .*first release")

    def test_rollback_moves_current_and_aliases_back(self):
        self.assertEqual(self.cli("rollback", self.registry, "m", "--reason", "bad metrics").stdout,
                         "m CURRENT: 2 -> 1\n")
        self.assertEqual(self.pointer("CURRENT"), "v000001.h5\n")
        self.assertIn("version 1", self.cli("show", self.registry, "m").stdout)
        e2e.expect_error(self, self.cli("rollback", self.registry, "m", code=3), "named no version before")
        self.cli("alias", "set", self.registry, "m", "prod", 1)
        self.cli("alias", "set", self.registry, "m", "prod", 2)
        self.cli("rollback", self.registry, "m", "--alias", "prod")
        self.assertEqual(self.pointer("aliases", "prod"), "v000001.h5\n")
        last = self.history()[-1]
        self.assertEqual((last["action"], last["pointer"], last["from"], last["to"]), ("rollback", "prod", 2, 1))

    def test_gc_keeps_pinned_versions(self):
        self.cli("rollback", self.registry, "m")  # CURRENT -> 1, so v1 is pinned, v2 is the newest
        self.assertEqual(self.cli("gc", self.registry, "m", "--keep", 1).stdout, "m: removed 0 version(s)\n")
        self.cli("alias", "set", self.registry, "m", "old", 1)
        e2e.expect_error(self, self.cli("gc", self.registry, "m", "--keep", 0, code=3), "--keep must be at least 1")
        self.assertEqual(sorted(e2e.version_files(self.registry, "m")), ["v000001.h5", "v000002.h5"])

    def test_verify_finds_a_flipped_byte_and_nothing_uses_that_version(self):
        self.assertIn("2 version(s), all verified", self.cli("verify", self.registry).stdout)
        victim = os.path.join(self.registry, "m", "v000001.h5")
        with open(victim, "r+b") as f:
            f.seek(os.path.getsize(victim) // 2)
            byte = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([byte[0] ^ 0x10]))
        result = self.cli("verify", self.registry, "m", code=4)
        self.assertIn(f"BAD {victim}: ", result.stdout)
        self.assertNotIn("v000002.h5", result.stdout)
        e2e.expect_error(self, result, "1 bad file(s)")
        e2e.expect_error(self, self.cli("show", self.registry, "m@1", code=4), "v000001.h5", "damaged or was modified")
        e2e.expect_error(self, self.cli("alias", "set", self.registry, "m", "prod", 1, code=4), "v000001.h5")
        e2e.expect_error(self, self.cli("rollback", self.registry, "m", code=4), "v000001.h5")
        self.assertEqual(self.pointer("CURRENT"), "v000002.h5\n")
        self.assertFalse(os.path.exists(os.path.join(self.registry, "m", "aliases", "prod")))
        listed = self.cli("list", self.registry, code=4)
        self.assertIn("UNREADABLE", listed.stdout)
        self.assertRegex(listed.stdout, r"m\s+2\s+\*\s+ridge")

    def test_diff_of_the_two_versions_matches_the_files(self):
        result = self.cli("diff", self.registry, "m@1", "m", "--json")
        diff = json.loads(result.stdout)
        params = {c["key"]: c for c in diff["parameters"]}
        self.assertEqual(params["coefficients"]["before"], self.first["coefficients"].tolist())
        self.assertEqual(params["coefficients"]["after"], self.second["coefficients"].tolist())
        self.assertAlmostEqual(params["coefficients"]["max_abs_difference"],
                               float(np.max(np.abs(self.second["coefficients"] - self.first["coefficients"]))))
        self.assertEqual((params["alpha"]["before"], params["alpha"]["after"]), (1.0, 3.0))
        self.assertEqual(diff["hyper_parameters"], [{"key": "model.alpha", "before": 1.0, "after": 3.0}])
        metrics = {c["key"]: c for c in diff["metrics"]}
        self.assertEqual(metrics["rmse"]["before"], self.first["metrics"]["rmse"])
        self.assertEqual(metrics["rmse"]["after"], self.second["metrics"]["rmse"])
        self.assertEqual((metrics["num_partitions"]["before"], metrics["num_partitions"]["after"]),
                         (len(self.first["partitions"]), len(self.first["partitions"]) + 1))
        self.assertEqual([p["path"] for p in diff["partitions"]["added"]], [EXTRA_PARTITION])
        self.assertEqual(diff["partitions"]["removed"], [])
        self.assertEqual(diff["partitions"]["changed"], [])
        self.assertEqual(diff["partitions"]["unchanged"], len(self.first["partitions"]))
        self.assertEqual(diff["pipeline"], [])
        text = self.cli("diff", self.registry, "m@1", "m@2").stdout
        self.assertRegex(text, r"model\.alpha\s+1(\.0)? -> 3(\.0)?")
        self.assertRegex(text, r"coefficients\s+max \|diff\| ")
        self.assertIn(f"  + {EXTRA_PARTITION}", text)
        self.assertIn(f"partitions (1 changed, {len(self.first['partitions'])} unchanged)", text)
        same = json.loads(self.cli("diff", self.first["path"], self.first["path"], "--json").stdout)
        self.assertEqual(same["parameters"] + same["metrics"] + same["hyper_parameters"], [])

    def test_escaping_names_and_bad_arguments_are_refused(self):
        outside = self.path("outside")
        os.makedirs(outside)
        for reference in ("../outside", "m/../m", "m@../../x", "..", ".hidden", "m@", "a" * 129, "m@0"):
            with self.subTest(reference=reference):
                e2e.expect_error(self, self.cli("show", self.registry, reference, code=3), "model reference")
        e2e.expect_error(self, self.cli("alias", "set", self.registry, "m", "../../escape", 1, code=3), "alias")
        e2e.expect_error(self, self.cli("alias", "set", self.registry, "m", "7", 1, code=3), "would read as a version")
        e2e.expect_error(self, self.cli("alias", "set", self.registry, "m", "prod", "x1", code=3), "VERSION")
        e2e.expect_error(self, self.cli("alias", "set", self.registry, "m", "prod", 9, code=3), "has no version 9")
        e2e.expect_error(self, self.cli("alias", "rm", self.registry, "m", "none", code=3), "no alias 'none'")
        e2e.expect_error(self, self.cli("alias", "set", self.registry, "../outside", "prod", 1, code=3), "model name")
        e2e.expect_error(self, self.cli("diff", self.registry, "m@1", code=3), "usage")
        e2e.expect_error(self, self.cli("verify", self.path("nowhere"), code=3), "not a directory")
        self.assertEqual(os.listdir(outside), [])
        self.assertFalse(os.path.exists(self.path("escape")))
        # A model directory that is a link out of the registry is refused, not followed.
        shutil.copytree(os.path.join(self.registry, "m"), os.path.join(outside, "m"))
        os.symlink(os.path.join(outside, "m"), os.path.join(self.registry, "linked"))
        e2e.expect_error(self, self.cli("show", self.registry, "linked", code=4), "leads outside the registry")
        # A job cannot publish outside the registry either.
        job = e2e.write_job(self.path("bad.toml"), lake={"path": "lake"}, model=GOOD_MODEL,
                            publish={"registry": "registry", "name": "../outside"})
        e2e.expect_error(self, e2e.sluice(["run", job]), "publish.name", code=3)


if __name__ == "__main__":
    e2e.main()
