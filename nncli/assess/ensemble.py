"""Greedy ensemble selection with replacement (Caruana et al. 2004), as AutoGluon's
WeightedEnsemble does: start from the best model, then repeatedly add (again, if it
helps most) the model whose addition gives the best validation score of the averaged
probabilities. The weights are how often each model was picked, divided by the rounds.

The score is the validation log loss whatever metric ranks the models: AUC and accuracy
do not change when a constant or a monotone blend is added, so greedy steps on them tie
and drift (on a binary set, AUC picked the majority floor 21 times of 25); log loss is a
proper score that rewards every real improvement of the probabilities.
"""

from __future__ import annotations

import numpy as np

from nncli.assess.evaluate import HIGHER_IS_BETTER, metrics

ROUNDS = 25


def greedy_weights(
    probas: list[np.ndarray],
    y: np.ndarray,
    w: np.ndarray | None,
    metric: str = "log_loss",
    rounds: int = ROUNDS,
) -> np.ndarray:
    """Weights (summing to 1) over ``probas``, each [rows, classes] on the same rows."""
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0

    def score(p: np.ndarray) -> float:
        value = metrics(y, p, w)[metric]
        return sign * value if np.isfinite(value) else -np.inf

    counts = np.zeros(len(probas))
    singles = [score(p) for p in probas]
    first = int(np.argmax(singles))
    counts[first] = 1
    total = probas[first].astype(np.float64).copy()
    for step in range(2, rounds + 1):
        candidates = [score((total + p) / step) for p in probas]
        best = int(np.argmax(candidates))  # ties go to the earlier (rough, cheaper) model
        counts[best] += 1
        total += probas[best]
    return counts / counts.sum()


def blend(probas: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """The weighted average of the probabilities."""
    out = np.zeros_like(probas[0], dtype=np.float64)
    for p, weight in zip(probas, weights, strict=True):
        if weight > 0:
            out += weight * p
    return out
