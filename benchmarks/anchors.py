"""nncli compare against the two anchors TabArena ranks first at defaults: CatBoost and TabM.

For every dataset, the split of benchmarks/accuracy.py (stratified 80/20, seed 0), so
that the reference rows of benchmarks/results.json (``catboost``, ``tabm``) and nncli's
single models there (``nncli-mlp-strong``) are on the same test rows:
``nncli compare train.csv --test test.csv`` at its defaults with a time budget. Per set:
the recommended model (★, chosen out of fold), the best row of the table (its test AUC:
what compare offers, chosen with hindsight) and the anchors' test AUCs; then the issue's
targets: the best row ≥ each anchor on the median set and no set more than 0.005 below,
and the strong MLP ≥ TabM on the median set, no set more than 0.005 below, at ≤ ½ of
its fit time.

    python benchmarks/run.py --models catboost,tabm,nncli-mlp-strong --skip-speed  # first
    python benchmarks/anchors.py [--datasets sonar,vote] [--budget 60]

Writes benchmarks/anchors.json and a section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
START, END = "<!-- anchors:start -->", "<!-- anchors:end -->"
ANCHORS = ("catboost", "tabm")
SLACK = 0.005


def split(path: Path, target: str, folder: Path) -> tuple[Path, Path]:
    """train.csv and test.csv: benchmarks/accuracy.py's rows for seed 0."""
    from benchmarks.accuracy import load

    frame, _, _, rest, test = load(str(path), target, 0)
    train_path, test_path = folder / "train.csv", folder / "test.csv"
    frame.iloc[rest].to_csv(train_path, index=False)
    frame.iloc[test].to_csv(test_path, index=False)
    return train_path, test_path


def references(results: Path) -> dict[str, dict[str, dict]]:
    """dataset → model → its seed-0 row of benchmarks/results.json (ok rows only)."""
    out: dict[str, dict[str, dict]] = {}
    for r in json.loads(results.read_text())["accuracy"]:
        if r["seed"] == 0 and r["status"] == "ok":
            out.setdefault(r["dataset"], {})[r["model"]] = r
    return out


def _gaps(rows: list[dict], ours: str, anchor: str) -> list[float]:
    return [r[ours] - r[anchor] for r in rows if r.get(anchor) is not None]


def _target(rows: list[dict], ours: str, anchor: str, what: str) -> list[str]:
    rows = [r for r in rows if r.get(ours) is not None]
    gaps = _gaps(rows, ours, anchor)
    if not gaps:
        return []
    median, worst = statistics.median(gaps), min(gaps)
    below = [r["dataset"] for r in rows if r.get(anchor) is not None
             and r[ours] - r[anchor] < -SLACK]  # fmt: skip
    return [
        f"| {what} ≥ {anchor} on the median set ({len(gaps)} sets) | {median:+.4f} | "
        f"{'yes' if median >= 0 else 'no'} |",
        f"| ... no set more than {SLACK} below | worst {worst:+.4f}"
        + (f" ({', '.join(below)})" if below else "")
        + f" | {'yes' if not below else 'no'} |",
    ]


