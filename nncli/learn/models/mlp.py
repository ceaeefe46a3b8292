"""The torch MLP: configurable depth, widths, activation, normalisation, dropout,
residual blocks and initialisation. Training lives in :mod:`nncli.learn.training`."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from nncli.config import ACTIVATION_NAMES, TABLES, Config, MLPConfig, RunConfig
from nncli.errors import ArtifactError, ConfigError
from nncli.learn.models.base import (
    EpochCallback,
    FitData,
    FitReport,
    Model,
    ModelState,
    available_bytes,
)
from nncli.learn.models.layers import (
    CategoricalEmbedding,
    FrontScale,
    MemberAdapter,
    MemberHeads,
    PeriodicEmbedding,
    PiecewiseLinearEmbedding,
    quantile_edges,
    tree_edges,
)
from nncli.learn.training import mean_proba, train


class Maxout(nn.Module):
    """Maxout unit (Goodfellow et al. 2013): the max over k affine pieces."""

    def __init__(self, n_in: int, n_out: int, pieces: int) -> None:
        super().__init__()
        self.n_out, self.pieces = n_out, pieces
        self.linear = nn.Linear(n_in, n_out * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.linear(x).view(*x.shape[:-1], self.n_out, self.pieces)
        return z.max(dim=-1).values


#: name → factory of a fresh activation module (one instance per layer, never shared).
#: maxout is not here: it replaces the affine layer and the activation together.
ACTIVATIONS: dict[str, Callable[[MLPConfig], nn.Module]] = {
    "relu": lambda c: nn.ReLU(),
    "leaky_relu": lambda c: nn.LeakyReLU(c.leaky_slope),
    "elu": lambda c: nn.ELU(c.elu_alpha),
    "selu": lambda c: nn.SELU(),
    "gelu": lambda c: nn.GELU(),
    "silu": lambda c: nn.SiLU(),
    "tanh": lambda c: nn.Tanh(),
    "sigmoid": lambda c: nn.Sigmoid(),
    "identity": lambda c: nn.Identity(),
}
assert set(ACTIVATIONS) | {"maxout"} == set(ACTIVATION_NAMES)

#: the init "auto" picks: He for the ReLU family, Xavier for tanh/sigmoid, LeCun for SELU
AUTO_INIT = {"tanh": "xavier", "sigmoid": "xavier", "identity": "xavier", "selu": "lecun"}


class Block(nn.Module):
    """affine → norm → activation → dropout, with an optional skip connection."""

    def __init__(self, n_in: int, n_out: int, config: MLPConfig) -> None:
        super().__init__()
        if config.activation == "maxout":
            self.affine: nn.Module = Maxout(n_in, n_out, config.maxout_pieces)
            self.act: nn.Module = nn.Identity()
        else:
            self.affine = nn.Linear(n_in, n_out)
            self.act = ACTIVATIONS[config.activation](config)
        norms: dict[str, Callable[[], nn.Module]] = {
            "none": nn.Identity, "batch": lambda: nn.BatchNorm1d(n_out),
            "layer": lambda: nn.LayerNorm(n_out),
        }  # fmt: skip
        self.norm = norms[config.norm]()
        self.drop = nn.Dropout(config.dropout) if config.dropout > 0 else nn.Identity()
        self.residual = config.residual and n_in == n_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(self.act(self.norm(self.affine(x))))
        return x + h if self.residual else h


@dataclass
class Inputs:
    """Which columns of the model matrix are what: numeric values (embedded when the
    config asks for numeric embeddings), category codes (embedded) and the rest."""

    n_in: int
    numeric: list[int] = field(default_factory=list)
    coded: list[tuple[int, int]] = field(default_factory=list)  # (column, number of codes)
    n_bins: int = 0  # ple: bins of the widest feature

    def to_dict(self) -> dict[str, Any]:
        return {"n_in": self.n_in, "numeric": self.numeric,
                "coded": [list(c) for c in self.coded], "n_bins": self.n_bins}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Inputs:
        coded = [(int(i), int(n)) for i, n in data.get("coded", [])]
        return cls(int(data["n_in"]), [int(i) for i in data.get("numeric", [])], coded,
                   int(data.get("n_bins", 0)))  # fmt: skip


class MLP(nn.Module):
    """Inputs (optionally scaled per feature and embedded), hidden blocks, then a linear
    output: 1 logit (binary, sigmoid) or K (softmax); with ``ensemble_k`` > 1, k members
    that share the blocks, each with its own adapter and head: logits [B, k, out]."""

    def __init__(
        self, n_in: int, n_classes: int, config: MLPConfig, inputs: Inputs | None = None
    ) -> None:
        super().__init__()
        inputs = inputs or Inputs(n_in)
        self.k = config.ensemble_k
        width = self._build_inputs(inputs, config)
        widths = [width, *config.hidden]
        self.blocks = nn.Sequential(*(Block(a, b, config) for a, b in itertools.pairwise(widths)))
        n_out = 1 if n_classes == 2 else n_classes
        self.adapter = MemberAdapter(self.k, width) if self.k > 1 else None
        self.out: nn.Module = (
            MemberHeads(self.k, widths[-1], n_out) if self.k > 1 else nn.Linear(widths[-1], n_out)
        )
        init_weights(self, config)

    def _build_inputs(self, inputs: Inputs, config: MLPConfig) -> int:
        """The input layers; returns the width the first block sees."""
        coded = [i for i, _ in inputs.coded]
        dense = [i for i in range(inputs.n_in) if i not in set(coded)]
        embed = config.num_embedding != "none" and bool(inputs.numeric)
        numeric = [dense.index(i) for i in inputs.numeric] if embed else []
        rest = [j for j in range(len(dense)) if j not in set(numeric)]
        for name, index in (("dense", dense), ("coded", coded), ("numeric", numeric),
                            ("rest", rest)):  # fmt: skip
            self.register_buffer(f"{name}_index", torch.tensor(index, dtype=torch.long),
                                 persistent=False)  # fmt: skip
        self.front = FrontScale(len(dense)) if config.front_scale else None
        dim = config.embedding_dim
        self.num_embed: nn.Module | None = None
        if numeric and config.num_embedding == "ple":
            self.num_embed = PiecewiseLinearEmbedding(len(numeric), inputs.n_bins, dim)
        elif numeric:
            self.num_embed = PeriodicEmbedding(len(numeric), dim, config.periodic_sigma)
        self.cat_embed = (
            CategoricalEmbedding([n for _, n in inputs.coded], dim) if inputs.coded else None
        )
        self.plain = not (coded or numeric or config.front_scale)
        return len(rest) + dim * (len(numeric) + len(coded))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The vector the first block sees.  [B, n_in] → [B, width]"""
        if self.plain:
            return x
        dense = x[:, self.dense_index]
        if self.front is not None:
            dense = self.front(dense)
        parts = [dense[:, self.rest_index]]
        if self.num_embed is not None:
            parts.append(self.num_embed(dense[:, self.numeric_index]).flatten(1))
        if self.cat_embed is not None:
            parts.append(self.cat_embed(x[:, self.coded_index]))
        return torch.cat(parts, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        if self.adapter is None:
            return self.out(self.blocks(h))
        members = self.adapter(h)  # [B, k, width]
        b, k, width = members.shape
        trunk = self.blocks(members.reshape(b * k, width))
        return self.out(trunk.reshape(b, k, -1))


def load_weights(module: nn.Module, arrays: dict[str, np.ndarray]) -> None:
    """A model file's arrays into ``module`` (all of them, exactly), ready to predict."""
    tensors = {k: torch.from_numpy(np.array(v)) for k, v in arrays.items()}
    try:
        module.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise ArtifactError(
            "the network weights in the model file do not fit its "
            f"architecture: {str(exc).splitlines()[0]}",
            "the file was altered or is corrupt; re-train the model.",
        ) from None
    module.eval()


def init_weights(model: MLP, config: MLPConfig) -> None:
    scheme = config.init
    if scheme == "torch":
        return
    if scheme == "auto":
        scheme = AUTO_INIT.get(config.activation, "he")
    for module in model.blocks.modules():
        if isinstance(module, nn.Linear):
            _init_linear(module, scheme, config)
    if isinstance(model.out, nn.Linear):  # MemberHeads start at zero themselves
        nn.init.zeros_(model.out.weight)  # a zero output layer starts every class equal
        nn.init.zeros_(model.out.bias)


def _init_linear(layer: nn.Linear, scheme: str, config: MLPConfig) -> None:
    if scheme == "he":
        slope = config.leaky_slope if config.activation == "leaky_relu" else 0.0
        nn.init.kaiming_normal_(layer.weight, a=slope, nonlinearity="leaky_relu")
    elif scheme == "xavier":
        act = config.activation if config.activation in ("tanh", "sigmoid") else "linear"
        nn.init.xavier_normal_(layer.weight, gain=nn.init.calculate_gain(act))
    elif scheme == "lecun":
        nn.init.kaiming_normal_(layer.weight, nonlinearity="linear")
    nn.init.zeros_(layer.bias)


#: the quick preset's fewest steps per epoch: its 512-row batches and 20 epochs made 20
#: steps in all on a 300-row set (AUC 0.95 → 0.97 on ionosphere, 0.65 → 0.71 on credit_g
#: with this floor)
QUICK_MIN_STEPS = 4


def quick_batches(config: MLPConfig, run: RunConfig, n_rows: int) -> MLPConfig:
    """The quick preset on a small set: batches small enough for :data:`QUICK_MIN_STEPS`
    steps per epoch (at least 32 rows), unless --batch-size was given."""
    if run.preset != "quick" or "batch_size" in config.given:
        return config
    batch = max(32, math.ceil(n_rows / QUICK_MIN_STEPS))
    if batch >= config.batch_size:
        return config
    return config.with_defaults(batch_size=batch)  # type: ignore[return-value]


#: below this many fitting rows the strong preset trains 16 members instead of 4: TabM's
#: ablation on ../shared/data (docs/benchmarks.md) — k = 16 won 12 of 16 runs on sets of
#: 200–7,000 fitting rows (median +0.0023 AUC, hypothyroid +0.10) at 3.3x the fit time,
#: which above ~10,000 rows would push the strong MLP out of compare's budget
STRONG_MANY_MEMBERS = (10_000, 16)


def strong_members(config: MLPConfig, run: RunConfig, n_rows: int) -> MLPConfig:
    """The strong preset on a small set: :data:`STRONG_MANY_MEMBERS`' members, unless
    --ensemble-k was given."""
    rows, members = STRONG_MANY_MEMBERS
    if run.preset != "strong" or "ensemble_k" in config.given or n_rows >= rows:
        return config
    return config.with_defaults(ensemble_k=members)  # type: ignore[return-value]


def estimate_bytes(n_in: int, n_classes: int, config: MLPConfig, n_rows: int) -> int:
    """Memory a training run needs: weights, gradients and two Adam moments (4 copies),
    activations of one batch (forward and backward, per ensemble member), and the data
    tensors. Numeric embeddings widen the first layer up to ``embedding_dim`` times."""
    pieces = config.maxout_pieces if config.activation == "maxout" else 1
    width = n_in * (config.embedding_dim if config.num_embedding != "none" else 1)
    widths = [width, *config.hidden]
    weights = sum((a + 1) * b * pieces for a, b in itertools.pairwise(widths))
    weights += (widths[-1] + 1) * (1 if n_classes == 2 else n_classes) * config.ensemble_k
    activations = config.batch_size * (sum(config.hidden) * pieces + width) * 4
    return 4 * (4 * weights + activations * config.ensemble_k + n_rows * (n_in + 2))


def check_memory(n_in: int, n_classes: int, config: MLPConfig, n_rows: int) -> None:
    """Refuse settings that cannot fit in memory, before anything is allocated."""
    need, have = estimate_bytes(n_in, n_classes, config, n_rows), available_bytes()
    if need > 0.8 * have:
        raise ConfigError(
            f"this MLP needs about {need / 1e9:,.1f} GB (hidden {','.join(map(str, config.hidden))}"
            f" on {n_in:,} inputs) but only {have / 1e9:,.1f} GB of memory is available",
            "use fewer or narrower --hidden layers, or a smaller --batch-size.",
        )


class MLPModel(Model):
    name = "mlp"
    config: MLPConfig

    def __init__(
        self, n_classes: int, config: Config | None = None, run: RunConfig | None = None
    ) -> None:
        super().__init__(n_classes, config or MLPConfig(), run)
        self.module: MLP | None = None
        self.inputs = Inputs(0)

    @property
    def scaler(self) -> str:
        return str(self.run.scaler or self.config.scaler)

    @property
    def max_one_hot(self) -> int | None:
        return self.config.max_one_hot  # type: ignore[no-any-return]

    def fit(
        self,
        data: FitData,
        *,
        time_limit: float | None = None,
        on_epoch: EpochCallback | None = None,
    ) -> FitReport:
        self.config = strong_members(self.config, self.run, len(data.y))
        self.config = quick_batches(self.config, self.run, len(data.y))
        check_memory(data.X.shape[1], self.n_classes, self.config, len(data.y) + len(data.y_valid))
        torch.manual_seed(self.run.seed)
        self.inputs = Inputs(data.X.shape[1], list(data.numeric_indices), list(data.coded))
        edges: list[np.ndarray] = []
        if self.config.num_embedding == "ple" and self.inputs.numeric:
            columns = data.X[:, self.inputs.numeric]
            if self.config.bin_edges == "tree":
                edges = tree_edges(columns, data.y, self.config.n_bins, self.run.seed)
            else:
                edges = quantile_edges(columns, self.config.n_bins)
            self.inputs.n_bins = max(len(e) - 1 for e in edges)
        self.module = MLP(self.inputs.n_in, self.n_classes, self.config, self.inputs)
        if isinstance(self.module.num_embed, PiecewiseLinearEmbedding):
            self.module.num_embed.set_edges(edges)
        return train(
            self.module, data, self.config, self.run, on_epoch=on_epoch, time_limit=time_limit
        )

    @torch.no_grad()
    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        assert self.module is not None
        self.module.eval()
        device = next(self.module.parameters()).device
        parts = []
        for start in range(0, len(X), 65536):
            xb = torch.from_numpy(np.ascontiguousarray(X[start : start + 65536], dtype=np.float32))
            parts.append(mean_proba(self.module(xb.to(device)).double()).cpu().numpy())
        width = () if self.n_classes == 2 else (self.n_classes,)
        p = np.concatenate(parts) if parts else np.zeros((0, *width))
        return np.column_stack([1.0 - p, p]) if self.n_classes == 2 else p

    def n_params(self) -> int:
        assert self.module is not None
        return sum(p.numel() for p in self.module.parameters())

    def state(self) -> ModelState:
        assert self.module is not None
        arrays = {k: v.detach().cpu().numpy() for k, v in self.module.state_dict().items()}
        config = {
            k: v for k, v in self.config.to_dict().items() if TABLES["mlp"].applies(k, self.name)
        }
        return ModelState(config | self.inputs.to_dict(), arrays)

    @classmethod
    def from_state(cls, state: ModelState, n_classes: int) -> MLPModel:
        config = dict(state.config)
        inputs = Inputs.from_dict(config)
        for key in inputs.to_dict():
            config.pop(key, None)
        model = cls(n_classes, MLPConfig(**config))
        model.inputs = inputs
        model.module = MLP(inputs.n_in, n_classes, model.config, inputs)
        load_weights(model.module, state.arrays)
        return model
