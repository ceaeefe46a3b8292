"""Assisted (derived) variables: the expression allow-list, evaluation rules, the
columns computed again at predict time, and compare's raw-vs-assisted experiment."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from nncli.errors import ConfigError, ExitCode, SchemaError
from nncli.prepare import derived
from tests.conftest import SAMPLE

PHYSICS = SAMPLE / "physics.csv"
COLUMNS = ["a", "b", "my col", "channel"]
FRAME = pd.DataFrame({
    "a": [1.0, 4.0, -1.0, np.nan], "b": [2.0, 0.0, 3.0, 1.0],
    "my col": [1.0, 2.0, 3.0, 4.0], "channel": ["ee", "mumu", "ee", "emu"],
})  # fmt: skip


def values(*texts: str) -> tuple[pd.DataFrame, dict[str, int]]:
    return derived.add_columns(FRAME, derived.parse(texts, FRAME.columns))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("x = __import__('os').system('echo hacked')", "attribute access is not allowed"),
        ("x = a.__class__.__bases__", "attribute access is not allowed"),
        ("x = __import__('os')", "'__import__' is not allowed (no dunder names)"),
        ("x = `__class__` + 1", "'__class__' is not allowed"),
        ("x = (lambda: 1)()", "a lambda is not allowed"),
        ("x = [v for v in a]", "a comprehension is not allowed"),
        ("x = sum(v for v in a)", "a comprehension is not allowed"),
        ("x = a[0]", "indexing is not allowed"),
        ("x = a if b else 1", "use where(cond, a, b)"),
        ("x = open('/etc/passwd')", "unknown function 'open'"),
        ("x = eval('1')", "unknown function 'eval'"),
        ("x = log(a, 2)", "log takes 1 argument(s)"),
        ("x = clip(a, lo=0, hi=1)", "a keyword argument (pass arguments by position)"),
        ("x = clip(a, 0)", "clip takes 3 argument(s)"),
        ("x = None", "the constant None is not allowed"),
        ("x = (y := 3)", "assignment is not allowed"),
        ("a = b + 1", "the name 'a' is already a column"),
        ("no definition", "a definition is NAME = EXPR"),
        ("x == a", "a definition is NAME = EXPR"),
        ("x = " + "a + " * 600 + "a", "characters long (at most 2,000)"),
        ("x = " + "(" * 400 + "a" + ")" * 400, "too many nested parentheses"),
        ("x = " + "-" * 1900 + "a", "parts (at most 500)"),
        ("x = " + "+".join(["a"] * 400), "parts (at most 500)"),
    ],
)
def test_hostile_or_malformed_definitions_are_refused(text, words):
    with pytest.raises(ConfigError) as info:
        derived.parse([text], COLUMNS)
    assert words in info.value.message
    assert info.value.exit_code == ExitCode.USAGE


def test_a_syntax_error_puts_a_caret_under_the_position():
    with pytest.raises(ConfigError) as info:
        derived.parse(["r = a + * b"], COLUMNS)
    lines = info.value.message.splitlines()
    assert lines[0] == "--feature 'r = a + * b': invalid syntax at character 5:"
    assert lines[1:] == ["    a + * b", "        ^"]  # under the '*'
    with pytest.raises(ConfigError, match="was never closed"):
        derived.parse(["r = log(a"], COLUMNS)


def test_an_unknown_column_names_close_matches():
    with pytest.raises(ConfigError) as info:
        derived.parse(["r = chanel == 'ee'"], COLUMNS)
    assert "unknown column 'chanel'" in info.value.message
    assert info.value.hint == "did you mean 'channel'?"


def test_arithmetic_functions_comparisons_and_backquotes():
    out, invalid = values(
        "s = a * 2 + b ** 2 - 1", "`r a` = hypot(a, b)", "q = `my col` % 2",
        "ee = channel == 'ee'", "w = where(a > 0, maximum(a, b), clip(b, 0, 1))",
        "t = `r a` + s",  # a later definition uses earlier ones
    )  # fmt: skip
    np.testing.assert_allclose(out["s"][:3], [5.0, 7.0, 6.0])
    np.testing.assert_allclose(out["r a"][:3], np.hypot([1, 4, -1], [2, 0, 3]))
    assert out["q"].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert out["ee"].tolist() == [1.0, 0.0, 1.0, 0.0]
    np.testing.assert_allclose(out["w"][:3], [2.0, 4.0, 1.0])
    np.testing.assert_allclose(out["t"][:3], out["r a"][:3] + out["s"][:3])
    assert out[["s", "r a", "w", "t"]].iloc[3].isna().all()  # a missing input: missing
    assert invalid == {} and list(FRAME.columns) == COLUMNS  # the input frame is kept


def test_division_by_zero_and_log_of_negatives_are_missing_and_counted():
    out, invalid = values("r = a / b", "l = log(a)", "big = exp(a * 1000)")
    assert np.isnan(out["r"][1]) and out["r"][0] == 0.5
    assert np.isnan(out["l"][2]) and out["l"][0] == 0.0
    assert invalid == {"r": 1, "l": 1, "big": 2}  # the row with a missing input not counted


def test_text_columns_only_in_comparisons():
    with pytest.raises(ConfigError, match="cannot compute it") as info:
        values("x = channel * 2")
    assert "only in comparisons" in info.value.hint


def test_features_file_skips_comments(tmp_path):
    path = tmp_path / "features.txt"
    path.write_text("# assisted variables\n\ndm = abs(m_jj - 125)\n  mt = sqrt(2 * lep_pt * met)\n")
    assert derived.read_file(path) == ["dm = abs(m_jj - 125)", "mt = sqrt(2 * lep_pt * met)"]


# ----------------------------------------------------------------- through the CLI


@pytest.fixture(scope="module")
def assisted_model(tmp_path_factory):
    from click.testing import CliRunner

    from nncli.cli import cli

    path = tmp_path_factory.mktemp("derived") / "model.nncli"
    result = CliRunner().invoke(cli, [
        "train", str(PHYSICS), "-m", "logreg", "-o", str(path),
        "--feature", "dm = abs(m_jj - 125)", "--feature", "r = lep_pt / (n_jets - 2)",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "derived column 'r': 1,026 row(s) have no value" in result.stderr
    return path


def test_train_stores_definitions_and_predict_computes_them(invoke, assisted_model, tmp_path):
    from nncli import api

    model = api.load(assisted_model)
    assert model.schema.derived == [
        {"name": "dm", "expr": "abs(m_jj - 125)"},
        {"name": "r", "expr": "lep_pt / (n_jets - 2)"},
    ]
    assert {"dm", "r"} <= set(model.feature_columns)
    raw = pd.read_csv(PHYSICS).head(50)
    out = invoke(["predict", assisted_model, PHYSICS, "--proba"]).stdout.splitlines()
    by_hand = raw.assign(dm=(raw.m_jj - 125).abs(), r=raw.lep_pt / (raw.n_jets - 2))
    by_hand.loc[raw.n_jets == 2, "r"] = np.nan
    expected = model.model.predict_proba(model.preprocessor.transform(by_hand)[0])
    got = np.array([float(line.split(",")[2]) for line in out[1:51]])
    np.testing.assert_allclose(got, expected[:, 1], atol=1e-6)
    info = invoke(["info", assisted_model]).stdout
    assert "derived     dm = abs(m_jj - 125); r = lep_pt / (n_jets - 2)" in info


def test_a_stored_definition_may_use_an_earlier_one_at_predict_time(invoke, tmp_path):
    """Regression: predict parsed every stored definition against the raw columns, so a
    model whose derived column used an earlier one could not predict at all."""
    model = tmp_path / "chain.nncli"
    invoke(["train", PHYSICS, "-m", "logreg", "-o", model, "-q",
            "--feature", "r = lep_pt / met", "--feature", "r2 = r * 2"])  # fmt: skip
    out = invoke(["predict", model, PHYSICS]).stdout.splitlines()
    assert out[0] == "prediction" and len(out) == 4001


def test_predict_without_an_input_column_names_it(invoke, assisted_model, tmp_path):
    path = tmp_path / "no_mjj.csv"
    pd.read_csv(PHYSICS).drop(columns="m_jj").to_csv(path, index=False)
    err = invoke(["predict", assisted_model, path], exit_code=1).stderr
    assert "the model computes 'dm' = abs(m_jj - 125) but the data lacks a column it uses " \
           "(unknown column 'm_jj')" in err  # fmt: skip


def test_bad_definitions_exit_2_and_write_nothing(invoke, tmp_path):
    out = tmp_path / "model.nncli"
    for bad in ["met = lep_pt", "x = lep_pt.real", "x = lep_ptt * 2"]:
        err = invoke(["train", PHYSICS, "-m", "logreg", "-o", out, "--feature", bad], 2).stderr
        assert err.startswith(f"Error: --feature {bad!r}: ") and "Hint: " in err
    assert not out.exists()
    err = invoke(["train", PHYSICS, "--stream", "--feature", "x = met * 2"], 2).stderr
    assert "Error: --feature is not available when training in passes" in err


def test_inspect_shows_derived_columns(invoke, tmp_path):
    path = tmp_path / "features.txt"
    path.write_text("dm = abs(m_jj - 125)\n")
    out = invoke(["inspect", PHYSICS, "--features", path]).stdout
    assert "│ numeric, derived │ float64" in out and "derived: dm = abs(m_jj - 125)" in out


def test_compare_raw_vs_assisted(invoke):
    out = invoke([
        "compare", PHYSICS, "--models", "logreg,gbt", "--feature", "dm = abs(m_jj - 125)",
        "--feature-sets", "raw,assisted", "--bootstrap", "0", "--json",
    ]).stdout  # fmt: skip
    report = json.loads(out)
    labels = [m["label"] for m in report["models"]]
    assert labels == ["gbt", "gbt[raw]", "logreg", "logreg[raw]"]
    pairs = {p["model"]: p for p in report["paired"] if p["against_role"] == "raw features"}
    assert set(pairs) == {"gbt", "logreg"} and pairs["logreg"]["against"] == "logreg[raw]"
    assert pairs["logreg"]["difference"] > 0.03 and pairs["logreg"]["significant"]
    text = invoke(["compare", PHYSICS, "--models", "logreg", "--feature", "dm = abs(m_jj - 125)",
                   "--feature-sets", "raw,assisted", "--bootstrap", "0"]).stdout  # fmt: skip
    assert "Assisted vs raw variables (with and without dm):" in text
    assert "logreg vs logreg[raw]: AUC +0.0" in text and "logreg is significantly better" in text


def test_feature_sets_needs_definitions(invoke):
    err = invoke(["compare", PHYSICS, "--feature-sets", "raw,assisted"], 2).stderr
    assert "but none is defined" in err
    err = invoke(["compare", PHYSICS, "--feature", "x = met", "--feature-sets", "raw,cooked"], 2)
    assert "unknown feature set 'cooked'" in err.stderr


def test_schema_error_type_at_predict_time():
    with pytest.raises(SchemaError):
        derived.add_columns(FRAME.drop(columns="b"), [{"name": "x", "expr": "a / b"}])


def test_a_column_may_share_a_function_name():
    frame = pd.DataFrame({"log": [1.0, np.nan, 3.0], "b": [2.0, 2.0, 2.0]})
    out, _ = derived.add_columns(frame, derived.parse(["x = log(b) + log"], frame.columns))
    np.testing.assert_allclose(out["x"].to_numpy()[[0, 2]], np.log(2.0) + np.array([1.0, 3.0]))
    assert np.isnan(out["x"][1])  # the column 'log' is missing in that row


def test_double_underscores_inside_a_name_are_a_column_not_a_dunder():
    frame = pd.DataFrame({"jet__pt": [1.0, 2.0], "b": [2.0, 4.0]})
    out, _ = derived.add_columns(frame, derived.parse(["r = jet__pt / b"], frame.columns))
    assert out["r"].tolist() == [0.5, 0.5]


def test_an_unquoted_hyphenated_column_gets_a_backquote_hint():
    with pytest.raises(ConfigError) as info:
        derived.parse(["gain = capital-gain - capital-loss"], ["capital-gain", "capital-loss"])
    assert info.value.hint.startswith("write `capital-gain` in backquotes")
    parsed = derived.parse(
        ["gain = `capital-gain` - `capital-loss`"], ["capital-gain", "capital-loss"]
    )
    assert parsed[0].name == "gain"


def test_a_huge_features_file_is_refused_at_once(invoke, tmp_path):
    """200,000 definitions ran for minutes; now one error, before the data is read."""
    import time

    path = tmp_path / "many.txt"
    path.write_text("\n".join(f"f{i} = lep_pt * {i}" for i in range(200_000)))
    started = time.perf_counter()
    err = invoke(["train", SAMPLE / "physics.csv", "-m", "logreg", "--features", path,
                  "-o", tmp_path / "m.nncli"], exit_code=2).stderr  # fmt: skip
    assert time.perf_counter() - started < 10  # was > 5 minutes
    assert err.startswith(f"Error: --features file {path} holds 200,000 definitions; at most "
                          "1,000 are allowed\nHint: keep the derived columns you need")  # fmt: skip
    assert not (tmp_path / "m.nncli").exists()


def test_the_count_and_the_total_work_of_definitions_are_bounded():
    columns = ["a", "b"]
    assert len(derived.parse([f"f{i} = a + {i}" for i in range(1000)], columns)) == 1000
    with pytest.raises(ConfigError, match="the --feature options holds 1,001 definitions"):
        derived.parse([f"f{i} = a + {i}" for i in range(1001)], columns)
    big = " + ".join(["a * b"] * 60)  # 479 parts, under the per-definition limit of 500
    assert len(derived.parse([f"g = {big}"], columns)) == 1
    with pytest.raises(ConfigError, match="more than 20,000 parts together"):
        derived.parse([f"g{i} = {big}" for i in range(42)], columns)
