"""The re-seed decisions as pure functions (regions/reseed.py, replicator/reseed.py)."""

from __future__ import annotations

from regions import catalog
from regions.catalog import Replica
from regions.reseed import (
    Marker,
    RecordedRow,
    describe_overlay,
    is_stale,
    purge_candidates,
    should_purge,
)
from regions.system_tables import identities_spec
from regions.verification import decode_cursor, encode_cursor
from regions.versions import Version
from replicator.reseed import records_lost

V1 = Version(100 << 16, "us-east-1")
V2 = Version(200 << 16, "eu-west-1")


def test_purges_only_a_row_the_copy_lacks_that_is_unchanged_and_published() -> None:
    assert should_purge(V1, in_copy=False, unpublished=False, current=V1, current_live=True)
    # the peer holds the key (item or tombstone): LWW has decided, nothing to purge
    assert not should_purge(V1, in_copy=True, unpublished=False, current=V1, current_live=True)
    # an acknowledged local write Kafka never got: the peer cannot know it
    assert not should_purge(V1, in_copy=False, unpublished=True, current=V1, current_live=True)
    # a write raced in after the recording (local, Kafka or the copy itself)
    assert not should_purge(V1, in_copy=False, unpublished=False, current=V2, current_live=True)
    # already deleted meanwhile, or gone
    assert not should_purge(V1, in_copy=False, unpublished=False, current=V1, current_live=False)
    assert not should_purge(V1, in_copy=False, unpublished=False, current=None, current_live=False)


def test_candidates_skip_copied_keys_and_unpublished_versions() -> None:
    v3 = Version(300 << 16, "us-east-1")
    recorded = {
        (b"a", b""): RecordedRow(1, V1),
        (b"b", b""): RecordedRow(0, V2),
        (b"c", b""): RecordedRow(2, v3),
        (b"d", b""): RecordedRow(0, Version(400 << 16, "ap-southeast-2")),
    }
    got = purge_candidates(recorded, in_copy={(b"b", b"")}, unpublished={v3})
    # in partition order, so each purge chunk locks partitions in one order
    assert [k for k, _ in got] == [(b"d", b""), (b"a", b"")]


def test_stale_after_the_horizon_only_for_a_store_that_ran() -> None:
    assert not is_stale(None, 10_000_000, 5)
    assert not is_stale(1_000_000, 1_005_000, 5)
    assert is_stale(1_000_000, 1_005_001, 5)


def test_records_lost_when_the_log_start_passed_the_committed_offset() -> None:
    assert records_lost(3, 10, ran_before=True)
    assert not records_lost(10, 10, ran_before=True)
    assert not records_lost(12, 10, ran_before=True)
    # no committed offset: lost only for a store that ran before (Kafka expired them)
    assert records_lost(None, 10, ran_before=True)
    assert not records_lost(None, 10, ran_before=False)
    assert not records_lost(None, 0, ran_before=True)


def test_marker_round_trips_and_cursor_round_trips() -> None:
    m = Marker("offline 99s", 123, generation=2).with_done("t1").with_done("t2")
    assert Marker.from_json(m.to_json()) == m
    cursor = (3, b"\x00hk\xff", b"rk")
    assert decode_cursor(encode_cursor(cursor)) == cursor


def test_describe_overlay_shows_this_replica_updating() -> None:
    spec = identities_spec("us-east-1", ["eu-west-1"], 4)
    shown = describe_overlay(spec, "us-east-1", {spec.table_id: 40})
    assert Replica("us-east-1", "UPDATING", 40) in shown.replicas
    assert Replica("eu-west-1", catalog.ACTIVE, 0) in shown.replicas
    assert describe_overlay(spec, "us-east-1", {}) == spec
