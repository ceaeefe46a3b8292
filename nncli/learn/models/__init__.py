"""The model registry: every model behind one interface, created by name.

The registry is the one place that knows what each model is: which settings table it
is built from, which stage of a comparison it belongs to (the majority floor, the rough
stage with the gbt baseline, the refining MLPs), what its history counts and which
libraries it needs. Classes are imported only when a model is made, so choosing ``gbt``
never imports torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nncli.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from nncli.config import ColumnSpec, Config, Settings
    from nncli.learn.models.base import Model


@dataclass(frozen=True)
class ModelSpec:
    name: str
    module: str
    cls: str
    config: str | None  # the settings table it is built from (nncli.config.TABLES)
    stage: str  # rough | refine
    floor: bool = False  # the floor every model must beat (compared only with the best)
    baseline: bool = False  # the rough result every other model is tested against
    unit: str = "epoch"  # what one history record is: epoch or round
    packages: tuple[str, ...] = ()  # libraries whose versions go into the model card
    help: str = ""
    trainable: bool = True  # False: built by compare from the others (the ensemble)
    sequence: bool = False  # reads grouped, ordered rows (--group/--order) only
    extra: str | None = None  # an optional install (nncli[extra]): compare runs it if there

    @property
    def installed(self) -> bool:
        """Whether its optional library is there (found without importing it)."""
        import importlib.util

        return self.extra is None or all(
            importlib.util.find_spec(p.replace("-", "_")) is not None for p in self.packages
        )


#: name → spec; the order is the order ``compare`` runs them in (the rough result first).
MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("majority", "nncli.learn.models.simple", "MajorityModel", None, "rough",
                  floor=True, help="the training class shares for every row: the floor"),
        ModelSpec("gbt", "nncli.learn.models.gbt", "GBTModel", "gbt", "rough", baseline=True,
                  unit="round", packages=("lightgbm",), help="LightGBM boosted trees"),
        ModelSpec("catboost", "nncli.learn.models.catboost", "CatBoostModel", "catboost",
                  "rough", unit="round", packages=("catboost",), extra="catboost",
                  help="CatBoost boosted trees (extra: nncli[catboost])"),
        ModelSpec("logreg", "nncli.learn.models.simple", "LogisticModel", "linear", "rough",
                  packages=("scikit-learn",), help="logistic regression"),
        ModelSpec("fisher", "nncli.learn.models.simple", "FisherModel", "linear", "rough",
                  help="Fisher's linear discriminant"),
        ModelSpec("mlp", "nncli.learn.models.mlp", "MLPModel", "mlp", "refine",
                  packages=("torch",), help="the torch MLP"),
        ModelSpec("rnn", "nncli.learn.models.rnn", "RNNModel", "mlp", "refine",
                  packages=("torch",), sequence=True,
                  help="a GRU or LSTM over each group's rows in order (--group/--order)"),
        ModelSpec("ensemble", "nncli.learn.ensemble", "EnsemblePredictor", None, "blend",
                  trainable=False, help="greedy weighted blend of the others (compare)"),
    )
}  # fmt: skip
STAGES = ("rough", "refine", "blend")
TRAINABLE = [name for name, spec in MODELS.items() if spec.trainable]
#: what compare runs by default: every model, the sequence ones only on grouped rows, the
#: ones of an optional install (catboost) where it is installed
DEFAULT_COMPARE = [name for name, spec in MODELS.items() if not spec.sequence and spec.installed]


def require_installed(name: str) -> None:
    """A model of an optional install (``-m catboost``) is there, or one clear error
    naming the extra, before any data is read."""
    spec = MODELS[name]
    if not spec.installed:
        missing = ", ".join(spec.packages)
        raise ConfigError(
            f"-m {name} needs the {spec.extra} extra, and {missing} is not installed",
            f"pip install 'nncli[{spec.extra}]'",
        )


def model_class(name: str) -> type[Model]:
    spec = MODELS[name]
    return getattr(importlib.import_module(spec.module), spec.cls)  # type: ignore[no-any-return]


def make_model(name: str, n_classes: int, settings: Settings) -> Model:
    """A fresh model built from its own settings table and the run's settings."""
    spec = MODELS[name]
    config = settings.table(spec.config) if spec.config else None
    return model_class(name)(n_classes, config, settings.run)


def baseline() -> str:
    """The model whose result is the rough one (gbt)."""
    return next(name for name, spec in MODELS.items() if spec.baseline)


