"""Convergence verifier: compare the replicas of a table, list and repair what differs.

Invariant 8: once writes stop and replication has caught up, every replica holds
the same live items, byte for byte after canonical encoding (and, here, under the
same versions).  Each region keeps a hash tree over its rows, keyed by a hash of
the item key so that regions with different partition counts build the same tree
(``regions/verify_tree.py``).  The verifier:

1. asks every replica for the root; equal roots end the comparison (identical
   replicas exchange a few hundred bytes, whatever their size);
2. walks down (fan-out 16) only where the replicas' hashes differ;
3. fetches the rows of the differing leaf buckets from every replica (items AND
   tombstones, with versions) and compares them key by key;
4. with repair, pushes each differing key's last-writer-wins winner to every
   replica holding an older version (or nothing) through the rows endpoint,
   where ``DataPlane.apply_remote`` applies it with LWW (idempotent, never
   overwrites a newer version).

The comparison and the repair plan are pure functions of the fetched data; all
HTTP is in :class:`HttpReplica`.  docs/verify.md has the user's view.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import orjson

from regions.changes import INSERT, REMOVE, ChangeRecord
from regions.types import Item
from regions.verify_tree import LEAF_DEPTH, bucket_of, child_ids, format_ids
from regions.versions import Version

__all__ = [
    "HttpReplica",
    "KeyDiff",
    "PushResult",
    "RepairOutcome",
    "RepairPlan",
    "ReplicaSource",
    "Row",
    "RowState",
    "RowsPage",
    "TableInfo",
    "TableReport",
    "TreeLevel",
    "VerifyError",
    "diff_rows",
    "differing",
    "plan_repair",
    "repair_table",
    "verify_table",
]

#: (stage, done, total): "tree" counts levels, "rows" counts rows scanned,
#: "repair" counts rows pushed
Progress = Callable[[str, int, int], None]

#: records per repair request (the rows endpoint applies one batch per transaction)
PUSH_BATCH = 500


class VerifyError(Exception):
    """The comparison could not be made (a region unreachable, a table missing or
    a different table of the same name); not a difference between replicas."""


# ---------------------------------------------------------------------------- data


@dataclass(frozen=True)
class TableInfo:
    name: str
    table_id: str
    replicas: tuple[str, ...]
    partitions: int


@dataclass(frozen=True)
class TreeLevel:
    """One replica's hashes of the requested nodes at one depth."""

    region: str
    info: TableInfo
    #: live items in the table
    count: int
    #: node id -> hash (hex)
    hashes: dict[int, str]
    #: node id -> live items under it
    counts: dict[int, int]
    #: the region's name for the tree these hashes come from: the walk asks for the
    #: next levels of that same tree
    snapshot: str | None = None


@dataclass(frozen=True, slots=True)
class RowState:
    """A stored row: an item (canonical bytes) or a tombstone (``data`` None)."""

    version: Version
    data: bytes | None

    @property
    def is_tombstone(self) -> bool:
        return self.data is None


@dataclass(frozen=True, slots=True)
class Row:
    hk: bytes
    rk: bytes
    key: Item
    state: RowState


@dataclass(frozen=True)
class RowsPage:
    rows: list[Row]
    next: str | None
    scanned: int
    #: rows (items and tombstones) in the table, on the first page
    total: int | None


@dataclass(frozen=True)
class PushResult:
    applied: int
    skipped: int
    #: records that lost LWW at the replica (a newer write got there first)
    lost: int


def _live(state: RowState | None) -> tuple[Version, bytes] | None:
    """What a reader sees: an item with its version, or nothing."""
    if state is None or state.data is None:
        return None
    return state.version, state.data


@dataclass(frozen=True)
class KeyDiff:
    """One key whose live item differs between replicas, with every replica's row."""

    hk: bytes
    rk: bytes
    key: Item
    #: region -> its row, None when it holds no row at all for the key
    states: dict[str, RowState | None]

    @property
    def winner(self) -> RowState | None:
        """The last-writer-wins row (highest version; a tombstone counts with its
        version), or None when replicas hold different rows under that same version
        (LWW cannot choose; never happens without corruption)."""
        rows = [s for s in self.states.values() if s is not None]
        top = max(s.version for s in rows)
        tied = {s for s in rows if s.version == top}
        return next(iter(tied)) if len(tied) == 1 else None

    def behind(self) -> list[str]:
        """Replicas that need the winner: no row, or an older version."""
        win = self.winner
        if win is None:
            return []
        return sorted(
            name for name, s in self.states.items() if s is None or s.version < win.version
        )


