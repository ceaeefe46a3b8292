"""The graph's inputs and the derived columns computed from them.

Two kinds of input (``nncli export --flat`` picks the second):

- one input per raw column, ``[N, 1]``: float32 for numbers (NaN where missing), text
  for categorical and boolean columns ("" where missing);
- one float32 input ``features`` ``[N, R]`` with the raw columns in order, categories as
  integer codes into a list written beside the graph (-1 or NaN: missing or unseen).

Inside the graph every number is float64, as in nncli's own preprocessing; ±inf is
missing, as when nncli reads a file. Derived ``--feature`` columns map their
allow-listed operators onto ONNX operators with nncli's rules: a missing input or a
result that is not a finite number gives a missing value.
"""

from __future__ import annotations

import ast
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from nncli.deploy.graph import ExportError, Graph

if TYPE_CHECKING:
    from nncli.prepare.derived import Derived
    from nncli.prepare.schema import Column, Schema

FLAT_INPUT = "features"


def parsed_derived(schema: Schema) -> list[Derived]:
    """The schema's derived definitions, parsed as at predict time (each may use the raw
    columns and the definitions before it)."""
    from nncli.prepare.derived import parse

    known = [c.name for c in schema.columns]
    out: list[Derived] = []
    for d in schema.derived:
        names = [c for c in known if c != d["name"]] + [e.name for e in out]
        out.append(parse([f"`{d['name']}` = {d['expr']}"], names)[0])
    return out


def raw_columns(schema: Schema) -> list[Column]:
    """The columns the graph reads: the features that are not derived, and the raw
    columns the derived ones use, in the schema's order."""
    definitions = parsed_derived(schema)
    derived = {d.name for d in definitions}
    used = {c.name for c in schema.features if c.name not in derived}
    for d in definitions:
        used |= set(d.columns.values()) | {n.id for n in ast.walk(d.tree)
                                           if isinstance(n, ast.Name) and n.id not in
                                           d.columns and not _is_function(d.tree, n)}  # fmt: skip
    used -= derived
    return [c for c in schema.columns if c.name in used]


def _is_function(tree: ast.Expression, name: ast.Name) -> bool:
    return any(isinstance(n, ast.Call) and n.func is name for n in ast.walk(tree))


