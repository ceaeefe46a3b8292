"""Turn a data frame into a model matrix, with statistics fitted on training rows only.

Two layouts, chosen by the model's ``needs``:

- ``dense`` (linear models, MLP): numeric columns imputed with the training median
  (plus a 0/1 missing indicator where training had missing values) and scaled;
  categorical and boolean columns one-hot encoded, with one reserved slot for
  unseen, rare or missing values.
- ``native`` (GBT): numeric columns unscaled with missing values left as NaN;
  categorical columns as integer codes (unseen or missing → NaN) that the tree
  model treats as categories.
- ``sequence`` (RNN): each group's rows (:mod:`nncli.prepare.sequences`), every step
  column imputed and scaled as in ``dense``, kept as one array of steps with the
  groups' offsets (:class:`~nncli.prepare.ragged.Ragged`): nothing is padded.

The fitted state is plain JSON (numbers and strings), stored in the model file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from nncli.config import SCALERS
from nncli.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from nncli.prepare.ragged import Ragged
    from nncli.prepare.schema import Schema

LAYOUTS = ("dense", "native", "sequence")
MAX_LEVELS = 64  # one-hot columns per categorical; rarer levels share the reserved slot
MIN_LEVEL_COUNT = 2  # a level seen once in training goes to the reserved slot
N_QUANTILES = 256
CLIP = 3.0
F32_MAX = float(np.finfo(np.float32).max)  # robust scaling's smooth clip saturates at ±CLIP


@dataclass
class NumericState:
    name: str
    median: float
    indicator: bool
    center: float = 0.0
    scale: float = 1.0
    quantiles: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:  # a model file's values are checked as they are read
        q = self.quantiles
        if not (self.scale > 0) or any(b < a for a, b in zip(q, q[1:], strict=False)):
            raise ValueError(f"column {self.name!r}: scale {self.scale!r} is not above 0, "
                             "or its quantiles are not in order")  # fmt: skip


@dataclass
class CategoricalState:
    name: str
    levels: list[str]
    boolean: bool = False  # true/false values, matched case-insensitively


@dataclass
class Preprocessor:
    """Fitted preprocessing; ``transform`` maps a frame to a float32 matrix."""

    layout: str
    scaler: str
    numeric: list[NumericState]
    categorical: list[CategoricalState]
    max_one_hot: int | None = None  # dense: categoricals with more levels become one code
    steps: list[NumericState] = field(default_factory=list)  # sequence: per step column

    @property
    def step_width(self) -> int:
        """Values per step of the sequence layout (a step column, and its indicator)."""
        return sum(2 if s.indicator else 1 for s in self.steps)

    def _coded(self, cat: CategoricalState) -> bool:
        """Whether a categorical is one integer code column (native, or many levels)."""
        if self.layout == "native":
            return True
        return self.max_one_hot is not None and len(cat.levels) + 1 > self.max_one_hot

    @property
    def feature_names(self) -> list[str]:
        names: list[str] = []
        for num in self.numeric:
            names.append(num.name)
            if num.indicator and self.layout == "dense":
                names.append(f"{num.name}=missing")
        for cat in self.categorical:
            if self._coded(cat):
                names.append(cat.name)
            else:
                names.extend(f"{cat.name}={level}" for level in cat.levels)
                names.append(f"{cat.name}=<other>")
        return names

    @property
    def numeric_indices(self) -> list[int]:
        """Column indices of the (scaled) numeric values, indicators left out (dense)."""
        out, i = [], 0
        for num in self.numeric:
            out.append(i)
            i += 2 if num.indicator and self.layout == "dense" else 1
        return out

    @property
    def embedded_columns(self) -> list[tuple[int, int]]:
        """(column index, number of codes) of the categoricals coded for an embedding
        (dense layout); the last code is the reserved unseen/rare/missing one."""
        if self.layout != "dense":
            return []
        names, out = self.feature_names, []
        for cat in self.categorical:
            if self._coded(cat):
                out.append((names.index(cat.name), len(cat.levels) + 1))
        return out

    @property
    def categorical_indices(self) -> list[int]:
        """Column indices holding category codes (native layout only)."""
        if self.layout != "native":
            return []
        return list(range(len(self.numeric), len(self.numeric) + len(self.categorical)))

    def transform(self, frame: pd.DataFrame) -> tuple[Any, dict[str, int]]:
        """The model matrix (for the sequence layout a :class:`~nncli.prepare.ragged.Ragged`
        of steps) and, per column, how many values it could not use (categories not seen
        in training, or text in a numeric column); those are treated as missing."""
        if self.layout == "sequence":
            return self._sequences(frame), {}
        blocks: list[np.ndarray] = []
        unseen: dict[str, int] = {}
        for num in self.numeric:
            x, n_text = coerce_numeric(frame[num.name])
            blocks.extend(self._numeric(num, x))
            if n_text:
                unseen[num.name] = n_text
        for cat in self.categorical:
            block, n_unseen = self._categorical(cat, frame[cat.name])
            blocks.append(block)
            if n_unseen:
                unseen[cat.name] = n_unseen
        if not blocks:
            return np.zeros((len(frame), 0), dtype=np.float32), unseen
        return np.column_stack(blocks).astype(np.float32, copy=False), unseen

    def _sequences(self, frame: pd.DataFrame) -> Ragged:
        """The groups' steps, each step column imputed and scaled, without padding."""
        from nncli.prepare.ragged import Ragged
        from nncli.prepare.sequences import STEPS

        arrays = list(frame[STEPS])
        lengths = np.array([len(a) for a in arrays], dtype=np.int64)
        width = self.step_width
        if not arrays or lengths.sum() == 0:
            return Ragged.from_lengths(np.zeros((0, width)), lengths)
        Z = np.vstack(arrays).astype(np.float64)
        scaled = np.column_stack(
            [b for j, s in enumerate(self.steps) for b in self._numeric(s, Z[:, j])]
        )
        return Ragged.from_lengths(scaled, lengths)

    def _numeric(self, num: NumericState, x: np.ndarray) -> list[np.ndarray]:
        missing = np.isnan(x)
        if self.layout == "native":  # clipped so that float32 holds it (1e308 → 3.4e38)
            return [np.clip(x, -F32_MAX, F32_MAX)]
        x = np.where(missing, num.median, x)
        x = _scale(x, self.scaler, num)
        out = [x]
        if num.indicator:
            out.append(missing.astype(np.float64))
        return out

    def _categorical(self, cat: CategoricalState, values: pd.Series) -> tuple[np.ndarray, int]:
        rows, labels = category_codes(values, cat.boolean)
        level_of = {level: i for i, level in enumerate(cat.levels)}
        lookup = np.array([level_of.get(label, -1) for label in labels] + [-1], dtype=np.int64)
        codes = lookup[rows]  # the missing rows' -1 picks the last entry: -1
        present = rows >= 0
        n_unseen = int(((codes < 0) & present).sum())
        if self.layout == "native":
            return np.where(codes < 0, np.nan, codes.astype(np.float64)), n_unseen
        if self._coded(cat):
            return np.where(codes < 0, len(cat.levels), codes).astype(np.float64), n_unseen
        onehot = np.zeros((len(codes), len(cat.levels) + 1))
        onehot[np.arange(len(codes)), np.where(codes < 0, len(cat.levels), codes)] = 1.0
        return onehot, n_unseen

    def transform_matrix(self, X: np.ndarray) -> np.ndarray:
        """The model matrix of a numeric array fitted by :func:`fit_matrix`."""
        blocks = [b for j, num in enumerate(self.numeric) for b in self._numeric(num, X[:, j])]
        if not blocks:
            return np.zeros((len(X), 0), dtype=np.float32)
        return np.column_stack(blocks).astype(np.float32, copy=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessor:
        return cls(
            layout=data["layout"],
            scaler=data["scaler"],
            numeric=[NumericState(**n) for n in data["numeric"]],
            categorical=[CategoricalState(**c) for c in data["categorical"]],
            max_one_hot=data.get("max_one_hot"),
            steps=[NumericState(**n) for n in data.get("steps", [])],
        )


def coerce_numeric(values: pd.Series) -> tuple[np.ndarray, int]:
    """Float64 values (stray text, ±inf and missing become NaN) and how many cells held
    text that is not a number."""
    import pandas as pd

    x = pd.to_numeric(values, errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan, copy=True
    )
    n_text = 0
    if values.dtype.kind not in "biuf":
        n_text = int((values.notna().to_numpy() & np.isnan(x)).sum())
    x[~np.isfinite(x)] = np.nan
    return x, n_text


def numeric_values(values: pd.Series) -> np.ndarray:
    """Float64 values; stray text, ±inf and missing all become NaN."""
    return coerce_numeric(values)[0]


def category_codes(values: pd.Series, boolean: bool = False) -> tuple[np.ndarray, list[str]]:
    """Each row's index into the column's distinct labels (-1 where missing) and the
    labels: categories as strings, so 1 and '1' are the same level (two distinct values
    may share a label); boolean columns as lower-case text, so True, 'TRUE' and 'true'
    are one level. One factorize of the column: converting every row to text cost 0.65 ms
    a column and pass, 1.2 s of a cross-fitted compare on a 1,000-row file."""
    import pandas as pd

    from nncli.prepare.schema import class_label

    if isinstance(values.dtype, pd.CategoricalDtype):  # see coded_categories
        rows, uniques = values.cat.codes.to_numpy(), values.cat.categories
    else:
        rows, uniques = pd.factorize(values, use_na_sentinel=True)
    labels = [class_label(u) for u in uniques]
    return rows.astype(np.int64, copy=False), [t.lower() for t in labels] if boolean else labels


def coded_categories(frame: pd.DataFrame, schema: Schema, keep: Iterable[str] = ()) -> pd.DataFrame:
    """``frame`` with its categorical and boolean feature columns (those not in ``keep``)
    as pandas categoricals of their labels, for a caller that preprocesses slices of one
    frame many times (compare: each column about 150 times, cross-fitted): each
    :func:`category_codes` is then a lookup of codes, not a factorize of text (a third
    of the transform's time on soybean's 35 categorical columns). The codes, the levels
    and so every model are the same as from the original columns."""
    import pandas as pd

    from nncli.prepare.schema import class_labels

    kinds = ("categorical", "boolean")
    names = [c.name for c in schema.columns
             if c.role in kinds and c.name in frame and c.name not in keep]  # fmt: skip
    if not names:
        return frame
    coded = {name: pd.Categorical(class_labels(frame[name])) for name in names}
    return frame.assign(**coded)


def fit_preprocessor(
    frame: pd.DataFrame,
    schema: Schema,
    layout: str,
    scaler: str = "standard",
    max_one_hot: int | None = None,
) -> Preprocessor:
    """Fit on ``frame`` (training rows only) for the schema's feature columns."""
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown layout {layout!r}", f"use one of {', '.join(LAYOUTS)}.")
    if scaler not in SCALERS:
        raise ConfigError(f"unknown --scaler {scaler!r}", f"use one of {', '.join(SCALERS)}.")
    if layout == "sequence":
        return _fit_steps(frame, schema, scaler)
    numeric, categorical = [], []
    for col in schema.features:
        if col.role == "numeric":
            numeric.append(_fit_numeric(col.name, numeric_values(frame[col.name]), scaler))
        else:
            categorical.append(_fit_categorical(col.name, frame[col.name], col.role == "boolean"))
    scaler = scaler if layout == "dense" else "none"
    return Preprocessor(layout, scaler, numeric, categorical, max_one_hot)


def _fit_steps(frame: pd.DataFrame, schema: Schema, scaler: str) -> Preprocessor:
    """The sequence layout: statistics of every step column over the training groups'
    rows (not over groups)."""
    from nncli.errors import SchemaError
    from nncli.prepare.sequences import STEPS, SequenceSpec

    if schema.sequence is None or STEPS not in frame.columns:
        raise SchemaError(
            "-m rnn reads sequences: rows grouped by an item and ordered within it",
            "pass --group ITEM_COLUMN --order POSITION_COLUMN.",
        )
    spec = SequenceSpec.from_dict(schema.sequence)
    Z = np.vstack(list(frame[STEPS])).astype(np.float64)
    steps = [_fit_numeric(name, Z[:, j], scaler) for j, name in enumerate(spec.steps)]
    return Preprocessor("sequence", scaler, [], [], None, steps)


def fit_matrix(X: np.ndarray, scaler: str) -> Preprocessor:
    """Dense preprocessing of a numeric array (columns x0, x1, …), as the MLP gets it."""
    if scaler not in SCALERS:
        raise ConfigError(f"unknown scaler {scaler!r}", f"use one of {', '.join(SCALERS)}.")
    X = np.asarray(X, dtype=np.float64)
    numeric = [_fit_numeric(f"x{j}", X[:, j], scaler) for j in range(X.shape[1])]
    return Preprocessor("dense", scaler, numeric, [])


def fit_frame(frame: pd.DataFrame, scaler: str, max_one_hot: int | None = None) -> Preprocessor:
    """Dense preprocessing of every column of a DataFrame given in Python: numeric dtypes
    are numbers (median-imputed with a missing indicator, scaled), the rest categories
    (one-hot, or one code column above ``max_one_hot`` levels)."""
    import pandas as pd

    if scaler not in SCALERS:
        raise ConfigError(f"unknown scaler {scaler!r}", f"use one of {', '.join(SCALERS)}.")
    numeric, categorical = [], []
    for name in frame.columns:
        values = frame[name]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            numeric.append(_fit_numeric(str(name), numeric_values(values), scaler))
        else:
            boolean = pd.api.types.is_bool_dtype(values)
            categorical.append(_fit_categorical(str(name), values, boolean))
    return Preprocessor("dense", scaler, numeric, categorical, max_one_hot)


def _fit_numeric(name: str, x: np.ndarray, scaler: str) -> NumericState:
    present = x[~np.isnan(x)]
    if present.size == 0:
        return NumericState(name, 0.0, indicator=True)
    median = float(np.median(present))
    state = NumericState(name, median, indicator=bool(present.size < x.size))
    filled = np.where(np.isnan(x), median, x)
    with np.errstate(over="ignore", invalid="ignore"):  # values near 1e308 overflow sums
        mean, std = float(filled.mean()), float(filled.std())
    if scaler == "standard" and not (np.isfinite(mean) and np.isfinite(std)):
        scaler = "robust"  # a column too extreme for mean/std gets median/IQR instead
        state.quantiles = []
    if scaler == "standard":
        state.center, state.scale = mean, _nonzero(std)
    elif scaler == "robust":
        q25, q75 = np.percentile(filled, [25, 75])
        spread = q75 - q25 if q75 > q25 else 0.5 * (filled.max() - filled.min())
        state.center, state.scale = median, _nonzero(float(spread))
    elif scaler == "minmax":
        lo, hi = float(filled.min()), float(filled.max())
        state.center, state.scale = lo, _nonzero(hi - lo)
    elif scaler == "quantile":
        levels = np.linspace(0, 1, min(N_QUANTILES, max(10, filled.size // 30)))
        state.quantiles = [float(q) for q in np.quantile(filled, levels)]
    return state


def _nonzero(scale: float) -> float:
    return scale if scale > 0 and np.isfinite(scale) else 1.0


def _scale(x: np.ndarray, scaler: str, num: NumericState) -> np.ndarray:
    if scaler == "quantile":
        return _quantile_normal(x, np.asarray(num.quantiles))
    if scaler == "none":
        return x
    with np.errstate(over="ignore", invalid="ignore"):
        z = np.clip((x - num.center) / num.scale, -1e6, 1e6)  # stays finite in float32
    if scaler == "robust":
        return z / np.sqrt(1.0 + (z / CLIP) ** 2)
    return z


def _quantile_normal(x: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    from scipy.special import ndtri

    if quantiles.size < 2 or quantiles[0] == quantiles[-1]:
        return np.zeros_like(x)
    levels = np.linspace(0, 1, quantiles.size)
    # average the forward and backward interpolation so tied quantiles map to their middle
    up = np.interp(x, quantiles, levels)
    down = -np.interp(-x, -quantiles[::-1], -levels[::-1])
    p = np.clip(0.5 * (up + down), 1e-7, 1 - 1e-7)
    return ndtri(p)


def _fit_categorical(name: str, values: pd.Series, boolean: bool) -> CategoricalState:
    rows, labels = category_codes(values, boolean)
    per_value = np.bincount(rows[rows >= 0], minlength=len(labels))
    counts: dict[str, int] = {}
    for label, count in zip(labels, per_value.tolist(), strict=True):
        counts[label] = counts.get(label, 0) + count
    kept = [level for level, count in counts.items() if count >= MIN_LEVEL_COUNT]
    ordered = sorted(kept, key=lambda level: (-counts[level], level))
    return CategoricalState(name, ordered[:MAX_LEVELS], boolean)
