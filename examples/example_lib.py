"""Shared plumbing of the examples: arguments, a lake written with h5py, the job file, the
`mpirun ... sluice run` call, the snapshot read back with h5py, and tolerance checks.

Nothing here is Sluice-specific magic: it is what a user's own script would do with h5py,
numpy and subprocess.
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
REPO = os.path.dirname(HERE)


# ---------------------------------------------------------------- arguments


def parse_args(description):
    """--sluice PATH (default: $SLUICE_EXE, `sluice` on PATH, or this checkout's build*/apps/sluice),
    --ranks N (default 2), --workdir DIR (default: a temporary directory, removed afterwards)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sluice", default=os.environ.get("SLUICE_EXE", ""),
                        help="the sluice binary (default: $SLUICE_EXE, `sluice` on PATH, "
                             "or build*/apps/sluice in this checkout)")
    parser.add_argument("--ranks", type=int, default=2, help="MPI ranks (default 2)")
    parser.add_argument("--workdir", default="",
                        help="where the lake, job file and registry go (kept); default: a "
                             "temporary directory that is removed at the end")
    args = parser.parse_args()
    args.sluice = find_sluice(args.sluice)
    if args.ranks < 1:
        parser.error("--ranks must be at least 1")
    return args


def find_sluice(given):
    if given:
        path = os.path.abspath(given)
    else:
        path = shutil.which("sluice") or ""
        if not path:
            for build in ("build", "build-e2e"):
                candidate = os.path.join(REPO, build, "apps", "sluice")
                if os.access(candidate, os.X_OK):
                    path = candidate
                    break
    if not path or not os.access(path, os.X_OK):
        sys.exit(f"sluice binary not found{' at ' + path if path else ''}: pass --sluice PATH")
    return path


class WorkDir:
    """The example's directory: the given --workdir (kept) or a temporary one (removed)."""

    def __init__(self, workdir, label):
        self.is_temporary = not workdir
        self.path = tempfile.mkdtemp(prefix=f"sluice-{label}-") if self.is_temporary \
            else os.path.abspath(workdir)
        os.makedirs(self.path, exist_ok=True)

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        if self.is_temporary:
            shutil.rmtree(self.path, True)
        return False


# ---------------------------------------------------------------- lake and job file


def split_sizes(num_rows, weights):
    """Row counts per partition proportional to `weights` (uneven on purpose), summing to num_rows."""
    weights = np.asarray(weights, dtype=np.float64)
    sizes = np.floor(num_rows * weights / weights.sum()).astype(int)
    sizes[0] += num_rows - sizes.sum()
    assert np.all(sizes > 0) and sizes.sum() == num_rows
    return [int(s) for s in sizes]


def write_lake(root, columns, sizes):
    """Writes the table `columns` ({name: 1-D array}, all of one length) as len(sizes) partitions
    of consecutive rows, root/part=NN/data.h5, one create_dataset per column. Returns the relative
    paths, in row order."""
    names = list(columns)
    num_rows = len(columns[names[0]])
    assert sum(sizes) == num_rows, (sizes, num_rows)
    if os.path.isdir(root):
        shutil.rmtree(root)
    paths, start = [], 0
    for p, size in enumerate(sizes):
        relative = f"part={p:02d}/data.h5"
        full = os.path.join(root, relative)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with h5py.File(full, "w") as f:
            for name in names:
                f.create_dataset(name, data=np.asarray(columns[name])[start:start + size])
        paths.append(relative)
        start += size
    return paths


def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def write_job(path, lake, model, publish):
    """The job file: [lake], [model] and [publish] tables from dicts."""
    lines = []
    for table, keys in (("lake", lake), ("model", model), ("publish", publish)):
        lines += [f"[{table}]"] + [f"{k} = {toml_value(v)}" for k, v in keys.items()] + [""]
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


# ---------------------------------------------------------------- running sluice


def mpirun_command(ranks):
    mpirun = shutil.which("mpirun") or shutil.which("mpiexec")
    if not mpirun:
        sys.exit("mpirun not found on PATH")
    command = [mpirun, "-n", str(ranks)]
    version = subprocess.run([mpirun, "--version"], capture_output=True, text=True).stdout
    if "Open MPI" in version or "OpenRTE" in version:
        # More ranks than cores is fine for an example.
        command.append("--oversubscribe")
    return command


