"""The settings tables: one row per setting feeds the flags, the --config tables, compare's
variants and MLPClassifier; given values beat presets; the GBT is refinable; the same
wording for a bad value wherever it came from."""

from __future__ import annotations

import importlib
import json

import click
import pytest
from click.testing import CliRunner

import nncli.cli
import nncli.learn.estimator
from nncli import api
from nncli.assess.plan import Budget, CompareOptions, Threshold, build_entries, extra_plan
from nncli.config import GBT, MLP, GBTConfig, MLPConfig, RunConfig, Setting, Settings, parse_variant
from nncli.errors import ConfigError
from nncli.io.card import DataInfo, ModelCard
from tests.conftest import SAMPLE

PHYSICS = SAMPLE / "physics.csv"
FAST = ["--bootstrap", "100", "--quiet"]


@pytest.fixture
def new_row(monkeypatch):
    """A setting added to the MLP table, and nothing else edited; modules that build
    from the table at import are imported afresh while it is there, and after."""
    row = Setting("demo_knob", int, 3, "A knob added only to the table.", low=1, high=9)
    monkeypatch.setitem(MLP.rows, row.name, row)
    yield row
    monkeypatch.undo()
    importlib.reload(nncli.learn.estimator)
    importlib.reload(nncli.cli)


def test_a_row_added_to_the_table_appears_everywhere(new_row, tmp_path):
    cli = importlib.reload(nncli.cli)
    # the flag, in train's and compare's option lists
    for command in ("train", "compare"):
        names = {p.name: p for p in cli.cli.commands[command].params}
        assert "demo_knob" in names and names["demo_knob"].opts == ["--demo-knob"]
    # the config object, from a flag and from a [mlp] table of --config
    seen = []

    @click.command()
    @cli.fitting_options
    def probe(**kw):
        seen.append(Settings.from_options(kw).mlp.demo_knob)

    config = tmp_path / "run.toml"
    config.write_text("[mlp]\ndemo_knob = 7\n")
    runner = CliRunner()
    assert runner.invoke(probe, ["--demo-knob", "5"]).exit_code == 0
    assert runner.invoke(probe, ["--config", str(config)]).exit_code == 0
    assert runner.invoke(probe, []).exit_code == 0
    assert seen == [5, 7, 3]
    # a compare variant
    assert parse_variant("demo_knob=4,epochs=2", MLP) == {"demo_knob": 4, "epochs": 2}
    # a parameter of MLPClassifier, with the table's default and checks
    estimator = importlib.reload(nncli.learn.estimator)
    clf = estimator.MLPClassifier(demo_knob=8)
    assert clf.get_params()["demo_knob"] == 8
    assert estimator.MLPClassifier().get_params()["demo_knob"] == 3
    with pytest.raises(ConfigError, match=r"'demo_knob' \(--demo-knob\) must be an integer"):
        estimator.MLPClassifier(demo_knob=12).fit([[0.0], [1.0]] * 5, [0, 1] * 5)


def test_given_values_beat_the_preset():
    settings = Settings.from_options({"preset": "quick", "epochs": 60}).with_preset()
    assert settings.mlp.epochs == 60  # 60 is also the default: given all the same
    assert settings.mlp.hidden == (128, 128) and settings.mlp.patience == 5
    assert Settings.from_options({"preset": "quick"}).with_preset().mlp.epochs == 20
    assert Settings.from_options({}).with_preset().mlp.epochs == 60
    assert MLPConfig(epochs=60).given == {"epochs"} and MLPConfig().given == frozenset()


def test_train_with_a_preset_keeps_the_given_epochs(invoke, tmp_path):
    out = tmp_path / "mlp.nncli"
    args = ["train", PHYSICS, "-m", "mlp", "--preset", "quick", "--epochs", "3", "-o", out]
    payload = json.loads(invoke([*args, "--json", "-q"]).stdout)
    assert len(payload["history"]) == 3
    config = json.loads(invoke(["info", out, "--json"]).stdout)["model"]["config"]
    assert config["epochs"] == 3 and config["hidden"] == [128, 128] and config["patience"] == 5


def test_compare_applies_the_preset_under_variants():
    options = CompareOptions(models=("mlp",), variants={"mlp": ("activation=tanh",)})
    (entry,) = build_entries(options, Settings(run=RunConfig(preset="quick")))
    assert entry.label == "mlp[activation=tanh]"
    assert entry.settings.mlp.activation == "tanh" and entry.settings.mlp.hidden == (128, 128)


