"""Rendering of ``nncli compare``: live rows on stderr, the final tables on stdout, JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from nncli.learn.models import MODELS
from nncli.show.labels import (
    METRICS,
    format_p,
    metric_label,
    metric_short,
    overtraining_verdict,
    paired_json,
    split_words,
    stop_cell,
    verdict,
)
from nncli.show.report import JSON_FORMAT_VERSION, ProgressDisplay, finite, row_word

if TYPE_CHECKING:
    from nncli.assess.compare import Comparison, ModelResult
    from nncli.assess.plan import Entry

COMPARE_FORMAT_VERSION = 1


class CompareDisplay:
    """Per-model progress while it trains, and one line per finished model, on stderr."""

    def __init__(self, console: Console, metric: str, width: int = 14) -> None:
        self.console, self.metric, self.width = console, metric, width
        self.current: ProgressDisplay | None = None

    def start(self, entry: Entry) -> ProgressDisplay:
        self.current = ProgressDisplay(self.console, entry.label, entry.model).__enter__()
        return self.current

    def result(self, result: ModelResult) -> None:
        if self.current is not None:
            self.current.__exit__(None, None, None)
            self.current = None
        line = row_line(result, self.metric, self.width)
        self.console.print(line, markup=False, highlight=False)

    def close(self) -> None:
        if self.current is not None:
            self.current.__exit__(None, None, None)


def label_width(options: Any) -> int:
    """The width of the label column of the progress lines: the longest label the plan can
    make (its models, their variants, and the extra runs of an MLP), so lines align."""
    labels = list(options.models) + [f"{m}[{v}]" for m, vs in options.variants.items()
                                     for v in vs]  # fmt: skip
    if options.extra_runs:
        labels += [label[:-1] + ",scaler=standard,seed=1]" if label.endswith("]")
                   else label + "[scaler=standard,seed=1]"
                   for label in labels if label.startswith("mlp")]  # fmt: skip
    return max([14, *(len(label) for label in labels)])


def row_line(result: ModelResult, metric: str, width: int = 14) -> str:
    head = f"{result.stage:>6}  {result.label:<{width}}"
    if not result.ok:
        return f"{head} {result.note}"
    if result.std:  # --cv: as in the final table
        spread = f" ± {result.std[metric]:.4f}"
    elif metric in result.low:
        spread = f" [{result.low[metric]:.4f}, {result.high[metric]:.4f}]"
    else:  # --bootstrap 0
        spread = ""
    return (
        f"{head} {metric_label(metric)} {result.test[metric]:.4f}{spread}  "
        f"fit {result.fit_seconds:.2f} s" + (f"  ({result.note})" if result.note else "")
    )


def _cell(result: ModelResult, metric: str, cv: bool) -> str:
    value = result.test.get(metric)
    if value is None or not np.isfinite(value):
        return "-"
    if cv:
        return f"{value:.4f} ± {result.std[metric]:.4f}"
    if metric not in result.low:  # --bootstrap 0
        return f"{value:.4f}"
    return f"{value:.4f} [{result.low[metric]:.3f}, {result.high[metric]:.3f}]"


def _ordered(comparison: Comparison) -> list[ModelResult]:
    from nncli.assess.evaluate import HIGHER_IS_BETTER

    metric = comparison.options.metric
    sign = -1 if HIGHER_IS_BETTER[metric] else 1
    ok = sorted((r for r in comparison.results if r.ok), key=lambda r: sign * r.test[metric])
    return ok + [r for r in comparison.results if not r.ok]


def _paired_sections(comparison: Comparison) -> list[tuple[str, list[Any]]]:
    """The paired tests against the best and the baseline, and (``--feature-sets``) each
    model with the derived columns against itself without them."""
    from nncli.assess.compare import RAW_ROLE

    main = [p for p in comparison.paired if p.against_role != RAW_ROLE]
    raw = [p for p in comparison.paired if p.against_role == RAW_ROLE]
    sections = [("Paired comparisons (same test rows):", main)] if main else []
    if raw:
        words = ", ".join(d["name"] for d in comparison.schema.derived)
        sections.append((f"Assisted vs raw variables (with and without {words}):", raw))
    return sections


def compare_renderable(comparison: Comparison) -> Group:
    options, rows = comparison.options, comparison.rows
    cv = bool(options.cv)
    unit = row_word(comparison.schema)
    split = split_words(rows, options.cv, unit)
    budget = f" of a {comparison.budget:.0f} s budget" if comparison.budget else ""
    head = Text.assemble(
        ("compare", "bold"),
        f" {comparison.source}: {rows['total']:,} {unit} ({split}); target "
        f"{comparison.schema.target!r}; seed {comparison.seed}; "
        f"ranked by {metric_label(options.metric)}; "
        + (
            "mean ± std over folds"
            if cv
            else f"95% intervals from {options.bootstrap:,} bootstrap resamples"
            if options.bootstrap
            else "no intervals (--bootstrap 0)"
        )
        + f"; {comparison.elapsed:.1f} s{budget}"
        + ("; interrupted: the models that finished" if comparison.interrupted else ""),
    )
    best = comparison.best
    parts: list[Any] = [head, _metrics_table(comparison, best, cv), _cost_table(comparison, best)]
    if words := few_rows_words(comparison):
        parts.insert(2, Text(words, style="yellow"))
    if words := close_call_words(comparison):
        parts.insert(2, Text(words))
    for title, pairs in _paired_sections(comparison):
        parts.append(Text(title, style="bold"))
        parts.extend(Text(f"  {verdict(p.test, p.model, p.against)}") for p in pairs)
        parts.append(Text("  (p < 0.05 counts as significant; the interval is 95%.)", style="dim"))
    parts.append(
        Text("Overtraining check (training vs test outputs, Kolmogorov–Smirnov):", style="bold")
    )
    for result in _ordered(comparison):
        if result.ok and not MODELS[result.model].floor:
            parts.append(
                Text("  " + overtraining_verdict(result, comparison.schema.classes, options.metric))
            )
    if comparison.signal is not None:
        parts.append(_physics_table(comparison))
    return Group(*parts)


def _metrics_table(comparison: Comparison, best: ModelResult | None, cv: bool) -> Table:
    boot = comparison.options.bootstrap > 0
    table = Table(
        show_edge=False,
        pad_edge=False,
        header_style="bold",
        title="test metrics"
        + (" (mean ± std over folds)" if cv else " [95% CI]" if boot else "")
        + (
            "; ★ = the best out of fold (valid: on every training row)"
            if comparison.bag > 1
            else "; ★ = the best on the validation rows"
        )
        + (f"; weighted by {comparison.schema.weight!r}" if comparison.schema.weight else ""),
        title_justify="left",
    )
    table.add_column("model", no_wrap=True)
    metric = comparison.options.metric
    shown = [metric] + [m for m in tuple(METRICS) if m != metric]
    for m in shown:
        spread = (" (mean ± std)" if cv else " [95% CI]" if boot else "") if m == metric else ""
        title = metric_short(m) + spread
        table.add_column(title, justify="right", no_wrap=True)
        if m == metric:
            table.add_column(f"valid {metric_short(m)}", justify="right", no_wrap=True)
    for result in _ordered(comparison):
        star = " ★" if result is best else ""
        style = "bold green" if result is best else ("dim" if not result.ok else "")
        if not result.ok:
            table.add_row(escape(result.label), result.note, *[""] * len(shown), style=style)
            continue
        valid = result.valid.get(metric, float("nan"))
        cells = [_cell(result, shown[0], cv), f"{valid:.4f}" if np.isfinite(valid) else "-"] + [
            f"{result.test[m]:.4f}" if np.isfinite(result.test[m]) else "-" for m in shown[1:]
        ]
        table.add_row(escape(result.label) + star, *cells, style=style)
    return table


def _cost_table(comparison: Comparison, best: ModelResult | None) -> Table:
    metric = comparison.options.metric
    table = Table(
        show_edge=False,
        pad_edge=False,
        header_style="bold",
        title="cost and overtraining",
        title_justify="left",
    )
    for name, justify in [
        ("model", "left"),
        ("fit s", "right"),
        ("pred s", "right"),
        ("params", "right"),
        (f"train {metric_short(metric)}", "right"),
        ("KS p", "right"),
        ("stopped", "left"),
    ] + ([("fitted", "left")] if comparison.bag > 1 else []):
        table.add_column(name, justify=justify, no_wrap=True)
    for result in _ordered(comparison):
        if not result.ok:
            continue
        p = min((k["p_value"] for k in result.ks if np.isfinite(k["p_value"])), default=np.nan)
        table.add_row(
            escape(result.label),
            f"{result.fit_seconds:.2f}",
            f"{result.predict_seconds:.3f}",
            f"{result.n_params:,}",
            f"{result.train[metric]:.4f}",
            "-" if not np.isfinite(p) else f"{p:.2g}",
            stop_cell(result.stop_reason) if result.history else "-",
            *([result.fits or "-"] if comparison.bag > 1 else []),
        )
    return table


def _physics_table(comparison: Comparison) -> Table:
    signal = comparison.schema.classes[comparison.signal or 0]
    table = Table(
        show_edge=False,
        pad_edge=False,
        header_style="bold",
        title_justify="left",
        title=f"signal efficiency at fixed background efficiency (signal: {signal!r})",
    )
    table.add_column("model", no_wrap=True)
    for b in ("1%", "10%", "30%"):
        table.add_column(f"εS @ εB={b}", justify="right")
    table.add_column("separation", justify="right")
    for result in _ordered(comparison):
        if result.ok and result.efficiency:
            eff = result.efficiency
            table.add_row(
                escape(result.label),
                f"{eff['0.01']:.3f}",
                f"{eff['0.1']:.3f}",
                f"{eff['0.3']:.3f}",
                f"{result.separation:.3f}",
            )
    return table


def few_rows_words(comparison: Comparison) -> str:
    """The table's warning when a class has too few test rows to carry a verdict."""
    few = comparison.few_rows
    if not few:
        return ""
    classes = comparison.schema.classes
    named = ", ".join(f"{classes[k]!r} has {n} test row{'s' if n != 1 else ''}"
                      for k, n in few.items())  # fmt: skip
    return (f"few test rows: {named}; its AUC (and the macro AUC) rests on them, and no "
            "verdict is called significant on their strength")  # fmt: skip


