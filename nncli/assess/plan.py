"""What ``compare`` runs and when: the entries (models and their variants, in stage
order) and a pure scheduler that shares the time budget among them.

Nothing here reads a clock or fits a model, so the scheduling is unit-tested with
made-up elapsed times.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nncli.config import TABLES, ColumnSpec, Settings, parse_variant
from nncli.errors import ConfigError, did_you_mean
from nncli.learn.models import DEFAULT_COMPARE, MODELS, require_installed

FEATURE_SETS = ("raw", "assisted")  # --feature-sets: without / with the derived columns
#: the anytime stage's extra runs of the best refining model, while the budget has room:
#: the other numeric scaling first (the ablation: robust + soft clip and standard each
#: win on 14 of 28 runs; hypothyroid 0.89 -> 0.97 with standard, glass the reverse), then
#: another seed; the ensemble's weights then choose among them on the validation rows
#: "portfolio": then the configs of portfolio.json (chosen offline on ../shared/data by
#: benchmarks/portfolio.py, leave-one-dataset-out), in order, each of a model compare ran
EXTRA_KINDS = ("scaler", "seed", "portfolio")  # what an extra run can change
EXTRA_RUNS = ("scaler", "seed")  # the default, in this order
PORTFOLIO = Path(__file__).with_name("portfolio.json")
OTHER_SCALER = {"robust": "standard", "standard": "robust"}
COMPARE_PRESET = "strong"  # compare's preset when none is given (train's is "default")

#: ``--metric`` names and aliases → metric keys of nncli.assess.evaluate.metrics
METRIC_ALIASES = {"auc": "auc", "accuracy": "accuracy", "balanced_accuracy": "balanced_accuracy",
                  "logloss": "log_loss", "log_loss": "log_loss"}  # fmt: skip


@dataclass(frozen=True)
class Entry:
    """One model (or variant) in the comparison."""

    label: str
    model: str
    settings: Settings
    raw: bool = False  # without the derived columns (--feature-sets raw)

    @property
    def stage(self) -> str:
        return MODELS[self.model].stage


@dataclass
class CompareOptions:
    """How to compare: which models (and variants), how to split, score and time it.

    ``variants`` maps a model name to its variant strings, e.g.
    ``{"mlp": ("activation=tanh",), "gbt": ("num_leaves=15",)}``; the variants of a
    model replace its plain entry.
    """

    models: tuple[str, ...] = tuple(DEFAULT_COMPARE)
    variants: dict[str, tuple[str, ...]] = field(default_factory=dict)
    metric: str = "auc"
    test_size: float = 0.2
    cv: int | None = None
    bootstrap: int = 1000
    time_budget: float | None = None
    signal: str | None = None
    extra_runs: tuple[str, ...] = EXTRA_RUNS  # with a budget and the ensemble (see below)
    feature_sets: tuple[str, ...] = ()  # "raw", "assisted": with/without derived columns

    def __post_init__(self) -> None:
        for name in self.feature_sets:
            if name not in FEATURE_SETS:
                raise ConfigError(
                    f"unknown feature set {name!r} in --feature-sets",
                    "pass --feature-sets raw,assisted (raw: without the --feature columns).",
                )
        if self.metric not in METRIC_ALIASES:
            raise ConfigError(
                f"unknown --metric {self.metric!r}",
                did_you_mean(self.metric, METRIC_ALIASES, "metric"),
            )
        self.metric = METRIC_ALIASES[self.metric]
        for name in [*self.models, *self.variants]:
            if name not in MODELS:
                raise ConfigError(
                    f"unknown model {name!r} in --models", did_you_mean(name, MODELS, "model")
                )
        for name in self.models:
            require_installed(name)
        for name, texts in self.variants.items():
            table = MODELS[name].config
            if texts and table is None:
                raise ConfigError(f"{name} has no settings to vary", "leave out --" + name + ".")
            for text in texts:  # bad variants fail before any work
                parse_variant(text, TABLES[table or "run"], name)
        if 0 < self.bootstrap < 50:
            raise ConfigError(
                f"--bootstrap needs 0 (no intervals) or at least 50 resamples, got "
                f"{self.bootstrap}",
                "pass e.g. --bootstrap 1000, or --bootstrap 0 to turn intervals off.",
            )
        for kind in self.extra_runs:
            if kind not in EXTRA_KINDS:
                raise ConfigError(
                    f"unknown extra run {kind!r} in --extra-runs",
                    "pass e.g. --extra-runs scaler,seed (each one of: "
                    + ", ".join(EXTRA_KINDS)
                    + "), or --extra-runs '' for none.",
                )
        if self.cv is not None and self.cv < 2:
            raise ConfigError(f"--cv needs at least 2 folds, got {self.cv}", "pass e.g. --cv 5.")


def build_entries(options: CompareOptions, settings: Settings) -> list[Entry]:
    """The models to run in registry order (rough result first), each variant its own
    entry, with the run's preset applied to every setting the user did not give; compare's
    preset is ``strong`` unless one is given (the refine stage refines)."""
    if "preset" not in settings.run.given:
        settings = replace(settings, run=settings.run.replace(preset=COMPARE_PRESET))
    settings = settings.with_preset()
    entries = []
    trainable = [name for name in options.models if MODELS[name].trainable]
    for name in sorted(set(trainable), key=list(MODELS).index):
        texts = options.variants.get(name, ())
        table = MODELS[name].config
        if not texts or table is None:
            entries.append(Entry(name, name, settings))
            continue
        base = settings.table(table)
        for text in texts:
            values = parse_variant(text, TABLES[table])
            entries.append(
                Entry(f"{name}[{text}]", name, replace(settings, **{table: base.replace(**values)}))
            )
    return _feature_set_entries(entries, options.feature_sets)


def _feature_set_entries(entries: list[Entry], sets: tuple[str, ...]) -> list[Entry]:
    """With ``--feature-sets raw,assisted`` every model but the floor also runs without
    the derived columns (``gbt[raw]`` right after ``gbt``); with ``raw`` alone, only so."""
    if "raw" not in sets:
        return entries
    out = []
    for entry in entries:
        if MODELS[entry.model].floor:
            out.append(entry)
            continue
        if "assisted" in sets:
            out.append(entry)
        out.append(replace(entry, label=f"{entry.label}[raw]", raw=True))
    return out


def ignored_variants(options: CompareOptions) -> list[str]:
    """Warnings for variants of models that are not compared."""
    return [
        f"--{name} variants are ignored: {name} is not in --models"
        for name, texts in options.variants.items()
        if texts and name not in options.models
    ]


@dataclass(frozen=True)
class Decision:
    """Whether the next entry starts, and the seconds each of its folds may use."""

    start: bool
    limit: float | None  # per fold; None: no limit


@dataclass(frozen=True)
class Budget:
    """The time budget of a comparison, shared among entries as they come.

    A share (``reserve`` + ``reserve_seconds``) is kept for scoring and reporting; the
    rest is split evenly among the refining entries still to run, and a rough-stage
    entry may use at most ``rough_share`` of the budget while refining ones follow.
    """

    total: float | None
    reserve: float = 0.08
    reserve_seconds: float = 0.5
    rough_share: float = 0.4
    min_refine_seconds: float = 0.5  # a refining model given less is skipped

    def left(self, elapsed: float) -> float:
        if self.total is None:
            return float("inf")
        return self.total - self.total * self.reserve - self.reserve_seconds - elapsed

    def limit(self, stages: list[str], elapsed: float) -> float | None:
        """Seconds the first of ``stages`` (the entries still to run) may use."""
        if self.total is None:
            return None
        refine_left = stages.count("refine")
        left = max(self.left(elapsed), 0.0)
        if stages[0] == "refine":
            return left / max(refine_left, 1)
        return min(left, self.rough_share * self.total) if refine_left else left

    def room_for(self, cost: float, elapsed: float) -> bool:
        """Whether another run that costs about ``cost`` seconds fits in what is left
        (with half of it again to spare); never without a budget (no anytime stage)."""
        return self.total is not None and self.left(elapsed) >= 1.5 * cost

    def decide(self, stages: list[str], elapsed: float, folds: int = 1) -> Decision:
        """Start the first of ``stages`` or skip it, after ``elapsed`` seconds."""
        limit = self.limit(stages, elapsed)
        if limit is None:
            return Decision(True, None)
        least = self.min_refine_seconds if stages[0] == "refine" else 0.0
        if limit <= least * folds:
            return Decision(False, limit / folds)
        return Decision(True, limit / folds)


#: ``--fail-under`` metric names (the table's column names too) → (metric key, range)
THRESHOLD_METRICS: dict[str, tuple[str, float, float]] = {
    "auc": ("auc", 0.0, 1.0),
    "accuracy": ("accuracy", 0.0, 1.0),
    "acc": ("accuracy", 0.0, 1.0),
    "balanced_accuracy": ("balanced_accuracy", 0.0, 1.0),
    "bal_acc": ("balanced_accuracy", 0.0, 1.0),
    "f1": ("macro_f1", 0.0, 1.0),
    "macro_f1": ("macro_f1", 0.0, 1.0),
    "logloss": ("log_loss", 0.0, float("inf")),
    "log_loss": ("log_loss", 0.0, float("inf")),
    "brier": ("brier", 0.0, 2.0),
}


@dataclass(frozen=True)
class Threshold:
    """``--fail-under METRIC=VALUE``: checked before anything is read or trained."""

    metric: str
    value: float

    @classmethod
    def parse(cls, text: str) -> Threshold:
        name, sep, number = text.partition("=")
        name = name.strip().lower()
        try:
            value = float(number) if sep else float("nan")
        except ValueError:
            value = float("nan")
        if value != value:
            raise ConfigError(
                f"--fail-under must be METRIC=VALUE, got {text!r}",
                "pass e.g. --fail-under auc=0.85.",
            )
        if name not in THRESHOLD_METRICS:
            raise ConfigError(
                f"--fail-under: unknown metric {name!r}",
                did_you_mean(name, THRESHOLD_METRICS, "metric"),
            )
        metric, low, high = THRESHOLD_METRICS[name]
        if not low <= value <= high:
            raise ConfigError(
                f"--fail-under: {name} must be between {low:g} and {high:g}, got {value:g}",
                f"pass e.g. --fail-under {name}={(low + min(high, 1.0)) / 2:g}.",
            )
        return cls(metric, value)


def extra_plan(seed: int, scaler: str | None, runs: tuple[str, ...]) -> list[dict[str, Any]]:
    """The changed settings of each extra run of the anytime stage: each takes the next
    seed; a "scaler" run also the other numeric scaling (robust <-> standard) when the
    model has one, so that the ensemble can pick the scaling that suits the data. (The
    portfolio's runs are entries of their own: :func:`portfolio_entries`.)"""
    plan: list[dict[str, Any]] = []
    for i, kind in enumerate((k for k in runs if k != "portfolio"), 1):
        change: dict[str, Any] = {}
        if kind == "scaler" and scaler in OTHER_SCALER:
            change["scaler"] = OTHER_SCALER[scaler]
        plan.append(change | {"seed": seed + i})
    return plan


def portfolio_configs() -> list[dict[str, str]]:
    """The portfolio's configs in order: each a ``model`` and its ``variant`` string."""
    return list(json.loads(PORTFOLIO.read_text())["configs"])


def portfolio_entries(entries: list[Entry]) -> list[Entry]:
    """The portfolio's configs as entries, each on the settings of its model's plain
    entry (the run's preset applied); configs of models not in ``entries`` are left out."""
    plain = {e.model: e for e in entries if e.label == e.model}
    out = []
    for config in portfolio_configs():
        base = plain.get(config["model"])
        table = MODELS[config["model"]].config
        if base is None or table is None:
            continue
        values = parse_variant(config["variant"], TABLES[table], config["model"])
        settings = replace(base.settings, **{table: base.settings.table(table).replace(**values)})
        out.append(Entry(f"{base.model}[{config['variant']}]", base.model, settings))
    return out


# ---------------------------------------------------------------- checks before work


def with_sequence_models(options: CompareOptions, columns: ColumnSpec) -> CompareOptions:
    """With --group the default models include the recurrent net; without it a
    sequence model is an error."""
    wanted = [m for m in options.models if MODELS[m].sequence]
    if columns.group is None:
        if wanted:
            raise ConfigError(
                f"{wanted[0]} reads sequences: rows grouped by an item and ordered within it",
                "pass --group ITEM_COLUMN --order POSITION_COLUMN, or leave "
                f"{wanted[0]} out of --models.",
            )
        return options
    if tuple(options.models) != tuple(DEFAULT_COMPARE):
        return options
    return replace(options, models=tuple(m for m in MODELS if m in DEFAULT_COMPARE or
                                         MODELS[m].sequence))  # fmt: skip


def check_request(options: CompareOptions, columns: ColumnSpec, settings: Settings) -> None:
    """What a comparison cannot do, refused before the data is read: --feature-sets
    without derived columns or with --group, and --stream (compare holds the data)."""
    if options.feature_sets and columns.group:  # the aggregates of derived columns stay
        raise ConfigError("--feature-sets is not available with --group",
                          "compare two runs: with and without the --feature options.")  # fmt: skip
    if options.feature_sets and not columns.derived:
        raise ConfigError("--feature-sets compares the models with and without derived columns, "
                          'but none is defined', 'add e.g. --feature "ratio = a / b".')  # fmt: skip
    if settings.run.stream:
        raise ConfigError(
            "compare holds the data in memory; --stream is for train and inspect",
            "compare on a sample of the file, then train the chosen model with --stream.",
        )
