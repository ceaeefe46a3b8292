"""What a comparison leaves behind: the run folder (report, models, predictions) and the
diagnostics a report plots (permutation importance, input correlations)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nncli.assess.compare import Comparison
from nncli.io.card import DataInfo
from nncli.io.outputs import atomic_output

if TYPE_CHECKING:
    import pandas as pd

MAX_IMPORTANCE_FEATURES = 200
MAX_IMPORTANCE_ROWS = 5000
MAX_CORRELATION_COLUMNS = 25


def prediction_frames(comparison: Comparison, frame: pd.DataFrame) -> tuple[pd.DataFrame, Any]:
    """Test and training predictions: row, (ID columns), true class, '<model>:<class>'."""
    import pandas as pd

    classes = np.asarray(comparison.schema.classes, dtype=object)
    ok = [r for r in comparison.results if r.ok and r.proba is not None]

    def table(rows: np.ndarray, y: np.ndarray, probas: list[np.ndarray]) -> pd.DataFrame:
        out = pd.DataFrame({"row": rows})
        for name in comparison.schema.id_cols:
            if name in frame.columns:
                out[name] = frame[name].to_numpy()[rows]
        out["true"] = classes[y]
        columns = {
            f"{r.label}:{c}": p[:, k]
            for r, p in zip(ok, probas, strict=True)
            for k, c in enumerate(classes)
        }
        return pd.concat([out, pd.DataFrame(columns)], axis=1)

    test = table(comparison.test_index, comparison.y_test, [r.proba for r in ok])
    train = None
    if ok and ok[0].train_index is not None:
        train = table(ok[0].train_index, ok[0].train_y, [r.train_proba for r in ok])
    return test, train


def oof_frame(comparison: Comparison, frame: pd.DataFrame) -> pd.DataFrame | None:
    """The out-of-fold predictions on the training rows (NaN where a model did not hold
    the row out), as the test predictions are written; None without them or with --cv."""
    import pandas as pd

    ok = [r for r in comparison.results if r.ok and r.folds]
    if not ok or comparison.rest_index is None or comparison.options.cv:
        return None
    rows = comparison.rest_index
    classes = np.asarray(comparison.schema.classes, dtype=object)
    out = pd.DataFrame({"row": rows})
    for name in comparison.schema.id_cols:
        if name in frame.columns:
            out[name] = frame[name].to_numpy()[rows]
    out["true"] = classes[ok[0].train_y]
    columns = {f"{r.label}:{c}": r.folds[0].valid[:, k] for r in ok for k, c in enumerate(classes)}
    return pd.concat([out, pd.DataFrame(columns)], axis=1)


def diagnostics(comparison: Comparison, frame: pd.DataFrame, seed: int = 0) -> dict[str, Any]:
    """Permutation importance of the best model on the test rows, and input correlations."""
    out: dict[str, Any] = {}
    importance = permutation_importance(comparison, frame, seed)
    if importance:
        out["importance"] = importance
    out["correlation"] = correlations(comparison, frame, importance)
    return out


def permutation_importance(
    comparison: Comparison, frame: pd.DataFrame, seed: int
) -> dict[str, Any] | None:
    from nncli.assess.evaluate import HIGHER_IS_BETTER, metrics

    best = comparison.best
    features = [c.name for c in comparison.schema.features]
    if (
        best is None
        or best.predictor is None
        or len(features) > MAX_IMPORTANCE_FEATURES
        or comparison.options.cv
    ):
        return None
    metric = comparison.options.metric
    rng = np.random.default_rng(seed)
    rows = comparison.test_index
    keep = rng.permutation(len(rows))[:MAX_IMPORTANCE_ROWS]
    test = frame.iloc[rows[keep]].reset_index(drop=True)
    y = comparison.y_test[keep]
    base = metrics(y, best.predictor.predict_proba(test, unseen="ignore"))[metric]
    sign = 1 if HIGHER_IS_BETTER[metric] else -1
    scores = {}
    for name in features:
        shuffled = test.copy()
        shuffled[name] = test[name].to_numpy()[rng.permutation(len(test))]
        value = metrics(y, best.predictor.predict_proba(shuffled, unseen="ignore"))[metric]
        scores[name] = float(sign * (base - value))
    return {"model": best.label, "metric": metric, "baseline": float(base), "features": scores}


def correlations(
    comparison: Comparison, frame: pd.DataFrame, importance: dict[str, Any] | None
) -> dict[str, Any]:
    """Pearson correlations of the numeric inputs on training rows (per class if binary)."""
    import pandas as pd

    from nncli.prepare.preprocess import numeric_values

    first = next((r for r in comparison.results if r.train_index is not None), None)
    numeric = [c.name for c in comparison.schema.features if c.role == "numeric"]
    if importance:
        numeric.sort(key=lambda n: -importance["features"].get(n, 0.0))
    numeric = numeric[:MAX_CORRELATION_COLUMNS]
    if len(numeric) < 2 or first is None:
        return {}
    rows, y = np.unique(first.train_index, return_index=True)
    y = first.train_y[y]
    values = pd.DataFrame({n: numeric_values(frame[n])[rows] for n in numeric})
    classes = comparison.schema.classes
    groups = (
        {f"class {c!r}": y == k for k, c in enumerate(classes)}
        if len(classes) == 2
        else {"all training rows": np.ones(len(rows), dtype=bool)}
    )
    matrices = {
        name: values[mask].corr().fillna(0.0).round(4).to_numpy().tolist()
        for name, mask in groups.items()
    }
    return {"columns": numeric, "matrices": matrices}


def save_outputs(
    comparison: Comparison, out_dir: str, report: dict[str, Any], frame: pd.DataFrame
) -> list[str]:
    """Write report.json, one model file per model, and test and training predictions."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "report.json"]
    with atomic_output(folder / "report.json") as fh:
        fh.write(json.dumps(report, indent=2, allow_nan=False))
    for result in comparison.results:
        if result.ok and result.predictor is not None:
            path = folder / f"{safe_label(result.label)}.nncli"
            card = result.predictor.card
            card.metrics = {"train": result.train, "test": result.test}
            card.data = DataInfo(
                source=comparison.source,
                sha256=comparison.sha256,
                rows=comparison.rows["total"],
                rows_train=comparison.rows["train"],
                rows_valid=comparison.rows["valid"],
                samples=comparison.samples,
            )
            result.predictor.save(path)
            written.append(path)
    test, train = prediction_frames(comparison, frame)
    oof = oof_frame(comparison, frame)
    for name, table in (("test_predictions.csv", test), ("train_predictions.csv", train),
                        ("oof_predictions.csv", oof)):  # fmt: skip
        if table is not None:
            with atomic_output(folder / name) as fh:
                table.to_csv(fh, index=False, float_format="%.6g")
            written.append(folder / name)
    return [str(p) for p in written]