#: MLP settings that only matter with another setting's value: (setting, needs, values)
_DEPENDS = (
    ("leaky_slope", "activation", ("leaky_relu",)),
    ("elu_alpha", "activation", ("elu",)),
    ("maxout_pieces", "activation", ("maxout",)),
    ("momentum", "optimizer", ("sgd",)),
    ("n_bins", "num_embedding", ("ple",)),
    ("periodic_sigma", "num_embedding", ("periodic",)),
)


def ignored_settings(settings: Settings, models: list[str]) -> list[str]:
    """One warning per setting the user gave that no model of this run will use."""
    from nncli.config import TABLES

    used = {MODELS[m].config for m in models if m in MODELS}
    notes = []
    for name in ("mlp", "gbt", "catboost", "linear"):
        given = sorted(settings.table(name).given)
        if given and name not in used:
            flags = ", ".join(TABLES[name].flag(TABLES[name].rows[g]) for g in given)
            notes.append(
                f"{flags} ignored: {'it is' if len(given) == 1 else 'they are'} {name} "
                f"setting(s) and no {name} model is trained here ({', '.join(models)})"
            )
    if "mlp" in used:
        notes += _not_read(settings, [m for m in models if MODELS.get(m) and
                                      MODELS[m].config == "mlp"])  # fmt: skip
        notes += _ignored_mlp(settings.mlp)
        notes += _ignored_precision(settings)
    return notes


def _not_read(settings: Settings, models: list[str]) -> list[str]:
    """Settings of the MLP table that none of ``models`` reads (an RNN's --cell for -m
    mlp, an MLP's --activation for -m rnn)."""
    from nncli.config import MLP

    unread = [MLP.rows[g] for g in sorted(settings.mlp.given)
              if not any(MLP.applies(g, m) for m in models)]  # fmt: skip
    if not unread:
        return []
    flags = ", ".join(MLP.flag(r) for r in unread)
    readers = sorted({m for r in unread for m in r.models})
    return [f"{flags} ignored: only -m {' and '.join(readers)} "
            f"{'reads it' if len(unread) == 1 else 'read them'}, and this run trains "
            f"{', '.join(models)}"]  # fmt: skip


def _ignored_precision(settings: Settings) -> list[str]:
    """bf16/fp16 apply on a GPU only; say so when the MLP will train on the CPU."""
    run = settings.run
    if run.precision == "fp32" or run.device == "cuda":
        return []
    import torch

    if run.device == "auto" and torch.cuda.is_available():
        return []
    return [f"--precision {run.precision} ignored: the MLP trains on the CPU, in float32"]


def _ignored_mlp(config: Config) -> list[str]:
    from nncli.config import MLP

    notes = []
    for name, needs, values in _DEPENDS:
        if name in config.given and getattr(config, needs) not in values:
            notes.append(
                f"{MLP.flag(MLP.rows[name])} ignored: it is for --{needs.replace('_', '-')} "
                f"{' or '.join(values)}, not {getattr(config, needs)}"
            )
    widths = config.hidden
    if config.residual and len(set(widths)) > 1:
        notes.append(
            "--residual adds skip connections only across layers of equal width: with "
            f"--hidden {','.join(map(str, widths))} the blocks that change width have none"
        )
    return notes


def check_trainable(model: str, columns: ColumnSpec, bag: int = 1, valid: object = None) -> None:
    """A model ``train`` knows, one that can train under torchrun when started so, a
    sequence model only on grouped rows, and cross-fitting (``bag``) without --valid."""
    from nncli.learn import distributed

    if bag > 1 and valid is not None:
        raise ConfigError("--bag validates each fold model on the fold it did not see; "
                          "not with --valid", "leave out --valid, or pass --bag 1.")  # fmt: skip

    if model not in TRAINABLE:
        raise ConfigError(f"unknown model {model!r}", did_you_mean(model, TRAINABLE, "model"))
    require_installed(model)
    if MODELS[model].sequence and columns.group is None:
        raise ConfigError(
            f"-m {model} reads sequences: rows grouped by an item and ordered within it",
            "pass --group ITEM_COLUMN --order POSITION_COLUMN (e.g. --group seq --order t).",
        )
    if distributed.active() and model != "mlp":
        raise ConfigError(
            f"under torchrun only the MLP trains data-parallel, not {model}",
            f"run -m {model} without torchrun"
            + (", or on a Dask cluster with --dask." if model == "gbt" else "."),
        )
