"""Group commit for the PostgreSQL store: concurrent ``write()`` blocks share one
transaction, and their statements share round trips.

Why (docs/benchmarks.md, "PostgreSQL store path (#18)"): a region process runs Python
on one core, and each round trip to the server costs it 40-60 µs of CPU (asyncpg, the
event loop, the loopback socket's system calls).  A PutItem in a transaction of its
own needs four (BEGIN with its partition lock, the read, the writes, COMMIT) and a
commit (a WAL flush) on the server.  Sixteen concurrent PutItems in one group need
the same four round trips between them, and one commit.

**Members.**  Every ``write()`` block joins the group that still admits
(:meth:`Groups.join`).  A group admits until it sends its first statement and starts
once the group before it has ended, so its partition locks are free by then.
The members' bodies run concurrently, as they would in transactions of their own.

**Passes.**  A member's statement does not go out at once: it waits until every
running member of its group waits for a statement (or for at most 2 ms, for a member
that awaits something else inside its write block), and then what they all asked for
goes out together (:meth:`_Group._pass`): the advisory locks of the partitions locked
since in one message (with the BEGIN), the writes in one statement (multi-row, array
parameters), the point reads in one statement, anything else one by one in the order
asked.

**Locks.**  ``lock_partition`` means, as in a transaction of its own, that no other
write touches what this one reads and writes in that partition until it commits.
Inside a group that is kept item by item: members may lock the same partition, and
each item a member reads or writes (``get_row``, ``put_row``) is claimed by it alone;
any other statement after a lock (a scan, a meta row, SQLAlchemy) first claims the
member's partitions for it alone, since it may read any of their rows.  A member whose
claim collides with another running member's moves to a later group (which starts
once this one has ended), so a group's members go through their passes side by side
instead of one after the other.  Between processes and nodes the advisory lock of the
partition still does it: the group takes each one once, with
``pg_try_advisory_xact_lock``.  If another transaction holds it (another node's group,
most often, which holds it for a few milliseconds), the member moves to the next group
and tries again there; after ``_DEFER_MAX`` such moves it leaves the group and runs as
a transaction of its own that waits for the lock (:meth:`Member.leave`), so it is not
starved.  A group never waits for a lock, so no two transactions can wait for each
other through it.  Only a member that has had no statement answered since its first
claim can move or leave.  One that has (it claims after reading) waits inside
the group: for the other member's body to end (or fails, as PostgreSQL fails one of two
deadlocked transactions, if that one waits for it in turn), or for the advisory lock.

**Writes.**  A member's writes are held until they must go out: before its own next
statement (a transaction reads its own writes), or at the commit.  A change record
(``log_change``) is held like the row it goes with; one whose ``seq`` the writer needs
(``append_change``) goes out with the member's held writes, and the member waits for
its seq.  A write that checks the catalog epoch reads it with its items
(``get_rows_meta``): on a store other nodes share, a group of PutItems is four round
trips (BEGIN with the locks, the reads, the writes, COMMIT).
A write to a row that an earlier write of the same statement also writes replaces it
(upserts set whole rows; the verifier's leaf deltas are added up), which is what
running them one after the other would have left.

**Failures.**  Writes of a member whose body raises, and that were never sent, are
dropped: the other members go on (the common case: a failed condition writes
nothing).  What is not isolated: a member that raises after some of its writes went
out (an exception after its change record was written, a cancelled task), a statement
the server refuses, or a lost connection aborts the group's transaction, and every
member then fails (:class:`~regions.errors.InternalError`): nothing of the group is
committed and nothing acknowledged.  Savepoints would isolate them, but they need a
round trip per member and an order among members, which concurrent bodies do not have.

**Commit.**  Once no member's body is running: the writes still held, then COMMIT.
A member's ``write()`` returns only after that COMMIT returned, and with
``synchronous_commit=on`` (``postgres_dialect.py``) the commit is on disk by then
(invariant 7).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from regions.errors import InternalError
from regions.store import direct
from regions.store import postgres_pool as _pool
from regions.store.direct import RowKey
from regions.store.postgres_pool import BEGIN, GET_ROWS, GET_ROWS_META, Pool

__all__ = ["Groups", "Member", "SaOnMember"]

log = logging.getLogger(__name__)

#: most members one group admits
_GROUP_MAX = 64
#: longest a pass waits for a running member's next statement (module docstring)
_GATHER_S = 0.002
#: how many later groups a member whose partition another transaction holds tries
#: before it waits for the lock in a transaction of its own (module docstring, Locks).
#: Why not leave at once: with two nodes on 64 partitions, one put in sixteen found its
#: partition held by the other node's group; each then cost a transaction of its own
#: (four more round trips and a commit), where one group later the lock was free
_DEFER_MAX = 2

Key = tuple[int, int]
#: an item: (tid, part, hk, rk)
Row = tuple[int, int, bytes, bytes]
#: what a member claims: a partition it locked, an item, a partition for itself alone
_PART, _ROW, _WHOLE = "part", "row", "whole"
SaCall = Callable[[AsyncConnection], Awaitable[Any]]

#: which of these locks could be taken (after the one-message attempt found some taken);
#: retaking one already held only counts it twice until the transaction ends
_WHICH_LOCKS = (
    "SELECT t, p, pg_try_advisory_xact_lock(t, p) "
    "FROM unnest($1::integer[], $2::integer[]) AS u(t, p)"
)


class _Leave(Exception):
    """A member's partition is locked by another transaction: it runs on its own."""


