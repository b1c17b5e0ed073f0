"""A region's own CPU per request, without sockets: ``globaltables bench in-process``.

Over HTTP a request's cost also holds uvicorn's parsing, the loopback sockets and the
kernel's TCP work, and the load generator shares the cores.  This calls the region's
ASGI app directly, with requests signed exactly as the load generator signs them, so
what is timed is the region's own work: authentication, the operation, the store and
the response envelope.  It is how docs/benchmarks.md measures a change to the request
path: the minimum over several repetitions is the least disturbed by the machine.

Every answer must be a 200; anything else fails the run, so a broken signature cannot
pass for a fast one.  Keys, items and the table are the load generator's.  Each put
carries freshly drawn padding: an identical put is a no-op write, and would be timed
as much cheaper than a real one.
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from bench.loadgen import Items, create_table_body, key_of
from bench.sigv4 import BENCH_ACCESS_KEY, BENCH_SECRET_KEY, CONTENT_TYPE, Signer

__all__ = ["InProcessConfig", "run_in_process"]

WORKLOADS = ("get", "put")
_TABLE = "bench"
#: items per partition key, as the load generator lays them out (bench/loadgen.py)
_GROUP = 20
_HOST = "127.0.0.1:9"
_PREFIX = "DynamoDB_20120810."
_Request = tuple[dict[str, Any], bytes]


@dataclass(frozen=True)
class InProcessConfig:
    workload: str = "get"
    #: requests per repetition
    requests: int = 10_000
    repetitions: int = 5
    concurrency: int = 16
    key_space: int = 2000
    item_size: int = 1024


class _App:
    """The region's ASGI app, its lifespan run by hand."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._lifespan: asyncio.Task[None] | None = None

    async def _lifespan_event(self, kind: str) -> None:
        await self._to_app.put({"type": f"lifespan.{kind}"})
        answer = await self._from_app.get()
        if answer["type"] != f"lifespan.{kind}.complete":
            raise RuntimeError(f"the region's {kind} failed: {answer}")

    async def start(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self._lifespan = asyncio.create_task(
            self.app(scope, self._to_app.get, self._from_app.put)
        )
        await self._lifespan_event("startup")

    async def stop(self) -> None:
        await self._lifespan_event("shutdown")
        if self._lifespan is not None:
            await self._lifespan

    async def call(self, request: _Request) -> tuple[int, bytes]:
        scope, body = request
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # no disconnect while the answer is pending
            raise AssertionError("unreachable")

        status = 0
        chunks: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


def _signed(signer: Signer, operation: str, payload: dict[str, Any]) -> _Request:
    body = orjson.dumps(payload)
    target = _PREFIX + operation
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    headers = [
        (b"host", _HOST.encode()),
        (b"content-type", CONTENT_TYPE.encode()),
        (b"x-amz-date", amz_date.encode()),
        (b"x-amz-target", target.encode()),
        (b"authorization", signer.authorization(target, body, amz_date).encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 9),
        "state": {},
    }
    return scope, body


async def _measure(cfg: InProcessConfig, tick: Callable[[], None]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gt-inprocess-") as directory:
        return await _measure_in(directory, cfg, tick)


async def _measure_in(
    directory: str, cfg: InProcessConfig, tick: Callable[[], None]
) -> dict[str, Any]:
    from api.app import create_app
    from regions.auth_settings import AuthSettings
    from regions.region import Region
    from regions.settings import RegionSettings

    auth = AuthSettings(
        admin_access_key_id=BENCH_ACCESS_KEY,
        admin_secret_access_key=BENCH_SECRET_KEY,
        public_status=False,
    )
    settings = RegionSettings(
        name="us-east-1",
        store_url=f"sqlite:///{os.path.join(directory, 'region.db')}",
        auth=auth,
        sqlite_synchronous="FULL",
    )
    app = _App(create_app(Region(settings), None))
    signer = Signer(host=_HOST, region="us-east-1")
    await app.start()
    try:
        status, answer = await app.call(_signed(signer, "CreateTable", create_table_body(_TABLE)))
        if status != 200:
            raise RuntimeError(f"CreateTable answered {status}: {answer[:300]!r}")
        rng = random.Random(1)
        items = Items(rng, cfg.item_size, _GROUP)

        def put(i: int) -> _Request:
            payload = {"TableName": _TABLE, "Item": items.item(rng, i)}
            return _signed(signer, "PutItem", payload)

        for i in range(cfg.key_space):
            status, answer = await app.call(put(i))
            if status != 200:
                raise RuntimeError(f"preloading answered {status}: {answer[:300]!r}")
        gets = [
            _signed(signer, "GetItem", {"TableName": _TABLE, "Key": key_of(i, _GROUP)})
            for i in range(cfg.key_space)
        ]

        def batch(n: int, offset: int) -> list[_Request]:
            if cfg.workload == "get":
                return [gets[(offset + j * 7919) % cfg.key_space] for j in range(n)]
            # signed up front, so that the client's own work is not timed
            return [put((offset + j * 7919) % cfg.key_space) for j in range(n)]

        async def drive(requests: list[_Request]) -> None:
            lanes = [requests[k :: cfg.concurrency] for k in range(cfg.concurrency)]

            async def lane(own: list[_Request]) -> None:
                for request in own:
                    status, answer = await app.call(request)
                    if status != 200:
                        raise RuntimeError(f"{cfg.workload} answered {status}: {answer[:300]!r}")

            await asyncio.gather(*(lane(own) for own in lanes))

        # warm-up: caches, statement cache, the allocator
        await drive(batch(min(cfg.requests, 2000), 1))
        runs: list[dict[str, float]] = []
        for rep in range(cfg.repetitions):
            requests = batch(cfg.requests, rep * cfg.requests)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            await drive(requests)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            runs.append(
                {
                    "cpu_us_per_request": round(1e6 * cpu / cfg.requests, 1),
                    "requests_per_s": round(cfg.requests / wall, 1),
                }
            )
            tick()
    finally:
        await app.stop()
    cpu_us = sorted(r["cpu_us_per_request"] for r in runs)
    return {
        "workload": cfg.workload,
        "requests": cfg.requests,
        "repetitions": cfg.repetitions,
        "concurrency": cfg.concurrency,
        "item_size": cfg.item_size,
        "runs": runs,
        "cpu_us_min": cpu_us[0],
        "cpu_us_median": cpu_us[len(cpu_us) // 2],
    }


def run_in_process(cfg: InProcessConfig, tick: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """Run one workload against a fresh SQLite region in this process (uvloop, as a
    region runs); ``tick`` is called after each repetition (a progress bar)."""
    if cfg.workload not in WORKLOADS:
        raise ValueError(f"workload must be one of {WORKLOADS}")
    import uvloop

    return uvloop.run(_measure(cfg, tick))
