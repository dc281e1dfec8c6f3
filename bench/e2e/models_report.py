"""Turns the model benchmark's sluice run reports and peer results into results.json and verdicts."""
import argparse
import json
import os
import re
import statistics

# The model-kind targets; README.md explains each.
TARGET_PASS_VS_RIDGE = 1.5      # a kind's pass time ÷ ridge's pass time, at most
TARGET_LOGISTIC_SPEEDUP = 5.0   # scikit-learn's fastest solver (with h5py load) ÷ sluice, at least
TARGET_KMEANS_SPEEDUP = 2.0     # scikit-learn s per Lloyd iteration ÷ sluice's, at least
TARGET_PCA_SPEEDUP = 10.0       # scikit-learn PCA (with h5py load) ÷ sluice's whole fit, at least

# The pass that repeats, per kind: ridge and PCA have one; logistic's Newton iterations, k-means'
# Lloyd iterations (its k-means‖ initialisation and final evaluation are listed apart).
MAIN_GROUP = {"ridge": None, "pca": None, "logistic": "newton", "kmeans": "lloyd"}
KINDS = ("ridge", "pca", "logistic", "kmeans")


def read_jsonl(path):
    if not path or not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def group_of(name):
    """'lloyd 7' -> 'lloyd', 'init round 3' -> 'init round', 'statistics' -> 'statistics'."""
    return re.sub(r"\s+\d+$", "", name)


def load_run(entry):
    with open(entry["report"]) as f:
        rep = json.load(f)
    passes = [{"index": i, "name": p["name"], "group": group_of(p["name"]), "seconds": p["seconds"],
               "from_memory": bool(p["from_memory"])} for i, p in enumerate(rep.get("passes", []))]
    return {**entry, "rows": rep["rows"], "own_seconds": rep["seconds"], "passes": passes,
            "data_in_memory": [bool(r.get("data_in_memory")) for r in rep.get("ranks", [])],
            "metrics": rep.get("metrics", {}), "num_ranks": rep.get("num_ranks")}


def main_passes(run):
    group = MAIN_GROUP[run["kind"]]
    ps = [p for p in run["passes"] if group is None or p["group"] == group]
    return ps or run["passes"]


def median(xs):
    return statistics.median(xs) if xs else None


def pass_summary(runs, reread_runs=()):
    """A kind's passes at one rank count, pooled over its repeated runs: the best (fastest) and the
    median of its repeating pass, the same for the repeating passes that read HDF5 (default runs'
    and memory_budget = 1 runs'), the first pass, and every pass name."""
    rows = runs[0]["rows"]
    mains = [p for r in runs for p in main_passes(r)]
    hdf5 = [p["seconds"] for r in list(runs) + list(reread_runs) for p in main_passes(r) if not p["from_memory"]]
    groups = []
    for p in (p for r in runs for p in r["passes"]):
        key = (p["group"], p["from_memory"])
        g = next((g for g in groups if (g["group"], g["from_memory"]) == key), None)
        if g is None:
            g = {"group": p["group"], "from_memory": p["from_memory"], "seconds": []}
            groups.append(g)
        g["seconds"].append(p["seconds"])
    for g in groups:
        g["count"] = len(g["seconds"])
        g["median_seconds"] = median(g["seconds"])
        g["rows_per_s"] = rows / g["median_seconds"] if g["median_seconds"] else None
    best = min(p["seconds"] for p in mains)
    first = min(r["passes"][0]["seconds"] for r in runs)
    return {
        "runs": len(runs),
        "passes_per_run": len(runs[0]["passes"]),
        "main_group": mains[0]["group"],
        "main_count": len(mains),
        "main_from_memory": sum(p["from_memory"] for p in mains),
        "best_pass_seconds": best,
        "best_rows_per_s": rows / best,
        "median_pass_seconds": median([p["seconds"] for p in mains]),
        "hdf5_best_pass_seconds": min(hdf5) if hdf5 else None,
        "hdf5_median_pass_seconds": median(hdf5),
        "first_pass_seconds": first,
        "first_pass_rows_per_s": rows / first,
        "groups": groups,
    }


def verdict_row(name, value, target, higher_is_better, detail="", fmt="{:.2f}"):
    if value is None:
        status = "n/a"
    else:
        ok = value >= target if higher_is_better else value <= target
        status = "PASS" if ok else "MISS"
    return {"target": name, "value": value, "goal": (">= " if higher_is_better else "<= ") + fmt.format(target),
            "threshold": target, "higher_is_better": higher_is_better, "verdict": status,
            "detail": detail, "text_value": "n/a" if value is None else fmt.format(value)}