class _Later(Exception):
    """A member's partition is locked by another transaction: it tries the next
    group."""


class _Request:
    __slots__ = ("args", "fn", "fut", "kind", "locks", "member", "outstanding", "sql")

    def __init__(
        self,
        member: Member,
        kind: str,
        sql: str,
        args: Sequence[Any],
        fn: SaCall | None,
    ) -> None:
        self.member = member
        #: lock, get, gets, getsm (gets with a meta row: ``sql`` its key), fetch,
        #: fetchrow, returning or sa
        self.kind = kind
        self.sql = sql
        self.args = args
        self.fn = fn
        #: partitions its member claimed since its last statement: locked first
        self.locks: list[Key] = []
        self.fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        #: counted in its group's members waiting for an answer
        self.outstanding = True

    def settle(self) -> None:
        if self.outstanding:
            self.outstanding = False
            self.member.group.blocked -= 1


def _reads(sql: str) -> bool:
    """Only reads (SELECT, no locking clause): ``sql`` changes nothing."""
    return sql.lstrip()[:6].upper() == "SELECT" and " FOR " not in sql.upper()


def _answer(request: _Request, value: Any) -> None:
    request.settle()
    # the member may have been cancelled while its statement was out
    if not request.fut.done():
        request.fut.set_result(value)


def _refuse(request: _Request, exc: BaseException) -> None:
    request.settle()
    if not request.fut.done():
        request.fut.set_exception(exc)


