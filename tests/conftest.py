"""Shared fixtures: a CliRunner helper that pins terminal width and colour, paths to the
sample data, and the optional developer datasets in ../shared/data."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from nncli.cli import cli

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
SHARED_DATA = ROOT.parent / "shared" / "data"
ENV = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden/*.txt")


@pytest.fixture
def invoke() -> Callable[..., Result]:
    """Run the CLI in-process; check the exit code and show everything on a mismatch."""

    def run(args: list[str], exit_code: int = 0, input: bytes | str | None = None) -> Result:
        runner = CliRunner(env=ENV)
        result = runner.invoke(
            cli, [str(a) for a in args], input=input, catch_exceptions=exit_code != 0
        )
        if result.exit_code != exit_code:
            raise AssertionError(
                f"exit code {result.exit_code}, expected {exit_code}\n"
                f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}\n"
                f"--- exception\n{result.exception!r}"
            )
        if (
            exit_code != 0
            and result.exception is not None
            and not isinstance(result.exception, SystemExit)
        ):
            raise AssertionError(f"unexpected exception: {result.exception!r}")
        return result

    return run


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """Compare text with tests/golden/NAME, or rewrite it under --update-golden."""

    def check(name: str, text: str) -> None:
        path = ROOT / "tests" / "golden" / name
        if request.config.getoption("--update-golden"):
            path.write_text(text)
        assert text == path.read_text(), f"output differs from {path}; rerun with --update-golden"

    return check


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write ``content`` (str or bytes) to a file in tmp_path and return its path."""

    def write(content: str | bytes, name: str = "data.csv") -> Path:
        path = tmp_path / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    return write


def shared_datasets() -> list[tuple[str, str]]:
    """(file, target) for each dataset in ../shared/data, or [] when it is absent."""
    manifest = SHARED_DATA / "MANIFEST.csv"
    if not manifest.exists():
        return []
    import csv

    with manifest.open() as fh:
        return [(row["file"], row["target_column"]) for row in csv.DictReader(fh)]


needs_shared = pytest.mark.skipif(not SHARED_DATA.exists(), reason="../shared/data is absent")


def finish(proc: subprocess.Popen, seconds: float) -> tuple[str, str]:
    """communicate(), but a process that outlives the wait is killed, not left running
    (its open pipes would fail a later test)."""
    try:
        return proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise


def interruptible() -> None:
    """``preexec_fn`` for a CLI process a test interrupts: Ctrl-C reaches it even when the
    tests run as a background job (whose shell starts them with SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
