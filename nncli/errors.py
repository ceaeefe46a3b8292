"""Domain errors and exit codes, decided in one place.

Every error a user can cause is an :class:`NncliError` with a message (what went
wrong) and a hint (how to fix it). ``cli.py`` turns them into two lines on stderr
and the error's exit code. Anything else that escapes is a bug and shows a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from enum import IntEnum


class ExitCode(IntEnum):
    """Documented exit codes (README, "Errors and exit codes")."""

    OK = 0
    ERROR = 1  # bad data, schema mismatch, bad or incompatible model file
    USAGE = 2  # bad command line or option values (click uses 2 as well)
    THRESHOLD = 3  # a --fail-under threshold was not met
    INTERRUPTED = 130  # Ctrl-C / SIGINT
    CLOSED_PIPE = 141  # stdout closed early (`nncli predict … | head`): 128 + SIGPIPE


class NncliError(Exception):
    """An error the user can fix; shown as ``Error: <message>`` and ``Hint: <hint>``."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message} ({self.hint})"


class OutputError(NncliError):
    """An output cannot be written as asked: another process holds it, or created it
    meanwhile (exit 1: nothing was written, and what was there is kept)."""


class DataError(NncliError):
    """The input data cannot be read or used."""


class SchemaError(NncliError):
    """Columns or target do not fit what is needed (missing, misspelt, mismatched)."""


class ConfigError(NncliError):
    """Option values or a config file are invalid."""

    exit_code = ExitCode.USAGE


class ArtifactError(NncliError):
    """A model file is missing, corrupt, tampered with or from an incompatible version."""


class TrainingError(NncliError):
    """Training failed in a way the user can act on (diverged loss, say)."""


class Info(str):
    """A note for stderr that informs (how the work is spread, say) rather than warns."""


def did_you_mean(name: str, choices: Iterable[str], what: str = "column") -> str:
    """A hint naming close matches of ``name`` among ``choices``, else listing them."""
    options = [str(c) for c in choices]
    close = difflib.get_close_matches(name, options, n=3, cutoff=0.6)
    if not close:
        close = [c for c in options if c.lower() == name.lower()]
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    return f"available {what}s are " + short_list(options) + "."


def short_list(items: Iterable[str], limit: int = 12) -> str:
    """``a, b, c, … (N more)`` for messages that must stay on one line."""
    items = [str(i) for i in items]
    shown = ", ".join(items[:limit])
    if len(items) > limit:
        shown += f", … ({len(items) - limit} more)"
    return shown


#: command-line words in messages and hints → what a Python caller passes instead
PYTHON_WORDS = (
    ("pass --target NAME", "pass target='NAME'"),
    ("--target", "target="),
    ("--id-col", "id_cols="),
    ("--weight", "weight="),
    ("--drop", "drop="),
    ("pass --force to overwrite it", "pass overwrite=True to replace it"),
    ("pass --sep", "pass read=ReadOptions(sep=…)"),
    ("pass --encoding", "pass read=ReadOptions(encoding=…)"),
    ("pass --decimal", "pass read=ReadOptions(decimal=…)"),
    ("--unseen", "unseen="),
)


def for_python(exc: NncliError) -> NncliError:
    """The same error, its message and hint phrased for a Python caller (keywords, not
    command-line flags)."""

    def phrase(text: str | None) -> str | None:
        if text is None:
            return None
        for cli_words, python_words in PYTHON_WORDS:
            text = text.replace(cli_words, python_words)
        return text

    out = type(exc)(phrase(exc.message) or exc.message, phrase(exc.hint))
    out.exit_code = exc.exit_code
    return out
