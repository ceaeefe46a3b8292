"""The library API: each function is one command's work, returning data, printing nothing.

``nncli.cli`` is a thin shell over these functions; Python users call them directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from nncli.config import ColumnSpec, MLPConfig, Settings
from nncli.errors import ConfigError, DataError, Info, SchemaError, did_you_mean
from nncli.io.card import DataInfo
from nncli.io.data import ReadOptions, Table, is_frame, iter_frames, read_table
from nncli.learn import distributed
from nncli.learn.fitting import (
    SampledFit,
    fit_model,
    labelled_rows,
    labels_to_index,
    require_features,
    row_weights,
    stratified_split,
)
from nncli.learn.predictor import Predictor
from nncli.learn.schema import Schema, infer_schema

#: Called once the schema is known, before any model is fitted: (schema, notes).
SchemaCallback = Callable[[Schema, list[str]], None]

if TYPE_CHECKING:
    import pandas as pd

    from nncli.assess.compare import Comparison, ResultCallback, StartCallback, ThresholdCheck
    from nncli.assess.plan import CompareOptions
    from nncli.learn.ensemble import EnsemblePredictor
    from nncli.learn.models.base import EpochCallback


@dataclass
class Inspection:
    """What ``nncli inspect`` reports: how the file was read and its inferred schema."""

    source: str
    sep: str | None
    encoding: str
    n_bytes: int
    sha256: str
    schema: Schema
    notes: list[str] = field(default_factory=list)


def inspect(
    source: str | Path | pd.DataFrame,
    *,
    read: ReadOptions | None = None,
    columns: ColumnSpec | None = None,
    stream: bool | None = None,
) -> Inspection:
    """Read ``source`` and infer its schema; the target is optional here. ``stream``
    (default: when reading it whole would take more than a quarter of the memory
    available) reads it in one bounded pass.

    Examples
    --------
    >>> result = inspect("sample_data/physics.csv")
    >>> result.schema.target, result.schema.classes
    ('label', ['background', 'signal'])
    """
    from nncli.learn import streaming

    why = "--stream" if stream else ("" if stream is False else streaming.too_big(source))
    if why:
        if columns is not None and (columns.derived or columns.group):
            raise ConfigError(f"{_in_memory_only(columns)} is not available with --stream",
                              "inspect the file in memory (--no-stream).")  # fmt: skip
        if is_frame(source) or str(source) == "-":
            raise ConfigError("--stream reads a file", "pass the path of a CSV file.")
        st = streaming.inspect_stream(str(source), why, read, columns)
        return Inspection(str(source), st.sep, st.encoding, st.n_bytes, st.sha256, st.schema,
                          st.notes)  # fmt: skip
    table = read_table(source, read)
    if note := (streaming.memory_note(source) if stream is None else ""):
        table.notes.insert(0, Info(note))
    schema = _derived_schema(table, columns or ColumnSpec(), require_target=False)
    return _inspection(table, schema)


def _inspection(table: Table, schema: Schema) -> Inspection:
    return Inspection(
        table.source,
        table.sep,
        table.encoding,
        table.n_bytes,
        table.sha256,
        schema,
        list(table.notes),
    )


# --------------------------------------------------------------------------- train


@dataclass
class TrainResult:
    """A trained :class:`~nncli.learn.predictor.Predictor` and how it did."""

    predictor: Predictor
    metrics: dict[str, dict[str, float]]
    fit_seconds: float
    n_train: int
    n_valid: int
    notes: list[str] = field(default_factory=list)

    def save(self, path: str | Path, overwrite: bool = False) -> None:
        """Write the model file; an existing file is kept unless ``overwrite`` (and one
        that appears while it is written is never replaced)."""
        if Path(path).exists() and not overwrite:
            raise ConfigError(f"{path} already exists", "pass overwrite=True to replace it.")
        self.predictor.save(path, overwrite)


def train(
    source: str | Path | pd.DataFrame,
    *,
    model: str | None = None,
    target: str | None = None,
    id_cols: tuple[str, ...] = (),
    weight: str | None = None,
    drop: tuple[str, ...] = (),
    read: ReadOptions | None = None,
    columns: ColumnSpec | None = None,
    settings: Settings | None = None,
    valid: str | Path | None = None,
    dask: str | None = None,
    on_epoch: EpochCallback | None = None,
    on_schema: SchemaCallback | None = None,
) -> TrainResult:
    """Fit one model on ``source`` with a validation split; returns it with its metrics.
    ``dask``: the GBT on a Dask cluster (an address or local:N) over files (a glob).

    Examples
    --------
    >>> result = train("sample_data/physics.csv", model="logreg")
    >>> round(result.metrics["valid"]["auc"], 2) > 0.85
    True

    A DataFrame works as well, and the columns' parts are keywords:

    >>> import pandas as pd
    >>> frame = pd.read_csv("sample_data/credit_g.csv")
    >>> train(frame, model="logreg", target="class", drop=("foreign_worker",)).predictor.classes
    ['bad', 'good']
    """
    from nncli.assess.evaluate import metrics
    from nncli.learn.models import baseline

    model = model or baseline()  # the rough result: gbt
    columns = columns or ColumnSpec(target, tuple(id_cols), weight, tuple(drop))
    _check_model(model, columns)
    settings = (settings or Settings()).with_preset()
    done = _train_elsewhere(source, model, columns, settings, dask, valid, read, on_schema,
                            on_epoch)  # fmt: skip
    if done is not None:
        return done
    table, schema, notes = _read_schema(source, read, columns, on_schema,
                                        _memory_notes(source, model, settings),
                                        settings.mlp if model == "rnn" else None)  # fmt: skip
    frame = labelled_rows(table.frame, schema)
    y = labels_to_index(frame[schema.target], schema.classes, table.source)
    train_frame, y_train, valid_frame, y_valid = _train_valid(frame, y, schema, settings, valid,
                                                              read)  # fmt: skip
    fitted = fit_model(model, schema, train_frame, y_train, valid_frame, y_valid, settings,
                       on_epoch)  # fmt: skip
    predict, card = fitted.predictor.predict_proba_matrix, fitted.predictor.card
    card.metrics = scores = {
        "train": metrics(fitted.y_train, predict(fitted.X_train), fitted.w_train),
        "valid": metrics(y_valid, predict(fitted.X_valid), fitted.w_valid),
    }
    n = len(y_train), len(y_valid)
    card.data = DataInfo(table.source, table.sha256, len(table.frame), *n)
    return TrainResult(fitted.predictor, scores, fitted.fit_seconds, *n, notes)


def _train_on_dask(
    source: str | Path | pd.DataFrame, model: str, columns: ColumnSpec, settings: Settings,
    address: str, valid: str | Path | None, on_schema: SchemaCallback | None,
) -> TrainResult:  # fmt: skip
    """``train(..., dask=ADDRESS)``: the GBT on a Dask cluster (:mod:`nncli.learn.dask_gbt`);
    the metrics are those of samples of the training and validation rows."""
    from nncli.learn import dask_gbt

    if columns.derived or columns.group:
        raise ConfigError(f"{_in_memory_only(columns)} is not available with --dask",
                          "train in memory, or add the columns to the files first.")  # fmt: skip
    if model != "gbt" or is_frame(source) or valid is not None:
        what = f"-m {model}" if model != "gbt" else ("a DataFrame" if valid is None else "--valid")
        raise ConfigError(
            f"--dask trains the gbt model on files; not with {what}",
            "pass -m gbt and a CSV/Parquet path or glob (the validation rows are split off).",
        )
    return _sampled_result(dask_gbt.train_gbt(str(source), columns, settings, address, on_schema))


def _train_elsewhere(
    source: str | Path | pd.DataFrame, model: str, columns: ColumnSpec, settings: Settings,
    dask: str | None, valid: str | Path | None, read: ReadOptions | None,
    on_schema: SchemaCallback | None, on_epoch: EpochCallback | None,
) -> TrainResult | None:  # fmt: skip
    """On a Dask cluster, or in passes over the file; None: in memory, here."""
    if dask is not None:
        return _train_on_dask(source, model, columns, settings, dask, valid, on_schema)
    return _train_streamed(source, model, columns, settings, valid, read, on_schema, on_epoch)


def _train_streamed(
    source: str | Path | pd.DataFrame, model: str, columns: ColumnSpec, settings: Settings,
    valid: str | Path | None, read: ReadOptions | None, on_schema: SchemaCallback | None,
    on_epoch: EpochCallback | None,
) -> TrainResult | None:  # fmt: skip
    """``train`` in passes over the file (--stream, or when a whole read would take a
    sizeable share of memory; :mod:`nncli.learn.streaming`); None when it is read whole."""
    from nncli.learn import streaming

    stream, why = streaming.should_stream(source, model, settings)
    if not stream:
        return None
    if columns.derived or columns.group:
        raise ConfigError(
            f"{_in_memory_only(columns)} is not available when training in passes over the "
            f"file ({why})",
            "add the derived columns to the file first, or train in memory (--no-stream).",
        )
    if distributed.active():  # ranks would read different numbers of blocks: a hang
        raise ConfigError(
            "--stream does not run under torchrun",
            "stream in one process, or give each torchrun process the file in memory.",
        )
    if is_frame(source) or valid is not None:
        raise ConfigError(
            "--stream reads a file in passes; not a DataFrame or --valid",
            "pass the path of a CSV file, without --valid (the validation rows are "
            "split off by a hash).",
        )
    fit = streaming.train_stream(str(source), model, columns, settings, why, read, on_schema,
                                 on_epoch)  # fmt: skip
    return _sampled_result(fit)


def _memory_notes(source: str | Path | pd.DataFrame, model: str, settings: Settings) -> list[str]:
    """For a large file read whole, the streaming rule in words (unless --no-stream)."""
    from nncli.learn import streaming

    if settings.run.stream is not None:
        return []
    note = streaming.memory_note(source, model)
    return [Info(note)] if note else []


def _in_memory_only(columns: ColumnSpec) -> str:
    """The options that need the whole file in memory (derived columns, sequences)."""
    return "--feature" if columns.derived else "--group"


def _sampled_result(fit: SampledFit) -> TrainResult:
    """Metrics of a streamed or Dask fit: on its samples of training and validation rows."""
    from nncli.assess.evaluate import metrics

    predict = fit.predictor.predict_proba_matrix
    scores = {
        name: metrics(y, predict(X), w)
        for name, (X, y, w) in (("train", fit.train_sample), ("valid", fit.valid_sample))
    }
    fit.predictor.card.metrics = scores
    return TrainResult(fit.predictor, scores, fit.fit_seconds, fit.n_train, fit.n_valid, fit.notes)


def _check_model(model: str, columns: ColumnSpec) -> None:
    """A model ``train`` knows, one that can train under torchrun when started so, and
    a sequence model only on grouped rows."""
    from nncli.learn.models import MODELS, TRAINABLE

    if model not in TRAINABLE:
        raise ConfigError(f"unknown model {model!r}", did_you_mean(model, TRAINABLE, "model"))
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


def _read_schema(
    source: str | Path | pd.DataFrame,
    read: ReadOptions | None,
    columns: ColumnSpec,
    on_schema: SchemaCallback | None,
    first: list[str] | None = None,
    rnn: MLPConfig | None = None,
) -> tuple[Table, Schema, list[str]]:
    """Read, infer the schema, and say the target and findings (after the ``first``
    notes; with ``rnn``, the settings of a recurrent net to come, whether it reads every
    row of the groups) before any training."""
    table = read_table(source, read)
    schema = _derived_schema(table, columns)
    require_features(schema)  # an unusable file is one error line, nothing before it
    notes = list(first or []) + list(table.notes) + schema_warnings(schema)
    if rnn is not None and schema.sequence is not None:
        from nncli.learn import sequences

        notes += sequences.cap_notes(table.frame[sequences.COUNT], rnn.max_steps, rnn.keep_steps)
    if distributed.active():
        notes.append(distributed.describe())
    if on_schema is not None:
        on_schema(schema, notes)
    return table, schema, notes


def _derive(table: Table, columns: ColumnSpec | None) -> list[dict[str, str]]:
    """Add the derived columns of ``columns.derived`` to ``table.frame`` (checked before
    anything is computed), with a note for each that some rows could not be computed."""
    from nncli.learn import derived

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


def _derived_schema(table: Table, columns: ColumnSpec, require_target: bool = True) -> Schema:
    """The schema of ``table`` after its derived columns are added (and, with --group,
    its rows grouped into sequences: ``table.frame`` becomes one row per group)."""
    derived = _derive(table, columns)
    if columns.group is not None or columns.order is not None:
        schema = _sequence_schema(table, columns, require_target)
    else:
        schema = infer_schema(table.frame, columns, require_target=require_target)
    schema.derived = derived
    return schema


def _sequence_schema(table: Table, columns: ColumnSpec, require_target: bool) -> Schema:
    """--group/--order: the numeric columns are the steps; the frame becomes one row per
    group (aggregates for the rough models, the ordered steps for the RNN)."""
    from dataclasses import replace

    from nncli.learn import sequences
    from nncli.learn.schema import Column

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


def _with_derived(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Another file's rows (--valid, --test) as the schema reads them: with the derived
    columns, and grouped into sequences with --group."""
    from nncli.learn.predictor import prepare_frame

    return prepare_frame(schema, frame)[0]


