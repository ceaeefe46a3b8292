"""Each trial's out-of-fold probabilities, kept beside a shared or resumable study.

The best-of test at the end of ``nncli tune`` (:func:`nncli.assess.stats.best_of_test`)
needs every finished trial's out-of-fold probabilities. A process holds those of the
trials it ran; the trials another process ran, or an earlier run of a resumed study, are
read from here. The files are Optuna's artifacts (an existing engine: the trial records
its file's id in the storage once the file is written whole) in a folder every process
can reach: ``--predictions-dir``, or beside a file storage (``study.db`` ->
``study.db.oof/``). A database server's processes on several machines need a folder
they share; without one each process tests over the trials it ran and says so.

The files are ``.npy`` of float32, read with ``allow_pickle=False``; one that cannot be
read, or has another shape, is left out of the test (and the output's "N compared"
says so), never trusted.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from nncli.errors import ConfigError

SUFFIX = ".oof"


def journal_file(storage: str) -> str | None:
    """The file of a journal storage (``journal:FILE``, or a path ending in .log or
    .journal); None for a database URL."""
    if storage.startswith("journal:"):
        return storage[len("journal:") :]
    if storage.endswith((".log", ".journal")) and "://" not in storage:
        return storage
    return None


def predictions_dir(storage: str | None, given: str | None) -> str | None:
    """Where the trials' files go: ``given``, else beside a file storage (an SQLite
    database file or a journal file), else nowhere (in memory, or a database server)."""
    if given:
        return given
    if storage is None:
        return None
    if journal_file(storage) is not None:
        return f"{journal_file(storage)}{SUFFIX}"
    if storage.startswith("sqlite:///"):
        path = storage[len("sqlite:///") :].split("?")[0]
        return path + SUFFIX if path and path != ":memory:" else None
    return None


class TrialStore:
    """The folder of the trials' out-of-fold probabilities (Optuna artifacts)."""

    def __init__(self, path: str, storage: Any) -> None:
        from optuna.artifacts import FileSystemArtifactStore

        try:
            Path(path).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--predictions-dir {path}: cannot make it ({exc.strerror})",
                              "pass a folder this process can write.") from None  # fmt: skip
        self.path, self.storage = path, storage
        self.artifacts = FileSystemArtifactStore(path)

    def put(self, trial: Any, oof: np.ndarray) -> bool:
        """Keep ``trial``'s probabilities; False when the folder refused them (a full
        disk): the search goes on, the end's test holds fewer trials."""
        from optuna.artifacts import upload_artifact

        with tempfile.TemporaryDirectory() as tmp:
            file = os.path.join(tmp, f"trial-{trial.number}.npy")
            try:
                np.save(file, np.asarray(oof, dtype=np.float32), allow_pickle=False)
                upload_artifact(artifact_store=self.artifacts, file_path=file,
                                study_or_trial=trial, storage=self.storage)  # fmt: skip
            except OSError:
                return False
        return True

    def get(self, frozen: Any, shape: tuple[int, int]) -> np.ndarray | None:
        """A finished trial's probabilities, or None where it has no readable file of
        ``shape`` (it ran before files were kept, elsewhere, or the file is damaged)."""
        from optuna.artifacts import get_all_artifact_meta
        from optuna.artifacts.exceptions import ArtifactNotFound

        for meta in reversed(get_all_artifact_meta(frozen, storage=self.storage)):
            try:
                with self.artifacts.open_reader(meta.artifact_id) as f:
                    oof = np.load(io.BytesIO(f.read()), allow_pickle=False)
            except (ArtifactNotFound, OSError, ValueError, EOFError):  # gone, cut short, not .npy
                continue
            if oof.shape == shape and oof.dtype.kind == "f":
                return oof
        return None
