"""Reading tabular data: CSV/TSV (sniffed delimiter), compressed files, Parquet, stdin,
ROOT trees (:mod:`nncli.io.root`).

The reader is pyarrow's multi-threaded CSV parser, except for files of plain numbers,
which pandas' C engine reads (faster on two cores, to the same float64 bits; the frame
is kept only when every column came out numeric); every failure the parsers can report
is turned into a :class:`~nncli.errors.DataError` with a hint. Nothing here prints.
"""

from __future__ import annotations

import bz2
import csv
import difflib
import gzip
import hashlib
import io
import lzma
import os
import re
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncli.errors import ConfigError, DataError, NncliError, short_list

if TYPE_CHECKING:
    import pandas as pd

#: Cells read as missing, in addition to any ``--na-values`` the user gives.
NA_VALUES: tuple[str, ...] = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "?")
SNIFF_DELIMITERS = (",", "\t", ";", "|")
SNIFF_BYTES = 64 * 1024
#: data rows of the sample checked before a file is read as plain numbers (_plain_numeric)
PLAIN_ROWS = 200
#: pyarrow's block size for whole-file reads (bytes; the streaming reader's too). Larger
#: blocks were slower here (460 MB numeric file to a DataFrame, 2 cores, 32 MB L3: 1 MB
#: 1.84 s, 4 MB 2.10 s, 8 MB 2.12 s, 16 MB 2.99 s, 32 MB 3.26 s; benchmarks/speed.py)
READ_BLOCK = 1 << 20
SEP_ALIASES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}

_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bz2",
    b"\xfd7zXZ\x00": "xz",
    b"PK\x03\x04": "zip",
    b"PAR1": "parquet",
}


@dataclass(frozen=True)
class ReadOptions:
    """How to read a file. ``None`` means: find out from the data."""

    sep: str | None = None
    encoding: str | None = None
    na_values: tuple[str, ...] = ()
    decimal: str | None = None  # "." or ","; None: "," when a ;-file's numbers use commas
    branches: tuple[str, ...] = ()  # ROOT: globs of the branches to read (all when empty)
    keep: tuple[str, ...] = ()  # ROOT: branches read whatever --branches says (target, weight)

    def __post_init__(self) -> None:
        if self.decimal not in (None, ".", ","):
            raise ConfigError(
                f"--decimal must be '.' or ',', got {self.decimal!r}",
                "pass --decimal , for numbers written 3,14.",
            )
        if self.sep is not None:
            sep = SEP_ALIASES.get(self.sep.lower(), self.sep)
            if len(sep) != 1:
                raise ConfigError(
                    f"--sep must be a single character, got {self.sep!r}",
                    "use e.g. --sep ';' or --sep tab.",
                )
            object.__setattr__(self, "sep", sep)


@dataclass
class Table:
    """A data frame with where it came from and how it was read."""

    frame: pd.DataFrame
    source: str
    sep: str | None
    encoding: str
    n_bytes: int
    sha256: str
    notes: list[str] = field(default_factory=list)
    #: the CSV parser that read it: "pyarrow", or "pandas" for a file of plain numbers
    parser: str = ""
    #: rows put together from --sample files: each one's class, source, weight, entries
    samples: list[dict[str, Any]] = field(default_factory=list)


def is_frame(source: object) -> bool:
    """Whether ``source`` is a pandas DataFrame (accepted wherever a path is)."""
    return hasattr(source, "columns") and hasattr(source, "iloc")


def frame_table(frame: pd.DataFrame) -> Table:
    """A DataFrame given in Python, as if read from a file (its SHA-256 is of its values)."""
    import pandas as pd

    provenance = frame.attrs.get("nncli_samples")
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    size = int(frame.memory_usage(deep=False).sum())
    if provenance:  # rows put together from --sample files (nncli.io.samples)
        return _finish(Table(frame, provenance["source"], None, "", size,
                             provenance["sha256"], samples=provenance["samples"]))  # fmt: skip
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
    digest = hashlib.sha256(hashed).hexdigest()
    return _finish(Table(frame, "<DataFrame>", None, "", size, digest))


