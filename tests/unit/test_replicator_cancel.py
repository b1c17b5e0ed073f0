"""Stopping the replicator stops its tasks, even when a cancel surfaces as another error.

Found by the chaos suite: a region sent SIGTERM while its applier was inside a
store transaction never exited.  The cancel interrupted SQLAlchemy, whose cleanup
raised ``PendingRollbackError`` instead of the ``CancelledError``; the runner took
that for an ordinary failure and restarted the applier, so ``Replicator.stop()``
waited forever (and the process spun in aiokafka until SIGKILL).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from replicator import runner
from replicator.runner import Replicator


def _replicator() -> Replicator:
    rep = Replicator.__new__(Replicator)  # no Region, Kafka or store: only the loop runs
    stub: Any = SimpleNamespace
    rep.region = stub(
        name="us-east-1", settings=stub(topic_partitions=1, kafka_security=None, peer_kafka={})
    )
    rep.bootstrap = "unused:9092"
    rep.applier = stub(sources=["eu-west-1"], errors=0, feeds=[])
    rep.publisher = stub(errors=0)
    rep.last_error = None
    rep.last_error_at = None
    rep._topics_ready = set()
    rep._topics_locks = {}
    rep._apply_tasks, rep._publish_tasks, rep._lead_tasks, rep._observe = [], [], [], None
    rep.publishing = rep.leading = False
    return rep


async def test_a_cancel_that_surfaces_as_another_error_still_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def no_topics(*_args: object) -> None:
        return None

    monkeypatch.setattr(runner, "ensure_topics", no_topics)
    rep = _replicator()
    calls = 0
    inside = asyncio.Event()
    swallow = True

    async def body() -> None:
        nonlocal calls
        calls += 1
        inside.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if not swallow:
                raise
            # what a transaction's cleanup does when the cancel hits mid-statement
            raise RuntimeError("Can't reconnect until invalid transaction is rolled back") from None

    task = asyncio.create_task(rep._forever("applier", body))
    await inside.wait()
    task.cancel()
    # asyncio.wait, not wait_for: wait_for would cancel again on timeout and hang
    done, _ = await asyncio.wait({task}, timeout=5)
    stopped = task in done
    if not stopped:  # clean up the runaway loop before failing
        swallow = False
        task.cancel()
        await asyncio.wait({task}, timeout=5)
    assert stopped, f"the cancel was swallowed; the applier ran {calls} times"
    assert task.cancelled()
    assert calls == 1  # not restarted after the cancel


async def test_ordinary_failures_are_still_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_topics(*_args: object) -> None:
        return None

    monkeypatch.setattr(runner, "ensure_topics", no_topics)
    rep = _replicator()
    calls = 0

    async def body() -> None:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("Kafka unreachable")
        await asyncio.Event().wait()

    task = asyncio.create_task(rep._forever("applier", body))
    for _ in range(200):
        if calls >= 3:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert calls == 3
    assert rep.applier.errors == 2
