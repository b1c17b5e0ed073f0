"""Issue #17's small differences at the expression library: list index range, the
65535-byte attribute-name limit of ExpressionAttributeNames and AttributesToGet."""

from __future__ import annotations

import pytest

from regions.errors import ValidationError
from regions.expressions import (
    attributes_to_get_paths,
    parse_condition,
    parse_projection,
    parse_update,
)
from regions.expressions.context import MSG_NAME_TOO_LARGE, check_name_size
from regions.expressions.parser import MAX_LIST_INDEX

from .helpers import ctx, error

RANGE = "List index is not within the allowable range; index: "


def test_the_largest_index_parses() -> None:
    assert MAX_LIST_INDEX == 2**32 - 2
    assert parse_projection(f"a[{MAX_LIST_INDEX}]", ctx()) == [("a", MAX_LIST_INDEX)]


@pytest.mark.parametrize("digits", [str(MAX_LIST_INDEX + 1), "99999999999999", "9" * 4000])
def test_an_index_past_it_is_refused_by_every_kind(digits: str) -> None:
    assert error(parse_projection, f"a[{digits}]", ctx()) == (
        f"Invalid ProjectionExpression: {RANGE}[{digits}]"
    )
    assert error(parse_update, f"REMOVE a[1][{digits}]", ctx()) == (
        f"Invalid UpdateExpression: {RANGE}[{digits}]"
    )
    assert error(parse_condition, f"size(a[{digits}]) > :v", ctx(values={":v": 1})) == (
        f"Invalid ConditionExpression: {RANGE}[{digits}]"
    )


def test_syntax_errors_come_first_then_source_order() -> None:
    # a syntax error anywhere wins over a range problem
    assert error(parse_projection, "a[99999999999], ,", ctx()).startswith(
        "Invalid ProjectionExpression: Syntax error;"
    )
    assert error(parse_projection, "b.size, a[99999999999]", ctx()) == (
        "Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: size"
    )
    assert error(parse_projection, "a[99999999999], b.size", ctx()) == (
        f"Invalid ProjectionExpression: {RANGE}[99999999999]"
    )


def test_names_up_to_65535_bytes() -> None:
    check_name_size("z" * 65535)
    check_name_size("é" * 32767)  # 65534 bytes
    for name in ("z" * 65536, "é" * 32768, "😀" * 16384):
        with pytest.raises(ValidationError) as info:
            check_name_size(name)
        assert info.value.message == MSG_NAME_TOO_LARGE
    assert MSG_NAME_TOO_LARGE == (
        "1 validation error detected: Attribute name is too large, must be less than 65536 bytes"
    )


def test_expression_attribute_names_and_attributes_to_get_check_them() -> None:
    assert error(ctx, {"#n": "z" * 65536}) == MSG_NAME_TOO_LARGE
    assert parse_projection("#n", ctx({"#n": "z" * 65535})) == [("z" * 65535,)]
    assert error(attributes_to_get_paths, ["a", "z" * 65536]) == MSG_NAME_TOO_LARGE
    assert attributes_to_get_paths(["z" * 65535]) == [("z" * 65535,)]
