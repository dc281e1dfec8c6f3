"""The model kinds end to end: logistic, k-means, PCA and the ridge alpha search against
scikit-learn on lakes written with h5py; identical model bits at 1-4 ranks and with threads;
`sluice predict` for every kind against numpy; bad input refused with its class's exit code and
the registry untouched.

Every comparison prints its measured error on stderr ("measured: ..."), so a passing run also
documents how close each one came.
"""

import itertools
import os
import sys
import warnings

import h5py
import numpy as np

import sluice_e2e as e2e

# Five partitions of uneven size (20,000 rows), under Hive-style part=NN directories, with the
# storage variants mixed: the reader's paths must not matter to any model.
SIZES = [6100, 2300, 4800, 900, 5900]
STORAGE = ["contiguous", "gzip", "contiguous", "fletcher32", "gzip_fletcher32"]
PATHS = [f"part={p:02d}/data.h5" for p in range(len(SIZES))]
# A multiple of the engine's 2048-row tiles: partitions span one or more blocks, most of them
# ending in a partial one.
BLOCK_ROWS = 4096

LOGISTIC_FEATURES = [f"x{j}" for j in range(6)]
LOGISTIC_W = np.array([0.8, -1.2, 0.5, 1.0, -0.6, 0.3])
LOGISTIC_B = -0.4
# Raw features spanning five decades of scale, with offsets: a badly conditioned problem that the
# fit must still solve to the optimum.
RAW_SCALES = np.array([1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3])
RAW_OFFSETS = np.array([0.05, -0.3, 2.0, 40.0, -150.0, 2500.0])

KMEANS_FEATURES = [f"k{j}" for j in range(5)]
BLOB_FEATURES = [f"b{j}" for j in range(3)]
PCA_FEATURES = [f"p{j}" for j in range(8)]
PCA_VARIANCES = np.array([30.0, 15.0, 8.0, 4.0, 2.0, 1.0, 0.5, 0.25])
RIDGE_FEATURES = [f"r{j}" for j in range(5)]
SEARCH_ALPHAS = [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0]
# fold_by = "partition" needs every fold to get a partition: seed 2 spreads PATHS over 3 folds,
# seed 0 leaves fold 2 empty (the fold of a partition is a hash of its path and the seed).
PARTITION_FOLDS, PARTITION_FOLD_SEED, EMPTY_FOLD_SEED = 3, 2, 0


def measured(what, error, tolerance):
    """Logs a comparison's measured error (the report of a passing run)."""
    print(f"  measured: {what}: {error:.3e} (tolerance {tolerance:.0e})", file=sys.stderr)


