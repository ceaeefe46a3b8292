"""The settings tables: each model setting is written once, here.

A row says a setting's name, type, default, allowed values or range, help and the
presets that change it. From the tables come the config objects the models are built
from, the command-line flags of ``train`` and ``compare``, the ``[run]``, ``[gbt]``,
``[mlp]`` and ``[linear]`` tables of ``--config``, the ``--mlp``/``--gbt`` variant
strings of ``compare`` and the parameters of :class:`nncli.MLPClassifier`. A config
remembers which values were given, so a preset changes only what the user left alone.
Errors read the same whichever way a value came in.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from nncli.errors import ConfigError, did_you_mean

SCALERS = ("standard", "robust", "minmax", "quantile", "none")
PRESETS = ("default", "quick", "strong")


@dataclass(frozen=True)
class Search:
    """Where ``nncli tune`` looks for a setting's value: a range (``log``: searched on a
    log scale) or a few choices (as text, parsed like a flag's value)."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.choices:
            return "{" + " | ".join(self.choices) + "}"
        return f"{_show(self.low)}..{_show(self.high)}" + (" (log)" if self.log else "")


@dataclass(frozen=True)
class Setting:
    """One row of a settings table."""

    name: str
    type: type  # int, float, str, bool, or tuple (layer widths: ints)
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # the range excludes ``low``
    optional: bool = False  # None is allowed (and is the "not set" default)
    zero_is_off: bool = False  # 0 means "off", stored as None
    presets: Mapping[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    flag: str | None = None  # overrides the table's flag naming
    synonyms: Mapping[str, str] = field(default_factory=dict)  # other names of a choice
    models: tuple[str, ...] = ()  # the models of its table that read it (empty: all)
    search: Search | None = None  # what `nncli tune` searches (None: kept as set)

    def parse(self, text: str, table: SettingsTable) -> Any:
        """A value from text: a variant string, a flag or a TOML string."""
        text = text.strip()
        if self.optional and text.lower() in ("none", ""):
            return None
        try:
            if self.type is bool:
                lowered = text.lower()
                if lowered not in _BOOLEAN:
                    raise ValueError
                return self.check(_BOOLEAN[lowered], table)
            if self.type is tuple:
                return self.check(tuple(int(p) for p in text.split(",") if p.strip()), table)
            return self.check(self.type(text), table)
        except ValueError:
            raise self.error(table, repr(text)) from None

    def coerce(self, value: Any, table: SettingsTable) -> Any:
        """A value from Python or TOML: text is parsed, numbers and lists are checked."""
        if isinstance(value, str) and self.type is not str:
            return self.parse(value, table)
        if value is None and self.optional:
            return None
        if self.type is tuple and isinstance(value, (list, tuple)):
            return self.parse(",".join(str(v) for v in value), table)
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if self.type is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, self.type) or (self.type is int and isinstance(value, bool)):
            raise self.error(table, repr(value))
        return self.check(value, table)

    def check(self, value: Any, table: SettingsTable) -> Any:
        """The value itself if it is allowed; 0 → None for settings where 0 means off."""
        if self.zero_is_off and value == 0:
            return None
        if self.choices and isinstance(value, str) and value not in self.choices:
            same = [c for c in self.choices if c.lower() == value.lower()]
            value = same[0] if len(same) == 1 else value  # any case: Relu is relu
        bad = (self.choices and value not in self.choices) or not self._in_range(value)
        if bad:
            raise self.error(table, _show(value))
        return value

    def error(self, table: SettingsTable, got: str) -> ConfigError:
        """The one wording for a bad value, whether from a flag, --config or a variant."""
        known = self.synonyms.get(got.strip("'\""))
        hint = (
            f"{got} is called {known} here: pass {table.flag(self)} {known}."
            if known
            else f"pass e.g. {table.flag(self)} {self.example()}."
        )
        return ConfigError(
            f"{table.name} setting {self.name!r} ({table.flag(self)}) must be "
            f"{self.describe()}, got {got}",
            hint,
        )

    def _in_range(self, value: Any) -> bool:
        numbers = value if isinstance(value, tuple) else (value,)
        if not numbers and self.type is tuple:
            return False
        for x in numbers:
            if isinstance(x, str) or isinstance(x, bool):
                continue
            if self.low is not None and (x < self.low or (self.low_open and x == self.low)):
                return False
            if self.high is not None and x > self.high:
                return False
            if x != x:  # NaN
                return False
        return True

    def describe(self) -> str:
        """The allowed values in words: 'one of a, b', 'between 0 and 1', …"""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        kind = {int: "an integer", float: "a number", bool: "true or false", str: "text"}
        if self.type is tuple:
            return "comma-separated positive integers"
        what = kind[self.type]
        if self.low is not None and self.high is not None:
            what += f" between {_show(self.low)} and {_show(self.high)}"
        elif self.low is not None:
            what += f" {'above' if self.low_open else 'at least'} {_show(self.low)}"
        if self.zero_is_off:
            what += " (0: off)"
        return what

    def example(self) -> str:
        return _show(self.choices[0] if self.choices else self.default)


_BOOLEAN = {"1": True, "true": True, "yes": True, "on": True,
            "0": False, "false": False, "no": False, "off": False}  # fmt: skip


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class SettingsTable:
    """The rows of one table, with its flag naming: ``--{prefix}{name}``."""

    def __init__(self, name: str, rows: list[Setting], prefix: str = "") -> None:
        self.name, self.rows, self.prefix = name, {r.name: r for r in rows}, prefix
        self._aliases = {a: r.name for r in rows for a in r.aliases}

    def __iter__(self) -> Iterator[Setting]:
        return iter(self.rows.values())

    def lookup(self, key: str) -> Setting:
        """The row for ``key`` (dashes or underscores, or an alias); else close matches."""
        name = key.strip().replace("-", "_")
        name = self._aliases.get(name, name)
        if name not in self.rows:
            raise ConfigError(
                f"unknown {self.name} setting {key!r}",
                did_you_mean(name, sorted(self.rows) + sorted(self._aliases), "setting"),
            )
        return self.rows[name]

    def flag(self, row: Setting) -> str:
        return row.flag or "--" + (self.prefix + row.name).replace("_", "-").lower()

    def only(self, model: str, names: tuple[str, ...]) -> None:
        """Mark the rows ``names`` as read by ``model`` alone (of the models built from
        this table); model cards, warnings, help and variants then show what applies."""
        from dataclasses import replace

        for name in names:
            self.rows[name] = replace(self.rows[name], models=(model,))

    def searched(self, spaces: Mapping[str, Search]) -> None:
        """Give rows their search space for ``nncli tune`` (a column of the row, set here
        so that each table's spaces read as one block)."""
        from dataclasses import replace

        for name, space in spaces.items():
            self.rows[name] = replace(self.rows[name], search=space)

    def applies(self, name: str, model: str) -> bool:
        """Whether ``model`` reads the setting ``name``."""
        models = self.rows[name].models
        return not models or model in models

    def param(self, row: Setting) -> str:
        """The click parameter name of a row's flag."""
        return self.flag(row)[2:].replace("-", "_")


class Config:
    """Values for every row of :attr:`table`, checked; which ones were given is kept.

    Build with keyword arguments (names or aliases); missing ones take the defaults.
    Immutable: :meth:`replace` and :meth:`with_preset` return new configs.
    """

    table: ClassVar[SettingsTable]
    given: frozenset[str]

    def __init__(self, **values: Any) -> None:
        chosen = {}
        for key, value in values.items():
            row = self.table.lookup(key)
            chosen[row.name] = row.coerce(value, self.table)
        for row in self.table:
            object.__setattr__(self, row.name, chosen.get(row.name, row.default))
        object.__setattr__(self, "given", frozenset(chosen))

    if TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any: ...

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; use replace()")

    def values(self) -> dict[str, Any]:
        return {row.name: getattr(self, row.name) for row in self.table}

    def replace(self, **values: Any) -> Config:
        """A copy with ``values`` changed; they count as given."""
        new = type(self)(**(self.values() | values))
        names = {self.table.lookup(k).name for k in values}
        object.__setattr__(new, "given", self.given | names)
        return new

    def with_preset(self, preset: str) -> Config:
        """The preset's values for every setting that was not given."""
        return self.with_defaults(
            **{row.name: row.presets[preset] for row in self.table if preset in row.presets}
        )

    def with_defaults(self, **values: Any) -> Config:
        """``values`` for the settings that were not given (they stay not given)."""
        changes = {k: v for k, v in values.items() if k not in self.given}
        if not changes:
            return self
        new = type(self)(**(self.values() | changes))
        object.__setattr__(new, "given", self.given)
        return new

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.values().items()}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.values() == other.values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(self.values().items())))

    def __repr__(self) -> str:
        changed = ", ".join(f"{k}={v!r}" for k, v in self.values().items() if k in self.given)
        return f"{type(self).__name__}({changed})"


