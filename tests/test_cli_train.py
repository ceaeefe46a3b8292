"""`nncli train`, `predict`, `evaluate` and `info` as a user runs them."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile

import pytest

from tests.conftest import SAMPLE

PHYSICS = SAMPLE / "physics.csv"
QUICK_MLP = ["--hidden", "32", "--epochs", "5"]


@pytest.fixture(scope="module")
def gbt_model(tmp_path_factory: pytest.TempPathFactory):
    from click.testing import CliRunner

    from nncli.cli import cli

    path = tmp_path_factory.mktemp("models") / "physics.nncli"
    result = CliRunner().invoke(
        cli, ["train", str(PHYSICS), "-o", str(path), "--quiet"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return path


def test_train_prints_metrics_and_writes_model(invoke, tmp_path):
    out = tmp_path / "m.nncli"
    result = invoke(["train", PHYSICS, "-m", "logreg", "-o", out])
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"logreg on {PHYSICS}: 3,200 training rows, 800 validation rows;")
    assert lines[1].split() == ["metric", "┃", "train", "┃", "valid"]
    assert lines[3].startswith("ROC AUC")
    assert lines[-1].startswith("Brier") and result.stderr.splitlines()[-1] == (
        f"wrote the model to {out}"
    )
    assert zipfile.ZipFile(out).namelist() == ["manifest.json", "weights.safetensors"]


def test_train_json(invoke):
    payload = json.loads(invoke(["train", PHYSICS, "-m", "mlp", *QUICK_MLP, "--json"]).stdout)
    assert payload["command"] == "train" and payload["model"] == "mlp"
    assert payload["rows_train"] + payload["rows_valid"] == 4000
    assert len(payload["history"]) == 5 and payload["stop_reason"] == "completed"
    assert 0.8 < payload["metrics"]["valid"]["auc"] <= 1.0
    assert payload["n_params"] == 13 * 32 + 32 + 33


def test_train_refuses_to_overwrite_without_force(invoke, tmp_path):
    out = tmp_path / "m.nncli"
    out.write_text("keep me")
    result = invoke(["train", PHYSICS, "-m", "majority", "-o", out], exit_code=2)
    assert result.stderr.splitlines() == [
        f"Error: {out} already exists",
        "Hint: pass --force to overwrite it.",
    ]
    assert out.read_text() == "keep me"
    invoke(["train", PHYSICS, "-m", "majority", "-o", out, "--force"])
    assert zipfile.is_zipfile(out)


def test_train_refuses_to_write_over_its_input(invoke, tmp_path):
    data = tmp_path / "d.csv"
    data.write_bytes(PHYSICS.read_bytes())
    result = invoke(["train", data, "-o", data, "--force"], exit_code=2)
    assert f"Error: refusing to write the output over the input file {data}" in result.stderr
    assert data.read_bytes() == PHYSICS.read_bytes()


def test_train_reads_a_toml_config_and_flags_win(invoke, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('model = "mlp"\nhidden = [16, 8]\nepochs = 3\nactivation = "tanh"\n')
    payload = json.loads(
        invoke(["train", PHYSICS, "--config", config, "--epochs", "2", "--json"]).stdout
    )
    assert payload["model"] == "mlp" and len(payload["history"]) == 2
    assert payload["n_params"] == 13 * 16 + 16 + 16 * 8 + 8 + 9


def test_train_config_with_unknown_key_is_a_usage_error(invoke, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text("epochz = 3\n")
    result = invoke(["train", PHYSICS, "--config", config], exit_code=2)
    assert result.stderr.splitlines() == [
        f"Error: unknown key(s) in {config}: epochz",
        "Hint: did you mean 'epochs'?",
    ]


@pytest.mark.parametrize(
    "args,error",
    [
        (
            ["--hidden", "64,x"],
            "Error: mlp setting 'hidden' (--hidden) must be comma-separated positive integers, "
            "got '64,x'\nHint: pass e.g. --hidden 256,256.",
        ),
        (
            ["--activation", "swish"],
            "Error: mlp setting 'activation' (--activation) must be one of relu, leaky_relu,",
        ),
        (
            ["--dropout", "1.5"],
            "Error: mlp setting 'dropout' (--dropout) must be a number between 0 and 0.95, "
            "got 1.5\n",
        ),
        (["--valid", "nope.csv"], "Error: file not found: nope.csv"),
    ],
)
def test_train_bad_options(invoke, args, error):
    code = 1 if "file not found" in error else 2
    result = invoke(["train", PHYSICS, "-m", "mlp", *args], exit_code=code)
    assert error in result.stderr


def test_predict_writes_clean_csv_to_stdout(invoke, gbt_model):
    result = invoke(["predict", gbt_model, PHYSICS, "--proba"])
    assert result.stderr == ""
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 4000
    assert list(rows[0]) == ["prediction", "proba_background", "proba_signal"]
    for row in rows[:50]:
        total = float(row["proba_background"]) + float(row["proba_signal"])
        assert total == pytest.approx(1.0, abs=2e-6)
        assert row["prediction"] == max(
            ("background", "signal"), key=lambda c: float(row[f"proba_{c}"])
        )


def test_predict_passes_id_columns_and_ignores_column_order(invoke, gbt_model, tmp_path):
    lines = PHYSICS.read_text().splitlines()
    header = lines[0].split(",")
    order = list(reversed(range(len(header))))
    shuffled = ["event," + ",".join(header[i] for i in order) + ",extra"]
    for n, line in enumerate(lines[1:200]):
        cells = line.split(",")
        shuffled.append(f"ev{n}," + ",".join(cells[i] for i in order) + ",zzz")
    data = tmp_path / "shuffled.csv"
    data.write_text("\n".join(shuffled) + "\n")
    out = tmp_path / "pred.csv"
    result = invoke(["predict", gbt_model, data, "--id-col", "event", "-o", out])
    assert result.stderr == f"wrote 199 predictions to {out}\n"
    with out.open() as fh:
        got = list(csv.DictReader(fh))
    plain = list(csv.DictReader(io.StringIO(invoke(["predict", gbt_model, PHYSICS]).stdout)))
    assert [r["event"] for r in got[:3]] == ["ev0", "ev1", "ev2"]
    assert [r["prediction"] for r in got] == [r["prediction"] for r in plain[:199]]


def test_predict_missing_columns_are_named(invoke, gbt_model, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("lep_pt,lep_eta,met\n1,2,3\n")
    result = invoke(["predict", gbt_model, data], exit_code=1)
    assert result.stderr.splitlines() == [
        "Error: 5 feature column(s) the model was trained on are missing: m_jj, delta_r, "
        "n_jets, jet2_pt, channel",
        "Hint: pass data with the training columns (names must match exactly).",
    ]


def _with_unseen_channel(tmp_path):
    text = PHYSICS.read_text().replace(",emu,", ",tautau,", 5)
    path = tmp_path / "unseen.csv"
    path.write_text(text)
    return path


def test_predict_unseen_categories_policies(invoke, gbt_model, tmp_path):
    data = _with_unseen_channel(tmp_path)
    warned = invoke(["predict", gbt_model, data])
    assert warned.stderr == (
        "Warning: values not seen in training (or not numbers) were treated as missing "
        "(channel: 5)\n"
    )
    assert invoke(["predict", gbt_model, data, "--unseen", "ignore"]).stderr == ""
    failed = invoke(["predict", gbt_model, data, "--unseen", "error"], exit_code=1)
    assert failed.stderr.splitlines() == [
        "Error: column 'channel' has 5 value(s) not seen in training (or not numbers)",
        "Hint: pass --unseen warn (or ignore) to treat them as missing.",
    ]
    assert failed.stdout == ""


def test_evaluate_reports_metrics_and_confusion(invoke, gbt_model):
    out = invoke(["evaluate", gbt_model, PHYSICS]).stdout
    assert out.startswith(f"{PHYSICS}: 4,000 labelled rows; target 'label'\n")
    assert "confusion matrix (rows: true, columns: predicted)" in out
    payload = json.loads(invoke(["evaluate", gbt_model, PHYSICS, "--json"]).stdout)
    assert payload["rows"] == 4000 and payload["classes"] == ["background", "signal"]
    assert sum(map(sum, payload["confusion"])) == 4000
    assert payload["metrics"]["auc"] > 0.95


def test_info_shows_the_model_card(invoke, gbt_model):
    out = invoke(["info", gbt_model]).stdout
    assert "model       gbt (" in out
    assert "target      'label': background, signal" in out
    assert "channel (categorical)" in out
    card = json.loads(invoke(["info", gbt_model, "--json"]).stdout)
    assert card["format_version"] == 1 and card["model"]["name"] == "gbt"
    assert card["data"]["sha256"] == __import__("hashlib").sha256(PHYSICS.read_bytes()).hexdigest()
    assert set(card["versions"]) >= {"nncli", "python", "lightgbm", "numpy"}
    assert card["run"]["seed"] == 0 and card["schema"]["target"] == "label"


def test_corrupt_model_file_is_a_clear_error(invoke, tmp_path):
    bad = tmp_path / "bad.nncli"
    bad.write_bytes(b"not a zip at all")
    result = invoke(["predict", bad, PHYSICS], exit_code=1)
    assert result.stderr.splitlines()[0] == (
        f"Error: {bad} is not an nncli model file (not a zip archive, or truncated)"
    )


def test_gbt_progress_lines_when_stderr_is_not_a_terminal(invoke, monkeypatch):
    """In a log file or batch job: plain lines (rounds, elapsed, ETA, validation loss), at
    most one every ProgressDisplay.every seconds (here 0: every round)."""
    from nncli.show.report import ProgressDisplay

    monkeypatch.setattr(ProgressDisplay, "every", 0.0)
    err = invoke(["train", SAMPLE / "physics.csv", "-m", "gbt", "--gbt-max-rounds", "3"]).stderr
    lines = [line for line in err.splitlines() if line.startswith("gbt: round")]
    assert len(lines) == 3
    assert re.fullmatch(r"gbt: round 2/3, 0:00:0\d elapsed, eta ≤ 0:00:0\d, valid \d\.\d{4}; "
                        r"best valid \d\.\d{4} at round 2", lines[1]), lines[1]  # fmt: skip
    monkeypatch.setattr(ProgressDisplay, "every", 3600.0)  # the default rate: none so soon
    err = invoke(["train", SAMPLE / "physics.csv", "-m", "gbt", "--gbt-max-rounds", "3"]).stderr
    assert "gbt: round" not in err


def test_a_misspelt_model_gets_a_suggestion_and_choices_take_any_case(invoke, tmp_path):
    result = invoke(["train", PHYSICS, "-m", "gbm"], exit_code=2)
    assert result.stderr == "Error: unknown model 'gbm' for --model/-m\nHint: did you mean 'gbt'?\n"
    out = tmp_path / "m.nncli"
    invoke(["train", PHYSICS, "-m", "MLP", "--activation", "ReLU", "--norm", "Layer",
            *QUICK_MLP, "-o", out, "--quiet"])  # fmt: skip
    card = json.loads(invoke(["info", out, "--json"]).stdout)["model"]
    assert card["name"] == "mlp"
    assert card["config"]["activation"] == "relu" and card["config"]["norm"] == "layer"


def test_train_time_budget_stops_the_fit_and_keeps_its_best_epoch(invoke, tmp_path):
    import json

    from tests.conftest import SAMPLE

    out = json.loads(invoke(["train", SAMPLE / "physics.csv", "-m", "mlp", "--epochs", "100000",
                             "--patience", "100000", "--time-budget", "2s", "--json",
                             "-q"]).stdout)  # fmt: skip
    assert out["stop_reason"] == "time_budget"
    assert 1 <= len(out["history"]) < 100000
    err = invoke(["train", SAMPLE / "physics.csv", "--time-budget", "soon"], exit_code=2).stderr
    assert "--time-budget must be a duration" in err


def test_progress_says_what_it_reads_and_an_eta_from_the_epochs_done(monkeypatch):
    """The ETA is the mean time of the epochs done × the epochs left (an upper bound:
    early stopping may end sooner); a log is told which large file is being read."""
    import io
    import time

    from rich.console import Console

    from nncli import cli
    from nncli.show.report import ProgressDisplay

    buffer = io.StringIO()
    display = ProgressDisplay(Console(file=buffer, force_terminal=False), "mlp")
    display.fit_started = time.perf_counter() - 10.0
    assert display.eta({"epoch": 2, "epochs": 10}) == "eta ≤ 0:00:40"
    assert display.eta({"epoch": 2}) == ""  # no total: no estimate
    monkeypatch.setattr(cli, "READING_NOTE_BYTES", 0)
    cli._reading(display, "sample_data/physics.csv")
    assert buffer.getvalue().startswith("mlp: reading sample_data/physics.csv (0 MB)")
    display.status("fitting", fitting=True)  # not printed in a log: only the clock starts
    assert buffer.getvalue().count("\n") == 1


def test_progress_of_a_cross_fitted_model_gives_each_fit_its_own_best_epoch(monkeypatch):
    """compare fits a cross-fitted MLP once per fold on one display: the best epoch of
    the third fit was once counted from the first fit's first epoch ("epoch 42/150 …
    best at epoch 104")."""
    import io

    from rich.console import Console

    from nncli.show.report import ProgressDisplay

    monkeypatch.setattr(ProgressDisplay, "every", 0.0)
    buffer = io.StringIO()
    display = ProgressDisplay(Console(file=buffer, force_terminal=False, width=200), "mlp")
    for losses in ([0.9, 0.5, 0.6], [0.8, 0.7, 0.4, 0.45]):  # fit 1, then fit 2
        for epoch, loss in enumerate(losses, 1):
            display({"epoch": epoch, "epochs": 10, "valid_loss": loss})
    lines = buffer.getvalue().splitlines()
    assert lines[2].startswith("mlp: epoch 3/10")
    assert lines[2].endswith("best valid 0.5000 at epoch 2")
    assert lines[-1].startswith("mlp: fit 2, epoch 4/10")
    assert lines[-1].endswith("best valid 0.4000 at epoch 3")


