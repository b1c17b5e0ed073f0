"""Backups and point-in-time recovery: CreateBackup, DescribeBackup, ListBackups,
DeleteBackup, RestoreTableFromBackup, UpdateContinuousBackups,
DescribeContinuousBackups, RestoreTableToPointInTime.

Shape checks and encoding only; what a backup, a restore and PITR are is
regions/protection/'s (backups.py, pitr.py, restore.py).
"""

from __future__ import annotations

import math
from typing import Any

from api.dynamodb.shapes import Shape, _wrong_type
from api.dynamodb.tables import describe, provisioned_shape
from regions.catalog import CREATING, TableSpec
from regions.errors import ValidationError
from regions.protection import backups, pitr, restore
from regions.protection.backups import Backup
from regions.region import Region

__all__: list[str] = []

_NAME_PATTERN = "[a-zA-Z0-9_.-]+"
_BILLING = ("PROVISIONED", "PAY_PER_REQUEST")
_BACKUP_TYPES = ("USER", "SYSTEM", "AWS_BACKUP", "ALL")


# ---------------------------------------------------------------- encoding


def _key_schema(spec: TableSpec) -> list[dict[str, str]]:
    ks = [{"AttributeName": spec.key_schema.hash.name, "KeyType": "HASH"}]
    if spec.key_schema.range is not None:
        ks.append({"AttributeName": spec.key_schema.range.name, "KeyType": "RANGE"})
    return ks


def _details(b: Backup) -> dict[str, Any]:
    out: dict[str, Any] = {
        "BackupArn": b.arn,
        "BackupName": b.name,
        "BackupSizeBytes": b.size_bytes,
        "BackupStatus": b.status,
        "BackupType": b.type,
        "BackupCreationDateTime": b.created_ms / 1000,
    }
    return out


def _source_details(region: Region, b: Backup) -> dict[str, Any]:
    spec = b.spec
    out: dict[str, Any] = {
        "TableName": spec.name,
        "TableId": spec.table_id,
        "TableArn": b.table_arn,
        "TableSizeBytes": b.size_bytes,
        "KeySchema": _key_schema(spec),
        "TableCreationDateTime": spec.created_at,
        "ProvisionedThroughput": {
            "ReadCapacityUnits": spec.read_capacity,
            "WriteCapacityUnits": spec.write_capacity,
        },
        "ItemCount": b.item_count,
        "BillingMode": spec.billing_mode,
    }
    if spec.billing_mode == "PAY_PER_REQUEST":
        out["OnDemandThroughput"] = {
            "MaxReadRequestUnits": spec.max_read_request_units,
            "MaxWriteRequestUnits": spec.max_write_request_units,
        }
    return out


def _feature_details(region: Region, b: Backup) -> dict[str, Any]:
    # the indexes as the table described them (less sizes, counts and status)
    table = describe(region, b.spec)
    out: dict[str, Any] = {}
    for member, keep in (
        ("LocalSecondaryIndexes", ("IndexName", "KeySchema", "Projection")),
        (
            "GlobalSecondaryIndexes",
            ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput", "OnDemandThroughput"),
        ),
    ):
        if member in table:
            entries = []
            for entry in table[member]:
                kept = {k: v for k, v in entry.items() if k in keep}
                if "ProvisionedThroughput" in kept:
                    kept["ProvisionedThroughput"] = {
                        k: v
                        for k, v in kept["ProvisionedThroughput"].items()
                        if k in ("ReadCapacityUnits", "WriteCapacityUnits")
                    }
                entries.append(kept)
            out[member] = entries
    stream = b.spec.stream
    if stream is not None:
        out["StreamDescription"] = {"StreamEnabled": True, "StreamViewType": stream.view_type}
    if b.spec.ttl_attribute is not None:
        out["TimeToLiveDescription"] = {
            "TimeToLiveStatus": "ENABLED",
            "AttributeName": b.spec.ttl_attribute,
        }
    return out


def _description(region: Region, b: Backup) -> dict[str, Any]:
    return {
        "BackupDetails": _details(b),
        "SourceTableDetails": _source_details(region, b),
        "SourceTableFeatureDetails": _feature_details(region, b),
    }


