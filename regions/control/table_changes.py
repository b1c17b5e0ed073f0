"""CreateTable's and UpdateTable's requests, and the pure spec changes they make.

The HTTP layer decodes a request into :class:`NewTable` or :class:`TableUpdate`;
the control plane (regions/control/plane.py) checks DynamoDB's rules and builds the
new spec with the functions below, all before it stores anything, so a request
that fails part-way has changed nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from regions import catalog, definitions, indexes, streams, throughput
from regions.catalog import NO_OVERRIDES, ReplicaSettings, TableSpec
from regions.errors import LimitExceeded, ResourceNotFound, ValidationError

__all__ = [
    "NewTable",
    "TableUpdate",
    "create_gsi",
    "delete_gsi",
    "new_settings",
    "one_index_change",
    "stream_changed",
]

_INVALID = "One or more parameter values were invalid: "


@dataclass(frozen=True)
class NewTable:
    """A CreateTable request, decoded."""

    name: str
    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]
    billing_mode: str = "PROVISIONED"
    read_capacity: int | None = None
    write_capacity: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    deletion_protection: bool = False
    table_class: str = "STANDARD"
    #: TableClass was in the request (DescribeTable shows TableClassSummary then)
    table_class_given: bool = False
    local_indexes: list[dict[str, Any]] = field(default_factory=list)
    global_indexes: list[dict[str, Any]] = field(default_factory=list)
    #: StreamSpecification: (StreamEnabled, StreamViewType)
    stream: tuple[bool, str | None] | None = None
    on_demand: throughput.OnDemand | None = None
    #: each GlobalSecondaryIndexes entry's throughput settings
    gsi_throughput: list[throughput.IndexThroughput] = field(default_factory=list)
    #: ResourcePolicy: a resource-based policy document for the table (its JSON text)
    resource_policy: str | None = None


@dataclass(frozen=True)
class TableUpdate:
    """An UpdateTable request, decoded."""

    #: ReplicaUpdates: regions to create / delete a replica in
    replica_creates: tuple[str, ...] = ()
    replica_deletes: tuple[str, ...] = ()
    #: the Create's per-replica settings (its overrides)
    replica_create_settings: ReplicaSettings = NO_OVERRIDES
    #: ReplicaUpdates Update: (region, the settings it changes), one per region
    replica_updates: tuple[tuple[str, ReplicaSettings], ...] = ()
    #: GlobalSecondaryIndexUpdates as ("Create" | "Delete" | "Update", the entry)
    index_updates: tuple[tuple[str, dict[str, Any]], ...] = ()
    #: throughput settings of each index entry, Update ones and Create ones
    index_throughput_updates: tuple[throughput.IndexThroughput, ...] = ()
    index_throughput_created: tuple[throughput.IndexThroughput, ...] = ()
    attribute_definitions: tuple[dict[str, str], ...] = ()
    billing_mode: str | None = None
    #: a ProvisionedThroughput was sent (its values below, each may be absent)
    provisioned: bool = False
    read_capacity: int | None = None
    write_capacity: int | None = None
    deletion_protection: bool | None = None
    table_class: str | None = None
    #: StreamSpecification: (StreamEnabled, StreamViewType)
    stream: tuple[bool, str | None] | None = None
    on_demand: throughput.OnDemand | None = None

    @property
    def settings(self) -> bool:
        """Does it change the plain settings (billing, throughput, protection, class)?"""
        return (
            self.billing_mode is not None
            or self.provisioned
            or self.deletion_protection is not None
            or self.table_class is not None
        )

    def check(self) -> None:
        """DynamoDB's rules on the request alone, before the table is looked at."""
        if not (
            self.replica_creates
            or self.replica_deletes
            or self.replica_updates
            or self.index_updates
            or self.settings
            or self.stream is not None
            or self.on_demand is not None
        ):
            raise ValidationError(
                "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, "
                "GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required"
            )
        if len(self.replica_creates) + len(self.replica_deletes) > 1:
            raise ValidationError("Only one replica can be created or deleted per UpdateTable call")
        updated = [region for region, _ in self.replica_updates]
        if len(set(updated)) != len(updated) or set(updated) & {
            *self.replica_creates,
            *self.replica_deletes,
        }:
            raise ValidationError(
                "One or more parameter values were invalid: ReplicaUpdates names a region "
                "more than once"
            )
        if sum(1 for action, _ in self.index_updates if action != "Update") > 1:
            raise LimitExceeded(
                "Subscriber limit exceeded: Only 1 online index can be created or deleted "
                "simultaneously per table"
            )


def one_index_change(spec: TableSpec) -> None:
    if any(i.status in (catalog.CREATING, catalog.DELETING) for i in spec.indexes):
        raise LimitExceeded(
            "Subscriber limit exceeded: Only 1 online index can be created or deleted "
            "simultaneously per table"
        )


