"""Rendering for people (rich) and for machines (JSON). The only module besides cli.py
that knows about a terminal."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from nncli.learn.models import MODELS
from nncli.show.labels import METRICS, metric_label, stop_words

if TYPE_CHECKING:
    from nncli.prepare.schema import Column

JSON_FORMAT_VERSION = 1
MAX_ROWS = 200  # inspect shows every column up to this many, else the first half of it
_SEP_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe", " ": "space"}


def stdout_console() -> Console:
    """Results. Piped into a file or a log, tables get room (160 columns) unless COLUMNS
    says otherwise; in a terminal they fit its width."""
    import os

    wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(file=sys.stdout, highlight=False, soft_wrap=True, width=160 if wide else None)


def stderr_console(quiet: bool = False) -> Console:
    """Progress and warnings; in a terminal, as wide as stderr's own terminal (rich would
    ask stdin/stdout first, and fall back to 80 columns when those are redirected)."""
    import os

    width = None
    if "COLUMNS" not in os.environ and sys.stderr.isatty():
        try:
            width = os.get_terminal_size(sys.stderr.fileno()).columns
        except OSError:  # pragma: no cover - not a real terminal after all
            width = None
    return Console(file=sys.stderr, highlight=False, quiet=quiet, soft_wrap=True, width=width)


def dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, indent=2, allow_nan=False)


def _range(col: Column) -> str:
    if col.role == "sequence":
        return col.examples[0] if col.examples else ""
    if col.stats and col.stats.get("min") is not None and col.role in ("numeric", "weight"):
        return f"{col.stats['min']:.6g} … {col.stats['max']:.6g}"
    more = ", …" if col.n_unique > len(col.examples) else ""  # the most frequent values first
    return ", ".join(col.examples) + more


def _share(part: int, whole: int) -> str:
    if not part:
        return "-"
    share = part / whole
    return "<0.1%" if share < 0.001 else f"{share:.1%}"


def inspect_renderable(result: Any) -> Group:  # an api.Inspection
    schema = result.schema
    if result.sep:  # a text file; None for Parquet and DataFrames
        how = f"{_SEP_NAMES.get(result.sep, result.sep)}-separated, {result.encoding}"
    else:
        how = result.encoding or "a DataFrame"
    head = Text.assemble(
        (result.source, "bold"),
        f": {schema.n_rows:,} {row_word(schema)} × {len(schema.columns):,} columns ({how}); "
        f"{len(schema.features):,} feature(s)",
    )
    table = Table(title=None, show_edge=False, pad_edge=False, header_style="bold")
    for name, justify in [
        ("column", "left"),
        ("role", "left"),
        ("dtype", "left"),
        ("missing", "right"),
        ("unique", "right"),
        ("values", "left"),
    ]:
        table.add_column(
            name,
            justify=justify,
            overflow="ellipsis",
            no_wrap=True,
            max_width=40 if name == "values" else None,
        )
    shown = schema.columns if len(schema.columns) <= MAX_ROWS else schema.columns[: MAX_ROWS // 2]
    _column_rows(table, schema, shown)
    parts: list[Any] = [head, table]
    if schema.derived:
        parts.append(Text("derived: " + derived_words(schema), style="dim"))
    estimated = sum(c.n_unique_estimated for c in schema.columns)
    if estimated:
        parts.append(Text(
            f"≈: distinct count estimated for {estimated:,} long column(s) of mostly distinct "
            "numbers (from a hash sketch, typically within 2%; counting exactly sorts each)",
            style="dim",
        ))  # fmt: skip
    if len(shown) < len(schema.columns):
        from collections import Counter

        roles = Counter(c.role for c in schema.columns[len(shown) :])
        parts.append(
            Text(
                f"… {len(schema.columns) - len(shown):,} more columns ("
                + ", ".join(f"{n:,} {role}" for role, n in roles.most_common())
                + "); --json lists them all",
                style="dim",
            )
        )
    if schema.target:
        parts.append(_class_table(result))
    else:
        parts.append(Text(f"No target column: pass --target NAME to see the class balance"
                          f"{_target_hint(schema)}.", style="dim"))  # fmt: skip
    if schema.findings:
        parts.append(Text("Findings:", style="bold"))
        parts.extend(Text(f"  ! {f.message}", style="yellow") for f in schema.findings)
    return Group(*parts)


def _target_hint(schema: Any) -> str:
    """A likely target when none was named: the rightmost column with 2 to 20 values that
    reads as classes (categorical or boolean; whole numbers only in the last column)."""
    for position, col in enumerate(reversed(schema.columns)):
        whole = position == 0 and col.role == "numeric" and str(col.dtype).startswith("int")
        if (col.role in ("categorical", "boolean") or whole) and 2 <= (col.n_unique or 0) <= 20:
            where = "the last column, " if position == 0 else ""
            return f" (perhaps --target {col.name}: {where}{col.n_unique} values)"
    return ""


def _column_rows(table: Table, schema: Any, shown: list[Any]) -> None:
    derived = {d["name"] for d in schema.derived}
    for col in shown:
        missing = _share(col.n_missing, schema.n_rows)
        style = "dim" if not (col.is_feature or col.role == "target") else ""
        role = f"{col.role}, derived" if col.name in derived else col.role
        table.add_row(col.name, role, col.dtype, missing, _unique(col), _range(col), style=style)


def _unique(col: Any) -> str:
    """A column's distinct count; an estimated one to 3 significant digits, with ≈."""
    if not getattr(col, "n_unique_estimated", False):
        return f"{col.n_unique:,}"
    digits = max(len(str(col.n_unique)) - 3, 0)
    return f"≈{round(col.n_unique, -digits):,}"