def read_table(source: str | Path | pd.DataFrame, options: ReadOptions | None = None) -> Table:
    """Read ``source`` (a path, ``-`` for stdin, or a DataFrame) into a :class:`Table`."""
    if is_frame(source):
        return frame_table(source)  # type: ignore[arg-type]
    options = options or ReadOptions()
    name = str(source)
    from nncli.io.root import is_root

    if name != "-" and is_root(name):
        return _finish(_read_root(name, options))
    path = _existing(name)
    if path is None or not path.is_file():  # stdin or a pipe: its bytes, read once
        raw = sys.stdin.buffer.read() if path is None else _read_all(path, name)
        table = _read_raw(raw, name, options)
        table.sha256 = hashlib.sha256(raw).hexdigest()
        return _finish(table)
    return _finish(_read_file(path, name, options))


def _read_root(name: str, options: ReadOptions) -> Table:
    """A ROOT tree (:mod:`nncli.io.root`), hashed as a file."""
    from nncli.io.root import read_root

    frame, notes = read_root(name, list(options.branches) or None, options.keep)
    path = source_path(name)
    size = Path(path).stat().st_size
    return Table(frame, name, None, "root", size, file_sha256(path), notes)


def source_path(name: str) -> str:
    """The file a source names: ``file.root:tree`` → ``file.root``; others as they are."""
    from nncli.io.root import split_source

    return split_source(name)[0]


def _read_file(path: Path, name: str, options: ReadOptions) -> Table:
    """A regular file, read with read() calls (a memory map dies of SIGBUS when another
    process truncates the file) and hashed in a thread while pyarrow parses it (hashlib
    and pyarrow release the GIL); a file that changes meanwhile is an error."""
    from concurrent.futures import ThreadPoolExecutor

    with _Watch(path, name) as watch:
        head = watch.read_head()
        if _container_kind(name, head) is not None:  # compressed or Parquet: bytes in memory
            raw = watch.read_all()
            table = _read_raw(raw, name, options)
            table.sha256 = hashlib.sha256(raw).hexdigest()
            return table
        with ThreadPoolExecutor(1, thread_name_prefix="nncli-sha256") as pool:
            digest = pool.submit(_sha256_counted, path)
            try:
                table = _read_csv_file(path, head, watch, name, options)
            finally:
                table_sha, n_read = digest.result()
        watch.check(n_read)
        table.sha256 = table_sha
        return table


class _Watch:
    """An open file and its size and modification time at opening: :meth:`check` (also
    run when a read fails) says whether another process changed it while it was read."""

    def __init__(self, path: Path, name: str) -> None:
        self.path, self.name = path, name
        try:
            self.fh = path.open("rb")
        except OSError as exc:
            raise DataError(
                f"cannot read {name}: {exc.strerror}", "check the file's permissions."
            ) from None
        self.stat = os.fstat(self.fh.fileno())

    def __enter__(self) -> _Watch:
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        try:
            if isinstance(exc, (NncliError, OSError)):  # a parse error may be the change
                self.check()
        finally:
            self.fh.close()

    def read_head(self) -> bytes:
        return self._read(lambda: self.fh.read(SNIFF_BYTES))

    def read_all(self) -> bytes:
        self.fh.seek(0)
        return self._read(self.fh.read)

    def _read(self, read: Callable[[], bytes]) -> bytes:
        try:
            return read()
        except OSError as exc:
            raise DataError(f"cannot read {self.name}: {exc.strerror}",
                            "check the file and the disk it is on.") from None  # fmt: skip

    def check(self, n_read: int | None = None) -> None:
        now = os.fstat(self.fh.fileno())
        moved = _identity(self.path) != (now.st_dev, now.st_ino)  # replaced by a new file
        changed = (now.st_size, now.st_mtime_ns) != (self.stat.st_size, self.stat.st_mtime_ns)
        if changed or moved or (n_read is not None and n_read != self.stat.st_size):
            sizes = f"{self.stat.st_size:,} bytes when opened, {now.st_size:,} now"
            raise DataError(
                f"{self.name} changed while it was read ({'replaced; ' if moved else ''}{sizes})",
                "wait until the program writing it has finished, then run nncli again.",
            )


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _sha256_counted(path: Path) -> tuple[str, int]:
    """SHA-256 of the file's bytes and how many there were (read in 1 MB blocks)."""
    digest, n = hashlib.sha256(), 0
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    with open(path, "rb") as fh:
        while size := fh.readinto(buffer):
            digest.update(view[:size])
            n += size
    return digest.hexdigest(), n


