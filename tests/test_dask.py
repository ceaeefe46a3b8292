"""The GBT on a Dask cluster: a local cluster of 2 worker processes, a glob of CSVs."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.conftest import SAMPLE

PHYSICS = SAMPLE / "physics.csv"


@pytest.fixture
def two_files(tmp_path: Path) -> Path:
    frame = pd.read_csv(PHYSICS)
    for i, part in enumerate((frame.iloc[:2000], frame.iloc[2000:])):
        part.to_csv(tmp_path / f"part{i}.csv", index=False)
    return tmp_path


@pytest.mark.slow
def test_gbt_trains_on_a_local_cluster_over_a_glob(
    two_files: Path, invoke: Callable[..., Any]
) -> None:
    pytest.importorskip("dask.distributed")
    model = two_files / "dask.nncli"
    glob = str(two_files / "part*.csv")
    result = invoke(["train", glob, "-m", "gbt", "--dask", "local:2", "-o", model, "--json"])
    assert "Dask: 4,000 rows in 2 partition(s) on 2 worker(s)" in result.stderr
    assert "[LightGBM]" not in result.stdout  # the workers' port logs stay off stdout
    report = json.loads(result.stdout)
    assert report["rows_train"] + report["rows_valid"] == 4000
    assert report["metrics"]["valid"]["auc"] > 0.93
    local = json.loads(invoke(["train", PHYSICS, "-m", "gbt", "--json"]).stdout)
    assert abs(report["metrics"]["valid"]["auc"] - local["metrics"]["valid"]["auc"]) < 0.03
    info = json.loads(invoke(["info", model, "--json"]).stdout)
    assert info["model"]["name"] == "gbt" and info["data"]["rows"] == 4000
    assert info["data"]["statistics"] == "Dask: a random sample of 4,000 rows"
    out = two_files / "pred.csv"
    invoke(["predict", model, PHYSICS, "-o", out])
    assert len(pd.read_csv(out)) == 4000
    scored = json.loads(invoke(["evaluate", model, PHYSICS, "--json"]).stdout)
    assert scored["metrics"]["auc"] > 0.93


def test_without_dask_installed_the_error_says_what_to_install(
    invoke: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # import fails
    out = tmp_path / "m.nncli"
    result = invoke(["train", PHYSICS, "-m", "gbt", "--dask", "local:2", "-o", out], exit_code=2)
    assert "Error: --dask needs dask.distributed, which is not installed" in result.stderr
    assert "Hint: pip install 'nncli[dask]'" in result.stderr and not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", "mlp", "--dask", "local:2"], "--dask trains the gbt model on files; not with -m"),
        (["-m", "gbt", "--dask", "local:x"], "the number of local workers must be a whole number"),
    ],
)
def test_dask_misuse_is_one_clear_error(
    args: list[str], message: str, invoke: Callable[..., Any]
) -> None:
    pytest.importorskip("dask.distributed")
    result = invoke(["train", PHYSICS, *args], exit_code=2)
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_glob_that_matches_nothing(invoke: Callable[..., Any], tmp_path: Path) -> None:
    pytest.importorskip("dask.distributed")
    result = invoke(["train", str(tmp_path / "none*.csv"), "-m", "gbt", "--dask", "local:1"],
                    exit_code=1)  # fmt: skip
    assert "Error: no file matches" in result.stderr


@pytest.mark.slow
def test_gbt_on_dask_reads_parquet(tmp_path: Path, invoke: Callable[..., Any]) -> None:
    pytest.importorskip("dask.distributed")
    path = tmp_path / "physics.parquet"
    pd.read_csv(PHYSICS).to_parquet(path)
    result = invoke(["train", path, "-m", "gbt", "--dask", "local:1", "--json"])
    assert "Dask: 4,000 rows in 1 partition(s) on 1 worker(s)" in result.stderr
    assert json.loads(result.stdout)["metrics"]["valid"]["auc"] > 0.93
