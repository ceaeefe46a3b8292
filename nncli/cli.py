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
from nncli.models import MODELS

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


def _apply(fn: F, options: list[Callable[[F], F]]) -> F:
    """Apply option decorators so that --help lists them in the order given."""
    for option in reversed(options):
        fn = option(fn)
    return fn


def data_options(fn: F) -> F:
    """How to read the input file."""
    return _apply(
        fn,
        [
            click.option("--sep", help="Field delimiter (default: sniffed). Use 'tab' for TSV."),
            click.option("--encoding", help="Text encoding (default: UTF-8, BOM honoured)."),
            click.option(
                "--na-values",
                multiple=True,
                metavar="TOKEN",
                help="Extra cell values to read as missing (repeatable). Always missing: "
                "empty, NA, N/A, NaN, null, None, ?.",
            ),
        ],
    )


def column_options(fn: F) -> F:
    """Which column is what."""
    return _apply(
        fn,
        [
            click.option(
                "--target",
                "-t",
                help="Target column (default: the only column named target, label, class or y).",
            ),
            click.option(
                "--id-col",
                multiple=True,
                metavar="COL",
                help="ID column: not a feature, carried into predictions (repeatable).",
            ),
            click.option("--weight", metavar="COL", help="Event-weight column."),
            click.option(
                "--drop", multiple=True, metavar="COL", help="Column to leave out (repeatable)."
            ),
        ],
    )


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


def output_options(fn: F) -> F:
    fn = click.option(
        "--json", "as_json", is_flag=True, help="Print a JSON report on stdout (docs/json.md)."
    )(fn)
    fn = click.option("--quiet", "-q", is_flag=True, help="No progress or warnings on stderr.")(fn)
    return fn


def run_options(fn: F) -> F:
    """What every model in a run shares."""
    from nncli.config import CLASS_WEIGHTS, DEVICES, SCALERS

    return _apply(
        fn,
        [
            click.option(
                "--seed",
                type=int,
                help="Seed for split, initialisation and shuffling [default: 0].",
            ),
            click.option(
                "--valid-size",
                type=click.FloatRange(0.01, 0.9),
                help="Share of rows held out for validation [default: 0.2].",
            ),
            click.option(
                "--scaler",
                type=click.Choice(SCALERS),
                help="Numeric scaling for linear "
                "models and the MLP [default: standard; mlp: robust].",
            ),
            click.option(
                "--class-weight",
                type=click.Choice(CLASS_WEIGHTS),
                help="Weight classes inversely to their frequency [default: none].",
            ),
            click.option(
                "--device", type=click.Choice(DEVICES), help="MLP device [default: auto]."
            ),
            click.option(
                "--threads", type=click.IntRange(min=1), help="CPU threads [default: all cores]."
            ),
        ],
    )


