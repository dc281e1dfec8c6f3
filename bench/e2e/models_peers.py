"""Model-kind benchmark helpers: writes the lake, and times scikit-learn on the same rows.

Subcommands (each prints one `RESULT {json}` line that run_models_bench.sh collects):
  make-lake  the lake: x00..x{D-1} ~ N(offset, 1), y = X.w + b + noise (ridge), c ∈ {0, 1} drawn
             from a logistic model of the features (logistic)
  logistic   LogisticRegression (lbfgs, newton-cholesky) to the tolerance sluice used, h5py load
             timed; coefficients compared with sluice's snapshot
  kmeans     KMeans(lloyd) from sluice's initial_centers for a fixed number of iterations, data
             already in memory; centres compared with sluice's snapshot
  pca        PCA(n_components).fit, h5py load timed; explained variance compared with sluice's
"""
import argparse
import json
import os
import sys
import time

import h5py
import numpy as np

import peerlib

LABEL_REGRESSION = "y"
LABEL_CLASS = "c"


def result(kind, **fields):
    # The driver collects lines starting with RESULT into results.jsonl.
    print("RESULT " + json.dumps({"peer": kind, **fields}), flush=True)


def blas_note():
    """What BLAS numpy really uses: OpenBLAS picks its kernels from the CPU it detects."""
    try:
        import threadpoolctl

        return "; ".join(f"{i.get('internal_api')} {i.get('version') or ''} "
                         f"arch={i.get('architecture', '-')} threads={i.get('num_threads')}"
                         for i in threadpoolctl.threadpool_info())
    except Exception as e:  # threadpoolctl is optional
        return f"unknown ({e})"


# ---------------------------------------------------------------- lake

def make_lake(a):
    """Same layout as make_lake.py (DIR/day=…/part-NNNNN.h5, contiguous float64 columns at "/"),
    plus the 0/1 label column c."""
    rng = np.random.default_rng(a.seed)
    d = a.features
    w_reg = rng.uniform(-2.0, 2.0, size=d)
    b_reg = rng.uniform(-2.0, 2.0)
    # Logistic truth: the margin has standard deviation about 2 over the features' noise, so the
    # classes overlap (no separation) and Newton converges in a handful of iterations.
    w_cls = rng.normal(size=d) * (2.0 / np.sqrt(d))
    offsets = 0.25 * (np.arange(d) % 5)  # features off zero, so centring matters
    b_cls = -0.2 - w_cls @ offsets
    for part in range(a.partitions):
        prng = np.random.default_rng([a.seed, part])
        day = os.path.join(a.out, f"day=2026-11-{part % a.days + 1:02d}")
        os.makedirs(day, exist_ok=True)
        x = prng.standard_normal(size=(d, a.rows))
        x += offsets[:, None]
        y = w_reg @ x + b_reg + 0.1 * prng.standard_normal(a.rows)
        p = 1.0 / (1.0 + np.exp(-(w_cls @ x + b_cls)))
        c = (prng.random(a.rows) < p).astype(np.float64)
        path = os.path.join(day, f"part-{part:05d}.h5")
        # A temporary name first, so a killed run never leaves a half-written partition.
        with h5py.File(path + ".tmp", "w") as f:
            for j in range(d):
                f.create_dataset(f"x{j:02d}", data=x[j])
            f.create_dataset(LABEL_REGRESSION, data=y)
            f.create_dataset(LABEL_CLASS, data=c)
        os.replace(path + ".tmp", path)
    result("make-lake", partitions=a.partitions, rows=a.rows, features=d,
           class_truth=w_cls.tolist(), class_intercept=float(b_cls))


# ---------------------------------------------------------------- loading

def feature_names(files):
    with h5py.File(files[0], "r") as f:
        return sorted(k for k in f.keys() if k.startswith("x") and isinstance(f[k], h5py.Dataset))


