"""Shared helpers for the end-to-end tests: run sluice (alone or under mpirun), write lakes and job files, read snapshots."""

import argparse
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import h5py
import numpy as np


class Config:
    """Command-line settings shared by every test module (filled in by main())."""

    sluice = os.environ.get("SLUICE_EXE", "")
    mpiexec = os.environ.get("MPIEXEC", "mpirun")
    ranks = 2
    keep = os.environ.get("SLUICE_E2E_KEEP", "") == "1"
    launcher_defaults = False  # True: without QUICK_MPI_ENV
    verbose = os.environ.get("SLUICE_E2E_VERBOSE", "") == "1"


# Every sluice call gets a hard limit: a hung rank must fail the test, never stall CTest.
DEFAULT_TIMEOUT_S = 60

# As root, mpirun without these prints a warning, runs nothing and exits 0; set them here as well
# as in CTest so a test started by hand cannot silently test nothing.
MPI_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMP_NUM_THREADS": "1",
}

# Open MPI settings that make the suite's thousands of short runs quick; a test about ranks dying
# under mpirun sets Config.launcher_defaults so that it sees Open MPI as users run it (with these,
# mpirun has been seen to die of SIGPIPE or hang on a rank killed early in the run).
QUICK_MPI_ENV = {
    # Once one rank exits non-zero, mpirun signals the rest and by default sleeps 1 s before its
    # SIGKILL, even when every rank has already gone: 1-2 s on each of the many expected failures.
    # No output is lost without it: sluice's ranks leave through MPI_Finalize, whose fence holds
    # every rank until rank 0 has printed its error.
    "OMPI_MCA_odls_base_sigkill_timeout": "0",
    # Every rank runs on this host: the ob1 layer over shared memory. Open MPI otherwise also starts
    # UCX in every process to see whether it could be used, half of MPI_Init's time here
    # (0.46 s -> 0.24 s for `mpirun -n 2`), more on slower machines.
    "OMPI_MCA_pml": "ob1",
}

ERROR_PREFIX = "sluice: error:"

# First lines of AddressSanitizer, LeakSanitizer, UndefinedBehaviorSanitizer and ThreadSanitizer
# reports (builds with -DSLUICE_SANITIZE=...). A test that expects sluice to fail would otherwise
# take a sanitizer's non-zero exit for the failure it wanted.
SANITIZER_REPORT = re.compile(r"ERROR: (Address|Leak)Sanitizer|Sanitizer has encountered a fatal error|runtime error: |WARNING: ThreadSanitizer")


def main():
    """Parses --sluice/--mpiexec/--ranks, then hands the rest of the arguments to unittest."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--sluice", default=Config.sluice)
    parser.add_argument("--mpiexec", default=Config.mpiexec)
    parser.add_argument("--ranks", type=int, default=Config.ranks)
    args, rest = parser.parse_known_args()
    if not args.sluice:
        sys.exit("sluice binary not given: pass --sluice PATH or set SLUICE_EXE")
    Config.sluice = os.path.abspath(args.sluice)
    Config.mpiexec = args.mpiexec
    Config.ranks = args.ranks
    if not os.access(Config.sluice, os.X_OK):
        sys.exit(f"sluice binary {Config.sluice} is not executable")
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


# ---------------------------------------------------------------- processes


class Result:
    """Outcome of one sluice command."""

    def __init__(self, args, returncode, stdout, stderr):
        self.args = args
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    def describe(self):
        return (f"command: {' '.join(map(str, self.args))}\nexit code: {self.returncode}\n"
                f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}")

    def error_lines(self):
        return [line for line in self.stderr.splitlines() if ERROR_PREFIX in line]

    def check_sanitizers(self):
        """Fails the test on any sanitizer report in this command's output, whatever its exit code."""
        if SANITIZER_REPORT.search(self.stderr or "") or SANITIZER_REPORT.search(self.stdout or ""):
            raise AssertionError("sanitizer report\n" + self.describe())
        return self

    def field(self, name):
        """An integer printed as 'name=N' on stdout (e.g. ranks=2, cached=3), or None."""
        match = re.search(rf"\b{name}=(\d+)\b", self.stdout)
        return int(match.group(1)) if match else None


