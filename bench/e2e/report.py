"""Turns the benchmark's measured rows into results.csv, two plots and PASS/MISS verdicts."""
import argparse
import csv
import os

import matplotlib

matplotlib.use("Agg")  # no display on build machines
import matplotlib.pyplot as plt  # noqa: E402

# The targets; README.md explains each.
TARGET_LIMIT = 0.70
TARGET_PEER = 2.0
TARGET_EFFICIENCY = 0.85
TARGET_MEMORY = 0.10

PEERS = ("numpy+h5py", "dask", "sklearn")


def load_rows(path):
    out = []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split(",")
            if parts[0] != "ROW" or len(parts) < 7:
                continue
            system, config, ranks, threads, seconds, rows = parts[1:7]
            gb = parts[7] if len(parts) > 7 else ""
            seconds = float(seconds)
            rows = int(rows) if rows else None
            out.append({
                "system": system, "config": config, "ranks": int(ranks), "threads": int(threads),
                "seconds": seconds, "rows": rows,
                "rows_per_s": rows / seconds if rows else None,
                "gb_per_s": float(gb) if gb else None,
            })
    return out


def write_csv(rows, path):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["system", "config", "ranks", "threads", "seconds", "rows", "rows_per_s", "gb_per_s"])
        for r in rows:
            w.writerow([r["system"], r["config"], r["ranks"], r["threads"], f"{r['seconds']:.6f}",
                        r["rows"] if r["rows"] else "",
                        f"{r['rows_per_s']:.0f}" if r["rows_per_s"] else "",
                        f"{r['gb_per_s']:.3f}" if r["gb_per_s"] else ""])


def find(rows, system, ranks=None, threads=None):
    for r in rows:
        if r["system"] == system and (ranks is None or r["ranks"] == ranks) and \
                (threads is None or r["threads"] == threads):
            return r
    return None


def rate(r):
    return r["rows_per_s"] if r else None


