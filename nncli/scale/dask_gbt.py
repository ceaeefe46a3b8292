"""The GBT baseline on a Dask cluster, with LightGBM's own distributed training
(``lightgbm.dask``); nothing here schedules work itself.

``nncli train DATA -m gbt --dask ADDRESS`` (or ``--dask local:N`` for a local cluster
of N worker processes):

1. DATA (CSV or Parquet, a glob allowed) is read as a dask dataframe, one partition per
   block; rows are counted on the cluster;
2. the schema and the preprocessing (category codes) are fitted on a random sample of
   at most ``SAMPLE_ROWS`` rows, said in the output;
3. each partition is transformed on its worker and split into training and validation
   rows by a seeded hash of the row's values (the same rows whatever the partitioning);
4. ``DaskLGBMClassifier`` trains over the partitions for up to --gbt-max-rounds rounds;
   the round with the lowest validation log loss is chosen afterwards on a sample of the
   validation rows (LightGBM's early stopping is not used across workers), and the
   model is cut there.

The result is the same model file as a local fit: LightGBM's text model + JSON.
"""

from __future__ import annotations

import contextlib
import glob
import io
import os
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nncli.config import ColumnSpec, Settings
from nncli.errors import ConfigError, DataError, Info
from nncli.io.card import DataInfo, ModelCard
from nncli.learn.fitting import SampledFit
from nncli.learn.models.base import FitReport
from nncli.learn.predictor import Predictor
from nncli.prepare.dataset import SchemaCallback, labels_to_index, require_features, row_weights
from nncli.prepare.schema import Schema, infer_schema
from nncli.scale.streaming import valid_rows

if TYPE_CHECKING:
    import pandas as pd

    from nncli.prepare.preprocess import Preprocessor

#: rows fitted on the client: the schema, the category codes, the chosen round
SAMPLE_ROWS = 100_000


@contextlib.contextmanager
def connect(address: str) -> Iterator[Any]:
    """A client of the scheduler at ``address``, or of a new local cluster (local:N) that
    is shut down afterwards."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError(
            "--dask needs dask.distributed, which is not installed",
            "pip install 'nncli[dask]' (dask[dataframe,distributed]).",
        ) from None
    if not address.startswith("local:"):
        try:
            client = Client(address, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                f"cannot reach the Dask scheduler at {address}: {exc}",
                "start one with `dask scheduler` (and workers), or pass --dask local:N.",
            ) from None
        with client:
            yield client
        return
    workers = address.removeprefix("local:")
    if not workers.isdigit() or int(workers) < 1:
        raise ConfigError(
            f"--dask {address!r}: the number of local workers must be a whole number ≥ 1",
            "pass e.g. --dask local:2.",
        )
    with _quiet_stdout():
        cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, dashboard_address=":0")
    with cluster, Client(cluster) as client:
        yield client


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """File descriptor 1 points at /dev/null meanwhile, for the worker processes started
    now: LightGBM's network code prints its port binding there whatever its verbosity,
    and stdout is for results. The workers' own logs go to stderr as usual."""
    sys.stdout.flush()
    saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def source_files(source: str) -> list[str]:
    """The files ``source`` names (a glob allowed); none is an error."""
    files = sorted(glob.glob(source)) if any(c in source for c in "*?[") else [source]
    if not files or not all(Path(f).is_file() for f in files):
        raise DataError(f"no file matches {source}", "check the path or the glob pattern.")
    return files


def read_dask(files: list[str], workers: int) -> Any:
    """A dask dataframe of CSV or Parquet ``files``: CSV blocks of 64 MB, or smaller so
    that every worker gets two."""
    import dask.dataframe as dd

    if all(f.endswith((".parquet", ".pq")) for f in files):
        return dd.read_parquet(files)
    size = sum(Path(f).stat().st_size for f in files)
    blocksize = int(min(64e6, max(1e6, size / (2 * max(workers, 1)))))
    return dd.read_csv(files, assume_missing=True, blocksize=blocksize)


def train_gbt(
    source: str,
    columns: ColumnSpec,
    settings: Settings,
    address: str,
    on_schema: SchemaCallback | None = None,
) -> SampledFit:
    """Fit the GBT over the partitions of ``source`` on the Dask cluster at ``address``."""
    from nncli.learn.models.gbt import GBTModel

    files = source_files(source)
    with connect(address) as client:
        ddf = read_dask(files, len(client.scheduler_info()["workers"]))
        n_rows = int(ddf.shape[0].compute())
        sample = ddf.sample(frac=min(1.0, SAMPLE_ROWS / max(n_rows, 1)), random_state=0)
        sample = sample.compute()
        schema = infer_schema(sample, columns)
        require_features(schema)
        workers = len(client.scheduler_info()["workers"])
        notes: list[str] = [
            Info(
                f"Dask: {n_rows:,} rows in {ddf.npartitions} partition(s) on {workers} worker(s); "
                f"schema and category codes from a random sample of {len(sample):,} rows"
            )
        ]
        if on_schema is not None:
            on_schema(schema, notes)
        model = GBTModel(len(schema.classes), settings.gbt, settings.run)
        prep = _fit_prep(sample, schema)
        parts = ddf.map_partitions(
            _transform, prep, schema, settings.run.seed, settings.run.valid_size,
            meta=_meta(prep),
        ).persist()  # fmt: skip
        started = time.perf_counter()
        booster, n_train, n_valid = _fit(client, parts, model, prep)
        valid = _local(parts[parts["__valid"]], n_valid, settings.run.seed)
        report = _choose_round(model, booster, valid)
        fit_seconds = time.perf_counter() - started
        train = _local(parts[~parts["__valid"]], n_train, settings.run.seed)
    card = ModelCard(
        model="gbt", config={}, n_params=model.n_params(), stop_reason=report.stop_reason,
        history=report.history, run=settings.run.to_dict(),
        data=DataInfo(source, "", n_rows, n_train, n_valid,
                      f"Dask: a random sample of {len(sample):,} rows"),
        fit_seconds=fit_seconds,
    )  # fmt: skip
    predictor = Predictor(schema, prep, model, card)
    return SampledFit(predictor, report, fit_seconds, n_train, n_valid, train, valid, notes)


