"""The quarantine: remote records set aside instead of applied (invariant 9).

A record read from Kafka that fails its signature, its format or its table's
checks, or whose apply raises on its own, goes here with where it came from
(source region, topic, partition, offset), why (a stable reason code and a
detail) and its exact bytes (key, value, headers).  The applier then commits past
it, so one bad record never holds up the records behind it, other tables or other
sources.  Entries are durable before the offset that skips them is committed.

Each entry is logged once, when it is put aside.  Operators list, show, replay or
drop entries (``globaltables quarantine``, ``/v1/quarantine``, admin only: entries
hold item data).  A replay runs every check again with the keys and clock of now,
so a record refused for a clock ahead or an unknown table can be applied later;
a forged one stays refused.  Public status gets counts only.
"""

from __future__ import annotations

import base64
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import orjson

from regions.changes import InvalidRecord
from regions.counters import APPLIED, REJECTED
from regions.region import Region
from regions.versions import wall_ms
from replicator.record_auth import Headers, ReplicationKeys, open_record

__all__ = ["APPLY_ERROR", "MAX_KEPT_BYTES", "Quarantine", "Suspect"]

log = logging.getLogger("globaltables.quarantine")

#: the reason of a record whose apply raised while the store answered other work
APPLY_ERROR = "apply-error"
#: bytes of a message value kept (Kafka's fetch allows up to 4 MB per partition)
MAX_KEPT_BYTES = 1 << 20
#: how long an entry counts as "recent" for readiness (Replicator.problems)
RECENT_S = 300.0


@dataclass(frozen=True)
class Suspect:
    """One Kafka message that was not applied, and why."""

    source: str
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    reason: str
    detail: str


def _table_of(value: bytes | None) -> str | None:
    """The table a message names, when it says so readably (for filters)."""
    if not value:
        return None
    try:
        body = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    table = body.get("table") if isinstance(body, dict) else None
    return table[:255] if isinstance(table, str) else None


def _headers_json(headers: Headers) -> str:
    return orjson.dumps(
        [[str(n)[:255], base64.b64encode(v or b"").decode()] for n, v in (headers or ())]
    ).decode()


def _headers_back(text: str) -> list[tuple[str, bytes]]:
    return [(str(n), base64.b64decode(v)) for n, v in orjson.loads(text)]


class Quarantine:
    def __init__(self, region: Region, keys: ReplicationKeys) -> None:
        self.region = region
        self.keys = keys
        #: entries put aside since start, per (source, reason): /metrics' counter
        self.counts: dict[tuple[str, str], int] = {}
        self._recent: deque[float] = deque()

    async def put(self, suspects: list[Suspect]) -> None:
        """Keep ``suspects`` durably (one transaction), logging each once."""
        if not suspects:
            return
        now = wall_ms()
        rows: list[dict[str, Any]] = []
        for s in suspects:
            value = s.value
            detail = s.detail
            if value is not None and len(value) > MAX_KEPT_BYTES:
                detail += f" (value of {len(value)} bytes cut to {MAX_KEPT_BYTES})"
                value = value[:MAX_KEPT_BYTES]
            rows.append(
                {
                    "at_ms": now,
                    "source": s.source[:64],
                    "topic": s.topic[:255],
                    "kafka_partition": s.partition,
                    "kafka_offset": s.offset,
                    "reason": s.reason[:32],
                    "detail": detail[:2000],
                    "table_name": _table_of(s.value),
                    "msg_key": s.key[:MAX_KEPT_BYTES] if s.key is not None else None,
                    "msg_value": value,
                    "headers": _headers_json(s.headers),
                }
            )
        async with self.region.store.write() as tx:
            await tx.quarantine_put(rows)
        t = time.monotonic()
        for s in suspects:
            key = (s.source, s.reason)
            self.counts[key] = self.counts.get(key, 0) + 1
            self._recent.append(t)
            log.error(
                "quarantined %s[%d]@%d from %s: %s: %s",
                s.topic,
                s.partition,
                s.offset,
                s.source,
                s.reason,
                s.detail,
            )

    def recent(self, window_s: float = RECENT_S) -> int:
        """Entries put aside in the last ``window_s`` seconds."""
        cutoff = time.monotonic() - window_s
        while self._recent and self._recent[0] < cutoff:
            self._recent.popleft()
        return len(self._recent)

    async def held(self) -> dict[str, Any]:
        """What the quarantine holds, as counts only (public status)."""
        async with self.region.store.read() as tx:
            rows = await tx.quarantine_counts()
        by_reason: dict[str, int] = {}
        by_source: dict[str, int] = {}
        for source, reason, n in rows:
            by_reason[reason] = by_reason.get(reason, 0) + n
            by_source[source] = by_source.get(source, 0) + n
        return {
            "held": sum(by_reason.values()),
            "by_reason": by_reason,
            "by_source": by_source,
            "recent": self.recent(),
        }

    async def entries(self, limit: int = 100, before_id: int | None = None) -> list[dict[str, Any]]:
        async with self.region.store.read() as tx:
            rows = await tx.quarantined(limit=limit, before_id=before_id)
        return [_entry(r) for r in rows]

    async def entry(self, qid: int) -> dict[str, Any] | None:
        """One entry with its bytes (base64) and, when it parses, the value as JSON."""
        async with self.region.store.read() as tx:
            row = await tx.quarantined_one(qid)
        if row is None:
            return None
        out = _entry(row)
        value = row["msg_value"]
        out["key_base64"] = base64.b64encode(row["msg_key"]).decode() if row["msg_key"] else None
        out["value_base64"] = base64.b64encode(value).decode() if value is not None else None
        try:
            out["value"] = orjson.loads(value) if value else None
        except orjson.JSONDecodeError:
            out["value"] = None
        out["headers"] = [
            [n, base64.b64encode(v).decode()] for n, v in _headers_back(row["headers"])
        ]
        return out

    async def drop(self, qid: int) -> bool:
        async with self.region.store.write() as tx:
            return await tx.quarantine_drop(qid)

    async def replay(self, qid: int) -> dict[str, Any] | None:
        """Run an entry through every check again and apply it if it passes.

        Returns None for an unknown id, else ``{"outcome": ...}``: the apply's
        outcome (applied, duplicate, lost, skipped: the entry is then removed) or
        ``rejected`` with the reason of now (the entry stays, with that reason)."""
        async with self.region.store.read() as tx:
            row = await tx.quarantined_one(qid)
        if row is None:
            return None
        try:
            record = open_record(
                self.keys,
                row["source"],
                row["msg_key"],
                row["msg_value"],
                _headers_back(row["headers"]),
            )
            outcomes: list[str] = []
            rejected: dict[int, InvalidRecord] = {}
            await self.region.data.apply_remote([record], outcomes=outcomes, rejected=rejected)
            if rejected:
                raise rejected[0]
        except InvalidRecord as exc:
            async with self.region.store.write() as tx:
                await tx.quarantine_update(qid, exc.reason, exc.detail)
            return {"id": qid, "outcome": REJECTED, "reason": exc.reason, "detail": exc.detail}
        await self.drop(qid)
        outcome = outcomes[0]
        log.info("quarantine entry %d replayed: %s", qid, outcome)
        return {"id": qid, "outcome": outcome, "applied": outcome == APPLIED}


def _entry(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        "at_ms": int(row["at_ms"]),
        "source": row["source"],
        "topic": row["topic"],
        "partition": int(row["kafka_partition"]),
        "offset": int(row["kafka_offset"]),
        "reason": row["reason"],
        "detail": row["detail"],
        "table": row["table_name"],
    }