def _train_valid(
    frame: pd.DataFrame,
    y: np.ndarray,
    schema: Schema,
    settings: Settings,
    valid: str | Path | None,
    read: ReadOptions | None,
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]:
    """Training and validation rows: a stratified split, or all rows and a --valid file."""
    if valid is None:
        tr, va = stratified_split(y, settings.run.valid_size, settings.run.seed)
        return frame.iloc[tr], y[tr], frame.iloc[va], y[va]
    valid_frame = labelled_rows(_with_derived(read_table(valid, read).frame, schema), schema)
    y_valid = labels_to_index(valid_frame[schema.target], schema.classes, str(valid))
    return frame, y, valid_frame, y_valid


def schema_warnings(schema: Schema) -> list[str]:
    """The findings a command that trains should say out loud (inspect shows them all)."""
    return [f.message for f in schema.findings]


def load(path: str | Path) -> Predictor | EnsemblePredictor:
    """Load a model file written by :func:`train` (``nncli train -o``)."""
    from nncli.learn.ensemble import load as load_any

    return load_any(path)


# ------------------------------------------------------------------ predict/evaluate


@dataclass
class PredictSummary:
    rows: int
    columns: list[str]
    unseen: dict[str, int]


def _as_predictor(
    model: str | Path | Predictor | EnsemblePredictor,
) -> Predictor | EnsemblePredictor:
    return load(model) if isinstance(model, (str, Path)) else model


