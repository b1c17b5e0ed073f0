"""What exports and imports (regions/protection/exports.py, imports.py) share: a job
whose document is stored in the store.

Each export or import is a row of ``gt_exports`` or ``gt_imports``
(regions/store/transfers.py) whose ``doc`` column is the JSON document that
DescribeExport or DescribeImport answers with (plus the fields the job needs, which
the API layer drops), and whose ``status`` column is that document's status.  A
ClientToken is remembered :data:`TOKEN_MS`: the same request again answers the first
one's document, another request with it is refused.  Listings are pages in start
order.  The job itself, and what it writes, are each module's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from regions.errors import DynamoError
from regions.store import transfers as st

if TYPE_CHECKING:
    from regions.region import Region

__all__ = ["TOKEN_MS", "Kind", "by_token", "describe", "insert", "page", "save", "unfinished"]

#: a ClientToken is remembered this long (DynamoDB: 8 hours)
TOKEN_MS = 8 * 3_600_000

_IN_PROGRESS = "IN_PROGRESS"


@dataclass(frozen=True)
class Kind:
    """One kind of job: its rows' kind in regions/store/transfers.py (``export`` or
    ``import``), its document's ARN and status fields, its errors."""

    name: str
    arn_field: str
    status_field: str
    #: raised as ``not_found(f"{noun} not found: {arn}")``
    not_found: type[DynamoError]
    noun: str
    #: raised with ``conflict_message.format(token=...)``
    conflict: type[DynamoError]
    conflict_message: str


def _encode(doc: dict[str, Any]) -> str:
    return orjson.dumps(doc).decode()


async def by_token(
    region: Region, kind: Kind, token: str, fingerprint: Any, now_ms: int
) -> dict[str, Any] | None:
    """The document of the request made with ClientToken ``token`` in the last
    :data:`TOKEN_MS` if it had the same parameters (``fingerprint``), else None;
    ``kind.conflict`` if another request used it."""
    async with region.store.read() as tx:
        earlier = await st.by_token(tx, kind.name, token, now_ms - TOKEN_MS)
    for row in earlier:
        seen: dict[str, Any] = orjson.loads(row["doc"])
        if seen["fingerprint"] == orjson.loads(orjson.dumps(fingerprint)):
            return seen
        raise kind.conflict(kind.conflict_message.format(token=token))
    return None


async def insert(tx: Any, kind: Kind, doc: dict[str, Any], started_ms: int, **extra: Any) -> None:
    """The row of a new job, in ``tx``; ``extra`` columns besides the common ones."""
    await st.insert(
        tx,
        kind.name,
        {
            "arn": doc[kind.arn_field],
            "table_arn": doc["TableArn"],
            **extra,
            "status": doc[kind.status_field],
            "client_token": doc.get("ClientToken"),
            "started_ms": started_ms,
            "doc": _encode(doc),
        },
    )


async def save(region: Region, kind: Kind, doc: dict[str, Any]) -> None:
    """A job's document (and status) as it is now."""
    async with region.store.write() as tx:
        await st.set_row(
            tx,
            kind.name,
            doc[kind.arn_field],
            status=doc[kind.status_field],
            doc=_encode(doc),
        )


async def describe(region: Region, kind: Kind, arn: str) -> dict[str, Any]:
    async with region.store.read() as tx:
        row = await st.get(tx, kind.name, arn)
    if row is None:
        raise kind.not_found(f"{kind.noun} not found: {arn}")
    doc: dict[str, Any] = orjson.loads(row["doc"])
    return doc


async def page(
    region: Region, kind: Kind, table_arn: str | None, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of documents, oldest first, and the ARN to go on after."""
    async with region.store.read() as tx:
        rows = await st.listing(
            tx, kind.name, table_arn=table_arn, after_arn=after, limit=limit + 1
        )
    docs = [orjson.loads(r["doc"]) for r in rows]
    out: list[dict[str, Any]] = docs[:limit]
    return out, out[-1][kind.arn_field] if len(docs) > limit else None


async def unfinished(region: Region, kind: Kind) -> list[dict[str, Any]]:
    """The rows a crash left IN_PROGRESS (for the leader's ``resume``)."""
    async with region.store.read() as tx:
        return await st.with_status(tx, kind.name, _IN_PROGRESS)
