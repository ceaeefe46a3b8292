"""Assisted (derived) variables: ``--feature "NAME = EXPR"`` computed from raw columns.

Physicists feed a network the raw measurements *and* quantities derived from them (an
invariant mass, a ratio, a distance). An expression is parsed with :mod:`ast` and
walked against an allow-list — column names (backquoted when they are not identifiers),
numbers, ``+ - * / // ** %``, comparisons, ``and``/``or``/``not`` and a short list of
numpy functions — and evaluated with numpy on whole columns. The Python interpreter
never runs user text (no ``eval``, no ``exec``, no ``pandas.eval``).

Rules: a row with a missing input gets a missing value; a value that is not a finite
number (division by zero, log of a negative, an overflow) becomes missing too and is
counted, so the caller can say how many. Later definitions may use earlier ones.
The definitions are stored as text in the model's schema and computed again from the
raw columns at predict time.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nncli.errors import ConfigError, SchemaError, did_you_mean

if TYPE_CHECKING:
    import pandas as pd

MAX_CHARS = 2_000  # a definition longer than this is refused (and so is a deep one)
MAX_NODES = 500
#: bounds on all definitions together: their count, and their parts (each part is one
#: numpy operation on a whole column, so this bounds the work per row)
MAX_DEFINITIONS = 1_000
MAX_TOTAL_NODES = 20_000
MAX_FILE_BYTES = 8 * 1024**2

#: name → (numpy function, number of arguments)
FUNCTIONS: dict[str, tuple[Any, int]] = {
    "log": (np.log, 1), "log1p": (np.log1p, 1), "log10": (np.log10, 1), "exp": (np.exp, 1),
    "sqrt": (np.sqrt, 1), "abs": (np.abs, 1), "sin": (np.sin, 1), "cos": (np.cos, 1),
    "tan": (np.tan, 1), "tanh": (np.tanh, 1), "arctan": (np.arctan, 1),
    "arctan2": (np.arctan2, 2), "hypot": (np.hypot, 2), "minimum": (np.minimum, 2),
    "maximum": (np.maximum, 2), "where": (np.where, 3), "clip": (np.clip, 3),
}  # fmt: skip
BINARY = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide,
          ast.FloorDiv: np.floor_divide, ast.Pow: np.power, ast.Mod: np.mod}  # fmt: skip
COMPARE = {ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater,
           ast.GtE: np.greater_equal, ast.Eq: np.equal, ast.NotEq: np.not_equal}  # fmt: skip
#: what a refused construct is called in the error
FORBIDDEN = {ast.Attribute: "attribute access", ast.Lambda: "a lambda",
             ast.ListComp: "a comprehension", ast.SetComp: "a comprehension",
             ast.DictComp: "a comprehension", ast.GeneratorExp: "a comprehension",
             ast.Subscript: "indexing", ast.Starred: "unpacking", ast.NamedExpr: "assignment",
             ast.IfExp: "an if-expression (use where(cond, a, b))", ast.Await: "await",
             ast.Yield: "yield", ast.JoinedStr: "an f-string", ast.List: "a list",
             ast.Tuple: "a tuple", ast.Dict: "a dict", ast.Set: "a set",
             ast.keyword: "a keyword argument (pass arguments by position)"}  # fmt: skip
ALLOWED = "column names, numbers, + - * / ** %, comparisons and " + ", ".join(FUNCTIONS)
_DEFINITION = re.compile(r"^\s*(`[^`]+`|[^=<>!`]+?)\s*=(?!=)(.*)$", re.S)
_QUOTED = re.compile(r"`([^`]*)`")


class UnknownColumn(ConfigError):
    """A definition names a column the data does not have."""


@dataclass(frozen=True)
class Derived:
    """One definition: the new column's name, its expression text and the parsed tree."""

    name: str
    expr: str
    tree: ast.Expression
    columns: dict[str, str]  # identifier in the tree → column name (backquotes resolved)

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "expr": self.expr}


def _fail(text: str, why: str, hint: str | None = None) -> ConfigError:
    shown = text if len(text) <= 80 else text[:77] + "…"
    return ConfigError(f"--feature {shown!r}: {why}", hint or f"use {ALLOWED}.")


