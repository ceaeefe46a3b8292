"""The model card: what a model file says about its model besides the weights.

One typed record, written into the manifest and read back by ``predict``, ``info``,
the reports and the run folder. ``to_manifest``/``from_manifest`` keep the manifest's
JSON shape (docs/json.md, ``nncli info --json``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class DataInfo:
    """The training data: where it came from, its SHA-256 and how it was split."""

    source: str = ""
    sha256: str = ""
    rows: int | None = None
    rows_train: int = 0
    rows_valid: int = 0
    #: where the preprocessing statistics came from when not from every training row
    #: (streaming, Dask): e.g. "a random sample of 100,000 rows"
    statistics: str = ""
    #: --sample files: class, source, weight, entries, sha256 of each
    samples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "sha256": self.sha256}
        if self.rows is not None:
            out["rows"] = self.rows
        out |= {"rows_train": self.rows_train, "rows_valid": self.rows_valid}
        out |= {"samples": self.samples} if self.samples else {}
        return out | ({"statistics": self.statistics} if self.statistics else {})


@dataclass
class ModelCard:
    """Model name and settings, the fit's history, the run, metrics and training data."""

    model: str
    config: dict[str, Any]
    n_params: int
    stop_reason: str = "completed"
    history: list[dict[str, Any]] = field(default_factory=list)
    run: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    data: DataInfo = field(default_factory=DataInfo)
    fit_seconds: float | None = None
    created: str = ""
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def best_epoch(self) -> int | None:
        """The epoch (or round) with the lowest validation loss, if there is a history."""
        if not self.history:
            return None
        return int(min(self.history, key=lambda r: r["valid_loss"])["epoch"])

    def to_manifest(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "created": self.created,
            "versions": self.versions,
            "model": {
                "name": self.model,
                "config": self.config,
                "n_params": self.n_params,
                "stop_reason": self.stop_reason,
            },
            "run": self.run,
            "metrics": self.metrics,
            "data": self.data.to_dict(),
        }
        if self.fit_seconds is not None:
            out["fit_seconds"] = self.fit_seconds
        return out | {"history": self.history}

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> ModelCard:
        """Raises KeyError/TypeError/ValueError on a malformed manifest."""
        model = manifest["model"]
        data = dict(manifest.get("data") or {})
        return cls(
            model=str(model["name"]),
            config=dict(model["config"]),
            n_params=int(model.get("n_params", 0)),
            stop_reason=str(model.get("stop_reason", "completed")),
            history=list(manifest.get("history") or []),
            run=dict(manifest.get("run") or {}),
            metrics=dict(manifest.get("metrics") or {}),
            data=DataInfo(
                source=str(data.get("source", "")),
                sha256=str(data.get("sha256", "")),
                rows=data.get("rows"),
                rows_train=int(data.get("rows_train", 0)),
                rows_valid=int(data.get("rows_valid", 0)),
                statistics=str(data.get("statistics", "")),
                samples=[dict(item) for item in data.get("samples", [])],
            ),
            fit_seconds=manifest.get("fit_seconds"),
            created=str(manifest.get("created", "")),
            versions=dict(manifest.get("versions") or {}),
        )