def _fit_prep(sample: pd.DataFrame, schema: Schema) -> Preprocessor:
    from nncli.prepare.preprocess import fit_preprocessor

    assert schema.target is not None
    return fit_preprocessor(sample[sample[schema.target].notna()], schema, "native")


def _names(prep: Preprocessor) -> list[str]:
    return [f"f{i}" for i in range(len(prep.numeric) + len(prep.categorical))]


def _meta(prep: Preprocessor) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame({name: pd.Series(dtype="float32") for name in _names(prep)})
    frame["__y"] = pd.Series(dtype="int64")
    frame["__w"] = pd.Series(dtype="float64")
    frame["__valid"] = pd.Series(dtype="bool")
    return frame


def _transform(
    frame: pd.DataFrame, prep: Preprocessor, schema: Schema, seed: int, valid_size: float
) -> pd.DataFrame:
    """One partition: labelled rows as the model matrix, class index, weight and a
    validation flag from a seeded hash of the row's values."""
    import pandas as pd

    assert schema.target is not None
    frame = frame[frame[schema.target].notna()]
    X, _ = prep.transform(frame)
    out = pd.DataFrame(X.astype(np.float32), columns=_names(prep))
    out["__y"] = labels_to_index(frame[schema.target], schema.classes, "a partition")
    out["__w"] = np.clip(row_weights(frame, schema), 0.0, None)
    out["__valid"] = valid_rows(frame, seed, valid_size)  # as streaming splits
    return out


def _fit(client: Any, parts: Any, model: Any, prep: Preprocessor) -> tuple[Any, int, int]:
    """LightGBM's distributed training over the training rows of every partition."""
    import lightgbm as lgb

    train = parts[~parts["__valid"]]
    n_train, n_valid = int(train.shape[0].compute()), int(parts["__valid"].sum().compute())
    if n_train == 0 or n_valid == 0:
        raise DataError(
            f"the data has {n_train} training and {n_valid} validation row(s) with a target",
            "give the cluster more rows (a few hundred at least).",
        )
    params = model._params() | {"n_estimators": model.config.max_rounds}
    for key in ("num_class", "metric", "num_threads", "verbosity"):
        params.pop(key, None)
    n_cat = len(prep.categorical)
    categorical = list(range(len(prep.numeric), len(prep.numeric) + n_cat))
    clf = lgb.DaskLGBMClassifier(client=client, verbosity=-1, **params)
    names = _names(prep)
    # LightGBM prints its port search: stdout is for results
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored")
        clf.fit(
            train[names], train["__y"], sample_weight=train["__w"],
            categorical_feature=categorical or "auto",
        )  # fmt: skip
    return clf.booster_, n_train, n_valid


def _local(rows: Any, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At most SAMPLE_ROWS of ``rows``, gathered on the client as (X, y, w)."""
    frame = rows.sample(frac=min(1.0, SAMPLE_ROWS / max(n, 1)), random_state=seed).compute()
    X = frame.drop(columns=["__y", "__w", "__valid"]).to_numpy(np.float32)
    return X, frame["__y"].to_numpy(np.int64), frame["__w"].to_numpy(np.float64)


def _choose_round(model: Any, booster: Any, valid: tuple[np.ndarray, ...]) -> FitReport:
    """The round with the lowest validation log loss; the model is cut there."""
    import lightgbm as lgb

    X, y, w = valid
    rounds = booster.num_trees() // (1 if model.n_classes == 2 else model.n_classes)
    raw = np.zeros((len(y), 1 if model.n_classes == 2 else model.n_classes))
    losses = []
    for i in range(rounds):
        raw += booster.predict(X, start_iteration=i, num_iteration=1, raw_score=True).reshape(
            raw.shape
        )
        losses.append(_log_loss(raw, y, w))
    best = int(np.argmin(losses)) + 1 if losses else 0
    model.booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    history = [{"epoch": i + 1, "valid_loss": v} for i, v in enumerate(losses)]
    return FitReport(history, best, "completed")  # every round ran; the best was kept


def _log_loss(raw: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    if raw.shape[1] == 1:
        p = 1 / (1 + np.exp(-raw[:, 0]))
        p = np.where(y == 1, p, 1 - p)
    else:
        z = raw - raw.max(axis=1, keepdims=True)
        p = np.exp(z[np.arange(len(y)), y]) / np.exp(z).sum(axis=1)
    return float(-(w * np.log(np.clip(p, 1e-15, None))).sum() / max(w.sum(), 1e-12))