def max_rel(actual, expected):
    """Elementwise max |actual - expected| / |expected|."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    return float(np.max(np.abs(actual - expected) / np.abs(expected)))


def assert_rel(testcase, actual, expected, rtol, what):
    testcase.assertEqual(np.shape(actual), np.shape(expected), what)
    measured(what, max_rel(actual, expected), rtol)
    e2e.assert_rel_close(testcase, np.ravel(actual), np.ravel(expected), rtol, what)


def assert_abs(testcase, actual, expected, atol, what):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    testcase.assertEqual(actual.shape, expected.shape, what)
    error = float(np.max(np.abs(actual - expected)))
    measured(what, error, atol)
    testcase.assertLessEqual(error, atol, f"{what}: max abs error {error:.3e} > {atol}\n"
                                          f"{actual!r}\nvs\n{expected!r}")


# ---------------------------------------------------------------- lakes


def write_lake(root, columns):
    """Splits the table `columns` (name -> 1-D array of 20,000 values) into the SIZES partitions."""
    starts = np.cumsum([0] + SIZES)
    for p, relative in enumerate(PATHS):
        e2e.write_partition(os.path.join(root, relative),
                            {n: np.asarray(v)[starts[p]:starts[p + 1]] for n, v in columns.items()},
                            STORAGE[p])
    return root


def sigmoid(m):
    return 1.0 / (1.0 + np.exp(-m))


def logistic_tables(rng):
    """(standardised X, raw X, y): y ~ Bernoulli(sigmoid(z . w + b)) of the standardised z; the raw
    features are z * RAW_SCALES + RAW_OFFSETS (the same information, badly scaled)."""
    n = sum(SIZES)
    mixing = np.eye(6) + 0.3 * rng.normal(size=(6, 6))
    X = rng.normal(size=(n, 6)) @ mixing
    z = (X - X.mean(axis=0)) / X.std(axis=0)
    y = (rng.random(n) < sigmoid(z @ LOGISTIC_W + LOGISTIC_B)).astype(np.float64)
    return z, z * RAW_SCALES + RAW_OFFSETS, y


def kmeans_mixture(rng):
    """Six overlapping Gaussian clusters in 5-D: Lloyd needs many iterations from any start."""
    n = sum(SIZES)
    centres = rng.normal(scale=2.0, size=(6, 5))
    return centres[rng.integers(0, 6, n)] + rng.normal(size=(n, 5))


def kmeans_blobs(rng):
    """Five well-separated blobs in 3-D (centres >= 20 apart, unit spread)."""
    n = sum(SIZES)
    centres = np.array([[0, 0, 0], [25, 0, 0], [0, 25, 0], [0, 0, 25], [25, 25, 25]], dtype=np.float64)
    return centres[rng.integers(0, 5, n)] + rng.normal(size=(n, 3)) + np.array([3.0, -7.0, 1.5])


def pca_table(rng):
    """8-D data with distinct known variances along a random rotation, and a non-zero mean."""
    n = sum(SIZES)
    rotation, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    return (rng.normal(size=(n, 8)) * np.sqrt(PCA_VARIANCES)) @ rotation.T + rng.normal(scale=5.0, size=8)


def ridge_table(rng):
    n = sum(SIZES)
    X = rng.normal(size=(n, 5)) * np.array([1.0, 2.0, 0.5, 1.0, 3.0])
    y = X @ np.array([0.3, -0.2, 0.05, 0.0, 0.1]) + 1.0 + rng.normal(scale=2.0, size=n)
    return X, y


class Lakes:
    """The lakes every test reads (written once, in setUpModule), with their rows in numpy."""

    dir = None


def setUpModule():
    Lakes.dir = e2e.TemporaryDirectory("models")
    root = Lakes.dir.name
    rng = np.random.default_rng(2026)
    Lakes.z, Lakes.raw, Lakes.y = logistic_tables(rng)
    Lakes.logistic = write_lake(os.path.join(root, "logistic"),
                                {**{n: Lakes.z[:, j] for j, n in enumerate(LOGISTIC_FEATURES)},
                                 "y": Lakes.y})
    Lakes.logistic_raw = write_lake(os.path.join(root, "logistic_raw"),
                                    {**{n: Lakes.raw[:, j] for j, n in enumerate(LOGISTIC_FEATURES)},
                                     "y": Lakes.y})
    Lakes.mixture = kmeans_mixture(rng)
    Lakes.kmeans = write_lake(os.path.join(root, "kmeans"),
                              {n: Lakes.mixture[:, j] for j, n in enumerate(KMEANS_FEATURES)})
    Lakes.blob_rows = kmeans_blobs(rng)
    Lakes.blobs = write_lake(os.path.join(root, "blobs"),
                             {n: Lakes.blob_rows[:, j] for j, n in enumerate(BLOB_FEATURES)})
    Lakes.pca_rows = pca_table(rng)
    Lakes.pca = write_lake(os.path.join(root, "pca"),
                           {n: Lakes.pca_rows[:, j] for j, n in enumerate(PCA_FEATURES)})
    Lakes.ridge_X, Lakes.ridge_y = ridge_table(rng)
    Lakes.ridge = write_lake(os.path.join(root, "ridge"),
                             {**{n: Lakes.ridge_X[:, j] for j, n in enumerate(RIDGE_FEATURES)},
                              "y": Lakes.ridge_y})


def tearDownModule():
    Lakes.dir.cleanup()


def partition_rows(X):
    starts = np.cumsum([0] + SIZES)
    return [X[starts[p]:starts[p + 1]] for p in range(len(SIZES))]


class ModelTestCase(e2e.TempDirTestCase):
    def job(self, name, lake, model, run=None, select=None, **lake_keys):
        return e2e.write_job(self.path(f"{name}.toml"),
                             lake={"path": lake, "block_rows": BLOCK_ROWS, **lake_keys},
                             model=model, publish={"registry": self.path("registry"), "name": name},
                             select=select, run=run)

    def fit(self, name, lake, model, ranks=None, threads=None, **lake_keys):
        job = self.job(name, lake, model, **lake_keys)
        _, snap = e2e.run_job(self, job, e2e.Config.ranks if ranks is None else ranks, threads=threads)
        return snap


# ---------------------------------------------------------------- logistic


def logistic_reference(X, y, C):
    """scikit-learn's exact-Newton solver. (Its default, lbfgs, stops on a relative decrease of
    64 eps, ~1e-4 short of the optimum in the coefficients even at tol=1e-12.)"""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a reference that stopped early is no reference
        model = LogisticRegression(C=C, tol=1e-12, max_iter=10000, solver="newton-cholesky").fit(X, y)
    return model.coef_[0], float(model.intercept_[0])


def logistic_objective(X, y, w, b, C):
    """scikit-learn's objective divided by C: Σ log-loss + ‖w‖²/(2C)."""
    m = X @ w + b
    return float(np.sum(np.logaddexp(0.0, np.where(y == 1, -m, m))) + w @ w / (2 * C))


