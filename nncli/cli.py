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
from nncli.errors import ExitCode, Info, NncliError
from nncli.learn.models import DEFAULT_COMPARE, MODELS, TRAINABLE, baseline

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
        except BrokenPipeError:
            _closed_pipe()


def _closed_pipe() -> None:
    """The reader of stdout went away (``| head``): stop quietly with 141, as a program
    killed by SIGPIPE would; stdout goes to /dev/null so the exit cannot fail again."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(int(ExitCode.CLOSED_PIPE))


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
                "--decimal",
                type=click.Choice([".", ","]),
                help="Decimal mark (default: ',' when a ;-separated file's numbers use "
                "commas, said in a warning; else '.').",
            ),
            click.option(
                "--na-values",
                multiple=True,
                metavar="TOKEN",
                help="Extra cell values to read as missing (repeatable). Always missing: "
                "empty, NA, N/A, NaN, null, None, ?.",
            ),
            click.option(
                "--branches",
                metavar="GLOBS",
                help="ROOT: the branches to read, comma-separated globs (e.g. 'jet_*,lep_pt'; "
                "default: all; the target, weight and ID columns are always read).",
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
            click.option(
                "--feature",
                "derived",
                multiple=True,
                metavar='"NAME = EXPR"',
                help="Add a derived ('assisted') column computed from others, e.g. "
                '"mt = sqrt(2 * lep_pt * met)"; stored in the model and computed again at '
                "predict time (repeatable; docs/physics.md, Assisted variables).",
            ),
            click.option(
                "--features",
                "features_file",
                metavar="FILE",
                help="Read --feature definitions from FILE, one per line (# comments).",
            ),
            click.option(
                "--group",
                metavar="COL",
                help="Sequences: the rows of one item share this column's value (with "
                "--order); one prediction per group, -m rnn reads the rows in order.",
            ),
            click.option(
                "--order", metavar="COL", help="Sequences: the rows' order within a group."
            ),
            click.option(
                "--sample",
                "samples",
                multiple=True,
                metavar="CLASS=PATH[*W]",
                help="TMVA style, instead of DATA: one file per class (ROOT, CSV or Parquet), "
                "with an optional per-file weight multiplied into the event weight, e.g. "
                "--sample signal=sig.root:events --sample background=bkg.root:events*0.83 "
                "(repeatable; the target column 'class' is made from the names).",
            ),
        ],
    )


def _read_options(kw: dict[str, Any]) -> Any:
    from nncli.io.data import ReadOptions

    keep = [kw.get("target"), kw.get("weight"), kw.get("group"), kw.get("order"),
            *kw.get("id_col", ())]  # fmt: skip
    return ReadOptions(
        sep=kw["sep"],
        encoding=kw["encoding"],
        na_values=tuple(kw["na_values"]),
        decimal=kw["decimal"],
        branches=tuple(b.strip() for b in (kw.get("branches") or "").split(",") if b.strip()),
        keep=tuple(k for k in keep if k),
    )


def _data_read_columns(data: str | None, kw: dict[str, Any]) -> tuple[Any, Any, Any, list[str]]:
    """DATA, or the rows of the --sample files put together (nncli.io.samples), with the
    read options, the columns (the target and weight --sample made) and the notes of
    reading the samples (said with the command's other notes)."""
    from dataclasses import replace

    from nncli.errors import ConfigError

    read, columns = _read_and_columns(kw)
    samples = list(kw.get("samples") or ())
    if bool(samples) == (data is not None):
        raise ConfigError(
            "pass DATA or --sample files, not both" if samples else "missing argument 'DATA'",
            "pass one data file, or one --sample CLASS=PATH per file of a class.",
        )
    if not samples:
        return data, read, columns, []
    from nncli.io.samples import read_samples

    frame, target, weight, notes = read_samples(samples, read, columns.target, columns.weight)
    return frame, read, replace(columns, target=target, weight=weight), notes


def _read_and_columns(kw: dict[str, Any]) -> tuple[Any, Any]:
    from nncli.config import ColumnSpec
    from nncli.prepare.derived import read_file

    read = _read_options(kw)
    derived = tuple(kw["derived"])
    if kw["features_file"]:
        derived += tuple(read_file(kw["features_file"]))
    columns = ColumnSpec(
        target=kw["target"],
        id_cols=tuple(kw["id_col"]),
        weight=kw["weight"],
        drop=tuple(kw["drop"]),
        derived=derived,
        group=kw["group"],
        order=kw["order"],
    )
    return read, columns


@click.group(cls=NncliGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nncli")
def cli() -> None:
    """Tabular classification from CSV files: a rough boosted-tree result fast, then
    neural networks, compared honestly.

    Results go to stdout; progress, warnings and errors to stderr.
    Exit codes: 0 ok, 1 data or model error, 2 usage error, 3 threshold not met,
    130 interrupted, 141 stdout closed early (e.g. piped into head).
    """


@cli.command()
@click.argument("data", required=False)
@data_options
@column_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report (docs/json.md).")
@click.option(
    "--stream/--no-stream",
    default=None,
    help="Read DATA in one pass with bounded memory (exact counts and ranges; distinct "
    "counts capped, the rest from a sample) [default: when reading it whole would take "
    "over a quarter of the memory available].",
)
def inspect(data: str | None, as_json: bool, stream: bool | None, **kw: Any) -> None:
    """Show column roles, missing values, class balance and warnings for DATA.

    DATA is a CSV/TSV file (optionally .gz/.bz2/.xz/.zip), a Parquet file, or - for stdin.

    Example:

    \b
        nncli inspect sample_data/physics.csv
    """
    from nncli import api
    from nncli.show import report

    source, read, columns, read_notes = _data_read_columns(data, kw)
    result = api.inspect(source, read=read, columns=columns, stream=stream)
    for note in read_notes + result.notes:
        click.echo(note if isinstance(note, Info) else f"Warning: {note}", err=True)
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


class NamedChoice(click.Choice):
    """A choice in any case, and a close miss answered with ``did you mean`` (exit 2)."""

    def __init__(self, choices: Any, what: str) -> None:
        super().__init__(choices, case_sensitive=False)
        self.what = what

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            from nncli.errors import ConfigError, did_you_mean

            flag = "/".join(param.opts) if param is not None else self.what
            hint = did_you_mean(str(value), self.choices, self.what)
            raise ConfigError(f"unknown {self.what} {value!r} for {flag}", hint) from None


class SettingType(click.ParamType):
    """A click type for one row of a settings table: the table's parsing and checks, so a
    bad value reads the same from a flag, the --config file or a variant string."""

    def __init__(self, table: Any, row: Any) -> None:
        self.table, self.row = table, row
        self.name = row.type.__name__

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        if self.row.choices:
            return "[" + "|".join(self.row.choices) + "]"
        return {"tuple": "W1,W2,…", "int": "INTEGER", "float": "FLOAT"}.get(self.name, "TEXT")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        checked = self.row.coerce(value, self.table)
        # "off" (0) must stay a value here: None is what a flag that was not given reads as
        return 0 if checked is None and self.row.zero_is_off else checked


def setting_options(table_name: str) -> Callable[[F], F]:
    """One flag per row of a settings table (nncli.config), help and default from the row."""
    from nncli.config import TABLES

    table = TABLES[table_name]

    def decorate(fn: F) -> F:
        options = []
        for row in table:
            flag, name = table.flag(row), table.param(row)
            text = row.help
            if row.models:  # the settings one model of the table reads say which
                text = f"-m {'/'.join(row.models)}: {text[0].lower()}{text[1:]}"
            if "[default:" not in text:
                shown = "off" if row.default is None else _shown(row.default)
                text += f" [default: {shown}]"
            if row.type is bool:
                decls = [f"{flag}/--no-{flag[2:]}", name]
                options.append(click.option(*decls, default=None, help=text))
            else:
                options.append(click.option(flag, name, type=SettingType(table, row), help=text))
        return _apply(fn, options)

    return decorate


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _load_config_file(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """--config FILE.toml: option names at the top, or settings in [run], [mlp], [gbt] and
    [linear] tables; flags given on the command line win."""
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
    ctx.default_map = (ctx.default_map or {}) | _config_values(ctx, data, value)


def _config_values(ctx: click.Context, data: dict[str, Any], path: str) -> dict[str, Any]:
    """Click parameter values from a parsed config file; unknown keys are errors."""
    from nncli.config import TABLES
    from nncli.errors import ConfigError, did_you_mean

    known = {p.name for p in ctx.command.params if p.name} - {"config", "data"}
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict) and key in TABLES:
            table = TABLES[key]
            for name, item in value.items():
                flat[table.param(table.lookup(str(name)))] = item
        else:
            flat[str(key).replace("-", "_")] = value
    unknown = sorted(set(flat) - known)
    if unknown:
        raise ConfigError(
            f"unknown key(s) in {path}: {', '.join(unknown)}",
            did_you_mean(unknown[0], sorted(known | set(TABLES)), "key"),
        )
    return flat


def fitting_options(fn: F) -> F:
    """What train and compare share: a config file, data, columns, every settings table
    and output."""
    config = click.option(
        "--config",
        type=click.Path(dir_okay=False),
        is_eager=True,
        expose_value=False,
        callback=_load_config_file,
        help="TOML file of option values or [run]/[mlp]/[gbt]/[catboost]/[linear] tables "
        "(flags win).",
    )
    tables = [setting_options(name) for name in ("run", "mlp", "gbt", "catboost", "linear")]
    return _apply(fn, [config, data_options, column_options, *tables, output_options])


def variant_options(fn: F) -> F:
    """``--mlp "k=v,…"``, ``--gbt "k=v,…"``, …: one repeatable variant option per model
    that has a settings table; the variants of a model replace its plain entry."""
    options = []
    for name, spec in MODELS.items():
        if spec.config is None:
            continue
        options.append(
            click.option(
                f"--{name}",
                f"variants_{name}",
                multiple=True,
                metavar="KEY=VALUE,…",
                help=f"A {name} variant with its [{spec.config}] settings, e.g. "
                f'"{_VARIANT_EXAMPLES.get(name, "")}" (repeatable; replaces the plain {name}).',
            )
        )
    return _apply(fn, options)


_VARIANT_EXAMPLES = {"mlp": "activation=maxout,hidden=128,128", "gbt": "num_leaves=63,lr=0.05",
                     "catboost": "depth=8,l2_leaf_reg=1", "logreg": "C=0.1",
                     "fisher": "shrinkage=0.1", "rnn": "cell=lstm,bidirectional=true"}  # fmt: skip


#: files at least this large get a line saying they are being read (plain stderr)
READING_NOTE_BYTES = 100 * 1024**2


def _schema_known(err: Any, ignored: list[str], progress: Any) -> Callable[..., None]:
    """train's on_schema: say the target and the findings, then start the ETA's clock."""

    def known(schema: Any, notes: list[str]) -> None:
        _announce(err, schema, ignored + notes)
        progress.status("fitting", fitting=True)

    return known


def _reading(progress: Any, data: str | None) -> None:
    """Say what is read before the first epoch: in the progress bar, or once on a plain
    stderr for a file of at least :data:`READING_NOTE_BYTES`."""
    import os

    from nncli.io.data import source_path

    path = source_path(data) if data and data != "-" else None
    if path is None or not os.path.isfile(path):
        return
    size = os.path.getsize(path)
    if progress.plain and size < READING_NOTE_BYTES:
        return
    progress.status(f"reading {data} ({size / 1e6:,.0f} MB)")


def _stderr(quiet: bool) -> Any:
    from nncli.learn import distributed
    from nncli.show import report

    return report.stderr_console(quiet or not distributed.is_main())  # torchrun: rank 0


def _confirm(console: Any, path: Any, what: str) -> None:
    """Every file a command writes is confirmed once, on stderr, in these words."""
    console.print(f"wrote {what} to {path}", markup=False, highlight=False)


def _announce(console: Any, schema: Any, notes: list[str]) -> None:
    """Before any training: which column is the target and how it was chosen, then the
    warnings about the data (what inspect calls findings)."""
    console.print(f"{schema.target_words}: {len(schema.classes)} classes", markup=False,
                  highlight=False)  # fmt: skip
    _announce_notes(console, notes)


def _announce_notes(console: Any, notes: list[str]) -> None:
    """Notes as they are: Info lines plain, the rest as warnings."""
    for note in notes:
        if isinstance(note, Info):
            console.print(note, markup=False, highlight=False)
        else:
            _warn(console, note)


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
@click.argument("data", required=False)
@click.option(
    "--model",
    "-m",
    default=baseline(),
    show_default=True,
    type=NamedChoice(TRAINABLE, "model"),
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
    "--dask",
    metavar="ADDRESS",
    help="Train -m gbt with LightGBM on a Dask cluster: a scheduler address "
    "(tcp://host:8786) or local:N for N local workers; DATA may be a glob of CSV/Parquet "
    "files. Needs pip install 'nncli[dask]'.",
)
@click.option(
    "--time-budget",
    metavar="DURATION",
    help="Finish within this time (90s, 2m, 1h), reading included: the fit stops and keeps "
    "its best epoch or round when the next would not fit [default: no limit].",
)
@fitting_options
def train(
    data: str | None,
    model: str,
    output: str | None,
    force: bool,
    valid_file: str | None,
    dask: str | None,
    time_budget: str | None,
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
    from nncli.config import Settings, parse_duration
    from nncli.io.outputs import check_output, claim
    from nncli.learn import distributed
    from nncli.learn.models import ignored_settings
    from nncli.show import report

    source, read, columns, read_notes = _data_read_columns(data, kw)
    settings = Settings.from_options(kw)
    err = _stderr(quiet)
    ignored = read_notes + ignored_settings(settings, [model])
    main = distributed.is_main()  # under torchrun rank 0 alone writes and prints
    with claim(output if main else None):  # one writer per output, for the whole run
        if output:
            check_output(output, [d for d in (data, valid_file) if d], force)
        with report.ProgressDisplay(err, model) as progress:
            _reading(progress, data)
            result = api.train(
                source, model=model, read=read, columns=columns, settings=settings,
                valid=valid_file, dask=dask, on_epoch=progress,
                on_schema=_schema_known(err, ignored, progress),
                time_budget=parse_duration(time_budget) if time_budget else None,
            )  # fmt: skip
        if output and main:
            # checked under the lock above: a file there now appeared meanwhile, and is kept
            result.predictor.save(output, overwrite=force)
            _confirm(err, output, "the model")
    if not main:
        return
    if as_json:
        click.echo(report.dumps(report.train_json(result, output)))
    else:
        report.stdout_console().print(report.train_renderable(result, output))
    if result.predictor.card.stop_reason == "interrupted":
        kept = "round" if MODELS[model].unit == "round" else "weights"
        click.echo(
            f"Interrupted: the best {kept} so far {'was' if kept == 'round' else 'were'} kept"
            + (f" and written to {output}." if output else "."),
            err=True,
        )
        sys.exit(int(ExitCode.INTERRUPTED))


def _metric_option(text: str) -> Callable[[F], F]:
    """--metric, as compare ranks and tune searches."""
    return click.option("--metric", type=click.Choice(["auc", "accuracy", "balanced_accuracy",
                        "logloss"]), default="auc", show_default=True, help=text)  # fmt: skip


@cli.command()
@click.argument("data", required=False)
@click.option(
    "--models",
    default=",".join(DEFAULT_COMPARE),
    show_default=True,
    help="Comma-separated models to compare.",
)
@variant_options
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
    help="Share of rows held out for testing [default: 0.2].",
)
@click.option("--test", "test_file", metavar="FILE", help="Test on this file instead.")
@click.option(
    "--feature-sets",
    metavar="SETS",
    help="raw,assisted: run every model with and without the --feature columns on the "
    "same split, and test the difference (raw alone: without them).",
)
@click.option(
    "--extra-runs",
    metavar="RUNS",
    default="scaler,seed",
    show_default=True,
    help="What time left after the MLPs buys, in order, while another run fits: the best "
    "MLP again with the other scaling (scaler) or another seed (seed), then the portfolio's "
    "configs of the models compared (portfolio: three settings chosen offline on 11 public "
    "sets; off by default, as it moved no ★ beyond noise on 16 sets); '' for none.",
)
@_metric_option("Metric that ranks the models.")
@click.option(
    "--bootstrap",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Bootstrap resamples for the intervals and paired tests (at least 50); 0: no "
    "intervals, and paired tests only where they need none (DeLong, McNemar).",
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
def compare(data: str | None, out_dir: str | None, report_file: str | None, **kw: Any) -> None:
    """Compare models on DATA: a rough result fast (baselines, gbt), then the MLPs.

    Every model gets the same split, seed and schema; the table shows 95% bootstrap
    intervals, paired tests against the best model and the gbt baseline, and an
    overtraining check.

    Example:

    \b
        nncli compare sample_data/physics.csv --mlp activation=tanh --gbt num_leaves=63
    """
    from nncli import api
    from nncli.assess.plan import ignored_variants
    from nncli.config import Settings
    from nncli.learn import distributed
    from nncli.learn.models import ignored_settings
    from nncli.show import report, report_compare

    options = _compare_options(kw)
    source, read, columns, read_notes = _data_read_columns(data, kw)
    err = _stderr(kw["quiet"])
    settings = Settings.from_options(kw)
    ignored = (
        read_notes + ignored_variants(options) + ignored_settings(settings, list(options.models))
    )
    if kw["test_size"] is not None and (options.cv or kw["test_file"]):
        why = "with --cv every fold is the test set once" if options.cv else "--test is"
        ignored.append(f"--test-size ignored: {why}")
    width = report_compare.label_width(options)
    display = report_compare.CompareDisplay(err, options.metric, width)
    if not distributed.is_main():  # under torchrun rank 0 alone writes and prints
        out_dir = report_file = None
    try:
        run = api.compare(
            source, read=read, columns=columns, settings=settings,
            options=options, test=kw["test_file"], out_dir=out_dir, report_file=report_file,
            fail_under=kw["fail_under"], force=kw["force"],
            on_start=display.start, on_result=display.result,
            on_schema=lambda schema, notes: _announce(err, schema, ignored + notes),
            on_plan=lambda words: err.print(words, markup=False, highlight=False),
        )  # fmt: skip
    finally:
        display.close()
    if not distributed.is_main():
        return
    if out_dir:
        _confirm(err, out_dir, f"the run folder ({len(run.written) - bool(report_file)} files)")
    if report_file:
        _confirm(err, report_file, "the HTML report")
    if kw["as_json"]:
        click.echo(report.dumps(run.report))
    else:
        report.stdout_console().print(report_compare.compare_renderable(run.comparison))
    if run.comparison.interrupted:
        click.echo("Interrupted: the report shows the models that finished.", err=True)
        sys.exit(int(ExitCode.INTERRUPTED))
    _exit_on_threshold(run.threshold)


def _compare_options(kw: dict[str, Any]) -> Any:
    """CompareOptions from compare's own flags; --fail-under is checked here, before any
    work, and again (with the data) by api.compare."""
    from nncli.assess.plan import CompareOptions, Threshold
    from nncli.config import parse_duration

    if kw["fail_under"]:
        Threshold.parse(kw["fail_under"])
    variants = {k[len("variants_") :]: v for k, v in kw.items() if k.startswith("variants_") and v}
    return CompareOptions(
        models=tuple(m.strip() for m in kw["models"].split(",") if m.strip()),
        variants=variants,
        metric=kw["metric"],
        test_size=kw["test_size"] if kw["test_size"] is not None else 0.2,
        cv=kw["cv"],
        bootstrap=kw["bootstrap"],
        time_budget=parse_duration(kw["time_budget"]),
        signal=kw["signal"],
        feature_sets=tuple(s.strip() for s in (kw["feature_sets"] or "").split(",") if s.strip()),
        extra_runs=tuple(s.strip() for s in kw["extra_runs"].split(",") if s.strip()),
    )


def _exit_on_threshold(check: Any) -> None:
    if check is None or check.met:
        return
    label = check.model or "no model"
    click.echo(
        f"Threshold not met: the best model ({label}) has {check.threshold.metric} "
        f"{check.score:.4f}; --fail-under asks for {check.threshold.value:g}.",
        err=True,
    )
    sys.exit(int(ExitCode.THRESHOLD))


@cli.command()
@click.argument("data", required=False)
@click.option(
    "--model",
    "-m",
    default=baseline(),
    show_default=True,
    type=NamedChoice(TRAINABLE, "model"),
    help="Model whose settings to search.",
)
@click.option(
    "--models",
    metavar="M1,M2",
    help="Several models, one study each (the time "
    "budget shared equally); the best of them is written with -o.",
)
@click.option(
    "--trials",
    type=click.IntRange(min=1),
    help="Stop after this many finished "
    "trials per model (all processes sharing the study together) [default: no limit].",
)
@click.option(
    "--time-budget",
    default="5m",
    show_default=True,
    metavar="DURATION",
    help="Stop starting trials after this time (90s, 2m, 1h); a trial that would "
    "run past it is stopped and not counted.",
)
@_metric_option("Metric the search maximises (logloss: minimises).")
@click.option(
    "--test-size",
    type=click.FloatRange(0.05, 0.9),
    default=0.2,
    show_default=True,
    help="Share of rows held out, never seen by the search, scored once at the end.",
)
@click.option(
    "--storage",
    metavar="URL",
    help="Keep the study here, to resume it or share it "
    "between processes and machines: sqlite:///study.db, postgresql://…, "
    "mysql://…, or journal:FILE [default: in memory].",
)
@click.option(
    "--study",
    "study_name",
    metavar="NAME",
    help="The study's name (each model's study is NAME.MODEL) [default: the data file's name].",
)
@click.option(
    "--predictions-dir",
    metavar="DIR",
    help="Keep each trial's out-of-fold predictions here, so that every process sharing "
    "or resuming the study tests its best against all the finished trials [default: "
    "beside a file --storage, as study.db.oof/; none for a database server].",
)
@click.option(
    "--ensemble",
    type=click.IntRange(min=2),
    help="Also average the N best trials, scored on the test rows once; -o then writes this mean.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    help="Write the best model (or the --ensemble mean) here.",
)
@click.option(
    "--save-config",
    type=click.Path(dir_okay=False),
    help="Write the best settings here as TOML, for --config.",
)
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
@click.option(
    "--bootstrap",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Bootstrap resamples for the paired test of tuned against as given.",
)
@fitting_options
def tune(data: str | None, **kw: Any) -> None:
    """Search a model's settings on DATA with Optuna; the test rows are scored once.

    Each trial is fitted on compare's split (cross-fitted on small data) and scored on
    the rows the search may see; the first trial is the settings as given. Prints the
    trials, the best against the first on the test rows (a paired test) and the best
    settings as TOML. Needs pip install 'nncli[tune]'.

    Example:

    \b
        nncli tune sample_data/physics.csv -m gbt --time-budget 2m --save-config best.toml
    """
    from nncli import api
    from nncli.assess import tune as tuning
    from nncli.config import Settings
    from nncli.io.outputs import check_output, claim
    from nncli.learn.models import ignored_settings
    from nncli.show import report, report_tune

    tuning.optuna_module()  # the extra, before anything is read
    options = _tune_options(data, kw)
    source, read, columns, read_notes = _data_read_columns(data, kw)
    settings, err = Settings.from_options(kw), _stderr(kw["quiet"])
    ignored = read_notes + ignored_settings(settings, list(options.models))
    outputs = [p for p in (kw["output"], kw["save_config"]) if p]
    with claim(*outputs):
        for path in outputs:
            check_output(path, [data] if data else [], kw["force"])
        found = api.tune(
            source, read=read, columns=columns, settings=settings, options=options,
            on_schema=lambda schema, notes: _announce(err, schema, ignored + notes),
            on_plan=lambda words: err.print(words, markup=False, highlight=False),
            on_done=_trial_line(err),
        )  # fmt: skip
        _write_tuned(err, found, kw)
    if kw["as_json"]:
        click.echo(report.dumps(report_tune.tune_json(found, kw["output"], kw["save_config"])))
    else:
        report.stdout_console().print(report_tune.tune_renderable(found))
    if found.interrupted:
        click.echo("Interrupted: the trials that finished are kept"
                   + (" in the study." if options.storage else "."), err=True)  # fmt: skip
        sys.exit(int(ExitCode.INTERRUPTED))


def _tune_options(data: str | None, kw: dict[str, Any]) -> Any:
    """TuneOptions from tune's own flags; the study is named after the data file."""
    from pathlib import Path

    from nncli.assess.tune import TuneOptions
    from nncli.config import parse_duration

    models = kw["models"] or kw["model"]
    names = tuple(m.strip() for m in models.split(",") if m.strip())
    for name in names:
        NamedChoice(TRAINABLE, "model").convert(name, None, None)
    stem = Path(data).stem if data and data != "-" else "nncli"
    return TuneOptions(
        models=names, trials=kw["trials"], time_budget=parse_duration(kw["time_budget"]),
        metric=kw["metric"], test_size=kw["test_size"], storage=kw["storage"],
        study=kw["study_name"] or stem, ensemble=kw["ensemble"] or 0,
        bootstrap=kw["bootstrap"], predictions_dir=kw["predictions_dir"],
    )  # fmt: skip


def _trial_line(err: Any) -> Callable[..., None]:
    """One stderr line per finished trial: its score, the best so far, its settings."""

    def done(model: str, row: Any, best: float | None) -> None:
        from nncli.show.report_tune import trial_settings

        what = f"{row.value:.4f}" if row.value is not None else (row.note or row.state)
        settings = trial_settings(row)
        note = f" ({row.note})" if row.note and row.value is not None else ""
        best_words = f"; best {best:.4f}" if best is not None else ""
        seconds = f" in {row.seconds:.1f} s" if row.seconds is not None else ""
        err.print(f"{model} trial {row.number}: {what}{note}{seconds}{best_words} · {settings}",
                  markup=False, highlight=False)  # fmt: skip

    return done


def _write_tuned(err: Any, found: Any, kw: dict[str, Any]) -> None:
    """-o: the best model (or the --ensemble mean); --save-config: the TOML."""
    from nncli.errors import ConfigError
    from nncli.show.report_tune import best_toml

    best = found.best
    if kw["output"]:
        if best is None:
            raise ConfigError("no trial finished, so there is no model to write",
                              "give the search more --time-budget.")  # fmt: skip
        chosen = best.ensemble or best.tuned
        chosen.predictor.save(kw["output"], overwrite=kw["force"])
        _confirm(err, kw["output"], f"the model ({chosen.label})")
    if kw["save_config"] and best is not None:
        from nncli.io.outputs import atomic_output

        with atomic_output(kw["save_config"], exclusive=not kw["force"]) as fh:
            fh.write(best_toml(found))
        _confirm(err, kw["save_config"], "the best settings")


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
    from nncli.io.outputs import atomic_output, check_output, claim

    with claim(output):
        check_output(output, [], force)
        page = api.render_report(run_dir)
        with atomic_output(output, exclusive=not force) as fh:
            fh.write(page)
    _confirm(_stderr(False), output, "the HTML report")


def _fold_by_option(fn: F) -> F:
    return click.option(
        "--fold-by",
        metavar="COL",
        help="Score each row with the fold models that did not train on its fold (COL mod "
        "K, as in training; a model cross-fitted with --bag K --fold-by COL) [default: the "
        "mean of the fold models].",
    )(fn)


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
    help="Write the predictions CSV here [default: stdout]; a NAME.root file gets a ROOT "
    "tree of scores instead, one entry per input entry (a friend tree).",
)
@click.option("--tree", default="nncli", show_default=True,
              help="The name of the tree of scores in a .root output.")  # fmt: skip
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--proba", is_flag=True, help="Add one proba_<class> column per class.")
@click.option(
    "--id-col",
    multiple=True,
    metavar="COL",
    help="Column(s) to copy into the output [default: the model's ID columns].",
)
@_unseen_option
@_fold_by_option
@data_options
@click.option("--quiet", "-q", is_flag=True, help="No warnings on stderr.")
def predict(
    model: str,
    data: str,
    output: str | None,
    tree: str,
    force: bool,
    proba: bool,
    id_col: tuple[str, ...],
    unseen: str,
    fold_by: str | None,
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
    from nncli.io.outputs import atomic_output, check_output, claim

    read = _read_options(kw)
    predictor = api.load(model)
    args = dict(proba=proba, id_cols=id_col, unseen=unseen, read=read, fold_by=fold_by)
    if output and output.lower().endswith(".root"):  # a tree of scores, a friend of the input
        with claim(output):
            check_output(output, [data, model], force)
            summary = api.predict_root(predictor, data, output, tree=tree, unseen=unseen,
                                       read=read, fold_by=fold_by, overwrite=force)  # fmt: skip
    elif output:
        with claim(output):
            check_output(output, [data, model], force)
            with atomic_output(output, exclusive=not force) as fh:
                summary = api.predict(predictor, data, fh, **args)
    else:
        summary = api.predict(predictor, data, sys.stdout, **args)
    err = _stderr(quiet)
    _announce_notes(err, summary.notes)
    _report_unseen(err, summary.unseen, unseen)
    if output and not quiet:
        _confirm(err, output, f"{summary.rows:,} predictions")


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("data")
@_unseen_option
@_fold_by_option
@data_options
@output_options
def evaluate(
    model: str, data: str, unseen: str, fold_by: str | None, as_json: bool, quiet: bool, **kw: Any
) -> None:
    """Metrics of a saved MODEL on labelled DATA (it must hold the model's target column).

    Example:

    \b
        nncli evaluate physics.nncli sample_data/physics.csv
    """
    from nncli import api
    from nncli.show import report

    read = _read_options(kw)
    result = api.evaluate(model, data, unseen=unseen, read=read, fold_by=fold_by)
    _announce_notes(_stderr(quiet), result.notes)
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


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="Write the ONNX graph here (e.g. model.onnx).")  # fmt: skip
@click.option(
    "--flat",
    is_flag=True,
    help="One float32 [N, columns] input, categories as integer codes written to "
    "OUTPUT.codes.json (for TMVA SOFIE, hls4ml and other readers of numbers only).",
)
@click.option("--check", "check_data", metavar="DATA",
              help="Check the graph against nncli on the rows of DATA (default: 2,000 rows "
              "drawn from the model card).")  # fmt: skip
@click.option("--tolerance", type=click.FloatRange(min=0), default=1e-4, show_default=True,
              help="The largest difference in probability allowed; above it nothing is written "
              "and the exit code is 1.")  # fmt: skip
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@_fold_by_option
@data_options
@output_options
def export(
    model: str, output: str, flat: bool, check_data: str | None, tolerance: float, force: bool,
    fold_by: str | None, as_json: bool, quiet: bool, **kw: Any,
) -> None:  # fmt: skip
    """Write MODEL as one ONNX graph: raw columns in, probabilities and label out.

    The graph holds the preprocessing too (imputation, scaling, categories, derived
    columns), so ONNX Runtime (C++, Python, …) runs it without nncli. It is checked
    against nncli's own predictions before it is written. Needs the onnx extra:
    pip install 'nncli[onnx]'.

    Example:

    \b
        nncli export physics.nncli -o physics.onnx --check sample_data/physics.csv
    """
    from nncli import api
    from nncli.io.outputs import check_output, claim
    from nncli.show import report

    read = _read_options(kw)
    paths = [output, output + ".codes.json" if flat else None]
    with claim(*paths):
        for path in filter(None, paths):
            check_output(path, [model, *([check_data] if check_data else [])], force)
        result = api.export(model, output, flat=flat, check=check_data, tolerance=tolerance,
                            read=read, overwrite=force, fold_by=fold_by)  # fmt: skip
    if as_json:
        click.echo(report.dumps(report.export_json(result)))
    else:
        click.echo("\n".join(report.export_lines(result)))
    err = _stderr(quiet)
    _confirm(err, output, "the ONNX graph")
    if result.codes_path:
        _confirm(err, result.codes_path, "the category codes")


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
