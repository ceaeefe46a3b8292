"""Gradient-boosted trees with CatBoost (the optional extra ``nncli[catboost]``):
symmetric trees, categorical columns as CatBoost's own (ordered target statistics),
early stopping on the validation rows, and the model in CatBoost's JSON format (no
pickle, no code run on load). Not its binary ``cbm``: CatBoost's loader of that format
crashed the process (a segmentation fault) on a truncated file whose checksum had been
made to match; the JSON is parsed by Python first, so a damaged one is an error, and
random changes to its numbers gave errors or a model, never a crash (900 tried).

It reads the native layout (as the gbt does): numbers unscaled with missing values as
NaN, categories as level codes. CatBoost wants categories as integers or text, so the
codes go in as integers, missing and unseen ones as -1 (one more category).
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

import numpy as np

from nncli.config import CatBoostConfig, Config, RunConfig
from nncli.cores import threads_for_fit
from nncli.learn.models import require_installed
from nncli.learn.models.base import EpochCallback, FitData, FitReport, Model, ModelState

#: settings whose table defaults are CatBoost's own defaults
OWN_DEFAULTS = ("depth", "l2_leaf_reg", "border_count", "random_strength", "bagging_temperature")


class CatBoostModel(Model):
    name = "catboost"
    layout = "native"
    config: CatBoostConfig

    def __init__(
        self, n_classes: int, config: Config | None = None, run: RunConfig | None = None
    ) -> None:
        super().__init__(n_classes, config or CatBoostConfig(), run)
        require_installed(self.name)
        self.booster: Any = None
        self.categorical: list[int] = []
        self.n_features = 0
        import catboost  # noqa: F401  (imported here so fit time excludes the import)

    def _params(self) -> dict[str, Any]:
        c = self.config
        params = {
            "loss_function": "Logloss" if self.n_classes == 2 else "MultiClass",
            "iterations": c.max_rounds,
            # every class, also one missing from these training rows (a rare class in a
            # fold): CatBoost refuses validation labels it did not train on, and would
            # give fewer probability columns
            "class_names": list(range(self.n_classes)),
            "one_hot_max_size": c.one_hot_max_size,
            "random_seed": self.run.seed,
            "thread_count": threads_for_fit(self.run.threads),
            "allow_writing_files": False,
            "logging_level": "Silent",  # its warnings too (a class missing from a fold)
        }
        # the table's defaults are CatBoost's own, passed only when given: CatBoost picks
        # its learning rate from the data only while l2_leaf_reg (among others) is unset;
        # given, it falls back to 0.03 (covertype: 0.03 and test AUC 0.9694; its own 0.116
        # and 0.9806)
        for name in OWN_DEFAULTS:
            if name in c.given:
                params[name] = getattr(c, name)
        if c.learning_rate is not None:
            params["learning_rate"] = c.learning_rate
        return params

    def fit(
        self,
        data: FitData,
        *,
        time_limit: float | None = None,
        on_epoch: EpochCallback | None = None,
    ) -> FitReport:
        import catboost

        self.categorical = list(data.categorical_indices)
        self.n_features = int(data.X.shape[1])
        train = _pool(data.X, self.categorical, data.y, data.w)
        valid = _pool(data.X_valid, self.categorical, data.y_valid, data.w_valid)
        model = catboost.CatBoostClassifier(**self._params())
        watch = _Watch(on_epoch, time_limit, self.config.max_rounds)
        try:
            model.fit(train, eval_set=valid, use_best_model=True, callbacks=[watch],
                      early_stopping_rounds=self.config.early_stopping_rounds,
                      log_cout=_Quiet(), log_cerr=_Quiet())  # fmt: skip
        except KeyboardInterrupt:  # CatBoost ends the fit; the trees so far are kept
            watch.interrupted = True
        if not model.is_fitted():
            raise KeyboardInterrupt
        losses = watch.losses or _valid_losses(model)
        best = int(np.argmin(losses)) + 1 if losses else model.tree_count_
        if watch.interrupted or watch.reached:
            model.shrink(best)  # the best round of those evaluated, as the gbt keeps
        stop = "interrupted" if watch.interrupted else "time_budget" if watch.reached else (
            "early_stopping" if len(losses) < self.config.max_rounds else "completed")  # fmt: skip
        self.booster = model
        history = [{"epoch": i + 1, "valid_loss": float(v)} for i, v in enumerate(losses)]
        return FitReport(history, best, stop)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = np.asarray(self.booster.predict_proba(_pool(X, self.categorical)), dtype=np.float64)
        return p if p.ndim == 2 else np.column_stack([1.0 - p, p])

    def n_params(self) -> int:
        """Leaf values: every tree of depth d has 2^d leaves (a value per class each)."""
        per_leaf = 1 if self.n_classes == 2 else self.n_classes
        return int(self.booster.tree_count_) * 2**self.config.depth * per_leaf

    def state(self) -> ModelState:
        used = float(self.booster.get_all_params()["learning_rate"])  # CatBoost's own choice
        config = self.config.to_dict() | {
            "seed": self.run.seed,
            "n_trees": int(self.booster.tree_count_),
            "learning_rate_used": round(used, 6),
            "categorical": self.categorical,
            "n_features": self.n_features,
        }
        return ModelState(config, blobs={"catboost.json": _model_bytes(self.booster)})

    @classmethod
    def from_state(cls, state: ModelState, n_classes: int) -> CatBoostModel:
        skip = ("seed", "n_trees", "learning_rate_used", "categorical", "n_features")
        config = {k: v for k, v in state.config.items() if k not in skip}
        run = RunConfig(seed=int(state.config.get("seed", 0)))
        model = cls(n_classes, CatBoostConfig(**config), run)
        model.categorical = [int(j) for j in state.config.get("categorical", [])]
        model.n_features = int(state.config.get("n_features", 0))
        model.booster = _load_bytes(state.blobs["catboost.json"], model.n_features,
                                    model.categorical)  # fmt: skip
        return model


def _pool(
    X: np.ndarray, categorical: list[int], y: np.ndarray | None = None,
    w: np.ndarray | None = None,
) -> Any:  # fmt: skip
    """A CatBoost Pool of native-layout rows: the category codes as integers (CatBoost
    takes no floats there), missing and unseen ones as -1, one more category."""
    import catboost
    import pandas as pd

    columns: dict[str, Any] = {}
    for j in range(X.shape[1]):
        x = X[:, j]
        if j in categorical:
            columns[f"f{j}"] = np.where(np.isnan(x), -1, x).astype(np.int64)
        else:
            columns[f"f{j}"] = x.astype(np.float64, copy=False)
    return catboost.Pool(pd.DataFrame(columns), label=y, weight=w,
                         cat_features=categorical or None)  # fmt: skip


def _model_bytes(model: Any) -> bytes:
    """The model in CatBoost's JSON format (it writes only to a file)."""
    with tempfile.TemporaryDirectory(prefix="nncli-catboost-") as tmp:
        path = os.path.join(tmp, "model.json")
        model.save_model(path, format="json")
        with open(path, "rb") as fh:
            return fh.read()