class Sources:
    """Per raw column: its numbers (float64 [N, 1], NaN where missing) or its category
    codes, built once and shared by every member of an ensemble."""

    def __init__(self, g: Graph, schema: Schema, columns: list[Column],
                 flat_levels: dict[str, list[str]] | None) -> None:  # fmt: skip
        """``columns``: the graph's inputs (:func:`raw_columns`), in order."""
        from onnx import TensorProto

        self.g, self.schema = g, schema
        self.columns = {c.name: c for c in columns}
        self.flat_levels = flat_levels
        self._numeric: dict[str, str] = {}
        self._derived: dict[str, str] = {}
        if flat_levels is None:
            for c in self.columns.values():
                kind = TensorProto.FLOAT if c.role == "numeric" else TensorProto.STRING
                g.input(c.name, kind)
        else:
            g.input(FLAT_INPUT, TensorProto.FLOAT, len(self.columns))
        definitions = parsed_derived(schema)
        if definitions:  # [N, 1]: what a constant derived column expands to
            self.rows = g.op("Shape", self._first())
        for d in definitions:
            self._derived[d.name] = DerivedGraph(self, d).build()

    def _first(self) -> str:
        if self.flat_levels is not None:
            return self._flat(0)
        first = next(iter(self.columns.values()), None)
        if first is None:
            raise ExportError("the model reads no columns", "re-train it with some features.")
        return first.name

    def _flat(self, j: int) -> str:
        """Column j of the flat input, [N, 1] float32."""
        return self.g.op("Gather", FLAT_INPUT, self.g.const([j], np.int64), axis=1)

    def role(self, name: str) -> str:
        if name in self._derived:
            return "numeric"
        return self.columns[name].role

    def numeric(self, name: str) -> str:
        """float64 [N, 1]: the column's numbers, ±inf and missing as NaN."""
        if name in self._derived:
            return self._derived[name]
        if name not in self._numeric:
            g = self.g
            if self.role(name) != "numeric":
                raise ExportError(
                    f"the model uses the {self.role(name)} column {name!r} as a number",
                    "a derived column may compare a text column with a quoted value only.",
                )
            x = self._flat(self._index(name)) if self.flat_levels is not None else name
            x = g.op("Cast", x, to=_DOUBLE)
            self._numeric[name] = g.op("Where", g.op("IsInf", x), g.const(math.nan), x)
        return self._numeric[name]

    def _index(self, name: str) -> int:
        return list(self.columns).index(name)

    def codes(self, name: str, levels: list[str], default: float, any_case: bool = False) -> str:
        """float64 [N, 1]: each value's index in ``levels``, or ``default`` for a value
        that is missing or not among them; with ``any_case`` (a boolean column, whose
        levels are lower case) in any spelling of upper and lower case."""
        g = self.g
        if self.flat_levels is not None:
            flat = self.flat_levels[name]
            table = [float(levels.index(v)) if v in levels else default for v in flat]
            return self._lookup(name, [*table, default])
        keys, values = [], []
        for i, level in enumerate(levels):
            spellings = _spellings(level) if any_case else [level]
            keys += spellings
            values += [float(i)] * len(spellings)
        return g.op("Cast", g.op("LabelEncoder", name, domain="ai.onnx.ml",
                                 keys_strings=keys or [""], values_floats=values or [default],
                                 default_float=default), to=_DOUBLE)  # fmt: skip

    def _lookup(self, name: str, table: list[float]) -> str:
        """A flat code through ``table`` (its last entry for -1, NaN or any code that is
        not a whole number in range)."""
        g = self.g
        c = g.op("Cast", self._flat(self._index(name)), to=_DOUBLE)
        n = len(table) - 1
        bad = g.op("Or", g.op("IsNaN", c), g.op("Or", g.op("Less", c, g.const(0.0)),
                   g.op("Or", g.op("GreaterOrEqual", c, g.const(float(n))),
                        g.op("Not", g.op("Equal", c, g.op("Floor", c))))))  # fmt: skip
        index = g.op("Cast", g.op("Where", bad, g.const(float(n)), c), to=_INT64)
        return g.op("Gather", g.const(table), index)

    def missing(self, name: str) -> str:
        """bool [N, 1]: the column's value is missing (a text column's value is "")."""
        g = self.g
        if self.role(name) == "numeric":
            return g.op("IsNaN", self.numeric(name))
        if self.flat_levels is not None:  # NaN is missing; -1 a value not in the list
            return g.op("IsNaN", self._flat(self._index(name)))
        empty = g.op("LabelEncoder", name, domain="ai.onnx.ml", keys_strings=[""],
                     values_floats=[1.0], default_float=0.0)  # fmt: skip
        return g.op("Cast", empty, to=_BOOL)

    def equals(self, name: str, text: str) -> str:
        """bool [N, 1]: a text column's value is ``text`` (exactly, as nncli compares)."""
        return self.g.op("Equal", self.codes(name, [text], -1.0), self.g.const(0.0))


_DOUBLE, _INT64, _BOOL = 11, 7, 9  # TensorProto.DOUBLE, INT64, BOOL


def _spellings(level: str) -> list[str]:
    """Every mix of upper and lower case of a short level ("true": 16 spellings); of a
    longer one its lower, upper and title case. A table, not StringNormalizer, which
    needs a system locale that many machines lack."""
    import itertools

    if len(level) > 6:
        return list(dict.fromkeys([level, level.upper(), level.title()]))
    pairs = [(c.lower(), c.upper()) if c.lower() != c.upper() else (c,) for c in level]
    return ["".join(p) for p in itertools.product(*pairs)]


