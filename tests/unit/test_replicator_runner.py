"""The replicator's runner: the change topics are set up once per cluster per process
start, not once per task (the publisher's and the applier's feeds) nor again after a
task's restart, and a cluster that is down holds up no other; its status
(``/healthz``'s ``replication``) names what its counts are."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest

from regions.counters import ApplyCounts
from regions.kafka_security import KafkaSecurity
from replicator import runner
from replicator.kafka import Cluster
from tests.unit.test_replicator_cancel import _replicator


def _feed(bootstrap: str, *sources: str) -> Any:
    """What the runner reads of an applier's feed (replicator/apply_feed.py)."""
    cluster = Cluster(bootstrap, KafkaSecurity(), tuple(sources))
    return SimpleNamespace(
        bootstrap=bootstrap, sources=list(sources), cluster=cluster, errors=0, run=None
    )


def _failing_twice(runs: dict[str, int], name: str) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        runs[name] += 1
        if runs[name] < 3:
            raise ConnectionError("Kafka went away")  # restarted by _forever
        await asyncio.Event().wait()

    return run


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
    # one shared cluster (no --peer-kafka): the applier's one feed reads it
    feed = _feed(rep.bootstrap, "eu-west-1")
    rep.applier.feeds = [feed]
    runs = {"publisher": 0, "applier": 0}
    publisher: Any = rep.publisher  # the stub of _replicator()
    publisher.run = _failing_twice(runs, "publisher")
    feed.run = _failing_twice(runs, "applier")

    monkeypatch.setattr(asyncio, "sleep", _fast(asyncio.sleep))
    tasks = [
        asyncio.create_task(rep._forever("publisher", rep._publish)),
        asyncio.create_task(rep._forever("applier", partial(rep._apply_from, feed), feed=feed)),
    ]
    for _ in range(500):
        if min(runs.values()) >= 3:
            break
        await _real_sleep(0.01)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert runs == {"publisher": 3, "applier": 3}
    assert calls == [["globaltables.us-east-1.changes", "globaltables.eu-west-1.changes"]]
    assert (rep.applier.errors, feed.errors, rep.publisher.errors) == (2, 2, 2)


async def test_each_cluster_gets_its_topics_and_one_down_holds_up_no_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--peer-kafka: this region's topic on its own cluster, each source's on the
    source's; a cluster whose set-up keeps failing delays only its own feed."""
    calls: list[tuple[str, list[str]]] = []

    async def ensure_topics(bootstrap: str, topics: list[str], *_args: object) -> list[str]:
        calls.append((bootstrap, topics))
        if bootstrap == "kafka-c:9092":
            raise ConnectionError("Kafka unreachable")
        await asyncio.sleep(0.01)
        return topics

    monkeypatch.setattr(runner, "ensure_topics", ensure_topics)
    monkeypatch.setattr(asyncio, "sleep", _fast(asyncio.sleep))
    rep = _replicator()
    rep.bootstrap = "kafka-a:9092"
    b, c = _feed("kafka-b:9092", "eu-west-1"), _feed("kafka-c:9092", "ap-southeast-2")
    rep.applier.feeds = [b, c]
    started: set[str] = set()

    def forever(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            started.add(name)
            await asyncio.Event().wait()

        return run

    publisher: Any = rep.publisher
    publisher.run, b.run, c.run = forever("publisher"), forever("b"), forever("c")
    tasks = [
        asyncio.create_task(rep._forever("publisher", rep._publish)),
        *(
            asyncio.create_task(rep._forever("applier", partial(rep._apply_from, f), feed=f))
            for f in (b, c)
        ),
    ]
    for _ in range(500):
        if {"publisher", "b"} <= started and c.errors >= 3:
            break
        await _real_sleep(0.01)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert started == {"publisher", "b"}
    assert ("kafka-a:9092", ["globaltables.us-east-1.changes"]) in calls
    assert ("kafka-b:9092", ["globaltables.eu-west-1.changes"]) in calls
    assert calls.count(("kafka-c:9092", ["globaltables.ap-southeast-2.changes"])) >= 3
    assert (b.errors, rep.publisher.errors) == (0, 0) and c.errors >= 3
    assert rep._topics_ready == {"kafka-a:9092", "kafka-b:9092"}


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

    publisher: Any = rep.publisher
    publisher.run = body
    task = asyncio.create_task(rep._forever("publisher", rep._publish))
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

    rep.publisher = stub(connected=True, published=5, errors=0, backlog=backlog, share=(1, 0))
    rep.applier = stub(
        connected=True, sources=["eu-west-1"], errors=0, quarantine=stub(held=held),
        totals=ApplyCounts(applied=7, lost=2, duplicates=3, skipped=1), feeds=[],
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


class _Nodes:
    """What the runner reads of regions/nodes.py: this node's id and the live nodes."""

    def __init__(self, node_id: str, alive: list[str]) -> None:
        self.node_id, self.live, self.fail = node_id, alive, False
        self.shared = True

    async def live_ids(self) -> list[str]:
        if self.fail:
            raise ConnectionError("the database went away")
        return list(self.live)


async def test_each_live_node_publishes_its_share_of_the_outbox() -> None:
    """The k-th of N live nodes, by node id, publishes partitions p mod N == k; the
    share follows the nodes as they come and go, and is kept while they cannot be read
    or while this node's own heartbeat is missing (the others cover for it)."""
    rep = _replicator()
    rep.publisher = SimpleNamespace(share=(1, 0))
    nodes = _Nodes("n2", ["n3", "n1", "n2"])
    await rep._refresh_share(nodes)  # type: ignore[arg-type]
    assert rep.publisher.share == (3, 1)
    nodes.live = ["n2", "n3"]  # n1 died
    await rep._refresh_share(nodes)  # type: ignore[arg-type]
    assert rep.publisher.share == (2, 0)
    nodes.fail = True
    await rep._refresh_share(nodes)  # type: ignore[arg-type]
    assert rep.publisher.share == (2, 0)
    nodes.fail, nodes.live = False, ["n3"]  # this node's heartbeat is late
    await rep._refresh_share(nodes)  # type: ignore[arg-type]
    assert rep.publisher.share == (2, 0)
    nodes.live = ["n2"]
    await rep._refresh_share(nodes)  # type: ignore[arg-type]
    assert rep.publisher.share == (1, 0)
