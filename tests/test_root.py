"""ROOT files: trees in for every reading command, --sample TMVA style, scores out as a
friend tree. The tests write their own ROOT files with uproot."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import SAMPLE

uproot = pytest.importorskip("uproot")
import awkward as ak  # noqa: E402

from nncli import api  # noqa: E402

NUMBERS = ["lep_pt", "lep_eta", "met", "m_jj", "delta_r", "jet2_pt"]


def write_tree(path, frame: pd.DataFrame, tree: str = "events", jagged: dict | None = None,
               mode: str = "recreate") -> None:  # fmt: skip
    """``frame``'s columns as branches of a TTree (and jagged branches from lists)."""
    branches = {c: frame[c].to_numpy() for c in frame.columns}
    types = {c: v.dtype for c, v in branches.items()}
    for name, lists in (jagged or {}).items():
        branches[name] = ak.Array(lists)
        types[name] = "var * float64"
    with getattr(uproot, mode)(path) as out:
        out.mktree(tree, types)
        out[tree].extend(branches)


@pytest.fixture(scope="module")
def physics():
    frame = pd.read_csv(SAMPLE / "physics.csv")
    frame["channel"] = frame["channel"].map({"ee": 0, "mumu": 1, "emu": 2}).astype(np.int32)
    rng = np.random.default_rng(0)
    frame["evt_w"] = rng.uniform(0.5, 1.5, len(frame))
    return frame


@pytest.fixture(scope="module")
def files(physics, tmp_path_factory):
    """sig.root, bkg1.root, bkg2.root (events trees, a jagged branch), the same rows as
    one CSV, and a file with two trees."""
    root = tmp_path_factory.mktemp("root")
    rng = np.random.default_rng(1)
    jets = [list(np.round(rng.gamma(2.0, 30.0, k), 2)) for k in physics["n_jets"]]
    signal = (physics["label"] == "signal").to_numpy()
    half = rng.random(len(physics)) < 0.5
    parts = {"sig": signal, "bkg1": ~signal & half, "bkg2": ~signal & ~half}
    for name, rows in parts.items():
        part = physics[rows].drop(columns="label")
        mine = [jets[i] for i in np.flatnonzero(rows)]
        write_tree(root / f"{name}.root", part, jagged={"jet_e": mine})
    write_tree(root / "two.root", physics[NUMBERS], tree="a")
    with uproot.update(root / "two.root") as out:
        out.mktree("b", {"x": np.float64})
        out["b"].extend({"x": np.arange(3.0)})
    return root, parts, jets


def test_a_tree_reads_scalar_branches_and_jagged_aggregates(invoke, files, physics):
    root, parts, jets = files
    table_out = invoke(["inspect", root / "sig.root", "--json"])
    report = json.loads(table_out.stdout)
    names = [c["name"] for c in report["schema"]["columns"]]
    assert names[:9] == [
        "lep_pt",
        "lep_eta",
        "met",
        "m_jj",
        "delta_r",
        "n_jets",
        "jet2_pt",
        "channel",
        "evt_w",
    ]  # the scalar branches, in the tree's order
    assert {f"jet_e_{a}" for a in ("count", "mean", "min", "max", "first", "last")} <= set(names)
    assert "read as per-event count, mean, min, max, first, last" in table_out.stderr
    from nncli.io.data import read_table

    frame = read_table(f"{root}/sig.root:events").frame
    mine = [jets[i] for i in np.flatnonzero(parts["sig"])]
    assert frame["jet_e_count"].tolist() == [len(j) for j in mine]
    np.testing.assert_allclose(frame["jet_e_mean"], [np.mean(j) if j else np.nan for j in mine])
    np.testing.assert_allclose(frame["jet_e_max"], [max(j) if j else np.nan for j in mine])
    np.testing.assert_allclose(frame["jet_e_last"], [j[-1] if j else np.nan for j in mine])
    expected = physics[parts["sig"]].reset_index(drop=True)
    np.testing.assert_allclose(frame["met"], expected["met"])  # NaN where it was missing
    assert frame["channel"].dtype == np.int64


