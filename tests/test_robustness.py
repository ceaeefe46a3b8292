"""Hostile and broken inputs against every command: one clear error or a clean result,
never a traceback; interrupted runs leave complete files or none; same seed, same output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nncli
from nncli.errors import NncliError
from tests.conftest import ROOT, SAMPLE, finish, interruptible

PHYSICS = SAMPLE / "physics.csv"
GOOD_ROWS = "".join(f"{i},{i % 3}.5,{'pq'[i % 2]}\n" for i in range(40))


def _rows(n: int, fmt) -> str:
    return "".join(fmt(i) for i in range(n))


def _wide(columns: int = 10_001, rows: int = 20) -> bytes:
    rng = np.random.default_rng(0)
    header = ",".join(f"c{i}" for i in range(columns)) + ",label\n"
    body = "".join(
        ",".join(f"{v:.3f}" for v in rng.random(columns)) + f",{'pq'[r % 2]}\n" for r in range(rows)
    )
    return (header + body).encode()


# name → (bytes, extra args, exit code, stderr fragment); the same for inspect/train/compare
CORPUS = {
    "empty file": (b"", [], 1, "is empty"),
    "header only": (b"a,b,label\n", [], 1, "has a header but no data rows"),
    "one data row": (b"a,b,label\n1,2,p\n", [], 1, "has only one class"),
    "ragged rows": (b"a,b,label\n1,2,p\n3\n4,5,q\n", [], 1, "ragged rows"),
    "unterminated quote": (b'a,b,label\n1,"open,p\n2,3,q\n4,5,p\n', [], 1, "unterminated quote"),
    "no usable feature": (
        ("id,label\n" + _rows(30, lambda i: f"{i},{'pq'[i % 2]}\n")).encode(),
        [],
        1,
        "no column can be used as a feature: id (id)",
    ),
    "wrong delimiter": (b"a;b;label\n1;2;p\n3;4;q\n", ["--sep", ","], 1, "has only one column"),
    "latin-1 bytes": (
        ("a,b,label\n" + _rows(20, lambda i: f"{i},caf\u00e9{i % 3},{'pq'[i % 2]}\n")).encode(
            "latin-1"
        ),
        [],
        1,
        "--encoding latin-1",
    ),
    "duplicate names": (b"a,a,label\n" + GOOD_ROWS.encode(), [], 1, "duplicate column name 'a'"),
    "target one class": (
        b"a,b,label\n" + _rows(20, lambda i: f"{i},{i},p\n").encode(),
        [],
        1,
        "has only one class ('p')",
    ),
    "target one-row class": (
        ("a,b,label\n" + _rows(20, lambda i: f"{i},{i % 4},p\n") + "99,1,q\n").encode(),
        [],
        1,
        "class 'q' of target",
    ),
    "all target missing": (
        b"a,b,label\n" + _rows(20, lambda i: f"{i},{i},\n").encode(),
        [],
        1,
        "has no values",
    ),
    "BOM": (b"\xef\xbb\xbfa,b,label\n" + GOOD_ROWS.encode(), [], 0, ""),
    "UTF-16": (("a,b,label\n" + GOOD_ROWS).encode("utf-16"), [], 0, ""),
    "NUL bytes": (b"a,b,label\n1,2\x00x,p\n" + GOOD_ROWS.encode(), [], 0, ""),
    "empty column name": (b",b,label\n" + GOOD_ROWS.encode(), [], 0, "have no name"),
    "mixed delimiters": (b"a,b;c,label\n" + GOOD_ROWS.encode(), [], 0, "may mix delimiters"),
    "very long field": (
        ("a,b,label\n" + "0," + "x" * 1_000_000 + ",p\n" + GOOD_ROWS).encode(),
        [],
        0,
        "",
    ),
    "inf, 1e308 and stray text": (
        (
            "x,z,label\ninf,1,p\n-inf,2,q\n1e308,3,p\noops,4,q\n"
            + _rows(60, lambda i: f"{i * 0.5},{i % 5},{'pq'[i % 2]}\n")
        ).encode(),
        [],
        0,
        "",
    ),
    "all-missing column": (
        ("a,b,label\n" + _rows(40, lambda i: f"{i % 7},,{'pq'[i % 2]}\n")).encode(),
        [],
        0,
        "",
    ),
    "target with NaN": (
        (
            "a,b,label\n"
            + _rows(40, lambda i: f"{i % 7},{i % 3},{'' if i % 5 == 0 else 'pq'[i % 2]}\n")
        ).encode(),
        [],
        0,
        "",
    ),
}
INSPECT_FINE = {"no usable feature"}  # inspect describes such a file; training cannot use it
COMMANDS = {
    "inspect": ["inspect"],
    "train": ["train"],
    "compare": ["compare", "--models", "majority,gbt", "--bootstrap", "50"],
}


def _check(result, code: int, fragment: str) -> None:
    assert "Traceback" not in result.output
    assert fragment in result.stderr, result.stderr
    if code:
        lines = result.stderr.splitlines()
        assert lines[0].startswith("Error: ") and lines[1].startswith("Hint: "), result.stderr
        assert result.stdout == ""


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("case", list(CORPUS))
def test_corpus(invoke, write_csv, case, command):
    content, args, code, fragment = CORPUS[case]
    if command == "inspect" and case in INSPECT_FINE:
        code, fragment = 0, ""
    path = write_csv(content)
    target = ["--target", "label"] if command != "inspect" or code == 0 else []
    if case == "empty column name" or case == "mixed delimiters":
        target = ["--target", "label"]
    result = invoke([*COMMANDS[command], path, *target, *args], exit_code=code)
    _check(result, code, fragment)


@pytest.mark.parametrize("command", ["inspect", "train"])
def test_ten_thousand_columns(invoke, write_csv, command):
    path = write_csv(_wide())
    result = invoke([*COMMANDS[command], path, "--target", "label"])
    assert "Traceback" not in result.output
    if command == "inspect":
        assert "10,001 feature(s)" in result.stdout and "more columns" in result.stdout


def test_categorical_with_100k_levels(invoke, write_csv):
    rows = _rows(150_000, lambda i: f"L{i % 100_000},{i % 7},{'pq'[i % 2]}\n")
    path = write_csv("cat,x,label\n" + rows)
    out = invoke(["inspect", path, "--json"]).stdout
    assert '"n_unique": 100000' in out and '"role": "categorical"' in out
    invoke(["train", path, "--quiet"])


# --------------------------------------------------------------- predict inputs


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "m.nncli"
    nncli.train(PHYSICS, model="gbt").save(path)
    return path


def _physics_variant(tmp_path: Path, change) -> Path:
    frame = pd.read_csv(PHYSICS)
    path = tmp_path / "variant.csv"
    change(frame).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    "name,change,code,fragment",
    [
        (
            "missing columns",
            lambda f: f.drop(columns=["m_jj", "channel"]),
            1,
            "2 feature column(s) the model was trained on are missing: m_jj, channel",
        ),
        (
            "extra and reordered",
            lambda f: f.assign(extra="x")[list(reversed(f.columns)) + ["extra"]],
            0,
            "",
        ),
        ("unseen categories", lambda f: f.assign(channel="tautau"), 0, "(channel: 4,000)"),
        (
            "wrong types",
            lambda f: f.assign(met=["high"] * 10 + list(f["met"][10:])),
            0,
            "(met: 10)",
        ),
        ("all values missing", lambda f: f.assign(met=np.nan, m_jj=np.nan), 0, ""),
    ],
)
def test_predict_inputs(invoke, model_path, tmp_path, name, change, code, fragment):
    data = _physics_variant(tmp_path, change)
    result = invoke(["predict", model_path, data], exit_code=code)
    _check(result, code, fragment)
    if code == 0:
        assert len(result.stdout.splitlines()) == 4001


# ------------------------------------------------------------------ fuzzing

TOKENS = st.sampled_from(
    [
        "1",
        "-2.5",
        "1e308",
        "inf",
        "",
        "NA",
        "?",
        "abc",
        "ü",
        '"q,1"',
        "x y",
        "true",
        "0",
        "7",
        "\x00",
        "   ",
        "1,5",
    ]
)


@st.composite
def csv_bytes(draw: st.DrawFn) -> bytes:
    sep = draw(st.sampled_from([",", ";", "\t"]))
    n_cols = draw(st.integers(1, 4))
    names = draw(
        st.lists(
            st.sampled_from(["a", "b", "c", "d", "", "é", "a b"]), min_size=n_cols, max_size=n_cols
        )
    )
    header = sep.join(names + ["label"])
    n_rows = draw(st.integers(0, 25))
    rows = [
        sep.join(
            draw(st.lists(TOKENS, min_size=n_cols, max_size=n_cols))
            + [draw(st.sampled_from(["p", "q", "", "r"]))]
        )
        for _ in range(n_rows)
    ]
    text = "\n".join([header, *rows]) + draw(st.sampled_from(["", "\n"]))
    return text.encode(draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1"])), "replace")


FUZZ_EXAMPLES = int(os.environ.get("NNCLI_FUZZ_EXAMPLES", "40"))


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(csv_bytes())
def test_fuzz_read_schema_preprocess_predict(tmp_path, data):
    """Any bytes either go all the way through or stop with nncli's own error."""
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    try:
        result = nncli.train(path, model="fisher")
        frame = nncli.read_table(path).frame
        proba = result.predictor.predict_proba(frame, unseen="ignore")
        assert np.allclose(proba.sum(axis=1), 1.0)
    except NncliError as exc:
        assert exc.message


