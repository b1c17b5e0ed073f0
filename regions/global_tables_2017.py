"""Global tables version 2017.11.29 over the replicas of version 2019.11.21.

CreateGlobalTable, UpdateGlobalTable, DescribeGlobalTable and ListGlobalTables are a
thin layer over :meth:`Replicas.add` and :meth:`Replicas.remove` (regions/control/replicas.py): the
same peer protocol creates each replica (same table id, key schema, indexes, TTL and
stream setting), Kafka carries the changes, last-writer-wins settles conflicts.

Decisions, where this differs from DynamoDB or DynamoDB leaves a choice:

1. **One machinery, one view.**  A version 2017.11.29 global table *is* a table
   with a replica set; nothing else is stored, so every region answers from its own
   catalog and nothing new needs replicating.  Consequently a table made global with
   UpdateTable ``ReplicaUpdates`` is also listed and described by these operations
   (DynamoDB keeps the versions apart), and a version 2017.11.29 one's DescribeTable
   shows ``Replicas`` and ``GlobalTableVersion`` 2019.11.21.
2. **Pre-created tables.**  DynamoDB wants an empty same-name table with a
   NEW_AND_OLD_IMAGES stream in every Region of the group.  This region's table
   must be exactly that (checked here, as is every DynamoDB precondition that can
   be seen locally).  The other regions' replicas are made by the peer protocol,
   which creates the table where it does not exist; a table a peer already holds
   under that name was created on its own, has its own table id, and replication
   would never feed it (changes are matched by table id), so the peer refuses it
   and the request fails with a ValidationException naming that region, after
   undoing the replicas it had already added.  Reconciling such a table (adopting
   an empty one) would belong to the peer's ``accept_replica``; it is not done.
3. **The request's region leads.**  It must be in the ReplicationGroup, since it
   holds the source table and drives the peer protocol; every other region must be
   one of its ``--peer``s.
4. **Removing a replica** deletes that region's copy, as UpdateTable ``Delete``
   does.  When a single region is left, the table is an ordinary table again and
   the global table no longer exists (GlobalTableNotFound).
6. **Settings** (DescribeGlobalTableSettings, UpdateGlobalTableSettings) are the
   table's shared settings (billing mode, write capacity, GSI write capacity) and
   each replica's own (read capacity, GSI read capacity, table class): the same
   per-replica settings UpdateTable ``ReplicaUpdates Update`` sets
   (``catalog.ReplicaSettings``), changed in one UpdateTable and told to every
   replica.  Auto scaling is not offered, so its settings are refused by name and
   never described.
5. **Status and creation time.**  ``GlobalTableStatus`` is ACTIVE when every
   replica is ACTIVE, else UPDATING (an empty table's replicas are ACTIVE at once,
   so CreateGlobalTable answers ACTIVE).  ``CreationDateTime`` is this region's
   table's creation time.
"""

from __future__ import annotations

from dataclasses import dataclass

from regions import catalog, throughput
from regions.catalog import ReplicaIndexSettings, ReplicaSettings, TableSpec
from regions.control import TableUpdate
from regions.errors import DynamoError, ResourceNotFound, ValidationError
from regions.indexes import GSI
from regions.region import Region

__all__ = [
    "GlobalTable",
    "GlobalTableAlreadyExists",
    "GlobalTableNotFound",
    "GlobalTableSettingsUpdate",
    "IndexNotFound",
    "ReplicaAlreadyExists",
    "ReplicaNotFound",
    "ReplicaSettingsUpdate",
    "TableNotFound",
    "create_global_table",
    "describe_global_table",
    "describe_global_table_settings",
    "list_global_tables",
    "update_global_table",
    "update_global_table_settings",
]

#: the stream view type every replica of a version 2017.11.29 global table must have
REQUIRED_VIEW = "NEW_AND_OLD_IMAGES"
CREATE = "Create"
DELETE = "Delete"


class GlobalTableAlreadyExists(DynamoError):
    code = "GlobalTableAlreadyExistsException"


class GlobalTableNotFound(DynamoError):
    code = "GlobalTableNotFoundException"


class ReplicaAlreadyExists(DynamoError):
    code = "ReplicaAlreadyExistsException"


class ReplicaNotFound(DynamoError):
    code = "ReplicaNotFoundException"


class TableNotFound(DynamoError):
    code = "TableNotFoundException"


class IndexNotFound(DynamoError):
    code = "IndexNotFoundException"


@dataclass(frozen=True)
class GlobalTable:
    name: str
    arn: str
    created_at: float
    status: str
    regions: tuple[str, ...]


def _not_found(name: str) -> GlobalTableNotFound:
    return GlobalTableNotFound(f"Global table with name: '{name}' does not exist.")


