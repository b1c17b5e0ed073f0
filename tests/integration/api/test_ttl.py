"""Time to Live through boto3: Update/DescribeTimeToLive and every refusal, and the
sweeper of a real region process deleting exactly the expired items."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.fixtures.regions import RegionProcess, free_port
from tests.integration.api.support import REGION, create_table, expect_error, unique

pytestmark = pytest.mark.integration

ALREADY_ENABLED = "TimeToLive is already enabled"
ALREADY_DISABLED = "TimeToLive is already disabled"
TOO_OFTEN = "Time to live has been modified multiple times within a fixed interval"


def _other(attribute: str) -> str:
    return (
        f"TimeToLive is active on a different AttributeName: current AttributeName is {attribute}"
    )


def _spec(attribute: str, enabled: bool = True) -> dict[str, Any]:
    return {"AttributeName": attribute, "Enabled": enabled}


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegionProcess]:
    """A region sweeping every 0.2 s and allowing TTL changes back to back."""
    d = tmp_path_factory.mktemp("ttl-fast")
    proc = RegionProcess(
        REGION,
        free_port(),
        f"sqlite:///{d}/fast.db",
        log_dir=d,
        extra_args=["--ttl-interval", "0.2", "--ttl-change-window", "0"],
    ).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def idle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegionProcess]:
    """A region whose sweeper runs once at start-up and then not for an hour, with
    DynamoDB's one-hour window between TTL changes."""
    d = tmp_path_factory.mktemp("ttl-idle")
    proc = RegionProcess(
        REGION,
        free_port(),
        f"sqlite:///{d}/idle.db",
        log_dir=d,
        extra_args=["--ttl-interval", "3600"],
    ).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def fast_ddb(fast: RegionProcess) -> Any:
    return fast.client()


@pytest.fixture(scope="module")
def idle_ddb(idle: RegionProcess) -> Any:
    return idle.client()


@pytest.fixture(scope="module")
def idle_raw(idle: RegionProcess) -> Any:
    """Without botocore's parameter validation, so the server's checks are tested."""
    return boto3.client(
        "dynamodb",
        endpoint_url=idle.url,
        region_name=REGION,
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
        config=Config(parameter_validation=False, retries={"max_attempts": 1, "mode": "standard"}),
    )


def _table(ddb: Any) -> str:
    name = unique("ttl")
    create_table(ddb, name)
    return name


def _describe(ddb: Any, table: str) -> dict[str, Any]:
    out: dict[str, Any] = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    return out


# ------------------------------------------------------------------ the setting


def test_fresh_table_is_disabled(idle_ddb: Any) -> None:
    assert _describe(idle_ddb, _table(idle_ddb)) == {"TimeToLiveStatus": "DISABLED"}


def test_enable_echoes_and_describes(idle_ddb: Any) -> None:
    table = _table(idle_ddb)
    out = idle_ddb.update_time_to_live(TableName=table, TimeToLiveSpecification=_spec("expires"))
    assert out["TimeToLiveSpecification"] == {"AttributeName": "expires", "Enabled": True}
    # no ENABLING phase: the change is in force at once
    assert _describe(idle_ddb, table) == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}


def test_refusals_while_enabled(idle_ddb: Any) -> None:
    table = _table(idle_ddb)
    idle_ddb.update_time_to_live(TableName=table, TimeToLiveSpecification=_spec("expires"))

    def update(attribute: str, enabled: bool) -> Callable[[], object]:
        return lambda: idle_ddb.update_time_to_live(
            TableName=table, TimeToLiveSpecification=_spec(attribute, enabled)
        )

    expect_error(update("expires", True), "ValidationException", ALREADY_ENABLED)
    expect_error(update("other", True), "ValidationException", _other("expires"))
    expect_error(update("other", False), "ValidationException", _other("expires"))
    # the right disable, but within the hour of the enable
    expect_error(update("expires", False), "ValidationException", TOO_OFTEN)
    assert _describe(idle_ddb, table) == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}


