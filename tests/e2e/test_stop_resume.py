"""SIGUSR1 stops a run within a block with exit 75, its finished partitions in the partial cache; rerunning resumes and publishes the same bits."""

import glob
import os
import signal

import sluice_e2e as e2e

EXIT_STOPPED = 75


class StopResumeTest(e2e.TempDirTestCase):
    def test_stop_then_resume_gives_the_uninterrupted_bits(self):
        ranks = e2e.Config.ranks
        rows = 3000
        for attempt in range(4):
            # The uninterrupted reference run uses the same text in a second directory: same lake
            # (absolute path), its own registry, and no partial cache (the tests' default).
            lake = self.path(f"lake-{attempt}")
            features = e2e.gen_lake(self, lake, 40, rows, seed=17)
            text = e2e.slow_job_text(lake, features, "m")
            stopped_job = e2e.write_text(self.path(f"stopped-{attempt}", "job.toml"), text)
            reference_job = e2e.write_text(self.path(f"reference-{attempt}", "job.toml"), text)
            registry = self.path(f"stopped-{attempt}", "registry")

            run = e2e.Running(["run", stopped_job, e2e.WITH_CACHE], ranks, env=e2e.PROGRESS_ENV)
            progress = run.wait_for_line(e2e.PROGRESS, timeout=30)
            if progress is not None:
                run.signal(signal.SIGUSR1)
            result = run.finish(timeout=60)
            if result.returncode == 0:
                # The stop landed after the last partition: nothing to resume, try a bigger lake.
                rows *= 3
                continue
            self.assertIsNotNone(progress, "no progress line\n" + result.describe())
            self.assertEqual(result.returncode, EXIT_STOPPED, result.describe())
            self.assertIn("sluice: stopped", result.stderr, result.describe())
            self.assertEqual(result.error_lines(), [], result.describe())
            self.assertIn("partial cache", result.stderr, result.describe())
            saved = len(glob.glob(os.path.join(registry, ".partials", "*", "*.partial")))
            # A stopped run publishes nothing.
            self.assertIsNone(e2e.current(registry, "m"))
            self.assertEqual(e2e.version_files(registry, "m"), [])
            if saved == 40:
                rows *= 3  # stopped, but with every partition done: not a real resume
                continue
            break
        else:
            self.fail("every run finished before SIGUSR1 could stop it, even on the biggest lake")

        resumed, snap = e2e.run_job(self, stopped_job, ranks, env=e2e.PROGRESS_ENV, cache=True)
        self.assertGreater(resumed.field("cached"), 0, resumed.describe())
        self.assertEqual(resumed.field("cached"), saved, resumed.describe())
        self.assertEqual(resumed.field("read"), 40 - saved, resumed.describe())
        self.assertEqual(snap["version"], 1)
        self.assertEqual(len(snap["partitions"]), 40)
        self.assertEqual(snap["metrics"]["num_rows"], sum(snap["partition_rows"]))

        reference_result, reference = e2e.run_job(self, reference_job, ranks)
        self.assertEqual(reference_result.field("cached"), 0)
        self.assertEqual(snap["coefficients_bytes"], reference["coefficients_bytes"],
                         f"{snap['coefficients'].tolist()} vs {reference['coefficients'].tolist()}")
        self.assertEqual(snap["intercept_bytes"], reference["intercept_bytes"])
        self.assertEqual(snap["metrics"]["rmse"], reference["metrics"]["rmse"])
        self.assertEqual(snap["partition_rows"], reference["partition_rows"])


if __name__ == "__main__":
    e2e.main()
