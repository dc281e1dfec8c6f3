"""Installs the built Sluice into a temporary prefix, builds tests/install_consumer against it with
cmake (find_package(sluice)), publishes a model with the built `sluice`, and checks the consumer's
scores against numpy on the snapshot's parameters.

Usage: run_install_test.py --build-dir DIR --sluice EXE [--cmake CMAKE] [--generator G]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ENV = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMP_NUM_THREADS": "1"}


def run(args, timeout, **kwargs):
    print("+", " ".join(map(str, args)), flush=True)
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                            env=ENV, **kwargs)
    if result.returncode != 0:
        sys.exit(f"FAILED (exit {result.returncode}): {' '.join(map(str, args))}\n"
                 f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}")
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--sluice", required=True)
    parser.add_argument("--cmake", default="cmake")
    parser.add_argument("--generator", default="Ninja")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="sluice-install-")
    try:
        prefix = os.path.join(work, "prefix")
        run([args.cmake, "--install", args.build_dir, "--prefix", prefix], 120)
        for expected in ("include/sluice/serving/scoring_service.hpp", "lib/cmake/sluice/sluiceConfig.cmake",
                         "lib/cmake/sluice/sluiceTargets.cmake", "bin/sluice"):
            if not os.path.exists(os.path.join(prefix, expected)):
                sys.exit(f"FAILED: {expected} is not installed under {prefix}")
        build = os.path.join(work, "consumer")
        # Only the installed prefix: the consumer must not see the source tree or the build.
        run([args.cmake, "-S", HERE, "-B", build, "-G", args.generator, f"-DCMAKE_PREFIX_PATH={prefix}"], 180)
        cache = open(os.path.join(build, "CMakeCache.txt")).read()
        found = re.search(r"^sluice_DIR:PATH=(.*)$", cache, re.MULTILINE)
        if not found or not found.group(1).startswith(prefix):
            sys.exit(f"FAILED: sluice found at {found.group(1) if found else None}, not under {prefix}")
        run([args.cmake, "--build", build], 300)

        lake, registry = os.path.join(work, "lake"), os.path.join(work, "registry")
        job = os.path.join(work, "job.toml")
        run([args.sluice, "gen", "--out", lake, "--partitions", 2, "--rows", 500, "--features", 3, "--job", job,
             "--registry", registry, "--name", "demo"], 60)
        published = run([args.sluice, "run", job], 120).stdout
        path = re.search(r"^published (\S+\.h5)", published, re.MULTILINE).group(1)
        with h5py.File(path, "r") as f:
            w = f["model/coefficients"][:]
            b = float(f["model"].attrs["intercept"])
            names = [n.decode() if isinstance(n, bytes) else n for n in f["model/feature_names"][:]]
        rng = np.random.default_rng(5)
        X = rng.normal(scale=10.0, size=(7, len(names)))
        # Columns in reverse order: the service places them by name.
        csv = ",".join(reversed(names)) + "\n" + "".join(
            ",".join(repr(float(v)) for v in reversed(row)) + "\n" for row in X)
        out = run([os.path.join(build, "score_rows"), registry, "demo"], 60, input=csv).stdout.splitlines()
        if out[0] != "model demo version 1" or out[1].split() != ["prediction"]:
            sys.exit(f"FAILED: unexpected header {out[:2]}")
        got = np.array([float(line.split()[0]) for line in out[2:]])
        expected = X @ w + b
        error = float(np.max(np.abs(got - expected) / (np.abs(X) @ np.abs(w) + abs(b))))
        print(f"measured: installed consumer vs numpy X@w+b: {error:.3e} (tolerance 1e-12), {len(got)} rows")
        if len(got) != len(X) or not error <= 1e-12:
            sys.exit(f"FAILED: consumer scores {got} differ from numpy {expected}")
        print("install consumer: PASS")
    finally:
        if os.environ.get("SLUICE_E2E_KEEP") != "1":
            shutil.rmtree(work, True)


if __name__ == "__main__":
    main()
