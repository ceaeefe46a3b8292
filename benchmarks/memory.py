"""Peak memory against file size: inspect, train -m mlp and train -m gbt on generated
numeric CSVs, with the automatic streaming decision each run took.

    python benchmarks/memory.py --sizes 0.25,0.5,1.0,1.5

Each command runs alone in a fresh process under a wrapper that reports the peak RSS
of that process (``RUSAGE_CHILDREN``); the file is made once per size (30 float
columns written with 6 significant digits, and a binary label).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NNCLI = [sys.executable, "-m", "nncli"]
COMMANDS = {
    "inspect": ["inspect", "{file}"],
    "train -m mlp": ["train", "{file}", "-m", "mlp", "--epochs", "1", "--hidden", "64"],
    "train -m gbt": ["train", "{file}", "-m", "gbt", "--gbt-max-rounds", "20"],
}
WRAPPER = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
    "print(done.returncode, time.perf_counter() - t, "
    "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
    "sys.stderr.write(done.stderr)"
)


def make_csv(path: Path, gigabytes: float) -> int:
    """A numeric CSV of about ``gigabytes``: 30 normal columns and a label that depends
    on two of them. Returns the rows written."""
    import pandas as pd

    rng = np.random.default_rng(0)
    rows = 0
    with path.open("w") as fh:
        while fh.tell() < gigabytes * 1e9:
            X = rng.normal(size=(200_000, 30))
            label = np.where(X[:, 0] + X[:, 1] + rng.normal(size=len(X)) > 0, "s", "b")
            frame = pd.DataFrame(X, columns=[f"c{j}" for j in range(30)]).assign(label=label)
            frame.to_csv(fh, index=False, header=rows == 0, float_format="%.6g")
            rows += len(frame)
    return rows


def measure(command: list[str], cwd: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", WRAPPER, *NNCLI, *command], cwd=cwd,
                          capture_output=True, text=True, check=True)  # fmt: skip
    code, seconds, peak_kb = done.stdout.split()
    err = done.stderr
    how = "streamed" if ("streamed (" in err or "streaming (" in err) else "whole"
    return {"rc": int(code), "seconds": float(seconds), "peak_mb": int(peak_kb) / 1024,
            "how": how, "load": os.getloadavg()[0]}  # fmt: skip


def render(rows: list[dict], command: str, available_gb: float) -> str:
    lines = [
        "<!-- memory.py: begin -->",
        "## Peak memory against file size",
        "",
        f"`{command}` ({date.today().isoformat()}; {available_gb:.1f} GB available when it "
        "started). Each command alone in a fresh process; peak RSS of that process. "
        "`how`: whether nncli read the file whole or streamed it (automatic: it streams "
        "inspect and train -m mlp|logreg when a whole read would take over a quarter of "
        "the available memory, estimated at 5× the file: the largest peak / file below). "
        "gbt always reads files whole.",
        "",
        "| file | command | how | peak RSS | peak / file | seconds | load |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['gb']:.2f} GB | `{r['command']}` | {r['how']} | {r['peak_mb']:,.0f} MB | "
            f"{r['peak_mb'] / (r['gb'] * 1e3):.1f}× | {r['seconds']:.1f} | {r['load']:.1f} |"
        )
    lines += ["", "<!-- memory.py: end -->"]
    return "\n".join(lines)


def main() -> None:
    from benchmarks.ablation import write_doc
    from nncli.learn.models.base import available_bytes

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0.25,0.5,1.0,1.5", help="GB, comma-separated")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "memory.json")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--render", action="store_true", help="only rewrite the page")
    args = parser.parse_args()
    if args.render:
        saved = json.loads(args.results.read_text())
        write_doc(render(saved["rows"], saved["command"], saved["available_gb"]), args.out)
        return
    command = "python benchmarks/memory.py " + " ".join(sys.argv[1:])
    available = available_bytes() / 1e9
    rows = []
    with tempfile.TemporaryDirectory(dir=ROOT) as tmp:
        for gb in (float(s) for s in args.sizes.split(",")):
            path = Path(tmp) / "numbers.csv"
            n = make_csv(path, gb)
            size = path.stat().st_size / 1e9
            for name, template in COMMANDS.items():
                started = time.perf_counter()
                result = measure([a.format(file=path) for a in template], ROOT)
                rows.append({"gb": size, "rows": n, "command": name} | result)
                took = time.perf_counter() - started
                sys.stderr.write(f"{size:.2f} GB {name}: {result} ({took:.0f} s)\n")
            path.unlink()
    saved = {"command": command, "available_gb": available, "rows": rows}
    args.results.write_text(json.dumps(saved, indent=1))
    write_doc(render(rows, command.strip(), available), args.out)


if __name__ == "__main__":
    main()
