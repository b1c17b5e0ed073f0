"""Throughput settings of a table: billing mode, per-GSI ProvisionedThroughput and
OnDemandThroughput maxima.  Pure functions on TableSpec; ``regions/throttle.py``
enforces what they set.

Table-level BillingMode and ProvisionedThroughput stay ``table_changes.new_settings``'s
job; this module adds what that one does not know about: GSIs (each has its own
capacity under PROVISIONED, none under PAY_PER_REQUEST), OnDemandThroughput, and the
time of the last switch to PAY_PER_REQUEST (``BillingModeSummary``).

Global tables (2019.11.21) keep these settings identical on every replica, as
DynamoDB does (it requires the same write capacity on every replica and one billing
mode): :func:`shared_with` copies them from the spec a peer sends.  Reads are the
exception: a replica may override its read capacity (ProvisionedThroughputOverride)
or its on-demand read maximum (OnDemandThroughputOverride), for the table and per GSI,
kept in its entry of the replica set (``catalog.ReplicaSettings``) and checked by
:func:`check_replica_settings`; ``TableSpec.read_rate`` and friends give what is in
force in a region.

Texts: "ProvisionedThroughput is not specified for index" is DynamoDB's CreateTable
answer (awsdocs/amazon-dynamodb-developer-guide#246); the others are unverified
wordings in DynamoDB's "One or more parameter values were invalid" style.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final

from regions.catalog import ReplicaSettings, TableSpec
from regions.errors import LimitExceeded, ResourceNotFound, ValidationError
from regions.indexes import GSI, IndexSpec

__all__ = [
    "ACCOUNT_MAX_UNITS",
    "NO_MAXIMUM",
    "TABLE_MAX_UNITS",
    "IndexThroughput",
    "OnDemand",
    "check_create",
    "check_on_demand",
    "check_replica_settings",
    "describe_on_demand",
    "limits",
    "plan_update",
    "shared_with",
    "with_on_demand",
]

PROVISIONED: Final = "PROVISIONED"
PAY_PER_REQUEST: Final = "PAY_PER_REQUEST"
#: OnDemandThroughput's "no maximum" (the API's -1)
NO_MAXIMUM: Final = -1
#: DescribeLimits (Developer Guide, ServiceQuotas: 80k/80k per account, 40k/40k per table)
ACCOUNT_MAX_UNITS: Final = 80000
TABLE_MAX_UNITS: Final = 40000

_INVALID: Final = "One or more parameter values were invalid: "


@dataclass(frozen=True)
class OnDemand:
    """An OnDemandThroughput: None = the member was not given (keep the current one)."""

    max_read: int | None = None
    max_write: int | None = None


@dataclass(frozen=True)
class IndexThroughput:
    """A GSI's throughput in CreateTable, a GSI Create, or a GSI Update."""

    name: str
    read: int | None = None
    write: int | None = None
    on_demand: OnDemand | None = None

    @property
    def provisioned(self) -> bool:
        return self.read is not None and self.write is not None


def limits() -> dict[str, int]:
    """DescribeLimits' answer."""
    return {
        "AccountMaxReadCapacityUnits": ACCOUNT_MAX_UNITS,
        "AccountMaxWriteCapacityUnits": ACCOUNT_MAX_UNITS,
        "TableMaxReadCapacityUnits": TABLE_MAX_UNITS,
        "TableMaxWriteCapacityUnits": TABLE_MAX_UNITS,
    }


def check_on_demand(od: OnDemand, mode: str) -> None:
    if mode != PAY_PER_REQUEST:
        raise ValidationError(
            _INVALID + "OnDemandThroughput can only be specified when BillingMode is "
            "PAY_PER_REQUEST"
        )
    if od.max_read is None and od.max_write is None:
        raise ValidationError(
            _INVALID + "OnDemandThroughput needs MaxReadRequestUnits, MaxWriteRequestUnits or both"
        )
    for member, value in (
        ("MaxReadRequestUnits", od.max_read),
        ("MaxWriteRequestUnits", od.max_write),
    ):
        if value is not None and value != NO_MAXIMUM and value < 1:
            raise ValidationError(
                _INVALID + f"{member} must be -1 (no maximum) or at least 1, not {value}"
            )


