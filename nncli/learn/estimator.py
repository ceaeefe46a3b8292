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
    default as in the CLI) and ``restore_best``. A stratified ``validation_fraction`` of
    the rows selects the best epoch.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)); y = (X[:, 0] + X[:, 1] > 0).astype(int)
    >>> clf = MLPClassifier(hidden=(16,), epochs=30, batch_size=32, lr=0.01).fit(X, y)
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

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPClassifier:
        from nncli.learn.fitting import stratified_split
        from nncli.learn.models.base import FitData
        from nncli.learn.models.mlp import MLPModel
        from nncli.learn.preprocess import fit_matrix

        config = self._config()  # checks every setting before any work
        X, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2 or len(y) < 2:
            raise ValueError(
                f"MLPClassifier needs at least 2 classes and 2 samples; got "
                f"{len(self.classes_)} class(es) and n_samples = {len(y)}"
            )
        w = _check_sample_weight(sample_weight, X, dtype=np.float64)
        if not np.any(w > 0):
            raise ValueError("sample_weight is zero (or negative) for every sample")
        train, valid = stratified_split(y_index, self.validation_fraction, self.random_state)
        if valid.size == 0:  # too few rows to hold any out: select the epoch on training rows
            valid = train
        self.preprocessor_ = fit_matrix(X[train], config.scaler)
        Xs = self.preprocessor_.transform_matrix(X)
        run = RunConfig(seed=self.random_state, device=self.device)
        model = MLPModel(len(self.classes_), config, run)
        k = len(self.classes_)
        data = FitData(Xs[train], y_index[train], w[train], Xs[valid], y_index[valid], w[valid], k)
        self.history_ = model.fit(data).history
        self.model_ = model
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        return self.model_.predict_proba(self.preprocessor_.transform_matrix(X))

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
