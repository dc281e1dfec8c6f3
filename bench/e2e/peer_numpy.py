"""Peer baseline: numpy + h5py in one process, accumulating XᵀX, Xᵀy per partition, then solving."""
import argparse
import os

import numpy as np

import peerlib


def blas_description():
    # numpy.show_config() reports build-time BLAS; threadpoolctl reports what is loaded now.
    try:
        import threadpoolctl

        info = threadpoolctl.threadpool_info()
        return "; ".join(f"{i['internal_api']} {i.get('version')} threads={i['num_threads']}" for i in info)
    except ImportError:
        return "threadpoolctl missing; OPENBLAS_NUM_THREADS=" + os.environ.get("OPENBLAS_NUM_THREADS", "?")


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--lake", required=True)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--reps", type=int, default=3)
    a = p.parse_args()

    files = peerlib.partitions(a.lake)
    features = peerlib.feature_names(files[0])

    def fit():
        total = None
        for path in files:
            s = peerlib.partition_stats(path, features)
            total = s if total is None else peerlib.add_stats(total, s)
        return total, peerlib.ridge_from_stats(total, a.alpha)

    seconds, (stats, (w, b, r2)) = peerlib.timed_best(fit, a.reps)
    blas = blas_description()
    threads = int(os.environ.get("OPENBLAS_NUM_THREADS", "1"))
    print(f"numpy: rows={stats[0]} r2={r2:.6f} intercept={b:.6f} best_s={seconds:.3f} blas=[{blas}]")
    peerlib.emit_row("numpy+h5py", "1 process OpenBLAS", 1, threads, seconds, stats[0])


if __name__ == "__main__":
    main()
