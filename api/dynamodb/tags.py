"""TagResource, UntagResource, ListTagsOfResource (tables; tags are per region, as in
DynamoDB global tables, where tags do not replicate)."""

from __future__ import annotations

import unicodedata
from typing import Any

from api.dynamodb.shapes import Shape
from regions import tags
from regions.region import Region

__all__ = ["read_tags"]

#: tag keys and values: Unicode letters, separators (spaces), numbers and _ . : / = + - @
#: (the pattern AWS's tagging services share, in the words its validation uses)
_TAG_PATTERN = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*"
_TAG_PUNCTUATION = frozenset("_.:/=+-@")


def _tag_text(text: str) -> bool:
    return all(
        ch in _TAG_PUNCTUATION or unicodedata.category(ch)[0] in "LZN" for ch in text
    )


def read_tags(shape: Shape, *, required: bool) -> dict[str, str]:
    """The ``Tags`` member (TagResource, CreateTable): each key 1-128 and value 0-256
    characters of the allowed set; constraint failures collect in ``shape``."""
    out: dict[str, str] = {}
    for i, el in enumerate(
        shape.listing("Tags", required=required, min_len=1 if required else None, max_len=50)
        or [],
        1,
    ):
        sub = shape.child(el, f"tags.{i}.member")
        k = sub.string("Key", required=True, min_len=1, max_len=128)
        v = sub.string("Value", required=True, min_len=0, max_len=256)
        pattern = f"Member must satisfy regular expression pattern: {_TAG_PATTERN}"
        if k is not None and not _tag_text(k):
            sub.fail("Key", k, pattern)
        if v is not None and not _tag_text(v):
            sub.fail("Value", v, pattern)
        if k is not None and v is not None:
            out[k] = v
    return out


def _arn(shape: Shape) -> str:
    return shape.string("ResourceArn", required=True, min_len=1, max_len=1283) or ""


async def tag_resource(region: Region, body: dict[str, Any]) -> dict[str, Any] | None:
    shape = Shape(body)
    arn = _arn(shape)
    new = read_tags(shape, required=True)
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