def _id_columns(predictor: Predictor, columns: list[str], requested: tuple[str, ...]) -> list[str]:
    if requested:
        for name in requested:
            if name not in columns:
                raise SchemaError(
                    f"--id-col {name!r} not found in the data", did_you_mean(name, columns)
                )
        return list(requested)
    return [c for c in predictor.schema.id_cols if c in columns]


def predict(
    model: str | Path | Predictor | EnsemblePredictor,
    source: str | Path | pd.DataFrame,
    output: TextIO,
    *,
    proba: bool = False,
    id_cols: tuple[str, ...] = (),
    unseen: str = "warn",
    read: ReadOptions | None = None,
    chunk_rows: int = 100_000,
) -> PredictSummary:
    """Write predictions for ``source`` as CSV to ``output``, chunk by chunk.

    Columns: the ID columns (``id_cols``, or the training schema's that are present),
    ``prediction``, and with ``proba`` one ``proba_<class>`` column per class.
    """
    import pandas as pd

    predictor = _as_predictor(model)
    classes = np.asarray(predictor.classes, dtype=object)
    rows, unseen_total, header, ids = 0, dict[str, int](), None, None
    for chunk in _whole_groups(predictor, iter_frames(source, read, chunk_rows), source):
        if ids is None:
            ids = _id_columns(predictor, [str(c) for c in chunk.columns], id_cols)
        p, counts = predictor.predict_proba_counted(chunk, unseen)
        out = pd.DataFrame({name: chunk[name].to_numpy() for name in ids})
        out["prediction"] = classes[p.argmax(axis=1)]
        if proba:
            for k, label in enumerate(predictor.classes):
                out[f"proba_{label}"] = p[:, k]
        out.to_csv(output, header=header is None, index=False, float_format="%.6g")
        header = list(out.columns)
        rows += len(out)
        for name, n in counts.items():
            unseen_total[name] = unseen_total.get(name, 0) + n
    if header is None:
        name = "<DataFrame>" if is_frame(source) else source
        raise DataError(f"{name} has a header but no data rows", "pass a file with data rows.")
    return PredictSummary(rows, header, unseen_total)