def _class_table(result: Any) -> Table:
    schema = result.schema
    total = sum(schema.class_counts)
    table = Table(
        title=f"target {schema.target!r}: {len(schema.classes)} classes",
        title_justify="left",
        show_edge=False,
        pad_edge=False,
        header_style="bold",
    )
    table.add_column("class", overflow="ellipsis", no_wrap=True)
    table.add_column("rows", justify="right")
    table.add_column("share", justify="right")
    table.add_column("", no_wrap=True)
    for label, count in zip(schema.classes, schema.class_counts, strict=True):
        share = count / total
        table.add_row(label, f"{count:,}", f"{share:.1%}", "█" * max(1, round(share * 30)))
    return table


def inspect_json(result: Any) -> dict[str, Any]:
    return {
        "format_version": JSON_FORMAT_VERSION,
        "command": "inspect",
        "source": result.source,
        "sep": result.sep,
        "encoding": result.encoding,
        "bytes": result.n_bytes,
        "sha256": result.sha256,
        "notes": result.notes,
        "schema": result.schema.to_dict(),
    }


# ----------------------------------------------------------------- training progress

_SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int = 24) -> str:
    """A one-line chart of the last ``width`` values (lowest ▁, highest █)."""
    values = [v for v in values[-width:] if v == v]
    if not values:
        return ""
    lo, hi = min(values), max(values)
    span = hi - lo or 1.0
    return "".join(_SPARKS[min(7, int((v - lo) / span * 8))] for v in values)