# ------------------------------------------------------------------------ the tables

ACTIVATION_NAMES = (
    "relu",
    "leaky_relu",
    "elu",
    "selu",
    "gelu",
    "silu",
    "tanh",
    "sigmoid",
    "maxout",
    "identity",
)

RUN = SettingsTable(
    "run",
    [
        Setting("seed", int, 0, "Seed for split, initialisation and shuffling."),
        Setting(
            "preset",
            str,
            "default",
            "Recipe for the settings not given: quick (a 128,128 MLP, 20 epochs of batches that "
            "leave 4 steps per epoch, at most 512 rows), default, or "
            "strong (numeric embeddings, front scaling, an ensemble of MLP members) "
            "[default: default for train, strong for compare].",
            choices=PRESETS,
        ),
        Setting(
            "valid_size", float, 0.2, "Share of rows held out for validation.", low=0.01, high=0.9
        ),
        Setting(
            "bag",
            int,
            None,
            "Cross-fit: fit each model on K-1 of K folds, K times; choose on the out-of-fold "
            "predictions of every training row and predict with the mean of the K models "
            "(1: one validation split) [default: compare picks K (8 below 1,000 training "
            "rows, 5 up to 20,000, else 1); train: 1].",
            low=1,
            high=20,
            optional=True,
        ),
        Setting(
            "fold_by",
            str,
            None,
            "With --bag: a row's fold is this integer column mod K (an event number), "
            "not a stratified draw; predict and evaluate --fold-by then score each row with "
            "the fold model that did not train on its fold.",
            optional=True,
        ),
        Setting(
            "scaler",
            str,
            None,
            "Numeric scaling for the linear models and the MLP [default: each model's own: "
            "standard for linear, robust for mlp].",
            choices=SCALERS,
            optional=True,
        ),
        Setting(
            "class_weight",
            str,
            "none",
            "Weight classes inversely to their frequency.",
            choices=("none", "balanced"),
        ),
        Setting("device", str, "auto", "MLP device.", choices=("auto", "cpu", "cuda")),
        Setting(
            "precision",
            str,
            "fp32",
            "MLP arithmetic on a GPU: fp32, or bf16/fp16 mixed precision (weights stay "
            "float32); the CPU always trains in float32.",
            choices=("fp32", "bf16", "fp16"),
        ),
        Setting(
            "threads",
            int,
            None,
            "CPU threads [default: the cores idle when a fit starts, so that a busy machine "
            "is not fought over].",
            low=1,
            optional=True,
        ),
        Setting(
            "stream",
            bool,
            None,
            "Train the MLP or logreg in passes over the file, holding only --stream-buffer "
            "rows in memory [default: when reading it whole would take over a quarter of the "
            "memory available].",
            optional=True,
        ),
        Setting(
            "stream_buffer",
            int,
            200_000,
            "Streaming: training rows held (and shuffled) in memory at once.",
            low=1_000,
        ),
    ],
)

