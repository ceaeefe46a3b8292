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
from nncli.assess.choice import CloseCall, close_calls
from nncli.assess.crossfit import (
    MIN_REFINE_FIT,
    FoldOutput,
    Split,
    auto_bag,
    bag_words,
    common_rows,
    fit_folds,
    fits_words,
    make_splits,
)
from nncli.assess.ensemble import blend, greedy_weights
from nncli.assess.evaluate import HIGHER_IS_BETTER, metrics
from nncli.assess.plan import (
    EXTRA_RUNS,
    Budget,
    CompareOptions,
    Entry,
    Threshold,
    build_entries,
    extra_plan,
    portfolio_entries,
)
from nncli.config import Settings
from nncli.errors import ConfigError, NncliError, did_you_mean
from nncli.io.card import ModelCard
from nncli.learn import distributed
from nncli.learn.fitting import start_group
from nncli.learn.models import MODELS
from nncli.prepare.dataset import fold_numbers
from nncli.prepare.preprocess import coded_categories

if TYPE_CHECKING:
    import pandas as pd

    from nncli.learn.models.base import EpochCallback
    from nncli.learn.predictor import Predictor
    from nncli.prepare.schema import Schema

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
    valid: dict[str, float] = field(default_factory=dict)  # on the validation rows
    # kept for paired tests, predictions and model files; not part of the report
    folds: list[FoldOutput] = field(default_factory=list, repr=False)
    proba: np.ndarray | None = field(default=None, repr=False)
    train_y: np.ndarray | None = field(default=None, repr=False)
    train_index: np.ndarray | None = field(default=None, repr=False)
    train_proba: np.ndarray | None = field(default=None, repr=False)
    boot: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    predictor: Predictor | None = field(default=None, repr=False)
    fits: str = ""  # how it was fitted: "5-fold bag", "3 of 5 folds", "single split"

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
    samples: list[dict[str, Any]] = field(default_factory=list)  # --sample files, for the cards
    interrupted: bool = False  # stopped by Ctrl-C: the results are those that finished
    notes: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    budget: float | None = None
    bag: int = 1  # folds each model was cross-fitted on (1: one validation split)
    rest_index: np.ndarray | None = None  # the rows out-of-fold predictions are on
    threshold: ThresholdCheck | None = None  # --fail-under's verdict, when asked
    #: models the rows that chose the ★ cannot tell from it (assess/choice.py)
    close_calls: list[CloseCall] = field(default_factory=list)

    @property
    def few_rows(self) -> dict[int, int]:
        """Classes with fewer than FEW_ROWS test rows: class index → test rows."""
        counts = np.bincount(self.y_test, minlength=len(self.schema.classes))
        return {k: int(n) for k, n in enumerate(counts) if n < stats.FEW_ROWS}

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
        return max(ok, key=lambda r: (sign * r.valid[metric], -r.n_params))  # tie: simpler


# --------------------------------------------------------------------------- run

ResultCallback = Callable[[ModelResult], None]
StartCallback = Callable[[Entry], "EpochCallback | None"]


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
    on_plan: Callable[[str], None] | None = None,
) -> Comparison:
    """Fit and score every entry of the plan; the budget decides what starts."""
    started = time.perf_counter()
    if distributed.active():
        start_group(settings)
    budget = Budget(options.time_budget)
    bag = _bag(frame, y, options, settings, test_rows, on_plan)
    fold_of = fold_numbers(frame, settings.run.fold_by, bag) if settings.run.fold_by else None
    splits = make_splits(y, options, settings.run.seed, settings.run.valid_size, bag, test_rows,
                         fold_of)  # fmt: skip
    test_index = np.concatenate([s.test for s in splits])
    signal = _signal_index(schema, options.signal)
    entries = build_entries(options, settings)
    coded = coded_categories(frame, schema, keep=[settings.run.fold_by or ""])
    context = _Context(coded, y, w, schema, splits, signal, options, settings.run.seed,
                       settings.run.fold_by)  # fmt: skip
    run = _Runner(context, budget, started, on_start, on_result)
    results = [run.entry(entry, [e.stage for e in entries[i:]]) for i, entry in enumerate(entries)]
    if "ensemble" in options.models and not run.interrupted:
        results += _extra_runs(results, entries, run)
    _revalidate(results, context)
    if "ensemble" in options.models and not run.interrupted:
        results.append(_ensemble(results, context))
        if on_result:
            on_result(results[-1])
    s0 = splits[0]
    train_rows = len(s0.rest) if s0.bagged else len(s0.rest) - len(s0.folds[0])
    rows = {"train": train_rows, "valid": len(s0.rest) if s0.bagged else len(s0.folds[0]),
            "test": len(test_index), "total": len(y), "folds": len(s0.folds)}  # fmt: skip
    comparison = Comparison(
        source, schema, options, settings.run.seed, rows, results,
        y[test_index], w[test_index], test_index, signal, budget=options.time_budget, bag=bag,
    )  # fmt: skip
    comparison.interrupted = run.interrupted
    comparison.rest_index = np.concatenate([s.rest for s in splits])
    comparison.paired = paired_comparisons(comparison)
    comparison.close_calls = _close_calls(comparison, context)
    comparison.elapsed = time.perf_counter() - started
    return comparison


