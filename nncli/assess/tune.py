"""``nncli tune``: search a model's settings with Optuna, on the rows compare chooses on.

The test rows are held out first (as compare does) and never seen by the search. Each
trial fits the model on the rest — cross-fitted on small data (K folds, scored out of
fold on every row), one validation split on large data — and is scored by the metric
on those rows. The first trial of a study is the model as set (its defaults and the
settings given); the second the model's config from compare's portfolio, if it has one
(:func:`warm_starts`); the others come from Optuna's TPE sampler over the rows of the
settings table that carry a search space (:class:`nncli.config.Search`) and were not
given. A median pruner stops a trial that is worse than the median of the finished ones
at the same point: after each fold when cross-fitted, and for the MLP on its learning
curve (the validation loss by epoch) in the first fit. The trees are not pruned by
round: their loss at a round depends on the learning rate being searched.

A study lives in memory, or in an Optuna storage (``--storage``: an SQLite, PostgreSQL
or MySQL URL, or ``journal:FILE``) under a name, so a second ``nncli tune`` resumes it
and several processes (on one machine or several) share it: Optuna's own distributed
mode. The study records what makes its trials comparable (the data's SHA-256, model,
metric, seed, split and fixed settings); a run that differs is refused.

At the end the best trial is kept only when it beats the first (the settings as given)
significantly on the search rows, out of fold: by the paired test compare uses, and as
the best of the finished trials (:func:`nncli.assess.stats.best_of_test`, Hansen's test
for superior predictive ability). A best of many trials is partly luck: on spambase the
best of 36 beat the first by 0.0014 out of fold, p = 0.014 tested alone and 0.06 as the
best of 36 (an earlier best of 24, kept, was 0.0012 below it on the test rows). Else the
settings as given are the result. The result and the first trial are scored on the test
rows once, with a paired test of the difference; ``ensemble`` N averages the N best.
"""

from __future__ import annotations

import math
import os
import socket
import time
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from nncli.assess import stats
from nncli.assess.crossfit import Split, auto_bag, make_splits
from nncli.assess.evaluate import HIGHER_IS_BETTER, metrics
from nncli.assess.trial_store import TrialStore, journal_file, predictions_dir
from nncli.config import TABLES, Setting, Settings, SettingsTable
from nncli.errors import ConfigError, NncliError
from nncli.learn.models import MODELS

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from nncli.prepare.schema import Schema

#: intermediate values: fold k's end at step (k+1)·FOLD_STEP; epochs of the first fit
#: at their own number (below FOLD_STEP), so every report's step grows
FOLD_STEP = 100_000
#: the pruner waits for this many finished trials, and an MLP for this many epochs (at 10,
#: credit_g's trials with learning rates below 1e-3 were all pruned: slow starters)
PRUNE_STARTUP, PRUNE_WARMUP = 5, 20
#: tree and linear trials are cross-fitted (5 folds) up to this many rows, where compare
#: uses one split above 20,000: on adult (39,073 rows) the tuned gbt's test AUC went
#: 0.9329 -> 0.9339 with 5 folds at the same 5-minute budget, covertype 0.9870 -> 0.9871
#: (benchmarks/tune.py); an MLP trial costs too much for that on 2 cores
TREE_BAG_ROWS, TREE_BAG_K = 200_000, 5
#: the best trial is tested as the best of the finished trials: the out-of-fold
#: probabilities of this process's best trials are kept for it (float32), as many as fit
#: in this many bytes (adult: 200 trials; a million rows: 8), and at least BEST_OF_MIN
BEST_OF_BYTES, BEST_OF_MIN = 64 << 20, 8
WORKER = f"{socket.gethostname()}:{os.getpid()}"
STORAGE_HINT = "pass an SQLAlchemy URL (sqlite:///study.db, postgresql://…) or journal:FILE."


@dataclass
class TuneOptions:
    """What to search and how long; how to split and score (as compare does)."""

    models: tuple[str, ...]
    trials: int | None = None  # finished trials per model, all processes together
    time_budget: float | None = 300.0  # seconds for every model together
    metric: str = "auc"
    test_size: float = 0.2
    storage: str | None = None
    study: str | None = None  # the name; each model's study is NAME.MODEL
    ensemble: int = 0  # also average the N best trials
    bootstrap: int = 1000
    #: where the trials' out-of-fold probabilities are kept for every process's best-of
    #: test (None: beside a file storage, see :func:`trial_store.predictions_dir`)
    predictions_dir: str | None = None

    def __post_init__(self) -> None:
        from nncli.assess.plan import METRIC_ALIASES

        if self.metric not in METRIC_ALIASES:
            raise ConfigError(f"unknown --metric {self.metric!r}",
                              "pass auc, accuracy, balanced_accuracy or logloss.")  # fmt: skip
        self.metric = METRIC_ALIASES[self.metric]


@dataclass
class TrialRow:
    """One trial as the report shows it."""

    number: int
    state: str  # complete, pruned, failed, running, waiting
    value: float | None
    values: dict[str, Any]  # the settings it tried (the searched ones)
    seconds: float | None
    default: bool = False
    worker: str = ""
    note: str = ""
    portfolio: bool = False  # the portfolio's config of the model (:func:`warm_starts`)


