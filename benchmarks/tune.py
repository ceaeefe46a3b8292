"""nncli tune against Optuna's own LightGBM tuner, given the same time (issue 25).

For each dataset: ``nncli.tune(-m gbt)`` with a time budget, and Optuna's
``LightGBMTunerCV`` (optuna-integration: the stepwise search over LightGBM's knobs, 5-fold
stratified CV with early stopping, its fold boosters averaged for the test rows) with the
same budget, on the same 80% of the rows; both scored once on the same 20% test rows
(nncli's split for seed 0). Also nncli's first trial (the gbt as given, i.e. the default),
and with ``--mlp``: ``nncli tune -m mlp`` on adult with its own budget against the default
gbt. Run alone on a quiet machine; each line records the load average.

    python benchmarks/tune.py [--budget 300] [--sets adult,magic,...] [--mlp --mlp-budget 600]

(``--sets "" --mlp --append``: the MLP run alone, added to the file; ``--bag 5
--nncli-only --append``: nncli cross-fitted on every set; ``--tuner-only --append``: the
Optuna tuner again, beside a rerun of nncli on the same machine.)

Writes benchmarks/tune.json (one object per run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
SETS = ("adult", "magic", "covertype", "phoneme", "spambase")


def _target(name: str) -> str:
    import csv

    with open(DATA / "MANIFEST.csv") as fh:
        return next(r["target_column"] for r in csv.DictReader(fh) if r["name"] == name)


def run_nncli(
    name: str, model: str, budget: float, bag: int | None = None, ensemble: int = 0
) -> dict:
    import nncli
    from nncli.assess.tune import TuneOptions
    from nncli.config import RunConfig, Settings

    started = time.perf_counter()
    options = TuneOptions(models=(model,), time_budget=budget, ensemble=ensemble)
    settings = Settings(run=RunConfig(bag=bag)) if bag else None

    def done(model: str, row: object, best: float | None) -> None:  # the trials, on stderr
        print(f"{name} {model} {row}", file=sys.stderr, flush=True)  # noqa: T201

    found = nncli.tune(DATA / f"{name}.csv", target=_target(name), options=options,
                       settings=settings, on_done=done)  # fmt: skip
    m = found.models[0]
    return {
        "set": name, "tool": f"nncli-tune-{model}" + (f"-bag{bag}" if bag else ""),
        "budget_s": budget,
        "wall_s": time.perf_counter() - started, "trials": len(m.trials),
        "complete": sum(t.state == "complete" for t in m.trials),
        "auc": m.tuned.test["auc"] if m.tuned else None,
        "default_auc": m.default.test["auc"] if m.default else None,
        "valid_auc": m.tuned.valid if m.tuned else None, "bag": m.bag,
        # the best trial against the first out of fold: what keeps it (since the guard)
        "best_trial_valid": m.best_searched.value if m.best_searched else None,
        "search_diff": m.search_test.difference if m.search_test else None,
        "search_p": m.search_test.p_value if m.search_test else None,
        "passed_over": m.passed_over.number if m.passed_over else None,
        # ... tested as the best of the finished trials (Hansen's SPA, since it decides too)
        "best_of_p": m.best_of.p_value if m.best_of else None,
        "chosen_among": m.chosen_among,
        "best_of_compared": m.best_of.candidates if m.best_of else None,
        "test_p": m.paired.p_value if m.paired else None,  # tuned vs as given, test rows
        "ensemble": ensemble or None,  # --ensemble N: the mean of the N best trials
        "ensemble_auc": m.ensemble.test["auc"] if m.ensemble else None,
        "load": os.getloadavg()[0],
    }  # fmt: skip


def run_lgbm_tuner(name: str, budget: float, seed: int = 0) -> dict:
    import lightgbm as lgb
    import optuna
    from optuna_integration.lightgbm import LightGBMTunerCV

    sys.path.insert(0, str(HERE.parent))
    from benchmarks.accuracy import _reference_frame, load
    from nncli.assess.evaluate import metrics

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    frame, schema, y, rest, test = load(str(DATA / f"{name}.csv"), _target(name), seed)
    X = _reference_frame(frame, schema)
    k = len(schema.classes)
    params = {"objective": "binary" if k == 2 else "multiclass", "verbosity": -1, "seed": seed,
              "metric": "binary_logloss" if k == 2 else "multi_logloss"}  # fmt: skip
    if k > 2:
        params["num_class"] = k
    started = time.perf_counter()
    train = lgb.Dataset(X.iloc[rest], y[rest])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tuner = LightGBMTunerCV(params, train, num_boost_round=2000, nfold=5, stratified=True,
                                seed=seed, time_budget=int(budget), return_cvbooster=True,
                                callbacks=[lgb.early_stopping(50, verbose=False)],
                                show_progress_bar=False, optuna_seed=seed)  # fmt: skip
        tuner.run()
        booster = tuner.get_best_booster()
    wall = time.perf_counter() - started
    raw = np.mean(booster.predict(X.iloc[test], num_iteration=booster.best_iteration), axis=0)
    proba = np.column_stack([1 - raw, raw]) if k == 2 else raw
    return {"set": name, "tool": "optuna-LightGBMTunerCV", "budget_s": budget, "wall_s": wall,
            "trials": len(tuner.study.trials), "auc": metrics(y[test], proba)["auc"],
            "load": os.getloadavg()[0]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=300.0)
    parser.add_argument("--mlp-budget", type=float, default=600.0)
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--mlp", action="store_true", help="also tune the MLP on adult")
    parser.add_argument("--bag", type=int, help="nncli's --bag (default: compare's choice)")
    parser.add_argument("--nncli-only", action="store_true", help="not the Optuna tuner")
    parser.add_argument("--tuner-only", action="store_true", help="the Optuna tuner alone")
    parser.add_argument("--ensemble", type=int, default=0, help="nncli's --ensemble N")
    parser.add_argument("--out", default=str(HERE / "tune.json"))
    parser.add_argument("--append", action="store_true", help="add to --out's runs")
    args = parser.parse_args()
    out = Path(args.out)
    rows = json.loads(out.read_text()) if out.exists() and args.append else []
    for name in [s for s in args.sets.split(",") if s]:
        tools = ("nncli",) if args.nncli_only else ("optuna",) if args.tuner_only else (
            "nncli", "optuna")  # fmt: skip
        for tool in tools:
            if tool == "nncli":
                run = run_nncli(name, "gbt", args.budget, args.bag, args.ensemble)
            else:
                run = run_lgbm_tuner(name, args.budget)
            rows.append(run)
            print(json.dumps(rows[-1]), flush=True)  # noqa: T201
            out.write_text(json.dumps(rows, indent=1))
    if args.mlp:
        rows.append(run_nncli("adult", "mlp", args.mlp_budget))
        print(json.dumps(rows[-1]), flush=True)  # noqa: T201
        out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
