"""A partition with more rows than lake.split_rows is shared out over the ranks in splits of the split grid: the model has the same bits at 1-4 ranks, with 2 threads, with splitting off and under dynamic assignment (which feeds a fast rank more units than a slow one); the lineage lists the partition once, with its rows and its documented segment checksum; a split that cannot be read makes its whole partition skipped; bad split sizes are refused."""

import collections
import json
import os
import re

import h5py
import numpy as np
import xxhash

import sluice_e2e as e2e

FEATURES = ["a", "b", "c"]
BIG_ROWS = 250_000
SPLIT_ROWS = 20_000
BLOCK_ROWS = 1_000


def write_lake(root, seed=3, big_storage="contiguous"):
    """One big partition (most of the rows) and two small ones, as h5py writes them."""
    rng = np.random.default_rng(seed)
    sizes = {"big.h5": BIG_ROWS, "small-1.h5": 7_000, "small-2.h5": 3_500}
    for name, rows in sizes.items():
        x = rng.normal(size=(rows, len(FEATURES)))
        y = x @ np.array([1.5, -2.0, 0.25]) + 0.7 + rng.normal(scale=0.1, size=rows)
        columns = {f: x[:, j] for j, f in enumerate(FEATURES)}
        columns["y"] = y
        storage = big_storage if name == "big.h5" else "contiguous"
        if storage == "chunked":
            os.makedirs(root, exist_ok=True)
            with h5py.File(os.path.join(root, name), "w") as f:
                for column, values in columns.items():
                    f.create_dataset(column, data=values, chunks=(BLOCK_ROWS,), compression="gzip")
        else:
            e2e.write_partition(os.path.join(root, name), columns)
    return sizes


def segment_checksum(path, rows):
    """docs/snapshot-format.md: per split-grid segment the content checksum of its rows, then
    XXH3-64 over the segments' checksums as little-endian u64 (one segment: its own checksum)."""
    columns = FEATURES + ["y"]
    with h5py.File(path, "r") as f:
        data = {c: np.asarray(f[c][()], dtype="<f8") for c in columns}
    segments = []
    for first in range(0, rows, SPLIT_ROWS):
        combined = xxhash.xxh3_64()
        for c in columns:
            combined.update(c.encode() + b"\0")
            digest = xxhash.xxh3_64_intdigest(data[c][first:first + SPLIT_ROWS].tobytes())
            combined.update(digest.to_bytes(8, "little"))
        segments.append(combined.intdigest())
    if len(segments) == 1:
        return f"{segments[0]:016x}"
    return f"{xxhash.xxh3_64_intdigest(b''.join(s.to_bytes(8, 'little') for s in segments)):016x}"


