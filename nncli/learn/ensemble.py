"""A blend of fitted models as one predictor: each member keeps its own preprocessing
(native for the trees, dense for the linear models and MLPs) and the ensemble averages
their probabilities with fixed weights. It is saved as one model file holding every
member's settings, weights and trees (no pickle) and loads like any other model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nncli.errors import ArtifactError, ConfigError
from nncli.io.artifacts import read_model_file, write_model_file
from nncli.io.card import ModelCard
from nncli.learn.predictor import Predictor, guarded, stamp
from nncli.prepare.dataset import fold_numbers
from nncli.prepare.schema import Schema

if TYPE_CHECKING:
    import pandas as pd

NAME = "ensemble"


@dataclass
class EnsemblePredictor:
    """Weighted average of member predictors trained on the same schema.

    A cross-fitted (bagged) model is one too: its K fold models, weight 1/K each, each
    marked with the fold it did not train on (``folds``); ``bag`` records K and the
    ``--fold-by`` column. Given each row's fold, :meth:`predict_proba_counted` scores a
    row with the fold models that did not train on its fold (k-fold application) and
    with the members that are not bagged.
    """

    schema: Schema
    members: list[Predictor]
    labels: list[str]
    weights: list[float]
    card: ModelCard
    folds: list[int | None] | None = None  # per member: the fold it held out
    bag: dict[str, Any] | None = None  # {"k": K, "fold_by": column or None}

    @classmethod
    def bagged(
        cls, predictors: list[Predictor], label: str, k: int, fold_by: str | None
    ) -> EnsemblePredictor:
        """The fold models of one model, fold j's model having held out fold j; its card
        is the model's own (name, settings, first fold's history) with the bag added."""
        from dataclasses import replace

        n, first = len(predictors), predictors[0].card
        bag = {"k": k, "fits": n, "fold_by": fold_by}
        card = replace(first, config=first.config | {"bag": bag},
                       n_params=sum(p.card.n_params for p in predictors))  # fmt: skip
        return cls(
            predictors[0].schema,
            predictors,
            [f"{label}/fold{j}" for j in range(n)],
            [1.0 / n] * n,
            card,
            list(range(n)),
            {"k": k, "fold_by": fold_by},
        )

    @classmethod
    def blend(cls, parts: list[Any], labels: list[str], weights: list[float],
              card: ModelCard) -> EnsemblePredictor:  # fmt: skip
        """A weighted blend of predictors, bagged ones flattened into their fold models
        (weight × 1/K each), so the file holds one level of members."""
        members, names, ws, folds, bag = [], [], [], [], None
        for part, label, weight in zip(parts, labels, weights, strict=True):
            if isinstance(part, EnsemblePredictor):
                members += part.members
                names += part.labels
                ws += [weight * w for w in part.weights]
                folds += part.folds or [None] * len(part.members)
                bag = part.bag or bag
            else:
                members.append(part)
                names.append(label)
                ws.append(weight)
                folds.append(None)
        return cls(members[0].schema, members, names, ws, card, folds, bag)

    @property
    def classes(self) -> list[str]:
        return self.schema.classes

    def check_columns(self, columns: list[str]) -> None:
        self.members[0].check_columns(columns)

    def predict_proba_counted(
        self, frame: pd.DataFrame, unseen: str = "warn", fold: np.ndarray | None = None
    ) -> tuple[np.ndarray, dict[str, int]]:
        """The weighted mean of the members; with ``fold`` (each row's fold, 0..K-1),
        each row gets the fold models that held its fold out (and the unbagged members),
        their weights renormalised per row."""
        total, weight_sum, counts = None, np.zeros(len(frame)), {}
        folds = self.folds or [None] * len(self.members)
        k = int(self.bag["k"]) if self.bag else 1
        for member, weight, held in zip(self.members, self.weights, folds, strict=True):
            row_w = np.full(len(frame), weight)
            if fold is not None and held is not None:
                row_w = np.where(fold == held, weight * k, 0.0)
                if not row_w.any():
                    continue
            p, seen = member.predict_proba_counted(frame, unseen)
            total = row_w[:, None] * p if total is None else total + row_w[:, None] * p
            weight_sum += row_w
            for name, n in seen.items():
                counts[name] = max(counts.get(name, 0), n)
        assert total is not None
        return total / np.where(weight_sum > 0, weight_sum, 1.0)[:, None], counts

    def predict_proba(self, frame: pd.DataFrame, unseen: str = "warn") -> np.ndarray:
        return self.predict_proba_counted(frame, unseen)[0]

    def predict(self, frame: pd.DataFrame, unseen: str = "warn") -> np.ndarray:
        proba = self.predict_proba(frame, unseen)
        return np.asarray(self.classes, dtype=object)[proba.argmax(axis=1)]

    def save(self, path: str | Path, overwrite: bool = True) -> None:
        from nncli.learn.models import MODELS

        stamp(self.card, self.card.model if self.card.model in MODELS else NAME)
        arrays: dict[str, np.ndarray] = {}
        blobs: dict[str, bytes] = {}
        members = []
        for i, member in enumerate(self.members):
            manifest, member_arrays, member_blobs = member.parts()
            arrays |= {f"m{i}/{k}": v for k, v in member_arrays.items()}
            blobs |= {f"m{i}.{k}": v for k, v in member_blobs.items()}
            item = {"label": self.labels[i], "weight": self.weights[i]}
            if self.folds and self.folds[i] is not None:
                item["fold"] = self.folds[i]
            members.append(item | manifest)
        if self.card.model != NAME and "bag" in self.card.config:  # a bagged model: its own
            self.card.config = self.members[0].card.config | {"bag": self.card.config["bag"]}
        manifest = (
            self.card.to_manifest()
            | {
                "schema": self.schema.to_dict(),
                "ensemble": members,
            }
            | ({"bag": self.bag} if self.bag else {})
        )
        write_model_file(path, manifest, arrays, blobs, overwrite)

    @classmethod
    def from_parts(
        cls,
        manifest: dict[str, Any],
        arrays: dict[str, np.ndarray],
        blobs: dict[str, bytes],
        path: str | Path,
    ) -> EnsemblePredictor:
        """Raises KeyError/TypeError/ValueError on a malformed manifest."""
        schema = Schema.from_dict(manifest["schema"])
        members, labels, weights, folds = [], [], [], []
        for i, item in enumerate(manifest["ensemble"]):
            prefix = f"m{i}/"
            member_arrays = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            member_blobs = {
                k[len(f"m{i}.") :]: v for k, v in blobs.items() if k.startswith(f"m{i}.")
            }
            members.append(Predictor.from_parts(item, member_arrays, member_blobs, path))
            labels.append(str(item["label"]))
            weights.append(float(item["weight"]))
            folds.append(int(item["fold"]) if "fold" in item else None)
        check_blend(weights, path)
        bag = manifest.get("bag")
        if bag is not None:
            bag = {"k": int(bag["k"]), "fold_by": bag.get("fold_by")}
            if bag["k"] < 2 or any(f is not None and not 0 <= f < bag["k"] for f in folds):
                raise ValueError(f"bag {bag} and member folds {folds} disagree")
        card = ModelCard.from_manifest(manifest)
        return cls(schema, members, labels, weights, card, folds, bag)


def check_blend(weights: list[float], path: str | Path) -> None:
    """An ensemble's weights are a blend: at least one, each finite and ≥ 0, summing to 1
    (within 1e-6), so the probabilities stay probabilities."""
    w = np.asarray(weights, dtype=np.float64)
    if w.size and np.isfinite(w).all() and (w >= 0).all() and abs(w.sum() - 1.0) <= 1e-6:
        return
    shown = ", ".join(f"{x:g}" for x in w) or "none"
    raise ArtifactError(
        f"the ensemble in {path} has weights that are not a blend ({shown}): each must be "
        "finite and at least 0, and together they must sum to 1",
        "the file was altered or is damaged; re-train the model.",
    )


Scorer = Callable[["pd.DataFrame", str], tuple[np.ndarray, dict[str, int]]]


def kfold_scorer(predictor: Predictor | EnsemblePredictor, fold_by: str | None) -> Scorer:
    """How predict and evaluate score a frame: the model's probabilities, or with
    ``fold_by`` (a model cross-fitted by that column) each row by the fold models that did
    not train on its fold (k-fold application); any other model is an error."""
    if fold_by is None:
        return predictor.predict_proba_counted
    bag = getattr(predictor, "bag", None)
    if not bag or bag.get("fold_by") is None:
        raise ConfigError(
            "--fold-by scores each row with the fold model that did not train on its fold, "
            "but this model was not cross-fitted by a fold column",
            "train it with --bag K --fold-by COL (compare or train), or leave --fold-by out.",
        )
    k = int(bag["k"])
    return lambda frame, unseen: predictor.predict_proba_counted(  # type: ignore[call-arg]
        frame, unseen, fold_numbers(frame, fold_by, k)
    )


def load(path: str | Path) -> Predictor | EnsemblePredictor:
    """Any model file: one model, or an ensemble of them (``compare --out``)."""
    manifest, arrays, blobs = read_model_file(path)
    if "ensemble" in manifest:
        return guarded(path, lambda: EnsemblePredictor.from_parts(manifest, arrays, blobs, path))
    return guarded(path, lambda: Predictor.from_parts(manifest, arrays, blobs, path))
