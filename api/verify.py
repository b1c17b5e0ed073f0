"""Convergence verifier endpoints of a region (``/v1/internal/verify/...``).

The verifier (``globaltables verify``, ``replicator/verifier.py``) compares
replicas with them and repairs through ``POST /v1/internal/tables/{name}/rows``:

* ``GET /v1/internal/verify/tables``: this region's tables, table ids, replica sets;
* ``GET /v1/internal/verify/{table}/tree?depth=D[&ids=...][&snapshot=S]``: the
  hashes (and live item counts) of the nodes at depth D (0 = root, 3 = the 4096
  leaf buckets), all of them or only the listed ids (``3,17,200-210``), from the
  tree of ``snapshot`` S (returned by an earlier call) while the region keeps it;
* ``GET /v1/internal/verify/{table}/buckets?ids=...[&after=CURSOR][&limit=N]``: the
  rows of the listed leaf buckets, items and tombstones, with their versions and
  canonical item bytes, a page at a time (``next`` is the cursor of the next page);
* ``POST /v1/internal/verify/{table}/rehash``: recompute the leaves from the rows.

Admin only: the bucket rows are items of any table, read past every table policy,
and the rows endpoint writes.  An unsigned request on a region run with
``--allow-anonymous`` is allowed, as everywhere.  docs/verify.md describes the tree
and the protocol.

The identities system table (users and access keys, ``regions/system_tables.py``)
is served here too, under its name ``globaltables:identities``: it converges like
any global table, the verifier checks it, and every region's identity sync
(``replicator/identity_sync.py``) pulls what it lacks through these endpoints.  Its
rows hold sealed (encrypted) secrets and users' policies, which the admin key can
read through the admin API anyway.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request, Response

from api.errors import error_body, rest_status
from regions import principals, system_tables, verification
from regions.errors import DynamoError, ReseedUnavailable
from regions.keys import decode_key
from regions.region import Region
from regions.verification import decode_cursor, encode_cursor
from regions.verify_tree import BUCKETS, FANOUT, LEAF_DEPTH, nodes_at, parse_ids

__all__ = ["decode_cursor", "encode_cursor", "router"]

router = APIRouter(prefix="/v1/internal/verify", include_in_schema=False)


class VerifyAccessDenied(DynamoError):
    code = "AccessDeniedException"


def _denied() -> Response | None:
    """The verifier's view of the data is the admin's (see the module docstring)."""
    principal = principals.current.get()
    if principal is None or principal.is_admin:
        return None
    return _error(
        VerifyAccessDenied(
            f"User: {principal.arn} is not authorized to verify or repair replicas: "
            "only the admin key is"
        )
    )


def _untrusted(request: Request) -> Response | None:
    """A region that owes itself a re-seed (replicator/reseed.py) may hold items
    deleted elsewhere whose tombstones are gone: the verifier (or a peer's identity
    sync) would copy them back everywhere.  It refuses to show its rows until the
    re-seed is done; the comparison fails instead of repairing the wrong way."""
    replicator = request.app.state.replicator
    if replicator is None or replicator.reseeder.trusted:
        return None
    return _error(
        ReseedUnavailable(
            f"Region {request.app.state.region.name} is re-seeding its replicas after an "
            "absence longer than the tombstone horizon; try again when it is done"
        )
    )


def _json(body: Any) -> Response:
    return Response(content=orjson.dumps(body), media_type="application/json")


def _error(exc: DynamoError) -> Response:
    return Response(
        status_code=rest_status(exc),
        content=orjson.dumps(error_body(exc)),
        media_type="application/json",
    )


def _bad(message: str) -> Response:
    return Response(
        status_code=400,
        content=orjson.dumps({"__type": "ValidationException", "message": message}),
        media_type="application/json",
    )


@router.get("/tables")
async def tables(request: Request) -> Response:
    if (denied := _denied()) is not None:
        return denied
    region: Region = request.app.state.region
    specs = await region.control.tables()
    with system_tables.access():
        specs.append(await region.control.table_spec(system_tables.IDENTITIES))
    return _json(
        {
            "region": region.name,
            "tables": [
                {
                    "name": s.name,
                    "table_id": s.table_id,
                    "replicas": list(s.replica_regions()),
                    "partitions": s.partitions,
                }
                for s in specs
            ],
        }
    )


@router.get("/{table}/tree")
async def tree(
    table: str,
    request: Request,
    depth: int = Query(0, ge=0, le=LEAF_DEPTH),
    ids: str | None = Query(None),
    snapshot: str | None = Query(None),
) -> Response:
    if (denied := _denied()) is not None:
        return denied
    if (stale := _untrusted(request)) is not None:
        return stale
    region: Region = request.app.state.region
    width = nodes_at(depth)
    try:
        wanted = parse_ids(ids, width) if ids is not None else range(width)
    except ValueError as exc:
        return _bad(str(exc))
    try:
        with system_tables.access():
            view = await verification.table_tree(region, table, snapshot)
    except DynamoError as exc:
        return _error(exc)
    hashes, counts = view.tree.hashes[depth], view.tree.counts[depth]
    return _json(
        {
            "region": view.region,
            "table": view.spec.name,
            "table_id": view.spec.table_id,
            "replicas": list(view.spec.replica_regions()),
            "partitions": view.spec.partitions,
            "buckets": BUCKETS,
            "fanout": FANOUT,
            "leaf_depth": LEAF_DEPTH,
            "depth": depth,
            # pass it back for the next levels: they come from this same tree
            "snapshot": view.snapshot,
            "count": view.tree.count,
            "nodes": [[i, hashes[i].hex(), counts[i]] for i in wanted],
        }
    )


@router.post("/{table}/rehash")
async def rehash(table: str, request: Request) -> Response:
    """Recompute the table's leaf sums from its rows (``globaltables verify
    --rehash``): catches rows changed behind the store's back, at the cost of
    reading every item once."""
    if (denied := _denied()) is not None:
        return denied
    region: Region = request.app.state.region
    try:
        with system_tables.access():
            items = await verification.rebuild_leaves(region, table)
    except DynamoError as exc:
        return _error(exc)
    return _json({"region": region.name, "table": table, "items": items})


@router.get("/{table}/buckets")
async def buckets(
    table: str,
    request: Request,
    ids: str = Query(...),
    after: str | None = Query(None),
    limit: int = Query(2000, ge=1, le=10_000),
) -> Response:
    if (denied := _denied()) is not None:
        return denied
    if (stale := _untrusted(request)) is not None:
        return stale
    region: Region = request.app.state.region
    try:
        wanted = parse_ids(ids, BUCKETS)
        cursor = decode_cursor(after) if after else None
    except ValueError as exc:
        return _bad(str(exc))
    try:
        with system_tables.access():
            page = await verification.bucket_page(
                region, table, wanted, after=cursor, limit=limit
            )
    except DynamoError as exc:
        return _error(exc)
    schema = page.spec.key_schema
    b64 = base64.b64encode
    return _json(
        {
            "region": region.name,
            "table": page.spec.name,
            "table_id": page.spec.table_id,
            "rows": [
                {
                    "hk": b64(r.hk).decode(),
                    "rk": b64(r.rk).decode(),
                    "key": decode_key(r.hk, r.rk, schema),
                    "hlc": r.version.hlc,
                    "origin": r.version.origin,
                    # the canonical bytes are compact JSON text: sent as they are
                    # stored, so the verifier compares exactly what is stored
                    "data": r.data.decode() if r.data is not None else None,
                }
                for r in page.rows
            ],
            "next": encode_cursor(page.next) if page.next is not None else None,
            "scanned": page.scanned,
            "total": page.total,
        }
    )