class Member:
    """One ``write()`` block: a :class:`~regions.store.direct.Driver` whose statements
    go through its group (module docstring), or through a transaction of its own once
    it has left the group."""

    def __init__(self, group: _Group) -> None:
        self.group = group
        group.add()
        self.held: list[tuple[str, Sequence[Any]]] = []
        #: the partitions it locked, in the order it asked (module docstring, Locks)
        self.claims: list[Key] = []
        #: the items it read or wrote
        self.rows: list[Row] = []
        #: claimed partitions whose advisory lock the group does not hold yet: taken
        #: with the member's next statement, all in one message
        self.unlocked: list[Key] = []
        self.running = True
        #: some of its writes went out: its failure aborts the group
        self.exposed = False
        #: a statement was answered for it since its first lock: it can no longer leave
        self.settled = False
        #: set when its body has ended (its partitions are free for other members)
        self.ended = asyncio.Event()
        #: the member it waits for
        self.waits_on: Member | None = None
        #: times it moved on because another transaction held one of its partitions
        self.deferred = 0
        #: its own transaction, once it left the group
        self.solo: _pool._AsyncpgDriver | None = None

    async def lock_partition(self, tid: int, part: int) -> None:
        if self.solo is not None:
            await self.solo.lock_partition(tid, part)
            return
        key = (int(tid), int(part))
        if key not in self.claims:
            await self._acquire(_PART, key)

    async def _acquire(self, kind: str, what: Any) -> None:
        """Claim a partition (``_PART``), an item (``_ROW``) or a partition for itself
        alone (``_WHOLE``) in its group (module docstring, Locks)."""
        while True:
            group = self.group
            group.check()
            holder = group.conflict(self, kind, what)
            if holder is None:
                group.grant(self, kind, what)
                return
            if not self.settled and not self.exposed:
                # nothing it did depends on its locks yet: it goes on in a later group
                # (which starts once this one has ended), claiming all again there
                group.migrate(self)
                continue
            # it reads or writes after reading: wait for the other member's body to
            # end, unless that one waits (through others) for this one: then fail, as
            # PostgreSQL fails one of two deadlocked transactions
            if group.cycle(self, holder):
                raise InternalError("two writes wait for each other")
            await group.wait_for(self, holder)

    async def _alone(self) -> None:
        """Before a statement other than the point reads and writes of items: the
        partitions it locked, for itself alone (the statement may read any of their
        rows)."""
        while todo := [k for k in self.claims if self.group.whole.get(k) is not self]:
            await self._acquire(_WHOLE, todo[0])

    async def _ask(
        self, kind: str, sql: str = "", args: Sequence[Any] = (), fn: SaCall | None = None
    ) -> Any:
        """A statement through the group; through a transaction of its own if one of
        its partitions turned out locked by another transaction."""
        try:
            return await self.group.ask(self, kind, sql, args, fn)
        except _Later:
            self.deferred += 1
            self.group.migrate(self)
            return await self._ask(kind, sql, args, fn)
        except _Leave:
            await self.leave(list(self.claims))
        solo = self.solo
        assert solo is not None
        if kind == "fetch":
            return await solo.fetch(sql, args)
        if kind in ("get", "fetchrow"):
            return await solo.fetchrow(sql, args)
        if kind == "gets":
            return await solo.get_rows(args)
        if kind == "getsm":
            return await solo.get_rows_meta(args, sql)
        if kind == "returning":
            return await solo.write_returning(sql, args)
        if kind == "sa":
            assert fn is not None
            await solo.ready()
            return await fn((await solo.connection()).sa)
        return None  # lock: taken by leave()

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[Sequence[Any]]:
        if self.solo is not None:
            return await self.solo.fetch(sql, args)
        await self._alone()
        rows: list[Sequence[Any]] = await self._ask("fetch", sql, args)
        return rows

    async def fetchrow(self, sql: str, args: Sequence[Any]) -> Sequence[Any] | None:
        if self.solo is not None:
            return await self.solo.fetchrow(sql, args)
        if sql == direct.GET_ROW:
            await self._row(args)
            kind = "get"
        else:
            await self._alone()
            kind = "fetchrow"
        row: Sequence[Any] | None = await self._ask(kind, sql, args)
        return row

    async def get_rows(self, keys: Sequence[RowKey]) -> list[Sequence[Any] | None]:
        if self.solo is not None:
            return await self.solo.get_rows(keys)
        for key in keys:
            await self._row(key)
        rows: list[Sequence[Any] | None] = await self._ask("gets", "", keys)
        return rows

    async def get_rows_meta(
        self, keys: Sequence[RowKey], meta_key: str
    ) -> tuple[list[Sequence[Any] | None], str | None]:
        if self.solo is not None:
            return await self.solo.get_rows_meta(keys, meta_key)
        for key in keys:
            await self._row(key)
        # the meta row is no item: nothing to claim for it
        answer: tuple[list[Sequence[Any] | None], str | None] = await self._ask(
            "getsm", meta_key, keys
        )
        return answer

    async def _row(self, args: Sequence[Any]) -> None:
        row = (int(args[0]), int(args[1]), bytes(args[2]), bytes(args[3]))
        if row not in self.rows:
            await self._acquire(_ROW, row)

    async def execute(self, sql: str, args: Sequence[Any]) -> None:
        if self.solo is not None:
            await self.solo.execute(sql, args)
            return
        self.group.check()
        if sql == direct.UPSERT_ROW:
            await self._row(args)
        elif sql not in _POINT_WRITES:
            await self._alone()
        self.held.append((sql, args))

    async def write_returning(self, sql: str, args: Sequence[Any]) -> Sequence[Any] | None:
        if self.solo is not None:
            return await self.solo.write_returning(sql, args)
        if sql != direct.APPEND_CHANGE:
            await self._alone()
        row: Sequence[Any] | None = await self._ask("returning", sql, args)
        return row

    def any_of(self, column: str, values: Sequence[Any], args: list[Any]) -> str:
        args.append(list(values))
        return f"{column} = ANY(${len(args)}::bigint[])"

    async def on_sa(self, fn: SaCall) -> Any:
        """A SQLAlchemy statement of the rare paths, on the transaction's connection."""
        if self.solo is not None:
            await self.solo.ready()
            return await fn((await self.solo.connection()).sa)
        await self._alone()
        return await self._ask("sa", "", (), fn)

    async def leave(self, wanted: list[Key]) -> None:
        """Go on as a transaction of its own: lock ``wanted`` (in the order it asked),
        waiting for each, and take its held writes along."""
        held, self.held = self.held, []
        self.solo = _pool._AsyncpgDriver(self.group.pool, None, BEGIN)
        self.group.end(self, ok=True)
        for tid, part in wanted:
            await self.solo.lock_partition(tid, part)
        for sql, args in held:
            await self.solo.execute(sql, args)

    async def finish(self, ok: bool) -> None:
        """The body ended (``ok``: without raising): commit (wait for the group's
        commit, or commit its own transaction) or roll back."""
        failure: BaseException | None = None
        if ok and self.unlocked and self.solo is None:
            # its held writes go out at the commit: their partitions' locks first
            try:
                await self._ask("lock")
            except BaseException as exc:
                ok, failure = False, exc
        solo = self.solo
        if solo is None:
            self.group.end(self, ok=ok)
            if failure is not None:
                raise failure
            if ok:
                await asyncio.shield(self.group.done)
            return
        reusable = False
        try:
            if ok:
                await solo.commit()
                reusable = True
        finally:
            if solo.slot is not None:
                if not reusable:
                    reusable = await solo.abort()
                await self.group.pool.release(solo.slot, reusable=reusable)
        if failure is not None:
            raise failure


