"""The HTML report: every section present, images that decode, multiclass, missing parts."""

from __future__ import annotations

import base64
import io
import re

import pytest

from tests.conftest import SAMPLE

FAST = ["--bootstrap", "100", "--quiet", "--hidden", "16", "--epochs", "4"]
SECTIONS = [
    "table",
    "efficiency",
    "paired",
    "roc",
    "rejection",
    "overtraining",
    "learning",
    "confusion",
    "calibration",
    "importance",
    "correlation",
]


def _images(page: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def _decodes(png: bytes) -> bool:
    import matplotlib.pyplot as plt

    image = plt.imread(io.BytesIO(png), format="png")
    return png.startswith(b"\x89PNG") and image.shape[0] > 50 and image.shape[1] > 50


def test_binary_report_has_every_section_and_decodable_images(invoke, tmp_path):
    page_path = tmp_path / "r.html"
    invoke(["compare", SAMPLE / "physics.csv", "--report", page_path, *FAST])
    page = page_path.read_text()
    for section in SECTIONS:
        assert f"id='{section}'" in page, section
    images = _images(page)
    assert len(images) >= 10 and all(_decodes(png) for png in images)
    assert "http://" not in page and "https://" not in page  # nothing fetched to view it
    assert "class='best'" in page and "★" in page
    assert "input correlations (class" not in page  # titles live inside the images
    assert "(DeLong)" in page


def test_report_from_a_run_folder_matches(invoke, tmp_path):
    run = tmp_path / "run"
    invoke(["compare", SAMPLE / "physics.csv", "--models", "logreg,gbt", "--out", run, *FAST])
    result = invoke(["report", run, "-o", tmp_path / "r.html"])
    assert result.stderr == f"wrote the HTML report to {tmp_path / 'r.html'}\n"
    page = (tmp_path / "r.html").read_text()
    assert "id='roc'" in page and "id='overtraining'" in page
    assert "id='learning'" not in page  # no MLP was run: the section is left out


def test_multiclass_report(invoke, tmp_path):
    page_path = tmp_path / "seg.html"
    invoke(
        [
            "compare",
            SAMPLE / "segment.csv",
            "--models",
            "logreg,gbt,mlp",
            "--report",
            page_path,
            *FAST,
        ]
    )
    page = page_path.read_text()
    for section in SECTIONS:
        if section not in ("efficiency", "rejection"):  # for a signal against a background
            assert f"id='{section}'" in page, section
    assert "id='efficiency'" not in page and "id='rejection'" not in page
    assert all(_decodes(png) for png in _images(page))


def test_report_of_a_folder_that_is_not_a_run(invoke, tmp_path):
    result = invoke(["report", tmp_path, "-o", tmp_path / "r.html"], exit_code=1)
    assert result.stderr.splitlines()[0] == f"Error: {tmp_path / 'report.json'} not found"


@pytest.mark.parametrize("missing", ["test_predictions.csv"])
def test_damaged_run_folder(invoke, tmp_path, missing):
    run = tmp_path / "run"
    invoke(["compare", SAMPLE / "physics.csv", "--models", "logreg", "--out", run, *FAST])
    (run / missing).unlink()
    result = invoke(["report", run, "-o", tmp_path / "r.html"], exit_code=1)
    assert "not found" in result.stderr


def test_the_physicist_sees_the_terminal_ranking_efficiencies_rejection_and_weights(
    invoke, tmp_path
):
    """The table ranked as the terminal ranks it (★ marked), the εS at εB table with the
    terminal's numbers, the background rejection plot, and the weights said at the top."""
    import json

    import numpy as np
    import pandas as pd

    frame = pd.read_csv(SAMPLE / "physics.csv")
    frame["w"] = np.random.default_rng(0).uniform(0.5, 1.5, len(frame))
    frame.to_csv(tmp_path / "w.csv", index=False)
    run = tmp_path / "run"
    out = invoke(["compare", tmp_path / "w.csv", "--weight", "w", "--models", "logreg,gbt,fisher",
                  "--out", run, "--json", *FAST])  # fmt: skip
    report = json.loads(out.stdout)
    invoke(["report", run, "-o", tmp_path / "r.html"])
    page = (tmp_path / "r.html").read_text()
    assert "Every metric is weighted by the column 'w'" in page
    ranked = sorted((m for m in report["models"] if m["status"] == "ok"),
                    key=lambda m: -m["test"]["auc"])  # fmt: skip
    table = page.split("id='table'", 1)[1].split("</table>", 1)[0]
    positions = [table.index(f"<td>{m['label']}") for m in ranked]
    assert positions == sorted(positions)  # best first, as in the terminal
    efficiency = page.split("id='efficiency'", 1)[1].split("</table>", 1)[0]
    for m in ranked:
        cells = [f"{m['efficiency'][k]:.3f}" for k in ("0.01", "0.1", "0.3")]
        row = efficiency.split(f"<td>{m['label']}", 1)[1].split("</tr>", 1)[0]
        assert all(f"<td>{c}</td>" in row for c in cells), (m["label"], row)
    assert "★" in efficiency and "id='rejection'" in page
    assert "background rejection against signal efficiency" in page
    assert "td{white-space:nowrap}" in page  # intervals are never wrapped
