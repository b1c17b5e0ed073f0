"""The operation registry (api/dynamodb/operations.py) and everything that reads it:
the router's dispatch, a worker process's routing and the docs' lists of operations."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from api.dynamodb import operations as ops
from api.dynamodb.operations import CONTEXT_HANDLERS as CONTEXT_OPERATIONS
from api.dynamodb.operations import DECODED as DECODED_OPERATIONS
from api.dynamodb.operations import HANDLERS as OPERATIONS
from api.dynamodb.protocol import parse_target
from api.dynamodb.router import serve
from api.forwarding import served_by_worker

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _differences(documented: dict[str, str], registered: dict[str, str]) -> list[str]:
    out = [
        f"{n} is documented ({documented[n]}) but not registered"
        for n in documented.keys() - registered.keys()
    ]
    out += [
        f"{n} is registered ({registered[n]}) but not documented"
        for n in registered.keys() - documented.keys()
    ]
    out += [
        f"{n} is documented under {documented[n]!r}, registered under {registered[n]!r}"
        for n in documented.keys() & registered.keys()
        if documented[n] != registered[n]
    ]
    return sorted(out)


def _compatibility_table() -> dict[str, str]:
    """docs/compatibility.md's operations table: operation -> family."""
    text = (DOCS / "compatibility.md").read_text()
    section = text.split("\n## Operations\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    assert header[:2] == ["Family", "Operations"], header
    documented: dict[str, str] = {}
    for row in rows[2:]:  # past the header and its |---| line
        family, names = (c.strip() for c in row.strip("|").split("|")[:2])
        for name in (n.strip() for n in names.split(",")):
            assert name not in documented, f"{name} is listed twice"
            documented[name] = family
    return documented


def test_the_compatibility_table_lists_exactly_the_registered_operations() -> None:
    registered = {op.name: op.family for op in ops.REGISTRY}
    assert _differences(_compatibility_table(), registered) == []


def test_the_compatibility_table_lists_the_families_in_order() -> None:
    families = list(dict.fromkeys(_compatibility_table().values()))
    assert families == list(ops.FAMILIES)


def test_the_regions_doc_lists_exactly_the_operations_a_worker_serves() -> None:
    text = (DOCS / "regions.md").read_text()
    found = re.search(r"Workers serve the item operations themselves:(.*?)\.", text, re.S)
    assert found is not None, "docs/regions.md no longer lists the workers' operations"
    documented = set(re.split(r",|\band\b", " ".join(found.group(1).split())))
    documented = {n.strip() for n in documented} - {""}
    assert documented == {op.name for op in ops.REGISTRY if op.worker}


def test_the_workers_serve_the_item_operations() -> None:
    # pinned: a change here changes which process answers, so it is a deliberate one
    assert {
        f"DynamoDB_20120810.{name}".encode()
        for name in (
            "GetItem",
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "Query",
            "Scan",
            "BatchGetItem",
            "BatchWriteItem",
            "TransactGetItems",
            "TransactWriteItems",
        )
    } == ops.WORKER_TARGETS


def _scope(target: bytes) -> dict[str, Any]:
    return {"method": "POST", "path": "/", "headers": [(b"x-amz-target", target)]}


@pytest.mark.parametrize("op", ops.REGISTRY, ids=lambda op: op.target)
def test_every_operation_is_dispatched_and_routed_as_registered(op: ops.Operation) -> None:
    service, name = parse_target(op.target)
    assert (service, name) == (op.service, op.name)
    tables: tuple[dict[str, dict[str, Any]], ...] = (
        DECODED_OPERATIONS,
        OPERATIONS,
        CONTEXT_OPERATIONS,
    )
    assert sum(name in table[service] for table in tables) == 1
    if op.decode is not None:
        decoded = DECODED_OPERATIONS[service][name]
        assert (decoded.decode, decoded.run) == (op.decode, op.run)
    elif op.handler is not None:
        assert OPERATIONS[service][name] is op.handler
    else:
        assert CONTEXT_OPERATIONS[service][name] is op.context_handler
    assert served_by_worker(_scope(op.target.encode())) is op.worker


def test_the_item_operations_are_decoded_and_the_rest_handled() -> None:
    # decode -> authorize(request) -> run: the operations whose authorization reads
    # their parsed expressions (attribute names, leading keys)
    assert {op.name for op in ops.REGISTRY if op.decode is not None} == {
        op.name for op in ops.REGISTRY if op.worker
    }


def test_the_dispatch_tables_hold_nothing_else() -> None:
    tables: tuple[dict[str, dict[str, Any]], ...] = (
        DECODED_OPERATIONS,
        OPERATIONS,
        CONTEXT_OPERATIONS,
    )
    dispatched = {(s, n) for table in tables for s in table for n in table[s]}
    assert dispatched == {(op.service, op.name) for op in ops.REGISTRY}
    assert set(OPERATIONS) == set(CONTEXT_OPERATIONS) == set(DECODED_OPERATIONS)
    assert set(OPERATIONS) == set(ops.SERVICES)
    assert {op.name for op in ops.REGISTRY} == ops.NAMES


def test_an_operation_needs_exactly_one_handler_and_a_known_family() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ops.Operation("X", "dynamodb", ops.TABLES)
    put = next(op for op in ops.REGISTRY if op.name == "PutItem")
    with pytest.raises(ValueError, match="exactly one"):
        ops.Operation(
            "X", "dynamodb", ops.ITEMS, ops.REGISTRY[0].handler, decode=put.decode, run=put.run
        )
    with pytest.raises(ValueError, match="go together"):
        ops.Operation("X", "dynamodb", ops.ITEMS, decode=put.decode)
    with pytest.raises(ValueError, match="family"):
        ops.Operation("X", "dynamodb", "Nope", ops.REGISTRY[0].handler)


class _Observed:
    def __init__(self) -> None:
        self.seen: list[tuple[str, int, str | None]] = []

    def observe(self, op: str, status: int, seconds: float, error: str | None = None) -> None:
        self.seen.append((op, status, error))


#: what an unknown target is answered, byte for byte (before the body is even read)
UNKNOWN = (
    b'{"__type":"com.amazon.coral.service#UnknownOperationException",'
    b'"message":"An unknown operation was requested."}'
)


@pytest.mark.parametrize(
    ("target", "label"),
    [
        ("DynamoDB_20120810.NoSuchOperation", "NoSuchOperation"),
        # a DynamoDB operation under the Streams prefix is not one
        ("DynamoDBStreams_20120810.PutItem", "PutItem"),
        ("DynamoDB_20120810.GetRecords", "GetRecords"),
        ("DynamoDB_20111205.ListTables", "unknown"),
        ("", "unknown"),
        (None, "unknown"),
    ],
)
async def test_an_unknown_target_is_answered_as_before(target: str | None, label: str) -> None:
    observed = _Observed()
    headers = {} if target is None else {"x-amz-target": target}
    # no region is needed: the target is resolved before anything else runs
    response = await serve(None, observed, headers, b"not json", 0.0, "h")  # type: ignore[arg-type]
    assert (response.status_code, response.body) == (400, UNKNOWN)
    assert observed.seen == [(label, 400, "UnknownOperationException")]
