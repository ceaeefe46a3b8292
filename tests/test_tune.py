"""nncli tune (the extra nncli[tune]): the search space from the settings tables, a search
that beats a deliberately bad default, pruning, resuming after an interrupt, two processes
sharing one SQLite study, a study from another file refused, the paired test recomputed
independently, the model and TOML it writes, and the one-line error without the extra."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import nncli
from nncli.config import GBTConfig, Settings
from nncli.errors import ConfigError
from tests.conftest import ROOT, SAMPLE

optuna = pytest.importorskip("optuna")

from nncli.assess import stats  # noqa: E402
from nncli.assess import tune as tuning  # noqa: E402
from nncli.assess.tune import TuneOptions  # noqa: E402

PHYSICS = SAMPLE / "physics.csv"


def _options(**kw) -> TuneOptions:
    base = {"models": ("logreg",), "trials": 4, "time_budget": None, "bootstrap": 200}
    return TuneOptions(**(base | kw))


# ------------------------------------------------------------------ search space


def test_search_space_comes_from_the_settings_tables():
    names = [r.name for r in tuning.search_space("gbt", Settings())]
    assert names == ["learning_rate", "num_leaves", "min_child_samples", "feature_fraction",
                     "bagging_fraction", "bagging_freq", "lambda_l1", "lambda_l2"]  # fmt: skip
    given = Settings(gbt=GBTConfig(num_leaves=63))
    assert "num_leaves" not in [r.name for r in tuning.search_space("gbt", given)]
    assert [r.name for r in tuning.search_space("logreg", Settings())] == ["C"]
    assert [r.name for r in tuning.search_space("fisher", Settings())] == ["shrinkage"]
    mlp = [r.name for r in tuning.search_space("mlp", Settings())]
    assert "hidden" in mlp and "lr" in mlp and "cell" not in mlp  # rnn's rows are not the mlp's
    with pytest.raises(ConfigError, match="no settings to tune"):
        tuning.search_space("majority", Settings())


def test_trial_values_parse_as_settings():
    from nncli.config import MLP

    values = tuning.settings_values(MLP, {"hidden": "256,256,256", "batch_size": "512"})
    assert values == {"hidden": (256, 256, 256), "batch_size": 512}


# ---------------------------------------------------------------------- searches


@pytest.fixture(scope="module")
def bad_default():
    """gbt with deliberately bad settings left as defaults (so they are searched): two
    leaves, a tiny learning rate and 30 rounds."""
    gbt = GBTConfig().with_defaults(num_leaves=2, learning_rate=0.01, max_rounds=30)
    settings = Settings(gbt=gbt)
    return nncli.tune(PHYSICS, settings=settings,
                      options=_options(models=("gbt",), trials=8, ensemble=3))  # fmt: skip


def test_the_second_trial_is_the_portfolios_config():
    """A new study's second trial is the model's config from compare's portfolio (chosen
    offline), with the settings as given for the rest of the space: a strong start, as
    AutoGluon's and FLAML's zero-shot configs are; a setting given keeps its value."""
    import json

    from nncli.assess.plan import PORTFOLIO

    (variant,) = [c["variant"] for c in json.loads(PORTFOLIO.read_text())["configs"]
                  if c["model"] == "gbt"]  # fmt: skip
    wanted = {k: float(v) for k, v in (item.split("=") for item in variant.split(","))}
    found = nncli.tune(PHYSICS, options=_options(models=("gbt",), trials=3))
    second = found.models[0].trials[1]
    assert second.portfolio and not found.models[0].trials[2].portfolio
    assert {k: second.values[k] for k in wanted} == wanted
    assert second.values["bagging_fraction"] == GBTConfig().bagging_fraction  # as given
    assert second.values["lambda_l1"] == 1e-8  # 0, the log range's lowest
    fixed = Settings(gbt=GBTConfig().replace(num_leaves=15))  # given
    space = tuning.search_space("gbt", fixed)
    (start,) = tuning.warm_starts("gbt", space, fixed)
    assert "num_leaves" not in start and start["learning_rate"] == wanted["learning_rate"]
    assert tuning.warm_starts("logreg", tuning.search_space("logreg", Settings()), Settings()) == []


def test_search_beats_a_bad_default(bad_default):
    m = bad_default.models[0]
    first = m.trials[0]
    assert first.default and first.values == {} and first.state == "complete"
    assert [t.number for t in m.trials] == list(range(8))
    assert m.best is not None and not m.best.default
    assert m.tuned.valid > m.default.valid + 0.01  # out of fold on the search rows
    assert m.tuned.test["auc"] > m.default.test["auc"]
    assert m.best_values["num_leaves"] >= 4  # searched: not the bad 2
    assert m.paired.method == "DeLong" and m.paired.significant
    assert bad_default.rows == {"search": 3200, "test": 800, "total": 4000}
    assert (m.bag, m.n_valid) == (5, 3200)  # compare's automatic cross-fitting for 3,200 rows


def test_trees_cross_fit_their_trials_on_larger_data_than_compare():
    assert [tuning.tune_bag(n, "gbt") for n in (500, 5_000, 40_000, 300_000)] == [8, 5, 5, 1]
    assert [tuning.tune_bag(n, "mlp") for n in (500, 5_000, 40_000)] == [8, 5, 1]


def _naive_delong(positive, a, b):
    """DeLong from its definition: the structural components by pairwise comparison."""
    pos, neg = positive.astype(bool), ~positive.astype(bool)
    comps = []
    for s in (a, b):
        diff = s[pos][:, None] - s[neg][None, :]
        psi = (diff > 0) + 0.5 * (diff == 0)
        comps.append((psi.mean(axis=1), psi.mean(axis=0), psi.mean()))
    v10 = np.vstack([c[0] for c in comps])
    v01 = np.vstack([c[1] for c in comps])
    cov = np.cov(v10) / pos.sum() + np.cov(v01) / neg.sum()
    se = np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    return comps[0][2] - comps[1][2], se


def test_paired_test_matches_an_independent_delong(bad_default):
    from scipy.stats import norm

    m = bad_default.models[0]
    y = pd.read_csv(PHYSICS)["label"].to_numpy() == "signal"
    positive = y[bad_default_test_rows()]
    diff, se = _naive_delong(positive, m.tuned.test_proba[:, 1], m.default.test_proba[:, 1])
    assert m.paired.difference == pytest.approx(diff, abs=1e-12)
    assert m.paired.low == pytest.approx(diff - 1.959964 * se, abs=1e-9)
    assert m.paired.high == pytest.approx(diff + 1.959964 * se, abs=1e-9)
    assert m.paired.p_value == pytest.approx(2 * norm.sf(abs(diff) / se), rel=1e-6)


def bad_default_test_rows() -> np.ndarray:
    """compare's test rows for seed 0 (tune holds out the same)."""
    from nncli.learn.fitting import stratified_split

    y = (pd.read_csv(PHYSICS)["label"] == "signal").to_numpy().astype(int)
    return stratified_split(y, 0.2, 0)[1]


