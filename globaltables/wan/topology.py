"""Round trips between regions: the table the WAN injector delays traffic by.

The figures are typical public-internet/AWS backbone round trips between the three
regions the project names after (issue #18): us-east-1 <-> eu-west-1 about 70-80 ms,
us-east-1 <-> ap-southeast-2 about 200-230 ms, eu-west-1 <-> ap-southeast-2 a little
more.  Each direction of a link gets half the round trip, and every delayed unit
(a chunk of an HTTP stream, a Kafka frame) draws its own jitter, uniform within
``±jitter`` of that half, as Toxiproxy's latency toxic does.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["LAN", "REALISTIC", "REALISTIC_RTT_MS", "WanProfile"]

#: round trip in ms per pair of regions (issue #18's figures)
REALISTIC_RTT_MS: dict[frozenset[str], float] = {
    frozenset(("us-east-1", "eu-west-1")): 75.0,
    frozenset(("us-east-1", "ap-southeast-2")): 215.0,
    frozenset(("eu-west-1", "ap-southeast-2")): 230.0,
}


@dataclass(frozen=True)
class WanProfile:
    """Round trip per unordered pair of regions, and the jitter fraction."""

    name: str
    rtt_ms: Mapping[frozenset[str], float] = field(default_factory=dict)
    #: each delay is one way x (1 + U(-jitter, +jitter))
    jitter: float = 0.1
    #: the round trip of a pair the table does not name
    default_rtt_ms: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError(f"jitter {self.jitter} is not a fraction in [0, 1)")
        bad = [(sorted(p), v) for p, v in self.rtt_ms.items() if len(p) != 2 or v < 0]
        if bad or self.default_rtt_ms < 0:
            raise ValueError(f"round trips need two distinct regions and ms >= 0: {bad}")

    @classmethod
    def of(
        cls, name: str, pairs: Iterable[tuple[str, str, float]], jitter: float = 0.1
    ) -> WanProfile:
        return cls(name, {frozenset((a, b)): float(ms) for a, b, ms in pairs}, jitter)

    def rtt(self, a: str, b: str) -> float:
        """The configured round trip between ``a`` and ``b`` in ms (0 within a region)."""
        if a == b:
            return 0.0
        return float(self.rtt_ms.get(frozenset((a, b)), self.default_rtt_ms))

    def one_way_s(self, a: str, b: str) -> float:
        """Half the round trip, in seconds, without jitter."""
        return self.rtt(a, b) / 2000.0

    def sample_s(self, a: str, b: str, rng: random.Random) -> float:
        """One direction's delay for one unit, with jitter."""
        base = self.one_way_s(a, b)
        if base <= 0.0 or self.jitter <= 0.0:
            return base
        return base * (1.0 + rng.uniform(-self.jitter, self.jitter))

    @property
    def is_zero(self) -> bool:
        return self.default_rtt_ms == 0 and not any(self.rtt_ms.values())

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "pairs": [[*sorted(p), ms] for p, ms in self.rtt_ms.items()],
            "jitter": self.jitter,
            "default_rtt_ms": self.default_rtt_ms,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, object]) -> WanProfile:
        pairs = doc.get("pairs") or []
        assert isinstance(pairs, list)
        return cls(
            str(doc["name"]),
            {frozenset((str(a), str(b))): float(ms) for a, b, ms in pairs},
            float(doc.get("jitter", 0.1)),  # type: ignore[arg-type]
            float(doc.get("default_rtt_ms", 0.0)),  # type: ignore[arg-type]
        )


#: issue #18's table, ±10 % jitter
REALISTIC = WanProfile("wan", REALISTIC_RTT_MS, jitter=0.1)
#: the same links with no delay: the baseline a WAN run is compared with
LAN = WanProfile("lan", {}, jitter=0.0)
