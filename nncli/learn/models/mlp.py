"""The torch MLP: configurable depth, widths, activation, normalisation, dropout,
residual blocks and initialisation. Training lives in :mod:`nncli.learn.training`."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from nncli.config import ACTIVATION_NAMES, Config, MLPConfig, RunConfig
from nncli.errors import ArtifactError, ConfigError
from nncli.learn.models.base import EpochCallback, FitData, FitReport, Model, ModelState
from nncli.learn.training import train


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


class MLP(nn.Module):
    """Hidden blocks, then a linear output: 1 logit (binary, sigmoid) or K (softmax)."""

    def __init__(self, n_in: int, n_classes: int, config: MLPConfig) -> None:
        super().__init__()
        widths = [n_in, *config.hidden]
        self.blocks = nn.Sequential(*(Block(a, b, config) for a, b in itertools.pairwise(widths)))
        self.out = nn.Linear(widths[-1], 1 if n_classes == 2 else n_classes)
        init_weights(self, config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.blocks(x))


def init_weights(model: MLP, config: MLPConfig) -> None:
    scheme = config.init
    if scheme == "torch":
        return
    if scheme == "auto":
        scheme = AUTO_INIT.get(config.activation, "he")
    for module in model.blocks.modules():
        if isinstance(module, nn.Linear):
            _init_linear(module, scheme, config)
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


def estimate_bytes(n_in: int, n_classes: int, config: MLPConfig, n_rows: int) -> int:
    """Memory a training run needs: weights, gradients and two Adam moments (4 copies),
    activations of one batch (forward and backward), and the data tensors."""
    pieces = config.maxout_pieces if config.activation == "maxout" else 1
    widths = [n_in, *config.hidden]
    weights = sum((a + 1) * b * pieces for a, b in itertools.pairwise(widths))
    weights += (widths[-1] + 1) * (1 if n_classes == 2 else n_classes)
    activations = config.batch_size * sum(config.hidden) * pieces * 4
    return 4 * (4 * weights + activations + n_rows * (n_in + 2))


def available_bytes() -> int:
    """MemAvailable from /proc/meminfo, else physical memory."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    import os

    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


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
        self.n_in = 0

    @property
    def scaler(self) -> str:
        return str(self.run.scaler or self.config.scaler)

    def fit(
        self,
        data: FitData,
        *,
        time_limit: float | None = None,
        on_epoch: EpochCallback | None = None,
    ) -> FitReport:
        check_memory(data.X.shape[1], self.n_classes, self.config, len(data.y) + len(data.y_valid))
        torch.manual_seed(self.run.seed)
        self.n_in = data.X.shape[1]
        self.module = MLP(self.n_in, self.n_classes, self.config)
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
            z = self.module(xb.to(device)).double()
            p = torch.sigmoid(z[:, 0]) if z.shape[1] == 1 else torch.softmax(z, dim=1)
            parts.append(p.cpu().numpy())
        width = () if self.n_classes == 2 else (self.n_classes,)
        p = np.concatenate(parts) if parts else np.zeros((0, *width))
        return np.column_stack([1.0 - p, p]) if self.n_classes == 2 else p

    def n_params(self) -> int:
        assert self.module is not None
        return sum(p.numel() for p in self.module.parameters())

    def state(self) -> ModelState:
        assert self.module is not None
        arrays = {k: v.detach().cpu().numpy() for k, v in self.module.state_dict().items()}
        config = self.config.to_dict() | {"n_in": self.n_in}
        return ModelState(config, arrays)

    @classmethod
    def from_state(cls, state: ModelState, n_classes: int) -> MLPModel:
        config = dict(state.config)
        n_in = int(config.pop("n_in"))
        model = cls(n_classes, MLPConfig(**config))
        model.n_in = n_in
        model.module = MLP(n_in, n_classes, model.config)
        tensors = {k: torch.from_numpy(np.array(v)) for k, v in state.arrays.items()}
        try:
            model.module.load_state_dict(tensors, strict=True)
        except RuntimeError as exc:
            raise ArtifactError(
                "the network weights in the model file do not fit its "
                f"architecture: {str(exc).splitlines()[0]}",
                "the file was altered or is corrupt; re-train the model.",
            ) from None
        model.module.eval()
        return model