def render(rows: list[dict], command: str) -> str:
    import platform

    lines = [
        START,
        "## nncli against CatBoost and TabM",
        "",
        f"Generated {date.today()} by `{command}` on {platform.machine()}, "
        f"{os.cpu_count()} cores. The split of the accuracy table (seed 0): the anchors' "
        "test AUCs are its `catboost` and `tabm` cells. ★: compare's recommended model "
        "(chosen out of fold); best row: the highest test AUC in compare's table (chosen "
        "with hindsight: what compare offers). Load: the 1-minute average when compare ended.",
        "",
        "| dataset | rows | ★ (test AUC) | best row (test AUC) | catboost | tabm | "
        "strong MLP (fit s) | tabm fit s | compare wall s | load |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    every = rows  # the strong MLP is trained alone: it has a row where compare refused
    refused = [r for r in rows if "error" in r]
    rows = [r for r in rows if "error" not in r]
    for r in rows + refused:
        cells = [f"{r[k]:.4f}" if r.get(k) is not None else "-" for k in ("catboost", "tabm")]
        strong = (f"{r['strong']:.4f} ({r['strong_fit']:.1f})" if r.get("strong") is not None
                  else "-")  # fmt: skip
        tabm_fit = f"{r['tabm_fit']:.1f}" if r.get("tabm_fit") is not None else "-"
        compared = (
            f"compare refused this split: {r['error']} |" if "error" in r
            else f"{r['star']} ({r['star_auc']:.4f}) | {r['top']} ({r['top_auc']:.4f})"
        )  # fmt: skip
        wall = "- | -" if "error" in r else f"{r['wall_s']:.1f} | {r['load']:.1f}"
        lines.append(f"| {r['dataset']} | {r['rows']:,} | {compared} | {' | '.join(cells)} | "
                     f"{strong} | {tabm_fit} | {wall} |")  # fmt: skip
    lines += ["", "| target (issue 30) | measured | met |", "|---|---|---|"]
    for anchor in ANCHORS:
        lines += _target(rows, "top_auc", anchor, "best row")
    for anchor in ANCHORS:
        lines += _target(rows, "star_auc", anchor, "★ (no target: the model compare picks)")
    lines += _target(every, "strong", "tabm", "strong MLP")
    ratios = [r["strong_fit"] / r["tabm_fit"] for r in every
              if r.get("strong") is not None and r.get("tabm_fit")]  # fmt: skip
    if ratios:
        ratio = statistics.median(ratios)
        lines.append(f"| ... at ≤ ½ of TabM's fit time on the CPU (median ratio) | "
                     f"{ratio:.2f}x | {'yes' if ratio <= 0.5 else 'no'} |")  # fmt: skip
    return "\n".join(lines + ["", END])


def main() -> None:
    from benchmarks.ablation import datasets, write_doc
    from benchmarks.crossfit import run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--datasets", help="comma-separated names (default: all)")
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "anchors.json")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    wanted = set(args.datasets.split(",")) if args.datasets else None
    rows = json.loads(args.results.read_text()) if args.results.exists() else []
    for name, path, target, n_rows in datasets(args.data, wanted):
        row = {"dataset": name, "rows": n_rows}
        with tempfile.TemporaryDirectory() as folder:
            train, test = split(path, target, Path(folder))
            try:
                row |= run(train, test, target, args.budget, None)
            except subprocess.CalledProcessError as exc:  # e.g. a class of one training row
                row["error"] = exc.stderr.strip().splitlines()[0]
        rows = [r for r in rows if r["dataset"] != name] + [row]
        args.results.write_text(json.dumps(rows, indent=1))
        said = row.get("error") or (
            f"★ {row['star']} {row['star_auc']:.4f}, best row "
            f"{row['top']} {row['top_auc']:.4f} ({row['wall_s']:.0f} s)"
        )
        sys.stderr.write(f"{name}: {said}\n")
    refs = references(ROOT / "benchmarks" / "results.json")
    for r in rows:  # the anchors' cells as they are now in results.json
        mine = refs.get(r["dataset"], {})
        for anchor in ANCHORS:
            r[anchor] = mine[anchor]["auc"] if anchor in mine else None
        r["tabm_fit"] = mine["tabm"]["fit_s"] if "tabm" in mine else None
        strong = mine.get("nncli-mlp-strong")
        r["strong"], r["strong_fit"] = (strong["auc"], strong["fit_s"]) if strong else (None, None)
    order = {n: i for i, (n, *_) in enumerate(datasets(args.data, None))}
    rows.sort(key=lambda r: order.get(r["dataset"], len(order)))
    command = ("python benchmarks/anchors.py " + " ".join(sys.argv[1:])).strip()
    write_doc(render(rows, command), args.out)


if __name__ == "__main__":
    main()