def test_the_quick_preset_takes_several_steps_per_epoch_on_a_small_set(invoke, tmp_path):
    """--preset quick's 512-row batches made one or two steps per epoch on a small set
    (its 20 epochs stopped undertrained). Its batches now leave 4 steps per epoch unless
    --batch-size is given."""
    import json
    import math

    from nncli import api
    from tests.conftest import SAMPLE

    args = ["train", SAMPLE / "credit_g.csv", "-m", "mlp", "--preset", "quick", "--json", "-q"]
    quick = json.loads(invoke([*args, "-o", tmp_path / "q.nncli"]).stdout)
    forced = json.loads(invoke([*args, "--batch-size", "512", "-o", tmp_path / "f.nncli"]).stdout)
    batch = api.load(tmp_path / "q.nncli").card.config["batch_size"]
    assert batch == max(32, math.ceil(quick["rows_train"] / 4)) < 512
    assert api.load(tmp_path / "f.nncli").card.config["batch_size"] == 512
    assert quick["metrics"]["valid"]["auc"] > forced["metrics"]["valid"]["auc"]


def test_the_strong_preset_trains_16_members_below_10000_rows_and_4_above(invoke, tmp_path):
    """TabM's ablation: 16 members won 12 of 16 runs on small sets (k=4 before); above
    10,000 fitting rows the preset keeps 4 (16 cost 3.3x the fit time). A given
    --ensemble-k wins, and the model file records the members it trained."""
    from nncli import api
    from nncli.config import MLPConfig, RunConfig
    from nncli.learn.models.mlp import STRONG_MANY_MEMBERS, strong_members

    rows, members = STRONG_MANY_MEMBERS
    strong, preset = MLPConfig().with_preset("strong"), RunConfig(preset="strong")
    assert strong.ensemble_k == 4
    assert strong_members(strong, preset, rows - 1).ensemble_k == members == 16
    assert "ensemble_k" not in strong_members(strong, preset, rows - 1).given
    assert strong_members(strong, preset, rows).ensemble_k == 4
    assert strong_members(MLPConfig(), RunConfig(), 100).ensemble_k == 1  # default preset
    given = MLPConfig(ensemble_k=2).with_preset("strong")
    assert strong_members(given, preset, 100).ensemble_k == 2

    args = ["train", SAMPLE / "credit_g.csv", "-m", "mlp", "--preset", "strong", "--epochs", "2"]
    invoke([*args, "-q", "-o", tmp_path / "s.nncli"])
    invoke([*args, "--ensemble-k", "3", "-q", "-o", tmp_path / "k.nncli"])
    assert api.load(tmp_path / "s.nncli").card.config["ensemble_k"] == 16
    assert api.load(tmp_path / "k.nncli").card.config["ensemble_k"] == 3
