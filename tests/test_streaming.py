"""Files larger than memory: streaming training (MLP, logreg) and streaming inspect."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from nncli import api
from nncli.config import MLPConfig, RunConfig, Settings
from nncli.scale import streaming
from tests.conftest import ROOT, SAMPLE

PHYSICS = SAMPLE / "physics.csv"


def test_reservoir_keeps_a_uniform_sample_of_at_most_k_rows() -> None:
    frame = pd.DataFrame({"i": np.arange(100_000)})
    res = streaming.Reservoir(2_000, seed=1)
    for start in range(0, len(frame), 7_000):  # uneven chunks
        res.add(frame.iloc[start : start + 7_000])
    kept = res.frame()["i"].to_numpy()
    assert len(kept) == 2_000 and len(set(kept)) == 2_000  # no row twice
    assert abs(kept.mean() - 50_000) < 2_500  # spread over the whole stream, not its head
    assert (kept >= 90_000).sum() > 100  # late rows get in
    again = streaming.Reservoir(2_000, seed=1)
    for start in range(0, len(frame), 7_000):
        again.add(frame.iloc[start : start + 7_000])
    np.testing.assert_array_equal(kept, again.frame()["i"].to_numpy())  # seeded


def test_reservoir_smaller_than_k_keeps_every_row_in_order() -> None:
    frame = pd.DataFrame({"a": [str(i) for i in range(50)]})
    res = streaming.Reservoir(100, seed=0)
    res.add(frame.iloc[:30])
    res.add(frame.iloc[30:])
    assert res.frame()["a"].tolist() == frame["a"].tolist()


def test_validation_rows_do_not_depend_on_the_chunking() -> None:
    frame = pd.read_csv(PHYSICS, dtype=str)
    whole = streaming.valid_rows(frame, 0, 0.2)
    parts = np.concatenate(
        [streaming.valid_rows(frame.iloc[i : i + 333], 0, 0.2) for i in range(0, 4000, 333)]
    )
    np.testing.assert_array_equal(whole, parts)
    assert 0.17 < whole.mean() < 0.23
    assert not np.array_equal(whole, streaming.valid_rows(frame, 1, 0.2))  # seeded


def _train_json(invoke: Callable[..., Any], *args: Any) -> tuple[dict[str, Any], str]:
    result = invoke(["train", PHYSICS, "--json", *args])
    return json.loads(result.stdout), result.stderr


@pytest.mark.parametrize("model", ["mlp", "logreg"])
def test_streaming_training_matches_in_memory(
    model: str, invoke: Callable[..., Any], tmp_path: Path
) -> None:
    extra = ["--hidden", "64", "--epochs", "15"] if model == "mlp" else []
    out = tmp_path / "s.nncli"
    streamed, err = _train_json(
        invoke, "-m", model, "--stream", "--stream-buffer", "1000", "-o", out, *extra
    )
    assert "streaming (--stream): 4,000 rows in passes" in err
    assert "blocks of 1,000 training rows in memory" in err
    assert streamed["rows_train"] + streamed["rows_valid"] == 4000
    in_memory, _ = _train_json(invoke, "-m", model, *extra)
    auc = streamed["metrics"]["valid"]["auc"]
    assert auc > 0.9 and abs(auc - in_memory["metrics"]["valid"]["auc"]) < 0.02
    scored = json.loads(invoke(["evaluate", out, PHYSICS, "--json"]).stdout)
    assert scored["metrics"]["auc"] > 0.9  # the file predicts like any model file
    info = json.loads(invoke(["info", out, "--json"]).stdout)
    assert info["data"]["rows"] == 4000 and info["run"]["stream"] is True
    assert info["data"]["statistics"] == "streamed: a random sample of 4,000 rows"


def test_gbt_cannot_stream(invoke: Callable[..., Any]) -> None:
    result = invoke(["train", PHYSICS, "-m", "gbt", "--stream"], exit_code=2)
    assert "Error: -m gbt cannot stream its training file; the MLP and logreg can" in result.stderr
    assert "--dask local:N" in result.stderr


def test_streaming_starts_by_itself_when_the_file_would_not_fit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("nncli.learn.models.base.available_bytes", lambda: 1_000_000)
    settings = Settings(run=RunConfig(seed=0), mlp=MLPConfig(hidden=(32,), epochs=2))
    result = api.train(PHYSICS, model="mlp", settings=settings)
    assert any("streaming (read whole, the file would take about" in n for n in result.notes)
    assert result.predictor.card.data.rows == 4000
    assert not streaming.should_stream(PHYSICS, "gbt", settings)[0]  # gbt stays in memory


def test_the_auto_stream_rule_is_a_quarter_of_memory_and_said_either_way(
    monkeypatch: pytest.MonkeyPatch, invoke
) -> None:
    """A file whose whole read would take over 25% of the available memory is streamed
    (inspect and train -m mlp|logreg); a large one read whole says so, with the rule."""
    need = PHYSICS.stat().st_size * streaming.MEMORY_PER_BYTE
    monkeypatch.setattr(streaming, "NOTE_BYTES", 0)  # the physics sample counts as large
    monkeypatch.setattr("nncli.learn.models.base.available_bytes", lambda: int(need / 0.24))
    err = invoke(["inspect", PHYSICS]).stderr
    assert err.splitlines()[0] == (
        "physics.csv (0.2 MB) is read whole: about 1.0 MB of memory, 24% of the 4.2 MB "
        "available; nncli streams a file above 25% (--stream to stream it anyway)"
    )
    err = invoke(["train", PHYSICS, "-m", "gbt", "--gbt-max-rounds", "5"]).stderr
    assert "24% of the 4.2 MB available; -m gbt reads files whole (only mlp, logreg stream)" in err
    monkeypatch.setattr("nncli.learn.models.base.available_bytes", lambda: int(need / 0.26))
    err = invoke(["inspect", PHYSICS]).stderr
    assert (
        "streamed (read whole, the file would take about 1.0 MB of memory, 26% of the 3.9 MB "
        "available; nncli streams above 25%)" in err
    )
    err = invoke(["train", PHYSICS, "-m", "logreg"]).stderr
    assert "streaming (read whole, the file would take about 1.0 MB of memory, 26%" in err
    assert "is read whole" not in err


def test_a_class_the_sample_missed_is_still_known(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    frame = pd.read_csv(PHYSICS)
    frame.loc[[3990, 3995], "label"] = "rare"
    path = tmp_path / "rare.csv"
    frame.to_csv(path, index=False)
    monkeypatch.setattr(streaming, "SAMPLE_ROWS", 300)
    settings = Settings(run=RunConfig(stream=True), mlp=MLPConfig(hidden=(16,), epochs=1))
    result = api.train(path, model="mlp", settings=settings)
    assert result.predictor.classes == ["background", "rare", "signal"]
    assert result.predictor.schema.class_counts[1] == 2  # counted over the whole file


def test_streaming_inspect_counts_exactly_beyond_its_sample(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(streaming, "SAMPLE_ROWS", 500)
    streamed, whole = api.inspect(PHYSICS, stream=True), api.inspect(PHYSICS)
    assert "streamed (--stream): 4,000 rows in one pass" in streamed.notes[0]
    s, w = streamed.schema, whole.schema
    assert s.n_rows == w.n_rows == 4000 and s.class_counts == w.class_counts
    assert [c.role for c in s.columns] == [c.role for c in w.columns]
    for a, b in zip(s.columns, w.columns, strict=True):
        assert a.n_missing == b.n_missing and a.n_unique == b.n_unique
        if b.stats:
            assert a.stats["min"] == pytest.approx(b.stats["min"])
            assert a.stats["max"] == pytest.approx(b.stats["max"])
    assert streamed.sha256 == whole.sha256 and streamed.sep == ","


def _peak_rss_mb(args: list[str]) -> float:
    """Peak resident memory of ``nncli ARGS`` in a fresh process, in MB."""
    code = (
        "import resource, subprocess, sys; "
        f"r = subprocess.run([sys.executable, '-m', 'nncli', *{args!r}], capture_output=True); "
        "assert r.returncode == 0, r.stderr.decode()[-2000:]; "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return float(done.stdout.strip())


@pytest.mark.slow
def test_streaming_memory_stays_flat_as_the_file_grows(tmp_path: Path) -> None:
    sys.path.insert(0, str(SAMPLE))
    from make_physics import generate

    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    generate(300_000, seed=1).to_csv(small, index=False)  # beyond the samples' sizes
    generate(1_200_000, seed=2).to_csv(large, index=False)  # 4× the rows, about 60 MB
    args = ["-m", "mlp", "--hidden", "16", "--epochs", "1", "--stream", "--stream-buffer",
            "20000", "--batch-size", "2048"]  # fmt: skip
    rss_small = _peak_rss_mb(["train", str(small), *args])
    rss_large = _peak_rss_mb(["train", str(large), *args])
    in_memory = _peak_rss_mb(["train", str(large), *args[:-5], "--no-stream"])
    # 4× the rows: reading whole grows by about 400 MB here, streaming by a tenth of that
    # (allocator churn over more chunks; the samples are full in both files)
    numbers = (rss_small, rss_large, in_memory)
    assert rss_large - rss_small < 0.15 * (in_memory - rss_small), numbers
    assert in_memory - rss_large > 200, numbers  # what streaming saves


def test_compare_refuses_to_stream(invoke: Callable[..., Any]) -> None:
    result = invoke(["compare", PHYSICS, "--stream"], exit_code=2)
    assert "Error: compare holds the data in memory; --stream is for train and inspect" in (
        result.stderr
    )


def test_a_gzip_file_streams_too(tmp_path: Path, invoke: Callable[..., Any]) -> None:
    path = tmp_path / "physics.csv.gz"
    pd.read_csv(PHYSICS).to_csv(path, index=False)
    result = invoke(["train", path, "-m", "logreg", "--stream", "--json"])
    assert "streaming (--stream): 4,000 rows" in result.stderr
    assert json.loads(result.stdout)["metrics"]["valid"]["auc"] > 0.9
    inspected = invoke(["inspect", path, "--stream", "--json"])
    assert json.loads(inspected.stdout)["schema"]["n_rows"] == 4000


def test_a_parquet_file_streams_by_row_groups(tmp_path: Path, invoke: Callable[..., Any]) -> None:
    path = tmp_path / "physics.parquet"
    pd.read_csv(PHYSICS).to_parquet(path, row_group_size=500)
    from nncli.io.data import iter_frames

    sizes = [len(f) for f in iter_frames(path, chunk_rows=700)]
    assert sum(sizes) == 4000 and max(sizes) <= 700  # never the whole file at once
    result = invoke(["train", path, "-m", "mlp", "--hidden", "32", "--epochs", "5",
                     "--stream", "--json"])  # fmt: skip
    assert "streaming (--stream): 4,000 rows" in result.stderr
    assert json.loads(result.stdout)["metrics"]["valid"]["auc"] > 0.9
    for flag in ("--stream", "--no-stream"):
        head = invoke(["inspect", path, flag]).stdout.splitlines()[0]
        assert "4,000 rows × 9 columns (parquet); 8 feature(s)" in head  # no "separated"
    out = tmp_path / "pred.csv"
    model = tmp_path / "m.nncli"
    invoke(["train", path, "-m", "gbt", "-o", model])
    invoke(["predict", model, path, "-o", out])
    assert len(pd.read_csv(out)) == 4000


def test_a_file_sorted_by_its_target_streams(tmp_path: Path, invoke: Callable[..., Any]) -> None:
    frame = pd.concat([pd.read_csv(PHYSICS)] * 4).sort_values("label", kind="stable")
    path = tmp_path / "sorted.csv"  # 11,260 'background' rows before the first 'signal'
    frame.to_csv(path, index=False)
    inspected = json.loads(invoke(["inspect", path, "--stream", "--json"]).stdout)
    assert inspected["schema"]["class_counts"] == [11260, 4740]
    result = invoke(["train", path, "-m", "logreg", "--stream", "--json"])
    assert json.loads(result.stdout)["metrics"]["valid"]["auc"] > 0.85
