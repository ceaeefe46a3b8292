"""A recurrent net over variable-length sequences: a GRU or LSTM reads each group's rows
in order (packed, so padding costs nothing and changes nothing), and a linear head
classifies its last hidden state. Training is the MLP's loop (:mod:`nncli.learn.training`:
optimiser, schedule, early stopping, gradient clipping, time budget).

Input rows come from the ``sequence`` preprocessing layout: ``[length, step 1, step 2,
…]`` with ``step_width`` values per step, padded with zeros to the longest group.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from nncli.config import MLPConfig
from nncli.learn.models.base import EpochCallback, FitData, FitReport, ModelState
from nncli.learn.models.mlp import MLPModel, load_weights
from nncli.learn.training import train

RNN_LR = 1e-2  # the learning rate when none is given (the MLP's default is 2e-3)
#: the MLP-table settings a recurrent net uses (its model card lists only these)
RNN_SETTINGS = (
    "cell", "rnn_hidden", "rnn_layers", "bidirectional", "dropout", "clip_grad", "optimizer",
    "momentum", "lr", "weight_decay", "schedule", "beta2", "warmup", "epochs", "batch_size",
    "patience", "label_smoothing", "scaler", "restore_best",
)  # fmt: skip


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lengths = x[:, 0].long().clamp_min(1)
        longest = int(lengths.max()) if len(x) else 1
        steps = x[:, 1 : 1 + longest * self.step_width].reshape(len(x), longest, self.step_width)
        packed = pack_padded_sequence(steps, lengths.cpu(), batch_first=True, enforce_sorted=False)
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
        self.module = RecurrentNet(self.step_width, self.n_classes, self.config)
        return train(
            self.module, data, self.config, self.run, on_epoch=on_epoch, time_limit=time_limit
        )

    def state(self) -> ModelState:
        assert self.module is not None
        arrays = {k: v.detach().cpu().numpy() for k, v in self.module.state_dict().items()}
        config = {k: v for k, v in self.config.to_dict().items() if k in RNN_SETTINGS}
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
