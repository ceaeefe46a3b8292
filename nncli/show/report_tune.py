"""What ``nncli tune`` prints: the trials, the best against the settings as given on the
test rows, and the best settings as a TOML block for ``--config``; and its JSON."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from nncli.show.labels import format_p, metric_label, verdict
from nncli.show.report import JSON_FORMAT_VERSION, finite

if TYPE_CHECKING:
    from nncli.assess.stats import PairedTest
    from nncli.assess.tune import ModelTuning, Scored, TrialRow, Tuning

#: the trials table shows the best this many, the first trial, and the running ones
SHOWN_TRIALS = 10


def setting_text(value: Any) -> str:
    """A setting's value in a table or variant string: 4 significant digits."""
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _toml(value: Any) -> str:
    """A value as TOML writes it; floats exactly (the file reproduces the trial)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return "[" + ", ".join(map(str, value)) + "]"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def best_toml(tuning: Tuning) -> str:
    """The best settings of every tuned model as ``--config`` tables (with the preset the
    trials ran under, which decides the settings not listed)."""
    from nncli.learn.models import MODELS

    lines = [f"# nncli tune {tuning.source}: the best trial of each model "
             f"({metric_label(tuning.metric)} on the search rows)", "[run]",
             f'preset = "{tuning.preset}"']  # fmt: skip
    for m in tuning.models:
        if m.best is None:
            continue
        values = m.fixed | m.best_values
        score = f"{m.best.value:.4f}" if m.best.value is not None else "-"
        given = ""
        if m.best.default:
            given = " (the settings as given" + (
                f"; trial {m.passed_over.number} was not significantly better)"
                if m.passed_over else ")")  # fmt: skip
        lines += ["", f"# {m.model}: trial {m.best.number}, {score}{given}",
                  f"[{MODELS[m.model].config}]"]  # fmt: skip
        lines += [f"{k} = {_toml(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def _shown(m: ModelTuning, sign: int) -> list[TrialRow]:
    done = sorted((t for t in m.trials if t.value is not None), key=lambda t: -sign * t.value)  # type: ignore[operator]
    shown = {t.number for t in done[:SHOWN_TRIALS]}
    shown |= {t.number for t in m.trials if t.default}
    return [t for t in done if t.number in shown] + [
        t for t in m.trials if t.value is None and t.number in shown
    ]


def trial_settings(t: TrialRow) -> str:
    """The settings a trial tried, in words: "as given" for the first, the portfolio's
    config marked so."""
    if t.default:
        return "as given"
    words = ",".join(f"{k}={setting_text(v)}" for k, v in t.values.items())
    return f"portfolio:{words}" if t.portfolio else words


def _trials_table(m: ModelTuning, metric: str, shown: list[TrialRow]) -> Table:
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    for name, justify in (("trial", "right"), (metric_label(metric), "right"),
                          ("seconds", "right"), ("settings", "left")):  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for t in shown:
        star = " ★" if m.best is not None and t.number == m.best.number else ""
        score = f"{t.value:.4f}" if t.value is not None else t.state
        words = trial_settings(t)
        if t.note:
            words += f" ({t.note})"
        seconds = "-" if t.seconds is None else f"{t.seconds:.1f}"
        table.add_row(f"{t.number}{star}", score, seconds, words)
    return table


def _head(m: ModelTuning) -> str:
    counts: dict[str, int] = {}
    for t in m.trials:
        counts[t.state] = counts.get(t.state, 0) + 1
    states = ", ".join(f"{n} {state}" for state, n in counts.items())
    here = "" if m.ran_here == len(m.trials) else f"; {m.ran_here} run here"
    return f"{len(m.trials)} trials ({states}{here}); study {m.study!r}"


def _scores_table(m: ModelTuning, metric: str) -> Table:
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    for name in ("", f"{metric_label(metric)} search", f"{metric_label(metric)} test", "fit s"):
        table.add_column(name, justify="right" if name else "left")
    mean = m.ensemble.label if m.ensemble else ""
    same = m.best is not None and m.best.default  # the first trial was the best
    rows: list[tuple[str, Scored | None]] = [
        (f"{_kept_words(m) if same else 'tuned'} ({m.tuned.label})" if m.tuned else "", m.tuned),
        (f"as given ({m.default.label})" if m.default else "", None if same else m.default),
        (mean, m.ensemble),
    ]
    for label, s in rows:
        if s is not None:
            table.add_row(label, f"{s.valid:.4f}", f"{s.test[metric]:.4f}", f"{s.fit_seconds:.1f}")
    return table


def _kept_words(m: ModelTuning) -> str:
    return "kept: as given" if m.passed_over is not None else "best: as given"


def _model_parts(m: ModelTuning, tuning: Tuning) -> list[Any]:
    from nncli.assess.evaluate import HIGHER_IS_BETTER

    sign = 1 if HIGHER_IS_BETTER[tuning.metric] else -1
    search = (f"{m.bag}-fold cross-fit, scored out of fold" if m.bag > 1
              else f"scored on {m.n_valid:,} validation rows")  # fmt: skip
    parts: list[Any] = [Text.assemble((m.model, "bold"), f": {_head(m)}; {search}")]
    if m.note:
        parts.append(Text(f"  {m.note}", style="yellow"))
    shown = _shown(m, sign)
    if m.trials:
        parts.append(_trials_table(m, tuning.metric, shown))
    hidden = len(m.trials) - len(shown)
    if hidden > 0:
        parts.append(Text(f"  … {hidden} more trials (--json lists every one)", style="dim"))
    if m.tuned is not None:
        parts.append(_scores_table(m, tuning.metric))
    parts += _verdicts(m)
    return parts


def _verdicts(m: ModelTuning) -> list[Text]:
    """Why the result is what it is: the best trial against the settings as given on the
    search rows (what keeps it), then on the test rows."""
    out = []
    best = m.best_searched
    if m.search_test is not None and best is not None:
        words = verdict(m.search_test, f"trial {best.number}", "as given") + _best_of_words(m)
        if m.passed_over is not None:
            out.append(Text(f"  search rows, out of fold: {words} — the settings as given "
                            "are kept", style="yellow"))  # fmt: skip
        else:
            out.append(Text(f"  search rows, out of fold: {words}"))
    if m.paired is not None:
        out.append(Text("  test rows: " + verdict(m.paired, "tuned", "as given")))
    elif m.best is not None and m.best.default and m.passed_over is None:
        out.append(Text("  the settings as given scored best: the search found nothing better"))
    return out


def _best_of_words(m: ModelTuning) -> str:
    """The best trial tested as the best of the finished trials, in words."""
    b = m.best_of
    if b is None:
        return ""
    compared = "" if b.candidates >= m.chosen_among else f", {b.candidates} compared"
    if not math.isfinite(b.p_value):
        return f"; as the best of {m.chosen_among} trials: not tested ({b.method})"
    words = "significant" if b.significant else "not significant: luck could give it"
    return (f"; as the best of {m.chosen_among} trials{compared}: "
            f"{format_p(b.p_value, b.floor)} ({b.method}), {words}")  # fmt: skip


def _best_of_json(m: ModelTuning) -> dict[str, Any] | None:
    b = m.best_of
    if b is None:
        return None
    return {"p_value": finite(b.p_value), "p": format_p(b.p_value, b.floor), "method": b.method,
            "trials": m.chosen_among, "compared": b.candidates,
            "significant": b.significant}  # fmt: skip


def tune_renderable(tuning: Tuning) -> Group:
    rows, unit = tuning.rows, "rows"
    head = Text.assemble(
        ("tune", "bold"),
        f" {tuning.source}: {rows['total']:,} {unit} ({rows['search']:,} searched on; "
        f"{rows['test']:,} test {unit}, scored once); target {tuning.schema.target!r}; "
        f"seed {tuning.seed}; {metric_label(tuning.metric)}; {tuning.elapsed:.1f} s"
        + ("; interrupted: the trials that finished" if tuning.interrupted else ""),
    )
    parts: list[Any] = [head]
    for m in tuning.models:
        parts += _model_parts(m, tuning)
    if any(m.best is not None for m in tuning.models):
        words = "Best settings (save with --save-config, use with --config):"
        parts.append(Text(words, style="bold"))
        parts.append(Text(best_toml(tuning).rstrip("\n")))
    return Group(*parts)


def _scored_json(s: Scored | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {"label": s.label, "valid": finite(s.valid), "test": finite(s.test),
            "fit_seconds": s.fit_seconds}  # fmt: skip


def _trial_json(t: TrialRow) -> dict[str, Any]:
    values = {k: list(v) if isinstance(v, tuple) else v for k, v in t.values.items()}
    value = None if t.value is None or not math.isfinite(t.value) else t.value
    return {"number": t.number, "state": t.state, "value": value, "settings": values,
            "seconds": t.seconds, "as_given": t.default, "worker": t.worker,
            "note": t.note or None, "portfolio": t.portfolio}  # fmt: skip


def _model_json(m: ModelTuning) -> dict[str, Any]:
    def tested(t: PairedTest | None, a: str) -> dict[str, Any] | None:
        if t is None:
            return None
        return {"metric": t.metric, "difference": t.difference, "low": finite(t.low),
                "high": finite(t.high), "p_value": finite(t.p_value), "method": t.method,
                "significant": t.significant, "few_rows": t.few_rows or None,
                "p": format_p(t.p_value, t.floor),
                "verdict": verdict(t, a, "as given")}  # fmt: skip

    best = m.best_searched
    search = tested(m.search_test, f"trial {best.number}" if best else "")
    listed = {k: list(v) if isinstance(v, tuple) else v for k, v in m.best_values.items()}
    return {
        "model": m.model, "study": m.study, "search_space": m.space, "fixed": m.fixed,
        "bag": m.bag, "rows_scored": m.n_valid,
        "trials": [_trial_json(t) for t in m.trials], "ran_here": m.ran_here,
        "best_trial": m.best.number if m.best else None, "best_settings": listed,
        "tuned": _scored_json(m.tuned), "as_given": _scored_json(m.default),
        "ensemble": _scored_json(m.ensemble), "paired": tested(m.paired, "tuned"),
        "search_test": search, "best_of": _best_of_json(m),
        "passed_over": m.passed_over.number if m.passed_over else None,
        "interrupted": m.interrupted, "note": m.note or None,
    }  # fmt: skip


def tune_json(tuning: Tuning, output: str | None, config_file: str | None) -> dict[str, Any]:
    best = tuning.best
    return {
        "format_version": JSON_FORMAT_VERSION, "command": "tune", "source": tuning.source,
        "sha256": tuning.sha256, "target": tuning.schema.target, "metric": tuning.metric,
        "seed": tuning.seed, "preset": tuning.preset, "rows": tuning.rows,
        "storage": tuning.storage, "elapsed_seconds": tuning.elapsed,
        "interrupted": tuning.interrupted, "models": [_model_json(m) for m in tuning.models],
        "best_model": best.model if best else None, "config_toml": best_toml(tuning),
        "output": output, "config_file": config_file,
    }  # fmt: skip
