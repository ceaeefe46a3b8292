"""Files larger than memory: training and inspecting in passes over the file's record
batches (pyarrow's streaming CSV reader, via :func:`nncli.io.data.iter_frames`).

Training (``train -m mlp|logreg --stream``, or automatically when reading the
file whole would take over a quarter of the memory available, :func:`too_big`):

1. one pass counts the rows, the missing cells per column and the target's classes
   exactly, and keeps two uniform random samples (reservoirs): ``SAMPLE_ROWS`` rows for
   the schema and the preprocessing statistics (medians, quantiles, category levels; said
   in the model card), and up to ``VALID_ROWS`` of the validation rows;
2. a row is a validation row when a seeded hash of its cells falls under --valid-size,
   so every pass agrees without an index;
3. each epoch is one more pass: every chunk's training rows are transformed and gathered
   into a block of --stream-buffer rows, which is shuffled and trained on, then dropped.

Memory is bounded by the block, the samples and one chunk, whatever the file size.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nncli.config import ColumnSpec, Settings
from nncli.errors import ConfigError, DataError, Info
from nncli.io.card import DataInfo, ModelCard
from nncli.io.data import ReadOptions, iter_frames
from nncli.learn.fitting import SampledFit, training_weights
from nncli.learn.models.base import FitData
from nncli.learn.predictor import Predictor
from nncli.prepare.dataset import labels_to_index, require_features, row_weights
from nncli.prepare.schema import Schema, class_labels, infer_schema, resolve_target

if TYPE_CHECKING:
    import pandas as pd

SAMPLE_ROWS = 100_000
VALID_ROWS = 50_000
CHUNK_ROWS = 50_000
#: reading a CSV whole peaks at about this many times its size on disk (measured by
#: benchmarks/memory.py on numeric CSVs of 0.28 to 1.55 GB: inspect 2.9-3.8x, train -m
#: mlp 4.1-5.1x, -m gbt 3.8-4.6x)
MEMORY_PER_BYTE = 5.0
#: stream (the models that can, and inspect) when a whole read would take more than this
#: share of the memory available: a sizeable share, not only what would not fit
STREAM_SHARE = 0.25
#: files at least this large say the rule in their output, whichever way it went
NOTE_BYTES = 100 * 1024**2
STREAMING_MODELS = ("mlp", "logreg")


class Reservoir:
    """A uniform random sample of at most ``k`` rows of a stream of frames: every row
    draws a random key and the ``k`` smallest keys are kept (a bottom-k sample, the
    same as reservoir sampling). Rows stay in stream order and in their own compact
    column types; a chunk costs one filter once the sample is full."""

    def __init__(self, k: int, seed: int) -> None:
        self.k, self.rng = k, np.random.default_rng(seed)
        self.rows: pd.DataFrame | None = None
        self.keys = np.zeros(0)

    def add(self, frame: pd.DataFrame) -> None:
        import pandas as pd

        keys = self.rng.random(len(frame))
        if len(self.keys) >= self.k:  # only rows that beat the k-th smallest key get in
            better = keys < self.keys.max()
            frame, keys = frame[better], keys[better]
        if frame.empty:
            return
        rows = frame if self.rows is None else pd.concat([self.rows, frame], ignore_index=True)
        keys = np.concatenate([self.keys, keys])
        if len(keys) > self.k:
            kept = np.sort(np.argpartition(keys, self.k - 1)[: self.k])
            rows, keys = rows.iloc[kept], keys[kept]
        self.rows, self.keys = rows.reset_index(drop=True), keys

    def frame(self) -> pd.DataFrame:
        assert self.rows is not None
        return self.rows


def valid_rows(frame: pd.DataFrame, seed: int, valid_size: float) -> np.ndarray:
    """True for the validation rows: a seeded hash of each row's cells (every pass and
    every process agrees, whatever the chunking)."""
    import pandas as pd

    key = f"nncli{seed:011d}"[-16:]
    hashed = pd.util.hash_pandas_object(frame, index=False, hash_key=key).to_numpy()
    return (hashed % 10_000) < round(valid_size * 10_000)


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns whose every value is a number, as numbers (what the whole-file
    reader would have made of them); the rest stay text for the schema to judge."""
    import pandas as pd

    out = {}
    for name in frame.columns:
        col = frame[name]
        numbers = pd.to_numeric(col, errors="coerce")
        out[name] = numbers if numbers.notna().sum() == col.notna().sum() else col
    return pd.DataFrame(out)