def _whole_rows(frame: pd.DataFrame, sep: str, blocks: Callable[[], Iterator[Any]]) -> bool:
    """Whether every row of a frame pandas' C engine read had all its fields: it fills a
    short row with missing values where pyarrow refuses it. A short row leaves the last
    column missing, so only a frame with a missing value there has the delimiters of
    its text (``blocks``) counted: exactly those of its header and rows (numpy: 0.04 s
    for 460 MB, where bytes.count takes 0.4 s)."""
    import numpy as np

    if not frame.iloc[:, -1].isna().any():
        return True
    code = np.uint8(ord(sep))
    found = sum(int(np.count_nonzero(np.frombuffer(b, np.uint8) == code)) for b in blocks())
    return found == (len(frame) + 1) * (frame.shape[1] - 1)


def _file_blocks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while block := fh.read(1 << 24):
            yield block


def _byte_blocks(raw: bytes) -> Iterator[memoryview]:
    view = memoryview(raw)  # 16 MB at a time: no comparison array as long as the file
    return (view[i : i + (1 << 24)] for i in range(0, len(raw), 1 << 24))


def _read_raw(raw: bytes, name: str, options: ReadOptions) -> Table:
    kind = _container_kind(name, raw)
    if kind == "parquet":
        return Table(_read_parquet(raw, name), name, None, "parquet", len(raw), "")
    if kind is not None:
        raw = _decompress(raw, kind, name)
    return _read_csv_bytes(raw, name, options)


def _existing(name: str) -> Path | None:
    """The path of ``name`` (None for stdin), or the not-found / directory error."""
    if name == "-":
        return None
    path = Path(name)
    if not path.exists():
        siblings = [p.name for p in path.parent.glob("*")] if path.parent.is_dir() else []
        close = difflib.get_close_matches(path.name, siblings, n=3, cutoff=0.6)
        hint = (
            "did you mean " + " or ".join(repr(c) for c in close) + "?"
            if close
            else "check the path."
        )  # only close matches: other files in that folder are no help
        raise DataError(f"file not found: {name}", hint)
    if path.is_dir():
        raise DataError(f"{name} is a directory, not a data file", "pass a CSV or Parquet file.")
    return path


def _read_all(path: Path, name: str) -> bytes:
    """The bytes of a pipe (``<(zcat …)``) or other non-regular file."""
    try:
        with path.open("rb") as fh:
            return fh.read()
    except OSError as exc:
        raise DataError(
            f"cannot read {name}: {exc.strerror}", "check the file's permissions."
        ) from None


def _container_kind(name: str, raw: bytes) -> str | None:
    head = raw[:8]
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    suffix = Path(name).suffix.lower()
    if suffix in {".gz", ".bz2", ".xz", ".zip", ".parquet", ".pq"} and raw:
        raise DataError(
            f"{name} has the extension {suffix} but its contents are not in that format",
            "rename the file to match its contents, or re-create it.",
        )
    return None


def _decompress(raw: bytes, kind: str, name: str) -> bytes:
    try:
        if kind == "gzip":
            return gzip.decompress(raw)
        if kind == "bz2":
            return bz2.decompress(raw)
        if kind == "xz":
            return lzma.decompress(raw)
        return _unzip(raw, name)
    except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile) as exc:
        raise DataError(
            f"cannot decompress {name} ({kind}): {exc}",
            "the file may be truncated or corrupt; re-create or re-download it.",
        ) from None


def _unzip(raw: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) != 1:
            listed = short_list(m.filename for m in members) or "nothing"
            raise DataError(
                f"{name} must hold exactly one data file, found {len(members)}: {listed}",
                "extract the file you want and pass it directly.",
            )
        return archive.read(members[0])


