"""The library API: each function is one command's story, returning data, printing nothing.

A command reads (:mod:`nncli.io`), prepares (:mod:`nncli.prepare`), learns
(:mod:`nncli.learn`, or :mod:`nncli.scale` where the data do not fit here), assesses
(:mod:`nncli.assess`) and, for ``compare``, writes what it found (:mod:`nncli.show`).
``nncli.cli`` is a thin shell over these functions; Python users call them directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from nncli.config import ColumnSpec, Settings
from nncli.errors import ConfigError, DataError, Info
from nncli.io.card import DataInfo
from nncli.io.data import ReadOptions, Table, is_frame, iter_frames, read_table
from nncli.learn import distributed
from nncli.learn.predictor import Predictor
from nncli.prepare import dataset
from nncli.prepare.dataset import SchemaCallback
from nncli.prepare.schema import Schema

if TYPE_CHECKING:
    import pandas as pd

    from nncli.assess.compare import Comparison, ResultCallback, StartCallback, ThresholdCheck
    from nncli.assess.plan import CompareOptions
    from nncli.assess.tune import TuneOptions, Tuning
    from nncli.learn.ensemble import EnsemblePredictor
    from nncli.learn.fitting import SampledFit
    from nncli.learn.models.base import EpochCallback

__all__ = ["Inspection", "TrainResult", "PredictSummary", "Evaluation", "CompareRun",
           "SchemaCallback", "ExportResult", "inspect", "train", "load", "predict", "predict_root",
           "evaluate", "compare", "tune", "export", "render_report"]  # fmt: skip


# -------------------------------------------------------------------------- inspect


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
    from nncli.scale import streaming

    if why := streaming.inspect_reason(source, stream, columns):
        st = streaming.inspect_stream(str(source), why, read, columns)
        return Inspection(str(source), st.sep, st.encoding, st.n_bytes, st.sha256, st.schema,
                          st.notes)  # fmt: skip
    table = read_table(source, read)
    if note := (streaming.memory_note(source) if stream is None else ""):
        table.notes.insert(0, Info(note))
    schema = dataset.table_schema(table, columns or ColumnSpec(), require_target=False)
    return Inspection(table.source, table.sep, table.encoding, table.n_bytes, table.sha256,
                      schema, list(table.notes))  # fmt: skip


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
    time_budget: float | None = None,
) -> TrainResult:
    """Fit one model on ``source`` with a validation split; returns it with its metrics.
    ``dask``: the GBT on a Dask cluster (an address or local:N) over files (a glob).
    ``time_budget``: seconds for the whole call; the fit stops (keeping its best epoch or
    round) when the rest would not fit, and ``--bag`` fits the folds that fit.

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
    from nncli.learn.models import baseline, check_trainable
    from nncli.scale import route, streaming

    started = time.perf_counter()
    model = model or baseline()  # the rough result: gbt
    settings = (settings or Settings()).with_preset()
    columns = dataset.column_spec(columns, target, id_cols, weight, drop, settings)
    check_trainable(model, columns, settings.run.bag or 1, valid)
    elsewhere = route.fit_elsewhere(source, model, columns, settings, dask, valid, read,
                                    on_schema, on_epoch)  # fmt: skip
    if elsewhere is not None:  # on a Dask cluster, or in passes over the file
        return _sampled_result(elsewhere)
    first = streaming.memory_notes(source, model, settings)
    rnn = settings.mlp if model == "rnn" else None
    table, schema, notes = _read(source, read, columns, on_schema, first, rnn, settings.run)
    frame, y = _labelled(table, schema)
    limit = None if time_budget is None else max(time_budget - (time.perf_counter() - started), 0)
    if (settings.run.bag or 1) > 1:
        return _train_bagged(model, schema, table, frame, y, settings, on_epoch, notes, limit)
    return _train_split(model, schema, table, frame, y, settings, valid, read, on_epoch, notes,
                        limit)  # fmt: skip


