"""An scikit-learn compatible MLP classifier, for Pipeline and GridSearchCV.

It wraps the same torch network and training loop as ``nncli train -m mlp``; inputs
are expected numeric and already scaled (put a scaler in front of it in a Pipeline).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_array, check_is_fitted, check_X_y

from nncli.config import MLPConfig, RunConfig, Settings


class MLPClassifier(ClassifierMixin, BaseEstimator):
    """Multilayer perceptron classifier (torch) with nncli's architecture options.

    Parameters mirror ``nncli train -m mlp``: ``hidden`` (layer widths), ``activation``
    (relu, leaky_relu, elu, selu, gelu, silu, tanh, sigmoid, maxout, identity), ``norm``,
    ``dropout``, ``residual``, ``init``, ``clip_grad``, ``optimizer``, ``lr``,
    ``weight_decay``, ``schedule``, ``epochs``, ``batch_size``, ``patience``,
    ``label_smoothing``, ``leaky_slope``, ``elu_alpha``, ``maxout_pieces``. A stratified
    ``validation_fraction`` of the rows selects the best epoch.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> clf = make_pipeline(StandardScaler(), MLPClassifier(hidden=(32,), epochs=5))
    """

    def __init__(
        self,
        hidden: tuple[int, ...] = (256, 256),
        activation: str = "relu",
        *,
        norm: str = "none",
        dropout: float = 0.0,
        residual: bool = False,
        init: str = "auto",
        clip_grad: float | None = 1.0,
        optimizer: str = "adamw",
        lr: float = 2e-3,
        weight_decay: float = 1e-4,
        schedule: str = "cosine",
        epochs: int = 60,
        batch_size: int = 256,
        patience: int = 12,
        label_smoothing: float = 0.0,
        leaky_slope: float = 0.1,
        elu_alpha: float = 1.0,
        maxout_pieces: int = 2,
        validation_fraction: float = 0.1,
        random_state: int = 0,
        device: str = "cpu",
    ) -> None:
        self.hidden = hidden
        self.activation = activation
        self.norm = norm
        self.dropout = dropout
        self.residual = residual
        self.init = init
        self.clip_grad = clip_grad
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.label_smoothing = label_smoothing
        self.leaky_slope = leaky_slope
        self.elu_alpha = elu_alpha
        self.maxout_pieces = maxout_pieces
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device

    def _config(self) -> MLPConfig:
        fields = MLPConfig.__dataclass_fields__
        return MLPConfig(**{k: v for k, v in self.get_params().items() if k in fields})

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPClassifier:
        from nncli.learn.fitting import stratified_split
        from nncli.learn.models.base import FitData
        from nncli.learn.models.mlp import MLPModel

        X, y = check_X_y(X, y, dtype=np.float32)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
        train, valid = stratified_split(y_index, self.validation_fraction, self.random_state)
        run = RunConfig(seed=self.random_state, device=self.device)
        model = MLPModel(len(self.classes_), Settings(run=run, mlp=self._config()))
        model.fit(
            FitData(
                X[train],
                y_index[train],
                w[train],
                X[valid],
                y_index[valid],
                w[valid],
                len(self.classes_),
            )
        )
        self.model_, self.history_ = model, model.history
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(check_array(X, dtype=np.float32))

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
