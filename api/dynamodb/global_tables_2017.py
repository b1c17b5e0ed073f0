"""Global tables version 2017.11.29: CreateGlobalTable, UpdateGlobalTable,
DescribeGlobalTable, ListGlobalTables.

Shape checks and encoding only; what a version 2017.11.29 global table is, and every
decision about it, lives in :mod:`regions.global_tables_2017`.
"""

from __future__ import annotations

import re
from typing import Any

from api.dynamodb.shapes import Shape
from regions import global_tables_2017
from regions.errors import ValidationError
from regions.global_tables_2017 import GlobalTable
from regions.region import Region

__all__: list[str] = []

_NAME = re.compile(r"[a-zA-Z0-9_.-]+")


def _name(shape: Shape, member: str, *, required: bool) -> str | None:
    value = shape.string(member, required=required, min_len=3, max_len=255)
    if value is not None and _NAME.fullmatch(value) is None:
        shape.fail(member, value, f"Member must satisfy regular expression pattern: {_NAME.pattern}")
    return value


def _group(table: GlobalTable) -> list[dict[str, str]]:
    return [{"RegionName": r} for r in table.regions]


def _description(table: GlobalTable) -> dict[str, Any]:
    return {
        "GlobalTableDescription": {
            "GlobalTableName": table.name,
            "GlobalTableArn": table.arn,
            "CreationDateTime": table.created_at,
            "GlobalTableStatus": table.status,
            "ReplicationGroup": _group(table),
        }
    }


async def create_global_table(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    name = _name(shape, "GlobalTableName", required=True)
    regions: list[str] = []
    for i, el in enumerate(shape.listing("ReplicationGroup", required=True) or [], 1):
        rn = shape.child(el, f"replicationGroup.{i}.member").string("RegionName", required=True)
        if rn is not None:
            regions.append(rn)
    shape.done()
    table = await global_tables_2017.create_global_table(region, name or "", regions)
    return _description(table)


async def describe_global_table(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    name = _name(shape, "GlobalTableName", required=True)
    shape.done()
    return _description(await global_tables_2017.describe_global_table(region, name or ""))


async def update_global_table(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    name = _name(shape, "GlobalTableName", required=True)
    updates: list[tuple[str, str]] = []
    for i, el in enumerate(shape.listing("ReplicaUpdates", required=True) or [], 1):
        sub = shape.child(el, f"replicaUpdates.{i}.member")
        kinds = (global_tables_2017.CREATE, global_tables_2017.DELETE)
        actions = [(a, sub.struct(a)) for a in kinds]
        given = [(a, s) for a, s in actions if s is not None]
        if len(given) != 1:
            # a union: exactly one member per element
            raise ValidationError(
                "One or more parameter values were invalid: Each ReplicaUpdate must have "
                "exactly one of Create or Delete"
            )
        action, member = given[0]
        rn = member.string("RegionName", required=True)
        if rn is not None:
            updates.append((action, rn))
    shape.done()
    table = await global_tables_2017.update_global_table(region, name or "", updates)
    return _description(table)


async def list_global_tables(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    start = _name(shape, "ExclusiveStartGlobalTableName", required=False)
    limit = shape.integer("Limit", min_value=1)
    region_name = shape.string("RegionName")
    shape.done()
    tables, last = await global_tables_2017.list_global_tables(
        region, region_name, limit or 100, start
    )
    out: dict[str, Any] = {
        "GlobalTables": [
            {"GlobalTableName": t.name, "ReplicationGroup": _group(t)} for t in tables
        ]
    }
    if last is not None:
        out["LastEvaluatedGlobalTableName"] = last
    return out