class LogisticTest(ModelTestCase):
    def check(self, name, lake, X, C, tol):
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

        y = Lakes.y
        snap = self.fit(name, lake, {"kind": "logistic", "features": LOGISTIC_FEATURES, "label": "y",
                                     "C": C, "tol": tol})
        self.assertEqual(snap["kind"], "logistic")
        self.assertEqual(snap["outputs"], ["probability", "class"])
        w, b = snap["coefficients"], snap["intercept"]
        w_ref, b_ref = logistic_reference(X, y, C)
        assert_rel(self, w, w_ref, 1e-6, f"{name}: coefficients vs LogisticRegression(newton-cholesky)")
        assert_rel(self, b, b_ref, 1e-6, f"{name}: intercept vs LogisticRegression(newton-cholesky)")
        # lbfgs, scikit-learn's default, ends at a higher objective: the difference is its own.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lbfgs = LogisticRegression(C=C, tol=1e-12, max_iter=10000).fit(X, y)
        lbfgs_excess = (logistic_objective(X, y, lbfgs.coef_[0], lbfgs.intercept_[0], C)
                        - logistic_objective(X, y, w, b, C))
        print(f"  measured: {name}: lbfgs coefficients vs Newton {max_rel(lbfgs.coef_[0], w_ref):.3e}, "
              f"objective above Sluice's by {lbfgs_excess:.3e}", file=sys.stderr)
        self.assertGreaterEqual(lbfgs_excess, -1e-9 * logistic_objective(X, y, w, b, C))

        margin = X @ w + b
        probability = sigmoid(margin)
        metrics = snap["metrics"]
        # AUC is a function of the ranking: compare on the margins (sigmoid can tie distinct ones).
        auc = roc_auc_score(y, margin)
        measured(f"{name}: auc vs roc_auc_score", abs(metrics["auc"] - auc), 1e-12)
        self.assertAlmostEqual(metrics["auc"], auc, delta=1e-12)
        self.assertEqual(metrics["accuracy"], accuracy_score(y, probability >= 0.5))
        assert_rel(self, metrics["log_loss"], log_loss(y, probability), 1e-10, f"{name}: log_loss vs sklearn")
        self.assertEqual(metrics["num_rows"], len(y))
        self.assertEqual(snap["partitions"], PATHS)
        self.assertEqual(snap["partition_rows"], SIZES)
        # One history row per objective evaluation (line-search halvings included), the last at
        # the published point after the last Newton step.
        history = snap["history"]
        self.assertGreaterEqual(len(history["objective"]), metrics["iterations"] + 1)
        self.assertEqual(history["iteration"][-1], metrics["iterations"])
        assert_rel(self, history["objective"][-1], logistic_objective(X, y, w, b, C), 1e-10,
                   f"{name}: last history objective")
        return snap

    def test_standardised_features_match_sklearn(self):
        # The default tol (1e-8 on the mean gradient's largest entry) is enough for 1e-6.
        self.check("standardised", Lakes.logistic, Lakes.z, C=1.0, tol=1e-8)

    def test_badly_scaled_raw_features_match_sklearn(self):
        self.check("raw", Lakes.logistic_raw, Lakes.raw, C=0.5, tol=1e-10)

    def test_without_intercept(self):
        snap = self.fit("noint", Lakes.logistic, {"kind": "logistic", "features": LOGISTIC_FEATURES,
                                                  "label": "y", "fit_intercept": False})
        from sklearn.linear_model import LogisticRegression
        ref = LogisticRegression(C=1.0, tol=1e-12, max_iter=10000, solver="newton-cholesky",
                                 fit_intercept=False).fit(Lakes.z, Lakes.y)
        assert_rel(self, snap["coefficients"], ref.coef_[0], 1e-6, "no intercept: coefficients")
        self.assertEqual(snap["intercept"], 0.0)

    def test_allow_no_convergence_publishes_the_last_point(self):
        snap = self.fit("capped", Lakes.logistic, {"kind": "logistic", "features": LOGISTIC_FEATURES,
                                                   "label": "y", "max_iter": 1,
                                                   "allow_no_convergence": True})
        self.assertEqual(snap["metrics"]["iterations"], 1)
        # The published point is one full Newton step from w = 0, b = 0 (p = 1/2 everywhere):
        # gradient [Xᵀ(1/2 - y); Σ(1/2 - y)], Hessian [X 1]ᵀ[X 1]/4 + I/C on the coefficients.
        X1 = np.column_stack([Lakes.z, np.ones(len(Lakes.y))])
        hessian = X1.T @ X1 / 4 + np.diag([1.0] * 6 + [0.0])
        step = -np.linalg.solve(hessian, X1.T @ (0.5 - Lakes.y))
        assert_rel(self, np.append(snap["coefficients"], snap["intercept"]), step, 1e-10,
                   "max_iter = 1: one Newton step from zero")
        w_ref, _ = logistic_reference(Lakes.z, Lakes.y, 1.0)
        self.assertGreater(max_rel(snap["coefficients"], w_ref), 1e-3, "one step is not the optimum")


# ---------------------------------------------------------------- k-means


