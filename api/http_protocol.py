"""The HTTP/1.1 protocol a region serves with: uvicorn's httptools protocol, one send per response.

uvicorn writes a response's status line and headers as soon as the app sends
``http.response.start``, then the body as a second write. On loopback each write is
its own ``send()`` system call and its own TCP segment, and when the client is idle
(as it is when the server is the bottleneck) each segment also wakes it: profiles of a
region under GetItem load put a quarter of the server's CPU in those two writes.
Holding the head back until the body arrives halves the segments and the wake-ups.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_HEAD_START = b"HTTP/1.1 "
_HEAD_END = b"\r\n\r\n"


class CoalescingTransport:
    """A transport that joins a response head with the write that follows it.

    A held head is flushed on the next loop iteration at the latest, so a response
    without a body (HEAD, 204), a ``100 Continue`` or a streamed body still leaves at
    once and in order; everything else is delegated to the real transport.
    """

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + bytes(data))
            return
        if (
            isinstance(data, bytes)
            and data.startswith(_HEAD_START)
            and data.endswith(_HEAD_END)
        ):
            self._held = data
            self._loop.call_soon(self.flush)
            return
        self._transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class RegionHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over a :class:`CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