class SaOnMember:
    """A member's SQLAlchemy face (``tx.conn``), duck-typed as the ``AsyncConnection``
    the shared code uses."""

    def __init__(self, member: Member) -> None:
        self._member = member

    async def execute(self, stmt: Any, params: Any = None) -> Any:
        if params is None:
            return await self._member.on_sa(lambda sa: sa.execute(stmt))
        return await self._member.on_sa(lambda sa: sa.execute(stmt, params))

    async def exec_driver_sql(self, sql: str, params: Any = None) -> Any:
        if params is None:
            return await self._member.on_sa(lambda sa: sa.exec_driver_sql(sql))
        return await self._member.on_sa(lambda sa: sa.exec_driver_sql(sql, params))

    async def run_sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self._member.on_sa(lambda sa: sa.run_sync(fn, *args))


class Groups:
    """The store's groups, each one starting when the one before it has ended."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        #: the group new writes join while it admits
        self._current: _Group | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def join(self) -> Member:
        group = self._current
        if group is None:
            group = _Group(self, None)
        while not group.admitting:
            group = self.after(group)
        self._current = group
        return Member(group)

    def after(self, group: _Group) -> _Group:
        """The group that starts once ``group`` has ended."""
        if group.successor is None:
            group.successor = _Group(self, group)
        return group.successor

    async def close(self) -> None:
        while self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)


class _Group:
    """One transaction shared by its members (module docstring)."""

    def __init__(self, groups: Groups, previous: _Group | None) -> None:
        self.groups = groups
        self.pool = groups.pool
        self._previous = previous
        self.successor: _Group | None = None
        self.admitting = True
        self._size = 0
        self._running = 0
        #: running members that wait for an answer or for another member's partition
        self.blocked = 0
        self._queue: list[_Request] = []
        #: writes of members whose body has ended, not sent yet
        self._ended_writes: list[tuple[str, Sequence[Any]]] = []
        #: partitions whose advisory lock the group's transaction holds
        self.locked: set[Key] = set()
        #: running members by the partitions they locked, the items they read or
        #: wrote, and the partitions one of them holds alone
        self.sharers: dict[Key, set[Member]] = {}
        self.rows: dict[Row, Member] = {}
        self.whole: dict[Key, Member] = {}
        self._db = _pool._AsyncpgDriver(self.pool, None, None)
        self._begun = False
        self._failure: InternalError | None = None
        loop = asyncio.get_running_loop()
        #: the group's outcome: committed (durable), or the error every member gets
        self.done: asyncio.Future[None] = loop.create_future()
        self._wake = asyncio.Event()
        task = loop.create_task(self._run())
        groups.tasks.add(task)
        task.add_done_callback(groups.tasks.discard)

    # ------------------------------------------------------------------ members

    def add(self) -> None:
        self._size += 1
        self._running += 1
        if self._size >= _GROUP_MAX:
            self.admitting = False

    def check(self) -> None:
        if self._failure is not None:
            raise self._failure

    def end(self, member: Member, *, ok: bool) -> None:
        """A member's body ended (or it left the group, or moved to the next one)."""
        if not member.running:
            return
        member.running = False
        for key in member.claims:
            sharers = self.sharers.get(key)
            if sharers is not None:
                sharers.discard(member)
                if not sharers:
                    del self.sharers[key]
            if self.whole.get(key) is member:
                del self.whole[key]
        for row in member.rows:
            if self.rows.get(row) is member:
                del self.rows[row]
        member.claims = []
        member.rows = []
        if ok:
            self._ended_writes.extend(member.held)
        elif member.exposed:
            self._poison(InternalError("a write of this group failed after writing"))
        member.held = []
        member.ended.set()
        self._running -= 1
        self._wake.set()

    def conflict(self, member: Member, kind: str, what: Any) -> Member | None:
        """Another running member that ``member`` cannot claim ``what`` beside."""
        if kind == _ROW:
            holder = self.rows.get(what)
            if holder is None:
                holder = self.whole.get(what[:2])
        else:
            holder = self.whole.get(what)
            if holder is None and kind == _WHOLE:
                holder = next((m for m in self.sharers.get(what, ()) if m is not member), None)
        return holder if holder is not member else None

    def grant(self, member: Member, kind: str, what: Any) -> None:
        if kind == _ROW:
            self.rows[what] = member
            member.rows.append(what)
        elif kind == _WHOLE:
            self.whole[what] = member
        else:
            self.sharers.setdefault(what, set()).add(member)
            member.claims.append(what)
            if what not in self.locked:
                member.unlocked.append(what)

    def migrate(self, member: Member) -> None:
        """Take ``member`` to the first later group where its partitions and items are
        free, with its held writes."""
        claims, rows = list(member.claims), list(member.rows)
        held, member.held = member.held, []
        self.end(member, ok=True)
        group = self
        while True:
            group = self.groups.after(group)
            if all(group.conflict(member, _PART, k) is None for k in claims) and all(
                group.conflict(member, _ROW, r) is None for r in rows
            ):
                break
        group.add()
        member.group = group
        member.running = True
        member.ended = asyncio.Event()
        member.unlocked = []
        for key in claims:
            group.grant(member, _PART, key)
        for row in rows:
            group.grant(member, _ROW, row)
        member.held = held

    async def wait_for(self, member: Member, holder: Member) -> None:
        member.waits_on = holder
        self.blocked += 1
        try:
            await holder.ended.wait()
        finally:
            self.blocked -= 1
            member.waits_on = None

    def cycle(self, member: Member, holder: Member) -> bool:
        seen: set[int] = set()
        current: Member | None = holder
        while current is not None and id(current) not in seen:
            if current is member:
                return True
            seen.add(id(current))
            current = current.waits_on
        return False

    async def ask(
        self,
        member: Member,
        kind: str,
        sql: str,
        args: Sequence[Any],
        fn: SaCall | None = None,
    ) -> Any:
        """Queue a statement for the next pass and wait for its answer."""
        self.check()
        request = _Request(member, kind, sql, args, fn)
        request.locks, member.unlocked = member.unlocked, []
        self._queue.append(request)
        self.blocked += 1
        self._wake.set()
        try:
            return await request.fut
        finally:
            request.settle()  # cancelled before its answer

    def _poison(self, exc: BaseException) -> None:
        if self._failure is None:
            if not isinstance(exc, InternalError):
                log.warning("write group aborted: %s: %s", type(exc).__name__, exc)
                failure = InternalError("the write's transaction failed; nothing was committed")
                failure.__cause__ = exc
                exc = failure
            assert isinstance(exc, InternalError)
            self._failure = exc

    # ------------------------------------------------------------------ the runner

    async def _run(self) -> None:
        try:
            if self._previous is not None:
                # its locks are released when it ends, committed or not
                await asyncio.wait([self._previous.done])
                if not self._previous.done.cancelled():
                    self._previous.done.exception()  # its members have it
                self._previous = None
            while True:
                if not self._queue and self._running > 0:
                    await self._wake.wait()
                self._wake.clear()
                if self._queue:
                    self.admitting = False
                    await self._gather()
                    await self._pass()
                elif self._running == 0:
                    self.admitting = False
                    await self._commit()
                    return
        except BaseException as exc:
            # a bug or a cancelled runner: nothing is acknowledged
            self.admitting = False
            self._poison(exc)
            for request in self._queue:
                _refuse(request, self._failure or exc)
            if not self.done.done():
                self.done.set_exception(self._failure or InternalError("write group stopped"))
                self.done.exception()  # retrieved by whoever waits; no warning if nobody does
            raise
        finally:
            if self._db.slot is not None:
                reusable = await self._db.abort()
                await self.pool.release(self._db.slot, reusable=reusable)
                self._db.slot = None

    async def _gather(self) -> None:
        """Wait until every running member waits for the group, so that one pass
        carries a statement of each; at most _GATHER_S, for a member that awaits
        something else inside its write block."""
        if self.blocked >= self._running:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _GATHER_S
        while self.blocked < self._running:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except TimeoutError:
                return

    async def _pass(self) -> None:
        requests = [r for r in self._queue if not r.fut.done()]
        self._queue = []
        if self._failure is not None:
            for request in requests:
                _refuse(request, self._failure)
            return
        try:
            locking = [r for r in requests if r.locks]
            if locking:
                await self._take_locks(locking)
            for request in requests:
                if request.kind == "lock":
                    _answer(request, None)  # no-op if refused above
            rest = [r for r in requests if not r.fut.done()]
            if rest:
                await self._begin()
                await self._serve(rest)
        except Exception as exc:
            self._poison(exc)
            for request in requests:
                _refuse(request, self._failure or exc)

    async def _begin(self) -> None:
        if not self._begun:
            await self._db.send("simple", BEGIN)
            self._begun = True

    async def _take_locks(self, requests: list[_Request]) -> None:
        wanted: list[Key] = []
        for request in requests:
            for key in request.locks:
                if key not in self.locked and key not in wanted:
                    wanted.append(key)
        refused: set[Key] = set()
        if wanted:
            # integers only, formatted here: the simple protocol carries the BEGIN and
            # every lock in one message, and its command tag counts the refused ones
            values = ", ".join(f"({int(t)}, {int(p)})" for t, p in wanted)
            sql = (
                f"SELECT 1 FROM (VALUES {values}) AS v(t, p) "
                "WHERE NOT pg_try_advisory_xact_lock(t::integer, p::integer)"
            )
            status = await self._db.send("simple", sql if self._begun else f"{BEGIN}; {sql}")
            self._begun = True
            if status != "SELECT 0":
                rows = await self._db.send(
                    "fetch", _WHICH_LOCKS, ([t for t, _ in wanted], [p for _, p in wanted])
                )
                refused = {(int(r[0]), int(r[1])) for r in rows if not r[2]}
            self.locked.update(k for k in wanted if k not in refused)
        for request in requests:
            missing = [k for k in request.locks if k in refused]
            if not missing:
                continue
            member = request.member
            if not member.settled and not member.exposed:
                _refuse(request, _Later() if member.deferred < _DEFER_MAX else _Leave())
                continue
            # it read under its other locks already: wait for these ones here
            for tid, part in missing:
                await self._db.send(
                    "simple", f"SELECT pg_advisory_xact_lock({tid}::integer, {part}::integer)"
                )
                self.locked.add((tid, part))

    async def _serve(self, requests: list[_Request]) -> None:
        # a member's held writes go out before its own statement (it reads its own
        # writes); ended members' writes go out too (a member that takes over one of
        # their partitions reads what they wrote)
        writes, self._ended_writes = self._ended_writes, []
        for request in requests:
            member = request.member
            member.settled = member.settled or bool(member.claims or member.rows)
            if member.held:
                writes.extend(member.held)
                member.held = []
                member.exposed = True
            if request.kind in ("returning", "sa") or not _reads(request.sql):
                member.exposed = True
        appends = [r for r in requests if r.kind == "returning" and r.sql == direct.APPEND_CHANGE]
        if writes or appends:
            seqs = await self._write(writes, [r.args for r in appends])
            for request, seq in zip(appends, seqs, strict=True):
                _answer(request, (seq,))
        # every point read of the pass in one statement, with the meta rows asked
        # alongside (a write's catalog epoch)
        gets = [r for r in requests if r.kind in ("get", "gets", "getsm")]
        keys = [k for r in gets for k in ([r.args] if r.kind == "get" else r.args)]
        metas = sorted({r.sql for r in gets if r.kind == "getsm"})
        if len(keys) == 1 and not metas:
            _answer(gets[0], await self._db.send("fetchrow", direct.GET_ROW, keys[0]))
        elif keys or metas:
            found: dict[int, Sequence[Any]] = {}
            values: dict[str, str] = {}
            if metas:
                for r in await self._db.send("fetch", GET_ROWS_META, _pool.meta_args(keys, metas)):
                    if r[0] == 0:
                        values[bytes(r[2]).decode()] = r[5]
                    else:
                        found[r[0]] = r[1:]
            else:
                found = {
                    r[0]: r[1:]
                    for r in await self._db.send("fetch", GET_ROWS, _pool.columns(keys))
                }
            i = 1
            for request in gets:
                if request.kind == "get":
                    _answer(request, found.get(i))
                    i += 1
                    continue
                n = len(request.args)
                rows = [found.get(j) for j in range(i, i + n)]
                i += n
                _answer(request, (rows, values.get(request.sql)) if request.kind == "getsm" else rows)
        # the same read asked by several members (a catalog epoch, say) goes out once,
        # until a statement that may write comes between
        answers: dict[tuple[str, str, tuple[Any, ...]], Any] = {}
        for request in requests:
            if request.fut.done():
                continue
            if request.kind == "sa":
                assert request.fn is not None
                answers.clear()
                _answer(request, await request.fn((await self._db.connection()).sa))
            elif request.kind == "returning":  # a write the batch does not know
                answers.clear()
                _answer(request, await self._db.send("fetchrow", request.sql, request.args))
            elif not _reads(request.sql):  # a write through fetch: in order, not shared
                answers.clear()
                how = "fetch" if request.kind == "fetch" else "fetchrow"
                _answer(request, await self._db.send(how, request.sql, request.args))
            else:
                how = "fetch" if request.kind == "fetch" else "fetchrow"
                key = (how, request.sql, tuple(request.args))
                try:
                    known = key in answers
                except TypeError:  # an array parameter: not worth a key
                    _answer(request, await self._db.send(how, request.sql, request.args))
                    continue
                if not known:
                    answers[key] = await self._db.send(how, request.sql, request.args)
                _answer(request, answers[key])

    async def _write(
        self, writes: list[tuple[str, Sequence[Any]]], appends: list[Sequence[Any]]
    ) -> list[int]:
        """Send ``writes`` in order and insert ``appends`` (change records whose seqs
        come back): known statements as one multi-row statement, any other one alone,
        in its place."""
        batch = _Batch()
        for sql, args in writes:
            if not batch.add(sql, args):
                await self._send_batch(batch, [])
                batch = _Batch()
                await self._db.send("execute", sql, args)
        return await self._send_batch(batch, appends)

    async def _send_batch(self, batch: _Batch, appends: list[Sequence[Any]]) -> list[int]:
        if batch.empty() and not appends:
            return []
        sql, args = batch.statement(appends)
        if not appends:
            await self._db.send("execute", sql, args)
            return []
        seqs = dict(await self._db.send("fetch", sql, args))
        first = len(batch.changes) + 1
        return [int(seqs[i]) for i in range(first, first + len(appends))]

    async def _commit(self) -> None:
        try:
            self.check()
            writes, self._ended_writes = self._ended_writes, []
            if writes:
                if not self._begun and _Batch.one_statement(writes):
                    # one statement in autocommit is a durable transaction of its own
                    await self._write(writes, [])
                    self.done.set_result(None)
                    return
                await self._begin()
                await self._write(writes, [])
            if self._begun:
                await self._db.send("simple", "COMMIT")
                self._begun = False
            self.done.set_result(None)
        except Exception as exc:
            self._poison(exc)
            assert self._failure is not None
            self.done.set_exception(self._failure)
            self.done.exception()  # retrieved by whoever waits; no warning if nobody does


