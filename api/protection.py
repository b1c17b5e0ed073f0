"""``GET /v1/protection``: this region's data protection at a glance, for the dashboard
(docs/dashboard.md) and for scripts.

What it lists, all of this region's (backups, PITR and exports are per region, so per
replica of a global table, as in DynamoDB):

- ``backups``: how many there are and the newest :data:`BACKUPS_SHOWN`
  (``regions.protection.backups.list_backups``);
- ``pitr``: every table with whether point-in-time recovery is on, its period and
  its restorable window (``regions.protection.pitr.describe``);
- ``restores``: the tables made by a restore, running or done, with their source
  and item count (the ``RestoreSummary`` the catalog keeps with a restored table);
- ``exports`` and ``imports``: how many are running and the newest :data:`JOBS_SHOWN`
  jobs, running ones first (``regions.protection.exports.list_exports`` and
  ``imports.list_imports``: the documents DescribeExport and DescribeImport answer
  from), with their counts (ItemCount; ProcessedItemCount, ImportedItemCount,
  ErrorCount) and failures.

It is one of the dashboard's status routes (``api/auth/middleware.py``
``STATUS_PATHS``: public with ``--public-status``, the default): everything here is
operational state (table, backup and bucket names, counts, times).  Failure texts of
exports and imports may quote the data they choked on (a CSV line), so they are cut
to their leading words (``api.visibility.redact_error``) unless the caller sees
everything (the admin key).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request

from api.visibility import redact_error, viewer
from regions.errors import DynamoError
from regions.protection import backups, exports, imports, pitr
from regions.region import Region

__all__ = ["BACKUPS_SHOWN", "JOBS_SHOWN", "router"]

log = logging.getLogger("globaltables.protection")

#: the newest backups listed (the count covers them all)
BACKUPS_SHOWN = 50
#: exports and imports listed, each
JOBS_SHOWN = 20
#: export or import documents read, at most, and per store round trip
_JOBS_READ = 1_000
_PAGE = 100

router = APIRouter(prefix="/v1", tags=["operations"])


@router.get("/protection", summary="Backups, PITR windows, restores, exports and imports")
async def protection(request: Request) -> dict[str, Any]:
    region: Region = request.app.state.region
    full = viewer(request).full
    states = {t.name: t for t in await request.app.state.region_state.tables()}
    specs = await region.control.tables()
    return {
        "region": region.name,
        "now_ms": int(time.time() * 1000),
        # where backups, snapshots and exports go (never a credential)
        "objects": {"store": region.objects.description, "bucket": region.objects_bucket},
        "backups": await _backups(region),
        "pitr": [await _pitr(region, spec.name) for spec in sorted(specs, key=lambda s: s.name)],
        "restores": [
            _restore(spec.name, spec.status, spec.restore, states)
            for spec in sorted(specs, key=lambda s: s.name)
            if spec.restore is not None
        ],
        "exports": await _jobs(region, _EXPORTS, full),
        "imports": await _jobs(region, _IMPORTS, full),
    }


# ---------------------------------------------------------------- backups, PITR, restores


async def _backups(region: Region) -> dict[str, Any]:
    found, _ = await backups.list_backups(
        region,
        table=None,
        from_ms=None,
        to_ms=None,
        backup_type="ALL",
        limit=1_000_000,
        start_arn=None,
    )
    newest = sorted(found, key=lambda b: (b.created_ms, b.arn), reverse=True)[:BACKUPS_SHOWN]
    return {
        "count": len(found),
        "recent": [
            {
                "arn": b.arn,
                "name": b.name,
                "table": b.table_name,
                "status": b.status,
                "type": b.type,
                "created_ms": b.created_ms,
                "size_bytes": b.size_bytes,
                "items": b.item_count,
            }
            for b in newest
        ],
    }


async def _pitr(region: Region, table: str) -> dict[str, Any]:
    row: dict[str, Any] = {"table": table, "enabled": False}
    try:
        status = await pitr.describe(region, table)
    except DynamoError:
        # dropped since the catalog was read: shown as off
        return row
    row |= {
        "enabled": status.enabled,
        "period_days": status.period_days,
        "earliest_ms": status.earliest_ms,
        "latest_ms": status.latest_ms,
    }
    return row


def _restore(
    table: str, status: str, summary: dict[str, Any], states: dict[str, Any]
) -> dict[str, Any]:
    at = summary.get("RestoreDateTime")
    state = states.get(table)
    return {
        "table": table,
        "status": status,
        "in_progress": bool(summary.get("RestoreInProgress")),
        "source_backup_arn": summary.get("SourceBackupArn"),
        "source_table_arn": summary.get("SourceTableArn"),
        "restore_ms": round(float(at) * 1000) if isinstance(at, int | float) else None,
        # items loaded so far (the region's cached count, at most a few seconds old)
        "items": state.items if state is not None else None,
    }


# ---------------------------------------------------------------- exports, imports


#: lists a page of job documents, oldest first: (region, table ARN, limit, after ARN)
#: -> (documents, the ARN to go on after)
Lister = Callable[
    [Region, str | None, int, str | None], Awaitable[tuple[list[dict[str, Any]], str | None]]
]


@dataclass(frozen=True)
class _Kind:
    """One kind of job: how it is listed, and the members of its documents (the
    ExportDescription / ImportTableDescription members)."""

    lister: Lister
    arn_member: str
    status_member: str
    running: tuple[str, ...]


_EXPORTS = _Kind(exports.list_exports, "ExportArn", "ExportStatus", ("IN_PROGRESS",))
_IMPORTS = _Kind(imports.list_imports, "ImportArn", "ImportStatus", ("IN_PROGRESS", "CANCELLING"))


async def _jobs(region: Region, kind: _Kind, full: bool) -> dict[str, Any]:
    docs: list[dict[str, Any]] = []
    after: str | None = None
    try:
        while len(docs) < _JOBS_READ:
            page, after = await kind.lister(region, None, _PAGE, after)
            docs += page
            if after is None:
                break
    except DynamoError as exc:
        log.warning("listing %s for the dashboard: %s", kind.arn_member, exc)
        return {"running": 0, "count": None, "recent": [], "error": type(exc).__name__}
    rows = [_job(kind, d, full) for d in docs]
    # running ones first, then the newest
    rows.sort(key=lambda r: (r["status"] in kind.running, r["start"] or 0), reverse=True)
    return {
        "running": sum(r["status"] in kind.running for r in rows),
        # None: more than were read
        "count": len(rows) if after is None else None,
        "recent": rows[:JOBS_SHOWN],
    }


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _count(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _table_name(arn: Any) -> str | None:
    if not isinstance(arn, str):
        return None
    return arn.split(":table/", 1)[1].split("/", 1)[0] if ":table/" in arn else arn


def _report(where: Any) -> dict[str, str] | None:
    if isinstance(where, dict) and isinstance(where.get("bucket"), str):
        return {"bucket": where["bucket"], "key": str(where.get("key", ""))}
    return None


def _job(kind: _Kind, d: dict[str, Any], full: bool) -> dict[str, Any]:
    failure = d.get("FailureMessage")
    if isinstance(failure, str) and not full:
        failure = redact_error(failure)
    row: dict[str, Any] = {
        "arn": d.get(kind.arn_member),
        "status": str(d.get(kind.status_member, "")),
        "table": _table_name(d.get("TableArn")),
        "start": _seconds(d.get("StartTime")),
        "end": _seconds(d.get("EndTime")),
        "failure_code": d.get("FailureCode") if isinstance(d.get("FailureCode"), str) else None,
        "failure_message": failure if isinstance(failure, str) else None,
    }
    if kind is _EXPORTS:
        row |= {
            "type": d.get("ExportType", "FULL_EXPORT"),
            "format": d.get("ExportFormat"),
            "export_time": _seconds(d.get("ExportTime")),
            "bucket": d.get("S3Bucket"),
            "prefix": d.get("S3Prefix"),
            "items": _count(d.get("ItemCount")),
        }
    else:
        given = d.get("S3BucketSource")
        source: dict[str, Any] = given if isinstance(given, dict) else {}
        row |= {
            "format": d.get("InputFormat"),
            "bucket": source.get("S3Bucket"),
            "prefix": source.get("S3KeyPrefix"),
            "processed": _count(d.get("ProcessedItemCount")),
            "imported": _count(d.get("ImportedItemCount")),
            "errors": _count(d.get("ErrorCount")),
            "bytes": _count(d.get("ProcessedSizeBytes")),
            # the lines that could not be imported, and why: an object of the region's
            # own bucket (regions/protection/imports.py)
            "error_report": _report(d.get("error_report")) if d.get("ErrorCount") else None,
        }
    return row
