"""Gradient-boosted trees with LightGBM: native categoricals and missing values, early
stopping on the validation rows, and LightGBM's own plain-text model format."""

from __future__ import annotations

import re
import time
from dataclasses import asdict
from typing import Any

import numpy as np

from nncli.config import GBTConfig, RunConfig, Settings
from nncli.learn.models.base import EpochCallback, FitData, Model, ModelState


class GBTModel(Model):
    name = "gbt"
    layout = "native"

    def __init__(self, n_classes: int, settings: Settings | None = None) -> None:
        super().__init__(n_classes, settings)
        self.config = self.settings.gbt
        self.seed, self.threads = self.settings.run.seed, self.settings.run.threads or 0
        self.booster: Any = None
        import lightgbm  # noqa: F401  (imported here so fit time excludes the import)

    def _params(self) -> dict[str, Any]:
        binary = self.n_classes == 2
        return {
            "objective": "binary" if binary else "multiclass",
            "num_class": 1 if binary else self.n_classes,
            "metric": "binary_logloss" if binary else "multi_logloss",
            "learning_rate": self.config.learning_rate,
            "num_leaves": self.config.num_leaves,
            "min_data_in_leaf": self.config.min_child_samples,
            "seed": self.seed,
            "deterministic": True,
            "force_col_wise": True,
            "num_threads": self.threads,
            "verbosity": -1,
        }

    def fit(self, data: FitData, on_epoch: EpochCallback | None = None) -> None:
        import lightgbm as lgb

        # internal names f0..fN: LightGBM rejects names with JSON/bracket characters
        names = [f"f{i}" for i in range(data.X.shape[1])]
        train = lgb.Dataset(
            data.X,
            data.y,
            weight=data.w,
            feature_name=names,
            categorical_feature=data.categorical_indices,
            free_raw_data=False,
        )
        valid = lgb.Dataset(data.X_valid, data.y_valid, weight=data.w_valid, reference=train)
        evals: dict[str, Any] = {}
        callbacks = [
            lgb.early_stopping(self.config.early_stopping_rounds, verbose=False),
            lgb.record_evaluation(evals),
        ]
        if on_epoch is not None:
            callbacks.append(_progress(on_epoch))
        if self.time_limit is not None:
            callbacks.append(_deadline(self, time.perf_counter() + self.time_limit))
        self.booster = lgb.train(
            self._params(),
            train,
            num_boost_round=self.config.max_rounds,
            valid_sets=[valid],
            valid_names=["valid"],
            callbacks=callbacks,
        )
        losses = next(iter(evals["valid"].values()))
        self.history = [{"epoch": i + 1, "valid_loss": float(v)} for i, v in enumerate(losses)]
        best = self.booster.best_iteration or len(losses)
        if self.stop_reason != "time_budget":
            self.stop_reason = "early_stopping" if best < len(losses) else "completed"
        self.booster = lgb.Booster(model_str=self.booster.model_to_string(num_iteration=best))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = np.asarray(self.booster.predict(X), dtype=np.float64)
        if self.n_classes == 2:
            return np.column_stack([1.0 - p, p])
        return p

    def n_params(self) -> int:
        text = self.booster.model_to_string()
        return sum(int(n) for n in re.findall(r"^num_leaves=(\d+)", text, re.M))

    def state(self) -> ModelState:
        config = asdict(self.config) | {"seed": self.seed, "n_trees": self.booster.num_trees()}
        return ModelState(config, blobs={"gbt.txt": self.booster.model_to_string().encode()})

    @classmethod
    def from_state(cls, state: ModelState, n_classes: int) -> GBTModel:
        import lightgbm as lgb

        config = {k: v for k, v in state.config.items() if k not in ("seed", "n_trees")}
        run = RunConfig(seed=int(state.config.get("seed", 0)))
        model = cls(n_classes, Settings(run=run, gbt=GBTConfig(**config)))
        try:
            model.booster = lgb.Booster(model_str=state.blobs["gbt.txt"].decode())
        except (lgb.basic.LightGBMError, UnicodeDecodeError) as exc:
            from nncli.errors import ArtifactError

            raise ArtifactError(
                f"the tree model in the file is corrupt: {exc}", "re-train the model."
            ) from None
        return model


def _deadline(model: GBTModel, deadline: float) -> Any:
    """Stop boosting once the time limit is reached, keeping the best round so far."""
    import lightgbm as lgb

    best = {"loss": float("inf"), "iteration": 0, "results": []}

    def callback(env: Any) -> None:
        loss = env.evaluation_result_list[0][2]
        if loss < best["loss"]:
            best.update(loss=loss, iteration=env.iteration, results=env.evaluation_result_list)
        if time.perf_counter() > deadline:
            model.stop_reason = "time_budget"
            raise lgb.callback.EarlyStopException(best["iteration"], best["results"])

    return callback


def _progress(on_epoch: EpochCallback) -> Any:
    def callback(env: Any) -> None:
        loss = env.evaluation_result_list[0][2] if env.evaluation_result_list else float("nan")
        on_epoch(
            {"epoch": env.iteration + 1, "valid_loss": float(loss), "epochs": env.end_iteration}
        )

    return callback
