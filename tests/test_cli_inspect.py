"""`nncli inspect`: the table, the JSON report, and the findings it must raise."""

from __future__ import annotations

import json

import pytest

from tests.conftest import SAMPLE, SHARED_DATA, needs_shared, shared_datasets


def test_inspect_physics_matches_golden(invoke, golden):
    result = invoke(["inspect", SAMPLE / "physics.csv"])
    assert result.stderr == ""
    golden("inspect_physics.txt", result.stdout.replace(str(SAMPLE), "sample_data"))


def test_inspect_reports_roles_and_class_balance(invoke):
    out = invoke(["inspect", SAMPLE / "physics.csv"]).stdout
    assert "4,000 rows × 9 columns (comma-separated, utf-8); 8 feature(s)" in out
    assert "jet2_pt │ numeric     │ float64 │   38.1%" in out
    assert "channel │ categorical │ str" in out
    assert "background │ 2,815 │ 70.4%" in out
    assert "signal     │ 1,185 │ 29.6%" in out


def test_inspect_json_is_documented_shape(invoke):
    payload = json.loads(invoke(["inspect", SAMPLE / "segment.csv", "--json"]).stdout)
    assert payload["format_version"] == 1 and payload["command"] == "inspect"
    schema = payload["schema"]
    assert schema["target"] == "class" and schema["n_rows"] == 2310
    assert schema["classes"] == ["brickface", "cement", "foliage", "grass", "path", "sky", "window"]
    assert sum(schema["class_counts"]) == 2310
    roles = {c["name"]: c["role"] for c in schema["columns"]}
    assert roles["region-pixel-count"] == "constant"
    assert [f["code"] for f in schema["findings"]] == ["constant"]
    assert len(payload["sha256"]) == 64


def test_inspect_without_target_still_describes_columns(invoke, write_csv):
    path = write_csv("a,b\n1,x\n2,y\n3,x\n")
    out = invoke(["inspect", path]).stdout
    assert ("No target column: pass --target NAME to see the class balance (perhaps "
            "--target b: the last column, 2 values).") in out  # fmt: skip


def test_inspect_findings(invoke, write_csv):
    rows = ["row_id,leak,noise,const,empty,label"]
    for i in range(40):
        label = "yes" if i % 10 == 0 else "no"
        rows.append(f"{i},{100 + i if label == 'yes' else i},{(i * 7) % 5},k,,{label}")
    out = invoke(["inspect", write_csv("\n".join(rows) + "\n")]).stdout
    assert "'row_id' looks like an ID and is not used as a feature; pass --id-col row_id" in out
    assert "'leak' alone separates the classes perfectly" in out
    assert "'noise' alone" not in out
    assert "'const' is ignored: every value is 'k'" in out
    assert "'empty' is ignored: all values are missing" in out


def test_inspect_flags_heavy_imbalance(invoke, write_csv):
    rows = ["x,y"] + [f"{i % 7},{'rare' if i < 3 else 'common'}" for i in range(100)]
    out = invoke(["inspect", write_csv("\n".join(rows) + "\n"), "--target", "y"]).stdout
    assert "heavy class imbalance: 'rare' is 3.0% of rows" in out


def test_inspect_records_id_weight_and_drop(invoke, write_csv):
    rows = ["key,w,junk,x,label"] + [f"k{i},1.5,{i},{i % 3},{i % 2}" for i in range(10)]
    args = [
        "inspect",
        write_csv("\n".join(rows) + "\n"),
        "--id-col",
        "key",
        "--weight",
        "w",
        "--drop",
        "junk",
        "--json",
    ]
    schema = json.loads(invoke(args).stdout)["schema"]
    roles = {c["name"]: (c["role"], c["reason"]) for c in schema["columns"]}
    assert roles["key"] == ("id", "given as --id-col")
    assert roles["w"] == ("weight", "given as --weight")
    assert roles["junk"] == ("dropped", "given as --drop")
    assert schema["id_cols"] == ["key"] and schema["weight"] == "w"


@needs_shared
@pytest.mark.parametrize("file,target", shared_datasets())
def test_inspect_every_shared_dataset(invoke, file, target):
    schema = json.loads(
        invoke(["inspect", SHARED_DATA / file, "--target", target, "--json"]).stdout
    )["schema"]
    assert schema["target"] == target
    assert len(schema["classes"]) >= 2
    assert not [f for f in schema["findings"] if f["code"] == "leakage"]
    assert (
        len([c for c in schema["columns"] if c["role"] in ("numeric", "categorical", "boolean")])
        >= 4
    )


def test_without_a_target_inspect_suggests_a_likely_one(invoke, tmp_path):
    import pandas as pd

    from tests.conftest import SAMPLE

    frame = pd.read_csv(SAMPLE / "credit_g.csv").rename(columns={"class": "risk"})
    frame.to_csv(tmp_path / "risk.csv", index=False)
    out = invoke(["inspect", tmp_path / "risk.csv"]).stdout
    assert ("No target column: pass --target NAME to see the class balance (perhaps --target "
            "risk: the last column, 2 values).") in out  # fmt: skip
    pd.DataFrame({"a": [1.5, 2.5, 3.5], "b": [0.1, 0.2, 0.3]}).to_csv(tmp_path / "n.csv",
                                                                   index=False)  # fmt: skip
    out = invoke(["inspect", tmp_path / "n.csv"]).stdout
    assert "No target column: pass --target NAME to see the class balance." in out
