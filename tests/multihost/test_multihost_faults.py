"""Faults on a remote host (a killed rank, a killed orted daemon, a link taken down) end a two-host job quickly, with a message naming the lost host or rank, and leave the registry as it was; a hostfile naming a host that is unknown, off the network or silently dropping packets ends mpirun within seconds, naming that host."""

import hashlib
import os
import signal
import subprocess
import time

import multihost_bed as bed

# The target is 15 s; the bound leaves room for a loaded 2-core CI machine.
EXIT_BOUND_S = 30
PROGRESS = r"\[sluice\] progress: (\d+)/(\d+) partitions"


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class MultiHostFaultTest(bed.MultiHostTestCase):
    BED_NAME = "sltbflt"
    BED_NET = "10.77.2"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.times = {}

    @classmethod
    def tearDownClass(cls):
        for name, (seconds, code) in sorted(cls.times.items()):
            print(f"fault {name}: job ended {seconds:.1f} s after the fault, exit code {code}", flush=True)
        super().tearDownClass()

    def setUp(self):
        registry = self.path("registry")
        if not hasattr(type(self), "features"):
            small = self.path("small-lake")
            features = self.gen_lake(small, partitions=4, rows=500, features=4, seed=5)
            self.sluice(["run", self.write_job("small", small, features, "m")])
            # 30 blocks per partition with a 200 ms pause between blocks: about 25 s per run on any
            # machine, so every fault lands mid-run.
            slow = self.path("slow-lake")
            self.gen_lake(slow, partitions=16, rows=30000, features=4, seed=6)
            type(self).features = features
            type(self).slow_job = self.write_job("slow", slow, features, "m", block_rows=1000)
        self.v1 = os.path.join(registry, "m", "v000001.h5")
        self.v1_hash = sha256(self.v1)
        self.listing = sorted(os.listdir(os.path.join(registry, "m")))

    def tearDown(self):
        # A failed job may leave ranks or daemons behind on either host: only ours live there.
        subprocess.run(["ip", "-n", self.bed.netns(2), "link", "set", "eth0", "up"], check=False)
        subprocess.run(["ip", "-n", self.bed.netns(1), "neigh", "del", self.bed.address(2), "dev", "eth0"],
                       check=False, capture_output=True)
        for host in (1, 2):
            self.bed.end_processes(host)

    def start_and_wait_for_progress(self):
        running = bed.Running(self.bed.mpirun_args(4, ["run", self.slow_job, "--test-block-delay-ms", "200"]))
        match = running.wait_for_line(PROGRESS, timeout=60)
        if match is None or int(match.group(1)) >= int(match.group(2)):
            result = running.finish(timeout=10)
            self.fail("the job showed no progress before the fault (or finished):\n" + result.describe())
        # The remote ranks are reading: wait until they exist on host 2.
        deadline = time.monotonic() + 10
        while len(self.bed.pids(2, "sluice")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(len(self.bed.pids(2, "sluice")), 2, "expected ranks 2 and 3 on host 2")
        return running

    def check_ended(self, name, running, fault_time, *wanted):
        result = running.finish(timeout=EXIT_BOUND_S + 30)
        seconds = running.ended_at - fault_time
        type(self).times[name] = (seconds, result.returncode)
        said = running.first_time("|".join(wanted))
        said = f"{said - fault_time:.1f} s" if said is not None else "never"
        print(f"fault {name}: job ended {seconds:.1f} s after the fault, exit code {result.returncode} "
              f"(message naming the host after {said})", flush=True)
        if bed.Config.verbose:
            print(result.describe(), flush=True)
        self.assertNotEqual(result.returncode, 0, result.describe())
        self.assertLess(seconds, EXIT_BOUND_S, result.describe())
        text = result.stdout + result.stderr
        self.assertTrue(any(w in text for w in wanted),
                        f"no message naming {' or '.join(wanted)}:\n" + result.describe())
        # One message, not one per surviving rank.
        errors = [line for line in text.splitlines() if "error" in line.lower()]
        self.assertLessEqual(len(errors), 1, result.describe())
        # Nothing published, nothing half-written: the registry is exactly as before.
        self.assertEqual(sorted(os.listdir(self.path("registry", "m"))), self.listing, result.describe())
        self.assertEqual(sha256(self.v1), self.v1_hash)
        with open(self.path("registry", "m", "CURRENT")) as f:
            self.assertEqual(f.read().strip(), "v000001.h5")
        return result

    def test_1_remote_rank_killed(self):
        running = self.start_and_wait_for_progress()
        victim = self.bed.pids(2, "sluice")[0]
        fault_time = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        self.check_ended("remote rank killed", running, fault_time, self.bed.host(2))

    def test_2_remote_daemon_killed(self):
        running = self.start_and_wait_for_progress()
        daemons = self.bed.pids(2, "orted")
        self.assertEqual(len(daemons), 1, "expected one orted on host 2")
        fault_time = time.monotonic()
        os.kill(daemons[0], signal.SIGKILL)
        self.check_ended("remote orted killed", running, fault_time, self.bed.host(2))

    def test_3_link_down(self):
        running = self.start_and_wait_for_progress()
        fault_time = time.monotonic()
        subprocess.run(["ip", "-n", self.bed.netns(2), "link", "set", "eth0", "down"], check=True)
        self.check_ended("link to host 2 down", running, fault_time, self.bed.host(2))

    def check_unreachable_host_in_hostfile(self, name, hostname):
        """The small job with a hostfile of host 1 and HOSTNAME: refused quickly, naming HOSTNAME."""
        hostfile = self.path(f"hostfile-{name.replace(' ', '-')}")
        with open(hostfile, "w") as f:
            f.write(f"{self.bed.host(1)} slots=2\n{hostname} slots=2\n")
        job = self.path("small.toml")
        start = time.monotonic()
        result = bed.run(self.bed.mpirun_args(4, ["run", job], hostfile=hostfile), timeout=EXIT_BOUND_S + 60)
        seconds = time.monotonic() - start
        type(self).times[name] = (seconds, result.returncode)
        print(f"fault {name}: mpirun ended after {seconds:.1f} s, exit code {result.returncode}", flush=True)
        self.assertNotEqual(result.returncode, 0, result.describe())
        self.assertLess(seconds, EXIT_BOUND_S, result.describe())
        self.assertIn(hostname, result.stderr, result.describe())
        self.assertIn("unable to reliably start one or more daemons", result.stderr, result.describe())
        self.assertEqual(self.bed.pids(1, "sluice"), [], "a rank was left running on host 1")
        self.assertEqual(sorted(os.listdir(self.path("registry", "m"))), self.listing, result.describe())
        return result

    def test_4_hostfile_names_unknown_host(self):
        result = self.check_unreachable_host_in_hostfile("hostfile names an unknown host", "sltbnone-h9")
        self.assertIn("could not resolve hostname sltbnone-h9", result.stderr)

    def test_5_hostfile_names_host_whose_link_is_down(self):
        subprocess.run(["ip", "-n", self.bed.netns(2), "link", "set", "eth0", "down"], check=True)
        result = self.check_unreachable_host_in_hostfile("hostfile names a host whose link is down",
                                                         self.bed.host(2))
        self.assertIn(f"connect to host {self.bed.host(2)} ({self.bed.address(2)}) port 22: No route to host",
                      result.stderr)

    def test_6_hostfile_names_host_that_drops_packets(self):
        # Host 1 sends host 2's packets to a hardware address nobody has: every SYN is lost without
        # an answer, as to a host powered off behind a switch, and only ConnectTimeout ends the wait.
        subprocess.run(["ip", "-n", self.bed.netns(1), "neigh", "replace", self.bed.address(2), "lladdr",
                        "02:00:00:00:00:01", "dev", "eth0", "nud", "permanent"], check=True)
        result = self.check_unreachable_host_in_hostfile("hostfile names a host that drops packets",
                                                         self.bed.host(2))
        self.assertIn("connection timed out after 10 s", result.stderr)


if __name__ == "__main__":
    bed.main()
