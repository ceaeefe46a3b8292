"""Sequences (--group/--order): grouping and its checks, aggregates, variable lengths,
the recurrent net's save/load and streaming predict, and the bundled sample where the
order of events separates the classes."""

from __future__ import annotations

import io
import json
import sys

import numpy as np
import pandas as pd
import pytest

from nncli.config import ColumnSpec, MLPConfig, Settings
from nncli.errors import DataError, SchemaError
from nncli.prepare.sequences import STEPS, SequenceSpec, group_chunks, to_groups
from tests.conftest import SAMPLE

SEQUENCES = SAMPLE / "sequences.csv"
FAST = ["--epochs", "3", "--rnn-hidden", "8"]


def long_frame() -> pd.DataFrame:
    """Two groups, rows shuffled within each (the order column sorts them)."""
    return pd.DataFrame({
        "id": ["a", "b", "a", "b", "a"], "t": [3, 2, 1, 1, 2],
        "v": [30.0, 20.0, 10.0, 5.0, np.nan], "label": ["p", "q", "p", "q", "p"],
    })  # fmt: skip


def test_groups_are_ordered_and_aggregated():
    groups = to_groups(long_frame(), SequenceSpec("id", "t", ("v",)), "label")
    assert groups["id"].tolist() == ["a", "b"] and groups["label"].tolist() == ["p", "q"]
    np.testing.assert_array_equal(groups[STEPS][0][:, 0], [10.0, np.nan, 30.0])  # by t
    np.testing.assert_array_equal(groups[STEPS][1][:, 0], [5.0, 20.0])
    a = groups.iloc[0]
    assert a["n_rows"] == 3 and a["v_mean"] == 20.0 and a["v_min"] == 10.0
    assert a["v_max"] == 30.0 and a["v_first"] == 10.0 and a["v_last"] == 30.0
    assert a["v_std"] == pytest.approx(np.std([10.0, 30.0], ddof=1))


def test_the_target_must_be_constant_within_a_group():
    frame = long_frame()
    frame.loc[4, "label"] = "q"  # group a now has p and q
    with pytest.raises(DataError, match="not constant within group 'a' of 'id'"):
        to_groups(frame, SequenceSpec("id", "t", ("v",)), "label")


def test_missing_group_or_order_values_are_errors():
    spec = SequenceSpec("id", "t", ("v",))
    with pytest.raises(DataError, match="group column 'id' has 1 missing"):
        to_groups(long_frame().assign(id=["a", None, "a", "b", "a"]), spec)
    with pytest.raises(DataError, match="order column 't' has 1 missing"):
        to_groups(long_frame().assign(t=[3, 2, None, 1, 2]), spec)
    with pytest.raises(SchemaError, match="reads column.s. the data lacks: v"):
        to_groups(long_frame().drop(columns="v"), spec)


def test_streamed_groups_are_never_split_and_must_be_together():
    frame = pd.read_csv(SEQUENCES).head(400)
    chunks = [frame.iloc[i : i + 37] for i in range(0, len(frame), 37)]
    parts = list(group_chunks(chunks, SequenceSpec("seq", "t"), "f.csv"))
    assert sum(len(p) for p in parts) == len(frame)
    seen = [set(p["seq"]) for p in parts]
    assert all(not (x & y) for i, x in enumerate(seen) for y in seen[i + 1 :])
    shuffled = frame.sample(frac=1.0, random_state=0)
    with pytest.raises(DataError, match="is not grouped by 'seq': group") as info:
        list(group_chunks([shuffled], SequenceSpec("seq", "t"), "f.csv"))
    assert "frame.sort_values(['seq', 't'])" in info.value.hint


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--group", "seq"], "--group and --order go together"),
        (["--group", "sqe", "--order", "t"], "did you mean 'seq'?"),
        (["--group", "seq", "--order", "seq"], "column 'seq' is given more than one part"),
        (["-m", "rnn"], "-m rnn reads sequences"),
    ],
)
def test_group_and_order_options_are_checked(invoke, tmp_path, args, words):
    result = invoke(["train", SEQUENCES, *args, "-o", tmp_path / "m.nncli"], exit_code=2)
    assert words in result.stderr and not (tmp_path / "m.nncli").exists()


def test_a_target_that_changes_within_a_group_is_named(invoke, tmp_path):
    frame = pd.read_csv(SEQUENCES).head(60)
    frame.loc[3, "label"] = "hcal_first" if frame.loc[3, "label"] == "ecal_first" else "ecal_first"
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    err = invoke(["train", path, "--group", "seq", "--order", "t"], exit_code=1).stderr
    assert "Error: the target is not constant within group 's0000' of 'seq'" in err


