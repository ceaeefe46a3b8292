"""The floor and the linear models: majority class, logistic regression, Fisher's
linear discriminant. Predictions use plain numpy, so a saved model needs no sklearn."""

from __future__ import annotations

from typing import Any

import numpy as np

from nncli.config import Config, LinearConfig, RunConfig
from nncli.learn.models.base import FitData, FitReport, Model, ModelState, logits_to_proba


class MajorityModel(Model):
    """Predicts the training class shares for every row: the floor any model must beat."""

    name = "majority"

    def __init__(
        self, n_classes: int, config: Config | None = None, run: RunConfig | None = None
    ) -> None:
        super().__init__(n_classes, None, run)
        self.prior = np.full(n_classes, 1.0 / n_classes)

    def fit(self, data: FitData, **_: Any) -> FitReport:
        counts = np.bincount(data.y, weights=data.w, minlength=self.n_classes)
        self.prior = counts / counts.sum()
        return FitReport()

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.tile(self.prior, (len(X), 1))

    def n_params(self) -> int:
        return self.n_classes - 1

    def state(self) -> ModelState:
        return ModelState({}, {"prior": self.prior})

    @classmethod
    def from_state(cls, state: ModelState, n_classes: int) -> MajorityModel:
        model = cls(n_classes)
        model.prior = state.arrays["prior"].astype(np.float64)
        return model


class LinearModel(Model):
    """Shared by the two linear models: logits = X @ coef.T + intercept."""

    config: LinearConfig

    def __init__(
        self, n_classes: int, config: Config | None = None, run: RunConfig | None = None
    ) -> None:
        super().__init__(n_classes, config or LinearConfig(), run)
        self.coef = np.zeros((1, 0))
        self.intercept = np.zeros(1)

    @property
    def scaler(self) -> str:
        return str(self.run.scaler or self.config.scaler)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return logits_to_proba(X.astype(np.float64) @ self.coef.T + self.intercept)

    def n_params(self) -> int:
        return int(self.coef.size + self.intercept.size)

    def state(self) -> ModelState:
        return ModelState(self.config.to_dict(), {"coef": self.coef, "intercept": self.intercept})

    @classmethod
    def from_state(cls, state: ModelState, n_classes: int) -> LinearModel:
        model = cls(n_classes, LinearConfig(**state.config))
        model.coef = state.arrays["coef"].astype(np.float64)
        model.intercept = state.arrays["intercept"].astype(np.float64)
        return model


class LogisticModel(LinearModel):
    """L2-regularised logistic regression (scikit-learn's lbfgs solver; softmax if K > 2)."""

    name = "logreg"

    def __init__(
        self, n_classes: int, config: Config | None = None, run: RunConfig | None = None
    ) -> None:
        super().__init__(n_classes, config, run)
        import sklearn.linear_model  # noqa: F401  (so fit time excludes the import)

    def fit(self, data: FitData, **kw: Any) -> FitReport:
        if data.stream is not None:
            return self._fit_stream(data, kw.get("on_epoch"))
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(C=self.config.C, max_iter=self.config.max_iter)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(data.X, data.y, sample_weight=data.w)
        self.coef, self.intercept = clf.coef_.astype(np.float64), clf.intercept_.astype(np.float64)
        if self.n_classes == 2 and self.coef.shape[0] != 1:  # pragma: no cover - sklearn detail
            self.coef = self.coef[1:] - self.coef[:1]
            self.intercept = self.intercept[1:] - self.intercept[:1]
        if self.n_classes > 2 and len(clf.classes_) < self.n_classes:
            self._widen(clf.classes_)
        return FitReport()

    def _widen(self, present: np.ndarray) -> None:
        """Scores for every class when some had no training rows (a cross-fitting fold
        can lack a class of 2 rows): an absent class gets a score far below the others."""
        coef, intercept = self.coef, self.intercept
        if len(present) == 2:  # scikit-learn fitted one logit: class 1 against class 0
            coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.r_[0.0, intercept]
        full_coef = np.zeros((self.n_classes, coef.shape[1]))
        full_intercept = np.full(self.n_classes, ABSENT_SCORE)
        full_coef[present], full_intercept[present] = coef, intercept
        self.coef, self.intercept = full_coef, full_intercept

    def _fit_stream(self, data: FitData, on_epoch: Any) -> FitReport:
        """The same model on a stream of row blocks (lbfgs needs every row at once):
        minibatch Adam on the mean log loss with L2 = 1/(C·n) on the weights, which is
        scikit-learn's objective divided by C·n; early stopping on the validation rows."""
        import torch

        from nncli.config import MLPConfig
        from nncli.learn.training import train

        torch.manual_seed(self.run.seed)
        net = torch.nn.Linear(data.X.shape[1], 1 if self.n_classes == 2 else self.n_classes)
        decay = 1.0 / (self.config.C * max(data.n_stream, 1))
        recipe = MLPConfig(
            optimizer="adam", lr=1e-2, weight_decay=decay, epochs=STREAM_EPOCHS, patience=3,
            batch_size=int(np.clip(data.n_stream // 100, 32, 1024)), schedule="cosine",
            dropout=0.0,
        )  # fmt: skip
        report = train(net, data, recipe, self.run, on_epoch=on_epoch)
        self.coef = net.weight.detach().numpy().astype(np.float64)
        self.intercept = net.bias.detach().numpy().astype(np.float64)
        return report


#: the logit of a class that had no training rows (e^-30: its probability is ~1e-13)
ABSENT_SCORE = -30.0
#: passes over a streamed file for logistic regression (with early stopping)
STREAM_EPOCHS = 20


class FisherModel(LinearModel):
    """Fisher's linear discriminant: shared within-class covariance, Gaussian class scores.

    Written out (a few lines of numpy) rather than scikit-learn's LDA because it must
    honour event weights, which that estimator does not accept.
    """

    name = "fisher"

    def fit(self, data: FitData, **_: Any) -> FitReport:
        X, y, w = data.X.astype(np.float64), data.y, data.w
        k, d = self.n_classes, X.shape[1]
        totals = np.bincount(y, weights=w, minlength=k)
        means = np.zeros((k, d))
        np.add.at(means, y, X * w[:, None])
        means /= np.maximum(totals, 1e-12)[:, None]
        centred = (X - means[y]) * np.sqrt(w)[:, None]
        cov = centred.T @ centred / max(w.sum(), 1e-12)
        alpha = self.config.shrinkage
        ridge = np.trace(cov) / max(d, 1) if np.trace(cov) > 0 else 1.0
        cov = (1 - alpha) * cov + alpha * ridge * np.eye(d)
        solved = np.linalg.solve(cov, means.T).T  # Σ⁻¹ μ_k
        prior = np.maximum(totals / totals.sum(), 1e-12)
        coef = solved
        intercept = -0.5 * np.einsum("kd,kd->k", means, solved) + np.log(prior)
        if k == 2:
            coef, intercept = coef[1:] - coef[:1], intercept[1:] - intercept[:1]
        self.coef, self.intercept = coef, intercept
        return FitReport()
