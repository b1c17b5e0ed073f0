"""What the convergence verifier keeps between requests, per region: a field of the
Region (``region.verification``), so two regions in one process never share it."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from regions.verification import TableTree

__all__ = ["VerificationCache"]


@dataclass
class VerificationCache:
    #: one rebuild at a time per table (concurrent ones would be correct, only wasteful)
    rebuilding: dict[int, asyncio.Lock] = field(default_factory=dict)
    #: trees recently built, by snapshot token: a verifier walks one region's tree
    #: level by level, and every level then comes from the same tree (consistent, and
    #: built once); a few dozen concurrent walks at most, ~90 KB each
    snapshots: OrderedDict[str, TableTree] = field(default_factory=OrderedDict)
