"""Time to Live operations: UpdateTimeToLive, DescribeTimeToLive.

Shape checks only; whether a change is allowed (already enabled, another
attribute, one change per window) is decided in :mod:`regions.ttl`.
"""

from __future__ import annotations

from typing import Any

from api.dynamodb.shapes import Shape
from regions import ttl
from regions.region import Region

__all__: list[str] = []


async def update_time_to_live(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    name = shape.table_name()
    spec = shape.struct("TimeToLiveSpecification", required=True)
    enabled: bool | None = None
    attribute: str | None = None
    if spec is not None:
        enabled = spec.boolean("Enabled")
        if enabled is None:
            spec.fail("Enabled", None, "Member must not be null")
        attribute = spec.string("AttributeName", required=True, min_len=1, max_len=255)
    shape.done()
    assert enabled is not None and attribute is not None  # done() raised otherwise
    await ttl.update_ttl(region, name, enabled=enabled, attribute=attribute)
    # DynamoDB echoes the specification it accepted
    return {"TimeToLiveSpecification": {"Enabled": enabled, "AttributeName": attribute}}


async def describe_time_to_live(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    name = shape.table_name()
    shape.done()
    attribute = await ttl.ttl_attribute(region, name)
    # changes apply at once here, so ENABLING/DISABLING never show; a disabled
    # table does not remember its old attribute, as in DynamoDB
    if attribute is None:
        return {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}
    return {"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": attribute}}
