"""Each model kind as ONNX nodes behind its own fitted preprocessing, an ensemble as the
weighted sum of its members, and the graph's outputs.

Per member: the raw columns (shared, :class:`~nncli.deploy.inputs.Sources`) → the model
matrix exactly as :class:`~nncli.prepare.preprocess.Preprocessor` builds it (imputation,
indicators, scaling, one-hot or codes) → the model's probabilities:

- gbt: LightGBM's trees as a TreeEnsembleRegressor (:mod:`~nncli.deploy.trees`),
  categorical splits and missing values included;
- logreg, fisher: the linear scores and the sigmoid or softmax;
- mlp: the torch module through torch's ONNX exporter (every setting: activations,
  normalisation, residual blocks, embeddings, front scale, the TabM-mini members' mean);
- majority: the class shares.

The rnn reads a variable number of rows per item, which this row-in, row-out graph
cannot express: it is refused with a clear error.
"""

from __future__ import annotations

import ast
import io
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from nncli.deploy.graph import ExportError, Graph, require
from nncli.deploy.inputs import FLAT_INPUT, Sources, raw_columns

if TYPE_CHECKING:
    import onnx

    from nncli.learn.ensemble import EnsemblePredictor
    from nncli.learn.predictor import Predictor
    from nncli.prepare.preprocess import NumericState, Preprocessor

_FLOAT, _INT64, _STRING, _DOUBLE = 1, 7, 8, 11  # TensorProto element types

#: Acklam's rational approximation of the normal quantile (relative error < 1.2e-9)
_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
      1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)  # fmt: skip
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
      6.680131188771972e01, -1.328068155288572e01, 1.0)  # fmt: skip
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
      -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)  # fmt: skip
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
      3.754408661907416e00, 1.0)  # fmt: skip
_P_LOW = 0.02425


@dataclass
class Exported:
    """The graph and what a consumer needs beside it."""

    model: onnx.ModelProto
    inputs: list[dict[str, Any]]
    classes: list[str]
    flat: bool
    #: per categorical column its values in code order (every member's levels): the
    #: flat input's codes, written beside the graph with --flat
    codes: dict[str, list[str]] = field(default_factory=dict)
    #: per numeric column, values worth checking: the trees' thresholds as float32
    probes: dict[str, list[float]] = field(default_factory=dict)
    fold_by: str | None = None  # k-fold application by this (int64) input

    @property
    def operators(self) -> list[str]:
        return sorted({n.op_type for n in self.model.graph.node})

    def codes_json(self) -> dict[str, Any]:
        return {
            "input": FLAT_INPUT,
            "columns": [i["name"] for i in self.inputs if i["role"] != "fold"],
            "codes": self.codes,
            "missing": "NaN",
            "not_in_list": -1,
            "classes": self.classes,
        }


def exportable(predictor: Predictor | EnsemblePredictor) -> str | None:
    """Why the model cannot be exported, or None when it can."""
    for member in getattr(predictor, "members", [predictor]):
        if member.card.model == "rnn":
            return ("-m rnn reads a variable number of rows per item, which a graph of one "
                    "row in, one row out cannot express")  # fmt: skip
        if member.card.model == "catboost":
            return ("CatBoost's own ONNX writer leaves out models with categorical columns and "
                    "nncli does not convert its trees yet; export the gbt instead")  # fmt: skip
    return None