def mpi_environment():
    env = dict(os.environ)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # As root, Open MPI's mpirun refuses to start (and exits 0) without these two.
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run_job(sluice, job, ranks, timeout=300):
    """`mpirun -n RANKS sluice run JOB`; exits the script if it fails. Returns the snapshot path and
    the metrics line's values."""
    command = mpirun_command(ranks) + [sluice, "run", job]
    print("$ " + " ".join(command), flush=True)
    result = subprocess.run(command, capture_output=True, text=True, env=mpi_environment(),
                            timeout=timeout)
    sys.stdout.write(result.stdout)
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        sys.exit(f"sluice run failed with exit code {result.returncode}")
    published = re.search(r"^published (\S+\.h5)", result.stdout, re.MULTILINE)
    ranks_line = re.search(r"\branks=(\d+)\b", result.stdout)
    if not published or not ranks_line or int(ranks_line.group(1)) != ranks:
        sys.stderr.write(result.stderr)
        sys.exit(f"sluice run did not publish on {ranks} ranks (is mpirun the MPI sluice was built with?)")
    metrics = dict(re.findall(r"(\w+)=(\S+)", re.search(r"^metrics: (.*)$", result.stdout,
                                                          re.MULTILINE).group(1)))
    return published.group(1), {k: float(v) for k, v in metrics.items()}


def read_model(snapshot):
    """/model's attributes and float datasets, /metrics' attributes (full precision), and the
    lineage's partitions, as numpy values."""
    with h5py.File(snapshot, "r") as f:
        model = f["model"]
        params = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in model.attrs.items()}
        for name, dataset in model.items():
            if dataset.dtype.kind == "f":
                params[name] = np.array(dataset[()])
        params["feature_names"] = list(model["feature_names"].asstr()[()])
        metrics = {k: float(v) for k, v in f["metrics"].attrs.items()}
        partitions = list(f["lineage/partitions/path"].asstr()[()])
    return params, metrics, partitions


# ---------------------------------------------------------------- comparisons


class Checks:
    """Each comparison: what was compared, the measured error, the tolerance, and a verdict.
    finish() prints the summary and exits 1 if any comparison missed its tolerance."""

    def __init__(self):
        self.rows = []

    def add(self, what, error, tolerance, kind):
        ok = bool(np.isfinite(error) and error <= tolerance)
        self.rows.append((what, error, tolerance, kind, ok))
        return ok

    @staticmethod
    def relative(actual, expected):
        """max |actual - expected| / max |expected| (the error relative to the values' scale)."""
        actual = np.asarray(actual, dtype=np.float64)
        expected = np.asarray(expected, dtype=np.float64)
        if actual.shape != expected.shape:
            return np.inf
        scale = np.max(np.abs(expected)) if expected.size else 1.0
        return float(np.max(np.abs(actual - expected)) / scale) if expected.size else 0.0

    def rel(self, what, actual, expected, tolerance):
        return self.add(what, self.relative(actual, expected), tolerance, "max rel")

    def abs(self, what, actual, expected, tolerance):
        actual = np.asarray(actual, dtype=np.float64)
        expected = np.asarray(expected, dtype=np.float64)
        error = np.inf if actual.shape != expected.shape else float(np.max(np.abs(actual - expected)))
        return self.add(what, error, tolerance, "max abs")

    def equal(self, what, actual, expected):
        same = np.array_equal(np.asarray(actual), np.asarray(expected))
        return self.add(what, 0.0 if same else np.inf, 0.0, "exact")

    def at_most(self, what, value, bound):
        """value <= bound (e.g. a ratio to a reference)."""
        return self.add(what, float(value), float(bound), "value")

    def at_least(self, what, value, bound):
        """value >= bound (e.g. how far the next-best candidate is)."""
        ok = bool(np.isfinite(value) and value >= bound)
        self.rows.append((what, float(value), float(bound), "value >=", ok))
        return ok

    def finish(self):
        print("\nComparisons:")
        width = max(len(row[0]) for row in self.rows)
        for what, error, tolerance, kind, ok in self.rows:
            bound = "at least" if kind == "value >=" else "tolerance"
            print(f"  {'ok  ' if ok else 'MISS'} {what:<{width}}  {kind} {error:.3e}  "
                  f"({bound} {tolerance:.0e})")
        missed = [row[0] for row in self.rows if not row[4]]
        if missed:
            print(f"\n{len(missed)} comparison(s) missed their tolerance: {', '.join(missed)}")
            sys.exit(1)
        print(f"\nall {len(self.rows)} comparisons within tolerance")


def print_side_by_side(title, labels, columns, fmt="{:>14.8g}"):
    """A small table: one row per label, one column per (header, values)."""
    print(f"\n{title}")
    headers = [h for h, _ in columns]
    label_width = max([len(str(l)) for l in labels] + [4])
    print(" " * label_width + "".join(f"{h:>16}" for h in headers))
    for i, label in enumerate(labels):
        cells = "".join("  " + fmt.format(values[i]) for _, values in columns)
        print(f"{str(label):<{label_width}}{cells}")


def digits():
    """scikit-learn's digits as float64 rows and one feature name per pixel, announced."""
    from sklearn.datasets import load_digits
    X = np.asarray(load_digits().data, dtype=np.float64)
    features = [f"px{j:02d}" for j in range(X.shape[1])]
    print(f"digits: {X.shape[0]} rows, {X.shape[1]} pixel features")
    return X, features
