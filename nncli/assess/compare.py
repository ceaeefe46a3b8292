"""``nncli compare``, the run: every model on the same split (or folds), seed and schema.

The plan (:mod:`nncli.assess.plan`) says which entries run and how much time each may
use; this module fits them fold by fold, scores each on the same test rows with
bootstrap intervals, runs the paired tests against the best model and the baseline,
and checks for overtraining (train vs test metric, Kolmogorov–Smirnov test of the
outputs). It returns numbers; the words are the report's (:mod:`nncli.show.labels`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from nncli.assess import stats
from nncli.assess.evaluate import HIGHER_IS_BETTER, metrics
from nncli.assess.plan import Budget, CompareOptions, Entry, Threshold, build_entries
from nncli.config import Settings
from nncli.errors import ConfigError, NncliError, did_you_mean
from nncli.learn.fitting import fit_model, stratified_folds, stratified_split
from nncli.learn.models import MODELS

if TYPE_CHECKING:
    import pandas as pd

    from nncli.learn.models.base import EpochCallback
    from nncli.learn.predictor import Predictor
    from nncli.learn.schema import Schema

# ------------------------------------------------------------------------- results


@dataclass
class ModelResult:
    label: str
    model: str
    stage: str
    status: str = "ok"  # ok | skipped | failed
    note: str = ""
    stop_reason: str = ""
    fit_seconds: float = 0.0
    predict_seconds: float = 0.0
    n_params: int = 0
    test: dict[str, float] = field(default_factory=dict)
    low: dict[str, float] = field(default_factory=dict)
    high: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)  # over folds, with --cv
    train: dict[str, float] = field(default_factory=dict)
    ks: list[dict[str, Any]] = field(default_factory=list)
    efficiency: dict[str, float] = field(default_factory=dict)
    separation: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    # kept for paired tests, predictions and model files; not part of the report
    proba: np.ndarray | None = field(default=None, repr=False)
    train_y: np.ndarray | None = field(default=None, repr=False)
    train_index: np.ndarray | None = field(default=None, repr=False)
    train_proba: np.ndarray | None = field(default=None, repr=False)
    boot: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    predictor: Predictor | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class Comparison:
    source: str
    schema: Schema
    options: CompareOptions
    seed: int
    rows: dict[str, int]
    results: list[ModelResult]
    y_test: np.ndarray
    w_test: np.ndarray
    test_index: np.ndarray
    signal: int | None
    paired: list[Paired] = field(default_factory=list)
    sha256: str = ""  # of the data file, for the model cards
    notes: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    budget: float | None = None

    @property
    def best(self) -> ModelResult | None:
        metric = self.options.metric
        ok = [r for r in self.results if r.ok and np.isfinite(r.test.get(metric, np.nan))]
        if not ok:
            return None
        sign = 1 if HIGHER_IS_BETTER[metric] else -1
        return max(ok, key=lambda r: sign * r.test[metric])


# --------------------------------------------------------------------------- run

ResultCallback = Callable[[ModelResult], None]
StartCallback = Callable[[Entry], "EpochCallback | None"]


@dataclass
class Split:
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray


def make_splits(
    y: np.ndarray,
    options: CompareOptions,
    seed: int,
    valid_size: float,
    test_rows: np.ndarray | None = None,
) -> list[Split]:
    """One holdout split, or one split per CV fold; validation rows come from the rest."""
    if options.cv:
        fold = stratified_folds(y, options.cv, seed)
        tests = [np.flatnonzero(fold == k) for k in range(options.cv)]
    elif test_rows is not None:
        tests = [test_rows]
    else:
        tests = [stratified_split(y, options.test_size, seed)[1]]
    splits = []
    for test in tests:
        rest = np.setdiff1d(np.arange(len(y)), test)
        fit_part, valid_part = stratified_split(y[rest], valid_size, seed + 1)
        splits.append(Split(rest[fit_part], rest[valid_part], test))
    return splits


def run_comparison(
    frame: pd.DataFrame,
    y: np.ndarray,
    w: np.ndarray,
    schema: Schema,
    source: str,
    options: CompareOptions,
    settings: Settings,
    test_rows: np.ndarray | None = None,
    on_start: StartCallback | None = None,
    on_result: ResultCallback | None = None,
) -> Comparison:
    """Fit and score every entry of the plan; the budget decides what starts."""
    started = time.perf_counter()
    budget = Budget(options.time_budget)
    splits = make_splits(y, options, settings.run.seed, settings.run.valid_size, test_rows)
    test_index = np.concatenate([s.test for s in splits])
    signal = _signal_index(schema, options.signal)
    entries = build_entries(options, settings)
    context = _Context(frame, y, w, schema, splits, signal, options)
    results = []
    for i, entry in enumerate(entries):
        stages = [e.stage for e in entries[i:]]
        decision = budget.decide(stages, time.perf_counter() - started, len(splits))
        if decision.start:
            callback = on_start(entry) if on_start else None
            result = _run_entry(entry, context, decision.limit, callback)
        else:
            result = ModelResult(entry.label, entry.model, entry.stage, status="skipped")
            result.note = "skipped: the time budget was used up"
        results.append(result)
        if on_result:
            on_result(result)
    rows = {
        "train": len(splits[0].train),
        "valid": len(splits[0].valid),
        "test": len(test_index),
        "total": len(y),
    }
    comparison = Comparison(
        source, schema, options, settings.run.seed, rows, results,
        y[test_index], w[test_index], test_index, signal, budget=options.time_budget,
    )  # fmt: skip
    comparison.paired = paired_comparisons(comparison)
    comparison.elapsed = time.perf_counter() - started
    return comparison


@dataclass
class _Context:
    """What every entry of one comparison is fitted and scored on."""

    frame: pd.DataFrame
    y: np.ndarray
    w: np.ndarray
    schema: Schema
    splits: list[Split]
    signal: int | None
    options: CompareOptions


def _signal_index(schema: Schema, signal: str | None) -> int | None:
    if len(schema.classes) != 2:
        if signal is not None:
            raise ConfigError("--signal is for binary targets", "leave it out for several classes.")
        return None
    if signal is None:
        return 1
    if signal not in schema.classes:
        raise ConfigError(
            f"--signal {signal!r} is not a class of the target",
            did_you_mean(signal, schema.classes, "class"),
        )
    return schema.classes.index(signal)


def _run_entry(
    entry: Entry, ctx: _Context, limit: float | None, on_epoch: EpochCallback | None
) -> ModelResult:
    result = ModelResult(entry.label, entry.model, entry.stage)
    frame, y, w = ctx.frame, ctx.y, ctx.w
    test_proba, train_scores, fold_metrics = [], [], []
    try:
        for split in ctx.splits:
            fitted = fit_model(
                entry.model, ctx.schema, frame.iloc[split.train], y[split.train],
                frame.iloc[split.valid], y[split.valid], entry.settings, on_epoch, limit,
            )  # fmt: skip
            if fitted.report.stop_reason == "interrupted":
                raise KeyboardInterrupt  # Ctrl-C stops the whole comparison, not this model
            t0 = time.perf_counter()
            proba = fitted.predictor.predict_proba(frame.iloc[split.test], unseen="ignore")
            result.predict_seconds += time.perf_counter() - t0
            train_proba = fitted.predictor.predict_proba_matrix(fitted.X_train)
            result.fit_seconds += fitted.fit_seconds
            test_proba.append(proba)
            train_scores.append((y[split.train], train_proba, fitted.w_train, split.train))
            fold_metrics.append(metrics(y[split.test], proba, w[split.test]))
    except NncliError as exc:  # a model that fails (a diverging MLP, say) is reported, not fatal
        result.status, result.note = "failed", f"failed: {exc.message}"
        return result
    report = fitted.report
    result.predictor, result.history = fitted.predictor, report.history
    result.n_params, result.stop_reason = fitted.predictor.card.n_params, report.stop_reason
    if report.stop_reason == "time_budget":
        result.note = "shortened by the time budget"
    _score(result, np.vstack(test_proba), ctx, fold_metrics, train_scores, entry.settings.run.seed)
    return result


def _score(
    result: ModelResult,
    proba: np.ndarray,
    ctx: _Context,
    fold_metrics: list[dict[str, float]],
    train_scores: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    seed: int,
) -> None:
    options, signal = ctx.options, ctx.signal
    test = np.concatenate([s.test for s in ctx.splits])
    y_test, w_test = ctx.y[test], ctx.w[test]
    result.proba = proba
    result.boot = stats.bootstrap_metrics(
        y_test, proba, w_test, options.bootstrap, seed
    )  # one seed: same resamples for all
    if options.cv:
        result.test = {k: float(np.mean([m[k] for m in fold_metrics])) for k in fold_metrics[0]}
        result.std = {k: float(np.std([m[k] for m in fold_metrics])) for k in fold_metrics[0]}
    else:
        result.test = fold_metrics[0]
    for name, samples in result.boot.items():
        result.low[name], result.high[name] = stats.interval(samples)
    y_tr = np.concatenate([t[0] for t in train_scores])
    p_tr = np.vstack([t[1] for t in train_scores])
    w_tr = np.concatenate([t[2] for t in train_scores])
    result.train = metrics(y_tr, p_tr, w_tr)
    result.train_y, result.train_proba = y_tr, p_tr
    result.train_index = np.concatenate([t[3] for t in train_scores])
    result.ks = _ks_per_class(y_tr, p_tr, y_test, proba, signal)
    if signal is not None:
        positive = y_test == signal
        result.efficiency = stats.signal_efficiency(positive, proba[:, signal], w_test)
        result.separation = stats.separation(positive, proba[:, signal], w_test)


def _ks_per_class(
    y_tr: np.ndarray, p_tr: np.ndarray, y_te: np.ndarray, p_te: np.ndarray, signal: int | None
) -> list[dict[str, Any]]:
    """Per true class: KS of the classifier output on training vs test rows of that class.

    The output is p(signal) for binary tasks (as TMVA plots it) and p(own class) otherwise.
    """
    out = []
    for k in range(p_tr.shape[1]):
        column = signal if signal is not None else k
        statistic, p_value = stats.ks_test(p_tr[y_tr == k, column], p_te[y_te == k, column])
        out.append({"class": k, "statistic": statistic, "p_value": p_value})
    return out


# ----------------------------------------------------------------- paired tests


@dataclass
class Paired:
    """A paired test of model a against model b (the best, or the baseline) on the same rows."""

    model: str
    against: str
    against_role: str  # "best", or the baseline's model name ("gbt")
    test: stats.PairedTest

    @property
    def significant(self) -> bool:
        return self.test.significant


def paired_comparisons(comparison: Comparison) -> list[Paired]:
    """Each model against the best one, and against the baseline (gbt), on the same rows.

    Each unordered pair is tested once; the floor (majority) is only compared with the best.
    """
    best = comparison.best
    baseline = next((r for r in comparison.results if MODELS[r.model].baseline and r.ok), None)
    out, seen = [], set()
    for result in comparison.results:
        if not result.ok:
            continue
        refs = [(best, "best")]
        if not MODELS[result.model].floor:
            refs.append((baseline, baseline.model if baseline else ""))
        for ref, role in refs:
            if ref is None or ref is result or frozenset((ref.label, result.label)) in seen:
                continue
            seen.add(frozenset((ref.label, result.label)))
            out.append(Paired(result.label, ref.label, role, paired_test(comparison, result, ref)))
    return out


def paired_test(comparison: Comparison, a: ModelResult, b: ModelResult) -> stats.PairedTest:
    """a minus b: DeLong for binary AUC, McNemar for accuracy, else a paired bootstrap."""
    metric = comparison.options.metric
    assert a.proba is not None and b.proba is not None
    diff = a.boot[metric] - b.boot[metric]
    low, high = stats.interval(diff)
    point = a.test[metric] - b.test[metric]
    y, w = comparison.y_test, comparison.w_test
    unweighted = bool(np.all(w == 1))
    method = "paired bootstrap"
    p_value = stats.bootstrap_p_value(diff)
    binary = len(comparison.schema.classes) == 2
    if metric == "auc" and binary and unweighted and not comparison.options.cv:
        _, se, p_value = stats.delong(y == 1, a.proba[:, 1], b.proba[:, 1])
        low, high = point - 1.959964 * se, point + 1.959964 * se  # same basis as the p-value
        method = "DeLong"
    elif metric == "accuracy" and unweighted:
        p_value = stats.mcnemar(a.proba.argmax(1) == y, b.proba.argmax(1) == y)
        method = "McNemar"
    floor = 1 / comparison.options.bootstrap if method == "paired bootstrap" else 0.0
    return stats.PairedTest(metric, point, low, high, p_value, method, floor)


# -------------------------------------------------------------------- threshold


@dataclass(frozen=True)
class ThresholdCheck:
    """``--fail-under``: the recommended model's score against the threshold."""

    threshold: Threshold
    model: str  # label of the model checked ("" when none finished)
    score: float

    @property
    def met(self) -> bool:
        if not np.isfinite(self.score):
            return False
        if HIGHER_IS_BETTER[self.threshold.metric]:
            return self.score >= self.threshold.value
        return self.score <= self.threshold.value


def check_threshold(comparison: Comparison, threshold: Threshold) -> ThresholdCheck:
    best = comparison.best
    score = best.test.get(threshold.metric, float("nan")) if best else float("nan")
    return ThresholdCheck(threshold, best.label if best else "", float(score))