def should_stream(source: Any, name: str, settings: Settings) -> tuple[bool, str]:
    """--stream, --no-stream, or automatic for the models that can (:func:`too_big`).
    Returns the decision and why."""
    if settings.run.stream is not None:
        return bool(settings.run.stream), "--stream" if settings.run.stream else ""
    why = too_big(source) if name in STREAMING_MODELS else ""
    return bool(why), why


def inspect_reason(source: Any, stream: bool | None, columns: ColumnSpec | None) -> str:
    """Why ``inspect`` streams ``source`` (--stream, or :func:`too_big`), or "" to read
    it whole; what cannot be streamed is refused here."""
    why = "--stream" if stream else ("" if stream is False else too_big(source))
    if why and columns is not None and columns.in_memory_only:
        raise ConfigError(f"{columns.in_memory_only} is not available with --stream",
                          "inspect the file in memory (--no-stream).")  # fmt: skip
    if why and (not isinstance(source, (str, Path)) or str(source) == "-"):
        raise ConfigError("--stream reads a file", "pass the path of a CSV file.")
    return why


def _estimate(source: Any) -> tuple[int, int, int] | None:
    """(file bytes, bytes it would take in memory, bytes available) of a plain file."""
    from nncli.learn.models.base import available_bytes

    if not isinstance(source, (str, Path)) or str(source) == "-" or not Path(source).is_file():
        return None
    size = Path(source).stat().st_size
    return size, int(size * MEMORY_PER_BYTE), available_bytes()


def too_big(source: Any) -> str:
    """Why ``source`` should be streamed (read whole, it would take more than
    :data:`STREAM_SHARE` of the memory available), or "" when it is read whole."""
    estimate = _estimate(source)
    if estimate is None or estimate[1] <= STREAM_SHARE * estimate[2]:
        return ""
    _, need, have = estimate
    return (
        f"read whole, the file would take about {_gb(need)} of memory, {need / have:.0%} of "
        f"the {_gb(have)} available; nncli streams above {STREAM_SHARE:.0%}"
    )


def memory_note(source: Any, model: str | None = None) -> str:
    """For a large file read whole (at least :data:`NOTE_BYTES`), the rule in words, so a
    user sees why it was not streamed; "" otherwise."""
    estimate = _estimate(source)
    if estimate is None or estimate[0] < NOTE_BYTES:
        return ""
    size, need, have = estimate
    rule = (
        f"nncli streams a file above {STREAM_SHARE:.0%} (--stream to stream it anyway)"
        if model is None or model in STREAMING_MODELS
        else f"-m {model} reads files whole (only {', '.join(STREAMING_MODELS)} stream)"
    )
    return (
        f"{Path(source).name} ({_gb(size)}) is read whole: about {_gb(need)} of memory, "
        f"{need / have:.0%} of the {_gb(have)} available; {rule}"
    )


def memory_notes(source: Any, model: str, settings: Settings) -> list[str]:
    """:func:`memory_note` as an Info line for ``train`` (none with --stream/--no-stream)."""
    if settings.run.stream is not None:
        return []
    note = memory_note(source, model)
    return [Info(note)] if note else []


def _gb(n: float) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e9 else f"{n / 1e6:,.1f} MB"


@dataclass
class FirstPass:
    """What one pass over the file learns: exact counts and two samples."""

    n_rows: int = 0
    n_missing: dict[str, int] = field(default_factory=dict)
    class_counts: dict[str, int] = field(default_factory=dict)
    n_valid: int = 0
    sample: Reservoir | None = None
    valid: Reservoir | None = None
    first_of_class: dict[str, Any] = field(default_factory=dict)


