"""Peer baseline: scikit-learn Ridge on the lake's rows loaded into memory; only fit() is timed."""
import argparse
import os

import numpy as np
from sklearn.linear_model import Ridge

import peerlib


def mem_available():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--lake", required=True)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--mem-fraction", type=float, default=0.5,
                   help="share of MemAvailable the loaded rows and fit() may use")
    a = p.parse_args()

    files = peerlib.partitions(a.lake)
    features = peerlib.feature_names(files[0])
    # fit() centres a copy of X and forms XᵀX, so about 3 copies of X live at once; take only
    # whole partitions that fit that budget and report the rows actually used.
    import h5py

    with h5py.File(files[0], "r") as f:
        part_rows = f["y"].shape[0]
    row_bytes = 8 * (len(features) + 1)
    budget_rows = int(a.mem_fraction * mem_available() / (3 * row_bytes))
    take = max(1, min(len(files), budget_rows // part_rows))
    used = files[:take]

    blocks = [peerlib.read_partition(path, features) for path in used]
    x = np.ascontiguousarray(np.concatenate([b[0] for b in blocks], axis=1).T)
    y = np.concatenate([b[1] for b in blocks])
    del blocks

    def fit():
        return Ridge(alpha=a.alpha, fit_intercept=True).fit(x, y)

    seconds, model = peerlib.timed_best(fit, a.reps)
    r2 = model.score(x, y)
    threads = int(os.environ.get("OPENBLAS_NUM_THREADS", "1"))
    note = "" if take == len(files) else f" (only {take}/{len(files)} partitions fit in memory)"
    print(f"sklearn: rows={x.shape[0]} r2={r2:.6f} intercept={model.intercept_:.6f} "
          f"best_fit_s={seconds:.3f}{note}")
    peerlib.emit_row("sklearn", "Ridge.fit in-memory" + (" subset" if note else ""), 1, threads,
                     seconds, x.shape[0])


if __name__ == "__main__":
    main()
