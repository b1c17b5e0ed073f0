"""A TCP proxy the chaos tests control: how one region is cut off from Kafka.

The proxy sits between one region and the broker's second listener, whose
advertised address is the proxy's (a Kafka client connects to whatever address
the broker advertises, so a proxy only sees the traffic it is advertised for).
``cut()`` models a network partition as a client sees one: every open connection
is reset, and connections opened during the cut are accepted but go nowhere
(no byte passes, so the client waits for its own timeouts).  ``heal()`` closes
those dead connections and forwards new ones again.

It runs its own event loop in a daemon thread, so the synchronous tests drive it
with plain method calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["TcpProxy"]

_T = TypeVar("_T")


class TcpProxy:
    def __init__(self, upstream_port: int, listen_port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.upstream_port = upstream_port
        self.listen_port = listen_port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._cut = False
        #: writers of every connection (both ends), to reset them on a cut
        self._open: set[asyncio.StreamWriter] = set()
        #: connections accepted during a cut, closed on heal
        self._held: set[asyncio.StreamWriter] = set()
        self.connections = 0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.listen_port}"

    def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def start(self) -> TcpProxy:
        self._thread.start()
        self._server = self._run(self._listen())
        return self

    async def _listen(self) -> asyncio.Server:
        return await asyncio.start_server(self._accept, self.host, self.listen_port)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self._cut:
            # a partition: the handshake completed (the kernel did it) but nothing passes
            self._held.add(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.upstream_port)
        except OSError:
            writer.close()
            return
        self._open.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        for w in (writer, up_writer):
            self._open.discard(w)
            w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def cut(self) -> None:
        self._run(self._cut_now())

    async def _cut_now(self) -> None:
        self._cut = True
        for w in list(self._open):
            transport = w.transport
            # abort, not close: an RST, as when a middlebox drops the flow
            transport.abort()
        self._open.clear()

    def heal(self) -> None:
        self._run(self._heal_now())

    async def _heal_now(self) -> None:
        self._cut = False
        for w in list(self._held):
            w.transport.abort()
        self._held.clear()

    def close(self) -> None:
        async def shutdown() -> None:
            await self._cut_now()
            await self._heal_now()
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()

        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                self._run(shutdown())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
