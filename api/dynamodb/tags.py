"""TagResource, UntagResource, ListTagsOfResource (tables; tags are per region, as in
DynamoDB global tables, where tags do not replicate)."""

from __future__ import annotations

from typing import Any

from api.dynamodb.shapes import Shape
from regions import tags
from regions.region import Region

__all__: list[str] = []


def _arn(shape: Shape) -> str:
    return shape.string("ResourceArn", required=True, min_len=1, max_len=1283) or ""


async def tag_resource(region: Region, body: dict[str, Any]) -> dict[str, Any] | None:
    shape = Shape(body)
    arn = _arn(shape)
    new: dict[str, str] = {}
    for i, el in enumerate(shape.listing("Tags", required=True) or [], 1):
        sub = shape.child(el, f"tags.{i}.member")
        k = sub.string("Key", required=True, min_len=1, max_len=128)
        v = sub.string("Value", required=True, min_len=0, max_len=256)
        if k is not None and v is not None:
            new[k] = v
    shape.done()
    await tags.tag(region, arn, new)
    # DynamoDB answers TagResource and UntagResource with an empty body
    return None


async def untag_resource(region: Region, body: dict[str, Any]) -> dict[str, Any] | None:
    shape = Shape(body)
    arn = _arn(shape)
    keys = shape.listing("TagKeys", required=True) or []
    shape.done()
    await tags.untag(region, arn, [str(k) for k in keys])
    return None


async def list_tags(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    arn = _arn(shape)
    shape.string("NextToken")
    shape.done()
    current = await tags.list_tags(region, arn)
    return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(current.items())]}
