"""Files under stress, with real processes: one writer per output (a lock held for the
whole run, an exclusive create at the end), stale locks of killed processes, and input
files that change while they are read."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import nncli
from tests.conftest import ROOT, SAMPLE, finish, interruptible

PHYSICS = SAMPLE / "physics.csv"
LONG_MLP = ["-m", "mlp", "--hidden", "32", "--epochs", "100000", "--patience", "100000"]
#: seconds from the run's first stderr line (or its lock) to a few finished epochs: torch's
#: import comes in between (2 s was too short once in CI on a busy machine: no epoch had
#: finished, so nothing was written and both tests saw a plain "Interrupted.")
FIRST_EPOCHS = 6


def _run(args: list[str], cwd: Path, **kw) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "nncli", *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=_env(),
                          timeout=120, **kw)  # fmt: skip


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nncli", *map(str, args)], cwd=cwd,
                            preexec_fn=interruptible,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env())  # fmt: skip


def _env() -> dict[str, str]:
    return os.environ | {"PYTHONPATH": str(ROOT), "COLUMNS": "100", "NO_COLOR": "1"}


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _hold(lock: Path) -> subprocess.Popen:
    """Another process that holds ``lock`` (flock) until it is killed."""
    code = (
        "import fcntl, os, time\n"
        f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'%d' % os.getpid())\n"
        "print('held', flush=True); time.sleep(600)\n"
    )
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def _interrupt(proc: subprocess.Popen) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    _, err = finish(proc, 60)
    return proc.returncode, err


def test_two_trains_writing_one_model_file(tmp_path):
    """The second writer stops at once (exit 1, the holder's pid named); the first one's
    file is the one written."""
    first = _start(["train", PHYSICS, *LONG_MLP, "-o", "m.nncli"], tmp_path)
    _wait_for(tmp_path / ".m.nncli.lock", first)
    second = _run(["train", PHYSICS, "-m", "logreg", "-o", "m.nncli"], tmp_path)
    assert second.returncode == 1, second.stderr
    assert second.stderr == (
        f"Error: m.nncli is being written by another nncli process (pid {first.pid})\n"
        "Hint: wait for it to finish, or choose another output path.\n"
    )
    time.sleep(FIRST_EPOCHS)  # a few epochs, so there are best weights to keep
    code, err = _interrupt(first)
    assert code == 130, err
    assert nncli.load(tmp_path / "m.nncli").card.model == "mlp"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.nncli"]  # no lock or temp left


def test_a_file_that_appears_meanwhile_is_not_overwritten(tmp_path):
    """Another program creates the output while nncli trains: nncli does not replace it."""
    proc = _start(["train", PHYSICS, *LONG_MLP, "-o", "m.nncli"], tmp_path)
    # the schema line comes after the output's check at the start (the lock alone comes
    # before it: a file created then is refused at once, exit 2, as CI once saw)
    assert proc.stderr.readline().startswith("target 'label'")
    (tmp_path / "m.nncli").write_text("someone else's\n")
    time.sleep(FIRST_EPOCHS)
    code, err = _interrupt(proc)
    assert code == 1, err
    assert err.splitlines()[-2:] == [
        "Error: m.nncli already exists (created by another process while nncli was "
        "working?); it was left as it is",
        "Hint: choose another output path, or overwrite it (--force; overwrite=True in Python).",
    ]
    assert (tmp_path / "m.nncli").read_text() == "someone else's\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.nncli"]


def test_a_stale_lock_of_a_killed_process_is_taken_over(tmp_path):
    """flock locks end with their process: a lock file left by a process killed with
    SIGKILL (no clean-up ran) does not block the next run."""
    lock = tmp_path / ".m.nncli.lock"
    holder = _hold(lock)
    assert holder.stdout.readline() == "held\n"
    blocked = _run(["train", PHYSICS, "-m", "logreg", "-o", "m.nncli"], tmp_path)
    assert blocked.returncode == 1 and f"(pid {holder.pid})" in blocked.stderr
    holder.kill()
    holder.communicate()
    assert lock.exists()  # left behind, as after any crash
    done = _run(["train", PHYSICS, "-m", "logreg", "-o", "m.nncli"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.nncli"]


def test_two_compares_writing_one_run_folder(tmp_path):
    """--out is held for the whole run: the second compare stops at once, even with
    --force, and the folder holds one run's files only."""
    log = tmp_path.parent / f"{tmp_path.name}.err"
    with open(log, "w") as err_file:
        first = subprocess.Popen(
            [sys.executable, "-m", "nncli", "compare", str(PHYSICS), "--models", "gbt,mlp",
             "--epochs", "100000", "--patience", "100000", "--bootstrap", "50", "--out", "run",
             "--report", "r.html"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=err_file,
            text=True, env=_env(), preexec_fn=interruptible)  # fmt: skip
    _wait_for(tmp_path / ".run.lock", first)
    for extra in ([], ["--force"]):
        second = _run(["compare", PHYSICS, "--models", "logreg", "--out", "run", *extra],
                      tmp_path)  # fmt: skip
        assert second.returncode == 1, second.stderr
        assert second.stderr.startswith(
            f"Error: run is being written by another nncli process (pid {first.pid})"
        )
    other = _run(["compare", PHYSICS, "--models", "logreg", "--report", "r.html"], tmp_path)
    assert other.returncode == 1 and "r.html is being written by another" in other.stderr
    deadline = time.time() + 60
    while "rough  gbt" not in log.read_text():  # gbt done: the MLP is training
        assert time.time() < deadline and first.poll() is None, log.read_text()
        time.sleep(0.1)
    time.sleep(1)
    first.send_signal(signal.SIGINT)
    finish(first, 60)
    assert first.returncode == 130, log.read_text()
    names = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert names == [
        "gbt.nncli",
        "oof_predictions.csv",
        "report.json",
        "test_predictions.csv",
        "train_predictions.csv",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "run"]


@pytest.mark.parametrize("command", ["predict", "report"])
def test_other_outputs_are_exclusive_too(tmp_path, command):
    """predict -o and report -o: a lock held by another process refuses the run."""
    lock = tmp_path / ".out.csv.lock"
    holder = _hold(lock)
    try:
        assert holder.stdout.readline() == "held\n"
        model = tmp_path / "m.nncli"
        nncli.train(PHYSICS, model="logreg").save(model)
        args = ["predict", model, PHYSICS] if command == "predict" else ["report", tmp_path]
        result = _run([*args, "-o", "out.csv"], tmp_path)
        assert result.returncode == 1, result.stderr
        assert f"out.csv is being written by another nncli process (pid {holder.pid})" in (
            result.stderr
        )
        assert not (tmp_path / "out.csv").exists()
    finally:
        holder.kill()
        holder.communicate()


# ------------------------------------------------------ files that change while read


@pytest.fixture(scope="module")
def big_physics(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The physics sample's rows repeated to about 140 MB (a read of a second or so)."""
    lines = PHYSICS.read_text().splitlines(keepends=True)
    body = "".join(lines[1:])
    path = tmp_path_factory.mktemp("big") / "physics_big.csv"
    with path.open("w") as fh:
        fh.write(lines[0])
        for _ in range(450):
            fh.write(body)
    return path


def _open_by(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has ``path`` open, or mapped into memory."""
    target = str(path.resolve())
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                return True
        with open(f"/proc/{pid}/maps") as maps:
            return target in maps.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False


def _truncate_while_read(args: list[str], path: Path, cwd: Path) -> tuple[int, str]:
    """Run nncli; the moment it has ``path`` open, truncate the file to half its size."""
    copy = cwd / path.name
    copy.write_bytes(path.read_bytes())
    proc = _start([a if a != path else copy for a in args], cwd)
    deadline = time.time() + 60
    while not _open_by(proc.pid, copy):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.001)
    os.truncate(copy, copy.stat().st_size // 2)
    _, err = finish(proc, 120)
    return proc.returncode, err


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_file_truncated_while_inspect_reads_it(big_physics, tmp_path):
    """A memory-mapped read died of SIGBUS here (exit -7, no message)."""
    code, err = _truncate_while_read(["inspect", big_physics], big_physics, tmp_path)
    assert code == 1, err
    lines = err.splitlines()
    assert lines[0].startswith(f"Error: {tmp_path / big_physics.name} changed while it was read (")
    assert lines[1] == (
        "Hint: wait until the program writing it has finished, then run nncli again."
    )
    assert "Traceback" not in err and len(lines) == 2


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_file_truncated_while_predict_streams_it(big_physics, tmp_path):
    model = tmp_path / "m.nncli"
    nncli.train(PHYSICS, model="logreg").save(model)
    code, err = _truncate_while_read(["predict", model, big_physics, "-o", "p.csv"],
                                     big_physics, tmp_path)  # fmt: skip
    assert code == 1, err
    assert err.startswith(f"Error: {tmp_path / big_physics.name} changed while it was read (")
    assert not (tmp_path / "p.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.nncli", big_physics.name]
