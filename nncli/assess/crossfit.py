"""Cross-fitting: the rows a model is fitted, chosen and tested on.

Each outer split (the test split, or each ``--cv`` fold) holds its test rows and the
rest. With one validation split (``--bag 1``) a model trains on the rest less one
fold of validation rows. Bagged (``--bag K``), the rest is cut into K folds (stratified,
or ``--fold-by COL``: a row's fold is COL mod K); the model is fitted K times, each
time on K−1 folds with early stopping on the fold it did not see, and predicts that
fold: the out-of-fold (OOF) predictions cover every row of the rest, so choices rest on
all of them, and the test rows are scored with the mean of the K fold models.

Every model's predictions on the rest are kept in one array per outer split (NaN where
none of its fits held the row out), so models fitted on fewer folds than others (the
time budget) are compared on the rows they all predicted out of fold.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nncli.errors import DataError
from nncli.learn.fitting import fit_model, stratified_folds, stratified_split
from nncli.prepare.dataset import fold_numbers

if TYPE_CHECKING:
    import pandas as pd

    from nncli.assess.plan import CompareOptions
    from nncli.config import Settings
    from nncli.learn.models.base import EpochCallback
    from nncli.learn.predictor import Predictor
    from nncli.prepare.schema import Schema

#: automatic bagging: K folds below this many training rows, ...
SMALL_ROWS, SMALL_K = 1_000, 8
#: ... K folds up to this many (above, the validation rows suffice to choose with)
BAG_ROWS, BAG_K = 20_000, 5
#: the least time a refining model's fit is given: when the budget cannot give every
#: fold this much, the model is fitted on fewer folds (down to one split), not starved
MIN_REFINE_FIT = 2.0


@dataclass
class Split:
    """One outer split: the test rows, the rest, and the rest's validation folds (one
    for a single split, K when bagged). Row indices into the comparison's frame."""

    rest: np.ndarray  # sorted
    folds: list[np.ndarray]
    test: np.ndarray

    @property
    def bagged(self) -> bool:
        return len(self.folds) > 1

    def position(self, rows: np.ndarray) -> np.ndarray:
        """Where ``rows`` sit in :attr:`rest`."""
        return np.searchsorted(self.rest, rows)

    def training(self, k: int) -> np.ndarray:
        """The rows fit ``k`` trains on: the rest without fold ``k``."""
        return np.setdiff1d(self.rest, self.folds[k], assume_unique=True)


def auto_bag(n_rest: int) -> int:
    """K for ``--bag`` left to compare: more folds on smaller data, none on large."""
    if n_rest < SMALL_ROWS:
        return SMALL_K
    return BAG_K if n_rest <= BAG_ROWS else 1


def bag_words(k: int, n_rest: int, given: bool) -> str:
    """The planner's choice in words, for stderr."""
    why = "--bag" if given else f"automatic for {n_rest:,} training and validation rows"
    if k == 1:
        return f"one validation split ({why}; --bag K to cross-fit)"
    return (f"cross-fitting with {k} folds ({why}): each model is fitted {k} times, chosen on "
            "its out-of-fold predictions of every training row, and scored on the test rows "
            "with the mean of its fold models (--bag 1 for one validation split)")  # fmt: skip


def make_splits(
    y: np.ndarray,
    options: CompareOptions,
    seed: int,
    valid_size: float,
    bag: int,
    test_rows: np.ndarray | None = None,
    fold_of: np.ndarray | None = None,
) -> list[Split]:
    """One holdout split, or one per CV fold; each with its validation fold(s)."""
    if options.cv:
        fold = stratified_folds(y, options.cv, seed)
        tests = [np.flatnonzero(fold == k) for k in range(options.cv)]
    elif test_rows is not None:
        tests = [test_rows]
    else:
        tests = [stratified_split(y, options.test_size, seed)[1]]
    splits = []
    for test in tests:
        rest = np.setdiff1d(np.arange(len(y)), test)
        if bag == 1:
            folds = [rest[stratified_split(y[rest], valid_size, seed + 1)[1]]]
        else:
            strata = stratified_folds(y[rest], bag, seed + 1) if fold_of is None else None
            number = fold_of[rest] if fold_of is not None else strata
            folds = [rest[number == k] for k in range(bag)]
            if any(len(f) == 0 for f in folds):
                raise DataError(f"--bag {bag}: a fold has no rows",
                                "pass a smaller --bag, or check the --fold-by column.")  # fmt: skip
        splits.append(Split(rest, folds, test))
    return splits


@dataclass
class FoldOutput:
    """One outer split's probabilities: out of fold on the rest (NaN where no fit held
    the row out), the test rows (the mean of the fits), and in sample on the rows the
    model trained on — bagged, the mean of all its fits on every row of the rest (each
    row was trained on by all but one of them), as the test rows are scored; one split,
    the fit on its training rows (NaN on its validation rows)."""

    valid: np.ndarray
    test: np.ndarray
    train: np.ndarray
    fits: int = 1


@dataclass
class Fits:
    """What fitting one entry on one outer split gave: the outputs, the fold models,
    the last fit's report, seconds."""

    output: FoldOutput
    predictors: list[Predictor]
    report: Any
    fit_seconds: float
    predict_seconds: float


