"""Rendering for people (rich) and for machines (JSON). The only module besides cli.py
that knows about a terminal."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from nncli.api import Inspection
    from nncli.schema import Column

JSON_FORMAT_VERSION = 1
_SEP_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe", " ": "space"}


def stdout_console() -> Console:
    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def stderr_console(quiet: bool = False) -> Console:
    return Console(file=sys.stderr, highlight=False, quiet=quiet)


def dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, indent=2, allow_nan=False)


def _range(col: Column) -> str:
    if col.stats and col.stats.get("min") is not None and col.role in ("numeric", "weight"):
        return f"{col.stats['min']:.6g} … {col.stats['max']:.6g}"
    return ", ".join(col.examples)


def _share(part: int, whole: int) -> str:
    if not part:
        return "-"
    share = part / whole
    return "<0.1%" if share < 0.001 else f"{share:.1%}"


def inspect_renderable(result: Inspection) -> Group:
    schema = result.schema
    sep = _SEP_NAMES.get(result.sep or "", result.sep or "parquet")
    head = Text.assemble(
        (result.source, "bold"),
        f": {schema.n_rows:,} rows × {len(schema.columns)} columns "
        f"({sep}-separated, {result.encoding}); "
        f"{len(schema.features)} feature(s)",
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
    for col in schema.columns:
        missing = _share(col.n_missing, schema.n_rows)
        style = "dim" if not (col.is_feature or col.role == "target") else ""
        table.add_row(
            col.name, col.role, col.dtype, missing, f"{col.n_unique:,}", _range(col), style=style
        )
    parts: list[Any] = [head, table]
    if schema.target:
        parts.append(_class_table(result))
    else:
        parts.append(
            Text("No target column: pass --target NAME to see the class balance.", style="dim")
        )
    if schema.findings:
        parts.append(Text("Findings:", style="bold"))
        parts.extend(Text(f"  ! {f.message}", style="yellow") for f in schema.findings)
    return Group(*parts)


def _class_table(result: Inspection) -> Table:
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


def inspect_json(result: Inspection) -> dict[str, Any]:
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
