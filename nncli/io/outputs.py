"""Writing outputs safely: never over an input, never half-written, one writer at a time.

- :func:`check_output` refuses, before any work, to write over an input or over an
  existing file without ``--force``.
- :func:`claim` holds an output (a file, or a run folder) for the whole run with a lock
  file beside it, ``.NAME.lock``, taken with ``flock``: a second nncli process that
  wants the same output stops at once with an error naming the holder. The kernel
  drops the lock when its process ends, however it ends, so a lock file left by a
  killed process is stale by construction and is simply taken over.
- :func:`atomic_output` writes a temporary file beside the target and puts it in place
  only when complete; with ``exclusive`` (no ``--force``) it is linked into place,
  which fails if anything created the target meanwhile, so nothing is overwritten.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any

from nncli.errors import ConfigError, OutputError


def check_output(path: str | Path, inputs: list[str | Path], force: bool) -> None:
    """Refuse to write over an input (a ROOT tree's file too), or over an existing file
    without ``--force``."""
    from nncli.io.root import split_source

    target = Path(path)
    for source in (split_source(str(s))[0] for s in inputs):
        if (
            str(source) != "-"
            and Path(source).exists()
            and target.exists()
            and target.resolve() == Path(source).resolve()
        ):
            raise ConfigError(
                f"refusing to write the output over the input file {source}",
                "choose another output path with -o.",
            )
    if target.exists() and not force:
        raise ConfigError(f"{target} already exists", "pass --force to overwrite it.")
    if target.parent and not target.parent.exists():
        raise ConfigError(f"the folder {target.parent} does not exist", "create it first.")


def check_folder(folder: str | Path, force: bool) -> None:
    """Refuse to write a run folder into one that is not empty, without ``--force``."""
    path = Path(folder)
    if path.is_dir() and any(path.iterdir()) and not force:
        raise ConfigError(
            f"the folder {folder} is not empty",
            "pass --force to write into it, or choose another --out.",
        )


def check_run_outputs(
    out_dir: str | Path | None, report_file: str | Path | None, inputs: list[str | Path],
    force: bool,
) -> None:  # fmt: skip
    """``compare``'s outputs, before any work: an empty run folder, a new report file."""
    if out_dir:
        check_folder(out_dir, force)
    if report_file:
        check_output(report_file, inputs, force)


def lock_path(path: str | Path) -> Path:
    """The lock file of an output: ``.NAME.lock`` beside it."""
    target = Path(path)
    return target.with_name(f".{target.name}.lock")


@contextmanager
def claim(*paths: str | Path | None) -> Iterator[None]:
    """Hold every given output (None entries are skipped) until the block ends."""
    with ExitStack() as stack:
        for path in paths:
            if path is not None:
                stack.enter_context(_locked(Path(path)))
        yield


@contextmanager
def _locked(target: Path) -> Iterator[None]:
    import fcntl

    lock = lock_path(target)
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            if not lock.parent.exists():  # check_output explains a missing folder
                yield
                return
            raise OutputError(
                f"cannot create the lock file {lock}: {exc.strerror}",
                "write the output into a folder you can write to.",
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise OutputError(
                f"{target} is being written by another nncli process (pid {holder})",
                "wait for it to finish, or choose another output path.",
            ) from None
        if _same_file(fd, lock):  # not a lock file its last holder removed meanwhile
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        lock.unlink(missing_ok=True)  # while still held: nobody can be waiting on it
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        here, there = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


@contextmanager
def atomic_output(path: str | Path, mode: str = "w", exclusive: bool = False) -> Iterator[IO[Any]]:
    """A file that replaces ``path`` only when the block completes without error; with
    ``exclusive``, one that fails (:class:`OutputError`) rather than replace a file that
    appeared at ``path`` meanwhile."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, mode, **({"newline": ""} if "b" not in mode else {})) as fh:
            yield fh
        if exclusive:
            _link_new(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _link_new(tmp: Path, path: Path) -> None:
    """Put ``tmp`` in place at ``path`` unless something is there (a hard link fails
    then); where the file system has no hard links, an exclusive create and a copy."""
    import shutil

    try:
        os.link(tmp, path)
        return
    except FileExistsError:
        raise _appeared(path) from None
    except OSError:  # no hard links here (some network and FUSE file systems)
        pass
    try:
        out = open(path, "xb")  # noqa: SIM115 (closed below, removed if incomplete)
    except FileExistsError:
        raise _appeared(path) from None
    try:
        with out, open(tmp, "rb") as src:
            shutil.copyfileobj(src, out)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _appeared(path: Path) -> OutputError:
    return OutputError(
        f"{path} already exists (created by another process while nncli was working?); it "
        "was left as it is",
        "choose another output path, or overwrite it (--force; overwrite=True in Python).",
    )
