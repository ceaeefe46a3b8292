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
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from nncli.assess import stats
from nncli.assess.ensemble import blend, greedy_weights
from nncli.assess.evaluate import HIGHER_IS_BETTER, metrics
from nncli.assess.plan import (
    Budget,
    CompareOptions,
    Entry,
    Threshold,
    build_entries,
    extra_plan,
)
from nncli.config import Settings
from nncli.errors import ConfigError, NncliError, did_you_mean
from nncli.io.card import ModelCard
from nncli.learn import distributed
from nncli.learn.fitting import fit_model, start_group, stratified_folds, stratified_split
from nncli.learn.models import MODELS

if TYPE_CHECKING:
    import pandas as pd

    from nncli.learn.models.base import EpochCallback
    from nncli.learn.predictor import Predictor
    from nncli.prepare.schema import Schema

# ------------------------------------------------------------------------- results


@dataclass
class FoldOutput:
    """One fold's probabilities on its validation, test and training rows."""

    valid: np.ndarray
    test: np.ndarray
    train: np.ndarray


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
    valid: dict[str, float] = field(default_factory=dict)  # on the validation rows
    # kept for paired tests, predictions and model files; not part of the report
    folds: list[FoldOutput] = field(default_factory=list, repr=False)
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
    interrupted: bool = False  # stopped by Ctrl-C: the results are those that finished
    notes: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    budget: float | None = None

    @property
    def best(self) -> ModelResult | None:
        """The recommended model: the best on the validation rows (never the test rows,
        which are used once, to report every model)."""
        return self._best(self.results)

    @property
    def best_single(self) -> ModelResult | None:
        """The best model on the validation rows that is not the ensemble."""
        return self._best([r for r in self.results if MODELS[r.model].trainable])

    def _best(self, results: list[ModelResult]) -> ModelResult | None:
        metric = self.options.metric
        ok = [r for r in results if r.ok and np.isfinite(r.valid.get(metric, np.nan))]
        if not ok:
            return None
        sign = 1 if HIGHER_IS_BETTER[metric] else -1
        return max(ok, key=lambda r: sign * r.valid[metric])


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
    if distributed.active():
        start_group(settings)
    budget = Budget(options.time_budget)
    splits = make_splits(y, options, settings.run.seed, settings.run.valid_size, test_rows)
    test_index = np.concatenate([s.test for s in splits])
    signal = _signal_index(schema, options.signal)
    entries = build_entries(options, settings)
    context = _Context(frame, y, w, schema, splits, signal, options, settings.run.seed)
    run = _Runner(context, budget, started, on_start, on_result)
    results = [run.entry(entry, [e.stage for e in entries[i:]]) for i, entry in enumerate(entries)]
    if "ensemble" in options.models and not run.interrupted:
        results += _extra_runs(results, entries, run)
    if "ensemble" in options.models and not run.interrupted:
        results.append(_ensemble(results, context))
        if on_result:
            on_result(results[-1])
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
    comparison.interrupted = run.interrupted
    comparison.paired = paired_comparisons(comparison)
    comparison.elapsed = time.perf_counter() - started
    return comparison


@dataclass
class _Runner:
    """Runs entries one by one as the budget allows, reporting each result."""

    ctx: _Context
    budget: Budget
    started: float
    on_start: StartCallback | None
    on_result: ResultCallback | None
    interrupted: bool = False  # Ctrl-C: what finished is kept, nothing more starts

    def elapsed(self) -> float:  # under torchrun rank 0's clock, so every rank decides alike
        return distributed.main_value(time.perf_counter() - self.started)

    def entry(self, entry: Entry, stages: list[str]) -> ModelResult:
        """Run ``entry`` (the first of ``stages`` still to run), or skip it."""
        result = ModelResult(entry.label, entry.model, entry.stage, status="skipped")
        decision = self.budget.decide(stages, self.elapsed(), len(self.ctx.splits))
        if self.interrupted:
            result.note = "not run: interrupted"
            return result
        if not decision.start:
            result.note = "skipped: the time budget was used up"
        else:
            try:
                callback = self.on_start(entry) if self.on_start else None
                result = _run_entry(entry, self.ctx, decision.limit, callback)
            except KeyboardInterrupt:  # Ctrl-C or SIGTERM: stop, keep what finished
                self.interrupted = True
                result.note = "interrupted"
        if self.on_result:
            self.on_result(result)
        return result


