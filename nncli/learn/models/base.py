"""The interface every model implements, the data it is fitted on and what a fit reports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from nncli.config import Config, RunConfig

#: Per-epoch (or per-round) progress callback: receives one history record.
EpochCallback = Callable[[dict[str, Any]], None]

#: Why a fit ended.
STOP_REASONS = ("completed", "early_stopping", "time_budget", "interrupted")


@dataclass
class FitData:
    """Training and validation matrices; ``y`` holds class indices 0..K-1."""

    X: np.ndarray
    y: np.ndarray
    w: np.ndarray
    X_valid: np.ndarray
    y_valid: np.ndarray
    w_valid: np.ndarray
    n_classes: int
    categorical_indices: list[int] = field(default_factory=list)  # native category codes
    numeric_indices: list[int] = field(default_factory=list)  # dense: numeric value columns
    coded: list[tuple[int, int]] = field(default_factory=list)  # dense: (column, n codes)
    # streaming (files larger than memory): X, y, w above are a sample (for shapes and
    # quantiles); each call of ``stream`` yields the training rows as shuffled blocks
    stream: Callable[[], Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]] | None = None
    n_stream: int = 0  # training rows per pass of the stream
    step_width: int = 0  # sequence layout: values per step (rows are [length, steps…])


@dataclass
class FitReport:
    """What a fit returns: one record per epoch (or round), the best one, why it ended."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    stop_reason: str = "completed"  # one of STOP_REASONS


#: still improving: the last WINDOW epochs bettered the best before them by more than TOL
#: (scikit-learn's MLP uses n_iter_no_change=10 and tol=1e-4 the same way)
IMPROVING_WINDOW, IMPROVING_TOL = 10, 1e-4


def still_improving(history: list[dict[str, Any]], stop_reason: str) -> bool:
    """Whether a fit ran out of epochs (or rounds) while the validation loss was still
    falling: it used every one, and its last :data:`IMPROVING_WINDOW` bettered the best
    before them by more than :data:`IMPROVING_TOL`."""
    losses = np.array([r.get("valid_loss", np.nan) for r in history], dtype=np.float64)
    if stop_reason != "completed" or len(losses) < 2 or np.isnan(losses).all():
        return False
    window = min(IMPROVING_WINDOW, len(losses) - 1)
    before, recent = losses[:-window], losses[-window:]
    if np.isnan(before).all() or np.isnan(recent).all():
        return False
    return bool(np.nanmin(recent) < np.nanmin(before) - IMPROVING_TOL)


@dataclass
class ModelState:
    """What a model file stores: JSON-able settings, named arrays and text blobs."""

    config: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)


class Model:
    """Base class: built from its own config, ``fit`` then ``predict_proba``;
    ``state``/``from_state`` for model files."""

    name: ClassVar[str]
    layout: ClassVar[str] = "dense"  # what preprocessing it needs: "dense" or "native"

    def __init__(
        self, n_classes: int, config: Config | None = None, run: RunConfig | None = None
    ) -> None:
        self.n_classes = n_classes
        self.config = config
        self.run = run or RunConfig()

    @property
    def scaler(self) -> str:
        """The input scaling this model is trained with (dense layout)."""
        return str(self.run.scaler or "standard")

    @property
    def max_one_hot(self) -> int | None:
        """Dense layout: categoricals with more levels are one code column (embedded)."""
        return None

    def fit(
        self,
        data: FitData,
        *,
        time_limit: float | None = None,
        on_epoch: EpochCallback | None = None,
    ) -> FitReport:
        raise NotImplementedError

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def n_params(self) -> int:
        raise NotImplementedError

    def state(self) -> ModelState:
        raise NotImplementedError

    @classmethod
    def from_state(cls, state: ModelState, n_classes: int) -> Model:
        raise NotImplementedError


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def logits_to_proba(z: np.ndarray) -> np.ndarray:
    """One logit column → [1-p, p]; K columns → softmax."""
    if z.shape[1] == 1:
        p = 0.5 * (1.0 + np.tanh(0.5 * z[:, 0]))  # the sigmoid, without overflow
        return np.column_stack([1.0 - p, p])
    return softmax(z)


def available_bytes() -> int:
    """MemAvailable from /proc/meminfo, else physical memory."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    import os

    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
