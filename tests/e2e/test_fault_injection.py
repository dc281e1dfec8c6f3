"""SIGKILL of one rank at chosen and at random points of a job (reading, reducing, the snapshot
written but not linked, CURRENT about to move), many times over. After each kill the registry
verifies, CURRENT names a complete version or none, no partial version is visible; the rerun
(through the partial cache the killed run filled) publishes the same model bits as an
uninterrupted run without the cache, and removes the dead publisher's temporaries. A live
publisher's temporaries are never removed.

The CI slice covers every point at 2 and 4 ranks plus random-time kills; SLUICE_FULL_FAULTS=1 runs
a campaign of SLUICE_FAULT_RUNS (default 200) kills. SLUICE_FAULT_SEED fixes the random choices."""

import collections
import fcntl
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import sluice_e2e as e2e

# Ranks die here under mpirun: run Open MPI with its own settings, as users do.
e2e.Config.launcher_defaults = True

PARTITIONS = 8
ROWS = 1500
FEATURES = 4
NAME = "m"
POINTS = ["read", "reduce", "snapshot_written", "pointer_moving"]
# Only the coordinator publishes: these points exist on rank 0 alone.
ROOT_POINTS = {"snapshot_written", "pointer_moving"}
KILLED = 137  # mpirun's exit code when a rank died of SIGKILL
TEMPORARY = re.compile(r"\.tmp-|\.claim$")

FULL = os.environ.get("SLUICE_FULL_FAULTS", "") == "1"
SEED = int(os.environ.get("SLUICE_FAULT_SEED", str(int(time.time()) % 100000)))


def leftovers(directory):
    """A publisher's temporaries and claims in a model directory."""
    return sorted(e for e in os.listdir(directory) if TEMPORARY.search(e)) if os.path.isdir(directory) else []


def model_bits(snapshot):
    """Every float parameter's bytes and the intercept's: equal only for bit-identical models."""
    return dict(snapshot["params_bytes"], intercept=snapshot.get("intercept_bytes"))


