"""Shared helpers for the expression tests: plain Python values in, wire values out."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from regions.errors import ValidationError
from regions.expressions import ExpressionContext
from regions.types import from_plain

AV = dict[str, Any]


def av(value: object) -> AV:
    """Wire AttributeValue for a plain Python value (set -> SS/NS/BS, dict -> M, ...)."""
    return from_plain(value)


def item(attrs: Mapping[str, object]) -> dict[str, AV]:
    """An item from plain values."""
    return {k: av(v) for k, v in attrs.items()}


def ctx(
    names: dict[str, str] | None = None, values: Mapping[str, object] | None = None
) -> ExpressionContext:
    """A context; ``values`` are plain Python values keyed by ``:name``."""
    wire = None if values is None else {k: av(v) for k, v in values.items()}
    return ExpressionContext(names, wire)


def error(fn: Callable[..., object], *args: object, **kwargs: object) -> str:
    """The ValidationError message raised by ``fn(*args)`` (fails the test otherwise)."""
    with pytest.raises(ValidationError) as info:
        fn(*args, **kwargs)
    return info.value.message
