"""Where ``train`` runs when it does not read the file into memory here: on a Dask cluster
(``--dask``) or in passes over the file (``--stream``, or by itself for a file that
would take a sizeable share of memory). Either way the result is a :class:`SampledFit`,
scored on samples of its training and validation rows."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from nncli.config import ColumnSpec, Settings
from nncli.errors import ConfigError
from nncli.io.data import ReadOptions, is_frame
from nncli.learn import distributed

if TYPE_CHECKING:
    import pandas as pd

    from nncli.learn.fitting import SampledFit
    from nncli.learn.models.base import EpochCallback
    from nncli.prepare.dataset import SchemaCallback


def fit_elsewhere(
    source: str | Path | pd.DataFrame, model: str, columns: ColumnSpec, settings: Settings,
    dask: str | None, valid: str | Path | None, read: ReadOptions | None,
    on_schema: SchemaCallback | None, on_epoch: EpochCallback | None,
) -> SampledFit | None:  # fmt: skip
    """On a Dask cluster, or in passes over the file; None: in memory, here."""
    if dask is not None:
        return _on_dask(source, model, columns, settings, dask, valid, on_schema)
    return _streamed(source, model, columns, settings, valid, read, on_schema, on_epoch)


def _on_dask(
    source: str | Path | pd.DataFrame, model: str, columns: ColumnSpec, settings: Settings,
    address: str, valid: str | Path | None, on_schema: SchemaCallback | None,
) -> SampledFit:  # fmt: skip
    """The GBT on a Dask cluster (:mod:`nncli.scale.dask_gbt`)."""
    from nncli.scale import dask_gbt

    if (settings.run.bag or 1) > 1:
        raise ConfigError("--bag cross-fits in memory; not with --dask", "pass --bag 1.")
    if columns.in_memory_only:
        raise ConfigError(f"{columns.in_memory_only} is not available with --dask",
                          "train in memory, or add the columns to the files first.")  # fmt: skip
    if model != "gbt" or is_frame(source) or valid is not None:
        what = f"-m {model}" if model != "gbt" else ("a DataFrame" if valid is None else "--valid")
        raise ConfigError(
            f"--dask trains the gbt model on files; not with {what}",
            "pass -m gbt and a CSV/Parquet path or glob (the validation rows are split off).",
        )
    return dask_gbt.train_gbt(str(source), columns, settings, address, on_schema)


def _streamed(
    source: str | Path | pd.DataFrame, model: str, columns: ColumnSpec, settings: Settings,
    valid: str | Path | None, read: ReadOptions | None, on_schema: SchemaCallback | None,
    on_epoch: EpochCallback | None,
) -> SampledFit | None:  # fmt: skip
    """In passes over the file (:mod:`nncli.scale.streaming`); None when it is read whole."""
    from nncli.scale import streaming

    stream, why = streaming.should_stream(source, model, settings)
    if not stream:
        return None
    if (settings.run.bag or 1) > 1:
        raise ConfigError(f"--bag cross-fits in memory; not when training in passes ({why})",
                          "pass --bag 1, or train in memory (--no-stream).")  # fmt: skip
    if columns.in_memory_only:
        raise ConfigError(
            f"{columns.in_memory_only} is not available when training in passes over the "
            f"file ({why})",
            "add the derived columns to the file first, or train in memory (--no-stream).",
        )
    if distributed.active():  # ranks would read different numbers of blocks: a hang
        raise ConfigError(
            "--stream does not run under torchrun",
            "stream in one process, or give each torchrun process the file in memory.",
        )
    if is_frame(source) or valid is not None:
        raise ConfigError(
            "--stream reads a file in passes; not a DataFrame or --valid",
            "pass the path of a CSV file, without --valid (the validation rows are "
            "split off by a hash).",
        )
    return streaming.train_stream(str(source), model, columns, settings, why, read, on_schema,
                                  on_epoch)  # fmt: skip
