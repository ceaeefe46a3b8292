"""Every word the reports use for a metric, a stop reason or a test result: one table
each, shared by the terminal, JSON and HTML reports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from nncli.assess.evaluate import HIGHER_IS_BETTER

if TYPE_CHECKING:
    from nncli.assess import stats
    from nncli.assess.compare import ModelResult, Paired


# metric key → (label in tables and headings, short column title, name in a sentence)
METRICS: dict[str, tuple[str, str, str]] = {
    "auc": ("ROC AUC", "AUC", "AUC"),
    "accuracy": ("accuracy", "acc", "accuracy"),
    "balanced_accuracy": ("balanced acc.", "bal.acc", "balanced accuracy"),
    "log_loss": ("log loss", "logloss", "log loss"),
    "macro_f1": ("macro F1", "F1", "macro F1"),
    "brier": ("Brier", "Brier", "Brier score"),
}


def metric_label(metric: str) -> str:
    return METRICS[metric][0]


def metric_short(metric: str) -> str:
    return METRICS[metric][1]


def metric_words(metric: str) -> str:
    return METRICS[metric][2]


# stop reason → (sentence form, table cell)
STOPS: dict[str, tuple[str, str]] = {
    "early_stopping": ("stopped early", "early stop"),
    "completed": ("ran to the end", "all epochs"),
    "time_budget": ("stopped by the time budget", "time budget"),
    "interrupted": ("interrupted", "interrupted"),
}


def split_words(rows: dict[str, int], cv: int | None, unit: str = "rows") -> str:
    """How the rows were split, for the headings: CV folds, cross-fitting, or one split."""
    folds = rows.get("folds", 1)
    if cv:
        return f"{cv}-fold CV" + (f", each cross-fitted in {folds} folds" if folds > 1 else "")
    if folds > 1:
        return (f"{rows['valid']:,} {unit} cross-fitted in {folds} folds, "
                f"{rows['test']:,} test {unit}")  # fmt: skip
    return f"{rows['train']:,} train, {rows['valid']:,} validation, {rows['test']:,} test {unit}"


def stop_words(reason: str) -> str:
    return STOPS.get(reason, (reason, reason))[0]


def stop_cell(reason: str) -> str:
    return STOPS.get(reason, ("-", "-"))[1]


def format_p(p: float, floor: float = 0.0) -> str:
    """``p = 0.03``; ``p < 0.0001``; ``p < 0.001`` when a bootstrap cannot resolve smaller."""
    if not np.isfinite(p):
        return "p = n/a"
    if floor > 0 and p <= floor:
        return f"p < {floor:.2g}"
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.2g}"


def verdict(test: stats.PairedTest, a: str, b: str) -> str:
    """A paired test in one sentence: the difference, its interval, p and the verdict."""
    better = (test.difference > 0) == HIGHER_IS_BETTER[test.metric]
    if not np.isfinite(test.p_value) and test.method.startswith("none"):
        return (
            f"{a} vs {b}: {metric_words(test.metric)} {test.difference:+.4f}; not tested "
            "(--bootstrap 0: no resamples for this metric)"
        )
    if test.few_rows:
        words = f"not called significant: {test.few_rows}"
    elif not test.significant:
        words = "no significant difference"
    else:
        words = f"{a} is significantly {'better' if better else 'worse'}"
    return (
        f"{a} vs {b}: {metric_words(test.metric)} {test.difference:+.4f} "
        f"[{test.low:+.4f}, {test.high:+.4f}], {format_p(test.p_value, test.floor)} "
        f"({test.method}): {words}"
    )


def paired_json(paired: Paired) -> dict[str, Any]:
    """A paired test as docs/json.md describes it (with its verdict in words)."""
    t = paired.test
    return {
        "model": paired.model,
        "against": paired.against,
        "metric": t.metric,
        "difference": t.difference,
        "low": t.low,
        "high": t.high,
        "p_value": t.p_value,
        "method": t.method,
        "significant": t.significant,
        "few_rows": t.few_rows or None,
        "verdict": verdict(t, paired.model, paired.against),
        "against_role": paired.against_role,
    }


def overtraining_verdict(result: ModelResult, classes: list[str], metric: str) -> str:
    """The overtraining check in plain words."""
    if not result.ks:
        return ""
    worst = min(result.ks, key=lambda k: k["p_value"] if np.isfinite(k["p_value"]) else 2.0)
    gap = result.train[metric] - result.test[metric]
    p = worst["p_value"]
    label = classes[worst["class"]]
    head = (
        f"{result.label}: train {metric_words(metric)} {result.train[metric]:.4f} vs test "
        f"{result.test[metric]:.4f} (gap {gap:+.4f}); KS {format_p(p)} for class {label!r}"
    )
    if not np.isfinite(p):
        return head + ": not enough rows to test"
    if p < 0.01:
        return (
            head + ": its outputs on training rows differ from those on unseen rows — it "
            "has learnt its training sample (overtraining)"
        )
    if p < 0.05:
        return head + ": mild signs of overtraining"
    return head + ": training and test outputs agree — no sign of overtraining"
