"""`nncli compare`: one split for all, honest intervals, paired tests, overtraining, budget."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

import nncli.assess.compare as compare_module
from nncli import api
from nncli.assess import stats
from nncli.assess.evaluate import metrics
from nncli.assess.plan import CompareOptions
from nncli.config import MLP, MLPConfig, RunConfig, Settings, parse_variant
from nncli.errors import ConfigError
from nncli.show.labels import overtraining_verdict
from tests.conftest import SAMPLE

PHYSICS = SAMPLE / "physics.csv"
SMALL_MLP = ["--hidden", "32", "--epochs", "8"]
FAST = ["--bootstrap", "200", "--quiet"]


def test_every_model_gets_the_same_split(monkeypatch):
    """One split (--bag 1) and cross-fitted folds alike: every model trains and validates
    on the same rows, none of them test rows."""
    import nncli.assess.crossfit as crossfit

    real = crossfit.fit_model
    for bag in (1, 5):
        seen: dict[str, list] = {}

        def spy(name, schema, train, y_train, valid, y_valid, *args, seen=seen, **kwargs):
            seen.setdefault(name, []).append((tuple(train.index), tuple(valid.index)))
            return real(name, schema, train, y_train, valid, y_valid, *args, **kwargs)

        monkeypatch.setattr(crossfit, "fit_model", spy)
        options = CompareOptions(models=("majority", "logreg", "fisher", "gbt", "mlp"),
                                 bootstrap=100)  # fmt: skip
        settings = Settings(mlp=MLPConfig(hidden=(16,), epochs=2), run=RunConfig(bag=bag))
        comparison = api.compare(PHYSICS, options=options, settings=settings).comparison
        assert set(seen) == {"majority", "logreg", "fisher", "gbt", "mlp"}
        assert len({tuple(v) for v in seen.values()}) == 1 and len(seen["gbt"]) == bag
        test = set(comparison.test_index)
        held_out = set()
        for train, valid in seen["gbt"]:
            assert not (set(train) & set(valid)) and not (set(train) & test)
            assert not (set(valid) & test) and len(train) + len(valid) + len(test) == 4000
            held_out |= set(valid)
        assert len(held_out) == (3200 if bag == 5 else 640)  # the folds cover the rest
        assert all(r.proba.shape == (800, 2) for r in comparison.results)


def test_intervals_contain_the_estimate_and_narrow_with_more_rows():
    rng = np.random.default_rng(0)

    def width(n: int) -> float:
        y = rng.integers(0, 2, n)
        score = 1 / (1 + np.exp(-(y * 1.5 + rng.normal(size=n))))
        proba = np.c_[1 - score, score]
        boot = stats.bootstrap_metrics(y, proba, np.ones(n), 500, seed=1)
        lo, hi = stats.interval(boot["auc"])
        point = metrics(y, proba)["auc"]
        assert lo <= point <= hi
        return hi - lo

    small, large = width(300), width(3000)
    assert large < small / 2


def test_paired_test_finds_a_real_difference_and_none_with_itself():
    rng = np.random.default_rng(0)
    n = 1000
    y = rng.integers(0, 2, n)
    strong = y * 2.0 + rng.normal(size=n)
    weak = y * 0.5 + rng.normal(size=n)
    diff, se, p = stats.delong(y == 1, strong, weak)
    assert diff > 0.1 and p < 1e-6 and se > 0
    diff, se, p = stats.delong(y == 1, strong, strong)
    assert diff == 0 and p == 1.0
    right_strong, right_weak = (strong > 1) == (y == 1), (weak > 0.25) == (y == 1)
    assert stats.mcnemar(right_strong, right_strong) == 1.0
    assert stats.mcnemar(right_strong, right_weak) < 1e-6


def test_ks_flags_a_deliberately_overtrained_net(tmp_path):
    rng = np.random.default_rng(0)
    n, d = 400, 30
    X = rng.normal(size=(n, d))
    y = np.where(X[:, 0] + rng.normal(scale=2.0, size=n) > 0, "s", "b")
    path = tmp_path / "noisy.csv"
    pd.DataFrame(X, columns=[f"x{i}" for i in range(d)]).assign(label=y).to_csv(path, index=False)
    overfit = MLPConfig(
        hidden=(256, 256),
        epochs=150,
        patience=150,
        dropout=0.0,
        weight_decay=0.0,
        lr=3e-3,
        schedule="constant",
        restore_best=False,
    )
    options = CompareOptions(models=("logreg", "mlp"), bootstrap=100)
    # one net on one split: the strong preset's members and compare's 8 folds took a minute
    settings = Settings(mlp=overfit, run=RunConfig(preset="default", bag=1))
    comparison = api.compare(path, options=options, settings=settings).comparison
    mlp = next(r for r in comparison.results if r.model == "mlp")
    assert mlp.train["auc"] > 0.99
    assert min(k["p_value"] for k in mlp.ks) < 0.01
    words = overtraining_verdict(mlp, comparison.schema.classes, "auc")
    assert "(overtraining)" in words


def test_time_budget_is_honoured_and_shortening_reported(invoke):
    started = time.perf_counter()
    payload = json.loads(
        invoke(
            [
                "compare",
                PHYSICS,
                "--models",
                "logreg,gbt,mlp",
                "--epochs",
                "100000",
                "--patience",
                "100000",
                "--time-budget",
                "8s",
                "--json",
                *FAST,
            ]
        ).stdout
    )
    elapsed = time.perf_counter() - started
    assert payload["elapsed_seconds"] <= 8 * 1.10  # loosely here: the machine is shared
    assert elapsed < 8 * 1.05 + 3  # plus reading and start-up, measured loosely here
    mlp = next(m for m in payload["models"] if m["model"] == "mlp")
    assert mlp["stop_reason"] == "time_budget" and mlp["note"] == "shortened by the time budget"


def test_compare_table_on_stdout_and_rows_on_stderr(invoke):
    result = invoke(["compare", PHYSICS, "--models", "majority,logreg,gbt", "--bootstrap", "200"])
    out, err = result.stdout, result.stderr
    assert out.startswith(
        f"compare {PHYSICS}: 4,000 rows (3,200 rows cross-fitted in 5 folds, 800 test "
        "rows); target 'label'; seed 0; ranked by ROC AUC; 95% intervals from 200 bootstrap"
    )
    assert "gbt ★" in out
    assert "gbt: train AUC" in out and "KS p" in out
    assert "logreg vs gbt: AUC" in out and "(DeLong)" in out
    assert "signal efficiency at fixed background efficiency (signal: 'signal')" in out
    assert [line.split()[:2] for line in err.splitlines()] == [
        ["target", "'label'"],
        ["cross-fitting", "with"],
        ["rough", "majority"],
        ["rough", "gbt"],
        ["rough", "logreg"],
    ]
    assert err.splitlines()[1].startswith("cross-fitting with 5 folds (automatic for 3,200 "
                                          "training and validation rows)")  # fmt: skip


def test_compare_json_and_out_dir(invoke, tmp_path):
    out = tmp_path / "run"
    payload = json.loads(
        invoke(
            [
                "compare",
                PHYSICS,
                "--models",
                "logreg,gbt,mlp",
                *SMALL_MLP,
                "--preset",
                "default",  # the plain network, whose size this test counts
                "--mlp",
                "activation=tanh",
                "--mlp",
                "activation=maxout,hidden=16,8",
                "--out",
                out,
                "--json",
                *FAST,
            ]
        ).stdout
    )
    assert payload["format_version"] == 1 and payload["command"] == "compare"
    labels = [m["label"] for m in payload["models"]]
    assert labels == ["gbt", "logreg", "mlp[activation=tanh]", "mlp[activation=maxout,hidden=16,8]"]
    assert payload["best"] in labels and payload["metric"] == "auc"
    for model in payload["models"]:
        low, high = model["interval"]["auc"]
        assert low <= model["test"]["auc"] <= high
    maxout = payload["models"][3]
    assert maxout["label"] == "mlp[activation=maxout,hidden=16,8]"
    assert maxout["n_params"] == (13 * 16 * 2 + 32) + (16 * 8 * 2 + 16) + 9
    assert {p["method"] for p in payload["paired"]} == {"DeLong"}
    files = sorted(p.name for p in out.iterdir())
    assert files == [
        "gbt.nncli",
        "logreg.nncli",
        "mlp-activation-maxout-hidden-16-8.nncli",
        "mlp-activation-tanh.nncli",
        "oof_predictions.csv",
        "report.json",
        "test_predictions.csv",
        "train_predictions.csv",
    ]
    oof = pd.read_csv(out / "oof_predictions.csv")  # cross-fitted: every training row
    assert len(oof) == 3200 and oof["gbt:signal"].notna().all()
    preds = pd.read_csv(out / "test_predictions.csv")
    assert len(preds) == 800 and list(preds.columns[:2]) == ["row", "true"]
    assert "gbt:signal" in preds.columns
    assert json.loads((out / "report.json").read_text()) == payload
    loaded = api.load(out / "gbt.nncli")
    assert loaded.classes == ["background", "signal"]


def test_cv_reports_mean_and_std(invoke):
    payload = json.loads(
        invoke(["compare", PHYSICS, "--models", "logreg,gbt", "--cv", "3", "--json", *FAST]).stdout
    )
    assert payload["evaluation"]["cv"] == 3 and payload["rows"]["test"] == 4000
    gbt = payload["models"][0]
    assert gbt["model"] == "gbt" and 0 < gbt["std"]["auc"] < 0.05
    # nested: each outer fold's 2,667 rows are cross-fitted in 5 inner folds
    assert payload["rows"]["folds"] == 5 and gbt["fits"] == "5-fold bag"
    text = invoke(["compare", PHYSICS, "--models", "logreg", "--cv", "3", *FAST]).stdout
    assert "3-fold CV" in text and " ± " in text


def test_fail_under_exits_3(invoke):
    result = invoke(
        ["compare", PHYSICS, "--models", "logreg", "--fail-under", "auc=0.99", *FAST], exit_code=3
    )
    assert result.stderr == (
        "Threshold not met: the best model (logreg) has auc 0.9078; --fail-under asks for 0.99.\n"
    )
    invoke(["compare", PHYSICS, "--models", "logreg", "--fail-under", "auc=0.8", *FAST])
    # --json says it too, so a script need not read the exit code alone
    args = ["compare", PHYSICS, "--models", "logreg", "--json", *FAST]
    missed = json.loads(invoke([*args, "--fail-under", "auc=0.99"], exit_code=3).stdout)
    score = missed["models"][0]["test"]["auc"]
    assert missed["fail_under"] == {"metric": "auc", "value": 0.99, "model": "logreg",
                                    "score": score, "met": False}  # fmt: skip
    assert json.loads(invoke([*args, "--fail-under", "auc=0.8"]).stdout)["fail_under"]["met"]
    assert json.loads(invoke(args).stdout)["fail_under"] is None


def test_test_file_is_used_as_the_test_set(invoke, tmp_path):
    frame = pd.read_csv(PHYSICS)
    frame.iloc[:3000].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[3000:].to_csv(tmp_path / "test.csv", index=False)
    payload = json.loads(
        invoke(
            [
                "compare",
                tmp_path / "train.csv",
                "--test",
                tmp_path / "test.csv",
                "--models",
                "logreg",
                "--json",
                *FAST,
            ]
        ).stdout
    )
    assert payload["rows"]["test"] == 1000 and payload["rows"]["total"] == 4000


def test_multiclass_compare(invoke):
    payload = json.loads(
        invoke(
            [
                "compare",
                SAMPLE / "segment.csv",
                "--models",
                "logreg,gbt",
                "--metric",
                "accuracy",
                "--json",
                *FAST,
            ]
        ).stdout
    )
    assert payload["signal"] is None and len(payload["classes"]) == 7
    assert payload["paired"][0]["method"] == "McNemar"
    assert payload["models"][0]["model"] == "gbt"
    assert payload["models"][0]["test"]["accuracy"] > 0.9


@pytest.mark.parametrize(
    "text,expected",
    [
        ("activation=tanh", {"activation": "tanh"}),
        ("activation=maxout,hidden=128,128", {"activation": "maxout", "hidden": (128, 128)}),
        (
            "dropout=0,residual=true,clip-grad=0",
            {"dropout": 0.0, "residual": True, "clip_grad": None},
        ),
    ],
)
def test_parse_variant(text, expected):
    config = MLPConfig().replace(**parse_variant(text, MLP))
    assert {k: getattr(config, k) for k in expected} == expected


@pytest.mark.parametrize(
    "text,message",
    [
        ("activaton=tanh", "unknown mlp setting 'activaton'"),
        ("epochs=many", r"'epochs' \(--epochs\) must be an integer at least 1, got 'many'"),
        ("tanh", "expected key=value items"),
        ("activation=swish", r"mlp setting 'activation' \(--activation\) must be one of"),
    ],
)
def test_parse_variant_errors(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_variant(text, MLP)


def test_models_with_other_seeds_are_resampled_on_the_same_rows():
    """Two models that predict alike but carry different seeds (an extra run's
    ``mlp[seed=2]``) must get a zero-width paired interval: one set of resamples."""
    from dataclasses import replace

    from nncli.assess.plan import Entry
    from nncli.io.data import read_table
    from nncli.prepare.dataset import labels_to_index, row_weights
    from nncli.prepare.schema import infer_schema

    frame = read_table(SAMPLE / "segment.csv").frame
    schema = infer_schema(frame)
    y = labels_to_index(frame[schema.target], schema.classes, "segment")
    options = CompareOptions(models=("logreg",), bootstrap=200)
    settings = Settings()
    splits = compare_module.make_splits(y, options, 0, settings.run.valid_size, 1)
    ctx = compare_module._Context(frame, y, row_weights(frame, schema), schema, splits, None,
                                  options, seed=0)  # fmt: skip
    entries = [Entry("logreg", "logreg", settings),
               Entry("logreg[seed=7]", "logreg",
                     replace(settings, run=settings.run.replace(seed=7)))]  # fmt: skip
    a, b = (compare_module._run_entry(e, ctx, None, None) for e in entries)
    np.testing.assert_array_equal(a.proba, b.proba)  # logreg does not depend on the seed
    comparison = compare_module.Comparison("segment", schema, options, 0, {}, [a, b],
                                           y[splits[0].test], np.ones(len(splits[0].test)),
                                           splits[0].test, None)  # fmt: skip
    test = compare_module.paired_test(comparison, a, b)
    assert test.method == "paired bootstrap"  # multiclass AUC: no DeLong
    assert test.difference == 0 and test.low == 0 and test.high == 0 and test.p_value == 1


def _macro_auc(y: np.ndarray, proba: np.ndarray) -> float:
    """Macro one-vs-rest AUC from ranks (Mann–Whitney), independent of nncli's code."""
    from scipy.stats import rankdata

    aucs = []
    for k in range(proba.shape[1]):
        pos = y == k
        n_pos, n_neg = pos.sum(), (~pos).sum()
        if n_pos and n_neg:
            ranks = rankdata(proba[:, k])
            aucs.append((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return float(np.mean(aucs))


def test_extra_runs_paired_interval_matches_a_recomputation(invoke, tmp_path):
    """The paired interval of an extra run (another seed) against the ★, recomputed from
    the saved test predictions with stratified paired resamples of its own."""
    out = tmp_path / "run"
    invoke(["compare", SAMPLE / "segment.csv", "--models", "logreg,mlp,ensemble",
            "--preset", "quick", "--time-budget", "60", "--out", out, "--quiet"])  # fmt: skip
    report = json.loads((out / "report.json").read_text())
    pair = next(p for p in report["paired"] if p["model"] == "mlp[scaler=standard,seed=1]"
                and p["method"] == "paired bootstrap")  # fmt: skip
    test = pd.read_csv(out / "test_predictions.csv")
    classes = sorted(test["true"].unique())
    y = test["true"].map({c: k for k, c in enumerate(classes)}).to_numpy()
    probas = [
        test[[f"{m}:{c}" for c in classes]].to_numpy() for m in (pair["model"], pair["against"])
    ]
    rng = np.random.default_rng(123)
    strata = [np.flatnonzero(y == k) for k in range(len(classes))]
    diffs = []
    for _ in range(2000):
        rows = np.concatenate([rng.choice(s, len(s)) for s in strata])
        diffs.append(_macro_auc(y[rows], probas[0][rows]) - _macro_auc(y[rows], probas[1][rows]))
    low, high = np.percentile(diffs, [2.5, 97.5])
    width = high - low
    assert abs(pair["difference"] - (_macro_auc(y, probas[0]) - _macro_auc(y, probas[1]))) < 1e-4
    assert abs(pair["low"] - low) < 0.2 * width and abs(pair["high"] - high) < 0.2 * width


def test_progress_lines_stay_aligned_with_long_labels(invoke):
    """A variant's label (and its extra runs') is longer than the 14 columns the plain
    models need: every progress line puts its metric at the same column."""
    err = invoke(["compare", SAMPLE / "credit_g.csv", "--models", "gbt,logreg,mlp",
                  "--mlp", "activation=tanh,hidden=16", "--epochs", "2", "--bag", "1",
                  "--json"]).stderr  # fmt: skip
    lines = [line for line in err.splitlines() if " ROC AUC " in line and "fit " in line]
    assert len(lines) >= 3 and any("mlp[activation=tanh,hidden=16]" in x for x in lines)
    assert len({line.index(" ROC AUC ") for line in lines}) == 1, lines
