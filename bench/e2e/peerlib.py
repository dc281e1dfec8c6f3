"""Shared helpers for the Python peer baselines: lake listing, per-partition statistics, ridge solve."""
import glob
import os
import sys
import time

import h5py
import numpy as np


def partitions(lake):
    """Every partition file of the lake, in a fixed order so all peers see the same rows."""
    files = sorted(glob.glob(os.path.join(lake, "**", "*.h5"), recursive=True))
    if not files:
        sys.exit(f"no partitions under {lake}")
    return files


def feature_names(path, label="y"):
    with h5py.File(path, "r") as f:
        return sorted(k for k in f.keys() if k != label and isinstance(f[k], h5py.Dataset))


def read_partition(path, features, label="y"):
    """Columns of one partition as X (D, n) and y (n,), read straight into preallocated rows."""
    with h5py.File(path, "r") as f:
        n = f[label].shape[0]
        x = np.empty((len(features), n))
        for j, name in enumerate(features):
            f[name].read_direct(x[j])
        y = np.empty(n)
        f[label].read_direct(y)
    return x, y


def stats_of(x, y):
    """Sufficient statistics of one partition: (n, Σx, Σy, XᵀX, Xᵀy, yᵀy)."""
    return (x.shape[1], x.sum(axis=1), y.sum(), x @ x.T, x @ y, y @ y)


def partition_stats(path, features, label="y"):
    return stats_of(*read_partition(path, features, label))


def add_stats(a, b):
    return tuple(p + q for p, q in zip(a, b))


def ridge_from_stats(stats, alpha):
    """Ridge with an unpenalised intercept (sklearn's Ridge(fit_intercept=True)); returns w, b, r2."""
    n, sx, sy, xtx, xty, yty = stats
    mx, my = sx / n, sy / n
    sxx = xtx - n * np.outer(mx, mx)
    sxy = xty - n * mx * my
    syy = yty - n * my * my
    w = np.linalg.solve(sxx + alpha * np.eye(len(mx)), sxy)
    sse = syy - 2 * w @ sxy + w @ sxx @ w
    return w, my - mx @ w, 1.0 - sse / syy


def timed_best(fn, reps):
    """Best wall time of `reps` calls and the last result; best-of-K as for every other system."""
    best, out = float("inf"), None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def emit_row(system, config, ranks, threads, seconds, rows):
    # The driver collects lines starting with ROW, into the CSV.
    print(f"ROW,{system},{config},{ranks},{threads},{seconds:.6f},{rows},", flush=True)
