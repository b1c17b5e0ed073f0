"""docs/compatibility.md's parameters table against botocore's service models.

The table lists every operation of botocore's ``dynamodb`` and ``dynamodbstreams``
models (the installed botocore is the reference) with one row per top-level input
member: ``works`` names a test that exercises the member, ``refused`` means the region
answers it with an error that names it (an operation the region does not serve at all
is one ``*`` row).  This module keeps the table true to the models, to the tests it
names and to the operation registry; tests/integration/api/test_model_walk.py sends
every row to a running region.  No services needed here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import botocore.session

from api.dynamodb import operations as ops

__all__ = [
    "NO_MEMBERS",
    "WHOLE_OPERATION",
    "Row",
    "model_members",
    "parameter_rows",
    "service_of",
]

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "compatibility.md"
#: botocore's service name -> the registry's (api.dynamodb.operations.Service)
SERVICES = {"dynamodb": "dynamodb", "dynamodbstreams": "streams"}
#: the Parameter of an operation the region does not implement at all
WHOLE_OPERATION = "*"
#: the Parameter of an operation whose input has no members
NO_MEMBERS = "(none)"
STATUSES = ("works", "refused")
HEADER = ["Operation", "Parameter", "Status", "Tested by", "Note"]


@dataclass(frozen=True, slots=True)
class Row:
    operation: str
    parameter: str
    status: str
    tested_by: str
    note: str


def parameter_rows(text: str | None = None) -> list[Row]:
    """The rows of the ``## Parameters`` table (of ``text``, or of the docs)."""
    text = DOC.read_text() if text is None else text
    assert "\n## Parameters\n" in text, "docs/compatibility.md has no ## Parameters section"
    section = text.split("\n## Parameters\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip().strip("|").split("|")]
    assert header == HEADER, header
    rows: list[Row] = []
    for line in lines[2:]:  # past the header and its |---| line
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == len(HEADER), f"malformed row: {line}"
        operation, parameter, status, tested_by, note = cells
        rows.append(Row(operation, parameter.strip("`"), status, tested_by.strip("`"), note))
    return rows


@cache
def model_members() -> dict[str, tuple[str, tuple[str, ...]]]:
    """operation -> (botocore service, its top-level input members in model order)."""
    session = botocore.session.get_session()
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for service in SERVICES:
        model = session.get_service_model(service)
        for name in model.operation_names:
            shape = model.operation_model(name).input_shape
            assert name not in out, f"{name} is an operation of two services"
            out[name] = (service, tuple(shape.members) if shape is not None else ())
    return out


def service_of(operation: str) -> str:
    """The botocore service an operation belongs to."""
    return model_members()[operation][0]


# --------------------------------------------------------------------------- the checks


def model_differences(
    rows: Iterable[Row], model: dict[str, tuple[str, tuple[str, ...]]]
) -> list[str]:
    """(a): every operation and top-level member of the models has exactly one row,
    and no row names what the models do not have."""
    rows = list(rows)
    out: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        key = (row.operation, row.parameter)
        seen[key] = seen.get(key, 0) + 1
    out += [f"{op}.{p} is listed {n} times" for (op, p), n in seen.items() if n > 1]
    listed: dict[str, set[str]] = {}
    for op, parameter in seen:
        listed.setdefault(op, set()).add(parameter)
    for op in sorted(listed.keys() - model.keys()):
        out.append(f"{op} is listed but is no operation of the models")
    for op, (_, members) in sorted(model.items()):
        params = listed.get(op)
        if params is None:
            out.append(f"{op} is missing")
        elif params == {WHOLE_OPERATION}:
            continue  # an operation not implemented at all: one row stands for it
        elif WHOLE_OPERATION in params:
            out.append(f"{op} has a {WHOLE_OPERATION} row and member rows")
        else:
            expected = set(members) or {NO_MEMBERS}
            out += [f"{op}.{p} is missing" for p in sorted(expected - params)]
            out += [
                f"{op}.{p} is listed but the model has no such member"
                for p in sorted(params - expected)
            ]
    return out


@cache
def _test_functions(path: str) -> dict[str, str]:
    """The module-level test functions of a test file: name -> source."""
    text = (REPO / path).read_text()
    lines = text.splitlines(keepends=True)
    # whole lines (decorators aside): ast.get_source_segment re-splits the file per call
    return {
        node.name: "".join(lines[node.lineno - 1 : node.end_lineno])
        for node in ast.parse(text).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    }


def _test_function(node_id: str) -> str:
    """The source of the test function; LookupError says what is wrong with the id."""
    path, sep, name = node_id.partition("::")
    if not sep or not path.startswith("tests/") or not path.endswith(".py") or "::" in name:
        raise LookupError(f"{node_id!r} is not a pytest node id tests/...py::test_name")
    if not (REPO / path).is_file():
        raise LookupError(f"{path} does not exist")
    source = _test_functions(path).get(name)
    if source is None:
        raise LookupError(f"{path} has no test function {name}")
    return source


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def reference_problems(rows: Iterable[Row]) -> list[str]:
    """(b): every row names an existing test; a ``works`` row's test mentions the
    member (as a boto3 keyword or a request dict key), an operation without members
    the operation (its name or its boto3 method)."""
    out: list[str] = []
    for row in rows:
        where = f"{row.operation}.{row.parameter}"
        if row.status not in STATUSES:
            out.append(f"{where}: status {row.status!r} is none of {STATUSES}")
            continue
        try:
            source = _test_function(row.tested_by)
        except LookupError as exc:
            out.append(f"{where}: {exc}")
            continue
        if row.status != "works":
            continue
        words: tuple[str, ...]
        if row.parameter == NO_MEMBERS:
            words = (row.operation, _snake(row.operation))
        else:
            words = (row.parameter,)
        if not any(re.search(rf"\b{re.escape(w)}\b", source) for w in words):
            out.append(f"{where}: {row.tested_by} never mentions {words[0]}")
    return out


def registry_problems(rows: Iterable[Row]) -> list[str]:
    """(c): an operation with member rows is served (in the operation registry, by its
    service); one with a ``*`` row, refused, is not; every registered operation is one
    of the models'."""
    registered = {(op.service, op.name) for op in ops.REGISTRY}
    model = model_members()
    out: list[str] = []
    for row in rows:
        where = f"{row.operation}.{row.parameter}"
        if row.operation not in model:
            continue  # model_differences reports it
        service = SERVICES[service_of(row.operation)]
        served = (service, row.operation) in registered
        if row.parameter == WHOLE_OPERATION:
            if row.status != "refused":
                out.append(f"{where}: a {WHOLE_OPERATION} row is refused, not {row.status}")
            if served:
                out.append(f"{where}: {row.operation} is registered, so it is not refused whole")
        elif not served:
            out.append(
                f"{where}: {row.operation} is not registered: one {WHOLE_OPERATION} row, refused"
            )
    out += [
        f"{service} {name} is registered but is no operation of botocore's models"
        for service, name in sorted(registered)
        if name not in model or SERVICES[service_of(name)] != service
    ]
    return out


# --------------------------------------------------------------------------- the tests


def test_the_table_lists_every_operation_and_member_of_the_models_once() -> None:
    assert model_differences(parameter_rows(), model_members()) == []


def test_every_row_names_an_existing_test_and_works_rows_a_test_of_their_member() -> None:
    assert reference_problems(parameter_rows()) == []


def test_statuses_agree_with_the_operation_registry() -> None:
    assert registry_problems(parameter_rows()) == []


def test_the_table_is_grouped_by_operation() -> None:
    order = [row.operation for row in parameter_rows()]
    groups = [op for i, op in enumerate(order) if i == 0 or order[i - 1] != op]
    assert len(groups) == len(set(groups)), "an operation's rows are split"


def test_the_checks_catch_what_they_are_for() -> None:
    """Each check fails on a table broken the way it guards against."""
    rows = parameter_rows()
    model = model_members()
    put = next(r for r in rows if (r.operation, r.parameter) == ("PutItem", "Item"))
    # (a) a member dropped, a member invented, a row twice, an operation invented
    assert "PutItem.Item is missing" in model_differences([r for r in rows if r != put], model)
    invented = replace(put, parameter="NoSuchMember")
    assert "PutItem.NoSuchMember is listed but the model has no such member" in model_differences(
        [*rows, invented], model
    )
    assert "PutItem.Item is listed 2 times" in model_differences([*rows, put], model)
    assert "NoSuchOperation is listed but is no operation of the models" in model_differences(
        [*rows, replace(put, operation="NoSuchOperation")], model
    )
    # (b) a missing test, a test that never mentions the member, a bad status
    gone = replace(put, tested_by="tests/unit/test_compatibility_model.py::test_nothing_here")
    assert reference_problems([gone]) == [
        "PutItem.Item: tests/unit/test_compatibility_model.py has no test function test_nothing_here"
    ]
    unrelated = replace(
        put,
        parameter="ReturnItemCollectionMetrics",
        tested_by="tests/unit/test_compatibility_model.py::test_the_table_is_grouped_by_operation",
    )
    assert reference_problems([unrelated]) == [
        "PutItem.ReturnItemCollectionMetrics: tests/unit/test_compatibility_model.py::"
        "test_the_table_is_grouped_by_operation never mentions ReturnItemCollectionMetrics"
    ]
    assert reference_problems([replace(put, status="ignored")])[0].endswith(
        "status 'ignored' is none of ('works', 'refused')"
    )
    # (c) a served operation marked unimplemented, an unserved one given members
    assert registry_problems([replace(put, parameter=WHOLE_OPERATION, status="refused")]) == [
        "PutItem.*: PutItem is registered, so it is not refused whole"
    ]
    assert registry_problems(
        [replace(put, operation="ExecuteStatement", parameter="Statement")]
    ) == ["ExecuteStatement.Statement: ExecuteStatement is not registered: one * row, refused"]
