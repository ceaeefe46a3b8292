"""Greedy ensemble selection, plain or bagged, on the same fitted members.

For each dataset one ``nncli compare`` runs (its members and their validation and test
probabilities are kept); then the blend weights are chosen two ways on the validation
rows — the plain greedy selection compare uses (Caruana et al. 2004) and the bagged
variant of the same paper (greedy selection on bootstrap resamples of the validation
rows, weights averaged) — and each blend is scored on the test rows against the best
single model chosen on validation (DeLong for binary AUC, else a paired bootstrap).

    python benchmarks/ensemble_selection.py [--budget 60] [--bags 20]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SETS = [
    ("sample_data/physics.csv", "label"), ("sample_data/credit_g.csv", "class"),
    ("sample_data/segment.csv", "class"), ("../shared/data/banknote.csv", "target"),
    ("../shared/data/ionosphere.csv", "target"), ("../shared/data/sonar.csv", "target"),
    ("../shared/data/vote.csv", "Class"), ("../shared/data/oil_spill.csv", "target"),
    ("../shared/data/phoneme.csv", "target"), ("../shared/data/spambase.csv", "target"),
]  # fmt: skip


def bagged_weights(probas: list[np.ndarray], y: np.ndarray, w: np.ndarray, bags: int,
                   seed: int) -> np.ndarray:  # fmt: skip
    """Plain greedy selection on ``bags`` bootstrap resamples of the rows, averaged."""
    from nncli.assess.ensemble import greedy_weights

    rng = np.random.default_rng(seed)
    total = np.zeros(len(probas))
    for _ in range(bags):
        rows = rng.integers(0, len(y), len(y))
        total += greedy_weights([p[rows] for p in probas], y[rows], w[rows])
    return total / bags


def one_set(path: str, target: str, budget: float, bags: int) -> dict:
    """One compare; the plain and the bagged blend of its members against the best
    single model (chosen on the validation rows), on the test rows."""
    from nncli import api
    from nncli.assess import compare as cmp
    from nncli.assess import stats
    from nncli.assess.ensemble import blend, greedy_weights
    from nncli.assess.evaluate import metrics
    from nncli.assess.plan import CompareOptions
    from nncli.config import Settings
    from nncli.prepare.dataset import labels_to_index

    run = api.compare(ROOT / path, target=target,
                      options=CompareOptions(time_budget=budget, bootstrap=0))  # fmt: skip
    c = run.comparison
    y = labels_to_index(run.frame[c.schema.target], c.schema.classes, path)
    s = cmp.make_splits(y, c.options, c.seed, Settings().run.valid_size)[0]
    ones = np.ones(len(y))
    members = [r for r in c.results if r.ok and r.model != "ensemble"]
    single = c.best_single
    assert single is not None and np.array_equal(y[s.test], c.y_test)
    valid = [m.folds[0].valid for m in members]
    test = [m.folds[0].test for m in members]
    out: dict = {"set": Path(path).stem, "members": len(members), "single": single.label,
                 "single_auc": single.test["auc"]}  # fmt: skip
    choices = {
        "plain": greedy_weights(valid, y[s.valid], ones[s.valid]),
        "bagged": bagged_weights(valid, y[s.valid], ones[s.valid], bags, c.seed),
    }
    for name, weights in choices.items():
        p = blend(test, weights)
        out[f"{name}_auc"] = metrics(c.y_test, p, None)["auc"]
        out[f"{name}_weights"] = {
            m.label: round(float(x), 2) for m, x in zip(members, weights, strict=True) if x > 0
        }
        if len(c.schema.classes) == 2:
            _, _, p_value = stats.delong(c.y_test == 1, p[:, 1], single.proba[:, 1])
        else:
            a = stats.bootstrap_metrics(c.y_test, p, ones[s.test], 1000, 0)["auc"]
            b = stats.bootstrap_metrics(c.y_test, single.proba, ones[s.test], 1000, 0)["auc"]
            p_value = stats.bootstrap_p_value(a - b)
        out[f"{name}_p"] = float(p_value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60)
    parser.add_argument("--bags", type=int, default=20)
    args = parser.parse_args()
    rows = []
    for path, target in SETS:
        if not (ROOT / path).exists():
            continue
        rows.append(one_set(path, target, args.budget, args.bags))
        print(json.dumps(rows[-1]), os.getloadavg()[0], flush=True)  # noqa: T201


if __name__ == "__main__":
    main()