def close_call_words(comparison: Comparison) -> str:
    """One line when the rows that chose the ★ cannot tell it from the next models."""
    best, calls = comparison.best, comparison.close_calls
    if best is None or not calls:
        return ""
    where = "out-of-fold rows" if comparison.bag > 1 else "validation rows"
    short = metric_short(comparison.options.metric)
    named = ", ".join(f"{c.model} ({short} {-c.difference:+.4f}, {format_p(c.p_value)})"
                      for c in calls)  # fmt: skip
    return (f"close call: on the {where} that chose the ★ ({best.label}), {named} "
            f"{'is' if len(calls) == 1 else 'are'} within noise of it; another seed or "
            "split could choose differently (ties go to the simpler model)")  # fmt: skip


def compare_json(comparison: Comparison) -> dict[str, Any]:
    import copy
    from dataclasses import fields

    options = comparison.options
    best = comparison.best
    results = []
    for r in comparison.results:
        item = {f.name: copy.deepcopy(getattr(r, f.name)) for f in fields(r) if f.repr}
        item["interval"] = {m: [r.low[m], r.high[m]] for m in r.low}
        del item["low"], item["high"]
        for ks in item["ks"]:
            ks["class"] = comparison.schema.classes[ks["class"]]
        results.append(item)
    return finite(
        {
            "format_version": COMPARE_FORMAT_VERSION,
            "command": "compare",
            "json_format_version": JSON_FORMAT_VERSION,
            "source": comparison.source,
            "target": comparison.schema.target,
            "weight": comparison.schema.weight,
            "classes": comparison.schema.classes,
            "seed": comparison.seed,
            "metric": options.metric,
            "rows": comparison.rows,
            "few_test_rows": {
                comparison.schema.classes[k]: n for k, n in comparison.few_rows.items()
            },  # fmt: skip
            "evaluation": {
                "cv": options.cv,
                "test_size": None if options.cv else options.test_size,
                "bootstrap": options.bootstrap,
                "interval": 0.95,
                "bag": comparison.bag,
            },
            "signal": None
            if comparison.signal is None
            else comparison.schema.classes[comparison.signal],
            "time_budget": comparison.budget,
            "elapsed_seconds": comparison.elapsed,
            "best": best.label if best else None,
            "selected_on": "out-of-fold" if comparison.bag > 1 else "validation",
            "interrupted": comparison.interrupted,
            "fail_under": _fail_under(comparison.threshold),
            "close_calls": [
                {
                    "model": c.model,
                    "difference": c.difference,
                    "p_value": c.p_value,
                    "method": c.method,
                }
                for c in comparison.close_calls
            ],  # fmt: skip
            "models": results,
            "paired": [paired_json(p) for p in comparison.paired],
        }
    )


def _fail_under(check: Any) -> dict[str, Any] | None:
    """``--fail-under``'s verdict (null without it), as exit code 3 reports it."""
    if check is None:
        return None
    return {"metric": check.threshold.metric, "value": check.threshold.value,
            "model": check.model or None, "score": check.score, "met": check.met}  # fmt: skip
