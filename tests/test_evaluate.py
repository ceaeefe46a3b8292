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
