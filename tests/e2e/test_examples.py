"""The scripts in examples/ run at 2 ranks and every comparison they make with scikit-learn is
within its tolerance (each script exits 1 otherwise)."""

import os
import re
import subprocess
import sys

import h5py

import sluice_e2e as e2e

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "examples")
RANKS = 2
TIMEOUT_S = 120

# script -> (registry model name, number of comparisons it reports)
SCRIPTS = {
    "logistic_breast_cancer.py": ("breast-cancer", 6),
    "kmeans_digits.py": ("digits-kmeans", 6),
    "pca_digits.py": ("digits-pca", 6),
    "ridge_search_diabetes.py": ("diabetes-ridge", 9),
}


class ExamplesTest(e2e.TempDirTestCase):
    def run_example(self, script):
        name, num_checks = SCRIPTS[script]
        workdir = self.path("work")
        env = e2e.environment()
        # The scripts take mpirun from PATH: make it the one CTest was configured with.
        mpiexec = os.path.abspath(e2e.Config.mpiexec) if os.sep in e2e.Config.mpiexec else None
        if mpiexec:
            env["PATH"] = os.path.dirname(mpiexec) + os.pathsep + env.get("PATH", "")
        command = [sys.executable, os.path.join(EXAMPLES, script), "--sluice", e2e.Config.sluice,
                   "--ranks", str(RANKS), "--workdir", workdir]
        try:
            result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired as timeout:
            raise AssertionError(f"{script} timed out after {TIMEOUT_S} s\n{timeout.stdout}\n{timeout.stderr}")
        described = e2e.Result(command, result.returncode, result.stdout, result.stderr).check_sanitizers().describe()
        if e2e.Config.verbose:
            print(result.stdout, file=sys.stderr)
        self.assertEqual(result.returncode, 0, described)
        self.assertIn(f"\nall {num_checks} comparisons within tolerance\n", result.stdout, described)
        self.assertNotIn("MISS", result.stdout, described)
        self.assertEqual(int(re.search(r"\branks=(\d+)\b", result.stdout).group(1)), RANKS, described)
        snapshot = os.path.join(workdir, "registry", name, "v000001.h5")
        with h5py.File(snapshot, "r") as f:
            self.assertEqual(int(f["lineage"].attrs["num_ranks"]), RANKS)
        self.assertEqual(e2e.current(os.path.join(workdir, "registry"), name), "v000001.h5\n")
        # The comparison lines, for the log of a passing run.
        for line in result.stdout.split("\nComparisons:\n", 1)[1].splitlines():
            if line.strip().startswith("ok"):
                print(f"  measured: {script}: {line.strip()[4:].strip()}", file=sys.stderr)

    def test_logistic_breast_cancer(self):
        self.run_example("logistic_breast_cancer.py")

    def test_kmeans_digits(self):
        self.run_example("kmeans_digits.py")

    def test_pca_digits(self):
        self.run_example("pca_digits.py")

    def test_ridge_search_diabetes(self):
        self.run_example("ridge_search_diabetes.py")


if __name__ == "__main__":
    e2e.main()
