"""In-process probe of a region's store path, without HTTP: how many SQL statements one
PutItem and one GetItem execute (on PostgreSQL: how many round trips, each named by what
it carries), and how put throughput, latency, this process's CPU time per put and the
store's write transaction (wait for it, hold it) change with the number of concurrent
writers.

It explains the HTTP numbers: if puts/s falls as concurrency rises while the write
transaction's hold time grows, writers are serialised behind one transaction whose length
is set by round trips, not by CPU or fsync.  It reaches into the store (its connection and
driver classes, SQLAlchemy engines and ``write()``), so it is a diagnostic: it fails loudly
when the store changes shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event

from bench.loadgen import percentile

__all__ = ["run_store_probe"]

_TABLE = "bench"


def _pg_label(how: str, sql: str) -> str:
    """One round trip, named by what it carries: the statements of a simple-query
    message, the tables a statement of data-modifying CTEs writes."""
    if how == "simple":
        return "; ".join(_simple_label(part) for part in sql.split(";"))
    if not sql.startswith("WITH"):
        return " ".join(sql.split()[:3])
    return "one statement: " + ", ".join(" ".join(w.split()) for w in _WRITES.findall(sql))


def _simple_label(statement: str) -> str:
    if "pg_try_advisory_xact_lock" in statement:
        return "try partition locks"
    if "pg_advisory_xact_lock" in statement:
        return "partition lock"
    return " ".join(statement.split()[:2])


_WRITES = re.compile(r"(INSERT INTO \w+|DELETE FROM \w+|(?<=\()UPDATE \w+)")


def _ms(values: list[float], q: float) -> float:
    return round(1000 * percentile(sorted(values), q), 2)


async def _probe(store_url: str, concurrency: tuple[int, ...], seconds: float) -> dict[str, Any]:
    from regions.control import NewTable
    from regions.region import Region
    from regions.settings import RegionSettings, default_partitions

    statements: Counter[str] = Counter()

    def seen(who: str, sql: str) -> None:
        statements[f"{who}: {' '.join(str(sql).split()[:3])}"] += 1

    def trip(label: str) -> None:
        statements[f"asyncpg: {label}"] += 1

    from regions.store import postgres_pool, sqlite_store

    # SQLite: every statement of every connection, BEGIN/SAVEPOINT/COMMIT included,
    # from sqlite3's trace hook (connections are made as the store needs them)
    plain_conn = sqlite_store._Conn

    class TracedConn(plain_conn):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.raw.set_trace_callback(lambda sql: seen("sqlite", sql))

    sqlite_store._Conn = TracedConn  # type: ignore[misc]
    # PostgreSQL: every message of the store's own connections (statements, BEGIN with
    # the first lock, held writes sent as one statement, COMMIT) is one round trip
    plain_driver = postgres_pool._AsyncpgDriver

    class CountedDriver(plain_driver):  # type: ignore[misc, valid-type]
        async def _round_trip(self, how: str, sql: str, args: Any) -> Any:
            trip(_pg_label(how, sql))
            return await super()._round_trip(how, sql, args)

    postgres_pool._AsyncpgDriver = CountedDriver  # type: ignore[misc]
    # the table gets the partitions a region on this store gives it (8 on SQLite, 64 on
    # PostgreSQL), so the probe measures what a region does
    settings = RegionSettings(
        name="us-east-1", store_url=store_url, partitions=default_partitions(store_url)
    )
    region = Region(settings)
    try:
        await region.open()
    except BaseException:
        sqlite_store._Conn = plain_conn  # type: ignore[misc]
        postgres_pool._AsyncpgDriver = plain_driver  # type: ignore[misc]
        raise
    try:
        await region.control.create_table(
            NewTable(
                name=_TABLE,
                key_schema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                attribute_definitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                billing_mode="PAY_PER_REQUEST",
            )
        )
        store: Any = region.store
        engines = {}
        for attr in ("_writer", "_reader"):
            engine = getattr(store, attr, None)
            # the SQLite store has no SQLAlchemy engines (traced above); PostgreSQL's
            # writer and reader are one engine, counted once
            if engine is not None and id(engine) not in engines:
                engines[id(engine)] = (attr, engine)
        for attr, engine in engines.values():

            def count(*args: Any, _who: str = attr.strip("_")) -> None:
                seen(_who, args[2])

            event.listen(engine.sync_engine, "before_cursor_execute", count)

            def commit(*args: Any, _who: str = attr.strip("_")) -> None:
                statements[f"{_who}: COMMIT"] += 1

            event.listen(engine.sync_engine, "commit", commit)

        padding = "x" * 1000
        for i in range(20):
            await region.data.put_item(_TABLE, {"pk": {"S": f"warm{i}"}, "data": {"S": padding}})
        statements.clear()
        for i in range(50):
            await region.data.put_item(_TABLE, {"pk": {"S": f"count{i}"}, "data": {"S": padding}})
        per_put = {k: v / 50 for k, v in sorted(statements.items())}
        statements.clear()
        for i in range(50):
            await region.data.get_item(_TABLE, {"pk": {"S": f"count{i}"}})
        per_get = {k: v / 50 for k, v in sorted(statements.items())}

        waits: list[float] = []
        holds: list[float] = []
        original = store.write

        @contextlib.asynccontextmanager
        async def timed_write() -> AsyncIterator[Any]:
            asked = time.perf_counter()
            async with original() as tx:
                got = time.perf_counter()
                waits.append(got - asked)
                yield tx
            holds.append(time.perf_counter() - got)

        store.write = timed_write
        runs: list[dict[str, Any]] = []
        try:
            for c in concurrency:
                waits.clear()
                holds.clear()
                latencies: list[float] = []
                end = time.perf_counter() + seconds
                cpu_start = time.process_time()

                async def writer(w: int, end: float = end, latencies: list[float] = latencies) -> None:
                    i = 0
                    while time.perf_counter() < end:
                        t = time.perf_counter()
                        item = {"pk": {"S": f"w{w}-{i % 50}"}, "data": {"S": padding}}
                        await region.data.put_item(_TABLE, item)
                        latencies.append(time.perf_counter() - t)
                        i += 1

                await asyncio.gather(*(writer(w) for w in range(c)))
                # this process only: on PostgreSQL the server's work is not in it
                cpu = time.process_time() - cpu_start
                runs.append(
                    {
                        "concurrency": c,
                        "puts_per_s": round(len(latencies) / seconds, 1),
                        "p50_ms": _ms(latencies, 0.5),
                        "p99_ms": _ms(latencies, 0.99),
                        "cpu_us_per_put": round(1e6 * cpu / max(len(latencies), 1), 1),
                        "write_tx_wait_mean_ms": round(1000 * sum(waits) / max(len(waits), 1), 2),
                        "write_tx_hold_mean_ms": round(1000 * sum(holds) / max(len(holds), 1), 2),
                        "write_tx_hold_p99_ms": _ms(holds, 0.99),
                    }
                )
        finally:
            store.write = original
        return {
            "store": store.describe(),
            "statements_per_put": per_put,
            "statements_per_get": per_get,
            "concurrency": runs,
        }
    finally:
        await region.close()
        # connections and drivers are made as the store needs them: traced until here
        sqlite_store._Conn = plain_conn  # type: ignore[misc]
        postgres_pool._AsyncpgDriver = plain_driver  # type: ignore[misc]


def run_store_probe(
    store_url: str | None = None, concurrency: tuple[int, ...] = (1, 4, 16), seconds: float = 4.0
) -> dict[str, Any]:
    """Probe ``store_url`` (default: a fresh SQLite file, synchronous=FULL)."""
    with tempfile.TemporaryDirectory(prefix="gt-store-probe-") as d:
        url = store_url or f"sqlite:///{d}/probe.db"
        return asyncio.run(_probe(url, concurrency, seconds))
