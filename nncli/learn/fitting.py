"""What ``train`` and ``compare`` share: splits, labels, weights, and fitting one model
on a schema's training rows."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nncli.config import RunConfig, Settings
from nncli.errors import DataError
from nncli.io.card import DataInfo, ModelCard
from nncli.io.data import ReadOptions, read_table
from nncli.learn import distributed
from nncli.learn.models.base import FitData, FitReport
from nncli.learn.predictor import Predictor
from nncli.prepare.dataset import require_features, row_weights
from nncli.prepare.schema import Schema

if TYPE_CHECKING:
    import pandas as pd

    from nncli.learn.models.base import EpochCallback, Model
    from nncli.prepare.preprocess import Preprocessor


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (rest, held out); every class with 2+ rows lands in both parts."""
    rng = np.random.default_rng(seed)
    rest, held = [], []
    for k in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == k))
        n_held = min(max(1, round(len(rows) * fraction)), len(rows) - 1) if len(rows) > 1 else 0
        held.append(rows[:n_held])
        rest.append(rows[n_held:])
    return np.sort(np.concatenate(rest)), np.sort(np.concatenate(held))


def stratified_folds(y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """A fold number 0..k-1 per row, each class spread evenly over the folds."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    offset = 0
    for label in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == label))
        fold[rows] = (np.arange(len(rows)) + offset) % k
        offset += len(rows)
    return fold


def training_weights(w: np.ndarray, y: np.ndarray, n_classes: int, run: RunConfig) -> np.ndarray:
    """Negative event weights are ignored in training; balanced class weights if asked."""
    w = np.clip(w, 0.0, None)
    if run.class_weight == "balanced":
        totals = np.bincount(y, weights=w, minlength=n_classes)
        scale = np.divide(w.sum() / n_classes, totals, out=np.zeros(n_classes), where=totals > 0)
        w = w * scale[y]
    if w.sum() <= 0:
        raise DataError(
            "all training weights are zero or negative",
            "check the --weight column; negative weights are ignored in training.",
        )
    return w


@dataclass
class SampledFit:
    """A model fitted where not every row fits in memory (streamed, or on a Dask
    cluster), with samples of its training and validation rows to score it on."""

    predictor: Predictor
    report: FitReport
    fit_seconds: float
    n_train: int
    n_valid: int
    train_sample: tuple[np.ndarray, np.ndarray, np.ndarray]  # X, y, w
    valid_sample: tuple[np.ndarray, np.ndarray, np.ndarray]
    notes: list[str]


@dataclass
class Fitted:
    """A fitted model with the matrices it saw, for scoring without re-transforming."""

    predictor: Predictor
    report: FitReport
    X_train: np.ndarray
    y_train: np.ndarray  # the rows this process trained on (its shard under torchrun)
    X_valid: np.ndarray
    w_train: np.ndarray
    w_valid: np.ndarray
    fit_seconds: float


def start_group(settings: Settings) -> None:
    """Join torchrun's process group: NCCL when the MLP runs on a GPU, else gloo."""
    from nncli.learn.training import resolve_device

    distributed.init(resolve_device(settings.run.device).type == "cuda")


def _distributed_rows(
    name: str, schema: Schema, model: Model, train: pd.DataFrame, y: np.ndarray,
    settings: Settings,
) -> tuple[Preprocessor, pd.DataFrame, np.ndarray]:  # fmt: skip
    """Under torchrun: rank 0 fits the preprocessing on all training rows and shares it;
    each rank keeps its own shard of the rows (see :mod:`nncli.learn.distributed`)."""
    from nncli.prepare.preprocess import fit_preprocessor

    start_group(settings)
    prep = distributed.broadcast(
        fit_preprocessor(train, schema, model.layout, model.scaler, model.max_one_hot)
        if distributed.is_main()
        else None
    )
    rows = distributed.shard(len(train))
    return prep, train.iloc[rows], y[rows]


def fit_model(
    name: str,
    schema: Schema,
    train: pd.DataFrame,
    y_train: np.ndarray,
    valid: pd.DataFrame,
    y_valid: np.ndarray,
    settings: Settings,
    on_epoch: EpochCallback | None = None,
    time_limit: float | None = None,
) -> Fitted:
    """Fit preprocessing and model ``name`` on ``train``; ``valid`` drives early stopping."""
    from nncli.learn.models import make_model
    from nncli.prepare.preprocess import fit_preprocessor

    require_features(schema)
    k = len(schema.classes)
    model = make_model(name, k, settings)
    if distributed.active() and name == "mlp":  # torchrun: rank 0 fits, each rank a shard
        prep, train, y_train = _distributed_rows(name, schema, model, train, y_train, settings)
    else:
        prep = fit_preprocessor(train, schema, model.layout, model.scaler, model.max_one_hot)
    X_train, _ = prep.transform(train)
    X_valid, _ = prep.transform(valid)
    w_train, w_valid = row_weights(train, schema), row_weights(valid, schema)
    data = FitData(
        X_train,
        y_train,
        training_weights(w_train, y_train, k, settings.run),
        X_valid,
        y_valid,
        np.clip(w_valid, 0.0, None),
        k,
        prep.categorical_indices,
        prep.numeric_indices if model.layout == "dense" else [],
        prep.embedded_columns,
        step_width=prep.step_width,
    )
    started = time.perf_counter()
    report = model.fit(data, time_limit=time_limit, on_epoch=on_epoch)
    fit_seconds = time.perf_counter() - started
    card = ModelCard(
        model=name,
        config={},
        n_params=model.n_params(),
        stop_reason=report.stop_reason,
        history=report.history,
        run=settings.run.to_dict(),
        data=DataInfo(rows_train=len(y_train), rows_valid=len(y_valid)),
        fit_seconds=fit_seconds,
    )
    predictor = Predictor(schema, prep, model, card)
    return Fitted(predictor, report, X_train, y_train, X_valid, w_train, w_valid, fit_seconds)


def train_valid(
    frame: pd.DataFrame, y: np.ndarray, schema: Schema, settings: Settings,
    valid: str | Path | None, read: ReadOptions | None,
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]:  # fmt: skip
    """Training and validation rows: a stratified split, or all rows and a --valid file
    (read as the training file was: derived columns, groups)."""
    from nncli.prepare.dataset import labelled_rows, labels_to_index, with_derived

    if valid is None:
        tr, va = stratified_split(y, settings.run.valid_size, settings.run.seed)
        return frame.iloc[tr], y[tr], frame.iloc[va], y[va]
    valid_frame = labelled_rows(with_derived(read_table(valid, read).frame, schema), schema)
    y_valid = labels_to_index(valid_frame[schema.target], schema.classes, str(valid))
    return frame, y, valid_frame, y_valid
