"""Schema inference: roles, target resolution, JSON round trip, column-order invariance."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nncli.config import ColumnSpec
from nncli.errors import SchemaError
from nncli.prepare.schema import Schema, infer_schema, resolve_target


def test_roles():
    n = 50
    frame = pd.DataFrame(
        {
            "id": range(n),
            "num": [i * 0.5 for i in range(n)],
            "cat": ["a", "b", "c", "d", "e"] * 10,
            "flag": [True, False] * 25,
            "const": [7] * n,
            "empty": [None] * n,
            "when": [f"2024-01-{1 + i % 28:02d}" for i in range(n)],
            "note": [f"free text number {i} written by a person" for i in range(n)],
            "label": ["x", "y"] * 25,
        }
    )
    schema = infer_schema(frame)
    roles = {c.name: c.role for c in schema.columns}
    assert roles == {
        "id": "id",
        "num": "numeric",
        "cat": "categorical",
        "flag": "boolean",
        "const": "constant",
        "empty": "empty",
        "when": "datetime",
        "note": "text",
        "label": "target",
    }
    assert [c.name for c in schema.features] == ["num", "cat", "flag"]
    assert schema.id_cols == ["id"]


def test_missing_target_rows_are_counted():
    frame = pd.DataFrame({"x": range(6), "label": ["a", None, "b", "a", "b", None]})
    schema = infer_schema(frame)
    assert schema.n_missing_target == 2 and schema.class_counts == [2, 2]
    assert schema.findings[0].message == "2 row(s) have no target value and are left out"


def test_numeric_classes_sort_numerically_and_print_as_integers():
    frame = pd.DataFrame({"x": range(6), "y": [10.0, 2.0, 10.0, 2.0, 1.0, 1.0]})
    assert infer_schema(frame).classes == ["1", "2", "10"]


@pytest.mark.parametrize(
    "columns,expected",
    [
        (["a", "Target"], "Target"),
        (["Class", "b"], "Class"),
        (["y", "x"], "y"),
    ],
)
def test_target_autodetect(columns, expected):
    assert resolve_target(columns, None) == expected


def test_target_absent_is_an_error_listing_columns():
    with pytest.raises(SchemaError) as err:
        resolve_target(["a", "b"], None)
    assert err.value.hint == "pass --target NAME; the columns are a, b."


cells = st.one_of(
    st.none(),
    st.integers(-5, 5),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.sampled_from(["a", "b", "zz", "1.5", "?x"]),
)


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(6, 30))
    n_cols = draw(st.integers(1, 5))
    data = {f"c{i}": draw(st.lists(cells, min_size=n, max_size=n)) for i in range(n_cols)}
    k = draw(st.integers(2, 3))
    data["label"] = [["p", "q", "r"][i % k] for i in range(n)]
    frame = pd.DataFrame(data)
    for col in frame.columns[:-1]:  # mixed cells: read them as a CSV reader would, as text
        if frame[col].map(type).nunique() > 1:
            frame[col] = frame[col].map(lambda v: None if v is None else str(v))
    return frame


@settings(max_examples=60, deadline=None)
@given(frames())
def test_schema_json_round_trip(frame):
    schema = infer_schema(frame, ColumnSpec(target="label"))
    assert Schema.from_json(schema.to_json()) == schema


@settings(max_examples=60, deadline=None)
@given(frames(), st.randoms(use_true_random=False))
def test_column_order_is_irrelevant(frame, rnd):
    order = list(frame.columns)
    rnd.shuffle(order)
    one = infer_schema(frame, ColumnSpec(target="label"))
    two = infer_schema(frame[order], ColumnSpec(target="label"))
    assert {c.name: c for c in one.columns} == {c.name: c for c in two.columns}
    assert (one.classes, one.class_counts) == (two.classes, two.class_counts)
    key = lambda f: (f.code, f.column or "", f.message)  # noqa: E731
    assert sorted(one.findings, key=key) == sorted(two.findings, key=key)


def test_text_column_with_stray_tokens_is_decided_on_its_distinct_values():
    """A text column is judged on its value_counts: the stray count, the stray tokens
    in order of frequency and the numeric stats must equal those of every row."""
    import numpy as np

    values = ["1.5", "2", "2", "2", "1e3", "-4"] * 40 + ["7"] * 300 + ["n/a"] * 10 + ["?"] * 20
    schema = infer_schema(pd.DataFrame({"v": values, "label": ["a", "b"] * 285}))
    col = schema.column("v")
    numbers = np.array([float(v) for v in values if v not in ("?", "n/a")])
    assert col.role == "numeric" and col.n_stray == 30 and col.stray == ["?", "n/a"]
    assert col.n_unique == 7 and col.examples[:2] == ["7", "2"]
    assert col.stats == pytest.approx(
        {"min": -4.0, "max": 1000.0, "mean": numbers.mean(), "std": numbers.std()}, rel=1e-12
    )


def test_large_frames_are_inferred_in_threads_with_the_same_result(monkeypatch):
    import numpy as np

    import nncli.prepare.schema as schema_module

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=3000).round(2),
            "inf": np.r_[rng.normal(size=2990), [np.inf] * 5, [-np.inf] * 5],
            "cat": rng.choice(["a", "b", "c"], 3000),
            "mixed": rng.choice(["1", "2", "x"], 3000, p=[0.5, 0.48, 0.02]),
            "label": rng.choice(["p", "q"], 3000),
        }
    )
    one = infer_schema(frame).to_json()
    monkeypatch.setattr(schema_module, "PARALLEL_CELLS", 1)
    monkeypatch.setattr("nncli.cores.usable_cores", lambda: 2)
    assert infer_schema(frame).to_json() == one
    stats = infer_schema(frame).column("inf").stats
    finite = frame["inf"][np.isfinite(frame["inf"])]
    assert stats["min"] == finite.min() and stats["max"] == finite.max()


def test_a_class_with_few_rows_warns_that_auc_differences_on_it_are_not_reliable():
    def imbalance(n_rare: int, n: int) -> str:
        frame = pd.DataFrame({"x": range(n), "y": ["rare"] * n_rare + ["common"] * (n - n_rare)})
        (finding,) = [f for f in infer_schema(frame).findings if f.code == "imbalance"]
        return finding.message

    few = imbalance(3, 1000)
    assert few.startswith("heavy class imbalance: 'rare' is 0.3% of rows; accuracy is misleading")
    assert few.endswith(
        "with 3 rows of it a test split holds few or none, and a difference in ROC AUC "
        "that rests on them is not reliable, whatever its p-value"
    )
    assert "not reliable" not in imbalance(40, 1000)  # 4%: imbalanced, but 8 test rows


def test_long_columns_of_mostly_distinct_numbers_have_their_distinct_count_estimated(
    monkeypatch,
):
    """Above EXACT_DISTINCT values a column of mostly distinct numbers gets its distinct
    count from the k-minimum-values sketch (marked as estimated, within 4 standard errors
    of the exact count), its stats from every value; columns whose values repeat, and
    all-distinct columns that could be a row ID, are still counted exactly."""
    import numpy as np

    import nncli.prepare.schema as schema_module
    from nncli.show.report import _unique

    monkeypatch.setattr(schema_module, "EXACT_DISTINCT", 5_000)
    rng = np.random.default_rng(1)
    n = 60_000
    frame = pd.DataFrame({
        "measure": rng.normal(size=n).round(4),  # about 45,000 distinct of 60,000
        "levels": rng.integers(0, 50, n).astype(float) + 0.5,  # values repeat: exact
        "row_id": np.arange(n) + 100,  # all distinct whole numbers: exact (an ID)
        "label": rng.choice(["p", "q"], n),
    })  # fmt: skip
    schema = infer_schema(frame)
    measure = schema.column("measure")
    exact = frame["measure"].nunique()
    assert measure.n_unique_estimated and measure.role == "numeric"
    assert abs(measure.n_unique / exact - 1) < 4 / np.sqrt(schema_module.SKETCH_K - 2)
    assert measure.stats["mean"] == pytest.approx(frame["measure"].mean())
    assert measure.stats["std"] == pytest.approx(frame["measure"].std(ddof=0))
    assert _unique(measure).startswith("≈")
    levels, row_id = schema.column("levels"), schema.column("row_id")
    assert not levels.n_unique_estimated and levels.n_unique == 50
    assert not row_id.n_unique_estimated and row_id.role == "id"
    assert Schema.from_json(schema.to_json()).column("measure").n_unique_estimated


def test_the_distinct_count_sketch_is_unbiased_over_many_columns():
    """estimate_distinct against exact counts: relative errors centred on 0 with the
    spread 1/sqrt(k - 2) says; -0.0 and 0.0 count once; a few distinct values: None."""
    import numpy as np

    from nncli.prepare.schema import estimate_distinct

    rng = np.random.default_rng(2)
    errors = []
    for _ in range(40):
        x = rng.integers(0, 200_000, 100_000).astype(float) / 7
        errors.append(estimate_distinct(x, k=1024) / len(np.unique(x)) - 1)
    spread = 1 / np.sqrt(1022)
    assert abs(np.mean(errors)) < 3 * spread / np.sqrt(40)
    assert 0.6 * spread < np.std(errors) < 1.5 * spread
    zeros = np.r_[np.arange(1, 20_000.0), np.zeros(10_000)]
    signed = np.r_[np.arange(1, 20_000.0), np.zeros(5_000), -np.zeros(5_000)]
    assert estimate_distinct(signed, k=1024) == estimate_distinct(zeros, k=1024)
    assert estimate_distinct(np.repeat(np.arange(10.0), 1000), k=1024) is None
