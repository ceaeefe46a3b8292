"""Sequences: long-format rows grouped into items (``--group COL --order COL``).

The rows of one item share a group id and are ordered by another column; the target is
constant within a group. :func:`to_groups` turns the rows into one row per group that
holds (1) per-group aggregates of every numeric column — count, mean, std, min, max,
first, last — which the rough models (gbt, logreg, …) use as ordinary features, and
(2) the group's rows in order as one float array in the :data:`STEPS` column, which
only the recurrent net (``-m rnn``) reads. Aggregates cannot see order; the RNN can.

At predict time :func:`group_chunks` streams whole groups: a group is never split
across chunks, and a group that comes back after another one began is an error
(the input must be sorted, or at least grouped, by the group column).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nncli.errors import ConfigError, DataError, SchemaError, did_you_mean

if TYPE_CHECKING:
    import pandas as pd

STEPS = "_steps"  # the column of per-group step arrays (role "sequence")
AGGREGATES = ("mean", "std", "min", "max", "first", "last")
COUNT = "n_rows"


@dataclass(frozen=True)
class SequenceSpec:
    """Which column groups the rows, which orders them, and the numeric step columns."""

    group: str
    order: str
    steps: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"steps": list(self.steps)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SequenceSpec:
        return cls(data["group"], data["order"], tuple(data["steps"]))

    @property
    def aggregate_names(self) -> list[str]:
        return [COUNT] + [f"{c}_{a}" for c in self.steps for a in AGGREGATES]

    def words(self) -> str:
        """How the rows are used, for the first lines a command prints."""
        cols = ", ".join(self.steps)
        return (
            f"rows grouped by {self.group!r}, ordered by {self.order!r}: the rough models see "
            f"per-group aggregates (count, mean, std, min, max, first, last of {cols}); "
            "rnn reads each group's rows in order"
        )


def cap_notes(lengths: Any, max_steps: int | None, keep: str) -> list[str]:
    """What ``--max-steps`` leaves out, in words: the groups longer than it, if any."""
    lengths = np.asarray(lengths, dtype=np.int64)
    longer = lengths[lengths > max_steps] if max_steps else lengths[:0]
    if not len(longer):
        return []
    return [
        f"rnn reads the {keep} {max_steps:,} rows of a group (--max-steps, --keep-steps): "
        f"{len(longer):,} group(s) are longer (up to {int(longer.max()):,} rows); the rough "
        "models' aggregates use every row"
    ]


def check_columns(columns: list[str], group: str | None, order: str | None) -> None:
    """--group and --order come together and name two different existing columns."""
    if (group is None) != (order is None):
        raise ConfigError(
            "--group and --order go together",
            "pass both: --group ITEM_ID_COLUMN --order POSITION_OR_TIME_COLUMN.",
        )
    for flag, name in (("--group", group), ("--order", order)):
        if name is not None and name not in columns:
            raise ConfigError(f"{flag} column {name!r} not found", did_you_mean(name, columns))


def _step_matrix(frame: pd.DataFrame, steps: tuple[str, ...]) -> np.ndarray:
    """The step columns as float64 (text, ±inf and missing → NaN, as preprocessing reads
    numbers; preprocessing imports this module, so not its function)."""
    import pandas as pd

    if not steps:
        return np.zeros((len(frame), 0))
    X = np.column_stack([
        pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        for c in steps
    ])  # fmt: skip
    X[~np.isfinite(X)] = np.nan
    return X


def to_groups(frame: pd.DataFrame, spec: SequenceSpec, target: str | None = None) -> pd.DataFrame:
    """One row per group, in order of first appearance: the group id, the target (which
    must be constant within a group), the aggregates and the :data:`STEPS` arrays."""
    import pandas as pd

    missing = [c for c in (spec.group, spec.order, *spec.steps) if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"the sequence model reads column(s) the data lacks: {', '.join(missing)}",
            "pass data with the training columns (names must match exactly).",
        )
    codes, uniques = pd.factorize(frame[spec.group], use_na_sentinel=True)
    if (codes < 0).any():
        raise DataError(
            f"group column {spec.group!r} has {int((codes < 0).sum()):,} missing value(s)",
            "fill in the group id of every row, or drop those rows.",
        )
    position = _order_values(frame[spec.order], spec.order)
    rows = np.lexsort((position, codes))  # by group (first appearance), then by order
    codes = codes[rows]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    X = _step_matrix(frame.iloc[rows], spec.steps)
    out = pd.DataFrame({spec.group: np.asarray(uniques, dtype=object)})
    if target is not None and target in frame.columns:
        out[target] = _group_target(frame[target].iloc[rows], codes, starts, uniques, spec.group)
    out[COUNT] = np.diff(np.r_[starts, len(codes)]).astype(np.float64)
    for name, values in _aggregates(X, codes, starts, spec.steps).items():
        out[name] = values
    out[STEPS] = pd.Series(np.split(X.astype(np.float32), starts[1:]), dtype=object)
    return out


def _order_values(values: pd.Series, name: str) -> np.ndarray:
    """Numbers or times sort as such; anything else as text. Missing: an error."""
    import pandas as pd

    if values.isna().any():
        raise DataError(
            f"order column {name!r} has {int(values.isna().sum()):,} missing value(s)",
            "fill in the position of every row within its group.",
        )
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().all():
        return numbers.to_numpy(dtype=np.float64)
    return pd.factorize(values.astype(str), sort=True)[0]


def _group_target(
    target: pd.Series, codes: np.ndarray, starts: np.ndarray, uniques: Any, group: str
) -> np.ndarray:
    """The target of each group (its first row's); an error names the first group whose
    rows disagree."""
    import pandas as pd

    values = target.to_numpy(dtype=object)
    distinct = pd.Series(values).groupby(codes, sort=True).nunique(dropna=False)
    if (distinct > 1).any():
        bad = int(distinct.index[(distinct > 1).to_numpy()][0])  # the first to appear
        seen = sorted({str(v) for v in values[codes == bad]})
        raise DataError(
            f"the target is not constant within group {uniques[bad]!r} of {group!r}: it has "
            + ", ".join(repr(v) for v in seen[:4]),
            "each group is one item with one class; check the --group column.",
        )
    return values[starts]


def _aggregates(
    X: np.ndarray, codes: np.ndarray, starts: np.ndarray, steps: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """Per group and step column: mean, std, min, max, first, last (missing skipped)."""
    import pandas as pd

    out: dict[str, np.ndarray] = {}
    if not steps:
        return out
    grouped = pd.DataFrame(X, columns=list(steps)).groupby(codes, sort=True)
    table = grouped.agg(["mean", "std", "min", "max", "first", "last"])
    for col in steps:
        for agg in AGGREGATES:
            out[f"{col}_{agg}"] = table[(col, agg)].to_numpy(dtype=np.float64)
    return out


def group_chunks(
    chunks: Iterable[pd.DataFrame], spec: SequenceSpec, source: str
) -> Iterator[pd.DataFrame]:
    """Whole groups from a stream of row chunks (each converted by :func:`to_groups`):
    the last group of a chunk waits for the next one. A group whose rows are not
    together (it comes back after another group) is an error."""
    import pandas as pd

    done: set[Any] = set()
    carry: pd.DataFrame | None = None
    row = 0
    for chunk in chunks:
        frame = chunk if carry is None else pd.concat([carry, chunk], ignore_index=True)
        if frame.empty:
            continue
        ids = frame[spec.group].to_numpy(dtype=object)
        other = np.flatnonzero(ids != ids[-1])
        cut = int(other[-1]) + 1 if len(other) else 0  # the last group's run starts here
        head, carry = frame.iloc[:cut], frame.iloc[cut:]
        _check_together(head[spec.group], done, source, row, spec.order)
        row += len(head)
        if len(head):
            yield head
    if carry is not None and len(carry):
        _check_together(carry[spec.group], done, source, row, spec.order)
        yield carry


def _check_together(ids: pd.Series, done: set[Any], source: str, row: int, order: str) -> None:
    """The groups of ``ids`` are contiguous and none of them was finished before."""
    values = ids.to_numpy(dtype=object)
    if not len(values):  # a chunk that only continues the group carried over
        return
    runs = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    starts = values[runs]
    for i, value in enumerate(starts):
        if value in done:
            raise DataError(
                f"{source} is not grouped by {ids.name!r}: group {value!r} comes back at "
                f"row {row + int(runs[i]) + 1:,} after other groups",
                "sort the file by the group column first, e.g. with pandas: "
                f"frame.sort_values([{ids.name!r}, {order!r}]).",
            )
        done.add(value)
