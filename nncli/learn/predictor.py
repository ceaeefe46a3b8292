"""A trained model ready to predict: schema + fitted preprocessing + model + its card,
and the model-file round trip."""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from nncli import __version__
from nncli.errors import ArtifactError, ConfigError, DataError
from nncli.io.artifacts import read_model_file, write_model_file
from nncli.io.card import ModelCard
from nncli.learn.models import MODELS, model_class
from nncli.learn.models.base import ModelState
from nncli.prepare.dataset import check_feature_columns, prepare_frame
from nncli.prepare.preprocess import Preprocessor
from nncli.prepare.schema import Schema

if TYPE_CHECKING:
    import pandas as pd

    from nncli.learn.models.base import Model

UNSEEN_POLICIES = ("error", "warn", "ignore")
T = TypeVar("T")


@dataclass
class Predictor:
    """Predicts class probabilities for data frames with the training schema."""

    schema: Schema
    preprocessor: Preprocessor
    model: Model
    card: ModelCard

    @property
    def classes(self) -> list[str]:
        return self.schema.classes

    @property
    def feature_columns(self) -> list[str]:
        return [c.name for c in self.schema.features]

    def check_columns(self, columns: list[str]) -> None:
        """Every feature column must be present; extra columns and any order are fine."""
        check_feature_columns(self.schema, columns)

    def predict_proba(self, frame: pd.DataFrame, unseen: str = "warn") -> np.ndarray:
        """Probabilities, one column per class in :attr:`classes` order."""
        proba, _ = self.predict_proba_counted(frame, unseen)
        return proba

    def predict_proba_counted(
        self, frame: pd.DataFrame, unseen: str = "warn"
    ) -> tuple[np.ndarray, dict[str, int]]:
        """Probabilities and, per column, the count of values not seen in training (or
        not numbers, in a numeric column, or derived values that are not numbers), which
        are treated as missing. Derived columns are computed from the raw ones first."""
        frame, invalid = prepare_frame(self.schema, frame)
        self.check_columns([str(c) for c in frame.columns])
        X, counts = self.preprocessor.transform(frame)
        if counts and unseen == "error":
            name, n = next(iter(counts.items()))
            raise DataError(
                f"column {name!r} has {n} value(s) not seen in training (or not numbers)"
                + (f" (and {len(counts) - 1} more column(s))" if len(counts) > 1 else ""),
                "pass --unseen warn (or ignore) to treat them as missing.",
            )
        return self.model.predict_proba(X), counts | invalid

    def predict_proba_matrix(self, X: np.ndarray) -> np.ndarray:
        """Probabilities for an already preprocessed matrix."""
        return self.model.predict_proba(X)

    def predict(self, frame: pd.DataFrame, unseen: str = "warn") -> np.ndarray:
        """Predicted class labels (strings, as in the training data)."""
        proba = self.predict_proba(frame, unseen)
        return np.asarray(self.classes, dtype=object)[proba.argmax(axis=1)]

    def parts(self) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, bytes]]:
        """The manifest (card, schema, preprocessing), arrays and blobs of a model file."""
        state = self.model.state()
        self.card.config = state.config
        manifest = self.card.to_manifest() | {
            "schema": self.schema.to_dict(),
            "preprocessor": self.preprocessor.to_dict(),
        }
        return manifest, state.arrays, state.blobs

    def save(self, path: str | Path, overwrite: bool = True) -> None:
        """Write the model file (without ``overwrite``, never over an existing file)."""
        stamp(self.card, self.model.name)
        write_model_file(path, *self.parts(), overwrite=overwrite)

    @classmethod
    def load(cls, path: str | Path) -> Predictor:
        """A model file of one model (``nncli.load`` also reads ensembles)."""
        manifest, arrays, blobs = read_model_file(path)
        if "ensemble" in manifest:
            raise ArtifactError(
                f"{path} holds an ensemble of models", "load it with nncli.load(path)."
            )
        return guarded(path, lambda: cls.from_parts(manifest, arrays, blobs, path))

    @classmethod
    def from_parts(
        cls,
        manifest: dict[str, Any],
        arrays: dict[str, np.ndarray],
        blobs: dict[str, bytes],
        path: str | Path,
    ) -> Predictor:
        """Raises KeyError/TypeError/ValueError/ConfigError on a malformed manifest."""
        schema = Schema.from_dict(manifest["schema"])
        prep = Preprocessor.from_dict(manifest["preprocessor"])
        card = ModelCard.from_manifest(manifest)
        if card.model not in MODELS or not MODELS[card.model].trainable:
            raise ArtifactError(
                f"{path} holds an unknown model type {card.model!r}",
                "upgrade nncli or re-train the model.",
            )
        state = ModelState(card.config, arrays, blobs)
        model = model_class(card.model).from_state(state, len(schema.classes))
        return cls(schema, prep, model, card)


def guarded(path: str | Path, build: Callable[[], T]) -> T:
    """``build()``, with a malformed manifest turned into one clean ArtifactError."""
    try:
        return build()
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ArtifactError(
            f"the manifest of {path} is incomplete or malformed ({exc!r})",
            "the file was altered or is damaged; re-train the model.",
        ) from None
    except ConfigError as exc:
        raise ArtifactError(
            f"the manifest of {path} has invalid settings ({exc.message})",
            "the file was altered or is damaged; re-train the model.",
        ) from None


def stamp(card: ModelCard, model: str) -> None:
    """When and with which library versions a model file is written."""
    card.created = datetime.now(UTC).isoformat(timespec="seconds")
    card.versions = library_versions(model)


def library_versions(model: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"nncli": __version__, "python": platform.python_version()}
    wanted = {"numpy", "pandas", "pyarrow"} | set(MODELS[model].packages)
    for package in sorted(wanted):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:  # pragma: no cover
            pass
    return versions
