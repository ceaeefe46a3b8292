"""How sure the choice of the recommended model (★) is: the ★ against the models ranked
after it, on the rows it was chosen on (out of fold when cross-fitted, else the
validation rows), with the same paired tests as the test rows get.

A model whose difference from the ★ those rows cannot tell from noise (p ≥ 0.05) is a
*close call*: another seed or split could have chosen it. The runners-up are tested in
rank order and the first significant gap ends the list (the models after it are further
behind).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nncli.assess import stats
from nncli.assess.evaluate import HIGHER_IS_BETTER, metrics

#: paired bootstrap resamples of the choosing rows when DeLong does not apply
RESAMPLES = 200


@dataclass
class CloseCall:
    """A model the choosing rows cannot tell from the ★: ★ minus it, and the p-value."""

    model: str
    difference: float
    p_value: float
    method: str


def close_calls(
    valid: dict[str, np.ndarray], best: str, y: np.ndarray, w: np.ndarray, metric: str,
    seed: int,
) -> list[CloseCall]:  # fmt: skip
    """``valid``: each model's probabilities on the choosing rows (label → [rows, classes]),
    ``best`` the ★'s label; the close calls, in rank order."""
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    score = {label: metrics(y, p, w)[metric] for label, p in valid.items()}
    others = sorted((lab for lab in valid if lab != best and np.isfinite(score[lab])),
                    key=lambda lab: -sign * score[lab])  # fmt: skip
    calls = []
    for label in others:
        call = _paired(valid[best], valid[label], y, w, metric, seed)
        call.model = label
        if not call.p_value >= stats.ALPHA:  # a real gap (or no test): the rest are further
            break
        calls.append(call)
    return calls


def _paired(
    a: np.ndarray, b: np.ndarray, y: np.ndarray, w: np.ndarray, metric: str, seed: int
) -> CloseCall:
    """a minus b: DeLong for the AUC of two unweighted classes, else a paired bootstrap
    (the same resamples for both)."""
    if metric == "auc" and a.shape[1] == 2 and np.all(w == 1):
        difference, _, p_value = stats.delong(y == 1, a[:, 1], b[:, 1])
        return CloseCall("", float(difference), float(p_value), "DeLong")
    boot_a = stats.bootstrap_metrics(y, a, w, RESAMPLES, seed)[metric]
    boot_b = stats.bootstrap_metrics(y, b, w, RESAMPLES, seed)[metric]
    difference = metrics(y, a, w)[metric] - metrics(y, b, w)[metric]
    p_value = stats.bootstrap_p_value(boot_a - boot_b)
    return CloseCall("", float(difference), p_value, "paired bootstrap")