def test_ensemble_and_best_model_predict_what_was_scored(bad_default):
    m = bad_default.models[0]
    frame = pd.read_csv(PHYSICS).iloc[bad_default_test_rows()]
    for scored in (m.tuned, m.ensemble):
        proba = scored.predictor.predict_proba(frame, unseen="ignore")
        np.testing.assert_allclose(proba, scored.test_proba, atol=1e-9)
    assert m.ensemble.label == "mean of 3 best"  # the best trial is one of its members
    assert m.tuned.label in m.ensemble.predictor.card.config["members"]


def test_paired_bootstrap_agrees_with_an_independent_resampling():
    """Log loss (no DeLong): the paired bootstrap of tuned minus as given on the test
    rows, against another resampling; a logreg left at a crippling C is beaten clearly."""
    from nncli.config import LinearConfig

    settings = Settings(linear=LinearConfig().with_defaults(C=1e-4))
    found = nncli.tune(PHYSICS, settings=settings, options=_options(
        models=("logreg",), trials=4, metric="logloss", bootstrap=1000))  # fmt: skip
    m = found.models[0]
    assert m.passed_over is None and not m.best.default
    assert m.search_test.method == "paired bootstrap" and m.search_test.significant
    assert m.paired.method == "paired bootstrap"
    labels = pd.read_csv(PHYSICS)["label"].to_numpy()[bad_default_test_rows()]
    y = np.where(labels == "signal", 1, 0)
    every = np.arange(len(y))

    def loss(p, rows):
        return -np.mean(np.log(np.clip(p[rows, y[rows]], 1e-15, 1)))

    a, b = m.tuned.test_proba, m.default.test_proba
    assert m.paired.difference == pytest.approx(loss(a, every) - loss(b, every))
    rng = np.random.default_rng(12345)  # another generator, another resampling scheme
    classes = [np.flatnonzero(y == k) for k in (0, 1)]
    diffs = []
    for _ in range(2000):
        rows = np.concatenate([rng.choice(c, len(c)) for c in classes])
        diffs.append(loss(a, rows) - loss(b, rows))
    low, high = np.percentile(diffs, [2.5, 97.5])
    width = high - low
    assert abs(m.paired.low - low) < 0.15 * width and abs(m.paired.high - high) < 0.15 * width


