"""The MLP training loop, readable top to bottom.

Batches are slices of a tensor shuffled once per epoch (no per-sample Dataset
indexing), float32 throughout. Each epoch reports a record to ``on_epoch``; the best
epoch by validation loss is restored at the end. Ctrl-C stops training and keeps the
best weights; a non-finite loss stops it with a clear error.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nncli.config import MLPConfig, RunConfig
from nncli.cores import threads_for_fit
from nncli.errors import ConfigError, TrainingError
from nncli.learn import distributed
from nncli.learn.models.base import EpochCallback, FitData, FitReport
from nncli.prepare.ragged import Ragged, RaggedTensor


def resolve_device(name: str) -> torch.device:
    """auto → CUDA when a GPU is there, else the CPU; cuda without a GPU is an error.
    Under torchrun each rank takes the GPU of its LOCAL_RANK."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "--device cuda was asked for but no CUDA GPU is available",
            "use --device cpu or --device auto.",
        )
    if name == "cuda" and distributed.active():
        procs, gpus = distributed.local_world(), torch.cuda.device_count()
        if procs > gpus:
            raise ConfigError(
                f"torchrun started {procs} processes on this machine but it has {gpus} "
                "GPU(s); NCCL needs one GPU per process",
                f"pass --nproc-per-node {gpus}, or --device cpu to train on the CPU (gloo).",
            )
        return torch.device("cuda", distributed.local_rank())
    return torch.device(name)


@dataclass
class Tensors:
    X: torch.Tensor | RaggedTensor  # rows, or (sequences) groups of steps
    y: torch.Tensor
    w: torch.Tensor


def _tensors(
    X: np.ndarray | Ragged, y: np.ndarray, w: np.ndarray, binary: bool, device: torch.device
) -> Tensors:
    target = torch.from_numpy(y.astype(np.float32 if binary else np.int64))
    inputs = (
        X.to_torch(device)
        if isinstance(X, Ragged)
        else torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(device)
    )
    return Tensors(inputs, target.to(device), torch.from_numpy(w.astype(np.float32)).to(device))


def loss_fn(
    logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor, smoothing: float
) -> torch.Tensor:
    """Weighted mean cross-entropy (sigmoid for one logit, softmax for several); for
    ensemble logits [B, k, ·] the mean of the members' losses."""
    if logits.ndim == 3:
        k = logits.shape[1]
        flat = logits.reshape(-1, logits.shape[2])
        return loss_fn(flat, y.repeat_interleave(k), w.repeat_interleave(k), smoothing)
    total = w.sum().clamp_min(1e-12)
    if logits.shape[1] == 1:  # the weights inside the loss kernel: fewer ops a step
        target = y * (1 - smoothing) + 0.5 * smoothing if smoothing else y
        return F.binary_cross_entropy_with_logits(logits[:, 0], target, w, reduction="sum") / total
    losses = F.cross_entropy(logits, y, reduction="none", label_smoothing=smoothing)
    return (losses * w).sum() / total


