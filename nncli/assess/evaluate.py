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
    """AUC of ``score`` for ``positive`` under each row of weights ``W`` (B, n).

    Mann–Whitney with weights: each positive row counts the negative weight scored below
    it, plus half of that tied with it. The negatives are sorted once and their weights
    cumulated per resample; positives find their place by binary search, shared by every
    resample. That touches each weight a few times (the bootstrap's cost on large test
    sets), instead of sorting and cumulating all rows twice per class.
    """
    positive = positive.astype(bool)
    neg = np.flatnonzero(~positive)
    pos = np.flatnonzero(positive)
    order = neg[np.argsort(score[neg], kind="mergesort")]
    neg_scores = score[order]
    cum = np.zeros((len(W), len(order) + 1))
    np.cumsum(W[:, order], axis=1, out=cum[:, 1:])
    lo = np.searchsorted(neg_scores, score[pos], side="left")
    hi = np.searchsorted(neg_scores, score[pos], side="right")
    below, tied = cum[:, lo], cum[:, hi] - cum[:, lo]
    area = np.einsum("bp,bp->b", W[:, pos], below + 0.5 * tied)
    total = W[:, pos].sum(axis=1) * cum[:, -1]
    return np.divide(area, total, out=np.full(len(W), np.nan), where=total > 0)


def binary_auc(positive: np.ndarray, score: np.ndarray, w: np.ndarray | None = None) -> float:
    """P(score of a positive > score of a negative), ties counting one half."""
    w = np.ones(len(score)) if w is None else np.asarray(w, dtype=np.float64)
    return float(_auc_rows(positive, score, w[None, :])[0])


def auc_rows(y: np.ndarray, proba: np.ndarray, W: np.ndarray) -> np.ndarray:
    """ROC AUC (macro one-vs-rest for several classes) for each row of weights ``W``."""
    k = proba.shape[1]
    if k == 2:
        return _auc_rows(y == 1, proba[:, 1], W)
    per_class = [_auc_rows(y == c, proba[:, c], W) for c in range(k) if 0 < np.sum(y == c) < len(y)]
    if not per_class:
        return np.full(len(W), np.nan)
    return np.nanmean(np.vstack(per_class), axis=0)


def macro_auc_over(
    y: np.ndarray, proba: np.ndarray, W: np.ndarray, classes: list[int]
) -> np.ndarray:
    """Macro one-vs-rest AUC over ``classes`` only, for each row of weights ``W``."""
    parts = [_auc_rows(y == c, proba[:, c], W) for c in classes]
    return np.nanmean(np.vstack(parts), axis=0)


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
        "auc": auc_rows(y, proba, W),
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


def confusion_matrix(
    y: np.ndarray, pred: np.ndarray, k: int, w: np.ndarray | None = None
) -> np.ndarray:
    """Rows: true class; columns: predicted class; counts, or with ``w`` the sums of the
    rows' weights (what the weighted metrics are made of)."""
    return np.bincount(y * k + pred, weights=w, minlength=k * k).reshape(k, k)


def confusions(
    y: np.ndarray, pred: np.ndarray, k: int, w: np.ndarray | None
) -> tuple[list[list[int]], list[list[float]] | None]:
    """The matrix of counts and, with weights, the matrix the weighted metrics are made
    of (the sums of the weights per cell)."""
    counted = confusion_matrix(y, pred, k).astype(int).tolist()
    return counted, None if w is None else confusion_matrix(y, pred, k, w).tolist()