def _whole_groups(
    predictor: Predictor | EnsemblePredictor, chunks: Iterator[pd.DataFrame],
    source: str | Path | pd.DataFrame,
) -> Iterator[pd.DataFrame]:  # fmt: skip
    """The chunks as they are, or for a sequence model one row per group, no group
    split across chunks (the input grouped by the group column, else an error)."""
    from nncli.learn.predictor import prepare_frame
    from nncli.learn.sequences import SequenceSpec, group_chunks

    schema = predictor.schema
    if schema.sequence is None:
        yield from chunks
        return
    name = "<DataFrame>" if is_frame(source) else str(source)
    for part in group_chunks(chunks, SequenceSpec.from_dict(schema.sequence), name):
        yield prepare_frame(schema, part)[0]


@dataclass
class Evaluation:
    source: str
    target: str
    rows: int
    classes: list[str]
    metrics: dict[str, float]
    confusion: list[list[int]]
    unseen: dict[str, int]
    notes: list[str] = field(default_factory=list)


def evaluate(
    model: str | Path | Predictor | EnsemblePredictor,
    source: str | Path | pd.DataFrame,
    *,
    unseen: str = "warn",
    read: ReadOptions | None = None,
) -> Evaluation:
    """Metrics of a trained model on labelled data (the model's target column)."""
    from nncli.assess.evaluate import confusion_matrix, metrics
    from nncli.learn.predictor import prepare_frame

    predictor = _as_predictor(model)
    table = read_table(source, read)
    if predictor.schema.sequence is not None:  # one row per group
        table.frame = prepare_frame(predictor.schema, table.frame)[0]
    frame = labelled_rows(table.frame, predictor.schema)
    if frame.empty:
        raise DataError(
            f"{table.source} has no rows with a target value",
            f"fill in the {predictor.schema.target!r} column.",
        )
    y = labels_to_index(frame[predictor.schema.target], predictor.classes, table.source)
    proba, counts = predictor.predict_proba_counted(frame, unseen)
    w = row_weights(frame, predictor.schema) if predictor.schema.weight in frame.columns else None
    k = len(predictor.classes)
    confusion = confusion_matrix(y, proba.argmax(axis=1), k).tolist()
    scores = metrics(y, proba, w)
    target = str(predictor.schema.target)
    ev = Evaluation(table.source, target, len(y), predictor.classes, scores, confusion, counts)
    if predictor.card.data.sha256 and predictor.card.data.sha256 == table.sha256:
        ev.notes.append(
            f"{table.source} is the file the model was trained on (the same SHA-256): its "
            "training rows are among these, so the metrics are optimistic; evaluate on data "
            "the model has not seen"
        )
    return ev


