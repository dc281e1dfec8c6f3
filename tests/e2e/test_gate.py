"""Champion/challenger gate ([publish.gate]): the new model is published and the alias moved only
when its metric beats the alias's version by more than the margin; the decision and both values
are recorded in the history either way, and `sluice run` exits 7 when the challenger lost."""

import json
import os

import sluice_e2e as e2e

RANKS = 2
EXIT_GATE_REJECTED = 7


class GateTest(e2e.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.features = e2e.gen_lake(self, self.path("lake"), 6, 1500, features=4, seed=41)
        self.registry = self.path("registry")

    def job(self, label, features, gate=None, split=True):
        text = e2e.job_text({"path": "lake"},
                            {"kind": "ridge", "features": features, "label": "y", "alpha": 0.1},
                            {"registry": "registry", "name": "m"})
        if split:
            text += "\n[split]\nfraction = 0.25\nseed = 3\n"
        if gate is not None:
            text += "\n[publish.gate]\n" + "".join(f"{k} = {e2e.toml_value(v)}\n" for k, v in gate.items())
        return e2e.write_text(self.path(f"{label}.toml"), text)

    def history(self):
        with open(os.path.join(self.registry, "m", "history.jsonl")) as f:
            return [json.loads(line) for line in f]

    def alias(self, name="production"):
        with open(os.path.join(self.registry, "m", "aliases", name)) as f:
            return f.read().strip()

    def sluice_run(self, job):
        return e2e.sluice(["run", job], ranks=RANKS)

    def metric(self, version, name="validation_rmse"):
        return e2e.read_snapshot(os.path.join(self.registry, "m", f"v{version:06d}.h5"))["metrics"][name]

    def test_only_a_better_model_is_published_and_promoted(self):
        gate = {"alias": "production", "metric": "validation_rmse", "margin": 0.0}
        weak = self.job("weak", self.features[:2], gate)
        full = self.job("full", self.features, gate)

        # No champion yet: the first model wins and becomes production.
        first = self.sluice_run(weak)
        self.assertEqual(first.returncode, 0, first.describe())
        e2e.check_ranks(self, first, RANKS)
        self.assertIn("gate accepted: no champion", first.stdout)
        self.assertEqual(self.alias(), "v000001.h5")
        entry = [e for e in self.history() if e["action"] == "gate"][-1]
        self.assertEqual((entry["pointer"], entry["from"], entry["to"]), ("production", None, 1))
        self.assertEqual(entry["metrics"]["challenger"], self.metric(1))
        self.assertNotIn("champion", entry["metrics"])

        # The same model again is not better: rejected, nothing published, exit 7.
        again = self.sluice_run(weak)
        self.assertEqual(again.returncode, EXIT_GATE_REJECTED, again.describe())
        e2e.check_ranks(self, again, RANKS)
        self.assertIn("not published: gate rejected", again.stdout)
        self.assertEqual(e2e.version_files(self.registry, "m"), ["v000001.h5"])
        self.assertEqual(e2e.current(self.registry, "m").strip(), "v000001.h5")
        entry = self.history()[-1]
        self.assertEqual((entry["action"], entry["pointer"], entry["from"], entry["to"]),
                         ("gate", "production", 1, None))
        self.assertEqual(entry["metrics"]["champion"], self.metric(1))
        self.assertEqual(entry["metrics"]["challenger"], self.metric(1))

        # Every feature: a smaller validation rmse wins, is published and promoted.
        better = self.sluice_run(full)
        self.assertEqual(better.returncode, 0, better.describe())
        self.assertEqual(self.alias(), "v000002.h5")
        self.assertLess(self.metric(2), self.metric(1))
        gate_entry, alias_entry = [e for e in self.history() if e["action"] in ("gate", "alias_set")][-2:]
        self.assertEqual((gate_entry["from"], gate_entry["to"]), (1, 2))
        self.assertEqual(gate_entry["metrics"]["champion"], self.metric(1))
        self.assertEqual(gate_entry["metrics"]["challenger"], self.metric(2))
        self.assertEqual((alias_entry["pointer"], alias_entry["from"], alias_entry["to"]), ("production", 1, 2))

        # Now the weak model loses against v2, and a margin larger than any gain stops even a tie-breaker.
        self.assertEqual(self.sluice_run(weak).returncode, EXIT_GATE_REJECTED)
        wide = self.job("wide", self.features, {**gate, "margin": 1e6})
        self.assertEqual(self.sluice_run(wide).returncode, EXIT_GATE_REJECTED)
        self.assertEqual(e2e.version_files(self.registry, "m"), ["v000001.h5", "v000002.h5"])
        self.assertEqual(self.alias(), "v000002.h5")
        # Rollback of production ignores gate entries: it goes back to v1, the move before v2.
        rolled = e2e.sluice(["snapshots", "rollback", self.registry, "m", "--alias", "production"])
        self.assertEqual(rolled.returncode, 0, rolled.describe())
        self.assertEqual(self.alias(), "v000001.h5")

    def test_larger_is_better_metric(self):
        gate = {"alias": "candidate", "metric": "validation_r2"}
        self.assertEqual(self.sluice_run(self.job("weak", self.features[:1], gate)).returncode, 0)
        better = self.sluice_run(self.job("full", self.features, gate))
        self.assertEqual(better.returncode, 0, better.describe())
        self.assertEqual(self.alias("candidate"), "v000002.h5")
        self.assertGreater(self.metric(2, "validation_r2"), self.metric(1, "validation_r2"))
        worse = self.sluice_run(self.job("weak", self.features[:1], gate))
        self.assertEqual(worse.returncode, EXIT_GATE_REJECTED, worse.describe())

    def test_bad_gates_are_refused_before_any_work(self):
        cases = [({"metric": "validation_rmse"}, "'publish.gate.alias' is missing"),
                 ({"alias": "production"}, "'publish.gate.metric' is missing"),
                 ({"alias": "production", "metric": "validation_fun"}, "is not a metric the gate can compare"),
                 ({"alias": "production", "metric": "auc"}, "is not reported by a 'ridge' model"),
                 ({"alias": "production", "metric": "rmse", "margin": -1}, "'publish.gate.margin' must be"),
                 ({"alias": "a/b", "metric": "rmse"}, "'publish.gate.alias'"),
                 ({"alias": "12", "metric": "rmse"}, "must not be all digits"),
                 ({"alias": "production", "metric": "rmse", "typo": 1}, "unknown key 'publish.gate.typo'")]
        for gate, message in cases:
            result = self.sluice_run(self.job("bad", self.features, gate))
            e2e.expect_error(self, result, message, code=e2e.EXIT_CONFIGURATION)
            self.assertNotIn("progress", result.stderr, "refused after reading data")
        no_split = self.sluice_run(self.job("nosplit", self.features, {"alias": "p", "metric": "validation_rmse"},
                                     split=False))
        e2e.expect_error(self, no_split, "needs validation rows", code=e2e.EXIT_CONFIGURATION)
        self.assertFalse(os.path.exists(os.path.join(self.registry, "m")))

    def test_champion_without_the_metric_is_an_error_and_publishes_nothing(self):
        # v1 has no validation rows, so no validation_rmse; the alias names it by hand.
        plain = self.sluice_run(self.job("plain", self.features, split=False))
        self.assertEqual(plain.returncode, 0, plain.describe())
        moved = e2e.sluice(["snapshots", "alias", "set", self.registry, "m", "production", "1"])
        self.assertEqual(moved.returncode, 0, moved.describe())
        result = self.sluice_run(self.job("gated", self.features, {"alias": "production", "metric": "validation_rmse"}))
        e2e.expect_error(self, result, "the champion", "v000001.h5", "has no metric 'validation_rmse'",
                         code=e2e.EXIT_CONFIGURATION)
        self.assertEqual(e2e.version_files(self.registry, "m"), ["v000001.h5"])


if __name__ == "__main__":
    e2e.main()