def _summary(b: Backup) -> dict[str, Any]:
    return {
        "TableName": b.table_name,
        "TableId": b.table_id,
        "TableArn": b.table_arn,
        "BackupArn": b.arn,
        "BackupName": b.name,
        "BackupCreationDateTime": b.created_ms / 1000,
        "BackupStatus": b.status,
        "BackupType": b.type,
        "BackupSizeBytes": b.size_bytes,
    }


def _continuous(status: pitr.PitrStatus) -> dict[str, Any]:
    desc: dict[str, Any] = {
        "PointInTimeRecoveryStatus": "ENABLED" if status.enabled else "DISABLED",
    }
    if status.enabled:
        desc["RecoveryPeriodInDays"] = status.period_days
        if status.earliest_ms is not None and status.latest_ms is not None:
            desc["EarliestRestorableDateTime"] = status.earliest_ms / 1000
            desc["LatestRestorableDateTime"] = status.latest_ms / 1000
    return {
        "ContinuousBackupsDescription": {
            # continuous backups are always on, as in DynamoDB; PITR is the switch
            "ContinuousBackupsStatus": "ENABLED",
            "PointInTimeRecoveryDescription": desc,
        }
    }


# ---------------------------------------------------------------- shapes


#: the year 9892 in seconds: later than any window, and within what datetime holds
_FAR_S = 2.5e11


def _timestamp(shape: Shape, name: str) -> float | None:
    value = shape.body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong_type(value, "Timestamp")
    if not math.isfinite(value):
        raise _wrong_type(value, "Timestamp")
    # far outside any window, and kept inside what datetime and a BIGINT of ms hold
    # (1e300 seconds answered 500): every bound compares the same way
    return max(0.0, min(_FAR_S, float(value)))


def _backup_arn(shape: Shape, name: str = "BackupArn", *, required: bool = True) -> str | None:
    return shape.string(name, required=required, min_len=37, max_len=1024)


def _index_list(shape: Shape, name: str, *, gsi: bool) -> tuple[dict[str, Any], ...] | None:
    entries = shape.listing(name)
    if entries is None:
        return None
    out: list[dict[str, Any]] = []
    member = name[:1].lower() + name[1:]
    for i, raw in enumerate(entries, 1):
        sub = shape.child(raw, f"{member}.{i}.member")
        sub.string("IndexName", required=True, min_len=3, max_len=255, pattern=_NAME_PATTERN)
        sub.listing("KeySchema", required=True, min_len=1)
        sub.mapping("Projection", required=True)
        if gsi:
            pt = sub.struct("ProvisionedThroughput")
            if pt is not None:
                for m in ("ReadCapacityUnits", "WriteCapacityUnits"):
                    if pt.integer(m, min_value=1) is None:
                        pt.fail(m, None, "Member must not be null")
            od = sub.struct("OnDemandThroughput")
            if od is not None:
                od.integer("MaxReadRequestUnits")
                od.integer("MaxWriteRequestUnits")
            if "WarmThroughput" in raw:
                raise ValidationError(f"{name} does not support WarmThroughput in this version")
        out.append(raw)
    return tuple(out)


def _overrides(shape: Shape, operation: str) -> restore.Overrides:
    billing = shape.string("BillingModeOverride", enum=_BILLING)
    rcu, wcu = provisioned_shape(shape, "ProvisionedThroughputOverride")
    max_read = max_write = None
    od = shape.struct("OnDemandThroughputOverride")
    if od is not None:
        max_read = od.integer("MaxReadRequestUnits")
        max_write = od.integer("MaxWriteRequestUnits")
    gsis = _index_list(shape, "GlobalSecondaryIndexOverride", gsi=True)
    lsis = _index_list(shape, "LocalSecondaryIndexOverride", gsi=False)
    sse = shape.struct("SSESpecificationOverride")
    if sse is not None:
        enabled = sse.boolean("Enabled")
        sse.string("SSEType", enum=("AES256", "KMS"))
        sse.string("KMSMasterKeyId")
    shape.done()
    if sse is not None and (enabled is not False or set(sse.body) - {"Enabled"}):
        # only the default (no customer-managed encryption) can be honoured
        raise ValidationError(
            f"{operation} does not support SSESpecificationOverride in this version "
            "(only Enabled false, the default encryption)"
        )
    if "VectorIndexOverride" in shape.body:
        raise ValidationError(f"{operation} does not support VectorIndexOverride in this version")
    return restore.Overrides(
        billing_mode=billing,
        read_capacity=rcu,
        write_capacity=wcu,
        max_read=max_read,
        max_write=max_write,
        gsis=gsis,
        lsis=lsis,
    )


