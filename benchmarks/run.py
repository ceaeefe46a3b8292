"""Regenerate docs/benchmarks.md: accuracy against reference libraries, and speed ratios.

    .venv/bin/pip install -c constraints.txt -e '.[bench]'
    .venv/bin/python benchmarks/run.py                 # everything (about 30-40 min on 2 cores)
    .venv/bin/python benchmarks/run.py --skip-accuracy # speed only (a few minutes)

Each accuracy run is its own process with a timeout, so one slow model cannot stall
the rest; raw results go to benchmarks/results.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import speed  # noqa: E402
from benchmarks.accuracy import NNCLI, REFERENCES  # noqa: E402

OURS = tuple(NNCLI)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)  # noqa: T201


def run_accuracy(
    data: Path, models: list[str], seeds: int, timeout: float, wanted: set[str] | None, save
) -> list[dict]:
    """Each model on each dataset and seed in its own process; ``save`` gets the rows so
    far after each run, so a run stopped part-way keeps what it measured."""
    with (data / "MANIFEST.csv").open() as fh:
        datasets = [d for d in csv.DictReader(fh) if wanted is None or d["name"] in wanted]
    rows: list[dict] = []
    for ds in sorted(datasets, key=lambda d: int(d["rows"])):
        for seed in range(seeds):
            for model in models:
                args = [
                    sys.executable,
                    str(ROOT / "benchmarks" / "accuracy.py"),
                    str(data / ds["file"]),
                    ds["target_column"],
                    model,
                    str(seed),
                ]
                started = time.perf_counter()
                try:
                    out = subprocess.run(
                        args, capture_output=True, text=True, timeout=timeout, cwd=ROOT
                    )
                    result = (
                        json.loads(out.stdout.strip().splitlines()[-1])
                        if out.returncode == 0 and out.stdout.strip()
                        else {"status": "failed", "error": out.stderr.strip()[-300:]}
                    )
                except subprocess.TimeoutExpired:
                    result = {"status": f"timeout ({timeout:.0f} s)"}
                result |= {
                    "dataset": ds["name"],
                    "rows": int(ds["rows"]),
                    "model": model,
                    "seed": seed,
                    "load": os.getloadavg()[0],
                }
                result.setdefault("status", "ok")
                log(
                    f"{ds['name']:12} {model:18} seed {seed}: "
                    + (
                        f"AUC {result['auc']:.4f} fit {result['fit_s']:.2f} s"
                        if result["status"] == "ok"
                        else result["status"]
                    )
                    + f"  ({time.perf_counter() - started:.0f} s)"
                )
                rows.append(result)
                save(rows)
    return rows


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def summarise(rows: list[dict], models: list[str]) -> tuple[dict, dict]:
    """Per dataset: model → mean AUC/acc/fit over seeds; per model: ranks and gaps."""
    table: dict[str, dict[str, dict]] = {}
    for r in rows:
        cell = table.setdefault(r["dataset"], {}).setdefault(r["model"], {"runs": []})
        cell["runs"].append(r)
    for cells in table.values():
        for cell in cells.values():
            ok = [r for r in cell["runs"] if r["status"] == "ok"]
            cell["ok"] = bool(ok)
            cell["status"] = cell["runs"][0]["status"]
            for key in ("auc", "accuracy", "log_loss", "fit_s", "predict_s"):
                cell[key] = _mean([r.get(key, float("nan")) for r in ok])
    summary = {}
    for model in models:
        ranks, gaps, fits, aucs = [], [], [], []
        for cells in table.values():
            ok = {m: c["auc"] for m, c in cells.items() if c["ok"]}
            if model not in ok:
                ranks.append(len(models))
                continue
            order = sorted(ok.values(), reverse=True)
            ranks.append(statistics.mean(i + 1 for i, v in enumerate(order) if v == ok[model]))
            refs = [ok[m] for m in REFERENCES if m in ok]
            if refs:
                gaps.append(ok[model] - max(refs))
            fits.append(cells[model]["fit_s"])
            aucs.append(ok[model])
        summary[model] = {
            "median_rank": statistics.median(ranks),
            "median_auc": statistics.median(aucs) if aucs else float("nan"),
            "median_gap_to_best_reference": statistics.median(gaps) if gaps else float("nan"),
            "median_fit_s": statistics.median(fits) if fits else float("nan"),
            "total_fit_s": sum(fits),
            "ok": len(aucs),
            "n": len(table),
        }
    return table, summary


def paired_median(table: dict, a: str, b: str, key: str) -> float:
    values = [
        c[a][key] - c[b][key] if key == "auc" else c[a][key] / c[b][key]
        for c in table.values()
        if a in c and b in c and c[a]["ok"] and c[b]["ok"]
    ]
    return statistics.median(values) if values else float("nan")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    import torch

    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"torch {torch.__version__}"
    )


SPEED_PARTS = (
    "throughput", "startup", "ingest", "predict", "first_rough", "overhead", "inspect", "train",
)  # fmt: skip


def run_speed(
    predict_gb: float, data: Path, parts: tuple[str, ...], saved: dict | None, save=None
) -> dict:
    """The speed measurements named in ``parts``; the others are kept from ``saved`` (the
    throughput part measures the matmul rate too: its shares are read against it);
    ``save`` gets the results after each part, so a part that fails loses only itself."""
    out: dict = dict(saved or {})
    if "throughput" in parts:
        out["matmul_gflops"] = speed.matmul_gflops()
        log(f"matmul {out['matmul_gflops']:.0f} GFLOP/s")
        out["throughput"] = []
        for width in (128, 256, 512):
            for batch in (256, 1024):
                result = speed.mlp_throughput(width, batch) | {"width": width, "batch": batch}
                log(f"throughput width {width} batch {batch}: {result['nncli']:.0f} samples/s")
                out["throughput"].append(result)
    adult = data / "adult.csv"
    runs = {
        "startup": speed.startup,
        "ingest": speed.csv_ingest,
        "predict": lambda: speed.predict_memory(predict_gb),
        "first_rough": lambda: speed.first_rough_result(adult, "target") if adult.exists() else {},
        "overhead": lambda: speed.small_compares(data),
        "inspect": speed.inspect_vs_read_csv,
        "train": speed.train_vs_plain,
    }
    for name, run in runs.items():
        if name in parts:
            out[name] = run() | {"load": os.getloadavg()[0]}
            log(f"{name}: {json.dumps(out[name])}")
            if save is not None:
                save(out)
    out.setdefault("parts_run", {}).update({p: date.today().isoformat() for p in parts})
    return out


def fmt(value: float, digits: int = 4) -> str:
    return "-" if value != value else f"{value:.{digits}f}"


def render(
    table: dict,
    summary: dict,
    models: list[str],
    speed_out: dict | None,
    runs: list[str],
    seeds: int,
) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Generated {date.today().isoformat()} on {machine()}, from the rows in",
        "benchmarks/results.json. A run of benchmarks/run.py replaces the rows it reruns and",
        "keeps the others; the runs that made them, oldest first:",
        "",
        *[f"- {run}" for run in runs],
        "",
        "These machines are shared and noisy: compare ratios measured in the same run, not",
        "absolute times across runs.",
        "",
        "## Accuracy",
        "",
        f"One stratified 80/20 split per dataset and seed ({seeds} seed(s)); every model sees the",
        "same test rows and feature columns. nncli's models use 20% of their 80% for early",
        "stopping; the references fit the whole 80% at library defaults. Cells: ROC AUC /",
        "fit seconds (mean over seeds). Bold: best AUC in the row.",
        "",
        "| dataset | rows | " + " | ".join(models) + " |",
        "|---|---|" + "---|" * len(models),
    ]
    for name, cells in sorted(
        table.items(), key=lambda kv: next(iter(kv[1].values()))["runs"][0]["rows"]
    ):
        best = max((c["auc"] for c in cells.values() if c["ok"]), default=float("nan"))
        row = []
        for m in models:
            c = cells.get(m)
            if c is None or not c["ok"]:
                row.append(c["status"] if c else "")
                continue
            text = f"{c['auc']:.4f} / {c['fit_s']:.2f}s"
            row.append(f"**{text}**" if c["auc"] == best else text)
        rows_n = next(iter(cells.values()))["runs"][0]["rows"]
        lines.append(f"| {name} | {rows_n:,} | " + " | ".join(row) + " |")
    lines += [
        "",
        "Per model over the datasets (rank 1 = best AUC; the gap is to the best "
        "reference on each dataset):",
        "",
        "| model | median rank | median AUC | median gap to best reference | "
        "median fit s | total fit s | ok / n |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in models:
        s = summary[m]
        lines.append(
            f"| {m} | {s['median_rank']:.1f} | {fmt(s['median_auc'])} | "
            f"{s['median_gap_to_best_reference']:+.4f} | {fmt(s['median_fit_s'], 2)} | "
            f"{s['total_fit_s']:.0f} | {s['ok']} / {s['n']} |"
        )
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    gbt_gap = paired_median(table, "nncli-gbt", "lgbm", "auc")
    lines.append(
        f"| gbt within 0.002 AUC of LightGBM defaults (median of differences) | "
        f"{gbt_gap:+.4f} | {'yes' if gbt_gap >= -0.002 else 'no'} |"
    )
    mlp_gap = paired_median(table, "nncli-mlp-default", "realmlp", "auc")
    mlp_time = paired_median(table, "nncli-mlp-default", "realmlp", "fit_s")
    lines.append(
        f"| default MLP within 0.005 AUC of RealMLP (median) | {mlp_gap:+.4f} | "
        f"{'yes' if mlp_gap >= -0.005 else 'no'} |"
    )
    lines.append(
        f"| ... at a quarter of its fit time or less (median ratio) | {mlp_time:.2f}x | "
        f"{'yes' if mlp_time <= 0.25 else 'no'} |"
    )
    cat_gap = paired_median(table, "nncli-catboost", "catboost", "auc")
    if not math.isnan(cat_gap):
        met = "yes" if cat_gap >= -0.002 else "no"
        lines.append(f"| -m catboost within 0.002 AUC of the catboost package's defaults (median "
                     f"of differences) | {cat_gap:+.4f} | {met} |")  # fmt: skip
    lines += _strong_lines(table)
    if speed_out:
        lines += _speed_lines(speed_out)
    return "\n".join(lines) + "\n"


def _strong_lines(table: dict) -> list[str]:
    """The strong preset's targets (``--preset strong``): RealMLP (both settings) on the median
    dataset at a quarter of its fit time, and the GBT on magic, covertype and adult."""
    strong, lines = "nncli-mlp-strong", []
    for ref in ("realmlp", "realmlp-auc"):
        gap, ratio = (
            paired_median(table, strong, ref, "auc"),
            paired_median(table, strong, ref, "fit_s"),
        )
        if not math.isnan(gap):  # both ran on some dataset
            lines.append(f"| strong MLP ≥ {ref} AUC (median of differences) | {gap:+.4f} | "
                         f"{'yes' if gap >= 0 else 'no'} |")  # fmt: skip
            lines.append(f"| ... at a quarter of its fit time or less (median ratio) | "
                         f"{ratio:.2f}x | {'yes' if ratio <= 0.25 else 'no'} |")  # fmt: skip
    for name, slack in (("magic", 0.0), ("covertype", 0.0), ("adult", 0.003)):
        cells = table.get(name, {})
        if all(m in cells and cells[m]["ok"] for m in (strong, "nncli-gbt")):
            gap = cells[strong]["auc"] - cells["nncli-gbt"]["auc"]
            goal = f"within {slack} of gbt" if slack else "≥ gbt"
            lines.append(f"| strong MLP on {name}: {goal} | {gap:+.4f} | "
                         f"{'yes' if gap >= -slack else 'no'} |")  # fmt: skip
    return lines


def _speed_lines(s: dict) -> list[str]:
    t256 = next(t for t in s["throughput"] if t["width"] == 256 and t["batch"] == 256)
    frac = t256["nncli"] * t256["flops_per_sample"] / (s["matmul_gflops"] * 1e9)
    vs_sk = t256["nncli"] / t256["sklearn"]
    help_s = s["startup"]["help"] - s["startup"]["python"]
    ingest = s["ingest"].get("ratio", s["ingest"]["nncli"] / s["ingest"]["pandas_c"])
    parse = s["ingest"].get("pyarrow_parse", float("nan")) / s["ingest"]["pandas_c"]
    frame = s["ingest"].get("pyarrow_frame", float("nan")) / s["ingest"]["pandas_c"]
    plain = t256.get("plain", float("nan")) * t256["flops_per_sample"] / (s["matmul_gflops"] * 1e9)
    rough = s["first_rough"].get("gbt_row", float("nan"))
    peak = s["predict"]["peak_rss_mb"]
    over, ins, tr = s["overhead"], s["inspect"], s.get("train", {})
    ins_ratio = ins.get("ratio", ins["inspect"] / ins["read_csv"])
    lines = [
        f"| MLP 256-wide, batch 256: share of the matmul rate (target 0.6; a plain torch "
        f"loop in the same run: {plain:.2f}) | {frac:.2f} | "
        f"{'yes' if frac >= 0.6 else 'no'} |",
        f"| ... against scikit-learn MLPClassifier (target 1.5x) | {vs_sk:.2f}x | "
        f"{'yes' if vs_sk >= 1.5 else 'no'} |",
        f"| ... new limit for both: nncli's loop against the plain torch loop in the same run "
        f"(target 1x; ≥ 0.95x counts) | {t256['nncli'] / t256.get('plain', math.nan):.2f}x | "
        f"{'yes' if t256['nncli'] >= 0.95 * t256.get('plain', math.nan) else 'no'} |",
        f"| `nncli --help` beyond `python -c pass` (target 0.3 s) | {help_s:.3f} s | "
        f"{'yes' if help_s < 0.3 else 'no'} |",
        f"| CSV ingest against pandas' C engine (median of alternating pairs; target 1x; "
        f"pyarrow's parse alone: {parse:.2f}x, file to DataFrame: {frame:.2f}x) | "
        f"{ingest:.2f}x | "
        f"{'yes' if ingest >= 1 else 'no'} |",
        f"| ... against pyarrow's file to DataFrame (no target: pyarrow reads the files that "
        f"hold text; a file of numbers goes through pandas' C engine) | {ingest / frame:.2f}x "
        f"| - |",
        f"| `nncli inspect` of a {ins['mb']:.0f} MB numeric CSV against `pandas.read_csv` "
        f"(whole processes, median of the pairs' ratios; target 1.5x) | {ins_ratio:.2f}x "
        f"({ins['inspect']:.1f} s vs {ins['read_csv']:.1f} s) | "
        f"{'yes' if ins_ratio <= 1.5 else 'no'} |",
        f"| ... against a process reading it with pyarrow into a DataFrame "
        f"(no target: nncli reads a file of numbers with pandas' C engine) | "
        f"{ins['inspect'] / ins.get('pyarrow_frame', math.nan):.2f}x | - |",
        f"| `nncli train -m mlp --hidden 256,256 --batch-size 256` on 100,000 × 50: samples/s "
        f"of its fit_seconds (validation included) against a plain torch loop on the same "
        f"rows (target 0.95x) | {tr.get('ratio', math.nan):.2f}x | "
        f"{'yes' if tr.get('ratio', 0) >= 0.95 else 'no'} |",
        f"| `predict` peak memory on {s['predict']['gb']:.1f} GB (target < 1 GB) | "
        f"{peak:.0f} MB | {'yes' if peak < 1024 else 'no'} |",
        f"| first rough `compare` result (gbt row) on adult (target 5 s) | {rough:.1f} s | "
        f"{'yes' if rough < 5 else 'no'} |",
        f"| small `compare` at defaults ({', '.join(over.get('sets', {}))}): wall − Σ fit "
        f"seconds beyond importing torch, LightGBM, scikit-learn, scipy.stats, which any "
        f"process that fits and tests these models pays (median of the sets; target 1.5 s) | "
        f"{over.get('beyond_imports', math.nan):.2f} s | "
        f"{'yes' if over.get('beyond_imports', math.inf) <= 1.5 else 'no'} |",
        "",
        "## Speed",
        "",
        f"fp32 matmul (1024², 2 threads, median): {s['matmul_gflops']:.0f} GFLOP/s.",
        "",
        "MLP training throughput (50 inputs → W → W → 1, ReLU, Adam; samples/s; 100,000 rows, "
        "2 epochs):",
        "",
        "| width | batch | nncli | share of matmul rate | DataLoader loop | plain tensor loop "
        "(its share) | nncli / plain | scikit-learn | nncli / scikit-learn |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for t in s["throughput"]:
        share = t["nncli"] * t["flops_per_sample"] / (s["matmul_gflops"] * 1e9)
        plain = t.get("plain", float("nan"))
        plain_share = plain * t["flops_per_sample"] / (s["matmul_gflops"] * 1e9)
        lines.append(
            f"| {t['width']} | {t['batch']} | {t['nncli']:,.0f} | {share:.2f} | "
            f"{t['dataloader']:,.0f} | {plain:,.0f} ({plain_share:.2f}) | "
            f"{t['nncli'] / plain:.2f}x | {t['sklearn']:,.0f} | {t['nncli'] / t['sklearn']:.2f}x |"
        )
    st, ing, pr, fr = s["startup"], s["ingest"], s["predict"], s["first_rough"]
    lines += [
        "",
        "| measurement | value |",
        "|---|---|",
        f"| `python -c pass` | {st['python']:.3f} s |",
        f"| `nncli --help` | {st['help']:.3f} s |",
        f"| `nncli inspect sample_data/physics.csv` | {st['inspect']:.3f} s |",
        f"| CSV ingest, {ing['mb']:.0f} MB numeric: nncli (pandas' C engine for a file of "
        f"numbers, the SHA-256 beside it) | "
        f"{ing['nncli']:.0f} MB/s |",
        f"| CSV ingest, same file: pandas C engine | {ing['pandas_c']:.0f} MB/s |",
        f"| CSV parse alone, same file: pyarrow (what nncli reads files with text with) | "
        f"{ing.get('pyarrow_parse', float('nan')):.0f} MB/s |",
        f"| CSV to DataFrame, same file: `pyarrow.csv.read_csv(path).to_pandas()` (the least a "
        f"pyarrow reader does) | {ing.get('pyarrow_frame', float('nan')):.0f} MB/s |",
        f"| `nncli predict` on {pr['gb']:.2f} GB ({pr['rows']:,} rows) | "
        f"{pr['rows_per_s']:,.0f} rows/s, peak RSS {pr['peak_rss_mb']:.0f} MB |",
    ]
    blocks = {k[6:]: v for k, v in s["inspect"].items() if k.startswith("block_")}
    if blocks:
        sizes = ", ".join(f"{mb} MB {t:.2f} s" for mb, t in blocks.items())
        lines.append(f"| {ins['mb']:.0f} MB numeric CSV into a DataFrame by pyarrow, per block "
                     f"size (fresh processes; pandas.read_csv {ins['read_csv']:.2f} s) | "
                     f"{sizes} |")  # fmt: skip
    if tr:
        lines.append(f"| `nncli train` (above): samples/s of fit_seconds, plain loop | "
                     f"{tr['nncli']:,.0f}, {tr['plain']:,.0f} |")  # fmt: skip
    for name, one in s["overhead"].get("sets", {}).items():
        lines.append(f"| `nncli compare` on {name}: wall, Σ fit, imports | {one['wall']:.1f} s, "
                     f"{one['fit_sum']:.1f} s, {one['imports']:.1f} s |")  # fmt: skip
    if fr:
        lines += [
            f"| `nncli compare` on adult: first row (majority) | {fr['first_row']:.1f} s |",
            f"| ... gbt row (the rough result) | {fr['gbt_row']:.1f} s |",
            f"| ... all four rough models done | {fr['total']:.1f} s |",
        ]
    return lines


#: docs/benchmarks.md below this line is written by the other scripts and kept as it is
KEEP = "<!-- below: sections from the other benchmark scripts; run.py keeps them -->"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--models", default=",".join(OURS + REFERENCES))
    parser.add_argument("--datasets", help="comma-separated names (default: all)")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument(
        "--speed-parts", help=f"comma-separated, of {','.join(SPEED_PARTS)} (default: all)"
    )
    parser.add_argument("--predict-gb", type=float, default=2.0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results.json")
    args = parser.parse_args()
    parts = tuple(args.speed_parts.split(",")) if args.speed_parts else SPEED_PARTS
    if unknown := set(parts) - set(SPEED_PARTS):
        parser.error(f"unknown --speed-parts {sorted(unknown)}; choose from {SPEED_PARTS}")
    models = args.models.split(",")
    command = "python benchmarks/run.py " + " ".join(sys.argv[1:])
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    saved = json.loads(args.results.read_text()) if args.results.exists() else {}
    rows = saved.get("accuracy", [])
    wanted = set(args.datasets.split(",")) if args.datasets else None
    if not args.skip_accuracy:  # the (model, dataset) pairs run now replace their rows

        def rerun(r: dict) -> bool:
            return r["model"] in models and (wanted is None or r["dataset"] in wanted)

        kept = [r for r in rows if not rerun(r)]

        def save(new: list[dict]) -> None:
            saved["accuracy"] = kept + new
            args.results.write_text(json.dumps(saved, indent=1))

        rows = kept + run_accuracy(args.data, models, args.seeds, args.timeout, wanted, save)
    models = [m for m in OURS + REFERENCES if any(r["model"] == m for r in rows)]

    def save_speed(out: dict) -> None:
        args.results.write_text(json.dumps(saved | {"accuracy": rows, "speed": out}, indent=1))

    speed_out = (
        saved.get("speed")
        if args.skip_speed
        else run_speed(args.predict_gb, args.data, parts, saved.get("speed"), save_speed)
    )
    load = os.getloadavg()[0]
    runs = saved.get("runs", [])
    if not (args.skip_accuracy and args.skip_speed):  # else: only the page is rewritten
        runs = [*runs, f"`{command.strip()}`: {started} (load {load:.1f} at the end)"]
    args.results.write_text(
        json.dumps({"accuracy": rows, "speed": speed_out, "runs": runs}, indent=1)
    )
    table, summary = summarise(rows, models)
    kept = args.out.read_text().partition(KEEP)[2] if args.out.exists() else ""
    text = render(table, summary, models, speed_out, runs, args.seeds)
    args.out.write_text(text + ("\n" + KEEP + kept if kept else ""))
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