def _describe(
    region: Region, spec: TableSpec, group: tuple[str, ...] | None = None
) -> GlobalTable:
    """``group`` overrides the spec's replica set (a group left with one region, or
    described after this region's copy is gone)."""
    if group is None:
        group = spec.replica_regions()
    busy = any(r.status != catalog.ACTIVE for r in spec.replicas)
    return GlobalTable(
        name=spec.name,
        arn=f"arn:aws:dynamodb::{region.settings.account_id}:global-table/{spec.name}",
        created_at=spec.created_at,
        status="UPDATING" if busy else "ACTIVE",
        regions=tuple(sorted(group)),
    )


async def _global_spec(region: Region, name: str) -> TableSpec:
    try:
        spec = await region.control.table_spec(name)
    except ResourceNotFound:
        raise _not_found(name) from None
    if not spec.replicas:
        raise _not_found(name)
    return spec


def _check_peer(region: Region, other: str) -> None:
    if other not in region.settings.peers:
        known = ", ".join(sorted(region.settings.peers)) or "none"
        raise ValidationError(
            f"One or more parameter values were invalid: The region {other} is not a peer of "
            f"{region.name} (known peers: {known}); start the region with --peer NAME=URL"
        )


async def _check_replica_source(region: Region, name: str) -> None:
    """The version 2017.11.29 preconditions visible here: this region's table has a
    NEW_AND_OLD_IMAGES stream and holds no items."""
    spec, count, _ = await region.control.describe_table(name)
    stream = spec.stream
    if stream is None or stream.view_type != REQUIRED_VIEW:
        raise ValidationError(
            "One or more parameter values were invalid: Table "
            f"{name} in region {region.name} must have DynamoDB Streams enabled with "
            f"StreamViewType {REQUIRED_VIEW}"
        )
    if count:
        raise ValidationError(
            f"One or more parameter values were invalid: Table {name} in region "
            f"{region.name} is not empty; every replica table of a global table must be "
            "empty when the replica is added"
        )


async def _add(region: Region, name: str, other: str) -> None:
    try:
        await region.control.replicas.add(name, other)
    except DynamoError as exc:
        if exc.code != "ResourceInUseException":
            raise
        # the peer already holds a table of that name that is not this table (decision 2)
        raise ValidationError(
            f"One or more parameter values were invalid: Table {name} already exists in "
            f"region {other} as a separate table; a replica of a global table is created "
            f"by the global table itself, so delete that table first ({exc.message})"
        ) from None


async def create_global_table(region: Region, name: str, group: list[str]) -> GlobalTable:
    if len(set(group)) != len(group):
        raise ValidationError(
            "One or more parameter values were invalid: ReplicationGroup lists a region "
            "more than once"
        )
    if region.name not in group:
        raise ValidationError(
            "One or more parameter values were invalid: ReplicationGroup must contain the "
            f"region of the request ({region.name})"
        )
    others = [r for r in group if r != region.name]
    for other in others:
        _check_peer(region, other)
    try:
        spec = await region.control.table_spec(name)
    except ResourceNotFound:
        raise TableNotFound(
            f"Table not found: a table with the name {name} does not exist in region "
            f"{region.name}"
        ) from None
    if spec.replicas:
        raise GlobalTableAlreadyExists(f"Global table with name: '{name}' already exists.")
    await _check_replica_source(region, name)
    added: list[str] = []
    try:
        for other in others:
            await _add(region, name, other)
            added.append(other)
    except DynamoError:
        # all or nothing: undo the replicas already made (newest first)
        for other in reversed(added):
            try:
                await region.control.replicas.remove(name, other)
            except DynamoError:
                pass  # the original failure is the one to report
        raise
    return _describe(region, await region.control.table_spec(name))


async def describe_global_table(region: Region, name: str) -> GlobalTable:
    return _describe(region, await _global_spec(region, name))


async def update_global_table(
    region: Region, name: str, updates: list[tuple[str, str]]
) -> GlobalTable:
    """``updates`` are (``Create`` | ``Delete``, region name) in request order."""
    spec = await _global_spec(region, name)
    # each update is checked against the group as the earlier ones leave it, before
    # anything changes
    planned = set(spec.replica_regions())
    for action, other in updates:
        if action == CREATE:
            if other in planned:
                raise ReplicaAlreadyExists(
                    f"Replica already exists in region {other} for global table: '{name}'."
                )
            _check_peer(region, other)
            planned.add(other)
        else:
            if other not in planned:
                raise ReplicaNotFound(
                    f"Replica does not exist in region {other} for global table: '{name}'."
                )
            planned.discard(other)
    if any(action == CREATE for action, _ in updates):
        await _check_replica_source(region, name)
    # this region's own copy goes last: once it is deleted there is nothing left
    # here to add or remove replicas from
    ordered = sorted(updates, key=lambda u: u == (DELETE, region.name))
    for action, other in ordered:
        if action == CREATE:
            await _add(region, name, other)
        else:
            spec = await region.control.replicas.remove(name, other)
    if (DELETE, region.name) in updates:
        # describe what the other regions keep
        return _describe(region, spec, tuple(planned))
    return _describe(region, await region.control.table_spec(name), tuple(planned))


