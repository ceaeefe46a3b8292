"""``nncli compare``: every model on the same split (or folds), seed and schema.

Rough result fast, then refine: the cheap models (majority, linear, gbt) run first
and each result is reported as soon as it exists; the MLP variants follow with the
time that is left. Every model is scored on the same test rows with bootstrap
intervals, compared pairwise with the best and with the gbt baseline, and checked
for overtraining (train vs test metric, Kolmogorov–Smirnov test of its outputs).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from nncli.assess import stats
from nncli.assess.evaluate import HIGHER_IS_BETTER, metrics
from nncli.config import MLPConfig, Settings
from nncli.errors import ConfigError, NncliError, did_you_mean
from nncli.learn.fitting import fit_model, stratified_folds, stratified_split
from nncli.learn.models import MODELS

if TYPE_CHECKING:
    import pandas as pd

    from nncli.learn.models.base import EpochCallback
    from nncli.learn.predictor import Predictor
    from nncli.learn.schema import Schema

ROUGH = ("majority", "gbt", "logreg", "fisher")  # run order: the gbt row is the rough result
METRIC_ALIASES = {"auc": "auc", "accuracy": "accuracy", "balanced_accuracy": "balanced_accuracy",
                  "logloss": "log_loss", "log_loss": "log_loss"}  # fmt: skip
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"hidden": (128, 128), "epochs": 20, "patience": 5, "batch_size": 512},
    "default": {},
}
RESERVE = 0.08  # share of the time budget kept for scoring and reporting ...
RESERVE_SECONDS = 0.5  # ... plus this much, which matters for short budgets
ROUGH_SHARE = 0.4  # most of the budget one rough-stage model may use when MLPs follow


@dataclass(frozen=True)
class Entry:
    """One model in the comparison."""

    label: str
    model: str
    settings: Settings

    @property
    def stage(self) -> str:
        return "rough" if self.model in ROUGH else "refine"


@dataclass
class CompareOptions:
    models: tuple[str, ...] = ("majority", "logreg", "fisher", "gbt", "mlp")
    mlp_variants: tuple[str, ...] = ()
    preset: str = "default"
    metric: str = "auc"
    test_size: float = 0.2
    cv: int | None = None
    bootstrap: int = 1000
    time_budget: float | None = None
    signal: str | None = None

    def __post_init__(self) -> None:
        if self.metric not in METRIC_ALIASES:
            raise ConfigError(
                f"unknown --metric {self.metric!r}",
                did_you_mean(self.metric, METRIC_ALIASES, "metric"),
            )
        self.metric = METRIC_ALIASES[self.metric]
        for name in self.models:
            if name not in MODELS:
                raise ConfigError(
                    f"unknown model {name!r} in --models", did_you_mean(name, MODELS, "model")
                )
        if self.preset not in PRESETS:
            raise ConfigError(f"unknown --preset {self.preset!r}", "use quick or default.")
        if self.cv is not None and self.cv < 2:
            raise ConfigError(f"--cv needs at least 2 folds, got {self.cv}", "pass e.g. --cv 5.")


def parse_variant(text: str, base: MLPConfig) -> MLPConfig:
    """``"activation=maxout,hidden=128,128"`` → an MLPConfig; bare items extend the last key."""
    values: dict[str, str] = {}
    key = None
    for item in (p.strip() for p in text.split(",") if p.strip()):
        if "=" in item:
            key, value = (s.strip() for s in item.split("=", 1))
            key = key.replace("-", "_")
            values[key] = value
        elif key is not None:
            values[key] += "," + item
        else:
            raise ConfigError(
                f"--mlp {text!r}: expected key=value items",
                'pass e.g. --mlp "activation=tanh,hidden=128,128".',
            )
    fields = MLPConfig.__dataclass_fields__
    converted: dict[str, Any] = {}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(
                f"--mlp {text!r}: unknown setting {key!r}", did_you_mean(key, fields, "setting")
            )
        converted[key] = _convert(key, value, getattr(base, key))
    return replace(base, **converted)


def _convert(key: str, value: str, default: Any) -> Any:
    from nncli.config import parse_hidden

    try:
        if key == "hidden":
            return parse_hidden(value)
        if key == "clip_grad":
            return None if float(value) == 0 else float(value)
        if isinstance(default, bool):
            return value.lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except ValueError:
        raise ConfigError(
            f"--mlp: {key}={value!r} is not a valid value",
            f"pass a {type(default).__name__} for {key}.",
        ) from None
    return value


def build_entries(options: CompareOptions, settings: Settings) -> list[Entry]:
    """The models to run, rough stage first; MLP variants replace the plain ``mlp``."""
    base = replace(MLPConfig(**{**PRESETS[options.preset]}), **_changed(settings.mlp))
    entries = []
    order = list(ROUGH) + [m for m in MODELS if m not in ROUGH]
    for name in sorted(options.models, key=order.index):
        if name != "mlp":
            entries.append(Entry(name, name, settings))
            continue
        variants = options.mlp_variants or ("",)
        for text in variants:
            label = f"mlp[{text}]" if text else "mlp"
            entries.append(Entry(label, "mlp", replace(settings, mlp=parse_variant(text, base))))
    return entries


def _changed(config: MLPConfig) -> dict[str, Any]:
    """The fields of ``config`` that differ from the defaults (the user's own flags)."""
    default = MLPConfig()
    return {
        k: getattr(config, k)
        for k in config.__dataclass_fields__
        if getattr(config, k) != getattr(default, k)
    }


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
    paired: list[dict[str, Any]] = field(default_factory=list)
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


class Clock:
    """The time budget: how much is left, and what a model may use of it."""

    def __init__(self, budget: float | None, started: float) -> None:
        self.budget, self.started = budget, started

    def left(self) -> float:
        if self.budget is None:
            return float("inf")
        reserve = self.budget * RESERVE + RESERVE_SECONDS
        return self.budget - reserve - (time.perf_counter() - self.started)

    def share(self, remaining_models: int) -> float | None:
        if self.budget is None:
            return None
        return max(self.left(), 0.0) / max(remaining_models, 1)


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
    started = time.perf_counter()
    clock = Clock(options.time_budget, started)
    seed = settings.run.seed
    splits = make_splits(y, options, seed, settings.run.valid_size, test_rows)
    test_index = np.concatenate([s.test for s in splits])
    signal = _signal_index(schema, options.signal)
    entries = build_entries(options, settings)
    results = []
    for i, entry in enumerate(entries):
        refine_left = sum(1 for e in entries[i:] if e.stage == "refine")
        limit = clock.share(refine_left) if entry.stage == "refine" else clock.share(1)
        if entry.stage == "rough" and options.time_budget and refine_left:
            limit = min(limit or 0.0, ROUGH_SHARE * options.time_budget)  # leave the MLPs time
        callback = on_start(entry) if on_start else None
        result = _run_entry(entry, frame, y, w, schema, splits, limit, callback, signal, options)
        results.append(result)
        if on_result:
            on_result(result)
    comparison = Comparison(
        source,
        schema,
        options,
        seed,
        {
            "train": len(splits[0].train),
            "valid": len(splits[0].valid),
            "test": len(test_index),
            "total": len(y),
        },
        results,
        y[test_index],
        w[test_index],
        test_index,
        signal,
        budget=options.time_budget,
    )
    comparison.paired = paired_comparisons(comparison)
    comparison.elapsed = time.perf_counter() - started
    return comparison


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
    entry: Entry,
    frame: pd.DataFrame,
    y: np.ndarray,
    w: np.ndarray,
    schema: Schema,
    splits: list[Split],
    limit: float | None,
    on_epoch: EpochCallback | None,
    signal: int | None,
    options: CompareOptions,
) -> ModelResult:
    result = ModelResult(entry.label, entry.model, entry.stage)
    min_time = 0.5 if entry.stage == "refine" else 0.0
    if limit is not None and limit <= min_time * len(splits):
        result.status, result.note = "skipped", "skipped: the time budget was used up"
        return result
    per_fold = None if limit is None else limit / len(splits)
    test_proba, train_scores, fold_metrics = [], [], []
    try:
        for split in splits:
            fitted = fit_model(
                entry.model,
                schema,
                frame.iloc[split.train],
                y[split.train],
                frame.iloc[split.valid],
                y[split.valid],
                entry.settings,
                on_epoch,
                per_fold,
            )
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
    model = fitted.predictor.model
    if model.stop_reason == "interrupted":
        raise KeyboardInterrupt  # Ctrl-C stops the whole comparison, not just this model
    result.predictor, result.history = fitted.predictor, model.history
    result.n_params, result.stop_reason = model.n_params(), model.stop_reason
    if model.stop_reason == "time_budget":
        result.note = "shortened by the time budget"
    _score(
        result,
        np.vstack(test_proba),
        y,
        w,
        splits,
        fold_metrics,
        train_scores,
        signal,
        options,
        entry.settings.run.seed,
    )
    return result