def _train_split(
    model: str, schema: Schema, table: Table, frame: pd.DataFrame, y: np.ndarray,
    settings: Settings, valid: Any, read: Any, on_epoch: Any, notes: list[str],
    limit: float | None,
) -> TrainResult:  # fmt: skip
    """One model on a validation split (or the --valid file), scored on both parts."""
    from nncli.learn.fitting import fit_model, train_valid

    train_rows, y_train, valid_rows, y_valid = train_valid(frame, y, schema, settings, valid,
                                                           read)  # fmt: skip
    fitted = fit_model(model, schema, train_rows, y_train, valid_rows, y_valid, settings,
                       on_epoch, limit)  # fmt: skip
    card, n = fitted.predictor.card, (len(y_train), len(y_valid))
    card.metrics = _scores(fitted.predictor, {
        "train": (fitted.X_train, fitted.y_train, fitted.w_train),
        "valid": (fitted.X_valid, y_valid, fitted.w_valid)})  # fmt: skip
    card.data = DataInfo(table.source, table.sha256, len(table.frame), *n, samples=table.samples)
    return TrainResult(fitted.predictor, card.metrics, fitted.fit_seconds, *n, notes)


def _labelled(table: Table, schema: Schema) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows with a target value, and their class indices."""
    frame = dataset.labelled_rows(table.frame, schema).reset_index(drop=True)
    return frame, dataset.labels_to_index(frame[schema.target], schema.classes, table.source)


def _train_bagged(
    model: str, schema: Schema, table: Table, frame: pd.DataFrame, y: np.ndarray,
    settings: Settings, on_epoch: EpochCallback | None, notes: list[str],
    limit: float | None = None,
) -> TrainResult:  # fmt: skip
    """``train --bag K``: K fold models as one, scored out of fold on every row."""
    from nncli.assess.crossfit import train_bagged
    from nncli.assess.evaluate import metrics

    predictor, out, seconds = train_bagged(model, schema, frame, y, settings, on_epoch, limit)
    w = dataset.row_weights(frame, schema)
    card = predictor.card
    card.metrics = {"train": metrics(y, out.train, w), "valid": metrics(y, out.valid, w)}
    card.data = DataInfo(table.source, table.sha256, len(table.frame), len(y), len(y),
                         samples=table.samples)  # fmt: skip
    return TrainResult(predictor, card.metrics, seconds, len(y), len(y), notes)  # type: ignore[arg-type]


def _read(
    source: str | Path | pd.DataFrame, read: ReadOptions | None, columns: ColumnSpec,
    on_schema: SchemaCallback | None, first: list[str] | None = None, rnn: Any = None,
    run: Any = None,
) -> tuple[Table, Schema, list[str]]:  # fmt: skip
    """Read and prepare, then say the target, the weights and the findings before any
    training (``run``: the run settings, whose class weights the weight notes heed)."""
    table, schema, notes = dataset.read_schema(source, read, columns, first, rnn)
    notes += dataset.weight_notes(table.frame, schema, run.class_weight if run else None)
    if distributed.active():
        notes.append(distributed.describe())
    if on_schema is not None:
        on_schema(schema, notes)
    return table, schema, notes


def _scores(predictor: Predictor, parts: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The metrics of each part, given as (preprocessed matrix, classes, weights)."""
    from nncli.assess.evaluate import metrics

    predict = predictor.predict_proba_matrix
    return {name: metrics(y, predict(X), w) for name, (X, y, w) in parts.items()}


def _sampled_result(fit: SampledFit) -> TrainResult:
    """A streamed or Dask fit, scored on its samples of training and validation rows."""
    parts = {"train": fit.train_sample, "valid": fit.valid_sample}
    fit.predictor.card.metrics = scores = _scores(fit.predictor, parts)
    return TrainResult(fit.predictor, scores, fit.fit_seconds, fit.n_train, fit.n_valid, fit.notes)


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
    notes: list[str] = field(default_factory=list)


def _as_predictor(
    model: str | Path | Predictor | EnsemblePredictor,
) -> Predictor | EnsemblePredictor:
    return load(model) if isinstance(model, (str, Path)) else model


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
    fold_by: str | None = None,
) -> PredictSummary:
    """Write predictions for ``source`` as CSV to ``output``, chunk by chunk.

    Columns: the ID columns (``id_cols``, or the training schema's that are present),
    ``prediction``, and with ``proba`` one ``proba_<class>`` column per class. With
    ``fold_by`` (a model cross-fitted with ``--fold-by``), each row is scored by the fold
    models that did not train on its fold (k-fold application).
    """
    from nncli.learn.ensemble import kfold_scorer

    predictor = _as_predictor(model)
    score = kfold_scorer(predictor, fold_by)
    chunks, notes = _prediction_chunks(predictor.schema, source, read, chunk_rows)
    rows, unseen_total, header, ids = 0, dict[str, int](), None, None
    for chunk in chunks:
        if ids is None:
            ids = dataset.id_columns(predictor.schema, [str(c) for c in chunk.columns], id_cols)
        p, counts = score(chunk, unseen)
        out = _prediction_rows(chunk, ids, predictor.classes, p, proba)
        out.to_csv(output, header=header is None, index=False, float_format="%.6g")
        header, rows = list(out.columns), rows + len(out)
        for name, n in counts.items():
            unseen_total[name] = unseen_total.get(name, 0) + n
    if header is None:
        name = "<DataFrame>" if is_frame(source) else source
        raise DataError(f"{name} has a header but no data rows", "pass a file with data rows.")
    return PredictSummary(rows, header, unseen_total, notes)