def first_pass(
    source: str, read: ReadOptions | None, target: str | None, seed: int, valid_size: float
) -> FirstPass:
    """Training's counting pass: counts, the sample, and the kept validation rows."""
    result = FirstPass(sample=Reservoir(SAMPLE_ROWS, seed), valid=Reservoir(VALID_ROWS, seed + 1))
    assert result.valid is not None
    for chunk in iter_frames(source, read, CHUNK_ROWS):
        labelled = _count(result, chunk, target)
        if labelled is not None:
            is_valid = valid_rows(labelled, seed, valid_size)
            result.n_valid += int(is_valid.sum())
            result.valid.add(labelled[is_valid])
    return _some_rows(result, source)


def _count(fp: FirstPass, chunk: pd.DataFrame, target: str | None) -> pd.DataFrame | None:
    """Rows, missing cells and classes of one chunk, exactly; the chunk into the sample;
    the first two rows of each class kept (so a class too rare for the sample is still
    known, and can be split, when the schema is inferred from it). Returns the chunk's
    labelled rows, or None without a target."""
    import pandas as pd

    assert fp.sample is not None
    fp.n_rows += len(chunk)
    for name, n in chunk.isna().sum().items():
        fp.n_missing[str(name)] = fp.n_missing.get(str(name), 0) + int(n)
    fp.sample.add(chunk)
    if target is None or target not in chunk.columns:
        return None
    labelled = chunk[chunk[target].notna()]
    labels = class_labels(labelled[target])
    for label, n in labels.value_counts().items():
        fp.class_counts[label] = fp.class_counts.get(label, 0) + int(n)
        have = fp.first_of_class.get(label)
        if have is None or len(have) < 2:
            rows = labelled[labels == label].iloc[:2]
            fp.first_of_class[label] = rows if have is None else pd.concat([have, rows]).iloc[:2]
    return labelled


def _some_rows(fp: FirstPass, source: str) -> FirstPass:
    if fp.n_rows == 0:
        raise DataError(f"{source} has no data rows", "pass a CSV file with a header and rows.")
    return fp


