"""Gradient-boosted trees with LightGBM: native categoricals and missing values, early
stopping on the validation rows, and LightGBM's own plain-text model format."""

from __future__ import annotations

import re
import time
from typing import Any

import numpy as np

from nncli.config import Config, GBTConfig, RunConfig
from nncli.cores import threads_for_fit
from nncli.learn.models.base import EpochCallback, FitData, FitReport, Model, ModelState


class GBTModel(Model):
    name = "gbt"
    layout = "native"
    config: GBTConfig

    def __init__(
        self, n_classes: int, config: Config | None = None, run: RunConfig | None = None
    ) -> None:
        super().__init__(n_classes, config or GBTConfig(), run)
        self.booster: Any = None
        import lightgbm  # noqa: F401  (imported here so fit time excludes the import)

    def _params(self) -> dict[str, Any]:
        binary, c = self.n_classes == 2, self.config
        return {
            "objective": "binary" if binary else "multiclass",
            "num_class": 1 if binary else self.n_classes,
            "metric": "binary_logloss" if binary else "multi_logloss",
            "learning_rate": c.learning_rate,
            "num_leaves": c.num_leaves,
            "min_data_in_leaf": c.min_child_samples,
            "feature_fraction": c.feature_fraction,
            "bagging_fraction": c.bagging_fraction,
            "bagging_freq": c.bagging_freq,
            "lambda_l1": c.lambda_l1,
            "lambda_l2": c.lambda_l2,
            "max_bin": c.max_bin,
            "seed": self.run.seed,
            "deterministic": True,
            "force_col_wise": True,
            "num_threads": threads_for_fit(self.run.threads),
            "verbosity": -1,
        }

    def fit(
        self,
        data: FitData,
        *,
        time_limit: float | None = None,
        on_epoch: EpochCallback | None = None,
    ) -> FitReport:
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
        deadline = _Deadline(None if time_limit is None else time.perf_counter() + time_limit)
        kept, interrupted = _Kept(), False
        callbacks += [deadline, kept]
        try:
            booster = lgb.train(self._params(), train, num_boost_round=self.config.max_rounds,
                                valid_sets=[valid], valid_names=["valid"],
                                callbacks=callbacks)  # fmt: skip
        except KeyboardInterrupt:  # Ctrl-C: keep the best round so far, as the MLP does
            if kept.booster is None or not evals.get("valid"):
                raise
            booster, interrupted = kept.booster, True
        losses = next(iter(evals["valid"].values()))
        if interrupted:  # the best of the rounds evaluated (the booster may hold one more)
            best, stop = int(np.argmin(losses)) + 1, "interrupted"
        else:
            best = booster.best_iteration or len(losses)
            stop = "time_budget" if deadline.reached else (
                "early_stopping" if best < len(losses) else "completed")  # fmt: skip
        self.booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
        history = [{"epoch": i + 1, "valid_loss": float(v)} for i, v in enumerate(losses)]
        return FitReport(history, best, stop)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = np.asarray(self.booster.predict(X), dtype=np.float64)
        if self.n_classes == 2:
            return np.column_stack([1.0 - p, p])
        return p

    def n_params(self) -> int:
        text = self.booster.model_to_string()
        return sum(int(n) for n in re.findall(r"^num_leaves=(\d+)", text, re.M))

    def state(self) -> ModelState:
        config = self.config.to_dict() | {
            "seed": self.run.seed,
            "n_trees": self.booster.num_trees(),
        }
        return ModelState(config, blobs={"gbt.txt": self.booster.model_to_string().encode()})

    @classmethod
    def from_state(cls, state: ModelState, n_classes: int) -> GBTModel:
        import lightgbm as lgb

        config = {k: v for k, v in state.config.items() if k not in ("seed", "n_trees")}
        run = RunConfig(seed=int(state.config.get("seed", 0)))
        model = cls(n_classes, GBTConfig(**config), run)
        try:
            model.booster = lgb.Booster(model_str=state.blobs["gbt.txt"].decode())
        except (lgb.basic.LightGBMError, UnicodeDecodeError) as exc:
            from nncli.errors import ArtifactError

            raise ArtifactError(
                f"the tree model in the file is corrupt: {exc}", "re-train the model."
            ) from None
        return model


class _Deadline:
    """A LightGBM callback: stop boosting at the time limit, keeping the best round so far."""

    def __init__(self, deadline: float | None) -> None:
        # after the round's evaluation is recorded (record_evaluation: 20; an instance
        # attribute, as lightgbm sets a default in each callback's __dict__): first, a
        # limit reached in round 1 ended the fit with no loss recorded (a KeyError; nncli
        # tune's last trial, given a fraction of a second, found it)
        self.order = 25
        self.deadline, self.reached = deadline, False
        self.best_loss, self.best_iteration, self.best_results = float("inf"), 0, []

    def __call__(self, env: Any) -> None:
        import lightgbm as lgb

        if self.deadline is None:
            return
        loss = env.evaluation_result_list[0][2]
        if loss < self.best_loss:
            self.best_loss, self.best_iteration = loss, env.iteration
            self.best_results = env.evaluation_result_list
        if time.perf_counter() > self.deadline:
            self.reached = True
            raise lgb.callback.EarlyStopException(self.best_iteration, self.best_results)


class _Kept:
    """A LightGBM callback that keeps the booster being trained, so that an interrupt
    (which ends ``lightgbm.train`` without a return value) does not lose it."""

    def __init__(self) -> None:
        self.order = 100  # after the evaluation is recorded (an instance attribute: above)
        self.booster: Any = None

    def __call__(self, env: Any) -> None:
        self.booster = env.model


def _progress(on_epoch: EpochCallback) -> Any:
    def callback(env: Any) -> None:
        loss = env.evaluation_result_list[0][2] if env.evaluation_result_list else float("nan")
        on_epoch(
            {"epoch": env.iteration + 1, "valid_loss": float(loss), "epochs": env.end_iteration}
        )

    return callback