# ------------------------------------------------------ interrupts and determinism


def _start(args: list[str], tmp_path: Path) -> subprocess.Popen:
    """The CLI in a process; its stderr goes to a file beside ``tmp_path`` (see _lines)."""
    with open(tmp_path.parent / f"{tmp_path.name}.err", "w") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "nncli", *args],
            cwd=tmp_path,
            preexec_fn=interruptible,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=os.environ | {"PYTHONPATH": str(ROOT)},
        )


def _lines(tmp_path: Path) -> list[str]:
    """What the process has written to stderr so far."""
    return (tmp_path.parent / f"{tmp_path.name}.err").read_text().splitlines()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_train_leaves_a_complete_file_or_none(tmp_path, sig):
    proc = _start(
        [
            "train",
            str(PHYSICS),
            "-m",
            "mlp",
            "--hidden",
            "64",
            "--epochs",
            "100000",
            "--patience",
            "100000",
            "-o",
            "m.nncli",
        ],
        tmp_path,
    )
    time.sleep(6)
    proc.send_signal(sig)
    finish(proc, 60)
    err = "\n".join(_lines(tmp_path))
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Interrupted" in err
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files in ([], ["m.nncli"])  # no temporary leftovers
    if files:
        assert nncli.load(tmp_path / "m.nncli").classes == ["background", "signal"]


