"""regions/throttle.py (token buckets) and regions/throughput.py (capacity settings),
with an injected clock."""

from __future__ import annotations

from dataclasses import replace

import pytest

from regions import throttle, throughput
from regions.capacity import Consumed
from regions.catalog import Replica, ReplicaIndexSettings, ReplicaSettings, TableSpec
from regions.errors import (
    ProvisionedThroughputExceeded,
    ResourceNotFound,
    Throttling,
    ValidationError,
)
from regions.indexes import GSI, LSI, IndexSpec
from regions.keys import KeyAttr, KeySchema
from regions.throttle import READ, WRITE, Throttle
from regions.throughput import IndexThroughput, OnDemand

ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def spec(billing: str = "PROVISIONED", rcu: int = 1, wcu: int = 1, **kw: object) -> TableSpec:
    return TableSpec(
        name=str(kw.pop("name", "t")),
        table_id=str(kw.pop("table_id", "tid-1")),
        key_schema=KeySchema(KeyAttr("p", "S")),
        attributes={"p": "S"},
        created_at=0.0,
        billing_mode=billing,
        read_capacity=rcu if billing == "PROVISIONED" else 0,
        write_capacity=wcu if billing == "PROVISIONED" else 0,
        **kw,  # type: ignore[arg-type]
    )


def gsi(name: str = "g", rcu: int = 0, wcu: int = 0, **kw: object) -> IndexSpec:
    return IndexSpec(
        name,
        GSI,
        1,
        KeySchema(KeyAttr("g", "S")),
        "ALL",
        read_capacity=rcu,
        write_capacity=wcu,
        **kw,
    )  # type: ignore[arg-type]


def make(burst: float = 5.0) -> tuple[Throttle, Clock]:
    clock = Clock()
    return Throttle(burst, clock=clock, arn=lambda t: ARN + t), clock


def writes(s: TableSpec, units: float = 1.0, **gsis: float) -> throttle.Demand:
    return throttle.Demand(s, WRITE, Consumed(units, gsi=dict(gsis)))


def reads(s: TableSpec, units: float = 1.0) -> throttle.Demand:
    return throttle.Demand(s, READ, Consumed(units))


def test_a_new_bucket_holds_the_burst_then_throttles_until_it_refills() -> None:
    t, clock = make(burst=5.0)
    s = spec(wcu=1)
    for _ in range(5):
        t.admit([writes(s)])
    with pytest.raises(ProvisionedThroughputExceeded) as info:
        t.admit([writes(s)])
    assert info.value.message == throttle.MSG_TABLE
    assert info.value.extra() == {
        "ThrottlingReasons": [
            {"reason": "TableWriteProvisionedThroughputExceeded", "resource": ARN + "t"}
        ]
    }
    clock.now += 0.5
    with pytest.raises(ProvisionedThroughputExceeded):
        t.admit([writes(s)])
    clock.now += 0.5  # one unit per second
    t.admit([writes(s)])
    # unused capacity banks for burst_s seconds, no more
    clock.now += 3600
    assert t.tokens("tid-1", None, WRITE) == pytest.approx(5.0)


def test_reads_and_writes_have_separate_buckets() -> None:
    t, _ = make(burst=1.0)
    s = spec(rcu=2, wcu=1)
    t.admit([writes(s)])
    with pytest.raises(ProvisionedThroughputExceeded):
        t.admit([writes(s)])
    t.admit([reads(s, 2.0)])
    with pytest.raises(ProvisionedThroughputExceeded) as info:
        t.admit([reads(s, 0.5)])
    assert info.value.reasons[0]["reason"] == "TableReadProvisionedThroughputExceeded"


def test_a_refused_admission_takes_nothing_from_any_table() -> None:
    t, _ = make(burst=1.0)
    a, b = spec(name="a", table_id="A", wcu=5), spec(name="b", table_id="B", wcu=1)
    t.admit([writes(b)])  # b is now empty
    with pytest.raises(ProvisionedThroughputExceeded) as info:
        t.admit([writes(a, 2.0), writes(b)])
    assert info.value.reasons == [
        {"reason": "TableWriteProvisionedThroughputExceeded", "resource": ARN + "b"}
    ]
    assert t.tokens("A", None, WRITE) == pytest.approx(5.0)