def test_the_search_rows_test_matches_an_independent_delong():
    """What keeps the best trial: its out-of-fold scores against the first trial's on the
    search rows, DeLong for a binary AUC, recomputed here from its definition."""
    from scipy.stats import norm

    ctx = _context()
    rest = ctx.split.rest
    rng = np.random.default_rng(3)
    signal = np.where(ctx.y[rest] == 1, 0.6, -0.6)
    scored = []
    for noise in (1.0, 1.3):
        p = 1 / (1 + np.exp(-(signal + rng.normal(scale=noise, size=len(rest)))))
        oof = np.column_stack([1 - p, p])
        scored.append(tuning.Scored("t", ctx.score(oof), None, oof=oof))
    test = tuning.search_test(scored[0], scored[1], ctx)
    diff, se = _naive_delong(ctx.y[rest] == 1, scored[0].oof[:, 1], scored[1].oof[:, 1])
    assert test.method == "DeLong" and test.difference == pytest.approx(diff, abs=1e-12)
    assert test.p_value == pytest.approx(2 * norm.sf(abs(diff) / se), rel=1e-6)
    assert tuning.clearly_better(test) == (diff > 0 and test.p_value < 0.05)


def test_a_best_trial_better_alone_but_not_as_the_best_of_twenty_is_passed_over():
    """What the search rows' test of the best alone misses: twenty trials no better than
    the first, whose best beats it out of fold at p = 0.02 (DeLong) tested alone, by no more
    than the best of twenty gives by luck (Hansen's SPA): the settings as given stay."""
    from types import SimpleNamespace

    ctx = _context()
    rest = ctx.split.rest
    rng = np.random.default_rng(2)
    signal = np.where(ctx.y[rest] == 1, 0.8, -0.8) + rng.normal(size=len(rest))

    def oof():
        p = 1 / (1 + np.exp(-(signal + rng.normal(scale=0.8, size=len(rest)))))
        return np.column_stack([1 - p, p])

    fits = {n: oof() for n in range(21)}  # trial 0: the settings as given
    scored = {n: tuning.Scored(f"logreg#{n}", ctx.score(o), None, oof=o) for n, o in fits.items()}
    trials = [SimpleNamespace(number=n, user_attrs={"default": n == 0}) for n in fits]
    objective = SimpleNamespace(scored=lambda t: scored[t.number], store=None,
                                pool={n: (s.valid, s.oof.astype(np.float32))
                                      for n, s in scored.items() if n})  # fmt: skip
    rows = [tuning.TrialRow(n, "complete", s.valid, {}, 0.1, n == 0) for n, s in scored.items()]
    result = tuning.ModelTuning("logreg", "s", {}, rows)
    best = max(trials[1:], key=lambda t: scored[t.number].valid)
    kept = tuning._kept(result, best, trials[0], trials, objective, ctx)
    assert result.search_test.significant and 0 < result.search_test.p_value < 0.03
    assert (result.chosen_among, result.best_of.candidates) == (20, 20)
    assert not result.best_of.significant and result.best_of.p_value > 0.1
    assert kept is trials[0] and result.passed_over.number == best.number
    alone = stats.best_of_test("auc", ctx.y[rest], ctx.w[rest], fits[0], [fits[best.number]],
                               0, 0)  # fmt: skip
    assert alone.p_value == pytest.approx(result.search_test.p_value / 2, abs=0.01)


