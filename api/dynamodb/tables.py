"""Control-plane operations: CreateTable, DescribeTable, ListTables, DeleteTable, UpdateTable."""

from __future__ import annotations

from typing import Any

from api.dynamodb.shapes import Shape
from regions.catalog import CREATING, GLOBAL_TABLE_VERSION, TableSpec
from regions.errors import ValidationError
from regions.region import Region

__all__ = ["OPERATIONS"]

_BILLING = ("PROVISIONED", "PAY_PER_REQUEST")
_TABLE_CLASSES = ("STANDARD", "STANDARD_INFREQUENT_ACCESS")


def describe(
    region: Region, spec: TableSpec, count: int = 0, size: int = 0, status: str | None = None
) -> dict[str, Any]:
    """A TableDescription as DescribeTable returns it; absent features are omitted."""
    ks: list[dict[str, str]] = [{"AttributeName": spec.key_schema.hash.name, "KeyType": "HASH"}]
    if spec.key_schema.range is not None:
        ks.append({"AttributeName": spec.key_schema.range.name, "KeyType": "RANGE"})
    desc: dict[str, Any] = {
        "TableName": spec.name,
        "TableArn": region.arn(spec.name),
        "TableId": spec.table_id,
        "TableStatus": status or spec.status,
        "CreationDateTime": spec.created_at,
        "KeySchema": ks,
        "AttributeDefinitions": [
            {"AttributeName": n, "AttributeType": t} for n, t in spec.attributes.items()
        ],
        "ProvisionedThroughput": {
            "NumberOfDecreasesToday": 0,
            "ReadCapacityUnits": spec.read_capacity,
            "WriteCapacityUnits": spec.write_capacity,
        },
        "TableSizeBytes": size,
        "ItemCount": count,
        "DeletionProtectionEnabled": spec.deletion_protection,
    }
    if spec.billing_mode == "PAY_PER_REQUEST":
        desc["BillingModeSummary"] = {
            "BillingMode": "PAY_PER_REQUEST",
            "LastUpdateToPayPerRequestDateTime": spec.created_at,
        }
    if spec.table_class != "STANDARD":
        desc["TableClassSummary"] = {"TableClass": spec.table_class}
    if spec.replicas:
        desc["GlobalTableVersion"] = GLOBAL_TABLE_VERSION
        desc["Replicas"] = [
            {"RegionName": r.region, "ReplicaStatus": r.status} for r in spec.replicas
        ]
    return desc


async def create_table(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    name = shape.table_name()
    key_schema = shape.listing("KeySchema", required=True, min_len=1, max_len=2) or []
    defs = shape.listing("AttributeDefinitions", required=True) or []
    billing = shape.string("BillingMode", enum=_BILLING) or "PROVISIONED"
    table_class = shape.string("TableClass", enum=_TABLE_CLASSES) or "STANDARD"
    protection = shape.boolean("DeletionProtectionEnabled") or False
    pt = shape.struct("ProvisionedThroughput")
    rcu = wcu = None
    if pt is not None:
        rcu = pt.integer("ReadCapacityUnits", min_value=1)
        wcu = pt.integer("WriteCapacityUnits", min_value=1)
        if rcu is None:
            pt.fail("ReadCapacityUnits", None, "Member must not be null")
        if wcu is None:
            pt.fail("WriteCapacityUnits", None, "Member must not be null")
    ks_clean: list[dict[str, str]] = []
    for i, el in enumerate(key_schema, 1):
        sub = shape.child(el, f"keySchema.{i}.member")
        an = sub.string("AttributeName", required=True, min_len=1, max_len=255)
        kt = sub.string("KeyType", required=True, enum=("HASH", "RANGE"))
        ks_clean.append({"AttributeName": an or "", "KeyType": kt or ""})
    defs_clean: list[dict[str, str]] = []
    for i, el in enumerate(defs, 1):
        sub = shape.child(el, f"attributeDefinitions.{i}.member")
        an = sub.string("AttributeName", required=True, min_len=1, max_len=255)
        at = sub.string("AttributeType", required=True, enum=("S", "N", "B"))
        defs_clean.append({"AttributeName": an or "", "AttributeType": at or ""})
    tags: dict[str, str] = {}
    for i, el in enumerate(shape.listing("Tags", max_len=50) or [], 1):
        sub = shape.child(el, f"tags.{i}.member")
        k = sub.string("Key", required=True, min_len=1, max_len=128)
        v = sub.string("Value", required=True, min_len=0, max_len=256)
        if k is not None and v is not None:
            tags[k] = v
    for unsupported in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if body.get(unsupported):
            raise ValidationError(f"{unsupported} are not supported by this version yet")
    shape.done()
    spec = await region.create_table(
        name=name,
        key_schema=ks_clean,
        attribute_definitions=defs_clean,
        billing_mode=billing,
        read_capacity=rcu,
        write_capacity=wcu,
        tags=tags,
        deletion_protection=protection,
        table_class=table_class,
    )
    return {"TableDescription": describe(region, spec, status=CREATING)}


async def describe_table(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    name = shape.table_name()
    shape.done()
    spec, count, size = await region.describe_table(name)
    return {"Table": describe(region, spec, count, size)}


async def list_tables(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    limit = shape.integer("Limit", min_value=1, max_value=100)
    start = shape.string("ExclusiveStartTableName", min_len=3, max_len=255)
    shape.done()
    names, last = await region.list_tables(limit or 100, start)
    out: dict[str, Any] = {"TableNames": names}
    if last is not None:
        out["LastEvaluatedTableName"] = last
    return out


async def delete_table(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    name = shape.table_name()
    shape.done()
    _, count, size = await region.describe_table(name)
    deleted = await region.delete_table(name)
    return {"TableDescription": describe(region, deleted, count, size)}


async def update_table(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    name = shape.table_name()
    updates = shape.listing("ReplicaUpdates", min_len=1) or []
    creates: list[str] = []
    for i, el in enumerate(updates, 1):
        sub = shape.child(el, f"replicaUpdates.{i}.member")
        create = sub.struct("Create")
        if create is not None:
            rn = create.string("RegionName", required=True, min_len=1)
            if rn:
                creates.append(rn)
        elif el:
            raise ValidationError(
                "Only ReplicaUpdates Create is supported by this version; "
                "removing or updating replicas comes later"
            )
    shape.done()
    others = sorted(k for k in body if k not in ("TableName", "ReplicaUpdates"))
    if others:
        raise ValidationError(
            f"UpdateTable supports only ReplicaUpdates in this version; got {', '.join(others)}"
        )
    if not creates:
        raise ValidationError(
            "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, "
            "GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required"
        )
    if len(creates) > 1:
        raise ValidationError("Only one replica can be created per UpdateTable call")
    spec = await region.add_replica(name, creates[0])
    _, count, size = await region.describe_table(spec.name)
    return {"TableDescription": describe(region, spec, count, size)}


OPERATIONS = {
    "CreateTable": create_table,
    "DescribeTable": describe_table,
    "ListTables": list_tables,
    "DeleteTable": delete_table,
    "UpdateTable": update_table,
}