def test_batch_items_are_admitted_in_order_while_capacity_allows() -> None:
    t, _ = make(burst=3.0)
    s = spec(wcu=1)  # a bucket of 3 units
    ticket, admitted = t.admit_items([writes(s)] * 5)
    assert admitted == [True, True, True, False, False]
    assert ticket.charged == {("tid-1", "", WRITE): 3.0}
    assert t.tokens("tid-1", None, WRITE) == pytest.approx(0.0)
    # none admitted: the whole batch is refused, taking nothing
    with pytest.raises(ProvisionedThroughputExceeded) as info:
        t.admit_items([writes(s), writes(s)])
    assert info.value.reasons == [
        {"reason": "TableWriteProvisionedThroughputExceeded", "resource": ARN + "t"}
    ]
    assert t.tokens("tid-1", None, WRITE) == pytest.approx(0.0)


def test_a_refusing_bucket_refuses_the_later_items_it_pays_for() -> None:
    t, _ = make(burst=2.0)
    a, b = spec(name="a", table_id="A", wcu=1), spec(name="b", table_id="B", wcu=5)
    # a: 2 units; its 3-unit item does not fit, and the 1-unit item after it must not
    # overtake it; b's items (another bucket) and unlimited ones (None) still go
    _, admitted = t.admit_items(
        [writes(a, 1.0), writes(a, 3.0), writes(a, 1.0), writes(b), None, writes(b)]
    )
    assert admitted == [True, False, False, True, True, True]
    assert t.tokens("A", None, WRITE) == pytest.approx(1.0)
    assert t.tokens("B", None, WRITE) == pytest.approx(8.0)
    # a batch of free items only is admitted without buckets
    assert throttle.Throttle().admit_items([None, None])[1] == [True, True]


def test_a_batch_item_bigger_than_the_bucket_goes_alone_on_a_full_bucket() -> None:
    t, _ = make(burst=2.0)
    s = spec(wcu=1)
    ticket, admitted = t.admit_items([writes(s, 5.0), writes(s, 1.0)])
    assert admitted == [True, False]
    assert t.tokens("tid-1", None, WRITE) == pytest.approx(-3.0)
    ticket.settle([(s, Consumed(4.0))])  # actual cost lower than estimated: a refund
    assert t.tokens("tid-1", None, WRITE) == pytest.approx(-2.0)


def test_a_request_bigger_than_the_bucket_needs_a_full_bucket_then_leaves_a_debt() -> None:
    t, clock = make(burst=2.0)
    s = spec(wcu=1)
    t.admit([writes(s, 1.0)])
    with pytest.raises(ProvisionedThroughputExceeded):
        t.admit([writes(s, 5.0)])  # 1 token left, the bucket holds 2
    clock.now += 1
    t.admit([writes(s, 5.0)])
    assert t.tokens("tid-1", None, WRITE) == pytest.approx(-3.0)
    clock.now += 2.9  # the debt is paid off before anything else is admitted
    with pytest.raises(ProvisionedThroughputExceeded):
        t.admit([writes(s, 0.5)])
    clock.now += 0.6
    t.admit([writes(s, 0.5)])


def test_settle_charges_the_actual_cost_or_refunds_the_estimate() -> None:
    t, _ = make(burst=10.0)
    s = spec(rcu=1)
    ticket = t.admit([reads(s, 0.5)])
    assert ticket.active
    ticket.settle([(s, Consumed(3.0))])
    assert t.tokens("tid-1", None, READ) == pytest.approx(7.0)
    ticket = t.admit([reads(s, 2.0)])
    ticket.settle([(s, Consumed(0.5))])
    assert t.tokens("tid-1", None, READ) == pytest.approx(6.5)
    # a refund never fills the bucket beyond its size
    ticket = t.admit([reads(s, 0.5)])
    ticket.settle([])
    ticket.settle([(s, Consumed(100.0))])  # settled once only
    assert t.tokens("tid-1", None, READ) == pytest.approx(6.5)


