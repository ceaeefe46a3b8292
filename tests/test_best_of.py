"""The best of many candidates tested as such (Hansen's SPA, nncli.assess.stats.best_of_test):
its p-value against an independent bootstrap of the best margin, for a binary AUC, a
macro AUC, log loss and weighted rows; its error rate when no candidate is better (where
testing the best alone errs far more often); and its recentring of clearly worse ones."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import norm, rankdata
from sklearn.metrics import roc_auc_score

from nncli.assess import stats


def _candidates(n: int, k: int, gains: list[float], seed: int, noise: float = 0.8):
    """Probabilities of a reference and of candidates that share most of its signal: each
    adds its own noise, and candidate j ``gains[j]`` more signal."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    shared = rng.normal(size=(n, k)) + 0.9 * np.eye(k)[y]

    def proba(gain: float) -> np.ndarray:
        z = shared + rng.normal(scale=noise, size=(n, k)) + gain * np.eye(k)[y]
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    return y, proba(0.0), [proba(g) for g in gains]


def _rank_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Mann–Whitney's U from the rank sum of the positives."""
    m, n = positive.sum(), (~positive).sum()
    return float((rankdata(score)[positive].sum() - m * (m + 1) / 2) / (m * n))


def _score(metric: str, y: np.ndarray, p: np.ndarray, w: np.ndarray | None = None) -> float:
    """The metric from its definition (higher is better: log loss negated)."""
    if metric == "log_loss":
        return float(np.average(np.log(p[np.arange(len(y)), y]), weights=w))
    if w is not None:  # weighted Mann–Whitney from its pairs
        pos, neg = y == 1, y == 0
        wins = np.sign(p[pos, 1][:, None] - p[neg, 1][None, :]) / 2 + 0.5
        return float(w[pos] @ wins @ w[neg] / (w[pos].sum() * w[neg].sum()))
    if p.shape[1] == 2:
        return _rank_auc(y == 1, p[:, 1])
    return float(np.mean([_rank_auc(y == k, p[:, k]) for k in range(p.shape[1])]))


def _independent_p(metric, y, ref, cands, w=None, n_boot=400, seed=99) -> float:
    """Hansen's consistent SPA from its definition, on a stratified bootstrap drawn here:
    each candidate's margin over the reference on each resample, minus its margin on the
    rows; recentred at zero unless the margin is below −sqrt(2 log log n) standard errors."""
    rng = np.random.default_rng(seed)
    margins = np.array([_score(metric, y, c, w) - _score(metric, y, ref, w) for c in cands])
    classes = [np.flatnonzero(y == k) for k in np.unique(y)]
    draws = []
    for _ in range(n_boot):
        rows = np.concatenate([rng.choice(c, len(c)) for c in classes])
        wb = None if w is None else w[rows]
        base = _score(metric, y[rows], ref[rows], wb)
        draws.append([_score(metric, y[rows], c[rows], wb) - base for c in cands])
    deviations = np.array(draws) - margins
    se = deviations.std(axis=0)
    centre = np.where(margins < -np.sqrt(2 * np.log(np.log(len(y)))) * se, margins, 0.0)
    return float(np.mean((deviations + centre).max(axis=1) >= margins.max()))


@pytest.mark.parametrize(
    ("metric", "k", "weighted"),
    [("auc", 2, False), ("auc", 3, False), ("log_loss", 2, False), ("auc", 2, True)],
)
def test_best_of_matches_an_independent_bootstrap_of_the_best_margin(metric, k, weighted):
    y, ref, cands = _candidates(500, k, [0.06, 0.08, 0.0, 0.05], seed=5)
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(y)) if weighted else np.ones(len(y))
    name = "logloss" if metric == "log_loss" else metric
    found = stats.best_of_test(metric, y, w, ref, cands, 1000, seed=0)
    expected = _independent_p(metric, y, ref, cands, w if weighted else None)
    assert found.candidates == 4
    method = "paired bootstrap" if weighted else "normal"
    assert found.method == f"Hansen's SPA, {method}"
    assert 0.02 < expected < 0.6, name  # a p-value worth comparing
    assert found.p_value == pytest.approx(expected, abs=0.05)  # 400 resamples: sd <= 0.025


def test_with_no_better_candidate_the_best_of_errs_at_its_level():
    """Ten candidates as good as the reference, 200 times: the best tested alone (DeLong,
    one-sided at 5%) is called better far more often than 5% of the time; as the best of
    ten, about 5% of the time."""
    alone = best_of = 0
    runs = 200
    for seed in range(runs):
        y, ref, cands = _candidates(400, 2, [0.0] * 10, seed=seed, noise=1.5)
        aucs = [_rank_auc(y == 1, c[:, 1]) for c in cands]
        top = cands[int(np.argmax(aucs))]
        margin, se, _ = stats.delong(y == 1, top[:, 1], ref[:, 1])
        alone += norm.sf(margin / se) < 0.05
        best_of += stats.best_of_test("auc", y, np.ones(len(y)), ref, cands, 0, seed).significant
    assert alone / runs > 0.15
    assert best_of / runs < 0.09


def test_a_real_gain_is_found_and_clearly_worse_candidates_do_not_hide_it():
    y, ref, cands = _candidates(1500, 2, [0.4, 0.0, 0.0], seed=2)
    w = np.ones(len(y))
    found = stats.best_of_test("auc", y, w, ref, cands, 0, seed=0)
    assert found.significant and found.p_value <= 1e-3
    y, ref, cands = _candidates(1500, 2, [0.05, 0.0, 0.0], seed=2)
    worse = _candidates(1500, 2, [-0.6] * 6, seed=2)[2]  # the same rows, far worse
    some = stats.best_of_test("auc", y, w, ref, cands, 0, seed=0).p_value
    more = stats.best_of_test("auc", y, w, ref, cands + worse, 0, seed=0).p_value
    assert more == pytest.approx(some, abs=0.01)  # recentred at their own margins


def test_the_normal_draws_use_delongs_covariance():
    """For a binary AUC the covariance of the margins is DeLong's (to a factor (m-1)/m):
    the standard error of one margin matches stats.delong's."""
    y, ref, (cand,) = _candidates(900, 2, [0.05], seed=4)
    _, se, _ = stats.delong(y == 1, cand[:, 1], ref[:, 1])
    pieces = [stats._influence("auc", y, np.ones(len(y)), p) for p in (ref, cand)]
    assert pieces[1][0] == pytest.approx(roc_auc_score(y, cand[:, 1]), abs=1e-12)
    psi = pieces[1][1] - pieces[0][1]
    assert np.sqrt(psi @ psi) == pytest.approx(se, rel=0.01)
    margin = pieces[1][0] - pieces[0][0]
    one = stats.best_of_test("auc", y, np.ones(len(y)), ref, [cand], 0, seed=0).p_value
    assert one == pytest.approx(norm.sf(margin / se), abs=0.01)  # one candidate: one-sided


def test_a_trial_that_ties_another_changes_nothing():
    """Two trials with the same predictions (a seeded refit, say): a singular covariance;
    the best of both is the best of one."""
    y, ref, cands = _candidates(800, 2, [0.05, 0.0, 0.02], seed=6)
    w = np.ones(len(y))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        once = stats.best_of_test("auc", y, w, ref, cands, 0, seed=0).p_value
        twice = stats.best_of_test("auc", y, w, ref, [*cands, cands[0].copy()], 0, seed=0).p_value
    assert 0.01 < once < 0.9 and twice == pytest.approx(once, abs=0.01)