def test_disable_when_disabled(idle_ddb: Any) -> None:
    table = _table(idle_ddb)
    expect_error(
        lambda: idle_ddb.update_time_to_live(
            TableName=table, TimeToLiveSpecification=_spec("expires", False)
        ),
        "ValidationException",
        ALREADY_DISABLED,
    )


def test_disable_and_switch_attributes(fast_ddb: Any) -> None:
    """With no change window: disable, then enable on another attribute."""
    table = _table(fast_ddb)
    fast_ddb.update_time_to_live(TableName=table, TimeToLiveSpecification=_spec("a"))
    out = fast_ddb.update_time_to_live(TableName=table, TimeToLiveSpecification=_spec("a", False))
    assert out["TimeToLiveSpecification"] == {"AttributeName": "a", "Enabled": False}
    # a disabled table does not remember its attribute
    assert _describe(fast_ddb, table) == {"TimeToLiveStatus": "DISABLED"}
    expect_error(
        lambda: fast_ddb.update_time_to_live(
            TableName=table, TimeToLiveSpecification=_spec("a", False)
        ),
        "ValidationException",
        ALREADY_DISABLED,
    )
    fast_ddb.update_time_to_live(TableName=table, TimeToLiveSpecification=_spec("b"))
    assert _describe(fast_ddb, table) == {"TimeToLiveStatus": "ENABLED", "AttributeName": "b"}


def test_missing_table(idle_ddb: Any) -> None:
    missing = unique("ttl-missing")
    expect_error(
        lambda: idle_ddb.update_time_to_live(TableName=missing, TimeToLiveSpecification=_spec("e")),
        "ResourceNotFoundException",
    )
    expect_error(
        lambda: idle_ddb.describe_time_to_live(TableName=missing), "ResourceNotFoundException"
    )


def test_attribute_name_length(idle_ddb: Any, idle_raw: Any) -> None:
    table = _table(idle_ddb)
    long = "x" * 256
    expect_error(
        lambda: idle_ddb.update_time_to_live(TableName=table, TimeToLiveSpecification=_spec(long)),
        "ValidationException",
        f"1 validation error detected: Value '{long}' at 'timeToLiveSpecification.attributeName' "
        "failed to satisfy constraint: Member must have length less than or equal to 255",
    )
    # botocore refuses "" itself; the server must too
    expect_error(
        lambda: idle_raw.update_time_to_live(TableName=table, TimeToLiveSpecification=_spec("")),
        "ValidationException",
        "1 validation error detected: Value '' at 'timeToLiveSpecification.attributeName' "
        "failed to satisfy constraint: Member must have length greater than or equal to 1",
    )
    # 255 is fine
    idle_ddb.update_time_to_live(TableName=table, TimeToLiveSpecification=_spec("y" * 255))
    assert _describe(idle_ddb, table)["AttributeName"] == "y" * 255


def test_missing_members(idle_ddb: Any, idle_raw: Any) -> None:
    table = _table(idle_ddb)
    expect_error(
        lambda: idle_raw.update_time_to_live(TableName=table),
        "ValidationException",
        "1 validation error detected: Value null at 'timeToLiveSpecification' failed to satisfy "
        "constraint: Member must not be null",
    )
    expect_error(
        lambda: idle_raw.update_time_to_live(TableName=table, TimeToLiveSpecification={}),
        "ValidationException",
        "2 validation errors detected: Value null at 'timeToLiveSpecification.enabled' failed to "
        "satisfy constraint: Member must not be null; Value null at "
        "'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must not "
        "be null",
    )
    expect_error(
        lambda: idle_raw.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"AttributeName": "e", "Enabled": "dog"}
        ),
        "SerializationException",
    )
    assert _describe(idle_ddb, table) == {"TimeToLiveStatus": "DISABLED"}


# ------------------------------------------------------------------ expiry