def test_gsi_capacity_is_its_own_and_throttles_the_table_write() -> None:
    t, _ = make(burst=1.0)
    s = spec(wcu=100, indexes=(gsi("g", rcu=5, wcu=1),))
    t.admit([writes(s, 1.0, g=1.0)])
    with pytest.raises(ProvisionedThroughputExceeded) as info:
        t.admit([writes(s, 1.0, g=0.0)])  # any write may touch the GSI: it must not be empty
    assert info.value.message == throttle.MSG_INDEX
    assert info.value.reasons == [
        {"reason": "IndexWriteProvisionedThroughputExceeded", "resource": ARN + "t/index/g"}
    ]
    assert t.tokens("tid-1", None, WRITE) == pytest.approx(99.0)


def test_a_gsi_read_does_not_touch_the_table_bucket_and_an_lsi_read_does() -> None:
    t, _ = make(burst=1.0)
    lsi = IndexSpec("l", LSI, 2, KeySchema(KeyAttr("p", "S"), KeyAttr("l", "S")), "ALL")
    s = spec(rcu=1, indexes=(gsi("g", rcu=3, wcu=1), lsi))
    t.admit([throttle.read_demand(s, index="g", consistent=False)])
    assert t.tokens("tid-1", None, READ) is None  # never created: the GSI paid
    assert t.tokens("tid-1", "g", READ) == pytest.approx(2.5)
    t.admit([throttle.read_demand(s, index="l", consistent=True)])
    assert t.tokens("tid-1", None, READ) == pytest.approx(0.0)


def test_capacity_changes_apply_to_the_next_request() -> None:
    t, clock = make(burst=1.0)
    s = spec(wcu=1)
    t.admit([writes(s)])
    with pytest.raises(ProvisionedThroughputExceeded):
        t.admit([writes(s)])
    bigger = replace(s, write_capacity=10)
    clock.now += 0.5  # half a second at the old rate: 0.5 units
    with pytest.raises(ProvisionedThroughputExceeded):
        t.admit([writes(bigger)])
    clock.now += 0.1  # at the new rate: 0.5 + 1.0
    t.admit([writes(bigger)])


def test_on_demand_without_a_maximum_is_never_throttled() -> None:
    t, _ = make()
    s = spec("PAY_PER_REQUEST")
    assert not throttle.is_limited(s)
    for _ in range(1000):
        t.admit([writes(s, 400.0)])
    assert t.buckets == {}


def test_on_demand_maximum_gives_throttling_exception() -> None:
    t, clock = make(burst=300.0)
    s = spec("PAY_PER_REQUEST", max_write_request_units=2, max_read_request_units=-1)
    t.admit([writes(s, 2.0)])  # one second's worth, whatever the burst setting
    with pytest.raises(Throttling) as info:
        t.admit([writes(s)])
    assert info.value.message == "Rate of requests exceeds the allowed throughput."
    assert info.value.extra() == {
        "throttlingReasons": [
            {"reason": "TableWriteMaxOnDemandThroughputExceeded", "resource": ARN + "t"}
        ]
    }
    for _ in range(50):
        t.admit([reads(s, 100.0)])  # reads have no maximum
    clock.now += 1
    t.admit([writes(s, 2.0)])


def test_write_estimates_from_items() -> None:
    s = spec(wcu=5, indexes=(gsi("g", rcu=1, wcu=1),))
    big = {"p": {"S": "k"}, "f": {"S": "x" * 3000}}
    d = throttle.write_demand(s, [big, None])
    assert d.units.table == 3.0 + 1.0  # ceil(3 KB) for the Put, 1 for the other
    assert d.units.gsi == {"g": 0.0}  # the other may touch it: involved, at nothing
    assert throttle.write_demand(s, [big]).units.gsi == {}  # big enters no index
    entering = throttle.write_demand(s, [{"p": {"S": "k"}, "g": {"S": "v"}}], transactional=True)
    assert entering.units.table == 2.0
    assert entering.units.gsi == {"g": 1.0}
    with pytest.raises(ValidationError):
        throttle.write_demand(s, [{"p": {"N": "not a number"}}])


# --------------------------------------------------------------------------- settings


