"""DynamoDB expressions: one engine for Condition, Filter, KeyCondition, Projection and
Update expressions.  A pure library: no I/O, values in wire form (``{"S": "x"}``).

Typical use for one request::

    ctx = ExpressionContext(body.get("ExpressionAttributeNames"),
                            body.get("ExpressionAttributeValues"))
    cond = parse_condition(body["ConditionExpression"], ctx)
    update = parse_update(body["UpdateExpression"], ctx)
    ctx.check_all_used()            # after parsing every expression of the request
    if not evaluate_condition(cond, old_item): ...
    result = apply_update(old_item, update, key_names)

Every rejection is a :class:`regions.errors.ValidationError` worded as DynamoDB words it.
"""

from __future__ import annotations

from regions.expressions.ast import (
    Condition,
    KeyCondition,
    Path,
    Update,
    UpdateResult,
    paths_in,
)
from regions.expressions.context import ExpressionContext
from regions.expressions.evaluate import (
    ParsedCondition,
    evaluate_condition,
    parse_condition,
    resolve_path,
)
from regions.expressions.key_condition import KeyTerms, parse_key_condition, parse_key_terms
from regions.expressions.legacy import (
    KeyConditionsTerms,
    apply_attribute_updates,
    attribute_updates_to_update,
    attributes_to_get_paths,
    check_conditional_operator,
    expected_to_condition,
    filter_to_condition,
    key_conditions_terms,
    key_conditions_to_key_condition,
)
from regions.expressions.projection import parse_projection, project, updated_attributes
from regions.expressions.reserved import RESERVED_WORDS, is_reserved
from regions.expressions.update import apply_update, parse_update

__all__ = [
    "RESERVED_WORDS",
    "Condition",
    "ExpressionContext",
    "KeyCondition",
    "KeyConditionsTerms",
    "KeyTerms",
    "ParsedCondition",
    "Path",
    "Update",
    "UpdateResult",
    "apply_attribute_updates",
    "apply_update",
    "attribute_updates_to_update",
    "attributes_to_get_paths",
    "check_conditional_operator",
    "evaluate_condition",
    "expected_to_condition",
    "filter_to_condition",
    "is_reserved",
    "key_conditions_terms",
    "key_conditions_to_key_condition",
    "parse_condition",
    "parse_key_condition",
    "parse_key_terms",
    "parse_projection",
    "parse_update",
    "paths_in",
    "project",
    "resolve_path",
    "updated_attributes",
]