MLP = SettingsTable(
    "mlp",
    [
        Setting(
            "hidden",
            tuple,
            (256, 256),
            "Hidden layer widths, e.g. 256,256.",
            low=1,
            presets={"quick": (128, 128)},
        ),
        Setting(
            "activation",
            str,
            "relu",
            "Hidden activation.",
            choices=ACTIVATION_NAMES,
            synonyms={
                "swish": "silu",
                "lrelu": "leaky_relu",
                "linear": "identity",
                "logistic": "sigmoid",
            },  # fmt: skip
        ),
        Setting("leaky_slope", float, 0.1, "leaky_relu negative slope.", low=0.0, high=1.0),
        Setting("elu_alpha", float, 1.0, "elu alpha.", low=0.0),
        Setting("maxout_pieces", int, 2, "maxout: affine pieces per unit.", low=2),
        Setting("norm", str, "none", "Normalisation.", choices=("none", "batch", "layer")),
        Setting("dropout", float, 0.0, "Dropout.", low=0.0, high=0.95),
        Setting("residual", bool, False, "Skip connections across equal-width blocks."),
        Setting(
            "init",
            str,
            "auto",
            "Weight init; auto: He for the ReLU family, Xavier for tanh/sigmoid, LeCun for SELU.",
            choices=("auto", "he", "xavier", "lecun", "torch"),
        ),
        Setting(
            "clip_grad",
            float,
            1.0,
            "Clip the gradient norm (0: off).",
            low=0.0,
            optional=True,
            zero_is_off=True,
        ),
        Setting("optimizer", str, "adamw", "Optimiser.", choices=("adamw", "adam", "sgd")),
        Setting("momentum", float, 0.9, "SGD momentum.", low=0.0, high=1.0),
        Setting(
            "lr",
            float,
            2e-3,
            "Learning rate.",
            low=0.0,
            high=10.0,
            low_open=True,
            aliases=("learning_rate",),
        ),
        Setting("weight_decay", float, 1e-4, "Weight decay (L2 on the weights).", low=0.0),
        Setting(
            "schedule",
            str,
            "cosine",
            "Learning-rate schedule.",
            choices=("constant", "cosine", "onecycle"),
        ),
        Setting("epochs", int, 60, "Maximum epochs.", low=1, presets={"quick": 20, "strong": 150}),
        Setting("batch_size", int, 256, "Rows per batch.", low=1, presets={"quick": 512}),
        Setting(
            "patience",
            int,
            12,
            "Stop after this many epochs without a better validation loss.",
            low=1,
            presets={"quick": 5},
        ),
        Setting("label_smoothing", float, 0.0, "Label smoothing.", low=0.0, high=0.5),
        Setting(
            "scaler",
            str,
            "robust",
            "The MLP's own numeric scaling.",
            choices=SCALERS,
            flag="--mlp-scaler",
        ),
        Setting(
            "restore_best",
            bool,
            True,
            "Keep the best validation epoch (off: the last; shows overtraining).",
        ),
        Setting(
            "num_embedding",
            str,
            "none",
            "Numeric feature embeddings: piecewise-linear over quantile bins (ple) or "
            "periodic (PBLD).",
            choices=("none", "ple", "periodic"),
            presets={"strong": "ple"},
        ),
        Setting("embedding_dim", int, 8, "Width of each feature's embedding.", low=2, high=64),
        Setting("n_bins", int, 16, "ple: bins per numeric feature.", low=2, high=256),
        Setting(
            "bin_edges",
            str,
            "quantile",
            "ple: where the bins' edges go: quantiles of the training values, or the "
            "splits of a decision tree per feature on the target (tree).",
            choices=("quantile", "tree"),
        ),
        Setting(
            "periodic_sigma",
            float,
            0.1,
            "periodic: spread of the frequencies.",
            low=0.0,
            high=10.0,
            low_open=True,
        ),
        Setting(
            "max_one_hot",
            int,
            None,
            "Categoricals with more levels than this get a learned embedding instead of "
            "one-hot [default: one-hot always].",
            low=2,
            optional=True,
        ),
        Setting(
            "front_scale",
            bool,
            False,
            "A learnable scale per input feature.",
            presets={"strong": True},
        ),
        Setting(
            "ensemble_k",
            int,
            1,
            "Members of a TabM-mini ensemble in one network (a shared trunk; its own "
            "adapter and head each) [strong: 16 below 10,000 fitting rows, 4 above].",
            low=1,
            high=64,
            presets={"strong": 4},
        ),
        Setting(
            "beta2",
            float,
            0.999,
            "Adam's second-moment decay.",
            low=0.0,
            high=1.0,
            low_open=True,
        ),
        Setting(
            "warmup",
            float,
            0.0,
            "Share of the steps with a linear learning-rate warm-up.",
            low=0.0,
            high=0.5,
        ),
        Setting("cell", str, "gru", "The recurrent cell.", choices=("gru", "lstm")),
        Setting("rnn_hidden", int, 64, "Hidden size of each recurrent layer.", low=1),
        Setting("rnn_layers", int, 1, "Stacked recurrent layers.", low=1, high=8),
        Setting("bidirectional", bool, False, "Read each sequence both ways."),
        Setting(
            "max_steps",
            int,
            1000,
            "Read at most this many rows of a group, the last ones (--keep-steps); "
            "said when a group is longer (0: all). The rough models' aggregates use every row.",
            low=0,
            optional=True,
            zero_is_off=True,
        ),
        Setting(
            "keep_steps",
            str,
            "last",
            "Which rows of a group longer than --max-steps are read.",
            choices=("last", "first"),
        ),
    ],
)

