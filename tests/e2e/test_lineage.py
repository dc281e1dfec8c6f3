"""A snapshot's lineage matches the lake: every partition's rows and its documented content checksum."""

import os

import h5py
import numpy as np
import xxhash

import sluice_e2e as e2e
from test_bad_input import GOOD_MODEL, write_good_lake


def content_checksum(path, columns):
    """docs/snapshot-format.md: XXH3-64 per column over little-endian float64 values, then XXH3-64
    over (name, NUL, 8-byte digest) for each column in job order; 16 hex digits."""
    combined = xxhash.xxh3_64()
    with h5py.File(path, "r") as f:
        for name in columns:
            values = np.asarray(f[name][()], dtype="<f8")
            combined.update(name.encode() + b"\0")
            combined.update(xxhash.xxh3_64_intdigest(values.tobytes()).to_bytes(8, "little"))
    return f"{combined.intdigest():016x}"


class LineageTest(e2e.TempDirTestCase):
    def test_lineage_lists_partitions_with_rows_and_checksums(self):
        lake = write_good_lake(self.path("lake"))
        # Same values, other storage: the checksum describes content, not layout.
        relative = sorted(lake)[0]
        e2e.write_partition(self.path("lake", relative), lake[relative], storage="gzip_fletcher32")
        job = e2e.write_job(self.path("job.toml"), lake={"path": "lake", "block_rows": 7},
                            model=GOOD_MODEL, publish={"registry": "registry", "name": "m"})
        _, snapshot = e2e.run_job(self, job, e2e.Config.ranks)
        self.assertEqual(snapshot["partitions"], sorted(lake))
        self.assertEqual(snapshot["partition_rows"], [len(lake[p]["y"]) for p in sorted(lake)])
        columns = GOOD_MODEL["features"] + [GOOD_MODEL["label"]]
        with h5py.File(snapshot["path"], "r") as f:
            recorded = [v.decode() for v in f["lineage/partitions/checksum"][()]]
            keys = [v.decode() for v in f["lineage/partitions/keys"][()]]
        expected = [content_checksum(self.path("lake", p), columns) for p in sorted(lake)]
        self.assertEqual(recorded, expected)
        self.assertEqual(keys, [p.split("/")[0] for p in sorted(lake)])


if __name__ == "__main__":
    e2e.main()
