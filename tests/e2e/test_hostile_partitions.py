"""Partitions crafted against libhdf5 (links and storage outside the file, filters outside the
allowlist, forged sizes, decompression bombs, forged local heaps) are refused before any value is read: in error mode
with exit 4, one exact message naming the file, the dataset and the rule, and the registry
untouched; in skip mode listed in the snapshot and the run report with that reason.

Without the guard most of these publish a model from data outside the lake (links, external
storage, virtual datasets), load a filter plugin (lzf), read for hours (declared rows, fill
bombs) or inflate chunks to 1000 times their size."""

import json
import os
import re
import zlib

import h5py
import numpy as np

import hostile_partitions as hp
import sluice_e2e as e2e
import crashing_partitions as cp
from test_bad_input import DAYS, GOOD_MODEL, good_columns, write_good_lake

BAD_DAY = "2026-11-09"
FILL_ROWS = 50_000_000
BOMB_INFLATED_BYTES = 16 << 20
BOMB_CHUNK_ROWS = 64
ROWS = 300
RULE_EXTERNAL_LINK = "links out of the partition are refused"


class HostilePartitionsTest(e2e.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.ranks = e2e.Config.ranks
        self.outside = self.path("outside")
        os.makedirs(self.outside)
        self.columns = good_columns(np.random.default_rng(5))
        self.outside_h5 = hp.outside_file(self.outside, self.columns)

    # ------------------------------------------------------------ the cases

    def cases(self):
        """(name, builder(path), dataset, rule(path), extra lake keys); rule gives the exact text."""
        c = self.columns
        payload_bytes = len(zlib.compress(b"\0" * BOMB_INFLATED_BYTES, 9))
        declared = (1 << 40) * 8

        def contiguous_offset(path):
            with h5py.File(path, "r") as f:
                return f["x1"].id.get_offset()

        def heap_bytes(path):
            with open(path, "rb") as f:
                data = f.read()
            return cp.read_u64(data, cp.Layout(data).heap_data_size())

        def stored(path):
            with h5py.File(path, "r") as f:
                return f["x1"].id.get_storage_size()

        return [
            ("external-link", lambda p: hp.external_link(p, c, self.outside_h5), "/x2",
             lambda p: f"is an external link to '{self.outside_h5}:/x2': {RULE_EXTERNAL_LINK}", {}),
            ("soft-link", lambda p: hp.soft_link(p, c, "/hidden/x2"), "/x2",
             lambda p: "is a soft link to '/hidden/x2': a column must be a dataset stored under its "
                       "own name", {}),
            ("external-storage",
             lambda p: hp.external_storage(p, c, os.path.join(self.outside, "x2.raw")), "/x2",
             lambda p: f"stores its values in external file '{os.path.join(self.outside, 'x2.raw')}': "
                       "external raw-data storage is refused", {}),
            ("virtual-dataset", lambda p: hp.virtual_dataset(p, c, self.outside_h5), "/x2",
             lambda p: "is a virtual dataset (its values would come from other datasets or files): "
                       "virtual datasets are refused", {}),
            ("lzf-filter", lambda p: hp.filtered(p, c, compression="lzf"), "/x2",
             lambda p: "uses HDF5 filter 32000 ('lzf'): only deflate (gzip), shuffle and fletcher32 "
                       "are allowed", {}),
            ("scaleoffset-filter", lambda p: hp.filtered(p, c, scaleoffset=3), "/x2",
             lambda p: "uses HDF5 filter 6 ('scaleoffset'): only deflate (gzip), shuffle and "
                       "fletcher32 are allowed", {}),
            ("rows-2^40", lambda p: hp.declared_rows(p, c, 1 << 40), "/x1",
             lambda p: f"declares {1 << 40} rows of 8 bytes ({declared} bytes), more than "
                       f"lake.max_column_bytes = {64 << 30}", {}),
            # The same file with the cap raised: its contiguous data would lie beyond the file's end.
            ("rows-2^40-past-end", lambda p: hp.declared_rows(p, c, 1 << 40), "/x1",
             lambda p: f"declares {declared} bytes of contiguous data at byte {contiguous_offset(p)}, "
                       f"but the file has only {os.path.getsize(p)} bytes (truncated, or a forged size)",
             {"max_column_bytes": 1 << 50}),
            ("rows-2^40-chunked", lambda p: hp.declared_rows(p, c, 1 << 40, chunked=True), "/x1",
             lambda p: f"declares {declared} bytes of values but stores only {stored(p)} bytes: more "
                       "than 1100x expansion, which deflate cannot produce (chunks never written, or "
                       "a decompression bomb)", {"max_column_bytes": 1 << 50}),
            ("giant-chunks", lambda p: hp.giant_chunks(p, c, 1 << 22), "/x2",
             lambda p: f"declares chunks of {1 << 22} rows of 8 bytes, more than lake.max_chunk_bytes "
                       f"= {8 << 20}", {}),
            ("fill-bomb", lambda p: hp.fill_bomb(p, FILL_ROWS), "/x1",
             lambda p: f"declares {FILL_ROWS * 8} bytes of values but stores only 0 bytes: more than "
                       "1100x expansion, which deflate cannot produce (chunks never written, or a "
                       "decompression bomb)", {}),
            ("chunk-bomb",
             lambda p: hp.chunk_bomb(p, c, BOMB_INFLATED_BYTES, BOMB_CHUNK_ROWS), "/x2",
             lambda p: f"the chunk at row 0 occupies {payload_bytes} bytes in the file, more than a "
                       f"chunk of {BOMB_CHUNK_ROWS} rows can under the allowed filters (at most "
                       f"{BOMB_CHUNK_ROWS * 8 + 64}): its deflate stream would inflate far beyond the "
                       "chunk (a decompression bomb)", {}),
            ("two-dimensional", lambda p: hp.two_dimensional(p, c), "/x2",
             lambda p: "dataset has 2 dimensions, a column must be 1-D", {}),
            # The root group's local heap, read from the file's bytes before libhdf5 loads it.
            ("forged-heap-size", lambda p: cp.forged_heap_size(p, c), None,
             lambda p: "group '/' keeps its member names in a local heap whose data segment of "
                       f"{cp.FORGED_HEAP_BYTES} bytes at byte 0 does not fit in the file's "
                       f"{os.path.getsize(p)} bytes (a forged heap, which libhdf5 would allocate in "
                       "full before reading it): a group's local heap must lie inside the file", {}),
            ("cyclic-heap-free-list", lambda p: cp.cyclic_heap_free_list(p, c), None,
             lambda p: "group '/' keeps its member names in a local heap whose free list runs in a "
                       f"cycle (more than the {heap_bytes(p) // 16} blocks its {heap_bytes(p)}-byte "
                       "data segment can hold; libhdf5 would follow it forever, allocating as it "
                       "goes): a heap's free list must end", {}),
            # Names from the file reach the message, the run report's JSON and the terminal: bytes
            # that are not UTF-8 become '?'.
            ("non-utf8-name", lambda p: hp.renamed(p, c, "x2", b"x2\x90\xff"), None,
             lambda p: "missing column '/x2' (group '/' has: x1, x2??, x3, y)", {}),
        ]

    # ------------------------------------------------------------ helpers

    def expected_reason(self, path, dataset, rule):
        if dataset is None:
            return f'partition "{path}": {rule}'
        return f'partition "{path}": dataset \'{dataset}\': {rule}'

    def job(self, name, lake_root, registry, extra):
        return e2e.write_job(self.path(f"{name}.toml"), lake={"path": lake_root, **extra},
                             model=GOOD_MODEL, publish={"registry": registry, "name": "m"})

    def publish_baseline(self, registry):
        root = self.path("lake-good")
        write_good_lake(root)
        e2e.run_job(self, self.job("good", root, registry, {}), self.ranks)
        self.assertEqual(e2e.current(registry, "m"), "v000001.h5\n")
        return e2e.model_dir_entries(registry, "m"), e2e.sha256(os.path.join(registry, "m", "v000001.h5"))

    # ------------------------------------------------------------ tests

    def test_error_mode_refuses_each_with_its_rule(self):
        registry = self.path("registry")
        entries, v1 = self.publish_baseline(registry)
        launch = None if self.ranks == 1 else self.ranks
        for name, build, dataset, rule, extra in self.cases():
            with self.subTest(name):
                root = self.path(f"lake-{name}")
                write_good_lake(root)
                bad = os.path.join(root, f"day={DAYS[-1]}", "part-0.h5")
                build(bad)
                result = e2e.sluice(["run", self.job(name, root, registry, extra)], ranks=launch,
                                    timeout=60)
                line = e2e.expect_error(self, result, code=e2e.EXIT_DATA)
                expected = "sluice: error: " + self.expected_reason(bad, dataset, rule(bad))
                self.assertRegex(line, "^" + re.escape(expected) + r" \[rank \d\]$", result.describe())
                self.assertEqual(e2e.current(registry, "m"), "v000001.h5\n")
                self.assertEqual(e2e.model_dir_entries(registry, "m"), entries)
                self.assertEqual(e2e.sha256(os.path.join(registry, "m", "v000001.h5")), v1)

    def test_skip_mode_lists_each_with_its_rule(self):
        # One lake holds the good partitions and every hostile one at once: one run.
        root = self.path("lake")
        write_good_lake(root)
        expected = {}
        extra = {"on_bad_partition": "skip", "max_column_bytes": 1 << 50}
        for name, build, dataset, rule, _ in self.cases():
            if name == "rows-2^40":
                continue  # the same file as rows-2^40-past-end, judged under the raised cap
            relative = f"day={BAD_DAY}/{name}.h5"
            path = os.path.join(root, relative)
            build(path)
            expected[relative] = self.expected_reason(path, dataset, rule(path))
        _, snap = e2e.run_job(self, self.job("skip", root, self.path("registry"), extra), self.ranks)
        self.assertEqual(sorted(snap["skipped"]), sorted(expected))
        self.assertEqual(dict(zip(snap["skipped"], snap["skipped_reasons"])), expected)
        self.assertEqual(sorted(snap["partitions"]), sorted(f"day={d}/part-0.h5" for d in DAYS))
        with open(self.path("registry", "m", "v000001.report.json")) as f:
            report = json.load(f)
        self.assertEqual({entry["path"]: entry["reason"] for entry in report["skipped"]}, expected)


if __name__ == "__main__":
    e2e.main()