def test_expired_items_stay_readable_until_swept(idle_ddb: Any) -> None:
    """Expiry is a background delete: until it happens, reads see the item and
    writes may rescue it."""
    table = _table(idle_ddb)
    past = str(int(time.time()) - 3600)
    idle_ddb.put_item(TableName=table, Item={"p": {"S": "old"}, "exp": {"N": past}})
    idle_ddb.update_time_to_live(TableName=table, TimeToLiveSpecification=_spec("exp"))
    key = {"p": {"S": "old"}}
    assert idle_ddb.get_item(TableName=table, Key=key)["Item"]["exp"] == {"N": past}
    assert idle_ddb.scan(TableName=table)["Count"] == 1
    q = idle_ddb.query(
        TableName=table,
        KeyConditionExpression="p = :p",
        ExpressionAttributeValues={":p": {"S": "old"}},
    )
    assert q["Count"] == 1
    out = idle_ddb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"S": "still here"}},
        ReturnValues="ALL_NEW",
    )
    assert out["Attributes"] == {"p": {"S": "old"}, "exp": {"N": past}, "v": {"S": "still here"}}


def _keys(ddb: Any, table: str) -> set[str]:
    return {it["p"]["S"] for it in ddb.scan(TableName=table, ConsistentRead=True)["Items"]}


def _removes(store: str, table: str) -> list[dict[str, Any]]:
    """The REMOVE change records of ``table`` as stored in the region's SQLite file."""
    path = store.removeprefix("sqlite:///")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT c.record FROM gt_changes c JOIN gt_tables t ON t.tid = c.tid "
            "WHERE t.name = ? AND c.event = 'REMOVE' ORDER BY c.seq",
            (table,),
        ).fetchall()
    return [json.loads(bytes(r[0])) for r in rows]


def test_sweeper_deletes_exactly_the_expired_items(fast: RegionProcess, fast_ddb: Any) -> None:
    table = _table(fast_ddb)
    now = int(time.time())
    items: dict[str, dict[str, Any] | None] = {
        "past": {"N": str(now - 60)},
        "soon": {"N": str(now + 2)},
        "future": {"N": str(now + 3600)},
        "five-years-old": {"N": "162777600"},
        "string": {"S": str(now - 60)},
        "number-set": {"NS": [str(now - 60)]},
        "nested": {"M": {"exp": {"N": str(now - 60)}}},
        "missing": None,
        "user-deleted": {"N": str(now + 3600)},
    }
    for key, exp in items.items():
        item: dict[str, Any] = {"p": {"S": key}}
        if exp is not None:
            item["exp"] = exp
        fast_ddb.put_item(TableName=table, Item=item)
    fast_ddb.delete_item(TableName=table, Key={"p": {"S": "user-deleted"}})
    fast_ddb.update_time_to_live(TableName=table, TimeToLiveSpecification=_spec("exp"))

    survivors = {"future", "five-years-old", "string", "number-set", "nested", "missing"}
    deadline = time.monotonic() + 20
    while _keys(fast_ddb, table) != survivors and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _keys(fast_ddb, table) == survivors
    # many more sweeps later, the others are still there
    time.sleep(1.5)
    assert _keys(fast_ddb, table) == survivors

    removes = _removes(fast.store, table)
    marks = {r["keys"]["p"]["S"]: r.get("svc", False) for r in removes}
    # the sweeper's deletes carry the service mark (Streams userIdentity); a user's does not
    assert marks == {"user-deleted": False, "past": True, "soon": True}
    assert all(r["new"] is None and r["old"]["exp"]["N"] for r in removes if r.get("svc"))


def test_sweeper_leaves_tables_without_ttl_alone(fast_ddb: Any) -> None:
    table = _table(fast_ddb)
    fast_ddb.put_item(
        TableName=table, Item={"p": {"S": "a"}, "exp": {"N": str(int(time.time()) - 60)}}
    )
    time.sleep(1.0)  # five sweeps
    assert _keys(fast_ddb, table) == {"a"}


def test_region_flags_reject_bad_values(tmp_path: Path) -> None:
    proc = RegionProcess(
        REGION,
        free_port(),
        f"sqlite:///{tmp_path}/bad.db",
        log_dir=tmp_path,
        extra_args=["--ttl-interval", "0"],
    )
    with pytest.raises(RuntimeError, match="sweep interval must be positive"):
        proc.start(timeout=20)
    proc.kill()
