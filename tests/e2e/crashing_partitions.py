"""Partition files that break libhdf5 1.10.8 itself: each is written by h5py as a valid table
(columns x1, x2, x3, y), then a few bytes are patched at places found by walking the file's
structure (superblock -> root group's object header -> its symbol-table message -> B-tree node
and local heap). Deterministic: the same columns give the same bytes.

CRASHING: HADDR_UNDEF (0xffffffffffffffff, HDF5's "no address") where libhdf5 1.10.8 follows a
B-tree address without checking it is defined; its metadata accumulator then copies from a NULL
buffer (SIGSEGV in H5F__accum_read, under H5B_find or the symbol-table node's load). No check in
front of the library catches these: only running the read in another process contains them.

HEAP_FORGERIES: the root group's local heap (its member names) forged so that libhdf5 crashes
(an undefined heap or data-segment address), allocates what the file declares (a 2 GiB data
segment in a 10 KB file), or follows a free list that points to itself forever, allocating a
record per step. Sluice's guard reads the heap from the file's bytes first and refuses these
(lake/name_heap_check.cpp); libhdf5 alone does not."""

import os
import struct

import h5py
import numpy as np

UNDEFINED_ADDRESS = 0xFFFFFFFFFFFFFFFF
SUPERBLOCK_SIGNATURE = b"\x89HDF\r\n\x1a\n"
STAB_MESSAGE = 0x0011
EXTERNAL_FILES_MESSAGE = 0x0007
SYMBOL_TABLE_ENTRY_BYTES = 40


def _write(path, columns, external=()):
    """The columns as h5py writes them; those named in `external` keep their values in a raw file
    beside the partition (HDF5 external storage, which Sluice refuses once it can read the
    dataset's properties)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    # libver "earliest" (h5py's default): superblock 0, old-style groups with a symbol table.
    with h5py.File(path, "w", libver="earliest") as f:
        for name, values in columns.items():
            if name in external:
                raw = f"{path}.{name}.raw"
                values = np.asarray(values, dtype="<f8")
                values.tofile(raw)
                f.create_dataset(name, shape=values.shape, dtype="<f8",
                                 external=[(os.path.basename(raw), 0, values.nbytes)])
            else:
                f.create_dataset(name, data=values)


def read_u64(data, offset):
    return struct.unpack_from("<Q", data, offset)[0]


class Layout:
    """Where the root group's metadata lies in a superblock-0 file written by h5py."""

    def __init__(self, data):
        if data[:8] != SUPERBLOCK_SIGNATURE or data[8] != 0:
            raise ValueError("expected an HDF5 file with superblock version 0 at byte 0")
        if data[13] != 8 or data[14] != 8:
            raise ValueError("expected 8-byte offsets and lengths")
        # Superblock 0: 24 bytes of versions and sizes, four addresses, then the root group's
        # symbol-table entry (link-name offset, object-header address, cache type, scratch pad).
        root_entry = 24 + 4 * 8
        self.root_header = read_u64(data, root_entry + 8)
        self.stab = self._find_message(data, self.root_header, STAB_MESSAGE)
        self.btree = read_u64(data, self.stab)
        self.heap = read_u64(data, self.stab + 8)
        if data[self.btree:self.btree + 4] != b"TREE" or data[self.heap:self.heap + 4] != b"HEAP":
            raise ValueError("the root group's B-tree or local heap is not where its message says")

    @staticmethod
    def _find_message(data, header, wanted):
        """Offset of the body of the first message of type `wanted` in a version-1 object header
        (its first block only: h5py's root group header has no continuation)."""
        if data[header] != 1:
            raise ValueError(f"expected a version-1 object header at byte {header}")
        num_messages = struct.unpack_from("<H", data, header + 2)[0]
        size = struct.unpack_from("<I", data, header + 8)[0]
        at, end = header + 16, header + 16 + size
        for _ in range(num_messages):
            kind, length = struct.unpack_from("<HH", data, at)
            if kind == wanted:
                return at + 8
            at += 8 + length
            if at >= end:
                break
        raise ValueError(f"no message of type {wanted:#x} in the object header at byte {header}")

    # The B-tree node (version 1, group node): "TREE", type, level, entries used, left and right
    # siblings, then key 0, child 0, key 1, child 1, ...
    def btree_first_child(self):
        return self.btree + 4 + 1 + 1 + 2 + 8 + 8 + 8

    def column_header(self, data, index):
        """Object-header address of the index-th member (in name order) of the root group, from
        the B-tree's first symbol-table node ("SNOD", version, reserved, count, then entries)."""
        node = read_u64(data, self.btree_first_child())
        if data[node:node + 4] != b"SNOD" or index >= struct.unpack_from("<H", data, node + 6)[0]:
            raise ValueError("the root group's first symbol-table node is not as h5py writes it")
        return read_u64(data, node + 8 + SYMBOL_TABLE_ENTRY_BYTES * index + 8)

    # The local heap: "HEAP", version, 3 reserved, data-segment size, free-list head offset,
    # data-segment address.
    def heap_free_list(self):
        return self.heap + 8 + 8

    def heap_data_size(self):
        return self.heap + 8

    def heap_data_address(self):
        return self.heap + 8 + 8 + 8