def test_the_best_of_test_holds_as_many_trials_as_its_memory_allows(monkeypatch):
    """The out-of-fold probabilities kept for the best-of test are bounded (BEST_OF_BYTES,
    at least BEST_OF_MIN trials): with room for three, three of the best enter it, and the
    output says how many of the finished trials were compared."""
    from nncli.config import LinearConfig
    from nncli.show.report_tune import _best_of_words

    monkeypatch.setattr(tuning, "BEST_OF_BYTES", 1)
    monkeypatch.setattr(tuning, "BEST_OF_MIN", 3)
    settings = Settings(linear=LinearConfig().with_defaults(C=1e-4))  # beaten: not the best
    found = nncli.tune(PHYSICS, settings=settings, options=_options(trials=9))
    m = found.models[0]
    among = sum(t.state == "complete" for t in m.trials) - 1
    assert among > 3 and m.chosen_among == among and m.best_of.candidates == 3
    assert f"as the best of {among} trials, 3 compared: " in _best_of_words(m)


def test_a_trial_another_process_ran_is_refitted_once():
    """The end asks for the best and first trials several times (the search-rows tests,
    the test rows, the model file, the ensemble): one that another process ran is fitted
    here once, with the same out-of-fold predictions each time."""
    from types import SimpleNamespace

    ctx = _context()
    objective = tuning._Objective(ctx, "logreg", tuning.search_space("logreg", ctx.settings),
                                  1, None)  # fmt: skip
    fits = []
    fit = objective.fit
    objective.fit = lambda *a: fits.append(a) or fit(*a)
    other = SimpleNamespace(number=7, user_attrs={"worker": "elsewhere"}, params={"C": 0.3})
    first, again = objective.scored(other), objective.scored(other)
    assert len(fits) == 1 and first is again
    assert np.isfinite(first.oof).all() and first.valid == pytest.approx(ctx.score(first.oof))


def test_only_a_clearly_better_best_trial_is_kept():
    from nncli.assess.stats import PairedTest

    def t(metric, difference, p):
        return PairedTest(metric, difference, -1.0, 1.0, p, "DeLong")

    assert tuning.clearly_better(t("auc", 0.004, 0.01))
    assert not tuning.clearly_better(t("auc", 0.004, 0.2))  # better by luck, maybe
    assert not tuning.clearly_better(t("auc", -0.004, 0.01))
    assert tuning.clearly_better(t("log_loss", -0.01, 0.01))  # lower is better
    assert not tuning.clearly_better(t("log_loss", 0.01, 0.01))
    assert tuning.clearly_better(t("auc", 0.004, float("nan")))  # --bootstrap 0: untested
    assert not tuning.clearly_better(PairedTest("auc", 0.004, 0, 1, 0.01, "DeLong",
                                                few_rows="it rests on class 'x'"))  # fmt: skip


