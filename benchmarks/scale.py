"""Scaling figures for docs/benchmarks.md: data-parallel training under torchrun and
streaming training under a memory limit. Ratios are taken in one run.

    python benchmarks/scale.py [--rows 300000] [--limit-mb 700] [--out benchmarks/scale.json]

1. **torchrun.** A generated physics file of --rows rows; the MLP trains a fixed number
   of epochs in one process (all cores) and under ``torchrun --nproc-per-node 2`` (one
   thread each); rows/s = training rows × epochs / fit seconds; the validation AUC beside.
2. **Streaming under a memory limit.** A file 3× --limit-mb is generated; ``train
   --stream`` runs inside a cgroup (v1 memory controller) limited to --limit-mb when one
   can be made (root), and its peak RSS is read either way.
3. **Same AUC.** On a subsample where both fit, streaming and in-memory training (same
   settings) are scored on the same generated test file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CGROUP = Path("/sys/fs/cgroup/memory/nncli_bench")
MLP = ["-m", "mlp", "--hidden", "64,64", "--batch-size", "1024", "--seed", "0"]


def generate(path: Path, rows: int, seed: int) -> None:
    """Physics-like rows, written in 1M-row pieces (memory stays small)."""
    sys.path.insert(0, str(ROOT / "sample_data"))
    from make_physics import generate as make

    with path.open("w") as fh:
        for i, start in enumerate(range(0, rows, 1_000_000)):
            part = make(min(1_000_000, rows - start), seed=seed * 1000 + i)
            part.to_csv(fh, index=False, header=i == 0)


def nncli(args: list[str], torchrun: int = 0, cgroup: bool = False) -> tuple[dict[str, Any], float]:
    """Run nncli (under torchrun with N processes, or in the cgroup); its JSON report and
    its peak RSS in MB."""
    cmd = [sys.executable, "-m", "nncli", *args]
    if torchrun:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={torchrun}", "-m", "nncli", *args]  # fmt: skip
    code = (
        "import os, resource, subprocess, sys\n"
        f"if {cgroup!r}: open('{CGROUP}/cgroup.procs', 'w').write(str(os.getpid()))\n"
        f"r = subprocess.run({cmd!r}, capture_output=True, text=True)\n"
        "sys.stderr.write(r.stderr[-3000:]); print(r.returncode)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)\n"
        "print(r.stdout)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    lines = done.stdout.split("\n", 2)
    if len(lines) < 3 or lines[0] != "0":
        raise RuntimeError(f"nncli {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[2]), float(lines[1])


def make_cgroup(limit_mb: int) -> bool:
    try:
        CGROUP.mkdir(exist_ok=True)
        (CGROUP / "memory.limit_in_bytes").write_text(str(limit_mb << 20))
        return True
    except OSError:
        return False


def rate(report: dict[str, Any]) -> float:
    epochs = len(report["history"])
    return report["rows_train"] * epochs / report["fit_seconds"]


def torchrun_rows(data: Path, epochs: int) -> dict[str, Any]:
    args = ["train", str(data), *MLP, "--epochs", str(epochs), "--patience", "99",
            "--device", "cpu", "--json"]  # fmt: skip
    one, _ = nncli(args + ["--threads", str(os.cpu_count())])
    two, _ = nncli(args + ["--threads", "1"], torchrun=2)
    return {
        "rows_train": one["rows_train"], "epochs": epochs,
        "one_process_rows_per_s": round(rate(one)), "two_processes_rows_per_s": round(rate(two)),
        "speedup": round(rate(two) / rate(one), 2),
        "one_process_valid_auc": round(one["metrics"]["valid"]["auc"], 4),
        "two_processes_valid_auc": round(two["metrics"]["valid"]["auc"], 4),
        "load": os.getloadavg(),
    }  # fmt: skip


def streaming_memory(work: Path, limit_mb: int) -> dict[str, Any]:
    rows = int(limit_mb * 3 * 1e6 / 51)  # about 51 bytes a row
    big = work / "big.csv"
    if not big.exists():
        generate(big, rows, seed=5)
    args = ["train", str(big), *MLP, "--epochs", "1", "--json", "--stream-buffer", "100000"]
    limited = make_cgroup(limit_mb)
    started = time.perf_counter()
    report, rss = nncli(args + ["--stream"], cgroup=limited)
    wall = time.perf_counter() - started
    return {
        "file_mb": round(big.stat().st_size / 1e6), "rows": report["rows_train"] + report[
            "rows_valid"], "limit_mb": limit_mb, "enforced_by_cgroup": limited,
        "stream_peak_rss_mb": round(rss), "stream_wall_s": round(wall, 1),
        "stream_valid_auc": round(report["metrics"]["valid"]["auc"], 4),
        "load": os.getloadavg(),
    }  # fmt: skip


def same_auc(work: Path, rows: int) -> dict[str, Any]:
    data, test = work / "sub.csv", work / "test.csv"
    generate(data, rows, seed=6)
    generate(test, 100_000, seed=7)
    out: dict[str, Any] = {"rows": rows}
    for mode in ("--stream", "--no-stream"):
        model = work / f"m{mode}.nncli"
        _, rss = nncli(["train", str(data), *MLP, "--epochs", "4", mode, "-o", str(model),
                        "--force", "--json"])  # fmt: skip
        scored, _ = nncli(["evaluate", str(model), str(test), "--json"])
        out[mode.strip("-")] = round(scored["metrics"]["auc"], 5)
        out[f"{mode.strip('-')}_peak_rss_mb"] = round(rss)
    out["difference"] = round(out["stream"] - out["no-stream"], 5)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--limit-mb", type=int, default=700)
    parser.add_argument("--work", type=Path, default=Path("/tmp/nncli-scale"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "scale.json")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    data = args.work / "torchrun.csv"
    if not data.exists():
        generate(data, args.rows, seed=4)
    result = {
        "date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(),
        "torchrun": torchrun_rows(data, epochs=3),
        "streaming_memory": streaming_memory(args.work, args.limit_mb),
        "same_auc": same_auc(args.work, 200_000),
    }  # fmt: skip
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    sys.stdout.write(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