def safe_label(label: str) -> str:
    """A file-name-safe version of a model label."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-")


def write_outputs(
    comparison: Comparison, frame: pd.DataFrame, out_dir: str | Path | None,
    report_file: str | Path | None, force: bool = False,
) -> tuple[dict[str, Any], list[str]]:  # fmt: skip
    """The JSON report; with an output folder or report file, also the diagnostics, and
    the folder and the HTML report written (the report without ``force`` never over a
    file that appeared meanwhile)."""
    from nncli.show import report_compare
    from nncli.show.report import finite

    payload = report_compare.compare_json(comparison)
    written: list[str] = []
    if out_dir or report_file:
        payload |= finite(diagnostics(comparison, frame, comparison.seed))
    if out_dir:
        written += save_outputs(comparison, str(out_dir), payload, frame)
    if report_file:
        from nncli.show import html_report

        test, train = prediction_frames(comparison, frame)
        with atomic_output(report_file, exclusive=not force) as fh:
            fh.write(html_report.render(html_report.ReportData(payload, test, train)))
        written.append(str(report_file))
    return payload, written


def render_folder(run_dir: str | Path) -> str:
    """The HTML report of a folder written by ``compare --out``."""
    import pandas as pd

    from nncli.errors import DataError
    from nncli.show.html_report import ReportData, render

    folder = Path(run_dir)
    needed = [folder / "report.json", folder / "test_predictions.csv"]
    for path in needed:
        if not path.is_file():
            raise DataError(f"{path} not found", "pass a folder written by nncli compare --out.")
    try:
        payload = json.loads(needed[0].read_text())
        test = pd.read_csv(needed[1])
        train_path = folder / "train_predictions.csv"
        train = pd.read_csv(train_path) if train_path.is_file() else None
        return render(ReportData(payload, test, train))
    except (json.JSONDecodeError, KeyError, ValueError) as exc:
        raise DataError(
            f"the run folder {folder} is incomplete or damaged ({exc!r})",
            "re-run nncli compare --out.",
        ) from None
