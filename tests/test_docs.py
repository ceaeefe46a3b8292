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


USER_DOCS = ["README.md", "docs/guide.md", "docs/cli.md", "docs/physics.md", "docs/scaling.md",
             "docs/python.md", "docs/json.md"]  # fmt: skip


def test_the_command_reference_is_generated_and_current():
    """docs/cli.md is made from the commands and the settings tables; it fails here when
    a command or a setting changed and the page was not regenerated."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_cli", ROOT / "docs" / "make_cli.py")
    assert spec is not None and spec.loader is not None
    make_cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_cli)
    page = (ROOT / "docs" / "cli.md").read_text()
    fresh = make_cli.render()
    if page != fresh:
        import difflib

        diff = "\n".join(list(difflib.unified_diff(page.splitlines(), fresh.splitlines(),
                                                     lineterm=""))[:40])  # fmt: skip
        pytest.fail(f"docs/cli.md is stale: run python docs/make_cli.py\n{diff}")
    for name, command in cli.commands.items():
        assert f"## nncli {name}" in page
        for param in command.params:
            assert all(opt in page for opt in param.opts if opt.startswith("--"))


def test_user_docs_start_small_and_never_name_the_developers_data():
    assert len(README.splitlines()) < 250
    for name in USER_DOCS:
        text = (ROOT / name).read_text()
        assert "shared/data" not in text and "../shared" not in text, name


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


def test_the_python_api_shows_itself_and_import_stays_light():
    """dir() and help() list the entry points, though they are imported only when used."""
    code = (
        "import sys, io, pydoc, nncli\n"
        "names = [n for n in dir(nncli) if not n.startswith('_')]\n"
        "light = not any(m in sys.modules for m in ('torch', 'sklearn', 'lightgbm', 'pandas'))\n"
        "print(' '.join(names)); print('LIGHT', light)\n"
        "print(pydoc.render_doc(nncli, renderer=pydoc.plaintext))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.splitlines()  # fmt: skip
    names = out[0].split()
    assert {"compare", "train", "load", "predict", "evaluate", "inspect", "export", "MLPClassifier",
            "NncliError", "ExitCode"} <= set(names)  # fmt: skip
    assert not {"Any", "annotations", "errors"} & set(names)
    assert out[1] == "LIGHT True"  # dir() names them without importing them
    page = "\n".join(out[2:])
    assert "compare(source)" in page and "MLPClassifier" in page and "Entry points" in page
