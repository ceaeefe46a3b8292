"""The MLP on a GPU against the CPU of the same machine: rows/s and validation AUC.

Meant for a lent GPU machine (see docs/benchmarks.md for the figures and the command):
each dataset is trained with a fixed number of epochs (no early stop, no time limit) on
the CPU (all its cores), then on CUDA in float32, bf16 and fp16 mixed precision, at the
default batch size and at a large one. Results go to a JSON file, one row per run.

    python benchmarks/gpu.py --data DIR --out gpu.json [--rows 1000000]

DIR holds the CSVs to use (covertype.csv, adult.csv from ../shared/data); a synthetic
physics sample of --rows rows (sample_data/make_physics.py) is generated beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGETS = {"covertype.csv": "Cover_Type", "adult.csv": "target", "physics_big.csv": "label"}


def run_one(
    path: Path, device: str, precision: str, batch: int, epochs: int, fused: bool = True
) -> dict[str, Any]:
    import torch

    from nncli.learn import training

    training.FUSED_ON_GPU = fused

    from nncli import api
    from nncli.config import MLPConfig, RunConfig, Settings

    settings = Settings(
        run=RunConfig(device=device, precision=precision, seed=0),
        mlp=MLPConfig(epochs=epochs, patience=epochs + 1, batch_size=batch),
    )
    if device == "cuda":
        torch.cuda.synchronize()
    result = api.train(path, model="mlp", target=TARGETS[path.name], settings=settings)
    epochs_run = len(result.predictor.card.history)
    return {
        "data": path.name, "device": device, "precision": precision, "batch_size": batch,
        "fused": fused and device == "cuda",
        "rows_train": result.n_train, "epochs": epochs_run,
        "fit_seconds": round(result.fit_seconds, 3),
        "rows_per_s": round(result.n_train * epochs_run / result.fit_seconds),
        "valid_auc": round(result.metrics["valid"]["auc"], 5),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="fused Adam against unfused")
    args = parser.parse_args()
    import torch

    sys.path.insert(0, str(ROOT / "sample_data"))
    from make_physics import generate

    big = args.data / "physics_big.csv"
    if not big.exists():
        generate(args.rows, seed=7).to_csv(big, index=False)
    env = {
        "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0),
        "cpu_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
    }  # fmt: skip
    torch.ones(1024, 1024, device="cuda").sum().item()  # the CUDA context, before timing
    rows: list[dict[str, Any]] = []
    plan = [("cpu", "fp32", 256), ("cuda", "fp32", 256), ("cuda", "bf16", 256),
            ("cuda", "fp32", 4096), ("cuda", "bf16", 4096), ("cuda", "fp16", 4096),
            ("cpu", "fp32", 4096)]  # fmt: skip
    if args.quick:
        plan = [("cuda", "fp32", 256, False), ("cuda", "fp32", 256, True),
                ("cuda", "fp32", 4096, False), ("cuda", "fp32", 4096, True)]  # fmt: skip
    for name in ("covertype.csv", "adult.csv", "physics_big.csv"):
        for device, precision, batch, *fused in plan:
            row = run_one(args.data / name, device, precision, batch, args.epochs, *fused)
            rows.append(row)
            sys.stdout.write(json.dumps(row) + "\n")
            args.out.write_text(json.dumps({"env": env, "runs": rows}, indent=1))


if __name__ == "__main__":
    main()
