"""The refine stage: the strong MLP's layers, the ensemble row, selection on validation rows."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

import nncli
from nncli import api
from nncli.assess.ensemble import blend, greedy_weights
from nncli.assess.evaluate import metrics
from nncli.assess.plan import CompareOptions
from nncli.config import MLPConfig, RunConfig, Settings
from nncli.learn.models.layers import (
    CategoricalEmbedding,
    FrontScale,
    MemberAdapter,
    MemberHeads,
    PeriodicEmbedding,
    PiecewiseLinearEmbedding,
    quantile_edges,
    tree_edges,
)
from nncli.learn.models.mlp import MLP, Inputs
from nncli.learn.training import loss_fn, mean_proba
from tests.conftest import SAMPLE

PHYSICS = SAMPLE / "physics.csv"
CREDIT = SAMPLE / "credit_g.csv"
FAST = ["--bootstrap", "100", "--quiet"]


# ------------------------------------------------------------------------ layers


def _grads_reach(module: torch.nn.Module, out: torch.Tensor) -> None:
    out.square().sum().backward()
    for name, p in module.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"no gradient reaches {name}"


def test_front_scale_starts_at_identity_and_learns():
    layer = FrontScale(3)
    x = torch.randn(5, 3)
    assert torch.equal(layer(x), x)
    _grads_reach(layer, layer(x))


def test_piecewise_linear_encoding_values_and_gradients():
    x_train = np.array([[0.0, 5.0, np.nan], [1.0, 5.0, np.nan], [2.0, 5.0, np.nan],
                        [3.0, 5.0, np.nan], [4.0, 5.0, np.nan]])  # fmt: skip
    edges = quantile_edges(x_train, n_bins=4)
    assert list(edges[0]) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert len(edges[1]) == 1 and len(edges[2]) == 1  # a constant and an all-missing column
    layer = PiecewiseLinearEmbedding(3, 4, dim=6)
    layer.set_edges(edges)
    codes = layer.encode(torch.tensor([[2.5, 5.0, 0.0], [-1.0, 7.0, 1.0], [9.0, 5.0, 0.0]]))
    assert torch.allclose(codes[0, 0], torch.tensor([1.0, 1.0, 0.5, 0.0]))
    assert codes[1, 0, 0] == -1.0 and codes[2, 0, 3] == 6.0  # open-ended first and last bins
    assert torch.equal(codes[:, 1:], torch.zeros(3, 2, 4))  # no bins: nothing encoded
    out = layer(torch.tensor([[2.5, 5.0, 0.0]]))
    assert out.shape == (1, 3, 6)
    x = torch.tensor([[2.5, 5.0, 0.0]])
    linear = x.unsqueeze(-1) * layer.linear_weight + layer.linear_bias
    assert torch.equal(out, linear)  # the piecewise-linear part starts at zero
    _grads_reach(layer, layer(torch.randn(8, 3) * 2 + 2))


def test_tree_edges_put_bins_where_the_class_changes():
    rng = np.random.default_rng(0)
    n = 4000
    gain = np.where(rng.random(n) < 0.9, 0.0, rng.uniform(1, 10_000, n))  # a spike at 0
    y = (gain > 7000).astype(int)  # the class turns at 7,000, among the 10% above the spike
    x = np.column_stack([gain, np.full(n, 3.0), np.full(n, np.nan)])
    quantiles, tree = quantile_edges(x, 8), tree_edges(x, y, 8)
    assert len(quantiles[0]) <= 3  # quantiles spend their bins on the spike
    assert np.min(np.abs(tree[0] - 7000)) < 100  # the tree finds the turn
    assert tree[0][0] == gain.min() and tree[0][-1] == gain.max()
    assert len(tree[1]) == 1 and len(tree[2]) == 1  # constant and all-missing: no bins
    assert len(tree[0]) - 1 <= 8


def test_tree_bins_train_and_reload(tmp_path):
    settings = Settings(
        run=RunConfig(preset="strong"), mlp=MLPConfig(epochs=3, hidden=(16,), bin_edges="tree")
    )
    result = nncli.train(CREDIT, model="mlp", settings=settings)
    path = tmp_path / "tree.nncli"
    result.save(path)
    loaded = api.load(path)
    assert loaded.card.config["bin_edges"] == "tree"
    frame = pd.read_csv(CREDIT)
    assert np.array_equal(loaded.predict_proba(frame), result.predictor.predict_proba(frame))


def test_periodic_embedding_shapes_and_gradients():
    layer = PeriodicEmbedding(4, dim=8, sigma=0.1)
    x = torch.randn(10, 4)
    out = layer(x)
    assert out.shape == (10, 4, 8) and torch.equal(out[..., 0], x)  # x itself is kept
    _grads_reach(layer, out)


def test_categorical_embedding_and_members():
    embed = CategoricalEmbedding([3, 12], dim=4)
    codes = torch.tensor([[0.0, 11.0], [2.0, 0.0]])
    assert embed(codes).shape == (2, 8)
    _grads_reach(embed, embed(torch.tensor([[0.0, 11.0], [1.0, 3.0], [2.0, 0.0]])))
    adapter, heads = MemberAdapter(4, 5), MemberHeads(4, 5, 3)
    members = adapter(torch.randn(7, 5))
    assert members.shape == (7, 4, 5) and set(adapter.r.detach().abs().flatten().tolist()) == {1.0}
    logits = heads(members)
    assert logits.shape == (7, 4, 3) and torch.equal(logits, torch.zeros(7, 4, 3))


def test_the_strong_network_end_to_end():
    config = MLPConfig().replace(num_embedding="ple", front_scale=True, ensemble_k=3,
                                 hidden=(16,), max_one_hot=4)  # fmt: skip
    inputs = Inputs(n_in=6, numeric=[0, 2], coded=[(5, 9)], n_bins=4)
    net = MLP(6, 3, config, inputs)
    x = torch.randn(11, 6)
    x[:, 5] = torch.randint(0, 9, (11,)).float()
    logits = net(x)
    assert logits.shape == (11, 3, 3)  # rows × members × classes
    proba = mean_proba(logits)
    assert proba.shape == (11, 3) and torch.allclose(proba.sum(1), torch.ones(11))
    y = torch.randint(0, 3, (11,))
    members = [loss_fn(logits[:, i], y, torch.ones(11), 0.0) for i in range(3)]
    assert torch.isclose(loss_fn(logits, y, torch.ones(11), 0.0), torch.stack(members).mean())
    loss_fn(logits, y, torch.ones(11), 0.0).backward()
    frozen = {"left", "width", "mask"}
    assert all(p.grad is not None for n, p in net.named_parameters() if n not in frozen)


def test_strong_mlp_round_trip_and_streaming_predict(tmp_path):
    settings = Settings(
        run=RunConfig(preset="strong"), mlp=MLPConfig(epochs=4, hidden=(32,), max_one_hot=8)
    )
    result = nncli.train(CREDIT, model="mlp", settings=settings)
    model = result.predictor.model
    assert model.config.num_embedding == "ple" and model.config.ensemble_k == 16  # < 10,000 rows
    assert model.inputs.coded and model.inputs.numeric  # purpose (10 levels) is embedded
    path = tmp_path / "strong.nncli"
    result.save(path)
    loaded = api.load(path)
    frame = pd.read_csv(CREDIT)
    assert np.array_equal(loaded.predict_proba(frame), result.predictor.predict_proba(frame))
    config = loaded.card.config
    assert config["front_scale"] is True and config["n_bins"] >= 2 and config["coded"]
    assert not {"cell", "rnn_hidden", "rnn_layers", "bidirectional"} & set(config)  # RNN-only
    out = io.StringIO()
    api.predict(loaded, CREDIT, out, proba=True, chunk_rows=128)  # 8 chunks
    streamed = pd.read_csv(io.StringIO(out.getvalue()))
    assert len(streamed) == 1000
    expected = result.predictor.predict_proba(frame)[:, 1]
    assert np.allclose(streamed["proba_good"], expected, atol=1e-5)


# ---------------------------------------------------------------------- ensemble


def test_greedy_selection_beats_members_that_err_on_different_rows():
    rng = np.random.default_rng(0)
    n = 600
    y = rng.integers(0, 2, n)
    signal = np.where(y == 1, 1.0, -1.0)
    probas = []
    for part in range(3):  # each member is blind (noise) on a different third of the rows
        score = signal * 2 + rng.normal(size=n)
        blind = np.arange(n) % 3 == part
        score[blind] = rng.normal(size=blind.sum()) * 3
        p = 1 / (1 + np.exp(-score))
        probas.append(np.column_stack([1 - p, p]))
    weights = greedy_weights(probas, y, None)
    assert weights.sum() == pytest.approx(1.0) and (weights > 0).sum() >= 2
    blended = blend(probas, weights)
    for p in probas:
        assert metrics(y, blended)["log_loss"] < metrics(y, p)["log_loss"]
        assert metrics(y, blended)["auc"] > metrics(y, p)["auc"]


def test_compare_adds_an_ensemble_row_saved_as_one_model(invoke, tmp_path):
    out = tmp_path / "run"
    payload = json.loads(
        invoke(["compare", PHYSICS, "--models", "logreg,gbt,mlp,ensemble", "--hidden", "32",
                "--epochs", "8", "--out", out, "--json", *FAST]).stdout
    )  # fmt: skip
    assert payload["selected_on"] == "out-of-fold"  # cross-fitted: 3,200 rows are few
    labels = [m["label"] for m in payload["models"]]
    assert labels == [
        "gbt",
        "logreg",
        "mlp",
        "mlp[scaler=standard,seed=1]",  # cross-fitted: the folds replace the extra seeds
        "ensemble",
    ]
    for name, scaler, seed in [("mlp", "robust", 0), ("mlp-scaler-standard-seed-1", "standard", 1)]:
        card = json.loads(invoke(["info", out / f"{name}.nncli", "--json"]).stdout)
        assert (card["model"]["config"]["scaler"], card["run"]["seed"]) == (scaler, seed)
    ensemble = next(m for m in payload["models"] if m["model"] == "ensemble")
    assert ensemble["stage"] == "blend" and ensemble["note"].startswith("weights ")
    assert {"auc", "log_loss"} <= set(ensemble["valid"]) and ensemble["test"]["auc"] > 0.9
    best = max((m for m in payload["models"] if m["status"] == "ok"),
               key=lambda m: m["valid"]["auc"])  # fmt: skip
    assert payload["best"] == best["label"]  # chosen on the validation rows
    pairs = {(p["model"], p["against"]) for p in payload["paired"]}
    single = max((m for m in payload["models"] if m["model"] != "ensemble"),
                 key=lambda m: m["valid"]["auc"])  # fmt: skip
    assert ("ensemble", single["label"]) in pairs or (single["label"], "ensemble") in pairs
    model = out / "ensemble.nncli"
    info = json.loads(invoke(["info", model, "--json"]).stdout)
    assert info["model"]["name"] == "ensemble"
    assert sum(info["model"]["config"]["members"].values()) == pytest.approx(1.0)
    predictions = invoke(["predict", model, PHYSICS, "--proba"]).stdout.splitlines()
    assert predictions[0] == "prediction,proba_background,proba_signal" and len(predictions) == 4001
    evaluation = json.loads(invoke(["evaluate", model, PHYSICS, "--json"]).stdout)
    assert evaluation["metrics"]["auc"] > 0.9
    loaded = api.load(model)
    test = pd.read_csv(out / "test_predictions.csv")
    frame = pd.read_csv(PHYSICS).iloc[test["row"]]
    assert np.allclose(loaded.predict_proba(frame)[:, 1], test["ensemble:signal"], atol=1e-5)


def test_the_ensemble_with_cv_is_built_per_fold():
    options = CompareOptions(models=("logreg", "gbt", "ensemble"), cv=3, bootstrap=100)
    comparison = api.compare(PHYSICS, options=options).comparison
    ensemble = next(r for r in comparison.results if r.model == "ensemble")
    assert ensemble.ok and len(ensemble.folds) == 3 and ensemble.std["auc"] > 0
    assert ensemble.test["auc"] >= min(r.test["auc"] for r in comparison.results) - 1e-9


def test_selection_uses_validation_not_test_rows():
    options = CompareOptions(models=("majority", "logreg", "fisher"), bootstrap=100)
    comparison = api.compare(PHYSICS, options=options).comparison
    by_valid = max(comparison.results, key=lambda r: r.valid["auc"])
    assert comparison.best is by_valid
    assert all(set(r.valid) == set(r.test) for r in comparison.results)


def test_a_bad_extra_run_is_refused_before_anything_is_read(invoke, tmp_path):
    result = invoke(
        ["compare", tmp_path / "absent.csv", "--extra-runs", "scaler,seeds"], exit_code=2
    )
    error, hint = result.stderr.splitlines()
    assert error == "Error: unknown extra run 'seeds' in --extra-runs"
    assert hint.startswith(
        "Hint: pass e.g. --extra-runs scaler,seed (each one of: scaler, seed, portfolio)"
    )


def test_the_portfolio_runs_after_the_models_in_order_and_joins_the_ensemble(monkeypatch, tmp_path):
    """--extra-runs portfolio: the configs of portfolio.json in order, each on its model's
    plain settings with the variant applied, skipping models not compared; every finished
    one is a row and a candidate of the ensemble. Without a budget there is no anytime
    stage, so nothing of it runs."""
    from nncli.assess import plan

    portfolio = tmp_path / "portfolio.json"
    portfolio.write_text(json.dumps({"configs": [
        {"model": "gbt", "variant": "num_leaves=7,learning_rate=0.05"},
        {"model": "catboost", "variant": "depth=4"},  # not compared here: left out
        {"model": "logreg", "variant": "C=0.01"},
    ]}))  # fmt: skip
    monkeypatch.setattr(plan, "PORTFOLIO", portfolio)
    options = CompareOptions(models=("logreg", "gbt", "ensemble"), bootstrap=100,
                             time_budget=120, extra_runs=("portfolio",))  # fmt: skip
    comparison = api.compare(PHYSICS, options=options).comparison
    labels = [r.label for r in comparison.results]
    assert labels == ["gbt", "logreg", "gbt[num_leaves=7,learning_rate=0.05]",
                      "logreg[C=0.01]", "ensemble"]  # fmt: skip
    assert all(r.ok for r in comparison.results)
    entries = plan.portfolio_entries(plan.build_entries(options, Settings()))
    assert [(e.model, e.settings.gbt.num_leaves, e.settings.linear.C) for e in entries] == [
        ("gbt", 7, 1.0), ("logreg", 31, 0.01)]  # fmt: skip
    assert entries[0].settings.gbt.learning_rate == 0.05
    assert entries[0].settings.run.preset == "strong"  # compare's preset, as the plain rows
    by_label = {r.label: r for r in comparison.results}
    assert by_label["logreg[C=0.01]"].valid["auc"] != by_label["logreg"].valid["auc"]
    ensemble = by_label["ensemble"]
    assert "gbt[num_leaves=7" in ensemble.note or "logreg[C=0.01]" in ensemble.note

    unbudgeted = api.compare(
        PHYSICS, options=replace(options, time_budget=None)
    ).comparison  # fmt: skip
    assert [r.label for r in unbudgeted.results] == ["gbt", "logreg", "ensemble"]


def test_the_shipped_portfolio_names_models_and_settings_that_exist():
    """portfolio.json (written by benchmarks/portfolio.py) parses: every config is of a
    model with settings, and its variant is valid for that model."""
    from nncli.assess.plan import PORTFOLIO
    from nncli.config import TABLES, parse_variant
    from nncli.learn.models import MODELS

    data = json.loads(PORTFOLIO.read_text())
    assert data["made_by"] == "benchmarks/portfolio.py" and data["configs"]
    for config in data["configs"]:
        table = MODELS[config["model"]].config
        assert table is not None and parse_variant(config["variant"], TABLES[table],
                                                   config["model"])  # fmt: skip
