"""Table tags: DynamoDB's limits and rules.  Tags stay in the region that set them
(DynamoDB does not replicate tags of global tables)."""

from __future__ import annotations

from dataclasses import replace

from regions.catalog import TableSpec
from regions.errors import ResourceNotFound, ValidationError
from regions.region import Region

__all__ = ["MAX_TAGS", "list_tags", "tag", "untag"]

MAX_TAGS = 50


def _table_of(region: Region, arn: str) -> str:
    prefix = f"arn:aws:dynamodb:{region.name}:"
    if not arn.startswith("arn:"):
        # as DynamoDB words it for every ResourceArn (resource_policy.py; Alternator's
        # test_tag_resource_incorrect, run against DynamoDB, matches "ARNs")
        raise ValidationError(
            f"One or more parameter values were invalid: ARNs must start with 'arn:': {arn}"
        )
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
    table, _ = await _spec_tags(region, arn)
    for key in new:
        if key.startswith("aws:"):
            raise ValidationError("Invalid tag key: aws: prefix is reserved")

    # merged with the tags stored when the change is made, not those read above: a
    # concurrent TagResource or UntagResource is not undone
    def merged(spec: TableSpec) -> TableSpec:
        tags = {**spec.tags, **new}
        if len(tags) > MAX_TAGS:
            raise ValidationError(
                "One or more parameter values were invalid: The number of tags exceeds "
                f"the limit of {MAX_TAGS}"
            )
        return replace(spec, tags=tags)

    await region.control.update_spec(table, merged, replicate=False)


async def untag(region: Region, arn: str, keys: list[str]) -> None:
    table, _ = await _spec_tags(region, arn)

    def left(spec: TableSpec) -> TableSpec:
        return replace(spec, tags={k: v for k, v in spec.tags.items() if k not in keys})

    await region.control.update_spec(table, left, replicate=False)


async def list_tags(region: Region, arn: str) -> dict[str, str]:
    return (await _spec_tags(region, arn))[1]
