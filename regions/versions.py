"""Item versions and the hybrid logical clock that issues them.

Invariant 2 (docs/architecture.md): every item and tombstone carries ``Version(hlc, origin)``.
The HLC is ``physical_ms << LOGICAL_BITS | counter``: it never runs backwards, it
advances on every local write (:meth:`HybridClock.tick`) and on every applied
remote version (:meth:`HybridClock.observe`), so a region that has seen a version
always issues larger ones afterwards.  Versions order lexicographically on
``(hlc, origin)``; origin names are distinct, so the order is total and identical
in every region, which is what makes last-writer-wins converge.

Not guaranteed: that the HLC matches wall time.  A region whose wall clock runs
ahead makes everybody's HLC run ahead after they observe it (bounded by the skew).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["LOGICAL_BITS", "HybridClock", "Version", "physical_ms", "wall_ms"]

#: low bits of an HLC hold the logical counter; 16 bits allow 65 536 events per ms
LOGICAL_BITS = 16
_LOGICAL_MASK = (1 << LOGICAL_BITS) - 1


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def physical_ms(hlc: int) -> int:
    """The wall-clock part of an HLC, in ms since the epoch (used for lag)."""
    return hlc >> LOGICAL_BITS


@dataclass(frozen=True, order=True, slots=True)
class Version:
    """Field order is the comparison order: hlc first, then origin as tie-break."""

    hlc: int
    origin: str

    def __str__(self) -> str:
        return f"{self.hlc}@{self.origin}"


class HybridClock:
    """Thread-safe hybrid logical clock with an injectable wall clock (for skew tests)."""

    def __init__(self, now_ms: Callable[[], int] = wall_ms) -> None:
        self._now_ms = now_ms
        self._last = 0
        self._lock = threading.Lock()

    def tick(self) -> int:
        """A new HLC for a local event, greater than every HLC seen so far."""
        with self._lock:
            candidate = self._now_ms() << LOGICAL_BITS
            self._last = candidate if candidate > self._last else self._last + 1
            return self._last

    def observe(self, remote_hlc: int) -> None:
        """Fold a remote HLC in, so later local versions are newer than it."""
        with self._lock:
            if remote_hlc > self._last:
                self._last = remote_hlc

    def peek(self) -> int:
        with self._lock:
            return self._last
