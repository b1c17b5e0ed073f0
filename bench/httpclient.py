"""A minimal keep-alive HTTP/1.1 client on asyncio protocols, for the load generator.

Why not httpx or aiohttp: the client shares two cores with the server under test, so every
microsecond it spends per request is taken from the server and caps what we can measure.
A protocol that writes one pre-assembled request and parses only the status line and the
three headers it needs (``Content-Length``, ``Transfer-Encoding``, ``Connection``) costs a
fraction of a general client.  One connection serves one request at a time (no pipelining),
which is how SDKs use a connection pool.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import cast

__all__ = ["Connection", "HttpError", "Response"]


class HttpError(ConnectionError):
    """The connection broke or the server sent something that is not HTTP/1.x."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[Response] | None = None
        self.closed = False
        self.keep_alive = True
        # state of the response being parsed
        self._head_end = -1
        self._status = 0
        self._length = -1  # -1: unknown (chunked or close-delimited)
        self._chunked = False
        self._chunks = bytearray()
        self._pos = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio.Transport
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is not None:
            try:
                self._parse()
            except HttpError as exc:
                self._fail(exc)

    def eof_received(self) -> bool | None:
        return False  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            if self._head_end >= 0 and self._length < 0 and not self._chunked:
                # a close-delimited body (HTTP/1.0 style) is complete now
                self._finish(bytes(self.buf[self._head_end :]))
            else:
                self.waiter.set_exception(HttpError(f"connection lost: {exc or 'EOF'}"))

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def _parse(self) -> None:
        if self._head_end < 0:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self._head_end = end + 4
            head = bytes(self.buf[:end]).split(b"\r\n")
            parts = head[0].split(b" ", 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
                raise HttpError(f"bad status line {head[0][:80]!r}")
            self._status = int(parts[1])
            self.keep_alive = parts[0] == b"HTTP/1.1"
            for line in head[1:]:
                name, _, value = line.partition(b":")
                lname = name.strip().lower()
                if lname == b"content-length":
                    self._length = int(value)
                elif lname == b"transfer-encoding":
                    self._chunked = b"chunked" in value.lower()
                elif lname == b"connection":
                    v = value.strip().lower()
                    if v == b"close":
                        self.keep_alive = False
                    elif v == b"keep-alive":
                        self.keep_alive = True
            self._pos = self._head_end
        if self._chunked:
            self._parse_chunks()
        elif self._length >= 0 and len(self.buf) >= self._head_end + self._length:
            self._finish(bytes(self.buf[self._head_end : self._head_end + self._length]))

    def _parse_chunks(self) -> None:
        while True:
            line_end = self.buf.find(b"\r\n", self._pos)
            if line_end < 0:
                return
            size = int(bytes(self.buf[self._pos : line_end]).split(b";")[0], 16)
            start = line_end + 2
            if size == 0:
                # no trailers expected: the final CRLF follows the zero chunk
                if len(self.buf) < start + 2:
                    return
                self._finish(bytes(self._chunks), consumed=start + 2)
                return
            if len(self.buf) < start + size + 2:
                return
            self._chunks += self.buf[start : start + size]
            self._pos = start + size + 2

    def _finish(self, body: bytes, consumed: int | None = None) -> None:
        waiter, self.waiter = self.waiter, None
        used = consumed if consumed is not None else self._head_end + len(body)
        del self.buf[:used]
        status = self._status
        self._head_end, self._length, self._chunked, self._pos = -1, -1, False, 0
        self._chunks = bytearray()
        if not self.keep_alive and self.transport is not None:
            self.transport.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(Response(status, body))


def _expire(waiter: asyncio.Future[Response]) -> None:
    if not waiter.done():
        waiter.set_exception(HttpError("timed out waiting for the response"))


class Connection:
    """One keep-alive connection to ``host:port``; reconnects when the server closed it."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._proto: _Protocol | None = None
        #: connections opened, so a report can show servers that do not keep connections alive
        self.opened = 0

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_connection(_Protocol, self.host, self.port)
        self._proto = proto
        self.opened += 1

    async def request(self, raw: bytes, timeout: float = 30.0) -> Response:
        """Send one complete request (head and body) and return the response."""
        proto = self._proto
        if proto is None or proto.closed or not proto.keep_alive:
            await self.connect()
            proto = self._proto
        assert proto is not None and proto.transport is not None
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Response] = loop.create_future()
        proto.waiter = waiter
        proto.transport.write(raw)
        if proto.buf:
            proto._parse()  # bytes that arrived early (should not happen without pipelining)
        # a timer handle instead of asyncio.wait_for: wait_for costs a task per request
        timer = loop.call_later(timeout, _expire, waiter)
        try:
            return await waiter
        except HttpError:
            self.close()
            raise
        finally:
            timer.cancel()

    def close(self) -> None:
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.close()
        self._proto = None