def build(
    predictor: Predictor | EnsemblePredictor, flat: bool = False, fold_by: str | None = None
) -> Exported:
    """The whole model as one graph: raw columns in, ``probabilities`` [N, classes]
    float32 and ``label`` out (the class name; with ``flat`` its index). With ``fold_by``
    (a model cross-fitted by that column), one more input, the column as int64, and each
    row scored by the fold models that did not train on its fold (k-fold application)."""
    require()
    why = exportable(predictor)
    if why:
        raise ExportError(f"this model cannot be exported: {why}",
                          "export a model trained with -m gbt, mlp, logreg or fisher.")  # fmt: skip
    schema = predictor.schema
    members = list(getattr(predictor, "members", [predictor]))
    weights = list(getattr(predictor, "weights", [1.0]))
    columns = raw_columns(schema)
    codes = _flat_codes(schema, members, columns)
    g = Graph()
    sources = Sources(g, schema, columns, codes if flat else None)
    row_weights = _fold_weights(g, predictor, fold_by) if fold_by else None
    parts = []
    for i, (member, weight) in enumerate(zip(members, weights, strict=True)):
        X = matrix(g, sources, member.preprocessor)
        p = g.op("Cast", model_proba(g, member, X, f"m{i}"), to=_DOUBLE)
        w = g.const(weight) if row_weights is None else row_weights[i]
        parts.append(p if len(members) == 1 and row_weights is None else g.op("Mul", p, w))
    total = parts[0] if len(parts) == 1 else g.op("Sum", *parts)
    if row_weights is not None:  # each row's weights sum to 1 again
        weight_sum = g.op("Sum", *row_weights)
        positive = g.op("Greater", weight_sum, g.const(0.0))
        total = g.op("Div", total, g.op("Where", positive, weight_sum, g.const(1.0)))
    proba = g.op("Cast", total, to=_FLOAT)
    classes = list(predictor.classes)
    g.output("probabilities", proba, _FLOAT, ["N", len(classes)])
    index = g.op("ArgMax", proba, axis=1, keepdims=0)
    if flat:
        g.output("label", index, _INT64, ["N"])
    else:
        g.output("label", g.op("Gather", g.const(classes, str), index), _STRING, ["N"])
    inputs = [{"name": c.name, "type": "float32" if flat or c.role == "numeric" else "string",
               "role": c.role} for c in columns]  # fmt: skip
    if fold_by:
        inputs.append({"name": fold_by, "type": "int64", "role": "fold"})
    metadata = {
        "nncli_model": predictor.card.model,
        "classes": ",".join(classes),
        "inputs": ",".join(c.name for c in columns),
    }
    doc = (f"nncli {predictor.card.model} model; outputs probabilities [N, {len(classes)}] "
           f"for classes {classes} and label")  # fmt: skip
    probes = _tree_thresholds(members, {c.name for c in columns})
    return Exported(g.model(doc, metadata), inputs, classes, flat, codes, probes, fold_by)


def _tree_thresholds(members: list[Predictor], inputs: set[str]) -> dict[str, list[float]]:
    """The split thresholds of every tree model, per input column, as float32 and its two
    neighbours: the values where a float32 graph and LightGBM could part."""
    from nncli.deploy.trees import numeric_thresholds

    out: dict[str, set[float]] = {}
    for member in members:
        if member.card.model != "gbt":
            continue
        names = [n.name for n in member.preprocessor.numeric]
        for j, thresholds in numeric_thresholds(member.model.booster).items():
            if j >= len(names) or names[j] not in inputs:
                continue
            for t in np.asarray(sorted(thresholds), dtype=np.float32):
                out.setdefault(names[j], set()).update(
                    float(v) for v in (t, np.nextafter(t, np.float32(np.inf)),
                                       np.nextafter(t, np.float32(-np.inf))))  # fmt: skip
    return {name: sorted(values) for name, values in out.items()}


def _fold_weights(g: Graph, predictor: Any, fold_by: str) -> list[str]:
    """Per member, each row's weight [N, 1] float64: a fold model's weight × K on the rows
    of the fold it held out (the column's value mod K) and 0 elsewhere; an unbagged
    member's weight everywhere (EnsemblePredictor.predict_proba_counted's rule)."""
    from onnx import TensorProto

    from nncli.learn.ensemble import kfold_scorer

    kfold_scorer(predictor, fold_by)  # a model not cross-fitted by a column: the same error
    k = int(predictor.bag["k"])
    event = g.input(fold_by, TensorProto.INT64)
    fold = g.op("Mod", event, g.const(k, np.int64), fmod=0)  # the sign of K: 0..K-1
    out = []
    for weight, held in zip(predictor.weights, predictor.folds, strict=True):
        if held is None:
            out.append(g.op("Expand", g.const(weight), g.op("Shape", event)))
            continue
        mine = g.op("Equal", fold, g.const(held, np.int64))
        out.append(g.op("Where", mine, g.const(weight * k), g.const(0.0)))
    return out