def mlp_options(fn: F) -> F:
    """The MLP's architecture and training recipe (defaults in nncli.config.MLPConfig)."""
    from nncli.config import ACTIVATION_NAMES, INITS, NORMS, OPTIMIZERS, SCHEDULES

    options = [
        click.option("--hidden", metavar="W1,W2,…", help="Hidden layer widths [default: 256,256]."),
        click.option(
            "--activation",
            type=click.Choice(ACTIVATION_NAMES),
            help="Hidden activation [default: relu].",
        ),
        click.option("--leaky-slope", type=float, help="leaky_relu negative slope [default: 0.1]."),
        click.option("--elu-alpha", type=float, help="elu alpha [default: 1.0]."),
        click.option(
            "--maxout-pieces",
            type=click.IntRange(min=2),
            help="maxout: affine pieces per unit [default: 2].",
        ),
        click.option("--norm", type=click.Choice(NORMS), help="Normalisation [default: none]."),
        click.option("--dropout", type=click.FloatRange(0, 0.95), help="Dropout [default: 0.1]."),
        click.option(
            "--residual/--no-residual",
            default=None,
            help="Skip connections across equal-width blocks [default: off].",
        ),
        click.option(
            "--init",
            type=click.Choice(INITS),
            help="Weight init; auto: He for the "
            "ReLU family, Xavier for tanh/sigmoid, LeCun for SELU [default: auto].",
        ),
        click.option(
            "--clip-grad",
            type=click.FloatRange(min=0),
            help="Clip the gradient norm; 0 = off [default: 1.0].",
        ),
        click.option("--optimizer", type=click.Choice(OPTIMIZERS), help="[default: adamw]."),
        click.option(
            "--momentum", type=click.FloatRange(0, 1), help="SGD momentum [default: 0.9]."
        ),
        click.option(
            "--lr",
            type=click.FloatRange(min=0, min_open=True),
            help="Learning rate [default: 0.002].",
        ),
        click.option("--weight-decay", type=click.FloatRange(min=0), help="[default: 1e-4]."),
        click.option(
            "--schedule",
            type=click.Choice(SCHEDULES),
            help="Learning-rate schedule [default: cosine].",
        ),
        click.option("--epochs", type=click.IntRange(min=1), help="Maximum epochs [default: 60]."),
        click.option("--batch-size", type=click.IntRange(min=1), help="[default: 256]."),
        click.option(
            "--patience",
            type=click.IntRange(min=1),
            help="Stop after this many epochs "
            "without a better validation loss; the best epoch is kept [default: 12].",
        ),
        click.option("--label-smoothing", type=click.FloatRange(0, 0.5), help="[default: 0]."),
    ]
    return _apply(fn, options)


