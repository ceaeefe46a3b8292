"""A recurrent net over variable-length sequences: a GRU or LSTM reads each group's rows
in order, and a linear head classifies its last hidden state. Training is the MLP's loop
(:mod:`nncli.learn.training`: optimiser, schedule, early stopping, gradient clipping,
time budget).

Its input is the ``sequence`` preprocessing layout, a :class:`~nncli.prepare.ragged.Ragged`
of every group's steps (``step_width`` values each); a batch is packed straight from the
steps, nothing is padded, and a group longer than ``max_steps`` is read by its last (or
first) ``max_steps`` rows. Memory scales with the steps of a batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from nncli.config import MLP, MLPConfig
from nncli.learn.models.base import EpochCallback, FitData, FitReport, ModelState
from nncli.learn.models.mlp import MLPModel, load_weights
from nncli.learn.training import mean_proba, train
from nncli.prepare.ragged import Ragged, RaggedTensor

RNN_LR = 1e-2  # the learning rate when none is given (the MLP's default is 2e-3)
#: memory per step of a batch in training, for the check before training: values per
#: recurrent unit (gates, states, their gradients) and a fixed part (torch's autograd
#: keeps tensors per time step: 3.2 GB for one group of 150,000 steps, measured)
FLOATS_PER_UNIT_STEP = 16
BYTES_PER_STEP = 20_000


class RecurrentNet(nn.Module):
    """GRU/LSTM layers (optionally bidirectional) and a linear head on the final state."""

    def __init__(self, step_width: int, n_classes: int, config: MLPConfig) -> None:
        super().__init__()
        self.step_width = step_width
        cell = nn.GRU if config.cell == "gru" else nn.LSTM
        self.rnn = cell(
            step_width, config.rnn_hidden, num_layers=config.rnn_layers, batch_first=True,
            dropout=config.dropout if config.rnn_layers > 1 else 0.0,
            bidirectional=config.bidirectional,
        )  # fmt: skip
        self.directions = 2 if config.bidirectional else 1
        self.dropout = nn.Dropout(config.dropout)
        n_out = 1 if n_classes == 2 else n_classes
        self.head = nn.Linear(config.rnn_hidden * self.directions, n_out)
        self.max_steps, self.keep = config.max_steps, config.keep_steps

    def forward(self, x: RaggedTensor) -> torch.Tensor:
        packed = x.packed(self.max_steps, self.keep)
        _, state = self.rnn(packed)
        hidden = state[0] if isinstance(state, tuple) else state  # LSTM: (h, c)
        last = hidden[-self.directions :].transpose(0, 1).reshape(len(x), -1)
        return self.head(self.dropout(last))


class RNNModel(MLPModel):
    """``-m rnn``: built from the MLP's settings table (its optimiser, schedule, budget,
    dropout and clipping) plus ``cell``, ``rnn_hidden``, ``rnn_layers``, ``bidirectional``."""

    name = "rnn"
    layout = "sequence"

    def __init__(self, n_classes: int, config: Any = None, run: Any = None) -> None:
        super().__init__(n_classes, config, run)
        # measured on sample_data/sequences.csv: at the MLP's 0.002 it learns 3x slower
        self.config = self.config.with_defaults(lr=RNN_LR)

    @property
    def max_one_hot(self) -> int | None:
        return None

    def fit(
        self,
        data: FitData,
        *,
        time_limit: float | None = None,
        on_epoch: EpochCallback | None = None,
    ) -> FitReport:
        torch.manual_seed(self.run.seed)
        self.step_width = data.step_width
        self._check_memory(data.X)
        self.module = RecurrentNet(self.step_width, self.n_classes, self.config)
        return train(
            self.module, data, self.config, self.run, on_epoch=on_epoch, time_limit=time_limit
        )

    def _check_memory(self, X: Ragged) -> None:
        """Refuse, before anything is allocated, a batch of the longest groups whose
        training state would take more than half of the memory available."""
        from nncli.errors import ConfigError
        from nncli.learn.models.base import available_bytes

        c = self.config
        steps = np.sort(np.minimum(X.lengths, c.max_steps or np.inf))[::-1][: c.batch_size]
        units = c.rnn_hidden * c.rnn_layers * (2 if c.bidirectional else 1) + self.step_width
        per_step = units * FLOATS_PER_UNIT_STEP * 4 + BYTES_PER_STEP
        need, have = float(steps.sum()) * per_step, available_bytes()
        if need > 0.5 * have:
            raise ConfigError(
                f"-m rnn would need about {need / 1e9:,.1f} GB for a batch of the longest "
                f"groups ({int(steps.max()):,} rows), more than half of the "
                f"{have / 1e9:,.1f} GB available",
                "pass --max-steps N to read at most N rows of a group, or a smaller --batch-size.",
            )

    @torch.no_grad()
    def predict_proba(self, X: Ragged) -> np.ndarray:  # type: ignore[override]
        """Probabilities, in batches of at most 1,000,000 steps (memory stays bounded)."""
        assert self.module is not None
        self.module.eval()
        device = next(self.module.parameters()).device
        parts = [
            mean_proba(self.module(X[part].to_torch(device)).double()).cpu().numpy()
            for part in X.batches(1_000_000)
        ]
        width = () if self.n_classes == 2 else (self.n_classes,)
        p = np.concatenate(parts) if parts else np.zeros((0, *width))
        return np.column_stack([1.0 - p, p]) if self.n_classes == 2 else p

    def state(self) -> ModelState:
        assert self.module is not None
        arrays = {k: v.detach().cpu().numpy() for k, v in self.module.state_dict().items()}
        config = {k: v for k, v in self.config.to_dict().items() if MLP.applies(k, self.name)}
        return ModelState(config | {"step_width": self.step_width}, arrays)

    @classmethod
    def from_state(cls, state: ModelState, n_classes: int) -> RNNModel:
        config: dict[str, Any] = dict(state.config)
        step_width = int(config.pop("step_width"))
        model = cls(n_classes, MLPConfig(**config))
        model.step_width = step_width
        model.module = RecurrentNet(step_width, n_classes, model.config)
        load_weights(model.module, state.arrays)
        return model
