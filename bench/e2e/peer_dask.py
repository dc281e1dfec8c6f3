"""Peer baseline: Dask on the same lake, threaded scheduler and a 2-worker LocalCluster."""
# Cluster creation, imports and a warm-up task are outside the timed region: only the pass over
# the lake and the solve are timed, as for every other system.
import argparse
import os

import dask
import dask.array as da
import h5py
import numpy as np

import peerlib


def delayed_fit(files, features, alpha):
    """One task per partition (read + statistics), a tree reduction, then the solve."""
    parts = [dask.delayed(peerlib.partition_stats)(p, features) for p in files]
    while len(parts) > 1:
        parts = [dask.delayed(peerlib.add_stats)(*parts[i : i + 2]) if i + 1 < len(parts) else parts[i]
                 for i in range(0, len(parts), 2)]
    return dask.delayed(peerlib.ridge_from_stats)(parts[0], alpha), parts[0]


def array_fit(files, features, alpha, block_rows, scheduler, workers):
    """dask.array over the h5py datasets (fixed row blocks), XᵀX via da.dot; threads only."""
    handles = [h5py.File(p, "r") for p in files]
    try:
        xs, ys = [], []
        for f in handles:
            cols = [da.from_array(f[c], chunks=(block_rows,)) for c in features]
            xs.append(da.stack(cols, axis=1).rechunk((block_rows, len(features))))
            ys.append(da.from_array(f["y"], chunks=(block_rows,)))
        x, y = da.concatenate(xs), da.concatenate(ys)
        parts = (x.shape[0], x.sum(axis=0), y.sum(), da.dot(x.T, x), da.dot(x.T, y), da.dot(y, y))
        stats = dask.compute(*parts, scheduler=scheduler, num_workers=workers)
    finally:
        for f in handles:
            f.close()
    return peerlib.ridge_from_stats(stats, alpha), stats


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--lake", required=True)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--workers", type=int, default=os.cpu_count())
    p.add_argument("--block-rows", type=int, default=65536)
    p.add_argument("--modes", default="threads,array,cluster")
    a = p.parse_args()

    files = peerlib.partitions(a.lake)
    features = peerlib.feature_names(files[0])
    modes = a.modes.split(",")

    def report(system, config, ranks, threads, seconds, result):
        (w, b, r2), stats = result
        print(f"{system} [{config}]: rows={stats[0]} r2={r2:.6f} intercept={b:.6f} best_s={seconds:.3f}")
        peerlib.emit_row(system, config, ranks, threads, seconds, stats[0])

    if "threads" in modes:
        def fit():
            sol, stats = delayed_fit(files, features, a.alpha)
            return dask.compute(sol, stats, scheduler="threads", num_workers=a.workers)
        s, r = peerlib.timed_best(fit, a.reps)
        report("dask", "threaded scheduler delayed per partition", 1, a.workers, s, r)

    if "array" in modes:
        s, r = peerlib.timed_best(
            lambda: array_fit(files, features, a.alpha, a.block_rows, "threads", a.workers), a.reps)
        report("dask", "threaded scheduler dask.array da.dot", 1, a.workers, s, r)

    if "cluster" in modes:
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            # Warm-up: workers import numpy/h5py/peerlib before the clock starts.
            client.run(lambda: __import__("peerlib") and None)
            client.gather(client.map(lambda i: i, range(a.workers)))

            def fit():
                sol, stats = delayed_fit(files, features, a.alpha)
                return dask.compute(sol, stats)  # the active Client is the scheduler

            s, r = peerlib.timed_best(fit, a.reps)
            report("dask", f"LocalCluster {a.workers} workers x 1 thread", a.workers, 1, s, r)


if __name__ == "__main__":
    main()