@dataclass
class TableReport:
    table: str
    table_id: str
    regions: list[str]
    #: region -> live items
    counts: dict[str, int]
    root: dict[str, str]
    #: leaf buckets whose hashes differed
    buckets: list[int] = field(default_factory=list)
    diffs: list[KeyDiff] = field(default_factory=list)
    #: differing buckets in which no key differed when their rows were read: the
    #: rows changed between the two reads (writes still arriving)
    settled: list[int] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.diffs


@dataclass(frozen=True)
class RepairPlan:
    #: region -> records to apply there
    pushes: dict[str, list[ChangeRecord]]
    #: keys LWW cannot decide (different rows under one version)
    undecidable: list[KeyDiff]


@dataclass
class RepairOutcome:
    pushed: dict[str, int] = field(default_factory=dict)
    applied: dict[str, int] = field(default_factory=dict)
    #: records a replica did not apply (a newer write arrived meanwhile, or the
    #: replica does not replicate that table)
    not_applied: dict[str, int] = field(default_factory=dict)
    undecidable: list[KeyDiff] = field(default_factory=list)


# ---------------------------------------------------------------------------- pure


def differing(levels: Mapping[str, Mapping[int, str]], ids: Iterable[int]) -> list[int]:
    """Node ids whose hash is not the same in every replica (missing = different)."""
    out = []
    for i in ids:
        seen = {level.get(i) for level in levels.values()}
        if len(seen) != 1 or None in seen:
            out.append(i)
    return out


def diff_rows(rows: Mapping[str, Iterable[Row]]) -> list[KeyDiff]:
    """Keys whose live item (version and canonical bytes) is not the same in every
    replica, in key order.  Tombstone-only differences (one replica GC'd its
    tombstone, another not yet) are not differences: no reader can tell."""
    by_key: dict[tuple[bytes, bytes], dict[str, RowState]] = {}
    keys: dict[tuple[bytes, bytes], Item] = {}
    for region, region_rows in rows.items():
        for r in region_rows:
            by_key.setdefault((r.hk, r.rk), {})[region] = r.state
            keys.setdefault((r.hk, r.rk), r.key)
    out: list[KeyDiff] = []
    for k in sorted(by_key):
        states: dict[str, RowState | None] = {region: by_key[k].get(region) for region in rows}
        if len({_live(s) for s in states.values()}) > 1:
            out.append(KeyDiff(k[0], k[1], keys[k], states))
    return out


def plan_repair(table: str, table_id: str, diffs: Iterable[KeyDiff]) -> RepairPlan:
    """For every differing key, the LWW winner goes to every replica behind it.

    A tombstone is pushed like an item: a replica that still shows an item older
    than a delete deletes it, and one that holds nothing keeps the tombstone, so a
    late older write cannot bring the item back.  A key that only one replica still
    has, with no newer tombstone anywhere, is copied to the others: after the
    tombstone horizon a missed insert and a missed delete look the same, and a
    replica offline that long must be re-seeded (invariant 4).
    """
    pushes: dict[str, list[ChangeRecord]] = {}
    undecidable: list[KeyDiff] = []
    for d in diffs:
        win = d.winner
        if win is None:
            undecidable.append(d)
            continue
        record = ChangeRecord(
            table=table,
            table_id=table_id,
            event=REMOVE if win.data is None else INSERT,
            keys=d.key,
            new_image=orjson.loads(win.data) if win.data is not None else None,
            old_image=None,
            version=win.version,
        )
        for region in d.behind():
            pushes.setdefault(region, []).append(record)
    return RepairPlan(pushes, undecidable)


# ---------------------------------------------------------------------------- I/O


