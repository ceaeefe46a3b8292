"""-m catboost, the second tree family (the extra nncli[catboost]), tested like the gbt:
train, predict, evaluate, info, compare, variants, bad settings, the model file's safety,
early stopping, the time budget, and the one-line error without the extra."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pandas as pd
import pytest

import nncli
from nncli.config import CatBoostConfig, Settings
from nncli.errors import ArtifactError, ConfigError
from tests.conftest import SAMPLE

catboost = pytest.importorskip("catboost")


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory):
    """Numbers with missing values, a categorical that carries the signal (with a rare
    level and missing cells) and a boolean: what CatBoost's categorical handling is for."""
    rng = np.random.default_rng(3)
    n = 600
    colour = rng.choice(["red", "green", "blue", "violet"], n, p=[0.4, 0.3, 0.29, 0.01])
    a = rng.normal(size=n)
    score = a + 1.5 * (colour == "red") - (colour == "blue") + rng.normal(scale=0.5, size=n)
    frame = pd.DataFrame({"a": a.round(3), "colour": colour,
                          "flag": rng.choice(["yes", "no"], n)})  # fmt: skip
    frame.loc[rng.random(n) < 0.1, "a"] = np.nan
    frame.loc[rng.random(n) < 0.05, "colour"] = None
    frame["label"] = np.where(score > np.median(score), "hi", "lo")
    path = tmp_path_factory.mktemp("cb") / "messy.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def trained(messy, tmp_path_factory):
    path = tmp_path_factory.mktemp("cbm") / "cb.nncli"
    result = nncli.train(messy, model="catboost")
    result.save(path)
    return result, path


def test_catboost_learns_the_categorical_signal_and_stops_early(trained):
    result, _ = trained
    card = result.predictor.card
    assert card.model == "catboost"
    assert result.metrics["valid"]["auc"] > 0.85
    assert card.stop_reason in ("early_stopping", "completed")
    losses = [h["valid_loss"] for h in card.history]
    assert card.history and min(losses) < losses[0]
    assert card.versions.get("catboost") == catboost.__version__


def test_a_saved_catboost_model_predicts_as_it_did_and_holds_no_pickle(trained, messy):
    result, path = trained
    frame = pd.read_csv(messy)
    before = result.predictor.predict_proba(frame)
    loaded = nncli.load(path)
    after = loaded.predict_proba(frame)
    assert np.allclose(before, after, atol=1e-12)
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        blob = zf.read(next(n for n in names if n.endswith("catboost.json")))
    assert not any(n.endswith((".pkl", ".pickle")) for n in names)
    assert json.loads(blob)["oblivious_trees"]  # CatBoost's JSON model, not a pickle


def test_unseen_and_missing_categories_are_scored_as_one_more_category(trained, messy):
    result, _ = trained
    frame = pd.read_csv(messy).head(20).drop(columns="label")
    frame.loc[:4, "colour"] = "ultraviolet"
    frame.loc[5:9, "colour"] = None
    proba = result.predictor.predict_proba(frame)
    assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1.0)
    same = result.predictor.predict_proba(frame.assign(colour=frame.colour.where(
        ~frame.colour.eq("ultraviolet"), None)))  # fmt: skip
    assert np.allclose(proba, same)  # unseen reads as missing, as for every model


def _with_blob(path, tmp_path, blob: bytes, name: str = "bad.nncli"):
    """The model file with another CatBoost model text whose checksum is made to match,
    so that the damage reaches CatBoost's loader (the checksum would stop it first)."""
    import hashlib

    from tests.test_artifacts import _members, _rewrite

    members = _members(path)
    members["catboost.json"] = blob
    manifest = json.loads(members["manifest.json"])
    manifest["members"]["catboost.json"] = hashlib.sha256(blob).hexdigest()
    members["manifest.json"] = json.dumps(manifest).encode()
    out = tmp_path / name
    _rewrite(out, members)
    return out


def test_a_truncated_catboost_model_is_the_model_files_error(trained, tmp_path):
    """CatBoost's binary loader crashed the process on a truncated model: the JSON one is
    read by Python first, so truncation is one clear error."""
    from tests.test_artifacts import _members

    _, path = trained
    blob = _members(path)["catboost.json"]
    for cut in (0, 100, len(blob) // 2, len(blob) - 1):
        with pytest.raises(ArtifactError, match="CatBoost model in the file is corrupt"):
            nncli.load(_with_blob(path, tmp_path, blob[:cut]))


def test_changed_numbers_in_a_catboost_model_never_crash_the_process(trained, messy, tmp_path):
    """Digits changed at random (valid JSON, matching checksum): each file loads and
    predicts probabilities, or is refused as corrupt; the process never dies."""
    from tests.test_artifacts import _members

    _, path = trained
    blob = _members(path)["catboost.json"]
    digits = [i for i, b in enumerate(blob) if 48 <= b <= 57]
    rng = np.random.default_rng(0)
    frame = pd.read_csv(messy).head(50)
    outcomes = {"loaded": 0, "refused": 0}
    for k in range(25):
        changed = bytearray(blob)
        for i in rng.choice(digits, 3, replace=False):
            changed[i] = 48 + int(rng.integers(10))
        try:
            model = nncli.load(_with_blob(path, tmp_path, bytes(changed), f"m{k}.nncli"))
        except ArtifactError:
            outcomes["refused"] += 1
            continue
        proba = model.predict_proba(frame)
        assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1.0)
        outcomes["loaded"] += 1
    assert outcomes["loaded"] > 0


