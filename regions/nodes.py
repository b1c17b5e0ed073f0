"""Several nodes of one region: which nodes are alive, and which one leads.

A region may run as several processes on several hosts (``globaltables region
--node-id``) over one PostgreSQL store.  Every node serves every request, applies
its share of the other regions' Kafka partitions and publishes its share of the
outbox (replicator/runner.py, from the live nodes below); what must happen once per
region (re-seed rounds, TTL sweeps, housekeeping, the identity sync, index builds and
replica backfills: :meth:`Region`'s *singletons*) runs on one node at a time, the
**leader**.

- **Leadership is a PostgreSQL session advisory lock** taken on a connection of its
  own (``pg_try_advisory_lock``).  The database holds it exactly as long as that
  session lives: a leader killed with SIGKILL, or whose host dies, loses its
  connection and with it the lock, and a follower, trying every
  :data:`LEASE_POLL_S`, takes over within about a second of PostgreSQL noticing (at
  once for a killed process, whose socket the kernel closes; within the TCP
  keepalive settings below for a vanished host).
- **A leader that loses its connection stops leading at once.**  It pings the
  session every :data:`LEASE_POLL_S`; a failed ping ends its singletons before it
  tries again.  For the short window before it notices, two leaders may run: every
  singleton tolerates that (TTL deletes are conditional, index builds and backfills
  write idempotently).
- **A node id is claimed the same way** (a second lock keyed by the id), so two live
  processes cannot use one id; a restarted node reclaims its id at once.
- **Liveness** for the operator (``/healthz``, the dashboard) and for the publishers'
  shares of the outbox: every node writes a heartbeat row (``gt_nodes``) every
  :data:`HEARTBEAT_S`; a node is alive while its last heartbeat is younger than
  :data:`ALIVE_S`.
- **SQLite stays single-node**: the SQLite file has one host and one writer, so the
  first node takes an exclusive lock on ``<file>.node.lock`` and a second node on the
  same file is refused with :class:`NodeConflict` (its ``--workers`` are part of the
  one node and take no lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import socket
import time
import zlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from sqlalchemy.engine import make_url

__all__ = [
    "ALIVE_S",
    "HEARTBEAT_S",
    "LEASE_POLL_S",
    "NodeConflict",
    "NodeInfo",
    "Nodes",
    "SharedNodes",
    "SingleNode",
    "for_store",
    "validate_node_id",
]

log = logging.getLogger("globaltables.nodes")

#: how often a follower tries to lead, and a leader checks its session
LEASE_POLL_S = 1.0
#: how often every node writes its heartbeat
HEARTBEAT_S = 1.0
#: a node is alive while its heartbeat is younger than this
ALIVE_S = 5.0
#: the advisory-lock class of this module's locks (the store's partition locks use
#: (table id, partition) pairs, whose first half never gets this large)
_LOCK_CLASS_LEADER = 1_735_289_001
_LOCK_CLASS_NODE = 1_735_289_002

_NODE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


def validate_node_id(node_id: str) -> str:
    if not _NODE_ID.match(node_id):
        raise ValueError(
            f"a node id is 1-32 lowercase letters, digits and '-', starting with a letter "
            f"or digit: {node_id!r}"
        )
    return node_id


class NodeConflict(RuntimeError):
    """This node cannot join the region (its id is taken, or the store is SQLite and
    another node serves it)."""


@dataclass(frozen=True)
class NodeInfo:
    node_id: str
    host: str
    pid: int
    started: float
    #: seconds since its last heartbeat
    age_s: float
    leader: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node_id,
            "host": self.host,
            "pid": self.pid,
            "started": self.started,
            "heartbeat_age_s": round(self.age_s, 3),
            "leader": self.leader,
        }


#: what a leader runs while it leads: entered when it takes the lead, left when it
#: loses it (or the node stops)
Leading = Callable[[], AbstractAsyncContextManager[None]]


class Nodes(Protocol):
    node_id: str

    @property
    def shared(self) -> bool:
        """Several nodes may serve the region (their caches must watch the store)."""
        ...

    @property
    def leading(self) -> bool: ...

    async def join(self) -> None: ...

    async def run(self, leading: Leading) -> None:
        """Lead whenever possible until cancelled (runs ``leading`` meanwhile)."""
        ...

    async def alive(self) -> list[NodeInfo]: ...

    async def live_ids(self) -> list[str]:
        """The live nodes' ids in order (the publishers' shares, replicator/runner.py)."""
        ...

    async def leave(self) -> None: ...


#: most seconds leave() waits on the database for each of its two steps
LEAVE_TIMEOUT_S = 3.0


def _lock_key(text: str) -> int:
    """A stable int4 for an advisory lock's second half."""
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