def test_branches_keeps_a_subset_and_the_target(invoke, files):
    root, _, _ = files
    out = invoke(["inspect", root / "sig.root", "--branches", "lep_*,jet_e", "--target",
                  "channel", "--json"]).stdout  # fmt: skip
    names = [c["name"] for c in json.loads(out)["schema"]["columns"]]
    assert names[:2] == ["lep_pt", "lep_eta"] and "channel" in names and "met" not in names
    assert "jet_e_mean" in names
    err = invoke(["inspect", root / "sig.root", "--branches", "lepton_*"], exit_code=1).stderr
    assert "Error: --branches 'lepton_*' matches no branch of the tree" in err


def test_samples_with_weights_reproduce_a_hand_built_csv(invoke, files, physics, tmp_path):
    """--sample signal=… --sample background=…*0.83 …: the same rows, the target from the
    names and the per-file weights multiplied into evt_w give exactly the metrics of one
    CSV built by hand."""
    root, parts, _ = files
    samples = ["--sample", f"signal={root}/sig.root:events",
               "--sample", f"background={root}/bkg1.root:events*0.83",
               "--sample", f"background={root}/bkg2.root*2.1"]  # fmt: skip
    by_sample = json.loads(invoke(["train", *samples, "--weight", "evt_w", "-m", "gbt", "--json",
                                   "-q", "-o", tmp_path / "s.nncli"]).stdout)  # fmt: skip
    from nncli.io.data import read_table

    pieces = []
    for name, label, w in (("sig", "signal", 1.0), ("bkg1", "background", 0.83),
                           ("bkg2", "background", 2.1)):  # fmt: skip
        part = read_table(f"{root}/{name}.root").frame
        part["class"] = label
        part["evt_w"] = part["evt_w"] * w
        pieces.append(part)
    by_hand = pd.concat(pieces, ignore_index=True)
    by_hand.to_csv(tmp_path / "all.csv", index=False, float_format="%.17g")
    csv = json.loads(invoke(["train", tmp_path / "all.csv", "--target", "class", "--weight",
                             "evt_w", "-m", "gbt", "--json", "-q"]).stdout)  # fmt: skip
    assert by_sample["metrics"] == csv["metrics"]
    card = api.load(tmp_path / "s.nncli").card.data
    assert [s["class"] for s in card.samples] == ["signal", "background", "background"]
    assert [s["weight"] for s in card.samples] == [1.0, 0.83, 2.1]
    assert [s["entries"] for s in card.samples] == [int(parts[n].sum()) for n in
                                                    ("sig", "bkg1", "bkg2")]  # fmt: skip
    assert all(len(s["sha256"]) == 64 for s in card.samples)
    assert card.source.startswith("samples: signal=") and "*0.83" in card.source
    info = invoke(["info", tmp_path / "s.nncli"]).stdout
    assert "trained on  samples: signal=" in info


def test_samples_use_the_common_columns_and_say_which_were_left_out(invoke, tmp_path):
    a = pd.DataFrame({"x": np.arange(40.0), "y": np.arange(40.0) % 3, "only_a": 1.0})
    b = pd.DataFrame({"x": np.arange(40.0) + 5, "y": np.arange(40.0) % 2})
    a.to_csv(tmp_path / "a.csv", index=False)
    b.to_parquet(tmp_path / "b.parquet")
    out = invoke(["inspect", "--sample", f"s={tmp_path}/a.csv", "--sample",
                  f"b={tmp_path}/b.parquet", "--json"])  # fmt: skip
    assert "a.csv: column(s) only_a left out: not in every sample file" in out.stderr
    names = [c["name"] for c in json.loads(out.stdout)["schema"]["columns"]]
    assert names == ["x", "y", "class"]
    err = invoke(["inspect", "--sample", f"s={tmp_path}/a.csv"], exit_code=2).stderr
    assert "--sample needs at least two classes" in err
    err = invoke(["inspect", "--sample", f"s={tmp_path}/a.csv*-1", "--sample",
                  f"b={tmp_path}/b.parquet"], exit_code=2).stderr  # fmt: skip
    assert "the weight after * must be a number above 0" in err
    err = invoke(["inspect", tmp_path / "a.csv", "--sample", f"s={tmp_path}/a.csv"],
                 exit_code=2).stderr  # fmt: skip
    assert "pass DATA or --sample files, not both" in err


