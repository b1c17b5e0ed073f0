"""StreamSpecification refusals (regions.streams.check_specification), worded as
DynamoDB words them on CreateTable and UpdateTable."""

from __future__ import annotations

import pytest

from regions.errors import ValidationError
from regions.streams import VIEW_TYPES, check_specification

INVALID = "One or more parameter values were invalid: "


@pytest.mark.parametrize(
    ("enabled", "view", "creating", "message"),
    [
        (True, None, True, "Table is being created with a stream enabled, UpdateViewType is required"),
        (True, None, False, "If stream is being enabled then UpdateViewType is required"),
        (
            False,
            "KEYS_ONLY",
            True,
            "Table is being created with a stream disabled, UpdateViewType should not be specified",
        ),
        (False, "NEW_IMAGE", False, "If stream is being disabled, then UpdateViewType must not be specified"),
    ],
)
def test_refusals(enabled: bool, view: str | None, creating: bool, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_specification(enabled, view, creating=creating)
    assert info.value.message == INVALID + message


@pytest.mark.parametrize("creating", [True, False])
def test_accepted(creating: bool) -> None:
    for view in VIEW_TYPES:
        check_specification(True, view, creating=creating)
    check_specification(False, None, creating=creating)
