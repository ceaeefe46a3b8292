"""Cross-fitting (--bag K, --fold-by COL): choices on out-of-fold predictions, bagged
model files, k-fold application row by row, and the budget buying folds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nncli
from tests.conftest import SAMPLE

PHYSICS = SAMPLE / "physics.csv"
QUIET = ["--bootstrap", "0", "--quiet"]


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """Binary ROC AUC from ranks (Mann–Whitney), independent of nncli's metrics."""
    from scipy.stats import rankdata

    ranks = rankdata(score)
    pos = y == 1
    return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum()))


@pytest.fixture
def linear_csv(tmp_path: Path) -> Path:
    """240 rows whose class is linear in four numbers (plus noise): logistic regression
    is the right model; 48 validation rows of one split happen to favour the trees."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 4))
    y = np.where(X @ [1.0, 0.8, 0.5, 0.3] + rng.normal(scale=1.2, size=240) > 0, "s", "b")
    path = tmp_path / "linear.csv"
    pd.DataFrame(X, columns=list("abcd")).assign(label=y).to_csv(path, index=False)
    return path


def test_the_out_of_fold_choice_is_right_where_one_split_is_not(invoke, linear_csv, tmp_path):
    runs = {}
    for bag in ("1", "5"):
        out = tmp_path / f"bag{bag}"
        runs[bag] = json.loads(invoke(["compare", linear_csv, "--models", "logreg,gbt", "--bag",
                                       bag, "--json", "--out", out, *QUIET]).stdout)  # fmt: skip
    test = {b: {m["label"]: m["test"]["auc"] for m in r["models"]} for b, r in runs.items()}
    assert runs["1"]["best"] == "gbt" and runs["1"]["selected_on"] == "validation"
    assert runs["5"]["best"] == "logreg" and runs["5"]["selected_on"] == "out-of-fold"
    assert test["1"]["logreg"] > test["1"]["gbt"] + 0.03  # the single split chose worse
    # the choice, recomputed from the saved out-of-fold predictions of all 192 rows
    oof = pd.read_csv(tmp_path / "bag5" / "oof_predictions.csv")
    y = (oof["true"] == "s").to_numpy().astype(int)
    assert len(oof) == 192 and oof.notna().all().all()
    for model in runs["5"]["models"]:
        recomputed = _auc(y, oof[f"{model['label']}:s"].to_numpy())
        assert abs(model["valid"]["auc"] - recomputed) < 1e-6
    assert max(runs["5"]["models"], key=lambda m: m["valid"]["auc"])["label"] == "logreg"


def test_a_bagged_model_file_reloads_and_predicts_identically(invoke, tmp_path):
    path = tmp_path / "bag.nncli"
    config = nncli.config
    settings = config.Settings(
        run=config.RunConfig(bag=4), mlp=config.MLPConfig(hidden=(16,), epochs=3)
    )
    result = nncli.train(PHYSICS, model="mlp", settings=settings)
    result.save(path)
    frame = pd.read_csv(PHYSICS)
    again = nncli.load(path)
    np.testing.assert_array_equal(again.predict_proba(frame), result.predictor.predict_proba(frame))
    assert len(again.members) == 4 and again.bag == {"k": 4, "fold_by": None}
    mean = np.mean([m.predict_proba(frame) for m in again.members], axis=0)
    np.testing.assert_allclose(again.predict_proba(frame), mean, rtol=1e-12)
    card = json.loads(invoke(["info", path, "--json"]).stdout)
    assert card["model"]["name"] == "mlp" and card["model"]["config"]["bag"]["k"] == 4
    assert card["model"]["config"]["hidden"] == [16]
    text = invoke(["info", path]).stdout
    assert (
        "cross-fit   4 fold models, each trained on 3 of 4 folds; predicts with their mean" in text
    )
    printed = invoke(["train", PHYSICS, "-m", "logreg", "--bag", "4"]).stdout
    assert "4,000 rows cross-fitted in 4 folds (valid: out of fold)" in printed


@pytest.fixture
def events(tmp_path: Path) -> Path:
    frame = pd.read_csv(PHYSICS)
    frame.insert(0, "event", np.arange(7_000, 11_000))
    path = tmp_path / "events.csv"
    frame.to_csv(path, index=False)
    return path


def test_fold_by_scores_each_row_with_the_model_that_held_it_out(invoke, events, tmp_path):
    """k-fold application by an event number: predict --fold-by gives, row by row, the
    out-of-fold predictions compare made, for a single model and for the ensemble."""
    out = tmp_path / "run"
    invoke(["compare", events, "--models", "logreg,gbt,ensemble", "--bag", "5", "--fold-by",
            "event", "--out", out, *QUIET])  # fmt: skip
    oof = pd.read_csv(out / "oof_predictions.csv").set_index("event")
    folds = (oof.index % 5).value_counts()  # a row's fold is its event number mod 5
    assert len(oof) == 3200 and len(folds) == 5 and folds.between(600, 680).all()
    for model in ("gbt", "ensemble"):
        invoke(["predict", out / f"{model}.nncli", events, "--fold-by", "event", "--proba",
                "-o", tmp_path / f"{model}.csv"])  # fmt: skip
        pred = pd.read_csv(tmp_path / f"{model}.csv").set_index("event").loc[oof.index]
        np.testing.assert_allclose(pred["proba_signal"], oof[f"{model}:signal"], atol=5e-6)
        mean = pd.read_csv(tmp_path / f"{model}.csv")  # without --fold-by: the mean
        invoke(["predict", out / f"{model}.nncli", events, "--proba", "-o",
                tmp_path / f"{model}-mean.csv"])  # fmt: skip
        assert not np.allclose(pd.read_csv(tmp_path / f"{model}-mean.csv")["proba_signal"],
                               mean["proba_signal"])  # fmt: skip
    report = json.loads((out / "report.json").read_text())
    gbt = next(m for m in report["models"] if m["label"] == "gbt")
    err = invoke(["evaluate", out / "gbt.nncli", events, "--fold-by", "event", "--json"])
    assert "out of fold" in err.stderr
    # the training rows' metric under k-fold application is the out-of-fold one
    tested = set(pd.read_csv(out / "test_predictions.csv")["event"])
    frame = pd.read_csv(events)
    train_only = frame[~frame["event"].isin(tested)]
    train_only.to_csv(tmp_path / "train_only.csv", index=False)
    scored = json.loads(invoke(["evaluate", out / "gbt.nncli", tmp_path / "train_only.csv",
                                "--fold-by", "event", "--json"]).stdout)  # fmt: skip
    assert abs(scored["metrics"]["auc"] - gbt["valid"]["auc"]) < 1e-9


def test_fold_by_errors(invoke, events, tmp_path):
    err = invoke(["compare", events, "--models", "logreg", "--fold-by", "lep_pt", "--bag", "5"],
                 exit_code=1).stderr  # fmt: skip
    assert "Error: --fold-by column 'lep_pt' must hold integers (an event number)" in err
    err = invoke(["compare", events, "--models", "logreg", "--fold-by", "event", "--bag", "1"],
                 exit_code=2).stderr  # fmt: skip
    assert "Error: --fold-by assigns the folds of --bag, which is 1 here" in err
    model = tmp_path / "plain.nncli"
    invoke(["train", events, "-m", "logreg", "-o", model, "-q"])
    err = invoke(["predict", model, events, "--fold-by", "event"], exit_code=2).stderr
    assert "this model was not cross-fitted by a fold column" in err
    err = invoke(["train", events, "-m", "logreg", "--bag", "3", "--valid", events],
                 exit_code=2).stderr  # fmt: skip
    assert err.startswith("Error: --bag validates each fold model on the fold it did not see")
    assert "target 'label'" not in err  # refused before the data is read


def test_the_budget_buys_folds_and_says_how_each_model_was_fitted(invoke):
    """An MLP that would train forever in a 9 s budget gets fewer folds (each at least
    2 s), the cheap models all five; the table says which."""
    payload = json.loads(invoke(["compare", PHYSICS, "--models", "gbt,mlp", "--hidden", "64",
                                 "--epochs", "100000", "--patience", "100000", "--time-budget",
                                 "9s", "--bag", "5", "--json", *QUIET]).stdout)  # fmt: skip
    fits = {m["label"]: m["fits"] for m in payload["models"]}
    assert fits["gbt"] == "5-fold bag"
    assert fits["mlp"] in ("2 of 5 folds", "3 of 5 folds")
    assert payload["elapsed_seconds"] <= 9 * 1.10
    assert payload["rows"]["folds"] == 5 and payload["evaluation"]["bag"] == 5


def test_automatic_bagging_follows_the_rows(invoke, tmp_path):
    from nncli.assess.crossfit import auto_bag

    assert [auto_bag(n) for n in (300, 999, 1_000, 20_000, 20_001)] == [8, 8, 5, 5, 1]
    big = pd.read_csv(PHYSICS).sample(26_000, replace=True, random_state=0)
    big.to_csv(tmp_path / "big.csv", index=False)
    err = invoke(["compare", tmp_path / "big.csv", "--models", "logreg"]).stderr
    assert "one validation split (automatic for 20,800 training and validation rows" in err


def test_a_verdict_never_rests_on_a_class_of_few_test_rows(invoke, tmp_path):
    """A class with fewer than 5 test rows is named in the table and the JSON, and a
    significant AUC difference that rests on it is not called significant."""
    rng = np.random.default_rng(3)
    n = 600
    y = np.zeros(n, dtype=int)
    y[:12] = 1  # 12 signal rows: 2 or 3 of them in the test split
    X = rng.normal(size=(n, 3)) + y[:, None] * 3.0
    path = tmp_path / "rare.csv"
    pd.DataFrame(X, columns=list("abc")).assign(label=np.where(y == 1, "s", "b")).to_csv(
        path, index=False)  # fmt: skip
    result = invoke(["compare", path, "--models", "majority,logreg", "--json", "-q"])
    payload = json.loads(result.stdout)
    rare = payload["few_test_rows"]
    assert list(rare) == ["s"] and rare["s"] < 5
    pair = next(p for p in payload["paired"] if p["model"] == "majority")
    assert pair["p_value"] < 0.05 and pair["significant"] is False
    assert pair["few_rows"] == f"it rests on class 's' ({rare['s']} test rows)"
    assert pair["verdict"].endswith(f"not called significant: it rests on class 's' "
                                    f"({rare['s']} test rows)")  # fmt: skip
    text = invoke(["compare", path, "--models", "majority,logreg", "-q"]).stdout
    assert f"few test rows: 's' has {rare['s']} test rows" in text


def test_several_classes_keep_a_verdict_that_holds_without_the_rare_one():
    """With several classes the paired bootstrap is rerun on the others: a difference
    that holds there stays significant; one carried by the rare class does not."""
    from nncli.assess import compare as cmp
    from nncli.assess.plan import CompareOptions
    from nncli.prepare.schema import Schema

    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(300, int), np.ones(300, int), np.full(3, 2)]
    good = np.eye(3)[y] * 0.6 + 0.4 / 3 + rng.normal(scale=0.05, size=(603, 3))
    weak = np.eye(3)[y] * 0.1 + 0.9 / 3 + rng.normal(scale=0.2, size=(603, 3))
    rare_only = good.copy()
    rare_only[y == 2, 2] = 0.0  # equal but for the rare class's own score: its AUC is 0
    schema = Schema(columns=[], n_rows=603, target="label", classes=["a", "b", "c"])
    comparison = cmp.Comparison("x", schema, CompareOptions(bootstrap=200), 0, {}, [], y,
                                np.ones(603), np.arange(603), None)  # fmt: skip
    assert comparison.few_rows == {2: 3}

    def result(proba):
        r = cmp.ModelResult("m", "logreg", "rough")
        r.proba, r.test = proba, {"auc": float(cmp.metrics(y, proba)["auc"])}
        r.boot = cmp.stats.bootstrap_metrics(y, proba, np.ones(603), 200, 0)
        return r

    holds = cmp.paired_test(comparison, result(good), result(weak))
    assert holds.significant and holds.few_rows == ""
    carried = cmp.paired_test(comparison, result(good), result(rare_only))
    assert carried.p_value < 0.05 and not carried.significant
    assert carried.few_rows == "not significant without class 'c' (3 test rows)"


def _delong_p(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """DeLong's paired test from pairwise placements (no ranks), independent of nncli."""
    from scipy.stats import norm

    pos, neg = y == 1, y == 0
    comps = []
    for s in (a, b):
        psi = (s[pos][:, None] > s[neg][None, :]) + 0.5 * (s[pos][:, None] == s[neg][None, :])
        comps.append((psi.mean(axis=1), psi.mean(axis=0), psi.mean()))
    v10 = np.vstack([c[0] for c in comps])
    v01 = np.vstack([c[1] for c in comps])
    cov = np.cov(v10) / pos.sum() + np.cov(v01) / neg.sum()
    diff = comps[0][2] - comps[1][2]
    return float(2 * norm.sf(abs(diff) / np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])))