def new_settings(spec: TableSpec, u: TableUpdate) -> TableSpec:
    """UpdateTable's plain settings: billing mode, throughput, protection, class."""
    mode = u.billing_mode or spec.billing_mode
    rcu, wcu = u.read_capacity, u.write_capacity
    if mode == "PAY_PER_REQUEST" and (rcu is not None or wcu is not None):
        raise ValidationError(
            _INVALID + "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified "
            "when BillingMode is PAY_PER_REQUEST"
        )
    if (
        mode == "PROVISIONED"
        and spec.billing_mode != "PROVISIONED"
        and (rcu is None or wcu is None)
    ):
        raise ValidationError(
            _INVALID + "ProvisionedThroughput must be specified when BillingMode is PROVISIONED"
        )
    return replace(
        spec,
        billing_mode=mode,
        read_capacity=rcu
        if rcu is not None
        else (0 if mode == "PAY_PER_REQUEST" else spec.read_capacity),
        write_capacity=wcu
        if wcu is not None
        else (0 if mode == "PAY_PER_REQUEST" else spec.write_capacity),
        deletion_protection=spec.deletion_protection
        if u.deletion_protection is None
        else u.deletion_protection,
        table_class=u.table_class or spec.table_class,
        table_class_given=spec.table_class_given or u.table_class is not None,
        table_class_changed_at=time.time()
        if u.table_class is not None and u.table_class != spec.table_class
        else spec.table_class_changed_at,
    )


def stream_changed(spec: TableSpec, enabled: bool, view_type: str | None, now: int) -> TableSpec:
    """StreamSpecification: enable (a new stream, new label) or disable the stream."""
    streams.check_specification(enabled, view_type, creating=False)
    current = spec.stream
    if enabled:
        if current is not None:
            raise ValidationError(f"Table already has an enabled stream: TableName: {spec.name}")
        if view_type not in streams.VIEW_TYPES:
            raise ValidationError(
                _INVALID + "StreamViewType is required when StreamEnabled is true"
                if view_type is None
                else _INVALID + f"Unknown StreamViewType: {view_type}"
            )
        # labels must differ even if enabled twice within one millisecond
        last = spec.streams[-1].created_ms if spec.streams else 0
        created = max(now, last + 1)
        new_stream = streams.StreamSpec(streams.stream_label(created), view_type, created)
        return replace(spec, streams=(*spec.streams, new_stream))
    if current is None:
        raise ValidationError(f"Table has no stream to disable: TableName: {spec.name}")
    closed = replace(current, disabled_ms=now)
    return replace(spec, streams=(*spec.streams[:-1], closed))


def create_gsi(
    spec: TableSpec, raw: dict[str, Any], attribute_definitions: tuple[dict[str, str], ...]
) -> TableSpec:
    """GlobalSecondaryIndexUpdates Create: the spec with the new index CREATING."""
    one_index_change(spec)
    requested = definitions.attribute_types(list(attribute_definitions))
    keys = [(str(k["AttributeName"]), str(k["KeyType"])) for k in raw.get("KeySchema") or []]
    # the new index's keys are defined in this request, even those the table knows
    # already (Alternator's test_gsi_backfill_with_lsi, run against DynamoDB)
    missing = [n for n, _ in keys if n not in requested]
    if missing:
        raise ValidationError(
            _INVALID + "Some index key attributes are not defined in AttributeDefinitions. "
            f"Keys: [{', '.join(n for n, _ in keys)}], "
            f"AttributeDefinitions: [{', '.join(requested)}]"
        )
    # ... with the type the table knows them by: a key of the new index cannot change
    # it (DynamoDB's text, quoted in Alternator's test_gsi_key_type_conflict_on_update)
    for n, kind in keys:
        known = spec.attributes.get(n)
        if known is not None and known != requested[n]:
            raise ValidationError(
                _INVALID + "Attributes cannot be redefined. Please check that your attribute "
                "has the same type as previously defined. Existing schema: "
                f"Schema:[SchemaElement: key{{{n}:{known}:{kind}}}] New schema: "
                f"Schema:[SchemaElement: key{{{n}:{requested[n]}:{kind}}}]"
            )
    types = dict(spec.attributes)
    for an, at in requested.items():
        # another attribute defined already keeps its type: DynamoDB accepts a
        # conflicting redeclaration of one that is not a key of the new index and
        # ignores it (the Parity Suite's observation against the live service,
        # paritysuite/dynamodb-conformance#78)
        types.setdefault(an, at)
    if spec.index(raw["IndexName"]) is not None:
        raise ValidationError(_INVALID + f"Index with name: {raw['IndexName']} already exists")
    if sum(1 for i in spec.indexes if i.kind == indexes.GSI) >= indexes.MAX_GSI:
        raise LimitExceeded(
            "Subscriber limit exceeded: The number of global secondary indexes exceeds "
            f"the limit of {indexes.MAX_GSI}"
        )
    idx = definitions.index_spec(
        raw, indexes.GSI, spec.next_iid(), types, spec.key_schema, online=True
    )
    definitions.check_projected_count((*spec.indexes, idx))
    return replace(spec, attributes=types, indexes=(*spec.indexes, idx))


def delete_gsi(spec: TableSpec, index_name: str) -> TableSpec:
    """GlobalSecondaryIndexUpdates Delete: the spec with the index DELETING."""
    idx = spec.index(index_name)
    if idx is None or idx.kind != indexes.GSI:
        raise ResourceNotFound(f"Requested resource not found: Index: {index_name} not found")
    one_index_change(spec)
    return replace(
        spec,
        indexes=tuple(
            i.with_status(catalog.DELETING) if i.name == index_name else i for i in spec.indexes
        ),
    )
