"""Ablation of the strong MLP: each ingredient switched off in turn, on ../shared/data.

For every dataset and seed (3 seeds below 5,000 rows, 1 above) the same stratified 80/20
split as benchmarks/accuracy.py; the MLP holds out 20% of its 80% for early stopping and
best-epoch selection. Variants: ``default`` (the default MLP), ``strong`` (the preset),
and ``strong`` with one ingredient off. Each fit gets the same time limit, as compare
gives it (the cosine decay is sized to the epochs that fit). Writes the raw rows to
benchmarks/ablation.json and a table between the ablation markers of docs/benchmarks.md.

    python benchmarks/ablation.py [--datasets adult,magic] [--time-limit 60]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: variant → MLP settings given on top of the preset (given values beat the preset)
VARIANTS: dict[str, tuple[str, dict]] = {
    "default": ("default", {}),
    "strong": ("strong", {}),
    "no embeddings": ("strong", {"num_embedding": "none"}),
    "tree bins": ("strong", {"bin_edges": "tree"}),
    "standard scaler": ("strong", {"scaler": "standard"}),
    "150 epochs": ("strong", {"epochs": 150}),  # measured against strong at 60 epochs
    "60 epochs": ("strong", {"epochs": 60}),  # the same question, now that strong has 150
    "periodic embeddings": ("strong", {"num_embedding": "periodic"}),
    "no front scale": ("strong", {"front_scale": False}),
    "one member (k=1)": ("strong", {"ensemble_k": 1}),
    "one-hot categoricals": ("strong", {"max_one_hot": None}),
    "beta2 0.999, no warm-up": ("strong", {"beta2": 0.999, "warmup": 0.0}),
    # what TabM (benchmarks/tabm_ref.py) does differently, one ingredient at a time
    "k=16 members": ("strong", {"ensemble_k": 16}),
    "k=32 members": ("strong", {"ensemble_k": 32}),
    # the strong preset's members before they were sized by the rows (16 below 10,000)
    "k=4 members": ("strong", {"ensemble_k": 4}),
    "TabM's bins (48 of width 16)": ("strong", {"n_bins": 48, "embedding_dim": 16}),
    "quantile scaler": ("strong", {"scaler": "quantile"}),
    "TabM's blocks (512 wide with dropout 0.1)": ("strong", {"hidden": (512, 512), "dropout": 0.1}),
    "TabM's stopping (wd 3e-4 and patience 16)": ("strong", {"weight_decay": 3e-4, "patience": 16}),
}
START, END = "<!-- ablation:start -->", "<!-- ablation:end -->"


def datasets(data: Path, wanted: set[str] | None) -> list[tuple[str, Path, str, int]]:
    with open(data / "MANIFEST.csv") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for row in rows:
        name = Path(row["file"]).stem
        if wanted is None or name in wanted:
            out.append((name, data / row["file"], row["target_column"], int(row["rows"])))
    return sorted(out, key=lambda r: r[3])


def run_one(path: Path, target: str, seed: int, variant: str, time_limit: float) -> dict:
    from benchmarks.accuracy import load
    from nncli.assess.evaluate import metrics
    from nncli.config import MLPConfig, RunConfig, Settings
    from nncli.learn.fitting import fit_model, stratified_split

    frame, schema, y, rest, test = load(str(path), target, seed)
    preset, given = VARIANTS[variant]
    run = RunConfig(seed=seed, preset=preset, threads=2)
    settings = Settings(run=run, mlp=MLPConfig(**given)).with_preset()
    fit_part, valid_part = stratified_split(y[rest], 0.2, seed + 1)
    train, valid = rest[fit_part], rest[valid_part]
    fitted = fit_model(
        "mlp", schema, frame.iloc[train], y[train], frame.iloc[valid], y[valid], settings,
        time_limit=time_limit,
    )  # fmt: skip
    proba = fitted.predictor.predict_proba(frame.iloc[test], unseen="ignore")
    scores = metrics(y[test], proba)
    return {
        "variant": variant,
        "seed": seed,
        "auc": scores["auc"],
        "log_loss": scores["log_loss"],
        "fit_s": fitted.fit_seconds,
        "epochs": len(fitted.report.history),
        "stop": fitted.report.stop_reason,
        "load": os.getloadavg()[0],
    }


def summarise(rows: list[dict]) -> list[tuple[str, float, int, int, float, float]]:
    """Per variant against strong, on the same dataset and seed: median ΔAUC, wins,
    losses, median fit-time ratio, and the highest load average its runs saw."""
    keyed = {(r["dataset"], r["seed"], r["variant"]): r for r in rows}
    pairs = {(r["dataset"], r["seed"]) for r in rows}
    out = []
    for variant in VARIANTS:
        if variant == "strong":
            continue
        deltas, ratios, loads = [], [], []
        for dataset, seed in sorted(pairs):
            a, b = keyed.get((dataset, seed, variant)), keyed.get((dataset, seed, "strong"))
            if a and b:
                deltas.append(a["auc"] - b["auc"])
                ratios.append(a["fit_s"] / max(b["fit_s"], 1e-9))
                loads.append(max(a["load"], b["load"]))
        if deltas:
            wins = sum(d > 1e-4 for d in deltas)
            losses = sum(d < -1e-4 for d in deltas)
            out.append((variant, statistics.median(deltas), wins, losses,
                        statistics.median(ratios), max(loads)))  # fmt: skip
    return out


def per_dataset(rows: list[dict]) -> list[str]:
    names = sorted({r["dataset"] for r in rows}, key=lambda n: min(
        x["rows"] for x in rows if x["dataset"] == n))  # fmt: skip
    lines = ["| dataset | rows | seeds | " + " | ".join(VARIANTS) + " |",
             "|---|---|---|" + "---|" * len(VARIANTS)]  # fmt: skip
    for name in names:
        mine = [r for r in rows if r["dataset"] == name]
        cells = []
        for variant in VARIANTS:
            got = [r for r in mine if r["variant"] == variant]
            if got:
                auc = statistics.mean(r["auc"] for r in got)
                fit = statistics.mean(r["fit_s"] for r in got)
                cells.append(f"{auc:.4f} / {fit:.1f}s")
            else:
                cells.append("-")
        seeds = len({r["seed"] for r in mine})
        lines.append(f"| {name} | {mine[0]['rows']:,} | {seeds} | " + " | ".join(cells) + " |")
    return lines


def render(rows: list[dict], command: str, time_limit: float) -> str:
    import platform

    import torch

    loads = [r["load"] for r in rows]
    lines = [
        START,
        "## Ablation of the strong MLP",
        "",
        f"Generated {date.today()} by `{command}` on {platform.machine()}, "
        f"{os.cpu_count()} cores; torch {torch.__version__}; time limit {time_limit:g} s per "
        f"fit; 1-minute load average during the runs {min(loads):.1f}–{max(loads):.1f}.",
        "Each row switches one ingredient of `--preset strong` off (or changes it) and compares",
        "the test AUC with the full preset on the same dataset, seed and split. Wins/losses:",
        "datasets×seeds where the variant is better/worse than strong by more than 0.0001.",
        "A fit-time ratio is only worth reading where the highest load stayed near 2 or below",
        "(the runs beside other work were slowed several-fold; their AUCs stand when the fits",
        "ended well inside the time limit, as on the sets under 5,000 rows).",
        "",
        "| variant | median ΔAUC vs strong | wins | losses | median fit-time ratio | max load |",
        "|---|---|---|---|---|---|",
    ]
    for variant, delta, wins, losses, ratio, load in summarise(rows):
        lines.append(
            f"| {variant} | {delta:+.4f} | {wins} | {losses} | {ratio:.2f}x | {load:.1f} |"
        )
    lines += ["", "Per dataset (mean test AUC / fit seconds over seeds):", ""]
    lines += per_dataset(rows) + ["", END]
    return "\n".join(lines)


def write_doc(section: str, path: Path) -> None:
    """Replace the section between the markers that open and close ``section`` (its own
    first and last lines), or append it: each script owns its own markers."""
    lines = section.strip().splitlines()
    start, end = lines[0], lines[-1]
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--datasets", help="comma-separated names (default: all)")
    parser.add_argument("--variants", help="comma-separated (default: all)")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--small-seeds", type=int, default=3)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "ablation.json")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    wanted = set(args.datasets.split(",")) if args.datasets else None
    variants = args.variants.split(",") if args.variants else list(VARIANTS)
    rows = json.loads(args.results.read_text()) if args.results.exists() else []
    done = {(r["dataset"], r["seed"], r["variant"]) for r in rows}
    for name, path, target, n_rows in datasets(args.data, wanted):
        seeds = range(args.small_seeds if n_rows < 5000 else 1)
        for seed in seeds:
            for variant in variants:
                if (name, seed, variant) in done:
                    continue
                started = time.perf_counter()
                row = run_one(path, target, seed, variant, args.time_limit)
                rows.append(row | {"dataset": name, "rows": n_rows})
                args.results.write_text(json.dumps(rows, indent=1))
                took = time.perf_counter() - started
                sys.stderr.write(f"{name} seed {seed} {variant}: AUC {row['auc']:.4f} "
                                 f"fit {row['fit_s']:.1f}s ({took:.0f}s)\n")  # fmt: skip
    command = "python benchmarks/ablation.py " + " ".join(sys.argv[1:])
    write_doc(render(rows, command.strip(), args.time_limit), args.out)


if __name__ == "__main__":
    main()