def fold_count(folds: int, limit: float | None, min_fit: float) -> int:
    """How many of the ``folds`` a model with ``limit`` seconds is fitted on: all, unless
    each fit would get less than ``min_fit`` seconds (the budget buys folds while each
    fit can still learn; at least one)."""
    if limit is None or min_fit <= 0:
        return folds
    return max(1, min(folds, int(limit // min_fit)))


def fit_folds(
    name: str, schema: Schema, frame: pd.DataFrame, y: np.ndarray, split: Split,
    settings: Settings, limit: float | None, on_epoch: EpochCallback | None,
    min_fit: float = 0.0,
) -> Fits:  # fmt: skip
    """Fit model ``name`` on the folds of ``split`` that ``limit`` (seconds for all of
    them) buys (:func:`fold_count`), each given an equal share, while there is room for
    another fit; at least one fit always runs."""
    k_classes = len(schema.classes)
    n = len(split.rest)
    oof = np.full((n, k_classes), np.nan)
    in_sample, seen = np.zeros((n, k_classes)), np.zeros(n)
    test_sum = np.zeros((len(split.test), k_classes))
    predictors, fit_s, predict_s, started = [], 0.0, 0.0, time.perf_counter()
    count = fold_count(len(split.folds), limit, min_fit)
    per_fit = None if limit is None else limit / count
    for k, valid in enumerate(split.folds[:count]):
        spent = time.perf_counter() - started
        if k and limit is not None and spent + spent / k > limit:
            break  # the next fold would not fit the budget: keep what finished
        train = split.training(k)
        fitted = fit_model(name, schema, frame.iloc[train], y[train], frame.iloc[valid],
                           y[valid], settings, on_epoch, per_fit)  # fmt: skip
        if fitted.report.stop_reason == "interrupted":
            raise KeyboardInterrupt  # Ctrl-C stops the whole comparison, not this model
        t0 = time.perf_counter()
        if len(split.test):
            test_sum += fitted.predictor.predict_proba(frame.iloc[split.test], unseen="ignore")
        predict_s += time.perf_counter() - t0
        predict = fitted.predictor.predict_proba_matrix
        oof[split.position(valid)] = p_valid = predict(fitted.X_valid)
        if split.bagged:  # in sample: the bagged model's scores, all fits on every row
            in_sample[split.position(valid)] += p_valid
            seen[split.position(valid)] += 1
        p_train = (  # under torchrun the MLP saw its shard: score all its training rows
            predict(fitted.X_train) if len(fitted.y_train) == len(train)
            else fitted.predictor.predict_proba(frame.iloc[train], unseen="ignore")
        )  # fmt: skip
        in_sample[split.position(train)] += p_train
        seen[split.position(train)] += 1
        predictors.append(fitted.predictor)
        fit_s += fitted.fit_seconds
    fits = len(predictors)
    with np.errstate(invalid="ignore"):
        train_mean = np.where(seen[:, None] > 0, in_sample / np.maximum(seen, 1)[:, None], np.nan)
    output = FoldOutput(oof, test_sum / fits, train_mean, fits)
    return Fits(output, predictors, fitted.report, fit_s, predict_s)


def fits_words(fits: list[int], folds: int) -> str:
    """How a model was fitted, for the table: 5-fold bag, 3 of 5 folds, single split."""
    if folds == 1:
        return "single split"
    done = min(fits)
    return f"{folds}-fold bag" if done == folds else f"{done} of {folds} folds"


def common_rows(outputs: list[FoldOutput]) -> np.ndarray:
    """The rows of the rest that every one of ``outputs`` predicted out of fold."""
    mask = np.ones(len(outputs[0].valid), dtype=bool)
    for out in outputs:
        mask &= np.isfinite(out.valid).all(axis=1)
    return mask


def train_bagged(
    name: str, schema: Schema, frame: pd.DataFrame, y: np.ndarray, settings: Settings,
    on_epoch: EpochCallback | None = None, limit: float | None = None,
) -> tuple[Any, FoldOutput, float]:  # fmt: skip
    """``train --bag K``: the K fold models of ``name`` on every row of ``frame`` as one
    predictor, their out-of-fold and in-sample predictions, and the fit seconds (with
    ``limit``, seconds for all the folds: those that fit)."""
    from nncli.learn.ensemble import EnsemblePredictor

    k, fold_by = int(settings.run.bag or 1), settings.run.fold_by
    rows = np.arange(len(y))
    number = (
        fold_numbers(frame, fold_by, k) if fold_by else stratified_folds(y, k, settings.run.seed)
    )
    folds = [rows[number == j] for j in range(k)]
    if any(len(f) == 0 for f in folds):
        raise DataError(f"--bag {k}: a fold has no rows",
                        "pass a smaller --bag, or check the --fold-by column.")  # fmt: skip
    fits = fit_folds(name, schema, frame, y, Split(rows, folds, rows[:0]), settings, limit,
                     on_epoch)  # fmt: skip
    predictor = EnsemblePredictor.bagged(fits.predictors, name, k, fold_by)
    return predictor, fits.output, fits.fit_seconds