MLP.only("mlp", ("hidden", "activation", "leaky_slope", "elu_alpha", "maxout_pieces", "norm",
                 "residual", "init", "num_embedding", "embedding_dim", "n_bins", "bin_edges",
                 "periodic_sigma", "max_one_hot", "front_scale", "ensemble_k"))  # fmt: skip
MLP.only("rnn", ("cell", "rnn_hidden", "rnn_layers", "bidirectional", "max_steps", "keep_steps"))

GBT = SettingsTable(
    "gbt",
    [
        Setting(
            "learning_rate",
            float,
            0.1,
            "Shrinkage per boosting round.",
            low=0.0,
            high=1.0,
            low_open=True,
            aliases=("lr", "eta"),
        ),
        Setting("num_leaves", int, 31, "Leaves per tree.", low=2, high=131072, aliases=("leaves",)),
        Setting(
            "min_child_samples",
            int,
            20,
            "Fewest training rows in a leaf.",
            low=1,
            aliases=("min_data_in_leaf",),
        ),
        Setting(
            "max_rounds",
            int,
            2000,
            "Most boosting rounds.",
            low=1,
            aliases=("rounds", "num_boost_round", "n_estimators"),
        ),
        Setting(
            "early_stopping_rounds",
            int,
            50,
            "Stop after this many rounds without a lower validation loss.",
            low=1,
        ),
        Setting(
            "feature_fraction",
            float,
            1.0,
            "Share of features tried per tree.",
            low=0.0,
            high=1.0,
            low_open=True,
            aliases=("colsample_bytree",),
        ),
        Setting(
            "bagging_fraction",
            float,
            1.0,
            "Share of rows sampled per tree (with bagging_freq > 0).",
            low=0.0,
            high=1.0,
            low_open=True,
            aliases=("subsample",),
        ),
        Setting("bagging_freq", int, 0, "Resample rows every this many rounds (0: off).", low=0),
        Setting(
            "lambda_l1",
            float,
            0.0,
            "L1 regularisation of leaf values.",
            low=0.0,
            aliases=("reg_alpha",),
        ),
        Setting(
            "lambda_l2",
            float,
            0.0,
            "L2 regularisation of leaf values.",
            low=0.0,
            aliases=("reg_lambda",),
        ),
        Setting("max_bin", int, 255, "Histogram bins per feature.", low=2),
    ],
    prefix="gbt-",
)

