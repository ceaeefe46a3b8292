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
    "paired",
    "roc",
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
        assert f"id='{section}'" in page, section
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
