"""nncli export: every model kind as one ONNX graph, checked here independently of the
export's own check: the test builds the inputs itself, runs the written file in
onnxruntime and compares with nncli's predictions on the same (float32) numbers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import SAMPLE

pytest.importorskip("onnxruntime")
import onnxruntime as ort  # noqa: E402

from nncli import api  # noqa: E402

TOL = 1e-5
N_ROWS = 500


def synthetic(classes: int, messy: bool, seed: int = 0) -> pd.DataFrame:
    """Numbers (one a small integer), with ``messy`` missing values, a categorical with a
    rare level, a boolean and the target."""
    rng = np.random.default_rng(seed)
    n = N_ROWS
    a, b = rng.normal(size=n), rng.exponential(2.0, size=n)
    frame = pd.DataFrame({"a": a.round(3), "b": b.round(2), "k": rng.integers(0, 5, n)})
    score = a + 0.5 * b + 0.3 * frame.k
    if messy:
        colour = rng.choice(["red", "green", "blue", "violet"], n, p=[0.4, 0.3, 0.29, 0.01])
        frame["colour"] = colour
        frame["flag"] = np.where(rng.random(n) < 0.5, "True", "False")
        score = score + (colour == "red") - 0.7 * (frame.flag == "True")
        frame.loc[rng.random(n) < 0.1, "a"] = np.nan
        frame.loc[rng.random(n) < 0.05, "colour"] = None
    edges = np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1])
    frame["label"] = np.array([f"c{i}" for i in range(classes)])[np.digitize(score, edges)]
    return frame


def with_unseen(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with categories never seen in training in some rows (and a flag
    spelled in another case), for the check data."""
    out = frame.copy()
    if "colour" in out:
        out.loc[out.index[:7], "colour"] = "ultraviolet"
        out.loc[out.index[7:12], "flag"] = "TRUE"
    return out


def feeds(model_path, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Inputs built by the test: float32 numbers, text with "" where missing."""
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    out = {}
    for spec in session.get_inputs():
        values = frame[spec.name]
        if spec.type == "tensor(string)":
            out[spec.name] = values.astype(object).where(values.notna(), "").astype(str)
            out[spec.name] = out[spec.name].to_numpy()[:, None]
        else:
            out[spec.name] = values.to_numpy(dtype=np.float32, na_value=np.nan)[:, None]
    return out


def nncli_proba(model_path, frame: pd.DataFrame) -> np.ndarray:
    """nncli's probabilities on the same float32 numbers the graph reads."""
    rounded = frame.copy()
    for name in rounded.columns:
        if pd.api.types.is_float_dtype(rounded[name]) or pd.api.types.is_integer_dtype(
            rounded[name]
        ):
            rounded[name] = rounded[name].astype(np.float32).astype(np.float64)
    return api.load(model_path).predict_proba(rounded, unseen="ignore")


def run_graph(path, frame):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["probabilities", "label"], feeds(path, frame))


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    sets = {}
    for classes in (2, 3):
        for messy in (False, True):
            frame = synthetic(classes, messy, seed=classes)
            train, check = root / f"d{classes}{messy}.csv", root / f"c{classes}{messy}.csv"
            frame.to_csv(train, index=False)
            with_unseen(frame).to_csv(check, index=False)
            sets[classes, messy] = (train, check)
    return root, sets


KINDS = {
    "gbt": ["-m", "gbt"],
    "logreg": ["-m", "logreg"],
    "fisher": ["-m", "fisher"],
    "majority": ["-m", "majority"],
    "mlp": ["-m", "mlp", "--epochs", "3"],
    # every MLP setting that changes the graph: maxout, batch norm, residual blocks,
    # PLE embeddings, front scale, the TabM-mini members' mean, categorical embeddings
    "mlp-strong": ["-m", "mlp", "--preset", "strong", "--epochs", "2", "--max-one-hot", "3"],
    "mlp-maxout": ["-m", "mlp", "--activation", "maxout", "--norm", "batch", "--residual",
                   "--hidden", "16,16", "--epochs", "2", "--scaler", "quantile"],
    "mlp-periodic": ["-m", "mlp", "--num-embedding", "periodic", "--front-scale",
                     "--norm", "layer", "--activation", "elu", "--scaler", "robust",
                     "--epochs", "2"],
    "mlp-minmax": ["-m", "mlp", "--activation", "leaky_relu", "--scaler", "minmax",
                   "--epochs", "2"],
    "gbt-bagged": ["-m", "gbt", "--bag", "3"],
}  # fmt: skip


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("messy", [False, True], ids=["clean", "missing+categories"])
def test_every_model_kind_exports_and_agrees(invoke, datasets, kind, classes, messy):
    root, sets = datasets
    train, check = sets[classes, messy]
    model, onnx_path = root / f"{kind}{classes}{messy}.nncli", root / f"{kind}{classes}{messy}.onnx"
    invoke(["train", train, "-o", model, "-q", "--force", *KINDS[kind]])
    out = invoke(["export", model, "-o", onnx_path, "--check", check, "--force"]).stdout
    assert f"rows of {check}" in out and "predicted class differs on 0 row(s)" in out
    frame = pd.read_csv(check)
    proba, label = run_graph(onnx_path, frame)
    expected = nncli_proba(model, frame)
    assert proba.dtype == np.float32 and proba.shape == (len(frame), classes)
    np.testing.assert_allclose(proba, expected, atol=TOL, rtol=0)
    predictor = api.load(model)
    assert list(label) == list(np.asarray(predictor.classes)[expected.argmax(axis=1)])