def _extra_runs(
    results: list[ModelResult], entries: list[Entry], run: _Runner
) -> list[ModelResult]:
    """Anytime refinement: the best refining model again with the other scaling and
    with more seeds (:func:`extra_plan`), as ensemble members, while the budget has room
    for another run (each costs about what the first did)."""
    refined = [
        (r, e) for r, e in zip(results, entries, strict=True) if r.ok and e.stage == "refine"
    ]
    metric, sign = run.ctx.options.metric, 1 if HIGHER_IS_BETTER[run.ctx.options.metric] else -1
    if not refined:
        return []
    best, entry = max(refined, key=lambda pair: sign * pair[0].valid[metric])
    table = MODELS[entry.model].config
    config = entry.settings.table(table) if table else None
    scaler = getattr(config, "scaler", None)  # None: no table, or one without a scaler
    out: list[ModelResult] = []
    for change in extra_plan(entry.settings.run.seed, scaler, run.ctx.options.extra_runs):
        if run.interrupted or not run.budget.room_for(best.fit_seconds, run.elapsed()):
            break
        settings = replace(entry.settings, run=entry.settings.run.replace(seed=change["seed"]))
        if "scaler" in change:
            assert table and config is not None
            settings = replace(settings, **{table: config.replace(scaler=change["scaler"])})
        label = entry.label + "[" + ",".join(f"{k}={v}" for k, v in change.items()) + "]"
        out.append(run.entry(replace(entry, label=label, settings=settings), ["refine"]))
    return out


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
    #: seeds the bootstrap: the comparison's seed, never an entry's own (``mlp[seed=2]``),
    #: so every model is resampled on the same rows and the paired tests are paired
    seed: int = 0

    def schema_for(self, entry: Entry) -> Schema:
        """The comparison's schema, or for a ``[raw]`` entry the same without the derived
        columns (dropped, and not computed at predict time)."""
        if not entry.raw:
            return self.schema
        names = {d["name"] for d in self.schema.derived}
        columns = [replace(c, role="dropped") if c.name in names else c
                   for c in self.schema.columns]  # fmt: skip
        return replace(self.schema, columns=columns, derived=[])


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
    frame, y = ctx.frame, ctx.y
    try:
        for split in ctx.splits:
            fitted = fit_model(
                entry.model, ctx.schema_for(entry), frame.iloc[split.train], y[split.train],
                frame.iloc[split.valid], y[split.valid], entry.settings, on_epoch, limit,
            )  # fmt: skip
            if fitted.report.stop_reason == "interrupted":
                raise KeyboardInterrupt  # Ctrl-C stops the whole comparison, not this model
            t0 = time.perf_counter()
            proba = fitted.predictor.predict_proba(frame.iloc[split.test], unseen="ignore")
            result.predict_seconds += time.perf_counter() - t0
            result.fit_seconds += fitted.fit_seconds
            predict = fitted.predictor.predict_proba_matrix
            p_train = (  # under torchrun the MLP saw its shard: score all training rows
                predict(fitted.X_train)
                if len(fitted.y_train) == len(split.train)
                else fitted.predictor.predict_proba(frame.iloc[split.train], unseen="ignore")
            )
            result.folds.append(FoldOutput(predict(fitted.X_valid), proba, p_train))
    except NncliError as exc:  # a model that fails (a diverging MLP, say) is reported, not fatal
        result.status, result.note = "failed", f"failed: {exc.message}"
        return result
    report = fitted.report
    result.predictor, result.history = fitted.predictor, report.history
    result.n_params, result.stop_reason = fitted.predictor.card.n_params, report.stop_reason
    if report.stop_reason == "time_budget":
        result.note = "shortened by the time budget"
    _score(result, ctx)
    return result


def _fold_mean(values: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([v[k] for v in values])) for k in values[0]}


def _score(result: ModelResult, ctx: _Context) -> None:
    """Metrics on the validation rows (for selection) and the test rows (to report),
    bootstrap intervals (the same resamples for every model), the overtraining check and
    the signal efficiencies."""
    options, signal, y, w = ctx.options, ctx.signal, ctx.y, ctx.w
    splits, folds = ctx.splits, result.folds
    test = np.concatenate([s.test for s in splits])
    y_test, w_test = y[test], w[test]
    proba = result.proba = np.vstack([f.test for f in folds])
    result.boot = stats.bootstrap_metrics(y_test, proba, w_test, options.bootstrap, ctx.seed)
    fold_metrics = [
        metrics(y[s.test], f.test, w[s.test]) for s, f in zip(splits, folds, strict=False)
    ]
    pairs = list(zip(splits, folds, strict=True))
    result.valid = _fold_mean([metrics(y[s.valid], f.valid, w[s.valid]) for s, f in pairs])
    result.test = _fold_mean(fold_metrics)
    if options.cv:
        result.std = {k: float(np.std([m[k] for m in fold_metrics])) for k in fold_metrics[0]}
    for name, samples in result.boot.items():
        result.low[name], result.high[name] = stats.interval(samples)
    result.train_index = np.concatenate([s.train for s in splits])
    y_tr, w_tr = y[result.train_index], w[result.train_index]
    p_tr = np.vstack([f.train for f in folds])
    result.train = metrics(y_tr, p_tr, w_tr)
    result.train_y, result.train_proba = y_tr, p_tr
    result.ks = _ks_per_class(y_tr, p_tr, y_test, proba, signal)
    if signal is not None:
        positive = y_test == signal
        result.efficiency = stats.signal_efficiency(positive, proba[:, signal], w_test)
        result.separation = stats.separation(positive, proba[:, signal], w_test)


