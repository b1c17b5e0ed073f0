"""Request counters kept by the API edge (exported by /metrics in a later step)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

__all__ = ["RequestStats"]


@dataclass
class RequestStats:
    count: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def observe(self, op: str, status: int, seconds: float) -> None:
        self.count[(op, status)] += 1
        self.seconds[op] += seconds

    def snapshot(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = defaultdict(dict)
        for (op, status), n in self.count.items():
            out[op][str(status)] = n
        return dict(out)
