"""The load generator: closed-loop DynamoDB workloads over keep-alive HTTP with SigV4.

``concurrency`` workers each own one connection and send one request after the other
(closed loop, like an application's threads on an SDK connection pool).  Every request is
signed the way botocore signs it (:mod:`bench.sigv4`).  Only operations that *complete*
inside the measured window (after ``warmup``, before ``warmup + duration``) count towards
throughput and latency; errors are counted by their DynamoDB error code.

Data model, shared by every workload so that one preload serves them all: table ``bench``
with hash key ``pk`` and range key ``sk`` (both S); key number ``i`` of the key space is
``pk = "p<i // group>"``, ``sk = "<i % group>"``, so every partition key holds ``group``
items (20 by default) and a query page of 10 always fills.  Items carry a ``data`` string
padded so that the item's DynamoDB size is ``item_size`` bytes.

Workloads (one operation = one HTTP request):

=============  ================================================================
put            PutItem of a random key
get            GetItem of a random key (all keys are preloaded: every get hits)
query          Query of a random partition key, Limit 10 (one page of 10 items)
mixed          50 % get, 40 % put, 10 % query
batch-write    BatchWriteItem of 25 puts of distinct random keys
transact       TransactWriteItems of 4 puts of distinct random keys
=============  ================================================================
"""

from __future__ import annotations

import asyncio
import math
import random
import string
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from bench.httpclient import Connection, Response
from bench.sigv4 import CONTENT_TYPE, Signer, amz_date

__all__ = [
    "WORKLOADS",
    "DynamoError",
    "Endpoint",
    "LoadConfig",
    "OpStats",
    "RunResult",
    "call",
    "ensure_table",
    "percentile",
    "preload",
    "run_load",
]

WORKLOADS = ("put", "get", "query", "mixed", "batch-write", "transact")
_PREFIX = "DynamoDB_20120810."
_BATCH = 25
_TRANSACT = 4
_QUERY_PAGE = 10


