"""PutResourcePolicy, GetResourcePolicy, DeleteResourcePolicy: a table's or a
stream's resource-based policy, in this region's replica (regions/resource_policy.py
has the rules; api/authorization.py evaluates the policies)."""

from __future__ import annotations

from typing import Any

from api.dynamodb.shapes import Shape
from regions import resource_policy as rp
from regions.catalog import TableSpec
from regions.region import Region

__all__ = ["delete_resource_policy", "get_resource_policy", "put_resource_policy"]


def _arn(shape: Shape) -> str | None:
    return shape.string("ResourceArn", required=True, min_len=1, max_len=1283)


def _target(region: Region, arn: str | None) -> rp.Target:
    """The ResourceArn, once the request's shape is known to be right."""
    assert arn is not None
    return rp.target(arn, region.name, region.settings.account_id)


def _expected(shape: Shape) -> str | None:
    return shape.string("ExpectedRevisionId", min_len=1, max_len=255)


async def put_resource_policy(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    arn = _arn(shape)
    text = shape.string("Policy", required=True)
    expected = _expected(shape)
    # accepted: the admin key, which no resource-based policy restricts, can always
    # change or remove a policy (as the account root can in DynamoDB)
    shape.boolean("ConfirmRemoveSelfResourceAccess")
    shape.done()
    assert text is not None
    where = _target(region, arn)
    rp.validate(text)
    attached: list[rp.ResourcePolicy] = []

    def change(spec: TableSpec) -> TableSpec:
        new, policy = rp.put(spec, where, text, expected)
        attached.append(policy)
        return new

    # per replica: the other replicas are not told (replicate=False)
    await region.control.update_spec(where.table, change, replicate=False)
    return {"RevisionId": attached[0].revision_id}


async def get_resource_policy(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    arn = _arn(shape)
    shape.done()
    where = _target(region, arn)
    spec = await region.control.table_spec(where.table)
    policy = rp.current(spec, where)
    if policy is None:
        raise rp.PolicyNotFound(
            f"Resource-based policy not found for the provided ResourceArn: {where.arn}"
        )
    return {"Policy": policy.text, "RevisionId": policy.revision_id}


async def delete_resource_policy(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    arn = _arn(shape)
    expected = _expected(shape)
    shape.done()
    where = _target(region, arn)
    spec = await region.control.table_spec(where.table)
    if rp.current(spec, where) is None and expected is None:
        # idempotent: nothing to remove, nothing stored
        return {}
    removed: list[rp.ResourcePolicy | None] = []

    def change(spec: TableSpec) -> TableSpec:
        new, policy = rp.delete(spec, where, expected)
        removed.append(policy)
        return new

    await region.control.update_spec(where.table, change, replicate=False)
    return {"RevisionId": removed[0].revision_id} if removed[0] is not None else {}