class ProgressDisplay:
    """Epoch/round progress on stderr: a live bar in a terminal; elsewhere (a log file, a
    batch job) a plain line at most every :attr:`every` seconds; nothing with --quiet."""

    every = 10.0  # seconds between plain lines

    def __init__(self, console: Console, label: str, model: str | None = None) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console, self.label = console, label
        self.unit = MODELS[model or label].unit if (model or label) in MODELS else "epoch"
        self.enabled = console.is_terminal and not console.quiet
        self.plain = not console.is_terminal and not console.quiet
        self.progress = Progress(
            TextColumn(f"[bold]{label}[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[eta]}"),
            TextColumn("{task.fields[info]}"),
            console=console,
            transient=True,
            disable=not self.enabled,
        )
        self.task = self.progress.add_task(label, total=None, info="", eta="")
        self.losses: list[float] = []  # this fit's (a cross-fitted model has one per fold)
        self.last_epoch, self.fits = 0, 1
        self.started = self.last_line = time.perf_counter()
        self.fit_started: float | None = None  # when the first epoch began (status "fitting")

    def status(self, text: str, fitting: bool = False) -> None:
        """What happens before the first epoch (reading the file, then fitting): in the
        bar's text, or once as a plain line. ``fitting`` starts the clock of the ETA."""
        if fitting:
            self.fit_started = time.perf_counter()
        if not self.plain:
            self.progress.update(self.task, info=text)
        elif not fitting:  # a log gets what takes long (reading), not every step
            self.console.print(f"{self.label}: {text}", markup=False, highlight=False)

    def eta(self, record: dict[str, Any]) -> str:
        """The time left if every remaining epoch takes the mean time of those done so far:
        an upper bound, since early stopping may end it sooner."""
        total, done = record.get("epochs"), record["epoch"]
        if not total or not done or self.fit_started is None:
            return ""
        per = (time.perf_counter() - self.fit_started) / done
        return f"eta ≤ {_clock(per * max(total - done, 0))}"

    def __enter__(self) -> ProgressDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, record: dict[str, Any]) -> None:
        if self.losses and record["epoch"] <= self.last_epoch:  # the next fit (a fold) began:
            self.losses, self.fits = [], self.fits + 1  # its best epoch is its own
            self.fit_started = time.perf_counter()
        self.last_epoch = record["epoch"]
        self.losses.append(record.get("valid_loss", float("nan")))
        parts = []
        if "train_loss" in record:
            parts.append(f"train {record['train_loss']:.4f}")
        parts.append(f"valid {record['valid_loss']:.4f}")
        if "valid_accuracy" in record:
            parts.append(f"acc {record['valid_accuracy']:.3f}")
        if self.fit_started is None:  # no status said when fitting began: the first record
            self.fit_started = self.started
        if self.plain:
            self._line(record, parts)
            return
        parts.append(sparkline(self.losses))
        self.progress.update(self.task, total=record.get("epochs"), completed=record["epoch"],
                             info="  ".join(parts), eta=self.eta(record))  # fmt: skip

    def _line(self, record: dict[str, Any], parts: list[str]) -> None:
        """One plain progress line, when ``every`` seconds have passed since the last."""
        now = time.perf_counter()
        if now - self.last_line < self.every:
            return
        self.last_line = now
        unit = self.unit
        finite = [v for v in self.losses if v == v]
        best = (f"; best valid {min(finite):.4f} at {unit} {self.losses.index(min(finite)) + 1}"
                if finite else "")  # fmt: skip
        total = f"/{record['epochs']:,}" if record.get("epochs") else ""
        eta = self.eta(record)
        fit = f"fit {self.fits}, " if self.fits > 1 else ""
        self.console.print(
            f"{self.label}: {fit}{unit} {record['epoch']:,}{total}, {_clock(now - self.started)} "
            f"elapsed{', ' + eta if eta else ''}, {', '.join(parts)}{best}",
            markup=False, highlight=False,
        )  # fmt: skip


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


# ------------------------------------------------------------------- metric tables


def metrics_table(columns: dict[str, dict[str, float]]) -> Table:
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("metric")
    for name in columns:
        table.add_column(name, justify="right")
    for key in METRICS:
        table.add_row(metric_label(key), *(_num(col.get(key)) for col in columns.values()))
    return table


def _num(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.4f}"


def train_renderable(result: Any, output: str | None) -> Group:
    card, schema = result.predictor.card, result.predictor.schema
    best = ""
    if card.history:
        unit = MODELS[card.model].unit
        best = (
            f"; best {unit} {card.best_epoch} of {len(card.history)} "
            f"({stop_words(card.stop_reason)})"
        )
    rows = (f"{result.n_train:,} training {row_word(schema)}, {result.n_valid:,} validation "
            f"{row_word(schema)}")  # fmt: skip
    if bag := card.config.get("bag"):
        rows = (f"{result.n_train:,} {row_word(schema)} cross-fitted in {bag['k']} folds (valid: "
                "out of fold)")  # fmt: skip
        best = f"; first fold{best}" if best else ""
    head = Text.assemble(
        (f"{card.model}", "bold"),
        f" on {card.data.source}: {rows}; {card.n_params:,} parameters; "
        f"fit {result.fit_seconds:.2f} s{best}",
    )
    parts: list[Any] = [head, metrics_table(result.metrics)]
    from nncli.learn.models.base import still_improving

    if still_improving(card.history, card.stop_reason):
        unit = MODELS[card.model].unit
        flag = "--epochs" if unit == "epoch" else "--gbt-max-rounds"
        parts.append(Text(f"still improving: the validation loss was still falling at the last "
                          f"{unit}; more {flag} may help", style="yellow"))  # fmt: skip
    return Group(*parts)


def train_json(result: Any, output: str | None) -> dict[str, Any]:
    card = result.predictor.card
    return {
        "format_version": JSON_FORMAT_VERSION,
        "command": "train",
        "model": card.model,
        "output": output,
        "rows_train": result.n_train,
        "rows_valid": result.n_valid,
        "n_params": card.n_params,
        "fit_seconds": result.fit_seconds,
        "stop_reason": card.stop_reason,
        "history": card.history,
        "metrics": finite(result.metrics),
    }


