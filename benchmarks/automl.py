"""nncli compare against AutoGluon on ../shared/data: the model each one recommends.

For every dataset, the labelled rows are split once (stratified 80/20, seed 0, the split
compare itself makes); both tools get the same training rows (train.csv) and are scored
on the same test rows (test.csv):

- nncli: ``nncli compare train.csv --test test.csv --json`` with the time budget; the
  recommended model is the one chosen on its validation rows (``best``), the ensemble
  included; wall time of the whole process.
- AutoGluon: ``TabularPredictor(label).fit(train, time_limit=budget)`` at its default
  preset, in its own virtual environment (it pins pandas < 3, which nncli does not run
  on): ``--ag-python .venv-ag/bin/python`` (see benchmarks/README.md); wall time of the
  whole process.

Writes benchmarks/automl.json and a table between the automl markers of docs/benchmarks.md.

    python benchmarks/automl.py --ag-python .venv-ag/bin/python [--datasets adult,magic]
    python benchmarks/automl.py --rerun-nncli     # after a change to nncli: AutoGluon's rows kept
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
START, END = "<!-- automl:start -->", "<!-- automl:end -->"
MIN_CLASS_ROWS = 5  # smaller classes cannot be split into training, validation and test rows

AG_RUNNER = """
import json, sys
import pandas as pd
from autogluon.tabular import TabularPredictor
train, test, label, budget, out, workdir = sys.argv[1:7]
train = pd.read_csv(train, dtype={label: str}, keep_default_na=True)
test = pd.read_csv(test, dtype={label: str}, keep_default_na=True)
predictor = TabularPredictor(label=label, path=workdir, verbosity=0).fit(
    train, time_limit=float(budget))
proba = predictor.predict_proba(test.drop(columns=[label]))
json.dump({"classes": [str(c) for c in proba.columns], "proba": proba.to_numpy().tolist(),
           "best": predictor.model_best}, open(out, "w"))
"""


def timed_json(command: list[str]) -> tuple[dict, float]:
    """Run an nncli command that prints --json: its report and the process's wall time."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout), time.perf_counter() - started


def split(path: Path, target: str, folder: Path) -> tuple[Path, Path, list[str]]:
    """train.csv and test.csv of the labelled rows (compare's own test split)."""
    from nncli.config import ColumnSpec
    from nncli.io.data import read_table
    from nncli.learn.fitting import stratified_split
    from nncli.prepare.dataset import labelled_rows
    from nncli.prepare.schema import class_label, infer_schema

    table = read_table(path)
    schema = infer_schema(table.frame, ColumnSpec(target=target))
    frame = labelled_rows(table.frame, schema).reset_index(drop=True)
    labels = frame[target].map(class_label)
    counts = labels.value_counts()
    frame = frame[labels.isin(counts[counts >= MIN_CLASS_ROWS].index).to_numpy()]
    frame = frame.reset_index(drop=True)  # a class too small to be in both parts is left out
    classes = [c for c in schema.classes if counts.get(c, 0) >= MIN_CLASS_ROWS]
    y = frame[target].map(class_label).map({c: i for i, c in enumerate(classes)})
    rest, test = stratified_split(y.to_numpy(), 0.2, 0)
    frame[target] = frame[target].map(class_label)
    train_path, test_path = folder / "train.csv", folder / "test.csv"
    frame.iloc[rest].to_csv(train_path, index=False)
    frame.iloc[test].to_csv(test_path, index=False)
    return train_path, test_path, classes


def run_nncli(
    train: Path, test: Path, target: str, budget: float, preset: str | None, extra: str | None
) -> dict:
    command = [
        sys.executable,
        "-m",
        "nncli",
        "compare",
        str(train),
        "--test",
        str(test),
        "--target",
        target,
        "--time-budget",
        f"{budget:g}s",
        "--json",
        "--quiet",
    ]
    command += ["--preset", preset] if preset else []  # fmt: skip
    command += ["--extra-runs", extra] if extra is not None else []  # fmt: skip
    report, wall = timed_json(command)
    models = {m["label"]: m for m in report["models"] if m["status"] == "ok"}
    best = models[report["best"]]
    gbt = models.get("gbt", {}).get("test", {}).get("auc", float("nan"))
    return {"auc": best["test"]["auc"], "best": report["best"], "gbt_auc": gbt, "wall_s": wall,
            "ensemble_auc": models.get("ensemble", {}).get("test", {}).get("auc")}  # fmt: skip


def run_autogluon(
    ag_python: str, train: Path, test: Path, target: str, budget: float, classes: list[str]
) -> dict:
    import numpy as np
    import pandas as pd

    from nncli.assess.evaluate import metrics

    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "out.json"
        runner = Path(work) / "runner.py"
        runner.write_text(AG_RUNNER)
        command = [ag_python, str(runner), str(train), str(test), target, str(budget), str(out),
                   str(Path(work) / "ag")]  # fmt: skip
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - started
        result = json.loads(out.read_text())
    proba = pd.DataFrame(result["proba"], columns=result["classes"])
    proba = proba.reindex(columns=classes, fill_value=0.0).to_numpy()
    truth = pd.read_csv(test, dtype={target: str})[target].to_numpy()
    y = np.array([classes.index(str(v)) for v in truth])
    return {"auc": metrics(y, proba)["auc"], "best": result["best"], "wall_s": wall}