def _read_parquet(raw: bytes, name: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(pa.BufferReader(raw)).to_pandas()
    except (pa.ArrowException, OSError) as exc:
        raise DataError(
            f"cannot read Parquet file {name}: {exc}", "the file may be corrupt."
        ) from None


def _detect_encoding(raw: bytes, requested: str | None) -> tuple[str, int]:
    """The encoding, and where the text starts (after a UTF-8 byte-order mark)."""
    if requested:
        try:
            "".encode(requested)
        except LookupError:
            raise ConfigError(
                f"unknown encoding {requested!r}", "try utf-8, latin-1 or cp1252."
            ) from None
        return requested, 0
    head = raw[:3]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16", 0
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8", 3
    return "utf-8", 0


def sniff_delimiter(sample: str) -> str:
    """The candidate delimiter that splits the sample's rows into the most, equal, fields."""
    lines = sample.splitlines()
    if len(lines) > 1:
        lines = lines[:-1] if not sample.endswith(("\n", "\r")) else lines
    text = "\n".join(lines[:50])
    best, best_width = ",", 1
    for delim in SNIFF_DELIMITERS:
        try:
            rows = [r for r in csv.reader(io.StringIO(text), delimiter=delim) if r]
        except csv.Error:
            continue
        if not rows:
            continue
        widths = {len(r) for r in rows}
        width = len(rows[0])
        if len(widths) == 1 and width > best_width:
            best, best_width = delim, width
    return best


def _header(sample: str, sep: str) -> list[str]:
    first = next(csv.reader(io.StringIO(sample), delimiter=sep), [])
    return [c.strip() for c in first]


def _check_header(names: list[str], name: str, sep: str = ",") -> list[str]:
    notes = []
    for col in names:
        others = [d for d in SNIFF_DELIMITERS if d != sep and d in col]
        if others:
            shown = {"\t": "tab"}.get(others[0], others[0])
            notes.append(
                f"column name {col[:40]!r} contains {shown!r}: the file may mix "
                "delimiters; if the columns look wrong, pass --sep"
            )
            break
    seen: dict[str, int] = {}
    for i, col in enumerate(names):
        if col in seen:
            raise DataError(
                f"duplicate column name {col!r} (columns {seen[col] + 1} and {i + 1}) in {name}",
                "give every column a unique name in the header row.",
            )
        seen[col] = i
    empty = [i + 1 for i, c in enumerate(names) if c == ""]
    if empty:
        notes.append(
            "column(s) " + short_list(str(i) for i in empty) + " have no name in the header; "
            "called column_N (N = position)"
        )
    return notes


_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")


def decimal_mark(sample: str, sep: str, given: str | None) -> str:
    """``,`` when a ``;``-separated sample has a column whose values are almost all
    ``digits,digits`` (spreadsheet exports in many European locales), else ``.``."""
    if given is not None:
        return given
    if sep != ";":
        return "."
    rows = [line.split(sep) for line in sample.splitlines()[1:-1] if line.strip()]
    if not rows:
        return "."
    for column in zip(*[r for r in rows if len(r) == len(rows[0])], strict=False):
        values = [v.strip().strip('"') for v in column if v.strip().strip('"')]
        commas = sum(bool(_DECIMAL_COMMA.match(v)) for v in values)
        if len(values) >= 3 and commas >= 0.9 * len(values):
            return ","
    return "."


def _blank(raw: bytes) -> bool:
    """Whether ``raw`` is empty or only white space (not raw.strip(): that copies it)."""
    head = raw[:SNIFF_BYTES]
    return not head or (head.isspace() and re.search(rb"\S", raw) is None)


def _scan(path: Path, found: Callable[[bytes], bool]) -> bool:
    """Whether ``found`` is true of any 16 MB block of the file (stops at the first)."""
    with open(path, "rb") as fh:
        while block := fh.read(1 << 24):
            if found(block):
                return True
    return False


@dataclass
class _CsvPlan:
    """How pyarrow is to parse a CSV, decided from its first bytes."""

    encoding: str
    sep: str
    names: list[str]
    decimal: str
    notes: list[str]


def _plan_csv(head: bytes, name: str, options: ReadOptions) -> _CsvPlan:
    encoding, start = _detect_encoding(head, options.encoding)
    sample = head[start : start + SNIFF_BYTES].decode(encoding, errors="replace")
    sep = options.sep or sniff_delimiter(sample)
    names = _header(sample, sep)
    notes = _check_header(names, name, sep)
    names = [n or f"column_{i + 1}" for i, n in enumerate(names)]
    decimal = decimal_mark(sample, sep, options.decimal)
    if decimal == "," and options.decimal is None:
        notes.append(
            "decimal commas detected (3,14 read as 3.14); pass --decimal . if the commas "
            "are not decimal marks"
        )
    return _CsvPlan(encoding, sep, names, decimal, notes)


def _parse_csv(
    stream: Any, plan: _CsvPlan, quoted: bool, n_bytes: int, name: str, options: ReadOptions
) -> Table:
    """pyarrow's multi-threaded parse of a whole file (it skips a UTF-8 BOM itself);
    ``quoted``: whether a quote occurs, so that fields may hold newlines."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    read_opts = pacsv.ReadOptions(
        encoding=plan.encoding, column_names=plan.names, skip_rows=1, block_size=READ_BLOCK
    )
    parse_opts = pacsv.ParseOptions(delimiter=plan.sep, newlines_in_values=quoted)
    convert_opts = pacsv.ConvertOptions(
        null_values=list(NA_VALUES + tuple(options.na_values)),
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        decimal_point=plan.decimal,
    )
    try:
        table = pacsv.read_csv(stream, read_opts, parse_opts, convert_opts)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise _explain_parse_error(str(exc), name, plan.sep, options) from None
    binary = [f.name for f in table.schema if pa.types.is_binary(f.type)]
    if binary:
        raise DataError(
            f"{name} is not valid {plan.encoding.upper()} text (column {binary[0]!r})",
            "pass --encoding with the file's encoding, e.g. --encoding latin-1.",
        )
    frame = table.to_pandas(split_blocks=True)  # a block per column: no consolidating copy
    return Table(frame, name, plan.sep, plan.encoding, n_bytes, "", plan.notes, "pyarrow")


_NUMBER = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _plain_numeric(head: bytes, plan: _CsvPlan, options: ReadOptions) -> bool:
    """Whether the head's complete data rows hold nothing but numbers and missing-value
    markers, unquoted and in ASCII: a file pandas' C engine reads as pyarrow would."""
    if plan.encoding != "utf-8" or plan.decimal != "." or len(plan.sep) != 1:
        return False
    if head.startswith(b"\xef\xbb\xbf"):
        return False
    head = head[:SNIFF_BYTES]
    if b'"' in head or not head.isascii():
        return False
    lines = head.splitlines()[1:-1]  # the header, and a last line the sample may cut
    missing = {v.encode() for v in NA_VALUES + tuple(options.na_values)}
    sep, width = plan.sep.encode(), len(plan.names)
    seen = [False] * width  # a column of missing values only: pyarrow's null type
    for line in lines[:PLAIN_ROWS]:
        fields = line.split(sep)
        if len(fields) != width:
            return False
        for i, f in enumerate(fields):
            if f not in missing:
                if not _NUMBER.fullmatch(f):
                    return False
                seen[i] = True
    return len(lines) >= 2 and all(seen)


def _read_plain(source: Any, plan: _CsvPlan, options: ReadOptions) -> pd.DataFrame | None:
    """A file of numbers through pandas' C engine (from pandas 3.1 it parses in threads,
    faster than pyarrow's parser on these 2 cores); None when any column turns out not
    to be numeric, or the parse fails: pyarrow then reads it, and explains errors."""
    import numpy as np
    import pandas as pd

    if tuple(int(p) for p in pd.__version__.split(".")[:2]) < (3, 1):
        return None  # before 3.1 its default float converter is not correctly rounded
    try:
        frame = pd.read_csv(
            source, sep=plan.sep, header=None, skiprows=1, names=plan.names, engine="c",
            na_values=list(NA_VALUES + tuple(options.na_values)), keep_default_na=False,
            encoding="utf-8",
        )  # fmt: skip
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError):
        return None
    kinds = {np.dtype("int64"), np.dtype("float64")}
    return frame if all(t in kinds for t in frame.dtypes) else None