class _Batch:
    """Writes of several members as one statement: one multi-row statement per kind
    (array parameters, so its text depends only on which kinds it has), later writes
    of the same row replacing earlier ones, leaf deltas added up."""

    def __init__(self) -> None:
        self.rows: dict[tuple[Any, ...], Sequence[Any]] = {}
        self.leaves: dict[tuple[Any, ...], list[int]] = {}
        self.index_puts: dict[tuple[Any, ...], Sequence[Any]] = {}
        self.index_dels: dict[tuple[Any, ...], Sequence[Any]] = {}
        self.meta: dict[Any, Sequence[Any]] = {}
        #: change records, in the order written (their seqs follow it)
        self.changes: list[Sequence[Any]] = []

    @staticmethod
    def one_statement(writes: list[tuple[str, Sequence[Any]]]) -> bool:
        return all(sql in _KNOWN for sql, _ in writes)

    def empty(self) -> bool:
        return not (
            self.rows or self.leaves or self.index_puts or self.index_dels or self.meta
        ) and not self.changes

    def add(self, sql: str, args: Sequence[Any]) -> bool:
        """Take one write; False if it is not one of the store's known statements."""
        if sql == direct.UPSERT_ROW:
            key = tuple(args[:4])
            self.rows.pop(key, None)  # a later write of a row goes after the others
            self.rows[key] = args
        elif sql == direct.UPSERT_LEAF:
            key = tuple(args[:3])
            sums = self.leaves.setdefault(key, [0, 0, 0, 0, 0])
            for i, delta in enumerate(args[3:8]):
                sums[i] += int(delta)
        elif sql == direct.UPSERT_INDEX:
            key = tuple(args[:6])
            self.index_dels.pop(key, None)
            self.index_puts[key] = args
        elif sql == direct.DELETE_INDEX:
            key = tuple(args[:6])
            self.index_puts.pop(key, None)
            self.index_dels[key] = args
        elif sql == direct.UPSERT_META:
            self.meta.pop(args[0], None)
            self.meta[args[0]] = args
        elif sql == direct.LOG_CHANGE:
            self.changes.append(args)
        else:
            return False
        return True

    def statement(self, appends: list[Sequence[Any]]) -> tuple[str, list[Any]]:
        args: list[Any] = []
        parts: list[str] = []

        def arrays(rows: Sequence[Sequence[Any]], types: Sequence[str]) -> list[str]:
            marks = []
            for i, kind in enumerate(types):
                args.append([row[i] for row in rows])
                marks.append(f"${len(args)}::{kind}[]")
            return marks

        if self.rows:
            parts.append(_ROWS.format(*arrays(list(self.rows.values()), _ROW_TYPES)))
        if self.leaves:
            leaves = [(*key, *sums) for key, sums in self.leaves.items()]
            parts.append(_LEAVES.format(*arrays(leaves, _LEAF_TYPES)))
        if self.index_dels:
            parts.append(
                _INDEX_DELS.format(*arrays(list(self.index_dels.values()), _INDEX_KEY_TYPES))
            )
        if self.index_puts:
            parts.append(_INDEX_PUTS.format(*arrays(list(self.index_puts.values()), _INDEX_TYPES)))
        if self.meta:
            parts.append(_META.format(*arrays(list(self.meta.values()), ("text", "text"))))
        records = [*self.changes, *appends]
        if records:
            parts.append(_CHANGES.format(*arrays(records, _CHANGE_TYPES)))
            parts.append(_CHANGES_INSERT)
            # the seqs of the appends only: the records logged before them need none
            args.append(len(self.changes))
            main = f"SELECT i, seq FROM v WHERE i > ${len(args)}::bigint"
            names = [f"w{i}" for i in range(len(parts) - 2)] + ["v", "c"]
        else:
            main = parts.pop()
            names = [f"w{i}" for i in range(len(parts))]
        if not parts:
            return main, args
        ctes = ", ".join(f"{name} AS ({part})" for name, part in zip(names, parts, strict=True))
        return f"WITH {ctes} {main}", args