def test_a_close_call_is_said_and_recomputes_from_the_out_of_fold_predictions(
    invoke, linear_csv, tmp_path
):
    """Logistic regression and Fisher's discriminant are near twins on linear data: the rows
    that chose the ★ cannot tell them apart, and compare says so (text and JSON)."""
    out = tmp_path / "run"
    args = ["compare", linear_csv, "--models", "logreg,fisher,gbt", "--bag", "5", *QUIET]
    report = json.loads(invoke([*args, "--json", "--out", out]).stdout)
    calls = report["close_calls"]
    assert calls and all(c["method"] == "DeLong" and c["p_value"] >= 0.05 for c in calls)
    oof = pd.read_csv(out / "oof_predictions.csv")
    y = (oof["true"] == "s").to_numpy().astype(int)
    score = {m["label"]: oof[f"{m['label']}:s"].to_numpy() for m in report["models"]}
    best = report["best"]
    for call in calls:  # ★ minus the model, and its p-value, recomputed
        assert (
            abs(call["difference"] - (_auc(y, score[best]) - _auc(y, score[call["model"]]))) < 1e-9
        )
        assert abs(call["p_value"] - _delong_p(y, score[best], score[call["model"]])) < 1e-6
    # the runners-up in rank order: the close calls first, then the first real gap
    ranked = sorted((m for m in score if m != best), key=lambda m: -_auc(y, score[m]))
    assert [c["model"] for c in calls] == ranked[: len(calls)]
    if len(calls) < len(ranked):
        assert _delong_p(y, score[best], score[ranked[len(calls)]]) < 0.05
    text = invoke(args).stdout
    assert (
        f"close call: on the out-of-fold rows that chose the ★ ({best}), {calls[0]['model']}"
        in text
    )
