"""A blend of fitted models as one predictor: each member keeps its own preprocessing
(native for the trees, dense for the linear models and MLPs) and the ensemble averages
their probabilities with fixed weights. It is saved as one model file holding every
member's settings, weights and trees (no pickle) and loads like any other model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nncli.errors import ArtifactError
from nncli.io.artifacts import read_model_file, write_model_file
from nncli.io.card import ModelCard
from nncli.learn.predictor import Predictor, guarded, stamp
from nncli.prepare.schema import Schema

if TYPE_CHECKING:
    import pandas as pd

NAME = "ensemble"


@dataclass
class EnsemblePredictor:
    """Weighted average of member predictors trained on the same schema."""

    schema: Schema
    members: list[Predictor]
    labels: list[str]
    weights: list[float]
    card: ModelCard

    @property
    def classes(self) -> list[str]:
        return self.schema.classes

    def check_columns(self, columns: list[str]) -> None:
        self.members[0].check_columns(columns)

    def predict_proba_counted(
        self, frame: pd.DataFrame, unseen: str = "warn"
    ) -> tuple[np.ndarray, dict[str, int]]:
        total, counts = None, {}
        for member, weight in zip(self.members, self.weights, strict=True):
            p, seen = member.predict_proba_counted(frame, unseen)
            total = weight * p if total is None else total + weight * p
            for name, n in seen.items():
                counts[name] = max(counts.get(name, 0), n)
        assert total is not None
        return total, counts

    def predict_proba(self, frame: pd.DataFrame, unseen: str = "warn") -> np.ndarray:
        return self.predict_proba_counted(frame, unseen)[0]

    def predict(self, frame: pd.DataFrame, unseen: str = "warn") -> np.ndarray:
        proba = self.predict_proba(frame, unseen)
        return np.asarray(self.classes, dtype=object)[proba.argmax(axis=1)]

    def save(self, path: str | Path, overwrite: bool = True) -> None:
        stamp(self.card, NAME)
        arrays: dict[str, np.ndarray] = {}
        blobs: dict[str, bytes] = {}
        members = []
        for i, member in enumerate(self.members):
            manifest, member_arrays, member_blobs = member.parts()
            arrays |= {f"m{i}/{k}": v for k, v in member_arrays.items()}
            blobs |= {f"m{i}.{k}": v for k, v in member_blobs.items()}
            members.append({"label": self.labels[i], "weight": self.weights[i]} | manifest)
        manifest = self.card.to_manifest() | {
            "schema": self.schema.to_dict(),
            "ensemble": members,
        }
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
        members, labels, weights = [], [], []
        for i, item in enumerate(manifest["ensemble"]):
            prefix = f"m{i}/"
            member_arrays = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            member_blobs = {
                k[len(f"m{i}.") :]: v for k, v in blobs.items() if k.startswith(f"m{i}.")
            }
            members.append(Predictor.from_parts(item, member_arrays, member_blobs, path))
            labels.append(str(item["label"]))
            weights.append(float(item["weight"]))
        check_blend(weights, path)
        return cls(schema, members, labels, weights, ModelCard.from_manifest(manifest))


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


def load(path: str | Path) -> Predictor | EnsemblePredictor:
    """Any model file: one model, or an ensemble of them (``compare --out``)."""
    manifest, arrays, blobs = read_model_file(path)
    if "ensemble" in manifest:
        return guarded(path, lambda: EnsemblePredictor.from_parts(manifest, arrays, blobs, path))
    return guarded(path, lambda: Predictor.from_parts(manifest, arrays, blobs, path))
