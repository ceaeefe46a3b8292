"""The exported graph checked against nncli: both predict the same rows (a data file, or
rows drawn from what the model card records of each column), and the largest difference
in probability and the rows whose predicted class differs are reported. Both read the
numbers as float32, the graph's input type, so the check measures the graph."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nncli.deploy.inputs import FLAT_INPUT

if TYPE_CHECKING:
    import pandas as pd

    from nncli.deploy.build import Exported
    from nncli.learn.ensemble import EnsemblePredictor
    from nncli.learn.predictor import Predictor
    from nncli.prepare.schema import Schema

#: a category value no training set holds: the unseen case is always checked
UNSEEN = "<nncli: not seen in training>"
SAMPLED_ROWS = 2_000
MAX_CHECK_ROWS = 100_000


@dataclass
class CheckResult:
    rows: int
    source: str  # "rows of FILE", or "rows drawn from the model card"
    max_abs_diff: float
    label_diffs: int

    def line(self) -> str:
        share = self.label_diffs / max(self.rows, 1)
        return (f"checked on {self.rows:,} {self.source}: largest |Δ probability| "
                f"{self.max_abs_diff:.2g}, predicted class differs on {self.label_diffs:,} "
                f"row(s) ({share:.2%})")  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "source": self.source, "max_abs_diff": self.max_abs_diff,
                "label_diffs": self.label_diffs}  # fmt: skip


def sample_rows(schema: Schema, exported: Exported, n: int = SAMPLED_ROWS,
                seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """Rows drawn from the card's record of each raw column: numbers uniform over the
    training range (whole numbers for an integer column), at its mean and at the trees'
    split thresholds, categories from the training levels and examples; 5% missing and 3%
    unseen categories in every column."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    codes = exported.codes
    data: dict[str, Any] = {}
    for spec in exported.inputs:
        if spec["role"] == "fold":  # event numbers, past float32's whole numbers too
            data[spec["name"]] = rng.integers(-(2**40), 2**40, n)
            continue
        col = schema.column(spec["name"])
        if col.role == "numeric":
            stats = col.stats or {}
            lo, hi = float(stats.get("min", -1.0)), float(stats.get("max", 1.0))
            x = rng.uniform(lo, hi, n)
            if str(col.dtype).startswith(("int", "uint")):
                x = np.round(x)
            x[rng.random(n) < 0.05] = float(stats.get("mean", 0.0))
            probes = exported.probes.get(col.name)
            if probes:  # a third of the rows at the trees' thresholds
                at = rng.random(n) < 0.33
                x[at] = np.asarray(probes)[rng.integers(0, len(probes), int(at.sum()))]
            x[rng.random(n) < 0.05] = np.nan
            data[col.name] = x
        else:
            pool = list(dict.fromkeys([*codes.get(col.name, []), *col.examples]))
            values = np.asarray(pool or [UNSEEN], dtype=object)[
                rng.integers(0, max(len(pool), 1), n)
            ]
            values[rng.random(n) < 0.03] = UNSEEN
            values[rng.random(n) < 0.05] = None
            data[col.name] = pd.Series(values, dtype=object)
    return pd.DataFrame(data)


def feeds(exported: Exported, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The graph's inputs for ``frame``: float32 numbers (NaN where missing or not a
    number), text as nncli reads it ("" where missing); flat: codes, -1 not in the list."""
    import pandas as pd

    from nncli.prepare.preprocess import coerce_numeric
    from nncli.prepare.schema import class_labels

    columns: list[np.ndarray] = []
    out: dict[str, np.ndarray] = {}
    for spec in exported.inputs:
        name, values = spec["name"], frame[spec["name"]]
        if spec["role"] == "fold":  # the event number, whole (fold_numbers checks it)
            out[name] = pd.to_numeric(values).to_numpy(dtype=np.int64)[:, None]
            continue
        if spec["role"] == "numeric":
            x = coerce_numeric(values)[0].astype(np.float32)
            columns.append(x)
            if not exported.flat:
                out[name] = x[:, None]
            continue
        text = class_labels(values)
        if exported.flat:
            lookup = {v: i for i, v in enumerate(exported.codes[name])}
            key = text.str.lower() if spec["role"] == "boolean" else text
            code = np.array([np.nan if pd.isna(v) else lookup.get(v, -1) for v in key],
                            dtype=np.float32)  # fmt: skip
            columns.append(code)
        else:
            out[name] = text.fillna("").to_numpy(dtype=object).astype(str)[:, None]
    if exported.flat:
        width = len([i for i in exported.inputs if i["role"] != "fold"])
        matrix = np.column_stack(columns) if columns else np.zeros((len(frame), width))
        return out | {FLAT_INPUT: matrix.astype(np.float32)}
    return out


def as_float32(exported: Exported, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its numeric inputs rounded to float32, as the graph reads them: the
    check compares the graph with nncli on the same numbers."""
    from nncli.prepare.preprocess import coerce_numeric

    out = frame.copy(deep=False)
    for spec in exported.inputs:
        if spec["role"] == "numeric":
            x = coerce_numeric(frame[spec["name"]])[0]
            with np.errstate(over="ignore"):
                out[spec["name"]] = x.astype(np.float32).astype(np.float64)
    return out


def session(exported: Exported) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(exported.model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])  # fmt: skip


def check(
    predictor: Predictor | EnsemblePredictor,
    exported: Exported,
    frame: pd.DataFrame | None = None,
    source: str | None = None,
) -> CheckResult:
    """Run the graph and nncli on the same rows (``frame``, read from ``source``, or rows
    drawn from the model card) and compare."""
    described = "rows drawn from the model card" if frame is None else f"rows of {source}"
    if frame is None:
        frame = sample_rows(predictor.schema, exported)
    elif len(frame) > MAX_CHECK_ROWS:
        frame = frame.sample(MAX_CHECK_ROWS, random_state=0).reset_index(drop=True)
    inputs = feeds(exported, frame)
    rounded = as_float32(exported, frame)
    if exported.fold_by is None:
        expected, _ = predictor.predict_proba_counted(rounded, "ignore")
    else:
        from nncli.learn.ensemble import kfold_scorer

        expected, _ = kfold_scorer(predictor, exported.fold_by)(rounded, "ignore")
    got, label = session(exported).run(["probabilities", "label"], inputs)
    diff = float(np.abs(got.astype(np.float64) - expected).max()) if len(frame) else 0.0
    predicted = np.asarray(predictor.classes, dtype=object)[expected.argmax(axis=1)]
    labels = np.asarray(exported.classes, dtype=object)[label] if exported.flat else label
    differs = int((np.asarray(labels, dtype=object) != predicted).sum())
    return CheckResult(len(frame), described, diff, differs)