def _score(
    result: ModelResult,
    proba: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    splits: list[Split],
    fold_metrics: list[dict[str, float]],
    train_scores: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    signal: int | None,
    options: CompareOptions,
    seed: int,
) -> None:
    test = np.concatenate([s.test for s in splits])
    y_test, w_test = y[test], w[test]
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


def paired_comparisons(comparison: Comparison) -> list[dict[str, Any]]:
    """Each model against the best one, and against the gbt baseline, on the same rows.

    Each unordered pair is tested once; the majority floor is only compared with the best.
    """
    best = comparison.best
    gbt = next((r for r in comparison.results if r.model == "gbt" and r.ok), None)
    out, seen = [], set()
    for result in comparison.results:
        if not result.ok:
            continue
        refs = [(best, "best")] + ([(gbt, "gbt")] if result.model != "majority" else [])
        for ref, role in refs:
            if ref is None or ref is result or frozenset((ref.label, result.label)) in seen:
                continue
            seen.add(frozenset((ref.label, result.label)))
            out.append(paired_test(comparison, result, ref) | {"against_role": role})
    return out


def paired_test(comparison: Comparison, a: ModelResult, b: ModelResult) -> dict[str, Any]:
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
    test = stats.PairedTest(metric, point, low, high, p_value, method, floor)
    return {
        "model": a.label,
        "against": b.label,
        "metric": metric,
        "difference": point,
        "low": low,
        "high": high,
        "p_value": p_value,
        "method": method,
        "significant": test.significant,
        "verdict": verdict(test, a.label, b.label),
    }