@dataclass
class Scored:
    """A fitted candidate: its search score, test probabilities, predictor, seconds."""

    label: str
    valid: float
    test_proba: np.ndarray | None  # predicted when the trial is reported (None until then)
    test: dict[str, float] = field(default_factory=dict)
    predictor: Any = None
    fit_seconds: float = 0.0
    oof: np.ndarray | None = None  # out-of-fold probabilities on the rest


@dataclass
class ModelTuning:
    """One model's study and what it found."""

    model: str
    study: str
    space: dict[str, str]  # setting → its search space in words
    trials: list[TrialRow]
    fixed: dict[str, Any] = field(default_factory=dict)  # the settings given (kept as set)
    bag: int = 1  # K folds per trial (1: one validation split)
    n_valid: int = 0  # the rows each trial is scored on
    ran_here: int = 0
    best: TrialRow | None = None
    best_values: dict[str, Any] = field(default_factory=dict)
    tuned: Scored | None = None
    default: Scored | None = None
    ensemble: Scored | None = None
    paired: stats.PairedTest | None = None  # tuned minus default, on the test rows
    #: the best trial minus the first, out of fold on the search rows: what keeps it
    search_test: stats.PairedTest | None = None
    #: ... and tested as the best of the finished trials (what luck alone would give)
    best_of: stats.BestOf | None = None
    chosen_among: int = 0  # the finished trials besides the first that the best led
    passed_over: TrialRow | None = None  # the best trial, not kept: not clearly better
    interrupted: bool = False
    note: str = ""

    @property
    def best_searched(self) -> TrialRow | None:
        """The trial that scored best on the search rows, kept or passed over."""
        return self.passed_over or self.best


@dataclass
class Tuning:
    """What ``tune`` did over every model."""

    source: str
    schema: Schema
    metric: str
    rows: dict[str, int]  # search (the rows the search may see), test, total
    models: list[ModelTuning]
    seed: int
    storage: str | None = None
    elapsed: float = 0.0
    interrupted: bool = False
    sha256: str = ""
    preset: str = "default"  # the run's preset (decides the settings not searched)

    @property
    def best(self) -> ModelTuning | None:
        """The model whose best trial scored best on the search rows."""
        done = [m for m in self.models if m.tuned is not None]
        sign = 1 if HIGHER_IS_BETTER[self.metric] else -1
        return max(done, key=lambda m: sign * m.tuned.valid) if done else None  # type: ignore[union-attr]


