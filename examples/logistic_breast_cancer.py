#!/usr/bin/python3
"""Logistic regression on scikit-learn's breast-cancer data (569 rows, 30 features), with Sluice
and with scikit-learn, side by side.

The features are STANDARDISED here, in Python, before the lake is written (each column minus its
mean, divided by its population standard deviation, over all 569 rows): the job file's model sees
z-scores, and scikit-learn is given the very same z-scores. The label is 1 for benign, 0 for
malignant (scikit-learn's target).

Reference: LogisticRegression(C=1, tol=1e-12, max_iter=10000, solver="newton-cholesky"). The
default solver, lbfgs, stops on its relative-decrease test (ftol = 64 eps) long before tol=1e-12
is reached, leaving coefficients about 1e-4 off the optimum of the very objective it minimises;
its result is printed too, with its objective next to Sluice's, but the 1e-6 comparison is made
against the Newton solver, which reaches the optimum to rounding.
"""

import os
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

import example_lib as lib

C = 1.0


def objective(X, y, w, b):
    """scikit-learn's objective divided by C: sum of log-losses + ||w||^2 / (2C)."""
    margin = X @ w + b
    return float(np.sum(np.logaddexp(0.0, np.where(y == 1, -margin, margin))) + w @ w / (2 * C))


def main():
    args = lib.parse_args(__doc__.splitlines()[0])
    data = load_breast_cancer()
    raw = np.asarray(data.data, dtype=np.float64)
    X = (raw - raw.mean(axis=0)) / raw.std(axis=0)  # standardised, as stated above
    y = np.asarray(data.target, dtype=np.float64)
    features = [f"f{j:02d}" for j in range(X.shape[1])]
    print(f"breast cancer: {X.shape[0]} rows, {X.shape[1]} standardised features, "
          f"{int(y.sum())} positives")

    with lib.WorkDir(args.workdir, "logistic") as work:
        columns = {name: X[:, j] for j, name in enumerate(features)}
        columns["benign"] = y
        sizes = lib.split_sizes(len(y), [9, 3, 6, 1, 5])
        lib.write_lake(os.path.join(work, "lake"), columns, sizes)
        print(f"lake: {len(sizes)} partitions of {sizes} rows")
        job = lib.write_job(os.path.join(work, "job.toml"),
                            lake={"path": "lake", "block_rows": 128},
                            model={"kind": "logistic", "features": features, "label": "benign",
                                   "C": C, "tol": 1e-10, "max_iter": 100},
                            publish={"registry": "registry", "name": "breast-cancer"})
        snapshot, printed = lib.run_job(args.sluice, job, args.ranks)
        params, metrics, _ = lib.read_model(snapshot)

    w, b = params["coefficients"], float(params["intercept"])
    newton = LogisticRegression(C=C, tol=1e-12, max_iter=10000, solver="newton-cholesky").fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs may warn that it stopped early
        lbfgs = LogisticRegression(C=C, tol=1e-12, max_iter=10000).fit(X, y)
    w_ref, b_ref = newton.coef_[0], float(newton.intercept_[0])

    lib.print_side_by_side("coefficients (standardised features)", features + ["intercept"],
                           [("sluice", np.append(w, b)),
                            ("sklearn newton", np.append(w_ref, b_ref)),
                            ("sklearn lbfgs", np.append(lbfgs.coef_[0], lbfgs.intercept_[0]))])
    margin = X @ w + b
    probability = 1.0 / (1.0 + np.exp(-margin))
    print(f"\nobjective  sluice {objective(X, y, w, b):.15g}   "
          f"sklearn newton {objective(X, y, w_ref, b_ref):.15g}   "
          f"sklearn lbfgs {objective(X, y, lbfgs.coef_[0], lbfgs.intercept_[0]):.15g}")
    lbfgs_error = lib.Checks.relative(lbfgs.coef_[0], w_ref)
    print(f"lbfgs vs newton-cholesky coefficients: max rel {lbfgs_error:.2e} (lbfgs stops early)")
    print(f"iterations sluice {int(metrics['iterations'])}   sklearn newton {newton.n_iter_[0]}   "
          f"sklearn lbfgs {lbfgs.n_iter_[0]}")
    print(f"metrics    sluice log_loss={metrics['log_loss']:.12g} accuracy={metrics['accuracy']:.6g} "
          f"auc={metrics['auc']:.12g}")
    print(f"           sklearn.metrics on sluice's probabilities: "
          f"log_loss={log_loss(y, probability):.12g} accuracy={accuracy_score(y, probability >= 0.5):.6g} "
          f"auc={roc_auc_score(y, margin):.12g}")

    checks = lib.Checks()
    checks.rel("coefficients vs LogisticRegression (newton-cholesky)", w, w_ref, 1e-6)
    checks.rel("intercept vs LogisticRegression (newton-cholesky)", b, b_ref, 1e-6)
    checks.rel("metric auc vs roc_auc_score", metrics["auc"], roc_auc_score(y, margin), 1e-12)
    checks.rel("metric log_loss vs sklearn log_loss", metrics["log_loss"], log_loss(y, probability), 1e-10)
    checks.equal("metric accuracy vs accuracy_score", metrics["accuracy"],
                 accuracy_score(y, probability >= 0.5))
    checks.at_most("sluice objective - lbfgs objective (lbfgs is not better)",
                   objective(X, y, w, b) - objective(X, y, lbfgs.coef_[0], lbfgs.intercept_[0]), 1e-9)
    checks.finish()


if __name__ == "__main__":
    main()