class ReplicaSource(Protocol):
    """One replica as the verifier sees it (HTTP in production, in memory in tests)."""

    name: str

    async def tables(self) -> dict[str, TableInfo]: ...

    async def tree(
        self, table: str, depth: int, ids: Sequence[int] | None, snapshot: str | None = None
    ) -> TreeLevel: ...

    async def buckets(self, table: str, ids: Sequence[int], after: str | None) -> RowsPage: ...

    async def push(self, table: str, records: Sequence[ChangeRecord]) -> PushResult: ...

    async def rehash(self, table: str) -> int: ...


class HttpReplica:
    """A region's verify and rows endpoints over HTTP.

    Every request goes through :meth:`_request`, on the caller's client: the CLI
    gives it one that signs with SigV4 (``replicator/signing.py``, credentials from
    the usual AWS chain), and the regions accept only their admin key there.
    """

    def __init__(self, name: str | None, url: str, client: httpx.AsyncClient) -> None:
        #: the region's name; None until the region has told us (``tables()``)
        self.name = name or ""
        self.url = url.rstrip("/")
        self._client = client

    async def _request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        content: bytes | None = None,
    ) -> Any:
        where = self.name or self.url
        try:
            resp = await self._client.request(
                method, f"{self.url}{path}", params=params, content=content
            )
        except httpx.HTTPError as exc:
            raise VerifyError(
                f"{where} is unreachable at {self.url}: {exc.__class__.__name__} {exc}".rstrip()
            ) from None
        if resp.status_code >= 400:
            try:
                err = resp.json()
                message = str(err.get("message") or err.get("Message") or resp.text)
            except ValueError:
                message = resp.text
            raise VerifyError(f"{where} refused {method} {path}: {message}")
        return orjson.loads(resp.content)

    async def tables(self) -> dict[str, TableInfo]:
        body = await self._request("GET", "/v1/internal/verify/tables")
        region = str(body["region"])
        if self.name and self.name != region:
            raise VerifyError(f"{self.url} is region {region}, not {self.name}")
        self.name = region
        return {t["name"]: _info(t) for t in body["tables"]}

    async def tree(
        self, table: str, depth: int, ids: Sequence[int] | None, snapshot: str | None = None
    ) -> TreeLevel:
        params: dict[str, Any] = {"depth": depth}
        if ids is not None:
            params["ids"] = format_ids(ids)
        if snapshot is not None:
            params["snapshot"] = snapshot
        body = await self._request("GET", f"/v1/internal/verify/{table}/tree", params)
        return TreeLevel(
            region=str(body["region"]),
            info=_info({**body, "name": body["table"]}),
            count=int(body["count"]),
            hashes={int(i): str(h) for i, h, _ in body["nodes"]},
            counts={int(i): int(c) for i, _, c in body["nodes"]},
            snapshot=body.get("snapshot"),
        )

    async def buckets(self, table: str, ids: Sequence[int], after: str | None) -> RowsPage:
        params: dict[str, Any] = {"ids": format_ids(ids)}
        if after is not None:
            params["after"] = after
        body = await self._request("GET", f"/v1/internal/verify/{table}/buckets", params)
        b64 = base64.b64decode
        rows = [
            Row(
                hk=b64(r["hk"]),
                rk=b64(r["rk"]),
                key=r["key"],
                state=RowState(
                    Version(int(r["hlc"]), str(r["origin"])),
                    r["data"].encode() if r["data"] is not None else None,
                ),
            )
            for r in body["rows"]
        ]
        return RowsPage(rows, body["next"], int(body["scanned"]), body["total"])

    async def push(self, table: str, records: Sequence[ChangeRecord]) -> PushResult:
        body = b"[" + b",".join(r.encode() for r in records) + b"]"
        # repair=true: a region may take back a version it originated and lost
        out = await self._request(
            "POST", f"/v1/internal/tables/{table}/rows", {"repair": "true"}, body
        )
        return PushResult(int(out["applied"]), int(out["skipped"]), int(out.get("lost", 0)))

    async def rehash(self, table: str) -> int:
        out = await self._request("POST", f"/v1/internal/verify/{table}/rehash")
        return int(out["items"])


def _info(t: Mapping[str, Any]) -> TableInfo:
    return TableInfo(
        name=str(t["name"]),
        table_id=str(t["table_id"]),
        replicas=tuple(t.get("replicas", ())),
        partitions=int(t.get("partitions", 0)),
    )