CATBOOST = SettingsTable(
    "catboost",
    [
        Setting(
            "learning_rate",
            float,
            None,
            "Shrinkage per round [default: CatBoost's own, from the rows and rounds].",
            low=0.0,
            high=1.0,
            low_open=True,
            optional=True,
            aliases=("lr", "eta"),
        ),
        Setting("depth", int, 6, "Depth of each (symmetric) tree.", low=1, high=16),
        Setting(
            "l2_leaf_reg",
            float,
            3.0,
            "L2 regularisation of leaf values.",
            low=0.0,
            aliases=("reg_lambda", "lambda_l2"),
        ),
        Setting(
            "max_rounds",
            int,
            1000,
            "Most boosting rounds.",
            low=1,
            aliases=("rounds", "iterations", "n_estimators"),
        ),
        Setting(
            "early_stopping_rounds",
            int,
            50,
            "Stop after this many rounds without a lower validation loss.",
            low=1,
        ),
        Setting(
            "border_count",
            int,
            254,
            "Histogram bins per numeric feature.",
            low=2,
            high=65535,
            aliases=("max_bin",),
        ),
        # CatBoost's default is 2: every categorical column of more levels gets target
        # statistics, one per class, the cost of its multiclass fits (soybean, 19 classes,
        # 35 categoricals: 0.2 s a round with 2, 0.004 s with 10); test AUC with 10 against
        # 2 at CatBoost's defaults, seed 0: credit_g -0.0045, vote -0.0005, hypothyroid
        # +0.0004, adult -0.0003, fits 1.6-8x faster
        Setting(
            "one_hot_max_size",
            int,
            10,
            "Categoricals with at most this many levels are one-hot encoded (more: target "
            "statistics).",
            low=1,
            high=255,
        ),
        Setting("random_strength", float, 1.0, "Noise added to split scores.", low=0.0),
        Setting(
            "bagging_temperature",
            float,
            1.0,
            "Bayesian bootstrap of the rows (0: every row weighs 1).",
            low=0.0,
        ),
    ],
    prefix="catboost-",
)

