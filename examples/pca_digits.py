#!/usr/bin/python3
"""PCA (10 components) of scikit-learn's digits (1797 images of 8x8 pixels), with Sluice and with
scikit-learn, side by side.

Reference: PCA(n_components=10, svd_solver="full"). ("auto" would pick the randomized solver for
this shape, which is an approximation.) An eigenvector's sign is arbitrary, so scikit-learn's
components are compared after flipping each to Sluice's documented sign (the largest-|loading|
entry positive), and that rule is checked on Sluice's components exactly.
"""

import os

import numpy as np
from sklearn.decomposition import PCA

import example_lib as lib

COMPONENTS = 10


def main():
    args = lib.parse_args(__doc__.splitlines()[0])
    X, features = lib.digits()

    with lib.WorkDir(args.workdir, "pca") as work:
        sizes = lib.split_sizes(len(X), [3, 8, 1, 5, 2])
        lib.write_lake(os.path.join(work, "lake"), {n: X[:, j] for j, n in enumerate(features)}, sizes)
        print(f"lake: {len(sizes)} partitions of {sizes} rows")
        job = lib.write_job(os.path.join(work, "job.toml"),
                            lake={"path": "lake", "block_rows": 200},
                            model={"kind": "pca", "features": features, "components": COMPONENTS},
                            publish={"registry": "registry", "name": "digits-pca"})
        snapshot, _ = lib.run_job(args.sluice, job, args.ranks)
        params, _, _ = lib.read_model(snapshot)

    reference = PCA(n_components=COMPONENTS, svd_solver="full").fit(X)
    components = params["components"]
    ref = reference.components_.copy()
    largest = np.argmax(np.abs(ref), axis=1)
    ref *= np.sign(ref[np.arange(COMPONENTS), largest])[:, None]  # Sluice's sign rule
    lib.print_side_by_side(
        "components", [f"pc{c}" for c in range(COMPONENTS)],
        [("sluice var", params["explained_variance"]), ("sklearn var", reference.explained_variance_),
         ("sluice ratio", params["explained_variance_ratio"]),
         ("sklearn ratio", reference.explained_variance_ratio_),
         ("max|loading d|", np.max(np.abs(components - ref), axis=1))], fmt="{:>14.8g}")
    print(f"\ntotal explained ratio: sluice {params['explained_variance_ratio'].sum():.12f}   "
          f"sklearn {reference.explained_variance_ratio_.sum():.12f}")

    rows = np.arange(COMPONENTS)
    pivot = np.argmax(np.abs(components), axis=1)
    scores = (X - params["mean"]) @ components.T
    checks = lib.Checks()
    checks.abs("components vs PCA (sign-aligned)", components, ref, 1e-8)
    checks.rel("explained_variance vs PCA", params["explained_variance"],
               reference.explained_variance_, 1e-10)
    checks.rel("explained_variance_ratio vs PCA", params["explained_variance_ratio"],
               reference.explained_variance_ratio_, 1e-10)
    checks.rel("mean vs PCA.mean_", params["mean"], reference.mean_, 1e-13)
    checks.equal("sign rule: largest-|loading| entry > 0", np.all(components[rows, pivot] > 0), True)
    checks.rel("scores (X-mean)@components.T vs PCA.transform (sign-aligned)", scores,
               reference.transform(X) * np.sign(reference.components_[rows, largest]), 1e-8)
    checks.finish()


if __name__ == "__main__":
    main()