def _flat_codes(schema: Any, members: list[Predictor], columns: list[Any]) -> dict[str, list[str]]:
    """Per categorical column, the values a flat input codes (0, 1, …): every member's
    levels, in order of first appearance, and the values the derived columns compare with."""
    from nncli.deploy.inputs import parsed_derived

    codes: dict[str, list[str]] = {c.name: [] for c in columns if c.role != "numeric"}
    for member in members:
        for cat in member.preprocessor.categorical:
            for level in cat.levels:
                if cat.name in codes and level not in codes[cat.name]:
                    codes[cat.name].append(level)
    for d in parsed_derived(schema):
        for node in ast.walk(d.tree):
            if isinstance(node, ast.Compare):
                parts = [node.left, *node.comparators]
                names = [d.columns.get(p.id, p.id) for p in parts if isinstance(p, ast.Name)]
                texts = [p.value for p in parts if isinstance(p, ast.Constant)
                         and isinstance(p.value, str)]  # fmt: skip
                for name in names:
                    for text in texts:
                        if name in codes and text not in codes[name]:
                            codes[name].append(text)
    return codes


# ------------------------------------------------------------------ preprocessing


def matrix(g: Graph, sources: Sources, prep: Preprocessor) -> str:
    """The model matrix, float32 [N, F], as ``Preprocessor.transform`` makes it."""
    if prep.layout == "sequence":  # pragma: no cover - refused by exportable()
        raise ExportError("sequence models cannot be exported", None)
    blocks = []
    for num in prep.numeric:
        x = sources.numeric(num.name)
        if prep.layout == "native":
            blocks.append(x)
            continue
        missing = g.op("IsNaN", x)
        filled = g.op("Where", missing, g.const(num.median), x)
        blocks.append(scaled(g, filled, prep.scaler, num))
        if num.indicator:
            blocks.append(g.op("Cast", missing, to=_DOUBLE))
    for cat in prep.categorical:
        n = len(cat.levels)
        if prep.layout == "native":
            blocks.append(sources.codes(cat.name, cat.levels, math.nan, cat.boolean))
        elif prep._coded(cat):
            blocks.append(sources.codes(cat.name, cat.levels, float(n), cat.boolean))
        else:
            codes = sources.codes(cat.name, cat.levels, float(n), cat.boolean)
            slots = g.const(np.arange(n + 1, dtype=np.float64)[None, :])
            blocks.append(g.op("Cast", g.op("Equal", codes, slots), to=_DOUBLE))
    if not blocks:
        raise ExportError("the model reads no columns", "re-train it with some features.")
    joined = blocks[0] if len(blocks) == 1 else g.op("Concat", *blocks, axis=1)
    return g.op("Cast", joined, to=_FLOAT)


def scaled(g: Graph, x: str, scaler: str, num: NumericState) -> str:
    """nncli's scaling of one imputed column (float64 [N, 1])."""
    if scaler == "none":
        return x
    if scaler == "quantile":
        return _quantile_normal(g, x, np.asarray(num.quantiles, dtype=np.float64))
    z = g.op("Div", g.op("Sub", x, g.const(num.center)), g.const(num.scale))
    z = g.op("Clip", z, g.const(-1e6), g.const(1e6))
    if scaler == "robust":  # the smooth clip at ±3
        ratio = g.op("Div", z, g.const(3.0))
        root = g.op("Sqrt", g.op("Add", g.const(1.0), g.op("Mul", ratio, ratio)))
        return g.op("Div", z, root)
    return z


def _quantile_normal(g: Graph, x: str, q: np.ndarray) -> str:
    """The mid-rank of x among the training quantiles, through the normal quantile."""
    if q.size < 2 or q[0] == q[-1]:
        return g.op("Mul", x, g.const(0.0))
    levels = np.linspace(0, 1, q.size)
    up = _interp(g, x, q, levels)
    down = g.op("Neg", _interp(g, g.op("Neg", x), -q[::-1], -levels[::-1]))
    p = g.op("Mul", g.op("Add", up, down), g.const(0.5))
    p = g.op("Clip", p, g.const(1e-7), g.const(1 - 1e-7))
    return _ndtri(g, p)


def _interp(g: Graph, x: str, xp: np.ndarray, fp: np.ndarray) -> str:
    """numpy.interp(x, xp, fp) for increasing xp (ties included) on [N, 1]."""
    m = xp.size
    below = g.op("LessOrEqual", g.const(xp[None, :]), x)  # [N, m]
    count = g.op("ReduceSum", g.op("Cast", below, to=_INT64), g.const([1], np.int64), keepdims=1)
    j = g.op("Clip", g.op("Sub", count, g.const(1, np.int64)), g.const(0, np.int64),
             g.const(m - 2, np.int64))  # fmt: skip
    j1 = g.op("Add", j, g.const(1, np.int64))
    x0, x1 = g.op("Gather", g.const(xp), j), g.op("Gather", g.const(xp), j1)
    f0, f1 = g.op("Gather", g.const(fp), j), g.op("Gather", g.const(fp), j1)
    slope = g.op("Div", g.op("Sub", f1, f0), g.op("Sub", x1, x0))
    inside = g.op("Add", g.op("Mul", slope, g.op("Sub", x, x0)), f0)
    high = g.op("Where", g.op("GreaterOrEqual", x, g.const(xp[-1])), g.const(fp[-1]), inside)
    return g.op("Where", g.op("Less", x, g.const(xp[0])), g.const(fp[0]), high)


