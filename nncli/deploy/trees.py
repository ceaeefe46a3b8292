"""LightGBM's trees as ai.onnx.ml's TreeEnsembleRegressor, with LightGBM's own rules.

Written from the booster's JSON dump rather than through onnxmltools, which rounds each
threshold to the nearest float32 (a float32 value between the two then goes the wrong
way) and writes LightGBM's ±1e-35 "zero" thresholds as 0. The rules kept here:

- LightGBM reads values within ±1e-35 of zero as zero (kZeroThreshold), so does the graph;
- a numeric split sends x left when x <= t in float64; for float32 x that is
  x <= t32, the largest float32 not above t (exact, every x);
- missing values: "NaN" splits send NaN the default way; "None" splits read NaN as 0;
  "Zero" splits (only with zero_as_missing, which nncli never sets) are refused;
- a categorical split sends x left when it is one of the split's categories: a chain of
  BRANCH_EQ nodes; NaN (and a negative code) always goes right (measured on LightGBM 4:
  NaN scores as -1 does, not as category 0, whatever the split's missing type);
- the raw scores (one per class, or one for a binary objective) are summed by the
  ensemble and turned into probabilities by the sigmoid or softmax, in float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nncli.deploy.graph import ExportError, Graph

_DOUBLE, _FLOAT = 11, 1
#: LightGBM reads a value within ±this of 0 as 0 (its kZeroThreshold)
K_ZERO = 1.0000000180025095e-35


class _Nodes:
    """The flat node lists of one TreeEnsembleRegressor."""

    def __init__(self) -> None:
        self.attrs: dict[str, list[Any]] = {k: [] for k in (
            "nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values",
            "nodes_modes", "nodes_truenodeids", "nodes_falsenodeids",
            "nodes_missing_value_tracks_true", "target_treeids", "target_nodeids",
            "target_ids", "target_weights")}  # fmt: skip
        self._next = 0

    def new_id(self) -> int:
        self._next += 1
        return self._next - 1

    def branch(self, tree: int, node: int, feature: int, value: float, mode: str,
               true: int, false: int, missing_true: bool) -> None:  # fmt: skip
        a = self.attrs
        a["nodes_treeids"].append(tree)
        a["nodes_nodeids"].append(node)
        a["nodes_featureids"].append(feature)
        a["nodes_values"].append(value)
        a["nodes_modes"].append(mode)
        a["nodes_truenodeids"].append(true)
        a["nodes_falsenodeids"].append(false)
        a["nodes_missing_value_tracks_true"].append(int(missing_true))

    def sorted(self) -> dict[str, list[Any]]:
        """The lists in (tree, node) order, which onnxruntime expects."""
        a = self.attrs
        out = {}
        order = sorted(range(len(a["nodes_nodeids"])),
                       key=lambda i: (a["nodes_treeids"][i], a["nodes_nodeids"][i]))  # fmt: skip
        for key, values in a.items():
            if key.startswith("nodes_"):
                out[key] = [values[i] for i in order]
        leaves = sorted(range(len(a["target_nodeids"])),
                        key=lambda i: (a["target_treeids"][i], a["target_nodeids"][i]))  # fmt: skip
        for key, values in a.items():
            if key.startswith("target_"):
                out[key] = [values[i] for i in leaves]
        return out

    def leaf(self, tree: int, node: int, target: int, value: float) -> None:
        self.branch(tree, node, 0, 0.0, "LEAF", 0, 0, False)
        a = self.attrs
        a["target_treeids"].append(tree)
        a["target_nodeids"].append(node)
        a["target_ids"].append(target)
        a["target_weights"].append(value)


def float32_at_or_below(t: float) -> float:
    """The largest float32 not above t: x <= t and x <= this agree for every float32 x."""
    r = np.float32(t)
    if float(r) > t:
        r = np.nextafter(r, np.float32(-np.inf))
    return float(r)


def numeric_thresholds(booster: Any) -> dict[int, set[float]]:
    """Per feature index, the thresholds of its numeric splits (float64, as LightGBM
    holds them)."""
    out: dict[int, set[float]] = {}
    stack = [tree["tree_structure"] for tree in booster.dump_model()["tree_info"]]
    while stack:
        node = stack.pop()
        if "split_feature" not in node:
            continue
        if node["decision_type"] == "<=":
            out.setdefault(int(node["split_feature"]), set()).add(float(node["threshold"]))
        stack += [node["left_child"], node["right_child"]]
    return out


def tree_proba(g: Graph, booster: Any, X: str) -> str:
    """Probabilities float32 [N, classes] of a LightGBM booster on X float32 [N, F]."""
    dump = booster.dump_model()
    per_iteration = int(dump["num_tree_per_iteration"])
    nodes = _Nodes()
    for tree_index, tree in enumerate(dump["tree_info"]):
        nodes._next = 0
        _add(nodes, tree_index, tree["tree_structure"], tree_index % per_iteration)
    a = nodes.sorted()
    zero = g.op("LessOrEqual", g.op("Abs", X), g.const(K_ZERO, np.float32))
    X = g.op("Where", zero, g.const(0.0, np.float32), X)
    raw = g.op("TreeEnsembleRegressor", X, domain="ai.onnx.ml", n_targets=per_iteration,
               aggregate_function="SUM", post_transform="NONE",
               base_values=[0.0] * per_iteration, **a)  # fmt: skip
    raw = g.op("Cast", raw, to=_DOUBLE)
    objective = str(dump.get("objective", "")).split()
    if per_iteration == 1:
        if not objective or objective[0] != "binary":
            raise ExportError(f"LightGBM objective {' '.join(objective)!r} is not exported",
                              "re-train with nncli (binary or multiclass).")  # fmt: skip
        scale = next((float(o.split(":")[1]) for o in objective if o.startswith("sigmoid:")), 1.0)
        p = g.op("Sigmoid", g.op("Mul", raw, g.const(scale)))
        p = g.op("Cast", p, to=_FLOAT)
        return g.op("Concat", g.op("Sub", g.const(1.0, np.float32), p), p, axis=1)
    return g.op("Cast", g.op("Softmax", raw, axis=1), to=_FLOAT)


def _add(nodes: _Nodes, tree: int, node: dict[str, Any], target: int) -> int:
    """Add ``node`` and its subtree; returns its id."""
    me = nodes.new_id()
    if "split_feature" not in node:
        nodes.leaf(tree, me, target, float(node["leaf_value"]))
        return me
    feature, missing = int(node["split_feature"]), node.get("missing_type", "None")
    if missing == "Zero":
        raise ExportError(
            "this LightGBM model treats zeros as missing (zero_as_missing), which the "
            "export does not write", "re-train the model with nncli's own settings.",
        )  # fmt: skip
    if node["decision_type"] == "<=":
        t = float(node["threshold"])
        nan_left = bool(node["default_left"]) if missing == "NaN" else 0.0 <= t
        # ids are taken before the children's so that this node's entry can name them
        left_id = _add(nodes, tree, node["left_child"], target)
        right_id = _add(nodes, tree, node["right_child"], target)
        nodes.branch(tree, me, feature, float32_at_or_below(t), "BRANCH_LEQ", left_id,
                     right_id, nan_left)  # fmt: skip
        return me
    categories = [int(c) for c in str(node["threshold"]).split("||")]
    left_id = _add(nodes, tree, node["left_child"], target)
    right_id = _add(nodes, tree, node["right_child"], target)
    chain = [me] + [nodes.new_id() for _ in categories[1:]]
    for i, category in enumerate(categories):
        false = chain[i + 1] if i + 1 < len(chain) else right_id
        nodes.branch(tree, chain[i], feature, float(category), "BRANCH_EQ", left_id, false,
                     False)  # fmt: skip
    return me
