"""The library API: each function is one command's work, returning data, printing nothing.

``nncli.cli`` is a thin shell over these functions; Python users call them directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nncli.config import ColumnSpec
from nncli.data import ReadOptions, Table, read_table
from nncli.schema import Schema, infer_schema


@dataclass
class Inspection:
    """What ``nncli inspect`` reports: how the file was read and its inferred schema."""

    source: str
    sep: str | None
    encoding: str
    n_bytes: int
    sha256: str
    schema: Schema
    notes: list[str] = field(default_factory=list)


def inspect(
    source: str | Path,
    *,
    read: ReadOptions | None = None,
    columns: ColumnSpec | None = None,
) -> Inspection:
    """Read ``source`` and infer its schema; the target is optional here.

    Examples
    --------
    >>> result = inspect("sample_data/physics.csv")
    >>> result.schema.target, result.schema.classes
    ('label', ['background', 'signal'])
    """
    table = read_table(source, read)
    schema = infer_schema(table.frame, columns, require_target=False)
    return _inspection(table, schema)


def _inspection(table: Table, schema: Schema) -> Inspection:
    return Inspection(
        table.source,
        table.sep,
        table.encoding,
        table.n_bytes,
        table.sha256,
        schema,
        list(table.notes),
    )