class SplitTest(e2e.TempDirTestCase):
    def job(self, name, run=None, lake=None):
        return e2e.write_job(self.path(f"{name}.toml"),
                             lake={"path": "lake", "block_rows": BLOCK_ROWS, "split_rows": SPLIT_ROWS,
                                   **(lake or {})},
                             model={"kind": "ridge", "features": FEATURES, "label": "y", "alpha": 0.5},
                             publish={"registry": "registry", "name": name}, run=run)

    def report(self, name, version=1):
        with open(self.path("registry", name, f"v{version:06d}.report.json")) as f:
            return json.load(f)

    def test_splits_keep_the_bits_and_spread_the_big_partition(self):
        sizes = write_lake(self.path("lake"))
        runs = {}
        for ranks in (1, 2, 3, 4):
            result, runs[f"{ranks} ranks"] = e2e.run_job(self, self.job(f"split{ranks}"), ranks)
            if ranks == 1:
                self.assertIn("1 split into 13 units of up to 20000 rows", result.stderr, result.describe())
        _, runs["2 ranks x 2 threads"] = e2e.run_job(self, self.job("threads", run={"threads": 2}), 2)
        _, runs["whole, 3 ranks"] = e2e.run_job(self, self.job("whole", run={"split": False}), 3)
        reference = runs["1 ranks"]
        for label, snap in runs.items():
            self.assertEqual(snap["coefficients_bytes"], reference["coefficients_bytes"], label)
            self.assertEqual(snap["intercept_bytes"], reference["intercept_bytes"], label)

        # At 2 ranks both ranks read splits of the big partition: 13 units, its rows all covered.
        units = [p for p in self.report("split2")["partitions"] if p["path"] == "big.h5"]
        self.assertEqual([u["first_row"] for u in units], list(range(0, BIG_ROWS, SPLIT_ROWS)))
        self.assertEqual(sum(u["rows"] for u in units), BIG_ROWS)
        self.assertEqual({u["rank"] for u in units}, {0, 1})
        whole = [p for p in self.report("whole")["partitions"] if p["path"] == "big.h5"]
        self.assertEqual(len(whole), 1)
        self.assertEqual(whole[0]["rows"], BIG_ROWS)

        # The lineage lists each partition once, with its rows and documented checksum.
        snap = runs["2 ranks"]
        self.assertEqual(snap["partitions"], sorted(sizes))
        self.assertEqual(snap["partition_rows"], [sizes[p] for p in sorted(sizes)])
        with h5py.File(snap["path"], "r") as f:
            recorded = [v.decode() for v in f["lineage/partitions/checksum"][()]]
        expected = [segment_checksum(self.path("lake", p), sizes[p]) for p in sorted(sizes)]
        self.assertEqual(recorded, expected)

        # Against an independent ridge fit (centred normal equations, alpha on the coefficients).
        x, y = [], []
        for p in sorted(sizes):
            with h5py.File(self.path("lake", p), "r") as f:
                x.append(np.column_stack([f[c][()] for c in FEATURES]))
                y.append(f["y"][()])
        x, y = np.vstack(x), np.concatenate(y)
        xc, yc = x - x.mean(axis=0), y - y.mean()
        w = np.linalg.solve(xc.T @ xc + 0.5 * np.eye(len(FEATURES)), xc.T @ yc)
        np.testing.assert_allclose(reference["coefficients"], w, rtol=1e-10, atol=1e-12)
        self.assertAlmostEqual(reference["intercept"], y.mean() - x.mean(axis=0) @ w, delta=1e-10)

    def test_a_bad_split_skips_its_whole_partition(self):
        write_lake(self.path("lake"), big_storage="chunked")
        # Corrupt one deflated chunk in the middle of the big partition: only the split holding
        # it fails to read, on whichever rank reads it.
        with h5py.File(self.path("lake", "big.h5"), "r") as f:
            info = f["b"].id.get_chunk_info(150)  # rows 150000..150999: split 7
        with open(self.path("lake", "big.h5"), "r+b") as f:
            f.seek(info.byte_offset)
            f.write(b"\xff" * info.size)
        for ranks in (1, 3):
            job = self.job(f"skip{ranks}", lake={"on_bad_partition": "skip"})
            _, snap = e2e.run_job(self, job, ranks)
            self.assertEqual(snap["skipped"], ["big.h5"])
            self.assertIn("big.h5", snap["skipped_reasons"][0])
            self.assertEqual(snap["partitions"], ["small-1.h5", "small-2.h5"])
            self.assertEqual(snap["partition_rows"], [7_000, 3_500])
            report = self.report(f"skip{ranks}")
            big = [p for p in report["partitions"] if p["path"] == "big.h5"]
            self.assertEqual(len(big), 13)
            self.assertTrue(all(p["skipped"] for p in big), big)
        # The same as a lake without the big partition.
        os.rename(self.path("lake", "big.h5"), self.path("big.h5"))
        _, without = e2e.run_job(self, self.job("without"), 2)
        self.assertEqual(without["coefficients_bytes"], snap["coefficients_bytes"])
        os.rename(self.path("big.h5"), self.path("lake", "big.h5"))
        # In error mode the job fails naming the file, and publishes nothing.
        result = e2e.sluice(["run", self.job("error")], ranks=2)
        e2e.expect_error(self, result, "big.h5")
        self.assertIsNone(e2e.current(self.path("registry"), "error"))
        self.assertEqual(e2e.version_files(self.path("registry"), "error"), [])

    def test_dynamic_assignment_keeps_the_bits_and_feeds_the_fast_rank(self):
        write_lake(self.path("lake"))
        _, reference = e2e.run_job(self, self.job("static"), 2)
        for ranks in (1, 2, 3):
            _, snap = e2e.run_job(self, self.job(f"dynamic{ranks}", run={"schedule": "dynamic"}), ranks)
            self.assertEqual(snap["coefficients_bytes"], reference["coefficients_bytes"], ranks)
            self.assertEqual(snap["intercept_bytes"], reference["intercept_bytes"], ranks)
        # Rank 1 plays a slow node (20 ms per block, 20 blocks per split): under the static plan
        # it reads its planned half; under dynamic assignment rank 0 takes most of the units.
        units_read = {}
        for schedule in ("static", "dynamic"):
            name = f"slow-{schedule}"
            result = e2e.sluice(["run", self.job(name, run={"schedule": schedule}),
                                 "--test-block-delay-ms", 20, "--test-slow-rank", 1], ranks=2)
            self.assertEqual(result.returncode, 0, result.describe())
            e2e.check_ranks(self, result, 2)
            ranks = [p["rank"] for p in self.report(name)["partitions"]]
            self.assertEqual(len(ranks), 15)
            units_read[schedule] = {r: ranks.count(r) for r in (0, 1)}
            snap = e2e.read_snapshot(self.path("registry", name, "v000001.h5"))
            self.assertEqual(snap["coefficients_bytes"], reference["coefficients_bytes"], schedule)
        self.assertGreaterEqual(units_read["static"][1], 5, units_read)
        self.assertLessEqual(units_read["dynamic"][1], 3, units_read)
        self.assertGreaterEqual(units_read["dynamic"][0], 12, units_read)
        # A bad value is refused naming the key.
        result = e2e.sluice(["run", self.job("bad", run={"schedule": "greedy"})], ranks=2)
        e2e.expect_error(self, result, "run.schedule", "'static', 'dynamic'", code=e2e.EXIT_CONFIGURATION)

    def test_no_file_is_opened_only_to_count_its_rows(self):
        # Every file here is at least split_rows bytes, so each is opened before the first pass to
        # count its rows. `sluice -v` logs every open of a partition file with the rank that made
        # it: each (rank, file) must be opened exactly as many times as that rank read units of
        # it (1 for a whole file, 1 per split), the count's open serving the first read.
        write_lake(self.path("lake"))
        opened = re.compile(r"^\[sluice(?: rank (\d+))?\] opened partition file (\S+) \(", re.MULTILINE)
        for ranks, schedule in ((1, "static"), (2, "static"), (3, "static"), (2, "dynamic"), (3, "dynamic")):
            with self.subTest(ranks=ranks, schedule=schedule):
                name = f"opens{ranks}{schedule}"
                result = e2e.sluice(["-v", "run", self.job(name, run={"schedule": schedule}), "--no-cache"],
                                    ranks=ranks)
                self.assertEqual(result.returncode, 0, result.describe())
                e2e.check_ranks(self, result, ranks)
                opens = collections.Counter((int(rank or 0), os.path.basename(path))
                                            for rank, path in opened.findall(result.stderr))
                units = collections.Counter((p["rank"], p["path"]) for p in self.report(name)["partitions"])
                self.assertEqual(sum(units.values()), 15)
                self.assertEqual(opens, units, result.stderr)

    def test_bad_split_sizes_are_refused_naming_the_key(self):
        write_lake(self.path("lake"))
        for value, why in ((0, "must be 1.."), (1500, "multiple of lake.block_rows (1000)"),
                           (-4, "must be 1.."), (2**41, "must be 1..")):
            result = e2e.sluice(["run", self.job(f"bad{value}".replace("-", "m"),
                                                 lake={"split_rows": value})], ranks=2)
            e2e.expect_error(self, result, "lake.split_rows", why, code=e2e.EXIT_CONFIGURATION)
        # A split size above every partition's rows splits nothing: the partitions are read whole.
        result, _ = e2e.run_job(self, self.job("huge", lake={"split_rows": 1_000_000}), 2)
        self.assertNotIn("split into", result.stderr, result.describe())
        self.assertIn("no partition found to hold more than lake.split_rows = 1000000 rows",
                      result.stderr, result.describe())


if __name__ == "__main__":
    e2e.main()