def _prediction_chunks(
    schema: Schema, source: str | Path | pd.DataFrame, read: ReadOptions | None, chunk_rows: int
) -> tuple[Any, list[str]]:
    """The frames to score: chunks of the file, or for a sequence model one row per
    group. Groups need their rows together when the file is streamed; a file that fits in
    memory is read whole and grouped as train groups it, whatever its order (said when
    its groups were not together)."""
    from nncli.prepare.sequences import SequenceSpec
    from nncli.scale import streaming

    if schema.sequence is None or (not is_frame(source) and streaming.too_big(source)):
        frames = iter_frames(source, read, chunk_rows)
        return dataset.whole_groups(schema, frames, source), []
    frame = read_table(source, read).frame
    group = SequenceSpec.from_dict(schema.sequence).group
    notes = []
    if group in frame.columns:
        ids = frame[group].to_numpy(dtype=object)
        runs = 1 + int((ids[1:] != ids[:-1]).sum()) if len(ids) else 0
        if runs > frame[group].nunique(dropna=False):
            notes.append(Info(f"the rows of a group in {getattr(source, 'name', None) or source}"
                              f" are not together: read whole and grouped by {group!r} in "
                              "memory, as train does (a file too large for memory must list "
                              "each group's rows together)"))  # fmt: skip
    return iter([dataset.prepare_frame(schema, frame)[0]]), notes


def predict_root(
    model: str | Path | Predictor | EnsemblePredictor,
    source: str | Path | pd.DataFrame,
    output: str | Path,
    *,
    tree: str = "nncli",
    unseen: str = "warn",
    read: ReadOptions | None = None,
    chunk_rows: int = 100_000,
    fold_by: str | None = None,
    overwrite: bool = False,
) -> PredictSummary:
    """Write the scores of ``source`` as a ROOT tree (:class:`nncli.io.root.ScoreWriter`),
    one entry per input entry in order, chunk by chunk: a friend of the input tree."""
    from nncli.io.outputs import atomic_output
    from nncli.io.root import ScoreWriter, branch_names
    from nncli.learn.ensemble import kfold_scorer

    predictor = _as_predictor(model)
    score = kfold_scorer(predictor, fold_by)
    chunks = dataset.whole_groups(predictor.schema, iter_frames(source, read, chunk_rows), source)
    rows, unseen_total = 0, dict[str, int]()
    with atomic_output(output, "w+b", exclusive=not overwrite) as fh:
        writer = ScoreWriter(fh, tree, predictor.classes)
        for chunk in chunks:
            p, counts = score(chunk, unseen)
            writer.extend(p)
            rows += len(p)
            for name, n in counts.items():
                unseen_total[name] = unseen_total.get(name, 0) + n
        writer.close()
    columns = [*branch_names(predictor.classes), "label"]
    return PredictSummary(rows, columns, unseen_total)


def _prediction_rows(
    chunk: pd.DataFrame, ids: list[str], classes: list[str], p: np.ndarray, proba: bool
) -> pd.DataFrame:
    import pandas as pd

    out = pd.DataFrame({name: chunk[name].to_numpy() for name in ids})
    out["prediction"] = np.asarray(classes, dtype=object)[p.argmax(axis=1)]
    for k, label in enumerate(classes if proba else []):
        out[f"proba_{label}"] = p[:, k]
    return out


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
    weight: str | None = None  # the event-weight column the metrics are weighted by
    confusion_weighted: list[list[float]] | None = None  # Σ weights per cell, with weight