def verdict(test: stats.PairedTest, a: str, b: str) -> str:
    better = (test.difference > 0) == HIGHER_IS_BETTER[test.metric]
    if not test.significant:
        words = "no significant difference"
    else:
        words = f"{a} is significantly {'better' if better else 'worse'}"
    return (
        f"{a} vs {b}: {_metric_name(test.metric)} {test.difference:+.4f} "
        f"[{test.low:+.4f}, {test.high:+.4f}], {format_p(test.p_value, test.floor)} "
        f"({test.method}): {words}"
    )


def format_p(p: float, floor: float = 0.0) -> str:
    """``p = 0.03``; ``p < 0.0001``; ``p < 0.001`` when a bootstrap cannot resolve smaller."""
    if not np.isfinite(p):
        return "p = n/a"
    if floor > 0 and p <= floor:
        return f"p < {floor:.2g}"
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.2g}"


def _metric_name(metric: str) -> str:
    return {"auc": "AUC", "log_loss": "log loss", "balanced_accuracy": "balanced accuracy"}.get(
        metric, metric
    )


def overtraining_verdict(result: ModelResult, classes: list[str], metric: str) -> str:
    """The overtraining check in plain words."""
    if not result.ks:
        return ""
    worst = min(result.ks, key=lambda k: k["p_value"] if np.isfinite(k["p_value"]) else 2.0)
    gap = result.train[metric] - result.test[metric]
    p = worst["p_value"]
    label = classes[worst["class"]]
    head = (
        f"{result.label}: train {_metric_name(metric)} {result.train[metric]:.4f} vs test "
        f"{result.test[metric]:.4f} (gap {gap:+.4f}); KS {format_p(p)} for class {label!r}"
    )
    if not np.isfinite(p):
        return head + ": not enough rows to test"
    if p < 0.01:
        return (
            head + ": its outputs on training rows differ from those on unseen rows — it "
            "has learnt its training sample (overtraining)"
        )
    if p < 0.05:
        return head + ": mild signs of overtraining"
    return head + ": training and test outputs agree — no sign of overtraining"


def safe_label(label: str) -> str:
    """A file-name-safe version of a model label."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-")
