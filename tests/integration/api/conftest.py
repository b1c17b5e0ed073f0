"""Fixtures of the API fidelity tests.

Every test runs against the session's one region process (``region_proc``), so each
table gets a fresh uuid-suffixed name and is dropped again afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.fixtures.regions import RegionProcess
from tests.integration.api.support import REGION, create_table, unique

TableFactory = Callable[..., str]


@pytest.fixture(scope="session")
def raw_ddb(region_proc: RegionProcess) -> Any:
    """A client without botocore's own parameter checks, so the server's are the ones
    tested (botocore enforces model minimums such as ``Limit >= 1`` itself)."""
    return boto3.client(
        "dynamodb",
        endpoint_url=region_proc.url,
        region_name=REGION,
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
        config=Config(parameter_validation=False, retries={"max_attempts": 1, "mode": "standard"}),
    )


@pytest.fixture
def make_table(ddb: Any) -> Iterator[TableFactory]:
    """``make_table(hash_=("p", "S"), range_=None, **create_table_kwargs) -> name``."""
    created: list[str] = []

    def make(
        hash_: tuple[str, str] = ("p", "S"), range_: tuple[str, str] | None = None, **kw: Any
    ) -> str:
        name = unique(kw.pop("prefix", "gt"))
        create_table(ddb, name, hash_, range_, **kw)
        created.append(name)
        return name

    yield make
    for name in created:
        try:
            ddb.delete_table(TableName=name)
        except ClientError:
            pass  # the test deleted it itself


@pytest.fixture
def table(make_table: TableFactory) -> str:
    """A PAY_PER_REQUEST table keyed by ``p`` (S)."""
    return make_table()