def evaluate(
    model: str | Path | Predictor | EnsemblePredictor,
    source: str | Path | pd.DataFrame,
    *,
    unseen: str = "warn",
    read: ReadOptions | None = None,
    fold_by: str | None = None,
) -> Evaluation:
    """Metrics of a trained model on labelled data (the model's target column); with
    ``fold_by``, k-fold application as in :func:`predict`."""
    from nncli.assess.evaluate import confusions, metrics
    from nncli.learn.ensemble import kfold_scorer

    predictor = _as_predictor(model)
    score = kfold_scorer(predictor, fold_by)
    table = read_table(source, read)
    frame, y, w = dataset.evaluation_rows(predictor.schema, predictor.classes, table)
    proba, counts = score(frame, unseen)
    ev = Evaluation(table.source, str(predictor.schema.target), len(y), predictor.classes,
                    metrics(y, proba, w), [], counts)  # fmt: skip
    ev.confusion, ev.confusion_weighted = confusions(y, proba.argmax(axis=1), len(ev.classes), w)
    ev.weight = predictor.schema.weight if w is not None else None
    same = predictor.card.data.sha256 and predictor.card.data.sha256 == table.sha256
    if same and fold_by is not None:
        ev.notes.append(Info(
            f"{table.source} is the file the model was cross-fitted on; with --fold-by every "
            "row is scored by the fold model that did not train on it, so these metrics are "
            "out of fold"))  # fmt: skip
    elif same:
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
    on_plan: Callable[[str], None] | None = None,
) -> CompareRun:
    """Run every model on the same split (or CV folds) of ``source`` and compare them.

    ``out_dir``: the run folder (report.json, model files, predictions); ``report_file``:
    the HTML report; ``fail_under`` ("auc=0.85"): checked before anything is read and at
    the end (``run.threshold.met``); ``on_plan`` hears how the models are fitted.

    Examples
    --------
    >>> from nncli.assess.plan import CompareOptions
    >>> run = compare("sample_data/physics.csv",
    ...               options=CompareOptions(models=("majority", "logreg"), bootstrap=100),
    ...               fail_under="auc=0.8")
    >>> run.comparison.best.label, run.threshold.met
    ('logreg', True)
    """
    from nncli.assess import plan
    from nncli.assess.compare import check_threshold, run_comparison
    from nncli.io.outputs import check_run_outputs, claim
    from nncli.show.run_folder import write_outputs

    settings, options = settings or Settings(), options or plan.CompareOptions()
    columns = dataset.column_spec(columns, target, id_cols, weight, drop, settings)
    threshold = plan.Threshold.parse(fail_under) if fail_under else None
    plan.check_request(options, columns, settings)
    options = plan.with_sequence_models(options, columns)
    with claim(out_dir, report_file):  # one writer per output, for the whole run
        check_run_outputs(out_dir, report_file, [] if is_frame(source) else [source], force)
        rnn = settings.with_preset().mlp if "rnn" in options.models else None
        table, schema, notes = _read(source, read, columns, on_schema, rnn=rnn, run=settings.run)
        frame, test_rows = dataset.with_test_rows(table, schema, options.cv, test, read)
        y = dataset.labels_to_index(frame[schema.target], schema.classes, table.source)
        comparison = run_comparison(frame, y, dataset.row_weights(frame, schema), schema,
                                    table.source, options, settings, test_rows, on_start,
                                    on_result, on_plan)  # fmt: skip
        comparison.sha256, comparison.notes, comparison.samples = table.sha256, notes, table.samples
        comparison.threshold = check_threshold(comparison, threshold) if threshold else None
        run = CompareRun(comparison, frame, {}, threshold=comparison.threshold)
        run.report, run.written = write_outputs(comparison, frame, out_dir, report_file, force)
    return run


# --------------------------------------------------------------------- tune