def test_a_best_trial_not_significantly_better_leaves_the_settings_as_given(invoke):
    """logreg at its defaults is about as good as logreg gets on the physics sample: the
    best of six trials beats it out of fold by luck-sized margins, so the settings as given
    are the result (the model, the TOML and the test score), and the output says why."""
    result = invoke(["tune", str(PHYSICS), "-m", "logreg", "--trials", "6", "--json",
                     "--bootstrap", "200"])  # fmt: skip
    assert result.exit_code == 0, result.output
    m = json.loads(result.stdout)["models"][0]
    passed = m["passed_over"]
    assert passed is not None and passed != 0 and m["best_trial"] == 0
    values = {t["number"]: t["value"] for t in m["trials"]}
    search = m["search_test"]
    assert search["difference"] == pytest.approx(values[passed] - values[0], abs=1e-12)
    assert search["difference"] > 0 and not search["significant"]
    assert search["verdict"].startswith(f"trial {passed} vs as given: ")
    assert m["tuned"]["label"] == "logreg#0" and m["tuned"] == m["as_given"]
    assert m["paired"] is None
    among = sum(1 for t in m["trials"] if t["state"] == "complete") - 1
    best_of = m["best_of"]
    assert (best_of["trials"], best_of["compared"]) == (among, among)
    assert best_of["method"] == "Hansen's SPA, normal" and not best_of["significant"]
    assert best_of["p_value"] > search["p_value"] / 2  # the one-sided p, raised by the choice
    text = invoke(["tune", str(PHYSICS), "-m", "logreg", "--trials", "6", "--bootstrap", "200"])
    assert (f"no significant difference; as the best of {among} trials: {best_of['p']} "
            "(Hansen's SPA, normal), not significant: luck could give it — the settings as "
            "given are kept") in " ".join(text.stdout.split())  # fmt: skip
    assert (
        f"trial 0, {values[0]:.4f} (the settings as given; trial {passed} was not "
        "significantly better)" in text.stdout
    )


def test_pruning_stops_a_trial_after_its_first_fit():
    """A trial the pruner calls bad stops after one of its five fits (fold-end report)."""

    class Hopeless:
        number, user_attrs, params = 0, {}, {}

        def __init__(self):
            self.reports = []

        def report(self, value, step):
            self.reports.append(step)

        def should_prune(self):
            return True

    ctx = _context()
    objective = tuning._Objective(ctx, "logreg", tuning.search_space("logreg", ctx.settings),
                                  1, None)  # fmt: skip
    trial = Hopeless()
    with pytest.raises(optuna.TrialPruned, match="pruned after fit 1 of 5"):
        objective.fit(trial, {}, "logreg#0")
    assert trial.reports == [tuning.FOLD_STEP]


def test_mlp_learning_curve_reports_each_epoch_and_prunes():
    class Trial:
        def __init__(self):
            self.seen = []

        def report(self, value, step):
            self.seen.append((step, value))

        def should_prune(self):
            return len(self.seen) >= 3

    trial = Trial()
    curve = tuning._Curve(trial, sign=1, deadline=None)
    curve({"epoch": 1, "valid_loss": 0.6})
    curve({"epoch": 2, "valid_loss": 0.7})  # worse: the best so far is reported
    with pytest.raises(optuna.TrialPruned, match="epoch 3"):
        curve({"epoch": 3, "valid_loss": 0.5})
    assert trial.seen == [(1, -0.6), (2, -0.6), (3, -0.5)]
    later = tuning._Curve(Trial(), sign=1, deadline=None)
    later.report = False  # a later fold: not reported
    later({"epoch": 1, "valid_loss": 0.6})
    assert later.trial.seen == []
    late = tuning._Curve(Trial(), sign=1, deadline=0.0)  # the budget ran out long ago
    with pytest.raises(optuna.TrialPruned, match="time budget ran out"):
        late({"epoch": 1, "valid_loss": 0.6})


def _context() -> tuning._Ctx:
    from nncli.api import _labelled
    from nncli.prepare import dataset

    table, schema, _ = dataset.read_schema(PHYSICS, None, dataset.column_spec(
        None, None, (), None, (), Settings()))  # fmt: skip
    frame, y = _labelled(table, schema)
    settings = Settings().with_preset()
    opts = _options()
    split = tuning._split(y, opts, settings, frame, None)
    w = dataset.row_weights(frame, schema)
    return tuning._Ctx(frame, y, w, schema, split, opts, settings)


def test_time_budget_ends_the_search():
    found = nncli.tune(PHYSICS, options=_options(models=("gbt",), trials=None, time_budget=4.0))
    m = found.models[0]
    assert found.elapsed < 4.0 + 15  # the last fit may run over; the refits at the end count
    assert {t.state for t in m.trials} <= {"complete", "pruned", "failed"}
    assert m.best is not None


# ------------------------------------------------------------- studies on disk


