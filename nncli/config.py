"""Typed, frozen configuration objects; validated on construction.

The CLI and the Python API build the same objects, so both get the same errors.
"""

from __future__ import annotations

from dataclasses import dataclass

from nncli.errors import ConfigError


@dataclass(frozen=True)
class ColumnSpec:
    """Which columns play which part: the target, ID columns, event weights, dropped ones."""

    target: str | None = None
    id_cols: tuple[str, ...] = ()
    weight: str | None = None
    drop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        named = [c for c in (self.target, self.weight) if c] + list(self.id_cols) + list(self.drop)
        repeated = sorted({c for c in named if named.count(c) > 1})
        if repeated:
            raise ConfigError(
                f"column {repeated[0]!r} is given more than one part "
                "(--target, --id-col, --weight, --drop)",
                "name each column in at most one of these options.",
            )