def fmt_rate(r):
    return f"{r / 1e6:6.2f}" if r else "   n/a"


def fmt_s(s):
    return f"{s:7.3f}" if s is not None else "    n/a"


def snapshot_final_gradient(path):
    try:
        import h5py

        with h5py.File(path, "r") as f:
            return float(f["/history/gradient_norm"][-1])
    except Exception:
        return None


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", required=True, help="runs.jsonl from run_models_bench.sh")
    p.add_argument("--peers", default="", help="peers.jsonl (RESULT lines of models_peers.py)")
    p.add_argument("--meta", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()

    os.makedirs(a.out, exist_ok=True)
    with open(a.meta) as f:
        meta = json.load(f)
    runs = [load_run(e) for e in read_jsonl(a.runs)]
    peers = read_jsonl(a.peers)
    top = meta["top_ranks"]
    ranks = sorted({r["ranks"] for r in runs})

    def runs_of(kind, n, variant="default"):
        return [r for r in runs if r["kind"] == kind and r["ranks"] == n and r["variant"] == variant]

    def best_run(kind, n, variant="default"):
        """Of repeated runs, the one whose median repeating pass is fastest (best of K, as run_bench.sh)."""
        rs = runs_of(kind, n, variant)
        return min(rs, key=lambda r: median([p["seconds"] for p in main_passes(r)])) if rs else None

    lines = []
    out = {"meta": meta, "runs": [{k: v for k, v in r.items()} for r in runs], "peers": peers}

    # ------------------------------------------------------------ per-pass table
    per_pass = {}
    for kind in KINDS:
        for n in ranks:
            if runs_of(kind, n):
                per_pass.setdefault(kind, {})[n] = pass_summary(runs_of(kind, n), runs_of(kind, n, "reread"))
    for kind, by_n in per_pass.items():
        for n, s in by_n.items():
            ridge = per_pass.get("ridge", {}).get(n)

            def ratio(x, key):
                return x / ridge[key] if ridge and x else None

            s["ratio_to_ridge"] = ratio(s["best_pass_seconds"], "best_pass_seconds")
            s["median_ratio_to_ridge"] = ratio(s["median_pass_seconds"], "median_pass_seconds")
            s["hdf5_ratio_to_ridge"] = ratio(s["hdf5_best_pass_seconds"], "best_pass_seconds")
    out["per_pass"] = {k: {str(n): v for n, v in by_n.items()} for k, by_n in per_pass.items()}

    rows_total = meta["total_rows"]
    lines.append("")
    lines.append(f"== sluice passes: {rows_total:,} rows ({meta['partitions']} x {meta['rows_per_partition']:,}"
                 f" x {meta['features']} float64), 1 thread per rank; rows/s = rows / pass seconds ==")
    lines.append("  the repeating pass: ridge and PCA their one pass, logistic its Newton passes, k-means its Lloyd")
    lines.append("  passes; best and median over every run's such passes (iterative kinds: from memory after the")
    lines.append("  first pass). HDF5: the best such pass that read the lake (first passes, memory_budget = 1 runs)")
    lines.append(f"  {'kind':<9}{'ranks':>5} {'runs':>4} {'passes':>6}  {'first pass':>10} {'M rows/s':>8}  "
                 f"{'best pass':>9} {'M rows/s':>8} {'÷ ridge':>7}  {'median':>7} {'÷ ridge':>7}  {'HDF5':>7} {'÷ ridge':>7}")

    def r2(x):
        return f"{x:7.2f}" if x else "    n/a"

    for kind in KINDS:
        for n in ranks:
            s = per_pass.get(kind, {}).get(n)
            if not s:
                continue
            lines.append(f"  {kind:<9}{n:>5} {s['runs']:>4} {s['passes_per_run']:>6}  {fmt_s(s['first_pass_seconds']):>10} "
                         f"{fmt_rate(s['first_pass_rows_per_s']):>8}  {fmt_s(s['best_pass_seconds']):>9} "
                         f"{fmt_rate(s['best_rows_per_s']):>8} {r2(s['ratio_to_ridge'])}  "
                         f"{fmt_s(s['median_pass_seconds'])} {r2(s['median_ratio_to_ridge'])}  "
                         f"{fmt_s(s['hdf5_best_pass_seconds'])} {r2(s['hdf5_ratio_to_ridge'])}")
    lines.append("  passes by name (count x median s, M rows/s; mem = from memory):")
    for kind in ("logistic", "kmeans"):
        for n in ranks:
            s = per_pass.get(kind, {}).get(n)
            if s:
                parts = [f"{g['group']} {g['count']}x{g['median_seconds']:.3f}s {g['rows_per_s'] / 1e6:.1f}"
                         f"{' mem' if g['from_memory'] else ''}" for g in s["groups"]]
                lines.append(f"    {kind} {n}r: " + " | ".join(parts))

    verdicts = []
    for kind in ("pca", "logistic", "kmeans"):
        for n in ranks:
            s = per_pass.get(kind, {}).get(n)
            if not s:
                continue
            detail = f"median {s['median_ratio_to_ridge']:.2f}" if s["median_ratio_to_ridge"] else ""
            if s["hdf5_ratio_to_ridge"] and kind != "pca":
                detail += f"; pass reading HDF5 {s['hdf5_ratio_to_ridge']:.2f}"
            verdicts.append(verdict_row(f"{kind} best pass ÷ ridge pass, {n} rank{'s' if n > 1 else ''}",
                                        s["ratio_to_ridge"], TARGET_PASS_VS_RIDGE, False, detail))

    # ------------------------------------------------------------ logistic vs scikit-learn
    lg_runs = runs_of("logistic", top)
    sk_lg = [x for x in peers if x.get("peer") == "sklearn-logistic"]
    logistic = {}
    lines.append("")
    lines.append(f"== logistic at {top} ranks: whole fit to tol {meta['logistic_tol']:g} vs scikit-learn "
                 f"(C = {meta['logistic_C']:g}, same rows) ==")
    if lg_runs:
        wall = min(r["wall_seconds"] for r in lg_runs)
        own = min(r["own_seconds"] for r in lg_runs)
        br = min(lg_runs, key=lambda r: r["own_seconds"])
        newton = sum(p["seconds"] for p in br["passes"] if p["group"] == "newton")
        evaluate = sum(p["seconds"] for p in br["passes"] if p["group"] == "evaluate")
        grad = snapshot_final_gradient(br["snapshot"])
        logistic["sluice"] = {"wall_seconds": wall, "own_seconds": own, "runs": len(lg_runs),
                              "newton_passes": sum(p["group"] == "newton" for p in br["passes"]),
                              "newton_seconds": newton, "evaluate_seconds": evaluate,
                              "iterations": br["metrics"].get("iterations"),
                              "final_gradient_max_per_row": grad, "metrics": br["metrics"]}
        lines.append(f"  sluice: wall {wall:.3f} s, own timer {own:.3f} s (best of {len(lg_runs)}); "
                     f"{logistic['sluice']['newton_passes']} Newton passes {newton:.3f} s + AUC evaluation "
                     f"pass {evaluate:.3f} s; max|gradient|/rows {grad if grad is not None else float('nan'):.1e}")
    for x in sk_lg:
        lines.append(f"  sklearn {x['solver']:<16} h5py load {x['load_seconds']:6.3f} + fit {x['fit_seconds']:7.3f}"
                     f" = {x['total_seconds']:7.3f} s; {x['n_iter']} iterations; max|gradient|/rows "
                     f"{x['gradient_max_per_row']:.1e}; coefficients vs sluice: max rel diff "
                     f"{x.get('coef_max_rel_diff', float('nan')):.1e} (max |diff| / max |coef| "
                     f"{x.get('coef_max_diff_over_max_coef', float('nan')):.1e})"
                     + ("" if x.get("converged", True) else f" [not converged: {x.get('warning')}]"))
    fastest = min(sk_lg, key=lambda x: x["total_seconds"]) if sk_lg else None
    speed = speed_own = None
    if fastest and logistic.get("sluice"):
        speed = fastest["total_seconds"] / logistic["sluice"]["wall_seconds"]
        speed_own = fastest["total_seconds"] / logistic["sluice"]["own_seconds"]
        logistic["sklearn_fastest"] = fastest["solver"]
    logistic["sklearn"] = sk_lg
    logistic["speedup_wall"], logistic["speedup_own"] = speed, speed_own
    out["logistic"] = logistic
    verdicts.append(verdict_row(
        f"logistic fit, {top} ranks: sklearn fastest (with load) ÷ sluice", speed, TARGET_LOGISTIC_SPEEDUP,
        True, (f"own timer {speed_own:.2f}; sklearn {fastest['solver']} {fastest['total_seconds']:.2f} s "
               f"(max|grad|/rows {fastest['gradient_max_per_row']:.0e}, coef rel diff "
               f"{fastest.get('coef_max_rel_diff', float('nan')):.0e}) vs sluice wall "
               f"{logistic['sluice']['wall_seconds']:.2f} s") if speed else ""))

    # ------------------------------------------------------------ k-means vs scikit-learn
    # Like scikit-learn's figure (fit seconds / iterations, best of its fits): the mean Lloyd pass of
    # the run where it is lowest.
    km_runs = runs_of("kmeans", top)

    def mean_lloyd(run):
        xs = [p["seconds"] for p in run["passes"] if p["group"] == "lloyd"]
        return sum(xs) / len(xs) if xs else float("inf")

    km = min(km_runs, key=mean_lloyd) if km_runs else None
    sk_km = next((x for x in peers if x.get("peer") == "sklearn-kmeans"), None)
    kmeans = {}
    lines.append("")
    lines.append(f"== k-means k = {meta['kmeans_k']} at {top} ranks: seconds per Lloyd iteration, "
                 f"{meta['kmeans_iters']} iterations from sluice's initial centres ==")
    if km:
        lloyd = [p["seconds"] for p in km["passes"] if p["group"] == "lloyd"]
        mem = sum(p["from_memory"] for p in km["passes"] if p["group"] == "lloyd")
        kmeans["sluice"] = {"lloyd_passes": len(lloyd), "median_seconds": median(lloyd),
                            "mean_seconds": sum(lloyd) / len(lloyd) if lloyd else None,
                            "from_memory": mem, "inertia": km["metrics"].get("inertia"),
                            "wall_seconds": km["wall_seconds"], "own_seconds": km["own_seconds"]}
        lines.append(f"  sluice: {len(lloyd)} Lloyd passes ({mem} from memory), mean {kmeans['sluice']['mean_seconds']:.4f}"
                     f" s, median {median(lloyd):.4f} s (best of {len(km_runs)} runs); whole job {km['own_seconds']:.2f} s"
                     f" (k-means‖ initialisation included)")
    if sk_km:
        kmeans["sklearn"] = sk_km
        inertia_diff = None
        if km and km["metrics"].get("inertia"):
            inertia_diff = abs(sk_km["inertia"] - km["metrics"]["inertia"]) / km["metrics"]["inertia"]
        kmeans["inertia_rel_diff"] = inertia_diff
        lines.append(f"  sklearn KMeans(lloyd, n_init=1, tol=0), data in memory: fit {sk_km['fit_seconds']:.3f} s (best of "
                     f"{meta['reps']}) / {sk_km['n_iter']} iterations = {sk_km['seconds_per_iteration']:.4f} s; centres vs sluice: "
                     f"max |diff| / max |centre| {sk_km.get('centers_max_rel_diff', float('nan')):.1e}; inertia rel "
                     f"diff {inertia_diff if inertia_diff is not None else float('nan'):.1e}")
    km_speed = None
    if km and sk_km and kmeans["sluice"]["mean_seconds"]:
        km_speed = sk_km["seconds_per_iteration"] / kmeans["sluice"]["mean_seconds"]
    kmeans["speedup"] = km_speed
    out["kmeans"] = kmeans
    verdicts.append(verdict_row(f"k-means per Lloyd iteration, {top} ranks: sklearn ÷ sluice", km_speed,
                                TARGET_KMEANS_SPEEDUP, True,
                                f"{sk_km['seconds_per_iteration']:.3f} vs {kmeans['sluice']['mean_seconds']:.3f}"
                                " s/iteration" if km_speed else ""))

    # ------------------------------------------------------------ PCA vs scikit-learn
    pca_runs = runs_of("pca", top)
    sk_pca = next((x for x in peers if x.get("peer") == "sklearn-pca"), None)
    pca = {}
    lines.append("")
    lines.append(f"== PCA ({meta['pca_components']} components) at {top} ranks: whole fit vs scikit-learn with h5py load ==")
    if pca_runs:
        pca["sluice"] = {"wall_seconds": min(r["wall_seconds"] for r in pca_runs),
                         "own_seconds": min(r["own_seconds"] for r in pca_runs), "runs": len(pca_runs)}
        lines.append(f"  sluice: wall {pca['sluice']['wall_seconds']:.3f} s, own timer {pca['sluice']['own_seconds']:.3f} s"
                     f" (best of {len(pca_runs)})")
    if sk_pca:
        pca["sklearn"] = sk_pca
        lines.append(f"  sklearn PCA(n_components={meta['pca_components']}) [{sk_pca['svd_solver']}]: load "
                     f"{sk_pca['load_seconds']:.3f} + fit {sk_pca['fit_seconds']:.3f} = {sk_pca['total_seconds']:.3f} s;"
                     f" explained variance vs sluice: max rel diff "
                     f"{sk_pca.get('explained_variance_max_rel_diff', float('nan')):.1e}")
    pca_speed = pca_speed_own = None
    if pca.get("sluice") and sk_pca:
        pca_speed = sk_pca["total_seconds"] / pca["sluice"]["wall_seconds"]
        pca_speed_own = sk_pca["total_seconds"] / pca["sluice"]["own_seconds"]
    pca["speedup_wall"], pca["speedup_own"] = pca_speed, pca_speed_own
    out["pca"] = pca
    verdicts.append(verdict_row(f"PCA fit, {top} ranks: sklearn (with load) ÷ sluice", pca_speed,
                                TARGET_PCA_SPEEDUP, True,
                                f"own timer {pca_speed_own:.1f}" if pca_speed_own else "", fmt="{:.1f}"))

    # ------------------------------------------------------------ cached vs re-read
    lines.append("")
    lines.append(f"== columns cached in memory vs re-read from HDF5 every pass ({top} ranks; the kind's "
                 f"repeating passes after the first pass of the run) ==")
    cache = {}
    for kind in ("logistic", "kmeans"):
        d, rr = best_run(kind, top), best_run(kind, top, "reread")
        if not d or not rr:
            continue

        def after_first(run):
            return [p for p in main_passes(run) if p["index"] > 0]

        dc, rc = after_first(d), after_first(rr)
        c = {"cached_median_seconds": median([p["seconds"] for p in dc]),
             "reread_median_seconds": median([p["seconds"] for p in rc]),
             "cached_passes_from_memory": f"{sum(p['from_memory'] for p in dc)}/{len(dc)}",
             "reread_passes_from_memory": f"{sum(p['from_memory'] for p in rc)}/{len(rc)}",
             "cached_data_in_memory": d["data_in_memory"], "reread_data_in_memory": rr["data_in_memory"],
             "cached_total_seconds": d["own_seconds"], "reread_total_seconds": rr["own_seconds"]}
        c["reread_over_cached"] = (c["reread_median_seconds"] / c["cached_median_seconds"]
                                   if c["cached_median_seconds"] and c["reread_median_seconds"] else None)
        cache[kind] = c
        lines.append(f"  {kind:<9} cached {c['cached_median_seconds']:.3f} s/pass ({c['cached_passes_from_memory']} "
                     f"from memory, data_in_memory {d['data_in_memory']}); re-read {c['reread_median_seconds']:.3f} "
                     f"s/pass ({c['reread_passes_from_memory']} from memory, memory_budget = 1); re-read ÷ cached "
                     f"{c['reread_over_cached']:.2f}; whole job {d['own_seconds']:.2f} vs {rr['own_seconds']:.2f} s")
    out["cache_vs_reread"] = cache

    # ------------------------------------------------------------ verdicts
    out["verdicts"] = verdicts
    lines.append("")
    lines.append("== verdicts (sluice per pass: its own run report; whole fits: mpirun wall time, own timer in detail) ==")
    w = max(len(v["target"]) for v in verdicts)
    lines.append(f"  {'target':<{w}}  {'value':>7}  {'goal':>8}  verdict  detail")
    for v in verdicts:
        lines.append(f"  {v['target']:<{w}}  {v['text_value']:>7}  {v['goal']:>8}  {v['verdict']:<7}  {v['detail']}")
    lines.append(f"  machine: {meta['cores']} cores, {meta['cpu_model']}, {meta['memory_gib']} GiB; load average "
                 f"{meta['load_start']} at start, {meta['load_end']} at end; benchmark {meta['bench_seconds']} s")
    lines.append(f"  files: {a.out}/results.json, summary.txt, bench.log, logs/")

    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(out, f, indent=1, default=str)
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(a.out, "summary.txt"), "w") as f:
        f.write(text.lstrip("\n") + "\n")


if __name__ == "__main__":
    main()
