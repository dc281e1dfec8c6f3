#!/usr/bin/python3
"""The pipeline benchmark's peer and lake: pandas doing the same five steps on the same rows,
read with h5py; and the generator of the benchmark's lake.

  pipeline_peer.py make-lake DIR --partitions P --rows R
  pipeline_peer.py pandas DIR SNAPSHOT    -> one JSON line: rows/s of read + the steps
"""
import glob
import json
import os
import sys
import time

import h5py
import numpy as np
import pandas as pd


def make_lake(root, partitions, rows):
    rng = np.random.default_rng(11)
    for p in range(partitions):
        path = os.path.join(root, f"part={p:03d}", "data.h5")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        price = rng.lognormal(3.0, 1.0, rows)
        price[rng.random(rows) < 0.02] *= -1
        qty = rng.uniform(0, 1.1e6, rows)
        x1 = rng.normal(10, 3, rows)
        x1[rng.random(rows) < 0.05] = np.nan
        x2 = rng.normal(0, 1, rows)
        y = 2 * np.log(np.abs(price)) + 0.5 * np.nan_to_num(x1, nan=10.0) + x2 + rng.normal(0, 0.1, rows)
        with h5py.File(path, "w") as f:
            for name, values in [("price", price), ("qty", qty), ("x1", x1), ("x2", x2), ("y", y)]:
                f.create_dataset(name, data=values)


def stored(snapshot):
    with h5py.File(snapshot, "r") as f:
        g = f["pipeline"]
        return {"x1_fill": float(g["step04.center"][0]),
                "center": np.asarray(g["step05.center"][()]), "scale": np.asarray(g["step05.scale"][()])}


def pandas_pipeline(root, snapshot):
    p = stored(snapshot)
    files = sorted(glob.glob(os.path.join(root, "**", "*.h5"), recursive=True))
    start = time.perf_counter()
    rows_in = rows_out = 0
    checksum = 0.0
    for path in files:
        with h5py.File(path, "r") as f:
            frame = pd.DataFrame({k: f[k][()] for k in ("price", "qty", "x1", "x2", "y")})
        rows_in += len(frame)
        frame = frame[(frame.price > 0) & (frame.qty < 1e6)]
        frame = frame.assign(log_price=np.log(frame.price), value=frame.price * frame.qty)
        frame["x1"] = frame.x1.fillna(p["x1_fill"])
        for i, column in enumerate(["log_price", "value", "x1"]):
            frame[column] = (frame[column] - p["center"][i]) / p["scale"][i]
        rows_out += len(frame)
        checksum += float(frame.log_price.iloc[0])
    seconds = time.perf_counter() - start
    print(json.dumps({"mode": "pandas", "rows_in": rows_in, "rows_out": rows_out, "seconds": seconds,
                      "rows_per_s": rows_in / seconds, "checksum": checksum}))


if __name__ == "__main__":
    if sys.argv[1] == "make-lake":
        args = dict(zip(sys.argv[3::2], sys.argv[4::2]))
        make_lake(sys.argv[2], int(args.get("--partitions", 16)), int(args.get("--rows", 250000)))
    else:
        pandas_pipeline(sys.argv[2], sys.argv[3])