def train_stream(
    source: str,
    name: str,
    columns: ColumnSpec,
    settings: Settings,
    why: str,
    read: ReadOptions | None = None,
    on_schema: Callable[[Schema, list[str]], None] | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> SampledFit:
    """Fit the MLP or logistic regression on ``source`` in passes (see the module)."""
    from nncli.learn.models import make_model

    if name not in ("mlp", "logreg"):
        raise ConfigError(
            f"-m {name} cannot stream its training file; the MLP and logreg can",
            "pass -m mlp or -m logreg, --no-stream, or -m gbt --dask local:N for the trees.",
        )
    run = settings.run
    target = _target_name(source, read, columns, required=True)
    fp = first_pass(source, read, target, run.seed, run.valid_size)
    text = _sample_text(fp, target)
    schema = _exact(infer_schema(typed(text), columns), fp)
    require_features(schema)
    assert schema.target is not None
    n_train = sum(fp.class_counts.values()) - fp.n_valid
    notes: list[str] = [Info(
        f"streaming ({why}): {fp.n_rows:,} rows in passes of {CHUNK_ROWS:,}, blocks of "
        f"{run.stream_buffer:,} training rows in memory; schema and preprocessing statistics "
        f"from a random sample of {len(text):,} rows; {fp.n_valid:,} validation rows (a "
        f"seeded hash), {min(fp.n_valid, VALID_ROWS):,} of them kept to score each epoch"
    )]  # fmt: skip
    if on_schema is not None:
        on_schema(schema, notes)
    model = make_model(name, len(schema.classes), settings)
    data, prep = _fit_data(text, fp, schema, model, settings)
    data.stream = lambda: _blocks(source, read, prep, schema, settings, fp)
    data.n_stream = n_train
    started = time.perf_counter()
    report = model.fit(data, on_epoch=on_epoch)
    fit_seconds = time.perf_counter() - started
    card = ModelCard(
        model=name, config={}, n_params=model.n_params(), stop_reason=report.stop_reason,
        history=report.history, run=run.to_dict(),
        data=DataInfo(source, "", fp.n_rows, n_train, fp.n_valid,
                      f"streamed: a random sample of {len(text):,} rows"),
        fit_seconds=fit_seconds,
    )  # fmt: skip
    predictor = Predictor(schema, prep, model, card)
    train = (data.X, data.y, data.w)
    valid = (data.X_valid, data.y_valid, data.w_valid)
    return SampledFit(predictor, report, fit_seconds, n_train, fp.n_valid, train, valid, notes)


def _target_name(
    source: str, read: ReadOptions | None, columns: ColumnSpec, required: bool
) -> str | None:
    """The target column, from the column names alone (as the schema will choose it):
    the first rows may hold only one class of a file sorted by its target."""
    head = next(iter_frames(source, read, 1), None)
    names = [str(c) for c in head.columns] if head is not None else []
    return resolve_target(names, columns.target, required=required)


def _sample_text(fp: FirstPass, target: str | None) -> pd.DataFrame:
    """The sample, with one row of each class it missed (a rare class stays known)."""
    import pandas as pd

    assert fp.sample is not None
    sample = fp.sample.frame()
    if target is None or target not in sample.columns:
        return sample
    seen = class_labels(sample[target].dropna()).value_counts()
    parts = [sample, *(rows for c, rows in fp.first_of_class.items() if seen.get(c, 0) < 2)]
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else sample


def _exact(schema: Schema, fp: FirstPass) -> Schema:
    """The sample's schema with the whole file's exact counts."""
    for column in schema.columns:
        column.n_missing = fp.n_missing.get(column.name, column.n_missing)
    counts = [fp.class_counts.get(c, 0) for c in schema.classes]
    return replace(schema, n_rows=fp.n_rows, class_counts=counts)


def _fit_data(
    text: pd.DataFrame, fp: FirstPass, schema: Schema, model: Any, settings: Settings
) -> tuple[FitData, Any]:
    """The preprocessing fitted on the sample's training rows, and those rows and the
    kept validation rows as matrices."""
    from nncli.prepare.preprocess import fit_preprocessor

    assert schema.target is not None and fp.valid is not None
    run, k = settings.run, len(schema.classes)
    labelled = text[text[schema.target].notna()]
    train = typed(labelled[~valid_rows(labelled, run.seed, run.valid_size)])
    prep = fit_preprocessor(train, schema, model.layout, model.scaler, model.max_one_hot)
    X, _ = prep.transform(train)
    y = labels_to_index(train[schema.target], schema.classes, "the sample")
    valid = fp.valid.frame() if fp.valid.rows is not None else train.iloc[:0]
    X_valid, _ = prep.transform(valid)
    y_valid = labels_to_index(valid[schema.target], schema.classes, "the validation rows")
    data = FitData(
        X, y, training_weights(row_weights(train, schema), y, k, run),
        X_valid, y_valid, np.clip(row_weights(valid, schema), 0.0, None), k,
        prep.categorical_indices, prep.numeric_indices if model.layout == "dense" else [],
        prep.embedded_columns,
    )  # fmt: skip
    if len(y_valid) == 0:
        raise DataError(
            "streaming found no validation rows", "raise --valid-size, or give more rows."
        )
    return data, prep


def _blocks(
    source: str, read: ReadOptions | None, prep: Any, schema: Schema, settings: Settings,
    fp: FirstPass,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:  # fmt: skip
    """One pass: the training rows, transformed, in blocks of --stream-buffer rows."""
    assert schema.target is not None
    run = settings.run
    scale = _class_scale(schema, fp) if run.class_weight == "balanced" else None
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    held = 0
    for chunk in iter_frames(source, read, CHUNK_ROWS):
        labelled = chunk[chunk[schema.target].notna()]
        train = labelled[~valid_rows(labelled, run.seed, run.valid_size)]
        if train.empty:
            continue
        X, _ = prep.transform(train)
        y = labels_to_index(train[schema.target], schema.classes, source)
        w = np.clip(row_weights(train, schema), 0.0, None)
        parts.append((X, y, w if scale is None else w * scale[y]))
        held += len(y)
        if held >= run.stream_buffer:
            yield _joined(parts)
            parts, held = [], 0
    if parts:
        yield _joined(parts)


def _class_scale(schema: Schema, fp: FirstPass) -> np.ndarray:
    """Balanced class weights from the whole file's exact class counts."""
    counts = np.array([max(fp.class_counts.get(c, 0), 1) for c in schema.classes], float)
    return counts.sum() / (len(counts) * counts)


def _joined(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
    )


#: distinct values counted exactly per column, up to this many
DISTINCT_CAP = 10_000


@dataclass
class FileStats:
    """``inspect`` of a file in one pass: its schema and how it was read."""

    schema: Schema
    sep: str | None
    encoding: str
    n_bytes: int
    sha256: str
    notes: list[str]


def inspect_stream(
    source: str, why: str, read: ReadOptions | None = None, columns: ColumnSpec | None = None
) -> FileStats:
    """Inspect ``source`` in one pass with bounded memory: row, missing and class counts
    and numeric ranges exact; distinct counts exact up to DISTINCT_CAP; roles, means and
    frequent values from a random sample of SAMPLE_ROWS rows."""
    from nncli.io.data import dialect, file_kind, file_sha256, source_path

    kind = file_kind(source)
    if kind in ("parquet", "root"):
        sep, encoding = None, kind
    else:
        encoding, sep, _, _ = dialect(source, read)
    spec = columns or ColumnSpec()
    target = _target_name(source, read, spec, required=False)
    fp, ranges, distinct = _stats_pass(source, read, target)
    assert fp.sample is not None
    schema = infer_schema(typed(_sample_text(fp, target)), spec, require_target=False)
    schema = _exact(schema, fp)
    for column in schema.columns:
        seen = distinct.get(column.name)
        if seen is not None and len(seen) < DISTINCT_CAP:
            column.n_unique = len(seen)
        if column.stats and column.name in ranges:
            column.stats["min"], column.stats["max"] = ranges[column.name]
    n_sample = len(fp.sample.frame())
    note = Info(
        f"streamed ({why}): {fp.n_rows:,} rows in one pass; row, missing and class counts and "
        f"numeric ranges exact, distinct counts exact up to {DISTINCT_CAP:,} (above: the "
        f"sample's); roles, means and frequent values from a random sample of {n_sample:,} rows"
    )
    path = source_path(source)
    return FileStats(schema, sep, encoding, Path(path).stat().st_size, file_sha256(path), [note])


def _stats_pass(
    source: str, read: ReadOptions | None, target: str | None
) -> tuple[FirstPass, dict[str, tuple[float, float]], dict[str, set[str]]]:
    """The counting pass of training, plus numeric ranges and capped distinct sets."""
    import pandas as pd

    fp = FirstPass(sample=Reservoir(SAMPLE_ROWS, 0))
    ranges: dict[str, tuple[float, float]] = {}
    distinct: dict[str, set[str]] = {}
    for chunk in iter_frames(source, read, CHUNK_ROWS):
        _count(fp, chunk, target)
        for name in chunk.columns:
            col = chunk[name]
            seen = distinct.setdefault(name, set())
            if len(seen) < DISTINCT_CAP:
                seen.update(col.dropna().unique()[: DISTINCT_CAP - len(seen)])
            x = pd.to_numeric(col, errors="coerce")
            if x.notna().any():
                lo, hi = float(x.min()), float(x.max())
                old = ranges.get(name, (lo, hi))
                ranges[name] = (min(lo, old[0]), max(hi, old[1]))
    return _some_rows(fp, source), ranges, distinct
