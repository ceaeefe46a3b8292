"""The layers that make an MLP competitive on tables (see docs in mlp-for-tabular):

- :class:`FrontScale`: a learnable per-feature diagonal scaling of the inputs (RealMLP's
  "front scale", soft feature selection);
- :class:`PiecewiseLinearEmbedding`: each numeric feature as a linear embedding plus a
  piecewise-linear encoding over quantile bins that starts at zero (Gorishniy et al. 2022;
  the TabM paper's "version B");
- :class:`PeriodicEmbedding`: cos(2π·w·x + b) features mixed by a linear map, with x
  itself kept (PBLD, as in RealMLP);
- :class:`CategoricalEmbedding`: a learned vector per category code;
- :class:`MemberAdapter` and :class:`MemberHeads`: TabM-mini, k members sharing the trunk,
  each with its own multiplicative adapter before the first layer and its own head.

Each layer is plain torch; shapes are in the docstrings.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


class FrontScale(nn.Module):
    """x · s with one learnable s per input feature, initialised to 1.  [B, F] → [B, F]"""

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(n_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def quantile_edges(x: np.ndarray, n_bins: int) -> list[np.ndarray]:
    """Bin edges per column from training values: distinct quantiles, NaN/inf ignored.

    A constant or empty column gets a single edge (no bins): its piecewise-linear part
    is then empty and only the linear embedding remains.
    """
    edges = []
    for j in range(x.shape[1]):
        column = x[:, j][np.isfinite(x[:, j])]
        if column.size == 0:
            edges.append(np.zeros(1))
            continue
        quantiles = np.quantile(column, np.linspace(0.0, 1.0, n_bins + 1))
        edges.append(np.unique(quantiles))
    return edges


def tree_edges(x: np.ndarray, y: np.ndarray, n_bins: int, seed: int = 0) -> list[np.ndarray]:
    """Bin edges per column where a decision tree on that column alone splits the target
    (Gorishniy et al. 2022, "target-aware" bins), plus the column's min and max.

    Quantiles waste bins on a spike (a column that is 0 in 90% of rows gets one or two
    bins above it); a tree puts its ``n_bins`` leaves where the class changes. Same
    conventions as :func:`quantile_edges`: NaN/inf ignored, one edge for a constant or
    empty column.
    """
    from sklearn.tree import DecisionTreeClassifier

    edges = []
    for j in range(x.shape[1]):
        finite = np.isfinite(x[:, j])
        column = x[finite, j]
        if column.size == 0 or column.min() == column.max():
            edges.append(np.zeros(1) if column.size == 0 else column[:1].astype(np.float64))
            continue
        tree = DecisionTreeClassifier(
            max_leaf_nodes=n_bins, min_samples_leaf=min(64, max(1, column.size // (2 * n_bins))),
            random_state=seed,
        )  # fmt: skip
        tree.fit(column[:, None], y[finite])
        cuts = tree.tree_.threshold[tree.tree_.feature >= 0]
        edges.append(np.unique(np.concatenate([cuts, [column.min(), column.max()]])))
    return edges


class PiecewiseLinearEmbedding(nn.Module):
    """Per numeric feature: a linear embedding plus W·PLE(x), the PLE part starting at 0.

    PLE(x)_t = clamp((x − e_t) / (e_{t+1} − e_t), 0, 1) for the bins between the edges
    (the first and last bins open-ended), so every feature maps to ``dim`` values. The
    edges are buffers, set from training data by :meth:`set_edges` and saved with the
    weights.  [B, N] → [B, N, dim]
    """

    def __init__(self, n_features: int, n_bins: int, dim: int) -> None:
        super().__init__()
        shape = (n_features, max(n_bins, 1))
        self.register_buffer("left", torch.zeros(shape))
        self.register_buffer("width", torch.ones(shape))
        self.register_buffer("mask", torch.zeros(shape))
        self.linear_weight = nn.Parameter(torch.empty(n_features, dim).uniform_(-1.0, 1.0))
        self.linear_bias = nn.Parameter(torch.zeros(n_features, dim))
        self.ple_weight = nn.Parameter(torch.zeros(*shape, dim))  # starts at zero

    def set_edges(self, edges: list[np.ndarray]) -> None:
        """Bins from :func:`quantile_edges`; a feature with fewer bins is padded (masked)."""
        left, width, mask = (torch.zeros_like(self.left) for _ in range(3))
        width += 1.0
        for j, e in enumerate(edges):
            k = min(len(e) - 1, left.shape[1])
            if k >= 1:
                left[j, :k] = torch.from_numpy(e[:k].astype(np.float32))
                width[j, :k] = torch.from_numpy(np.maximum(np.diff(e)[:k], 1e-9).astype(np.float32))
                mask[j, :k] = 1.0
        self.left.copy_(left)
        self.width.copy_(width)
        self.mask.copy_(mask)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The piecewise-linear encoding.  [B, N] → [B, N, bins]"""
        t = (x.unsqueeze(-1) - self.left) / self.width
        lower, upper = self._bounds()
        return torch.minimum(torch.maximum(t, lower), upper) * self.mask

    def _bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per feature and bin [N, bins], broadcast over the batch: 0..1, except the first
        bin (open to the left) and each feature's last real bin (open to the right)."""
        lower = torch.zeros_like(self.mask)
        lower[:, 0] = -math.inf
        last = self.mask.sum(dim=1).long().clamp_min(1) - 1
        open_right = torch.arange(self.mask.shape[1], device=self.mask.device) == last[:, None]
        upper = torch.where(open_right, math.inf, 1.0).to(self.mask.dtype)
        return lower, upper

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        linear = x.unsqueeze(-1) * self.linear_weight + self.linear_bias
        return linear + torch.einsum("bnt,ntd->bnd", self.encode(x), self.ple_weight)


