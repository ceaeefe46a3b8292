"""What a new user trips over: each behaviour through the real entry point."""

from __future__ import annotations

import pandas as pd

from tests.conftest import SAMPLE

PHYSICS = SAMPLE / "physics.csv"


def _passengers(path):
    rows = []
    for i in range(300):
        cls = ("1st", "2nd", "3rd")[i % 3]
        sex = "f" if i % 2 else "m"
        rows.append({"class": cls, "age": 20 + i % 50, "sex": sex, "survived": int(i % 4 == 1)})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_the_target_is_named_first_and_a_likelier_label_is_pointed_out(invoke, tmp_path):
    data = _passengers(tmp_path / "passengers.csv")
    for command in (["train", data], ["compare", data, "--models", "majority,logreg"]):
        err = invoke([*command, "--bootstrap", "50"] if command[0] == "compare" else command)
        lines = err.stderr.splitlines()
        assert lines[0] == (
            "target 'class' (chosen by its name; pass --target to change): 3 classes"
        )
        assert lines[1] == (
            "Warning: the target is 'class', chosen by its name, but the last column "
            "'survived' also looks like a label (2 distinct values); pass --target survived "
            "if that is what you want to predict"
        )
    given = invoke(["train", data, "--target", "survived"]).stderr.splitlines()
    assert given[0] == "target 'survived': 2 classes" and not given[1:]


def test_warnings_come_before_the_first_model(invoke, tmp_path):
    frame = pd.read_csv(PHYSICS)
    frame.insert(0, "event_id", range(len(frame)))
    frame.to_csv(tmp_path / "ids.csv", index=False)
    err = invoke(["compare", tmp_path / "ids.csv", "--models", "majority,logreg",
                  "--bootstrap", "50"]).stderr.splitlines()  # fmt: skip
    warning = next(i for i, line in enumerate(err) if "'event_id' looks like an ID" in line)
    first_model = next(i for i, line in enumerate(err) if line.strip().startswith("rough"))
    assert err[0].startswith("target 'label' (chosen by its name") and warning < first_model


