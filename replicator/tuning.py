"""The replicator's tuning variables: a number from the environment, or its default.

A malformed value is refused with the variable's name and what it must be, at the
region's start (``Replicator`` reads each once), never silently replaced."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

__all__ = ["env_number"]

N = TypeVar("N", int, float)


def env_number(
    name: str, default: N, parse: Callable[[str], N], valid: Callable[[N], bool], expected: str
) -> N:
    """``name``'s value parsed, ``default`` when unset; ValueError saying it must be
    ``expected`` when it does not parse or is not ``valid``."""
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = parse(text)
    except ValueError:
        value = None
    if value is None or not valid(value):
        raise ValueError(f"{name} must be {expected}, not {text!r}")
    return value