def test_limits() -> None:
    assert throughput.limits() == {
        "AccountMaxReadCapacityUnits": 80000,
        "AccountMaxWriteCapacityUnits": 80000,
        "TableMaxReadCapacityUnits": 40000,
        "TableMaxWriteCapacityUnits": 40000,
    }


def test_create_checks() -> None:
    with pytest.raises(ValidationError) as info:
        throughput.check_create("PROVISIONED", [IndexThroughput("g")], None)
    assert info.value.message == (
        "One or more parameter values were invalid: ProvisionedThroughput is not specified "
        "for index: g"
    )
    throughput.check_create("PROVISIONED", [IndexThroughput("g", 1, 1)], None)
    throughput.check_create("PAY_PER_REQUEST", [IndexThroughput("g")], OnDemand(10, None))
    with pytest.raises(ValidationError):
        throughput.check_create("PROVISIONED", [], OnDemand(10, 10))
    for bad in (OnDemand(0, None), OnDemand(None, -2), OnDemand(None, None)):
        with pytest.raises(ValidationError):
            throughput.check_create("PAY_PER_REQUEST", [], bad)


def test_switching_to_on_demand_clears_gsi_capacity_and_records_when() -> None:
    s = spec(rcu=5, wcu=5, indexes=(gsi("g", rcu=3, wcu=3),))
    change = throughput.plan_update(
        s, billing="PAY_PER_REQUEST", provisioned=False, on_demand=OnDemand(None, 7),
        gsi_updates=[], created=[], now=123.0,
    )  # fmt: skip
    assert change is not None
    # the control plane's new_settings switches the table itself first
    out = change(replace(s, billing_mode="PAY_PER_REQUEST", read_capacity=0, write_capacity=0))
    assert out.pay_per_request_at == 123.0
    assert (out.indexes[0].read_capacity, out.indexes[0].write_capacity) == (0, 0)
    assert (out.max_read_request_units, out.max_write_request_units) == (-1, 7)


def test_switching_to_provisioned_needs_every_gsi_capacity() -> None:
    s = spec("PAY_PER_REQUEST", indexes=(gsi("g"),), max_read_request_units=9)
    with pytest.raises(ValidationError) as info:
        throughput.plan_update(
            s, billing="PROVISIONED", provisioned=True, on_demand=None,
            gsi_updates=[], created=[], now=0.0,
        )  # fmt: skip
    assert "ProvisionedThroughput is not specified for index: g" in info.value.message
    change = throughput.plan_update(
        s, billing="PROVISIONED", provisioned=True, on_demand=None,
        gsi_updates=[IndexThroughput("g", 4, 2)], created=[], now=0.0,
    )  # fmt: skip
    assert change is not None
    out = change(replace(s, billing_mode="PROVISIONED", read_capacity=1, write_capacity=1))
    assert (out.indexes[0].read_capacity, out.indexes[0].write_capacity) == (4, 2)
    assert out.max_read_request_units == -1  # maxima are dropped under PROVISIONED


def test_gsi_updates_are_checked() -> None:
    s = spec(indexes=(gsi("g", 1, 1),))
    with pytest.raises(ResourceNotFound):
        throughput.plan_update(
            s, billing=None, provisioned=False, on_demand=None,
            gsi_updates=[IndexThroughput("nope", 1, 1)], created=[], now=0.0,
        )  # fmt: skip
    with pytest.raises(ValidationError):
        throughput.plan_update(
            s, billing=None, provisioned=False, on_demand=None,
            gsi_updates=[IndexThroughput("g", 1, None)], created=[], now=0.0,
        )  # fmt: skip
    od = spec("PAY_PER_REQUEST", indexes=(gsi("g"),))
    with pytest.raises(ValidationError):
        throughput.plan_update(
            od, billing=None, provisioned=False, on_demand=None,
            gsi_updates=[IndexThroughput("g", 1, 1)], created=[], now=0.0,
        )  # fmt: skip
    assert (
        throughput.plan_update(
            s, billing=None, provisioned=True, on_demand=None, gsi_updates=[], created=[], now=0.0
        )
        is None
    )  # the table's own capacity is table_changes.new_settings' business


