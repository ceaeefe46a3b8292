"""Data-parallel MLP training under torchrun: 2 CPU processes (gloo) on a small file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nncli.learn import distributed
from tests.conftest import ROOT

PHYSICS = ROOT / "sample_data" / "physics.csv"
FAST = ["--hidden", "128", "--epochs", "10", "--threads", "1", "--device", "cpu", "--seed", "3"]


def torchrun(*args: str, procs: int = 2) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc-per-node={procs}", "-m", "nncli", *args]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env, cwd=ROOT)


def nncli(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "nncli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=ROOT)


def valid_auc(proc: subprocess.CompletedProcess[str]) -> float:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return float(json.loads(proc.stdout)["metrics"]["valid"]["auc"])


@pytest.mark.slow
def test_two_gloo_processes_train_one_model_that_predicts(tmp_path: Path) -> None:
    model = tmp_path / "ddp.nncli"
    proc = torchrun("train", str(PHYSICS), "-m", "mlp", *FAST, "-o", str(model), "--json")
    auc_ddp = valid_auc(proc)
    assert "data-parallel under torchrun: 2 processes" in proc.stderr
    assert proc.stdout.count('"metrics"') == 1  # rank 0 alone prints
    assert proc.stderr.count("wrote the model to") == 1
    single = valid_auc(nncli("train", str(PHYSICS), "-m", "mlp", *FAST, "--json"))
    assert auc_ddp > 0.9 and abs(auc_ddp - single) < 0.02  # within noise of one process
    out = tmp_path / "pred.csv"
    predicted = nncli("predict", str(model), str(PHYSICS), "-o", str(out))
    assert predicted.returncode == 0, predicted.stderr
    frame = pd.read_csv(out)
    assert len(frame) == 4000 and frame["prediction"].isin(["signal", "background"]).all()

    again = tmp_path / "again.nncli"
    valid_auc(torchrun("train", str(PHYSICS), "-m", "mlp", *FAST, "-o", str(again), "--json"))
    from nncli import load

    rows = pd.read_csv(PHYSICS).head(300)
    p1, p2 = load(model).predict_proba(rows), load(again).predict_proba(rows)
    np.testing.assert_array_equal(p1, p2)  # the same seed, the same N: the same model


@pytest.mark.slow
def test_compare_under_torchrun_reports_once(tmp_path: Path) -> None:
    proc = torchrun("compare", str(PHYSICS), "--models", "logreg,mlp", *FAST,
                    "--bootstrap", "0", "--json", "--out", str(tmp_path / "run"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    models = {m["model"]: m for m in report["models"]}
    assert models["mlp"]["status"] == "ok" and models["mlp"]["test"]["auc"] > 0.9
    assert (tmp_path / "run").is_dir()


def test_streaming_refuses_torchrun(tmp_path: Path) -> None:
    proc = torchrun("train", str(PHYSICS), "-m", "mlp", "--stream", "--device", "cpu")
    assert "Error: --stream does not run under torchrun" in proc.stderr
    assert proc.returncode != 0


def test_other_models_refuse_torchrun(tmp_path: Path) -> None:
    proc = torchrun("train", str(PHYSICS), "-m", "gbt", "-o", str(tmp_path / "m.nncli"))
    assert "Error: under torchrun only the MLP trains data-parallel, not gbt" in proc.stderr
    assert "Hint: run -m gbt without torchrun, or on a Dask cluster with --dask." in proc.stderr
    assert proc.returncode != 0 and not (tmp_path / "m.nncli").exists()
    assert "[rank0]: Traceback" not in proc.stderr  # torchrun reports the exit code itself


@pytest.mark.parametrize(("n", "size"), [(10, 2), (11, 2), (7, 3), (1, 2)])
def test_shards_are_equal_and_cover_every_row(
    n: int, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    shards = []
    for rank in range(size):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", str(size))
        shards.append(distributed.shard(n))
    assert len({len(s) for s in shards}) == 1  # every rank takes the same number of steps
    assert set(np.concatenate(shards)) == set(range(n))
    assert all(s.max() < n for s in shards)


def test_outside_torchrun_nothing_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    assert distributed.world() == (0, 1) and not distributed.active() and distributed.is_main()
    np.testing.assert_array_equal(distributed.shard(5), np.arange(5))
    assert distributed.main_value(2.5) == 2.5 and distributed.broadcast("x") == "x"


def test_more_processes_than_gpus_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from nncli.errors import ConfigError
    from nncli.learn.training import resolve_device

    for name, value in (("RANK", "1"), ("WORLD_SIZE", "2"), ("LOCAL_WORLD_SIZE", "2")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ConfigError, match="2 processes on this machine but it has 1 GPU"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda", 1)