def _read_csv_bytes(raw: bytes, name: str, options: ReadOptions) -> Table:
    import pyarrow as pa

    if _blank(raw):
        raise DataError(f"{name} is empty", "pass a CSV file with a header row and data rows.")
    plan = _plan_csv(raw[:SNIFF_BYTES], name, options)
    if _plain_numeric(raw, plan, options):
        frame = _read_plain(io.BytesIO(raw), plan, options)
        if frame is not None and _whole_rows(frame, plan.sep, lambda: _byte_blocks(raw)):
            return Table(frame, name, plan.sep, plan.encoding, len(raw), "", plan.notes, "pandas")
    quoted = raw.find(b'"') >= 0
    return _parse_csv(pa.BufferReader(raw), plan, quoted, len(raw), name, options)


def _read_csv_file(
    path: Path, head: bytes, watch: _Watch, name: str, options: ReadOptions
) -> Table:
    """A plain-text file, parsed from the file itself (no copy in memory): by pandas' C
    engine where it is plain numbers, else by pyarrow."""
    import pyarrow as pa

    blank = not head or (head.isspace() and not _scan(path, lambda b: not b.isspace()))
    if blank:
        raise DataError(f"{name} is empty", "pass a CSV file with a header row and data rows.")
    plan = _plan_csv(head, name, options)
    if _plain_numeric(head, plan, options):
        frame = _read_plain(path, plan, options)
        if frame is not None and _whole_rows(frame, plan.sep, lambda: _file_blocks(path)):
            size = watch.stat.st_size
            return Table(frame, name, plan.sep, plan.encoding, size, "", plan.notes, "pandas")
    quoted = _scan(path, lambda block: b'"' in block)  # 0.07 s for 460 MB (page cache)
    try:
        stream = pa.OSFile(str(path))
    except OSError as exc:
        raise DataError(f"cannot read {name}: {exc}", "check the file's permissions.") from None
    with stream:
        return _parse_csv(stream, plan, quoted, watch.stat.st_size, name, options)


