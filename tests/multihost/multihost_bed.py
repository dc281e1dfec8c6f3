"""Shared helpers of the multi-host tests: a netns test bed (cluster/testbed), sluice under mpirun across its hosts, snapshot and report checks."""

import argparse
import json
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

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TESTBED = os.path.join(REPO, "cluster", "testbed", "netns-hosts.sh")
AGENT = os.path.join(REPO, "cluster", "testbed", "agent.sh")
SKIP = 77  # CTest's SKIP_RETURN_CODE
EX_NO_NETNS = 3  # netns-hosts.sh up: namespaces cannot be made here

# As root, mpirun without the first two prints a warning, runs nothing and exits 0.
MPI_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMP_NUM_THREADS": "1",
    "SLUICE_PROGRESS_SECONDS": "0.2",
}

# What cluster/slurm ships for mpirun: a dead link or host ends the job in seconds, not minutes.
KEEPALIVE = ["--mca", "oob_tcp_keepalive_time", "5", "--mca", "oob_tcp_keepalive_intvl", "2",
             "--mca", "oob_tcp_keepalive_probes", "3"]
# What the documented mpirun recipe adds for hostfiles: ssh (here agent.sh, which honours it) gives
# up on a host that does not answer after 10 s instead of after TCP's two minutes.
CONNECT_TIMEOUT = ["--mca", "plm_rsh_args", "-o ConnectTimeout=10"]


class Config:
    sluice = os.environ.get("SLUICE_EXE", "")
    mpiexec = "mpirun"
    keep = os.environ.get("SLUICE_MULTIHOST_KEEP", "") == "1"
    verbose = os.environ.get("SLUICE_MULTIHOST_VERBOSE", "") == "1"


def main():
    """Parses --sluice/--mpiexec, skips (77) without root or netns, then runs unittest."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--sluice", default=Config.sluice)
    parser.add_argument("--mpiexec", default=Config.mpiexec)
    args, rest = parser.parse_known_args()
    if not args.sluice or not os.access(args.sluice, os.X_OK):
        sys.exit(f"sluice binary '{args.sluice}' missing or not executable (pass --sluice)")
    Config.sluice = os.path.abspath(args.sluice)
    Config.mpiexec = args.mpiexec
    reason = netns_unavailable()
    if reason:
        print(f"skipped: needs root/netns ({reason})", flush=True)
        sys.exit(SKIP)
    program = unittest.main(argv=[sys.argv[0]] + rest, verbosity=2, exit=False)
    sys.exit(0 if program.result.wasSuccessful() else 1)


def netns_unavailable():
    """Why network namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "not root"
    for tool in ("ip", "nsenter", "unshare"):
        if shutil.which(tool) is None:
            return f"{tool} not installed"
    probe = f"sltbprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def environment(extra=None):
    env = dict(os.environ)
    env.update(MPI_ENV)
    env.update(extra or {})
    return env


class Result:
    def __init__(self, args, returncode, stdout, stderr, seconds):
        self.args, self.returncode, self.stdout, self.stderr = args, returncode, stdout, stderr
        self.seconds = seconds

    def describe(self):
        return (f"command: {' '.join(map(str, self.args))}\nexit code: {self.returncode} after "
                f"{self.seconds:.1f} s\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}")


