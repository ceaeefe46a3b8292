"""Variable-length sequences without padding: every group's steps in one array.

A :class:`Ragged` holds the steps of all groups, one after another, as ``values``
(total steps × width) and where each group starts as ``offsets`` (groups + 1), so its
memory is that of the rows read, however long the longest group. The recurrent net
reads a batch of it as a :class:`~torch.nn.utils.rnn.PackedSequence` built directly
from the steps (:meth:`RaggedTensor.packed`), again without padding: memory scales
with the steps in the batch, not with the longest group × the number of groups.

Numpy here; torch is imported only by :class:`RaggedTensor`'s methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch
    from torch.nn.utils.rnn import PackedSequence


def _gather(offsets: Any, index: Any, xp: Any) -> tuple[Any, Any]:
    """(positions of the selected groups' steps, their new offsets); ``xp`` is numpy or
    torch, so one formula serves both."""
    starts, lengths = offsets[:-1][index], (offsets[1:] - offsets[:-1])[index]
    new = xp.zeros(len(lengths) + 1, dtype=offsets.dtype, **_device(offsets, xp))
    new[1:] = xp.cumsum(lengths, 0)
    shift = _repeat(starts - new[:-1], lengths, xp)
    return xp.arange(int(new[-1]), **_device(offsets, xp)) + shift, new


def _device(array: Any, xp: Any) -> dict[str, Any]:
    return {} if xp is np else {"device": array.device}


def _repeat(values: Any, counts: Any, xp: Any) -> Any:
    return np.repeat(values, counts) if xp is np else xp.repeat_interleave(values, counts)


@dataclass
class Ragged:
    """Groups of steps: ``values`` (steps × width, float32) and ``offsets`` (int64)."""

    values: np.ndarray
    offsets: np.ndarray

    @classmethod
    def from_lengths(cls, values: np.ndarray, lengths: np.ndarray) -> Ragged:
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return cls(np.ascontiguousarray(values, dtype=np.float32), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def width(self) -> int:
        return int(self.values.shape[1])

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes + self.offsets.nbytes)

    def __getitem__(self, index: slice | np.ndarray) -> Ragged:
        if isinstance(index, slice):
            lo, hi, _ = index.indices(len(self))
            hi = max(lo, hi)
            part = self.offsets[lo : hi + 1]
            return Ragged(self.values[part[0] : part[-1]], part - part[0])
        rows, offsets = _gather(self.offsets, np.asarray(index), np)
        return Ragged(self.values[rows], offsets)

    def batches(self, max_steps: int) -> list[slice]:
        """Consecutive groups of at most ``max_steps`` steps (at least one group each),
        so that predicting holds a bounded part of the data at a time."""
        out, start = [], 0
        ends = self.offsets[1:]
        while start < len(self):
            stop = int(np.searchsorted(ends, self.offsets[start] + max_steps, side="right"))
            stop = max(stop, start + 1)
            out.append(slice(start, stop))
            start = stop
        return out

    def to_torch(self, device: Any = None) -> RaggedTensor:
        import torch

        return RaggedTensor(torch.from_numpy(self.values).to(device),
                            torch.from_numpy(self.offsets).to(device))  # fmt: skip


@dataclass
class RaggedTensor:
    """A :class:`Ragged` on a torch device, indexed like the training loop's tensors."""

    values: torch.Tensor
    offsets: torch.Tensor

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def device(self) -> torch.device:
        return self.values.device

    def __getitem__(self, index: slice | torch.Tensor) -> RaggedTensor:
        import torch

        if isinstance(index, slice):
            lo, hi, _ = index.indices(len(self))
            part = self.offsets[lo : max(lo, hi) + 1]
            return RaggedTensor(self.values[part[0] : part[-1]], part - part[0])
        rows, offsets = _gather(self.offsets, index, torch)
        return RaggedTensor(self.values[rows], offsets)

    def packed(self, max_steps: int | None = None, keep: str = "last") -> PackedSequence:
        """The groups as a PackedSequence, built from the steps without padding; each
        group cut to its first or last ``max_steps`` steps."""
        import torch
        from torch.nn.utils.rnn import PackedSequence

        starts, lengths = self.offsets[:-1], (self.offsets[1:] - self.offsets[:-1]).clamp_min(1)
        if max_steps is not None:
            cut = (lengths - max_steps).clamp_min(0)
            starts = starts + cut if keep == "last" else starts
            lengths = lengths - cut
        order = torch.argsort(lengths, descending=True, stable=True)
        sorted_len = lengths[order]
        longest = int(sorted_len[0]) if len(sorted_len) else 0
        # batch_sizes[t]: the groups with more than t steps (sorted longest first)
        counts = torch.bincount(sorted_len, minlength=longest + 1)
        batch_sizes = len(sorted_len) - torch.cumsum(counts, 0)[:longest]
        first = torch.zeros(longest, dtype=torch.int64, device=self.device)
        first[1:] = torch.cumsum(batch_sizes, 0)[:-1]
        group = torch.repeat_interleave(torch.arange(len(order), device=self.device), sorted_len)
        group_start = torch.zeros_like(sorted_len)
        group_start[1:] = torch.cumsum(sorted_len, 0)[:-1]
        step = torch.arange(len(group), device=self.device) - group_start[group]
        source = torch.empty_like(group)
        source[first[step] + group] = starts[order][group] + step
        # a value that is not a step (a group clamped from 0 steps to 1) reads as zeros
        values = self.values[source.clamp_max(max(len(self.values) - 1, 0))]
        empty = (self.offsets[1:] - self.offsets[:-1])[order][group] == 0
        values = torch.where(empty[:, None], torch.zeros_like(values), values)
        unsorted = torch.empty_like(order)
        unsorted[order] = torch.arange(len(order), device=self.device)
        return PackedSequence(values, batch_sizes.cpu(), order, unsorted)