def _bag(
    frame: pd.DataFrame, y: np.ndarray, options: CompareOptions, settings: Settings,
    test_rows: np.ndarray | None, on_plan: Callable[[str], None] | None,
) -> int:  # fmt: skip
    """K: --bag, or the planner's choice from the rows there are to fit on; said."""
    n_test = (len(test_rows) if test_rows is not None
              else round(len(y) / options.cv) if options.cv
              else round(len(y) * options.test_size))  # fmt: skip
    n_rest = len(y) - n_test
    given = settings.run.bag is not None
    bag = settings.run.bag if given else auto_bag(n_rest)
    if distributed.active() and bag > 1:
        if given:
            raise ConfigError(
                "--bag does not run under torchrun",
                "cross-fit in one process, or pass --bag 1 under torchrun.",
            )
        bag = 1
    if settings.run.fold_by and bag == 1:
        raise ConfigError("--fold-by assigns the folds of --bag, which is 1 here",
                          "pass --bag K (e.g. --bag 5) with --fold-by.")  # fmt: skip
    if on_plan is not None:
        on_plan(bag_words(bag, n_rest, given))
    return bag


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
    with more seeds (:func:`extra_plan`), then the portfolio's configs when asked for,
    as ensemble members, while the budget has room for another run."""
    kinds = _extra_kinds(run.ctx)
    out = _mlp_reruns(results, entries, run, kinds)
    if "portfolio" in kinds:
        out += _portfolio_runs(results, entries, run)
    return out


def _mlp_reruns(
    results: list[ModelResult], entries: list[Entry], run: _Runner, kinds: tuple[str, ...]
) -> list[ModelResult]:
    """The best refining model again, changed as :func:`extra_plan` says (each run
    costs about what the first did)."""
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
    for change in extra_plan(entry.settings.run.seed, scaler, kinds):
        if run.interrupted or not run.budget.room_for(best.fit_seconds, run.elapsed()):
            break
        settings = replace(entry.settings, run=entry.settings.run.replace(seed=change["seed"]))
        if "scaler" in change:
            assert table is not None  # a model with a scaler has a settings table
            settings = replace(settings, **{table: config.replace(scaler=change["scaler"])})
        label = entry.label + "[" + ",".join(f"{k}={v}" for k, v in change.items()) + "]"
        out.append(run.entry(replace(entry, label=label, settings=settings), ["refine"]))
    return out


def _portfolio_runs(
    results: list[ModelResult], entries: list[Entry], run: _Runner
) -> list[ModelResult]:
    """The portfolio's configs in order, while the budget has room for one more (each
    priced at its model's plain fit); each joins the ensemble's pool."""
    cost = {r.label: r.fit_seconds for r in results if r.ok}
    out: list[ModelResult] = []
    for entry in portfolio_entries(entries):
        if entry.model not in cost:  # its plain model was skipped or failed
            continue
        if run.interrupted or not run.budget.room_for(cost[entry.model], run.elapsed()):
            break
        out.append(run.entry(entry, ["refine"]))
    return out


def _extra_kinds(ctx: _Context) -> tuple[str, ...]:
    """The extra runs asked for; cross-fitted, the default's extra seeds are left out
    (with the portfolio or without): the folds already average several fits."""
    runs = ctx.options.extra_runs
    if ctx.splits[0].bagged and tuple(k for k in runs if k != "portfolio") == EXTRA_RUNS:
        return tuple(kind for kind in runs if kind != "seed")
    return runs


def _close_calls(comparison: Comparison, ctx: _Context) -> list[CloseCall]:
    """The ★ against its runners-up on the rows it was chosen on: those every finished
    model predicted out of fold (or the validation rows); not with --cv (one choice per
    outer fold)."""
    best = comparison.best
    ok = [r for r in comparison.results if r.ok and r.folds]
    if best is None or ctx.options.cv or len(ok) < 2:
        return []
    mask = common_rows([r.folds[0] for r in ok])
    rows = ctx.splits[0].rest[mask]
    valid = {r.label: r.folds[0].valid[mask] for r in ok}
    return close_calls(valid, best.label, ctx.y[rows], ctx.w[rows], ctx.options.metric,
                       ctx.seed)  # fmt: skip


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
    fold_by: str | None = None  # --fold-by, recorded in bagged model files

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
    """Fit ``entry`` on every outer split (on its folds, while ``limit`` has room) and
    score it; a model that fails (a diverging MLP, say) is reported, not fatal."""
    result = ModelResult(entry.label, entry.model, entry.stage)
    try:
        least = MIN_REFINE_FIT if entry.stage == "refine" else 0.0
        runs = [
            fit_folds(entry.model, ctx.schema_for(entry), ctx.frame, ctx.y, split,
                      entry.settings, limit, on_epoch, least)
            for split in ctx.splits
        ]  # fmt: skip
    except NncliError as exc:
        result.status, result.note = "failed", f"failed: {exc.message}"
        return result
    last = runs[-1]
    result.folds = [r.output for r in runs]
    result.fit_seconds = sum(r.fit_seconds for r in runs)
    result.predict_seconds = sum(r.predict_seconds for r in runs)
    result.fits = fits_words([r.output.fits for r in runs], len(ctx.splits[0].folds))
    result.predictor = _fold_predictor(entry, ctx, last.predictors)
    result.history, result.stop_reason = last.report.history, last.report.stop_reason
    result.n_params = last.predictors[0].card.n_params
    if last.report.stop_reason == "time_budget":
        result.note = "shortened by the time budget"
    _score(result, ctx)
    return result


def _fold_predictor(entry: Entry, ctx: _Context, predictors: list[Any]) -> Any:
    """One fit's predictor, or the fold models of a cross-fitted entry as one."""
    if len(predictors) == 1:
        return predictors[0]
    from nncli.learn.ensemble import EnsemblePredictor

    k = len(ctx.splits[0].folds)
    return EnsemblePredictor.bagged(predictors, entry.label, k, ctx.fold_by)


