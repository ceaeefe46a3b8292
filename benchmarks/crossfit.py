"""Cross-fitting against one validation split: what the recommended model (★) costs.

For every dataset of ../shared/data and the bundled samples, the labelled rows are split
once (the split benchmarks/automl.py makes, so AutoGluon's stored rows are on the same
test rows), and ``nncli compare train.csv --test test.csv`` runs twice in the same
session: ``--bag 1`` (one validation split, the old default) and the default (the
planner's cross-fitting). Per run: the ★'s test AUC, the best row's test AUC, the
selection cost (best row − ★) and the p-value of the paired test of the best row against
the ★ on the test rows (a cost the test rows cannot tell from noise has a large p), whether
the ensemble is significantly worse than the best single model, and the wall time of the
whole process.

    python benchmarks/crossfit.py [--datasets sonar,vote] [--budget 60]

Writes benchmarks/crossfit.json and a section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
START, END = "<!-- crossfit:start -->", "<!-- crossfit:end -->"
SAMPLES = [("physics", "physics.csv", "label"), ("credit_g_sample", "credit_g.csv", "class"),
           ("segment_sample", "segment.csv", "class")]  # fmt: skip


def run(train: Path, test: Path, target: str, budget: float, bag: str | None) -> dict:
    command = [sys.executable, "-m", "nncli", "compare", str(train), "--test", str(test),
               "--target", target, "--time-budget", f"{budget:g}s", "--json",
               "--quiet"]  # fmt: skip
    command += ["--bag", bag] if bag else []
    from benchmarks.automl import timed_json

    report, wall = timed_json(command)
    ok = {m["label"]: m for m in report["models"] if m["status"] == "ok"}
    star = ok[report["best"]]
    top = max(ok.values(), key=lambda m: m["test"]["auc"])
    worse = [p for p in report["paired"] if p["model"] == "ensemble"
             and p["against_role"] == "best single" and p["significant"]
             and p["difference"] < 0]  # fmt: skip
    vs = [p["p_value"] for p in report["paired"] if p["model"] == top["label"]
          and p["against"] == report["best"]]  # fmt: skip
    return {"star": report["best"], "star_auc": star["test"]["auc"], "top": top["label"],
            "top_auc": top["test"]["auc"], "cost": top["test"]["auc"] - star["test"]["auc"],
            "p": vs[0] if vs else 1.0, "test_rows": report["rows"]["test"],
            "ensemble_worse": bool(worse), "folds": report["rows"].get("folds", 1),
            "wall_s": wall, "load": os.getloadavg()[0],
            "rows_auc": {label: m["test"]["auc"] for label, m in ok.items()}}  # fmt: skip


def _cost(run: dict) -> str:
    return f"{run['cost']:.4f}" + (f" (p={run['p']:.2g})" if run["cost"] > 0 else "")


def render(rows: list[dict], command: str) -> str:
    import platform

    lines = [START, "## Cross-fitting: what choosing the recommended model costs", "",
             f"Generated {date.today()} by `{command}` on {platform.machine()}, "
             f"{os.cpu_count()} cores, alone. Same training and test rows for every run (the "
             "split of benchmarks/automl.py, so AutoGluon's stored rows are on the same test "
             "rows). Selection cost = the best row's test AUC − the ★'s test AUC (0: the "
             "choice was the best available), with p: the paired test (DeLong) of the best row "
             "against the ★ on the same test rows. Wall time of the whole process.", "",
             "| dataset | rows | test rows | one split: ★ (test AUC) | cost (p) | cross-fitted: ★ "
             "(test AUC) | folds | cost (p) | AutoGluon | ★ − AutoGluon | wall s (split / bag) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        one, bag, ag = r["split"], r["bag"], r.get("autogluon")
        gap = f"{bag['star_auc'] - ag:+.4f}" if ag is not None else "-"
        lines.append(
            f"| {r['dataset']} | {r['rows']:,} | {bag.get('test_rows', 0):,} | {one['star']} "
            f"({one['star_auc']:.4f}) | {_cost(one)} | {bag['star']} ({bag['star_auc']:.4f}) | "
            f"{bag['folds']} | {_cost(bag)} | {'-' if ag is None else f'{ag:.4f}'} | {gap} | "
            f"{one['wall_s']:.1f} / {bag['wall_s']:.1f} |"
        )
    for mode in ("split", "bag"):
        beaten = sum(r[mode].get("p", 1.0) < 0.05 for r in rows)
        costs = [r[mode]["cost"] for r in rows]
        lines += ["", f"{'One split' if mode == 'split' else 'Cross-fitted'}: selection cost "
                  f"median {statistics.median(costs):.4f}, worst {max(costs):.4f} "
                  f"({max(rows, key=lambda r: r[mode]['cost'])['dataset']}), ≤ 0.005 on "
                  f"{sum(c <= 0.005 for c in costs)} of {len(rows)} sets; ensemble significantly "
                  f"worse than the best single model on "
                  f"{sum(r[mode]['ensemble_worse'] for r in rows)}; the best row significantly "
                  f"better than the ★ (p < 0.05) on {beaten}."]  # fmt: skip
    gaps = [r["bag"]["star_auc"] - r["autogluon"] for r in rows if r.get("autogluon")]
    if gaps:
        lines += ["", f"★ (cross-fitted) − AutoGluon, same test rows: median "
                  f"{statistics.median(gaps):+.4f}, worst {min(gaps):+.4f}, over {len(gaps)} "
                  "sets."]  # fmt: skip
    small = [r["bag"]["wall_s"] / r["split"]["wall_s"] for r in rows if r["rows"] < 5000]
    if small:
        lines += ["", f"Wall time, cross-fitted / one split, sets under 5,000 rows: median "
                  f"{statistics.median(small):.2f}x (max {max(small):.2f}x)."]  # fmt: skip
    return "\n".join(lines + ["", END])


def main() -> None:
    from benchmarks.ablation import datasets, write_doc
    from benchmarks.automl import split

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--datasets", help="comma-separated names (default: all)")
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "crossfit.json")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    wanted = set(args.datasets.split(",")) if args.datasets else None
    automl = ROOT / "benchmarks" / "automl.json"
    ag = {r["dataset"]: r["autogluon"]["auc"] for r in json.loads(automl.read_text())}
    rows = json.loads(args.results.read_text()) if args.results.exists() else []
    sets = list(datasets(args.data, wanted))
    sets += [(n, ROOT / "sample_data" / f, t, None) for n, f, t in SAMPLES
             if wanted is None or n in wanted]  # fmt: skip
    for name, path, target, n_rows in sets:
        with tempfile.TemporaryDirectory() as folder:
            train, test, _ = split(path, target, Path(folder))
            n_rows = n_rows or sum(1 for _ in open(path)) - 1
            row = {"dataset": name, "rows": n_rows, "autogluon": ag.get(name),
                   "split": run(train, test, target, args.budget, "1"),
                   "bag": run(train, test, target, args.budget, None)}  # fmt: skip
        rows = [r for r in rows if r["dataset"] != name] + [row]
        args.results.write_text(json.dumps(rows, indent=1))
        sys.stderr.write(f"{name}: split {row['split']['star']} cost {row['split']['cost']:.4f}, "
                         f"bag {row['bag']['star']} cost {row['bag']['cost']:.4f}\n")  # fmt: skip
    order = {n: i for i, (n, *_) in enumerate(list(datasets(args.data, None)) + SAMPLES)}
    rows.sort(key=lambda r: order.get(r["dataset"], len(order)))
    write_doc(
        render(rows, ("python benchmarks/crossfit.py " + " ".join(sys.argv[1:])).strip()), args.out
    )


if __name__ == "__main__":
    main()
