"""Uncertainty and tests for model comparison.

- Stratified bootstrap of the test rows, vectorised: resample counts form a (B, n)
  weight matrix that :func:`nncli.assess.evaluate.batch_metrics` scores in one pass.
- Paired comparison of two models on the same rows: paired bootstrap of the metric
  difference (any metric), DeLong's test for binary ROC AUC, McNemar's exact test
  for accuracy.
- The best of several candidates against a reference, tested as the best of them
  (Hansen's test for superior predictive ability; tune's guard against a lucky trial).
- The overtraining check: a two-sample Kolmogorov–Smirnov test of the classifier
  outputs on training vs test rows.
- Physics figures of merit: signal efficiency at fixed background efficiency, and
  TMVA's separation ⟨S²⟩.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from nncli.assess.evaluate import HIGHER_IS_BETTER, auc_rows, batch_metrics, macro_auc_over, metrics

ALPHA = 0.05  # significance level for verdicts and 95% intervals
FEW_ROWS = 5  # a class with fewer test rows than this cannot carry a verdict
CHUNK = 100  # bootstrap resamples scored at once (bounds memory)
#: normal draws of the best-of test (its p-value's floor)
BEST_OF_DRAWS = 20_000
#: the best-of test's bootstrap scores every resample of this many best candidates at most
BOOTSTRAP_CANDIDATES = 4


def selection_metrics(y: np.ndarray, proba: np.ndarray, w: np.ndarray) -> dict[str, float]:
    """The metrics a choice rests on (compare's best, tune's trials): those of
    :func:`~nncli.assess.evaluate.metrics`, with a macro AUC that leaves out a class of
    fewer than FEW_ROWS rows (a fold model that never saw the class scores it at random,
    and the choice would rest on one or two rows)."""
    out = metrics(y, proba, w)
    k = proba.shape[1]
    kept = _auc_classes(y, k)
    if k > 2 and len(kept) < np.count_nonzero(np.bincount(y, minlength=k)):  # a rare class
        out["auc"] = float(macro_auc_over(y, proba, w[None, :], kept)[0])
    return out


def bootstrap_weights(y: np.ndarray, w: np.ndarray, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Chunks of stratified bootstrap weights: per class, n_k rows drawn with replacement.

    The draws are counted with one ``bincount`` per class and chunk (a multinomial over
    thousands of equal cells was most of the bootstrap's time on large test sets)."""
    rng = np.random.default_rng(seed)
    classes = [np.flatnonzero(y == k) for k in np.unique(y)]
    for start in range(0, n_boot, CHUNK):
        b = min(CHUNK, n_boot - start)
        counts = np.zeros((b, len(y)))
        for rows in classes:
            n = len(rows)
            draws = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
            counts[:, rows] = np.bincount(draws.ravel(), minlength=b * n).reshape(b, n)
        yield counts * w[None, :]


