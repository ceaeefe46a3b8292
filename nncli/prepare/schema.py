"""Schema inference: what each column is, what the target is, and what looks wrong.

The schema is shown by ``nncli inspect``, saved with every model, and checked at
predict time. Nothing is guessed silently: every ignored column has a stated reason.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from nncli.config import ColumnSpec
from nncli.errors import SchemaError, did_you_mean, short_list

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

SCHEMA_VERSION = 1
FEATURE_ROLES = ("numeric", "categorical", "boolean")
TARGET_NAMES = ("target", "label", "class", "y")

STRAY_FRACTION = 0.9  # a text column with >= 90% numbers is numeric with stray tokens
FEW_CLASS_ROWS = 25  # fewer rows of a class: about 5 or fewer in a 20% test split
IMBALANCE_SHARE = 0.05  # a class below 5% of rows is "heavy imbalance"
HIGH_MISSING = 0.5
_ID_NAME = re.compile(r"(^|[_\s-])(id|ids|uuid|guid|key|index|row)$|^unnamed: ?\d+$", re.I)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?")


@dataclass
class Column:
    """One column: its role and what it holds."""

    name: str
    role: str
    dtype: str
    n_missing: int
    n_unique: int
    examples: list[str]
    reason: str | None = None
    stats: dict[str, float | None] | None = None
    n_stray: int = 0
    stray: list[str] = field(default_factory=list)
    #: n_unique is an estimate (a long, mostly distinct numeric column; see estimate_distinct)
    n_unique_estimated: bool = False

    @property
    def is_feature(self) -> bool:
        return self.role in FEATURE_ROLES


@dataclass
class Finding:
    """Something in the data a user should know about."""

    code: str
    message: str
    column: str | None = None


@dataclass
class Schema:
    """Columns with roles, the target and its classes, and findings."""

    columns: list[Column]
    n_rows: int
    target: str | None = None
    classes: list[str] = field(default_factory=list)
    class_counts: list[int] = field(default_factory=list)
    n_missing_target: int = 0
    id_cols: list[str] = field(default_factory=list)
    weight: str | None = None
    findings: list[Finding] = field(default_factory=list)
    version: int = SCHEMA_VERSION
    target_source: str = "given"  # given (--target) | name (the only column named like one)
    derived: list[dict[str, str]] = field(default_factory=list)  # {name, expr}, in order
    sequence: dict[str, Any] | None = None  # --group/--order: a SequenceSpec's dict

    @property
    def target_words(self) -> str:
        """How the target was chosen, for the first line a command prints."""
        if self.target_source == "name":
            return f"target {self.target!r} (chosen by its name; pass --target to change)"
        return f"target {self.target!r}"

    @property
    def features(self) -> list[Column]:
        return [c for c in self.columns if c.is_feature]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        data = dict(data)
        if data.get("version") != SCHEMA_VERSION:
            raise SchemaError(
                f"schema version {data.get('version')!r} is not supported "
                f"(this nncli reads version {SCHEMA_VERSION})",
                "re-create the model or schema with this version of nncli.",
            )
        data["columns"] = [Column(**c) for c in data["columns"]]
        data["findings"] = [Finding(**f) for f in data["findings"]]
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> Schema:
        return cls.from_dict(json.loads(text))


def resolve_target(columns: list[str], requested: str | None, required: bool = True) -> str | None:
    """The target column: the one requested, else the only column named like a target."""
    if requested is not None:
        if requested not in columns:
            raise SchemaError(
                f"target column {requested!r} not found", did_you_mean(requested, columns)
            )
        return requested
    candidates = [c for c in columns if c.strip().lower() in TARGET_NAMES]
    if len(candidates) == 1:
        return candidates[0]
    if not required and not candidates:
        return None
    found = (
        f"several columns could be the target ({', '.join(candidates)})"
        if candidates
        else ("no target column given and none is named " + "/".join(TARGET_NAMES))
    )
    raise SchemaError(found, "pass --target NAME; the columns are " + short_list(columns) + ".")


def check_columns_exist(frame: pd.DataFrame, names: list[str], option: str) -> None:
    for name in names:
        if name not in frame.columns:
            raise SchemaError(
                f"column {name!r} given to {option} not found", did_you_mean(name, frame.columns)
            )


def infer_schema(
    frame: pd.DataFrame, spec: ColumnSpec | None = None, *, require_target: bool = True
) -> Schema:
    """Infer a :class:`Schema` for ``frame`` (column roles, target classes, findings)."""
    spec = spec or ColumnSpec()
    names = [str(c) for c in frame.columns]
    target = resolve_target(names, spec.target, required=require_target)
    check_columns_exist(
        frame,
        list(spec.id_cols) + list(spec.drop) + [w for w in [spec.weight] if w],
        "--id-col/--weight/--drop",
    )
    fixed = {c: "id" for c in spec.id_cols} | {c: "dropped" for c in spec.drop}
    if spec.weight:
        fixed[spec.weight] = "weight"
    if target:
        fixed[target] = "target"
    columns = _infer_columns(frame, names, fixed)
    schema = Schema(
        columns=columns,
        n_rows=len(frame),
        target=target,
        id_cols=list(spec.id_cols)
        + [c.name for c in columns if c.role == "id" and c.name not in spec.id_cols],
        weight=spec.weight,
        target_source="given" if spec.target else "name",
    )
    if target:
        _describe_target(schema, frame[target])
    schema.findings = _findings(schema, frame)
    return schema


#: frames with at least this many cells are inferred a column per thread (the sorts and
#: reductions release the GIL): 1.9 s -> 1.35 s on 500,000 x 31 with 2 cores
PARALLEL_CELLS = 2_000_000


def _infer_columns(frame: pd.DataFrame, names: list[str], fixed: dict[str, str]) -> list[Column]:
    from concurrent.futures import ThreadPoolExecutor

    from nncli.cores import usable_cores

    series = [frame[name] for name in names]  # taken here: threads only read them
    workers = min(usable_cores(), len(names), 8)
    if len(frame) * len(names) < PARALLEL_CELLS or workers < 2:
        return [
            _infer_column(s, name, fixed.get(name)) for s, name in zip(series, names, strict=True)
        ]
    with ThreadPoolExecutor(workers, thread_name_prefix="nncli-schema") as pool:
        return list(
            pool.map(lambda s, name: _infer_column(s, name, fixed.get(name)), series, names)
        )


#: above this many present values a numeric column whose values are mostly distinct has
#: its distinct count estimated: counting exactly sorts the column (0.11 s per 1.7 million
#: values; 3.4 s of CPU for the 30 columns of a 460 MB file, more than reading it)
EXACT_DISTINCT = 500_000
#: values sorted to decide whether a long column's values repeat (and its examples)
DISTINCT_SAMPLE = 20_000
#: hashes kept by the distinct-count sketch: relative standard error 1/sqrt(k - 2) = 1.6%
SKETCH_K = 4096


def _sorted_numbers(present: pd.Series, name: str) -> tuple[np.ndarray | None, int | None]:
    """The present values of a numeric (not boolean) column, sorted, and None; or, for a
    long column of mostly distinct values, a sorted sample of them and an estimate of its
    distinct count; (None, None) for other columns. One sort gives the distinct counts,
    the most frequent values and the numeric stats: pandas' hashing nunique and
    value_counts took 8 s of 10 on a 500,000 × 30 file."""
    import numpy as np
    import pandas as pd

    dtype = present.dtype
    if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        return None, None
    x = present.to_numpy()
    if len(x) <= EXACT_DISTINCT:
        return np.sort(x), None
    sample = np.sort(x[np.random.default_rng(0).choice(len(x), DISTINCT_SAMPLE, replace=False)])
    repeats = int(np.count_nonzero(sample[1:] == sample[:-1]))
    # values that repeat make the exact counts worth their sort (few levels, the most
    # frequent values); so does a column that may be a row ID (exact: every value unique)
    may_be_id = repeats == 0 and (_ID_NAME.search(name.strip()) or _whole_numbers(x, sample))
    estimate = None if repeats > len(sample) // 2 or may_be_id else estimate_distinct(x)
    return (np.sort(x), None) if estimate is None else (sample, estimate)


def _whole_numbers(x: np.ndarray, sample: np.ndarray) -> bool:
    """Whether every value of ``x`` is a whole number; its ``sample`` is asked first (the
    pass over a long column of measurements took 35 ms of the 56 its schema took)."""
    import numpy as np

    if np.issubdtype(x.dtype, np.integer):
        return True
    return bool(np.all(sample % 1 == 0)) and bool(np.all(x % 1 == 0))


def estimate_distinct(x: np.ndarray, k: int = SKETCH_K) -> int | None:
    """The number of distinct values in ``x`` estimated from the ``k``-th smallest
    distinct hash of the values (a k-minimum-values sketch: unbiased, relative standard
    error 1/sqrt(k - 2)); None when ``x`` holds fewer than ``k`` distinct values. Linear
    time: a hash and a comparison, 0.015 s per 1.7 million values."""
    import numpy as np

    if np.issubdtype(x.dtype, np.integer):
        bits = x.astype(np.int64, copy=False).view(np.uint64)
    else:  # + 0.0 makes -0.0 into 0.0, which compares equal to it
        bits = (x.astype(np.float64, copy=False) + 0.0).view(np.uint64)
    hashed = bits ^ (bits >> np.uint64(32))  # mix the high bits into the low ones,
    hashed *= np.uint64(0x9E3779B97F4A7C15)  # then multiply: the high bits depend on all
    # the hashes below a bound where about 4 * k of them fall if all values are distinct
    # (a comparison is cheaper than a partition); a partition if that leaves too few
    bound = np.uint64(min(4 * k / len(hashed), 1.0) * (2.0**64 - 2**12))
    smallest = np.unique(hashed[hashed < bound])
    if len(smallest) < k:
        m = min(len(hashed), 8 * k)
        smallest = np.unique(np.partition(hashed, m - 1)[:m])
    if len(smallest) < k:
        return None
    estimate = (k - 1) / (float(smallest[k - 1]) / 2.0**64)
    return int(min(max(round(estimate), len(smallest)), len(x)))  # at least those seen


def _distinct(counts: pd.Series | None, x: np.ndarray | None, k: int = 3) -> tuple[int, list[str]]:
    """The number of distinct values and the ``k`` most frequent (for numbers, ties:
    the smaller value first), from a column's sorted numbers ``x`` or, for other
    columns, the ``value_counts`` of its present values."""
    import numpy as np

    if x is None:
        assert counts is not None
        return len(counts), [_fmt(v) for v in counts.index[:k]]
    if len(x) == 0:
        return 0, []
    new = np.empty(len(x), dtype=bool)  # where a run of equal values starts
    new[0] = True
    np.not_equal(x[1:], x[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    if len(starts) == len(x):  # all distinct (common for measurements): the k smallest
        return len(starts), [_fmt(v.item() if hasattr(v, "item") else v) for v in x[:k]]
    counts = np.diff(starts, append=len(x))
    tally = np.bincount(counts)  # how many values occur c times; the k-th largest c:
    kth = int(np.flatnonzero(np.cumsum(tally[::-1]) >= min(k, len(counts)))[0])
    kth = len(tally) - 1 - kth
    more = np.flatnonzero(counts > kth)  # fewer than k: sort only these
    top = [*more[np.argsort(-counts[more], kind="stable")], *np.flatnonzero(counts == kth)][:k]
    values = [x[starts[i]] for i in top]
    return len(starts), [_fmt(v.item() if hasattr(v, "item") else v) for v in values]


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.6g}"
    return str(v)


def _numeric_stats(values: pd.Series) -> dict[str, float | None]:
    import numpy as np

    x = values.dropna().to_numpy(dtype=np.float64)
    finite = np.isfinite(x)
    return _finite_stats(x if finite.all() else x[finite])  # no copy where all are finite


def _sorted_stats(x: np.ndarray) -> dict[str, float | None]:
    """:func:`_numeric_stats` of sorted present values: the infinities are at the ends."""
    import numpy as np

    x = x.astype(np.float64, copy=False)
    lo = int(np.searchsorted(x, -np.inf, side="right"))
    hi = int(np.searchsorted(x, np.inf, side="left"))  # NaN would sort after +inf
    return _finite_stats(x[lo:hi])


def _finite_or_none(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _finite_stats(finite: np.ndarray) -> dict[str, float | None]:
    import numpy as np

    if finite.size == 0:
        return {"min": None, "max": None, "mean": None, "std": None}
    with np.errstate(over="ignore", invalid="ignore"):  # 1e308-sized values overflow
        return {
            "min": _finite_or_none(finite.min()),
            "max": _finite_or_none(finite.max()),
            "mean": _finite_or_none(finite.mean()),
            "std": _finite_or_none(finite.std()),
        }


def _infer_column(values: pd.Series, name: str, fixed: str | None) -> Column:
    import pandas as pd

    n = len(values)
    n_missing = int(values.isna().sum())
    present = values.dropna() if n_missing else values  # dropna copies the column
    numbers, estimate = _sorted_numbers(present, name)
    counts = present.value_counts() if numbers is None else None  # one hashing pass
    n_unique, examples = _distinct(counts, numbers)
    col = Column(
        name=name,
        role="numeric",
        dtype=str(values.dtype),
        n_missing=n_missing,
        n_unique=n_unique if estimate is None else estimate,
        examples=examples,
        n_unique_estimated=estimate is not None,
    )
    if estimate is not None:  # numbers is a sample: the stats come from every value
        numbers = None
    if fixed:
        col.role = fixed
        col.reason = {
            "id": "given as --id-col",
            "dropped": "given as --drop",
            "weight": "given as --weight",
            "target": None,
        }[fixed]
        if fixed == "weight":
            col.stats = _numeric_stats(pd.to_numeric(values, errors="coerce"))
        return col
    if n_missing == n:
        return _ignored(col, "empty", "all values are missing")
    if n_unique == 1:
        return _ignored(col, "constant", f"every value is {col.examples[0]!r}")
    if pd.api.types.is_bool_dtype(values.dtype):
        col.role = "boolean"
        return col
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return _ignored(col, "datetime", "dates and times are not used as features")
    if pd.api.types.is_numeric_dtype(values.dtype):
        return _numeric_column(col, values, present, numbers)
    assert counts is not None
    return _text_column(col, counts, n - n_missing)


def _ignored(col: Column, role: str, reason: str) -> Column:
    col.role, col.reason = role, reason
    return col


def _looks_like_id(name: str, present: pd.Series, n_unique: int, integer: bool) -> bool:
    if n_unique != len(present) or n_unique < 20:
        return False
    if _ID_NAME.search(name.strip()):
        return True
    if integer:
        lo, hi = int(present.min()), int(present.max())
        return hi - lo + 1 == n_unique  # a row counter
    return False


def _numeric_column(
    col: Column, values: pd.Series, present: pd.Series, numbers: np.ndarray | None
) -> Column:
    import pandas as pd

    if col.n_unique_estimated:  # mostly distinct, not whole numbers, not named like an ID
        col.stats = _numeric_stats(present)
        return col
    integer = pd.api.types.is_integer_dtype(values.dtype) or (
        col.n_unique == len(present) and bool((present % 1 == 0).all())
    )  # only an all-distinct column can be a row counter: skip the check otherwise
    if _looks_like_id(col.name, present, col.n_unique, integer):
        return _ignored(col, "id", "every value is unique, like a row ID")
    col.stats = _numeric_stats(present) if numbers is None else _sorted_stats(numbers)
    return col


def _text_column(col: Column, counts: pd.Series, n_present: int) -> Column:
    """The role of a text column, decided on its distinct values weighted by their
    counts (``counts``: its ``value_counts``): a 3-level column of 500,000 rows took
    0.76 s when every row was parsed and matched."""
    import numpy as np
    import pandas as pd

    text = pd.Series(counts.index.astype(str))
    weights = counts.to_numpy()
    numbers = pd.to_numeric(text, errors="coerce")
    is_number = numbers.notna().to_numpy()
    if weights[is_number].sum() >= STRAY_FRACTION * n_present and is_number.any():
        stray = pd.Series(weights[~is_number], index=text[~is_number]).groupby(level=0).sum()
        col.role, col.n_stray = "numeric", int(stray.sum())
        col.stray = sorted(stray.index.astype(str), key=lambda t: (-stray[t], t))[:5]
        col.stats = _weighted_stats(numbers[is_number].to_numpy(np.float64), weights[is_number])
        col.reason = f"{col.n_stray} value(s) are not numbers and are read as missing"
        return col
    if weights[text.str.match(_DATE).to_numpy()].sum() >= STRAY_FRACTION * n_present:
        return _ignored(col, "datetime", "dates and times are not used as features")
    if col.n_unique > 0.5 * n_present and col.n_unique >= 20:
        words = np.average(text.str.count(" ") + 1, weights=weights)
        if words >= 4 and np.average(text.str.len(), weights=weights) >= 25:
            return _ignored(col, "text", "free text (long, mostly unique strings) is not used")
        if col.n_unique == n_present:
            return _ignored(col, "id", "every value is unique, like a row ID")
    if col.n_unique == 2 and {v.lower() for v in text} <= {"true", "false"}:
        col.role = "boolean"
        return col
    col.role = "categorical"
    return col


def _weighted_stats(values: np.ndarray, weights: np.ndarray) -> dict[str, float | None]:
    """:func:`_numeric_stats` of ``values`` each repeated ``weights`` times."""
    import numpy as np

    finite = np.isfinite(values)
    values, weights = values[finite], weights[finite]
    if values.size == 0:
        return _finite_stats(values)
    with np.errstate(over="ignore", invalid="ignore"):
        mean = np.average(values, weights=weights)
        var = np.average((values - mean) ** 2, weights=weights)
    return _finite_stats(values) | {
        "mean": _finite_or_none(mean),
        "std": _finite_or_none(np.sqrt(var)),
    }


def class_label(value: Any) -> str:
    """A target value as the string label nncli reports (1.0 → '1')."""
    return _fmt(value)


def class_labels(values: pd.Series) -> pd.Series:
    """:func:`class_label` of every value (missing stays missing, as NaN), computed once
    per distinct value: a 50,000-row column has a handful of levels, and mapping each
    row in Python cost a second per pass on the adult set."""
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    labels = np.array([class_label(u) for u in uniques] + [np.nan], dtype=object)
    return pd.Series(labels[codes], index=values.index, dtype=object, name=values.name)


def _describe_target(schema: Schema, values: pd.Series) -> None:
    import pandas as pd

    present = values.dropna()
    schema.n_missing_target = int(len(values) - len(present))
    if present.empty:
        raise SchemaError(
            f"target column {schema.target!r} has no values",
            "pass the column that holds the class labels as --target.",
        )
    if pd.api.types.is_numeric_dtype(present.dtype) and not pd.api.types.is_bool_dtype(
        present.dtype
    ):
        n_unique = present.nunique()
        fractional = not bool((present % 1 == 0).all())
        if n_unique > 100 or (fractional and n_unique > 20):
            raise SchemaError(
                f"target column {schema.target!r} has {n_unique} distinct numeric values; "
                "it looks continuous, and nncli does classification",
                "pick a column of class labels, or bin this one into classes first.",
            )
    counts = class_labels(present).value_counts()
    order = sorted(counts.index, key=_label_key)
    schema.classes = [str(c) for c in order]
    schema.class_counts = [int(counts[c]) for c in order]
    if len(order) < 2:
        raise SchemaError(
            f"target column {schema.target!r} has only one class ({order[0]!r})",
            "classification needs at least two classes; check --target and the file.",
        )
    rare = [c for c, k in zip(schema.classes, schema.class_counts, strict=True) if k < 2]
    if rare:
        raise SchemaError(
            f"class {rare[0]!r} of target {schema.target!r} has only 1 row"
            + (f" ({len(rare) - 1} more such classes)" if len(rare) > 1 else ""),
            "every class needs at least 2 rows to be split into training and test; "
            "remove or merge those rows.",
        )


def _label_key(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def _other_label(schema: Schema, frame: pd.DataFrame) -> Finding | None:
    """A target picked by its name while the last column, not the target, looks like a
    label too (a handful of distinct values): say so, naming both."""
    last = str(frame.columns[-1])
    if schema.target_source != "name" or schema.target is None or last == schema.target:
        return None
    distinct = frame[last].nunique(dropna=True)
    if not 2 <= distinct <= 10:
        return None
    return Finding(
        "other_label",
        f"the target is {schema.target!r}, chosen by its name, but the last column "
        f"{last!r} also looks like a label ({distinct} distinct values); pass --target "
        f"{last} if that is what you want to predict",
        last,
    )


def _findings(schema: Schema, frame: pd.DataFrame) -> list[Finding]:
    out: list[Finding] = [f for f in [_other_label(schema, frame)] if f]
    if schema.n_missing_target:
        out.append(
            Finding(
                "missing_target",
                f"{schema.n_missing_target} row(s) have no target value and are left out",
                schema.target,
            )
        )
    for col in schema.columns:
        if col.role == "id" and col.reason != "given as --id-col":
            out.append(
                Finding(
                    "id_like",
                    f"{col.name!r} looks like an ID and is not used as a "
                    f"feature; pass --id-col {col.name} to carry it into predictions",
                    col.name,
                )
            )
        elif col.role in ("empty", "datetime", "text"):
            out.append(Finding(col.role, f"{col.name!r} is ignored: {col.reason}", col.name))
        if col.n_stray:
            out.append(
                Finding(
                    "stray_values",
                    f"{col.name!r} is numeric but has {col.n_stray} "
                    f"non-numeric value(s) ({short_list(col.stray, 3)}), read as missing",
                    col.name,
                )
            )
        if col.is_feature and col.n_missing > HIGH_MISSING * schema.n_rows:
            share = col.n_missing / schema.n_rows
            out.append(Finding("high_missing", f"{col.name!r} is {share:.0%} missing", col.name))
    constant = [c for c in schema.columns if c.role == "constant"]
    if len(constant) == 1:
        out.append(
            Finding(
                "constant",
                f"{constant[0].name!r} is ignored: {constant[0].reason}",
                constant[0].name,
            )
        )
    elif constant:
        names = short_list((c.name for c in constant), 6)
        out.append(Finding("constant", f"{len(constant)} constant columns are ignored: {names}"))
    if schema.target:
        out.extend(_leakage(schema, frame))
        out.extend(_imbalance(schema))
    return out


def _imbalance(schema: Schema) -> list[Finding]:
    total = sum(schema.class_counts)
    share, label, count = min(
        (k / total, c, k) for c, k in zip(schema.classes, schema.class_counts, strict=True)
    )
    if share >= IMBALANCE_SHARE:
        return []
    few = (
        f"; with {count} rows of it a test split holds few or none, and a difference in "
        "ROC AUC that rests on them is not reliable, whatever its p-value"
        if count < FEW_CLASS_ROWS
        else ""
    )  # hypothyroid: one test row of a class decided a "significant" -0.009 AUC
    return [
        Finding(
            "imbalance",
            f"heavy class imbalance: {label!r} is {share:.1%} of rows; "
            "accuracy is misleading here, look at balanced accuracy and ROC AUC" + few,
            schema.target,
        )
    ]


def _leakage(schema: Schema, frame: pd.DataFrame) -> list[Finding]:
    """Feature columns that on their own separate the classes perfectly."""
    import numpy as np
    import pandas as pd

    assert schema.target is not None
    y = class_labels(frame[schema.target])
    keep = y.notna().to_numpy()
    y = y[keep]
    if y.nunique() < 2:
        return []
    numeric = [c.name for c in schema.features if c.role == "numeric"]
    leaks = set()
    if numeric:  # per-class ranges of every numeric column in one pass
        values = frame.loc[keep, numeric].apply(pd.to_numeric, errors="coerce")
        counts = values.notna().sum()
        ranges = values.groupby(y.to_numpy()).agg(["min", "max"])
        for name in numeric:
            lo, hi = ranges[(name, "min")].to_numpy(), ranges[(name, "max")].to_numpy()
            present = ~np.isnan(lo)
            if counts[name] < 10 or present.sum() < 2:
                continue
            order = np.argsort(lo[present])
            if bool((hi[present][order][:-1] < lo[present][order][1:]).all()):
                leaks.add(name)
    for col in schema.features:
        if col.role != "numeric":
            x = frame.loc[keep, col.name]
            mask = x.notna()
            if mask.sum() >= 10 and x[mask].nunique() >= 2 and _separates(x[mask], y[mask]):
                leaks.add(col.name)
    return [
        Finding(
            "leakage",
            f"{c.name!r} alone separates the classes perfectly; if it is "
            f"derived from the target, drop it with --drop {c.name!r}",
            c.name,
        )
        for c in schema.features
        if c.name in leaks
    ]


def _separates(x: pd.Series, y: pd.Series) -> bool:
    """Does every level of the categorical ``x`` belong to one class only?"""
    if y.nunique() < 2 or x.nunique() > len(x) / 2:
        return False
    return bool((y.groupby(x).nunique() == 1).all())
