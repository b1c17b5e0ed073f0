"""The limits of a region process's HTTP server: sizes, timeouts, connections.

Kept apart from their enforcement (``api/edge.py``, which imports uvicorn) so that the
command line can show their defaults without importing a server.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["EdgeLimits"]


@dataclass(frozen=True)
class EdgeLimits:
    """The limits of one region process's HTTP server (``globaltables region`` options)."""

    #: bytes of the request target (the request line's URL)
    max_request_line: int = 16 * 1024
    #: bytes of the whole head: request line and headers
    max_header_bytes: int = 64 * 1024
    #: seconds from a head's first byte (or the connection's start) to its end
    header_timeout: float = 10.0
    #: seconds from the end of a head to the end of its body, before the extension
    body_timeout: float = 30.0
    #: bytes per second of body that extend the body timeout by a second (0: never)
    body_min_rate: int = 1024
    #: seconds an idle keep-alive connection stays open (uvicorn's timeout_keep_alive)
    idle_timeout: int = 5
    #: connections one process serves at once
    max_connections: int = 1024

    def __post_init__(self) -> None:
        if self.max_request_line < 1024 or self.max_header_bytes < 1024:
            raise ValueError("the request line and header limits must be at least 1024 bytes")
        if self.header_timeout <= 0 or self.body_timeout <= 0 or self.idle_timeout <= 0:
            raise ValueError("the timeouts must be positive")
        if self.body_min_rate < 0 or self.max_connections < 1:
            raise ValueError("the body rate must be >= 0 and the connection cap >= 1")

    def uvicorn_options(self) -> dict[str, Any]:
        """What goes to ``uvicorn.Config`` besides ``http=`` (api/edge.py)."""
        # requests still running at SIGTERM get this long before their connections
        # close; the lifespan's shutdown then has its own deadline (api/shutdown_deadline.py)
        return {"timeout_keep_alive": self.idle_timeout, "timeout_graceful_shutdown": 5}

    def to_json(self) -> str:
        """For a worker process's command line (globaltables/workers.py)."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> EdgeLimits:
        return cls(**json.loads(text))