#: writes that touch one item's rows (and the verifier's additive leaf): they need the
#: item, not the partition alone
_POINT_WRITES = frozenset(
    (
        direct.UPSERT_ROW,
        direct.UPSERT_LEAF,
        direct.UPSERT_INDEX,
        direct.DELETE_INDEX,
        # a record appended to the partition's log reads none of its rows
        direct.LOG_CHANGE,
    )
)
_KNOWN = frozenset(
    (
        direct.UPSERT_ROW,
        direct.UPSERT_LEAF,
        direct.UPSERT_INDEX,
        direct.DELETE_INDEX,
        direct.UPSERT_META,
        direct.LOG_CHANGE,
    )
)
_ROW_TYPES = (
    "integer",
    "integer",
    "bytea",
    "bytea",
    "bigint",
    "text",
    "bytea",
    "integer",
    "bigint",
)
_ROWS = (
    "INSERT INTO gt_items (tid, part, hk, rk, hlc, origin, data, size, tomb_ms) "
    "SELECT * FROM unnest({}, {}, {}, {}, {}, {}, {}, {}, {}) "
    "ON CONFLICT (tid, part, hk, rk) DO UPDATE SET hlc=excluded.hlc, origin=excluded.origin, "
    "data=excluded.data, size=excluded.size, tomb_ms=excluded.tomb_ms"
)
_LEAF_TYPES = ("integer", "integer", "integer", "bigint", "bigint", "bigint", "bigint", "bigint")
_LEAVES = (
    "INSERT INTO gt_verify (tid, part, bucket, live, s0, s1, s2, s3) "
    "SELECT * FROM unnest({}, {}, {}, {}, {}, {}, {}, {}) "
    "ON CONFLICT (tid, part, bucket) DO UPDATE SET "
    "live=gt_verify.live+excluded.live, s0=gt_verify.s0+excluded.s0, "
    "s1=gt_verify.s1+excluded.s1, s2=gt_verify.s2+excluded.s2, s3=gt_verify.s3+excluded.s3"
)
_INDEX_TYPES = ("integer", "integer", "integer", "bytea", "bytea", "bytea", "bytea", "integer")
_INDEX_PUTS = (
    "INSERT INTO gt_index (tid, iid, part, hk, rk, tk, data, size) "
    "SELECT * FROM unnest({}, {}, {}, {}, {}, {}, {}, {}) "
    "ON CONFLICT (tid, iid, part, hk, rk, tk) DO UPDATE SET data=excluded.data, size=excluded.size"
)
_INDEX_KEY_TYPES = _INDEX_TYPES[:6]
# the rows found by one index probe per key (LATERAL), each then deleted by its address
# (a TID scan), so that the plan depends neither on an estimate of the array's length
# nor on the table's size when it was made; ``OFFSET 0`` keeps the LATERAL subquery
# from being flattened into a join (GET_ROWS says why that matters)
_INDEX_DELS = (
    "DELETE FROM gt_index USING (SELECT x.ctid AS row "
    "FROM unnest({}, {}, {}, {}, {}, {}) AS d(tid, iid, part, hk, rk, tk) "
    "CROSS JOIN LATERAL (SELECT ctid FROM gt_index AS g WHERE g.tid = d.tid AND g.iid = d.iid "
    "AND g.part = d.part AND g.hk = d.hk AND g.rk = d.rk AND g.tk = d.tk OFFSET 0) AS x) AS y "
    "WHERE gt_index.ctid = y.row"
)
_META = (
    "INSERT INTO gt_meta (key, value) SELECT * FROM unnest({}, {}) "
    "ON CONFLICT (key) DO UPDATE SET value=excluded.value"
)
_CHANGE_TYPES = ("integer", "integer", "text", "bigint", "text", "bytea", "bigint", "boolean")
# each record's seq drawn in a CTE of its own, numbered by its position (ORDINALITY),
# so every member gets the seq of its own record back.  The sequence by its name (the
# one PostgreSQL gives a BIGSERIAL column), resolved once when the statement is
# prepared: ``pg_get_serial_sequence`` looked it up in the catalog for every record
_CHANGES = (
    "SELECT nextval('gt_changes_seq_seq'::regclass) AS seq, u.* "
    "FROM unnest({}, {}, {}, {}, {}, {}, {}, {}) WITH ORDINALITY "
    "AS u(tid, part, event, hlc, origin, record, created_ms, pending, i)"
)
_CHANGES_INSERT = (
    "INSERT INTO gt_changes (seq, tid, part, event, hlc, origin, record, created_ms, pending) "
    "SELECT seq, tid, part, event, hlc, origin, record, created_ms, pending FROM v"
)
