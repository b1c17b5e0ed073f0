"""Schemathesis against the REST API's own OpenAPI schema (``/openapi.json``).

Every operation the schema documents gets generated requests, valid and invalid
(bounded: ``MAX_EXAMPLES`` per operation); none may answer 5xx.  Random table
names mostly reach "table not found", so each case is also sent against a real
table with a key in the body, to reach the item code behind the lookup.

The region runs ``--allow-anonymous`` so the generated (unsigned) requests reach
the routes rather than stopping at authentication; authentication's own hostile
cases live in test_auth.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from tests.fixtures.regions import RegionProcess, free_port
from tests.integration.api.support import create_table

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 25
TABLE = "openapi-fuzz"


@pytest.fixture(scope="module")
def anonymous_region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegionProcess]:
    d = tmp_path_factory.mktemp("openapi")
    proc = RegionProcess(
        "us-east-1", free_port(), f"sqlite:///{d}/r.db", log_dir=d, extra_args=["--allow-anonymous"]
    ).start()
    client: Any = proc.client()
    create_table(client, TABLE, ("id", "S"))
    client.put_item(TableName=TABLE, Item={"id": {"S": "seed"}, "v": {"N": "1"}})
    yield proc
    proc.stop()


#: requests sent per status class, to show the run reached the routes
SENT: dict[str, int] = {}


def _send(case: Any, url: str) -> None:
    response = case.call_and_validate(base_url=url, checks=[not_a_server_error], timeout=30)
    status = f"{response.status_code // 100}xx"
    SENT[status] = SENT.get(status, 0) + 1


def test_no_server_errors(anonymous_region: RegionProcess) -> None:
    # the schema is the live /openapi.json, so it can only be loaded once the region
    # runs (schemathesis' pytest loader for that, from_fixture, fails under pytest 9)
    schema = schemathesis.openapi.from_url(f"{anonymous_region.url}/openapi.json")
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()  # the schema itself must be valid
        operations.append(result.ok())
    assert len(operations) >= 10, [f"{o.method} {o.path}" for o in operations]
    failures: list[str] = []
    for operation in operations:

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            _send(case, anonymous_region.url)
            if "table" in (case.path_parameters or {}):
                # again against a real table, with a key, to get past "not found"
                case.path_parameters["table"] = TABLE
                if isinstance(case.body, dict):
                    case.body = {**case.body, "id": f"st-{len(case.body)}"}
                if case.method.upper() in ("GET", "DELETE"):
                    case.query = {**(case.query or {}), "id": "seed"}
                _send(case, anonymous_region.url)

        try:
            run()
        except Exception as exc:  # every operation runs; all failures are reported
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:2000])
    assert not failures, "\n\n".join(failures)
    # generated requests did run, and some were valid enough to succeed
    assert sum(SENT.values()) >= len(operations) * 5 and SENT.get("2xx", 0) > 0, SENT
    assert anonymous_region.proc is not None and anonymous_region.proc.poll() is None
