"""An scikit-learn compatible MLP classifier, for Pipeline and GridSearchCV.

It wraps the same torch network, training loop and numeric scaling as
``nncli train -m mlp``. Its parameters are the rows of the MLP settings table
(:data:`nncli.config.MLP`) plus ``validation_fraction``, ``random_state`` and
``device``: a setting added to the table is a parameter here with no other edit.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from nncli.config import MLP, MLPConfig, RunConfig

#: parameters that are not MLP settings: (name, default)
_EXTRA = (("validation_fraction", 0.1), ("random_state", 0), ("device", "cpu"))


def _signature() -> inspect.Signature:
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    params += [
        inspect.Parameter(row.name, inspect.Parameter.KEYWORD_ONLY, default=row.default)
        for row in MLP
    ]
    params += [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
        for name, default in _EXTRA
    ]
    return inspect.Signature(params)


class MLPClassifier(ClassifierMixin, BaseEstimator):
    """Multilayer perceptron classifier (torch) with nncli's architecture options.

    Parameters are keyword-only and mirror ``nncli train -m mlp``: ``hidden`` (layer
    widths), ``activation`` (relu, leaky_relu, elu, selu, gelu, silu, tanh, sigmoid,
    maxout, identity), ``norm``, ``dropout``, ``residual``, ``init``, ``clip_grad``,
    ``optimizer``, ``momentum``, ``lr``, ``weight_decay``, ``schedule``, ``epochs``,
    ``batch_size``, ``patience``, ``label_smoothing``, ``leaky_slope``, ``elu_alpha``,
    ``maxout_pieces``, ``scaler`` (numeric scaling fitted on the training rows, robust by
    default as in the CLI), ``restore_best`` and the strong preset's ingredients. A
    stratified ``validation_fraction`` of the rows selects the best epoch.

    Like the CLI's MLP it preprocesses its inputs: missing numbers are replaced by the
    training median with a 0/1 missing indicator, numbers are scaled (``scaler``), and a
    DataFrame's text, categorical and boolean columns are one-hot encoded (or embedded
    above ``max_one_hot`` levels).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)); y = (X[:, 0] + X[:, 1] > 0).astype(int)
    >>> clf = MLPClassifier(hidden=(16,), epochs=100, batch_size=32, lr=0.01).fit(X, y)
    >>> float((clf.predict(X) == y).mean()) > 0.9
    True
    """

    def __init__(self, **params: Any) -> None:
        bound = self.__init__.__signature__.bind(self, **params)  # type: ignore[misc]
        bound.apply_defaults()
        for name, value in list(bound.arguments.items())[1:]:
            setattr(self, name, value)

    __init__.__signature__ = _signature()  # type: ignore[attr-defined]

    def _config(self) -> MLPConfig:
        return MLPConfig(**{row.name: getattr(self, row.name) for row in MLP})

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # imputed with the median and a missing indicator
        return tags

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPClassifier:
        from nncli.learn.fitting import stratified_split
        from nncli.learn.models.base import FitData
        from nncli.learn.models.mlp import MLPModel

        config = self._config()  # checks every setting before any work
        if _has_text(X):
            X = X.reset_index(drop=True)
            y = np.asarray(y)
        else:
            X, y = validate_data(self, X, y, dtype=np.float32, ensure_all_finite="allow-nan")
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2 or len(y) < 2:
            raise ValueError(
                f"MLPClassifier needs at least 2 classes and 2 samples; got "
                f"{len(self.classes_)} class(es) and n_samples = {len(y)}"
            )
        w = _check_sample_weight(sample_weight, np.empty((len(y), 0)), dtype=np.float64)
        if not np.any(w > 0):
            raise ValueError("sample_weight is zero (or negative) for every sample")
        X, y_index, w = _merged(X, y_index, w)
        train, valid = stratified_split(y_index, self.validation_fraction, self.random_state)
        if valid.size == 0:  # too few rows to hold any out: select the epoch on training rows
            valid = train
        Xs = self._fit_inputs(X, train, config)
        prep = self.preprocessor_
        run = RunConfig(seed=self.random_state, device=self.device)
        model = MLPModel(len(self.classes_), config, run)
        data = FitData(
            Xs[train], y_index[train], w[train], Xs[valid], y_index[valid], w[valid],
            len(self.classes_), numeric_indices=prep.numeric_indices,
            coded=prep.embedded_columns,
        )  # fmt: skip
        report = model.fit(data)
        self.history_ = report.history
        self.model_ = model
        _warn_if_still_improving(report, config.epochs)
        return self

    def _fit_inputs(self, X: Any, train: np.ndarray, config: MLPConfig) -> np.ndarray:
        """Fit the preprocessing on the training rows; the whole model matrix."""
        from nncli.prepare.preprocess import fit_frame, fit_matrix

        if _has_text(X):
            self.n_features_in_ = X.shape[1]
            self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
            frame = X.set_axis(list(self.feature_names_in_), axis=1)
            self.preprocessor_ = fit_frame(frame.iloc[train], config.scaler, config.max_one_hot)
            return self.preprocessor_.transform(frame)[0]
        self.preprocessor_ = fit_matrix(X[train], config.scaler)
        return self.preprocessor_.transform_matrix(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        if self.preprocessor_.categorical:
            frame = X.set_axis([str(c) for c in X.columns], axis=1)
            return self.model_.predict_proba(self.preprocessor_.transform(frame)[0])
        X = validate_data(self, X, dtype=np.float32, reset=False, ensure_all_finite="allow-nan")
        return self.model_.predict_proba(self.preprocessor_.transform_matrix(X))

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def _has_text(X: Any) -> bool:
    """A DataFrame with a non-numeric column (text, categories, booleans)."""
    import pandas as pd

    if not isinstance(X, pd.DataFrame):
        return False
    return any(
        not pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c])
        for c in X.columns
    )


def _merged(X: Any, y: np.ndarray, w: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray]:
    """Rows of weight 0 left out, and identical rows (features and class) merged into one
    whose weight is their sum, in a canonical order (by a hash of the row). So a weight of
    k is exactly k copies of a row (scikit-learn's sample-weight equivalence), and a
    duplicated row never sits on both sides of the validation split."""
    import pandas as pd

    def take(rows: np.ndarray) -> Any:
        return X.iloc[rows].reset_index(drop=True) if isinstance(X, pd.DataFrame) else X[rows]

    positive = np.flatnonzero(w > 0)
    X, y, w = take(positive), y[positive], w[positive]
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
    keys = pd.util.hash_pandas_object(frame.assign(__y=y), index=False).to_numpy()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return take(first), y[first], np.bincount(inverse, weights=w)


def _warn_if_still_improving(report: Any, epochs: int) -> None:
    """A ConvergenceWarning, as scikit-learn's MLPClassifier gives, when every epoch ran
    and the validation loss was still falling at the end."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from nncli.learn.models.base import still_improving

    if still_improving(report.history, report.stop_reason):
        warnings.warn(
            f"MLPClassifier used all {epochs} epochs and the validation loss was still "
            "falling at the last one; a larger epochs may fit better",
            ConvergenceWarning,
            stacklevel=3,
        )
