"""SIGKILL of a running job (mpirun and all its ranks) leaves the registry exactly as it was: v1 current and intact, no v2."""

import os
import signal
import time

import sluice_e2e as e2e

# Ranks die here under mpirun: run Open MPI with its own settings, as users do.
e2e.Config.launcher_defaults = True
from test_bad_input import GOOD_MODEL, write_good_lake

RANKS = 4


class KillTest(e2e.TempDirTestCase):
    def test_kill_before_publish_keeps_v1(self):
        registry = self.path("registry")
        write_good_lake(self.path("small-lake"))
        small = e2e.write_job(self.path("small.toml"), lake={"path": "small-lake"}, model=GOOD_MODEL,
                              publish={"registry": "registry", "name": "m"})
        _, v1 = e2e.run_job(self, small, RANKS)
        v1_path = os.path.join(registry, "m", "v000001.h5")
        v1_hash = e2e.sha256(v1_path)

        rows = 4000
        for attempt in range(3):
            lake = self.path(f"slow-lake-{attempt}")
            features = e2e.gen_lake(self, lake, 32, rows, seed=attempt + 1)
            slow = e2e.write_text(self.path(f"slow-{attempt}.toml"),
                                  e2e.slow_job_text(lake, features, "m"))
            run = e2e.Running(["run", slow], RANKS, env=e2e.PROGRESS_ENV)
            progress = run.wait_for_line(e2e.PROGRESS, timeout=30)
            if progress is not None and int(progress.group(1)) < int(progress.group(2)):
                run.signal(signal.SIGKILL)
                result = run.finish(timeout=30)
                break
            # Finished (or never showed progress) before the kill: a bigger lake makes it slower.
            result = run.finish(timeout=60)
            self.assertEqual(result.returncode, 0, result.describe())
            self.restore(registry, v1_hash)
            rows *= 3
        else:
            self.fail("the slow run always finished before it could be killed")

        self.assertEqual(result.returncode, -signal.SIGKILL, result.describe())
        self.assertNotIn("published", result.stdout, result.describe())
        # SIGKILL to the process group must have reached every rank; reap stragglers we started
        # (by pid) so they cannot touch the registry while it is checked.
        time.sleep(0.5)
        stragglers = e2e.own_processes(slow)
        for pid in stragglers:
            os.kill(pid, signal.SIGKILL)
        self.assertEqual(stragglers, [], "ranks outlived the killed mpirun")

        self.assertEqual(e2e.current(registry, "m"), "v000001.h5\n")
        self.assertEqual(e2e.version_files(registry, "m"), ["v000001.h5"])
        self.assertFalse(os.path.exists(os.path.join(registry, "m", "v000002.report.json")))
        self.assertEqual(e2e.sha256(v1_path), v1_hash)
        again = e2e.read_snapshot(v1_path)
        self.assertEqual(again["coefficients_bytes"], v1["coefficients_bytes"])
        self.assertEqual(again["intercept_bytes"], v1["intercept_bytes"])
        listing = e2e.sluice(["snapshots", "list", registry])
        self.assertEqual(listing.returncode, 0, listing.describe())
        self.assertEqual([line.split()[1] for line in listing.stdout.splitlines()[1:] if line.strip()],
                         ["1"], listing.describe())

        # The killed run held the registry's lock: it must not block the next publish.
        result, v2 = e2e.run_job(self, small, RANKS, timeout=60)
        self.assertEqual(v2["version"], 2)
        self.assertEqual(e2e.current(registry, "m"), "v000002.h5\n")

    def restore(self, registry, v1_hash):
        """Undo a slow run that finished before it could be killed, so the next attempt starts at v1."""
        directory = os.path.join(registry, "m")
        for entry in os.listdir(directory):
            if entry.startswith("v000001") or entry.startswith("."):
                continue
            os.remove(os.path.join(directory, entry))
        e2e.write_text(os.path.join(directory, "CURRENT"), "v000001.h5\n")
        self.assertEqual(e2e.sha256(os.path.join(directory, "v000001.h5")), v1_hash)


if __name__ == "__main__":
    e2e.main()
