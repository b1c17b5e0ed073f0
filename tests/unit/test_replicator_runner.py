"""The replicator's runner: the change topics are set up once per process start, not
once per task (the publisher's and the applier's) nor again after a task's restart;
its status (``/healthz``'s ``replication``) names what its counts are."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest

from regions.counters import ApplyCounts
from replicator import runner
from tests.unit.test_replicator_cancel import _replicator


async def test_topics_are_ensured_once_for_both_tasks_and_their_restarts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[list[str]] = []

    async def ensure_topics(_bootstrap: str, topics: list[str], *_args: object) -> list[str]:
        calls.append(topics)
        await asyncio.sleep(0.01)  # the other task arrives while this one is creating them
        return topics

    monkeypatch.setattr(runner, "ensure_topics", ensure_topics)
    rep = _replicator()
    runs = {"publisher": 0, "applier": 0}

    def body(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            runs[name] += 1
            if runs[name] < 3:
                raise ConnectionError("Kafka went away")  # restarted by _forever
            await asyncio.Event().wait()

        return run

    monkeypatch.setattr(asyncio, "sleep", _fast(asyncio.sleep))
    tasks = [asyncio.create_task(rep._forever(n, body(n))) for n in runs]
    for _ in range(500):
        if min(runs.values()) >= 3:
            break
        await _real_sleep(0.01)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert runs == {"publisher": 3, "applier": 3}
    assert calls == [["globaltables.us-east-1.changes", "globaltables.eu-west-1.changes"]]


async def test_a_failed_topic_set_up_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0

    async def ensure_topics(*_args: object) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("Kafka unreachable")
        return []

    monkeypatch.setattr(runner, "ensure_topics", ensure_topics)
    monkeypatch.setattr(asyncio, "sleep", _fast(asyncio.sleep))
    rep = _replicator()
    ran = asyncio.Event()

    async def body() -> None:
        ran.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(rep._forever("publisher", body))
    await asyncio.wait_for(ran.wait(), 5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert calls == 2 and rep._topics_ready


async def test_status_counts_conflicts_lost_and_duplicates_apart() -> None:
    rep = _replicator()
    stub: Any = SimpleNamespace

    async def backlog() -> int:
        return 0

    async def held() -> dict[str, Any]:
        return {}

    rep.publisher = stub(connected=True, published=5, errors=0, backlog=backlog)
    rep.applier = stub(
        connected=True, sources=["eu-west-1"], errors=0, quarantine=stub(held=held),
        totals=ApplyCounts(applied=7, lost=2, duplicates=3, skipped=1),
    )  # fmt: skip
    rep.lag = stub(snapshot=dict)
    rep.reseeder = stub(status=dict)
    applier = (await rep.status())["applier"]
    assert (applier["conflicts_lost"], applier["duplicates"]) == (2, 3)
    assert not any("lost_or" in k for k in applier)


_real_sleep = asyncio.sleep


def _fast(sleep: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """asyncio.sleep without the runner's backoff delays (0.5 s and up)."""

    async def fast(delay: float, *args: Any) -> Any:
        return await sleep(min(delay, 0.001), *args)

    return fast