# ------------------------------------------------------------------------ compare


@dataclass
class CompareRun:
    """What :func:`compare` did: the comparison, the rows it used, its JSON report, the
    files it wrote and, with ``fail_under``, whether the threshold was met."""

    comparison: Comparison
    frame: pd.DataFrame
    report: dict[str, Any]
    written: list[str] = field(default_factory=list)
    threshold: ThresholdCheck | None = None


def compare(
    source: str | Path | pd.DataFrame,
    *,
    target: str | None = None,
    id_cols: tuple[str, ...] = (),
    weight: str | None = None,
    drop: tuple[str, ...] = (),
    read: ReadOptions | None = None,
    columns: ColumnSpec | None = None,
    settings: Settings | None = None,
    options: CompareOptions | None = None,
    test: str | Path | None = None,
    out_dir: str | Path | None = None,
    report_file: str | Path | None = None,
    fail_under: str | None = None,
    force: bool = False,
    on_start: StartCallback | None = None,
    on_result: ResultCallback | None = None,
    on_schema: SchemaCallback | None = None,
) -> CompareRun:
    """Run every model on the same split (or CV folds) of ``source`` and compare them.

    With ``out_dir`` the run folder is written (report.json, a model file per model,
    predictions), with ``report_file`` the HTML report; ``fail_under`` ("auc=0.85") is
    checked before anything is read and evaluated at the end (``run.threshold.met``).

    Examples
    --------
    >>> from nncli.assess.plan import CompareOptions
    >>> run = compare("sample_data/physics.csv",
    ...               options=CompareOptions(models=("majority", "logreg"), bootstrap=100),
    ...               fail_under="auc=0.8")
    >>> run.comparison.best.label, run.threshold.met
    ('logreg', True)
    """
    from nncli.assess.compare import check_threshold, run_comparison
    from nncli.assess.plan import CompareOptions, Threshold
    from nncli.io.outputs import claim

    settings = settings or Settings()
    options = options or CompareOptions()
    columns = columns or ColumnSpec(target, tuple(id_cols), weight, tuple(drop))
    threshold = Threshold.parse(fail_under) if fail_under else None
    _check_feature_sets(options, columns)
    options = _sequence_models(options, columns)
    with claim(out_dir, report_file):  # one writer per output, for the whole run
        _check_compare_outputs(source, out_dir, report_file, force, settings)
        table, schema, notes = _read_schema(source, read, columns, on_schema, rnn=(
            settings.with_preset().mlp if "rnn" in options.models else None))  # fmt: skip
        frame, test_rows = _compare_rows(table, schema, options, test, read)
        assert schema.target is not None
        y = labels_to_index(frame[schema.target], schema.classes, table.source)
        comparison = run_comparison(frame, y, row_weights(frame, schema), schema, table.source,
                                    options, settings, test_rows, on_start, on_result)  # fmt: skip
        comparison.sha256, comparison.notes = table.sha256, notes
        run = CompareRun(comparison, frame, {})
        run.report, run.written = _write_compare_outputs(comparison, frame, out_dir, report_file,
                                                         force)  # fmt: skip
    run.threshold = check_threshold(comparison, threshold) if threshold else None
    return run