def finite(value: Any) -> Any:
    """A copy that JSON can hold: NaN and infinities become null, numpy scalars plain."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if isinstance(value, float):
        return float(value) if value == value and abs(value) != float("inf") else None
    if hasattr(value, "item"):  # numpy scalar
        return finite(value.item())
    return value


def evaluation_renderable(ev: Any) -> Group:
    weighted = f"; metrics weighted by {ev.weight!r}" if ev.weight else ""
    head = Text(f"{ev.source}: {ev.rows:,} labelled rows; target {ev.target!r}{weighted}")
    parts: list[Any] = [head, metrics_table({"value": ev.metrics})]
    if ev.confusion_weighted is not None:  # the matrix the weighted metrics are made of
        parts.append(_confusion(ev, ev.confusion_weighted,
                                f"confusion matrix, Σ of {ev.weight!r} (rows: true, columns: "
                                "predicted; the weighted metrics' matrix)", "{:,.4g}"))  # fmt: skip
    parts.append(_confusion(ev, ev.confusion, "confusion matrix, rows counted (rows: true, "
                            "columns: predicted)" if ev.weight else "confusion matrix (rows: "
                            "true, columns: predicted)", "{:,}"))  # fmt: skip
    return Group(*parts)


def _confusion(ev: Any, matrix: list[list[Any]], title: str, fmt: str) -> Table:
    confusion = Table(title=title, title_justify="left", show_edge=False, pad_edge=False,
                      header_style="bold")  # fmt: skip
    confusion.add_column("")
    for label in ev.classes:
        confusion.add_column(label, justify="right", overflow="ellipsis", max_width=14)
    for label, row in zip(ev.classes, matrix, strict=True):
        confusion.add_row(label, *(fmt.format(n) for n in row))
    return confusion


def evaluation_json(ev: Any) -> dict[str, Any]:
    return {
        "format_version": JSON_FORMAT_VERSION,
        "command": "evaluate",
        "source": ev.source,
        "target": ev.target,
        "rows": ev.rows,
        "classes": ev.classes,
        "metrics": finite(ev.metrics),
        "confusion": ev.confusion,
        "weight": ev.weight,
        "confusion_weighted": ev.confusion_weighted,
        "unseen": ev.unseen,
        "notes": ev.notes,
    }


def info_renderable(predictor: Any) -> Group:
    card, schema = predictor.card, predictor.schema
    features, versions = schema.features, card.versions.items()
    rows = [
        ("model", f"{card.model} ({card.n_params:,} parameters)"),
        ("created", f"{card.created} with " + ", ".join(f"{k} {v}" for k, v in versions)),
        (
            "trained on",
            f"{card.data.source} ({card.data.rows_train:,} training, "
            f"{card.data.rows_valid:,} validation rows; "
            + (f"sha256 {card.data.sha256[:16]}…)" if card.data.sha256 else "sha256 unknown)"),
        ),
        ("target", f"{schema.target!r}: " + ", ".join(schema.classes)),
        (
            "features",
            f"{len(features)}: "
            + ", ".join(f"{c.name} ({c.role})" for c in features[:12])
            + (f", … ({len(features) - 12} more)" if len(features) > 12 else ""),
        ),
        ("derived", derived_words(schema) or "-"),
        ("sequences", sequence_words(schema) or "-"),
        ("id columns", ", ".join(schema.id_cols) or "-"),
        (
            "weights",
            f"{schema.weight!r}: every metric below is weighted (negative weights "
            "were left out of training)"
            if schema.weight
            else "-",
        ),
        ("seed", str(card.run.get("seed", "-"))),
        ("settings", ", ".join(f"{k}={v}" for k, v in card.config.items() if k != "bag")),
        ("stopped", stop_words(card.stop_reason)),
        ("export", export_words(predictor)),
    ]
    if bag := card.config.get("bag"):
        rows.insert(-3, ("cross-fit", bag_words(bag)))
    width = max(len(key) for key, _ in rows) + 2
    lines = [Text.assemble((key.ljust(width), "bold"), value) for key, value in rows]
    return Group(*lines, metrics_table(card.metrics))  # lines, not a grid: no padding


def bag_words(bag: dict[str, Any]) -> str:
    """A cross-fitted model's folds, and how it predicts, for ``nncli info``."""
    k, fits, col = bag["k"], bag.get("fits", bag["k"]), bag.get("fold_by")
    made = f"{k} fold models" if fits == k else f"{fits} of {k} fold models"
    how = (f"; or each row by the model that held out its fold: predict --fold-by {col}"
           if col else "")  # fmt: skip
    return f"{made}, each trained on {k - 1} of {k} folds; predicts with their mean{how}"