def tune(
    source: str | Path | pd.DataFrame,
    *,
    target: str | None = None,
    id_cols: tuple[str, ...] = (),
    weight: str | None = None,
    drop: tuple[str, ...] = (),
    read: ReadOptions | None = None,
    columns: ColumnSpec | None = None,
    settings: Settings | None = None,
    options: TuneOptions | None = None,
    on_schema: SchemaCallback | None = None,
    on_trial: Callable[..., None] | None = None,
    on_done: Callable[..., None] | None = None,
    on_plan: Callable[[str], None] | None = None,
) -> Tuning:
    """Search the settings of each of ``options.models`` on ``source`` with Optuna
    (:mod:`nncli.assess.tune`): on compare's split and folds, the test rows held out and
    scored once at the end. The preset is compare's (strong) unless one is given.
    ``on_trial(model, number, values, default)`` hears a trial start,
    ``on_done(model, row, best)`` one end.

    Examples
    --------
    >>> from nncli.assess.tune import TuneOptions
    >>> found = tune("sample_data/physics.csv", options=TuneOptions(
    ...     models=("logreg",), trials=3, time_budget=None, bootstrap=100))
    >>> [t.state for t in found.models[0].trials]
    ['complete', 'complete', 'complete']
    """
    from dataclasses import replace

    from nncli.assess import tune as tuning
    from nncli.assess.plan import COMPARE_PRESET
    from nncli.learn.models import check_trainable

    optuna = tuning.optuna_module()  # the extra, before anything is read
    options = options or tuning.TuneOptions(models=("gbt",))
    storage = tuning.open_storage(optuna, options.storage)  # a bad one: before any reading
    settings = settings or Settings()
    if "preset" not in settings.run.given:
        settings = replace(settings, run=settings.run.replace(preset=COMPARE_PRESET))
    settings = settings.with_preset()
    columns = dataset.column_spec(columns, target, id_cols, weight, drop, settings)
    for model in options.models:
        check_trainable(model, columns)
        tuning.search_space(model, settings)  # a model without settings is refused here
    table, schema, notes = _read(source, read, columns, on_schema, run=settings.run)
    frame, _ = dataset.with_test_rows(table, schema, None, None, read)
    y = dataset.labels_to_index(frame[schema.target], schema.classes, table.source)
    w = dataset.row_weights(frame, schema)
    return tuning.run_tuning(frame, y, w, schema, table.source, table.sha256, options, settings,
                             on_trial, on_done, on_plan, storage)  # fmt: skip


# ------------------------------------------------------------------ export


@dataclass
class ExportResult:
    path: str
    codes_path: str | None  # --flat: the category codes beside the graph
    check: Any  # nncli.deploy.check.CheckResult
    tolerance: float
    inputs: list[dict[str, Any]]
    classes: list[str]
    operators: list[str]
    flat: bool
    fold_by: str | None = None


def export(
    model: str | Path | Predictor | EnsemblePredictor,
    output: str | Path,
    *,
    flat: bool = False,
    check: str | Path | pd.DataFrame | None = None,
    tolerance: float = 1e-4,
    read: ReadOptions | None = None,
    overwrite: bool = False,
    fold_by: str | None = None,
) -> ExportResult:
    """Write ``model`` as one ONNX graph (preprocessing included) to ``output``, after
    running it in onnxruntime beside nncli on the rows of ``check`` (or rows drawn from
    the model card): above ``tolerance`` in probability nothing is written and an error
    says by how much they differ. With ``flat``, one float32 input of every raw column
    and the category codes in ``OUTPUT.codes.json`` beside it. With ``fold_by`` (a model
    cross-fitted by that column), k-fold application in the graph: the column is one more
    input (int64) and each row is scored by the fold models that did not train on it."""
    import json

    from nncli.deploy.build import build
    from nncli.deploy.check import check as run_check
    from nncli.errors import NncliError
    from nncli.io.outputs import atomic_output

    predictor = _as_predictor(model)
    exported = build(predictor, flat, fold_by)
    frame, source = None, None
    if check is not None:
        frame, source = read_table(check, read).frame, str(check)
    result = run_check(predictor, exported, frame, "<DataFrame>" if is_frame(check) else source)
    if not result.max_abs_diff <= tolerance:
        raise NncliError(
            f"the exported graph disagrees with nncli: {result.line()}, above the tolerance "
            f"{tolerance:g}; nothing was written",
            "please report it with the output of nncli info MODEL; --tolerance sets the bound.",
        )
    codes_path = None
    if flat:
        codes_path = str(output) + ".codes.json"
        with atomic_output(codes_path, exclusive=not overwrite) as fh:
            fh.write(json.dumps(exported.codes_json(), indent=1))
    with atomic_output(output, "wb", exclusive=not overwrite) as fh:
        fh.write(exported.model.SerializeToString())
    return ExportResult(str(output), codes_path, result, tolerance, exported.inputs,
                        exported.classes, exported.operators, flat, fold_by)  # fmt: skip


def render_report(run_dir: str | Path) -> str:
    """The HTML report of a folder written by ``compare --out``."""
    from nncli.show.run_folder import render_folder

    return render_folder(run_dir)