def render(rows: list[dict], command: str) -> str:
    import platform

    lines = [
        START,
        "## nncli compare against AutoGluon",
        "",
        f"Generated {date.today()} by `{command}` on {platform.machine()}, {os.cpu_count()} "
        "cores. Same training and test rows for both; nncli's recommended model is chosen on "
        "its validation rows (the ensemble included), AutoGluon's is its own choice. Wall "
        "time of each whole process (imports included)."
        + (
            " AutoGluon's rows are kept from the run that made them (benchmarks/automl.json);"
            " only nncli was rerun."
            if "--rerun-nncli" in command
            else ""
        ),
        "",
        "| dataset | rows | nncli AUC (model) | gbt AUC | AutoGluon AUC (model) | nncli s | "
        "AutoGluon s | time ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        n, a = r["nncli"], r["autogluon"]
        lines.append(
            f"| {r['dataset']} | {r['rows']:,} | {n['auc']:.4f} ({n['best']}) | {n['gbt_auc']:.4f}"
            f" | {a['auc']:.4f} ({a['best']}) | {n['wall_s']:.1f} | {a['wall_s']:.1f} | "
            f"{n['wall_s'] / a['wall_s']:.2f}x |"
        )
    diffs = [r["nncli"]["auc"] - r["autogluon"]["auc"] for r in rows]
    ratios = [r["nncli"]["wall_s"] / r["autogluon"]["wall_s"] for r in rows]
    nn_median = statistics.median(r["nncli"]["auc"] for r in rows)
    ag_median = statistics.median(r["autogluon"]["auc"] for r in rows)
    lines += [
        "",
        f"Median AUC: nncli {nn_median:.4f}, AutoGluon {ag_median:.4f}; median difference "
        f"{statistics.median(diffs):+.4f}; nncli better on {sum(d > 1e-4 for d in diffs)}, "
        f"worse on {sum(d < -1e-4 for d in diffs)} of {len(rows)}; median wall-time ratio "
        f"{statistics.median(ratios):.2f}x.",
        "",
        END,
    ]
    return "\n".join(lines)


def main() -> None:
    from benchmarks.ablation import datasets, write_doc

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--datasets", help="comma-separated names (default: all)")
    parser.add_argument("--ag-python", help="python of the AutoGluon venv")
    parser.add_argument("--budget", type=float, default=180.0, help="seconds, both tools")
    parser.add_argument("--preset", help="nncli's --preset (default: compare's own, strong)")
    parser.add_argument("--extra-runs", help="nncli's --extra-runs (default: compare's own)")
    parser.add_argument(
        "--rerun-nncli",
        action="store_true",
        help="rerun nncli on the datasets already in --results, keeping AutoGluon's rows",
    )
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "automl.json")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    if not args.rerun_nncli and not args.ag_python:
        parser.error("--ag-python is needed to run AutoGluon (or pass --rerun-nncli)")
    wanted = set(args.datasets.split(",")) if args.datasets else None
    rows = json.loads(args.results.read_text()) if args.results.exists() else []
    stored = {r["dataset"]: r for r in rows}
    for name, path, target, n_rows in datasets(args.data, wanted):
        if (name in stored) != args.rerun_nncli:  # done already, or nothing to keep
            continue
        with tempfile.TemporaryDirectory() as folder:
            train, test, classes = split(path, target, Path(folder))
            ours = run_nncli(train, test, target, args.budget, args.preset, args.extra_runs)
            theirs = (
                stored[name]["autogluon"]
                if args.rerun_nncli
                else run_autogluon(args.ag_python, train, test, target, args.budget, classes)
            )
        row = {"dataset": name, "rows": n_rows, "nncli": ours, "autogluon": theirs,
               "load": os.getloadavg()[0]}  # fmt: skip
        rows = [r for r in rows if r["dataset"] != name] + [row]
        args.results.write_text(json.dumps(rows, indent=1))
        sys.stderr.write(f"{name}: nncli {ours['auc']:.4f} ({ours['wall_s']:.0f}s) vs "
                         f"AutoGluon {theirs['auc']:.4f} ({theirs['wall_s']:.0f}s)\n")  # fmt: skip
    order = {name: i for i, (name, *_) in enumerate(datasets(args.data, None))}
    rows.sort(key=lambda r: order.get(r["dataset"], len(order)))
    command = "python benchmarks/automl.py " + " ".join(sys.argv[1:])
    write_doc(render(rows, command.strip()), args.out)


if __name__ == "__main__":
    main()
