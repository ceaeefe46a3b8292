"""A read table made ready for the models: derived columns added, rows grouped into
sequences, the schema inferred and said, labelled rows, class indices and weights.

Every command reads its data through here (``read_schema``), and a model reads new rows
the way it read its training rows (``prepare_frame``, ``with_derived``). Nothing here
fits a model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nncli.config import ColumnSpec
from nncli.errors import ConfigError, DataError, Info, SchemaError, did_you_mean, short_list
from nncli.io.data import ReadOptions, Table, is_frame, read_table
from nncli.prepare.derived import add_columns
from nncli.prepare.schema import Schema, infer_schema

if TYPE_CHECKING:
    import pandas as pd

    from nncli.config import MLPConfig, Settings

#: Called once the schema is known, before any model is fitted: (schema, notes).
SchemaCallback = Callable[[Schema, list[str]], None]


def read_schema(
    source: str | Path | pd.DataFrame,
    read: ReadOptions | None,
    columns: ColumnSpec,
    first: list[str] | None = None,
    rnn: MLPConfig | None = None,
) -> tuple[Table, Schema, list[str]]:
    """Read, add the derived columns, infer the schema, and gather what to say before any
    training: the ``first`` notes, the reader's, the schema's findings and, with ``rnn``
    (the settings of a recurrent net to come), whether it reads every row of a group."""
    table = read_table(source, read)
    schema = table_schema(table, columns)
    require_features(schema)  # an unusable file is one error line, nothing before it
    notes = list(first or []) + list(table.notes) + schema_warnings(schema)
    if rnn is not None and schema.sequence is not None:
        from nncli.prepare import sequences

        notes += sequences.cap_notes(table.frame[sequences.COUNT], rnn.max_steps, rnn.keep_steps)
    return table, schema, notes


def schema_warnings(schema: Schema) -> list[str]:
    """The findings a command that trains should say out loud (inspect shows them all)."""
    return [f.message for f in schema.findings]


def table_schema(table: Table, columns: ColumnSpec, require_target: bool = True) -> Schema:
    """The schema of ``table`` after its derived columns are added (and, with --group,
    its rows grouped into sequences: ``table.frame`` becomes one row per group)."""
    derived = _add_derived(table, columns)
    if columns.group is not None or columns.order is not None:
        schema = _sequence_schema(table, columns, require_target)
    else:
        schema = infer_schema(table.frame, columns, require_target=require_target)
    schema.derived = derived
    return schema


def _add_derived(table: Table, columns: ColumnSpec | None) -> list[dict[str, str]]:
    """Add the derived columns of ``columns.derived`` to ``table.frame`` (checked before
    anything is computed), with a note for each that some rows could not be computed."""
    from nncli.prepare import derived

    if columns is None or not columns.derived:
        return []
    defs = derived.parse(columns.derived, table.frame.columns)
    table.frame, invalid = derived.add_columns(table.frame, defs)
    table.notes.extend(
        f"derived column {name!r}: {n:,} row(s) have no value although their inputs are "
        "present (division by zero, log of a negative, an overflow); they count as missing"
        for name, n in invalid.items()
    )
    return [d.to_dict() for d in defs]


def _sequence_schema(table: Table, columns: ColumnSpec, require_target: bool) -> Schema:
    """--group/--order: the numeric columns are the steps; the frame becomes one row per
    group (aggregates for the rough models, the ordered steps for the RNN)."""

    from nncli.prepare import sequences
    from nncli.prepare.schema import Column

    frame = table.frame
    sequences.check_columns([str(c) for c in frame.columns], columns.group, columns.order)
    assert columns.group is not None and columns.order is not None
    if columns.weight:
        raise ConfigError("--weight is not available with --group", "leave out --weight.")
    flat = replace(columns, drop=(*columns.drop, columns.group, columns.order),
                   group=None, order=None, derived=())  # fmt: skip
    rows = infer_schema(frame, flat, require_target=require_target)
    steps = tuple(c.name for c in rows.features if c.role == "numeric")
    if not steps:
        raise SchemaError("--group needs numeric columns to read in order; there are none",
                          "run nncli inspect to see the columns' roles.")  # fmt: skip
    spec = sequences.SequenceSpec(columns.group, columns.order, steps)
    table.frame = sequences.to_groups(frame, spec, rows.target)
    lengths = table.frame[sequences.COUNT]
    per_group = replace(flat, id_cols=(*columns.id_cols, columns.group), drop=())
    schema = infer_schema(table.frame.drop(columns=sequences.STEPS), per_group,
                          require_target=require_target)  # fmt: skip
    span = f"{int(lengths.min()):,} to {int(lengths.max()):,} rows per group"
    schema.columns.append(Column(sequences.STEPS, "sequence", "object", 0, len(lengths), [span]))
    schema.sequence = spec.to_dict()
    unused = [c.name for c in rows.features if c.role != "numeric"]
    table.notes.append(
        Info(
            f"{len(lengths):,} groups ({span}); {spec.words()}"
            + (f"; not read per step: {', '.join(unused)}" if unused else "")
        )
    )
    return schema


def with_derived(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Another file's rows (--valid, --test) as the schema reads them: with the derived
    columns, and grouped into sequences with --group."""
    return prepare_frame(schema, frame)[0]