def load(lake, label=None):
    """Every partition's features into one C-contiguous (rows, D) array (what scikit-learn wants
    without a copy), and the label if asked: the read a Python user would write."""
    files = peerlib.partitions(lake)
    names = feature_names(files)
    sizes = []
    for path in files:
        with h5py.File(path, "r") as f:
            sizes.append(f[names[0]].shape[0])
    n, d = sum(sizes), len(names)
    x = np.empty((n, d))
    y = np.empty(n) if label else None
    block = np.empty((d, max(sizes)))
    at = 0
    for path, rows in zip(files, sizes):
        with h5py.File(path, "r") as f:
            for j, name in enumerate(names):
                f[name].read_direct(block[j], dest_sel=np.s_[:rows])
            x[at:at + rows] = block[:, :rows].T
            if label:
                f[label].read_direct(y, dest_sel=np.s_[at:at + rows])
        at += rows
    return x, y, names


def timed_load(lake, label=None):
    t0 = time.perf_counter()
    x, y, names = load(lake, label)
    return time.perf_counter() - t0, x, y, names


def snapshot_model(path):
    with h5py.File(path, "r") as f:
        m = f["/model"]
        return {k: m[k][()] for k in m.keys() if isinstance(m[k], h5py.Dataset)}, dict(m.attrs)


best_of = peerlib.timed_best


# ---------------------------------------------------------------- peers

def logistic(a):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    load_s, x, y, _ = timed_load(a.lake, LABEL_CLASS)
    print(f"logistic: loaded {x.shape[0]} x {x.shape[1]} in {load_s:.3f} s; BLAS: {blas_note()}")
    ref = None
    if a.snapshot:
        arrays, attrs = snapshot_model(a.snapshot)
        ref = np.append(arrays["coefficients"], float(attrs["intercept"]))
    for solver in a.solvers.split(","):
        def fit():
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                m = LogisticRegression(C=a.C, solver=solver, tol=a.tol, max_iter=a.max_iter).fit(x, y)
            return m, [str(w.message).splitlines()[0] for w in caught
                       if issubclass(w.category, ConvergenceWarning)]

        fit_s, (model, warned) = best_of(fit, a.reps)
        coef = np.append(model.coef_.ravel(), model.intercept_[0])
        # The gradient of sluice's objective C·Σ logloss + ½‖w‖² at the peer's point, as sluice
        # measures convergence: max |gradient| / rows.
        z = x @ coef[:-1] + coef[-1]
        r = 1.0 / (1.0 + np.exp(-z)) - y
        grad = np.append(a.C * (x.T @ r) + coef[:-1], a.C * r.sum())
        fields = {"solver": solver, "load_seconds": load_s, "fit_seconds": fit_s,
                  "total_seconds": load_s + fit_s, "n_iter": int(np.max(model.n_iter_)),
                  "gradient_max_per_row": float(np.abs(grad).max() / x.shape[0]),
                  "converged": not warned, "warning": warned[0] if warned else "",
                  "rows": int(x.shape[0])}
        if ref is not None:
            diff = np.abs(coef - ref)
            fields["coef_max_rel_diff"] = float(np.max(diff / np.maximum(np.abs(ref), 1e-300)))
            fields["coef_max_diff_over_max_coef"] = float(diff.max() / np.abs(ref).max())
        print(f"logistic {solver}: fit {fit_s:.3f} s, {fields['n_iter']} iterations, "
              f"max|grad|/rows {fields['gradient_max_per_row']:.2e}"
              + (f", coef max rel diff vs sluice {fields['coef_max_rel_diff']:.2e}" if ref is not None else "")
              + (f" [{warned[0]}]" if warned else ""))
        result("sklearn-logistic", **fields)


