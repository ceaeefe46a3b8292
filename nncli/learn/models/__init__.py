"""The model registry: every model behind one interface, created by name.

Classes are imported only when a model is made, so choosing ``gbt`` never imports torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nncli.learn.models.base import Model

#: name → (module, class); the order is the order ``compare`` runs them in.
MODELS: dict[str, tuple[str, str]] = {
    "majority": ("nncli.learn.models.simple", "MajorityModel"),
    "logreg": ("nncli.learn.models.simple", "LogisticModel"),
    "fisher": ("nncli.learn.models.simple", "FisherModel"),
    "gbt": ("nncli.learn.models.gbt", "GBTModel"),
    "mlp": ("nncli.learn.models.mlp", "MLPModel"),
}


def model_class(name: str) -> type[Model]:
    module, cls = MODELS[name]
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]
