"""Choose compare's portfolio: the ordered configs its anytime stage trains after the MLPs.

Offline, on ../shared/data: for every set, the split of benchmarks/accuracy.py (seed 0),
one ``nncli compare --out`` with every candidate config as a variant beside the plain
models (no extra runs, a budget that lets all of them run), keeping each row's out-of-fold
(or validation) and test probabilities (benchmarks/portfolio_preds/, not committed). Then a
greedy portfolio selection: a set's value of a portfolio P is the test AUC of the ensemble
compare would build of the plain models and P (greedy weights on log loss over the rows
every member predicted out of fold); each step adds the candidate that raises the mean
value over the sets most, until none raises it by more than 0.0001 (at most --size).

The estimate that counts is leave-one-dataset-out: for each set the portfolio is chosen
on the other sets and its gain measured on the set left out, so a config earns its place
by helping sets it was not chosen on. The portfolio chosen on every set is written to
nncli/assess/portfolio.json (which compare reads), the rows to benchmarks/portfolio_runs.json
and a section of docs/benchmarks.md. ``--measure RUNS`` then runs compare at its defaults
with ``--extra-runs RUNS`` against ``scaler,seed`` on every set (the issue's target).

    python benchmarks/portfolio.py [--datasets sonar,vote] [--budget 600] [--max-rows 20000]
    python benchmarks/portfolio.py --select-only    # choose again from the stored rows
    python benchmarks/portfolio.py --measure scaler,seed,portfolio [--measure-budget 180]
                                   [--select-only: render the stored rows again]
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
START, END = "<!-- portfolio:start -->", "<!-- portfolio:end -->"
PLAIN = ("gbt", "catboost", "logreg", "mlp")
#: candidates: configs of the kinds that TabArena's and AutoGluon's portfolios hold (a
#: slower, larger-leaved LightGBM; a small-leaved, subsampled one; deep and shallow
#: CatBoost; stronger and weaker L2 for the linear model; the MLP with other embeddings,
#: activation and dropout); each runs on top of compare's strong preset
CANDIDATES = (
    ("gbt", "learning_rate=0.03,num_leaves=63,min_child_samples=10,feature_fraction=0.8"),
    ("gbt", "learning_rate=0.05,num_leaves=15,feature_fraction=0.6,bagging_fraction=0.8,"
            "bagging_freq=1,lambda_l2=1"),
    ("gbt", "learning_rate=0.05,num_leaves=7,min_child_samples=3"),
    ("catboost", "depth=8,l2_leaf_reg=1"),
    ("catboost", "depth=4,l2_leaf_reg=10"),
    ("logreg", "C=0.1"),
    ("logreg", "C=10"),
    ("mlp", "num_embedding=periodic"),
    ("mlp", "activation=silu,dropout=0.1"),
)  # fmt: skip
GAIN = 0.0001
PREDS = ROOT / "benchmarks" / "portfolio_preds"  # the probabilities (not committed)


def label(model: str, variant: str) -> str:
    return f"{model}[{variant}]"


def collect(name: str, path: Path, target: str, budget: float) -> dict:
    """One compare of the plain models and every candidate on the accuracy split; each
    row's out-of-fold and test probabilities kept in PREDS/<name>.npz."""
    import numpy as np
    import pandas as pd

    from benchmarks.anchors import split
    from benchmarks.automl import timed_json

    with tempfile.TemporaryDirectory() as folder:
        train, test = split(path, target, Path(folder))
        run = Path(folder) / "run"
        command = [sys.executable, "-m", "nncli", "compare", str(train), "--test", str(test),
                   "--target", target, "--time-budget", f"{budget:g}s", "--json", "--quiet",
                   "--models", ",".join(PLAIN), "--extra-runs", "", "--out", str(run)]  # fmt: skip
        for model in PLAIN:
            command += [f"--{model}", ""]  # the plain model, as the variant of no change
            command += [a for m, v in CANDIDATES if m == model for a in (f"--{model}", v)]
        report, wall = timed_json(command)
        oof = pd.read_csv(run / "oof_predictions.csv")
        test_p = pd.read_csv(run / "test_predictions.csv")
    classes = [str(c) for c in report["classes"]]
    arrays = {}
    for part, frame in (("oof", oof), ("test", test_p)):
        arrays[f"{part}:y"] = frame["true"].astype(str).map(classes.index).to_numpy()
        for m in report["models"]:
            if m["status"] == "ok":
                cols = [f"{m['label']}:{c}" for c in report["classes"]]
                arrays[f"{part}:{m['label'].removesuffix('[]')}"] = frame[cols].to_numpy()
    PREDS.mkdir(exist_ok=True)
    np.savez_compressed(PREDS / f"{name}.npz", **arrays)
    rows = {m["label"].removesuffix("[]"): {"valid": m["valid"]["auc"], "test": m["test"]["auc"],
                                            "fit_s": m["fit_seconds"]}
            for m in report["models"] if m["status"] == "ok"}  # fmt: skip
    return {"rows": rows, "wall_s": wall, "load": os.getloadavg()[0],
            "folds": report["rows"].get("folds", 1)}  # fmt: skip


