"""Event-loop choice shared by the benchmark's processes."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run"]

_T = TypeVar("_T")


def run(coro: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run`` on uvloop when it is installed (uvicorn[standard] brings it).

    uvloop roughly halves the client's per-request cost, which raises the ceiling of the load
    generator; the standard loop still works, only with a lower ceiling.
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)