# Put in a `run` command's args to let it use the partial cache: without it every `run` of the
# tests reads every partition (--no-cache), so runs compared with each other are full retrains.
WITH_CACHE = object()


def command_line(args, ranks=None):
    """sluice ARGS, under mpirun when ranks is given (ranks=None: a singleton run)."""
    args = list(args)
    if args and args[0] == "run":
        if WITH_CACHE in args:
            args.remove(WITH_CACHE)
        else:
            args.append("--no-cache")
    sluice = [Config.sluice] + [str(a) for a in args]
    if ranks is None:
        return sluice
    # --oversubscribe: CI machines have 2 cores and the tests use up to 4 ranks.
    return [Config.mpiexec, "-n", str(ranks), "--oversubscribe"] + sluice


def environment(extra=None):
    env = dict(os.environ)
    env.update(MPI_ENV)
    if not Config.launcher_defaults:
        env.update(QUICK_MPI_ENV)
    if extra:
        env.update(extra)
    return env


def start(args, ranks=None, cwd=None, env=None):
    """Starts sluice in its own process group (so the test can signal or kill mpirun and its ranks together)."""
    return subprocess.Popen(command_line(args, ranks), cwd=cwd, env=environment(env),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def descendants(pid):
    """Pids of every live process below pid (from /proc's parent links)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_group(process, sig=signal.SIGKILL):
    """Signals the process group of a started process; for SIGKILL also every descendant, because
    Open MPI puts each rank in a process group of its own and a killed mpirun leaves them running."""
    below = descendants(process.pid) if sig == signal.SIGKILL else []
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
    for pid in below:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def finish(process, args, timeout=DEFAULT_TIMEOUT_S):
    """Waits for a started process; on timeout kills its whole group and fails loudly."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(process)
        stdout, stderr = process.communicate()
        raise AssertionError(f"timed out after {timeout} s (hang?)\n"
                             + Result(args, None, stdout, stderr).describe())
    return Result(args, process.returncode, stdout, stderr).check_sanitizers()


class Running:
    """A sluice run in the background whose stderr is watched line by line (for progress lines)."""

    def __init__(self, args, ranks=None, env=None):
        self.args = command_line(args, ranks)
        self.process = start(args, ranks, env=env)
        self.lines = []
        self._changed = threading.Condition()
        self._stdout = []
        self._threads = [threading.Thread(target=self._read_stderr, daemon=True),
                         threading.Thread(target=lambda: self._stdout.append(self.process.stdout.read()),
                                          daemon=True)]
        for thread in self._threads:
            thread.start()

    def _read_stderr(self):
        for line in self.process.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self.lines.append(None)  # end of stream
            self._changed.notify_all()

    def wait_for_line(self, pattern, timeout):
        """The first stderr line matching pattern, or None if the run ends or timeout passes first."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                while seen < len(self.lines):
                    line = self.lines[seen]
                    seen += 1
                    if line is None:
                        return None
                    match = re.search(pattern, line)
                    if match:
                        return match
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)

    def signal(self, sig):
        kill_group(self.process, sig)

    def finish(self, timeout=DEFAULT_TIMEOUT_S):
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(self.process)
            self.process.wait()
            raise AssertionError(f"timed out after {timeout} s (hang?)\n" + self.result().describe())
        return self.result()

    def result(self):
        for thread in self._threads:
            thread.join(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if not any(thread.is_alive() for thread in self._threads):
                stream.close()
        stderr = "".join(line for line in self.lines if line is not None)
        return Result(self.args, self.process.returncode, "".join(self._stdout), stderr).check_sanitizers()


def sluice(args, ranks=None, cwd=None, env=None, timeout=DEFAULT_TIMEOUT_S):
    """Runs sluice to completion (killing it after timeout) and returns a Result."""
    cmd = command_line(args, ranks)
    return finish(start(args, ranks, cwd, env), cmd, timeout)


def run_job(testcase, job, ranks, env=None, timeout=DEFAULT_TIMEOUT_S, threads=None, cache=False):
    """`sluice run JOB` that must publish, on exactly `ranks` ranks; returns (Result, snapshot dict).
    cache=True lets it use the partial cache (else it reads every partition)."""
    args = ["run", job] + (["--threads", threads] if threads else []) + ([WITH_CACHE] if cache else [])
    result = sluice(args, ranks=ranks, env=env, timeout=timeout)
    testcase.assertEqual(result.returncode, 0, result.describe())
    check_ranks(testcase, result, ranks)
    match = re.search(r"^published (\S+\.h5)", result.stdout, re.MULTILINE)
    testcase.assertIsNotNone(match, "no 'published PATH' line\n" + result.describe())
    snap = read_snapshot(match.group(1))
    # The snapshot's own record of the rank count: proof the ranks really ran the job.
    testcase.assertEqual(snap["num_ranks"], ranks if ranks else 1, result.describe())
    return result, snap


def check_ranks(testcase, result, ranks):
    """A mpirun that started no ranks exits 0 with empty output: demand the 'ranks=N' line."""
    testcase.assertEqual(result.field("ranks"), ranks if ranks else 1,
                         "expected a 'ranks=N' line for the requested rank count\n" + result.describe())


# The documented exit code of each class of failure (docs/cli.md); 1 is an unclassified one.
EXIT_CONFIGURATION, EXIT_DATA, EXIT_NUMERICAL, EXIT_IO = 3, 4, 5, 6


def expect_error(testcase, result, *substrings, code=None):
    """Exit with the class's code (`code`, or any documented class: never an unclassified 1),
    exactly one 'sluice: error:' line that contains every substring, no MPI abort noise."""
    testcase.assertNotEqual(result.returncode, 0, result.describe())
    if code is None:
        testcase.assertIn(result.returncode, (EXIT_CONFIGURATION, EXIT_DATA, EXIT_NUMERICAL, EXIT_IO),
                          "a documented error class's exit code\n" + result.describe())
    else:
        testcase.assertEqual(result.returncode, code, "exit code of the error's class\n" + result.describe())
    lines = result.error_lines()
    testcase.assertEqual(len(lines), 1, "expected exactly one error line\n" + result.describe())
    line = lines[0]
    testcase.assertTrue(line.startswith(ERROR_PREFIX), result.describe())
    for text in substrings:
        testcase.assertIn(text, line, result.describe())
    # An agreed error ends every rank cleanly; an MPI_Abort banner means a rank bailed out alone.
    testcase.assertNotIn("MPI_ABORT", result.stderr, result.describe())
    testcase.assertNotIn("published", result.stdout, result.describe())
    return line


# ---------------------------------------------------------------- temp dirs


class TemporaryDirectory:
    """A temp dir shared by a test class (kept when SLUICE_E2E_KEEP=1)."""

    def __init__(self, label):
        self.name = tempfile.mkdtemp(prefix=f"sluice-e2e-{label}-")

    def cleanup(self):
        if not Config.keep:
            shutil.rmtree(self.name, True)


class TempDirTestCase(unittest.TestCase):
    """Each test gets a fresh directory (kept when SLUICE_E2E_KEEP=1, for debugging)."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix=f"sluice-e2e-{self._testMethodName}-")
        if Config.keep:
            print(f"\n  [keeping {self.dir}]", file=sys.stderr)
        else:
            self.addCleanup(shutil.rmtree, self.dir, True)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)