class KMeansTest(ModelTestCase):
    def test_lloyd_from_sluice_start_matches_sklearn(self):
        from sklearn.cluster import KMeans

        X = Lakes.mixture
        snap = self.fit("mixture", Lakes.kmeans, {"kind": "kmeans", "features": KMEANS_FEATURES,
                                                  "k": 6, "tol": 0.0, "seed": 4})
        params, metrics = snap["params"], snap["metrics"]
        self.assertEqual(snap["outputs"], ["cluster", "distance"])
        self.assertEqual(params["centers"].shape, (6, 5))
        ref = KMeans(n_clusters=6, init=params["initial_centers"], n_init=1, tol=0.0, max_iter=300,
                     algorithm="lloyd").fit(X)
        assert_abs(self, params["centers"], ref.cluster_centers_, 1e-9,
                   "k-means centres vs KMeans(init=initial_centers, tol=0)")
        assert_rel(self, metrics["inertia"], ref.inertia_, 1e-10, "k-means inertia vs KMeans")
        np.testing.assert_array_equal(params["cluster_sizes"], np.bincount(ref.labels_, minlength=6))
        self.assertEqual(metrics["converged"], 1.0)
        self.assertEqual(metrics["iterations"], ref.n_iter_)
        self.assertGreater(metrics["iterations"], 3, "a start this close to the optimum tests little")
        self.assertEqual(metrics["num_rows"], len(X))
        # The history's inertia is each Lloyd pass's (at the centres it started from): decreasing.
        inertia = snap["history"]["inertia"]
        self.assertEqual(len(inertia), metrics["iterations"])
        self.assertTrue(np.all(np.diff(inertia) <= 1e-9 * inertia[0]), inertia)

    def test_well_separated_blobs_reach_sklearn_best_of_10(self):
        from sklearn.cluster import KMeans

        X = Lakes.blob_rows
        snap = self.fit("blobs", Lakes.blobs, {"kind": "kmeans", "features": BLOB_FEATURES, "k": 5})
        best = KMeans(n_clusters=5, n_init=10, random_state=0).fit(X)
        assert_rel(self, snap["metrics"]["inertia"], best.inertia_, 1e-6,
                   "blob inertia vs KMeans best of 10")
        # The same partition of the rows: sizes equal after matching centres to centres.
        order = [int(np.argmin(np.linalg.norm(best.cluster_centers_ - c, axis=1)))
                 for c in snap["params"]["centers"]]
        self.assertEqual(sorted(order), list(range(5)))
        np.testing.assert_array_equal(snap["params"]["cluster_sizes"],
                                      np.bincount(best.labels_, minlength=5)[order])

    def test_k_equal_to_the_rows(self):
        # Two tiny partitions, 12 rows, k = 12: every row its own centre, inertia 0.
        rng = np.random.default_rng(5)
        rows = rng.normal(size=(12, 2))
        e2e.write_partition(self.path("tiny", "part=00", "data.h5"), {"a": rows[:7, 0], "b": rows[:7, 1]})
        e2e.write_partition(self.path("tiny", "part=01", "data.h5"), {"a": rows[7:, 0], "b": rows[7:, 1]})
        snap = self.fit("tiny", self.path("tiny"), {"kind": "kmeans", "features": ["a", "b"], "k": 12})
        centres = snap["params"]["centers"]
        self.assertEqual(sorted(map(tuple, centres)), sorted(map(tuple, rows)))
        self.assertEqual(snap["metrics"]["inertia"], 0.0)
        np.testing.assert_array_equal(snap["params"]["cluster_sizes"], np.ones(12))


# ---------------------------------------------------------------- PCA


class PcaTest(ModelTestCase):
    def test_components_and_variance_match_sklearn(self):
        from sklearn.decomposition import PCA

        X = Lakes.pca_rows
        snap = self.fit("pca", Lakes.pca, {"kind": "pca", "features": PCA_FEATURES, "components": 5})
        params = snap["params"]
        self.assertEqual(snap["outputs"], [f"pc{c}" for c in range(5)])
        self.assertEqual(params["whiten"], 0)
        components = params["components"]
        self.assertEqual(components.shape, (5, 8))
        # "full": the exact SVD ("auto" would choose the randomized solver for this shape).
        ref = PCA(n_components=5, svd_solver="full").fit(X)
        signs = np.sign(np.sum(components * ref.components_, axis=1))
        assert_abs(self, components, ref.components_ * signs[:, None], 1e-8,
                   "PCA components vs sklearn up to sign")
        # Sluice's documented sign: each component's largest-|loading| entry is positive.
        pivot = np.argmax(np.abs(components), axis=1)
        self.assertTrue(np.all(components[np.arange(5), pivot] > 0), components)
        ref_pivot = np.argmax(np.abs(ref.components_), axis=1)
        np.testing.assert_array_equal(signs, np.sign(ref.components_[np.arange(5), ref_pivot]))
        assert_rel(self, params["explained_variance"], ref.explained_variance_, 1e-10,
                   "PCA explained_variance vs sklearn")
        assert_rel(self, params["explained_variance_ratio"], ref.explained_variance_ratio_, 1e-10,
                   "PCA explained_variance_ratio vs sklearn")
        assert_abs(self, params["mean"], ref.mean_, 1e-12 * np.max(np.abs(ref.mean_)), "PCA mean vs sklearn")
        assert_rel(self, snap["metrics"]["explained_variance_ratio_total"],
                   ref.explained_variance_ratio_.sum(), 1e-10, "PCA explained_variance_ratio_total")

    def test_all_components_by_default(self):
        snap = self.fit("pcaall", Lakes.pca, {"kind": "pca", "features": PCA_FEATURES})
        params = snap["params"]
        self.assertEqual(params["components"].shape, (8, 8))
        assert_abs(self, params["components"] @ params["components"].T, np.eye(8), 1e-12,
                   "PCA components orthonormal")
        assert_rel(self, params["explained_variance_ratio"].sum(), 1.0, 1e-12, "PCA ratios sum to 1")


