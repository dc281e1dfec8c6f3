"""The h5py baseline of the small-files benchmark: open every partition and read every column."""
import glob
import sys
import time

import h5py


def main():
    lake, columns = sys.argv[1], sys.argv[2].split(",")
    files = sorted(glob.glob(lake + "/**/*.h5", recursive=True))
    start = time.perf_counter()
    values = 0
    for path in files:
        with h5py.File(path, "r") as f:
            for column in columns:
                values += len(f[column][()])
    print(f"h5py files={len(files)} values={values} seconds={time.perf_counter() - start:.3f}")


if __name__ == "__main__":
    main()