# ---------------------------------------------------------------- lakes


# Storage variants a partition's datasets can use, as h5py create_dataset keywords.
STORAGE = {
    "contiguous": {},
    "gzip": {"chunks": (256,), "compression": "gzip", "compression_opts": 4, "shuffle": True},
    "fletcher32": {"chunks": (300,), "fletcher32": True},
    "gzip_fletcher32": {"chunks": (128,), "compression": "gzip", "shuffle": True, "fletcher32": True},
}


def write_partition(path, columns, storage="contiguous", group="/"):
    """Writes one partition as users do: one create_dataset(name, data=array) per column."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    options = STORAGE[storage]
    with h5py.File(path, "w") as f:
        table = f if group in ("", "/") else f.require_group(group)
        for name, values in columns.items():
            values = np.asarray(values)
            opts = dict(options)
            if "chunks" in opts and values.ndim == 1:
                opts["chunks"] = (max(1, min(opts["chunks"][0], len(values))),)
            elif values.ndim != 1:
                opts = {}
            table.create_dataset(name, data=values, **opts)


def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def job_text(lake, model, publish, select=None, run=None):
    """A job file's text from dicts of keys per table ([lake], [lake.select], [model], [publish], [run])."""
    lines = ["[lake]"] + [f"{k} = {toml_value(v)}" for k, v in lake.items()]
    if select:
        lines += ["", "[lake.select]"] + [f"{k} = {toml_value(v)}" for k, v in select.items()]
    if model is not None:
        lines += ["", "[model]"] + [f"{k} = {toml_value(v)}" for k, v in model.items()]
    lines += ["", "[publish]"] + [f"{k} = {toml_value(v)}" for k, v in publish.items()]
    if run:
        lines += ["", "[run]"] + [f"{k} = {toml_value(v)}" for k, v in run.items()]
    return "\n".join(lines) + "\n"