def plot_systems(rows, path):
    data = [r for r in rows if r["rows_per_s"]]
    labels = [f"{r['system']}: {r['config']} ({r['ranks']}r x {r['threads']}t)" for r in data]
    palette = {"sluice": "tab:blue", "sluice-inproc": "lightsteelblue", "h5read": "tab:grey",
               "xtx": "tab:grey"}
    colours = [palette.get(r["system"], "tab:orange") for r in data]
    fig, ax = plt.subplots(figsize=(10, 0.4 * len(data) + 1.5))
    ax.barh(range(len(data)), [r["rows_per_s"] / 1e6 for r in data], color=colours)
    ax.set_yticks(range(len(data)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("million rows/s (best of repetitions)")
    ax.set_title("Rows/s per system\nblue: sluice (wall), light blue: sluice (own timer), grey: limits, orange: peers",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_scaling(rows, path):
    series = {
        "sluice, ranks (1 thread)": [r for r in rows if r["system"] == "sluice" and r["threads"] == 1],
        "sluice, threads (1 rank)": [r for r in rows if r["system"] == "sluice" and r["ranks"] == 1],
        "page-cached HDF5 read, procs": [r for r in rows if r["system"] == "h5read"],
        "XᵀX Eigen rankUpdate, threads": [r for r in rows if r["system"] == "xtx" and
                                          r["config"].startswith("eigen")],
        "XᵀX sluice gram_lower, threads": [r for r in rows if r["system"] == "xtx" and
                                           r["config"].startswith("sluice")],
    }
    fig, ax = plt.subplots(figsize=(7, 5))
    all_cores = sorted({r["ranks"] * r["threads"] for pts in series.values() for r in pts})
    for name, pts in series.items():
        pts = sorted(pts, key=lambda r: r["ranks"] * r["threads"])
        if not pts:
            continue
        cores = [r["ranks"] * r["threads"] for r in pts]
        ys = [r["rows_per_s"] / 1e6 for r in pts]
        line, = ax.plot(cores, ys, marker="o", label=name)
        if cores[0] == 1:  # ideal linear scaling from the one-core point
            ax.plot(cores, [ys[0] * c for c in cores], ls=":", color=line.get_color())
    if all_cores:
        ax.set_xticks(all_cores)
    ax.set_xlabel("cores used (ranks x threads)")
    ax.set_ylabel("million rows/s")
    ax.set_title("Scaling (dotted: linear from 1 core)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def verdict(name, value, target, higher_is_better=True, fmt="{:.2f}", detail=""):
    if value is None:
        return f"{name}: n/a (not measured in this run){detail}"
    ok = value >= target if higher_is_better else value <= target
    sign = ">=" if higher_is_better else "<="
    return f"{name}: {fmt.format(value)} (target {sign} {fmt.format(target)}) {'PASS' if ok else 'MISS'}{detail}"


def memory_growth(path):
    """Largest per-rank peak RSS at 2R divided by that at R, minus 1."""
    if not path or not os.path.exists(path):
        return None, ""
    by_rows = {}
    with open(path) as f:
        for r in csv.DictReader(f):
            by_rows.setdefault(int(r["rows_per_partition"]), []).append(int(r["max_rss_kib"]))
    if len(by_rows) < 2:
        return None, ""
    small, big = sorted(by_rows)[:2]
    a, b = max(by_rows[small]), max(by_rows[big])
    return b / a - 1.0, f"  [{small} rows/partition: {a / 1024:.1f} MiB, {big}: {b / 1024:.1f} MiB per rank]"


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rows", required=True, help="file of ROW, lines collected by run_bench.sh")
    p.add_argument("--memory", default="", help="memory.csv from run_bench.sh")
    p.add_argument("--out", required=True)
    p.add_argument("--features", type=int, default=32)
    a = p.parse_args()

    os.makedirs(a.out, exist_ok=True)
    rows = load_rows(a.rows)
    write_csv(rows, os.path.join(a.out, "results.csv"))
    plot_systems(rows, os.path.join(a.out, "rows_per_s.png"))
    plot_scaling(rows, os.path.join(a.out, "scaling.png"))

    lines = ["", "== measured (best of repetitions) =="]
    for r in rows:
        rps = f"{r['rows_per_s'] / 1e6:8.2f} M rows/s" if r["rows_per_s"] else " " * 17
        gb = f"  {r['gb_per_s']:.2f} GB/s" if r["gb_per_s"] else ""
        lines.append(f"  {r['system']:<11} {r['config']:<45} {r['ranks']}r x {r['threads']}t "
                     f"{r['seconds']:9.3f} s {rps}{gb}")

    # The XᵀX limit is the faster of the kernels measured (Eigen's SYRK, sluice's own).
    read2 = rate(find(rows, "h5read", 2))
    xtx2 = max((rate(r) for r in rows if r["system"] == "xtx" and r["ranks"] == 1 and
                r["threads"] == 2 and r["rows_per_s"]), default=None)
    limit = min(read2, xtx2) if read2 and xtx2 else None
    peer_best = max((r for r in rows if r["system"] in PEERS and r["rows_per_s"]), key=rate,
                    default=None)

    def ratios(system):
        """The four throughput ratios for sluice timed one way (wall, or its own timer)."""
        s11, s21, s12 = (rate(find(rows, system, n, t)) for n, t in ((1, 1), (2, 1), (1, 2)))
        best = max((r for r in rows if r["system"] == system), key=rate, default=None)
        return {
            "limit": s21 / limit if s21 and limit else None,
            "peer": rate(best) / rate(peer_best) if best and peer_best else None,
            "ranks": s21 / (2 * s11) if s21 and s11 else None,
            "threads": s12 / (2 * s11) if s12 and s11 else None,
            "best": best,
        }

    wall, own = ratios("sluice"), ratios("sluice-inproc")

    def own_detail(key):
        # Peers' timings exclude their start-up; sluice's own timer excludes mpirun's launch.
        return f"  [sluice's own timer: {own[key]:.2f}]" if own[key] is not None else ""

    sluice_best = wall["best"]
    growth, mem_detail = memory_growth(a.memory)

    lines.append("")
    lines.append("== verdicts ==")
    if limit:
        lines.append(f"  machine limit at 2 cores = min(read {read2 / 1e6:.2f}, XᵀX {xtx2 / 1e6:.2f})"
                     f" = {limit / 1e6:.2f} M rows/s")
    lines.append("  (sluice timed as the wall time of the whole mpirun command)")
    lines.append("  " + verdict("sluice 2 ranks / machine limit", wall["limit"], TARGET_LIMIT,
                                detail=own_detail("limit")))
    detail = own_detail("peer")
    if sluice_best and peer_best:
        detail += (f"  [sluice {sluice_best['config']}: {rate(sluice_best) / 1e6:.2f} vs "
                   f"{peer_best['system']} {peer_best['config']}: {rate(peer_best) / 1e6:.2f} M rows/s]")
    lines.append("  " + verdict("sluice best / best peer", wall["peer"], TARGET_PEER, detail=detail))
    lines.append("  " + verdict("parallel efficiency 1->2 ranks", wall["ranks"], TARGET_EFFICIENCY,
                                detail=own_detail("ranks")))
    lines.append("  " + verdict("parallel efficiency 1->2 threads", wall["threads"], TARGET_EFFICIENCY,
                                detail=own_detail("threads")))
    lines.append("  " + verdict("peak RSS per rank growth, partition R -> 2R", growth, TARGET_MEMORY,
                                higher_is_better=False, fmt="{:+.1%}", detail=mem_detail))

    # Context, no target: how much of the streaming bandwidth sluice's row rate represents.
    triad = max((r["gb_per_s"] for r in rows if r["system"] == "triad"), default=None)
    if triad and sluice_best:
        bytes_per_row = 8 * (a.features + 1)
        lines.append(f"  (context) sluice best moves {rate(sluice_best) * bytes_per_row / 1e9:.2f} GB/s of "
                     f"column data; STREAM triad best {triad:.2f} GB/s")
    lines.append(f"  files: {a.out}/results.csv, rows_per_s.png, scaling.png")
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(a.out, "summary.txt"), "w") as f:
        f.write(text.lstrip("\n") + "\n")


if __name__ == "__main__":
    main()