# ---------------------------------------------------------------- handlers


async def create_backup(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    table = shape.table_name()
    name = shape.string("BackupName", required=True, min_len=3, max_len=255, pattern=_NAME_PATTERN)
    shape.done()
    assert name is not None
    backup = await backups.create_backup(region, table, name)
    return {"BackupDetails": _details(backup)}


async def describe_backup(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    arn = _backup_arn(shape)
    shape.done()
    assert arn is not None
    return {"BackupDescription": _description(region, await backups.describe_backup(region, arn))}


async def delete_backup(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    arn = _backup_arn(shape)
    shape.done()
    assert arn is not None
    return {"BackupDescription": _description(region, await backups.delete_backup(region, arn))}


async def list_backups(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    table = shape.string("TableName", min_len=1, max_len=1024)
    limit = shape.integer("Limit", min_value=1, max_value=100)
    lower = _timestamp(shape, "TimeRangeLowerBound")
    upper = _timestamp(shape, "TimeRangeUpperBound")
    start = _backup_arn(shape, "ExclusiveStartBackupArn", required=False)
    backup_type = shape.string("BackupType", enum=_BACKUP_TYPES) or "USER"
    shape.done()
    if lower is not None and upper is not None and lower > upper:
        raise ValidationError(
            "TimeRangeLowerBound must be less than or equal to TimeRangeUpperBound"
        )
    page, last = await backups.list_backups(
        region,
        table=table,
        from_ms=round(lower * 1000) if lower is not None else None,
        to_ms=round(upper * 1000) if upper is not None else None,
        backup_type=backup_type,
        limit=limit or 100,
        start_arn=start,
    )
    out: dict[str, Any] = {"BackupSummaries": [_summary(b) for b in page]}
    if last is not None:
        out["LastEvaluatedBackupArn"] = last
    return out


async def restore_table_from_backup(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    target = shape.string(
        "TargetTableName", required=True, min_len=3, max_len=255, pattern=_NAME_PATTERN
    )
    arn = _backup_arn(shape)
    overrides = _overrides(shape, "RestoreTableFromBackup")
    assert target is not None and arn is not None
    spec = await restore.restore_from_backup(region, arn, target, overrides)
    return {"TableDescription": describe(region, spec, status=CREATING)}


async def update_continuous_backups(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    table = shape.table_name()
    spec = shape.struct("PointInTimeRecoverySpecification", required=True)
    enabled: bool | None = None
    period: int | None = None
    if spec is not None:
        enabled = spec.boolean("PointInTimeRecoveryEnabled")
        if enabled is None:
            spec.fail("PointInTimeRecoveryEnabled", None, "Member must not be null")
        period = spec.integer("RecoveryPeriodInDays", min_value=1, max_value=35)
    shape.done()
    assert enabled is not None
    return _continuous(await pitr.update(region, table, enabled, period))


async def describe_continuous_backups(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    table = shape.table_name()
    shape.done()
    return _continuous(await pitr.describe(region, table))


async def restore_table_to_point_in_time(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    source_arn = shape.string("SourceTableArn", min_len=1, max_len=1024)
    source_name = shape.string("SourceTableName", min_len=3, max_len=255, pattern=_NAME_PATTERN)
    target = shape.string(
        "TargetTableName", required=True, min_len=3, max_len=255, pattern=_NAME_PATTERN
    )
    latest = shape.boolean("UseLatestRestorableTime")
    at = _timestamp(shape, "RestoreDateTime")
    overrides = _overrides(shape, "RestoreTableToPointInTime")
    assert target is not None
    if (source_arn is None) == (source_name is None):
        raise ValidationError("Exactly one of SourceTableArn and SourceTableName must be specified")
    if latest and at is not None:
        raise ValidationError(
            "Only one of RestoreDateTime and UseLatestRestorableTime can be specified"
        )
    if not latest and at is None:
        raise ValidationError("Either RestoreDateTime or UseLatestRestorableTime must be specified")
    source = source_arn if source_arn is not None else source_name
    assert source is not None
    spec = await restore.restore_to_point_in_time(
        region, source, target, None if latest else round((at or 0) * 1000), overrides
    )
    return {"TableDescription": describe(region, spec, status=CREATING)}