class DerivedGraph:
    """One derived column's expression as nodes (float64 [N, 1])."""

    UNARY = {"log": "Log", "exp": "Exp", "sqrt": "Sqrt", "abs": "Abs", "sin": "Sin",
             "cos": "Cos", "tanh": "Tanh"}  # fmt: skip
    COMPARE = {ast.Lt: "Less", ast.LtE: "LessOrEqual", ast.Gt: "Greater",
               ast.GtE: "GreaterOrEqual", ast.Eq: "Equal", ast.NotEq: "Equal"}  # fmt: skip

    def __init__(self, sources: Sources, d: Derived) -> None:
        self.s, self.g, self.d = sources, sources.g, d

    def build(self) -> str:
        g = self.g
        value = self._number(self.visit(self.d.tree.body))
        value = g.op("Expand", value, self.s.rows)
        missing = None
        for name in sorted({self._column(n.id) for n in ast.walk(self.d.tree)
                            if isinstance(n, ast.Name) and not self._called(n)}):  # fmt: skip
            m = self.s.missing(name)
            missing = m if missing is None else g.op("Or", missing, m)
        bad = g.op("Or", g.op("IsNaN", value), g.op("IsInf", value))
        if missing is not None:
            bad = g.op("Or", bad, missing)
        return g.op("Where", bad, g.const(math.nan), value)

    def _called(self, name: ast.Name) -> bool:
        return _is_function(self.d.tree, name)

    def _column(self, identifier: str) -> str:
        return self.d.columns.get(identifier, identifier)

    def _fail(self, what: str) -> ExportError:
        return ExportError(
            f"cannot export the derived column {self.d.name!r} = {self.d.expr}: {what}",
            "compute that column into the data file before training, then export again.",
        )

    def _number(self, value: Any) -> str:
        """A value as float64 numbers (a comparison's truth as 0/1)."""
        if isinstance(value, _Text | _TextColumn):
            raise self._fail("it uses text where a number is needed")
        if isinstance(value, _Bool):
            return self.g.op("Cast", value.name, to=_DOUBLE)
        return str(value)

    def _truth(self, value: Any) -> str:
        """bool: numpy's truth of a value (any non-zero number, NaN included)."""
        if isinstance(value, _Bool):
            return value.name
        return self.g.op("Not", self.g.op("Equal", self._number(value), self.g.const(0.0)))

    def visit(self, node: ast.AST) -> Any:
        g = self.g
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                return _Text(node.value)
            return g.const(float(node.value))
        if isinstance(node, ast.Name):
            name = self._column(node.id)
            if self.s.role(name) != "numeric":
                return _TextColumn(name)
            return self.s.numeric(name)
        if isinstance(node, ast.BinOp):
            return self._binary(node.op, self._number(self.visit(node.left)),
                                self._number(self.visit(node.right)))  # fmt: skip
        if isinstance(node, ast.UnaryOp):
            value = self.visit(node.operand)
            if isinstance(node.op, ast.Not):
                return _Bool(g.op("Not", self._truth(value)))
            x = self._number(value)
            return g.op("Neg", x) if isinstance(node.op, ast.USub) else x
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.BoolOp):
            combine = "And" if isinstance(node.op, ast.And) else "Or"
            parts = [self._truth(self.visit(v)) for v in node.values]
            out = parts[0]
            for part in parts[1:]:
                out = g.op(combine, out, part)
            return _Bool(out)
        assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        return self._call(node.func.id, [self.visit(a) for a in node.args])

    def _binary(self, op: ast.operator, a: str, b: str) -> str:
        g = self.g
        simple = {ast.Add: "Add", ast.Sub: "Sub", ast.Mult: "Mul", ast.Div: "Div",
                  ast.Pow: "Pow"}  # fmt: skip
        if type(op) in simple:
            return g.op(simple[type(op)], a, b)
        floor = g.op("Floor", g.op("Div", a, b))
        if isinstance(op, ast.FloorDiv):
            return floor
        return g.op("Sub", a, g.op("Mul", floor, b))  # ast.Mod: the sign of the divisor

    def _compare(self, node: ast.Compare) -> _Bool:
        g = self.g
        left, out = self.visit(node.left), None
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.visit(right_node)
            text = [v for v in (left, right) if isinstance(v, _Text | _TextColumn)]
            if text:
                part = self._text_compare(op, left, right)
            else:
                part = g.op(self.COMPARE[type(op)], self._number(left), self._number(right))
                if isinstance(op, ast.NotEq):
                    part = g.op("Not", part)
            out = part if out is None else g.op("And", out, part)
            left = right
        assert out is not None
        return _Bool(out)

    def _text_compare(self, op: ast.cmpop, left: Any, right: Any) -> str:
        pair = (left, right) if isinstance(left, _TextColumn) else (right, left)
        column, text = pair
        if not (isinstance(column, _TextColumn) and isinstance(text, _Text)) or not isinstance(
            op, ast.Eq | ast.NotEq
        ):
            raise self._fail("only == and != between a text column and a quoted value export")
        same = self.s.equals(column.name, text.value)
        return self.g.op("Not", same) if isinstance(op, ast.NotEq) else same

    def _call(self, name: str, args: list[Any]) -> Any:
        g = self.g
        if name == "where":
            return g.op("Where", self._truth(args[0]), self._number(args[1]),
                        self._number(args[2]))  # fmt: skip
        x = [self._number(a) for a in args]
        if name in self.UNARY:
            return g.op(self.UNARY[name], x[0])
        if name == "log1p":
            return g.op("Log", g.op("Add", x[0], g.const(1.0)))
        if name == "log10":
            return g.op("Div", g.op("Log", x[0]), g.const(math.log(10.0)))
        if name == "tan":
            return g.op("Div", g.op("Sin", x[0]), g.op("Cos", x[0]))
        if name == "arctan":
            return self._atan(x[0])
        if name == "hypot":
            return g.op("Sqrt", g.op("Add", g.op("Mul", x[0], x[0]), g.op("Mul", x[1], x[1])))
        if name in ("minimum", "maximum"):
            return self._nan_safe("Min" if name == "minimum" else "Max", x[0], x[1])
        if name == "clip":
            return self._nan_safe("Min", self._nan_safe("Max", x[0], x[1]), x[2])
        assert name == "arctan2", name
        return self._atan2(x[0], x[1])

    def _nan_safe(self, op: str, a: str, b: str) -> str:
        """Min/Max that propagate NaN, as numpy's minimum/maximum do."""
        g = self.g
        either = g.op("Or", g.op("IsNaN", a), g.op("IsNaN", b))
        return g.op("Where", either, g.const(math.nan), g.op(op, a, b))

    def _atan(self, x: str) -> str:
        """onnxruntime has Atan in float32 only: computed there, read back as float64."""
        g = self.g
        return g.op("Cast", g.op("Atan", g.op("Cast", x, to=1)), to=_DOUBLE)

    def _atan2(self, y: str, x: str) -> str:
        """numpy's arctan2: atan(y/x), shifted by ±π when x < 0, ±π/2 when x = 0."""
        g = self.g
        zero = g.const(0.0)
        base = self._atan(g.op("Div", y, x))
        shift = g.op("Where", g.op("Less", y, zero), g.const(-math.pi), g.const(math.pi))
        shifted = g.op("Where", g.op("Less", x, zero), g.op("Add", base, shift), base)
        both_zero = g.op("And", g.op("Equal", x, zero), g.op("Equal", y, zero))
        x_neg_zero = g.op("Where", g.op("Less", x, zero), g.const(math.pi), zero)
        return g.op("Where", both_zero, x_neg_zero, shifted)


class _Text:
    def __init__(self, value: str) -> None:
        self.value = value


class _TextColumn:
    def __init__(self, name: str) -> None:
        self.name = name


class _Bool:
    def __init__(self, name: str) -> None:
        self.name = name