def _sequence_models(options: CompareOptions, columns: ColumnSpec) -> CompareOptions:
    """With --group the default models include the recurrent net; without it a
    sequence model is an error."""
    from dataclasses import replace

    from nncli.learn.models import DEFAULT_COMPARE, MODELS

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


def _check_feature_sets(options: CompareOptions, columns: ColumnSpec) -> None:
    if options.feature_sets and columns.group:  # the aggregates of derived columns stay
        raise ConfigError("--feature-sets is not available with --group",
                          "compare two runs: with and without the --feature options.")  # fmt: skip
    if options.feature_sets and not columns.derived:
        raise ConfigError("--feature-sets compares the models with and without derived columns, "
                          'but none is defined', 'add e.g. --feature "ratio = a / b".')  # fmt: skip


def _compare_rows(
    table: Table,
    schema: Schema,
    options: CompareOptions,
    test: str | Path | None,
    read: ReadOptions | None,
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The labelled rows, with those of a ``test`` file appended (and their indices)."""
    import pandas as pd

    frame = labelled_rows(table.frame, schema).reset_index(drop=True)
    if test is None:
        return frame, None
    if options.cv:
        raise ConfigError(
            "--test and --cv cannot be used together",
            "use --cv K on one file, or --test FILE without --cv.",
        )
    test_frame = labelled_rows(_with_derived(read_table(test, read).frame, schema), schema)
    Predictor.check_frame_columns(schema, [str(c) for c in test_frame.columns])
    test_rows = np.arange(len(frame), len(frame) + len(test_frame))
    return pd.concat([frame, test_frame], ignore_index=True), test_rows


def _check_compare_outputs(
    source: str | Path, out_dir: str | Path | None, report_file: str | Path | None, force: bool,
    settings: Settings,
) -> None:  # fmt: skip
    """Refuse a non-empty ``out_dir``, an existing ``report_file`` or --stream (compare
    holds the data in memory) before any work."""
    from nncli.io.outputs import check_output

    if settings.run.stream:
        raise ConfigError(
            "compare holds the data in memory; --stream is for train and inspect",
            "compare on a sample of the file, then train the chosen model with --stream.",
        )

    if out_dir and Path(out_dir).is_dir() and any(Path(out_dir).iterdir()) and not force:
        raise ConfigError(
            f"the folder {out_dir} is not empty",
            "pass --force to write into it, or choose another --out.",
        )
    if report_file:
        check_output(report_file, [] if is_frame(source) else [source], force)


def _write_compare_outputs(
    comparison: Comparison,
    frame: pd.DataFrame,
    out_dir: str | Path | None,
    report_file: str | Path | None,
    force: bool = False,
) -> tuple[dict[str, Any], list[str]]:
    """The JSON report; with an output folder or report file, also the diagnostics."""
    from nncli.show import report_compare, run_folder
    from nncli.show.report import finite

    payload = report_compare.compare_json(comparison)
    written: list[str] = []
    if out_dir or report_file:
        payload |= finite(run_folder.diagnostics(comparison, frame, comparison.seed))
    if out_dir:
        written += run_folder.save_outputs(comparison, str(out_dir), payload, frame)
    if report_file:
        from nncli.io.outputs import atomic_output
        from nncli.show import html_report

        test, train = run_folder.prediction_frames(comparison, frame)
        with atomic_output(report_file, exclusive=not force) as fh:
            fh.write(html_report.render(html_report.ReportData(payload, test, train)))
        written.append(str(report_file))
    return payload, written


def render_report(run_dir: str | Path) -> str:
    """The HTML report of a folder written by ``compare --out``."""
    import json

    import pandas as pd

    from nncli.show.html_report import ReportData, render

    folder = Path(run_dir)
    needed = [folder / "report.json", folder / "test_predictions.csv"]
    for path in needed:
        if not path.is_file():
            raise DataError(f"{path} not found", "pass a folder written by nncli compare --out.")
    try:
        payload = json.loads(needed[0].read_text())
        test = pd.read_csv(needed[1])
        train_path = folder / "train_predictions.csv"
        train = pd.read_csv(train_path) if train_path.is_file() else None
        return render(ReportData(payload, test, train))
    except (json.JSONDecodeError, KeyError, ValueError) as exc:
        raise DataError(
            f"the run folder {folder} is incomplete or damaged ({exc!r})",
            "re-run nncli compare --out.",
        ) from None
