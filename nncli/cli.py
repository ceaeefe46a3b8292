"""The ``nncli`` command line: parse options, call :mod:`nncli.api`, render the result.

Heavy libraries (pandas, pyarrow, torch, scikit-learn) are imported only inside the
commands that need them, so ``nncli --help`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from nncli import __version__
from nncli.errors import ExitCode, NncliError

F = TypeVar("F", bound=Callable[..., Any])


class NncliGroup(click.Group):
    """Turns domain errors into ``Error:``/``Hint:`` lines and documented exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NncliError as exc:
            click.echo(f"Error: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"Hint: {exc.hint}", err=True)
            ctx.exit(int(exc.exit_code))
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(int(ExitCode.INTERRUPTED))


def data_options(fn: F) -> F:
    """How to read the input file."""
    fn = click.option("--sep", help="Field delimiter (default: sniffed). Use 'tab' for TSV.")(fn)
    fn = click.option("--encoding", help="Text encoding (default: UTF-8, BOM honoured).")(fn)
    fn = click.option(
        "--na-values",
        multiple=True,
        metavar="TOKEN",
        help="Extra cell values to read as missing (repeatable). Always missing: "
        "empty, NA, N/A, NaN, null, None, ?.",
    )(fn)
    return fn


def column_options(fn: F) -> F:
    """Which column is what."""
    fn = click.option(
        "--target",
        "-t",
        help="Target column (default: the only column named target, label, class or y).",
    )(fn)
    fn = click.option(
        "--id-col",
        multiple=True,
        metavar="COL",
        help="ID column: not a feature, carried into predictions (repeatable).",
    )(fn)
    fn = click.option("--weight", metavar="COL", help="Event-weight column.")(fn)
    fn = click.option(
        "--drop", multiple=True, metavar="COL", help="Column to leave out (repeatable)."
    )(fn)
    return fn


def _read_and_columns(kw: dict[str, Any]) -> tuple[Any, Any]:
    from nncli.config import ColumnSpec
    from nncli.data import ReadOptions

    read = ReadOptions(sep=kw["sep"], encoding=kw["encoding"], na_values=tuple(kw["na_values"]))
    columns = ColumnSpec(
        target=kw["target"],
        id_cols=tuple(kw["id_col"]),
        weight=kw["weight"],
        drop=tuple(kw["drop"]),
    )
    return read, columns


@click.group(cls=NncliGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nncli")
def cli() -> None:
    """Tabular classification from CSV files: a rough boosted-tree result fast, then
    neural networks, compared honestly.

    Results go to stdout; progress, warnings and errors to stderr.
    Exit codes: 0 ok, 1 data or model error, 2 usage error, 3 threshold not met,
    130 interrupted.
    """


@cli.command()
@click.argument("data")
@data_options
@column_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report (docs/json.md).")
def inspect(data: str, as_json: bool, **kw: Any) -> None:
    """Show column roles, missing values, class balance and warnings for DATA.

    DATA is a CSV/TSV file (optionally .gz/.bz2/.xz/.zip), a Parquet file, or - for stdin.

    Example:

    \b
        nncli inspect sample_data/physics.csv
    """
    from nncli import api, report

    read, columns = _read_and_columns(kw)
    result = api.inspect(data, read=read, columns=columns)
    for note in result.notes:
        click.echo(f"Warning: {note}", err=True)
    if as_json:
        click.echo(report.dumps(report.inspect_json(result)))
    else:
        report.stdout_console().print(report.inspect_renderable(result))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="nncli")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