def run(args, timeout, env=None, cwd=None):
    """Runs a command with a hard limit (a hung launcher fails the test, never stalls CTest)."""
    start = time.monotonic()
    process = subprocess.Popen([str(a) for a in args], env=environment(env), cwd=cwd,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        err += f"\n[test] killed after the {timeout} s limit"
    return Result(args, process.returncode, out, err, time.monotonic() - start)


class Running:
    """A command in the background whose stderr is read line by line as it comes."""

    def __init__(self, args, env=None):
        self.args = [str(a) for a in args]
        self.process = subprocess.Popen(self.args, env=environment(env), stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.lines = []
        self.line_times = []  # time.monotonic() when each stderr line arrived
        self.cond = threading.Condition()
        self.out = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.out_reader = threading.Thread(target=lambda: self.out.append(self.process.stdout.read()),
                                           daemon=True)
        self.out_reader.start()

    def _read(self):
        for line in self.process.stderr:
            with self.cond:
                self.lines.append(line)
                self.line_times.append(time.monotonic())
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)
            self.line_times.append(time.monotonic())
            self.cond.notify_all()

    def wait_for_line(self, pattern, timeout):
        """The first stderr line matching pattern, or None if the process ends or time runs out."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self.cond:
            while True:
                while seen < len(self.lines):
                    line = self.lines[seen]
                    seen += 1
                    if line is None:
                        return None
                    match = regex.search(line)
                    if match:
                        return match
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def first_time(self, pattern):
        """When the first stderr line matching pattern arrived (time.monotonic()), or None."""
        regex = re.compile(pattern)
        with self.cond:
            for line, when in zip(self.lines, self.line_times):
                if line is not None and regex.search(line):
                    return when
        return None

    def finish(self, timeout):
        start = time.monotonic()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.ended_at = time.monotonic()
        # A daemon cut off on another host may hold the pipes open long after mpirun exited (it
        # inherited them through the launch agent): wait a little for the rest of the output.
        self.reader.join(2)
        self.out_reader.join(2)
        err = "".join(line for line in self.lines if line is not None)
        return Result(self.args, self.process.returncode, "".join(self.out), err,
                      time.monotonic() - start)


class TestBed:
    """N hosts made by cluster/testbed/netns-hosts.sh under a name of this test's own."""

    def __init__(self, name, net, num_hosts, workdir):
        self.name, self.net, self.num_hosts = name, net, num_hosts
        self.env = {"SLUICE_TESTBED": name, "SLUICE_TESTBED_NET": net,
                    "SLUICE_TESTBED_DIR": f"/run/sluice-testbed/{name}"}
        self.hostfile = os.path.join(workdir, f"hostfile-{name}")
        self.is_up = False

    def script(self, *args, timeout=120):
        return run([TESTBED, *args], timeout, env=self.env)

    def up(self):
        self.script("down")  # leftovers of an earlier, killed run of this test
        result = self.script("up", self.num_hosts)
        if result.returncode == EX_NO_NETNS:
            print(f"skipped: needs root/netns ({result.stderr.strip()})", flush=True)
            sys.exit(SKIP)
        if result.returncode != 0:
            raise RuntimeError("test bed up failed:\n" + result.describe())
        self.is_up = True
        with open(self.hostfile, "w") as f:
            f.write(self.script("hostfile", 2).stdout)

    def down(self):
        if self.is_up:
            result = self.script("down")
            if result.returncode != 0:
                print("warning: test bed down failed:\n" + result.describe(), file=sys.stderr)
            self.is_up = False

    def host(self, index):
        return f"{self.name}-h{index}"

    def netns(self, index):
        return self.host(index)

    def address(self, index):
        return f"{self.net}.{10 + index}"

    def exec_args(self, index, *command):
        """COMMAND run inside host INDEX; the test bed's settings travel with it (mpirun's launch
        agent, started inside, needs them too)."""
        settings = [f"{key}={value}" for key, value in sorted(self.env.items())]
        return ["env", *settings, TESTBED, "exec", index, *command]

    def mpirun_args(self, ranks, args, extra=(), hostfile=None):
        """mpirun started on host 1, with ranks on the hosts of HOSTFILE (default: hosts 1..N with
        2 slots each), running sluice ARGS."""
        return self.exec_args(
            1, Config.mpiexec, "-n", ranks, "--hostfile", hostfile or self.hostfile,
            "--mca", "plm_rsh_agent", AGENT,
            "--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", f"{self.net}.0/24",
            "--mca", "oob_tcp_if_include", f"{self.net}.0/24",
            # Every host thinks it owns all cores: binding would pin ranks of two hosts together.
            "--bind-to", "none", *KEEPALIVE, *CONNECT_TIMEOUT, "-x", "OMP_NUM_THREADS", "-x", "SLUICE_PROGRESS_SECONDS",
            *extra, Config.sluice, *args)

    def pids(self, index, command_name):
        """Pids of live processes named command_name inside host INDEX."""
        listed = subprocess.run(["ip", "netns", "pids", self.netns(index)], capture_output=True,
                                text=True).stdout.split()
        pids = []
        for pid in listed:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            state = stat[stat.rindex(")") + 2]
            if comm == command_name and state != "Z":
                pids.append(int(pid))
        return sorted(pids)

    def end_processes(self, index):
        """Kills what a failed job left inside host INDEX (only this test's own processes live there)."""
        for _ in range(50):
            listed = subprocess.run(["ip", "netns", "pids", self.netns(index)], capture_output=True,
                                    text=True).stdout.split()
            if not listed:
                return
            for pid in listed:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.1)