def _poly(g: Graph, coefficients: tuple[float, ...], t: str) -> str:
    """Horner's rule: c0·t^(n-1) + … + c(n-1)."""
    out = g.const(coefficients[0])
    for c in coefficients[1:]:
        out = g.op("Add", g.op("Mul", out, t), g.const(c))
    return out


def _ndtri(g: Graph, p: str) -> str:
    """The standard normal quantile of p in (0, 1) (Acklam's algorithm)."""
    q = g.op("Sub", p, g.const(0.5))
    r = g.op("Mul", q, q)
    central = g.op("Div", g.op("Mul", _poly(g, _A, r), q), _poly(g, _B, r))
    tail_p = g.op("Min", p, g.op("Sub", g.const(1.0), p))
    t = g.op("Sqrt", g.op("Mul", g.const(-2.0), g.op("Log", tail_p)))
    tail = g.op("Div", _poly(g, _C, t), _poly(g, _D, t))  # the lower tail; upper: −tail
    signed = g.op("Where", g.op("Less", p, g.const(0.5)), tail, g.op("Neg", tail))
    in_tail = g.op("Or", g.op("Less", p, g.const(_P_LOW)),
                   g.op("Greater", p, g.const(1 - _P_LOW)))  # fmt: skip
    return g.op("Where", in_tail, signed, central)


# ------------------------------------------------------------------ models


def model_proba(g: Graph, predictor: Predictor, X: str, prefix: str) -> str:
    """The member's probabilities, float32 [N, classes], from its model matrix."""
    model, k = predictor.model, len(predictor.classes)
    name = predictor.card.model
    if name == "gbt":
        from nncli.deploy.trees import tree_proba

        return tree_proba(g, model.booster, X)
    if name in ("logreg", "fisher"):
        scores = g.op("Add", g.op("MatMul", g.op("Cast", X, to=_DOUBLE),
                                  g.const(model.coef.T)), g.const(model.intercept))  # fmt: skip
        if model.coef.shape[0] == 1:
            return _binary(g, g.op("Sigmoid", scores))
        return g.op("Cast", g.op("Softmax", scores, axis=1), to=_FLOAT)
    if name == "mlp":
        return _network(g, model, X, k, prefix)
    if name == "majority":
        rows = g.op("Slice", g.op("Shape", X), g.const([0], np.int64), g.const([1], np.int64))
        shape = g.op("Concat", rows, g.const([k], np.int64), axis=0)
        return g.op("Expand", g.const(model.prior[None, :], np.float32), shape)
    raise ExportError(f"the {name} model cannot be exported", None)  # pragma: no cover


def _binary(g: Graph, p: str) -> str:
    """[N, 1] p of the second class → float32 [N, 2]."""
    p = g.op("Cast", p, to=_FLOAT)
    return g.op("Concat", g.op("Sub", g.const(1.0, np.float32), p), p, axis=1)


def _network(g: Graph, model: Any, X: str, k: int, prefix: str) -> str:
    """The torch MLP, mean of its members' probabilities, through torch's exporter."""
    import warnings

    import onnx
    import torch

    from nncli.learn.training import mean_proba

    class Probabilities(torch.nn.Module):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            p = mean_proba(self.net(x))
            return p.unsqueeze(1) if p.ndim == 1 else p

    net = model.module.cpu().eval()
    example = torch.zeros(2, model.inputs.n_in)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(Probabilities(net), (example,), buffer, dynamo=False,
                          opset_version=17, input_names=["x"], output_names=["p"],
                          dynamic_axes={"x": {0: "N"}, "p": {0: "N"}})  # fmt: skip
    (p,) = g.inline(onnx.load_from_string(buffer.getvalue()), {"x": X}, f"{prefix}mlp")
    return _binary(g, p) if k == 2 else p
