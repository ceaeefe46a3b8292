"""Samples from several files, TMVA style: ``--sample CLASS=PATH[*WEIGHT]``.

Each file (ROOT, CSV or Parquet) holds the events of one class, optionally weighted by
a per-file factor (cross-section × luminosity / generated events). The rows are put
together with a target column made from the class names; the per-file weight is
multiplied into the event-weight column (``--weight COL``), or becomes the weight column
``weight`` when none is named. Columns not in every file are left out and listed. The
frame carries its provenance (paths, weights, entries, SHA-256) for the model card.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nncli.errors import ConfigError, DataError, short_list

if TYPE_CHECKING:
    import pandas as pd

    from nncli.io.data import ReadOptions

_SPEC = re.compile(r"^(?P<label>[^=]+)=(?P<source>.+?)(?:\*(?P<weight>[^*:]+))?$")
#: the target column made from the class names, when --target does not name one
TARGET = "class"
WEIGHT = "weight"


@dataclass(frozen=True)
class Sample:
    label: str
    source: str
    weight: float = 1.0


def parse(text: str) -> Sample:
    """``signal=sig.root:tree``, ``background=ttbar.root:tree*0.83``."""
    match = _SPEC.match(text.strip())
    if match is None:
        raise ConfigError(f"--sample {text!r} is not CLASS=PATH or CLASS=PATH*WEIGHT",
                          "e.g. --sample signal=sig.root:events --sample "
                          "background=ttbar.root:events*0.83.")  # fmt: skip
    weight = 1.0
    if match["weight"] is not None:
        try:
            weight = float(match["weight"])
        except ValueError:
            weight = math.nan
        if not math.isfinite(weight) or weight <= 0:
            raise ConfigError(f"--sample {text!r}: the weight after * must be a number above 0",
                              "e.g. background=ttbar.root:events*0.83.")  # fmt: skip
    return Sample(match["label"].strip(), match["source"].strip(), weight)


def read_samples(
    texts: list[str], read: ReadOptions | None, target: str | None, weight: str | None
) -> tuple[pd.DataFrame, str, str | None, list[str]]:
    """The rows of every sample, with the target (and weight) columns; the target's and
    weight's names, and notes."""
    import pandas as pd

    from nncli.io.data import read_table

    samples = [parse(t) for t in texts]
    if len({s.label for s in samples}) < 2:
        raise ConfigError(
            "--sample needs at least two classes (e.g. signal and background)",
            "pass one --sample CLASS=PATH per file, with two or more classes.",
        )
    tables = [read_table(s.source, read) for s in samples]
    target = target or TARGET
    common = [c for c in tables[0].frame.columns
              if all(c in t.frame.columns for t in tables[1:])]  # fmt: skip
    notes = [n for t in tables for n in t.notes]
    for s, t in zip(samples, tables, strict=True):
        if target in t.frame.columns:
            raise DataError(f"{s.source} already has a column {target!r}, the target --sample "
                            "makes from the class names",
                            "pass --target NAME to name the target column otherwise.")  # fmt: skip
        if weight is not None and weight not in t.frame.columns:
            raise DataError(f"--weight column {weight!r} is not in {s.source}",
                            "every sample file needs the event-weight column.")  # fmt: skip
        dropped = [c for c in t.frame.columns if c not in common]
        if dropped:
            notes.append(f"{s.source}: column(s) {short_list(dropped, 8)} left out: not in "
                         "every sample file")  # fmt: skip
    weighted = weight or (WEIGHT if any(s.weight != 1.0 for s in samples) else None)
    if weight is None and weighted in common:
        raise DataError(
            f"the sample files have a column {WEIGHT!r}, and per-file weights were given",
            f"pass --weight {WEIGHT} to multiply them into it.",
        )
    parts = []
    for s, t in zip(samples, tables, strict=True):
        part = t.frame[common].copy()
        part[target] = s.label
        if weighted is not None:
            base = part[weighted].astype("float64") if weight else 1.0
            part[weighted] = base * s.weight
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    frame.attrs["nncli_samples"] = provenance(samples, tables)
    return frame, target, weighted, notes


def provenance(samples: list[Sample], tables: list[Any]) -> dict[str, Any]:
    """What the model card records: each sample's class, source, weight, entries and the
    SHA-256 of its file; one SHA-256 over them all."""
    items = [{"class": s.label, "source": s.source, "weight": s.weight,
              "entries": len(t.frame), "sha256": t.sha256}
             for s, t in zip(samples, tables, strict=True)]  # fmt: skip
    digest = hashlib.sha256("\n".join(f"{i['class']}={i['source']}*{i['weight']!r}:{i['sha256']}"
                                      for i in items).encode()).hexdigest()  # fmt: skip
    name = "samples: " + ", ".join(f"{i['class']}={i['source']}"
                                   + (f"*{i['weight']:g}" if i["weight"] != 1 else "")
                                   for i in items)  # fmt: skip
    return {"source": name, "sha256": digest, "samples": items}