_CACHE: dict = {}


def value(name: str, pool: list[str]) -> float:
    """Test AUC of the ensemble compare would build of the plain models and ``pool``:
    greedy weights (Caruana, 25 rounds, on log loss, as nncli/assess/ensemble.py) fitted
    on the rows every member predicted out of fold, applied to their test predictions."""
    import numpy as np

    from nncli.assess.evaluate import metrics

    key = (name, tuple(sorted(pool)))
    if key in _CACHE:
        return _CACHE[key]
    if name not in _CACHE:
        _CACHE[name] = dict(np.load(PREDS / f"{name}.npz"))
    arrays = _CACHE[name]
    members = [m for m in [*PLAIN, *pool] if f"oof:{m}" in arrays]
    oof = [arrays[f"oof:{m}"] for m in members]
    rows = np.all([np.isfinite(p).all(axis=1) for p in oof], axis=0)
    y = arrays["oof:y"][rows]
    picked = [np.clip(p[rows][np.arange(len(y)), y], 1e-15, 1.0) for p in oof]
    counts, total = np.zeros(len(members)), np.zeros(len(y))
    for step in range(1, 26):  # log loss of the average with each candidate added
        best = int(np.argmin([-np.log((total + p) / step).mean() for p in picked]))
        counts[best] += 1
        total += picked[best]
    weights = counts / counts.sum()
    blend = sum(wt * arrays[f"test:{m}"] for m, wt in zip(members, weights, strict=True))
    _CACHE[key] = float(metrics(arrays["test:y"], blend)["auc"])
    return _CACHE[key]


def greedy(sets: dict[str, dict], size: int) -> list[tuple[str, float]]:
    """The ordered portfolio and each step's mean gain over ``sets``."""
    chosen: list[tuple[str, float]] = []
    names = [label(m, v) for m, v in CANDIDATES]
    base = statistics.mean(value(n, []) for n in sets)
    while len(chosen) < size:
        pool = [c for c, _ in chosen]
        scores = {c: statistics.mean(value(n, [*pool, c]) for n in sets)
                  for c in names if c not in pool}  # fmt: skip
        if not scores:
            break
        best = max(scores, key=scores.__getitem__)
        if scores[best] - base <= GAIN:
            break
        chosen.append((best, scores[best] - base))
        base = scores[best]
    return chosen


def leave_one_out(sets: dict[str, dict], size: int) -> dict[str, dict]:
    """Per set: the portfolio chosen on the others and its gain on this one."""
    out = {}
    for name in sets:
        others = {k: v for k, v in sets.items() if k != name}
        if not others:
            continue
        pool = [c for c, _ in greedy(others, size)]
        out[name] = {"portfolio": pool,
                     "gain": value(name, pool) - value(name, [])}  # fmt: skip
    return out


