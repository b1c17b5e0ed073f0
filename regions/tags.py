"""Table tags: DynamoDB's limits and rules.  Tags stay in the region that set them
(DynamoDB does not replicate tags of global tables)."""

from __future__ import annotations

from dataclasses import replace

from regions.errors import ResourceNotFound, ValidationError
from regions.region import Region

__all__ = ["MAX_TAGS", "list_tags", "tag", "untag"]

MAX_TAGS = 50


def _table_of(region: Region, arn: str) -> str:
    prefix = f"arn:aws:dynamodb:{region.name}:"
    if not arn.startswith("arn:aws:dynamodb:") or ":table/" not in arn:
        raise ValidationError(f"Invalid TableArn: Invalid ResourceArn provided as input {arn}")
    if not arn.startswith(prefix):
        raise ValidationError(
            f"Invalid TableArn: ResourceArn {arn} is not in this region ({region.name})"
        )
    rest = arn.split(":table/", 1)[1]
    if "/" in rest:
        # index and stream ARNs cannot be tagged
        raise ValidationError(f"Invalid TableArn: Invalid ResourceArn provided as input {arn}")
    return rest


async def _spec_tags(region: Region, arn: str) -> tuple[str, dict[str, str]]:
    table = _table_of(region, arn)
    try:
        spec = await region.control.table_spec(table)
    except ResourceNotFound:
        raise ResourceNotFound(
            f"Requested resource not found: ResourcArn: {arn} not found"
        ) from None
    return table, dict(spec.tags)


async def tag(region: Region, arn: str, new: dict[str, str]) -> None:
    table, current = await _spec_tags(region, arn)
    for key in new:
        if key.startswith("aws:"):
            raise ValidationError("Invalid tag key: aws: prefix is reserved")
    merged = {**current, **new}
    if len(merged) > MAX_TAGS:
        raise ValidationError(
            f"One or more parameter values were invalid: The number of tags exceeds the limit of {MAX_TAGS}"
        )
    await region.control.update_spec(table, lambda s: replace(s, tags=merged), replicate=False)


async def untag(region: Region, arn: str, keys: list[str]) -> None:
    table, current = await _spec_tags(region, arn)
    left = {k: v for k, v in current.items() if k not in keys}
    await region.control.update_spec(table, lambda s: replace(s, tags=left), replicate=False)


async def list_tags(region: Region, arn: str) -> dict[str, str]:
    return (await _spec_tags(region, arn))[1]