def write_text(path, text):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def write_job(path, lake, model, publish, select=None, run=None):
    return write_text(path, job_text(lake, model, publish, select, run))


# ---------------------------------------------------------------- snapshots and registry


def _strings(dataset):
    return [v.decode() if isinstance(v, bytes) else str(v) for v in dataset[()]]


def read_snapshot(path):
    """The parts of a snapshot the tests check, read with h5py as a serving layer would."""
    with h5py.File(path, "r") as f:
        model = f["model"]
        lineage = f["lineage"]
        snap = {
            "path": path,
            "format_version": int(f.attrs["format_version"]),
            "model_name": str(f.attrs["model_name"]),
            "version": int(f.attrs["version"]),
            "feature_names": _strings(model["feature_names"]),
            "outputs": _strings(model["outputs"]),
            "kind": str(model.attrs["kind"]),
            "label": str(model.attrs["label"]),
            # every parameter of the kind: scalars are attributes, arrays datasets
            "params": {**{k: model.attrs[k] for k in model.attrs},
                       **{k: np.array(model[k][()]) for k in model
                          if model[k].dtype.kind == "f"}},
            "params_bytes": {k: np.asarray(model[k][()]).tobytes() for k in model
                             if model[k].dtype.kind == "f"},
            "metrics": {k: f["metrics"].attrs[k].item() for k in f["metrics"].attrs},
            "history": {k: np.array(f["history"][k][()]) for k in f["history"]
                        if k != "columns"} if "history" in f else {},
            "num_ranks": int(lineage.attrs["num_ranks"]),
            "job_toml": str(lineage.attrs["job_toml"]),
            "partitions": _strings(lineage["partitions/path"]),
            "partition_rows": [int(r) for r in lineage["partitions/rows"][()]],
            "skipped": _strings(lineage["skipped/path"]),
            "skipped_reasons": _strings(lineage["skipped/reason"]),
        }
        if "coefficients" in model:  # the linear kinds
            snap["coefficients"] = np.array(model["coefficients"][()], dtype=np.float64)
            snap["coefficients_bytes"] = model["coefficients"][()].tobytes()
            snap["intercept"] = float(model.attrs["intercept"])
            snap["intercept_bytes"] = np.float64(model.attrs["intercept"]).tobytes()
        if "alpha" in model.attrs:
            snap["alpha"] = float(model.attrs["alpha"])
    return snap


