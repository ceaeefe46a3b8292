"""The exported ONNX graph against nncli's own predictor: throughput and single-row latency.

Three models of the adult set (48,842 rows, categorical columns with missing values):
the gbt at its defaults, the strong MLP (``--preset strong``, 10 epochs: inference cost
does not depend on how long it trained) and an ensemble of the two, weight 0.5 each, in
the model file ``compare`` writes (compare's own blend on adult is the gbt alone).
Each is exported, then timed in one process, one after the other, on the same rows:

- throughput: every row in one call, best of 3 — nncli ``predict_proba`` on the frame
  (derived columns, preprocessing, model) against onnxruntime's ``run`` on the graph's
  inputs (building those inputs from the frame is timed apart: it is the caller's work);
- latency: one row per call, the median of 300 calls, each way.

    python benchmarks/export.py [--data ../shared/data/adult.csv --target target]

Writes benchmarks/export.json and a section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
START, END = "<!-- export:start -->", "<!-- export:end -->"
NNCLI = [sys.executable, "-m", "nncli"]


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def median_call(fn, calls: int = 300) -> float:
    times = []
    for i in range(calls + 10):
        started = time.perf_counter()
        fn(i)
        if i >= 10:  # the first calls warm caches
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def models(data: Path, target: str, folder: Path) -> dict[str, Path]:
    quiet = ["--target", target, "-q"]
    subprocess.run([*NNCLI, "train", str(data), "-m", "gbt", "-o", str(folder / "gbt.nncli"),
                    *quiet], check=True, capture_output=True)  # fmt: skip
    subprocess.run([*NNCLI, "train", str(data), "-m", "mlp", "--preset", "strong", "--epochs",
                    "10", "-o", str(folder / "mlp.nncli"), *quiet], check=True,
                   capture_output=True)  # fmt: skip
    from dataclasses import replace

    from nncli import api
    from nncli.learn.ensemble import EnsemblePredictor

    gbt, mlp = api.load(folder / "gbt.nncli"), api.load(folder / "mlp.nncli")
    card = replace(gbt.card, model="ensemble", config={"members": {"gbt": 0.5, "mlp": 0.5}})
    EnsemblePredictor.blend([gbt, mlp], ["gbt", "mlp"], [0.5, 0.5], card).save(
        folder / "ensemble.nncli"
    )
    return {"gbt": folder / "gbt.nncli", "mlp (strong)": folder / "mlp.nncli",
            "ensemble": folder / "ensemble.nncli"}  # fmt: skip


def measure(name: str, path: Path, frame, folder: Path) -> dict:
    from nncli import api
    from nncli.deploy.build import build
    from nncli.deploy.check import feeds, session

    predictor = api.load(path)
    exported = build(predictor)
    ort = session(exported)
    inputs = feeds(exported, frame)
    outputs = ["probabilities", "label"]
    rows = [frame.iloc[[i % len(frame)]] for i in range(400)]
    row_inputs = [feeds(exported, r) for r in rows]
    out = {
        "model": name,
        "rows": len(frame),
        "nncli_s": best_of(lambda: predictor.predict_proba(frame, "ignore")),
        "onnx_s": best_of(lambda: ort.run(outputs, inputs)),
        "feeds_s": best_of(lambda: feeds(exported, frame)),
        "nncli_row_ms": 1e3 * median_call(lambda i: predictor.predict_proba(rows[i], "ignore")),
        "onnx_row_ms": 1e3 * median_call(lambda i: ort.run(outputs, row_inputs[i])),
        "graph_mb": len(exported.model.SerializeToString()) / 1e6,
        "load": os.getloadavg()[0],
        "members": [
            f"{label} {w:.2f}"
            for label, w in zip(
                getattr(predictor, "labels", []), getattr(predictor, "weights", []), strict=True
            )
        ],  # fmt: skip
    }
    got = ort.run(["probabilities"], inputs)[0]
    out["max_abs_diff"] = float(abs(got - predictor.predict_proba(frame, "ignore")).max())
    return out


def render(rows: list[dict], command: str) -> str:
    lines = [START, "## ONNX export: the graph in onnxruntime against nncli", "",
             f"{date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} cores "
             f"(1-min load average {max(r['load'] for r in rows):.2f} at most: the "
             "benchmark's own threads, nothing else ran), onnxruntime's CPU provider; "
             f"`{command}`. Throughput: all {rows[0]['rows']:,} rows of adult in one call "
             "(best of 3; the graph's inputs built beforehand, their cost in its own column). "
             "Latency: one row per call, median of 300.", "",
             "| model | nncli rows/s | ONNX rows/s | ratio | building the inputs | "
             "nncli 1 row | ONNX 1 row | ratio | graph | max \\|Δp\\| |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        n = r["rows"]
        lines.append(
            f"| {r['model']} | {n / r['nncli_s']:,.0f} | {n / r['onnx_s']:,.0f} | "
            f"{r['nncli_s'] / r['onnx_s']:.1f}× | {r['feeds_s']:.2f} s | "
            f"{r['nncli_row_ms']:.2f} ms | {r['onnx_row_ms']:.3f} ms | "
            f"{r['nncli_row_ms'] / r['onnx_row_ms']:.0f}× | {r['graph_mb']:.1f} MB | "
            f"{r['max_abs_diff']:.1e} |"
        )
    lines += [""] + [f"The ensemble blends {', '.join(r['members'])}." for r in rows
                     if r["members"]] + ["", END]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    from benchmarks.ablation import write_doc

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "adult.csv")
    parser.add_argument("--target", default="target")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "export.json")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    from nncli.io.data import read_table

    frame = read_table(args.data).frame
    with tempfile.TemporaryDirectory() as tmp:
        paths = models(args.data, args.target, Path(tmp))
        rows = []
        for name, path in paths.items():
            rows.append(measure(name, path, frame, Path(tmp)))
            sys.stderr.write(f"{json.dumps(rows[-1])}\n")
    args.results.write_text(json.dumps(rows, indent=1))
    write_doc(render(rows, "python benchmarks/export.py"), args.out)


if __name__ == "__main__":
    main()
