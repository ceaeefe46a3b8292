"""A small ONNX graph builder: fresh names, constants, nodes, and another model's graph
inlined under a prefix (the torch exporter's MLP)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from nncli.errors import NncliError

if TYPE_CHECKING:
    import onnx

#: the opsets every exported graph declares: ONNX 17 (onnxruntime ≥ 1.13, TMVA SOFIE)
#: and ai.onnx.ml 3 (TreeEnsembleClassifier, LabelEncoder)
OPSET = 17
ML_OPSET = 3
#: IR version 8: read by onnxruntime 1.14 and later
IR_VERSION = 8
#: the packages of the ``onnx`` extra and what each is for
EXTRA = {"onnx": "graphs", "onnxruntime": "the check"}


class ExportError(NncliError):
    """A model (or a part of it) that cannot be written as an ONNX graph."""


def require() -> None:
    """The onnx extra is installed, else one clear error naming it."""
    import importlib.util

    missing = [name for name in EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        raise NncliError(
            f"nncli export needs the onnx extra, and {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not installed",
            "pip install 'nncli[onnx]' (onnx and onnxruntime).",
        )


class Graph:
    """Nodes, constants, inputs and outputs of one graph; every internal name is fresh
    (``nncli/…``), so it cannot clash with an input named after a column."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.inputs: list[Any] = []
        self.outputs: list[Any] = []
        self._count = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"nncli/{hint}_{self._count}"

    def const(self, value: Any, dtype: Any = np.float64, hint: str = "c") -> str:
        """A constant tensor (text when ``dtype`` is ``str``)."""
        from onnx import TensorProto, helper, numpy_helper

        name = self.fresh(hint)
        if dtype is str:
            values = np.asarray(value, dtype=object)
            tensor = helper.make_tensor(name, TensorProto.STRING, values.shape,
                                        [str(v).encode() for v in values.ravel()])  # fmt: skip
        else:
            tensor = numpy_helper.from_array(np.asarray(value, dtype=dtype), name)
        self.initializers.append(tensor)
        return name

    def op(self, op_type: str, *inputs: str, domain: str = "", **attrs: Any) -> str:
        """One node with one output; returns the output's name."""
        from onnx import helper

        out = self.fresh(op_type.lower())
        self.nodes.append(
            helper.make_node(op_type, list(inputs), [out], domain=domain or None, **attrs)
        )
        return out

    def input(self, name: str, elem_type: int, width: int | None = 1) -> str:
        from onnx import helper

        shape = ["N"] if width is None else ["N", width]
        self.inputs.append(helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def output(self, name: str, value: str, elem_type: int, shape: list[Any]) -> None:
        from onnx import helper

        self.nodes.append(helper.make_node("Identity", [value], [name]))
        self.outputs.append(helper.make_tensor_value_info(name, elem_type, shape))

    def inline(self, model: onnx.ModelProto, feeds: dict[str, str], prefix: str) -> list[str]:
        """Add ``model``'s graph (the torch exporter's), its inputs fed by ``feeds`` (its
        input name → a tensor here) and every other name prefixed; returns its outputs'
        new names in order."""
        graph = model.graph
        self._count += 1
        prefix = f"nncli/{prefix}{self._count}/"
        rename = dict(feeds)

        def new(name: str) -> str:
            if not name:
                return name  # an optional input left out
            if name not in rename:
                rename[name] = prefix + name
            return rename[name]

        for init in graph.initializer:
            copy = type(init)()
            copy.CopyFrom(init)
            copy.name = new(init.name)
            self.initializers.append(copy)
        for node in graph.node:
            copy = type(node)()
            copy.CopyFrom(node)
            copy.name = prefix + node.name if node.name else ""
            copy.input[:] = [new(n) for n in node.input]
            copy.output[:] = [new(n) for n in node.output]
            self.nodes.append(copy)
        return [new(o.name) for o in graph.output]

    def _used(self) -> tuple[list[Any], list[Any]]:
        """The nodes an output depends on, and the constants they read (a runtime warns
        about anything else)."""
        needed = {o.name for o in self.outputs}
        kept = []
        for node in reversed(self.nodes):
            if any(name in needed for name in node.output):
                kept.append(node)
                needed.update(node.input)
        return kept[::-1], [t for t in self.initializers if t.name in needed]

    def model(self, doc: str, metadata: dict[str, str]) -> onnx.ModelProto:
        from onnx import checker, helper

        from nncli import __version__

        nodes, initializers = self._used()
        graph = helper.make_graph(
            nodes, "nncli", self.inputs, self.outputs, initializers, doc_string=doc
        )
        model = helper.make_model(
            graph,
            opset_imports=[
                helper.make_opsetid("", OPSET),
                helper.make_opsetid("ai.onnx.ml", ML_OPSET),
            ],
            producer_name="nncli",
            producer_version=__version__,
            ir_version=IR_VERSION,
        )
        helper.set_model_props(model, metadata)
        checker.check_model(model, full_check=True)
        return model