def read_file(path: str | Path) -> list[str]:
    """``--features FILE``: one definition per line; blank lines and ``#`` comments skipped."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
        lines = raw.decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read --features file {path} ({exc.__class__.__name__})",
            "pass a UTF-8 text file with one 'NAME = EXPR' per line.",
        ) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"--features file {path} is larger than {MAX_FILE_BYTES // 1024**2} MB",
                          _TOO_MANY_HINT)  # fmt: skip
    texts = [s.strip() for s in lines if s.strip() and not s.strip().startswith("#")]
    _check_count(len(texts), f"--features file {path}")
    return texts


_TOO_MANY_HINT = "keep the derived columns you need, or compute the others into the data file."


def _check_count(n: int, where: str) -> None:
    if n > MAX_DEFINITIONS:
        raise ConfigError(f"{where} holds {n:,} definitions; at most {MAX_DEFINITIONS:,} are "
                          "allowed", _TOO_MANY_HINT)  # fmt: skip


def parse(texts: Iterable[str], columns: Iterable[str]) -> list[Derived]:
    """Check every definition against the allow-list and the ``columns`` (plus earlier
    definitions); raises ConfigError (exit 2) before anything is computed."""
    texts = list(texts)
    _check_count(len(texts), "the --feature options")
    known = [str(c) for c in columns]
    seen = set(known)
    out: list[Derived] = []
    parts = 0
    for text in texts:
        name, expr = _split(text)
        if name in seen:
            raise _fail(text, f"the name {name!r} is already a column",
                        "choose a new name for the derived column.")  # fmt: skip
        tree, mapping = _parse_expr(text, expr)
        parts += _check(text, tree, mapping, known, seen)
        if parts > MAX_TOTAL_NODES:
            raise ConfigError(f"the derived columns have more than {MAX_TOTAL_NODES:,} parts "
                              "together (each part is one operation on a whole column)",
                              _TOO_MANY_HINT)  # fmt: skip
        out.append(Derived(name, expr, tree, mapping))
        known.append(name)
        seen.add(name)
    return out


def _split(text: str) -> tuple[str, str]:
    match = _DEFINITION.match(text)
    if not match or not match.group(2).strip():
        raise _fail(text, "a definition is NAME = EXPR", 'pass e.g. --feature "ratio = a / b".')
    name = match.group(1).strip().strip("`").strip()
    if not name or name.startswith("__"):
        raise _fail(text, f"{name!r} is not a usable column name", "pick a plain name.")
    return name, match.group(2).strip()


def _parse_expr(text: str, expr: str) -> tuple[ast.Expression, dict[str, str]]:
    """Backquoted names → placeholders, then :func:`ast.parse` (syntax errors with a caret)."""
    if len(expr) > MAX_CHARS:
        raise _fail(text, f"the expression is {len(expr):,} characters long (at most "
                    f"{MAX_CHARS:,})", "split it into several --feature definitions.")  # fmt: skip
    mapping: dict[str, str] = {}

    def placeholder(match: re.Match[str]) -> str:
        key = f"_nncli_q{len(mapping)}_"
        mapping[key] = match.group(1)
        return key

    source = _QUOTED.sub(placeholder, expr)
    if "`" in source:
        raise _fail(text, "a backquote is not closed", "write a column name as `my column`.")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        col = _caret_column(expr, exc.offset or 0)
        start = max(0, min(col - 40, len(expr) - 80))  # a long expression: 80 around it
        raise _fail(text, f"{exc.msg} at character {col + 1}:\n    {expr[start:start + 80]}"
                    "\n    " + " " * (col - start) + "^") from None  # fmt: skip
    except (RecursionError, MemoryError, ValueError):
        raise _fail(text, "the expression is nested too deeply", "split it up.") from None
    return tree, mapping


def _caret_column(expr: str, offset: int) -> int:
    """The position in the user's text of a 1-based offset in the parsed source (0: at
    the end; exact without backquotes, which placeholders shift a little)."""
    return len(expr) if offset <= 0 else min(offset - 1, len(expr))


def _check(
    text: str, tree: ast.Expression, mapping: dict[str, str], known: list[str], seen: set[str]
) -> int:
    """Refused constructs first (so a hostile string is named for what it is), then
    dunder names, then functions and columns (``seen``: ``known`` as a set). Returns the
    number of parts."""
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise _fail(text, f"the expression has {len(nodes):,} parts (at most {MAX_NODES})",
                    "split it into several --feature definitions.")  # fmt: skip
    for node in nodes:
        what = next((w for kind, w in FORBIDDEN.items() if isinstance(node, kind)), None)
        if what or not isinstance(node, _ALLOWED_NODES):
            raise _fail(text, f"{what or type(node).__name__} is not allowed")
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, str)):
            raise _fail(text, f"the constant {node.value!r} is not allowed")
    names = [n for n in nodes if isinstance(n, ast.Name)]
    for node in names:
        if mapping.get(node.id, node.id).startswith("__"):  # no dunder, quoted or not
            raise _fail(text, f"the name {mapping.get(node.id, node.id)!r} is not allowed "
                        "(no dunder names)")  # fmt: skip
    for node in nodes:
        if isinstance(node, ast.Call):
            _check_call(text, node)
    for node in _column_nodes(nodes):
        column = mapping.get(node.id, node.id)
        if column not in seen:
            hint = _unquoted_hint(text, known) or did_you_mean(column, known)
            raise UnknownColumn(_fail(text, f"unknown column {column!r}").message, hint)
    return len(nodes)


def _unquoted_hint(text: str, known: list[str]) -> str:
    """A hint when the text holds a column name that is not an identifier without its
    backquotes (capital-gain reads as capital minus gain)."""
    bare = _QUOTED.sub("", text.split("=", 1)[-1])
    names = [c for c in known if not c.isidentifier() and c in bare]
    if not names:
        return ""
    return (f"write `{names[0]}` in backquotes: unquoted, {names[0]!r} reads as arithmetic "
            "(in a shell, put the definition in single quotes).")  # fmt: skip


def _check_call(text: str, node: ast.Call) -> None:
    name = node.func.id if isinstance(node.func, ast.Name) else None
    if name not in FUNCTIONS:
        shown = name or ast.unparse(node.func)
        raise _fail(text, f"unknown function {shown!r}", did_you_mean(shown, FUNCTIONS, "function"))
    if node.keywords or len(node.args) != FUNCTIONS[name][1]:
        raise _fail(text, f"{name} takes {FUNCTIONS[name][1]} argument(s), by position")


def _column_nodes(nodes: list[ast.AST]) -> list[ast.Name]:
    """The names that are columns: every name but the functions called (a column may
    be called ``log`` too)."""
    called = {id(n.func) for n in nodes if isinstance(n, ast.Call)}
    return [n for n in nodes if isinstance(n, ast.Name) and id(n) not in called]


_ALLOWED_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.Name,
                  ast.Constant, ast.Call, ast.Load, ast.operator, ast.unaryop, ast.cmpop,
                  ast.boolop)  # fmt: skip


# ------------------------------------------------------------------------ evaluation


def add_columns(
    frame: pd.DataFrame, definitions: Iterable[Derived | dict[str, str]]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """``frame`` with the derived columns added (a copy; an existing column of the same
    name is replaced) and, per derived column, how many rows got no value although their
    inputs were present."""
    defs = list(definitions)
    if not defs:
        return frame, {}
    out, invalid = frame.copy(deep=False), {}
    for item in defs:  # a stored one is parsed against the columns so far: it may use earlier ones
        d = item if isinstance(item, Derived) else _stored(item, out)
        values, n_bad = evaluate(d, out)
        out[d.name] = values
        if n_bad:
            invalid[d.name] = n_bad
    return out, invalid


def _stored(d: dict[str, str], frame: pd.DataFrame) -> Derived:
    """A definition from a model file, checked against the columns of ``frame``."""
    columns = [str(c) for c in frame.columns if str(c) != d["name"]]
    try:
        return parse([f"`{d['name']}` = {d['expr']}"], columns)[0]
    except UnknownColumn as exc:
        raise SchemaError(
            f"the model computes {d['name']!r} = {d['expr']} but the data lacks a column it "
            f"uses ({exc.message.rsplit(': ', 1)[-1]})",
            "pass data with the training columns (names must match exactly).",
        ) from None


def evaluate(d: Derived, frame: pd.DataFrame) -> tuple[np.ndarray, int]:
    """The values of ``d`` on ``frame`` (float64) and how many became missing though
    their inputs were present (not a finite number)."""
    n = len(frame)
    missing = np.zeros(n, dtype=bool)
    for node in _column_nodes(list(ast.walk(d.tree))):
        missing |= frame[d.columns.get(node.id, node.id)].isna().to_numpy()
    with np.errstate(all="ignore"):
        try:
            value = _Eval(d, frame).visit(d.tree.body)
            result = np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).copy()
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"--feature '{d.name} = {d.expr}': {_type_words(exc)}",
                "use text columns only in comparisons, e.g. channel == 'ee'.",
            ) from None
    bad = ~np.isfinite(result) & ~missing
    result[missing | bad] = np.nan
    return result, int(bad.sum())


def _type_words(exc: Exception) -> str:
    return f"cannot compute it ({str(exc).splitlines()[0][:120]})"


class _Eval:
    """Walks an already checked tree; every value is a numpy array or scalar."""

    def __init__(self, d: Derived, frame: pd.DataFrame) -> None:
        self.d, self.frame = d, frame

    def visit(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            value = node.value
            return value if isinstance(value, str) else np.float64(value)
        if isinstance(node, ast.Name):
            return self._column(self.d.columns.get(node.id, node.id))
        if isinstance(node, ast.BinOp):
            return BINARY[type(node.op)](self.visit(node.left), self.visit(node.right))
        if isinstance(node, ast.UnaryOp):
            value = self.visit(node.operand)
            if isinstance(node.op, ast.Not):
                return np.logical_not(value)
            return np.negative(value) if isinstance(node.op, ast.USub) else np.positive(value)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.BoolOp):
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            values = [self.visit(v) for v in node.values]
            out = values[0]
            for v in values[1:]:
                out = combine(out, v)
            return out
        assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        return FUNCTIONS[node.func.id][0](*(self.visit(a) for a in node.args))

    def _compare(self, node: ast.Compare) -> Any:
        left, out = self.visit(node.left), None
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.visit(right_node)
            part = COMPARE[type(op)](left, right)
            out = part if out is None else np.logical_and(out, part)
            left = right
        return out

    def _column(self, name: str) -> np.ndarray:
        from nncli.prepare.preprocess import coerce_numeric

        values = self.frame[name]
        x, n_text = coerce_numeric(values)
        if values.dtype.kind in "biuf" or n_text == 0:
            return x
        return values.astype("object").to_numpy()
