"""A corpus of malformed partitions, generated at test time from a seed: truncations, bit flips,
wrong dtypes, forged sizes, compression bombs, links, external storage, virtual datasets,
filters outside the allowlist and huge values. Each file would replace one partition of a good
lake whose columns are x1, x2, x3 and y."""

import os

import h5py
import numpy as np

import hostile_partitions as hp

ROWS = 300


def good_columns(rng, rows=ROWS):
    X = rng.normal(size=(rows, 3))
    return {"x1": X[:, 0], "x2": X[:, 1], "x3": X[:, 2],
            "y": X @ np.array([1.0, -2.0, 0.5]) + 1.0 + rng.normal(0, 0.1, rows)}


STORAGES = {
    "contiguous": {},
    "gzip": {"chunks": (64,), "compression": "gzip", "shuffle": True},
    "gzip-fletcher32": {"chunks": (100,), "compression": "gzip", "fletcher32": True},
}


def write_good(path, columns, storage):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with h5py.File(path, "w") as f:
        for name, values in columns.items():
            f.create_dataset(name, data=values, **STORAGES[storage])


def _replaced(path, columns, name, values, **kwargs):
    def special(f):
        del f[name]
        f.create_dataset(name, data=values, **kwargs)
    hp._write(path, columns, special)


def build(directory, outside, seed=2026, scale=1):
    """Writes the corpus under directory; returns [(class, file name)]. `outside` is a directory
    outside any lake for the targets of links and external storage. scale multiplies the counts
    of the random classes (truncation, bit flips)."""
    rng = np.random.default_rng(seed)
    columns = good_columns(rng)
    outside_h5 = hp.outside_file(outside, columns)
    made = []

    def add(cls, name, writer):
        path = os.path.join(directory, f"{cls}-{name}.h5")
        writer(path)
        made.append((cls, os.path.basename(path)))

    # -- truncated at many offsets, and bit-flipped/overwritten bytes, of each storage variant
    for storage in STORAGES:
        reference = os.path.join(outside, f"good-{storage}.h5")
        write_good(reference, columns, storage)
        with open(reference, "rb") as f:
            data = f.read()
        size = len(data)
        cuts = sorted(set([0, 1, 4, 8, 16, 40, 48, 96, 200, 512, 800, 1024, 1400, 2047, 2048, 2049,
                           3000, 4096, size // 2, size - 1]
                          + [int(c) for c in rng.integers(1, size, 50 * scale)]))
        for cut in cuts:
            add("truncated", f"{storage}-{cut}", lambda p, cut=cut: _write_bytes(p, data[:cut]))
        for i in range(60 * scale):
            # Two thirds of the flips hit the first 4 KiB, where the superblock, object headers,
            # B-trees and heaps of a small file live.
            offset = int(rng.integers(0, min(size, 4096))) if i % 3 else int(rng.integers(0, size))
            bit = int(rng.integers(0, 8))
            add("bitflip", f"{storage}-{i}-{offset}.{bit}",
                lambda p, o=offset, b=bit: _write_bytes(p, _flip(data, o, 1 << b)))
        for i in range(20 * scale):
            offset = int(rng.integers(0, min(size, 4096) - 8))
            junk = rng.integers(0, 256, 8, dtype=np.uint8).tobytes()
            add("overwrite", f"{storage}-{i}-{offset}",
                lambda p, o=offset, j=junk: _write_bytes(p, data[:o] + j + data[o + 8:]))

    # -- dtypes outside the contract (x3 replaced)
    x3 = columns["x3"]
    wrong = {
        "int16": (x3 * 100).astype(np.int16), "uint16": (np.abs(x3) * 100).astype(np.uint16),
        "uint32": (np.abs(x3) * 100).astype(np.uint32), "uint64": (np.abs(x3) * 100).astype(np.uint64),
        "float16": x3.astype(np.float16), "complex": x3 + 1j, "string": np.array([b"%8.3f" % v for v in x3]),
        "compound": np.array([(v, v) for v in x3], dtype=[("a", "f8"), ("b", "f8")]),
        "opaque": np.frombuffer(x3.tobytes(), dtype="V8"), "array": np.column_stack([x3, x3]).view(
            [("a", "f8", (2,))]).ravel(),
        "longdouble": x3.astype(np.longdouble),
    }
    for name, values in wrong.items():
        add("dtype", name, lambda p, v=values: _replaced(p, columns, "x3", v))
    add("dtype", "enum3", lambda p: _replaced(p, columns, "x3", (np.abs(x3) * 2).astype(np.int8) % 3,
                                               dtype=h5py.enum_dtype({"A": 0, "B": 1, "C": 2}, basetype="i1")))
    add("dtype", "vlen", lambda p: _replaced(p, columns, "x3", _ragged(x3), dtype=h5py.vlen_dtype(np.float64)))
    add("dtype", "scalar", lambda p: _replaced(p, columns, "x3", 1.0))

    # -- declared row counts the file does not hold (every column patched alike)
    for rows in [299, 301, 1 << 20, 1 << 31, (1 << 32) + 5, 10 ** 9 + 7, 1 << 40, 1 << 48, 1 << 53,
                 1 << 60, 1 << 62, (1 << 63) - 1, 1 << 63, (1 << 64) - 1]:
        for chunked in (False, True):
            add("huge-size", f"{'chunked' if chunked else 'contiguous'}-{rows}",
                lambda p, r=rows, c=chunked: hp.declared_rows(p, columns, r, chunked=c))
    add("huge-size", "giant-chunk-2^22", lambda p: hp.giant_chunks(p, columns, 1 << 22))
    add("huge-size", "giant-chunk-2^28", lambda p: hp.giant_chunks(p, columns, (1 << 28) + 3, False))

    # -- compression bombs
    for rows in (1 << 20, 50_000_000, 1 << 34):
        add("bomb", f"fill-{rows}", lambda p, r=rows: hp.fill_bomb(p, r))
    for inflated, chunk_rows in ((1 << 20, 64), (16 << 20, 64), (64 << 20, 300), (4 << 20, 8)):
        add("bomb", f"chunk-{inflated}-{chunk_rows}",
            lambda p, i=inflated, c=chunk_rows: hp.chunk_bomb(p, columns, i, c))
    add("bomb", "half-written", lambda p: _half_written(p, columns))

    # -- links
    add("link", "external-valid", lambda p: hp.external_link(p, columns, outside_h5))
    add("link", "external-missing", lambda p: hp.external_link(p, columns, os.path.join(outside, "none.h5")))
    add("link", "external-self", lambda p: hp.external_link(p, columns, os.path.basename(p)))
    add("link", "soft", lambda p: hp.soft_link(p, columns))
    add("link", "soft-dangling", lambda p: _soft_to(p, columns, "/nowhere/x2"))
    add("link", "soft-loop", lambda p: _soft_loop(p, columns))
    add("link", "soft-to-external", lambda p: _soft_to_external(p, columns, outside_h5))

    # -- external raw-data storage
    add("external-storage", "valid", lambda p: hp.external_storage(p, columns, os.path.join(outside, "x2.raw")))
    add("external-storage", "offset", lambda p: hp.external_storage(p, columns, os.path.join(outside, "x2-off.raw"), 4096))
    add("external-storage", "missing", lambda p: _external_missing(p, columns, os.path.join(outside, "none.raw")))
    add("external-storage", "dev-zero", lambda p: _external_missing(p, columns, "/dev/zero"))

    # -- virtual datasets
    add("vds", "outside", lambda p: hp.virtual_dataset(p, columns, outside_h5))
    add("vds", "missing-source", lambda p: hp.virtual_dataset(p, columns, os.path.join(outside, "none.h5")))
    add("vds", "same-file", lambda p: _vds_same_file(p, columns))

    # -- filters outside the allowlist
    add("filter", "lzf", lambda p: hp.filtered(p, columns, compression="lzf"))
    add("filter", "scaleoffset", lambda p: hp.filtered(p, columns, scaleoffset=3))
    add("filter", "szip", lambda p: hp.filtered(p, columns, compression="szip"))
    add("filter", "unknown-optional", lambda p: _unknown_filter(p, columns))

    # -- huge and non-finite values (the values policy, lake.on_nonfinite, reports them)
    for name, value in (("1e200", 1e200), ("-1e200", -1e200), ("1e300", 1e300), ("max", 1.7976931348623157e308),
                        ("inf", np.inf), ("nan", np.nan), ("1e101", 1e101)):
        def writer(p, v=value):
            x2 = columns["x2"].copy()
            x2[17] = v
            _replaced(p, columns, "x2", x2)
        add("huge-value", name, writer)
    return made


def _ragged(values):
    ragged = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        ragged[i] = np.full(1 + i % 3, v)
    return ragged


def _write_bytes(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def _flip(data, offset, mask):
    changed = bytearray(data)
    changed[offset] ^= mask
    return bytes(changed)


def _half_written(path, columns):
    def special(f):
        del f["x2"]
        d = f.create_dataset("x2", shape=(1 << 24,), dtype="f8", chunks=(1 << 16,), compression="gzip")
        d[:ROWS] = columns["x2"]
    hp._write(path, columns, special)


def _soft_to(path, columns, target):
    def special(f):
        del f["x2"]
        f["x2"] = h5py.SoftLink(target)
    hp._write(path, columns, special)


def _soft_loop(path, columns):
    def special(f):
        del f["x2"]
        f["x2"] = h5py.SoftLink("/x2b")
        f["x2b"] = h5py.SoftLink("/x2")
    hp._write(path, columns, special)


def _soft_to_external(path, columns, outside_h5):
    def special(f):
        del f["x2"]
        f["ext"] = h5py.ExternalLink(outside_h5, "/")
        f["x2"] = h5py.SoftLink("/ext/x2")
    hp._write(path, columns, special)


def _external_missing(path, columns, raw_path):
    def special(f):
        del f["x2"]
        f.create_dataset("x2", shape=(ROWS,), dtype="<f8", external=[(raw_path, 0, ROWS * 8)])
    hp._write(path, columns, special)


def _vds_same_file(path, columns):
    def special(f):
        f.create_dataset("hidden", data=columns["x2"])
        layout = h5py.VirtualLayout(shape=(ROWS,), dtype="f8")
        layout[:] = h5py.VirtualSource(".", "/hidden", shape=(ROWS,))
        del f["x2"]
        f.create_virtual_dataset("x2", layout, fillvalue=0)
    hp._write(path, columns, special)


def _unknown_filter(path, columns):
    """x2 declares filter 307 (bzip2, a plugin) as optional: HDF5 writes the chunks unfiltered,
    but a reader would look for the plugin."""
    def special(f):
        del f["x2"]
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk((100,))
        dcpl.set_filter(307, h5py.h5z.FLAG_OPTIONAL, (9,))
        space = h5py.h5s.create_simple((ROWS,))
        dataset = h5py.h5d.create(f.id, b"x2", h5py.h5t.IEEE_F64LE, space, dcpl=dcpl)
        dataset.write(h5py.h5s.ALL, h5py.h5s.ALL, np.ascontiguousarray(columns["x2"]))
    hp._write(path, columns, special)
