"""The region's HTTP edge: what one connection may cost it (docs/security.md, "HTTP limits").

uvicorn's httptools protocol (what ``uvicorn[standard]`` runs) has no limit on the size
of a request's head and no read timeout: a 256 MB header was buffered whole (and
parsed in quadratic time), and a client trickling a header, a body, or nothing at all
held its connection forever.  :func:`edge_protocol` makes a subclass of it that
enforces :class:`EdgeLimits`:

* **head size**: the request target may be ``max_request_line`` bytes long, one header
  field (name and value) ``MAX_HEADER_FIELD``, the whole head (request line and
  headers) ``max_header_bytes``.  The bytes of an incomplete head are counted as they
  are read, so a connection reads at most the limit, then answers ``400 Bad Request``
  (what AWS's load balancers answer for the same limits) and closes;
* **header timeout**: a request head must be complete ``header_timeout`` seconds after
  its first byte (after the connection opened, for its first request);
* **body timeout**: a body must be complete ``body_timeout`` seconds after its head,
  plus one second per ``body_min_rate`` bytes received, so a large body on a slow link
  passes and a trickle does not.  Both timeouts answer ``408 Request Timeout`` and
  close (a connection that sent nothing is just closed);
* **idle timeout**: uvicorn's own keep-alive timeout (``timeout_keep_alive``);
* **connections**: a process serves ``max_connections`` connections at most; a
  connection over the cap has its request answered ``503 Service Unavailable`` and is
  closed (clients retry a 503), so the connections already admitted keep their
  service.

The timeouts are checked by one timer per process (a sweep over the open connections
every quarter of the shortest timeout, at most every second), not by a timer per
request: the request path only stores a timestamp and a phase.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from api.edge_limits import EdgeLimits

__all__ = ["MAX_HEADER_FIELD", "EdgeLimits", "edge_protocol"]

log = logging.getLogger("globaltables.edge")

#: one header field, name and value (AWS's load balancers: 16 K per header)
MAX_HEADER_FIELD = 16 * 1024

#: idle seconds of a connection to an uncapped (the primary's private relay) port
_RELAY_IDLE_S = 10

# what a connection is reading
_WAIT = 0  # between requests: nothing of the next one yet (uvicorn's keep-alive timer)
_HEAD = 1  # a request head, since ``_since``
_BODY = 2  # a request body, since ``_since``


class _Refused(Exception):
    """Raised in a parser callback to stop parsing a request the edge refuses."""


def _plain(status: int, text: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    body = text.encode()
    parts = [STATUS_LINE[status]]
    for name, value in default_headers:
        parts += [name, b": ", value, b"\r\n"]
    parts += [
        b"content-type: text/plain; charset=utf-8\r\n",
        b"content-length: %d\r\n" % len(body),
        b"connection: close\r\n\r\n",
        body,
    ]
    return b"".join(parts)


_OVER_CAP = b"Service Unavailable: too many connections"


async def _over_cap(scope: Any, receive: Any, send: Any) -> None:
    """The app of a connection over the cap: 503, and the connection closes."""
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(_OVER_CAP)).encode()),
                (b"connection", b"close"),
                (b"retry-after", b"1"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _OVER_CAP, "more_body": False})


class _Sweeper:
    """The connections of one server and the one timer that times them out."""

    def __init__(self, limits: EdgeLimits) -> None:
        self.limits = limits
        self.connections: set[EdgeProtocol] = set()
        #: connections that count against the cap
        self.admitted = 0
        self.tick = min(1.0, max(0.05, min(limits.header_timeout, limits.body_timeout) / 4))
        self.seconds_per_byte = 1.0 / limits.body_min_rate if limits.body_min_rate else 0.0
        self.timer: asyncio.TimerHandle | None = None

    def add(self, conn: EdgeProtocol) -> None:
        self.connections.add(conn)
        if self.timer is None:
            self.timer = conn.loop.call_later(self.tick, self.sweep, conn.loop)

    def sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self.timer = None
        now = loop.time()
        limits = self.limits
        for conn in list(self.connections):
            phase = conn._phase
            if phase == _HEAD:
                if now - conn._since > limits.header_timeout:
                    conn._time_out("header")
            elif phase == _BODY and not conn.flow.read_paused:
                # (while uvicorn holds reading back, the client cannot send)
                allowed = limits.body_timeout + conn._body_bytes * self.seconds_per_byte
                if now - conn._since > allowed:
                    conn._time_out("body")
        if self.connections:
            self.timer = loop.call_later(self.tick, self.sweep, loop)


class EdgeProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of :class:`EdgeLimits`.

    Made per server by :func:`edge_protocol` (the class carries the limits)."""

    _sweeper: ClassVar[_Sweeper]
    #: local ports whose connections do not count against the cap (a private relay port)
    _uncapped: ClassVar[frozenset[int]] = frozenset()

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limits = self._sweeper.limits
        self._max_line = limits.max_request_line
        self._max_head = limits.max_header_bytes
        self._phase = _HEAD
        self._since = 0.0
        #: bytes the current head may still take
        self._room = self._max_head
        self._body_bytes = 0
        self._admitted = False
        #: why the request being parsed is refused (set just before _Refused is raised)
        self._refusal = ""

    # -- connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._since = self.loop.time()
        sweeper = self._sweeper
        port = self.server[1] if self.server else None
        if port in self._uncapped:
            # the workers' relay client (api/forwarding.py) keeps an idle connection for
            # httpx's 5 s: outlive it, so a relay never goes out on a closing connection
            self.timeout_keep_alive = max(self.timeout_keep_alive, _RELAY_IDLE_S)
        else:
            if sweeper.admitted >= sweeper.limits.max_connections:
                # over the cap: the request is read (within the limits) and answered 503
                self.app = _over_cap
                if len(sweeper.connections) >= 2 * sweeper.limits.max_connections:
                    transport.close()  # and not even that many times over
            else:
                self._admitted = True
                sweeper.admitted += 1
        sweeper.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        sweeper = self._sweeper
        sweeper.connections.discard(self)
        if self._admitted:
            self._admitted = False
            sweeper.admitted -= 1
        self._phase = _WAIT
        super().connection_lost(exc)

    # -- reading

    def data_received(self, data: bytes) -> None:
        # uvicorn's data_received, with the head counted before the parser sees it
        self._unset_keepalive_if_required()
        phase = self._phase
        try:
            if phase == _BODY:
                self._body_bytes += len(data)
            else:
                if phase == _WAIT:
                    self._phase = _HEAD
                    self._since = self.loop.time()
                room = self._room
                if len(data) > room:
                    # only what is left of the limit, then see whether the head ended
                    view = memoryview(data)
                    self.parser.feed_data(view[:room])
                    if self._phase == _HEAD and not self.transport.is_closing():
                        self._refusal = "Request header fields too large"
                        raise _Refused
                    data = view[room:]  # type: ignore[assignment]
                else:
                    self._room = room - len(data)
            self.parser.feed_data(data)
        except _Refused:
            self._refuse(400, self._refusal)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError:
            if self._refusal:  # raised by a callback of ours
                self._refuse(400, self._refusal)
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > self._max_line:
            self._refusal = "Request line too long"
            raise _Refused

    def on_headers_complete(self) -> None:
        # a field over MAX_HEADER_FIELD needs that many bytes of head: only then look
        if self._max_head - self._room > MAX_HEADER_FIELD:
            for name, value in self.headers:
                if len(name) + len(value) > MAX_HEADER_FIELD:
                    self._refusal = "Request header field too large"
                    raise _Refused
        self._phase = _BODY
        self._since = self.loop.time()
        self._body_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._phase = _WAIT
        self._room = self._max_head
        super().on_message_complete()

    # -- refusing

    def _refuse(self, status: int, text: str) -> None:
        log.debug("refused a request from %s: %s", self._peer(), text)
        self._phase = _WAIT
        if not self.transport.is_closing():
            self.transport.write(_plain(status, text, self.server_state.default_headers))
            self.transport.close()

    def _time_out(self, what: str) -> None:
        """Called by the sweep: the head or body took too long."""
        self._phase = _WAIT
        if self.transport.is_closing():
            return
        log.debug("closed a connection from %s: %s timeout", self._peer(), what)
        cycle = self.cycle
        if what == "header":
            # a 408 if anything of the head came; a connection that sent nothing just closes
            answer = self._room < self._max_head
        else:
            answer = not cycle.response_started
            if not cycle.response_complete:
                # the app waiting for the body sees the client go, and answers nothing
                cycle.disconnected = True
                cycle.message_event.set()
        if answer:
            text = f"Request Timeout: the request {what} took too long"
            self.transport.write(_plain(408, text, self.server_state.default_headers))
        self.transport.close()

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "?"


def edge_protocol(
    limits: EdgeLimits, *, uncapped_ports: frozenset[int] = frozenset()
) -> type[EdgeProtocol]:
    """The protocol class for ``uvicorn.Config(http=...)`` of one server: ``limits``
    for every connection, no cap for connections to ``uncapped_ports`` (the primary's
    private port, which only its own workers reach)."""

    class BoundEdgeProtocol(EdgeProtocol):
        _sweeper = _Sweeper(limits)
        _uncapped = uncapped_ports

    return BoundEdgeProtocol
