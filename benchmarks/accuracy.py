"""One accuracy run: a model on one dataset and seed, printed as a JSON line.

Every model sees the same stratified 80/20 split of the labelled rows (the split
nncli compare uses) and the same feature columns (nncli's inferred schema, which
drops ID, constant and empty columns). nncli's models hold out 20% of their 80% for
early stopping; the references fit on the whole 80% with their library defaults.

    python benchmarks/accuracy.py DATA.csv TARGET MODEL SEED
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks.* as a script

NNCLI = {
    "nncli-gbt": ("gbt", None),
    "nncli-catboost": ("catboost", None),
    "nncli-logreg": ("logreg", None),
    "nncli-mlp-quick": ("mlp", "quick"),
    "nncli-mlp-default": ("mlp", "default"),
    "nncli-mlp-strong": ("mlp", "strong"),
}
#: realmlp: pytabkit's defaults (label smoothing, best epoch on classification error);
#: realmlp-auc: what its docs recommend for AUC (no label smoothing, best epoch on log loss)
#: catboost: the catboost package at its defaults, categorical columns as cat_features
#: tabm: the tabm package with its paper's recipe (benchmarks/tabm_ref.py); like nncli's
#: models it holds 20% of its 80% out for early stopping
REFERENCES = ("lgbm", "hgb", "xgb", "catboost", "skmlp", "realmlp", "realmlp-auc", "tabm")


def load(path: str, target: str, seed: int):
    from nncli.config import ColumnSpec
    from nncli.io.data import read_table
    from nncli.learn.fitting import stratified_split
    from nncli.prepare.dataset import labelled_rows, labels_to_index
    from nncli.prepare.schema import infer_schema

    table = read_table(path)
    schema = infer_schema(table.frame, ColumnSpec(target=target))
    frame = labelled_rows(table.frame, schema).reset_index(drop=True)
    y = labels_to_index(frame[target], schema.classes, path)
    rest, test = stratified_split(y, 0.2, seed)
    return frame, schema, y, rest, test


def run_nncli(name: str, frame, schema, y, rest, test, seed: int) -> dict:
    from nncli.config import RunConfig, Settings
    from nncli.learn.fitting import fit_model, stratified_split

    model, preset = NNCLI[name]
    settings = Settings(run=RunConfig(seed=seed, preset=preset or "default")).with_preset()
    fit_part, valid_part = stratified_split(y[rest], 0.2, seed + 1)
    train, valid = rest[fit_part], rest[valid_part]
    fitted = fit_model(
        model, schema, frame.iloc[train], y[train], frame.iloc[valid], y[valid], settings
    )
    started = time.perf_counter()
    proba = fitted.predictor.predict_proba(frame.iloc[test], unseen="ignore")
    return {"proba": proba, "fit": fitted.fit_seconds, "predict": time.perf_counter() - started}


def _reference_frame(frame, schema):
    import pandas as pd

    from nncli.prepare.preprocess import numeric_values
    from nncli.prepare.schema import class_labels

    out = {}
    for i, col in enumerate(schema.features):
        if col.role == "numeric":
            out[f"f{i}"] = numeric_values(frame[col.name])
        else:  # object strings with NaN for missing: what every library accepts
            out[f"f{i}"] = class_labels(frame[col.name]).astype("category")
    return pd.DataFrame(out)


def run_reference(name: str, frame, schema, y, rest, test, seed: int) -> dict:
    X = _reference_frame(frame, schema)
    categorical = [c for c in X.columns if X[c].dtype == "category"]
    if name == "catboost":  # categories as text, missing as its own level (no NaN allowed)
        for c in X.columns:
            if X[c].dtype == "category":
                text = X[c].astype(object).where(X[c].notna(), "<missing>")
                X[c] = np.array([str(v) for v in text], dtype=object)
    X_train, X_test, y_train = X.iloc[rest], X.iloc[test], y[rest]
    model = _make_reference(name, X, seed, categorical)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X_train, y_train)
        fit = time.perf_counter() - started
        started = time.perf_counter()
        proba = model.predict_proba(X_test)
    return {"proba": np.asarray(proba), "fit": fit, "predict": time.perf_counter() - started}


def _make_reference(name: str, X, seed: int, categorical: list[str]):
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in X.columns if X[c].dtype != "category"]
    if name == "lgbm":
        import lightgbm

        return lightgbm.LGBMClassifier(verbose=-1, random_state=seed)
    if name == "hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=seed)
    if name == "catboost":
        import catboost

        return catboost.CatBoostClassifier(
            cat_features=categorical, random_seed=seed,
            thread_count=2, verbose=False, allow_writing_files=False,
        )  # fmt: skip
    if name == "tabm":
        from benchmarks.tabm_ref import TabMClassifier

        return TabMClassifier(seed)
    if name == "xgb":
        import xgboost

        return xgboost.XGBClassifier(enable_categorical=True, tree_method="hist", random_state=seed)
    dense = make_column_transformer(
        (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
        (
            make_pipeline(
                SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
            ),
            categorical,
        ),
    )
    if name == "skmlp":
        from sklearn.neural_network import MLPClassifier

        return make_pipeline(
            dense, MLPClassifier((256, 256), early_stopping=True, random_state=seed)
        )
    if name in ("realmlp", "realmlp-auc"):
        from pytabkit import RealMLP_TD_Classifier

        for_auc = (
            {"val_metric_name": "cross_entropy", "use_ls": False} if name == "realmlp-auc" else {}
        )

        impute = make_column_transformer(
            (SimpleImputer(strategy="median"), numeric),
            remainder="passthrough",
            verbose_feature_names_out=False,
        )
        impute.set_output(transform="pandas")
        return make_pipeline(
            impute,
            RealMLP_TD_Classifier(
                random_state=seed, n_threads=2, verbosity=0, device="cpu", **for_auc
            ),
        )
    raise ValueError(name)


def main(path: str, target: str, name: str, seed: int) -> dict:
    from nncli.assess.evaluate import metrics

    frame, schema, y, rest, test = load(path, target, seed)
    runner = run_nncli if name in NNCLI else run_reference
    out = runner(name, frame, schema, y, rest, test, seed)
    scores = metrics(y[test], out["proba"])
    return {
        "model": name,
        "seed": seed,
        "auc": scores["auc"],
        "accuracy": scores["accuracy"],
        "log_loss": scores["log_loss"],
        "fit_s": out["fit"],
        "predict_s": out["predict"],
    }


if __name__ == "__main__":
    path, target, name, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    print(json.dumps(main(path, target, name, seed)))  # noqa: T201