def _patched(path, columns, patches, external=()):
    _write(path, columns, external)
    with open(path, "rb") as f:
        data = bytearray(f.read())
    layout = Layout(data)
    for locate, fmt, value in patches:
        struct.pack_into(fmt, data, locate(layout), value)
    with open(path, "wb") as f:
        f.write(bytes(data))


def undefined_btree_address(path, columns):
    """The root group's symbol-table message names its B-tree at HADDR_UNDEF."""
    _patched(path, columns, [(lambda l: l.stab, "<Q", UNDEFINED_ADDRESS)])


def undefined_btree_child(path, columns):
    """The root group's B-tree node points its first child (a symbol-table node) at HADDR_UNDEF."""
    _patched(path, columns, [(Layout.btree_first_child, "<Q", UNDEFINED_ADDRESS)])


def undefined_heap_address(path, columns):
    """The root group's symbol-table message names its local heap at HADDR_UNDEF."""
    _patched(path, columns, [(lambda l: l.stab + 8, "<Q", UNDEFINED_ADDRESS)])


def undefined_heap_data(path, columns):
    """The root group's local heap keeps its data segment at HADDR_UNDEF."""
    _patched(path, columns, [(Layout.heap_data_address, "<Q", UNDEFINED_ADDRESS)])


FORGED_HEAP_BYTES = 1 << 31


def forged_heap_size(path, columns):
    """The root group's local heap declares a 2 GiB data segment, away from its header (so libhdf5
    loads it as a block of its own, allocated at the declared size before it is read)."""
    _patched(path, columns, [(Layout.heap_data_size, "<Q", FORGED_HEAP_BYTES),
                             (Layout.heap_data_address, "<Q", 0)])


def cyclic_heap_free_list(path, columns):
    """The first free block of the root group's local heap names itself as the next one."""
    _write(path, columns)
    with open(path, "rb") as f:
        data = bytearray(f.read())
    layout = Layout(data)
    head = read_u64(data, layout.heap_free_list())
    block = read_u64(data, layout.heap_data_address()) + head
    if head == 1:
        raise ValueError("the heap has no free block to make cyclic")
    struct.pack_into("<Q", data, block, head)
    with open(path, "wb") as f:
        f.write(bytes(data))


def unclosable(path, columns):
    """x2 keeps its values in an external file whose name lies beyond the heap that holds the
    names: H5Dopen2 fails cleanly (before Sluice can read the storage properties and refuse
    external storage), but libhdf5 keeps the file's metadata pinned, cannot close the file, and
    crashes in H5F_term_package when the process shuts the library down (at MPI_Finalize, after
    a run that skipped this partition has published)."""
    def name_offset(layout):
        # External-files message: version, 3 reserved, slots allocated and used, heap address,
        # then per slot: the name's offset in the heap, the offset in the file, the size.
        return Layout._find_message(data, layout.column_header(data, 1), EXTERNAL_FILES_MESSAGE) + 16
    _write(path, columns, external=("x2",))
    with open(path, "rb") as f:
        data = bytearray(f.read())
    struct.pack_into("<Q", data, name_offset(Layout(data)), 1 << 40)
    with open(path, "wb") as f:
        f.write(bytes(data))


# name -> builder; each crashes libhdf5 1.10.8 (SIGSEGV) in a process that opens the file and
# reads its columns, past every check Sluice makes in front of the library: at the lookup of a
# column, or (unclosable) when the process ends.
CRASHING = {
    "undefined-btree-address": undefined_btree_address,
    "undefined-btree-child": undefined_btree_child,
    "unclosable": unclosable,
}

# name -> builder; refused by Sluice's guard before libhdf5 loads the heap.
HEAP_FORGERIES = {
    "undefined-heap-address": undefined_heap_address,
    "undefined-heap-data": undefined_heap_data,
    "forged-heap-size": forged_heap_size,
    "cyclic-heap-free-list": cyclic_heap_free_list,
}
