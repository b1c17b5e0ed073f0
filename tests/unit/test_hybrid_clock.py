"""The hybrid logical clock (regions/versions.py, invariant 2), on its own."""

from __future__ import annotations

import threading

from regions.versions import LOGICAL_BITS, HybridClock, Version, physical_ms


class _Wall:
    """A wall clock the test moves by hand."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def test_ticks_follow_the_wall_clock_and_never_repeat() -> None:
    wall = _Wall(1_000)
    clock = HybridClock(now_ms=wall)
    first = clock.tick()
    assert first == 1_000 << LOGICAL_BITS and physical_ms(first) == 1_000
    # the same millisecond: the logical counter moves
    assert clock.tick() == first + 1
    wall.ms = 2_000
    assert clock.tick() == 2_000 << LOGICAL_BITS


def test_a_wall_clock_that_steps_back_does_not_move_the_clock_back() -> None:
    wall = _Wall(5_000)
    clock = HybridClock(now_ms=wall)
    high = clock.tick()
    wall.ms = 4_000  # NTP stepped the clock back a second
    after = clock.tick()
    assert after == high + 1 and physical_ms(after) == 5_000


def test_observe_makes_later_local_versions_newer_than_what_was_seen() -> None:
    wall = _Wall(1_000)
    clock = HybridClock(now_ms=wall)
    remote = (3_000 << LOGICAL_BITS) + 7  # a peer whose clock runs 2 s ahead
    clock.observe(remote)
    assert clock.peek() == remote
    assert clock.tick() == remote + 1
    # an older remote version does not move it back
    clock.observe(10)
    assert clock.tick() == remote + 2
    # once the wall clock passes the remote one, ticks follow the wall again
    wall.ms = 4_000
    assert clock.tick() == 4_000 << LOGICAL_BITS


def test_ticks_are_unique_across_threads() -> None:
    clock = HybridClock(now_ms=_Wall(1))
    seen: list[int] = []
    lock = threading.Lock()

    def run() -> None:
        mine = [clock.tick() for _ in range(2_000)]
        with lock:
            seen.extend(mine)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == len(seen) == 8_000


def test_versions_order_on_hlc_then_origin() -> None:
    assert Version(5, "us-east-1") < Version(6, "ap-southeast-2")
    assert Version(5, "ap-southeast-2") < Version(5, "us-east-1")
    assert max(Version(5, "eu-west-1"), Version(5, "ap-southeast-2")).origin == "eu-west-1"
