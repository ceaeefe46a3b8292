"""Classification metrics in plain numpy (weighted where weights are given).

- ``auc``: ROC AUC; macro one-vs-rest for more than two classes.
- ``accuracy``, ``balanced_accuracy`` (mean per-class recall), ``macro_f1``.
- ``log_loss``: mean negative log-probability of the true class (probabilities clipped at 1e-15).
- ``brier``: binary: mean (p_positive − y)²; multiclass: mean Σ_k (p_k − y_k)².
"""

from __future__ import annotations

import numpy as np

METRICS = ("auc", "accuracy", "balanced_accuracy", "log_loss", "macro_f1", "brier")
#: metrics where larger is better (the rest: smaller is better)
HIGHER_IS_BETTER = {
    "auc": True,
    "accuracy": True,
    "balanced_accuracy": True,
    "log_loss": False,
    "macro_f1": True,
    "brier": False,
}


def _weights(y: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    return np.ones(len(y)) if w is None else np.asarray(w, dtype=np.float64)


def binary_auc(positive: np.ndarray, score: np.ndarray, w: np.ndarray | None = None) -> float:
    """P(score of a positive > score of a negative), ties counting one half."""
    w = _weights(positive, w)
    order = np.argsort(score, kind="mergesort")
    s, pos, w = score[order], positive[order].astype(bool), w[order]
    ends = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    cum_pos = np.cumsum(np.where(pos, w, 0.0))[ends]
    cum_neg = np.cumsum(np.where(pos, 0.0, w))[ends]
    pos_g, neg_g = np.diff(np.r_[0.0, cum_pos]), np.diff(np.r_[0.0, cum_neg])
    total_pos, total_neg = cum_pos[-1], cum_neg[-1]
    if total_pos <= 0 or total_neg <= 0:
        return float("nan")
    return float(np.sum(pos_g * (cum_neg - neg_g + 0.5 * neg_g)) / (total_pos * total_neg))


def roc_auc(y: np.ndarray, proba: np.ndarray, w: np.ndarray | None = None) -> float:
    if proba.shape[1] == 2:
        return binary_auc(y == 1, proba[:, 1], w)
    scores = [
        binary_auc(y == k, proba[:, k], w)
        for k in range(proba.shape[1])
        if 0 < np.sum(y == k) < len(y)
    ]
    return float(np.mean(scores)) if scores else float("nan")


def _per_class(y: np.ndarray, pred: np.ndarray, w: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
    tp = np.bincount(y[pred == y], weights=w[pred == y], minlength=k)
    support = np.bincount(y, weights=w, minlength=k)
    predicted = np.bincount(pred, weights=w, minlength=k)
    return tp, support, predicted


def metrics(y: np.ndarray, proba: np.ndarray, w: np.ndarray | None = None) -> dict[str, float]:
    """All of :data:`METRICS` for true class indices ``y`` and probabilities ``proba``."""
    y = np.asarray(y, dtype=np.int64)
    w = _weights(y, w)
    k = proba.shape[1]
    pred = proba.argmax(axis=1)
    total = w.sum()
    tp, support, predicted = _per_class(y, pred, w, k)
    present = support > 0
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    p_true = np.clip(proba[np.arange(len(y)), y], 1e-15, 1.0)
    onehot = np.eye(k)[y]
    brier_rows = (proba[:, 1] - y) ** 2 if k == 2 else ((proba - onehot) ** 2).sum(axis=1)
    return {
        "auc": roc_auc(y, proba, w),
        "accuracy": float(np.sum(w * (pred == y)) / total),
        "balanced_accuracy": float(recall[present].mean()),
        "log_loss": float(np.sum(-w * np.log(p_true)) / total),
        "macro_f1": float(f1[present].mean()),
        "brier": float(np.sum(w * brier_rows) / total),
    }


def confusion_matrix(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """Rows: true class; columns: predicted class."""
    return np.bincount(y * k + pred, minlength=k * k).reshape(k, k)