def test_resume_after_an_interrupt(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"

    def stop_at_two(model, number, values, default):
        if number == 2:
            raise KeyboardInterrupt

    first = nncli.tune(PHYSICS, options=_options(trials=5, storage=storage, study="s"),
                       on_trial=stop_at_two)  # fmt: skip
    m = first.models[0]
    assert first.interrupted and m.interrupted
    assert [(t.number, t.state) for t in m.trials] == [(0, "complete"), (1, "complete"),
                                                       (2, "failed")]  # fmt: skip
    assert m.best is not None and m.tuned is not None  # the best so far is kept
    again = nncli.tune(PHYSICS, options=_options(trials=5, storage=storage, study="s"))
    r = again.models[0]
    assert not again.interrupted and r.ran_here == 3
    done = [t for t in r.trials if t.state == "complete"]
    assert len(done) == 5 and [t.number for t in done] == [0, 1, 3, 4, 5]
    assert [t.value for t in done[:2]] == [t.value for t in m.trials[:2]]
    assert sum(t.default for t in r.trials) == 1


def test_a_study_from_another_file_is_refused(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    nncli.tune(PHYSICS, options=_options(trials=1, storage=storage, study="s"))
    other = tmp_path / "physics_less.csv"
    pd.read_csv(PHYSICS).iloc[:-10].to_csv(other, index=False)
    with pytest.raises(ConfigError, match="was made with another file") as info:
        nncli.tune(other, options=_options(trials=1, storage=storage, study="s"))
    assert "study" in info.value.hint
    fixed = Settings().linear.replace(max_iter=50)
    with pytest.raises(ConfigError, match="fixed"):
        nncli.tune(PHYSICS, settings=replace(Settings(), linear=fixed),
                   options=_options(trials=1, storage=storage, study="s"))  # fmt: skip


def test_a_resumed_study_tests_its_best_against_every_finished_trial(tmp_path):
    """Each trial's out-of-fold probabilities are kept beside the study (Optuna artifacts
    in study.db.oof/), so a resumed run's best-of test holds the earlier run's trials too,
    not only its own; a damaged file is left out, and the output says how many entered."""
    from nncli.config import LinearConfig

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    settings = Settings(linear=LinearConfig().with_defaults(C=1e-4))  # beaten: a best-of runs
    options = _options(trials=5, storage=storage, study="r")
    nncli.tune(PHYSICS, settings=settings, options=options)
    files = tmp_path / "study.db.oof"
    assert len(list(files.iterdir())) == 5  # one per finished trial, the first's included
    again = nncli.tune(PHYSICS, settings=settings, options=replace(options, trials=10))
    m = again.models[0]
    complete = [t for t in m.trials if t.state == "complete"]  # the pruner stops some
    assert m.ran_here == 5 and len(list(files.iterdir())) == len(complete)
    here = sum(t.number >= 5 for t in complete)
    assert m.chosen_among == len(complete) - 1 > here
    assert m.best_of.candidates == m.chosen_among  # not only the trials run here
    study = optuna.load_study(study_name="r.logreg", storage=storage)
    worst = min((t for t in study.trials if t.number), key=lambda t: t.value)
    (artifact,) = optuna.artifacts.get_all_artifact_meta(worst, storage=study._storage)
    (files / artifact.artifact_id).write_bytes(b"\x93NUMPY cut short")
    damaged = nncli.tune(PHYSICS, settings=settings, options=replace(options, trials=10))
    left = damaged.models[0]
    assert left.ran_here == 0 and left.best_of.candidates == m.chosen_among - 1
    elsewhere = replace(options, trials=10, predictions_dir=str(tmp_path / "x"))
    alone = nncli.tune(PHYSICS, settings=settings, options=elsewhere)
    assert alone.models[0].best_of.candidates == 1  # the best only: no other trial at hand


def test_the_trials_files_lie_beside_a_file_storage_or_where_given():
    from nncli.assess.trial_store import predictions_dir

    assert predictions_dir("sqlite:///runs/study.db", None) == "runs/study.db.oof"
    assert predictions_dir("sqlite:////abs/s.db?timeout=5", None) == "/abs/s.db.oof"
    assert predictions_dir("journal:study.log", None) == "study.log.oof"
    assert predictions_dir("study.journal", None) == "study.journal.oof"
    assert predictions_dir("sqlite:///:memory:", None) is None
    assert predictions_dir("postgresql://db/tune", None) is None
    assert predictions_dir("postgresql://db/tune", "/shared/oof") == "/shared/oof"
    assert predictions_dir(None, None) is None


def test_journal_storage_resumes(tmp_path):
    storage = f"journal:{tmp_path / 'study.log'}"
    nncli.tune(PHYSICS, options=_options(trials=2, storage=storage, study="j"))
    again = nncli.tune(PHYSICS, options=_options(trials=3, storage=storage, study="j"))
    assert [t.state for t in again.models[0].trials] == ["complete"] * 3
    assert again.models[0].ran_here == 1


def test_two_processes_share_one_sqlite_study(tmp_path):
    db = tmp_path / "shared.db"
    args = [sys.executable, "-m", "nncli.cli", "tune", str(PHYSICS), "-m", "gbt",
            "--trials", "10", "--storage", f"sqlite:///{db}", "--study", "both", "--json",
            "-q", "--bootstrap", "100"]  # fmt: skip
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    runs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                             text=True) for _ in range(2)]  # fmt: skip
    outs = [r.communicate(timeout=300) for r in runs]
    for run, (_out, err) in zip(runs, outs, strict=True):
        assert run.returncode == 0, err
    study = optuna.load_study(study_name="both.gbt", storage=f"sqlite:///{db}")
    trials = study.get_trials()
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert 10 <= len(finished) <= 11  # a process mid-trial when the count is reached finishes it
    assert len({t.number for t in trials}) == len(trials)
    # the settings as given ran once, as trial 0 (both processes start together: an
    # enqueued first trial was enqueued by each, now and then)
    assert [t.number for t in trials if t.user_attrs.get("default")] == [0]
    assert len([t for t in trials if t.user_attrs.get("portfolio")]) == 1  # by trial 0's process
    workers = {t.user_attrs["worker"] for t in finished}
    assert len(workers) == 2  # both processes ran trials
    drawn = [tuple(sorted(t.params.items())) for t in finished if not t.user_attrs.get("default")]
    assert len(set(drawn)) == len(drawn)  # no settings tried twice
    reports = [json.loads(out) for out, _ in outs]
    assert sum(r["models"][0]["ran_here"] for r in reports) == len(trials)
    # each tested its best against the trials of both (their files in shared.db.oof/)
    tested = [r["models"][0]["best_of"] for r in reports if r["models"][0]["best_of"]]
    for best_of in tested:
        assert best_of["compared"] == best_of["trials"]


