"""Throughput limits: token buckets per table and per global secondary index.

One :class:`Throttle` per region process (:func:`for_region`), in memory.  Buckets
are keyed by (table id, index name or "", read|write), so a dropped and re-created
table of the same name starts afresh, and are (re)configured from the table spec at
every admission, so UpdateTable takes effect on the next request.

Which resources are limited (Developer Guide, ProvisionedThroughput and ServiceQuotas):

* BillingMode PROVISIONED: the table's ReadCapacityUnits/WriteCapacityUnits and each
  GSI's own.  A bucket refills at that many units per second and banks up to
  ``burst_s`` seconds of unused capacity (DynamoDB: 300 s, "burst capacity"); a new
  bucket starts full.  Local secondary indexes share the table's capacity.
* PAY_PER_REQUEST: nothing, unless OnDemandThroughput sets MaxReadRequestUnits /
  MaxWriteRequestUnits on the table or a GSI; such a bucket refills at that rate and
  holds one second's worth (the maximum is a per-second rate).

Units are DynamoDB's (:mod:`regions.capacity`).  A request's exact cost is often
known only after it ran (a read's item sizes; a write's old image), so admission is
two-step:

1. **before anything is read or written**, :meth:`Throttle.admit` checks every
   bucket the request involves against an *estimate*: the minimum a read can cost,
   the size of the new item for a Put, one unit for an Update or Delete, twice that
   inside a transaction.  A bucket admits when it holds at least
   ``min(estimate, bucket size)`` and more than nothing (so a request bigger than the
   bucket needs a full bucket instead of starving).  If any bucket refuses, nothing
   is taken and the request fails with ProvisionedThroughputExceededException (or
   ThrottlingException for an on-demand maximum), having changed nothing.  Otherwise
   the estimate is taken from every bucket;
2. **after the request**, :meth:`Ticket.settle` takes the difference between the
   actual cost and the estimate (a refund when the estimate was high).  A bucket may
   go negative here: that debt delays later requests, as DynamoDB's own accounting
   does.  A request that failed after admission (a failed condition, say) keeps the
   estimate charged: DynamoDB bills failed conditional writes too.

Transactions are admitted as a whole (the sum over their items, per table): a
throttled transaction writes nothing and is retried by the SDK as a whole.  Batches
are admitted item by item (:meth:`Throttle.admit_items`), as DynamoDB's BatchWriteItem
and BatchGetItem process what capacity allows and hand the rest back as
UnprocessedItems / UnprocessedKeys: items are taken in request order while their
buckets can pay, and a bucket that refused one item refuses every later one of the
batch (so a small item never overtakes a bigger one on the same resource).  Only a
batch of which no item can be admitted fails with the exception.

Messages: ProvisionedThroughputExceededException's two texts as the service sends
them (table: mifi/dynamodump#20, quintilesims/layer0#229; GSI: grailbio/reflow#101);
ThrottlingException's as the Developer Guide's error list (Programming.Errors) gives
it.  Both carry ThrottlingReasons (``ThrottlingReasons``/``throttlingReasons`` per the
botocore model) such as
``{"reason": "TableWriteProvisionedThroughputExceeded", "resource": <table ARN>}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from regions import capacity
from regions.capacity import Consumed
from regions.catalog import DELETING, TableSpec
from regions.errors import DynamoError, ProvisionedThroughputExceeded, Throttling, ValidationError
from regions.indexes import GSI, IndexSpec
from regions.types import Item, item_size, validate_item

if TYPE_CHECKING:
    from regions.region import Region

__all__ = [
    "MSG_INDEX",
    "MSG_TABLE",
    "MSG_THROTTLING",
    "READ",
    "WRITE",
    "Bucket",
    "Demand",
    "Throttle",
    "Ticket",
    "admit",
    "admit_items",
    "admit_reads",
    "admit_writes",
    "for_region",
    "is_limited",
    "limits_kind",
    "read_demand",
    "write_demand",
]

READ: Final = "read"
WRITE: Final = "write"

MSG_TABLE: Final = (
    "The level of configured provisioned throughput for the table was exceeded. "
    "Consider increasing your provisioning level with the UpdateTable API."
)
MSG_INDEX: Final = (
    "The level of configured provisioned throughput for one or more global secondary "
    "indexes of the table was exceeded. Consider increasing your provisioning level for "
    "the under-provisioned global secondary indexes with the UpdateTable API"
)
MSG_THROTTLING: Final = "Rate of requests exceeds the allowed throughput."

#: an on-demand maximum is a per-second rate: its bucket holds one second's worth
_ON_DEMAND_BURST_S: Final = 1.0


@dataclass
class Bucket:
    """Tokens (capacity units) refilled continuously at ``rate`` up to ``size``."""

    rate: float
    size: float
    tokens: float
    stamp: float

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.size, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def reconfigure(self, rate: float, size: float, now: float) -> None:
        """A capacity change (UpdateTable): what accrued so far accrued at the old rate."""
        self.refill(now)
        self.rate, self.size = rate, size
        self.tokens = min(self.tokens, size)

    def admits(self, need: float) -> bool:
        return self.tokens > 0 and self.tokens >= min(need, self.size)


@dataclass(frozen=True)
class _Limit:
    """One limited resource of one table: the table itself or one GSI."""

    key: tuple[str, str, str]
    rate: float
    #: PROVISIONED capacity (else an on-demand maximum)
    provisioned: bool
    index: str | None


def _index_rate(spec: TableSpec, idx: IndexSpec, kind: str, provisioned: bool) -> int:
    # reads may be overridden per replica (TableSpec.index_read_rate); writes never are
    if provisioned:
        return spec.index_read_rate(idx) if kind == READ else idx.write_capacity
    return spec.index_max_read_rate(idx) if kind == READ else idx.max_write_request_units


def _limits(spec: TableSpec, kind: str) -> list[_Limit]:
    """Every limited bucket of a table for reads or writes (table first)."""
    provisioned = spec.billing_mode == "PROVISIONED"
    out: list[_Limit] = []
    if provisioned:
        rate = spec.read_rate if kind == READ else spec.write_capacity
    else:
        rate = spec.max_read_rate if kind == READ else spec.max_write_request_units
    # a capacity of 0 is a spec from before capacities were required: unlimited
    if rate >= 1:
        out.append(_Limit((spec.table_id, "", kind), float(rate), provisioned, None))
    for idx in spec.indexes:
        if idx.kind != GSI or idx.status == DELETING:
            continue
        irate = _index_rate(spec, idx, kind, provisioned)
        if irate >= 1:
            out.append(_Limit((spec.table_id, idx.name, kind), float(irate), provisioned, idx.name))
    return out


def limits_kind(spec: TableSpec, kind: str) -> bool:
    """Whether reads (or writes) of the table can be throttled."""
    return bool(_limits(spec, kind))


def is_limited(spec: TableSpec) -> bool:
    """Whether any request on the table can be throttled (else admission is free)."""
    return bool(_limits(spec, READ) or _limits(spec, WRITE))


@dataclass(frozen=True)
class Demand:
    """What one request wants of one table: ``units`` by arm (``gsi`` names every GSI
    it involves, with 0 where the estimate is nothing but the index may be touched)."""

    spec: TableSpec
    kind: str
    units: Consumed


def _arms(limit: _Limit, consumed: Consumed, kind: str) -> float | None:
    """The units of ``consumed`` that ``limit``'s bucket pays, None if not involved.
    An LSI's units are the table's (LSIs share the table's throughput)."""
    if limit.index is None:
        table = consumed.table + sum(consumed.lsi.values())
        # every write involves its table; a read of a GSI does not
        return table if (table > 0 or kind == WRITE) else None
    return consumed.gsi.get(limit.index)


@dataclass
class Ticket:
    """An admitted request: what it was charged, to settle against its actual cost."""

    throttle: Throttle | None
    charged: dict[tuple[str, str, str], float] = field(default_factory=dict)
    specs: dict[str, TableSpec] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """Whether settling matters (the request charged a limited bucket)."""
        return self.throttle is not None and bool(self.charged)

    def settle(self, actual: Iterable[tuple[TableSpec, Consumed]]) -> None:
        """Charge the actual cost (per table) minus what admission took."""
        if self.throttle is None or not self.charged:
            return
        spent: dict[tuple[str, str, str], float] = dict.fromkeys(self.charged, 0.0)
        for spec, consumed in actual:
            kind = self.kinds.get(spec.table_id)
            if kind is None:
                continue
            for limit in _limits(spec, kind):
                if limit.key in spent:
                    spent[limit.key] += _arms(limit, consumed, kind) or 0.0
        self.throttle.adjust({k: spent[k] - self.charged[k] for k in spent})
        self.charged = {}


class Throttle:
    """The buckets of one region process."""

    def __init__(
        self,
        burst_s: float = 300.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        arn: Callable[[str], str] | None = None,
        share: float = 1.0,
    ) -> None:
        self.burst_s = burst_s
        self.clock = clock
        self.arn = arn or (lambda table: table)
        #: this process's part of every rate: a region served by N processes
        #: (--workers) gives each 1/N, so together they admit what the table allows
        self.share = share
        self.buckets: dict[tuple[str, str, str], Bucket] = {}

    def _bucket(self, limit: _Limit, now: float) -> Bucket:
        rate = limit.rate * self.share
        size = rate * (self.burst_s if limit.provisioned else _ON_DEMAND_BURST_S)
        bucket = self.buckets.get(limit.key)
        if bucket is None:
            bucket = self.buckets[limit.key] = Bucket(rate, size, size, now)
        elif bucket.rate != rate or bucket.size != size:
            bucket.reconfigure(rate, size, now)
        else:
            bucket.refill(now)
        return bucket

    def admit(self, demands: Sequence[Demand]) -> Ticket:
        """Take every demand's estimate from its buckets, or raise (taking nothing)
        if any bucket cannot pay."""
        ticket = Ticket(self)
        now = self.clock()
        wanted: dict[tuple[str, str, str], float] = {}
        limits: dict[tuple[str, str, str], tuple[_Limit, TableSpec]] = {}
        for d in demands:
            ticket.kinds[d.spec.table_id] = d.kind
            ticket.specs[d.spec.table_id] = d.spec
            for limit in _limits(d.spec, d.kind):
                units = _arms(limit, d.units, d.kind)
                if units is None:
                    continue
                wanted[limit.key] = wanted.get(limit.key, 0.0) + units
                limits[limit.key] = (limit, d.spec)
        refused = [
            limits[key]
            for key, units in wanted.items()
            if not self._bucket(limits[key][0], now).admits(units)
        ]
        if refused:
            raise self._error(refused)
        for key, units in wanted.items():
            self.buckets[key].tokens -= units
        ticket.charged = wanted
        return ticket

    def admit_items(self, demands: Sequence[Demand | None]) -> tuple[Ticket, list[bool]]:
        """A batch's items, one demand each (None: an item of an unlimited table),
        admitted in order while their buckets can pay; a bucket that refused an item
        refuses the batch's later items too.  Returns the ticket of what was taken and
        which items were admitted; raises (taking nothing) if none was."""
        ticket = Ticket(self)
        now = self.clock()
        admitted: list[bool] = []
        blocked: dict[tuple[str, str, str], tuple[_Limit, TableSpec]] = {}
        for d in demands:
            if d is None:
                admitted.append(True)
                continue
            ticket.kinds[d.spec.table_id] = d.kind
            ticket.specs[d.spec.table_id] = d.spec
            wanted: dict[tuple[str, str, str], tuple[_Limit, float]] = {}
            for limit in _limits(d.spec, d.kind):
                units = _arms(limit, d.units, d.kind)
                if units is not None:
                    wanted[limit.key] = (limit, units)
            refused = [
                (key, limit)
                for key, (limit, units) in wanted.items()
                if key in blocked or not self._bucket(limit, now).admits(units)
            ]
            if refused:
                for key, limit in refused:
                    blocked.setdefault(key, (limit, d.spec))
                admitted.append(False)
                continue
            for key, (_, units) in wanted.items():
                self.buckets[key].tokens -= units
                ticket.charged[key] = ticket.charged.get(key, 0.0) + units
            admitted.append(True)
        if demands and not any(admitted):
            raise self._error(list(blocked.values()))
        return ticket, admitted

    def adjust(self, deltas: dict[tuple[str, str, str], float]) -> None:
        """Take (or give back, when negative) units after the fact; never refuses."""
        now = self.clock()
        for key, delta in deltas.items():
            bucket = self.buckets.get(key)
            if bucket is None or not delta:
                continue
            bucket.refill(now)
            bucket.tokens = min(bucket.size, bucket.tokens - delta)

    def tokens(self, table_id: str, index: str | None, kind: str) -> float | None:
        """A bucket's tokens now (tests, diagnostics); None if it does not exist."""
        bucket = self.buckets.get((table_id, index or "", kind))
        if bucket is None:
            return None
        bucket.refill(self.clock())
        return bucket.tokens

    def _error(self, refused: list[tuple[_Limit, TableSpec]]) -> DynamoError:
        reasons: list[dict[str, str]] = []
        for limit, spec in refused:
            table_arn = self.arn(spec.name)
            where = "Table" if limit.index is None else "Index"
            op = "Read" if limit.key[2] == READ else "Write"
            why = (
                "ProvisionedThroughputExceeded"
                if limit.provisioned
                else "MaxOnDemandThroughputExceeded"
            )
            resource = table_arn if limit.index is None else f"{table_arn}/index/{limit.index}"
            reasons.append({"reason": f"{where}{op}{why}", "resource": resource})
        if any(limit.provisioned for limit, _ in refused):
            table_hit = any(limit.index is None for limit, _ in refused if limit.provisioned)
            return ProvisionedThroughputExceeded(MSG_TABLE if table_hit else MSG_INDEX, reasons)
        return Throttling(MSG_THROTTLING, reasons)


# --------------------------------------------------------------------------- estimates


def read_demand(
    spec: TableSpec,
    *,
    index: str | None = None,
    consistent: bool = False,
    transactional: bool = False,
    reads: int = 1,
) -> Demand:
    """``reads`` reads at their minimum cost (a read's size is only known after it),
    charged to the table, or to the GSI read; an LSI read is the table's."""
    units = reads * capacity.read_units(0, consistent=consistent, transactional=transactional)
    idx = spec.index(index) if index is not None else None
    if idx is not None and idx.kind == GSI:
        return Demand(spec, READ, Consumed(gsi={idx.name: units}))
    return Demand(spec, READ, Consumed(units))


def write_demand(
    spec: TableSpec, items: Sequence[object | None], *, transactional: bool = False
) -> Demand:
    """Writes of ``items`` (a Put's raw item; None for an Update, Delete or check).

    A Put's table arm is its new item's size (a write costs at least that); an Update
    or Delete costs at least one unit.  A Put involves the GSIs its item enters,
    estimated at what entering costs (one it leaves is charged when settled); an
    Update or Delete may touch any GSI, so involves them all, at 0.  A Put item that
    is not valid raises the ValidationError the write itself would (so an invalid
    request is not answered as throttled)."""
    out = Consumed()
    for raw in items:
        if raw is None:
            out.table += capacity.write_units(0, transactional=transactional)
            for idx in spec.indexes:
                if idx.kind == GSI:
                    out.gsi.setdefault(idx.name, 0.0)
            continue
        new: Item = validate_item(raw)
        out.table += capacity.write_units(item_size(new), transactional=transactional)
        if spec.indexes:
            try:
                entering = capacity.index_writes(spec, None, new)
            except ValidationError:
                continue  # a bad index key: the write itself reports it
            out.add(Consumed(gsi=entering.gsi, lsi=entering.lsi))
    return Demand(spec, WRITE, out)


# --------------------------------------------------------------------------- per region

def for_region(region: Region) -> Throttle:
    """The region's buckets (a field of the region, built with its settings)."""
    return region.throttle


def admit(region: Region, demands: Sequence[Demand]) -> Ticket:
    """Admission for a request on ``region``; free (no buckets touched) when none of
    its tables is limited."""
    if not any(_limits(d.spec, d.kind) for d in demands):
        return Ticket(None)
    return for_region(region).admit(demands)


def admit_items(region: Region, demands: Sequence[Demand | None]) -> tuple[Ticket, list[bool]]:
    """Item-by-item admission of a batch on ``region`` (:meth:`Throttle.admit_items`);
    free when none of its tables is limited."""
    if not any(d is not None and _limits(d.spec, d.kind) for d in demands):
        return Ticket(None), [True] * len(demands)
    return for_region(region).admit_items(demands)


def admit_reads(
    region: Region,
    reads: Sequence[tuple[TableSpec, str | None, bool, int]],
    *,
    transactional: bool = False,
) -> Ticket:
    """Admission of reads given as (spec, index, consistent, number of reads)."""
    demands = [
        read_demand(spec, index=index, consistent=consistent, transactional=transactional, reads=n)
        for spec, index, consistent, n in reads
        if _limits(spec, READ)
    ]
    return admit(region, demands) if demands else Ticket(None)


def admit_writes(
    region: Region,
    writes: Sequence[tuple[TableSpec, Sequence[object | None]]],
    *,
    transactional: bool = False,
) -> Ticket:
    """Admission of writes given as (spec, [a Put's raw item, or None for the others]);
    the estimate (which validates Put items) is only worked out for limited tables."""
    demands = [
        write_demand(spec, items, transactional=transactional)
        for spec, items in writes
        if _limits(spec, WRITE)
    ]
    return admit(region, demands) if demands else Ticket(None)
