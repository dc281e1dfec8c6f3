"""Partition files crafted to make libhdf5 reach outside the file, run plugin code, or read and
allocate without bound; each builder writes one partition whose columns x1, x2, x3, y would
otherwise be a valid table. Shared by the guard regression tests and the malformed-file corpus."""

import os
import zlib

import h5py
import numpy as np

COLUMNS = ["x1", "x2", "x3", "y"]


def _write(path, columns, special=None):
    """Writes the columns with h5py; special(f) then adds or replaces datasets."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with h5py.File(path, "w") as f:
        for name, values in columns.items():
            f.create_dataset(name, data=values)
        if special is not None:
            special(f)


def _replace(f, name, **kwargs):
    del f[name]
    return f.create_dataset(name, **kwargs)


def outside_file(directory, columns):
    """A valid file outside the lake holding the same columns (what links and VDS point at)."""
    path = os.path.join(directory, "outside.h5")
    if not os.path.exists(path):
        _write(path, columns)
    return path


def external_link(path, columns, outside):
    """x2 is an external link to a dataset in another, perfectly readable file."""
    def special(f):
        del f["x2"]
        f["x2"] = h5py.ExternalLink(outside, "/x2")
    _write(path, columns, special)


def soft_link(path, columns, target="/hidden/x2"):
    """x2 is a soft link to a dataset elsewhere in the same file."""
    def special(f):
        f.create_dataset(target, data=columns["x2"])
        del f["x2"]
        f["x2"] = h5py.SoftLink(target)
    _write(path, columns, special)


def external_storage(path, columns, raw_path, offset=0):
    """x2's values live in a raw file outside the partition (HDF5 external storage)."""
    os.makedirs(os.path.dirname(raw_path) or ".", exist_ok=True)
    values = np.asarray(columns["x2"], dtype="<f8")
    with open(raw_path, "wb") as raw:
        raw.write(b"\0" * offset + values.tobytes())
    def special(f):
        _replace(f, "x2", shape=values.shape, dtype="<f8",
                 external=[(raw_path, offset, values.nbytes)])
    _write(path, columns, special)


def virtual_dataset(path, columns, source_file, source_name="/x2"):
    """x2 is a virtual dataset mapping a dataset of another file."""
    rows = len(columns["x2"])
    def special(f):
        layout = h5py.VirtualLayout(shape=(rows,), dtype="f8")
        layout[:] = h5py.VirtualSource(source_file, source_name, shape=(rows,))
        del f["x2"]
        f.create_virtual_dataset("x2", layout, fillvalue=0)
    _write(path, columns, special)


def filtered(path, columns, **filter_args):
    """x2 written through a filter outside the allowlist (e.g. compression="lzf", scaleoffset=3)."""
    def special(f):
        _replace(f, "x2", data=columns["x2"], **filter_args)
    _write(path, columns, special)


def fill_bomb(path, rows, chunk_rows=1 << 16):
    """Every column declares `rows` rows of deflated chunks, none of which is ever written: HDF5
    would hand back fill values for all of them (50M rows: 400 MB per column from a 10 KB file)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with h5py.File(path, "w") as f:
        for name in COLUMNS:
            f.create_dataset(name, shape=(rows,), dtype="f8", chunks=(min(chunk_rows, rows),),
                             compression="gzip")


def chunk_bomb(path, columns, inflated_bytes=64 << 20, chunk_rows=64):
    """x2 is deflated in chunks of `chunk_rows` rows, each stored as a deflate stream of
    `inflated_bytes` zeros: HDF5 1.10 inflates every chunk to the stream's full length."""
    values = np.asarray(columns["x2"])
    payload = zlib.compress(b"\0" * inflated_bytes, 9)
    def special(f):
        dataset = _replace(f, "x2", shape=values.shape, dtype="f8", chunks=(chunk_rows,),
                           compression="gzip")
        for start in range(0, len(values), chunk_rows):
            dataset.id.write_direct_chunk((start,), payload)
    _write(path, columns, special)


def giant_chunks(path, columns, chunk_rows=1 << 22, is_written=True):
    """x2 is stored in one deflated chunk declared `chunk_rows` long (2^22: 32 MiB per chunk);
    is_written=False leaves the chunk unwritten (for chunks too large to build in memory)."""
    def special(f):
        values = columns["x2"]
        dataset = _replace(f, "x2", shape=values.shape, dtype="f8", chunks=(chunk_rows,),
                           maxshape=(None,), compression="gzip")
        if is_written:
            dataset[:] = values
    _write(path, columns, special)


def renamed(path, columns, name, new_name):
    """Column `name` stored under `new_name` (bytes: any name HDF5 accepts)."""
    def special(f):
        f.move(name, new_name)
    _write(path, columns, special)


def two_dimensional(path, columns):
    def special(f):
        _replace(f, "x2", data=np.column_stack([columns["x2"], columns["x2"]]))
    _write(path, columns, special)


def declared_rows(path, columns, rows, chunked=False):
    """A valid partition whose dataspaces are then patched to declare `rows` rows (every column,
    so lengths stay equal): the file's bytes do not hold them."""
    storage = {"chunks": (64,)} if chunked else {}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with h5py.File(path, "w") as f:
        for name, values in columns.items():
            f.create_dataset(name, data=values, **storage)
    patch_row_count(path, len(columns["x1"]), rows)


def patch_row_count(path, old_rows, new_rows):
    """Rewrites every 1-D version-1 dataspace message of `old_rows` (dims, and max dims if
    present) to `new_rows`. Returns how many messages were patched."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    old = int(old_rows).to_bytes(8, "little")
    new = int(new_rows).to_bytes(8, "little")
    count = 0
    start = 0
    while True:
        # version 1, rank 1, flags (bit 0: max dims present), reserved byte, 4 reserved bytes
        at = data.find(b"\x01\x01", start)
        if at < 0 or at + 16 > len(data):
            break
        flags = data[at + 2]
        if flags in (0, 1) and data[at + 3:at + 8] == b"\0" * 5 and data[at + 8:at + 16] == old:
            data[at + 8:at + 16] = new
            if flags == 1 and data[at + 16:at + 24] == old:
                data[at + 16:at + 24] = new
            count += 1
        start = at + 1
    with open(path, "wb") as f:
        f.write(data)
    return count
