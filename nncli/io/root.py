"""ROOT files (TTrees and RNTuples) through uproot, the ``root`` extra.

``file.root:tree`` names a tree; ``file.root`` alone is its only tree (several → an
error listing them). Scalar branches become columns. A jagged branch (a variable
number of values per event) becomes its per-event aggregates, as for ``--group``
sequences: ``NAME_count``, ``NAME_mean``, ``NAME_min``, ``NAME_max``, ``NAME_first``,
``NAME_last`` (missing where an event has no value). Other branches (strings, nested or
fixed-size arrays, objects) are left out and listed. ``--branches 'jet_*,lep_pt'`` keeps
a subset (globs on branch names; the columns that must stay are kept). Reading in entry
ranges (:func:`iter_root`) keeps memory flat on any tree size.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nncli.errors import DataError, Info, NncliError, did_you_mean, short_list

if TYPE_CHECKING:
    import pandas as pd

AGGREGATES = ("count", "mean", "min", "max", "first", "last")
_SOURCE = re.compile(r"^(?P<path>.*\.root)(?::(?P<tree>[^:]+))?$", re.IGNORECASE)
MAGIC = b"root"


def is_root(name: str) -> bool:
    """``NAME.root`` or ``NAME.root:TREE`` (any case), or a file that starts as ROOT does."""
    if _SOURCE.match(name):
        return True
    if not Path(name).is_file():  # a pipe's first bytes are not ours to read
        return False
    try:
        with open(name, "rb") as fh:
            return fh.read(4) == MAGIC
    except OSError:
        return False


def split_source(name: str) -> tuple[str, str | None]:
    """(path, tree or None) of ``file.root[:tree]``."""
    match = _SOURCE.match(name)
    if match is None:
        return name, None
    return match["path"], match["tree"]


def _uproot() -> Any:
    try:
        import uproot
    except ImportError:
        raise NncliError(
            "reading ROOT files needs the root extra, and uproot is not installed",
            "pip install 'nncli[root]'.",
        ) from None
    return uproot


def open_tree(name: str) -> Any:
    """The TTree (or RNTuple) ``name`` names, with one clear error for each way it fails."""
    uproot = _uproot()
    path, tree = split_source(name)
    if not Path(path).is_file():
        raise DataError(f"file not found: {path}", "check the path.")
    with open(path, "rb") as fh:
        if fh.read(4) != MAGIC:
            raise DataError(
                f"{path} is not a ROOT file (it does not start as one)",
                "pass a ROOT file, or name a CSV or Parquet file without .root.",
            )
    try:
        handle = uproot.open(path)
        trees = _trees(handle)
    except (OSError, ValueError, KeyError, uproot.deserialization.DeserializationError) as exc:
        raise DataError(
            f"{path} is not a readable ROOT file ({str(exc).splitlines()[0][:120]})",
            "pass a ROOT file written completely (a truncated or damaged file cannot be read).",
        ) from None
    if not trees:
        raise DataError(f"{path} holds no TTree", "pass a ROOT file with a tree of events.")
    if tree is None:
        if len(trees) > 1:
            raise DataError(
                f"{path} holds {len(trees)} trees: {short_list(trees)}",
                f"name one: {path}:{trees[0]}",
            )
        tree = trees[0]
    if tree not in trees:
        raise DataError(f"{path} has no tree {tree!r}", did_you_mean(tree, trees, "tree"))
    return handle[tree]


def _trees(handle: Any) -> list[str]:
    """The names of the trees (TTree, RNTuple) in a file, without cycle numbers."""
    names = []
    for key, cls in handle.classnames().items():
        if cls == "TTree" or cls.endswith("RNTuple"):
            bare = key.rsplit(";", 1)[0]
            if bare not in names:
                names.append(bare)
    return names


def branch_plan(
    tree: Any, keep: list[str] | None = None, always: tuple[str, ...] = ()
) -> tuple[list[str], list[str], list[str]]:
    """(scalar branches, jagged branches, left-out branches) of ``tree``; ``keep`` globs
    select branches (the ``always`` ones are kept whatever they say)."""
    scalar, jagged, other = [], [], []
    for name in tree.keys():
        kind = _kind(tree[name])
        {"scalar": scalar, "jagged": jagged}.get(kind, other).append(name)
    if keep:
        unmatched = [g for g in keep if not any(fnmatch.fnmatchcase(b, g)
                                                 for b in scalar + jagged)]  # fmt: skip
        if unmatched:
            raise DataError(
                f"--branches {unmatched[0]!r} matches no branch of the tree",
                did_you_mean(unmatched[0], scalar + jagged, "branch"),
            )

        def wanted(b: str) -> bool:
            return b in always or any(fnmatch.fnmatchcase(b, g) for g in keep)

        scalar, jagged = [b for b in scalar if wanted(b)], [b for b in jagged if wanted(b)]
    return scalar, jagged, other


_NUMBER_TYPES = re.compile(r"^(std::)?(u?int(8|16|32|64)_t|float|double|bool)$")


def _kind(branch: Any) -> str:
    """scalar, jagged or other: from a TTree branch's interpretation, or an RNTuple
    field's C++ type."""
    from uproot.interpretation.jagged import AsJagged
    from uproot.interpretation.numerical import AsDtype

    interpretation = getattr(branch, "interpretation", None)
    if interpretation is not None:
        if isinstance(interpretation, AsDtype) and interpretation.inner_shape == ():
            return "scalar"
        content = getattr(interpretation, "content", None)
        if isinstance(interpretation, AsJagged) and isinstance(content, AsDtype) \
                and content.inner_shape == ():  # fmt: skip
            return "jagged"
        return "other"
    typename = str(getattr(branch, "typename", ""))
    if _NUMBER_TYPES.match(typename):
        return "scalar"
    inner = re.match(r"^std::vector<(.*)>$", typename)
    return "jagged" if inner and _NUMBER_TYPES.match(inner[1]) else "other"