def kmeans(a):
    from sklearn.cluster import KMeans

    arrays, _ = snapshot_model(a.snapshot)
    init = np.ascontiguousarray(arrays["initial_centers"])
    load_s, x, _, _ = timed_load(a.lake)
    print(f"kmeans: loaded {x.shape[0]} x {x.shape[1]} in {load_s:.3f} s (not timed); BLAS: {blas_note()}")

    def fit():
        return KMeans(n_clusters=init.shape[0], init=init, n_init=1, algorithm="lloyd",
                      max_iter=a.iters, tol=0.0).fit(x)

    fit_s, model = best_of(fit, a.reps)
    fields = {"load_seconds": load_s, "fit_seconds": fit_s, "n_iter": int(model.n_iter_),
              "seconds_per_iteration": fit_s / model.n_iter_, "inertia": float(model.inertia_),
              "rows": int(x.shape[0]), "threads": os.environ.get("OMP_NUM_THREADS", "")}
    # Only meaningful when both ran the same number of Lloyd iterations from the same start.
    if "centers" in arrays:
        c_ref = arrays["centers"]
        fields["centers_max_rel_diff"] = float(np.abs(model.cluster_centers_ - c_ref).max()
                                               / np.abs(c_ref).max())
    print(f"kmeans: fit {fit_s:.3f} s for {model.n_iter_} iterations = "
          f"{fields['seconds_per_iteration']:.4f} s/iteration, inertia {model.inertia_:.6e}")
    result("sklearn-kmeans", **fields)


def pca(a):
    from sklearn.decomposition import PCA

    ref = None
    if a.snapshot:
        ref = snapshot_model(a.snapshot)[0]["explained_variance"]

    def load_and_fit():
        t0 = time.perf_counter()
        x, _, _ = load(a.lake)
        t1 = time.perf_counter()
        model = PCA(n_components=a.components).fit(x)
        return t1 - t0, time.perf_counter() - t1, model, x.shape[0]

    best = None
    for _ in range(a.reps):
        run = load_and_fit()
        if best is None or run[0] + run[1] < best[0] + best[1]:
            best = run
    load_s, fit_s, model, rows = best
    # svd_solver="auto" resolves to a solver at fit time; report the one used.
    fields = {"load_seconds": load_s, "fit_seconds": fit_s, "total_seconds": load_s + fit_s,
              "svd_solver": model._fit_svd_solver, "rows": int(rows)}
    if ref is not None:
        fields["explained_variance_max_rel_diff"] = float(
            np.max(np.abs(model.explained_variance_ - ref) / np.abs(ref)))
    print(f"pca: load {load_s:.3f} s + fit {fit_s:.3f} s (svd_solver auto -> {fields['svd_solver']})"
          f"; BLAS: {blas_note()}")
    result("sklearn-pca", **fields)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make-lake")
    m.add_argument("--out", required=True)
    m.add_argument("--partitions", type=int, default=16)
    m.add_argument("--rows", type=int, default=250_000, help="rows per partition")
    m.add_argument("--features", type=int, default=32)
    m.add_argument("--days", type=int, default=4)
    m.add_argument("--seed", type=int, default=1)
    lg = sub.add_parser("logistic")
    lg.add_argument("--solvers", default="lbfgs,newton-cholesky")
    lg.add_argument("--C", type=float, default=1.0)
    lg.add_argument("--tol", type=float, default=1e-8)
    lg.add_argument("--max-iter", type=int, default=1000)
    km = sub.add_parser("kmeans")
    km.add_argument("--iters", type=int, required=True)
    pc = sub.add_parser("pca")
    pc.add_argument("--components", type=int, default=8)
    for s in (lg, km, pc):
        s.add_argument("--lake", required=True)
        s.add_argument("--snapshot", default="", help="sluice's vNNNNNN.h5 for the same job")
        s.add_argument("--reps", type=int, default=1, help="runs; the best is kept")
    a = p.parse_args()
    if a.command == "kmeans" and not a.snapshot:
        sys.exit("kmeans needs --snapshot (sluice's initial_centers)")
    {"make-lake": make_lake, "logistic": logistic, "kmeans": kmeans, "pca": pca}[a.command](a)


if __name__ == "__main__":
    main()