def test_interrupted_compare_keeps_the_models_that_finished(tmp_path):
    """Ctrl-C while the MLP trains: the table of the finished models is printed, marked
    as interrupted, --out and --report are written for them (atomically), exit 130."""
    proc = _start(
        ["compare", str(PHYSICS), "--models", "gbt,mlp", "--epochs", "100000", "--patience",
         "100000", "--out", "run", "--report", "r.html", "--bootstrap", "100"],
        tmp_path,
    )  # fmt: skip
    deadline = time.time() + 60
    while time.time() < deadline and not any("rough  gbt" in s for s in _lines(tmp_path)):
        time.sleep(0.2)  # until gbt has finished and the MLP starts (it prints on its end)
    time.sleep(3.0)
    proc.send_signal(signal.SIGINT)
    out, _ = finish(proc, 60)
    err = "\n".join(_lines(tmp_path))
    assert proc.returncode == 130, err
    assert (
        "Traceback" not in err and "Interrupted: the report shows the models that finished" in err
    )
    assert "interrupted: the models that finished" in out and "gbt ★" in out
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == [
        "gbt.nncli", "oof_predictions.csv", "report.json", "test_predictions.csv",
        "train_predictions.csv",
    ]  # fmt: skip
    report = json.loads((run / "report.json").read_text())
    assert report["interrupted"] is True
    mlp = next(m for m in report["models"] if m["model"] == "mlp")
    assert mlp["status"] == "skipped" and mlp["note"] == "interrupted"
    assert (tmp_path / "r.html").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files


@pytest.mark.parametrize("model", ["logreg", "gbt", "mlp"])
def test_same_seed_gives_identical_predictions(model):
    frame = pd.read_csv(PHYSICS)
    settings = nncli.config.Settings(mlp=nncli.config.MLPConfig(hidden=(32,), epochs=5))
    one = nncli.train(PHYSICS, model=model, settings=settings).predictor.predict_proba(frame)
    two = nncli.train(PHYSICS, model=model, settings=settings).predictor.predict_proba(frame)
    assert np.array_equal(one, two)


def test_interrupted_gbt_keeps_its_best_round(tmp_path):
    """Ctrl-C while LightGBM boosts: the best round so far is written, as for the MLP."""
    big = tmp_path / "physics20.csv"
    lines = PHYSICS.read_text().splitlines(keepends=True)
    big.write_text(lines[0] + "".join(lines[1:]) * 20)
    proc = _start(["train", str(big), "-m", "gbt", "--gbt-learning-rate", "0.001",
                   "--gbt-max-rounds", "1000000", "--gbt-early-stopping-rounds", "1000000",
                   "-o", "m.nncli"], tmp_path)  # fmt: skip
    deadline = time.time() + 60
    while not any("2 classes" in s for s in _lines(tmp_path)):  # boosting starts
        assert time.time() < deadline and proc.poll() is None, _lines(tmp_path)
        time.sleep(0.1)
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    finish(proc, 60)
    err = "\n".join(_lines(tmp_path))
    assert proc.returncode == 130, err
    assert "Interrupted: the best round so far was kept and written to m.nncli." in err
    card = nncli.load(tmp_path / "m.nncli").card
    assert card.model == "gbt" and card.stop_reason == "interrupted"
    assert 1 <= card.best_epoch <= len(card.history) < 1_000_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.nncli", "physics20.csv"]
