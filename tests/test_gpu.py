"""The GPU code path: device resolution and mixed precision.

The CUDA tests run where a GPU is (they were run on an H200 lent to the project, see
docs/benchmarks.md); on a CPU-only machine they skip and the CUDA-absent behaviour is
tested instead."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from nncli import api
from nncli.config import MLPConfig, RunConfig, Settings
from nncli.learn.training import resolve_device
from tests.conftest import SAMPLE

PHYSICS = SAMPLE / "physics.csv"
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is here")


def fit(device: str, precision: str = "fp32", **mlp: Any) -> api.TrainResult:
    settings = Settings(
        run=RunConfig(device=device, precision=precision, seed=1),
        mlp=MLPConfig(**({"hidden": (128, 128), "epochs": 12} | mlp)),
    )
    return api.train(PHYSICS, model="mlp", settings=settings)


@no_cuda
def test_cuda_asked_for_without_a_gpu_is_exit_2(invoke: Callable[..., Any]) -> None:
    result = invoke(["train", PHYSICS, "-m", "mlp", "--device", "cuda"], exit_code=2)
    assert "Error: --device cuda was asked for but no CUDA GPU is available" in result.stderr
    assert "Hint: use --device cpu or --device auto." in result.stderr


@no_cuda
def test_auto_is_the_cpu_without_a_gpu_and_mixed_precision_says_it_is_ignored(
    invoke: Callable[..., Any],
) -> None:
    assert resolve_device("auto") == torch.device("cpu")
    result = invoke(["train", PHYSICS, "-m", "mlp", "--epochs", "2", "--precision", "bf16"])
    assert "--precision bf16 ignored: the MLP trains on the CPU, in float32" in result.stderr


def test_precision_is_a_checked_setting(invoke: Callable[..., Any]) -> None:
    result = invoke(["train", PHYSICS, "-m", "mlp", "--precision", "fp8"], exit_code=2)
    assert "fp8" in result.stderr and "bf16" in result.stderr


@needs_cuda
def test_cuda_model_comes_back_to_the_cpu_and_predicts_as_its_file(tmp_path: Path) -> None:
    result = fit("cuda")
    assert result.predictor.card.run["device"] == "cuda"
    assert result.metrics["valid"]["auc"] > 0.93
    path = tmp_path / "gpu.nncli"
    result.save(path)
    rows = pd.read_csv(PHYSICS).head(500)
    loaded = api.load(path)
    assert not next(loaded.model.module.parameters()).is_cuda  # loads on the CPU
    np.testing.assert_array_equal(loaded.predict_proba(rows), result.predictor.predict_proba(rows))


@needs_cuda
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_keeps_the_auc(precision: str) -> None:
    full = fit("cuda").metrics["valid"]["auc"]
    mixed = fit("cuda", precision).metrics["valid"]["auc"]
    assert abs(mixed - full) < 0.01


@needs_cuda
def test_strong_preset_trains_on_cuda() -> None:
    settings = Settings(run=RunConfig(device="cuda", preset="strong", seed=1))
    result = api.train(PHYSICS, model="mlp", settings=settings.with_preset())
    assert result.metrics["valid"]["auc"] > 0.93