# ---------------------------------------------------------------- per-replica overrides


def _replicated(s: TableSpec, here: str, settings: ReplicaSettings) -> TableSpec:
    """``s`` as a global table of ``here`` (with ``settings``) and one other region."""
    return s.with_replicas(
        (Replica(here, settings=settings), Replica("elsewhere"))
    ).localized(here)


def test_a_replica_read_override_sets_its_read_bucket_not_its_write_bucket() -> None:
    t, clock = make(burst=1.0)
    s = _replicated(
        spec(rcu=10, wcu=2, indexes=(gsi("g", rcu=4, wcu=4),)),
        "here",
        ReplicaSettings(read_capacity=1, indexes=(ReplicaIndexSettings("g", read_capacity=3),)),
    )
    assert (s.read_rate, s.index_read_rate(s.indexes[0])) == (1, 3)
    # reads: the override's 1 unit per second (burst 1 s) admits one read, not ten
    t.admit([reads(s)])
    with pytest.raises(ProvisionedThroughputExceeded):
        t.admit([reads(s)])
    # writes keep the table's capacity
    t.admit([writes(s)])
    t.admit([writes(s)])
    clock.now += 1.0
    t.admit([reads(s)])


def test_an_override_of_the_other_billing_mode_is_out_of_force() -> None:
    settings = ReplicaSettings(read_capacity=3, max_read_request_units=7)
    provisioned = _replicated(spec(rcu=10), "here", settings)
    assert (provisioned.read_rate, provisioned.max_read_rate) == (3, -1)
    on_demand = _replicated(
        spec("PAY_PER_REQUEST", max_read_request_units=50), "here", settings
    )
    assert (on_demand.read_rate, on_demand.max_read_rate) == (0, 7)
    # another region's entry is not in force here
    other = spec(rcu=10).with_replicas(
        (Replica("here"), Replica("elsewhere", settings=settings))
    ).localized("here")
    assert other.read_rate == 10


def test_replica_settings_survive_the_catalog_round_trip_and_merge() -> None:
    settings = ReplicaSettings(
        read_capacity=5,
        indexes=(ReplicaIndexSettings("g", read_capacity=2),),
        table_class="STANDARD_INFREQUENT_ACCESS",
        table_class_at=12.5,
    )
    s = _replicated(spec(rcu=10, indexes=(gsi("g", rcu=4, wcu=4),)), "here", settings)
    again = TableSpec.from_json(s.to_json())
    assert again == s
    assert again.table_class == "STANDARD_INFREQUENT_ACCESS"
    # an Update sends only what changes; GSI entries merge by name
    merged = settings.merged(
        ReplicaSettings(indexes=(ReplicaIndexSettings("g", max_read_request_units=9),))
    )
    assert merged.read_capacity == 5
    assert merged.indexes == (ReplicaIndexSettings("g", 2, 9),)
    assert merged.table_class == "STANDARD_INFREQUENT_ACCESS"


def test_replica_settings_are_checked_against_the_table() -> None:
    s = spec(rcu=10, indexes=(gsi("g", rcu=4, wcu=4),))
    throughput.check_replica_settings(s, "r", ReplicaSettings(read_capacity=40000))
    with pytest.raises(ValidationError, match="OnDemandThroughputOverride cannot be specified"):
        throughput.check_replica_settings(s, "r", ReplicaSettings(max_read_request_units=5))
    with pytest.raises(ResourceNotFound, match="Index: nope not found"):
        throughput.check_replica_settings(
            s, "r", ReplicaSettings(indexes=(ReplicaIndexSettings("nope", 1),))
        )
    with pytest.raises(ValidationError, match="Duplicate index"):
        throughput.check_replica_settings(
            s,
            "r",
            ReplicaSettings(indexes=(ReplicaIndexSettings("g", 1), ReplicaIndexSettings("g", 2))),
        )
    on_demand = spec("PAY_PER_REQUEST")
    with pytest.raises(ValidationError, match="MaxReadRequestUnits must be -1"):
        throughput.check_replica_settings(
            on_demand, "r", ReplicaSettings(max_read_request_units=0)
        )
