"""Data-parallel MLP training on torch.distributed, as started by ``torchrun``.

torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous variables in
each process; nothing here starts processes or talks over sockets itself. Under it:

- every rank reads the file and infers the same schema and split (both deterministic);
- rank 0 fits the preprocessing once and broadcasts it; each rank transforms only its
  shard of the training rows (rows ``rank::world``, padded to equal length so every
  rank takes the same number of steps) and all validation rows;
- the network is wrapped in DistributedDataParallel (gloo on CPU, NCCL on GPU), which
  averages gradients every step; the global batch is ``world × --batch-size``;
- decisions that depend on the clock (time budget, schedule length) are rank 0's,
  broadcast, so that every rank stops at the same epoch;
- only rank 0 prints and writes files.

Without torchrun (no ``WORLD_SIZE`` or ``WORLD_SIZE=1``) every function here is a no-op.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from nncli.errors import Info


def world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside torchrun."""
    try:
        return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 0, 1


def active() -> bool:
    return world()[1] > 1


def is_main() -> bool:
    return world()[0] == 0


def describe() -> Info:
    """What the user reads on stderr when torchrun started this process."""
    from nncli.errors import Info

    size = world()[1]
    return Info(
        f"data-parallel under torchrun: {size} processes; each MLP trains on its 1/{size} of "
        f"the training rows (global batch {size} × --batch-size); other models and scoring "
        "run alike in every process, and rank 0 alone prints and writes files"
    )


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def local_world() -> int:
    """How many processes torchrun started on this machine."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", str(world()[1])))


def init(cuda: bool) -> None:
    """Join the process group torchrun prepared (once per process): NCCL with this
    rank's GPU, or gloo on the CPU."""
    import torch
    import torch.distributed as dist

    if active() and not dist.is_initialized():
        if cuda:
            torch.cuda.set_device(local_rank())
        dist.init_process_group("nccl" if cuda else "gloo")
        import atexit

        atexit.register(_leave)


def _leave() -> None:
    """Leave the process group together, before the interpreter ends: a rank that
    exited while rank 0 was still writing its files aborted ("terminate called without
    an active exception", SIGABRT) in about one run of three, and torchrun failed a run
    whose work had finished (20 of 20 runs pass with this)."""
    import torch.distributed as dist

    if dist.is_initialized():
        try:
            dist.barrier()  # every rank leaves together: rank 0 may still be writing
            dist.destroy_process_group()
        except RuntimeError:  # pragma: no cover (a peer that is gone already)
            pass


def shard(n: int) -> np.ndarray:
    """This rank's row indices of ``n`` rows: ``rank::world``, padded with the first rows
    so that every rank has ``ceil(n / world)`` (what DistributedSampler does)."""
    rank, size = world()
    per_rank = -(-n // size)
    rows = np.arange(rank, per_rank * size, size)
    return rows % max(n, 1)


def broadcast(obj: Any) -> Any:
    """Rank 0's object on every rank (an in-memory exchange between this program's own
    processes; nothing is written to a file)."""
    if not active():
        return obj
    import torch.distributed as dist

    box = [obj if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _device() -> Any:
    import torch
    import torch.distributed as dist

    return torch.device("cuda" if dist.get_backend() == "nccl" else "cpu")


def main_value(value: float) -> float:
    """Rank 0's number on every rank: clock readings, so that decisions agree."""
    if not active():
        return value
    import torch
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64, device=_device())
    dist.broadcast(t, src=0)
    return float(t.item())


def summed(*values: Any) -> list[Any]:
    """The sum over ranks of each 0-d tensor (the train loss and its weight)."""
    if not active():
        return list(values)
    import torch
    import torch.distributed as dist

    t = torch.stack([v.to(_device(), torch.float64) for v in values])
    dist.all_reduce(t)
    return list(t.unbind())


def wrap(module: Any, device: Any) -> Any:
    """The module in DistributedDataParallel when under torchrun, else itself."""
    if not active():
        return module
    from torch.nn.parallel import DistributedDataParallel

    init(device.type == "cuda")
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)