# ------------------------------------------------------------------------- CLI


def test_cli_writes_the_best_model_and_a_config_train_reads(invoke, tmp_path):
    model, config = tmp_path / "best.nncli", tmp_path / "best.toml"
    result = invoke(["tune", PHYSICS, "-m", "gbt", "--trials", "4", "-o", model,
                     "--save-config", config, "--json", "--bootstrap", "100"])  # fmt: skip
    report = json.loads(result.stdout)
    m = report["models"][0]
    assert report["command"] == "tune" and report["best_model"] == "gbt"
    assert [t["number"] for t in m["trials"]] == [0, 1, 2, 3] and m["trials"][0]["as_given"]
    assert set(m["search_space"]) >= {"learning_rate", "num_leaves"}
    assert m["tuned"]["test"]["auc"] > 0.9
    assert "gbt trial 3:" in result.stderr and f"wrote the model (gbt#{m['best_trial']})" in (
        result.stderr)  # fmt: skip
    toml = tomllib.loads(config.read_text())
    assert toml["run"]["preset"] == "strong"
    assert toml["gbt"] == m["best_settings"] or m["best_settings"] == {}
    card = nncli.load(model).card
    assert card.data.sha256 == report["sha256"] and card.metrics["test"]["auc"] == pytest.approx(
        m["tuned"]["test"]["auc"])  # fmt: skip
    trained = invoke(["train", PHYSICS, "--config", config, "--json", "-q"])
    assert json.loads(trained.stdout)["model"] == "gbt"


