"""Fit times with one core kept busy by another process, against an idle machine.

    python benchmarks/load.py [--reps 5] [--out benchmarks/load.json]

scikit-learn's digits (1,797 rows, 64 features, 10 classes; shipped with scikit-learn)
is written to a CSV; ``nncli train -m gbt`` and ``-m mlp`` (the quick preset) run
--reps times idle and --reps times beside a busy loop in another process; the ratio of
the median fit seconds (from --json) is reported per model, with the load average.
Extra nncli options (``--threads 2``, say) are passed with ``-- OPTIONS``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _spin(stop: Any) -> None:
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def fit_seconds(data: Path, model: str, extra: list[str]) -> float:
    args = ["train", str(data), "-m", model, "--json", *extra]
    if model == "mlp":
        args += ["--preset", "quick"]
    done = subprocess.run([sys.executable, "-m", "nncli", *args], capture_output=True,
                          text=True, cwd=ROOT, check=True)  # fmt: skip
    return float(json.loads(done.stdout)["fit_seconds"])


def measure(data: Path, reps: int, extra: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for model in ("gbt", "mlp"):
        idle = [fit_seconds(data, model, extra) for _ in range(reps)]
        load_idle = os.getloadavg()[0]
        stop = multiprocessing.Event()
        busy = multiprocessing.Process(target=_spin, args=(stop,), daemon=True)
        busy.start()
        time.sleep(2)
        loaded = [fit_seconds(data, model, extra) for _ in range(reps)]
        load_busy = os.getloadavg()[0]
        stop.set()
        busy.join()
        out[model] = {
            "idle_s": round(statistics.median(idle), 3),
            "busy_s": round(statistics.median(loaded), 3),
            "ratio": round(statistics.median(loaded) / statistics.median(idle), 2),
            "load_idle": round(load_idle, 2), "load_busy": round(load_busy, 2),
        }  # fmt: skip
        time.sleep(5)  # let the load settle before the next model
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "load.json")
    parser.add_argument("extra", nargs="*", help="options passed to nncli train")
    args = parser.parse_args()
    from sklearn.datasets import load_digits

    frame = load_digits(as_frame=True).frame
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "digits.csv"
        frame.to_csv(data, index=False)
        result = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(),
                  "extra": args.extra, **measure(data, args.reps, args.extra)}  # fmt: skip
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    sys.stdout.write(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