def test_gbt_settings_are_flags_and_saved_in_the_model_file(invoke, tmp_path):
    out = tmp_path / "gbt.nncli"
    invoke(
        ["train", PHYSICS, "--gbt-num-leaves", "7", "--gbt-learning-rate", "0.05",
         "--gbt-bagging-fraction", "0.8", "--gbt-bagging-freq", "1", "-o", out, "-q"]
    )  # fmt: skip
    card = json.loads(invoke(["info", out, "--json"]).stdout)
    config = card["model"]["config"]
    assert config["num_leaves"] == 7 and config["learning_rate"] == 0.05
    assert config["bagging_fraction"] == 0.8 and config["bagging_freq"] == 1
    assert card["model"]["n_params"] <= 7 * config["n_trees"]
    assert "num_leaves=7" in invoke(["info", out]).stdout


def test_gbt_settings_from_a_config_table(invoke, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text("seed = 3\n[gbt]\nleaves = 5\nmax-rounds = 40\n[run]\nvalid_size = 0.3\n")
    out = tmp_path / "gbt.nncli"
    invoke(["train", PHYSICS, "--config", config, "-o", out, "-q"])
    card = json.loads(invoke(["info", out, "--json"]).stdout)
    assert card["model"]["config"]["num_leaves"] == 5
    assert card["model"]["config"]["max_rounds"] == 40
    assert card["run"]["seed"] == 3 and card["data"]["rows_valid"] == 1200


def test_compare_runs_gbt_variants_and_saves_them(invoke, tmp_path):
    out = tmp_path / "run"
    payload = json.loads(
        invoke(
            ["compare", PHYSICS, "--models", "gbt", "--gbt", "num_leaves=3",
             "--gbt", "num_leaves=31,lr=0.05", "--out", out, "--json", *FAST]
        ).stdout
    )  # fmt: skip
    labels = [m["label"] for m in payload["models"]]
    assert labels == ["gbt[num_leaves=3]", "gbt[num_leaves=31,lr=0.05]"]
    small = api.load(out / "gbt-num_leaves-3.nncli")
    large = api.load(out / "gbt-num_leaves-31-lr-0.05.nncli")
    assert small.card.config["num_leaves"] == 3 and large.card.config["learning_rate"] == 0.05
    assert small.card.data.sha256 and small.card.data.sha256 == large.card.data.sha256


def test_a_bad_value_reads_the_same_from_a_flag_a_config_file_and_a_variant(invoke, tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("[mlp]\ndropout = 1.5\n")
    runs = [
        ["train", PHYSICS, "-m", "mlp", "--dropout", "1.5"],
        ["train", PHYSICS, "-m", "mlp", "--config", config],
        ["compare", PHYSICS, "--mlp", "dropout=1.5"],
    ]
    errors = {invoke(args, exit_code=2).stderr for args in runs}
    assert errors == {
        "Error: mlp setting 'dropout' (--dropout) must be a number between 0 and 0.95, "
        "got 1.5\nHint: pass e.g. --dropout 0.\n"
    }


@pytest.mark.parametrize(
    "toml,error",
    [
        ("[gbt]\nleafs = 3\n", "Error: unknown gbt setting 'leafs'\nHint: did you mean 'leaves'?"),
        ("[mlp]\nepoch = 3\n", "Error: unknown mlp setting 'epoch'\nHint: did you mean 'epochs'"),
        ("[gbm]\nnum_leaves = 3\n", "Error: unknown key(s) in"),
        ("[gbt]\nnum_leaves = 1\n", "'num_leaves' (--gbt-num-leaves) must be an integer between"),
    ],
)
def test_config_file_errors(invoke, tmp_path, toml, error):
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    assert error in invoke(["train", PHYSICS, "--config", config], exit_code=2).stderr


def test_a_bad_variant_fails_before_the_data_is_read(invoke):
    result = invoke(["compare", "no-such-file.csv", "--gbt", "leafs=3"], exit_code=2)
    assert result.stderr.startswith("Error: unknown gbt setting 'leafs'")


def test_config_objects_check_and_remember():
    config = GBTConfig(lr=0.05, leaves=15)
    assert (config.learning_rate, config.num_leaves) == (0.05, 15)
    assert config.given == {"learning_rate", "num_leaves"}
    wider = config.replace(num_leaves=63)
    assert wider.num_leaves == 63 and wider.learning_rate == 0.05 and config.num_leaves == 15
    assert GBTConfig(**wider.to_dict()) == wider
    with pytest.raises(AttributeError):
        config.num_leaves = 3  # type: ignore[misc]
    assert MLPConfig(clip_grad=0).clip_grad is None  # 0 means off
    assert MLPConfig(hidden=[64, 32]).hidden == (64, 32)
    with pytest.raises(ConfigError, match="unknown gbt setting 'num_leafs'"):
        GBTConfig(num_leafs=3)
    assert {row.name for row in GBT} >= {
        "learning_rate", "num_leaves", "min_child_samples", "max_rounds",
        "early_stopping_rounds", "feature_fraction", "bagging_fraction", "bagging_freq",
        "lambda_l1", "lambda_l2", "max_bin",
    }  # fmt: skip


# ------------------------------------------------------------------------- the plan


def test_the_budget_shares_time_without_a_clock():
    budget = Budget(100.0)  # 8 s + 0.5 s kept for scoring: 91.5 s to share
    assert budget.left(0.0) == pytest.approx(91.5)
    rough_then_refine = ["rough", "rough", "refine", "refine"]
    first = budget.decide(rough_then_refine, elapsed=0.0)
    assert first.start and first.limit == pytest.approx(40.0)  # rough: at most 40%
    assert budget.decide(["rough"], elapsed=0.0).limit == pytest.approx(91.5)  # nothing follows
    mlps = budget.decide(["refine", "refine"], elapsed=11.5)
    assert mlps.start and mlps.limit == pytest.approx(40.0)  # 80 s left, two to share it
    assert budget.decide(["refine", "refine"], elapsed=11.5, folds=5).limit == pytest.approx(8.0)
    late = budget.decide(["refine"], elapsed=91.2)
    assert not late.start  # 0.3 s is less than a refining model's minimum
    assert budget.decide(["rough"], elapsed=91.2).start  # a rough model takes what is left
    assert not budget.decide(["rough"], elapsed=95.0).start  # ... unless nothing is
    unlimited = Budget(None).decide(["refine"], elapsed=1e6)
    assert unlimited.start and unlimited.limit is None


def test_the_anytime_stage_runs_another_seed_only_when_it_fits():
    budget = Budget(100.0)  # 91.5 s to share
    assert budget.room_for(cost=10.0, elapsed=70.0)  # 21.5 s left ≥ 1.5 × 10 s
    assert not budget.room_for(cost=10.0, elapsed=80.0)  # 11.5 s left
    assert not Budget(None).room_for(cost=0.1, elapsed=0.0)  # no budget: no anytime stage
    assert extra_plan(0, "robust", ("scaler", "seed")) == [
        {"scaler": "standard", "seed": 1},
        {"seed": 2},
    ]
    assert extra_plan(5, "standard", ("seed", "scaler")) == [
        {"seed": 6},
        {"scaler": "robust", "seed": 7},
    ]
    assert extra_plan(0, None, ("scaler",)) == [{"seed": 1}]  # a model without a scaler
    assert extra_plan(0, "quantile", ("scaler",)) == [{"seed": 1}]
    assert extra_plan(5, "robust", ()) == []
    with pytest.raises(ConfigError, match="unknown extra run 'seeds'"):
        CompareOptions(extra_runs=("seeds",))


@pytest.mark.parametrize(
    "text,error",
    [
        ("acc=0.5", None),
        ("f1=0.5", None),
        ("bal_acc=0.5", None),
        ("logloss=0.4", None),
        ("accuracy=1.5", "--fail-under: accuracy must be between 0 and 1, got 1.5"),
        ("acurracy=0.5", "--fail-under: unknown metric 'acurracy'"),
        ("auc", "--fail-under must be METRIC=VALUE"),
    ],
)
def test_thresholds_are_checked_up_front(text, error):
    if error is None:
        assert Threshold.parse(text).value == float(text.split("=")[1])
    else:
        with pytest.raises(ConfigError, match=error):
            Threshold.parse(text)


# --------------------------------------------------------------- library = CLI


def test_the_library_compare_writes_the_run_folder_report_and_checks_the_threshold(tmp_path):
    options = CompareOptions(models=("majority", "logreg"), bootstrap=100)
    run = api.compare(
        PHYSICS,
        options=options,
        out_dir=tmp_path / "run",
        report_file=tmp_path / "report.html",
        fail_under="auc=0.99",
    )
    assert run.threshold is not None and not run.threshold.met
    assert run.threshold.model == "logreg" and 0.85 < run.threshold.score < 0.99
    assert str(tmp_path / "report.html") in run.written
    assert (tmp_path / "run" / "logreg.nncli").is_file()
    assert json.loads((tmp_path / "run" / "report.json").read_text()) == run.report
    assert "<h1>nncli compare" in (tmp_path / "report.html").read_text()
    with pytest.raises(ConfigError, match="not empty"):
        api.compare(PHYSICS, options=options, out_dir=tmp_path / "run")


def test_a_bad_threshold_fails_before_the_data_is_read():
    with pytest.raises(ConfigError, match="unknown metric"):
        api.compare("no-such-file.csv", fail_under="aucc=0.5")


def test_the_model_card_round_trips():
    card = ModelCard(
        model="gbt",
        config={"num_leaves": 7},
        n_params=21,
        stop_reason="early_stopping",
        history=[{"epoch": 1, "valid_loss": 0.5}, {"epoch": 2, "valid_loss": 0.4}],
        run={"seed": 1},
        metrics={"valid": {"auc": 0.9}},
        data=DataInfo("x.csv", "ab" * 32, 100, 80, 20),
        fit_seconds=0.5,
    )
    assert ModelCard.from_manifest(card.to_manifest()) == card
    assert card.best_epoch == 2


def test_zero_turns_a_setting_off_from_the_command_line(invoke, tmp_path):
    """--clip-grad 0 was read as 'not given' (None), so the default 1.0 stayed on."""
    import nncli

    path = tmp_path / "m.nncli"
    invoke(["train", SAMPLE / "physics.csv", "-m", "mlp", "--epochs", "1", "--hidden", "8",
            "--clip-grad", "0", "-o", path, "-q"])  # fmt: skip
    assert nncli.load(path).model.config.clip_grad is None


def test_settings_say_which_model_reads_them(invoke, tmp_path):
    """The MLP table's rows that one model alone reads are flagged there: a model card
    holds only what its model reads, --help names the model, a setting the run's model
    does not read is a warning, and a variant with one is refused."""
    import json

    from nncli.config import MLP

    assert MLP.applies("cell", "rnn") and not MLP.applies("cell", "mlp")
    assert MLP.applies("activation", "mlp") and not MLP.applies("activation", "rnn")
    assert MLP.applies("lr", "mlp") and MLP.applies("lr", "rnn")
    sequences = SAMPLE / "sequences.csv"
    rnn = tmp_path / "rnn.nncli"
    err = invoke(["train", sequences, "--group", "seq", "--order", "t", "-m", "rnn", "--epochs",
                  "1", "--activation", "tanh", "-o", rnn]).stderr  # fmt: skip
    assert "Warning: --activation ignored: only -m mlp reads it, and this run trains rnn" in err
    config = json.loads(invoke(["info", rnn, "--json"]).stdout)["model"]["config"]
    assert "cell" in config and "max_steps" in config
    assert not {"activation", "hidden", "norm", "ensemble_k"} & set(config)
    mlp = tmp_path / "mlp.nncli"
    invoke(["train", SAMPLE / "physics.csv", "-m", "mlp", "--epochs", "1", "-o", mlp, "-q"])
    config = json.loads(invoke(["info", mlp, "--json"]).stdout)["model"]["config"]
    assert "activation" in config and not {"cell", "rnn_hidden", "max_steps"} & set(config)
    help_text = invoke(["train", "--help"]).stdout
    assert "-m rnn: the recurrent cell." in help_text and "-m mlp: hidden activation" in help_text
    err = invoke(["compare", sequences, "--group", "seq", "--order", "t", "--rnn",
                  "activation=tanh"], exit_code=2).stderr  # fmt: skip
    assert err.startswith("Error: --rnn 'activation=tanh': activation does not apply to rnn "
                          "(only -m mlp reads it)")  # fmt: skip