def bootstrap_metrics(
    y: np.ndarray, proba: np.ndarray, w: np.ndarray, n_boot: int, seed: int
) -> dict[str, np.ndarray]:
    """Each metric over ``n_boot`` stratified resamples of the rows (same seed → same rows);
    none (an empty dict) for ``n_boot`` 0."""
    if n_boot <= 0:
        return {}
    parts = [batch_metrics(y, proba, W) for W in bootstrap_weights(y, w, n_boot, seed)]
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def interval(samples: np.ndarray) -> tuple[float, float]:
    """The central 95% percentile interval of bootstrap samples."""
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return (float("nan"), float("nan"))
    lo, hi = np.percentile(finite, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
    return float(lo), float(hi)


def bootstrap_p_value(differences: np.ndarray) -> float:
    """Two-sided p-value that the mean difference is zero, from paired bootstrap samples."""
    d = differences[np.isfinite(differences)]
    if d.size == 0:
        return float("nan")
    if np.all(d == 0):
        return 1.0
    tail = min(np.mean(d <= 0), np.mean(d >= 0))
    return float(min(1.0, max(2 * tail, 1 / d.size)))


@dataclass
class PairedTest:
    """Model a minus model b on the same rows."""

    metric: str
    difference: float
    low: float
    high: float
    p_value: float
    method: str
    floor: float = 0.0  # the smallest p-value the method can resolve (1/B for a bootstrap)
    #: why a difference is not called significant although p < ALPHA: it rests on a
    #: class with fewer than FEW_ROWS test rows (empty: it does not)
    few_rows: str = ""

    @property
    def significant(self) -> bool:
        return bool(self.p_value < ALPHA) and not self.few_rows


def paired_rows(
    metric: str, point: float, y: np.ndarray, w: np.ndarray, proba_a: np.ndarray,
    proba_b: np.ndarray, boot_a: dict[str, np.ndarray], boot_b: dict[str, np.ndarray],
    n_boot: int, use_delong: bool = True,
) -> PairedTest:  # fmt: skip
    """Model a minus model b on the same test rows (``point``: the difference as
    reported): DeLong for binary unweighted AUC (with ``use_delong``), McNemar for unweighted
    accuracy, else the paired bootstrap of the resamples ``boot_a``/``boot_b`` (drawn on
    the same rows); none with ``n_boot`` 0."""
    if boot_a and boot_b:
        diff = boot_a[metric] - boot_b[metric]
        (low, high), p_value = interval(diff), bootstrap_p_value(diff)
        method = "paired bootstrap"
    else:  # --bootstrap 0: only the tests that need no resampling
        low = high = p_value = float("nan")
        method = "none (--bootstrap 0)"
    unweighted = bool(np.all(w == 1))
    if metric == "auc" and proba_a.shape[1] == 2 and unweighted and use_delong:
        _, se, p_value = delong(y == 1, proba_a[:, 1], proba_b[:, 1])
        low, high = point - 1.959964 * se, point + 1.959964 * se  # same basis as the p-value
        method = "DeLong"
    elif metric == "accuracy" and unweighted:
        p_value = mcnemar(proba_a.argmax(1) == y, proba_b.argmax(1) == y)
        method = "McNemar"
    floor = 1 / max(n_boot, 1) if method == "paired bootstrap" else 0.0
    return PairedTest(metric, point, low, high, p_value, method, floor)


def without_few_rows(
    y: np.ndarray, w: np.ndarray, proba_a: np.ndarray, proba_b: np.ndarray, classes: list[str],
    few: dict[int, int], n_boot: int, seed: int,
) -> str:  # fmt: skip
    """Why an AUC difference that is significant is not called so: it rests on classes
    with fewer than FEW_ROWS test rows (``few``: class index → test rows). Binary: every
    AUC rests on them. Several classes: the paired bootstrap again over the other classes'
    macro AUC ("" when the difference is significant there too)."""
    words = ", ".join(f"{classes[k]!r} ({n} test row{'s' if n > 1 else ''})"
                      for k, n in few.items())  # fmt: skip
    kept = [k for k in range(len(classes)) if k not in few]
    if len(classes) == 2 or len(kept) < 2 or n_boot <= 0:
        return f"it rests on class {words}"
    diffs = [macro_auc_over(y, proba_a, W, kept) - macro_auc_over(y, proba_b, W, kept)
             for W in bootstrap_weights(y, w, n_boot, seed)]  # fmt: skip
    if bootstrap_p_value(np.concatenate(diffs)) < ALPHA:
        return ""
    return f"not significant without class {words}"


def _placements(pos: np.ndarray, scores: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components of each score's AUC: for every positive row the
    share of negatives below it (ties half), for every negative the share of positives
    above it; shapes (len(scores), positives) and (len(scores), negatives)."""
    from scipy.stats import rankdata

    m, n = int(pos.sum()), int((~pos).sum())
    v10, v01 = [], []
    for score in scores:
        ranks = rankdata(score)
        v10.append((ranks[pos] - rankdata(score[pos])) / n)
        v01.append(1.0 - (ranks[~pos] - rankdata(score[~pos])) / m)
    return np.vstack(v10), np.vstack(v01)


def _auc_covariance(
    positive: np.ndarray, scores: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The AUCs of ``scores`` and DeLong's estimate of their covariance matrix."""
    pos = positive.astype(bool)
    v10, v01 = _placements(pos, scores)
    return v10.mean(axis=1), np.cov(v10) / v10.shape[1] + np.cov(v01) / v01.shape[1]


def delong(
    positive: np.ndarray, score_a: np.ndarray, score_b: np.ndarray
) -> tuple[float, float, float]:
    """DeLong's test for two correlated ROC AUCs: (AUC_a − AUC_b, its standard error,
    two-sided p-value)."""
    from scipy.stats import norm

    aucs, s = _auc_covariance(positive, [score_a, score_b])
    var = s[0, 0] + s[1, 1] - 2 * s[0, 1]
    diff = float(aucs[0] - aucs[1])
    if var <= 1e-18:
        return diff, 0.0, 1.0 if abs(diff) < 1e-12 else 0.0
    se = float(np.sqrt(var))
    return diff, se, float(2 * norm.sf(abs(diff) / se))


@dataclass
class BestOf:
    """The best of several candidates minus a reference, tested as the best of them."""

    p_value: float
    candidates: int  # the candidates whose predictions entered the test
    method: str
    floor: float = 0.0  # the smallest p-value the method can resolve

    @property
    def significant(self) -> bool:
        return bool(self.p_value < ALPHA)


def best_of_test(
    metric: str, y: np.ndarray, w: np.ndarray, reference: np.ndarray,
    candidates: list[np.ndarray], n_boot: int, seed: int,
) -> BestOf:  # fmt: skip
    """Whether the best of ``candidates`` (probabilities on the rows ``y``) beats
    ``reference`` by more than the best of that many would by luck: Hansen's (2005) test
    for superior predictive ability. The null distribution of the best margin comes from
    the candidates' joint deviations, each recentred at zero unless its own margin is
    clearly negative (then at that margin: a clearly worse candidate cannot be the one that
    wins by luck). The deviations are normal draws with the covariance of the metrics'
    influence values (DeLong's for an unweighted AUC, also macro; a weighted mean for log
    loss, accuracy and Brier), else the paired bootstrap of the same resamples (the best
    BOOTSTRAP_CANDIDATES candidates only: it scores every resample of every candidate). The
    metric is the one choices rest on (:func:`selection_metrics`)."""
    probas = [reference, *candidates]
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    influence = [_influence(metric, y, w, p) for p in probas]
    if all(i is not None for i in influence):
        values = np.array([i[0] for i in influence])  # type: ignore[index]
        psi = np.vstack([i[1] for i in influence])  # type: ignore[index]
        margins, psi_margins = sign * (values[1:] - values[0]), sign * (psi[1:] - psi[0])
        values_, vectors = np.linalg.eigh(psi_margins @ psi_margins.T)  # PSD: trials may tie
        factor = vectors * np.sqrt(np.clip(values_, 0.0, None))
        normal = np.random.default_rng(seed).standard_normal((BEST_OF_DRAWS, len(candidates)))
        deviations = normal @ factor.T
        p = _superior(margins, deviations, len(y))
        return BestOf(p, len(candidates), "Hansen's SPA, normal", 1 / BEST_OF_DRAWS)
    if n_boot <= 0:
        return BestOf(float("nan"), len(candidates), "none (--bootstrap 0)")
    score = _selection_metric_rows(metric, y, reference.shape[1])
    full = np.array([score(p, w[None, :])[0] for p in probas])
    ranked = np.argsort(-sign * full[1:])[:BOOTSTRAP_CANDIDATES]  # the best few
    probas, full = [reference] + [candidates[j] for j in ranked], full[np.r_[0, ranked + 1]]
    margins, draws = sign * (full[1:] - full[0]), []
    for W in bootstrap_weights(y, w, n_boot, seed):
        resampled = np.vstack([score(p, W) for p in probas])  # (1 + candidates, B)
        draws.append((sign * (resampled[1:] - resampled[0])).T - margins)
    p = _superior(margins, np.vstack(draws), len(y))
    return BestOf(p, len(ranked), "Hansen's SPA, paired bootstrap", 1 / n_boot)


def _influence(
    metric: str, y: np.ndarray, w: np.ndarray, proba: np.ndarray
) -> tuple[float, np.ndarray] | None:
    """The metric as choices score it and each row's influence on it (the first-order
    term: the metric's error is their sum), where that is a closed form: an unweighted
    (macro) AUC from DeLong's placements, or a weighted mean of per-row losses."""
    k = proba.shape[1]
    if metric == "auc":
        if not bool(np.all(w == 1)):
            return None
        values, parts = [], []
        for c in _auc_classes(y, k):
            pos = y == c
            (v10,), (v01,) = _placements(pos, [proba[:, c]])
            auc, psi = float(v10.mean()), np.empty(len(y))
            psi[pos], psi[~pos] = (v10 - auc) / pos.sum(), (v01 - auc) / (~pos).sum()
            values.append(auc)
            parts.append(psi)
        return float(np.mean(values)), np.mean(parts, axis=0)
    onehot = np.eye(k)[y]
    per_row = {
        "log_loss": lambda: -np.log(np.clip(proba[np.arange(len(y)), y], 1e-15, 1.0)),
        "accuracy": lambda: (proba.argmax(axis=1) == y).astype(np.float64),
        "brier": lambda: ((proba - onehot) ** 2).sum(axis=1) / (2 if k == 2 else 1),
    }.get(metric)
    if per_row is None:
        return None
    rows, total = per_row(), w.sum()
    value = float(w @ rows / total)
    return value, w * (rows - value) / total


def _auc_classes(y: np.ndarray, k: int) -> list[int]:
    """The classes whose one-vs-rest AUCs the chosen-on AUC averages (binary: the
    second's; else those with FEW_ROWS rows or more, when two or more have them)."""
    counts = np.bincount(y, minlength=k)
    if k == 2:
        return [1]
    kept = [c for c, n in enumerate(counts) if n >= FEW_ROWS]
    if 2 <= len(kept) < k:
        return kept
    return [c for c, n in enumerate(counts) if 0 < n < len(y)]


def _superior(margins: np.ndarray, deviations: np.ndarray, n_rows: int) -> float:
    """Hansen's consistent SPA p-value: the share of draws in which the best recentred
    candidate's margin reaches the best observed one (``deviations``: draws × candidates,
    each candidate's draws minus its margin)."""
    deviations = deviations[np.isfinite(deviations).all(axis=1)]
    if not len(deviations) or not np.isfinite(margins).all():
        return float("nan")
    spread = deviations.std(axis=0)
    threshold = np.sqrt(2 * np.log(np.log(max(n_rows, 16))))
    centre = np.where(margins < -threshold * spread, margins, 0.0)  # clearly worse
    best = (deviations + centre).max(axis=1)
    return float(max(np.mean(best >= margins.max()), 1 / len(deviations)))


def _selection_metric_rows(metric: str, y: np.ndarray, k: int) -> Callable[..., np.ndarray]:
    """``metric`` for each row of weights, as :func:`selection_metrics` scores it."""
    if metric == "auc":
        classes = _auc_classes(y, k)
        if k == 2:
            return lambda proba, W: auc_rows(y, proba, W)
        return lambda proba, W: macro_auc_over(y, proba, W, classes)
    return lambda proba, W: batch_metrics(y, proba, W)[metric]


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> float:
    """McNemar's exact test on the rows where exactly one of two models is right."""
    from scipy.stats import binomtest

    b = int(np.sum(correct_a & ~correct_b))
    c = int(np.sum(~correct_a & correct_b))
    if b + c == 0:
        return 1.0
    return float(binomtest(b, b + c, 0.5).pvalue)


def ks_test(train_scores: np.ndarray, test_scores: np.ndarray) -> tuple[float, float]:
    """Kolmogorov–Smirnov statistic and p-value: are the two score samples alike?"""
    from scipy.stats import ks_2samp

    if len(train_scores) == 0 or len(test_scores) == 0:
        return float("nan"), float("nan")
    result = ks_2samp(train_scores, test_scores)
    return float(result.statistic), float(result.pvalue)


def roc_curve(
    positive: np.ndarray, score: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(background efficiency, signal efficiency) for every threshold, weighted."""
    order = np.argsort(-score, kind="mergesort")
    s, pos, ws = score[order], positive[order].astype(bool), w[order]
    ends = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tp = np.cumsum(np.where(pos, ws, 0.0))[ends]
    fp = np.cumsum(np.where(pos, 0.0, ws))[ends]
    tpr = np.r_[0.0, tp / tp[-1]] if tp[-1] > 0 else np.zeros(len(ends) + 1)
    fpr = np.r_[0.0, fp / fp[-1]] if fp[-1] > 0 else np.zeros(len(ends) + 1)
    return fpr, tpr


def signal_efficiency(
    positive: np.ndarray, score: np.ndarray, w: np.ndarray, at: tuple[float, ...] = (0.01, 0.1, 0.3)
) -> dict[str, float]:
    """Signal efficiency where the background efficiency is each value in ``at``."""
    fpr, tpr = roc_curve(positive, score, w)
    return {f"{b:g}": float(np.interp(b, fpr, tpr)) for b in at}


def separation(positive: np.ndarray, score: np.ndarray, w: np.ndarray, bins: int = 40) -> float:
    """TMVA's separation ⟨S²⟩ = ½ Σ (s_i − b_i)² / (s_i + b_i) of normalised histograms."""
    edges = np.linspace(min(score.min(), 0.0), max(score.max(), 1.0), bins + 1)
    pos = positive.astype(bool)
    s, _ = np.histogram(score[pos], edges, weights=w[pos])
    b, _ = np.histogram(score[~pos], edges, weights=w[~pos])
    if s.sum() <= 0 or b.sum() <= 0:
        return float("nan")
    s, b = s / s.sum(), b / b.sum()
    both = s + b
    return float(
        0.5 * np.sum(np.divide((s - b) ** 2, both, out=np.zeros_like(both), where=both > 0))
    )