def check_replica_settings(spec: TableSpec, region: str, settings: ReplicaSettings) -> None:
    """A replica's read overrides against the table (its billing mode and GSIs).
    Unverified wordings, in DynamoDB's "One or more parameter values were invalid"
    style; the rule itself is DynamoDB's (an override of the mode the table is not in
    has nothing to override)."""
    provisioned = spec.billing_mode == PROVISIONED

    def check(what: str, rcu: int | None, rru: int | None) -> None:
        if rcu is not None:
            if not provisioned:
                raise ValidationError(
                    _INVALID + f"ProvisionedThroughputOverride cannot be specified for {what} "
                    "when BillingMode is PAY_PER_REQUEST"
                )
            if rcu > TABLE_MAX_UNITS:
                raise LimitExceeded(
                    f"Subscriber limit exceeded: Provisioned throughput for {what} cannot "
                    f"exceed {TABLE_MAX_UNITS} read capacity units"
                )
        if rru is not None:
            if provisioned:
                raise ValidationError(
                    _INVALID + f"OnDemandThroughputOverride cannot be specified for {what} "
                    "when BillingMode is PROVISIONED"
                )
            if rru != NO_MAXIMUM and rru < 1:
                raise ValidationError(
                    _INVALID + f"MaxReadRequestUnits must be -1 (no maximum) or at least 1, "
                    f"not {rru}"
                )

    check(f"the replica in {region}", settings.read_capacity, settings.max_read_request_units)
    seen: set[str] = set()
    for entry in settings.indexes:
        if entry.name in seen:
            raise ValidationError(
                _INVALID + f"Duplicate index in GlobalSecondaryIndexes: {entry.name}"
            )
        seen.add(entry.name)
        idx = spec.index(entry.name)
        if idx is None or idx.kind != GSI:
            raise ResourceNotFound(
                f"Requested resource not found: Index: {entry.name} not found"
            )
        check(f"index {entry.name} in {region}", entry.read_capacity, entry.max_read_request_units)


def check_create(billing: str, gsis: list[IndexThroughput], on_demand: OnDemand | None) -> None:
    """CreateTable: a PROVISIONED table's GSIs need their own ProvisionedThroughput;
    OnDemandThroughput only fits PAY_PER_REQUEST."""
    if on_demand is not None:
        check_on_demand(on_demand, billing)
    for gsi in gsis:
        if billing == PROVISIONED and not gsi.provisioned:
            raise ValidationError(
                _INVALID + f"ProvisionedThroughput is not specified for index: {gsi.name}"
            )
        if gsi.on_demand is not None:
            check_on_demand(gsi.on_demand, billing)


def _merged(current: int, given: int | None) -> int:
    return current if given is None else given


def with_on_demand(
    spec: TableSpec, table: OnDemand | None, gsis: list[IndexThroughput]
) -> TableSpec:
    """The spec with OnDemandThroughput set on the table and on the given GSIs."""
    if table is not None:
        spec = replace(
            spec,
            max_read_request_units=_merged(spec.max_read_request_units, table.max_read),
            max_write_request_units=_merged(spec.max_write_request_units, table.max_write),
        )
    by_name = {g.name: g.on_demand for g in gsis if g.on_demand is not None}
    if by_name:
        spec = replace(
            spec,
            indexes=tuple(
                _index_on_demand(i, by_name[i.name]) if i.name in by_name else i
                for i in spec.indexes
            ),
        )
    return spec


def _index_on_demand(idx: IndexSpec, od: OnDemand) -> IndexSpec:
    return replace(
        idx,
        max_read_request_units=_merged(idx.max_read_request_units, od.max_read),
        max_write_request_units=_merged(idx.max_write_request_units, od.max_write),
    )