async def _fetch_rows(
    source: ReplicaSource,
    table: str,
    buckets: Sequence[int],
    progress: Callable[[int, int | None], None],
) -> list[Row]:
    rows: list[Row] = []
    after: str | None = None
    while True:
        page = await source.buckets(table, buckets, after)
        rows.extend(page.rows)
        progress(page.scanned, page.total)
        if page.next is None:
            return rows
        after = page.next


async def verify_table(
    sources: Sequence[ReplicaSource], table: str, progress: Progress | None = None
) -> TableReport:
    """Compare ``table`` across ``sources`` (two or more replicas)."""
    if len(sources) < 2:
        raise VerifyError("verification needs at least two replicas")
    names = [s.name for s in sources]
    report_progress = progress or (lambda stage, done, total: None)

    snapshots: dict[str, str | None] = {}

    async def level(depth: int, ids: Sequence[int] | None) -> dict[str, TreeLevel]:
        got = await asyncio.gather(
            *(s.tree(table, depth, ids, snapshots.get(s.name)) for s in sources)
        )
        return dict(zip(names, got, strict=True))

    report_progress("tree", 0, LEAF_DEPTH + 1)
    top = await level(0, None)
    # every level below comes from the tree each region built for the root
    snapshots.update({n: lv.snapshot for n, lv in top.items()})
    ids_seen = {lv.info.table_id for lv in top.values()}
    if len(ids_seen) != 1:
        detail = ", ".join(f"{n}: {lv.info.table_id}" for n, lv in top.items())
        raise VerifyError(f"{table} is not one global table in these regions ({detail})")
    report = TableReport(
        table=table,
        table_id=ids_seen.pop(),
        regions=names,
        counts={n: lv.count for n, lv in top.items()},
        root={n: lv.hashes[0] for n, lv in top.items()},
    )
    wrong = differing({n: lv.hashes for n, lv in top.items()}, [0])
    depth = 0
    while wrong and depth < LEAF_DEPTH:
        depth += 1
        report_progress("tree", depth, LEAF_DEPTH + 1)
        ids = child_ids(wrong)
        levels = await level(depth, ids)
        wrong = differing({n: lv.hashes for n, lv in levels.items()}, ids)
    report_progress("tree", LEAF_DEPTH + 1, LEAF_DEPTH + 1)
    if not wrong:
        return report
    report.buckets = wrong

    # rows of the differing buckets, from every replica (tombstones too: they
    # decide the LWW winner)
    scanned: dict[str, int] = {}
    totals: dict[str, int] = {}

    def tick(name: str) -> Callable[[int, int | None], None]:
        def on_page(n: int, total: int | None) -> None:
            scanned[name] = scanned.get(name, 0) + n
            if total is not None:
                totals[name] = total
            report_progress("rows", sum(scanned.values()), max(1, sum(totals.values())))

        return on_page

    fetched = await asyncio.gather(*(_fetch_rows(s, table, wrong, tick(s.name)) for s in sources))
    rows = dict(zip(names, fetched, strict=True))
    report.diffs = diff_rows(rows)
    explained = {bucket_of(d.hk, d.rk) for d in report.diffs}
    report.settled = [b for b in wrong if b not in explained]
    return report


async def repair_table(
    sources: Sequence[ReplicaSource], report: TableReport, progress: Progress | None = None
) -> RepairOutcome:
    """Push every differing key's LWW winner to the replicas behind it."""
    plan = plan_repair(report.table, report.table_id, report.diffs)
    outcome = RepairOutcome(undecidable=plan.undecidable)
    by_name = {s.name: s for s in sources}
    total = sum(len(v) for v in plan.pushes.values())
    done = 0
    for region, records in sorted(plan.pushes.items()):
        source = by_name[region]
        for i in range(0, len(records), PUSH_BATCH):
            batch = records[i : i + PUSH_BATCH]
            result = await source.push(report.table, batch)
            outcome.pushed[region] = outcome.pushed.get(region, 0) + len(batch)
            outcome.applied[region] = outcome.applied.get(region, 0) + result.applied
            missed = len(batch) - result.applied
            if missed:
                outcome.not_applied[region] = outcome.not_applied.get(region, 0) + missed
            done += len(batch)
            if progress is not None:
                progress("repair", done, total)
    return outcome
