"""Global tables version 2017.11.29: CreateGlobalTable, UpdateGlobalTable,
DescribeGlobalTable, ListGlobalTables, DescribeGlobalTableSettings,
UpdateGlobalTableSettings; and DescribeTableReplicaAutoScaling (version 2019.11.21).

Shape checks and encoding only; what a version 2017.11.29 global table is, and every
decision about it, lives in :mod:`regions.global_tables_2017`.
"""

from __future__ import annotations

import re
from typing import Any

from api.dynamodb.shapes import Shape
from regions import global_tables_2017
from regions.catalog import TableSpec
from regions.errors import ValidationError
from regions.global_tables_2017 import (
    GlobalTable,
    GlobalTableSettingsUpdate,
    ReplicaSettingsUpdate,
)
from regions.indexes import GSI
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


# --------------------------------------------------------------------------- settings

_BILLING = ("PROVISIONED", "PAY_PER_REQUEST")
_TABLE_CLASSES = ("STANDARD", "STANDARD_INFREQUENT_ACCESS")
#: auto scaling is not offered: its settings are refused by name, never dropped
_AUTO_SCALING = (
    "GlobalTableProvisionedWriteCapacityAutoScalingSettingsUpdate",
    "ProvisionedWriteCapacityAutoScalingSettingsUpdate",
    "ReplicaProvisionedReadCapacityAutoScalingSettingsUpdate",
    "ProvisionedReadCapacityAutoScalingSettingsUpdate",
)


def _refuse_auto_scaling(sub: Shape) -> None:
    sent = [k for k in _AUTO_SCALING if k in sub.body]
    if sent:
        raise ValidationError(
            f"UpdateGlobalTableSettings does not support {', '.join(sent)} in this version "
            "(auto scaling is not offered)"
        )


def _settings(region: Region, spec: TableSpec) -> dict[str, Any]:
    """DescribeGlobalTableSettings' answer: each replica's settings as in force there
    (the table's, or the replica's override of its reads)."""
    provisioned = spec.billing_mode == "PROVISIONED"
    gsis = [i for i in spec.indexes if i.kind == GSI]
    out: list[dict[str, Any]] = []
    for r in spec.replicas:
        own = r.settings
        read = own.read_capacity if provisioned and own.read_capacity is not None else spec.read_capacity
        entry: dict[str, Any] = {
            "RegionName": r.region,
            "ReplicaStatus": r.status,
            "ReplicaBillingModeSummary": {
                "BillingMode": spec.billing_mode,
                **(
                    {"LastUpdateToPayPerRequestDateTime": spec.pay_per_request_at or spec.created_at}
                    if not provisioned
                    else {}
                ),
            },
            "ReplicaProvisionedReadCapacityUnits": read,
            "ReplicaProvisionedWriteCapacityUnits": spec.write_capacity,
        }
        if gsis:
            indexes = []
            for idx in gsis:
                o = own.index(idx.name)
                index_read = (
                    o.read_capacity
                    if provisioned and o is not None and o.read_capacity is not None
                    else idx.read_capacity
                )
                indexes.append(
                    {
                        "IndexName": idx.name,
                        "IndexStatus": idx.status,
                        "ProvisionedReadCapacityUnits": index_read,
                        "ProvisionedWriteCapacityUnits": idx.write_capacity,
                    }
                )
            entry["ReplicaGlobalSecondaryIndexSettings"] = indexes
        if own.table_class is not None:
            entry["ReplicaTableClassSummary"] = {
                "TableClass": own.table_class,
                **({"LastUpdateDateTime": own.table_class_at} if own.table_class_at else {}),
            }
        out.append(entry)
    return {"GlobalTableName": spec.name, "ReplicaSettings": out}


async def describe_global_table_settings(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    name = _name(shape, "GlobalTableName", required=True)
    shape.done()
    spec = await global_tables_2017.describe_global_table_settings(region, name or "")
    return _settings(region, spec)


def _index_units(shape: Shape, member: str, units_member: str) -> tuple[tuple[str, int], ...]:
    """A list of per-GSI settings updates: (IndexName, units) each."""
    out: list[tuple[str, int]] = []
    path = member[:1].lower() + member[1:]
    for i, el in enumerate(shape.listing(member, min_len=1, max_len=20) or [], 1):
        sub = shape.child(el, f"{path}.{i}.member")
        _refuse_auto_scaling(sub)
        index_name = sub.string("IndexName", required=True, min_len=3, max_len=255)
        units = sub.integer(units_member, min_value=1)
        if index_name and units is not None:
            out.append((index_name, units))
    return tuple(out)


async def update_global_table_settings(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    name = _name(shape, "GlobalTableName", required=True)
    _refuse_auto_scaling(shape)
    billing = shape.string("GlobalTableBillingMode", enum=_BILLING)
    write = shape.integer("GlobalTableProvisionedWriteCapacityUnits", min_value=1)
    index_writes = _index_units(
        shape, "GlobalTableGlobalSecondaryIndexSettingsUpdate", "ProvisionedWriteCapacityUnits"
    )
    replicas: list[ReplicaSettingsUpdate] = []
    for i, el in enumerate(shape.listing("ReplicaSettingsUpdate", min_len=1, max_len=50) or [], 1):
        sub = shape.child(el, f"replicaSettingsUpdate.{i}.member")
        _refuse_auto_scaling(sub)
        rn = sub.string("RegionName", required=True)
        read = sub.integer("ReplicaProvisionedReadCapacityUnits", min_value=1)
        index_reads = _index_units(
            sub, "ReplicaGlobalSecondaryIndexSettingsUpdate", "ProvisionedReadCapacityUnits"
        )
        table_class = sub.string("ReplicaTableClass", enum=_TABLE_CLASSES)
        if rn is not None:
            replicas.append(ReplicaSettingsUpdate(rn, read, index_reads, table_class))
    shape.done()
    spec = await global_tables_2017.update_global_table_settings(
        region,
        name or "",
        GlobalTableSettingsUpdate(billing, write, index_writes, tuple(replicas)),
    )
    return _settings(region, spec)


async def describe_table_replica_auto_scaling(
    region: Region, body: dict[str, Any]
) -> dict[str, Any]:
    """Version 2019.11.21: the replicas and their GSIs; no auto scaling is configured
    (it is not offered), so no auto scaling settings are described."""
    shape = Shape(body)
    name = shape.table_name()
    shape.done()
    spec = await region.control.table_spec(name)
    gsis = [i for i in spec.indexes if i.kind == GSI]
    return {
        "TableAutoScalingDescription": {
            "TableName": spec.name,
            "TableStatus": spec.shown_status(region.name),
            "Replicas": [
                {
                    "RegionName": r.region,
                    "ReplicaStatus": r.status,
                    **(
                        {
                            "GlobalSecondaryIndexes": [
                                {"IndexName": i.name, "IndexStatus": i.status} for i in gsis
                            ]
                        }
                        if gsis
                        else {}
                    ),
                }
                for r in spec.replicas
            ],
        }
    }