def rank_pids(marker, ranks, timeout=30):
    """Pids of the `ranks` sluice rank processes of a run whose command line holds marker."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [p for p in e2e.own_processes(marker) if _is_sluice(p)]
        if len(pids) >= ranks:
            return pids
        time.sleep(0.02)
    return []


def _is_sluice(pid):
    try:
        return os.path.realpath(f"/proc/{pid}/exe") == os.path.realpath(e2e.Config.sluice)
    except OSError:
        return False


def plan(rng):
    """The cases: (point or "random", ranks, rank, nth)."""
    cases = []
    if FULL:
        count = int(os.environ.get("SLUICE_FAULT_RUNS", "200"))
        kinds = POINTS + ["random"]
        for i in range(count):
            cases.append((kinds[i % len(kinds)], rng.choice([1, 2, 3, 4])))
    else:
        cases = [(point, ranks) for point in POINTS for ranks in (2, 4)]
        cases += [("random", 2), ("random", 4), ("random", 2), ("random", 4)]
    planned = []
    for point, ranks in cases:
        rank = 0 if point in ROOT_POINTS else rng.randrange(ranks)
        # "read" fires once per finished partition: any of this rank's partitions (ranks get
        # PARTITIONS / ranks each, balanced by size).
        nth = rng.randint(1, max(1, PARTITIONS // ranks)) if point == "read" else 1
        planned.append((point, ranks, rank, nth))
    return planned


class FaultInjectionTest(e2e.TempDirTestCase):
    @classmethod
    def setUpClass(cls):
        cls.shared = e2e.TemporaryDirectory("faults")
        cls.lake = os.path.join(cls.shared.name, "lake")
        result = e2e.sluice(["gen", "--out", cls.lake, "--partitions", PARTITIONS, "--rows", ROWS,
                             "--features", FEATURES, "--seed", 11])
        assert result.returncode == 0, result.describe()
        cls.features = [f"x{j:02d}" for j in range(FEATURES)]

    @classmethod
    def tearDownClass(cls):
        cls.shared.cleanup()

    def job(self, registry, name="job.toml"):
        return e2e.write_job(self.path(name), lake={"path": self.lake, "block_rows": 250},
                             model={"kind": "ridge", "features": self.features, "label": "y",
                                    "alpha": 0.5},
                             publish={"registry": registry, "name": NAME})

    def reference(self):
        """An uninterrupted run without the partial cache: the bits every rerun must give, and
        the v1 every case's registry starts from."""
        registry = self.path("reference")
        _, snapshot = e2e.run_job(self, self.job(registry, "reference.toml"), 2)
        return registry, model_bits(snapshot)

    def verify_registry(self, registry, context):
        result = e2e.sluice(["snapshots", "verify", registry])
        self.assertEqual(result.returncode, 0, context + result.describe())
        self.assertIn("all verified", result.stdout, context + result.describe())

    def check_visible_state(self, registry, before_versions, point, context):
        """What a reader of the registry sees after the kill."""
        directory = os.path.join(registry, NAME)
        self.verify_registry(registry, context)
        current = e2e.current(registry, NAME)
        versions = e2e.version_files(registry, NAME)
        # CURRENT names a complete version: still v1 when the kill came before it could move (a
        # random kill may also land after the publish, while the run is ending).
        self.assertIn(current, ("v000001.h5\n", "v000002.h5\n") if point == "random" else ("v000001.h5\n",),
                      context)
        if point == "pointer_moving":
            # Linked into place and verified, just not current yet.
            self.assertEqual(versions, before_versions + ["v000002.h5"], context)
            self.assertTrue(any(e.startswith("CURRENT.tmp-") for e in leftovers(directory)),
                            context + f"no CURRENT temporary left: {leftovers(directory)}")
        elif point == "random":
            self.assertIn(versions, (before_versions, before_versions + ["v000002.h5"]), context)
        else:
            self.assertEqual(versions, before_versions, context)
        if point == "snapshot_written":
            left = leftovers(directory)
            for pattern in (r"^v000002\.h5\.tmp-", r"^v000002\.report\.json\.tmp-", r"^v000002\.claim$"):
                self.assertTrue(any(re.search(pattern, e) for e in left),
                                context + f"expected a leftover matching {pattern}: {left}")
        for version in versions:  # every file with a version's name is a whole snapshot
            e2e.read_snapshot(os.path.join(directory, version))

    def kill_at_point(self, job, point, ranks, rank, nth, context):
        result = e2e.sluice(["run", job, e2e.WITH_CACHE, "--test-kill-at", f"{point}:{rank}:{nth}"],
                            ranks=ranks, timeout=60)
        self.assertEqual(result.returncode, KILLED, context + "the rank was not killed\n" + result.describe())
        self.assertNotIn("published", result.stdout, context + result.describe())
        return result

    def kill_at_random(self, job, ranks, rng, context):
        """SIGKILL of a random rank a random time into the run (slowed so the kill lands in it)."""
        # 40 ms between blocks: about 1 s of reading per rank at 2 ranks, 0.5 s at 4.
        run = e2e.Running(["run", job, e2e.WITH_CACHE, "--test-block-delay-ms", "40"], ranks)
        pids = rank_pids(job, ranks)
        self.assertEqual(len(pids), ranks, context + "the ranks did not start")
        time.sleep(rng.uniform(0.0, 1.0 if ranks <= 2 else 0.6))
        victim = rng.choice(sorted(pids))
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass  # it had finished
        result = run.finish(timeout=60)
        self.assertIn(result.returncode, (KILLED, 0), context + result.describe())
        return result

    def reap(self, job, context):
        """Every rank of the killed run must be gone before the registry is judged."""
        deadline = time.monotonic() + 10
        while e2e.own_processes(job) and time.monotonic() < deadline:
            time.sleep(0.05)
        stragglers = e2e.own_processes(job)
        for pid in stragglers:
            os.kill(pid, signal.SIGKILL)
        self.assertEqual(stragglers, [], context + "ranks outlived the killed run")

    def test_kill_campaign(self):
        rng = random.Random(SEED)
        reference_registry, reference_bits = self.reference()
        cases = plan(rng)
        print(f"\n  fault campaign: {len(cases)} runs, SLUICE_FAULT_SEED={SEED}", file=sys.stderr)
        runs, cached = collections.Counter(), collections.Counter()
        for i, (point, ranks, rank, nth) in enumerate(cases):
            context = f"case {i} (seed {SEED}): kill at {point} rank {rank} nth {nth}, {ranks} ranks\n"
            registry = self.path(f"registry-{i}")
            shutil.copytree(reference_registry, registry)
            job = self.job(registry, f"job-{i}.toml")
            directory = os.path.join(registry, NAME)
            before = e2e.version_files(registry, NAME)

            if point == "random":
                killed = self.kill_at_random(job, ranks, rng, context)
            else:
                killed = self.kill_at_point(job, point, ranks, rank, nth, context)
            self.reap(job, context)
            if killed.returncode == 0:  # the run was done before the kill landed
                runs["random, finished before the kill"] += 1
                self.assertEqual(e2e.current(registry, NAME), "v000002.h5\n", context)
                finished = e2e.read_snapshot(os.path.join(directory, "v000002.h5"))
                self.assertEqual(model_bits(finished), reference_bits, context)
                continue
            self.check_visible_state(registry, before, point, context)

            # The rerun publishes the uninterrupted run's bits and leaves nothing of the dead run.
            rerun, snapshot = self.rerun(job, ranks, context)
            self.assertEqual(model_bits(snapshot), reference_bits, context + rerun.describe())
            self.assertEqual(e2e.current(registry, NAME), f"v{snapshot['version']:06d}.h5\n", context)
            self.assertEqual(leftovers(directory), [], context + "the next publish left the dead run's temporaries")
            self.verify_registry(registry, context)
            runs[point] += 1
            cached[point] += rerun.field("cached") or 0
            if not e2e.Config.keep:
                shutil.rmtree(registry, True)
        print("  fault campaign: every killed run left a verified registry and its rerun gave the "
              "uninterrupted run's bits:", file=sys.stderr)
        for point, count in sorted(runs.items()):
            print(f"    {point}: {count} runs" + (f", reruns took {cached[point]} partitions from the "
                                                   f"partial cache" if point in cached else ""),
                  file=sys.stderr)

    def rerun(self, job, ranks, context):
        result = e2e.sluice(["run", job, e2e.WITH_CACHE], ranks=ranks, timeout=60)
        self.assertEqual(result.returncode, 0, context + result.describe())
        e2e.check_ranks(self, result, ranks)
        match = re.search(r"^published (\S+\.h5)", result.stdout, re.MULTILINE)
        self.assertIsNotNone(match, context + result.describe())
        return result, e2e.read_snapshot(match.group(1))

    # ------------------------------------------------------------ temporaries of live processes

    def plant(self, directory, name, content=b""):
        with open(os.path.join(directory, name), "wb") as f:
            f.write(content)

    def test_live_publisher_temporaries_are_kept(self):
        """A publisher holding the model's lock is live by definition: the next publish waits for
        the lock and never touches its files; a dead one's are removed."""
        reference_registry, reference_bits = self.reference()
        registry = self.path("registry")
        shutil.copytree(reference_registry, registry)
        directory = os.path.join(registry, NAME)
        host = socket.gethostname()
        dead = subprocess.Popen(["true"])
        dead.wait()  # a pid that is no longer running
        for name in (f"v000007.h5.tmp-{host}-{dead.pid}-0", f"CURRENT.tmp-{host}-{dead.pid}-1"):
            self.plant(directory, name)
        self.plant(directory, "v000007.claim", f"{host} {dead.pid}\n".encode())

        live_names = [f"v000009.h5.tmp-{host}-{os.getpid()}-0", f"CURRENT.tmp-{host}-{os.getpid()}-1"]
        with open(os.path.join(directory, ".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # this test process is the live publisher
            for name in live_names:
                self.plant(directory, name)
            run = e2e.Running(["run", self.job(registry), e2e.WITH_CACHE], 2)
            time.sleep(3)  # ample for the run to reach its publish and wait on the lock
            self.assertIsNone(run.process.poll(), "the publish did not wait for the live publisher")
            for name in live_names:
                self.assertTrue(os.path.exists(os.path.join(directory, name)),
                                f"a live publisher's {name} was removed")
            for name in live_names:  # the live publisher finishes: its temporaries go
                os.remove(os.path.join(directory, name))
        result = run.finish(timeout=60)
        self.assertEqual(result.returncode, 0, result.describe())
        self.assertEqual(leftovers(directory), [], "a dead publisher's temporaries were kept")
        self.assertEqual(e2e.current(registry, NAME), "v000002.h5\n")
        self.assertEqual(model_bits(e2e.read_snapshot(os.path.join(directory, "v000002.h5"))),
                         reference_bits)

    def test_temporary_of_live_lockless_writer_is_kept(self):
        """A live process on this host whose temporaries are in the directory without the lock
        (a registry on a file system without flock, or without the lock by option) keeps them:
        the publish removes only temporaries and claims of processes that are gone."""
        reference_registry, _ = self.reference()
        registry = self.path("registry")
        shutil.copytree(reference_registry, registry)
        directory = os.path.join(registry, NAME)
        host = socket.gethostname()
        live = [f"v000009.h5.tmp-{host}-{os.getpid()}-0", f"CURRENT.tmp-{host}-{os.getpid()}-1",
                f"v000009.report.json.tmp-{host}-{os.getpid()}-2.part"]
        for name in live:
            self.plant(directory, name)
        self.plant(directory, "v000009.claim", f"{host} {os.getpid()}\n".encode())
        result, snapshot = self.rerun(self.job(registry), 2, "")
        for name in live + ["v000009.claim"]:
            self.assertTrue(os.path.exists(os.path.join(directory, name)),
                            f"the live process's {name} was removed\n" + result.describe())
        # The live claim reserves v9: the publish went past it.
        self.assertEqual(snapshot["version"], 10, result.describe())


if __name__ == "__main__":
    e2e.main()
