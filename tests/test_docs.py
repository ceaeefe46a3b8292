"""The CLI's documentation contract and start-up cost."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nncli.cli import cli
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_help_with_an_example_and_is_in_readme(name):
    command = cli.commands[name]
    assert command.help and "Example:" in command.help, f"{name} is missing help or an example"
    assert f"nncli {name}" in README, f"{name} is not in README.md"


def test_exit_codes_are_documented():
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 130 |"):
        assert code in README


def _loaded_modules(args: list[str]) -> set[str]:
    code = (
        "import sys\nfrom nncli.cli import cli\n"
        f"try:\n    cli({args!r}, prog_name='nncli')\nexcept SystemExit:\n    pass\n"
        "heavy = ('torch', 'sklearn', 'lightgbm', 'pandas', 'torch._dynamo')\n"
        "print('LOADED', *(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    last = out.stdout.strip().splitlines()[-1].split()
    assert last[0] == "LOADED"
    return set(last[1:])


def test_help_imports_no_heavy_library():
    assert _loaded_modules(["--help"]) == set()


def test_inspect_imports_neither_torch_nor_sklearn():
    loaded = _loaded_modules(["inspect", "sample_data/physics.csv"])
    assert "pandas" in loaded and not loaded & {"torch", "sklearn", "lightgbm"}


def test_mlp_training_does_not_import_the_torch_compiler():
    """torch.optim's optimizers import torch._dynamo (about 2 s) when first built; the
    MLP's CPU optimizer does not (nncli.learn.adam)."""
    args = ["train", "sample_data/physics.csv", "-m", "mlp", "--epochs", "1", "--quiet"]
    loaded = _loaded_modules(args)
    assert "torch" in loaded and "torch._dynamo" not in loaded


def test_gbt_training_does_not_import_torch(tmp_path):
    loaded = _loaded_modules(["train", "sample_data/physics.csv", "-m", "gbt", "--quiet"])
    assert "lightgbm" in loaded and "torch" not in loaded
