"""A user-space TCP proxy that delays each direction of every connection, and can cut.

One :class:`DelayProxy` listens on 127.0.0.1 and forwards to one upstream.  Each
connection gets a :class:`Shaper` that decides, per unit of traffic, what to forward
and after how long: a raw chunk of the byte stream (HTTP links), or a whole Kafka
frame (``framed``: the Kafka path, where the delay depends on which region's topic a
Fetch carries, ``globaltables/wan/shapers.py``).  Order is kept: a unit leaves no
earlier than the one before it, so jitter reorders nothing, as on a TCP connection.

Bounded: at most ``max_connections`` connections forwarding and as many held by a
cut (more are reset), and at most ``buffer_bytes`` waiting per direction before the
proxy stops reading (TCP backpressure reaches the sender, as a slow link would).

``cut()`` is a partition as a client sees one (what the chaos suite's own proxy,
which this replaces, did): open connections are reset, connections opened meanwhile
are accepted but nothing passes, so the client waits for its own timeouts;
``heal()`` resets those and forwards new connections again.

Every coroutine runs on the event loop of the :class:`~globaltables.wan.network.Wan`
that owns the proxy.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import struct
from collections.abc import Callable
from typing import Protocol

__all__ = ["DelayProxy", "Shaper"]

#: a Kafka frame larger than this ends the connection (the broker's own default
#: socket.request.max.bytes is 100 MiB)
MAX_FRAME = 128 << 20


class Shaper(Protocol):
    """Per-connection policy: each unit in, (bytes to forward or None, delay in s) out."""

    #: units are Kafka frames (size-prefixed) rather than raw chunks
    framed: bool

    def to_upstream(self, unit: bytes) -> tuple[bytes | None, float]: ...

    def to_client(self, unit: bytes) -> tuple[bytes | None, float]: ...


class _DelayLine:
    """One direction of one connection: units wait here until their time, in order."""

    def __init__(self, writer: asyncio.StreamWriter, limit: int) -> None:
        self.writer = writer
        self.limit = limit
        self.items: collections.deque[tuple[float, bytes]] = collections.deque()
        self.queued = 0
        self.last = 0.0
        #: no more units will come (the reader saw the end); what is queued still goes
        self.finished = False
        #: the writer failed: nothing more goes out, and put() must not wait for it
        self.dead = False
        self.cond = asyncio.Condition()

    async def put(self, delay: float, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        async with self.cond:
            # always admit one unit, however large: a frame is never split
            await self.cond.wait_for(
                lambda: self.dead or self.queued < self.limit or not self.items
            )
            if self.dead:
                raise ConnectionError("the other side of the link is gone")
            self.last = max(self.last, loop.time() + delay)
            self.items.append((self.last, data))
            self.queued += len(data)
            self.cond.notify_all()

    async def finish(self) -> None:
        async with self.cond:
            self.finished = True
            self.cond.notify_all()

    async def run(self) -> None:
        """Write each unit at its time; once finished, what is queued still goes out."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                async with self.cond:
                    await self.cond.wait_for(lambda: bool(self.items) or self.finished)
                    if not self.items:
                        return
                    at, data = self.items[0]
                wait = at - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                self.writer.write(data)
                await self.writer.drain()
                async with self.cond:
                    self.items.popleft()
                    self.queued -= len(data)
                    self.cond.notify_all()
        finally:
            async with self.cond:
                self.dead = True
                self.cond.notify_all()


async def _read_unit(reader: asyncio.StreamReader, framed: bool) -> bytes:
    """The next chunk or Kafka frame payload; b"" at the end of the stream."""
    if not framed:
        return await reader.read(65536)
    try:
        head = await reader.readexactly(4)
        (size,) = struct.unpack(">i", head)
        if size < 0 or size > MAX_FRAME:
            raise ConnectionError(f"Kafka frame of {size} bytes")
        return await reader.readexactly(size)
    except asyncio.IncompleteReadError:
        return b""


class DelayProxy:
    def __init__(
        self,
        name: str,
        upstream_port: int,
        shaper: Callable[[], Shaper],
        *,
        listen_port: int = 0,
        host: str = "127.0.0.1",
        max_connections: int = 256,
        buffer_bytes: int = 8 << 20,
    ) -> None:
        self.name = name
        self.host = host
        self.upstream_port = upstream_port
        self.listen_port = listen_port
        self._shaper = shaper
        self.max_connections = max_connections
        self.buffer_bytes = buffer_bytes
        self._server: asyncio.Server | None = None
        self._cut = False
        #: writers of every open connection (both ends), reset on a cut
        self._open: set[asyncio.StreamWriter] = set()
        #: connections accepted during a cut, reset on heal
        self._held: set[asyncio.StreamWriter] = set()
        #: connections forwarding now
        self.active = 0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.listen_port}"

    async def start(self) -> DelayProxy:
        self._server = await asyncio.start_server(self._accept, self.host, self.listen_port)
        self.listen_port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut and len(self._held) < self.max_connections:
            # a partition: the handshake completed (the kernel did it) but nothing passes
            self._held.add(writer)
            return
        if self._cut:
            writer.transport.abort()  # bounded: past that many held, a reset
            return
        if self.active >= self.max_connections:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        self._open.update((writer, up_writer))
        self.active += 1
        shaper = self._shaper()
        try:
            await asyncio.gather(
                self._pump(reader, _DelayLine(up_writer, self.buffer_bytes), shaper, True),
                self._pump(up_reader, _DelayLine(writer, self.buffer_bytes), shaper, False),
                return_exceptions=True,
            )
        finally:
            self.active -= 1
            for w in (writer, up_writer):
                self._open.discard(w)
                w.close()

    async def _pump(
        self, reader: asyncio.StreamReader, line: _DelayLine, shaper: Shaper, upstream: bool
    ) -> None:
        sender = asyncio.create_task(line.run())
        shape = shaper.to_upstream if upstream else shaper.to_client
        try:
            while not sender.done():
                unit = await _read_unit(reader, shaper.framed)
                if not unit:
                    break
                data, delay = shape(unit)
                if data is None:
                    continue
                if shaper.framed:
                    data = struct.pack(">i", len(data)) + data
                await line.put(delay, data)
        finally:
            await line.finish()
            with contextlib.suppress(Exception):
                await sender
            with contextlib.suppress(Exception):
                # half-close: the other side learns this one is done sending
                if line.writer.can_write_eof():
                    line.writer.write_eof()

    async def cut(self) -> None:
        self._cut = True
        for w in list(self._open):
            # abort, not close: an RST, as when a middlebox drops the flow
            w.transport.abort()
        self._open.clear()

    async def heal(self) -> None:
        self._cut = False
        for w in list(self._held):
            w.transport.abort()
        self._held.clear()

    async def close(self) -> None:
        await self.cut()
        await self.heal()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