def test_cli_train_predict_evaluate_info_with_catboost(invoke, messy, tmp_path):
    model = tmp_path / "cb.nncli"
    out = invoke(["train", messy, "-m", "catboost", "--catboost-depth", "4", "-o", model, "-q"])
    assert "catboost" in out.stdout
    preds = tmp_path / "p.csv"
    invoke(["predict", model, messy, "--proba", "-o", preds])
    written = pd.read_csv(preds)
    assert set(written.columns) >= {"prediction", "proba_hi", "proba_lo"}
    evaluated = json.loads(invoke(["evaluate", model, messy, "--json"]).stdout)
    assert evaluated["metrics"]["auc"] > 0.85
    info = invoke(["info", model]).stdout
    assert "catboost" in info and "depth" in info
    assert "export" in info and "CatBoost" in info  # why it cannot be exported


def test_catboost_settings_are_checked_like_every_table(invoke, messy):
    err = invoke(["train", messy, "-m", "catboost", "--catboost-depth", "0"], exit_code=2)
    assert "Error:" in err.stderr and "depth" in err.stderr and "Traceback" not in err.stderr
    with pytest.raises(ConfigError):
        CatBoostConfig(depth=17)
    assert CatBoostConfig(iterations=50).max_rounds == 50  # aliases of the table
    ignored = invoke(["train", messy, "-m", "gbt", "--catboost-depth", "4"])
    assert "--catboost-depth ignored" in ignored.stderr


def test_compare_runs_catboost_in_the_rough_stage_with_variants(invoke, messy):
    out = invoke(["compare", messy, "--models", "majority,gbt,catboost",
                  "--catboost", "depth=4", "--catboost", "depth=8,l2_leaf_reg=1",
                  "--bootstrap", "0", "--json"])  # fmt: skip
    rows = {m["label"]: m for m in json.loads(out.stdout)["models"]}
    assert {"catboost[depth=4]", "catboost[depth=8,l2_leaf_reg=1]", "gbt"} <= set(rows)
    assert all(rows[k]["test"]["auc"] > 0.8 for k in rows if k.startswith("catboost"))


def test_the_default_compare_includes_catboost_where_it_is_installed():
    from nncli.learn.models import DEFAULT_COMPARE, MODELS

    assert "catboost" in DEFAULT_COMPARE
    assert MODELS["catboost"].stage == "rough"
    assert DEFAULT_COMPARE.index("gbt") < DEFAULT_COMPARE.index("catboost")


def test_a_time_budget_stops_catboost_with_the_best_round_kept(messy):
    settings = Settings(catboost=CatBoostConfig(max_rounds=100_000, early_stopping_rounds=100_000,
                                                learning_rate=0.001))  # fmt: skip
    result = nncli.train(messy, model="catboost", settings=settings, time_budget=2.0)
    card = result.predictor.card
    assert card.stop_reason == "time_budget"
    losses = [h["valid_loss"] for h in card.history]
    assert result.predictor.model.booster.tree_count_ == int(np.argmin(losses)) + 1


def test_without_the_extra_catboost_is_one_clear_error(invoke, messy, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "catboost" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    err = invoke(["train", messy, "-m", "catboost"], exit_code=2)
    assert "needs the catboost extra" in err.stderr
    assert "pip install 'nncli[catboost]'" in err.stderr
    assert "Traceback" not in err.stderr


def test_catboost_on_the_sample_data_stands_beside_the_gbt():
    """credit_g (yes/no and small-integer columns, the kind of set where CatBoost led
    LightGBM in the issue): on the same validation rows, not below the gbt."""
    gbt = nncli.train(SAMPLE / "credit_g.csv", model="gbt").metrics["valid"]["auc"]
    cat = nncli.train(SAMPLE / "credit_g.csv", model="catboost").metrics["valid"]["auc"]
    assert cat >= gbt


def test_a_class_missing_from_the_training_rows_is_no_error_and_no_noise(capfd):
    """A rare class can be absent from a fold's training rows while its validation rows
    hold it (hypothyroid's 2-row class did this in compare): CatBoost refused such labels
    with a traceback; it now knows every class, says nothing on stderr, and gives one
    probability column per class."""
    from nncli.learn.models.base import FitData
    from nncli.learn.models.catboost import CatBoostModel

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 3)), rng.integers(0, 2, 200)
    X_valid, y_valid = rng.normal(size=(50, 3)), np.r_[rng.integers(0, 2, 48), [3, 3]]
    model = CatBoostModel(4, CatBoostConfig(max_rounds=30))
    model.fit(FitData(X, y, np.ones(200), X_valid, y_valid, np.ones(50), 4))
    proba = model.predict_proba(X_valid)
    assert proba.shape == (50, 4) and np.allclose(proba.sum(axis=1), 1.0)
    assert capfd.readouterr().err == ""
