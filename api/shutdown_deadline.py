"""A deadline on a region process's shutdown.

SIGTERM must stop a region promptly whatever it was doing: a supervisor (systemd,
Kubernetes, a test) waits a bounded time before it kills, and a process stuck in its
shutdown (a database or Kafka client saying goodbye to a server that no longer
answers, a job that ignores its cancellation) would otherwise hold the port and the
node's locks until then.  Exiting at the deadline loses nothing: a write is
acknowledged only once durable, Kafka offsets and outbox marks are set only after the
fact, and every job resumes from the store on the next start.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import sys
import threading

__all__ = ["SHUTDOWN_DEADLINE_S", "arm"]

log = logging.getLogger("globaltables.app")

#: seconds a region process's shutdown may take once it has begun
SHUTDOWN_DEADLINE_S = 15.0


def arm(what: str, deadline_s: float = SHUTDOWN_DEADLINE_S) -> threading.Timer:
    """Exit the process if ``cancel()`` is not called on the returned timer within
    ``deadline_s``; the threads' stacks go to stderr first, to show what held it."""

    def expire() -> None:
        log.error(
            "%s did not finish within %.0f s: exiting now (nothing acknowledged is lost; "
            "unfinished jobs resume at the next start)",
            what,
            deadline_s,
        )
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        os._exit(0)

    timer = threading.Timer(deadline_s, expire)
    timer.daemon = True
    timer.start()
    return timer