def current(registry, name):
    """The CURRENT pointer's text, or None when there is none."""
    path = os.path.join(registry, name, "CURRENT")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return f.read()


def model_dir_entries(registry, name):
    directory = os.path.join(registry, name)
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


def version_files(registry, name):
    """Files that look like published versions (what a reader could mistake for a snapshot)."""
    return [e for e in model_dir_entries(registry, name) if re.fullmatch(r"v\d{6}\.h5", e)]


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_hashes(root):
    """{relative path: sha256} of every file below root."""
    hashes = {}
    for directory, _, files in os.walk(root):
        for name in files:
            full = os.path.join(directory, name)
            hashes[os.path.relpath(full, root)] = sha256(full)
    return hashes


# ---------------------------------------------------------------- references


def reference_fit(X, y, kind, alpha=1.0, fit_intercept=True):
    """scikit-learn's fit of the same rows in float64: the answer sluice must reproduce."""
    from sklearn.linear_model import LinearRegression, Ridge

    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if kind == "ridge":
        model = Ridge(alpha=alpha, fit_intercept=fit_intercept, solver="cholesky")
    else:
        model = LinearRegression(fit_intercept=fit_intercept)
    model.fit(X, y)
    return np.asarray(model.coef_, dtype=np.float64), float(model.intercept_)


def metrics(X, y, coefficients, intercept):
    """rmse and r2 of a linear model on the rows, computed directly with numpy."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    residual = y - (X @ coefficients + intercept)
    sse = float(residual @ residual)
    total = float(((y - y.mean()) ** 2).sum())
    return np.sqrt(sse / len(y)), 1.0 - sse / total


def assert_rel_close(testcase, actual, expected, rtol, what):
    """Elementwise |actual - expected| <= rtol * |expected|."""
    actual = np.atleast_1d(np.asarray(actual, dtype=np.float64))
    expected = np.atleast_1d(np.asarray(expected, dtype=np.float64))
    testcase.assertEqual(actual.shape, expected.shape, what)
    error = np.abs(actual - expected)
    bound = rtol * np.abs(expected)
    worst = int(np.argmax(error - bound))
    testcase.assertTrue(np.all(error <= bound),
                        f"{what}: element {worst} is {actual[worst]!r}, expected {expected[worst]!r} "
                        f"(relative error {error[worst] / max(abs(expected[worst]), 1e-300):.3e} > {rtol})")


# ---------------------------------------------------------------- slow runs


PROGRESS = r"progress: (\d+)/(\d+) partitions"
# Progress lines every 0.2 s (stderr is not a terminal here, so the default would be 5 s).
PROGRESS_ENV = {"SLUICE_PROGRESS_SECONDS": "0.2"}


def gen_lake(testcase, out, partitions, rows, features=4, seed=1):
    """A synthetic float64 lake from `sluice gen` (y = x00..x{d-1} . w + b + noise)."""
    result = sluice(["gen", "--out", out, "--partitions", partitions, "--rows", rows,
                     "--features", features, "--seed", seed])
    testcase.assertEqual(result.returncode, 0, result.describe())
    return [f"x{j:02d}" for j in range(features)]


def slow_job_text(lake, features, name, registry="registry"):
    # block_rows = 1: one HDF5 read per row and column makes a small lake take seconds, so a
    # signal can land between partitions without writing gigabytes.
    return job_text({"path": lake, "block_rows": 1},
                    {"kind": "ridge", "features": features, "label": "y", "alpha": 1.0},
                    {"registry": registry, "name": name})


def rank_pid(root_pid, rank):
    """The pid of MPI rank `rank` below root_pid (from OMPI_COMM_WORLD_RANK in its environment)."""
    for pid in descendants(root_pid):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read().split(b"\0")
        except OSError:
            continue
        if f"OMPI_COMM_WORLD_RANK={rank}".encode() in environ:
            return pid
    return None


def own_processes(marker):
    """Pids of live processes whose command line contains marker (a unique temp path of this test)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            pids.append(int(entry))
    return pids