def test_scores_go_back_as_a_friend_tree_aligned_with_the_input(invoke, files, tmp_path):
    root, parts, _ = files
    model = tmp_path / "m.nncli"
    invoke(["train", "--sample", f"signal={root}/sig.root", "--sample",
            f"background={root}/bkg1.root", "-m", "logreg", "-o", model, "-q"])  # fmt: skip
    invoke(["predict", model, f"{root}/bkg2.root:events", "-o", tmp_path / "scores.root",
            "--tree", "friend"])  # fmt: skip
    invoke(["predict", model, f"{root}/bkg2.root:events", "--proba", "-o",
            tmp_path / "scores.csv"])  # fmt: skip
    tree = uproot.open(tmp_path / "scores.root")["friend"]
    assert tree.num_entries == int(parts["bkg2"].sum())
    assert "label: 0=background, 1=signal" in tree.title
    scores = tree.arrays(library="np")
    csv = pd.read_csv(tmp_path / "scores.csv")
    np.testing.assert_allclose(scores["proba_signal"], csv["proba_signal"], atol=1e-6)
    assert (np.array(["background", "signal"])[scores["label"]] == csv["prediction"]).all()
    evaluated = json.loads(invoke(["evaluate", model, "--json", f"{root}/bkg2.root"],
                                  exit_code=1).stdout or "{}")  # fmt: skip
    assert evaluated == {}  # no target column in a background-only tree: an error


def test_a_tree_larger_than_the_chunk_is_read_in_entry_ranges(files, physics, tmp_path,
                                                              monkeypatch):  # fmt: skip
    """Prediction reads the tree in entry ranges (memory flat): each chunk is one range."""
    import nncli.io.root as root_io

    big = pd.concat([physics[NUMBERS + ["n_jets", "channel"]]] * 30, ignore_index=True)
    write_tree(tmp_path / "big.root", big)  # 120,000 entries, above predict's 100,000
    ranges = []
    real = root_io._read

    def spy(tree, branches, name, **kw):
        ranges.append((kw.get("entry_start"), kw.get("entry_stop")))
        return real(tree, branches, name, **kw)

    monkeypatch.setattr(root_io, "_read", spy)
    model = tmp_path / "m.nncli"
    frame = physics.drop(columns=["evt_w"])
    result = api.train(frame, model="logreg", target="label")
    result.predictor.save(model)
    summary = api.predict_root(model, tmp_path / "big.root", tmp_path / "s.root",
                               chunk_rows=25_000)  # fmt: skip
    assert summary.rows == 120_000
    assert ranges == [(s, min(s + 25_000, 120_000)) for s in range(0, 120_000, 25_000)]
    assert uproot.open(tmp_path / "s.root")["nncli"].num_entries == 120_000


