"""Control-plane operations: CreateTable, DescribeTable, ListTables, DeleteTable, UpdateTable."""

from __future__ import annotations

from typing import Any

from api.dynamodb.shapes import Shape
from api.dynamodb.tags import read_tags
from regions import throughput
from regions.catalog import CREATING, GLOBAL_TABLE_VERSION, TableSpec
from regions.control import NewTable, TableUpdate
from regions.errors import ValidationError
from regions.region import Region

__all__: list[str] = []

_BILLING = ("PROVISIONED", "PAY_PER_REQUEST")
_TABLE_CLASSES = ("STANDARD", "STANDARD_INFREQUENT_ACCESS")


def describe(
    region: Region,
    spec: TableSpec,
    count: int = 0,
    size: int = 0,
    status: str | None = None,
    index_counts: dict[str, tuple[int, int]] | None = None,
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
    if spec.billing_mode == "PAY_PER_REQUEST" or spec.pay_per_request_at:
        # a PROVISIONED table shows it only once it has been on-demand (as AWS does)
        desc["BillingModeSummary"] = {
            "BillingMode": spec.billing_mode,
            "LastUpdateToPayPerRequestDateTime": spec.pay_per_request_at or spec.created_at,
        }
    on_demand = throughput.describe_on_demand(
        spec.max_read_request_units, spec.max_write_request_units
    )
    if on_demand is not None and spec.billing_mode == "PAY_PER_REQUEST":
        desc["OnDemandThroughput"] = on_demand
    if spec.table_class != "STANDARD":
        desc["TableClassSummary"] = {"TableClass": spec.table_class}
    desc.update(_describe_indexes(region, spec, index_counts or {}, creating=status == CREATING))
    if spec.streams:
        latest = spec.streams[-1]
        if latest.enabled:
            desc["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": latest.view_type,
            }
        desc["LatestStreamLabel"] = latest.label
        desc["LatestStreamArn"] = f"{region.arn(spec.name)}/stream/{latest.label}"
    if spec.replicas:
        desc["GlobalTableVersion"] = GLOBAL_TABLE_VERSION
        desc["Replicas"] = [
            {
                "RegionName": r.region,
                "ReplicaStatus": r.status,
                **(
                    {"ReplicaStatusPercentProgress": str(r.progress)}
                    # CREATING: backfill; UPDATING: re-seed after a long absence
                    if r.status in ("CREATING", "UPDATING")
                    else {}
                ),
            }
            for r in spec.replicas
        ]
    return desc


#: members of CreateTable / UpdateTable that a region cannot honour: refused by name
#: rather than accepted and ignored (a caller who asked for them must not believe
#: they have them).  SSESpecification is refused unless it asks for the default
#: (Enabled false); docs/compatibility.md says why.
_CREATE_UNSUPPORTED = (
    "GlobalTableSettingsReplicationMode",
    "GlobalTableSourceArn",
    "SSESpecification",
    "VectorIndexes",
    "WarmThroughput",
)
_UPDATE_UNSUPPORTED = (
    "DisassociationProtectionEnabled",
    "GlobalTableSettingsReplicationMode",
    "GlobalTableWitnessUpdates",
    "MultiRegionConsistency",
    "SSESpecification",
    "VectorIndexUpdates",
    "WarmThroughput",
)


def _refuse_unsupported(operation: str, body: dict[str, Any], names: tuple[str, ...]) -> None:
    sent = sorted(
        k for k in names if k in body and not (k == "SSESpecification" and _default_sse(body[k]))
    )
    if sent:
        raise ValidationError(f"{operation} does not support {', '.join(sent)} in this version")


def _default_sse(value: object) -> bool:
    """An SSESpecification that asks for nothing but the default (Enabled false)."""
    return isinstance(value, dict) and value.get("Enabled") is False and set(value) <= {"Enabled"}


def _stream_shape(shape: Shape) -> tuple[bool, str | None] | None:
    sub = shape.struct("StreamSpecification")
    if sub is None:
        return None
    enabled = sub.boolean("StreamEnabled")
    if enabled is None:
        sub.fail("StreamEnabled", None, "Member must not be null")
    view = sub.string(
        "StreamViewType", enum=("NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY")
    )
    return bool(enabled), view


def _index_shapes(shape: Shape, member: str) -> list[dict[str, Any]]:
    """Shape-check LocalSecondaryIndexes / GlobalSecondaryIndexes (or a GSI Create)."""
    out: list[dict[str, Any]] = []
    camel = member[0].lower() + member[1:]
    for i, el in enumerate(shape.listing(member, min_len=1) or [], 1):
        sub = shape.child(el, f"{camel}.{i}.member")
        out.append(_index_shape(sub, gsi=member == "GlobalSecondaryIndexes"))
    return out


def _index_shape(sub: Shape, *, gsi: bool) -> dict[str, Any]:
    name = sub.string("IndexName", required=True, min_len=3, max_len=255)
    ks: list[dict[str, str]] = []
    # a GSI's KeySchema may list up to four HASH and four RANGE attributes (multi-
    # attribute keys; the API model dropped its maximum of 2 for them):
    # regions/definitions.py reports too many of either
    ks_max = None if gsi else 2
    elements = sub.listing("KeySchema", required=True, min_len=1, max_len=ks_max) or []
    for j, kel in enumerate(elements, 1):
        ksub = sub.child(kel, f"keySchema.{j}.member")
        ks.append(
            {
                "AttributeName": ksub.string("AttributeName", required=True, min_len=1, max_len=255)
                or "",
                "KeyType": ksub.string("KeyType", required=True, enum=("HASH", "RANGE")) or "",
            }
        )
    proj = sub.struct("Projection", required=True)
    projection: dict[str, Any] = {}
    if proj is not None:
        projection["ProjectionType"] = proj.string(
            "ProjectionType", enum=("ALL", "KEYS_ONLY", "INCLUDE")
        )
        nka = proj.listing("NonKeyAttributes", min_len=1, max_len=20)
        if nka is not None:
            projection["NonKeyAttributes"] = [str(a) for a in nka]
    return {
        "IndexName": name or "",
        "KeySchema": ks,
        "Projection": projection,
        **_index_throughput_shape(sub),
    }


def _index_throughput_shape(sub: Shape) -> dict[str, Any]:
    """A GSI's ProvisionedThroughput and OnDemandThroughput members."""
    provisioned: dict[str, int] = {}
    pt = sub.struct("ProvisionedThroughput")
    if pt is not None:
        provisioned = {
            "ReadCapacityUnits": pt.integer("ReadCapacityUnits", min_value=1) or 0,
            "WriteCapacityUnits": pt.integer("WriteCapacityUnits", min_value=1) or 0,
        }
    out: dict[str, Any] = {"ProvisionedThroughput": provisioned}
    on_demand = _on_demand_shape(sub)
    if on_demand is not None:
        out["OnDemandThroughput"] = on_demand
    return out


def _on_demand_shape(shape: Shape) -> throughput.OnDemand | None:
    od = shape.struct("OnDemandThroughput")
    if od is None:
        return None
    return throughput.OnDemand(
        od.integer("MaxReadRequestUnits"), od.integer("MaxWriteRequestUnits")
    )


def _index_throughput(raw: dict[str, Any]) -> throughput.IndexThroughput:
    pt = raw.get("ProvisionedThroughput") or {}
    return throughput.IndexThroughput(
        name=str(raw.get("IndexName") or ""),
        read=pt.get("ReadCapacityUnits") or None,
        write=pt.get("WriteCapacityUnits") or None,
        on_demand=raw.get("OnDemandThroughput"),
    )


def _describe_indexes(
    region: Region, spec: TableSpec, counts: dict[str, tuple[int, int]], creating: bool = False
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for idx in spec.indexes:
        ks = [{"AttributeName": a.name, "KeyType": "HASH"} for a in idx.key_schema.hash_attrs]
        ks += [{"AttributeName": a.name, "KeyType": "RANGE"} for a in idx.key_schema.range_attrs]
        projection: dict[str, Any] = {"ProjectionType": idx.projection}
        if idx.non_key_attributes:
            projection["NonKeyAttributes"] = list(idx.non_key_attributes)
        count, size = counts.get(idx.name, (0, 0))
        entry: dict[str, Any] = {
            "IndexName": idx.name,
            "KeySchema": ks,
            "Projection": projection,
            "IndexSizeBytes": size,
            "ItemCount": count,
            "IndexArn": f"{region.arn(spec.name)}/index/{idx.name}",
        }
        if idx.kind == "GSI":
            # CreateTable answers while its indexes are (nominally) still being created
            entry["IndexStatus"] = "CREATING" if creating else idx.status
            if idx.online and entry["IndexStatus"] == "CREATING":
                # only an index being built says whether it is backfilling (an ACTIVE
                # one carries no Backfilling member in DynamoDB's answers)
                entry["Backfilling"] = idx.backfilling
            entry["ProvisionedThroughput"] = {
                "NumberOfDecreasesToday": 0,
                "ReadCapacityUnits": idx.read_capacity,
                "WriteCapacityUnits": idx.write_capacity,
            }
            on_demand = throughput.describe_on_demand(
                idx.max_read_request_units, idx.max_write_request_units
            )
            if on_demand is not None and spec.billing_mode == "PAY_PER_REQUEST":
                entry["OnDemandThroughput"] = on_demand
            out.setdefault("GlobalSecondaryIndexes", []).append(entry)
        else:
            out.setdefault("LocalSecondaryIndexes", []).append(entry)
    return out


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
        # listed as DynamoDB's message lists them: "enum value set: [B, N, S]"
        at = sub.string("AttributeType", required=True, enum=("B", "N", "S"))
        defs_clean.append({"AttributeName": an or "", "AttributeType": at or ""})
    tags = read_tags(shape, required=False)
    stream = _stream_shape(shape)
    lsis = _index_shapes(shape, "LocalSecondaryIndexes")
    gsis = _index_shapes(shape, "GlobalSecondaryIndexes")
    on_demand = _on_demand_shape(shape)
    # a resource-based policy for the table (regions/resource_policy.py)
    policy = shape.string("ResourcePolicy")
    shape.done()
    _refuse_unsupported("CreateTable", body, _CREATE_UNSUPPORTED)
    spec = await region.control.create_table(
        NewTable(
            name=name,
            key_schema=ks_clean,
            attribute_definitions=defs_clean,
            billing_mode=billing,
            read_capacity=rcu,
            write_capacity=wcu,
            tags=tags,
            deletion_protection=protection,
            table_class=table_class,
            local_indexes=lsis,
            global_indexes=gsis,
            stream=stream,
            on_demand=on_demand,
            gsi_throughput=[_index_throughput(g) for g in gsis],
            resource_policy=policy,
        )
    )
    return {"TableDescription": describe(region, spec, status=CREATING)}


async def describe_table(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    name = shape.table_name()
    shape.done()
    spec, count, size = await region.control.describe_table(name)
    return {
        "Table": describe(
            region, spec, count, size, index_counts=await region.control.index_counts(name)
        )
    }


async def list_tables(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    limit = shape.integer("Limit", min_value=1, max_value=100)
    start = shape.string("ExclusiveStartTableName", min_len=3, max_len=255)
    shape.done()
    names, last = await region.control.list_tables(limit or 100, start)
    out: dict[str, Any] = {"TableNames": names}
    if last is not None:
        out["LastEvaluatedTableName"] = last
    return out


async def delete_table(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    name = shape.table_name()
    shape.done()
    _, count, size = await region.control.describe_table(name)
    deleted = await region.control.delete_table(name)
    return {"TableDescription": describe(region, deleted, count, size)}


async def update_table(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    name = shape.table_name()
    creates: list[str] = []
    deletes: list[str] = []
    for i, el in enumerate(shape.listing("ReplicaUpdates", min_len=1) or [], 1):
        sub = shape.child(el, f"replicaUpdates.{i}.member")
        create = sub.struct("Create")
        delete = sub.struct("Delete")
        if create is not None:
            rn = create.string("RegionName", required=True, min_len=1)
            if rn:
                creates.append(rn)
            # per-replica settings are not implemented: refused, never dropped
            overrides = sorted(k for k in create.body if k != "RegionName")
            if overrides:
                raise ValidationError(
                    "ReplicaUpdates Create does not support "
                    f"{', '.join(overrides)} in this version"
                )
        if delete is not None:
            rn = delete.string("RegionName", required=True, min_len=1)
            if rn:
                deletes.append(rn)
        if create is None and delete is None and el:
            raise ValidationError(
                "ReplicaUpdates Update is not supported by this version; use Create or Delete"
            )
    index_updates: list[tuple[str, dict[str, Any]]] = []
    for i, el in enumerate(shape.listing("GlobalSecondaryIndexUpdates", min_len=1) or [], 1):
        sub = shape.child(el, f"globalSecondaryIndexUpdates.{i}.member")
        create_gsi = sub.struct("Create")
        delete_gsi = sub.struct("Delete")
        update_gsi = sub.struct("Update")
        if create_gsi is not None:
            index_updates.append(("Create", _index_shape(create_gsi, gsi=True)))
        if delete_gsi is not None:
            index_updates.append(
                (
                    "Delete",
                    {
                        "IndexName": delete_gsi.string(
                            "IndexName", required=True, min_len=3, max_len=255
                        )
                    },
                )
            )
        if update_gsi is not None:
            index_updates.append(
                (
                    "Update",
                    {
                        "IndexName": update_gsi.string(
                            "IndexName", required=True, min_len=3, max_len=255
                        ),
                        **_index_throughput_shape(update_gsi),
                    },
                )
            )
    defs: list[dict[str, str]] = []
    for i, el in enumerate(shape.listing("AttributeDefinitions") or [], 1):
        sub = shape.child(el, f"attributeDefinitions.{i}.member")
        defs.append(
            {
                "AttributeName": sub.string("AttributeName", required=True, min_len=1, max_len=255)
                or "",
                "AttributeType": sub.string("AttributeType", required=True, enum=("B", "N", "S"))
                or "",
            }
        )
    billing = shape.string("BillingMode", enum=_BILLING)
    table_class = shape.string("TableClass", enum=_TABLE_CLASSES)
    protection = shape.boolean("DeletionProtectionEnabled")
    pt = shape.struct("ProvisionedThroughput")
    rcu = wcu = None
    if pt is not None:
        rcu = pt.integer("ReadCapacityUnits", min_value=1)
        wcu = pt.integer("WriteCapacityUnits", min_value=1)
    stream = _stream_shape(shape)
    on_demand = _on_demand_shape(shape)
    shape.done()
    unsupported: tuple[str, ...] = _UPDATE_UNSUPPORTED
    if not (creates or deletes):
        # an empty or Update-only ReplicaUpdates does nothing that is implemented
        unsupported = (*unsupported, "ReplicaUpdates")
    _refuse_unsupported("UpdateTable", body, unsupported)
    spec = await region.control.update_table(
        name,
        TableUpdate(
            replica_creates=tuple(creates),
            replica_deletes=tuple(deletes),
            index_updates=tuple(index_updates),
            index_throughput_updates=tuple(
                _index_throughput(raw) for a, raw in index_updates if a == "Update"
            ),
            index_throughput_created=tuple(
                _index_throughput(raw) for a, raw in index_updates if a == "Create"
            ),
            attribute_definitions=tuple(defs),
            billing_mode=billing,
            provisioned=pt is not None,
            read_capacity=rcu,
            write_capacity=wcu,
            deletion_protection=protection,
            table_class=table_class,
            stream=stream,
            on_demand=on_demand,
        ),
    )
    if deletes and deletes[0] == region.name:
        return {"TableDescription": describe(region, spec, status="DELETING")}
    _, count, size = await region.control.describe_table(spec.name)
    return {
        "TableDescription": describe(
            region,
            spec,
            count,
            size,
            status="UPDATING",
            index_counts=await region.control.index_counts(name),
        )
    }


async def describe_limits(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    Shape(body).done()
    return throughput.limits()
