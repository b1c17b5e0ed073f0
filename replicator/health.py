"""Whether the publisher and the applier really talk to Kafka, from outcomes.

aiokafka's clients stay "started" while the broker is gone: a producer whose broker
died still accepts sends (they wait in its buffer until they time out, 30 s later),
and a consumer's poll just returns nothing.  So "connected" is not "started": a
client is connected while it heard from the broker recently, through something that
needs the broker to answer (an acknowledged batch, fetched records, or a metadata
round trip that :meth:`KafkaContact.watch` makes every :data:`PROBE_INTERVAL_S`).

These facts feed ``Replicator.problems()``, which ``/healthz``, ``/readyz`` and the
dashboard's health read (docs/regions.md#health).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

__all__ = [
    "CLOSE_TIMEOUT_S",
    "CONTACT_FRESH_S",
    "PROBE_INTERVAL_S",
    "PROBE_TIMEOUT_S",
    "SEND_STALL_S",
    "STALL_S",
    "BrokerSilent",
    "KafkaContact",
]

log = logging.getLogger("globaltables.replicator")

#: a client that heard from the broker less than this long ago is connected
CONTACT_FRESH_S = 4.0
#: how often an otherwise quiet client asks the broker for metadata
PROBE_INTERVAL_S = 1.0
#: a metadata round trip slower than this counts as failed
PROBE_TIMEOUT_S = 2.0
#: work waiting (a backlog, records behind) with no progress for this long is "stuck"
STALL_S = 30.0
#: a batch in flight while the broker has been silent this long is given up (the
#: publisher restarts; aiokafka would wait for the broker forever, as a partition's
#: leader stays known while nobody answers)
SEND_STALL_S = 10.0
#: how long closing a client may take before its pending requests are dropped
CLOSE_TIMEOUT_S = 5.0


class BrokerSilent(Exception):
    """Records wait for the broker's acknowledgement and the broker does not answer."""


class KafkaContact:
    """When one Kafka client last heard from the broker, and whether it runs."""

    def __init__(self, fresh_s: float = CONTACT_FRESH_S) -> None:
        self.fresh_s = fresh_s
        #: between a successful start() and the end of the run
        self.running = False
        #: monotonic time of the last answer from the broker (None: never)
        self.last_ok: float | None = None

    def started(self) -> None:
        self.running = True
        self.ok()

    def stopped(self) -> None:
        self.running = False

    def ok(self) -> None:
        self.last_ok = time.monotonic()

    @property
    def connected(self) -> bool:
        return (
            self.running
            and self.last_ok is not None
            and time.monotonic() - self.last_ok < self.fresh_s
        )

    def silence_s(self) -> float | None:
        """Seconds since the broker last answered; None if it never did."""
        return None if self.last_ok is None else time.monotonic() - self.last_ok

    def describe(self) -> str:
        silence = self.silence_s()
        if not self.running:
            return "not running"
        if silence is None:
            return "no answer from the broker yet"
        return f"no answer from the broker for {silence:.0f}s"

    async def watch(
        self,
        fetch: Callable[[], Awaitable[object]],
        on_failure: Callable[[], None],
        interval_s: float = PROBE_INTERVAL_S,
        timeout_s: float = PROBE_TIMEOUT_S,
    ) -> None:
        """Ask the broker (``fetch``: a metadata round trip) every ``interval_s``
        until cancelled; an answer marks contact, a failure calls ``on_failure``
        (the client's error counter).  Never raises but for cancellation."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await asyncio.wait_for(fetch(), timeout_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                on_failure()
                log.debug("kafka metadata probe failed: %s: %s", type(exc).__name__, exc)
            else:
                self.ok()