def test_compare_and_evaluate_read_trees(invoke, files, tmp_path):
    root, _, _ = files
    samples = ["--sample", f"signal={root}/sig.root", "--sample", f"background={root}/bkg1.root"]
    result = invoke(["compare", *samples, "--models", "gbt,logreg", "--json", "-q",
                     "--out", tmp_path / "run"])  # fmt: skip
    assert result.stderr == ""  # -q: the samples' reading notes too
    out = json.loads(result.stdout)
    assert out["rows"]["total"] > 2000 and out["best"] in ("gbt", "logreg")
    write_tree(tmp_path / "labelled.root", pd.DataFrame({"x": [1.0]}))  # not the columns
    err = invoke(["evaluate", tmp_path / "run" / "gbt.nncli", tmp_path / "labelled.root"],
                 exit_code=1).stderr  # fmt: skip
    assert "Error:" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("name", "words", "code"),
    [
        ("two.root", "holds 2 trees: a, b", 1),
        ("two.root:c", "has no tree 'c'", 1),
        ("notroot.root", "is not a ROOT file", 1),
        ("truncated.root:events", "cannot read", 1),
        ("missing.root", "file not found", 1),
    ],
)
def test_broken_root_input_gets_one_clear_error(invoke, files, tmp_path, name, words, code):
    root, _, _ = files
    (tmp_path / "notroot.root").write_text("lep_pt,label\n1,a\n")
    data = (root / "sig.root").read_bytes()
    (tmp_path / "truncated.root").write_bytes(data[: len(data) // 2])
    (tmp_path / "two.root").write_bytes((root / "two.root").read_bytes())
    out = tmp_path / "m.nncli"
    err = invoke(["train", f"{tmp_path}/{name}", "-m", "gbt", "-o", out], exit_code=code).stderr
    assert words in err and "Hint:" in err and "Traceback" not in err
    assert not out.exists()


def test_without_the_extra_a_root_file_says_what_to_install(invoke, files, monkeypatch):
    import builtins

    root, _, _ = files
    real = builtins.__import__

    def no_uproot(name, *args, **kw):
        if name == "uproot":
            raise ImportError("no uproot")
        return real(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_uproot)
    err = invoke(["inspect", root / "sig.root"], exit_code=1).stderr
    assert "Error: reading ROOT files needs the root extra, and uproot is not installed" in err
    assert "Hint: pip install 'nncli[root]'." in err


def test_streamed_training_and_evaluate_read_a_labelled_tree(invoke, physics, tmp_path):
    """A tree with an integer class branch: read whole, it trains and evaluates exactly as
    the same rows in a CSV; --stream training reads it in entry ranges."""
    frame = physics.drop(columns=["label", "evt_w"]).assign(
        is_signal=(physics["label"] == "signal").astype(np.int32))  # fmt: skip
    write_tree(tmp_path / "lab.root", frame)
    frame.to_csv(tmp_path / "lab.csv", index=False, float_format="%.17g")
    scores = []
    for name in ("lab.root", "lab.csv"):
        invoke(["train", tmp_path / name, "--target", "is_signal", "-m", "logreg",
                "-o", tmp_path / f"{name}.nncli", "-q"])  # fmt: skip
        out = invoke(["evaluate", tmp_path / f"{name}.nncli", tmp_path / name, "--json"])
        scores.append(json.loads(out.stdout)["metrics"])
    assert scores[0]["auc"] > 0.85 and scores[0] == pytest.approx(scores[1], abs=1e-9)
    streamed = json.loads(invoke(["train", tmp_path / "lab.root", "--target", "is_signal",
                                  "-m", "logreg", "--stream", "--json", "-q"]).stdout)  # fmt: skip
    assert streamed["rows_train"] + streamed["rows_valid"] == len(frame)
    assert streamed["metrics"]["valid"]["auc"] > 0.85


def test_scores_are_never_written_over_the_input_tree(invoke, files, tmp_path):
    root, _, _ = files
    model = tmp_path / "m.nncli"
    invoke(["train", "--sample", f"signal={root}/sig.root", "--sample",
            f"background={root}/bkg1.root", "-m", "logreg", "-o", model, "-q"])  # fmt: skip
    copy = tmp_path / "in.root"
    copy.write_bytes((root / "bkg2.root").read_bytes())
    err = invoke(["predict", model, f"{copy}:events", "-o", copy, "--force"], exit_code=2).stderr
    assert "refusing to write the output over the input file" in err
    assert copy.read_bytes() == (root / "bkg2.root").read_bytes()