class SingleNode:
    """A region of one node (SQLite, or a store nobody else shares): it always leads.
    On SQLite the node takes ``<file>.node.lock`` so that a second node is refused."""

    def __init__(self, region: str, node_id: str, lock_path: Path | None) -> None:
        self.region = region
        self.node_id = node_id
        self._lock_path = lock_path
        self._lock_file: IO[str] | None = None
        self._leading = False
        self._started = time.time()

    @property
    def shared(self) -> bool:
        return False

    @property
    def leading(self) -> bool:
        return self._leading

    async def join(self) -> None:
        if self._lock_path is None:
            return
        f = open(self._lock_path, "a+")  # noqa: SIM115 - held for the node's life
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise NodeConflict(
                f"the SQLite store is already served by another node of region {self.region} "
                f"({holder}); a SQLite store has one node: run several nodes of a region over "
                "PostgreSQL (--store postgresql://...)"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"node {self.node_id}, pid {os.getpid()} on {socket.gethostname()}\n")
        f.flush()
        self._lock_file = f

    async def run(self, leading: Leading) -> None:
        async with leading():
            self._leading = True
            try:
                await asyncio.Event().wait()
            finally:
                self._leading = False

    async def alive(self) -> list[NodeInfo]:
        return [
            NodeInfo(self.node_id, socket.gethostname(), os.getpid(), self._started, 0.0, True)
        ]

    async def live_ids(self) -> list[str]:
        return [self.node_id]

    async def leave(self) -> None:
        if self._lock_file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None


# keepalives, so that PostgreSQL notices a vanished host (not only a killed process)
# within seconds: idle 5 s, then 3 probes 2 s apart
_SERVER_SETTINGS = {
    "application_name": "globaltables-node",
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
}