class PeriodicEmbedding(nn.Module):
    """PBLD: [x, Linear(cos(2π·w·x + b))] per feature, w ~ N(0, σ), b ~ U(−π, π).
    [B, N] → [B, N, dim]"""

    def __init__(self, n_features: int, dim: int, sigma: float, n_frequencies: int = 16) -> None:
        super().__init__()
        self.frequencies = nn.Parameter(torch.randn(n_features, n_frequencies) * sigma)
        phases = torch.empty(n_features, n_frequencies).uniform_(-math.pi, math.pi)
        self.phases = nn.Parameter(phases)
        self.weight = nn.Parameter(
            torch.randn(n_features, n_frequencies, dim - 1) / math.sqrt(n_frequencies)
        )
        self.bias = nn.Parameter(torch.zeros(n_features, dim - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        angles = 2 * math.pi * x.unsqueeze(-1) * self.frequencies + self.phases
        mixed = torch.einsum("bnf,nfd->bnd", torch.cos(angles), self.weight) + self.bias
        return torch.cat([x.unsqueeze(-1), mixed], dim=-1)


class CategoricalEmbedding(nn.Module):
    """One learned ``dim``-vector per code of each coded categorical column.
    [B, C] (codes as floats) → [B, C·dim]"""

    def __init__(self, sizes: list[int], dim: int) -> None:
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(n, dim) for n in sizes)
        for table in self.tables:
            nn.init.normal_(table.weight, std=1.0 / math.sqrt(dim))

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        index = codes.long()
        return torch.cat([t(index[:, i]) for i, t in enumerate(self.tables)], dim=-1)


class MemberAdapter(nn.Module):
    """TabM-mini's adapters: member i sees x · r_i, r_i initialised to random ±1.
    [B, D] → [B, k, D]"""

    def __init__(self, k: int, n_features: int) -> None:
        super().__init__()
        signs = torch.randint(0, 2, (k, n_features)).float() * 2 - 1
        self.r = nn.Parameter(signs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1) * self.r


class MemberHeads(nn.Module):
    """One linear head per member.  [B, k, D] → [B, k, out]"""

    def __init__(self, k: int, n_in: int, n_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(k, n_in, n_out))  # zero: every class equal
        self.bias = nn.Parameter(torch.zeros(k, n_out))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bkd,kdo->bko", h, self.weight) + self.bias