def render(sets: dict, chosen: list, loo: dict, command: str) -> str:
    import platform

    gains = [r["gain"] for r in loo.values()] or [0.0]
    lines = [START, "## The portfolio of compare's anytime stage", "",
             f"Generated {date.today()} by `{command}` on {platform.machine()}, "
             f"{os.cpu_count()} cores, alone. Per set, one compare of the plain models and the "
             f"{len(CANDIDATES)} candidates (benchmarks/portfolio.py) on the accuracy split, "
             "keeping every row's out-of-fold and test probabilities; a portfolio's value on "
             "a set is the test AUC of the ensemble compare would build of the plain models "
             "and the portfolio (greedy weights on log loss over the out-of-fold rows).", "",
             "Chosen on every set, in order (mean gain of each step over the sets):",
             ""]  # fmt: skip
    lines += [f"{i}. `{c}` ({g:+.4f})" for i, (c, g) in enumerate(chosen, 1)]
    lines += ["", f"Leave-one-dataset-out ({len(gains)} sets): gain on the set left out, median "
              f"{statistics.median(gains):+.4f}, mean {statistics.mean(gains):+.4f}, "
              f"{sum(g > GAIN for g in gains)} better / {sum(g < -GAIN for g in gains)} worse.",
              "", "| dataset | rows | folds | ensemble of the plain models | with the portfolio | "
              "gain left out | compare wall s | load |",
              "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, s in sets.items():
        pool = [c for c, _ in chosen]
        left_out = loo[name]["gain"] if name in loo else 0.0
        lines.append(f"| {name} | {s['n_rows']:,} | {s['folds']} | {value(name, []):.4f} | "
                     f"{value(name, pool):.4f} | {left_out:+.4f} | "
                     f"{s['wall_s']:.0f} | {s['load']:.1f} |")  # fmt: skip
    return "\n".join(lines + ["", END])


def measure(path: Path, target: str, arms: tuple[str, str], budget: float) -> dict:
    """compare at its defaults but --extra-runs, each arm on the accuracy split: the ★'s
    test AUC per arm and the paired test of the second ★ against the first (DeLong for two
    classes, else the paired bootstrap of the macro AUC), from the saved test predictions."""
    import numpy as np
    import pandas as pd

    from benchmarks.anchors import split
    from benchmarks.automl import timed_json
    from nncli.assess import stats

    out: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        train, test = split(path, target, Path(folder))
        probas = []
        for i, arm in enumerate(arms):
            run = Path(folder) / f"arm{i}"
            report, wall = timed_json(
                [sys.executable, "-m", "nncli", "compare", str(train), "--test", str(test),
                 "--target", target, "--time-budget", f"{budget:g}s", "--json", "--quiet",
                 "--extra-runs", arm, "--out", str(run)])  # fmt: skip
            ok = {m["label"]: m for m in report["models"] if m["status"] == "ok"}
            star = report["best"]
            frame = pd.read_csv(run / "test_predictions.csv")
            classes = [c.split(":", 1)[1] for c in frame.columns if c.startswith(f"{star}:")]
            probas.append(frame[[f"{star}:{c}" for c in classes]].to_numpy())
            truth = frame["true"].astype(str).map({c: k for k, c in enumerate(classes)})
            out[arm] = {"star": star, "auc": ok[star]["test"]["auc"], "wall_s": wall,
                        "load": os.getloadavg()[0], "rows": sorted(ok)}  # fmt: skip
        y = truth.to_numpy()
        w = np.ones(len(y))
        boots = [stats.bootstrap_metrics(y, p, w, 1000, 0) for p in probas]
        point = out[arms[1]]["auc"] - out[arms[0]]["auc"]
        test = stats.paired_rows("auc", point, y, w, probas[1], probas[0], *boots[::-1], 1000)
        return out | {"difference": point, "p": test.p_value, "method": test.method,
                      "test_rows": len(y)}  # fmt: skip


def measure_all(args: argparse.Namespace, wanted: set[str] | None) -> None:
    from benchmarks.ablation import datasets, write_doc

    arms, budget = ("scaler,seed", args.measure), args.measure_budget
    results = ROOT / "benchmarks" / f"portfolio_target_{budget:g}s.json"
    rows = json.loads(results.read_text()) if results.exists() else {}
    for name, path, target, n_rows in datasets(args.data, wanted):
        if args.select_only:  # render the stored rows again
            break
        try:
            rows[name] = measure(path, target, arms, budget) | {"n_rows": n_rows}
        except subprocess.CalledProcessError as exc:
            rows[name] = {"error": exc.stderr.strip().splitlines()[0], "n_rows": n_rows}
        results.write_text(json.dumps(rows, indent=1))
        r = rows[name]
        said = r.get("error") or f"{r['difference']:+.4f} (p={r['p']:.2g})"
        sys.stderr.write(f"{name}: {said}\n")
    argv = [a for a in sys.argv[1:] if a != "--select-only"]
    command = ("python benchmarks/portfolio.py " + " ".join(argv)).strip()
    write_doc(render_target(rows, arms, command, budget), args.out)


def render_target(rows: dict, arms: tuple[str, str], command: str, budget: float) -> str:
    import platform

    default = budget == 180  # compare's --time-budget 3m

    done = {k: r for k, r in rows.items() if "error" not in r}
    diffs = [r["difference"] for r in done.values()]
    worse = [k for k, r in done.items() if r["difference"] < 0 and r["p"] < 0.05]
    marker = f"portfolio-target-{budget:g}s"
    lines = [f"<!-- {marker}:start -->",
             f"## The portfolio against the MLP's extra runs, {budget:g} s budget", "",
             f"Generated {date.today()} by `{command}` on {platform.machine()}, "
             f"{os.cpu_count()} cores, alone: `nncli compare` at its defaults"
             + (" (a 3-minute budget)" if default else f" but `--time-budget {budget:g}s`")
             + f" on the accuracy split, with `--extra-runs {arms[0]}` and with `--extra-runs "
             f"{arms[1]}`; the ★'s test AUC of each, and the paired test of the two ★s on "
             "the same test rows (DeLong for two classes, else the paired bootstrap of the "
             "macro AUC, 1,000 resamples).", "",
             "Portfolio runs: how many of the portfolio's configs finished in the second "
             "arm. A Δ where none did is the run-to-run spread of fits cut by the time "
             "budget, not the portfolio's doing.", "",
             f"| dataset | rows | test rows | ★ with {arms[0]} | ★ with {arms[1]} | "
             "portfolio runs | Δ | p | wall s | load |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, r in rows.items():
        if "error" in r:
            lines.append(f"| {name} | {r['n_rows']:,} | compare refused the split: "
                         f"{r['error']} | | | | | | | |")  # fmt: skip
            continue
        a, b = r[arms[0]], r[arms[1]]
        ran = sum(1 for row in b["rows"] if "[" in row and "seed=" not in row)
        lines.append(f"| {name} | {r['n_rows']:,} | {r['test_rows']:,} | {a['star']} "
                     f"({a['auc']:.4f}) | {b['star']} ({b['auc']:.4f}) | {ran} | "
                     f"{r['difference']:+.4f} | {r['p']:.2g} | {a['wall_s']:.0f} / "
                     f"{b['wall_s']:.0f} | {b['load']:.1f} |")  # fmt: skip
    if diffs:
        median = statistics.median(diffs)
        what = "issue 25" if default else "issue 25, asked at the default 3 minutes"
        lines += ["", f"| target ({what}) | measured | met |", "|---|---|---|",
                  f"| ★ better than with {arms[0]} on the median set ({len(diffs)} sets) | "
                  f"{median:+.4f} | {'yes' if median > 0 else 'no'} |",
                  f"| ... never significantly worse | {len(worse)} sets"
                  + (f" ({', '.join(worse)})" if worse else "")
                  + f" | {'yes' if not worse else 'no'} |"]  # fmt: skip
    return "\n".join(lines + ["", f"<!-- {marker}:end -->"])


def main() -> None:
    from benchmarks.ablation import datasets, write_doc

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--datasets", help="comma-separated names (default: all)")
    parser.add_argument("--budget", type=float, default=600.0)
    parser.add_argument("--max-rows", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=6)
    parser.add_argument("--select-only", action="store_true")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "portfolio_runs.json")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument(
        "--measure",
        metavar="RUNS",
        help="instead: compare with --extra-runs RUNS against scaler,seed",
    )
    parser.add_argument("--measure-budget", type=float, default=180.0,
                        help="compare's --time-budget in seconds for --measure")  # fmt: skip
    args = parser.parse_args()
    wanted = set(args.datasets.split(",")) if args.datasets else None
    if args.measure:
        return measure_all(args, wanted)
    sets = json.loads(args.results.read_text()) if args.results.exists() else {}
    for name, path, target, n_rows in datasets(args.data, wanted):
        if args.select_only or n_rows > args.max_rows or name in sets:
            continue
        started = time.perf_counter()
        try:
            sets[name] = collect(name, path, target, args.budget) | {"n_rows": n_rows}
        except subprocess.CalledProcessError as exc:  # e.g. a class of one training row
            sys.stderr.write(f"{name}: {exc.stderr.strip().splitlines()[0]}\n")
            continue
        args.results.write_text(json.dumps(sets, indent=1))
        sys.stderr.write(f"{name}: {len(sets[name]['rows'])} rows in "
                         f"{time.perf_counter() - started:.0f} s\n")  # fmt: skip
    chosen = greedy(sets, args.size)
    loo = leave_one_out(sets, args.size)
    data = {"made_by": "benchmarks/portfolio.py", "date": str(date.today()),
            "sets": sorted(sets), "configs": [
                {"model": c.split("[", 1)[0], "variant": c.split("[", 1)[1][:-1]}
                for c, _ in chosen]}  # fmt: skip
    (ROOT / "nncli" / "assess" / "portfolio.json").write_text(json.dumps(data, indent=1) + "\n")
    command = ("python benchmarks/portfolio.py " + " ".join(sys.argv[1:])).strip()
    write_doc(render(sets, chosen, loo, command), args.out)


if __name__ == "__main__":
    main()
