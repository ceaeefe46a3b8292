"""Preprocessing: fitted on training rows only, stable on unseen values, JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nncli.prepare.preprocess import CLIP, Preprocessor, fit_preprocessor
from nncli.prepare.schema import infer_schema


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 400
    return pd.DataFrame(
        {
            "x": np.r_[rng.lognormal(size=n - 4), [np.nan, np.nan, 1e6, -50.0]],
            "colour": rng.choice(["red", "green", "blue"], n),
            "flag": rng.choice([True, False], n),
            "label": rng.choice(["a", "b"], n),
        }
    )


def test_statistics_come_from_training_rows_only(frame):
    schema = infer_schema(frame)
    train = frame.iloc[:200]
    prep = fit_preprocessor(train, schema, "dense", "standard")
    x = prep.numeric[0]
    filled = train["x"].fillna(train["x"].median())
    assert x.median == pytest.approx(train["x"].median())
    assert x.center == pytest.approx(filled.mean()) and x.scale == pytest.approx(filled.std(ddof=0))


def test_dense_layout_columns_and_reserved_slot(frame):
    schema = infer_schema(frame)
    prep = fit_preprocessor(frame, schema, "dense", "robust")
    names = prep.feature_names
    assert names[:2] == ["x", "x=missing"] and names[5] == "colour=<other>"
    assert sorted(names[2:5]) == ["colour=blue", "colour=green", "colour=red"]
    assert sorted(names[6:8]) == ["flag=false", "flag=true"] and names[8] == "flag=<other>"
    new = pd.DataFrame({"x": [1.0, None], "colour": ["purple", None], "flag": ["TRUE", "false"]})
    X, unseen = prep.transform(new)
    assert unseen == {"colour": 1}
    assert X[:, 5].tolist() == [1.0, 1.0]  # unseen and missing share the reserved slot
    true_col, false_col = names.index("flag=true"), names.index("flag=false")
    assert X[:, true_col].tolist() == [1.0, 0.0] and X[:, false_col].tolist() == [0.0, 1.0]
    assert X[1, 1] == 1.0  # the missing indicator


def test_robust_scaling_is_smoothly_clipped(frame):
    prep = fit_preprocessor(frame, infer_schema(frame), "dense", "robust")
    X, _ = prep.transform(frame)
    assert np.abs(X[:, 0]).max() <= CLIP
    assert X[:, 0].argmax() == len(frame) - 2  # order is kept: the outlier is still the top


def test_quantile_scaling_is_roughly_standard_normal(frame):
    prep = fit_preprocessor(frame, infer_schema(frame), "dense", "quantile")
    z = prep.transform(frame)[0][:, 0]
    assert abs(z.mean()) < 0.05 and abs(z.std() - 1) < 0.1


def test_native_layout_keeps_missing_and_codes_categories(frame):
    prep = fit_preprocessor(frame, infer_schema(frame), "native")
    new = pd.DataFrame({"x": [None, 2.0], "colour": ["green", "purple"], "flag": [True, None]})
    X, unseen = prep.transform(new)
    assert prep.categorical_indices == [1, 2]
    assert np.isnan(X[0, 0]) and X[1, 0] == 2.0
    assert X[0, 1] == prep.categorical[0].levels.index("green") and np.isnan(X[1, 1])
    assert unseen == {"colour": 1}


def test_json_round_trip_gives_the_same_matrix(frame):
    prep = fit_preprocessor(frame, infer_schema(frame), "dense", "quantile")
    again = Preprocessor.from_dict(json.loads(json.dumps(prep.to_dict())))
    assert np.array_equal(again.transform(frame)[0], prep.transform(frame)[0])


def test_stray_text_and_infinities_are_missing():
    frame = pd.DataFrame(
        {"x": ["1", "2", "oops", "inf", "-inf", "3"] + ["4", "5"] * 27, "label": ["a", "b"] * 30}
    )
    schema = infer_schema(frame)
    assert schema.column("x").role == "numeric" and schema.column("x").stray == ["oops"]
    prep = fit_preprocessor(frame, schema, "native")
    X, _ = prep.transform(frame)
    assert np.isnan(X[:6, 0]).tolist() == [False, False, True, True, True, False]


_CELLS = st.one_of(
    st.none(), st.sampled_from(["a", "b", "B", "1", "true", "TRUE", "x y"]),
    st.integers(-2, 3), st.sampled_from([1.0, 2.5, float("nan")]), st.booleans(),
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(train=st.lists(_CELLS, min_size=1, max_size=40), new=st.lists(_CELLS, max_size=20),
       boolean=st.booleans())  # fmt: skip
def test_category_codes_agree_with_matching_each_row_as_text(train, new, boolean):
    """The levels and codes from one factorize per column are those of the plain
    definition: every row written as its class label (lower case for booleans), counted
    with value_counts and matched with Index.get_indexer (missing and unseen: -1)."""
    from nncli.prepare.preprocess import MAX_LEVELS, MIN_LEVEL_COUNT, Preprocessor
    from nncli.prepare.preprocess import _fit_categorical as fit_levels
    from nncli.prepare.schema import class_labels

    def text(cells):
        labels = class_labels(pd.Series(cells, dtype=object))
        return labels.str.lower() if boolean else labels

    counts = text(train).value_counts()
    counts = counts[counts >= MIN_LEVEL_COUNT]
    expected = sorted(counts.index, key=lambda level: (-counts[level], level))[:MAX_LEVELS]
    state = fit_levels("c", pd.Series(train, dtype=object), boolean)
    assert state.levels == expected
    new_text = text(new)
    codes = pd.Index(expected, dtype=object).get_indexer(new_text)
    unseen = int(((codes < 0) & new_text.notna().to_numpy()).sum())
    prep = Preprocessor("native", "standard", [], [state])
    got, n_unseen = prep._categorical(state, pd.Series(new, dtype=object))
    assert np.array_equal(got, np.where(codes < 0, np.nan, codes), equal_nan=True)
    assert n_unseen == unseen