def plan_update(
    spec: TableSpec,
    *,
    billing: str | None,
    provisioned: bool,
    on_demand: OnDemand | None,
    gsi_updates: list[IndexThroughput],
    created: list[IndexThroughput],
    now: float,
) -> Callable[[TableSpec], TableSpec] | None:
    """Validate UpdateTable's throughput changes against the current spec and return
    the change to apply after ``table_changes.new_settings`` (None: nothing to do).

    ``provisioned`` says the request carried a table ProvisionedThroughput;
    ``created`` is a GSI the same request creates (it must fit the target mode)."""
    mode = billing or spec.billing_mode
    switching = mode != spec.billing_mode
    gsis = {i.name: i for i in spec.indexes if i.kind == GSI}
    updates = {u.name: u for u in gsi_updates}
    for name in updates:
        if name not in gsis:
            raise ResourceNotFound(f"Requested resource not found: Index: {name} not found")
    for u in gsi_updates:
        if u.read is None and u.write is None and u.on_demand is None:
            raise ValidationError(
                _INVALID + f"ProvisionedThroughput or OnDemandThroughput is required to "
                f"update index: {u.name}"
            )
        if (u.read is None) != (u.write is None):
            raise ValidationError(
                _INVALID + "ReadCapacityUnits and WriteCapacityUnits must both be specified "
                f"for index: {u.name}"
            )
        if u.provisioned and mode != PROVISIONED:
            raise ValidationError(
                _INVALID + f"ProvisionedThroughput cannot be specified for index: {u.name} "
                "when BillingMode is PAY_PER_REQUEST"
            )
        if u.on_demand is not None:
            check_on_demand(u.on_demand, mode)
    if on_demand is not None:
        check_on_demand(on_demand, mode)
    for gsi in created:
        if mode == PROVISIONED and not gsi.provisioned:
            raise ValidationError(
                _INVALID + f"ProvisionedThroughput is not specified for index: {gsi.name}"
            )
        if gsi.on_demand is not None:
            check_on_demand(gsi.on_demand, mode)
    if switching and mode == PROVISIONED and provisioned:
        # every GSI needs its capacity in the same call (the table's own requirement is
        # table_changes.new_settings' to report)
        for name in gsis:
            given = updates.get(name)
            if given is None or not given.provisioned:
                raise ValidationError(
                    _INVALID + f"ProvisionedThroughput is not specified for index: {name}"
                )
    if not (
        switching
        or on_demand is not None
        or gsi_updates
        or any(g.on_demand is not None for g in created)
    ):
        return None

    def change(current: TableSpec) -> TableSpec:
        out = current
        if switching and mode == PAY_PER_REQUEST:
            out = replace(
                out,
                pay_per_request_at=now,
                indexes=tuple(
                    replace(i, read_capacity=0, write_capacity=0) if i.kind == GSI else i
                    for i in out.indexes
                ),
            )
        if switching and mode == PROVISIONED:
            # maxima mean nothing under PROVISIONED; a later switch back starts clean
            out = replace(
                out,
                max_read_request_units=NO_MAXIMUM,
                max_write_request_units=NO_MAXIMUM,
                indexes=tuple(
                    replace(
                        i, max_read_request_units=NO_MAXIMUM, max_write_request_units=NO_MAXIMUM
                    )
                    for i in out.indexes
                ),
            )
        out = replace(
            out,
            indexes=tuple(_updated(i, updates.get(i.name)) for i in out.indexes),
        )
        # a GSI created by the same call exists by the time this runs
        return with_on_demand(out, on_demand, created)

    return change


def _updated(idx: IndexSpec, u: IndexThroughput | None) -> IndexSpec:
    if u is None:
        return idx
    if u.read is not None and u.write is not None:
        idx = replace(idx, read_capacity=u.read, write_capacity=u.write)
    if u.on_demand is not None:
        idx = _index_on_demand(idx, u.on_demand)
    return idx


def describe_on_demand(max_read: int, max_write: int) -> dict[str, Any] | None:
    """The OnDemandThroughput member, shown only when a maximum is set."""
    if max_read == NO_MAXIMUM and max_write == NO_MAXIMUM:
        return None
    return {"MaxReadRequestUnits": max_read, "MaxWriteRequestUnits": max_write}


def shared_with(ours: TableSpec, theirs: TableSpec) -> TableSpec:
    """Our replica's spec with the throughput settings of ``theirs`` (a peer's spec of
    the same global table): billing mode, table and GSI capacities, OnDemandThroughput
    maxima and the time of the last switch to PAY_PER_REQUEST.  A GSI we do not hold
    (yet) is left to the index reconciliation; DeletionProtection and TableClass stay
    per replica, as in DynamoDB."""
    by_name = {i.name: i for i in theirs.indexes if i.kind == GSI}
    return replace(
        ours,
        billing_mode=theirs.billing_mode,
        read_capacity=theirs.read_capacity,
        write_capacity=theirs.write_capacity,
        max_read_request_units=theirs.max_read_request_units,
        max_write_request_units=theirs.max_write_request_units,
        pay_per_request_at=theirs.pay_per_request_at,
        indexes=tuple(
            replace(
                i,
                read_capacity=by_name[i.name].read_capacity,
                write_capacity=by_name[i.name].write_capacity,
                max_read_request_units=by_name[i.name].max_read_request_units,
                max_write_request_units=by_name[i.name].max_write_request_units,
            )
            if i.kind == GSI and i.name in by_name
            else i
            for i in ours.indexes
        ),
    )
