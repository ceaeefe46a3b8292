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
from nncli.learn.models import MODELS

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
            _interrupted()


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


def _read_options(kw: dict[str, Any]) -> Any:
    from nncli.io.data import ReadOptions

    return ReadOptions(sep=kw["sep"], encoding=kw["encoding"], na_values=tuple(kw["na_values"]))


def _read_and_columns(kw: dict[str, Any]) -> tuple[Any, Any]:
    from nncli.config import ColumnSpec

    read = _read_options(kw)
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
    from nncli import api
    from nncli.show import report

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
        click.option("--dropout", type=click.FloatRange(0, 0.95), help="Dropout [default: 0]."),
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


def fitting_options(fn: F) -> F:
    """What train and compare share: a config file, data, columns, run, MLP and output."""
    config = click.option(
        "--config",
        type=click.Path(dir_okay=False),
        is_eager=True,
        expose_value=False,
        callback=_load_config_file,
        help="TOML file of option values (flags win).",
    )
    return _apply(
        fn, [config, data_options, column_options, run_options, mlp_options, output_options]
    )


def _stderr(quiet: bool) -> Any:
    from nncli.show import report

    return report.stderr_console(quiet)


def _warn(console: Any, message: str) -> None:
    console.print(f"Warning: {message}", markup=False, highlight=False)


def _report_unseen(console: Any, unseen: dict[str, int], policy: str) -> None:
    if unseen and policy == "warn":
        counts = ", ".join(f"{name}: {n:,}" for name, n in unseen.items())
        _warn(
            console,
            f"values not seen in training (or not numbers) were treated as missing ({counts})",
        )


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
@fitting_options
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
    from nncli import api
    from nncli.config import settings_from_options
    from nncli.io.artifacts import check_output
    from nncli.show import report

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


@cli.command()
@click.argument("data")
@click.option(
    "--models",
    default="majority,logreg,fisher,gbt,mlp",
    show_default=True,
    help="Comma-separated models to compare.",
)
@click.option(
    "--mlp",
    "mlp_variants",
    multiple=True,
    metavar="KEY=VALUE,…",
    help='An MLP variant, e.g. "activation=maxout,hidden=128,128" (repeatable; '
    "the variants replace the plain mlp).",
)
@click.option(
    "--preset",
    type=click.Choice(["quick", "default"]),
    default="default",
    show_default=True,
    help="MLP recipe: quick (128,128, 20 epochs) or default.",
)
@click.option(
    "--time-budget",
    default="3m",
    show_default=True,
    metavar="DURATION",
    help="Finish within this time (90s, 2m, 1h); the MLPs get what is left.",
)
@click.option(
    "--cv",
    type=click.IntRange(min=2),
    help="K-fold cross-validation instead of one test split: mean ± std over folds.",
)
@click.option(
    "--test-size",
    type=click.FloatRange(0.05, 0.9),
    default=0.2,
    show_default=True,
    help="Share of rows held out for testing.",
)
@click.option("--test", "test_file", metavar="FILE", help="Test on this file instead.")
@click.option(
    "--metric",
    type=click.Choice(["auc", "accuracy", "balanced_accuracy", "logloss"]),
    default="auc",
    show_default=True,
    help="Metric that ranks the models.",
)
@click.option(
    "--bootstrap",
    type=click.IntRange(min=50),
    default=1000,
    show_default=True,
    help="Bootstrap resamples for the intervals and paired tests.",
)
@click.option(
    "--signal",
    metavar="CLASS",
    help="Signal class for efficiencies (binary; default: the second class).",
)
@click.option(
    "--fail-under",
    metavar="METRIC=VALUE",
    help="Exit with 3 when the best model scores below this, e.g. auc=0.85.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Write report.json, a model file per model and test predictions here.",
)
@click.option("--force", is_flag=True, help="Write into an --out folder that is not empty.")
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False),
    help="Write a self-contained HTML report with plots here.",
)
@fitting_options
def compare(
    data: str,
    models: str,
    mlp_variants: tuple[str, ...],
    preset: str,
    time_budget: str,
    cv: int | None,
    test_size: float,
    test_file: str | None,
    metric: str,
    bootstrap: int,
    signal: str | None,
    fail_under: str | None,
    out_dir: str | None,
    force: bool,
    report_file: str | None,
    as_json: bool,
    quiet: bool,
    **kw: Any,
) -> None:
    """Compare models on DATA: a rough result fast (baselines, gbt), then the MLPs.

    Every model gets the same split, seed and schema; the table shows 95% bootstrap
    intervals, paired tests against the best model and the gbt baseline, and an
    overtraining check.

    Example:

    \b
        nncli compare sample_data/physics.csv --mlp activation=tanh --mlp activation=maxout
    """
    from nncli import api
    from nncli.assess.compare import CompareOptions
    from nncli.config import parse_duration, parse_threshold, settings_from_options
    from nncli.show import report, report_compare

    threshold = parse_threshold(fail_under) if fail_under else None
    _check_out_dir(out_dir, force)
    if report_file:
        from nncli.io.artifacts import check_output

        check_output(report_file, [data], force)
    options = CompareOptions(
        models=tuple(m.strip() for m in models.split(",") if m.strip()),
        mlp_variants=mlp_variants,
        preset=preset,
        metric=metric,
        test_size=test_size,
        cv=cv,
        bootstrap=bootstrap,
        time_budget=parse_duration(time_budget),
        signal=signal,
    )
    read, columns = _read_and_columns(kw)
    display = report_compare.CompareDisplay(_stderr(quiet), options.metric)
    try:
        comparison, frame = api.compare(
            data,
            read=read,
            columns=columns,
            settings=settings_from_options(kw),
            options=options,
            test=test_file,
            on_start=display.start,
            on_result=display.result,
        )
    finally:
        display.close()
    for note in comparison.notes:
        _warn(_stderr(quiet), note)
    payload = _write_compare_outputs(comparison, frame, out_dir, report_file)
    if as_json:
        click.echo(report.dumps(payload))
    else:
        report.stdout_console().print(report_compare.compare_renderable(comparison))
    _check_threshold(comparison, threshold)