def _ensemble(results: list[ModelResult], ctx: _Context) -> ModelResult:
    """The greedy weighted blend of the finished models, chosen per fold on the
    validation rows, scored on the test rows like every model."""
    from nncli.learn.ensemble import EnsemblePredictor

    started = time.perf_counter()
    result = ModelResult("ensemble", "ensemble", "blend")
    members = [r for r in results if r.ok]
    if len(members) < 2:
        result.status, result.note = "skipped", "skipped: fewer than two models to blend"
        return result
    for i, split in enumerate(ctx.splits):
        probas = [m.folds[i].valid for m in members]
        y, w = ctx.y[split.valid], ctx.w[split.valid]
        weights = greedy_weights(probas, y, w)
        result.folds.append(
            FoldOutput(*(blend([getattr(m.folds[i], part) for m in members], weights)
                         for part in ("valid", "test", "train")))
        )  # fmt: skip
    chosen = [(m, float(wt)) for m, wt in zip(members, weights, strict=True) if wt > 0]
    result.note = "weights " + ", ".join(f"{m.label} {wt:.2f}" for m, wt in chosen)
    result.n_params = sum(m.n_params for m, _ in chosen)
    result.fit_seconds = time.perf_counter() - started + sum(m.fit_seconds for m, _ in chosen)
    result.predict_seconds = sum(m.predict_seconds for m, _ in chosen)
    if all(m.predictor is not None for m, _ in chosen):
        schema = ctx.schema
        card = ModelCard("ensemble", {"members": {m.label: wt for m, wt in chosen}},
                         result.n_params)  # fmt: skip
        result.predictor = EnsemblePredictor(  # type: ignore[assignment]
            schema, [m.predictor for m, _ in chosen], [m.label for m, _ in chosen],
            [wt for _, wt in chosen], card,
        )  # fmt: skip
    _score(result, ctx)
    return result


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
    """Each model against the best one (chosen on the validation rows), against the
    baseline (gbt), and the ensemble against the best single model, on the same test rows.

    Each unordered pair is tested once; the floor (majority) is only compared with the best.
    """
    best, single = comparison.best, comparison.best_single
    baseline = next((r for r in comparison.results if MODELS[r.model].baseline and r.ok), None)
    out, seen = [], set()
    for result in comparison.results:
        if not result.ok:
            continue
        refs = [(best, "best")]
        if not MODELS[result.model].floor:
            refs.append((baseline, baseline.model if baseline else ""))
        if not MODELS[result.model].trainable:
            refs.append((single, "best single"))
        for ref, role in refs:
            pair = frozenset((ref.label, result.label)) if ref is not None else frozenset()
            if ref is None or ref is result or pair in seen or _twins(ref, result):
                continue
            seen.add(pair)
            out.append(Paired(result.label, ref.label, role, paired_test(comparison, result, ref)))
    return out + _feature_set_pairs(comparison)


def _twins(a: ModelResult, b: ModelResult) -> bool:
    """A model and the same model without the derived columns (tested on their own)."""
    return a.label == f"{b.label}[raw]" or b.label == f"{a.label}[raw]"


RAW_ROLE = "raw features"  # Paired.against_role of an assisted model against its raw twin


def _feature_set_pairs(comparison: Comparison) -> list[Paired]:
    """``--feature-sets raw,assisted``: each model with the derived columns against the
    same model without them (``mlp`` vs ``mlp[raw]``), on the same test rows."""
    ok = {r.label: r for r in comparison.results if r.ok}
    out = []
    for label, raw in ok.items():
        assisted = ok.get(label.removesuffix("[raw]")) if label.endswith("[raw]") else None
        if assisted is not None:
            test = paired_test(comparison, assisted, raw)
            out.append(Paired(assisted.label, label, RAW_ROLE, test))
    return out


def paired_test(comparison: Comparison, a: ModelResult, b: ModelResult) -> stats.PairedTest:
    """a minus b: DeLong for binary AUC, McNemar for accuracy, else a paired bootstrap."""
    metric = comparison.options.metric
    assert a.proba is not None and b.proba is not None
    point = a.test[metric] - b.test[metric]
    if a.boot and b.boot:
        diff = a.boot[metric] - b.boot[metric]
        (low, high), p_value = stats.interval(diff), stats.bootstrap_p_value(diff)
        method = "paired bootstrap"
    else:  # --bootstrap 0: only the tests that need no resampling
        low = high = p_value = float("nan")
        method = "none (--bootstrap 0)"
    y, w = comparison.y_test, comparison.w_test
    unweighted = bool(np.all(w == 1))
    binary = len(comparison.schema.classes) == 2
    if metric == "auc" and binary and unweighted and not comparison.options.cv:
        _, se, p_value = stats.delong(y == 1, a.proba[:, 1], b.proba[:, 1])
        low, high = point - 1.959964 * se, point + 1.959964 * se  # same basis as the p-value
        method = "DeLong"
    elif metric == "accuracy" and unweighted:
        p_value = stats.mcnemar(a.proba.argmax(1) == y, b.proba.argmax(1) == y)
        method = "McNemar"
    floor = 1 / max(comparison.options.bootstrap, 1) if method == "paired bootstrap" else 0.0
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