def test_an_ensemble_from_compare_exports_as_the_weighted_sum(invoke, datasets):
    root, sets = datasets
    train, check = sets[3, True]
    out_dir = root / "cmp"
    invoke(["compare", train, "--models", "gbt,logreg,mlp,ensemble", "--epochs", "2",
            "--out", out_dir, "-q", "--force"])  # fmt: skip
    model = out_dir / "ensemble.nncli"
    predictor = api.load(model)
    assert len(predictor.members) >= 2
    invoke(["export", model, "-o", root / "ens.onnx", "--check", check, "--force"])
    frame = pd.read_csv(check)
    proba, _ = run_graph(root / "ens.onnx", frame)
    np.testing.assert_allclose(proba, nncli_proba(model, frame), atol=TOL, rtol=0)


def test_float32_thresholds_send_values_as_lightgbm_does(invoke, tmp_path):
    """A LightGBM threshold rounded to the nearest float32 can lie above the float64 one;
    a float32 value between the two went the wrong way (the physics sample had such a row:
    0.0056 apart before the fix). The values at every threshold's float32 neighbours go
    where LightGBM sends them."""
    model, path = tmp_path / "gbt.nncli", tmp_path / "gbt.onnx"
    invoke(["train", SAMPLE / "physics.csv", "-m", "gbt", "-o", model, "-q"])
    invoke(["export", model, "-o", path])
    predictor = api.load(model)
    from nncli.deploy.trees import numeric_thresholds

    booster = predictor.model.booster
    names = [n.name for n in predictor.preprocessor.numeric]
    thresholds = numeric_thresholds(booster)
    frame = pd.read_csv(SAMPLE / "physics.csv").head(1)
    rows = []
    for j, values in thresholds.items():
        for t in values:
            t32 = np.float32(t)
            for v in (t32, np.nextafter(t32, np.float32(np.inf)),
                      np.nextafter(t32, np.float32(-np.inf))):  # fmt: skip
                row = frame.copy()
                row[names[j]] = float(v)
                rows.append(row)
    probe = pd.concat(rows, ignore_index=True)
    proba, _ = run_graph(path, probe)
    X, _ = predictor.preprocessor.transform(probe)
    lightgbm = booster.predict(X)  # LightGBM itself, float64 thresholds
    assert len(probe) > 100
    np.testing.assert_allclose(proba[:, 1], lightgbm, atol=TOL, rtol=0)