#: what every CatBoost JSON model holds
JSON_KEYS = ("features_info", "model_info", "oblivious_trees", "scale_and_bias")


def _load_bytes(blob: bytes, n_features: int | None, categorical: list[int]) -> Any:
    """A classifier from its JSON; a damaged one is the model file's error: the text is
    checked as JSON here before CatBoost reads it, and the loaded model scores one row."""
    import json

    import catboost

    from nncli.errors import ArtifactError

    def corrupt(why: str) -> ArtifactError:
        return ArtifactError(f"the CatBoost model in the file is corrupt: {why}",
                             "re-train the model.")  # fmt: skip

    try:
        parsed = json.loads(blob)
    except (ValueError, UnicodeDecodeError) as exc:
        raise corrupt(f"not JSON ({exc})") from None
    if not isinstance(parsed, dict) or any(k not in parsed for k in JSON_KEYS):
        raise corrupt("not a CatBoost JSON model")
    model = catboost.CatBoostClassifier()
    with tempfile.TemporaryDirectory(prefix="nncli-catboost-") as tmp:
        path = os.path.join(tmp, "model.json")
        with open(path, "wb") as fh:
            fh.write(blob)
        try:
            model.load_model(path, format="json")
            if n_features:  # a row of missing numbers and categories: it must score
                model.predict_proba(_pool(np.full((1, n_features), np.nan), categorical))
        except catboost.CatBoostError as exc:
            raise corrupt(str(exc).splitlines()[0][:200]) from None
    return model


def _valid_losses(model: Any) -> list[float]:
    results = model.get_evals_result().get("validation", {})
    return [float(v) for v in next(iter(results.values()), [])]


class _Quiet:
    """Where CatBoost's own messages go: nowhere (nncli says what matters itself)."""

    def write(self, text: str) -> None:
        pass


class _Watch:
    """A CatBoost callback: the validation loss of each round (for the history and the
    progress line), and a stop at the time limit."""

    def __init__(self, on_epoch: EpochCallback | None, limit: float | None, rounds: int) -> None:
        self.on_epoch, self.rounds = on_epoch, rounds
        self.deadline = None if limit is None else time.perf_counter() + limit
        self.losses: list[float] = []
        self.reached = self.interrupted = False

    def after_iteration(self, info: Any) -> bool:
        """False stops the fit."""
        metrics = info.metrics.get("validation", {})
        loss = next(iter(metrics.values()), [float("nan")])[-1]
        self.losses.append(float(loss))
        if self.on_epoch is not None:
            self.on_epoch({"epoch": info.iteration + 1, "valid_loss": float(loss),
                           "epochs": self.rounds})  # fmt: skip
        if self.deadline is not None and time.perf_counter() > self.deadline:
            self.reached = True
            return False
        return True
