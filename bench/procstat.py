"""CPU time of processes and of the machine, straight from Linux's ``/proc``.

Why not psutil: the benchmark modules are imported by the test suite and type-checked by
``make lint``, which run with the ``dev`` extra only; reading ``/proc`` needs nothing.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["cpu_count", "machine_times", "memory_gib", "process_cpu", "tree"]

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name is in parentheses and may contain spaces: split after the last ')'
    return raw.rsplit(")", 1)[1].split()


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` (all its threads), None if it is gone."""
    f = _stat_fields(pid)
    if f is None:
        return None
    # fields after the name: state(0) ppid(1) ... utime(11) stime(12)
    return (int(f[11]) + int(f[12])) / _TICK


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants that are alive now."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        f = _stat_fields(int(entry.name))
        if f is not None:
            children.setdefault(int(f[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p in out:
            continue
        out.append(p)
        todo.extend(children.get(p, []))
    return out if _stat_fields(pid) is not None else []


def machine_times() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot (``/proc/stat``)."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    values = [int(v) for v in first[1:9]]
    total = sum(values)
    idle = values[3] + values[4]
    return (total - idle) / _TICK, total / _TICK


def cpu_count() -> int:
    with contextlib.suppress(AttributeError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 2**20, 1)
    return 0.0