def mean_proba(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities, averaged over ensemble members when there are several:
    [B, 1] → p(second class); [B, K] → softmax; [B, k, ·] → the members' mean."""
    if logits.ndim == 3:
        return torch.stack([mean_proba(logits[:, i]) for i in range(logits.shape[1])]).mean(0)
    return torch.sigmoid(logits[:, 0]) if logits.shape[1] == 1 else torch.softmax(logits, dim=1)


def proba_loss(proba: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Weighted log loss of probabilities (p of the second class for binary targets)."""
    if proba.ndim == 1:
        p = torch.where(y > 0.5, proba, 1 - proba)
    else:
        p = proba.gather(1, y.long().unsqueeze(1))[:, 0]
    losses = -torch.log(p.clamp_min(1e-12))
    return (losses * w).sum() / w.sum().clamp_min(1e-12)


#: on a GPU, Adam/AdamW update every parameter in one fused kernel (fewer launches a step)
FUSED_ON_GPU = True


def make_optimizer(model: nn.Module, config: MLPConfig) -> Any:
    """AdamW (or Adam, SGD) with weight decay on the weights, not on biases and scales.
    On the CPU Adam/AdamW are :class:`~nncli.learn.adam.ForeachAdam` (the same arithmetic
    without torch.optim's 2 s first-use import); on a GPU torch's fused kernels, and
    torch's optimizers wherever a torch scheduler needs one (onecycle)."""
    on_gpu = any(p.is_cuda for p in model.parameters())
    fused = FUSED_ON_GPU and on_gpu or None
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=True)
    betas = (0.9, config.beta2)
    if not on_gpu and config.schedule != "onecycle":
        from nncli.learn.adam import ForeachAdam

        return ForeachAdam(groups, config.lr, betas, decoupled=config.optimizer == "adamw",
                           clip=config.clip_grad)  # fmt: skip
    if config.optimizer == "adam":  # Adam's weight decay is L2 added to the gradient
        return torch.optim.Adam(groups, lr=config.lr, betas=betas, fused=fused)
    return torch.optim.AdamW(groups, lr=config.lr, betas=betas, fused=fused)


class Schedule:
    """The learning-rate factor per step: a linear warm-up over ``warmup`` of the steps,
    then constant, cosine decay to 0, or one cycle. ``total`` can shrink once the time
    budget shows how many epochs fit, so the decay still ends at the last step."""

    def __init__(self, opt: torch.optim.Optimizer, config: MLPConfig, total: int) -> None:
        self.config, self.total, self.step_count = config, max(total, 1), 0
        self.base = [g["lr"] for g in opt.param_groups]
        self.opt = opt
        self.onecycle = (
            torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=self.total)
            if config.schedule == "onecycle"
            else None
        )

    def factor(self, step: int) -> float:
        warm = self.config.warmup * self.total
        if step < warm:
            return (step + 1) / warm
        if self.config.schedule == "cosine":
            t = min((step - warm) / max(self.total - warm, 1), 1.0)
            return 0.5 * (1 + math.cos(math.pi * t))
        return 1.0

    def fit_epochs(self, fit: int, epochs: int) -> None:
        """Only ``fit`` of the ``epochs`` fit the time budget: end the decay there."""
        if self.onecycle is None and 0 < fit < epochs:
            self.total = max(self.total * fit // epochs, self.step_count + 1)

    def step(self) -> None:
        self.step_count += 1
        if self.onecycle is not None:
            if self.step_count <= self.total:
                self.onecycle.step()
            return
        for group, base in zip(self.opt.param_groups, self.base, strict=True):
            group["lr"] = base * self.factor(self.step_count)


def make_schedule(opt: torch.optim.Optimizer, config: MLPConfig, total_steps: int) -> Schedule:
    schedule = Schedule(opt, config, total_steps)
    if schedule.onecycle is None:
        for group, base in zip(opt.param_groups, schedule.base, strict=True):
            group["lr"] = base * schedule.factor(0)
    return schedule


@dataclass
class Step:
    """One optimiser step's arithmetic: autocast to bf16/fp16 on a GPU when asked (fp16
    with a gradient scaler), float32 otherwise."""

    model: nn.Module
    opt: torch.optim.Optimizer
    schedule: Any
    config: MLPConfig
    dtype: torch.dtype | None = None
    scaler: torch.amp.GradScaler | None = None

    def __call__(self, X: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.dtype is None:  # float32: no autocast context to enter and leave each step
            logits = self.model(X)
        else:
            with torch.autocast(X.device.type, self.dtype):
                logits = self.model(X)
        loss = loss_fn(logits.float(), y, w, self.config.label_smoothing)
        self.opt.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.opt)
        else:
            loss.backward()
        if self.config.clip_grad is not None and not getattr(self.opt, "clip", None):
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_grad)
        if self.scaler is not None:
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            self.opt.step()
        self.schedule.step()
        return loss.detach()


def make_step(
    model: nn.Module, opt: torch.optim.Optimizer, schedule: Any, config: MLPConfig,
    run: RunConfig, device: torch.device,
) -> Step:  # fmt: skip
    if device.type != "cuda" or run.precision == "fp32":
        return Step(model, opt, schedule, config)
    if run.precision == "bf16":
        return Step(model, opt, schedule, config, torch.bfloat16)
    return Step(model, opt, schedule, config, torch.float16, torch.amp.GradScaler("cuda"))


def epoch_sums(
    step: Step, data: Tensors, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """One pass over ``data`` in shuffled contiguous batches: the weighted sum of the
    losses and of the weights, kept on the device (no host sync per step; the batches'
    weights are summed once, after the pass, from a cumulative sum)."""
    model, config = step.model, step.config
    model.train()
    n = len(data.y)
    perm = torch.randperm(n, generator=generator).to(data.X.device)
    X, y, w = data.X[perm], data.y[perm], data.w[perm]
    stop = n - 1 if config.norm == "batch" and n % config.batch_size == 1 else n
    starts = range(0, stop, config.batch_size)
    losses = [step(X[a : a + config.batch_size], y[a : a + config.batch_size],
                   w[a : a + config.batch_size]) for a in starts]  # fmt: skip
    if not losses:
        zero = torch.zeros((), device=X.device)
        return zero, zero
    bounds = torch.tensor([*starts, stop], device=X.device)
    cumulative = torch.cat([w.new_zeros(1, dtype=torch.float64), w.double().cumsum(0)])
    batch_w = (cumulative[bounds[1:]] - cumulative[bounds[:-1]]).to(w.dtype)
    return (torch.stack(losses) * batch_w).sum(), batch_w.sum()


def train_epoch(step: Step, parts: Iterable[Tensors], generator: torch.Generator) -> float:
    """One epoch over the training rows (one block in memory, or the blocks of a
    stream); a non-finite loss gives NaN. Under torchrun every rank's rows count."""
    total = weight = torch.zeros(())
    for part in parts:
        t, w = epoch_sums(step, part, generator)
        total, weight = total.to(t.device) + t, weight.to(w.device) + w
    total, weight = distributed.summed(total, weight)
    return float(total / weight.clamp_min(1e-12))


#: rows per forward pass of the validation: on the CPU, blocks whose activations stay in
#: the caches (20,000 rows of a 256-wide net: 37 ms in one block, 21 ms in blocks of 2,048)
VALID_BLOCK = {"cpu": 2048, "cuda": 65536}


@torch.no_grad()
def evaluate_loss(model: nn.Module, data: Tensors) -> tuple[float, float]:
    """Validation loss (no smoothing) and weighted accuracy."""
    model.eval()
    block = VALID_BLOCK.get(data.y.device.type, 65536)
    logits = torch.cat([model(data.X[i : i + block]) for i in range(0, len(data.y), block)])
    proba = mean_proba(logits)
    loss = float(proba_loss(proba, data.y, data.w))
    pred = (proba > 0.5).float() if proba.ndim == 1 else proba.argmax(dim=1)
    correct = (pred == data.y).float()
    accuracy = float((correct * data.w).sum() / data.w.sum().clamp_min(1e-12))
    model.train()
    return loss, accuracy


def _prepare(
    model: nn.Module, data: FitData, config: MLPConfig, run: RunConfig
) -> tuple[Tensors, Tensors, Step]:
    """Threads, device, tensors, optimiser, a schedule sized to the epochs, and the
    network wrapped for data-parallel training under torchrun."""
    if run.threads or not distributed.active():  # torchrun: OMP_NUM_THREADS, its own
        torch.set_num_threads(threads_for_fit(run.threads))
    device = resolve_device(run.device)
    model.to(device)
    binary = data.n_classes == 2
    tr = _tensors(data.X, data.y, data.w, binary, device)
    va = _tensors(data.X_valid, data.y_valid, data.w_valid, binary, device)
    net = distributed.wrap(model, device)
    if distributed.active():  # dropout masks differ between ranks, as their rows do
        torch.manual_seed(run.seed + distributed.world()[0])
    opt = make_optimizer(model, config)
    n_rows = data.n_stream if data.stream is not None else len(tr.y)
    steps = config.epochs * max(1, math.ceil(n_rows / config.batch_size))
    schedule = make_schedule(opt, config, steps)
    return tr, va, make_step(net, opt, schedule, config, run, device)


def _parts(data: FitData, tr: Tensors) -> Callable[[], Iterator[Tensors]]:
    """The training rows of one epoch: the tensors in memory, or the stream's blocks."""
    stream = data.stream
    if stream is None:
        return lambda: iter([tr])
    binary, device = data.n_classes == 2, tr.X.device
    return lambda: (_tensors(X, y, w, binary, device) for X, y, w in stream())


def train(
    model: nn.Module,
    data: FitData,
    config: MLPConfig,
    run: RunConfig,
    on_epoch: EpochCallback | None = None,
    time_limit: float | None = None,
) -> FitReport:
    """Fit ``model`` in place; the weights of the best validation epoch are restored and
    the network is returned on the CPU."""
    tr, va, step = _prepare(model, data, config, run)
    opt, schedule, parts = step.opt, step.schedule, _parts(data, tr)
    generator = torch.Generator().manual_seed(run.seed + distributed.world()[0])
    result, best_loss, best_state = FitReport(), math.inf, None
    started = time.perf_counter()
    try:
        for epoch in range(1, config.epochs + 1):
            train_loss = train_epoch(step, parts(), generator)
            if not math.isfinite(train_loss):
                raise TrainingError(
                    f"training diverged: the loss became non-finite in epoch {epoch}",
                    f"lower --lr (now {config.lr:g}) or pass --clip-grad 1.0.",
                )
            valid_loss, valid_acc = evaluate_loss(model, va)
            valid_loss = distributed.main_value(valid_loss)  # one decision
            elapsed = distributed.main_value(time.perf_counter() - started)
            if epoch == 1 and time_limit is not None:  # decay within the epochs that fit
                schedule.fit_epochs(int(time_limit / max(elapsed, 1e-9)), config.epochs)
            record = {"epoch": epoch, "epochs": config.epochs, "train_loss": train_loss,
                      "valid_loss": valid_loss, "valid_accuracy": valid_acc,
                      "lr": opt.param_groups[0]["lr"], "seconds": elapsed}  # fmt: skip
            result.history.append(record)
            if valid_loss < best_loss - 1e-7:
                best_loss, result.best_epoch = valid_loss, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if on_epoch is not None:
                on_epoch(record | {"best_epoch": result.best_epoch})
            if epoch - result.best_epoch >= config.patience:
                result.stop_reason = "early_stopping"
                break
            if time_limit is not None and elapsed * (epoch + 1) / epoch > time_limit:
                result.stop_reason = "time_budget"
                break
    except KeyboardInterrupt:
        result.stop_reason = "interrupted"
    if best_state is not None and (config.restore_best or result.stop_reason == "interrupted"):
        model.load_state_dict(best_state)
    model.cpu().eval()  # a GPU-trained net predicts as its reloaded file will: on the CPU
    if result.stop_reason == "interrupted" and best_state is None:
        raise KeyboardInterrupt
    return result