# ---------------------------------------------------------------- ridge search


def held_out_mse(X_parts, y_parts, held_out, alpha):
    train = [p for p in range(len(X_parts)) if p not in held_out]
    X = np.vstack([X_parts[p] for p in train])
    y = np.concatenate([y_parts[p] for p in train])
    mx, my = X.mean(axis=0), y.mean()
    w = np.linalg.solve((X - mx).T @ (X - mx) + alpha * np.eye(X.shape[1]), (X - mx).T @ (y - my))
    Xv = np.vstack([X_parts[p] for p in held_out])
    yv = np.concatenate([y_parts[p] for p in held_out])
    return float(np.mean((yv - Xv @ w - (my - mx @ w)) ** 2))


class RidgeSearchTest(ModelTestCase):
    def search_model(self, **keys):
        return {"kind": "ridge", "features": RIDGE_FEATURES, "label": "y", "alpha": SEARCH_ALPHAS,
                **keys}

    def test_refit_is_bit_identical_to_plain_ridge_with_the_chosen_alpha(self):
        search = self.fit("search", Lakes.ridge, self.search_model(folds=5, seed=3))
        params, metrics = search["params"], search["metrics"]
        table, mean_mse = params["search_validation_mse"], params["search_mean_mse"]
        self.assertEqual(table.shape, (5, len(SEARCH_ALPHAS)))
        np.testing.assert_array_equal(params["search_alphas"], SEARCH_ALPHAS)
        assert_rel(self, mean_mse, table.mean(axis=0), 1e-14, "search_mean_mse = table mean")
        best = int(np.argmin(mean_mse))
        self.assertEqual(search["alpha"], SEARCH_ALPHAS[best])
        self.assertEqual(metrics["alpha"], SEARCH_ALPHAS[best])
        self.assertEqual(metrics["best_validation_mse"], mean_mse[best])
        # The data (noise 2, small true coefficients) make an interior alpha the best.
        self.assertNotIn(best, (0, len(SEARCH_ALPHAS) - 1), mean_mse)
        self.assertEqual(params["search_folds"], 5)
        self.assertEqual(params["search_seed"], 3)

        plain = self.fit("plain", Lakes.ridge, {"kind": "ridge", "features": RIDGE_FEATURES, "label": "y",
                                                "alpha": search["alpha"]})
        self.assertEqual(search["coefficients_bytes"], plain["coefficients_bytes"],
                         f"{search['coefficients'].tolist()} vs {plain['coefficients'].tolist()}")
        self.assertEqual(search["intercept_bytes"], plain["intercept_bytes"])
        self.assertEqual(search["metrics"]["rmse"], plain["metrics"]["rmse"])
        self.assertEqual(search["kind"], "ridge")

    def test_partition_folds_reproduce_sklearn_cross_validation(self):
        from sklearn.linear_model import Ridge
        from sklearn.model_selection import PredefinedSplit, cross_val_score

        snap = self.fit("byparts", Lakes.ridge, self.search_model(
            folds=PARTITION_FOLDS, fold_by="partition", seed=PARTITION_FOLD_SEED))
        table = snap["params"]["search_validation_mse"]
        self.assertEqual(snap["params"]["search_fold_by"], "partition")
        # Which partitions form each fold: the one set whose held-out MSE matches the fold's row.
        X_parts, y_parts = partition_rows(Lakes.ridge_X), partition_rows(Lakes.ridge_y)
        subsets = [set(c) for r in range(1, len(SIZES)) for c in itertools.combinations(range(len(SIZES)), r)]
        fold_of = {}
        for f in range(PARTITION_FOLDS):
            errors = sorted((abs(held_out_mse(X_parts, y_parts, s, 1.0) - table[f, 2]) / table[f, 2], i)
                            for i, s in enumerate(subsets))
            measured(f"fold {f} membership mismatch (next-best set {errors[1][0]:.1e})", errors[0][0], 1e-12)
            self.assertLess(errors[0][0], 1e-12)
            self.assertGreater(errors[1][0], 1e-8)
            for p in subsets[errors[0][1]]:
                self.assertNotIn(p, fold_of, "a partition in two folds")
                fold_of[p] = f
        self.assertEqual(sorted(fold_of), list(range(len(SIZES))))
        test_fold = np.concatenate([np.full(SIZES[p], fold_of[p]) for p in range(len(SIZES))])
        reference = np.column_stack([
            -cross_val_score(Ridge(alpha=a), Lakes.ridge_X, Lakes.ridge_y, cv=PredefinedSplit(test_fold),
                             scoring="neg_mean_squared_error") for a in SEARCH_ALPHAS])
        assert_rel(self, table, reference, 1e-10, "partition-fold table vs cross_val_score")


