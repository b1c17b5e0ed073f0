"""What a region counts, in one place: its writes, and what became of remote changes.

Three readers used to keep their own copies of the same facts (the region, the
batch it had just applied, the applier's per-source counts).  Now a remote change's
fate is one of the :data:`OUTCOMES` below, and every count of them is an
:class:`ApplyCounts`: the region's running total, one ``apply_remote`` call's
result, the applier's total and its count per source region.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

__all__ = [
    "APPLIED",
    "DUPLICATE",
    "LOST",
    "OUTCOMES",
    "REJECTED",
    "SKIPPED",
    "ApplyCounts",
    "RegionCounters",
]

#: what ``apply_remote`` did with one record: written (it won LWW) ...
APPLIED = "applied"
#: ... discarded by LWW (an older version; logged in the conflict log) ...
LOST = "lost"
#: ... an equal version: Kafka's at-least-once redelivery, a no-op ...
DUPLICATE = "duplicate"
#: ... for a table this region does not replicate, or this region's own echo ...
SKIPPED = "skipped"
#: ... or refused by the checks of invariant 9 (regions/remote_check.py)
REJECTED = "rejected"
OUTCOMES = (APPLIED, LOST, DUPLICATE, SKIPPED, REJECTED)

#: outcome -> the ApplyCounts field it counts in
_FIELD = {
    APPLIED: "applied",
    LOST: "lost",
    DUPLICATE: "duplicates",
    SKIPPED: "skipped",
    REJECTED: "rejected",
}


@dataclass
class ApplyCounts:
    """Remote changes by outcome (and, for the applier, how many it quarantined)."""

    applied: int = 0
    #: older than the stored version: LWW discarded them
    lost: int = 0
    #: equal versions (redeliveries)
    duplicates: int = 0
    #: tables this region does not replicate
    skipped: int = 0
    #: refused by the checks of invariant 9
    rejected: int = 0
    #: put aside by the applier (replicator/quarantine.py), whatever the reason
    quarantined: int = 0

    def count(self, outcome: str, n: int = 1) -> None:
        name = _FIELD[outcome]
        setattr(self, name, getattr(self, name) + n)

    def add(self, other: ApplyCounts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass
class RegionCounters:
    """One region process's running totals since it started."""

    #: local writes that changed an item (each made one change record)
    writes: int = 0
    #: local writes that changed nothing (no change record, as in DynamoDB Streams)
    noop_writes: int = 0
    #: every ``apply_remote`` call's outcomes, added up
    remote: ApplyCounts = field(default_factory=ApplyCounts)
