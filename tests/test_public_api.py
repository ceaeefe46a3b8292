"""The public Python API: its docstring examples run, and MLPClassifier passes
scikit-learn's estimator checks at its defaults."""

from __future__ import annotations

import doctest
import importlib
import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import check_estimator

from nncli.learn.estimator import MLPClassifier
from tests.conftest import ROOT

DOCUMENTED = ["nncli.api", "nncli.learn.estimator"]


@pytest.mark.parametrize("module", DOCUMENTED)
def test_docstring_examples_run(module, monkeypatch):
    monkeypatch.chdir(ROOT)  # the examples use sample_data/ paths
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_mlp_classifier_passes_the_scikit_learn_checks():
    """Every check at the defaults, with no expected failure: identical rows are merged
    and their weights summed, so a weight of k is k copies of a row."""
    # the class as the module holds it now (tests/test_settings.py reloads the module,
    # and a class from before the reload cannot be pickled by the pickling check)
    fresh = importlib.import_module("nncli.learn.estimator").MLPClassifier
    with warnings.catch_warnings():  # tiny fits may end while still improving: that is said
        warnings.simplefilter("ignore", ConvergenceWarning)
        results = check_estimator(fresh(), on_fail=None, on_skip=None)
    failed = [r["check_name"] for r in results if r["status"] in ("failed", "xfail")]
    assert failed == [] and len(results) > 40
    passed = {r["check_name"] for r in results if r["status"] == "passed"}
    assert "check_sample_weight_equivalence_on_dense_data" in passed


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_mlp_classifier_scales_its_inputs_like_the_cli():
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2)) * [1.0, 1e4] + [0.0, 5e4]  # one column on a huge scale
    y = (X[:, 0] + (X[:, 1] - 5e4) / 1e4 > 0).astype(int)
    scaled = MLPClassifier(hidden=(32,), epochs=40).fit(X, y)
    assert scaled.score(X, y) > 0.9
    assert scaled.preprocessor_.scaler == "robust"
    raw = MLPClassifier(hidden=(32,), epochs=40, scaler="none").fit(X, y)
    assert raw.preprocessor_.scaler == "none"


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_mlp_classifier_imputes_and_encodes_like_the_cli():
    import numpy as np
    import pandas as pd

    from tests.conftest import SAMPLE

    frame = pd.read_csv(SAMPLE / "physics.csv")  # jet2_pt has 38% missing; channel is text
    X, y = frame.drop(columns=["label"]), frame["label"]
    clf = MLPClassifier(hidden=(64,), epochs=15).fit(X.iloc[:3000], y.iloc[:3000])
    assert list(clf.feature_names_in_) == list(X.columns)
    assert {c.name for c in clf.preprocessor_.categorical} == {"channel"}
    assert any(n.indicator for n in clf.preprocessor_.numeric)  # jet2_pt=missing
    assert clf.score(X.iloc[3000:], y.iloc[3000:]) > 0.85
    numeric = X.drop(columns=["channel"]).to_numpy()
    assert np.isnan(numeric).any()
    raw = MLPClassifier(hidden=(64,), epochs=15).fit(numeric[:3000], y.iloc[:3000])
    assert raw.score(numeric[3000:], y.iloc[3000:]) > 0.8


def test_mlp_classifier_warns_when_it_stops_while_still_improving(invoke):
    """MLPClassifier(epochs=…) too few for the data: a ConvergenceWarning, as scikit-learn's
    MLP gives (it scored 0.80 against 0.98 at the defaults, silently); none when the loss
    has levelled off. The CLI says the same under the metrics."""
    import numpy as np

    from tests.conftest import SAMPLE

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    with pytest.warns(ConvergenceWarning, match="used all 30 epochs and the validation loss"):
        MLPClassifier(hidden=(16,), epochs=30, batch_size=32, lr=0.01).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        MLPClassifier(hidden=(16,), epochs=100, batch_size=32, lr=0.01).fit(X, y)
    out = invoke(["train", SAMPLE / "physics.csv", "-m", "mlp", "--epochs", "3"]).stdout
    assert "still improving: the validation loss was still falling at the last epoch" in out
    out = invoke(["train", SAMPLE / "physics.csv", "-m", "mlp", "--epochs", "300"]).stdout
    assert "still improving" not in out  # early stopping ended it