LINEAR = SettingsTable(
    "linear",
    [
        Setting("C", float, 1.0, "Logistic regression: inverse L2 strength.", low=1e-12),
        Setting("max_iter", int, 1000, "Logistic regression: most solver iterations.", low=1),
        Setting("shrinkage", float, 1e-3, "Fisher: covariance shrinkage.", low=0.0, high=1.0),
        Setting(
            "scaler", str, "standard", "The linear models' own numeric scaling.", choices=SCALERS
        ),
    ],
    prefix="linear-",
)

# What `nncli tune` searches; each range holds the default (the first trial), except
# the gbt's L1/L2 defaults of 0, which its log scale starts just above. gbt: the knobs
# LightGBM's own tuners and the TabArena search space share; the MLP: the recipe more
# than the architecture (the strong preset's embeddings and members stay as set);
# logreg: C; fisher: shrinkage.
GBT.searched({
    "learning_rate": Search(0.01, 0.3, log=True), "num_leaves": Search(4, 256, log=True),
    "min_child_samples": Search(2, 100, log=True), "feature_fraction": Search(0.4, 1.0),
    "bagging_fraction": Search(0.5, 1.0), "bagging_freq": Search(0, 1),
    "lambda_l1": Search(1e-8, 10.0, log=True), "lambda_l2": Search(1e-8, 10.0, log=True),
})  # fmt: skip
CATBOOST.searched({  # its learning rate stays its own choice from the rows and rounds
    "depth": Search(4, 10),
    "l2_leaf_reg": Search(1.0, 30.0, log=True), "random_strength": Search(0.0, 5.0),
    "bagging_temperature": Search(0.0, 1.0),
})  # fmt: skip
MLP.searched({
    "hidden": Search(choices=("128,128", "256,256", "512,512", "256,256,256")),
    "activation": Search(choices=("relu", "gelu", "silu")),
    "lr": Search(3e-4, 1e-2, log=True), "weight_decay": Search(1e-6, 1e-2, log=True),
    "dropout": Search(0.0, 0.5), "batch_size": Search(choices=("128", "256", "512")),
    "label_smoothing": Search(0.0, 0.2),
})  # fmt: skip
LINEAR.only("logreg", ("C", "max_iter"))
LINEAR.only("fisher", ("shrinkage",))
LINEAR.searched({"C": Search(1e-4, 100.0, log=True), "shrinkage": Search(0.0, 1.0)})

TABLES: dict[str, SettingsTable] = {t.name: t for t in (RUN, MLP, GBT, CATBOOST, LINEAR)}


class RunConfig(Config):
    """What every model shares in one run: seed, preset, split, scaling, device, threads."""

    table = RUN


class MLPConfig(Config):
    """Architecture and training recipe of the torch MLP."""

    table = MLP


class GBTConfig(Config):
    """LightGBM settings: fast defaults with early stopping on the validation rows."""

    table = GBT


class CatBoostConfig(Config):
    """CatBoost settings: its defaults, with early stopping on the validation rows."""

    table = CATBOOST


