"""How many CPU cores a fit should use: the ones not busy with other work.

OpenMP threads (LightGBM's, torch's) that wait for a core another process holds spin
and slow the whole fit many-fold; on a shared machine, a laptop or a CI runner a fit
that uses only the idle cores is faster than one that fights for all of them. The
idle share is read from /proc/stat over a tenth of a second and kept for a while, so
a comparison of many models measures it rarely. ``--threads N`` overrides it.
"""

from __future__ import annotations

import os
import time

#: how long a measurement is trusted, in seconds
KEEP_S = 10.0
_last: tuple[float, int] | None = None


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _cpu_times() -> tuple[int, int] | None:
    """(idle, total) jiffies of all cores, or None without /proc/stat."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return fields[3] + (fields[4] if len(fields) > 4 else 0), sum(fields[:8])


def _own_jiffies() -> int:
    """CPU time of this process (all its threads), in the same ticks as /proc/stat."""
    try:
        with open("/proc/self/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, ValueError, IndexError):
        return 0


def free_cores(interval: float = 0.05) -> int:
    """Usable cores that were idle over ``interval`` seconds, or busy with this very
    process (its OpenMP threads may still spin after a fit): rounded, at least 1."""
    global _last
    now = time.monotonic()
    if _last is not None and now - _last[0] < KEEP_S:
        return _last[1]
    cores = usable_cores()
    first, own = _cpu_times(), _own_jiffies()
    if first is None:
        return cores
    time.sleep(interval)
    second = _cpu_times()
    assert second is not None
    own = _own_jiffies() - own
    total = second[1] - first[1]
    idle_share = (second[0] - first[0] + own) / total if total > 0 else 1.0
    machine = os.cpu_count() or cores
    free = min(cores, max(1, round(idle_share * machine)))
    _last = (now, free)
    return free


def threads_for_fit(requested: int | None) -> int:
    """--threads when given, else the cores free now."""
    return requested if requested else free_cores()