class SharedNodes:
    """The nodes of a region over one PostgreSQL store (see the module docstring)."""

    def __init__(self, region: str, node_id: str, dsn: str) -> None:
        self.region = region
        self.node_id = node_id
        self._dsn = dsn
        self._started = time.time()
        self._leading = False
        #: the session that holds this node's id and, while it leads, the leadership
        self._conn: Any = None
        #: one statement at a time on that session (the heartbeat and the lease loop
        #: share it; asyncpg refuses concurrent use of a connection)
        self._lock = asyncio.Lock()
        self._beat: asyncio.Task[None] | None = None

    @property
    def shared(self) -> bool:
        return True

    @property
    def leading(self) -> bool:
        return self._leading

    async def _connect(self) -> Any:
        import asyncpg  # only PostgreSQL stores need it

        return await asyncpg.connect(self._dsn, server_settings=_SERVER_SETTINGS, timeout=10)

    async def join(self) -> None:
        self._conn = await self._connect()
        await self._conn.execute(
            "CREATE TABLE IF NOT EXISTS gt_nodes (region TEXT NOT NULL, node TEXT NOT NULL, "
            "host TEXT NOT NULL, pid INTEGER NOT NULL, started DOUBLE PRECISION NOT NULL, "
            "seen TIMESTAMPTZ NOT NULL, PRIMARY KEY (region, node))"
        )
        if not await self._claim_id(self._conn):
            await self._conn.close()
            raise NodeConflict(
                f"node id {self.node_id!r} of region {self.region} is in use by a live node; "
                "give every node its own --node-id"
            )
        await self._heartbeat(self._conn)
        self._beat = asyncio.create_task(self._beat_forever())
        log.info("node %s joined region %s", self.node_id, self.region)

    async def _claim_id(self, conn: Any) -> bool:
        """Take this node id's lock on ``conn``'s session (False: a live session holds it)."""
        return bool(
            await conn.fetchval(
                "SELECT pg_try_advisory_lock($1::int4, $2::int4)",
                _LOCK_CLASS_NODE,
                _lock_key(f"{self.region}/{self.node_id}"),
            )
        )

    async def _heartbeat(self, conn: Any) -> None:
        await conn.execute(
            "INSERT INTO gt_nodes (region, node, host, pid, started, seen) "
            "VALUES ($1, $2, $3, $4, $5, now()) ON CONFLICT (region, node) DO UPDATE SET "
            "host = EXCLUDED.host, pid = EXCLUDED.pid, started = EXCLUDED.started, seen = now()",
            self.region,
            self.node_id,
            socket.gethostname(),
            os.getpid(),
            self._started,
        )

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                async with self._lock:
                    if self._conn is not None and not self._conn.is_closed():
                        await self._heartbeat(self._conn)
            except Exception as exc:  # the lease loop reconnects; this only reports
                log.warning("node %s: heartbeat failed: %s", self.node_id, exc)

    async def _reclaim_locked(self) -> bool:
        async with self._lock:
            return await self._reclaim()

    async def _reclaim(self) -> bool:
        """After a lost session: a new one, holding this node's id again."""
        with contextlib.suppress(Exception):
            if self._conn is not None:
                await self._conn.close()
        self._conn = None
        try:
            conn = await self._connect()
            if not await self._claim_id(conn):
                # our old session is still being torn down: try again soon
                await conn.close()
                return False
            self._conn = conn
            return True
        except Exception as exc:
            log.warning("node %s: store unreachable (%s); retrying", self.node_id, exc)
            return False

    async def _try_lead(self) -> bool:
        async with self._lock:
            return bool(
                await self._conn.fetchval(
                    "SELECT pg_try_advisory_lock($1::int4, $2::int4)",
                    _LOCK_CLASS_LEADER,
                    _lock_key(self.region),
                )
            )

    async def run(self, leading: Leading) -> None:
        while True:
            try:
                lost = self._conn is None or self._conn.is_closed()
                if lost and not await self._reclaim_locked():
                    await asyncio.sleep(LEASE_POLL_S)
                    continue
                if not await self._try_lead():
                    await asyncio.sleep(LEASE_POLL_S)
                    continue
            except Exception as exc:
                log.warning("node %s: leadership check failed: %s", self.node_id, exc)
                with contextlib.suppress(Exception):
                    self._conn.terminate()
                await asyncio.sleep(LEASE_POLL_S)
                continue
            log.info("node %s leads region %s", self.node_id, self.region)
            try:
                async with leading():
                    self._leading = True
                    await self._hold()
            finally:
                self._leading = False
            log.warning("node %s no longer leads region %s", self.node_id, self.region)

    async def _hold(self) -> None:
        """Return when the session holding the lead is gone (the lock with it)."""
        while True:
            await asyncio.sleep(LEASE_POLL_S)
            try:
                async with self._lock:
                    await asyncio.wait_for(
                        self._conn.fetchval("SELECT 1"), timeout=LEASE_POLL_S * 3
                    )
            except Exception as exc:
                log.warning("node %s: lost its store session (%s)", self.node_id, exc)
                with contextlib.suppress(Exception):
                    self._conn.terminate()
                return

    async def alive(self) -> list[NodeInfo]:
        conn = await self._connect()
        try:
            rows = await conn.fetch(
                "SELECT n.node, n.host, n.pid, n.started, "
                "EXTRACT(EPOCH FROM (now() - n.seen))::float8 AS age, "
                "EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' "
                "AND l.classid = $2::int8 AND l.objid = $3::int8 AND l.granted "
                "AND l.pid = ANY(SELECT a.pid FROM pg_stat_activity a "
                "WHERE a.application_name = 'globaltables-node')) AS any_leader "
                "FROM gt_nodes n WHERE n.region = $1 AND n.seen > now() - make_interval(secs => $4) "
                "ORDER BY n.node",
                self.region,
                _LOCK_CLASS_LEADER,
                _lock_key(self.region),
                ALIVE_S,
            )
        finally:
            await conn.close()
        return [
            NodeInfo(
                r["node"],
                r["host"],
                r["pid"],
                r["started"],
                r["age"],
                # each node knows only whether it leads itself
                self._leading if r["node"] == self.node_id else False,
            )
            for r in rows
        ]

    async def live_ids(self) -> list[str]:
        """The ids of the nodes whose heartbeat is younger than ALIVE_S, in order.
        Read on this node's own session, which every node keeps anyway (a publisher
        asks every second: a connection per call would be one per second per node);
        raises while that session is down or busy longer than a heartbeat."""

        async def read() -> list[str]:
            async with self._lock:
                conn = self._conn
                if conn is None or conn.is_closed():
                    raise ConnectionError(f"node {self.node_id}: its database session is down")
                rows = await conn.fetch(
                    "SELECT node FROM gt_nodes WHERE region = $1 "
                    "AND seen > now() - make_interval(secs => $2) ORDER BY node",
                    self.region,
                    ALIVE_S,
                )
            return [str(r["node"]) for r in rows]

        return await asyncio.wait_for(read(), HEARTBEAT_S * 2)

    async def leave(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beat
        if self._conn is not None:
            # bounded: a database that stopped answering must not hold up a SIGTERM (the
            # row ages out and the lock goes with the session anyway)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(LEAVE_TIMEOUT_S), self._lock:
                    await self._conn.execute(
                        "DELETE FROM gt_nodes WHERE region = $1 AND node = $2",
                        self.region,
                        self.node_id,
                    )
            try:
                await self._conn.close(timeout=LEAVE_TIMEOUT_S)
            except Exception:
                self._conn.terminate()
            self._conn = None


def for_store(store_url: str, region: str, node_id: str) -> Nodes:
    """The node set of a region's store: :class:`SharedNodes` on PostgreSQL (several
    nodes may join), :class:`SingleNode` on SQLite (one node, enforced)."""
    u = make_url(store_url)
    if u.get_backend_name() == "sqlite":
        db = u.database or ""
        return SingleNode(region, node_id, Path(db + ".node.lock") if db else None)
    dsn = u.set(drivername="postgresql").render_as_string(hide_password=False)
    return SharedNodes(region, node_id, dsn)

