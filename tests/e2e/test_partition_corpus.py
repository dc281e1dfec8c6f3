"""A generated corpus of 500+ malformed partitions (partition_corpus.py) through whole
`mpirun -n 2 sluice run` jobs: no crash (no signal, no unclassified exit), no hang (a timeout
per job), every refusal names its file; error mode exits 4 with the registry untouched, skip mode
lists the partition with the reason.

In CI: one skip-mode job over a lake holding the whole corpus at once, then one error-mode job
per class on a sample. SLUICE_FULL_CORPUS=1 runs every file alone in both modes and prints the
class-by-class tally of how each was reported (SLUICE_CORPUS_SCALE=N multiplies the random
classes)."""

import collections
import concurrent.futures
import os
import shutil
import unittest

import numpy as np

import partition_corpus as corpus
import sluice_e2e as e2e

FULL = os.environ.get("SLUICE_FULL_CORPUS", "") == "1"
SCALE = int(os.environ.get("SLUICE_CORPUS_SCALE", "1"))
RANKS = 2
JOB_TIMEOUT_S = 60
DOCUMENTED_EXITS = (0, e2e.EXIT_CONFIGURATION, e2e.EXIT_DATA, e2e.EXIT_NUMERICAL, e2e.EXIT_IO)
MODEL = {"kind": "ridge", "features": ["x1", "x2", "x3"], "label": "y", "alpha": 1.0}

# How a refusal is reported, by the words of its message (first match wins), for the tally.
RULES = [
    ("external link", "external link"), ("soft link", "soft link"),
    ("external raw-data", "external storage"), ("virtual dataset", "virtual dataset"),
    ("uses HDF5 filter", "filter not allowed"), ("lake.max_column_bytes", "column size cap"),
    ("contiguous data at byte", "data past end of file"), ("expansion", "expansion ratio"),
    ("lake.max_chunk_bytes", "chunk size cap"), ("the chunk at row", "chunk bomb"),
    ("a column must be 1-D", "not 1-D"), ("unsupported dtype", "dtype"),
    ("bit layout", "bit layout"), ("compact storage", "compact size"),
    ("overflows 64 bits", "size overflow"), ("not a readable HDF5 file", "not readable HDF5"),
    ("missing column", "missing column"), ("unequal lengths", "unequal lengths"),
    ("group '", "group"), ("cannot read rows", "HDF5 read error"),
    ("cannot open dataset", "HDF5 open error"), ("cannot read the column's link", "HDF5 link error"),
    ("cannot list group", "HDF5 group error"), ("cannot read member name", "HDF5 group error"),
    ("NaN/Inf", "non-finite or huge values"),
]


def rule_of(message):
    for words, rule in RULES:
        if words in message:
            return rule
    return "other: " + message.split(": ", 2)[-1][:100]


