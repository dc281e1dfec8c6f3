"""Writes a lake in sluice's layout with h5py, for running the benchmark without `sluice gen`."""
# Layout (docs/interfaces-draft.md): DIR/day=2026-11-DD/part-NNNNN.h5, one contiguous float64
# dataset per column at "/": x00..x{D-1} and y = X.w + b + noise.
import argparse
import os

import h5py
import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", required=True)
    p.add_argument("--partitions", type=int, default=16)
    p.add_argument("--rows", type=int, default=500_000, help="rows per partition")
    p.add_argument("--features", type=int, default=32)
    p.add_argument("--days", type=int, default=4)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()

    rng = np.random.default_rng(a.seed)
    w = rng.normal(size=a.features)
    b = 0.5
    for part in range(a.partitions):
        day = os.path.join(a.out, f"day=2026-11-{part % a.days + 1:02d}")
        os.makedirs(day, exist_ok=True)
        x = rng.normal(size=(a.features, a.rows))
        y = w @ x + b + 0.1 * rng.normal(size=a.rows)
        # Write to a temporary name first so a killed run never leaves a half-written partition.
        path = os.path.join(day, f"part-{part:05d}.h5")
        with h5py.File(path + ".tmp", "w") as f:
            for j in range(a.features):
                f.create_dataset(f"x{j:02d}", data=x[j])
            f.create_dataset("y", data=y)
        os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