def _load_config_file(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """--config FILE.toml: keys are option names; flags given on the command line win."""
    if not value:
        return
    import tomllib

    from nncli.errors import ConfigError

    try:
        with open(value, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(
            f"cannot read config file {value}: {exc.strerror}", "check the path given to --config."
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"config file {value} is not valid TOML: {exc}",
            "fix the syntax (key = value per line).",
        ) from None
    flat = {str(k).replace("-", "_"): v for k, v in data.items()}
    known = {p.name for p in ctx.command.params if p.name} - {"config", "data"}
    unknown = sorted(set(flat) - known)
    if unknown:
        from nncli.errors import did_you_mean

        raise ConfigError(
            f"unknown key(s) in {value}: {', '.join(unknown)}",
            did_you_mean(unknown[0], sorted(known), "key"),
        )
    if isinstance(flat.get("hidden"), list):
        flat["hidden"] = ",".join(str(h) for h in flat["hidden"])
    ctx.default_map = (ctx.default_map or {}) | flat


def _stderr(quiet: bool) -> Any:
    from nncli import report

    return report.stderr_console(quiet)


def _warn(console: Any, message: str) -> None:
    console.print(f"Warning: {message}", markup=False, highlight=False)


def _report_unseen(console: Any, unseen: dict[str, int], policy: str) -> None:
    if unseen and policy == "warn":
        counts = ", ".join(f"{name}: {n:,}" for name, n in unseen.items())
        _warn(console, f"values not seen in training were treated as missing ({counts})")


@cli.command()
@click.argument("data")
@click.option(
    "--model",
    "-m",
    default="gbt",
    show_default=True,
    type=click.Choice(list(MODELS)),
    help="Model to fit.",
)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the model file here.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option(
    "--valid",
    "valid_file",
    metavar="FILE",
    help="Validate on this file instead of a split of DATA.",
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    is_eager=True,
    expose_value=False,
    callback=_load_config_file,
    help="TOML file of option values (flags win).",
)
@data_options
@column_options
@run_options
@mlp_options
@output_options
def train(
    data: str,
    model: str,
    output: str | None,
    force: bool,
    valid_file: str | None,
    as_json: bool,
    quiet: bool,
    **kw: Any,
) -> None:
    """Fit one model on DATA with a validation split and report its metrics.

    Example:

    \b
        nncli train sample_data/physics.csv -m mlp --activation maxout -o physics.nncli
    """
    from nncli import api, report
    from nncli.artifacts import check_output
    from nncli.config import settings_from_options

    if output:
        check_output(output, [data] + ([valid_file] if valid_file else []), force)
    read, columns = _read_and_columns(kw)
    settings = settings_from_options(kw)
    err = _stderr(quiet)
    with report.ProgressDisplay(err, model) as progress:
        result = api.train(
            data,
            model=model,
            read=read,
            columns=columns,
            settings=settings,
            valid=valid_file,
            on_epoch=progress,
        )
    for note in result.notes:
        _warn(err, note)
    if output:
        result.save(output)
    if as_json:
        click.echo(report.dumps(report.train_json(result, output)))
    else:
        report.stdout_console().print(report.train_renderable(result, output))
    if result.predictor.model.stop_reason == "interrupted":
        click.echo(
            "Interrupted: the best weights so far were kept"
            + (f" and written to {output}." if output else "."),
            err=True,
        )
        sys.exit(int(ExitCode.INTERRUPTED))


def _unseen_option(fn: F) -> F:
    return click.option(
        "--unseen",
        type=click.Choice(["error", "warn", "ignore"]),
        default="warn",
        show_default=True,
        help="Categorical values not seen in training: fail, "
        "or treat as missing with or without a warning.",
    )(fn)


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("data")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    help="Write the predictions CSV here [default: stdout].",
)
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--proba", is_flag=True, help="Add one proba_<class> column per class.")
@click.option(
    "--id-col",
    multiple=True,
    metavar="COL",
    help="Column(s) to copy into the output [default: the model's ID columns].",
)
@_unseen_option
@data_options
@click.option("--quiet", "-q", is_flag=True, help="No warnings on stderr.")
def predict(
    model: str,
    data: str,
    output: str | None,
    force: bool,
    proba: bool,
    id_col: tuple[str, ...],
    unseen: str,
    quiet: bool,
    **kw: Any,
) -> None:
    """Predict the class of every row of DATA with a saved MODEL, as CSV.

    Large files are streamed in chunks, so memory stays flat.

    Example:

    \b
        nncli predict physics.nncli sample_data/physics.csv --proba -o predictions.csv
    """
    from nncli import api
    from nncli.artifacts import atomic_output, check_output
    from nncli.data import ReadOptions

    read = ReadOptions(sep=kw["sep"], encoding=kw["encoding"], na_values=tuple(kw["na_values"]))
    predictor = api.load(model)
    args = dict(proba=proba, id_cols=id_col, unseen=unseen, read=read)
    if output:
        check_output(output, [data, model], force)
        with atomic_output(output) as fh:
            summary = api.predict(predictor, data, fh, **args)
    else:
        summary = api.predict(predictor, data, sys.stdout, **args)
    err = _stderr(quiet)
    _report_unseen(err, summary.unseen, unseen)
    if output and not quiet:
        err.print(f"{summary.rows:,} predictions written to {output}", markup=False)


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("data")
@_unseen_option
@data_options
@output_options
def evaluate(model: str, data: str, unseen: str, as_json: bool, quiet: bool, **kw: Any) -> None:
    """Metrics of a saved MODEL on labelled DATA (it must hold the model's target column).

    Example:

    \b
        nncli evaluate physics.nncli sample_data/physics.csv
    """
    from nncli import api, report
    from nncli.data import ReadOptions

    read = ReadOptions(sep=kw["sep"], encoding=kw["encoding"], na_values=tuple(kw["na_values"]))
    result = api.evaluate(model, data, unseen=unseen, read=read)
    _report_unseen(_stderr(quiet), result.unseen, unseen)
    if as_json:
        click.echo(report.dumps(report.evaluation_json(result)))
    else:
        report.stdout_console().print(report.evaluation_renderable(result))


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the whole model card as JSON.")
def info(model: str, as_json: bool) -> None:
    """Show the model card of MODEL: schema, settings, metrics, versions, data hash.

    Example:

    \b
        nncli info physics.nncli
    """
    from nncli import api, report

    predictor = api.load(model)
    if as_json:
        click.echo(report.dumps(report.info_json(predictor)))
    else:
        report.stdout_console().print(report.info_renderable(predictor))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="nncli")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