def test_cli_tables_show_trials_scores_and_toml(invoke):
    result = invoke(["tune", PHYSICS, "-m", "logreg", "--trials", "3", "--bootstrap", "100"])
    out = result.stdout
    assert "logreg: 3 trials (3 complete); study 'physics.logreg'" in out
    assert "as given (logreg#0)" in out and "[linear]" in out and "C = " in out
    assert "logreg: each trial is fitted 5 times (cross-fitting" in result.stderr
    assert "; 5-fold cross-fit, scored out of fold" in out


def test_cli_bad_storage_is_one_clear_error(invoke):
    result = invoke(["tune", PHYSICS, "-m", "logreg", "--storage", "nosuchdb://x/y"], exit_code=2)
    assert result.stderr.startswith("Error: --storage nosuchdb://x/y: cannot open it")
    assert "Hint: pass an SQLAlchemy URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_refuses_a_model_without_settings(invoke):
    result = invoke(["tune", PHYSICS, "-m", "majority"], exit_code=2)
    assert "Error: -m majority has no settings to tune" in result.stderr


def test_without_the_extra_one_error_names_it(invoke, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna now fails
    result = invoke(["tune", PHYSICS], exit_code=2)
    assert result.stderr.splitlines() == [
        "Error: nncli tune needs the tune extra, and optuna is not installed",
        "Hint: pip install 'nncli[tune]'",
    ]


def test_gbt_given_almost_no_time_keeps_its_first_round():
    """A time limit reached in the first round: one round kept, its loss recorded."""
    from nncli.learn.models.base import FitData
    from nncli.learn.models.gbt import GBTModel

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(int)
    data = FitData(X, y, np.ones(200), X, y, np.ones(200), 2)
    model = GBTModel(2, GBTConfig(), None)
    report = model.fit(data, time_limit=1e-9)
    assert report.stop_reason == "time_budget" and len(report.history) == 1
    assert model.predict_proba(X).shape == (200, 2)


def test_toml_of_a_first_trial_that_won_lists_the_settings_as_given():
    from nncli.assess.tune import ModelTuning, TrialRow, Tuning
    from nncli.show.report_tune import best_toml

    first = TrialRow(0, "complete", 0.99, {}, 1.0, default=True)
    m = ModelTuning("logreg", "s.logreg", {"C": "0.0001..100 (log)"}, [first], {"max_iter": 50},
                    best=first, best_values={"C": 1.0})  # fmt: skip
    schema = nncli.infer_schema(pd.read_csv(PHYSICS))
    text = best_toml(Tuning("data.csv", schema, "auc", {}, [m], 0, preset="strong"))
    parsed = tomllib.loads(text)
    assert parsed == {"run": {"preset": "strong"}, "linear": {"max_iter": 50, "C": 1.0}}
    assert "# logreg: trial 0, 0.9900 (the settings as given)" in text


def test_trials_are_chosen_without_a_class_of_few_rows():
    """hypothyroid's 2-row class made the search chase noise (its out-of-fold macro AUC
    0.78-0.83; the 'best' trial then scored 0.77 test AUC against 0.98 as given): trials
    are scored as compare chooses, the macro AUC over the classes with 5 rows or more."""
    from sklearn.metrics import roc_auc_score

    from nncli.assess.stats import selection_metrics

    rng = np.random.default_rng(1)
    y = np.concatenate([np.repeat([0, 1, 2], 60), [3, 3]])
    proba = rng.dirichlet(np.ones(4), size=len(y))
    proba[np.arange(len(y)), y] += 0.3  # some signal
    proba /= proba.sum(axis=1, keepdims=True)
    chosen = selection_metrics(y, proba, np.ones(len(y)))
    expected = np.mean([roc_auc_score(y == k, proba[:, k]) for k in (0, 1, 2)])
    assert chosen["auc"] == pytest.approx(expected)
    ctx = _context()
    ctx.y, ctx.w = y, np.ones(len(y))
    ctx.split = replace(ctx.split, rest=np.arange(len(y)))
    assert ctx.score(proba) == pytest.approx(expected)
