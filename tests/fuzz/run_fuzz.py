"""Fuzzes the partition reader for a bounded time: makes a seed corpus (partitions from `sluice gen`
and h5py in every storage variant and dtype of the lake contract, plus malformed ones from the
e2e corpus), runs the libFuzzer harness on it, and fails on any finding with the path of the
input that reproduces it (`fuzz_partition PATH` replays it).

    run_fuzz.py --harness build-fuzz/tests/fuzz/fuzz_partition --sluice build/apps/sluice
                [--seconds N | SLUICE_FUZZ_SECONDS=N] [--artifacts DIR] [--keep-corpus DIR]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import partition_corpus  # noqa: E402  (tests/e2e: the malformed-partition generators)

# Larger seeds slow every mutation; the interesting structure of a partition (superblock, object
# headers, B-trees, heaps) sits in its first few KiB.
MAX_SEED_BYTES = 64 << 10
ROWS = 100
# A few of each malformed class keep the fuzzer starting near each of the guard's rules.
MALFORMED_PER_CLASS = 2

DTYPES = ["float64", "float32", "int64", "int32", "int8", "uint8", "bool"]
STORAGES = {
    "contiguous": {},
    "chunked": {"chunks": (32,)},
    "deflate-shuffle-fletcher32": {"chunks": (32,), "compression": "gzip", "shuffle": True,
                                   "fletcher32": True},
}


def h5py_seeds(directory):
    """One partition per dtype and storage variant, written as users write them with h5py."""
    rng = np.random.default_rng(7)
    for dtype in DTYPES:
        for storage, options in STORAGES.items():
            with h5py.File(os.path.join(directory, f"h5py-{dtype}-{storage}.h5"), "w") as f:
                for name in ("x1", "x2", "x3", "y"):
                    values = rng.normal(size=ROWS) * 20
                    f.create_dataset(name, data=(values > 0) if dtype == "bool" else values.astype(dtype),
                                     **options)


def sluice_gen_seeds(sluice, directory, scratch):
    """Partitions written by Sluice itself: contiguous, chunked, and deflate+shuffle."""
    variants = {"contiguous": [], "chunked": ["--chunk-rows", "32"],
                "deflate-shuffle": ["--chunk-rows", "32", "--deflate", "4", "--shuffle"]}
    for name, options in variants.items():
        lake = os.path.join(scratch, f"gen-{name}")
        subprocess.run([sluice, "gen", "--out", lake, "--partitions", "1", "--rows", str(ROWS),
                        "--features", "3", "--seed", "3"] + options,
                       check=True, timeout=60, stdout=subprocess.DEVNULL)
        for root, _, files in os.walk(lake):
            for i, file in enumerate(sorted(f for f in files if f.endswith(".h5"))):
                shutil.copy(os.path.join(root, file), os.path.join(directory, f"gen-{name}-{i}.h5"))


def malformed_seeds(directory, scratch):
    """The first few files of each class of tests/e2e/partition_corpus.py."""
    corpus = os.path.join(scratch, "corpus")
    outside = os.path.join(scratch, "outside")
    os.makedirs(outside, exist_ok=True)
    taken = {}
    for cls, name in partition_corpus.build(corpus, outside):
        path = os.path.join(corpus, name)
        # Files that declare sizes beyond the caps are always in: they test the bounds.
        wanted = taken.get(cls, 0) < MALFORMED_PER_CLASS or "giant-chunk" in name or cls == "bomb"
        if not wanted or os.path.getsize(path) > MAX_SEED_BYTES:
            continue
        if os.path.getsize(path) == 0:
            continue  # libFuzzer always tries the empty input itself
        taken[cls] = taken.get(cls, 0) + 1
        shutil.copy(path, os.path.join(directory, name))
    return taken


def make_seeds(sluice, directory, scratch):
    os.makedirs(directory, exist_ok=True)
    h5py_seeds(directory)
    sluice_gen_seeds(sluice, directory, scratch)
    taken = malformed_seeds(directory, scratch)
    for name in os.listdir(directory):
        if os.path.getsize(os.path.join(directory, name)) > MAX_SEED_BYTES:
            os.remove(os.path.join(directory, name))
    print(f"seed corpus: {len(os.listdir(directory))} files "
          f"(malformed: {', '.join(f'{c} {n}' for c, n in sorted(taken.items()))})", flush=True)


# A finding belongs to the innermost frame of Sluice's code or of libhdf5 on its stack; frames of
# the sanitizer and fuzzer runtimes, the C and C++ libraries and zlib are looked through.
SLUICE_FRAME = re.compile(r"/(?:src|include/sluice|tests/fuzz)/\S+:\d+")
FRAME = re.compile(r"^\s*#\d+ 0x[0-9a-f]+ (?:in (\S+) )?(.*)$")


# libhdf5 functions that handle a dataset's values (chunks, filters, the read itself): memory or
# time spent there is bounded by the guard's caps, unlike the parsing of metadata.
DATA_PATH = re.compile(r"^H5(?:Z|D__chunk|D__contig|D__compact|D__read|D__scatgath|D__select|"
                       r"D__typeinfo|Dread|T_convert)")


def first_stack(text):
    """("sluice" | "libhdf5" | None, the libhdf5 functions below the first Sluice frame or the
    Sluice frame itself) of the first stack trace in text."""
    libhdf5 = []
    for line in text.splitlines():
        frame = FRAME.match(line)
        if not frame:
            if libhdf5 and not line.strip():
                break  # the end of the stack
            continue
        function, where = frame.group(1) or "?", frame.group(2)
        sluice = SLUICE_FRAME.search(where)
        if sluice:
            if libhdf5:
                break
            return "sluice", [f"{function} {sluice.group(0)}"]
        if "libhdf5" in where:
            libhdf5.append(function)
    return ("libhdf5", libhdf5) if libhdf5 else (None, [])


def classify(report):
    """("sluice" | "bound" | "libhdf5" | "unknown", signature) of one sanitizer or fuzzer report."""
    if "HDF5 objects still open" in report:
        return "sluice", "HDF5 handles left open"
    if "libhdf5 could not close the file" in report:
        return "libhdf5", "H5Fclose failed on corrupt metadata: the file stays open"
    ubsan = re.search(r"^(\S+:\d+:\d+): runtime error: (.*)$", report, re.MULTILINE)
    if ubsan:
        where = "sluice" if SLUICE_FRAME.search(ubsan.group(1)) else "unknown"
        return where, f"{ubsan.group(1)}: {ubsan.group(2)}"
    # Memory or time beyond the caps: the guard promises bounds on everything a dataset's values
    # take (docs/lake-format.md), so only a stack wholly inside libhdf5's metadata parsing is
    # libhdf5's own.
    bound = re.search(r"ERROR: libFuzzer: (out-of-memory \([^)]*\)|timeout after \d+ seconds)|"
                      r"replay hung", report)
    if bound:
        where, frames = first_stack(report[bound.start():])
        what = bound.group(0).replace("ERROR: ", "")
        # A group's local heap is checked before libhdf5 loads it (size, place, free list):
        # memory or time spent loading one means that check did not hold.
        if any(f.startswith("H5HL") for f in frames):
            return "bound", f"{what} in a local heap past the guard: {' < '.join(frames[:3])}"
        # A stack without a Sluice frame and outside the data path (e.g. an object header
        # message decoded at a forged size, with unsymbolised frames around it) is listed as
        # libhdf5's too: isolation's address-space limit contains it.
        if where != "sluice" and not any(DATA_PATH.match(f) for f in frames):
            return "libhdf5", f"{what} in libhdf5: {' < '.join(frames[:3])}"
        return "bound", f"{what} in {' < '.join(frames[:3]) or '?'}"
    error = re.search(r"==\d+==ERROR: (.*)", report)
    if not error:
        return "unknown", "no sanitizer report (did not reproduce alone?)"
    kind = error.group(1).split(" on ")[0].split(" (")[0]
    body = report[error.start():]
    # A leak report lists several allocations: each is judged, and Sluice's own come first.
    blocks = re.split(r"^(?=(?:Direct|Indirect) leak of)", body, flags=re.MULTILINE)
    judged = [first_stack(block) for block in (blocks[1:] if len(blocks) > 1 else blocks)]
    for where, frames in judged:
        if where == "sluice":
            return "sluice", f"{kind} in {frames[0]}"
    for where, frames in judged:
        if where == "libhdf5":
            return "libhdf5", f"{kind} in libhdf5: {' < '.join(frames[:3])}"
    return "unknown", kind


def final_stat(output, name):
    match = re.search(rf"stat::{name}:\s*(\d+)", output)
    return int(match.group(1)) if match else None


def reports_by_artifact(output):
    """{artifact path: [the fuzzer's report that ended with writing it]} from the fuzzer's log."""
    reports, start = {}, 0
    for match in re.finditer(r"Test unit written to (\S+)", output):
        reports.setdefault(match.group(1), []).append(output[start:match.start()])
        start = match.end()
    return reports


def replay(harness, path, env):
    """Runs one input alone with full allocation stacks; returns its report."""
    env = dict(env)
    env["ASAN_OPTIONS"] = env["ASAN_OPTIONS"] + ":fast_unwind_on_malloc=0"
    try:
        run = subprocess.run([harness, "-timeout=20", "-rss_limit_mb=2048", "-malloc_limit_mb=16", path],
                             env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             errors="replace", timeout=120)
        return run.stdout
    except subprocess.TimeoutExpired as error:
        return (error.output or "") + "\n==0==ERROR: replay hung for 120 s"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--harness", required=True)
    parser.add_argument("--sluice", required=True)
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("SLUICE_FUZZ_SECONDS", "120")))
    parser.add_argument("--artifacts", default=os.path.join(os.getcwd(), "fuzz-findings"),
                        help="where findings' inputs are written (kept after the run)")
    parser.add_argument("--keep-corpus", help="copy the grown corpus here after the run")
    args = parser.parse_args()

    for tool in (args.harness, args.sluice):
        if not os.access(tool, os.X_OK):
            sys.exit(f"run_fuzz: {tool} is not an executable")
    artifacts = os.path.abspath(args.artifacts)
    shutil.rmtree(artifacts, True)  # findings of this run only
    os.makedirs(artifacts)
    scratch = tempfile.mkdtemp(prefix="sluice-fuzz-")
    try:
        corpus = os.path.join(scratch, "seeds")
        make_seeds(args.sluice, corpus, scratch)
        # libhdf5 1.10 crashes and leaks on some corrupt metadata (docs/lake-format.md,
        # "Untrusted partitions"); stopping at the first of those would leave Sluice's own code
        # unexplored, so after each finding the fuzzer starts again on the grown corpus until the
        # time is used up. (Fork mode goes on by itself but keeps only a report's first line.)
        flags = [f"-max_len={MAX_SEED_BYTES}",
                 # One input takes milliseconds; seconds mean a hang in the reader.
                 "-timeout=20",
                 # The harness's caps bound a hostile chunk's inflation to about 4 MiB: one
                 # allocation beyond 16 MiB means a bound did not hold.
                 "-rss_limit_mb=2048", "-malloc_limit_mb=16",
                 f"-artifact_prefix={os.path.join(artifacts, '')}", "-print_final_stats=1"]
        print(f"running: {args.harness} {corpus} -max_total_time={args.seconds} {' '.join(flags)}",
              flush=True)
        env = dict(os.environ)
        # A failed huge allocation returns NULL, as glibc's malloc does in a real run.
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:allocator_may_return_null=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        env.setdefault("LSAN_OPTIONS", "print_suppressions=0:suppressions=" + os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "lsan_libhdf5.supp"))
        env["TMPDIR"] = scratch  # the harness's per-process input file
        deadline = time.monotonic() + args.seconds
        executions, outputs = 0, []
        while (left := int(deadline - time.monotonic())) >= 5:
            try:
                run = subprocess.run([args.harness, corpus, f"-max_total_time={left}"] + flags,
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, errors="replace", timeout=left + 300)
            except subprocess.TimeoutExpired as error:
                print(error.output or "", file=sys.stderr)
                sys.exit(f"run_fuzz: the harness did not stop within {left + 300} s")
            outputs.append(run.stdout)
            executions += final_stat(run.stdout, "number_of_executed_units") or 0
            if run.returncode == 0:
                break
            if "Test unit written to" not in run.stdout:
                print("\n".join(run.stdout.splitlines()[-60:]))
                sys.exit("run_fuzz: the harness failed without writing a reproducer")
        output = "\n".join(outputs)
        with open(os.path.join(artifacts, "fuzz.log"), "w") as log:
            log.write(output)
        reports = reports_by_artifact(output)
        findings = sorted(f for f in os.listdir(artifacts) if f != "fuzz.log")
        print(f"fuzz_partition: {executions} executions in {args.seconds} s ({len(outputs)} "
              f"start(s)), corpus {len(os.listdir(corpus))} inputs, {len(findings)} finding(s); "
              f"log in {os.path.join(artifacts, 'fuzz.log')}")
        if args.keep_corpus:
            shutil.copytree(corpus, args.keep_corpus, dirs_exist_ok=True)
        if executions == 0:
            print("\n".join(output.splitlines()[-40:]))
            sys.exit("run_fuzz: no executions were reported: the harness did not fuzz")

        by_class = {"sluice": {}, "bound": {}, "libhdf5": {}, "unknown": {}}
        for name in findings:
            path = os.path.join(artifacts, name)
            # The report the fuzzer saw first; a replay of the input alone where that says too
            # little (a leak found when a worker exits belongs to no single input).
            judged = [classify(report) + (report,) for report in reports.get(path, [])]
            if not judged or any(where == "unknown" for where, _, _ in judged):
                report = replay(args.harness, path, env)
                judged = [j for j in judged if j[0] != "unknown"] + [classify(report) + (report,)]
            for where, signature, report in judged:
                entry = by_class[where].setdefault(signature, [path, report, 0])
                entry[2] += 1
        for where, found in by_class.items():
            for signature, (path, report, count) in sorted(found.items()):
                print(f"{where} finding ({count}x): {signature}\n  reproduce: {args.harness} {path}")
        if by_class["libhdf5"]:
            print("libhdf5 findings are defects of libhdf5 1.10 on corrupt metadata that no check "
                  "before the library can stop (documented in docs/lake-format.md): with [lake] "
                  "isolate = true a run refuses such a partition under on_bad_partition; without "
                  "it the job ends with a signal exit code.")
        # The guard bounds what a dataset's values and a group's local heap make libhdf5
        # allocate (a forged heap size was the last known gap: H5FL_blk_malloc/H5C_protect under
        # H5HL_protect), so a bound finding is a check that did not hold: it fails the slice.
        failing = {**by_class["sluice"], **by_class["unknown"], **by_class["bound"]}
        for signature, (path, report, _) in failing.items():
            print(f"--- FINDING (Sluice's code, a resource bound, or unclassified): {signature}\n"
                  + "\n".join(report.splitlines()[-60:]))
        if failing:
            sys.exit(1)
    finally:
        shutil.rmtree(scratch, True)


if __name__ == "__main__":
    main()