class DynamoError(RuntimeError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code


def error_code(resp: Response) -> str:
    """``ConditionalCheckFailedException`` from ``{"__type": "ns#Name", ...}``, else ``HTTP <n>``."""
    try:
        body = orjson.loads(resp.body)
        return str(body.get("__type", "")).rsplit("#", 1)[-1] or f"HTTP {resp.status}"
    except (orjson.JSONDecodeError, AttributeError):
        return f"HTTP {resp.status}"


class Endpoint:
    """Builds signed DynamoDB requests for one server."""

    def __init__(self, url: str, region: str = "us-east-1") -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"endpoint must be http://HOST:PORT, not {url!r}")
        self.url = url
        self.host = parts.hostname
        self.port = parts.port or 80
        self.netloc = parts.netloc
        self.signer = Signer(self.netloc, region)
        self._second = -1
        self._date = ""
        self._heads: dict[str, bytes] = {}

    def _amz_date(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._second, self._date = now, amz_date(now)
        return self._date

    def build(self, operation: str, body: bytes) -> bytes:
        """A complete HTTP/1.1 request (head and body) for ``operation``."""
        target = _PREFIX + operation
        date = self._amz_date()
        auth = self.signer.authorization(target, body, date)
        head = (
            f"POST / HTTP/1.1\r\nHost: {self.netloc}\r\nContent-Type: {CONTENT_TYPE}\r\n"
            f"X-Amz-Target: {target}\r\nX-Amz-Date: {date}\r\nAuthorization: {auth}\r\n"
            f"User-Agent: globaltables-bench\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    def connection(self) -> Connection:
        return Connection(self.host, self.port)


async def call(
    conn: Connection, endpoint: Endpoint, operation: str, params: dict[str, Any]
) -> dict[str, Any]:
    """One DynamoDB call, decoded; raises :class:`DynamoError` on an error response."""
    resp = await conn.request(endpoint.build(operation, orjson.dumps(params)))
    if resp.status != 200:
        text = resp.body[:300].decode(errors="replace")
        raise DynamoError(resp.status, error_code(resp), text)
    out = orjson.loads(resp.body) if resp.body else {}
    assert isinstance(out, dict)
    return out


# --------------------------------------------------------------------------- data model


def create_table_body(table: str) -> dict[str, Any]:
    """CreateTable of the benchmark table: ``pk`` (hash) and ``sk`` (range), on demand."""
    return {
        "TableName": table,
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


def key_of(i: int, group: int) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"p{i // group}"}, "sk": {"S": str(i % group)}}


def _pad_length(i: int, group: int, item_size: int) -> int:
    # DynamoDB's item size: the UTF-8 length of every attribute name plus its value
    k = key_of(i, group)
    fixed = len("pk") + len(k["pk"]["S"]) + len("sk") + len(k["sk"]["S"]) + len("data")
    return max(item_size - fixed, 1)


class Items:
    """Item bodies with distinct, cheap pseudo-random padding."""

    def __init__(self, rng: random.Random, item_size: int, group: int) -> None:
        self.item_size = item_size
        self.group = group
        # one random block per worker; items take slices of it at random offsets
        self.block = "".join(rng.choices(string.ascii_letters + string.digits, k=65536 + item_size))

    def item(self, rng: random.Random, i: int) -> dict[str, Any]:
        n = _pad_length(i, self.group, self.item_size)
        off = rng.randrange(0, 65536)
        item: dict[str, Any] = key_of(i, self.group)
        item["data"] = {"S": self.block[off : off + n]}
        return item


@dataclass(frozen=True)
class LoadConfig:
    """One run of one workload against one endpoint."""

    endpoint: str
    workload: str
    concurrency: int = 16
    item_size: int = 1024
    key_space: int = 10_000
    duration: float = 10.0
    warmup: float = 2.0
    seed: int = 1
    #: hard bound on operations sent (besides the time bound), so no loop is unbounded
    max_ops: int = 2_000_000
    table: str = "bench"
    region: str = "us-east-1"
    group: int = 20
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.workload not in WORKLOADS:
            raise ValueError(f"unknown workload {self.workload!r}; one of {', '.join(WORKLOADS)}")
        if self.concurrency < 1 or self.key_space < _BATCH or self.duration <= 0:
            raise ValueError("need concurrency >= 1, key_space >= 25 and duration > 0")


Op = tuple[str, str, bytes, int]  # (kind, DynamoDB operation, body, items written)


def _generator(cfg: LoadConfig, rng: random.Random) -> Callable[[], Op]:
    items = Items(rng, cfg.item_size, cfg.group)
    table, n, group = cfg.table, cfg.key_space, cfg.group
    partitions = max(1, math.ceil(n / group))
    dumps = orjson.dumps

    def put() -> Op:
        body = dumps({"TableName": table, "Item": items.item(rng, rng.randrange(n))})
        return "put", "PutItem", body, 1

    def get() -> Op:
        return "get", "GetItem", dumps({"TableName": table, "Key": key_of(rng.randrange(n), group)}), 0

    def query() -> Op:
        body = dumps(
            {
                "TableName": table,
                "KeyConditionExpression": "pk = :p",
                "ExpressionAttributeValues": {":p": {"S": f"p{rng.randrange(partitions)}"}},
                "Limit": _QUERY_PAGE,
            }
        )
        return "query", "Query", body, 0

    def mixed() -> Op:
        r = rng.random()
        return get() if r < 0.5 else put() if r < 0.9 else query()

    def batch_write() -> Op:
        keys = rng.sample(range(n), _BATCH)
        reqs = [{"PutRequest": {"Item": items.item(rng, i)}} for i in keys]
        return "batch-write", "BatchWriteItem", dumps({"RequestItems": {table: reqs}}), _BATCH

    def transact() -> Op:
        keys = rng.sample(range(n), _TRANSACT)
        ops = [{"Put": {"TableName": table, "Item": items.item(rng, i)}} for i in keys]
        return "transact", "TransactWriteItems", dumps({"TransactItems": ops}), _TRANSACT

    return {
        "put": put,
        "get": get,
        "query": query,
        "mixed": mixed,
        "batch-write": batch_write,
        "transact": transact,
    }[cfg.workload]


# --------------------------------------------------------------------------- results


def percentile(sorted_values: list[int] | list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0 if empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


@dataclass
class OpStats:
    ops: int
    ops_per_s: float
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float

    @classmethod
    def of(cls, latencies_ns: list[int], seconds: float) -> OpStats:
        lat = sorted(latencies_ns)
        ms = 1e-6
        return cls(
            ops=len(lat),
            ops_per_s=len(lat) / seconds if seconds > 0 else 0.0,
            mean_ms=(sum(lat) / len(lat) * ms) if lat else 0.0,
            p50_ms=percentile(lat, 0.50) * ms,
            p90_ms=percentile(lat, 0.90) * ms,
            p99_ms=percentile(lat, 0.99) * ms,
            p999_ms=percentile(lat, 0.999) * ms,
            max_ms=(lat[-1] * ms) if lat else 0.0,
        )


@dataclass
class RunResult:
    """What one run measured; ``latencies_ns`` is kept out of the JSON (see :meth:`to_dict`)."""

    endpoint: str
    workload: str
    concurrency: int
    item_size: int
    key_space: int
    seconds: float
    ops: int
    ops_per_s: float
    items_per_s: float
    p50_ms: float
    p99_ms: float
    stats: OpStats
    by_kind: dict[str, OpStats]
    errors: dict[str, int]
    error_rate: float
    #: gets that found no item, batch puts returned as UnprocessedItems
    misses: int
    unprocessed: int
    connections_opened: int
    client_cpu_pct: float
    latencies_ns: dict[str, list[int]] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("latencies_ns")
        return d


@dataclass
class _Tally:
    lat: dict[str, list[int]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    items: int = 0
    misses: int = 0
    unprocessed: int = 0
    sent: int = 0
    done_in_window: int = 0
    last_ok_ns: int = 0


def _unprocessed(body: bytes) -> int:
    if b'"UnprocessedItems":{}' in body or b'"UnprocessedItems": {}' in body:
        return 0
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return 0
    return sum(len(v) for v in (doc.get("UnprocessedItems") or {}).values())


async def run_load(
    cfg: LoadConfig,
    progress: bool | None = None,
    label: str = "",
    on_window: Callable[[str], None] | None = None,
) -> RunResult:
    """Run ``cfg.workload`` for ``warmup + duration`` seconds; returns what it measured.

    ``progress``: show a tqdm bar on stderr (None: only when stderr is a terminal).
    ``on_window("start")`` and ``on_window("end")`` are called when the measured window
    opens and closes (the harness samples the server's CPU time there).
    """
    endpoint = Endpoint(cfg.endpoint, cfg.region)
    conns = [endpoint.connection() for _ in range(cfg.concurrency)]
    await asyncio.gather(*(c.connect() for c in conns))
    tally = _Tally()
    start = time.perf_counter_ns()
    window_start = start + int(cfg.warmup * 1e9)
    end = window_start + int(cfg.duration * 1e9)
    stop_early = False

    async def worker(idx: int, conn: Connection) -> None:
        nonlocal stop_early
        rng = random.Random(cfg.seed * 1_000_003 + idx)
        gen = _generator(cfg, rng)
        clock = time.perf_counter_ns
        while True:
            if clock() >= end or stop_early:
                return
            if tally.sent >= cfg.max_ops:
                stop_early = True
                return
            kind, operation, body, items = gen()
            raw = endpoint.build(operation, body)
            tally.sent += 1
            t0 = clock()
            try:
                resp = await conn.request(raw, cfg.timeout)
            except OSError as exc:  # HttpError, or a refused reconnect
                t1 = clock()
                if window_start <= t1 <= end:
                    tally.errors[f"connection: {exc}"[:60]] += 1
                await asyncio.sleep(0.05)  # a dead server must not turn this into a busy loop
                continue
            t1 = clock()
            if not window_start <= t1 <= end:
                continue
            if resp.status == 200:
                tally.lat.setdefault(kind, []).append(t1 - t0)
                tally.done_in_window += 1
                tally.last_ok_ns = t1
                if items:
                    lost = _unprocessed(resp.body) if operation == "BatchWriteItem" else 0
                    tally.unprocessed += lost
                    tally.items += items - lost
                elif kind == "get" and b'"Item"' not in resp.body:
                    tally.misses += 1
            else:
                tally.errors[error_code(resp)] += 1

    bar = _Progress(cfg, label or f"{cfg.workload} {cfg.endpoint}", progress, tally)
    ticker = asyncio.create_task(bar.run(start, window_start, end))
    cpu0 = time.process_time()
    cpu_at_window: list[float] = []

    async def mark_window() -> None:
        await asyncio.sleep(max(0.0, (window_start - time.perf_counter_ns()) / 1e9))
        cpu_at_window.append(time.process_time())
        if on_window is not None:
            on_window("start")
        await asyncio.sleep(max(0.0, (end - time.perf_counter_ns()) / 1e9))
        cpu_at_window.append(time.process_time())
        if on_window is not None:
            on_window("end")

    marker = asyncio.create_task(mark_window())
    try:
        await asyncio.gather(*(worker(i, c) for i, c in enumerate(conns)))
        if not stop_early:
            # workers return as soon as the window closes; let the marker sample its end
            await marker
    finally:
        ticker.cancel()
        marker.cancel()
        bar.close()
        for c in conns:
            c.close()
    cpu1 = cpu_at_window[1] if len(cpu_at_window) > 1 else time.process_time()
    window_end = end if not stop_early else max(tally.last_ok_ns, window_start + 1)
    seconds = (min(window_end, time.perf_counter_ns()) - window_start) / 1e9
    cpu_window = cpu1 - (cpu_at_window[0] if cpu_at_window else cpu0)

    all_lat = [x for v in tally.lat.values() for x in v]
    stats = OpStats.of(all_lat, seconds)
    n_err = sum(tally.errors.values())
    return RunResult(
        endpoint=cfg.endpoint,
        workload=cfg.workload,
        concurrency=cfg.concurrency,
        item_size=cfg.item_size,
        key_space=cfg.key_space,
        seconds=round(seconds, 3),
        ops=stats.ops,
        ops_per_s=stats.ops_per_s,
        items_per_s=(tally.items / seconds) if seconds > 0 else 0.0,
        p50_ms=stats.p50_ms,
        p99_ms=stats.p99_ms,
        stats=stats,
        by_kind={k: OpStats.of(v, seconds) for k, v in sorted(tally.lat.items())},
        errors=dict(tally.errors),
        error_rate=n_err / (n_err + stats.ops) if n_err + stats.ops else 0.0,
        misses=tally.misses,
        unprocessed=tally.unprocessed,
        connections_opened=sum(c.opened for c in conns),
        client_cpu_pct=100.0 * cpu_window / seconds if seconds > 0 else 0.0,
        latencies_ns=tally.lat,
    )


class _Progress:
    """A tqdm bar over the run's seconds with the current throughput as postfix."""

    def __init__(self, cfg: LoadConfig, label: str, enabled: bool | None, tally: _Tally) -> None:
        from tqdm import tqdm

        self.tally = tally
        total = cfg.warmup + cfg.duration
        disable = (not sys.stderr.isatty()) if enabled is None else not enabled
        self.bar = tqdm(
            total=round(total, 1),
            desc=label,
            unit="s",
            bar_format="{desc} {bar} {n:.0f}/{total:.0f}s {postfix}",
            disable=disable,
            leave=False,
            file=sys.stderr,
        )

    async def run(self, start: int, window_start: int, end: int) -> None:
        last_t, last_n = time.perf_counter_ns(), 0
        while True:
            await asyncio.sleep(0.5)
            now = time.perf_counter_ns()
            n = self.tally.sent
            rate = (n - last_n) / ((now - last_t) / 1e9)
            last_t, last_n = now, n
            phase = "warm-up" if now < window_start else "measuring"
            self.bar.n = min((now - start) / 1e9, float(self.bar.total or 0))
            errors = sum(self.tally.errors.values())
            self.bar.set_postfix_str(f"{phase} {rate:,.0f} ops/s, {errors} errors", refresh=False)
            self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


# --------------------------------------------------------------------------- setup


async def ensure_table(
    endpoint: Endpoint, table: str = "bench", timeout: float = 60.0
) -> None:
    """Create the benchmark table if it is missing and wait until it is ACTIVE."""
    conn = endpoint.connection()
    try:
        try:
            await call(conn, endpoint, "DescribeTable", {"TableName": table})
        except DynamoError as exc:
            if exc.code != "ResourceNotFoundException":
                raise
            await call(conn, endpoint, "CreateTable", create_table_body(table))
        deadline = time.monotonic() + timeout
        while True:
            desc = await call(conn, endpoint, "DescribeTable", {"TableName": table})
            if desc["Table"]["TableStatus"] == "ACTIVE":
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"table {table} not ACTIVE at {endpoint.url} in {timeout}s")
            await asyncio.sleep(0.1)
    finally:
        conn.close()


async def preload(
    endpoint: Endpoint,
    key_space: int,
    item_size: int,
    *,
    table: str = "bench",
    group: int = 20,
    concurrency: int = 8,
    seed: int = 0,
) -> float:
    """Write every key of the key space once (BatchWriteItem, 25 at a time); returns seconds."""
    started = time.monotonic()
    chunks = [list(range(i, min(i + _BATCH, key_space))) for i in range(0, key_space, _BATCH)]
    rng = random.Random(seed)
    items = Items(rng, item_size, group)
    queue = list(reversed(chunks))

    async def worker() -> None:
        conn = endpoint.connection()
        try:
            while queue:
                chunk = queue.pop()
                pending: list[dict[str, Any]] = [
                    {"PutRequest": {"Item": items.item(rng, i)}} for i in chunk
                ]
                for _ in range(20):  # bounded retries of UnprocessedItems
                    out = await call(
                        conn, endpoint, "BatchWriteItem", {"RequestItems": {table: pending}}
                    )
                    pending = (out.get("UnprocessedItems") or {}).get(table) or []
                    if not pending:
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise RuntimeError(f"preload of {endpoint.url}: items stayed unprocessed")
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.monotonic() - started
