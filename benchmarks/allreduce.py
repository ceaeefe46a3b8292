"""The cost of one gloo all-reduce against one small training step, under torchrun:
why two data-parallel processes do not beat one process on a 2-core machine.

    torchrun --standalone --nproc-per-node 2 benchmarks/allreduce.py
"""

from __future__ import annotations

import sys
import time

import torch
import torch.distributed as dist


def main() -> None:
    dist.init_process_group("gloo")
    torch.set_num_threads(1)
    lines = []
    for n in (5_000, 70_000, 300_000):
        t = torch.randn(n)
        for _ in range(20):
            dist.all_reduce(t)
        dist.barrier()
        started = time.perf_counter()
        for _ in range(300):
            dist.all_reduce(t)
        lines.append(f"all-reduce of {n:,} floats: {(time.perf_counter() - started) / 0.3:.2f} ms")
    x, w = torch.randn(1024, 64), torch.randn(64, 64, requires_grad=True)
    started = time.perf_counter()
    for _ in range(300):
        (x @ w).relu().sum().backward()
    lines.append(f"a 1024×64×64 forward+backward: {(time.perf_counter() - started) / 0.3:.3f} ms")
    if dist.get_rank() == 0:
        sys.stdout.write("\n".join(lines) + "\n")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