# ---------------------------------------------------------------- identical bits


BITWISE_MODELS = {
    "ridge": (lambda: Lakes.ridge, {"kind": "ridge", "features": RIDGE_FEATURES, "label": "y", "alpha": 0.7}),
    "ols": (lambda: Lakes.ridge, {"kind": "ols", "features": RIDGE_FEATURES, "label": "y"}),
    "search": (lambda: Lakes.ridge, {"kind": "ridge", "features": RIDGE_FEATURES, "label": "y",
                                     "alpha": SEARCH_ALPHAS, "folds": 4}),
    "logistic": (lambda: Lakes.logistic_raw, {"kind": "logistic", "features": LOGISTIC_FEATURES,
                                              "label": "y", "tol": 1e-10}),
    "kmeans": (lambda: Lakes.kmeans, {"kind": "kmeans", "features": KMEANS_FEATURES, "k": 6, "seed": 9}),
    "pca": (lambda: Lakes.pca, {"kind": "pca", "features": PCA_FEATURES, "components": 3, "whiten": True}),
}


def model_bits(path):
    """Every float dataset and float attribute of /model, as bytes."""
    bits = {}
    with h5py.File(path, "r") as f:
        for name, dataset in f["model"].items():
            if dataset.dtype.kind == "f":
                bits[name] = np.asarray(dataset[()]).tobytes()
        for name, value in f["model"].attrs.items():
            if np.asarray(value).dtype.kind == "f":
                bits["@" + name] = np.asarray(value).tobytes()
    return bits


class BitwiseTest(ModelTestCase):
    def test_identical_model_bits_at_every_rank_count_and_with_threads(self):
        for kind, (lake, model) in BITWISE_MODELS.items():
            with self.subTest(kind=kind):
                runs = {}
                for ranks in (1, 2, 3, 4):
                    runs[f"{ranks} ranks"] = self.fit(kind, lake(), model, ranks=ranks)
                runs["2 ranks x 2 threads"] = self.fit(kind, lake(), model, ranks=2, threads=2)
                # 4 ranks x 2 threads: a rank with fewer partitions than threads shares blocks.
                runs["4 ranks x 2 threads"] = self.fit(kind, lake(), model, ranks=4, threads=2)
                for label in ("2 ranks x 2 threads", "4 ranks x 2 threads"):
                    with h5py.File(runs[label]["path"], "r") as f:
                        self.assertEqual(int(f["lineage"].attrs["threads_per_rank"]), 2, label)
                reference = model_bits(runs["1 ranks"]["path"])
                self.assertGreater(len(reference), 0)
                for label, snap in runs.items():
                    bits = model_bits(snap["path"])
                    self.assertEqual(sorted(bits), sorted(reference), label)
                    differing = [name for name in reference if bits[name] != reference[name]]
                    self.assertEqual(differing, [], f"{kind}, {label}: /model differs from 1 rank in "
                                                    f"{differing}")
                    # The metrics are computed from the same merged partials: the same values too.
                    self.assertEqual(snap["metrics"], runs["1 ranks"]["metrics"], f"{kind}, {label}")
                print(f"  measured: {kind}: {len(reference)} /model values bit-identical over {len(runs)} runs",
                      file=sys.stderr)


# ---------------------------------------------------------------- predict