def prepare_frame(schema: Schema, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Raw rows as the model reads them: with the derived columns (and their counts of
    rows without a value) and, for sequences, one row per group. A frame that is
    already grouped (it has the step arrays) is returned as it is."""
    from nncli.prepare.sequences import STEPS, SequenceSpec, to_groups

    if schema.sequence is not None and STEPS in frame.columns:
        return frame, {}
    frame, invalid = add_columns(frame, schema.derived)
    if schema.sequence is not None:
        frame = to_groups(frame, SequenceSpec.from_dict(schema.sequence), schema.target)
    return frame, invalid


def whole_groups(
    schema: Schema, chunks: Iterator[pd.DataFrame], source: str | Path | pd.DataFrame
) -> Iterator[pd.DataFrame]:
    """The chunks as they are, or for a sequence model one row per group, no group
    split across chunks (the input grouped by the group column, else an error)."""
    from nncli.prepare.sequences import SequenceSpec, group_chunks

    if schema.sequence is None:
        yield from chunks
        return
    name = "<DataFrame>" if is_frame(source) else str(source)
    for part in group_chunks(chunks, SequenceSpec.from_dict(schema.sequence), name):
        yield prepare_frame(schema, part)[0]


def with_test_rows(
    table: Table,
    schema: Schema,
    cv: int | None,
    test: str | Path | None,
    read: ReadOptions | None,
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The labelled rows, with those of a ``test`` file appended (and their indices)."""
    import pandas as pd

    frame = labelled_rows(table.frame, schema).reset_index(drop=True)
    if test is None:
        return frame, None
    if cv:
        raise ConfigError(
            "--test and --cv cannot be used together",
            "use --cv K on one file, or --test FILE without --cv.",
        )
    test_frame = labelled_rows(with_derived(read_table(test, read).frame, schema), schema)
    check_feature_columns(schema, [str(c) for c in test_frame.columns])
    test_rows = np.arange(len(frame), len(frame) + len(test_frame))
    return pd.concat([frame, test_frame], ignore_index=True), test_rows


def check_feature_columns(schema: Schema, columns: list[str]) -> None:
    """Every feature column must be present; extra columns and any order are fine."""
    present = set(columns)
    missing = [c.name for c in schema.features if c.name not in present]
    if missing:
        raise SchemaError(
            f"{len(missing)} feature column(s) the model was trained on are missing: "
            + short_list(missing, 8),
            "pass data with the training columns (names must match exactly).",
        )


def id_columns(schema: Schema, columns: list[str], requested: tuple[str, ...]) -> list[str]:
    """The ID columns of a prediction: those asked for (each must exist), else the
    schema's that are present."""
    if requested:
        for name in requested:
            if name not in columns:
                raise SchemaError(
                    f"--id-col {name!r} not found in the data", did_you_mean(name, columns)
                )
        return list(requested)
    return [c for c in schema.id_cols if c in columns]


def evaluation_rows(
    schema: Schema, classes: list[str], table: Table
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None]:
    """The labelled rows of a file a model is evaluated on (grouped for a sequence
    model), their class indices and event weights (None without the weight column)."""
    frame = table.frame
    if schema.sequence is not None:  # one row per group
        frame = prepare_frame(schema, frame)[0]
    frame = labelled_rows(frame, schema)
    if frame.empty:
        raise DataError(
            f"{table.source} has no rows with a target value",
            f"fill in the {schema.target!r} column.",
        )
    y = labels_to_index(frame[schema.target], classes, table.source)
    w = row_weights(frame, schema) if schema.weight in frame.columns else None
    return frame, y, w


def labelled_rows(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """The rows with a target value (the target column must be there)."""
    assert schema.target is not None
    if schema.target not in frame.columns:
        raise SchemaError(
            f"target column {schema.target!r} not found", did_you_mean(schema.target, frame.columns)
        )
    return frame[frame[schema.target].notna()]


def labels_to_index(values: pd.Series, classes: list[str], source: str) -> np.ndarray:
    """Class indices for target values; an unknown class is an error that names it."""
    from nncli.prepare.schema import class_labels

    labels = class_labels(values)
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise DataError(
            f"{source} has target value(s) the model does not know: {short_list(unknown, 5)}",
            "the model predicts only the classes " + short_list(classes, 8) + ".",
        )
    return labels.map(index).to_numpy(dtype=np.int64)


#: class weight sums further apart than this get a finding suggesting balanced weights
WEIGHT_SUM_RATIO = 10.0


def weight_notes(frame: pd.DataFrame, schema: Schema, class_weight: str | None) -> list[str]:
    """With --weight, what the run header says of the weights: each class's sum, the
    negative ones (ignored in training, kept in the metrics), that every metric is
    weighted; and a finding when the classes' sums differ more than
    :data:`WEIGHT_SUM_RATIO`-fold (TMVA normalises signal and background)."""
    from nncli.errors import Info

    if not schema.weight or schema.target is None:
        return []
    rows = labelled_rows(frame, schema)
    w = row_weights(rows, schema)
    y = labels_to_index(rows[schema.target], schema.classes, "the data")
    sums = np.bincount(y, weights=w, minlength=len(schema.classes))
    parts = ", ".join(f"Σ {c} {s:,.4g}" for c, s in zip(schema.classes, sums, strict=True))
    negative = int((w < 0).sum())
    line = f"weighted by {schema.weight!r}: {parts}"
    if negative:
        line += f"; {negative:,} negative weight(s) (ignored in training, kept in the metrics)"
    notes: list[str] = [Info(line + "; every metric is weighted")]
    positive = sums[sums > 0]
    if class_weight != "balanced" and positive.size > 1:
        ratio = positive.max() / positive.min()
        if ratio > WEIGHT_SUM_RATIO:
            high, low = schema.classes[int(np.argmax(sums))], schema.classes[
                int(np.argmin(np.where(sums > 0, sums, np.inf)))]  # fmt: skip
            notes.append(f"the classes' weight sums differ {ratio:,.0f}-fold ({high} against "
                         f"{low}): the models learn those proportions, so most outputs favour "
                         f"{high}; --class-weight balanced gives every class the same total in "
                         "training (TMVA's NormMode=EqualNumEvents)")  # fmt: skip
    return notes


def row_weights(frame: pd.DataFrame, schema: Schema) -> np.ndarray:
    """Event weights (1 without --weight); a missing weight is an error."""
    from nncli.prepare.preprocess import numeric_values

    if not schema.weight:
        return np.ones(len(frame))
    w = numeric_values(frame[schema.weight])
    if np.isnan(w).any():
        raise DataError(
            f"weight column {schema.weight!r} has {int(np.isnan(w).sum())} missing or "
            "non-numeric value(s)",
            "fill them in, or drop those rows.",
        )
    return w


def require_features(schema: Schema) -> None:
    """A model needs at least one feature column."""
    if not schema.features:
        ignored = short_list(
            (f"{c.name} ({c.role})" for c in schema.columns if c.role not in ("target", "weight")),
            6,
        )
        raise SchemaError(
            f"no column can be used as a feature: {ignored or 'only the target'}",
            "run nncli inspect to see why; an ID-like column that is a real "
            "feature can be kept by renaming it.",
        )


def fold_numbers(frame: pd.DataFrame, column: str, k: int) -> np.ndarray:
    """``--fold-by COL``: each row's fold, COL mod K; an integer column, else an error."""
    import pandas as pd

    if column not in frame.columns:
        raise ConfigError(f"--fold-by column {column!r} not found",
                          did_you_mean(column, [str(c) for c in frame.columns]))  # fmt: skip
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    whole = np.isfinite(values) & (values == np.round(values))
    if not whole.all():
        raise DataError(
            f"--fold-by column {column!r} must hold integers (an event number); "
            f"{int((~whole).sum()):,} row(s) do not",
            "pass an integer column, or leave --fold-by out for stratified folds.",
        )
    return np.mod(values.astype(np.int64), k)


def column_spec(
    columns: ColumnSpec | None, target: str | None, id_cols: tuple[str, ...],
    weight: str | None, drop: tuple[str, ...], settings: Settings,
) -> ColumnSpec:  # fmt: skip
    """The columns' parts, given whole or as keywords; --fold-by COL is an ID column
    (carried into predictions, never a feature)."""
    columns = columns or ColumnSpec(target, tuple(id_cols), weight, tuple(drop))
    col = settings.run.fold_by
    if col is None or col in columns.id_cols:
        return columns
    return replace(columns, id_cols=(*columns.id_cols, col))
