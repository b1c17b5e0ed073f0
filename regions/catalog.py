"""Table definitions: what a table is, independent of where its items live.

A :class:`TableSpec` is stored as JSON in the store's ``gt_tables`` row.  The
``table_id`` is shared by every replica of a global table (a replica is created
with the id of the table it replicates), so an applier can tell "the same table"
from "a table that happens to have the same name" after a delete and re-create.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from regions.errors import ValidationError
from regions.indexes import IndexSpec
from regions.keys import KeyAttr, KeySchema
from regions.resource_policy import ResourcePolicy
from regions.streams import StreamSpec

__all__ = [
    "ACTIVE",
    "DELETING",
    "GLOBAL_TABLE_VERSION",
    "NO_OVERRIDES",
    "Replica",
    "ReplicaIndexSettings",
    "ReplicaSettings",
    "TableSpec",
    "new_table_id",
    "validate_table_name",
]

ACTIVE = "ACTIVE"
CREATING = "CREATING"
UPDATING = "UPDATING"
DELETING = "DELETING"
GLOBAL_TABLE_VERSION = "2019.11.21"

_NAME_RE = re.compile(r"^[a-zA-Z0-9_.-]+$")


def validate_table_name(name: str, member: str = "tableName") -> None:
    """DynamoDB's table-name rule, checked on the server because botocore lets
    1-2 character names through (TableName also accepts ARNs there)."""
    errors: list[str] = []
    if len(name) < 3:
        errors.append(
            f"Value '{name}' at '{member}' failed to satisfy constraint: "
            "Member must have length greater than or equal to 3"
        )
    if len(name) > 255:
        errors.append(
            f"Value '{name}' at '{member}' failed to satisfy constraint: "
            "Member must have length less than or equal to 255"
        )
    if not _NAME_RE.match(name):
        errors.append(
            f"Value '{name}' at '{member}' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
        )
    if errors:
        n = len(errors)
        raise ValidationError(
            f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(errors)
        )


def new_table_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class ReplicaIndexSettings:
    """One GSI's settings of one replica (ReplicaGlobalSecondaryIndex): None = the
    table's value applies."""

    name: str
    #: ProvisionedThroughputOverride.ReadCapacityUnits
    read_capacity: int | None = None
    #: OnDemandThroughputOverride.MaxReadRequestUnits (-1: no maximum)
    max_read_request_units: int | None = None

    def merged(self, other: ReplicaIndexSettings) -> ReplicaIndexSettings:
        """``other``'s given values over these (an Update sends only what changes)."""
        return ReplicaIndexSettings(
            self.name,
            self.read_capacity if other.read_capacity is None else other.read_capacity,
            self.max_read_request_units
            if other.max_read_request_units is None
            else other.max_read_request_units,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "read_capacity": self.read_capacity,
            "max_read_request_units": self.max_read_request_units,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReplicaIndexSettings:
        rcu, rru = data.get("read_capacity"), data.get("max_read_request_units")
        return cls(
            str(data["name"]),
            None if rcu is None else int(rcu),
            None if rru is None else int(rru),
        )


@dataclass(frozen=True)
class ReplicaSettings:
    """A replica's own settings of a global table (DynamoDB's per-replica overrides:
    ReplicaUpdates Create/Update, UpdateGlobalTableSettings).  Reads are per replica in
    DynamoDB (each region serves its own reads); writes, billing mode and the rest stay
    the table's, the same in every region.  None = the table's value applies."""

    #: ProvisionedThroughputOverride.ReadCapacityUnits (PROVISIONED tables)
    read_capacity: int | None = None
    #: OnDemandThroughputOverride.MaxReadRequestUnits (PAY_PER_REQUEST tables; -1: none)
    max_read_request_units: int | None = None
    #: per-GSI overrides, by index name
    indexes: tuple[ReplicaIndexSettings, ...] = ()
    #: TableClassOverride
    table_class: str | None = None
    #: when table_class last changed (ReplicaTableClassSummary.LastUpdateDateTime)
    table_class_at: float = 0.0

    def index(self, name: str) -> ReplicaIndexSettings | None:
        return next((i for i in self.indexes if i.name == name), None)

    def merged(self, other: ReplicaSettings) -> ReplicaSettings:
        """``other``'s given values over these; GSI entries merge by index name."""
        by_name = {i.name: i for i in self.indexes}
        for entry in other.indexes:
            current = by_name.get(entry.name)
            by_name[entry.name] = entry if current is None else current.merged(entry)
        return ReplicaSettings(
            read_capacity=self.read_capacity if other.read_capacity is None else other.read_capacity,
            max_read_request_units=self.max_read_request_units
            if other.max_read_request_units is None
            else other.max_read_request_units,
            indexes=tuple(sorted(by_name.values(), key=lambda i: i.name)),
            table_class=self.table_class if other.table_class is None else other.table_class,
            table_class_at=self.table_class_at
            if other.table_class is None
            else other.table_class_at,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "read_capacity": self.read_capacity,
            "max_read_request_units": self.max_read_request_units,
            "indexes": [i.to_json() for i in self.indexes],
            "table_class": self.table_class,
            "table_class_at": self.table_class_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ReplicaSettings:
        if not data:
            return NO_OVERRIDES
        rcu, rru = data.get("read_capacity"), data.get("max_read_request_units")
        return cls(
            read_capacity=None if rcu is None else int(rcu),
            max_read_request_units=None if rru is None else int(rru),
            indexes=tuple(ReplicaIndexSettings.from_json(i) for i in data.get("indexes", [])),
            table_class=data.get("table_class"),
            table_class_at=float(data.get("table_class_at", 0.0)),
        )


NO_OVERRIDES = ReplicaSettings()


@dataclass(frozen=True)
class Replica:
    region: str
    status: str = ACTIVE
    #: backfill progress while CREATING, 0-100
    progress: int = 0
    #: this replica's own settings; every region's spec lists every replica's, so
    #: DescribeTable anywhere shows them all (Replicas)
    settings: ReplicaSettings = NO_OVERRIDES
    #: while CREATING: the region that copies the table to it (drives its backfill),
    #: so whichever node of that region leads resumes an interrupted copy
    source: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"region": self.region, "status": self.status, "progress": self.progress}
        if self.settings != NO_OVERRIDES:
            out["settings"] = self.settings.to_json()
        if self.source is not None:
            out["source"] = self.source
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Replica:
        return cls(
            data["region"],
            data.get("status", ACTIVE),
            int(data.get("progress", 0)),
            ReplicaSettings.from_json(data.get("settings")),
            data.get("source"),
        )


@dataclass(frozen=True)
class TableSpec:
    name: str
    table_id: str
    key_schema: KeySchema
    #: AttributeDefinitions as given (name -> S|N|B), key attributes only
    attributes: dict[str, str]
    created_at: float
    #: partitions of this replica's store (fixed for the table's life; regions may differ)
    partitions: int = 8
    billing_mode: str = "PROVISIONED"
    read_capacity: int = 0
    write_capacity: int = 0
    #: OnDemandThroughput of a PAY_PER_REQUEST table; -1 = no maximum
    max_read_request_units: int = -1
    max_write_request_units: int = -1
    #: when the table last switched to PAY_PER_REQUEST (0: never switched; created so)
    pay_per_request_at: float = 0.0
    status: str = ACTIVE
    #: regions holding a replica, this one included; empty = not a global table
    replicas: tuple[Replica, ...] = field(default_factory=tuple)
    tags: dict[str, str] = field(default_factory=dict)
    deletion_protection: bool = False
    table_class: str = "STANDARD"
    #: TableClass was given (CreateTable or UpdateTable): DescribeTable then shows
    #: TableClassSummary even for STANDARD, as DynamoDB does
    table_class_given: bool = False
    #: when UpdateTable last changed the class (TableClassSummary.LastUpdateDateTime)
    table_class_changed_at: float = 0.0
    #: TTL attribute name when Time to Live is enabled, else None
    ttl_attribute: str | None = None
    #: when the TTL setting last changed (DynamoDB allows one change per hour)
    ttl_changed_at: float = 0.0
    #: secondary indexes, LSIs and GSIs, in creation order
    indexes: tuple[IndexSpec, ...] = field(default_factory=tuple)
    #: every enabling of the stream, oldest first; the last is current if enabled
    streams: tuple[StreamSpec, ...] = field(default_factory=tuple)
    #: this replica's resource-based policy (the table's and its indexes'); per
    #: region, never replicated (regions/resource_policy.py)
    resource_policy: ResourcePolicy | None = None
    #: the resource-based policies of its streams, by stream label
    stream_policies: dict[str, ResourcePolicy] = field(default_factory=dict)
    #: this replica's own settings: a copy of its entry in ``replicas`` (see
    #: :meth:`localized`), kept here so the hot paths (throttling, DescribeTable)
    #: need not know which region they run in
    own: ReplicaSettings = NO_OVERRIDES
    #: a restored table's RestoreSummary (regions/protection/restore.py), DynamoDB's
    #: members: SourceBackupArn or SourceTableArn, RestoreDateTime, RestoreInProgress
    restore: dict[str, Any] | None = None

    # -- effective throughput: the table's, or this replica's override of reads

    @property
    def read_rate(self) -> int:
        """ReadCapacityUnits in force here (PROVISIONED)."""
        if self.billing_mode == "PROVISIONED" and self.own.read_capacity is not None:
            return self.own.read_capacity
        return self.read_capacity

    @property
    def max_read_rate(self) -> int:
        """MaxReadRequestUnits in force here (PAY_PER_REQUEST; -1: no maximum)."""
        if self.billing_mode == "PAY_PER_REQUEST" and self.own.max_read_request_units is not None:
            return self.own.max_read_request_units
        return self.max_read_request_units

    def index_read_rate(self, idx: IndexSpec) -> int:
        o = self.own.index(idx.name)
        if self.billing_mode == "PROVISIONED" and o is not None and o.read_capacity is not None:
            return o.read_capacity
        return idx.read_capacity

    def index_max_read_rate(self, idx: IndexSpec) -> int:
        o = self.own.index(idx.name)
        if (
            self.billing_mode == "PAY_PER_REQUEST"
            and o is not None
            and o.max_read_request_units is not None
        ):
            return o.max_read_request_units
        return idx.max_read_request_units

    def replica(self, region: str) -> Replica | None:
        return next((r for r in self.replicas if r.region == region), None)

    def localized(self, here: str) -> TableSpec:
        """The spec as region ``here`` holds it: its own entry's settings in force
        (read overrides, table class)."""
        entry = self.replica(here)
        own = entry.settings if entry is not None else NO_OVERRIDES
        table_class = own.table_class if own.table_class is not None else self.table_class
        if own == self.own and table_class == self.table_class:
            return self
        return replace(self, own=own, table_class=table_class)

    @property
    def stream(self) -> StreamSpec | None:
        """The enabled stream, if any."""
        return self.streams[-1] if self.streams and self.streams[-1].enabled else None

    def index(self, name: str) -> IndexSpec | None:
        return next((i for i in self.indexes if i.name == name), None)

    def next_iid(self) -> int:
        return max((i.iid for i in self.indexes), default=0) + 1

    def replica_regions(self) -> tuple[str, ...]:
        return tuple(r.region for r in self.replicas)

    def filling(self, region: str) -> bool:
        """Is ``region``'s replica still receiving its first copy (backfill)?"""
        return any(r.region == region and r.status == CREATING for r in self.replicas)

    def shown_status(self, region: str) -> str:
        """TableStatus as ``region`` describes it: CREATING while its own replica is
        being filled, UPDATING while it fills another region's (DynamoDB's states
        while a replica is added), else the stored status."""
        if self.status != ACTIVE:
            return self.status
        if self.filling(region):
            return CREATING
        if any(r.status == CREATING for r in self.replicas):
            return "UPDATING"
        return self.status

    def with_replicas(self, replicas: tuple[Replica, ...]) -> TableSpec:
        return replace(self, replicas=tuple(sorted(replicas, key=lambda r: r.region)))

    def to_json(self) -> dict[str, Any]:
        ks: dict[str, Any] = {"hash": [self.key_schema.hash.name, self.key_schema.hash.type]}
        if self.key_schema.range is not None:
            ks["range"] = [self.key_schema.range.name, self.key_schema.range.type]
        return {
            "name": self.name,
            "table_id": self.table_id,
            "key_schema": ks,
            "attributes": self.attributes,
            "created_at": self.created_at,
            "partitions": self.partitions,
            "billing_mode": self.billing_mode,
            "read_capacity": self.read_capacity,
            "write_capacity": self.write_capacity,
            "max_read_request_units": self.max_read_request_units,
            "max_write_request_units": self.max_write_request_units,
            "pay_per_request_at": self.pay_per_request_at,
            "status": self.status,
            "replicas": [r.to_json() for r in self.replicas],
            "tags": self.tags,
            "deletion_protection": self.deletion_protection,
            "table_class": self.table_class,
            "table_class_given": self.table_class_given,
            "table_class_changed_at": self.table_class_changed_at,
            "ttl_attribute": self.ttl_attribute,
            "ttl_changed_at": self.ttl_changed_at,
            "indexes": [i.to_json() for i in self.indexes],
            "streams": [s.to_json() for s in self.streams],
            **(
                {"resource_policy": self.resource_policy.to_json()}
                if self.resource_policy is not None
                else {}
            ),
            **(
                {"stream_policies": {k: v.to_json() for k, v in self.stream_policies.items()}}
                if self.stream_policies
                else {}
            ),
            **({"own": self.own.to_json()} if self.own != NO_OVERRIDES else {}),
            **({"restore": self.restore} if self.restore is not None else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TableSpec:
        ks = data["key_schema"]
        rng = ks.get("range")
        schema = KeySchema(
            hash=KeyAttr(ks["hash"][0], ks["hash"][1]),
            range=KeyAttr(rng[0], rng[1]) if rng else None,
        )
        return cls(
            name=data["name"],
            table_id=data["table_id"],
            key_schema=schema,
            attributes=dict(data["attributes"]),
            created_at=float(data["created_at"]),
            partitions=int(data.get("partitions", 8)),
            billing_mode=data.get("billing_mode", "PROVISIONED"),
            read_capacity=int(data.get("read_capacity", 0)),
            write_capacity=int(data.get("write_capacity", 0)),
            max_read_request_units=int(data.get("max_read_request_units", -1)),
            max_write_request_units=int(data.get("max_write_request_units", -1)),
            pay_per_request_at=float(data.get("pay_per_request_at", 0.0)),
            status=data.get("status", ACTIVE),
            replicas=tuple(Replica.from_json(r) for r in data.get("replicas", [])),
            tags=dict(data.get("tags", {})),
            deletion_protection=bool(data.get("deletion_protection", False)),
            table_class=data.get("table_class", "STANDARD"),
            table_class_given=bool(data.get("table_class_given", False)),
            table_class_changed_at=float(data.get("table_class_changed_at", 0.0)),
            ttl_attribute=data.get("ttl_attribute"),
            ttl_changed_at=float(data.get("ttl_changed_at", 0.0)),
            indexes=tuple(IndexSpec.from_json(i) for i in data.get("indexes", [])),
            streams=tuple(StreamSpec.from_json(s) for s in data.get("streams", [])),
            resource_policy=(
                ResourcePolicy.from_json(data["resource_policy"])
                if data.get("resource_policy")
                else None
            ),
            stream_policies={
                k: ResourcePolicy.from_json(v) for k, v in data.get("stream_policies", {}).items()
            },
            own=ReplicaSettings.from_json(data.get("own")),
            restore=data.get("restore"),
        )