class PredictTest(ModelTestCase):
    def predict(self, name, lake):
        out = self.path(f"scores-{name}")
        result = e2e.sluice(["predict", self.path("registry"), name, "--lake", lake, "--out", out,
                             "--block-rows", 1500], ranks=e2e.Config.ranks)
        self.assertEqual(result.returncode, 0, result.describe())
        self.assertIn(f"scored {sum(SIZES)} rows in {len(SIZES)} partitions", result.stdout)
        outputs = []
        for relative, rows in zip(PATHS, SIZES):
            with h5py.File(os.path.join(out, relative), "r") as f:
                columns = {k: f[k][()] for k in f if k != "_row"}
                # Without a pipeline every row is scored, in order.
                np.testing.assert_array_equal(f["_row"][()], np.arange(rows))
            for values in columns.values():
                self.assertEqual(values.dtype, np.float64)
                self.assertEqual(values.shape, (rows,))
            outputs.append(columns)
        # h5py lists a group's members by name, so the order says nothing: compare the sets.
        return {k: np.concatenate([o[k] for o in outputs]) for k in outputs[0]}, sorted(outputs[0])

    def assert_linear(self, actual, X, W, b, what):
        """actual ≈ X @ W + b to 1e-12 relative to the size of the terms summed (the sum's condition)."""
        expected = X @ W + b
        scale = np.abs(X) @ np.abs(W) + np.abs(b)
        error = float(np.max(np.abs(actual - expected) / scale))
        measured(what, error, 1e-12)
        self.assertLessEqual(error, 1e-12, what)

    def test_ridge(self):
        snap = self.fit("ridge", Lakes.ridge, {"kind": "ridge", "features": RIDGE_FEATURES, "label": "y"})
        out, names = self.predict("ridge", Lakes.ridge)
        self.assertEqual(names, ["prediction"])
        self.assert_linear(out["prediction"], Lakes.ridge_X, snap["coefficients"], snap["intercept"],
                           "predict ridge vs X@w+b")

    def test_logistic(self):
        snap = self.fit("logistic", Lakes.logistic_raw, {"kind": "logistic", "features": LOGISTIC_FEATURES,
                                                         "label": "y", "tol": 1e-10})
        out, names = self.predict("logistic", Lakes.logistic_raw)
        self.assertEqual(names, ["class", "probability"])
        margin = Lakes.raw @ snap["coefficients"] + snap["intercept"]
        assert_rel(self, out["probability"], sigmoid(margin), 1e-12, "predict logistic probability")
        np.testing.assert_array_equal(out["class"], (sigmoid(margin) >= 0.5).astype(np.float64))
        self.assertTrue(0 < out["class"].sum() < len(margin))

    def test_kmeans(self):
        snap = self.fit("kmeans", Lakes.kmeans, {"kind": "kmeans", "features": KMEANS_FEATURES, "k": 6})
        out, names = self.predict("kmeans", Lakes.kmeans)
        self.assertEqual(names, ["cluster", "distance"])
        self.assertEqual(snap["outputs"], ["cluster", "distance"])
        centres = snap["params"]["centers"]
        distances = np.sqrt(((Lakes.mixture[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2))
        np.testing.assert_array_equal(out["cluster"], np.argmin(distances, axis=1).astype(np.float64))
        assert_rel(self, out["distance"], distances.min(axis=1), 1e-12, "predict k-means distance")
        # Scoring the training rows gives back the published cluster sizes.
        np.testing.assert_array_equal(np.bincount(out["cluster"].astype(int), minlength=6),
                                      snap["params"]["cluster_sizes"])

    def test_pca(self):
        for whiten in (False, True):
            name = f"pca-whiten-{int(whiten)}"
            snap = self.fit(name, Lakes.pca, {"kind": "pca", "features": PCA_FEATURES, "components": 4,
                                              "whiten": whiten})
            out, names = self.predict(name, Lakes.pca)
            self.assertEqual(names, ["pc0", "pc1", "pc2", "pc3"])
            self.assertEqual(snap["outputs"], names)
            params = snap["params"]
            divide = np.sqrt(params["explained_variance"]) if whiten else np.ones(4)
            centred = Lakes.pca_rows - params["mean"]
            for c in range(4):
                self.assert_linear(out[f"pc{c}"] * divide[c], centred, params["components"][c], 0.0,
                                   f"predict PCA pc{c} (whiten={whiten}) vs (X-mean)@components.T")
            if whiten:
                # Whitened scores of the training rows have unit variance (n - 1 denominator).
                assert_rel(self, np.var(np.column_stack([out[n] for n in names]), axis=0, ddof=1),
                           np.ones(4), 1e-10, "whitened score variance")


# ---------------------------------------------------------------- bad input


class BadInputTest(ModelTestCase):
    """Each bad job targets a registry that already holds a good version: it must leave it as it was."""

    GOOD = {"kind": "logistic", "features": LOGISTIC_FEATURES, "label": "y"}

    def setUp(self):
        super().setUp()
        self.fit("m", Lakes.logistic, self.GOOD)
        self.before = e2e.tree_hashes(self.path("registry"))

    def refused(self, model, *substrings, code, lake=None, select=None):
        job = self.job("m", lake or Lakes.logistic, model, select=select)
        result = e2e.sluice(["run", job], ranks=e2e.Config.ranks)
        line = e2e.expect_error(self, result, *substrings, code=code)
        self.assertEqual(e2e.tree_hashes(self.path("registry")), self.before,
                         "a refused job changed the registry\n" + result.describe())
        self.assertEqual(e2e.current(self.path("registry"), "m"), "v000001.h5\n")
        return line

    def test_configuration_errors(self):
        job_file = "m.toml"
        cases = [
            ({**self.GOOD, "kind": "svm"},
             ["'model.kind' must be one of 'ridge', 'ols', 'pca', 'kmeans', 'logistic', got 'svm'"]),
            ({**self.GOOD, "Cc": 1.0}, ["unknown key 'model.Cc'"]),
            ({**self.GOOD, "C": 0.0}, ["'model.C' must be a finite number > 0"]),
            ({**self.GOOD, "tol": -1.0}, ["'model.tol' must be a finite number > 0"]),
            ({**self.GOOD, "max_iter": 0}, ["'model.max_iter' must be an integer >= 1, got 0"]),
            ({"kind": "kmeans", "features": KMEANS_FEATURES, "k": 0}, ["'model.k' must be 1..1000000, got 0"]),
            ({"kind": "kmeans", "features": KMEANS_FEATURES, "k": 3, "tol": -1.0},
             ["'model.tol' must be a finite number >= 0"]),
            ({"kind": "kmeans", "features": KMEANS_FEATURES, "k": 3, "max_iter": 0},
             ["'model.max_iter' must be an integer >= 1, got 0"]),
            ({"kind": "kmeans", "features": KMEANS_FEATURES, "k": 3, "label": "y"},
             ["'model.label' is not used by kind = 'kmeans'"]),
            ({"kind": "pca", "features": LOGISTIC_FEATURES, "components": 7},
             ["'model.components' must be 1..6 (the number of features), got 7"]),
            ({"kind": "ridge", "features": RIDGE_FEATURES, "label": "y", "alpha": [1.0, -2.0]},
             ["'model.alpha' must hold finite numbers >= 0, got -2"]),
        ]
        for model, substrings in cases:
            with self.subTest(model=model):
                self.refused(model, job_file, *substrings, code=e2e.EXIT_CONFIGURATION)

    def test_logistic_label_outside_0_1_names_the_partition_and_value(self):
        lake = self.path("badlabel")
        shutil_copy_lake(Lakes.logistic, lake)
        with h5py.File(os.path.join(lake, "part=03", "data.h5"), "a") as f:
            y = f["y"][()]
            y[17] = 2.0
            del f["y"]
            f.create_dataset("y", data=y)
        self.refused(self.GOOD, os.path.join(lake, "part=03", "data.h5"),
                     "label column 'y' holds 2 at row 17", "needs 0 or 1",
                     code=e2e.EXIT_DATA, lake=lake)

    def test_k_larger_than_the_rows(self):
        lake = self.path("tiny")
        e2e.write_partition(os.path.join(lake, "part=00", "data.h5"), {"a": np.arange(7.0), "b": np.ones(7)})
        e2e.write_partition(os.path.join(lake, "part=01", "data.h5"), {"a": np.arange(5.0), "b": np.zeros(5)})
        self.refused({"kind": "kmeans", "features": ["a", "b"], "k": 13},
                     "model.k = 13 is larger than the 12 usable rows", code=e2e.EXIT_DATA, lake=lake)

    def test_logistic_non_convergence(self):
        self.refused({**self.GOOD, "max_iter": 1}, "logistic regression did not converge in 1 iterations",
                     "allow_no_convergence", code=e2e.EXIT_NUMERICAL)

    def test_empty_selection(self):
        # No partition selected: refused before any model kind is involved.
        self.refused(self.GOOD, f'no partitions in lake "{Lakes.logistic}" match glob', "with part in [99]",
                     code=e2e.EXIT_DATA, select={"part": "99"})

    def test_selected_partitions_without_rows(self):
        # A partition of zero rows is selected: every kind must refuse to fit nothing (one rank of
        # two gets no partition at all).
        lake = self.path("empty")
        e2e.write_partition(os.path.join(lake, "part=00", "data.h5"),
                            {n: np.zeros(0) for n in LOGISTIC_FEATURES + ["y"]})
        cases = [
            (self.GOOD, "the selected partitions hold no usable rows"),
            ({"kind": "ridge", "features": LOGISTIC_FEATURES, "label": "y"},
             "the selected partitions hold no usable rows"),
            ({"kind": "ridge", "features": LOGISTIC_FEATURES, "label": "y", "alpha": [0.1, 1.0]},
             "the selected partitions hold no usable rows"),
            ({"kind": "kmeans", "features": LOGISTIC_FEATURES, "k": 2},
             "model.k = 2 is larger than the 0 usable rows"),
            ({"kind": "pca", "features": LOGISTIC_FEATURES},
             "PCA needs at least 2 usable rows, the selected partitions hold 0"),
        ]
        for model, message in cases:
            with self.subTest(model=model):
                self.refused(model, message, code=e2e.EXIT_DATA, lake=lake)

    def test_partition_folds_with_an_empty_fold(self):
        self.refused({"kind": "ridge", "features": RIDGE_FEATURES, "label": "y", "alpha": SEARCH_ALPHAS,
                      "folds": PARTITION_FOLDS, "fold_by": "partition", "seed": EMPTY_FOLD_SEED},
                     "fold 2 of 3 holds no rows; lower model.folds", code=e2e.EXIT_DATA, lake=Lakes.ridge)


def shutil_copy_lake(source, target):
    import shutil

    shutil.copytree(source, target)


if __name__ == "__main__":
    e2e.main()