def test_flat_input_codes_and_operators(invoke, datasets):
    root, sets = datasets
    train, check = sets[2, True]
    model, path = root / "flat.nncli", root / "flat.onnx"
    invoke(["train", train, "-m", "mlp", "--epochs", "2", "-o", model, "-q"])
    out = invoke(["export", model, "-o", path, "--flat", "--check", check]).stdout
    codes = json.loads((root / "flat.onnx.codes.json").read_text())
    assert codes["columns"] == ["a", "b", "k", "colour", "flag"]
    assert sorted(codes["codes"]["flag"]) == ["false", "true"]  # lower case: any case matches
    levels = api.load(model).preprocessor.categorical[0].levels
    assert codes["codes"]["colour"] == levels and {"red", "green", "blue"} <= set(levels)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["features"]
    frame = pd.read_csv(check)
    matrix = np.column_stack([
        frame.a, frame.b, frame.k,
        [np.nan if pd.isna(v) else codes["codes"]["colour"].index(v)
         if v in codes["codes"]["colour"] else -1 for v in frame.colour],
        [codes["codes"]["flag"].index(str(v).lower()) for v in frame.flag],
    ]).astype(np.float32)  # fmt: skip
    proba, label = session.run(["probabilities", "label"], {"features": matrix})
    np.testing.assert_allclose(proba, nncli_proba(model, frame), atol=TOL, rtol=0)
    assert label.dtype == np.int64
    # a reader of numbers only: no text operators, no tree or label-encoder operators
    line = next(x for x in out.splitlines() if "operators" in x)
    operators = set(line.split("operators", 1)[1].strip().split(", "))
    assert operators and not operators & {"LabelEncoder", "StringNormalizer",
                                          "TreeEnsembleClassifier"}  # fmt: skip
    assert operators <= {
        "Add", "ArgMax", "Cast", "Clip", "Concat", "Constant", "Div", "Equal", "Expand",
        "Floor", "Gather", "Gemm", "GreaterOrEqual", "Identity", "IsInf", "IsNaN", "Less", "Mul",
        "Not", "Or", "Relu", "Shape", "Sigmoid", "Softmax", "Sqrt", "Squeeze", "Sub",
        "Unsqueeze", "Where", "Slice"}  # fmt: skip


def test_derived_columns_are_computed_in_the_graph(invoke, tmp_path):
    """Every allow-listed operator, a definition that uses an earlier one, a text
    comparison; missing inputs and non-finite results give missing values, as in nncli."""
    model, path = tmp_path / "d.nncli", tmp_path / "d.onnx"
    definitions = [
        "ratio = lep_pt / (n_jets - 2)",  # n_jets == 2: division by zero → missing
        "ee = channel == 'ee' or channel != 'mumu' and not met > 50",
        "mix = arctan2(lep_eta, delta_r - 2) + log1p(abs(jet2_pt)) % 3 + clip(met, 20, 80) // 7",
        "more = where(n_jets > 1, hypot(lep_pt, met), tan(lep_eta)) + log10(met) - sqrt(m_jj)"
        " + exp(-delta_r) * sin(lep_eta) * cos(lep_eta) + tanh(ratio) + arctan(lep_eta)"
        " + minimum(lep_pt, met) - maximum(ratio, 1) + log(m_jj) + 2 ** delta_r",
    ]
    args = [a for d in definitions for a in ("--feature", d)]
    invoke(["train", SAMPLE / "physics.csv", "-m", "mlp", "--epochs", "2", "-o", model, "-q",
            *args])  # fmt: skip
    invoke(["export", model, "-o", path, "--check", SAMPLE / "physics.csv"])
    frame = pd.read_csv(SAMPLE / "physics.csv")
    proba, _ = run_graph(path, frame)
    np.testing.assert_allclose(proba, nncli_proba(model, frame), atol=TOL, rtol=0)


def test_above_the_tolerance_nothing_is_written(invoke, tmp_path):
    model, path = tmp_path / "m.nncli", tmp_path / "m.onnx"
    invoke(["train", SAMPLE / "segment.csv", "-m", "logreg", "-o", model, "-q"])
    err = invoke(["export", model, "-o", path, "--tolerance", "0"], exit_code=1).stderr
    assert "Error: the exported graph disagrees with nncli: checked on 2,000 rows drawn " \
           "from the model card: largest |Δ probability|" in err  # fmt: skip
    assert "above the tolerance 0; nothing was written" in err and "Hint:" in err
    assert not path.exists() and not list(tmp_path.glob(".m.onnx*"))
    invoke(["export", model, "-o", path])
    err = invoke(["export", model, "-o", path], exit_code=2).stderr
    assert "already exists" in err and "Hint: pass --force to overwrite it." in err


def test_json_info_and_the_default_check(invoke, tmp_path):
    model, path = tmp_path / "m.nncli", tmp_path / "m.onnx"
    invoke(["train", SAMPLE / "credit_g.csv", "-m", "gbt", "-o", model, "-q"])
    assert "export      to ONNX with nncli export MODEL -o model.onnx" in invoke(
        ["info", model]).stdout  # fmt: skip
    report = json.loads(invoke(["export", model, "-o", path, "--json"]).stdout)
    assert report["opset"] == {"ai.onnx": 17, "ai.onnx.ml": 3}
    assert report["check"]["rows"] == 2000 and report["check"]["max_abs_diff"] < TOL
    assert report["check"]["source"] == "rows drawn from the model card"
    assert report["classes"] == ["bad", "good"]
    types = {i["name"]: i["type"] for i in report["inputs"]}
    assert types["duration"] == "float32" and types["purpose"] == "string"
    assert json.loads(invoke(["info", model, "--json"]).stdout)["onnx_export"] == {
        "possible": True, "why_not": None}  # fmt: skip