def _write_compare_outputs(
    comparison: Any, frame: Any, out_dir: str | None, report_file: str | None
) -> dict[str, Any]:
    """The JSON report; with --out or --report also the diagnostics and the files."""
    from nncli.show import report, report_compare, run_folder

    payload = report_compare.compare_json(comparison)
    if out_dir or report_file:
        payload |= report.finite(run_folder.diagnostics(comparison, frame, comparison.seed))
    if out_dir:
        run_folder.save_outputs(comparison, out_dir, payload, frame)
    if report_file:
        from nncli.io.artifacts import atomic_output
        from nncli.show import html_report

        test, train = run_folder.prediction_frames(comparison, frame)
        with atomic_output(report_file) as fh:
            fh.write(html_report.render(html_report.ReportData(payload, test, train)))
    return payload


def _check_out_dir(out_dir: str | None, force: bool) -> None:
    from pathlib import Path

    from nncli.errors import ConfigError

    if out_dir and Path(out_dir).is_dir() and any(Path(out_dir).iterdir()) and not force:
        raise ConfigError(
            f"the folder {out_dir} is not empty",
            "pass --force to write into it, or choose another --out.",
        )


def _check_threshold(comparison: Any, threshold: tuple[str, float] | None) -> None:
    if threshold is None:
        return
    from nncli.assess.compare import METRIC_ALIASES
    from nncli.assess.evaluate import HIGHER_IS_BETTER
    from nncli.errors import ConfigError, did_you_mean

    name, value = threshold
    if name not in METRIC_ALIASES:
        raise ConfigError(
            f"--fail-under: unknown metric {name!r}", did_you_mean(name, METRIC_ALIASES, "metric")
        )
    metric = METRIC_ALIASES[name]
    best = comparison.best
    score = best.test[metric] if best else float("nan")
    ok = score >= value if HIGHER_IS_BETTER[metric] else score <= value
    if not ok:
        label = best.label if best else "no model"
        click.echo(
            f"Threshold not met: the best model ({label}) has {metric} {score:.4f}; "
            f"--fail-under asks for {value:g}.",
            err=True,
        )
        sys.exit(int(ExitCode.THRESHOLD))


@cli.command(name="report")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    required=True,
    help="Write the HTML report here.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
def report_command(run_dir: str, output: str, force: bool) -> None:
    """Write the HTML report of a saved comparison (a folder from compare --out).

    Example:

    \b
        nncli report physics-run -o physics-report.html
    """
    from nncli import api
    from nncli.io.artifacts import atomic_output, check_output

    check_output(output, [], force)
    page = api.render_report(run_dir)
    with atomic_output(output) as fh:
        fh.write(page)
    click.echo(f"report written to {output}", err=True)


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
    from nncli.io.artifacts import atomic_output, check_output

    read = _read_options(kw)
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
    from nncli import api
    from nncli.show import report

    read = _read_options(kw)
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
    from nncli import api
    from nncli.show import report

    predictor = api.load(model)
    if as_json:
        click.echo(report.dumps(report.info_json(predictor)))
    else:
        report.stdout_console().print(report.info_renderable(predictor))


def _interrupted() -> None:
    """Ctrl-C or SIGTERM: say so and exit 130; a second signal cannot break the exit."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    click.echo("Interrupted.", err=True)
    sys.exit(int(ExitCode.INTERRUPTED))


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM stops like Ctrl-C: outputs complete or absent, exit 130


def main() -> None:
    """Console-script entry point."""
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    try:
        cli(prog_name="nncli")
    except KeyboardInterrupt:  # between click's own handlers, say at start-up
        _interrupted()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
