"""nncli: tabular classification from the command line and from Python.

The public API is imported lazily, so ``import nncli`` (and ``nncli --help``) stays
fast::

    import nncli
    result = nncli.train("sample_data/physics.csv", model="gbt")
    result.save("physics.nncli")
    model = nncli.load("physics.nncli")
    proba = model.predict_proba(frame)        # one column per class in model.classes
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from nncli.errors import ExitCode, NncliError  # noqa: E402

_LAZY = {
    "inspect": "nncli.api", "train": "nncli.api", "load": "nncli.api", "predict": "nncli.api",
    "evaluate": "nncli.api", "compare": "nncli.api", "read_table": "nncli.io.data",
    "infer_schema": "nncli.prepare.schema", "MLPClassifier": "nncli.learn.estimator",
    "Predictor": "nncli.learn.predictor",
}  # fmt: skip

__all__ = ["ExitCode", "NncliError", "__version__", *_LAZY]


#: the functions whose errors speak Python here (the CLI calls nncli.api directly)
_PYTHON_PHRASED = {"inspect", "train", "load", "predict", "evaluate", "compare"}


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
