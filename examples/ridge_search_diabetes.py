#!/usr/bin/python3
"""Ridge with a cross-validated alpha search on scikit-learn's diabetes data (442 rows, 10
features, already centred and scaled by scikit-learn), with Sluice and with scikit-learn.

Sluice runs one pass over the lake: every alpha is tried on every fold (fold_by = "partition":
each partition is wholly in one fold), the alpha with the lowest mean validation MSE is chosen, and
the model is refitted on all rows with it.

Which fold a partition lands in comes from a hash of its path (not documented as a formula), so
this script recovers it from the snapshot itself: for each fold, the set of partitions whose
held-out MSE (a model fitted on all the other partitions) reproduces the fold's published MSE.
Any of the 2^P - 2 candidate sets could match; exactly one does, to ~1e-15. With that membership
scikit-learn's cross_val_score (PredefinedSplit) recomputes the whole folds x alphas table, and
the refit is compared with Ridge(alpha=<chosen>) on all rows.
"""

import itertools
import os
import warnings

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import PredefinedSplit, cross_val_score

import example_lib as lib

ALPHAS = [1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0]
FOLDS = 4
# A seed under which the 8 partition paths below hash into all 4 folds (seeds 0, 2 and 3, say, leave a
# fold empty, which Sluice refuses with "fold f of 4 holds no rows; lower model.folds").
SEED = 1


def held_out_mse(X_parts, y_parts, held_out, alpha):
    """MSE on the partitions `held_out` of Ridge(alpha) fitted on the others (numpy, closed form)."""
    train = [p for p in range(len(X_parts)) if p not in held_out]
    X = np.vstack([X_parts[p] for p in train])
    y = np.concatenate([y_parts[p] for p in train])
    mean_x, mean_y = X.mean(axis=0), y.mean()
    Xc = X - mean_x
    w = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(X.shape[1]), Xc.T @ (y - mean_y))
    b = mean_y - mean_x @ w
    Xv = np.vstack([X_parts[p] for p in held_out])
    yv = np.concatenate([y_parts[p] for p in held_out])
    return float(np.mean((yv - Xv @ w - b) ** 2))


def recover_folds(X_parts, y_parts, table, alpha):
    """For each fold (a row of `table`), the one set of partitions whose held-out MSE matches."""
    num_parts = len(X_parts)
    subsets = [set(c) for r in range(1, num_parts) for c in itertools.combinations(range(num_parts), r)]
    folds = []
    for f, published in enumerate(table):
        errors = sorted((abs(held_out_mse(X_parts, y_parts, s, alpha) - published) / published, i)
                        for i, s in enumerate(subsets))
        (best, i), (second, _) = errors[0], errors[1]
        print(f"fold {f}: partitions {sorted(subsets[i])} (relative mismatch {best:.1e}; "
              f"next-best set {second:.1e})")
        folds.append((subsets[i], best, second))
    return folds


def main():
    args = lib.parse_args(__doc__.splitlines()[0])
    data = load_diabetes()
    X = np.asarray(data.data, dtype=np.float64)
    y = np.asarray(data.target, dtype=np.float64)
    features = list(data.feature_names)
    print(f"diabetes: {X.shape[0]} rows, features {features}")

    sizes = lib.split_sizes(len(y), [6, 2, 9, 4, 1, 7, 3, 5])
    with lib.WorkDir(args.workdir, "ridge-search") as work:
        columns = {name: X[:, j] for j, name in enumerate(features)}
        columns["progression"] = y
        paths = lib.write_lake(os.path.join(work, "lake"), columns, sizes)
        print(f"lake: {len(sizes)} partitions of {sizes} rows")
        job = lib.write_job(os.path.join(work, "job.toml"),
                            lake={"path": "lake", "block_rows": 64},
                            model={"kind": "ridge", "features": features, "label": "progression",
                                   "alpha": ALPHAS, "folds": FOLDS, "fold_by": "partition",
                                   "seed": SEED},
                            publish={"registry": "registry", "name": "diabetes-ridge"})
        snapshot, _ = lib.run_job(args.sluice, job, args.ranks)
        params, metrics, lineage = lib.read_model(snapshot)
    assert lineage == paths, (lineage, paths)

    table = params["search_validation_mse"]
    mean_mse = params["search_mean_mse"]
    chosen = float(params["alpha"])
    print("\nvalidation MSE, folds x alphas (sluice)")
    print("alpha    " + "".join(f"{a:>11.4g}" for a in ALPHAS))
    for f, row in enumerate(table):
        print(f"fold {f}   " + "".join(f"{v:>11.2f}" for v in row))
    print("mean     " + "".join(f"{v:>11.2f}" for v in mean_mse))
    print(f"chosen alpha {chosen:g} (best_validation_mse {metrics['best_validation_mse']:.6f})\n")

    starts = np.cumsum([0] + sizes)
    X_parts = [X[starts[p]:starts[p + 1]] for p in range(len(sizes))]
    y_parts = [y[starts[p]:starts[p + 1]] for p in range(len(sizes))]
    folds = recover_folds(X_parts, y_parts, table[:, ALPHAS.index(1.0)], 1.0)
    members = [p for fold, _, _ in folds for p in fold]
    test_fold = np.concatenate([np.full(sizes[p], next(f for f, (fold, _, _) in enumerate(folds)
                                                       if p in fold)) for p in range(len(sizes))])
    reference_table = np.column_stack([
        -cross_val_score(Ridge(alpha=a), X, y, cv=PredefinedSplit(test_fold),
                         scoring="neg_mean_squared_error") for a in ALPHAS])
    reference_choice = ALPHAS[int(np.argmin(reference_table.mean(axis=0)))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refit = Ridge(alpha=chosen).fit(X, y)
    lib.print_side_by_side(f"refit on all rows, alpha = {chosen:g}", features + ["intercept"],
                           [("sluice", np.append(params["coefficients"], params["intercept"])),
                            ("sklearn Ridge", np.append(refit.coef_, refit.intercept_))])

    checks = lib.Checks()
    checks.equal("recovered folds partition the partitions", sorted(members), list(range(len(sizes))))
    checks.at_most("worst fold-membership mismatch (relative)", max(b for _, b, _ in folds), 1e-10)
    checks.at_least("closest other candidate set's mismatch", min(s for _, _, s in folds), 1e-6)
    checks.rel("folds x alphas table vs cross_val_score(PredefinedSplit)", table, reference_table, 1e-8)
    checks.rel("search_mean_mse vs table mean", mean_mse, table.mean(axis=0), 1e-14)
    checks.equal("chosen alpha vs argmin of sklearn's mean MSE", chosen, reference_choice)
    checks.equal("metric best_validation_mse = search_mean_mse[chosen]", metrics["best_validation_mse"],
                 mean_mse[ALPHAS.index(chosen)])
    checks.rel("refit coefficients vs Ridge(alpha=chosen)", params["coefficients"], refit.coef_, 1e-8)
    checks.rel("refit intercept vs Ridge(alpha=chosen)", params["intercept"], refit.intercept_, 1e-8)
    checks.finish()


if __name__ == "__main__":
    main()