class MultiHostTestCase(unittest.TestCase):
    """A work directory outside /tmp (each host's /tmp is its own) and a test bed per class."""

    NUM_HOSTS = 2
    BED_NAME = "sltb"
    BED_NET = "10.77.0"

    @classmethod
    def setUpClass(cls):
        # Under the build tree: visible from every host, unlike /tmp.
        cls.work = tempfile.mkdtemp(prefix=f"multihost-{cls.BED_NAME}-", dir=os.getcwd())
        cls.bed = TestBed(cls.BED_NAME, cls.BED_NET, cls.NUM_HOSTS, cls.work)
        try:
            cls.bed.up()
        except BaseException:
            cls.bed.down()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.bed.down()
        if not Config.keep:
            shutil.rmtree(cls.work, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.work, *parts)

    def sluice(self, args, timeout=120, env=None):
        result = run([Config.sluice, *args], timeout, env=env)
        self.assertEqual(result.returncode, 0, result.describe())
        return result

    def gen_lake(self, out, partitions, rows, features=4, seed=1):
        self.sluice(["gen", "--out", out, "--partitions", partitions, "--rows", rows,
                     "--features", features, "--seed", seed])
        return [f"x{j:02d}" for j in range(features)]

    def write_job(self, name, lake, features, model, kind="ridge", block_rows=None, extra=""):
        path = self.path(f"{name}.toml")
        lake_lines = f'path = "{lake}"\n' + (f"block_rows = {block_rows}\n" if block_rows else "")
        feature_list = ", ".join(f'"{f}"' for f in features)
        # k-means takes no label; 3 clusters, several Lloyd passes merged across hosts. No partial
        # cache: every run compared here is a full read across its hosts.
        model_lines = 'label = "y"\n' if kind != "kmeans" else "k = 3\n"
        with open(path, "w") as f:
            f.write(f"[lake]\n{lake_lines}\n[model]\nkind = \"{kind}\"\nfeatures = [{feature_list}]\n"
                    f"{model_lines}\n[cache]\nenabled = false\n\n[publish]\nregistry = \"{self.path('registry')}\"\n"
                    f"name = \"{model}\"\n{extra}")
        return path


def current_snapshot(registry, name):
    with open(os.path.join(registry, name, "CURRENT")) as f:
        return os.path.join(registry, name, f.read().strip())


def model_bits(path):
    """Every float parameter of the snapshot's model as bytes, plus its attributes' bytes."""
    bits = {}
    with h5py.File(path, "r") as f:
        model = f["model"]
        for key in model:
            if model[key].dtype.kind == "f":
                bits[key] = np.asarray(model[key][()]).tobytes()
        for key in model.attrs:
            value = np.asarray(model.attrs[key])
            if value.dtype.kind == "f":
                bits[f"@{key}"] = value.tobytes()
        num_ranks = int(f["lineage"].attrs["num_ranks"])
    return bits, num_ranks


def report_of(snapshot_path):
    with open(snapshot_path[:-len(".h5")] + ".report.json") as f:
        return json.load(f)