def row_word(schema: Any) -> str:
    """What one row is: a row, or with --group a whole group (a sequence)."""
    return "groups" if schema.sequence else "rows"


def sequence_words(schema: Any) -> str:
    """How a sequence model's rows are grouped and which columns it reads per step."""
    seq = schema.sequence
    if not seq:
        return ""
    return (f"grouped by {seq['group']!r}, ordered by {seq['order']!r}; read per step: "
            + ", ".join(seq["steps"]))  # fmt: skip


def derived_words(schema: Any) -> str:
    """The derived columns' definitions, ``name = expr; …``."""
    return "; ".join(f"{d['name']} = {d['expr']}" for d in schema.derived)


def export_words(predictor: Any) -> str:
    """Whether ``nncli export`` can write the model as an ONNX graph."""
    from nncli.deploy.build import exportable

    why = exportable(predictor)
    return f"not to ONNX: {why}" if why else "to ONNX with nncli export MODEL -o model.onnx"


def info_json(predictor: Any) -> dict[str, Any]:
    from nncli.deploy.build import exportable

    why = exportable(predictor)
    return (
        {"format_version": JSON_FORMAT_VERSION, "command": "info"}
        | predictor.card.to_manifest()
        | {"schema": predictor.schema.to_dict()}
        | {"onnx_export": {"possible": why is None, "why_not": why}}
    )


# ------------------------------------------------------------------ export


def export_lines(result: Any) -> list[str]:
    """What ``nncli export`` wrote: the graph's inputs and outputs, and the check."""
    from nncli.deploy.graph import ML_OPSET, OPSET

    lines = [f"ONNX graph {result.path} (opset {OPSET}, ai.onnx.ml {ML_OPSET})"]
    columns = [i["name"] for i in result.inputs if i["role"] != "fold"]
    names = ", ".join(columns)
    if result.flat:
        lines.append(f"  input   features [N, {len(columns)}] float32, columns in this "
                     f"order: {names}")  # fmt: skip
        lines.append(f"          categories as codes listed in {result.codes_path} "
                     "(NaN missing, -1 a value not in the list)")  # fmt: skip
    else:
        numbers = [i["name"] for i in result.inputs if i["type"] == "float32"]
        texts = [i["name"] for i in result.inputs if i["type"] == "string"]
        names = ", ".join(i["name"] for i in result.inputs if i["role"] != "fold")
        kinds = ([f"{len(numbers)} float32 (NaN missing)"] if numbers else []) + (
            [f'{len(texts)} string ("" missing; a category not seen in training counts as '
             "missing)"] if texts else [])  # fmt: skip
        lines.append(f"  inputs  one per column, [N, 1] each: {', '.join(kinds)}")
        lines.append(f"          {names}")
    if result.fold_by:
        fold = result.fold_by
        lines.append(f"          and {fold} [N, 1] int64: each row is scored by the fold "
                     f"models that did not train on its fold ({fold} mod K)")  # fmt: skip
    classes = ", ".join(result.classes)
    label = "int64 (the class's index)" if result.flat else "string"
    lines.append(f"  outputs probabilities [N, {len(result.classes)}] float32 ({classes}); "
                 f"label [N] {label}")  # fmt: skip
    if result.flat:
        lines.append(f"  operators {', '.join(result.operators)}")
    lines.append(f"  {result.check.line()}; tolerance {result.tolerance:g}")
    return lines


def export_json(result: Any) -> dict[str, Any]:
    from nncli.deploy.graph import ML_OPSET, OPSET

    return {
        "format_version": JSON_FORMAT_VERSION,
        "command": "export",
        "path": result.path,
        "opset": {"ai.onnx": OPSET, "ai.onnx.ml": ML_OPSET},
        "flat": result.flat,
        "fold_by": result.fold_by,
        "codes_path": result.codes_path,
        "inputs": result.inputs,
        "outputs": {"probabilities": ["N", len(result.classes)], "label": ["N"]},
        "classes": result.classes,
        "operators": result.operators,
        "check": result.check.to_dict() | {"tolerance": result.tolerance},
    }
