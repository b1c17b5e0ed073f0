"""A region reaches a PostgreSQL on its host over the cluster's Unix socket.

``postgresql://USER@/DB?host=/socket/dir&port=P`` is what ``PgCluster.store_url()``
gives and what the benchmarks use (docs/benchmarks.md, "The region reaches a
PostgreSQL on its host over the Unix socket"): two real nodes of one region, on a
cluster of their own, serve a table through that URL, and every connection they hold
is on the socket (PostgreSQL shows no client address for those), not on TCP.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from globaltables import postgres_local
from tests.fixtures.regions import RegionProcess, free_ports, running

pytestmark = pytest.mark.integration


@pytest.fixture()
def cluster() -> Iterator[postgres_local.PgCluster]:
    try:
        postgres_local.find_bin_dir()
    except postgres_local.PostgresNotFoundError as exc:
        pytest.skip(str(exc))
    # under the system temp dir: short enough for the socket's path, and reachable by
    # the `postgres` account the server runs as when we are root
    data = Path(tempfile.mkdtemp(prefix="gt-pgsock-"))
    try:
        yield postgres_local.start_on_a_free_port(data)
        postgres_local.stop(data)
    finally:
        shutil.rmtree(data, ignore_errors=True)


async def _clients(dsn: str) -> list[tuple[str | None, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT host(client_addr), application_name FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return [(r[0], r[1]) for r in rows]


def test_two_nodes_serve_a_table_over_the_clusters_unix_socket(
    cluster: postgres_local.PgCluster, tmp_path: Path
) -> None:
    store = cluster.store_url()
    assert "@/" in store and f"host={cluster.data_dir}" in store, store
    a, b = free_ports(2)
    nodes = {
        "n1": RegionProcess("sock-east-1", a, store, log_dir=tmp_path,
                            extra_args=["--node-id", "n1"]),
        "n2": RegionProcess("sock-east-1", b, store, log_dir=tmp_path,
                            extra_args=["--node-id", "n2"]),
    }  # fmt: skip
    with running(nodes):
        one: object = nodes["n1"].client()
        two: object = nodes["n2"].client()
        one.create_table(  # type: ignore[attr-defined]
            TableName="sockets",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        two.put_item(TableName="sockets", Item={"pk": {"S": "a"}, "n": {"N": "1"}})  # type: ignore[attr-defined]
        got = one.get_item(TableName="sockets", Key={"pk": {"S": "a"}}, ConsistentRead=True)  # type: ignore[attr-defined]
        assert got["Item"] == {"pk": {"S": "a"}, "n": {"N": "1"}}
        health = nodes["n2"].health()
        assert health["store"]["backend"] == "postgresql"  # type: ignore[index]
        clients = asyncio.run(_clients(store))
    # both nodes hold connections (their stores and each its node lease), none over TCP
    assert len([c for c in clients if c[1] == "globaltables-node"]) == 2, clients
    assert len(clients) > 2, clients
    assert [c for c in clients if c[0] is not None] == [], clients


async def _own_address(dsn: str) -> str | None:
    conn = await asyncpg.connect(dsn)
    try:
        address: str | None = await conn.fetchval("SELECT host(inet_client_addr())")
    finally:
        await conn.close()
    return address


def test_the_tcp_url_when_asked_for_or_when_the_cluster_has_no_socket(
    cluster: postgres_local.PgCluster,
) -> None:
    tcp = cluster.store_url(unix_socket=False)
    assert tcp == (
        f"postgresql://{postgres_local.SUPERUSER}@127.0.0.1:{cluster.port}/{cluster.database}"
    )
    assert asyncio.run(_own_address(tcp)) == "127.0.0.1"
    assert asyncio.run(_own_address(cluster.store_url())) is None  # the socket
    # a cluster with no socket file (its data directory's path too long for one, say)
    # is reached over TCP: here, no cluster answers on that port's socket
    socketless = postgres_local.PgCluster(
        url=cluster.url, port=cluster.port + 1, data_dir=cluster.data_dir
    )
    assert socketless.store_url() == (
        f"postgresql://{postgres_local.SUPERUSER}@127.0.0.1:{cluster.port + 1}/"
        f"{postgres_local.DEFAULT_DATABASE}"
    )