class LinearConfig(Config):
    """Logistic regression (C = inverse L2 strength) and Fisher (shrinkage) settings."""

    table = LINEAR


CONFIGS: dict[str, type[Config]] = {
    "run": RunConfig, "mlp": MLPConfig, "gbt": GBTConfig, "catboost": CatBoostConfig,
    "linear": LinearConfig,
}  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """One config per table; a model is built from its own (and the run's)."""

    run: RunConfig = field(default_factory=RunConfig)
    mlp: MLPConfig = field(default_factory=MLPConfig)
    gbt: GBTConfig = field(default_factory=GBTConfig)
    linear: LinearConfig = field(default_factory=LinearConfig)
    catboost: CatBoostConfig = field(default_factory=CatBoostConfig)

    def table(self, name: str) -> Config:
        config: Config = getattr(self, name)
        return config

    def with_preset(self) -> Settings:
        """Every table with the run's preset applied to what was not given."""
        preset = self.run.preset
        return Settings(
            self.run,
            self.mlp.with_preset(preset),  # type: ignore[arg-type]
            self.gbt.with_preset(preset),  # type: ignore[arg-type]
            self.linear.with_preset(preset),  # type: ignore[arg-type]
            self.catboost.with_preset(preset),  # type: ignore[arg-type]
        )

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Settings:
        """Settings from click parameters (flags or --config); ``None`` means "not given"."""
        parts = {}
        for name, table in TABLES.items():
            values = {}
            for row in table:
                value = options.get(table.param(row))
                if value is not None:
                    values[row.name] = value
            parts[name] = CONFIGS[name](**values)
        return cls(**parts)  # type: ignore[arg-type]


def parse_variant(text: str, table: SettingsTable, model: str | None = None) -> dict[str, Any]:
    """``"activation=maxout,hidden=128,128"`` → checked values; bare items extend the
    previous key (so lists need no quoting). With ``model``, a setting that model does
    not read is refused."""
    raw: dict[str, str] = {}
    key = None
    for item in (p.strip() for p in text.split(",") if p.strip()):
        if "=" in item:
            key, value = (s.strip() for s in item.split("=", 1))
            key = table.lookup(key).name
            raw[key] = value
        elif key is not None:
            raw[key] += "," + item
        else:
            raise ConfigError(
                f"--{table.name} {text!r}: expected key=value items",
                f'pass e.g. --{table.name} "{_first(table)}".',
            )
    for key in raw:
        if model is not None and not table.applies(key, model):
            readers = " and ".join(table.rows[key].models)
            raise ConfigError(
                f"--{model} {text!r}: {key} does not apply to {model} (only -m {readers} reads it)",
                "leave it out of the variant.",
            )
    return {k: table.rows[k].parse(v, table) for k, v in raw.items()}


def _first(table: SettingsTable) -> str:
    row = next(iter(table))
    return f"{row.name}={row.example()}"


# ------------------------------------------------------------------- other options


@dataclass(frozen=True)
class ColumnSpec:
    """Which columns play which part: the target, ID columns, event weights, dropped ones,
    and the derived ("assisted") columns to add, as ``"NAME = EXPR"`` definitions."""

    target: str | None = None
    id_cols: tuple[str, ...] = ()
    weight: str | None = None
    drop: tuple[str, ...] = ()
    derived: tuple[str, ...] = ()
    group: str | None = None  # sequences: the rows of one item share this column's value
    order: str | None = None  # … and are ordered by this one

    def __post_init__(self) -> None:
        named = [c for c in (self.target, self.weight, self.group, self.order) if c]
        named += list(self.id_cols) + list(self.drop)
        repeated = sorted({c for c in named if named.count(c) > 1})
        if repeated:
            raise ConfigError(
                f"column {repeated[0]!r} is given more than one part "
                "(--target, --id-col, --weight, --drop, --group, --order)",
                "name each column in at most one of these options.",
            )

    @property
    def in_memory_only(self) -> str:
        """The option that needs the whole file in memory (derived columns, sequences),
        or "" when none is given."""
        return "--feature" if self.derived else ("--group" if self.group else "")


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