def _frame(arrays: Any, scalar: list[str], jagged: list[str]) -> pd.DataFrame:
    """One frame of an entry range: the scalar branches as columns, the jagged ones as
    their aggregates."""
    import awkward as ak
    import pandas as pd

    data: dict[str, Any] = {}
    for name in scalar:
        values = ak.to_numpy(arrays[name])
        data[name] = values.astype(np.int64) if values.dtype.kind in "iu" else values
    for name in jagged:
        values = ak.values_astype(arrays[name], np.float64)
        count = ak.to_numpy(ak.num(values, axis=1))
        data[f"{name}_count"] = count.astype(np.int64)
        for agg, fn in (("mean", ak.mean), ("min", ak.min), ("max", ak.max)):
            data[f"{name}_{agg}"] = ak.to_numpy(ak.fill_none(fn(values, axis=1), np.nan))
        first = ak.firsts(values, axis=1)
        last = ak.firsts(values[:, ::-1], axis=1)
        data[f"{name}_first"] = ak.to_numpy(ak.fill_none(first, np.nan))
        data[f"{name}_last"] = ak.to_numpy(ak.fill_none(last, np.nan))
    return pd.DataFrame(data)


def read_root(name: str, keep: list[str] | None = None, always: tuple[str, ...] = ()) -> tuple[
    pd.DataFrame, list[str]
]:  # fmt: skip
    """The whole tree as a frame, and notes (branches left out, aggregates made)."""
    tree = open_tree(name)
    scalar, jagged, other = branch_plan(tree, keep, always)
    if not scalar and not jagged:
        raise DataError(f"{name} has no branch of numbers to read",
                        "nncli reads scalar and jagged numeric branches.")  # fmt: skip
    arrays = _read(tree, scalar + jagged, name)
    return _frame(arrays, scalar, jagged), _notes(name, jagged, other)


def _notes(name: str, jagged: list[str], other: list[str]) -> list[str]:
    notes = []
    if jagged:
        notes.append(Info(f"{name}: jagged branch(es) {short_list(jagged, 6)} read as "
                          f"per-event {', '.join(AGGREGATES)}"))  # fmt: skip
    if other:
        notes.append(f"{name}: branch(es) {short_list(other, 6)} left out (not numbers, or "
                     "nested or fixed-size arrays)")  # fmt: skip
    return notes


def _read(tree: Any, branches: list[str], name: str, **kw: Any) -> Any:
    try:
        return tree.arrays(branches, library="ak", **kw)
    except (OSError, ValueError) as exc:
        raise DataError(
            f"cannot read {name} ({str(exc).splitlines()[0][:120]})",
            "the file may be truncated or damaged.",
        ) from None


def iter_root(name: str, chunk_rows: int, keep: list[str] | None = None,
              always: tuple[str, ...] = ()) -> Iterator[pd.DataFrame]:  # fmt: skip
    """The tree in entry ranges of ``chunk_rows``: memory stays flat."""
    tree = open_tree(name)
    scalar, jagged, _ = branch_plan(tree, keep, always)
    total = tree.num_entries
    for start in range(0, total, chunk_rows):
        arrays = _read(tree, scalar + jagged, name, entry_start=start,
                       entry_stop=min(start + chunk_rows, total))  # fmt: skip
        yield _frame(arrays, scalar, jagged)


class ScoreWriter:
    """A tree of scores, one entry per input entry, in order: ``proba_<class>`` (float32)
    per class and ``label`` (int32, the predicted class's index; the title names them),
    so that ROOT reads it as a friend of the input tree. Written in entry ranges."""

    def __init__(self, fh: Any, tree: str, classes: list[str]) -> None:
        uproot = _uproot()
        self.classes = classes
        self.names = branch_names(classes)
        self.file = uproot.recreate(fh)
        codes = ", ".join(f"{i}={c}" for i, c in enumerate(classes))
        types = {name: np.float32 for name in self.names} | {"label": np.int32}
        self.tree = self.file.mktree(tree, types, title=f"nncli scores; label: {codes}")

    def extend(self, proba: np.ndarray) -> None:
        data = {name: proba[:, k].astype(np.float32) for k, name in enumerate(self.names)}
        self.tree.extend(data | {"label": proba.argmax(axis=1).astype(np.int32)})

    def close(self) -> None:
        self.file.close()


def branch_names(classes: list[str]) -> list[str]:
    """``proba_<class>`` with every character a branch name cannot hold as ``_`` (and a
    number appended where two classes would clash)."""
    names: list[str] = []
    for c in classes:
        name = "proba_" + re.sub(r"[^A-Za-z0-9_]", "_", c)
        while name in names:
            name += "_"
        names.append(name)
    return names