async def list_global_tables(
    region: Region, region_name: str | None, limit: int, start: str | None
) -> tuple[list[GlobalTable], str | None]:
    tables = sorted(
        (
            spec
            for spec in await region.control.tables()
            if spec.replicas and (region_name is None or region_name in spec.replica_regions())
        ),
        key=lambda s: s.name,
    )
    if start is not None:
        tables = [t for t in tables if t.name > start]
    page = [_describe(region, spec) for spec in tables[:limit]]
    last = page[-1].name if len(tables) > limit else None
    return page, last


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class ReplicaSettingsUpdate:
    """One ReplicaSettingsUpdate: a replica's own settings."""

    region: str
    read_capacity: int | None = None
    #: ReplicaGlobalSecondaryIndexSettingsUpdate: (IndexName, ProvisionedReadCapacityUnits)
    index_reads: tuple[tuple[str, int], ...] = ()
    table_class: str | None = None


@dataclass(frozen=True)
class GlobalTableSettingsUpdate:
    """UpdateGlobalTableSettings, decoded (auto scaling members are refused earlier)."""

    billing_mode: str | None = None
    write_capacity: int | None = None
    #: GlobalTableGlobalSecondaryIndexSettingsUpdate: (IndexName, ProvisionedWriteCapacityUnits)
    index_writes: tuple[tuple[str, int], ...] = ()
    replicas: tuple[ReplicaSettingsUpdate, ...] = ()


async def describe_global_table_settings(region: Region, name: str) -> TableSpec:
    """The global table's spec as this region holds it (every replica's settings are
    in its replica set); GlobalTableNotFound for an ordinary table."""
    return await _global_spec(region, name)


def _check_index(spec: TableSpec, name: str) -> None:
    idx = spec.index(name)
    if idx is None or idx.kind != GSI:
        raise IndexNotFound(f"Index not found: {name} does not exist in table {spec.name}")


async def update_global_table_settings(
    region: Region, name: str, u: GlobalTableSettingsUpdate
) -> TableSpec:
    """The shared settings and each replica's own, as ONE UpdateTable (checked in full
    before anything is stored, then told to every replica)."""
    spec = await _global_spec(region, name)
    group = spec.replica_regions()
    for r in u.replicas:
        if r.region not in group:
            raise ReplicaNotFound(
                f"Replica does not exist in region {r.region} for global table: '{name}'."
            )
        for index_name, _ in r.index_reads:
            _check_index(spec, index_name)
    for index_name, _ in u.index_writes:
        _check_index(spec, index_name)
    mode = u.billing_mode or spec.billing_mode
    if mode == throughput.PAY_PER_REQUEST and (
        u.write_capacity is not None
        or u.index_writes
        or any(r.read_capacity is not None or r.index_reads for r in u.replicas)
    ):
        raise ValidationError(
            "One or more parameter values were invalid: provisioned capacity units cannot "
            "be specified when GlobalTableBillingMode is PAY_PER_REQUEST"
        )
    provisioned = False
    read = write = None
    if mode == throughput.PROVISIONED and (
        spec.billing_mode != throughput.PROVISIONED or u.write_capacity is not None
    ):
        provisioned = True
        write = u.write_capacity
        if spec.billing_mode != throughput.PROVISIONED:
            # switching to PROVISIONED: the table's read capacity is this region's
            mine = next((r for r in u.replicas if r.region == region.name), None)
            if write is None or mine is None or mine.read_capacity is None:
                raise ValidationError(
                    "One or more parameter values were invalid: switching a global table to "
                    "PROVISIONED needs GlobalTableProvisionedWriteCapacityUnits and "
                    f"ReplicaProvisionedReadCapacityUnits for {region.name}"
                )
            read = mine.read_capacity
        else:
            read = spec.read_capacity
    index_updates = tuple(
        throughput.IndexThroughput(
            index_name,
            read=_index_read(spec, index_name),
            write=units,
        )
        for index_name, units in u.index_writes
    )
    replica_updates = tuple(
        (
            r.region,
            ReplicaSettings(
                read_capacity=r.read_capacity,
                indexes=tuple(ReplicaIndexSettings(n, units) for n, units in r.index_reads),
                table_class=r.table_class,
            ),
        )
        for r in u.replicas
        if r.read_capacity is not None or r.index_reads or r.table_class is not None
    )
    return await region.control.update_table(
        name,
        TableUpdate(
            billing_mode=u.billing_mode,
            provisioned=provisioned,
            read_capacity=read,
            write_capacity=write,
            index_updates=tuple(("Update", {"IndexName": t.name}) for t in index_updates),
            index_throughput_updates=index_updates,
            replica_updates=replica_updates,
        ),
    )


def _index_read(spec: TableSpec, name: str) -> int:
    """A GSI's (shared) read capacity: a GSI Update needs both units."""
    idx = spec.index(name)
    assert idx is not None  # _check_index ran first
    return idx.read_capacity