def _variable_lengths() -> pd.DataFrame:
    """Groups of 1 to 2,000 rows; the class is the sign of the first reading."""
    rng = np.random.default_rng(0)
    lengths = [1, 2000, *rng.integers(1, 30, size=60)]
    rows = []
    for k, n in enumerate(lengths):
        v = rng.normal(size=n)
        rows.append(pd.DataFrame({"g": k, "t": np.arange(n), "v": v, "w": v**2,
                                  "label": int(v[0] > 0)}))  # fmt: skip
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_rnn_variable_lengths_save_load_and_padding(tmp_path, cell):
    from nncli import api

    frame = _variable_lengths()
    settings = Settings(mlp=MLPConfig(epochs=3, rnn_hidden=8, cell=cell, bidirectional=True))
    result = api.train(frame, model="rnn", settings=settings,
                       columns=ColumnSpec("label", group="g", order="t"))  # fmt: skip
    model = result.predictor
    proba = model.predict_proba(frame)
    assert proba.shape == (62, 2) and np.allclose(proba.sum(axis=1), 1.0)
    path = tmp_path / "rnn.nncli"
    result.save(path)
    again = api.load(path)
    np.testing.assert_array_equal(again.predict_proba(frame), proba)
    alone = again.predict_proba(frame[frame.g == 0])  # one row, without the long group
    np.testing.assert_allclose(alone[0], proba[0], atol=1e-6)  # padding changes nothing
    assert again.model.config.cell == cell and again.model.n_params() == model.model.n_params()


def test_predict_streams_groups_and_evaluates(invoke, tmp_path):
    model = tmp_path / "rnn.nncli"
    invoke(["train", SEQUENCES, "--group", "seq", "--order", "t", "-m", "rnn", *FAST,
            "-o", model])  # fmt: skip
    from nncli import api

    whole, small = io.StringIO(), io.StringIO()
    api.predict(model, SEQUENCES, whole, proba=True)
    summary = api.predict(model, SEQUENCES, small, proba=True, chunk_rows=97)
    assert summary.rows == 800 and summary.columns[:2] == ["seq", "prediction"]
    assert small.getvalue() == whole.getvalue()  # chunks of 97 rows split no group
    out = invoke(["evaluate", model, SEQUENCES, "--json"]).stdout
    assert json.loads(out)["rows"] == 800
    info = invoke(["info", model]).stdout
    assert "sequences   grouped by 'seq', ordered by 't'; read per step: ecal, hcal" in info


def test_the_rnn_beats_the_aggregates_on_the_sample(invoke):
    out = invoke(["compare", SEQUENCES, "--group", "seq", "--order", "t", "--models",
                  "gbt,rnn", "--bootstrap", "0", "--json"]).stdout  # fmt: skip
    report = json.loads(out)
    scores = {m["label"]: m["test"]["auc"] for m in report["models"]}
    assert scores["gbt"] < 0.65 < 0.8 < scores["rnn"]  # aggregates cannot see the order
    test = next(p for p in report["paired"] if {p["model"], p["against"]} == {"gbt", "rnn"})
    assert test["significant"] and test["method"] == "DeLong" and test["p_value"] < 1e-4


def test_the_sample_is_what_its_generator_writes():
    sys.path.insert(0, str(SAMPLE))
    from make_sequences import generate

    expected = generate()
    written = pd.read_csv(SEQUENCES)
    pd.testing.assert_frame_equal(written, expected, check_dtype=False)


def test_the_bundled_real_sequence_set_groups(invoke):
    out = invoke(["inspect", SAMPLE / "japanese_vowels_train.csv", "--group", "utterance",
                  "--order", "t", "--target", "speaker", "--json"])  # fmt: skip
    schema = json.loads(out.stdout)["schema"]
    assert schema["n_rows"] == 270 and len(schema["classes"]) == 9
    assert schema["sequence"]["steps"] == [f"c{i}" for i in range(1, 13)]
    assert "270 groups (7 to 26 rows per group)" in out.stderr


# ------------------------------------------------- skewed lengths: no padding, bounded


@pytest.mark.parametrize(("max_steps", "keep"), [(None, "last"), (4, "last"), (4, "first")])
def test_packing_from_the_steps_equals_torch_padding_and_packing(max_steps, keep):
    """RaggedTensor.packed builds the PackedSequence torch would build from a padded
    batch (cut to the last or first ``max_steps`` steps), without the padded batch."""
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence

    from nncli.prepare.ragged import Ragged

    rng = np.random.default_rng(0)
    lengths = np.array([3, 1, 7, 5, 5, 2, 9])
    ragged = Ragged.from_lengths(rng.normal(size=(lengths.sum(), 2)), lengths)
    picked = ragged.to_torch()[torch.tensor([6, 0, 2, 3, 5])]  # an index, as a shuffle does
    rows = [ragged.values[ragged.offsets[i] : ragged.offsets[i + 1]] for i in (6, 0, 2, 3, 5)]
    if max_steps is not None:
        rows = [r[-max_steps:] if keep == "last" else r[:max_steps] for r in rows]
    padded = np.zeros((len(rows), max(map(len, rows)), 2), dtype=np.float32)
    for i, r in enumerate(rows):
        padded[i, : len(r)] = r
    expected = pack_padded_sequence(torch.from_numpy(padded), [len(r) for r in rows],
                                     batch_first=True, enforce_sorted=False)  # fmt: skip
    got = picked.packed(max_steps, keep)
    torch.testing.assert_close(got.data, expected.data)
    assert torch.equal(got.batch_sizes, expected.batch_sizes)
    assert torch.equal(got.unsorted_indices, expected.unsorted_indices)


