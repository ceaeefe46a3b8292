"""A self-contained HTML report of a comparison: tables, verdicts and plots.

Every image is a PNG embedded as base64, so the file can be mailed or archived and
opens without a network. matplotlib (Agg backend) is imported only here.

The report is built from what ``compare --out`` saves — the JSON report and the test
and training predictions — so ``nncli report RUN_DIR`` and ``compare --report`` give
the same page. A piece that is not there (no MLP, say) leaves its section out.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nncli.learn.models import MODELS
from nncli.show.labels import METRICS, metric_label, split_words

if TYPE_CHECKING:
    import pandas as pd

PALETTE = [
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
]
#: line styles and markers per model, so that models with the same curve stay visible
STYLES = ["-", "--", "-.", ":"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
#: colours for classes in the overtraining plots: never a model's colour
CLASS_COLOURS = ["#4d4d4d", "#e0a000", "#6a3d9a", "#00a087"]
FONT = {"font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10, "xtick.labelsize": 9,
        "ytick.labelsize": 9, "legend.fontsize": 9}  # fmt: skip


@dataclass
class ReportData:
    payload: dict[str, Any]  # the compare JSON report
    test: pd.DataFrame  # columns: row, true, then "<label>:<class>" probabilities
    train: pd.DataFrame | None  # the same for training rows (for overtraining plots)


def _ok_models(data: ReportData) -> list[dict[str, Any]]:
    return [m for m in data.payload["models"] if m["status"] == "ok"]


def _colours(data: ReportData) -> dict[str, str]:
    return {m["label"]: PALETTE[i % len(PALETTE)] for i, m in enumerate(data.payload["models"])}


def _proba(frame: pd.DataFrame, label: str, classes: list[str]) -> np.ndarray:
    return frame[[f"{label}:{c}" for c in classes]].to_numpy(dtype=float)


def _truth(frame: pd.DataFrame, classes: list[str]) -> np.ndarray:
    index = {c: i for i, c in enumerate(classes)}
    return frame["true"].astype(str).map(index).to_numpy(dtype=int)


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _figure(width: float = 6.4, height: float = 4.6) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(FONT)  # readable at the page's width (≈ 10 px text)
    return plt.subplots(figsize=(width, height))


def _legend(ax: Any, below: bool = False) -> None:
    """Beside the plot (or below it, for plots shown two to a row), never over the data."""
    if below:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
        return
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)


# ------------------------------------------------------------------------ plots


def roc_plot(data: ReportData) -> str:
    from nncli.assess.stats import roc_curve

    classes, colours = data.payload["classes"], _colours(data)
    binary = len(classes) == 2
    signal = classes.index(data.payload["signal"]) if binary else None
    fig, ax = _figure()
    for frame, part in ((data.test, "test"), (data.train, "train")):
        if frame is None:
            continue
        y = _truth(frame, classes)
        for i, model in enumerate(_ok_models(data)):
            if MODELS[model["model"]].floor:
                continue
            p = _proba(frame, model["label"], classes)
            if binary:
                positive, score = y == signal, p[:, signal]
            else:  # micro-average: every (row, class) pair is one decision
                positive, score = (np.eye(len(classes))[y] == 1).ravel(), p.ravel()
            fpr, tpr = roc_curve(positive, score, np.ones(len(score)))
            auc = model["test"]["auc"] if part == "test" else model["train"]["auc"]
            test = part == "test"
            ax.plot(
                fpr,
                tpr,
                STYLES[i % len(STYLES)],
                color=colours[model["label"]],
                lw=1.8 if test else 1.0,
                alpha=1.0 if test else 0.45,
                marker=MARKERS[i % len(MARKERS)] if test else None,
                markevery=max(len(fpr) // 8, 1),
                ms=5,
                label=f"{model['label']} ({part}, AUC {auc:.3f})",
            )
    ax.plot([0, 1], [0, 1], ":", color="grey", lw=0.8)
    what = f"signal = {classes[signal]!r}" if binary else "micro-average over classes"
    ax.set(
        xlabel="Background efficiency εB (false positive rate)",
        ylabel="Signal efficiency εS (true positive rate)",
        title=f"ROC curves, test (bold, marked) and train (faint); {what}",
    )
    _legend(ax)
    return _png(fig)


def overtraining_plot(data: ReportData, model: dict[str, Any]) -> str | None:
    """Classifier output per class, training (filled) vs test (points), with KS p-values."""
    if data.train is None:
        return None
    classes = data.payload["classes"]
    binary = len(classes) == 2
    signal = classes.index(data.payload["signal"]) if binary else None
    y_tr, y_te = _truth(data.train, classes), _truth(data.test, classes)
    p_tr, p_te = (
        _proba(data.train, model["label"], classes),
        _proba(data.test, model["label"], classes),
    )
    fig, ax = _figure()
    bins = np.linspace(0, 1, 41)
    centres = 0.5 * (bins[1:] + bins[:-1])
    ks = {k["class"]: k["p_value"] for k in model["ks"]}
    if binary:  # one distribution per class of p(signal), as TMVA draws it
        groups = [
            (
                classes[k],
                p_tr[y_tr == k, signal],
                p_te[y_te == k, signal],
                f"KS p = {ks.get(classes[k], float('nan')):.2g}",
            )
            for k in range(2)
        ]
    else:  # every row's probability of its own class, pooled over the classes
        own_tr, own_te = p_tr[np.arange(len(y_tr)), y_tr], p_te[np.arange(len(y_te)), y_te]
        worst = min((v for v in ks.values() if v == v), default=float("nan"))
        groups = [("all classes", own_tr, own_te, f"smallest per-class KS p = {worst:.2g}")]
    for i, (name, train_values, test_values, note) in enumerate(groups):
        colour = CLASS_COLOURS[i % len(CLASS_COLOURS)]
        ax.hist(
            train_values, bins=bins, density=True, alpha=0.3, color=colour, label=f"{name} train"
        )
        counts, _ = np.histogram(test_values, bins=bins, density=True)
        ax.plot(centres, counts, "o", ms=3, color=colour, label=f"{name} test ({note})")
    score = f"p({classes[signal]})" if binary else "p(own class)"
    ax.set(
        xlabel=f"Classifier output {score}",
        ylabel="Normalised density",
        yscale="log",
        title=f"{model['label']}: training vs test outputs",
    )
    _legend(ax, below=True)
    return _png(fig)


def learning_plot(data: ReportData) -> str | None:
    mlps = [m for m in _ok_models(data) if MODELS[m["model"]].unit == "epoch" and m["history"]]
    if not mlps:
        return None
    colours = _colours(data)
    fig, ax = _figure()
    for m in mlps:
        epochs = [h["epoch"] for h in m["history"]]
        ax.plot(
            epochs,
            [h["train_loss"] for h in m["history"]],
            "--",
            color=colours[m["label"]],
            label=f"{m['label']} train",
        )
        ax.plot(
            epochs,
            [h["valid_loss"] for h in m["history"]],
            "-",
            color=colours[m["label"]],
            label=f"{m['label']} validation",
        )
    ax.set(xlabel="Epoch", ylabel="Loss (cross-entropy)", title="MLP learning curves")
    _legend(ax)
    return _png(fig)


def confusion_plot(data: ReportData, model: dict[str, Any]) -> str:
    from nncli.assess.evaluate import confusion_matrix

    classes = data.payload["classes"]
    y = _truth(data.test, classes)
    pred = _proba(data.test, model["label"], classes).argmax(axis=1)
    matrix = confusion_matrix(y, pred, len(classes))
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = min(3.2 + 0.32 * len(classes), 10)
    fig, ax = _figure(size, size * 0.9)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    longest = max(len(c) for c in classes)
    rotation = 0 if longest * len(classes) <= 40 else 35
    ax.set_xticks(
        range(len(classes)), classes, rotation=rotation, ha="right" if rotation else "center",
        rotation_mode="anchor",
    )  # fmt: skip
    ax.set_yticks(range(len(classes)), classes)
    if len(classes) <= 12:
        for (i, j), n in np.ndenumerate(matrix):
            ax.text(
                j,
                i,
                f"{n:,}",
                ha="center",
                va="center",
                fontsize=9,
                color="white" if share[i, j] > 0.5 else "black",
            )
    ax.set(
        xlabel="Predicted class",
        ylabel="True class",
        title=f"{model['label']}: confusion matrix (colour: share of the true class)",
    )
    fig.colorbar(image, ax=ax, fraction=0.046)
    return _png(fig)


def calibration_plot(data: ReportData) -> str:
    classes, colours = data.payload["classes"], _colours(data)
    binary = len(classes) == 2
    y = _truth(data.test, classes)
    fig, ax = _figure()
    bins = np.linspace(0, 1, 11)
    for model in _ok_models(data):
        p = _proba(data.test, model["label"], classes)
        if binary:
            signal = classes.index(data.payload["signal"])
            conf, hit = p[:, signal], (y == signal).astype(float)
        else:  # top-label calibration: confidence of the predicted class vs its accuracy
            conf, hit = p.max(axis=1), (p.argmax(axis=1) == y).astype(float)
        which = np.clip(np.digitize(conf, bins) - 1, 0, 9)
        xs, ys = [], []
        for b in range(10):
            if np.sum(which == b) >= 5:
                xs.append(conf[which == b].mean())
                ys.append(hit[which == b].mean())
        ax.plot(xs, ys, "o-", ms=3, color=colours[model["label"]], label=model["label"])
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(
        xlabel="Predicted probability" if binary else "Confidence (top class)",
        ylabel="Observed frequency" if binary else "Accuracy",
        title="calibration (reliability) on the test rows",
    )
    _legend(ax)
    return _png(fig)


def importance_plot(data: ReportData) -> str | None:
    info = data.payload.get("importance")
    if not info:
        return None
    items = sorted(info["features"].items(), key=lambda kv: kv[1])[-25:]
    fig, ax = _figure(6.4, 1.5 + 0.22 * len(items))
    ax.barh([k for k, _ in items], [v for _, v in items], color=PALETTE[0])
    ax.set(
        xlabel=f"Drop in test {info['metric']} when the column is shuffled",
        title=f"variable ranking: permutation importance ({info['model']})",
    )
    ax.tick_params(axis="y", labelsize=9)
    return _png(fig)


def correlation_plots(data: ReportData) -> list[tuple[str, str]]:
    info = data.payload.get("correlation")
    if not info:
        return []
    out = []
    for name, matrix in info["matrices"].items():
        names = info["columns"]
        values = np.asarray(matrix, dtype=float)
        size = min(3.5 + 0.25 * len(names), 10)
        fig, ax = _figure(size, size * 0.9)
        image = ax.imshow(values, cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_xticks(
            range(len(names)), names, rotation=45, ha="right", rotation_mode="anchor", fontsize=8
        )
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_title(f"input correlations ({name})")
        fig.colorbar(image, ax=ax, fraction=0.046)
        out.append((name, _png(fig)))
    return out


# ------------------------------------------------------------------------- page


def _img(png: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{png}">'


def _ranked(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The models in the terminal's order: the finished ones by the test metric, best
    first, then the others."""
    from nncli.assess.evaluate import HIGHER_IS_BETTER

    metric = payload["metric"]
    sign = -1 if HIGHER_IS_BETTER[metric] else 1
    ok = [m for m in payload["models"] if m["status"] == "ok"]
    ok.sort(key=lambda m: sign * m["test"][metric])
    return ok + [m for m in payload["models"] if m["status"] != "ok"]


