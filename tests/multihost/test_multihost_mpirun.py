"""sluice under mpirun across two network-namespace hosts: the same model bits as a one-host run, and a run report that says which host and CPUs each rank had."""

import os

import multihost_bed as bed


class MultiHostMpirunTest(bed.MultiHostTestCase):
    BED_NAME = "sltbmpi"
    BED_NET = "10.77.1"

    def test_two_hosts_same_bits_as_one_host_and_report_placement(self):
        lake = self.path("lake")
        features = self.gen_lake(lake, partitions=6, rows=3000, features=5, seed=3)
        for kind in ("ridge", "kmeans"):
            with self.subTest(kind=kind):
                self.check_kind(lake, features, kind)

    def check_kind(self, lake, features, kind):
        registry = self.path("registry")
        one = self.write_job(f"one-{kind}", lake, features, f"one-{kind}", kind=kind)
        # A singleton run on this machine (one host, one rank) is the reference.
        self.sluice(["run", one])
        one_bits, one_ranks = bed.model_bits(bed.current_snapshot(registry, f"one-{kind}"))
        self.assertEqual(one_ranks, 1)

        two = self.write_job(f"two-{kind}", lake, features, f"two-{kind}", kind=kind)
        result = bed.run(self.bed.mpirun_args(4, ["run", two, "--threads", "2"]), timeout=90)
        self.assertEqual(result.returncode, 0, result.describe())
        snapshot = bed.current_snapshot(registry, f"two-{kind}")
        two_bits, two_ranks = bed.model_bits(snapshot)
        # mpirun as root without its variables "succeeds" having run nothing: count the ranks.
        self.assertEqual(two_ranks, 4, result.describe())
        self.assertTrue(one_bits, "the snapshot has no float parameters to compare")
        self.assertEqual(sorted(one_bits), sorted(two_bits))
        for key in one_bits:
            self.assertEqual(one_bits[key], two_bits[key], f"{kind}: '{key}' differs between 1 host and 2")

        report = bed.report_of(snapshot)
        self.assertEqual(report["num_ranks"], 4)
        hosts = [rank["host"] for rank in report["ranks"]]
        # Two slots per host, filled in order: ranks 0-1 on host 1, 2-3 on host 2.
        self.assertEqual(hosts, [self.bed.host(1)] * 2 + [self.bed.host(2)] * 2)
        num_cpus = os.cpu_count()
        for rank in report["ranks"]:
            self.assertEqual(rank["threads"], 2, rank)
            # --bind-to none: each rank may run on every CPU of the machine.
            self.assertEqual(rank["cpus"], list(range(num_cpus)), rank)
        # Every rank did work and the rows add up, wherever it ran.
        self.assertEqual(sum(rank["rows"] for rank in report["ranks"]), 6 * 3000)


if __name__ == "__main__":
    bed.main()
