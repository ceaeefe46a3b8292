"""Metrics agree with scikit-learn's (a differential test), weights included."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from nncli.assess.evaluate import binary_auc, confusion_matrix, metrics


def _case(k: int, n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    w = rng.uniform(0.2, 3.0, n)
    return y, proba, w


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("weighted", [False, True])
def test_metrics_match_sklearn(k, weighted):
    y, proba, w = _case(k)
    w = w if weighted else None
    got = metrics(y, proba, w)
    pred = proba.argmax(axis=1)
    if k == 2:
        auc = skm.roc_auc_score(y, proba[:, 1], sample_weight=w)
        brier = skm.brier_score_loss(y, proba[:, 1], sample_weight=w)
    else:
        auc = skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", sample_weight=w)
        brier = np.average(((proba - np.eye(k)[y]) ** 2).sum(axis=1), weights=w)
    assert got["auc"] == pytest.approx(auc, abs=1e-12)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred, sample_weight=w))
    assert got["balanced_accuracy"] == pytest.approx(
        skm.balanced_accuracy_score(y, pred, sample_weight=w)
    )
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, proba, sample_weight=w))
    assert got["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro", sample_weight=w))
    assert got["brier"] == pytest.approx(brier)


def test_auc_counts_ties_as_half():
    assert binary_auc(np.array([0, 1, 0, 1]), np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert binary_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == 0.75


def test_confusion_matrix_rows_are_true_classes():
    y, pred = np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0])
    assert confusion_matrix(y, pred, 3).tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]


# ------------------------------------------------------------ weights, said out loud


@pytest.fixture
def weighted_csv(tmp_path):
    """The physics sample with event weights: signal ~0.05, background ~1.7, 5% negative."""
    import pandas as pd

    from tests.conftest import SAMPLE

    frame = pd.read_csv(SAMPLE / "physics.csv")
    rng = np.random.default_rng(0)
    signal = (frame["label"] == "signal").to_numpy()
    frame["w"] = np.where(signal, rng.uniform(0.01, 0.09, len(frame)),
                          rng.uniform(0.5, 3.0, len(frame)))  # fmt: skip
    frame.loc[rng.random(len(frame)) < 0.05, "w"] *= -1
    path = tmp_path / "weighted.csv"
    frame.to_csv(path, index=False)
    return path, frame


def test_the_run_header_says_the_weights_and_suggests_balancing(invoke, weighted_csv, tmp_path):
    path, frame = weighted_csv
    err = invoke(["train", path, "--weight", "w", "-m", "logreg", "-o", tmp_path / "m"]).stderr
    sums = frame.groupby("label")["w"].sum()
    negative = int((frame["w"] < 0).sum())
    assert (f"weighted by 'w': Σ background {sums['background']:,.4g}, Σ signal "
            f"{sums['signal']:,.4g}; {negative:,} negative weight(s) (ignored in training, kept "
            "in the metrics); every metric is weighted") in err  # fmt: skip
    ratio = sums["background"] / sums["signal"]
    assert f"the classes' weight sums differ {ratio:,.0f}-fold (background against signal)" in err
    assert "--class-weight balanced gives every class the same total" in err
    balanced = invoke(["train", path, "--weight", "w", "-m", "logreg", "--class-weight",
                       "balanced"]).stderr  # fmt: skip
    assert "weighted by 'w'" in balanced and "weight sums differ" not in balanced
    plain = invoke(["train", path, "-m", "logreg", "--drop", "w"]).stderr
    assert "weighted by" not in plain


def test_evaluate_shows_the_matrix_its_weighted_metrics_are_made_of(invoke, weighted_csv,
                                                                    tmp_path):  # fmt: skip
    """A weighted accuracy beside a matrix of counts implied another accuracy: the Σ of
    weights per cell is shown (and in the JSON), recomputed here from the file."""
    import json

    import pandas as pd

    path, frame = weighted_csv
    model = tmp_path / "m.nncli"
    invoke(["train", path, "--weight", "w", "-m", "gbt", "-o", model, "-q"])
    report = json.loads(invoke(["evaluate", model, path, "--json"]).stdout)
    assert report["weight"] == "w"
    matrix = np.array(report["confusion_weighted"])
    out = invoke(["predict", model, path, "-o", tmp_path / "p.csv"])
    assert out.exit_code == 0
    predicted = pd.read_csv(tmp_path / "p.csv")["prediction"]
    by_hand = frame.assign(pred=predicted).pivot_table(index="label", columns="pred",
                                                        values="w", aggfunc="sum")  # fmt: skip
    np.testing.assert_allclose(matrix, by_hand.loc[report["classes"], report["classes"]])
    assert report["metrics"]["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    counted = np.array(report["confusion"])
    assert counted.sum() == len(frame)
    info = invoke(["info", model]).stdout
    assert "weights     'w': every metric below is weighted" in info
    text = invoke(["evaluate", model, path]).stdout
    assert "labelled rows; target 'label'; metrics weighted by 'w'" in text
    assert "confusion matrix, Σ of 'w' (rows: true, columns: predicted" in text
    assert "confusion matrix, rows counted" in text