_EXPECTED = re.compile(r"Expected (\d+) columns, got (\d+)")


def _explain_parse_error(text: str, name: str, sep: str, options: ReadOptions) -> DataError:
    shown = {"\t": "tab"}.get(sep, sep)
    if "UTF8" in text or "utf-8" in text or "decode" in text:
        return DataError(
            f"{name} is not valid {(options.encoding or 'UTF-8').upper()} text",
            "pass --encoding with the file's encoding, e.g. --encoding latin-1.",
        )
    match = _EXPECTED.search(text)
    if match:
        want, got = match.groups()
        row = text.split(": ", 2)[-1].strip()
        if row.count('"') % 2:
            return DataError(
                f"unterminated quote in {name} near {row.splitlines()[0][:40]!r}",
                'close the quoted field (a " inside a field is written "").',
            )
        return DataError(
            f"ragged rows in {name}: a row has {got} field(s) where the header has {want}"
            + (f" ({row[:60]!r})" if row else ""),
            f"check the delimiter (read as {shown!r}; force one with --sep) and the quoting.",
        )
    return DataError(f"cannot parse {name}: {text.splitlines()[0][:200]}", "check the file format.")


def _finish(table: Table) -> Table:
    frame = table.frame
    if frame.shape[1] == 0:
        raise DataError(f"{table.source} has no columns", "pass a file with a header row.")
    if len(frame) == 0:
        raise DataError(
            f"{table.source} has a header but no data rows",
            "pass a file with at least a few rows of data.",
        )
    if frame.shape[1] == 1 and table.sep is not None:
        shown = {"\t": "tab"}.get(table.sep, table.sep)
        raise DataError(
            f"{table.source} has only one column ({str(frame.columns[0])[:60]!r}) "
            f"when split on {shown!r}",
            "the delimiter is probably different: pass --sep (e.g. --sep ';' or --sep tab).",
        )
    frame.columns = [str(c) for c in frame.columns]
    return table


def iter_frames(
    source: str | Path | pd.DataFrame,
    options: ReadOptions | None = None,
    chunk_rows: int = 100_000,
) -> Iterator[pd.DataFrame]:
    """Yield the rows of ``source`` in chunks with every column read as text.

    Plain, gzip and bz2 CSV files are streamed block by block and Parquet files row
    group by row group, so memory stays flat whatever the file size (Parquet columns
    keep their types); stdin, xz and zip input is read whole, then cut.
    Text columns are what prediction needs: the model's preprocessing converts them,
    exactly as it converted the training file.
    """
    if is_frame(source):  # a DataFrame from Python: its own dtypes, cut into chunks
        frame = frame_table(source).frame  # type: ignore[arg-type]
        for start in range(0, len(frame), chunk_rows):
            yield frame.iloc[start : start + chunk_rows]
        return
    options = options or ReadOptions()
    name = str(source)
    kind = file_kind(name)
    if kind not in (None, "gzip", "bz2", "parquet", "root"):
        frame = read_table(source, options).frame
        for start in range(0, len(frame), chunk_rows):
            yield frame.iloc[start : start + chunk_rows]
        return
    if kind == "root":
        from nncli.io.root import iter_root

        branches = list(options.branches) or None
        chunks = iter_root(name, chunk_rows, branches, options.keep)
        yield from _unchanged(source_path(name), chunks)
        return
    if kind == "parquet":
        chunks = _stream_parquet(name, chunk_rows)
    else:
        chunks = _stream_csv(name, options, chunk_rows)
    yield from _unchanged(name, chunks)


