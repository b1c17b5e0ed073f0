"""Resource-based policies are per replica (regions/resource_policy.py): a new replica
starts without the sender's policy, and a peer's spec never replaces a replica's own
(regions/control/replicas.py ``accept``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from regions import resource_policy as rp
from regions.catalog import Replica
from regions.control import NewTable
from regions.region import Region
from regions.settings import RegionSettings

pytestmark = pytest.mark.integration


def _doc(effect: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": effect, "Principal": "*", "Action": "dynamodb:*", "Resource": "*"}
            ],
        }
    )


@pytest.fixture
async def regions(tmp_path: Path) -> AsyncIterator[tuple[Region, Region]]:
    a = Region(RegionSettings(name="us-east-1", store_url=f"sqlite:///{tmp_path}/a.db"))
    b = Region(RegionSettings(name="eu-west-1", store_url=f"sqlite:///{tmp_path}/b.db"))
    await a.open()
    await b.open()
    yield a, b
    await b.close()
    await a.close()


async def test_a_policy_stays_with_its_replica(regions: tuple[Region, Region]) -> None:
    a, b = regions
    await a.control.create_table(
        NewTable(
            name="tbl",
            key_schema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            attribute_definitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            billing_mode="PAY_PER_REQUEST",
            resource_policy=_doc("Deny"),
        )
    )
    tid, spec = await a.control.table_ref("tbl")
    assert spec.resource_policy is not None and spec.resource_policy.text == _doc("Deny")
    spec = spec.with_replicas((Replica("us-east-1"), Replica("eu-west-1")))
    await a.catalog.save(tid, spec)
    # the new replica starts without a policy
    await b.control.replicas.accept(spec)
    assert (await b.control.table_spec("tbl")).resource_policy is None
    # its own policy survives the peer's later spec changes
    where = rp.Target(b.arn("tbl"), "tbl")
    await b.control.update_spec(
        "tbl", lambda s: rp.put(s, where, _doc("Allow"), None)[0], replicate=False
    )
    await b.control.replicas.accept(spec)
    mine = (await b.control.table_spec("tbl")).resource_policy
    assert mine is not None and mine.text == _doc("Allow")
    # and the peer's stays its own
    theirs = (await a.control.table_spec("tbl")).resource_policy
    assert theirs is not None and theirs.text == _doc("Deny")
