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
    "infer_schema": "nncli.learn.schema", "MLPClassifier": "nncli.learn.estimator",
    "Predictor": "nncli.learn.predictor",
}  # fmt: skip

__all__ = ["ExitCode", "NncliError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nncli' has no attribute {name!r}")
