"""nncli: tabular classification from the command line and from Python.

The public API is imported lazily, so ``import nncli`` (and ``nncli --help``) stays
fast::

    import nncli
    result = nncli.train("sample_data/physics.csv", model="gbt")
    result.save("physics.nncli")
    model = nncli.load("physics.nncli")
    proba = model.predict_proba(frame)        # one column per class in model.classes

Entry points (each also a command; docs/python.md has the whole story):

- ``inspect(source)``: the schema nncli infers, and its findings
- ``train(source, model=...)``: one fitted model (``.save(path)``)
- ``compare(source)``: every model on the same rows, with intervals and tests
- ``tune(source, options=TuneOptions(models=("gbt",)))``: the settings searched with
  Optuna (the tune extra), the best scored once on held-out rows
- ``load(path)``: a saved model, with ``predict_proba``, ``predict`` and ``card``
- ``predict(model, source, output)``, ``evaluate(model, source)``
- ``export(model, output)``: the model as one ONNX graph, checked (the onnx extra)
- ``MLPClassifier``: the MLP as a scikit-learn estimator
- ``read_table``, ``infer_schema``, ``Predictor``: the reader, the schema, a model
- ``NncliError``, ``ExitCode``: the errors nncli raises and the CLI's exit codes
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from nncli.errors import ExitCode, NncliError  # noqa: E402

_LAZY = {
    "inspect": "nncli.api", "train": "nncli.api", "load": "nncli.api", "predict": "nncli.api",
    "evaluate": "nncli.api", "compare": "nncli.api", "export": "nncli.api", "tune": "nncli.api",
    "read_table": "nncli.io.data",
    "infer_schema": "nncli.prepare.schema", "MLPClassifier": "nncli.learn.estimator",
    "Predictor": "nncli.learn.predictor",
}  # fmt: skip

__all__ = ["ExitCode", "NncliError", "__version__", *_LAZY]


#: the functions whose errors speak Python here (the CLI calls nncli.api directly)
_PYTHON_PHRASED = {"inspect", "train", "load", "predict", "evaluate", "compare", "export", "tune"}


def __dir__() -> list[str]:
    """The public names too, though imported only when first used (tab completion, help)."""
    return sorted({*(n for n in globals() if n.startswith("__")), *__all__})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        return _python_errors(value) if name in _PYTHON_PHRASED else value
    raise AttributeError(f"module 'nncli' has no attribute {name!r}")


def _python_errors(function: Any) -> Any:
    """``function`` with its errors' hints phrased for Python (``target=``, not --target)."""
    import functools

    from nncli.errors import for_python

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except NncliError as exc:
            raise for_python(exc) from None

    return wrapper
