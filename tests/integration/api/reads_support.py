"""Helpers of the Query/Scan/index fidelity tests (plain functions, low-level client,
values in wire form so the exact JSON the server sends is what gets compared)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

Item = dict[str, Any]


def s(v: str) -> dict[str, str]:
    return {"S": v}


def n(v: str | int | Decimal) -> dict[str, str]:
    return {"N": str(v)}


def b(v: bytes) -> dict[str, bytes]:
    """A B value as the low-level client takes it (raw bytes; botocore base64s them)."""
    return {"B": v}


def put_all(ddb: Any, table: str, items: Iterable[Item], workers: int = 8) -> None:
    """PutItem every item, a few at a time (the order of the writes must not matter)."""
    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(lambda item: ddb.put_item(TableName=table, Item=item), list(items)):
            pass


def pages(call: Callable[..., dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
    """Every page of a Query or Scan, resuming from LastEvaluatedKey until it is absent."""
    out: list[dict[str, Any]] = []
    start: Item | None = None
    while True:
        args = dict(kw)
        if start is not None:
            args["ExclusiveStartKey"] = start
        page = call(**args)
        out.append(page)
        start = page.get("LastEvaluatedKey")
        if start is None:
            return out
        assert len(out) < 10_000, "paging does not end"


def items_of(got: list[dict[str, Any]]) -> list[Item]:
    return [i for page in got for i in page.get("Items", [])]


def key_of(item: Item, names: Iterable[str]) -> tuple[Any, ...]:
    """A hashable identity of an item by the given attributes (wire values)."""
    return tuple(tuple(sorted(item[a].items())) if a in item else None for a in names)


def wait_index_active(ddb: Any, table: str, index: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        desc = ddb.describe_table(TableName=table)["Table"]
        for gsi in desc.get("GlobalSecondaryIndexes", []):
            if gsi["IndexName"] == index and gsi["IndexStatus"] == "ACTIVE":
                return dict(gsi)
        assert time.monotonic() < deadline, f"index {index} not ACTIVE: {desc}"
        time.sleep(0.05)


def wait_index_gone(ddb: Any, table: str, index: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        desc: dict[str, Any] = ddb.describe_table(TableName=table)["Table"]
        names = [g["IndexName"] for g in desc.get("GlobalSecondaryIndexes", [])]
        if index not in names:
            return desc
        assert time.monotonic() < deadline, f"index {index} still there: {desc}"
        time.sleep(0.05)