def efficiency_table(data: ReportData) -> str | None:
    """Signal efficiency at background efficiency 1%, 10% and 30%, and the separation,
    per model (binary targets), as the terminal prints them."""
    rows = []
    for m in _ranked(data.payload):
        eff = m.get("efficiency") if m["status"] == "ok" else None
        if not eff:
            continue
        star = " ★" if m["label"] == data.payload["best"] else ""
        cells = [html.escape(m["label"]) + star, *(f"{eff[k]:.3f}" for k in ("0.01", "0.1",
                                                                            "0.3")),
                 "-" if m.get("separation") is None else f"{m['separation']:.3f}"]  # fmt: skip
        best = " class='best'" if star else ""
        rows.append(f"<tr{best}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    if not rows:
        return None
    head = ["model", "εS at εB = 1%", "εS at εB = 10%", "εS at εB = 30%", "Separation"]
    return ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(rows)
            + "</table>")  # fmt: skip


def rejection_plot(data: ReportData) -> str | None:
    """The ROC as physicists draw it: background rejection 1/εB (log axis) against signal
    efficiency, test rows, one curve per model (binary targets)."""
    from nncli.assess.stats import roc_curve

    classes, colours = data.payload["classes"], _colours(data)
    if len(classes) != 2 or data.payload.get("signal") is None:
        return None
    signal = classes.index(data.payload["signal"])
    y = _truth(data.test, classes)
    weights = _test_weights(data)
    fig, ax = _figure()
    for i, model in enumerate(_ok_models(data)):
        if MODELS[model["model"]].floor:
            continue
        score = _proba(data.test, model["label"], classes)[:, signal]
        fpr, tpr = roc_curve(y == signal, score, weights)
        keep = fpr > 0
        ax.plot(tpr[keep], 1.0 / fpr[keep], STYLES[i % len(STYLES)],
                color=colours[model["label"]], lw=1.6, marker=MARKERS[i % len(MARKERS)],
                markevery=max(int(keep.sum()) // 8, 1), ms=5,
                label=f"{model['label']} (AUC {model['test']['auc']:.3f})")  # fmt: skip
    ax.set_yscale("log")
    ax.set(xlabel="Signal efficiency εS", ylabel="Background rejection 1/εB",
           title=f"Background rejection, test rows; signal = {classes[signal]!r}",
           xlim=(0, 1))  # fmt: skip
    ax.grid(True, which="both", alpha=0.3)
    _legend(ax)
    return _png(fig)


def _test_weights(data: ReportData) -> np.ndarray:
    """The test rows' event weights when the predictions carry them, else ones."""
    column = data.payload.get("weight")
    if column and column in data.test.columns:
        return data.test[column].to_numpy(dtype=np.float64)
    return np.ones(len(data.test))


def _table(data: ReportData) -> str:
    metric = data.payload["metric"]
    cv = bool(data.payload["evaluation"]["cv"])
    name = metric_label(metric)
    others = [k for k in METRICS if k != metric]
    head = [
        "model",
        name + (" (mean ± std)" if cv else " [95% CI]"),
        f"valid {name}",
        *(metric_label(k) for k in others),
        f"train {name}",
        "fit s",
        "params",
        "note",
    ]
    rows = []
    for m in _ranked(data.payload):
        if m["status"] != "ok":
            rows.append(
                f"<tr class='off'><td>{html.escape(m['label'])}</td>"
                f"<td colspan='{len(head) - 1}'>{html.escape(m['note'])}</td></tr>"
            )
            continue
        t = m["test"]
        if cv:
            main = f"{t[metric]:.4f} ± {m['std'][metric]:.4f}"
        elif metric in m["interval"]:
            low, high = m["interval"][metric]
            main = f"{t[metric]:.4f} [{low:.4f}, {high:.4f}]"
        else:  # --bootstrap 0
            main = f"{t[metric]:.4f}"
        best = " class='best'" if m["label"] == data.payload["best"] else ""
        valid = m.get("valid", {}).get(metric)
        cells = (
            [
                html.escape(m["label"]) + (" ★" if best else ""),
                main,
                "-" if valid is None else f"{valid:.4f}",
            ]
            + ["-" if t[k] is None else f"{t[k]:.4f}" for k in others]
            + [
                f"{m['train'][metric]:.4f}",
                f"{m['fit_seconds']:.2f}",
                f"{m['n_params']:,}",
                html.escape(m["note"]),
            ]
        )
        rows.append(f"<tr{best}>" + "".join(f"<td>{c}</td>" for c in cells[:-1])
                    + f"<td class='note'>{cells[-1]}</td></tr>")  # fmt: skip
    return (
        "<table><tr>"
        + "".join(f"<th>{h}</th>" for h in head)
        + "</tr>"
        + "".join(rows)
        + "</table>"
    )


CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:min(1500px,96vw);
color:#222}td{white-space:nowrap}td.note{white-space:normal;text-align:left;
min-width:14em}.wide{overflow-x:auto}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em;
margin-top:1.6em}table{border-collapse:collapse;font-size:.85em}td,th{padding:.25em .6em;
border-bottom:1px solid #eee;text-align:right}td:first-child,th:first-child{text-align:left}
tr.best{font-weight:bold;background:#eefbea}tr.off{color:#999}ul{font-size:.9em}
img{max-width:100%;margin:.4em 0}.grid{display:flex;flex-wrap:wrap;gap:1em}
.grid img{max-width:520px}.meta{color:#555;font-size:.9em}"""


def _weight_lines(payload: dict[str, Any]) -> list[str]:
    """The weights every metric of the page is weighted by, said at the top."""
    weight = payload.get("weight")
    if not weight:
        return []
    name = html.escape(repr(weight), quote=False)
    return [f"<p class='meta'>Every metric is weighted by the column {name} (negative "
            "weights are left out of training and kept in the metrics).</p>"]  # fmt: skip


def _head(data: ReportData) -> list[str]:
    """The title, what was compared (and weighted), the ranked table, the efficiencies."""
    p, rows = data.payload, data.payload["rows"]
    parts = [
        f"<h1>nncli compare: {html.escape(str(p['source']))}</h1>",
        f"<p class='meta'>target {html.escape(repr(p['target']))} with "
        f"{len(p['classes'])} classes; {rows['total']:,} rows "
        + f"({split_words(rows, p['evaluation']['cv'])})"
        + f"; seed {p['seed']}; {p['elapsed_seconds']:.1f} s</p>",
        *_weight_lines(p),
        "<h2 id='table'>Comparison</h2>",
        "<div class='wide'>" + _table(data) + "</div>",
    ]
    efficiency = efficiency_table(data)
    if efficiency:
        parts += [f"<h2 id='efficiency'>Signal efficiency at fixed background efficiency "
                  f"(signal: {html.escape(repr(p['signal']))})</h2>", efficiency]  # fmt: skip
    return parts


def render(data: ReportData) -> str:
    p = data.payload
    models = _ok_models(data)
    parts = _head(data)
    if p["paired"]:
        parts.append(
            "<h2 id='paired'>Paired comparisons</h2><ul>"
            + "".join(f"<li>{html.escape(t['verdict'])}</li>" for t in p["paired"])
            + "</ul>"
        )
    parts += ["<h2 id='roc'>ROC curves</h2>", _img(roc_plot(data), "ROC curves")]
    rejection = rejection_plot(data)
    if rejection:
        parts += ["<h2 id='rejection'>Background rejection</h2>",
                  _img(rejection, "background rejection against signal efficiency")]  # fmt: skip
    over = [(m, overtraining_plot(data, m)) for m in models if not MODELS[m["model"]].floor]
    if any(png for _, png in over):
        parts.append(
            "<h2 id='overtraining'>Overtraining check</h2><p class='meta'>Filled: "
            "training rows; points: test rows. Matching shapes (a large KS p-value) "
            "mean the model treats unseen rows like the ones it learnt from.</p>"
            "<div class='grid'>"
            + "".join(_img(png, f"overtraining {m['label']}") for m, png in over if png)
            + "</div>"
        )
    learning = learning_plot(data)
    if learning:
        parts += ["<h2 id='learning'>Learning curves</h2>", _img(learning, "learning curves")]
    shown = [m for m in models if m["label"] == p["best"] or MODELS[m["model"]].baseline]
    parts.append(
        "<h2 id='confusion'>Confusion matrices</h2><div class='grid'>"
        + "".join(_img(confusion_plot(data, m), f"confusion {m['label']}") for m in shown)
        + "</div>"
    )
    parts += ["<h2 id='calibration'>Calibration</h2>", _img(calibration_plot(data), "calibration")]
    importance = importance_plot(data)
    if importance:
        parts += ["<h2 id='importance'>Variable ranking</h2>", _img(importance, "importance")]
    correlations = correlation_plots(data)
    if correlations:
        parts.append(
            "<h2 id='correlation'>Input correlations</h2><div class='grid'>"
            + "".join(_img(png, f"correlation {name}") for name, png in correlations)
            + "</div>"
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>nncli compare report</title>"
        f"<style>{CSS}</style></head><body>" + "\n".join(parts) + "</body></html>\n"
    )