class PartitionCorpusTest(e2e.TempDirTestCase):
    @classmethod
    def setUpClass(cls):
        cls.shared = e2e.TemporaryDirectory("corpus")
        root = cls.shared.name
        os.makedirs(os.path.join(root, "outside"))
        cls.files = corpus.build(os.path.join(root, "corpus"), os.path.join(root, "outside"),
                                 scale=SCALE)
        cls.corpus_dir = os.path.join(root, "corpus")
        rng = np.random.default_rng(11)
        cls.good = {f"day={d}/part-0.h5": corpus.good_columns(rng) for d in range(4)}
        unittest.TestCase().assertGreaterEqual(len(cls.files), 500)

    @classmethod
    def tearDownClass(cls):
        cls.shared.cleanup()

    # ------------------------------------------------------------ helpers

    def good_lake(self, root):
        for relative, columns in self.good.items():
            corpus.write_good(os.path.join(root, relative), columns, "contiguous")

    def lake_with(self, name, files):
        """The good lake plus the corpus files under day=bad/; returns (root, {relative: class})."""
        root = self.path(f"lake-{name}")
        self.good_lake(root)
        os.makedirs(os.path.join(root, "day=bad"))
        placed = {}
        for cls, file in files:
            shutil.copyfile(os.path.join(self.corpus_dir, file), os.path.join(root, "day=bad", file))
            placed[f"day=bad/{file}"] = cls
        return root, placed

    def job(self, name, root, registry, **lake):
        return e2e.write_job(self.path(f"{name}.toml"), lake={"path": root, **lake}, model=MODEL,
                             publish={"registry": registry, "name": "m"})

    def run_sluice(self, job):
        result = e2e.sluice(["run", job], ranks=RANKS, timeout=JOB_TIMEOUT_S)
        # mpirun reports a rank killed by a signal as 128 + signal; 1 is an unclassified failure
        # (e.g. MPI_Abort after an exception escaped), never acceptable for bad input.
        self.assertIn(result.returncode, DOCUMENTED_EXITS, "crash or unclassified exit\n" + result.describe())
        self.assertNotIn("MPI_ABORT", result.stderr, result.describe())
        return result

    def check_skip_run(self, name, files):
        """One skip-mode job over the good lake plus `files`; returns {relative: outcome}."""
        root, placed = self.lake_with(name, files)
        registry = self.path(f"registry-{name}")
        result = self.run_sluice(self.job(name, root, registry, on_bad_partition="skip",
                                          on_nonfinite="drop_rows"))
        self.assertEqual(result.returncode, 0, result.describe())
        e2e.check_ranks(self, result, RANKS)
        snap = e2e.read_snapshot(os.path.join(registry, "m", "v000001.h5"))
        self.assertEqual(snap["num_ranks"], RANKS)
        skipped = dict(zip(snap["skipped"], snap["skipped_reasons"]))
        used = set(snap["partitions"])
        self.assertTrue(set(self.good) <= used, "a good partition was not used")
        outcomes = {}
        for relative in placed:
            if relative in skipped:
                self.assertIn(os.path.join(root, relative), skipped[relative],
                              f"the reason does not name the file: {skipped[relative]}")
                outcomes[relative] = "skipped: " + rule_of(skipped[relative])
            else:
                self.assertIn(relative, used, f"{relative} neither used nor skipped")
                outcomes[relative] = "read (valid after the change)"
        self.assertEqual(len(used) + len(skipped), len(self.good) + len(placed))
        return outcomes, snap

    def check_error_run(self, name, cls, file):
        """One error-mode job over the good lake with `file` added; returns its outcome."""
        root, placed = self.lake_with(name, [(cls, file)])
        registry = self.path(f"registry-{name}")
        result = self.run_sluice(self.job(name, root, registry))
        if result.returncode == 0:
            e2e.check_ranks(self, result, RANKS)
            return "read (valid after the change)"
        line = e2e.expect_error(self, result, os.path.join(root, "day=bad", file), code=e2e.EXIT_DATA)
        self.assertIsNone(e2e.current(registry, "m"), "a failed run published\n" + result.describe())
        self.assertEqual(e2e.model_dir_entries(registry, "m"), [], result.describe())
        return "error: " + rule_of(line)

    # ------------------------------------------------------------ tests

    def test_skip_mode_over_the_whole_corpus_at_once(self):
        outcomes, snap = self.check_skip_run("all", self.files)
        by_rule = collections.Counter(outcomes.values())
        # Every hostile construction the guard knows is refused by its own rule, never read.
        for relative, outcome in outcomes.items():
            cls = relative.split("/")[1].split("-")[0]
            if cls in ("link", "vds", "filter"):
                self.assertTrue(outcome.startswith("skipped"), f"{relative}: {outcome}")
        self.assertGreater(snap["metrics"]["num_dropped_rows"], 0)  # the huge-value class
        if e2e.Config.verbose:
            for outcome, count in sorted(by_rule.items()):
                print(f"\n    {count:4d}  {outcome}", end="")

    def test_error_mode_on_a_sample(self):
        rng = np.random.default_rng(7)
        by_class = collections.defaultdict(list)
        for cls, file in self.files:
            by_class[cls].append(file)
        sample = [(cls, files[int(rng.integers(len(files)))]) for cls, files in sorted(by_class.items())]
        for i, (cls, file) in enumerate(sample):
            with self.subTest(file):
                self.check_error_run(f"sample-{i}", cls, file)

    def test_full_campaign_one_file_per_job(self):
        if not FULL:
            self.skipTest("set SLUICE_FULL_CORPUS=1 for every file alone in both modes")
        tally = collections.defaultdict(collections.Counter)

        def one(index_and_file):
            i, (cls, file) = index_and_file
            error = self.check_error_run(f"full-error-{i}", cls, file)
            skip, _ = self.check_skip_run(f"full-skip-{i}", [(cls, file)])
            return cls, error, next(iter(skip.values()))

        mismatches = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            for cls, error, skip in pool.map(one, enumerate(self.files)):
                tally[cls][f"{error}  |  {skip}"] += 1
                # A file is refused in error mode exactly when skip mode leaves it out; huge or
                # non-finite values are the values policy's (skip mode here drops their rows).
                is_values_error = error == "error: non-finite or huge values"
                if error.startswith("error") != skip.startswith("skipped") and not is_values_error:
                    mismatches.append(f"{cls}: {error} vs {skip}")
        print("\nclass              files  error mode  |  skip mode")
        for cls in sorted(tally):
            for outcome, count in sorted(tally[cls].items()):
                print(f"{cls:18s} {count:5d}  {outcome}")
        self.assertEqual(mismatches, [])


if __name__ == "__main__":
    e2e.main()