@pytest.fixture(scope="module")
def skewed(tmp_path_factory: pytest.TempPathFactory):
    """2,000 groups of 3 rows and one of 150,000 (3.6 MB): padded, 7 GB and minutes."""
    rng = np.random.default_rng(0)
    group = np.r_[np.repeat(np.arange(2000), 3), np.full(150_000, 2000)]
    order = np.r_[np.tile(np.arange(3), 2000), np.arange(150_000)]
    label = np.where(group % 2 == 0, "a", "b")
    path = tmp_path_factory.mktemp("skewed") / "skewed.csv"
    pd.DataFrame({"seq": group, "t": order, "x": rng.normal(size=len(group)).round(3),
                  "label": label}).to_csv(path, index=False)  # fmt: skip
    return path


def test_one_very_long_group_trains_in_bounded_memory(skewed, tmp_path):
    """Memory scales with the batch, not with the longest group × the groups; the long
    group is read by its last 1,000 rows (said), and predicting streams it."""
    import subprocess

    peak = (
        "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], "
        "capture_output=True, text=True); sys.stderr.write(r.stderr); "
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    command = [sys.executable, "-c", peak, sys.executable, "-m", "nncli", "train", str(skewed),
               "--group", "seq", "--order", "t", "-m", "rnn", "--epochs", "2", "-o",
               str(tmp_path / "rnn.nncli")]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    code, peak_kb = done.stdout.split()
    assert code == "0", done.stderr
    assert int(peak_kb) < 1_000_000  # < 1 GB (was 7 GB)
    assert ("Warning: rnn reads the last 1,000 rows of a group (--max-steps, --keep-steps): "
            "1 group(s) are longer (up to 150,000 rows)") in done.stderr  # fmt: skip
    from nncli import api

    out = io.StringIO()
    assert api.predict(tmp_path / "rnn.nncli", skewed, out, chunk_rows=50_000).rows == 2001


def test_a_batch_that_would_not_fit_is_refused_before_training(invoke, skewed, monkeypatch):
    monkeypatch.setattr("nncli.learn.models.base.available_bytes", lambda: 2 * 1024**3)
    err = invoke(["train", skewed, "--group", "seq", "--order", "t", "-m", "rnn",
                  "--max-steps", "0"], exit_code=2).stderr  # fmt: skip
    assert err.splitlines()[-2:] == [
        "Error: -m rnn would need about 3.6 GB for a batch of the longest groups (150,000 "
        "rows), more than half of the 2.1 GB available",
        "Hint: pass --max-steps N to read at most N rows of a group, or a smaller --batch-size.",
    ]
    ok = invoke(["train", skewed, "--group", "seq", "--order", "t", "-m", "rnn", "--epochs", "1",
                 "--max-steps", "20", "--keep-steps", "first"]).stderr  # fmt: skip
    assert "rnn reads the first 20 rows of a group" in ok


def test_predict_groups_an_ungrouped_file_in_memory_and_streams_only_grouped_ones(
    invoke, tmp_path, monkeypatch
):
    """train and compare group a long-format file whatever its order; predict does too
    when the file fits in memory (and says so). A file streamed for its size must list
    each group's rows together, as before."""
    model = tmp_path / "rnn.nncli"
    invoke(["train", SEQUENCES, "--group", "seq", "--order", "t", "-m", "rnn", *FAST,
            "-o", model])  # fmt: skip
    shuffled = tmp_path / "shuffled.csv"
    pd.read_csv(SEQUENCES).sample(frac=1.0, random_state=1).to_csv(shuffled, index=False)
    result = invoke(["predict", model, shuffled, "--proba"])
    assert "are not together: read whole and grouped by 'seq' in memory" in result.stderr
    got = pd.read_csv(io.StringIO(result.stdout)).set_index("seq").sort_index()
    plain = invoke(["predict", model, SEQUENCES, "--proba"])
    assert "not together" not in plain.stderr
    expected = pd.read_csv(io.StringIO(plain.stdout)).set_index("seq").sort_index()
    # a group with two rows at the same t reads them in file order: those may differ
    rows = pd.read_csv(SEQUENCES)
    tied = set(rows.loc[rows.duplicated(["seq", "t"]), "seq"])
    assert 0 < len(tied) < 10
    keep = [g for g in expected.index if g not in tied]
    pd.testing.assert_frame_equal(got.loc[keep], expected.loc[keep], check_exact=False,
                                  atol=2e-6)  # fmt: skip
    from nncli.scale import streaming

    monkeypatch.setattr(streaming, "too_big", lambda source: "too big (test)")
    err = invoke(["predict", model, shuffled], exit_code=1).stderr
    assert "is not grouped by 'seq'" in err and "Hint: sort the file" in err