def _fold_mean(values: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([v[k] for v in values])) for k in values[0]}


def _score(result: ModelResult, ctx: _Context) -> None:
    """Metrics on the out-of-fold (validation) rows, for selection, and on the test rows,
    to report; bootstrap intervals (the same resamples for every model), the overtraining
    check and the signal efficiencies."""
    options, signal, y, w = ctx.options, ctx.signal, ctx.y, ctx.w
    splits, folds = ctx.splits, result.folds
    test = np.concatenate([s.test for s in splits])
    y_test, w_test = y[test], w[test]
    proba = result.proba = np.vstack([f.test for f in folds])
    result.boot = stats.bootstrap_metrics(y_test, proba, w_test, options.bootstrap, ctx.seed)
    fold_metrics = [
        metrics(y[s.test], f.test, w[s.test]) for s, f in zip(splits, folds, strict=False)
    ]
    result.valid = _valid_metrics(result, ctx, [common_rows([f]) for f in folds])
    result.test = _fold_mean(fold_metrics)
    if options.cv:
        result.std = {k: float(np.std([m[k] for m in fold_metrics])) for k in fold_metrics[0]}
    for name, samples in result.boot.items():
        result.low[name], result.high[name] = stats.interval(samples)
    result.train_index = np.concatenate([s.rest for s in splits])
    y_tr, w_tr = y[result.train_index], w[result.train_index]
    p_tr = np.vstack([f.train for f in folds])  # NaN where no fit trained on the row
    seen = np.isfinite(p_tr).all(axis=1)
    result.train = metrics(y_tr[seen], p_tr[seen], w_tr[seen])
    result.train_y, result.train_proba = y_tr, p_tr
    result.ks = _ks_per_class(y_tr[seen], p_tr[seen], y_test, proba, signal)
    if signal is not None:
        positive = y_test == signal
        result.efficiency = stats.signal_efficiency(positive, proba[:, signal], w_test)
        result.separation = stats.separation(positive, proba[:, signal], w_test)