def optuna_module() -> Any:
    """Optuna, or one clear error naming the extra."""
    try:
        import optuna
    except ImportError:
        raise ConfigError(
            "nncli tune needs the tune extra, and optuna is not installed",
            "pip install 'nncli[tune]'",
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


# ---------------------------------------------------------------- the search space


def search_space(model: str, settings: Settings) -> list[Setting]:
    """The rows of ``model``'s table that it reads, that carry a search space and whose
    value was not given (a given value is kept in every trial)."""
    table_name = MODELS[model].config
    if table_name is None:
        raise ConfigError(f"-m {model} has no settings to tune",
                          "tune gbt, catboost, mlp, logreg or fisher.")  # fmt: skip
    table, given = TABLES[table_name], settings.table(table_name).given
    return [r for r in table if r.search and table.applies(r.name, model) and r.name not in given]


def warm_starts(model: str, space: list[Setting], settings: Settings) -> list[dict[str, Any]]:
    """The portfolio's configs of ``model`` (chosen offline for compare's anytime stage,
    portfolio.json) as trial parameters: the config's values, and the settings as given
    for the rest of the space, so that the trial is the config as compare runs it. A
    value outside its range is moved to the nearest end (the gbt's L1/L2 of 0 to 1e-8); a
    config with a value that is not one of a setting's choices is left out."""
    from nncli.assess.plan import portfolio_configs
    from nncli.config import parse_variant

    table_name = MODELS[model].config or ""
    table, current = TABLES[table_name], settings.table(table_name)
    starts = []
    for config in portfolio_configs():
        if config["model"] != model:
            continue
        values = parse_variant(config["variant"], table, model)
        params = {r.name: _param(r, values.get(r.name, getattr(current, r.name)), table)
                  for r in space}  # fmt: skip
        if params and None not in params.values():
            starts.append(params)
    return starts


def _param(row: Setting, value: Any, table: SettingsTable) -> Any:
    """A setting's value as the trial parameter that gives it (None: not in the space)."""
    s = row.search
    assert s is not None
    if s.choices:
        return next((c for c in s.choices if row.coerce(c, table) == value), None)
    low, high = s.low, s.high
    assert low is not None and high is not None
    clipped = min(max(value, low), high)
    return int(clipped) if row.type is int else float(clipped)


def suggest(trial: Any, table: SettingsTable, space: list[Setting]) -> dict[str, Any]:
    """One value per row, drawn by the trial (Optuna's sampler), as settings values."""
    params = {}
    for row in space:
        s = row.search
        assert s is not None
        if s.choices:
            params[row.name] = trial.suggest_categorical(row.name, list(s.choices))
        elif row.type is int:
            params[row.name] = trial.suggest_int(row.name, int(s.low), int(s.high), log=s.log)  # type: ignore[arg-type]
        else:
            params[row.name] = trial.suggest_float(row.name, s.low, s.high, log=s.log)
    return settings_values(table, params)


def settings_values(table: SettingsTable, params: dict[str, Any]) -> dict[str, Any]:
    """A trial's parameters as settings values (choices are text: "256,256" → (256, 256))."""
    return {name: table.rows[name].coerce(value, table) for name, value in params.items()}


def with_values(settings: Settings, table_name: str, values: dict[str, Any]) -> Settings:
    """``settings`` with ``values`` set in the table ``table_name``."""
    from dataclasses import replace

    if not values:
        return settings
    return replace(settings, **{table_name: settings.table(table_name).replace(**values)})


# ------------------------------------------------------------------------ studies


def open_storage(optuna: Any, storage: str | None) -> Any:
    """None (in memory), an RDB storage from a URL, or a journal file (``journal:FILE``,
    or a path ending in .log or .journal)."""
    if storage is None:
        return None
    path = journal_file(storage)
    try:
        if path is not None:
            from optuna.storages import JournalStorage
            from optuna.storages.journal import JournalFileBackend

            return JournalStorage(JournalFileBackend(path))
        return _rdb(optuna, storage)
    except ImportError as exc:
        raise ConfigError(f"--storage {storage}: {exc}",
                          "install the database's Python driver (e.g. psycopg2 for "
                          "postgresql://), or use sqlite:///study.db.") from None  # fmt: skip
    except Exception as exc:  # SQLAlchemy's URL and connection errors, OS errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"--storage {storage}: cannot open it ({first})", STORAGE_HINT) from None


def _rdb(optuna: Any, url: str, tries: int = 5) -> Any:
    """An RDB storage; processes that create the same new database at once race on its
    schema (one of them fails on a unique constraint), so a failure is tried again after
    a moment, when the other has made it."""
    for attempt in range(tries):
        try:
            return optuna.storages.RDBStorage(url)
        except ImportError:
            raise
        except Exception:
            if attempt == tries - 1 or "://" not in url or url.split("://")[0] not in _RETRIED:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


#: the databases whose creation is retried (the others fail for a reason to say at once)
_RETRIED = ("sqlite", "postgresql", "mysql", "mysql+pymysql", "postgresql+psycopg2")


def check_identity(study: Any, identity: dict[str, Any], storage: str) -> None:
    """A study made by another file or other settings is refused; a new one records
    ``identity``."""
    stored = study.user_attrs.get("nncli")
    if stored is None:
        if study.get_trials(deepcopy=False):
            raise ConfigError(
                f"study {study.study_name!r} in {storage} was not made by nncli tune",
                "pass another --study name.",
            )
        study.set_user_attr("nncli", identity)
        return
    for key, value in identity.items():
        if stored.get(key) != value:
            was = stored.get(key)
            what = (f"another file (SHA-256 {str(was)[:12]}…)" if key == "sha256"
                    else f"{key} {was!r} (this run: {value!r})")  # fmt: skip
            raise ConfigError(
                f"study {study.study_name!r} in {storage} was made with {what}; its trials "
                "are not comparable with this run's",
                "pass another --study name, or the file and settings it was made with.",
            )


def is_first(trial: Any) -> bool:
    """Whether a trial runs the settings as given: a study's first, whoever starts it (the
    storage numbers trials atomically; an enqueued first trial raced: two processes that
    started together each found none and enqueued one)."""
    return trial.number == 0 or bool(trial.user_attrs.get("default"))


def trial_rows(study: Any, table: SettingsTable) -> list[TrialRow]:
    """Every trial of the study, as the report shows it."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        state = t.state.name.lower().replace("fail", "failed")
        value = t.value if state == "complete" else None
        seconds = t.user_attrs.get("seconds")
        note = t.user_attrs.get("note", "")
        default = bool(t.user_attrs.get("default"))
        values = {} if default else settings_values(table, t.params)
        rows.append(TrialRow(t.number, state, value, values, seconds, default,
                             t.user_attrs.get("worker", ""), note,
                             bool(t.user_attrs.get("portfolio"))))  # fmt: skip
    return rows


# ----------------------------------------------------------------------- trials


@dataclass
class _Ctx:
    """The rows every trial is fitted and scored on, and the clock."""

    frame: pd.DataFrame
    y: np.ndarray
    w: np.ndarray
    schema: Schema
    split: Split
    options: TuneOptions
    settings: Settings
    deadline: float | None = None
    source: str = ""
    sha256: str = ""

    def left(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.perf_counter()

    def score(self, oof: np.ndarray) -> float:
        """The metric on the rows of the rest predicted out of fold so far, as compare
        chooses (a class of fewer than 5 such rows left out of the macro AUC)."""
        mask = np.isfinite(oof).all(axis=1)
        rows = self.split.rest[mask]
        chosen = stats.selection_metrics(self.y[rows], oof[mask], self.w[rows])
        return chosen[self.options.metric]


class _Curve:
    """The MLP's learning curve to the pruner: the best validation loss so far at each
    epoch of the first fit (negated when the metric grows); and the time budget, checked
    every epoch of every fit. The MLP is given no time limit of its own: it would fit its
    schedule into the time left, and the trial would not be the settings it names."""

    def __init__(self, trial: Any, sign: int, deadline: float | None) -> None:
        self.trial, self.sign, self.deadline, self.best = trial, sign, deadline, math.inf
        self.report = True  # the first fit only

    def __call__(self, record: dict[str, Any]) -> None:
        if self.deadline is not None and time.perf_counter() > self.deadline:
            raise optuna_module().TrialPruned("stopped: the time budget ran out")
        loss, epoch = record.get("valid_loss"), int(record.get("epoch", 0))
        if not self.report or loss is None or not math.isfinite(loss) or not 0 < epoch < FOLD_STEP:
            return
        self.best = min(self.best, float(loss))
        self.trial.report(-self.sign * self.best, epoch)
        if self.trial.should_prune():
            raise optuna_module().TrialPruned(f"pruned at epoch {epoch} of its first fit")


class _Objective:
    """Fits one trial's settings on the folds and returns its score; keeps the fits of
    the best few (and the first trial's) of this process for the end."""

    def __init__(self, ctx: _Ctx, model: str, space: list[Setting], keep: int,
                 on_trial: Callable[..., None] | None,
                 store: TrialStore | None = None) -> None:  # fmt: skip
        self.ctx, self.model, self.space, self.keep = ctx, model, space, keep
        self.on_trial, self.store = on_trial, store
        #: the portfolio's configs of the model, the trials after the first
        self.warm = warm_starts(model, space, ctx.settings) if space else []
        self.table_name = MODELS[model].config or ""
        self.sign = 1 if HIGHER_IS_BETTER[ctx.options.metric] else -1
        self.kept: dict[int, Scored] = {}
        #: the best trials' scores and out-of-fold probabilities, for the best-of test
        self.pool: dict[int, tuple[float, np.ndarray]] = {}
        self.default_number: int | None = None
        self.ran = 0

    def __call__(self, trial: Any) -> float:
        optuna = optuna_module()
        default = is_first(trial)
        values = {} if default else suggest(trial, TABLES[self.table_name], self.space)
        trial.set_user_attr("worker", WORKER)
        if default:
            trial.set_user_attr("default", True)
            for params in self.warm:  # once, by the process that runs the first trial
                trial.study.enqueue_trial(params, user_attrs={"portfolio": True})
        if self.on_trial is not None:
            self.on_trial(self.model, trial.number, values, default)
        started = time.perf_counter()
        self.ran += 1
        try:
            scored = self.fit(trial, values, f"{self.model}#{trial.number}")
        except NncliError as exc:  # a diverging MLP, say: this trial failed, not the search
            trial.set_user_attr("note", f"failed: {exc.message}")
            return float("nan")
        except optuna.TrialPruned as exc:
            trial.set_user_attr("note", str(exc))
            raise
        finally:
            trial.set_user_attr("seconds", round(time.perf_counter() - started, 3))
        self._keep(trial.number, scored, default)
        if self.store is not None and scored.oof is not None and math.isfinite(scored.valid):
            self.store.put(trial, scored.oof)  # for the other processes' best-of tests
        return scored.valid

    def fit(self, trial: Any, values: dict[str, Any], label: str) -> Scored:
        """Fit ``values`` on every fold (``trial``: reported to, and pruned by; None for a
        refit at the end)."""
        ctx, split = self.ctx, self.ctx.split
        settings = with_values(ctx.settings, self.table_name, values)
        k_folds, oof = len(split.folds), np.full((len(split.rest), len(ctx.schema.classes)), np.nan)
        predictors: list[Any] = []
        seconds, score = 0.0, math.nan
        epochs = MODELS[self.model].unit == "epoch"  # the MLP: watched by epoch (_Curve)
        curve = _Curve(trial, self.sign, ctx.deadline) if trial and epochs else None
        for k, fold in enumerate(split.folds):
            left = ctx.left()
            if trial is not None and left is not None and (left <= 0 or (k and seconds / k > left)):
                raise optuna_module().TrialPruned(
                    f"stopped: the time budget ran out after {k} of {k_folds} fits"
                )
            if curve is not None:
                curve.report = k == 0
            fitted = self._fit_one(split, k, settings, curve, left if trial else None)
            oof[split.position(fold)] = fitted.predictor.predict_proba_matrix(fitted.X_valid)
            predictors.append(fitted.predictor)
            seconds += fitted.fit_seconds
            score = ctx.score(oof)
            if trial is not None and k + 1 < k_folds:
                trial.report(score, (k + 1) * FOLD_STEP)
                if trial.should_prune():
                    raise optuna_module().TrialPruned(f"pruned after fit {k + 1} of {k_folds}")
        predictor = predictors[0] if k_folds == 1 else _bagged(predictors, label, k_folds, settings)
        return Scored(label, score, None, predictor=predictor, fit_seconds=seconds, oof=oof)

    def _fit_one(self, split: Split, k: int, settings: Settings, curve: _Curve | None,
                 left: float | None) -> Any:  # fmt: skip
        """Fold ``k``'s fit; only its validation rows are predicted (the test rows are
        predicted at the end, for the trials that are reported)."""
        from nncli.learn.fitting import fit_model

        ctx, train, valid = self.ctx, split.training(k), split.folds[k]
        limit = left if curve is None else None  # the MLP is watched by epoch instead
        fitted = fit_model(self.model, ctx.schema, ctx.frame.iloc[train], ctx.y[train],
                           ctx.frame.iloc[valid], ctx.y[valid], settings, curve, limit)  # fmt: skip
        if fitted.report.stop_reason == "interrupted":
            raise KeyboardInterrupt  # Ctrl-C stops the search, not this fit
        if fitted.report.stop_reason == "time_budget":
            raise optuna_module().TrialPruned("stopped: the time budget ran out")
        return fitted

    def _keep(self, number: int, scored: Scored, default: bool) -> None:
        self.kept[number] = scored
        if default:
            self.default_number = number
        ranked = sorted((n for n in self.kept if n != self.default_number),
                        key=lambda n: -self.sign * self.kept[n].valid)  # fmt: skip
        for n in ranked[self.keep :]:
            del self.kept[n]
        if not default and scored.oof is not None and math.isfinite(scored.valid):
            self.pool[number] = (scored.valid, scored.oof.astype(np.float32))
            pooled = sorted(self.pool, key=lambda n: -self.sign * self.pool[n][0])
            for n in pooled[_best_of_room(scored.oof) :]:
                del self.pool[n]

    def scored(self, trial: Any) -> Scored:
        """A finished trial's fit: kept by this process, or fitted again once (another
        process ran it; the seed makes it the same fit)."""
        if trial.number in self.kept:
            return self.kept[trial.number]
        default = is_first(trial)
        values = {} if default else settings_values(TABLES[self.table_name], trial.params)
        refit = self.fit(None, values, f"{self.model}#{trial.number}")
        self.kept[trial.number] = refit  # the end asks for it again (test, model, ensemble)
        return refit


def _bagged(predictors: list[Any], label: str, k: int, settings: Settings) -> Any:
    from nncli.learn.ensemble import EnsemblePredictor

    return EnsemblePredictor.bagged(predictors, label, k, settings.run.fold_by)


# ---------------------------------------------------------------------- the run


def run_tuning(
    frame: pd.DataFrame, y: np.ndarray, w: np.ndarray, schema: Schema, source: str,
    sha256: str, options: TuneOptions, settings: Settings,
    on_trial: Callable[..., None] | None = None, on_done: Callable[..., None] | None = None,
    on_plan: Callable[[str], None] | None = None, storage: Any = None,
) -> Tuning:  # fmt: skip
    """Tune each of ``options.models`` in turn (the time budget shared equally among the
    models still to go), then score each one's best on the test rows. ``storage``:
    ``options.storage`` already opened (:func:`open_storage`), else it is opened here."""
    from nncli.prepare.preprocess import coded_categories

    optuna = optuna_module()
    started = time.perf_counter()
    storage = storage if storage is not None else open_storage(optuna, options.storage)
    coded = coded_categories(frame, schema, keep=[settings.run.fold_by or ""])
    deadline = None if options.time_budget is None else started + options.time_budget
    results: list[ModelTuning] = []
    for i, model in enumerate(options.models):
        split = _split(y, options, settings, frame, on_plan, model)
        ctx = _Ctx(coded, y, w, schema, split, options, settings, None, source, sha256)
        if deadline is not None:
            ctx.deadline = time.perf_counter() + (deadline - time.perf_counter()) / (
                len(options.models) - i)  # fmt: skip
        results.append(_tune_model(optuna, ctx, model, storage, on_trial, on_done))
        if results[-1].interrupted:
            break
    rows = {"search": len(split.rest), "test": len(split.test), "total": len(y)}
    return Tuning(source, schema, options.metric, rows, results, settings.run.seed,
                  options.storage, time.perf_counter() - started,
                  any(r.interrupted for r in results), sha256, settings.run.preset)  # fmt: skip


def tune_bag(n_rest: int, model: str) -> int:
    """K folds per trial: compare's choice, and for the trees and linear models 5 folds
    up to :data:`TREE_BAG_ROWS` rows."""
    if MODELS[model].stage == "refine" or n_rest < 20_000 or n_rest > TREE_BAG_ROWS:
        return auto_bag(n_rest)
    return TREE_BAG_K


def _split(
    y: np.ndarray, options: TuneOptions, settings: Settings, frame: pd.DataFrame,
    on_plan: Callable[[str], None] | None, model: str = "gbt",
) -> Split:  # fmt: skip
    """compare's split: the same test rows for the same seed, and folds for ``model``'s
    trials (:func:`tune_bag`)."""
    from nncli.assess.plan import CompareOptions
    from nncli.prepare.dataset import fold_numbers

    n_rest = len(y) - round(len(y) * options.test_size)
    given = settings.run.bag is not None
    bag = settings.run.bag if given else tune_bag(n_rest, model)
    if settings.run.fold_by and bag == 1:
        raise ConfigError("--fold-by assigns the folds of --bag, which is 1 here",
                          "pass --bag K (e.g. --bag 5) with --fold-by.")  # fmt: skip
    fold_of = fold_numbers(frame, settings.run.fold_by, bag) if settings.run.fold_by else None
    split_options = CompareOptions(models=options.models, test_size=options.test_size)
    split = make_splits(y, split_options, settings.run.seed, settings.run.valid_size, bag,
                        None, fold_of)[0]  # fmt: skip
    if on_plan is not None:
        on_plan(f"{model}: " + _plan_words(split, bag, given))
    return split


def _plan_words(split: Split, bag: int, given: bool) -> str:
    why = "--bag" if given else f"automatic for {len(split.rest):,} rows"
    if bag > 1:
        fitted = (f"each trial is fitted {bag} times (cross-fitting, {why}) and scored on its "
                  f"out-of-fold predictions of {len(split.rest):,} rows")  # fmt: skip
    else:
        fitted = (f"each trial is fitted once and scored on {len(split.folds[0]):,} validation "
                  f"rows ({why}; --bag K to cross-fit)")  # fmt: skip
    return f"{fitted}; the {len(split.test):,} test rows are scored once, at the end"


def _identity(ctx: _Ctx, model: str) -> dict[str, Any]:
    """What makes two runs' trials comparable."""
    table = MODELS[model].config or ""
    config = ctx.settings.table(table)
    fixed = {k: v for k, v in config.to_dict().items() if k in config.given}
    run = ctx.settings.run
    return {"sha256": ctx.sha256, "model": model, "metric": ctx.options.metric, "seed": run.seed,
            "test_size": ctx.options.test_size, "bag": len(ctx.split.folds), "preset": run.preset,
            "fixed": fixed, "rows": len(ctx.y)}  # fmt: skip


def _tune_model(
    optuna: Any, ctx: _Ctx, model: str, storage: Any,
    on_trial: Callable[..., None] | None, on_done: Callable[..., None] | None,
) -> ModelTuning:  # fmt: skip
    """Open (or resume) the model's study, run trials until the budget or the trial count
    is reached, and conclude."""
    opts, table_name = ctx.options, MODELS[model].config or ""
    space = search_space(model, ctx.settings)
    study = _study(optuna, opts, model, ctx.settings.run.seed, storage)
    identity = _identity(ctx, model)
    check_identity(study, identity, opts.storage or "memory")
    where = predictions_dir(opts.storage, opts.predictions_dir)
    store = TrialStore(where, storage) if where and storage is not None else None
    objective = _Objective(ctx, model, space, max(opts.ensemble, 1), on_trial, store)
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    to_go = None if opts.trials is None else opts.trials - len(study.get_trials(states=states))
    left, interrupted = ctx.left(), False
    if (to_go is None or to_go > 0) and (left is None or left > 0):
        callbacks: list[Any] = [_Done(model, TABLES[table_name], on_done)]
        if opts.trials is not None:  # all processes together
            callbacks.append(optuna.study.MaxTrialsCallback(opts.trials, states=states))
        try:
            study.optimize(objective, n_trials=to_go, timeout=left, callbacks=callbacks)
        except KeyboardInterrupt:  # Ctrl-C: the trial running is failed, the rest kept
            interrupted = True
    result = ModelTuning(model, study.study_name,
                         {r.name: r.search.describe() for r in space if r.search},
                         trial_rows(study, TABLES[table_name]), identity["fixed"],
                         ran_here=objective.ran, interrupted=interrupted)  # fmt: skip
    folds = ctx.split.folds
    result.bag, result.n_valid = (
        len(folds),
        len(ctx.split.rest) if len(folds) > 1 else len(folds[0]),
    )
    if not space:
        result.note = "nothing to search: every setting with a search space was given"
    _conclude(result, study, objective, ctx)
    return result


def _study(optuna: Any, opts: TuneOptions, model: str, seed: int, storage: Any) -> Any:
    """The model's study (``NAME.MODEL``), created or loaded; the sampler's seed is the
    run's, and in a shared storage also the process's, so that processes sharing a study
    do not draw the same settings."""
    own = zlib.crc32(WORKER.encode())
    sampler_seed = seed if storage is None else (seed * 1_000_003 + own) % 2**31
    direction = "maximize" if HIGHER_IS_BETTER[opts.metric] else "minimize"
    try:
        return optuna.create_study(
            storage=storage, study_name=f"{opts.study or 'nncli'}.{model}",
            direction=direction, load_if_exists=True,
            sampler=optuna.samplers.TPESampler(seed=sampler_seed),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=PRUNE_STARTUP,
                                               n_warmup_steps=PRUNE_WARMUP),
        )  # fmt: skip
    except ValueError as exc:  # e.g. the stored study optimises the other way
        raise ConfigError(f"--study {opts.study}: {exc}", "pass another --study name.") from None


class _Done:
    """After each trial: its row and the best value so far, to ``on_done``."""

    def __init__(self, model: str, table: SettingsTable, on_done: Callable[..., None] | None):
        self.model, self.table, self.on_done = model, table, on_done

    def __call__(self, study: Any, frozen: Any) -> None:
        if self.on_done is None:
            return
        row = trial_rows(_One(frozen), self.table)[0]
        complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
        best = study.best_value if complete else None
        self.on_done(self.model, row, best)


@dataclass
class _One:
    """One frozen trial, read like a study by :func:`trial_rows`."""

    trial: Any

    def get_trials(self, deepcopy: bool = False) -> list[Any]:
        return [self.trial]


# ------------------------------------------------------------------- conclusions


def _conclude(result: ModelTuning, study: Any, objective: _Objective, ctx: _Ctx) -> None:
    """The best trial and the first (the settings as given) on the test rows once, the
    paired test of their difference, and the ensemble of the best N."""
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if not complete:
        result.note = result.note or "no trial finished"
        return
    best, table = study.best_trial, TABLES[objective.table_name]
    default = next((t for t in complete if t.user_attrs.get("default")), None)
    if default is not None and default.number != best.number:
        best = _kept(result, best, default, complete, objective, ctx)
    result.best = next(r for r in result.trials if r.number == best.number)
    if best.user_attrs.get("default"):  # the searched settings as they were given
        config = ctx.settings.table(objective.table_name)
        result.best_values = {r.name: getattr(config, r.name) for r in objective.space}
    else:
        result.best_values = settings_values(table, best.params)
    result.tuned = _tested(objective.scored(best), ctx)
    if default is not None:
        result.default = _tested(objective.scored(default), ctx)
    if default is not None and default.number != best.number:
        result.paired = paired(result.tuned, result.default, ctx)
    if ctx.options.ensemble > 1 and len(complete) > 1:
        sign = objective.sign
        top = sorted(complete, key=lambda t: -sign * t.value)[: ctx.options.ensemble]
        members = [_tested(objective.scored(t), ctx) for t in top]
        result.ensemble = _tested(_blend(members, ctx), ctx)


def _kept(result: ModelTuning, best: Any, default: Any, complete: list[Any],
          objective: _Objective, ctx: _Ctx) -> Any:  # fmt: skip
    """The trial that is the result: the best if it beats the first (the settings as given)
    significantly out of fold on the search rows, alone and as the best of the finished
    trials; else the first."""
    best_fit, default_fit = objective.scored(best), objective.scored(default)
    result.search_test = search_test(best_fit, default_fit, ctx)
    result.chosen_among = sum(1 for t in complete if t.number != default.number)
    result.best_of = best_of(best.number, best_fit, default_fit, objective, ctx, complete)
    lucky = math.isfinite(result.best_of.p_value) and not result.best_of.significant
    if clearly_better(result.search_test) and not lucky:
        return best
    result.passed_over = next(r for r in result.trials if r.number == best.number)
    return default


def best_of(number: int, best: Scored, default: Scored, objective: _Objective,
            ctx: _Ctx, complete: list[Any]) -> stats.BestOf:  # fmt: skip
    """The best trial (``number``) minus the first, out of fold on the search rows, tested
    as the best of the finished trials (``complete``) whose predictions are at hand: a best
    of many is partly luck."""
    assert best.oof is not None and default.oof is not None
    oofs = _best_of_pool(number, best.oof, objective, complete)
    mask = np.isfinite(default.oof).all(axis=1)
    for oof in oofs.values():
        mask &= np.isfinite(oof).all(axis=1)
    rows = ctx.split.rest[mask]
    candidates = [np.asarray(oof[mask], dtype=np.float64) for oof in oofs.values()]
    return stats.best_of_test(ctx.options.metric, ctx.y[rows], ctx.w[rows], default.oof[mask],
                              candidates, ctx.options.bootstrap, ctx.settings.run.seed)  # fmt: skip


def _best_of_pool(number: int, best_oof: np.ndarray, objective: _Objective,
                  complete: list[Any]) -> dict[int, np.ndarray]:  # fmt: skip
    """The out-of-fold probabilities the best-of test compares: the best trial's, and
    those of the other finished trials, best first, as many as BEST_OF_BYTES hold (at
    least BEST_OF_MIN): this process's own, and with a TrialStore the other processes'
    and earlier runs'. Without one, the trials this process ran."""
    held = {n: oof for n, (_, oof) in objective.pool.items()}
    if objective.store is None:
        return held | {number: best_oof}
    room = _best_of_room(best_oof)
    others = (t for t in complete if not is_first(t))
    ranked = sorted(others, key=lambda t: -objective.sign * t.value)
    oofs = {number: best_oof}
    for t in ranked[:room]:
        if t.number == number:
            continue
        oof = held.get(t.number)
        oof = objective.store.get(t, best_oof.shape) if oof is None else oof
        if oof is not None:
            oofs[t.number] = oof
    return oofs


def _best_of_room(oof: np.ndarray) -> int:
    """How many trials' out-of-fold probabilities (float32) the best-of test holds."""
    return max(BEST_OF_MIN, BEST_OF_BYTES // max(oof.size * 4, 1))


def _tested(scored: Scored, ctx: _Ctx) -> Scored:
    """The test metrics, also in the model's card with the data it was fitted on."""
    from nncli.io.card import DataInfo

    test, split = ctx.split.test, ctx.split
    if scored.test_proba is None:
        scored.test_proba = scored.predictor.predict_proba(ctx.frame.iloc[test], unseen="ignore")
    scored.test = metrics(ctx.y[test], scored.test_proba, ctx.w[test])
    card = scored.predictor.card
    card.metrics = {"test": scored.test}
    n_valid = len(split.rest) if len(split.folds) > 1 else len(split.folds[0])
    n_train = len(split.rest) if len(split.folds) > 1 else len(split.rest) - n_valid
    card.data = DataInfo(ctx.source, ctx.sha256, len(ctx.y), n_train, n_valid)
    return scored


def paired(a: Scored, b: Scored, ctx: _Ctx) -> stats.PairedTest:
    """a minus b on the test rows, as compare tests two models."""
    test, metric = ctx.split.test, ctx.options.metric
    point = a.test[metric] - b.test[metric]
    return _paired_on(ctx.y[test], ctx.w[test], a.test_proba, b.test_proba, point, ctx)


def search_test(a: Scored, b: Scored, ctx: _Ctx) -> stats.PairedTest:
    """a minus b on the search rows both predicted out of fold (their scores there)."""
    assert a.oof is not None and b.oof is not None
    mask = np.isfinite(a.oof).all(axis=1) & np.isfinite(b.oof).all(axis=1)
    rows = ctx.split.rest[mask]
    return _paired_on(ctx.y[rows], ctx.w[rows], a.oof[mask], b.oof[mask], a.valid - b.valid, ctx)


def clearly_better(test: stats.PairedTest) -> bool:
    """Whether a search-rows test keeps the best trial: better and significantly so, or
    better where nothing could be tested (``--bootstrap 0`` and no test without it)."""
    better = (test.difference > 0) == HIGHER_IS_BETTER[test.metric] and test.difference != 0
    return better and (test.significant or math.isnan(test.p_value))


def _paired_on(y: np.ndarray, w: np.ndarray, proba_a: np.ndarray, proba_b: np.ndarray,
               point: float, ctx: _Ctx) -> stats.PairedTest:  # fmt: skip
    """a minus b on these rows (DeLong, McNemar or the paired bootstrap); a significant
    AUC difference that rests on a class with fewer than FEW_ROWS of them is not called so."""
    metric, opts, seed = ctx.options.metric, ctx.options, ctx.settings.run.seed
    if metric == "auc" and proba_a.shape[1] == 2 and bool(np.all(w == 1)):
        boot: list[dict[str, np.ndarray]] = [{}, {}]  # DeLong needs no resamples
    else:
        boot = [stats.bootstrap_metrics(y, p, w, opts.bootstrap, seed) for p in (proba_a, proba_b)]
    result = stats.paired_rows(metric, point, y, w, proba_a, proba_b, boot[0], boot[1],
                               opts.bootstrap)  # fmt: skip
    counts = np.bincount(y, minlength=len(ctx.schema.classes))
    few = {k: int(n) for k, n in enumerate(counts) if n < stats.FEW_ROWS}
    if metric == "auc" and few and result.p_value < stats.ALPHA:
        classes = ctx.schema.classes
        result.few_rows = stats.without_few_rows(y, w, proba_a, proba_b, classes, few,
                                                 opts.bootstrap, seed)  # fmt: skip
    return result


def _blend(members: list[Scored], ctx: _Ctx) -> Scored:
    """The equal-weight mean of ``members``: scored out of fold on the rows they all
    predicted, and one model file."""
    from nncli.io.card import ModelCard
    from nncli.learn.ensemble import EnsemblePredictor

    n = len(members)
    oof = np.mean([m.oof for m in members], axis=0)
    proba = np.mean([m.test_proba for m in members], axis=0)
    labels = [m.label for m in members]
    n_params = sum(m.predictor.card.n_params for m in members)
    card = ModelCard("ensemble", {"members": {label: 1 / n for label in labels}}, n_params)
    predictor = EnsemblePredictor.blend([m.predictor for m in members], labels, [1 / n] * n, card)
    seconds = sum(m.fit_seconds for m in members)
    return Scored(f"mean of {n} best", ctx.score(oof), proba, predictor=predictor,
                  fit_seconds=seconds, oof=oof)  # fmt: skip
