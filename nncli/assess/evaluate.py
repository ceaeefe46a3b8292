"""Classification metrics in plain numpy, weighted, and vectorised over many weightings.

:func:`batch_metrics` takes a (B, n) matrix of row weights — event weights, or
bootstrap counts times event weights — and returns each metric for all B rows at
once; :func:`metrics` is the single-weighting case.

- ``auc``: ROC AUC; macro one-vs-rest for more than two classes (ties count one half).
- ``accuracy``, ``balanced_accuracy`` (mean per-class recall), ``macro_f1``.
- ``log_loss``: mean negative log-probability of the true class (clipped at 1e-15).
- ``brier``: binary: mean (p_positive − y)²; multiclass: mean Σ_k (p_k − y_k)².
"""

from __future__ import annotations

import numpy as np

METRICS = ("auc", "accuracy", "balanced_accuracy", "log_loss", "macro_f1", "brier")
#: metrics where larger is better (the rest: smaller is better)
HIGHER_IS_BETTER = {"auc": True, "accuracy": True, "balanced_accuracy": True,
                    "log_loss": False, "macro_f1": True, "brier": False}  # fmt: skip


def _auc_rows(positive: np.ndarray, score: np.ndarray, W: np.ndarray) -> np.ndarray:
    """AUC of ``score`` for ``positive`` under each row of weights ``W`` (B, n)."""
    order = np.argsort(score, kind="mergesort")
    s, pos = score[order], positive[order].astype(bool)
    ends = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    Ws = W[:, order]
    cum_pos = np.cumsum(np.where(pos, Ws, 0.0), axis=1)[:, ends]
    cum_neg = np.cumsum(np.where(pos, 0.0, Ws), axis=1)[:, ends]
    pos_g = np.diff(cum_pos, axis=1, prepend=0.0)
    neg_g = np.diff(cum_neg, axis=1, prepend=0.0)
    total = cum_pos[:, -1] * cum_neg[:, -1]
    area = np.sum(pos_g * (cum_neg - 0.5 * neg_g), axis=1)
    return np.divide(area, total, out=np.full(len(W), np.nan), where=total > 0)


def binary_auc(positive: np.ndarray, score: np.ndarray, w: np.ndarray | None = None) -> float:
    """P(score of a positive > score of a negative), ties counting one half."""
    w = np.ones(len(score)) if w is None else np.asarray(w, dtype=np.float64)
    return float(_auc_rows(positive, score, w[None, :])[0])


def _auc(y: np.ndarray, proba: np.ndarray, W: np.ndarray) -> np.ndarray:
    k = proba.shape[1]
    if k == 2:
        return _auc_rows(y == 1, proba[:, 1], W)
    per_class = [_auc_rows(y == c, proba[:, c], W) for c in range(k) if 0 < np.sum(y == c) < len(y)]
    if not per_class:
        return np.full(len(W), np.nan)
    return np.nanmean(np.vstack(per_class), axis=0)


def batch_metrics(y: np.ndarray, proba: np.ndarray, W: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric in :data:`METRICS` for each row of weights ``W`` (shape (B, n))."""
    y = np.asarray(y, dtype=np.int64)
    k = proba.shape[1]
    pred = proba.argmax(axis=1)
    correct = (pred == y).astype(np.float64)
    total = W.sum(axis=1)
    onehot = np.eye(k)[y]
    support = W @ onehot
    tp = W @ (onehot * correct[:, None])
    predicted = W @ np.eye(k)[pred]
    present = support > 0
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=present)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    n_present = present.sum(axis=1)
    p_true = np.clip(proba[np.arange(len(y)), y], 1e-15, 1.0)
    brier_rows = (proba[:, 1] - y) ** 2 if k == 2 else ((proba - onehot) ** 2).sum(axis=1)
    return {
        "auc": _auc(y, proba, W),
        "accuracy": W @ correct / total,
        "balanced_accuracy": (recall * present).sum(axis=1) / n_present,
        "log_loss": W @ -np.log(p_true) / total,
        "macro_f1": (f1 * present).sum(axis=1) / n_present,
        "brier": W @ brier_rows / total,
    }


def metrics(y: np.ndarray, proba: np.ndarray, w: np.ndarray | None = None) -> dict[str, float]:
    """All of :data:`METRICS` for true class indices ``y`` and probabilities ``proba``."""
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype=np.float64)
    return {name: float(v[0]) for name, v in batch_metrics(y, proba, w[None, :]).items()}


def confusion_matrix(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """Rows: true class; columns: predicted class."""
    return np.bincount(y * k + pred, minlength=k * k).reshape(k, k)