def _unchanged(name: str, chunks: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """The chunks of a streamed file, each checked (and the end too) against the file's
    size, modification time and inode at the start: a file that changes meanwhile is an
    error, not a mix of old and new rows."""
    first = os.stat(name)

    def check() -> None:
        now = os.stat(name)
        if (now.st_size, now.st_mtime_ns, now.st_ino) != (
            first.st_size, first.st_mtime_ns, first.st_ino
        ):  # fmt: skip
            raise DataError(
                f"{name} changed while it was read ({first.st_size:,} bytes when opened, "
                f"{now.st_size:,} now)",
                "wait until the program writing it has finished, then run nncli again.",
            )

    for chunk in chunks:
        check()
        yield chunk
    check()


def _stream_parquet(name: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        batches = pq.ParquetFile(name).iter_batches(batch_size=chunk_rows)
        for batch in batches:
            frame = pa.Table.from_batches([batch]).to_pandas()
            frame.columns = [str(c) for c in frame.columns]
            yield frame
    except (pa.ArrowException, OSError) as exc:
        raise DataError(
            f"cannot read Parquet file {name}: {exc}", "the file may be corrupt."
        ) from None


def file_kind(name: str) -> str | None:
    """What the file's first bytes say it is: gzip, bz2, xz, zip, parquet, root, or None
    (plain text); "stdin" for -. ``file.root:tree`` is root (a missing file is found
    missing when it is opened)."""
    from nncli.io.root import is_root

    if name == "-":
        return "stdin"
    if is_root(name):
        return "root"
    path = Path(name)
    if not path.is_file():
        _existing(name)  # raises the usual not-found / directory error
    with path.open("rb") as fh:
        head = fh.read(8)
    return _container_kind(name, head) if head else None


def dialect(name: str, options: ReadOptions | None = None) -> tuple[str, str, list[str], str]:
    """(encoding, delimiter, column names, first bytes as text) of a CSV file, read from
    its first bytes (through gzip/bz2), as the streaming reader sees it."""
    import pyarrow as pa

    options = options or ReadOptions()
    with pa.input_stream(name, compression="detect") as stream:
        head = stream.read(SNIFF_BYTES)
    if not head.strip():
        raise DataError(f"{name} is empty", "pass a CSV file with a header row and data rows.")
    encoding, start = _detect_encoding(head, options.encoding)
    sample = head[start:].decode(encoding, errors="replace")
    sep = options.sep or sniff_delimiter(sample)
    names = _header(sample, sep)
    _check_header(names, name, sep)
    return encoding, sep, [n or f"column_{i + 1}" for i, n in enumerate(names)], sample


def file_sha256(name: str) -> str:
    """SHA-256 of a file's bytes, read in blocks (memory stays flat)."""
    digest = hashlib.sha256()
    with open(name, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _stream_csv(name: str, options: ReadOptions, chunk_rows: int) -> Iterator[pd.DataFrame]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    encoding, sep, names, sample = dialect(name, options)
    read_opts = pacsv.ReadOptions(
        encoding=encoding, column_names=names, skip_rows=1, block_size=1 << 20, use_threads=False
    )
    parse_opts = pacsv.ParseOptions(delimiter=sep, newlines_in_values=True)
    convert_opts = pacsv.ConvertOptions(
        null_values=list(NA_VALUES + tuple(options.na_values)),
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        column_types={n: pa.string() for n in names},
    )
    comma = decimal_mark(sample, sep, options.decimal) == ","
    try:
        with pa.input_stream(name, compression="detect") as stream:
            reader = pacsv.open_csv(stream, read_opts, parse_opts, convert_opts)
            for batches in _gathered(reader, chunk_rows):  # 1 MB blocks, chunk_rows frames
                frame = pa.Table.from_batches(batches).to_pandas()
                if comma:  # text columns: 3,14 → 3.14 where a cell is a decimal-comma number
                    frame = frame.replace(r"^([+-]?\d+),(\d+)$", r"\1.\2", regex=True)
                for start in range(0, len(frame), chunk_rows):
                    yield frame.iloc[start : start + chunk_rows]
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise _explain_parse_error(str(exc), name, sep, options) from None


def _gathered(reader: Iterator[Any], rows: int) -> Iterator[list[Any]]:
    """Record batches gathered until they hold ``rows`` rows: small parse blocks keep
    memory low, large frames keep the per-chunk work of predict and training cheap."""
    held: list[Any] = []
    n = 0
    for batch in reader:
        held.append(batch)
        n += batch.num_rows
        if n >= rows:
            yield held
            held, n = [], 0
    if held:
        yield held
