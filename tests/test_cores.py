"""Thread counts from the cores that are free: one busy core is left to its owner."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nncli import cores


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(cores, "_last", None)
    monkeypatch.setattr(cores.time, "sleep", lambda s: None)
    monkeypatch.setattr(cores.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(cores, "usable_cores", lambda: 4)
    monkeypatch.setattr(cores, "_own_jiffies", lambda: 0)
    yield


def readings(monkeypatch: pytest.MonkeyPatch, idle: int, total: int) -> None:
    """/proc/stat as two readings ``total`` jiffies apart, ``idle`` of them idle."""
    values = iter([(1000, 5000), (1000 + idle, 5000 + total)])
    monkeypatch.setattr(cores, "_cpu_times", lambda: next(values))


@pytest.mark.parametrize(("idle", "expected"), [(400, 4), (300, 3), (100, 1), (0, 1), (220, 2)])
def test_free_cores_follow_the_idle_share(
    idle: int, expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    readings(monkeypatch, idle, 400)  # 4 cores × 100 jiffies
    assert cores.free_cores() == expected


def test_a_measurement_is_kept_for_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    readings(monkeypatch, 100, 400)
    assert cores.free_cores() == 1
    assert cores.free_cores() == 1  # no second measurement (the readings are used up)


def test_without_proc_stat_every_usable_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cores, "_cpu_times", lambda: None)
    assert cores.free_cores() == 4


def test_threads_option_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    readings(monkeypatch, 0, 400)
    assert cores.threads_for_fit(3) == 3
    assert cores.threads_for_fit(None) == 1


def test_the_real_machine_gives_a_sensible_count() -> None:
    cores._last = None
    n = cores.free_cores()
    assert 1 <= n <= (cores.os.cpu_count() or 1)


def test_this_process_own_spinning_threads_do_not_count(monkeypatch: pytest.MonkeyPatch) -> None:
    readings(monkeypatch, 100, 400)  # 3 of 4 cores busy ...
    own = iter([500, 700])  # ... 2 of them with this process's threads
    monkeypatch.setattr(cores, "_own_jiffies", lambda: next(own))
    assert cores.free_cores() == 3
