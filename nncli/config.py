"""Typed, frozen configuration objects; validated on construction.

The CLI and the Python API build the same objects, so both get the same errors.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from nncli.errors import ConfigError


@dataclass(frozen=True)
class ColumnSpec:
    """Which columns play which part: the target, ID columns, event weights, dropped ones."""

    target: str | None = None
    id_cols: tuple[str, ...] = ()
    weight: str | None = None
    drop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        named = [c for c in (self.target, self.weight) if c] + list(self.id_cols) + list(self.drop)
        repeated = sorted({c for c in named if named.count(c) > 1})
        if repeated:
            raise ConfigError(
                f"column {repeated[0]!r} is given more than one part "
                "(--target, --id-col, --weight, --drop)",
                "name each column in at most one of these options.",
            )


#: Activation names; the torch modules behind them live in nncli.learn.models.mlp.ACTIVATIONS.
ACTIVATION_NAMES = (
    "relu", "leaky_relu", "elu", "selu", "gelu", "silu", "tanh", "sigmoid", "maxout", "identity",
)  # fmt: skip
NORMS = ("none", "batch", "layer")
SCALERS = ("standard", "robust", "minmax", "quantile", "none")
INITS = ("auto", "he", "xavier", "lecun", "torch")
OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("constant", "cosine", "onecycle")
DEVICES = ("auto", "cpu", "cuda")
CLASS_WEIGHTS = ("none", "balanced")


def _check_choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(
            f"{option} must be one of {', '.join(choices)}, got {value!r}",
            f"pass e.g. {option} {choices[0]}.",
        )


def _check_range(option: str, value: float, lo: float, hi: float | None = None) -> None:
    if not (value >= lo and (hi is None or value <= hi)):
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise ConfigError(f"{option} must be {bound}, got {value}", f"pass a value {bound}.")


@dataclass(frozen=True)
class MLPConfig:
    """Architecture and training recipe of the torch MLP."""

    hidden: tuple[int, ...] = (256, 256)
    activation: str = "relu"
    leaky_slope: float = 0.1
    elu_alpha: float = 1.0
    maxout_pieces: int = 2
    norm: str = "none"
    dropout: float = 0.0
    residual: bool = False
    init: str = "auto"
    clip_grad: float | None = 1.0
    optimizer: str = "adamw"
    momentum: float = 0.9
    lr: float = 2e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    epochs: int = 60
    batch_size: int = 256
    patience: int = 12
    label_smoothing: float = 0.0
    scaler: str = "robust"
    restore_best: bool = True  # False keeps the last epoch (to show overtraining, say)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if not self.hidden or min(self.hidden) < 1:
            raise ConfigError(
                f"--hidden needs positive layer widths, got {self.hidden}",
                "pass e.g. --hidden 256,256.",
            )
        _check_choice("--activation", self.activation, ACTIVATION_NAMES)
        _check_choice("--norm", self.norm, NORMS)
        _check_choice("--init", self.init, INITS)
        _check_choice("--optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("--schedule", self.schedule, SCHEDULES)
        _check_range("--dropout", self.dropout, 0.0, 0.95)
        _check_range("--maxout-pieces", self.maxout_pieces, 2)
        _check_range("--lr", self.lr, 1e-8, 10.0)
        _check_range("--weight-decay", self.weight_decay, 0.0)
        _check_range("--momentum", self.momentum, 0.0, 1.0)
        _check_range("--epochs", self.epochs, 1)
        _check_range("--batch-size", self.batch_size, 1)
        _check_range("--patience", self.patience, 1)
        _check_range("--label-smoothing", self.label_smoothing, 0.0, 0.5)
        _check_range("--leaky-slope", self.leaky_slope, 0.0, 1.0)
        _check_range("--elu-alpha", self.elu_alpha, 0.0)
        if self.clip_grad is not None:
            _check_range("--clip-grad", self.clip_grad, 1e-8)


@dataclass(frozen=True)
class GBTConfig:
    """LightGBM settings: fast defaults with early stopping on the validation rows."""

    learning_rate: float = 0.1
    num_leaves: int = 31
    min_child_samples: int = 20
    max_rounds: int = 2000
    early_stopping_rounds: int = 50

    def __post_init__(self) -> None:
        _check_range("learning_rate", self.learning_rate, 1e-6, 1.0)
        _check_range("num_leaves", self.num_leaves, 2)
        _check_range("min_child_samples", self.min_child_samples, 1)
        _check_range("max_rounds", self.max_rounds, 1)
        _check_range("early_stopping_rounds", self.early_stopping_rounds, 1)


@dataclass(frozen=True)
class LinearConfig:
    """Logistic regression (C = inverse L2 strength) and Fisher (shrinkage) settings."""

    C: float = 1.0
    max_iter: int = 1000
    shrinkage: float = 1e-3
    scaler: str = "standard"

    def __post_init__(self) -> None:
        _check_range("C", self.C, 1e-12)
        _check_range("max_iter", self.max_iter, 1)
        _check_range("shrinkage", self.shrinkage, 0.0, 1.0)


@dataclass(frozen=True)
class RunConfig:
    """What every model shares in one run: seed, split, device, threads, weighting."""

    seed: int = 0
    valid_size: float = 0.2
    device: str = "auto"
    threads: int | None = None
    class_weight: str = "none"

    def __post_init__(self) -> None:
        _check_range("--valid-size", self.valid_size, 0.01, 0.9)
        _check_choice("--device", self.device, DEVICES)
        _check_choice("--class-weight", self.class_weight, CLASS_WEIGHTS)
        if self.threads is not None:
            _check_range("--threads", self.threads, 1)


@dataclass(frozen=True)
class Settings:
    """Everything a model may need; each model reads its own part."""

    run: RunConfig = RunConfig()
    mlp: MLPConfig = MLPConfig()
    gbt: GBTConfig = GBTConfig()
    linear: LinearConfig = LinearConfig()
    scaler: str | None = None  # None: the model's own default


def parse_hidden(value: str | list[int] | tuple[int, ...]) -> tuple[int, ...]:
    """``"256,256"`` (or a list from a config file) → ``(256, 256)``."""
    if isinstance(value, (list, tuple)):
        parts = [str(v) for v in value]
    else:
        parts = [p.strip() for p in str(value).split(",")]
    try:
        return tuple(int(p) for p in parts)
    except ValueError:
        raise ConfigError(
            f"--hidden must be comma-separated layer widths, got {value!r}",
            "pass e.g. --hidden 256,256 or --hidden 128.",
        ) from None


def settings_from_options(options: dict[str, Any]) -> Settings:
    """Settings from command-line/config-file values; ``None`` means "not given"."""
    given = {k: v for k, v in options.items() if v is not None}
    if "hidden" in given:
        given["hidden"] = parse_hidden(given["hidden"])
    if given.get("clip_grad") == 0:  # --clip-grad 0 turns clipping off
        given["clip_grad"] = None
    return Settings(
        run=RunConfig(**_pick(given, RunConfig)),
        mlp=MLPConfig(**_pick(given, MLPConfig)),
        gbt=GBTConfig(**_pick(given, GBTConfig)),
        linear=LinearConfig(**_pick(given, LinearConfig)),
        scaler=given.get("scaler"),
    )


def _pick(values: dict[str, Any], cls: type) -> dict[str, Any]:
    names = {f.name for f in fields(cls)} - {"scaler"}
    return {k: v for k, v in values.items() if k in names}


def parse_duration(text: str) -> float:
    """``"90"``, ``"90s"``, ``"2m"``, ``"1.5h"`` → seconds."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    value = text.strip().lower()
    scale = units.get(value[-1:], None)
    number = value[:-1] if scale else value
    try:
        seconds = float(number) * (scale or 1.0)
    except ValueError:
        raise ConfigError(
            f"--time-budget must be a duration, got {text!r}", "pass e.g. 90s, 2m or 1h."
        ) from None
    if seconds <= 0:
        raise ConfigError(f"--time-budget must be positive, got {text!r}", "pass e.g. 2m.")
    return seconds


def parse_threshold(text: str) -> tuple[str, float]:
    """``"auc=0.85"`` → ("auc", 0.85)."""
    name, sep, value = text.partition("=")
    try:
        if not sep:
            raise ValueError
        return name.strip().lower(), float(value)
    except ValueError:
        raise ConfigError(
            f"--fail-under must be METRIC=VALUE, got {text!r}", "pass e.g. --fail-under auc=0.85."
        ) from None