def _valid_metrics(result: ModelResult, ctx: _Context, masks: list[np.ndarray]) -> dict:
    """The metrics of ``result``'s out-of-fold predictions on the rows ``masks`` keep
    (per outer split, over its rest), averaged over outer splits. The macro AUC leaves
    out a class with fewer than FEW_ROWS of those rows: a fold model that never saw the
    class scores it at random, and the choice would rest on one or two rows."""
    parts = []
    for split, out, mask in zip(ctx.splits, result.folds, masks, strict=True):
        rows = split.rest[mask]
        parts.append(stats.selection_metrics(ctx.y[rows], out.valid[mask], ctx.w[rows]))
    return _fold_mean(parts)


def _revalidate(results: list[ModelResult], ctx: _Context) -> None:
    """The validation metrics of every finished model on the same rows: those every one
    of them predicted out of fold (all training rows when all are cross-fitted alike),
    so that the ★ and the extra runs' choice compare like with like."""
    ok = [r for r in results if r.ok and r.folds]
    if not ok:
        return
    masks = [common_rows([r.folds[i] for r in ok]) for i in range(len(ctx.splits))]
    for r in ok:
        r.valid = _valid_metrics(r, ctx, masks)


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
    for i, split in enumerate(ctx.splits):  # weights on the rows all members held out
        mask = common_rows([m.folds[i] for m in members])
        probas = [m.folds[i].valid[mask] for m in members]
        rows = split.rest[mask]
        weights = greedy_weights(probas, ctx.y[rows], ctx.w[rows])
        result.folds.append(
            FoldOutput(*(blend([getattr(m.folds[i], part) for m in members], weights)
                         for part in ("valid", "test", "train")),
                       min(m.folds[i].fits for m in members))
        )  # fmt: skip
    chosen = [(m, float(wt)) for m, wt in zip(members, weights, strict=True) if wt > 0]
    result.note = "weights " + ", ".join(f"{m.label} {wt:.2f}" for m, wt in chosen)
    if ctx.options.metric != "logloss":  # the blend's own proper score (assess/ensemble.py)
        result.note += f"; chosen by log loss, the models ranked by {ctx.options.metric}"
    result.n_params = sum(m.n_params for m, _ in chosen)
    result.fit_seconds = time.perf_counter() - started + sum(m.fit_seconds for m, _ in chosen)
    result.predict_seconds = sum(m.predict_seconds for m, _ in chosen)
    if all(m.predictor is not None for m, _ in chosen):
        card = ModelCard("ensemble", {"members": {m.label: wt for m, wt in chosen}},
                         result.n_params)  # fmt: skip
        result.predictor = EnsemblePredictor.blend(  # type: ignore[assignment]
            [m.predictor for m, _ in chosen], [m.label for m, _ in chosen],
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
    test = stats.paired_rows(
        metric, a.test[metric] - b.test[metric], comparison.y_test, comparison.w_test,
        a.proba, b.proba, a.boot, b.boot, comparison.options.bootstrap,
        use_delong=not comparison.options.cv,
    )  # fmt: skip
    if metric == "auc" and test.p_value < stats.ALPHA and comparison.few_rows:
        test.few_rows = _without_few_rows(comparison, a, b)
    return test


def _without_few_rows(comparison: Comparison, a: ModelResult, b: ModelResult) -> str:
    """Why a significant AUC difference is not called so (:func:`stats.without_few_rows`)."""
    assert a.proba is not None and b.proba is not None
    return stats.without_few_rows(
        comparison.y_test, comparison.w_test, a.proba, b.proba, comparison.schema.classes,
        comparison.few_rows, comparison.options.bootstrap, comparison.seed,
    )  # fmt: skip


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