def test_a_closed_pipe_stops_quietly_with_141(tmp_path):
    import subprocess
    import sys

    model = tmp_path / "m.nncli"
    subprocess.run([sys.executable, "-m", "nncli", "train", str(PHYSICS), "-m", "logreg", "-o",
                    str(model), "-q"], check=True)  # fmt: skip
    big = tmp_path / "big.csv"
    frame = pd.read_csv(PHYSICS)
    pd.concat([frame] * 25).to_csv(big, index=False)  # 100,000 rows: more than a pipe holds
    predict = subprocess.Popen(
        [sys.executable, "-m", "nncli", "predict", str(model), str(big)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    head = predict.stdout.readline() + predict.stdout.readline()
    predict.stdout.close()  # what `| head -2` does once it has its lines
    err = predict.stderr.read()
    predict.stderr.close()
    assert predict.wait(timeout=120) == 141
    assert head.startswith(b"prediction\n") and err == b""


def test_bootstrap_0_turns_intervals_off(invoke):
    import json

    payload = json.loads(invoke(["compare", SAMPLE / "segment.csv", "--models", "logreg,fisher",
                                 "--bootstrap", "0", "--json", "-q"]).stdout)  # fmt: skip
    assert payload["evaluation"]["bootstrap"] == 0
    assert all(m["interval"] == {} for m in payload["models"])
    (paired,) = payload["paired"]
    assert paired["p_value"] is None and "not tested (--bootstrap 0" in paired["verdict"]
    text = invoke(["compare", PHYSICS, "--models", "logreg,fisher", "--bootstrap", "0"]).stdout
    assert "no intervals (--bootstrap 0)" in text and "[95% CI]" not in text
    assert "(DeLong)" in text  # binary AUC needs no resamples
    error = invoke(["compare", PHYSICS, "--bootstrap", "20"], exit_code=2).stderr
    assert error.startswith("Error: --bootstrap needs 0 (no intervals) or at least 50")


def test_every_written_file_is_confirmed_once_on_stderr(invoke, tmp_path):
    result = invoke(["compare", PHYSICS, "--models", "logreg,fisher", "--bootstrap", "50",
                     "--out", tmp_path / "run", "--report", tmp_path / "r.html"])  # fmt: skip
    confirmations = [line for line in result.stderr.splitlines() if line.startswith("wrote ")]
    assert confirmations == [
        f"wrote the run folder (6 files) to {tmp_path / 'run'}",
        f"wrote the HTML report to {tmp_path / 'r.html'}",
    ]
    assert "wrote" not in result.stdout
    assert len(list((tmp_path / "run").iterdir())) == 6


def test_the_python_api_takes_keywords_and_dataframes(tmp_path):
    import io

    import pytest

    import nncli
    from nncli.errors import ConfigError

    frame = pd.read_csv(PHYSICS)
    result = nncli.train(frame, model="logreg", target="label", drop=("channel",))
    assert result.predictor.card.data.source == "<DataFrame>"
    assert len(result.predictor.card.data.sha256) == 64
    assert "channel" not in result.predictor.feature_columns
    path = tmp_path / "m.nncli"
    result.save(path)
    with pytest.raises(ConfigError, match="already exists") as error:
        result.save(path)
    assert error.value.hint == "pass overwrite=True to replace it."
    result.save(path, overwrite=True)
    model = nncli.load(path)
    assert nncli.evaluate(model, frame).metrics["auc"] > 0.85
    out = io.StringIO()
    assert nncli.predict(model, frame, out).rows == 4000
    from nncli.assess.plan import CompareOptions

    options = CompareOptions(models=("logreg",), bootstrap=50)
    run = nncli.compare(frame, target="label", options=options, report_file=tmp_path / "r.html")
    assert run.comparison.source == "<DataFrame>" and (tmp_path / "r.html").is_file()


def test_evaluate_on_the_training_file_warns(invoke, tmp_path):
    model = tmp_path / "m.nncli"
    invoke(["train", PHYSICS, "-m", "logreg", "-o", model, "-q"])
    err = invoke(["evaluate", model, PHYSICS]).stderr
    assert err.startswith(f"Warning: {PHYSICS} is the file the model was trained on")
    other = tmp_path / "other.csv"
    pd.read_csv(PHYSICS).iloc[::2].to_csv(other, index=False)
    assert invoke(["evaluate", model, other]).stderr == ""


def test_fail_under_is_checked_before_anything_is_read(invoke):
    for text, error in [
        ("accuracy=1.5", "Error: --fail-under: accuracy must be between 0 and 1, got 1.5"),
        ("acurracy=0.5", "Error: --fail-under: unknown metric 'acurracy'"),
    ]:
        err = invoke(["compare", "no-such.csv", "--fail-under", text], exit_code=2).stderr
        assert err.startswith(error)
    result = invoke(["compare", PHYSICS, "--models", "logreg", "--bootstrap", "50",
                     "--fail-under", "f1=0.99"], exit_code=3)  # fmt: skip
    assert "has macro_f1" in result.stderr


def test_options_that_are_ignored_say_so(invoke):
    err = invoke(["train", PHYSICS, "--hidden", "64", "--gbt-num-leaves", "7"]).stderr
    assert err.splitlines()[:2] == [
        "target 'label' (chosen by its name; pass --target to change): 2 classes",
        "Warning: --hidden ignored: it is mlp setting(s) and no mlp model is trained here (gbt)",
    ]
    err = invoke(["train", PHYSICS, "-m", "mlp", "--epochs", "1", "--hidden", "32,16",
                  "--residual", "--leaky-slope", "0.2"]).stderr  # fmt: skip
    assert "Warning: --leaky-slope ignored: it is for --activation leaky_relu, not relu" in err
    assert "Warning: --residual adds skip connections only across layers of equal width" in err
    err = invoke(["compare", PHYSICS, "--models", "gbt", "--mlp", "activation=tanh", "--cv",
                  "3", "--test-size", "0.3", "--bootstrap", "50"]).stderr  # fmt: skip
    assert "Warning: --mlp variants are ignored: mlp is not in --models" in err
    assert "Warning: --test-size ignored: with --cv every fold is the test set once" in err


def test_decimal_commas_are_detected_said_and_honoured_by_predict(invoke, tmp_path):
    euro = tmp_path / "euro.csv"
    pd.read_csv(PHYSICS).head(400).to_csv(euro, sep=";", decimal=",", index=False)
    result = invoke(["inspect", euro, "--json"])
    assert result.stderr.startswith("Warning: decimal commas detected (3,14 read as 3.14)")
    import json

    roles = {c["name"]: c["role"] for c in json.loads(result.stdout)["schema"]["columns"]}
    assert roles["lep_pt"] == roles["m_jj"] == "numeric"
    model = tmp_path / "m.nncli"
    invoke(["train", euro, "-m", "logreg", "-o", model, "-q"])
    lines = invoke(["predict", model, euro, "--proba"]).stdout.splitlines()
    assert len(lines) == 401
    plain = tmp_path / "plain.csv"
    pd.read_csv(PHYSICS).head(400).to_csv(plain, index=False)
    same = invoke(["predict", model, plain, "--proba"]).stdout.splitlines()
    assert same == lines  # the same numbers, whichever decimal mark they were written with
    forced = invoke(["inspect", euro, "--decimal", ".", "--json"]).stdout
    assert json.loads(forced)["schema"]["columns"][0]["role"] != "numeric"


def test_small_things(invoke, tmp_path):
    model = tmp_path / "m.nncli"
    invoke(["train", PHYSICS, "-m", "logreg", "-o", model, "-q"])
    info = invoke(["info", model]).stdout
    assert all(line == line.rstrip() for line in info.splitlines()[:9])  # no padding
    import nncli
    from nncli.show.report import _range

    schema = nncli.inspect(SAMPLE / "credit_g.csv").schema
    assert _range(schema.column("purpose")) == "radio/tv, new car, furniture/equipment, …"
    assert _range(schema.column("housing")) == "own, rent, for free"  # all 3 shown
    assert invoke(["inspect", tmp_path / "physcs.csv"], exit_code=1).stderr.endswith(
        "Hint: check the path.\n"
    )
    err = invoke(["train", PHYSICS, "--activation", "swish"], exit_code=2).stderr
    assert err.endswith("Hint: swish is called silu here: pass --activation silu.\n")
    err = invoke(["train", PHYSICS, "-m", "mlp", "--hidden", "0"], exit_code=2).stderr
    assert "got 0\n" in err and "(" not in err.split("got")[1]


def test_python_callers_get_python_hints(invoke, tmp_path):
    import pytest

    import nncli

    frame = pd.read_csv(PHYSICS).rename(columns={"label": "outcome"})
    with pytest.raises(nncli.NncliError) as error:
        nncli.train(frame)
    assert error.value.hint.startswith("pass target='NAME'; the columns are lep_pt")
    frame.to_csv(tmp_path / "outcome.csv", index=False)
    cli = invoke(["train", tmp_path / "outcome.csv"], exit_code=1).stderr
    assert "Hint: pass --target NAME; the columns are" in cli  # the CLI keeps its flags
