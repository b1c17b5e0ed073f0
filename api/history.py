"""The last few minutes of a region's write rate and replication lag, once a second.

The dashboard draws its charts from these samples, so a page opened (or reloaded)
now shows the last minutes at once instead of starting from an empty chart.  The
samples live in memory only: Prometheus is the place for long-term history.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass

from regions.region import Region
from replicator.runner import Replicator

__all__ = ["History", "Sample"]


@dataclass(frozen=True)
class Sample:
    #: this region's wall clock, ms
    t_ms: int
    writes_per_s: float
    #: per source region: the highest lag applied during the interval, None if
    #: nothing from that source was applied in it
    lag_ms: dict[str, float | None]


class History:
    def __init__(
        self,
        region: Region,
        replicator: Replicator | None,
        interval_s: float = 1.0,
        keep_s: float = 300.0,
    ) -> None:
        self.region = region
        self.replicator = replicator
        self.interval_s = interval_s
        self.keep_s = keep_s
        self._samples: deque[Sample] = deque(maxlen=max(1, int(keep_s / interval_s)))
        self._last_writes = region.write_counts()[0]
        self._last_t = time.monotonic()

    async def run(self) -> None:
        """Sample until cancelled (a task of the app's lifespan)."""
        while True:
            await asyncio.sleep(self.interval_s)
            self.sample()

    def sample(self) -> Sample:
        now = time.monotonic()
        writes = self.region.write_counts()[0]
        elapsed = max(now - self._last_t, 1e-6)
        rate = max(writes - self._last_writes, 0) / elapsed
        self._last_writes, self._last_t = writes, now
        lag: dict[str, float | None] = {}
        if self.replicator is not None:
            tracker = self.replicator.lag
            lag = {src: tracker.take_window_max(src) for src in self.replicator.applier.sources}
        s = Sample(t_ms=int(time.time() * 1000), writes_per_s=round(rate, 3), lag_ms=lag)
        self._samples.append(s)
        return s

    def last(self, seconds: float) -> list[Sample]:
        """Samples of the last ``seconds`` (at most :attr:`keep_s`), oldest first."""
        if seconds <= 0 or not self._samples:
            return []
        cutoff = time.time() * 1000 - min(seconds, self.keep_s) * 1000
        return [s for s in self._samples if s.t_ms > cutoff]