def test_the_rnn_is_refused_with_a_reason(invoke, tmp_path):
    model = tmp_path / "rnn.nncli"
    invoke(["train", SAMPLE / "sequences.csv", "-m", "rnn", "--group", "seq", "--order", "t",
            "--epochs", "1", "--rnn-hidden", "4", "-o", model, "-q"])  # fmt: skip
    assert "export      not to ONNX: -m rnn reads a variable number of rows" in invoke(
        ["info", model]).stdout  # fmt: skip
    err = invoke(["export", model, "-o", tmp_path / "r.onnx"], exit_code=1).stderr
    assert "Error: this model cannot be exported: -m rnn reads a variable number" in err
    assert "Hint: export a model trained with -m gbt, mlp, logreg or fisher." in err


def test_without_the_extra_export_says_what_to_install(invoke, tmp_path, monkeypatch):
    import importlib.util

    model = tmp_path / "m.nncli"
    invoke(["train", SAMPLE / "segment.csv", "-m", "logreg", "-o", model, "-q"])
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "onnxruntime" else real(name, *a),
    )
    err = invoke(["export", model, "-o", tmp_path / "m.onnx"], exit_code=1).stderr
    assert "Error: nncli export needs the onnx extra, and onnxruntime is not installed" in err
    assert "Hint: pip install 'nncli[onnx]'" in err


def test_fold_by_applies_the_fold_models_by_event_number_in_the_graph(invoke, tmp_path):
    """k-fold application inside the graph: with --fold-by, event numbers (int64, past
    float32's whole numbers) pick the fold models; the graph gives compare's own
    out-of-fold predictions for every training row."""
    frame = pd.read_csv(SAMPLE / "physics.csv")
    frame["event"] = np.arange(len(frame), dtype=np.int64) + 2**40
    events, out = tmp_path / "events.csv", tmp_path / "run"
    frame.to_csv(events, index=False)
    invoke(["compare", events, "--models", "gbt,logreg,ensemble", "--bag", "3", "--fold-by",
            "event", "--out", out, "-q"])  # fmt: skip
    oof = pd.read_csv(out / "oof_predictions.csv")
    rows = frame.set_index("event").loc[oof["event"]].reset_index()
    for model in ("gbt", "ensemble"):
        path = tmp_path / f"{model}.onnx"
        text = invoke(["export", out / f"{model}.nncli", "-o", path, "--fold-by", "event",
                       "--check", events]).stdout  # fmt: skip
        assert "event [N, 1] int64: each row is scored by the fold models" in text
        inputs = feeds(path, rows) | {"event": rows["event"].to_numpy(np.int64)[:, None]}
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (proba,) = session.run(["probabilities"], inputs)
        np.testing.assert_allclose(proba[:, 1], oof[f"{model}:signal"], atol=TOL, rtol=0)
    err = invoke(["export", tmp_path / "gbt.onnx", "-o", tmp_path / "x.onnx", "--fold-by",
                  "event"], exit_code=1).stderr  # fmt: skip
    assert "Error: " in err
    single = tmp_path / "single.nncli"
    invoke(["train", events, "-m", "logreg", "-o", single, "-q"])
    err = invoke(["export", single, "-o", tmp_path / "s.onnx", "--fold-by", "event"],
                 exit_code=2).stderr  # fmt: skip
    assert "this model was not cross-fitted by a fold column" in err


def test_the_python_api_exports_a_data_frame_checked(tmp_path):
    """nncli.export from Python: the check may be a DataFrame; the function stays the
    function after the export modules are imported (they live in nncli.deploy)."""
    import nncli
    import nncli.deploy.build  # noqa: F401

    frame = pd.read_csv(SAMPLE / "segment.csv")
    result = nncli.train(frame, model="logreg", target="class")
    result.predictor.save(tmp_path / "m.nncli")
    done = nncli.export(tmp_path / "m.nncli", tmp_path / "m.onnx", check=frame.head(300))
    assert done.check.rows == 300 and done.check.source == "rows of <DataFrame>"
    assert done.check.max_abs_diff < TOL and (tmp_path / "m.onnx").exists()
    with pytest.raises(nncli.NncliError) as info:
        nncli.export(tmp_path / "m.nncli", tmp_path / "m.onnx")
    assert "already exists" in info.value.message
