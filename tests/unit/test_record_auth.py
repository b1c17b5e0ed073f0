"""Proof of origin of change records on Kafka (replicator/record_auth.py, invariant 9)."""

from __future__ import annotations

import pytest

from regions.changes import ChangeRecord, InvalidRecord
from regions.versions import Version
from replicator.record_auth import (
    KID_HEADER,
    MAC_HEADER,
    ReplicationKeys,
    open_record,
    parse_keys,
)

OLD = "old-replication-key-0123456789"
NEW = "new-replication-key-9876543210"


def _record(origin: str = "us-east-1") -> tuple[bytes, bytes]:
    rec = ChangeRecord(
        table="t",
        table_id="tid-1",
        event="INSERT",
        keys={"id": {"S": "a"}},
        new_image={"id": {"S": "a"}, "n": {"N": "1"}},
        old_image=None,
        version=Version(123 << 16, origin),
        hash_key=b"a",
    )
    return rec.message_key(), rec.encode()


def _reason(fn: object, *args: object) -> str:
    with pytest.raises(InvalidRecord) as err:
        fn(*args)  # type: ignore[operator]
    return err.value.reason


def test_signed_record_verifies_for_its_own_topic_only() -> None:
    keys = ReplicationKeys((OLD,))
    key, value = _record()
    headers = keys.sign("us-east-1", key, value)
    keys.verify("us-east-1", key, value, headers)
    # the same bytes copied into another region's topic
    assert _reason(keys.verify, "eu-west-1", key, value, headers) == "bad-signature"


def test_any_changed_byte_fails() -> None:
    keys = ReplicationKeys((OLD,))
    key, value = _record()
    headers = keys.sign("us-east-1", key, value)
    assert _reason(keys.verify, "us-east-1", key, value.replace(b'"1"', b'"2"'), headers) == (
        "bad-signature"
    )
    assert _reason(keys.verify, "us-east-1", key + b"x", value, headers) == "bad-signature"
    mac = dict(headers)[MAC_HEADER]
    bad = [(KID_HEADER, dict(headers)[KID_HEADER]), (MAC_HEADER, bytes([mac[0] ^ 1]) + mac[1:])]
    assert _reason(keys.verify, "us-east-1", key, value, bad) == "bad-signature"


def test_unsigned_and_unknown_key() -> None:
    key, value = _record()
    assert _reason(ReplicationKeys((OLD,)).verify, "us-east-1", key, value, []) == "unsigned"
    assert _reason(ReplicationKeys((OLD,)).verify, "us-east-1", key, value, None) == "unsigned"
    signed_by_stranger = ReplicationKeys(("a-key-nobody-here-holds",)).sign("us-east-1", key, value)
    assert (
        _reason(ReplicationKeys((OLD,)).verify, "us-east-1", key, value, signed_by_stranger)
        == "unknown-key"
    )


def test_rotation_accepts_both_keys_and_signs_with_the_first() -> None:
    """The three steps of docs/security.md: add, switch, drop."""
    key, value = _record()
    before = ReplicationKeys((OLD,))
    adding = ReplicationKeys((OLD, NEW))
    switched = ReplicationKeys((NEW, OLD))
    after = ReplicationKeys((NEW,))
    # step 1: regions that know both still sign with the old key, everyone reads it
    assert adding.signing_kid == before.signing_kid
    before.verify("us-east-1", key, value, adding.sign("us-east-1", key, value))
    # step 2: the new key signs; regions still at step 1 accept it, so no region stops
    adding.verify("us-east-1", key, value, switched.sign("us-east-1", key, value))
    # records signed before the switch still verify during step 2
    switched.verify("us-east-1", key, value, before.sign("us-east-1", key, value))
    # step 3: the old key is gone
    assert (
        _reason(after.verify, "us-east-1", key, value, before.sign("us-east-1", key, value))
        == "unknown-key"
    )
    assert after.kids == (switched.signing_kid,)
    assert switched.kids == (after.signing_kid, before.signing_kid)


def test_replication_key_is_not_the_secret_box_key() -> None:
    """Keys never appear in repr, and a key id reveals nothing of the key."""
    keys = ReplicationKeys((OLD,))
    assert OLD not in repr(keys)
    assert OLD not in keys.signing_kid and len(keys.signing_kid) == 12


def test_parse_keys() -> None:
    assert parse_keys(f" {NEW} , {OLD},") == (NEW, OLD)
    with pytest.raises(ValueError, match="16 characters"):
        parse_keys(f"{NEW},short")
    with pytest.raises(ValueError, match="empty"):
        parse_keys(" , ")


def test_open_record_checks_origin_against_the_topic() -> None:
    keys = ReplicationKeys((OLD,))
    key, value = _record(origin="ap-southeast-2")
    # signed for us-east-1's topic, but the record claims another origin
    headers = keys.sign("us-east-1", key, value)
    assert _reason(open_record, keys, "us-east-1", key, value, headers) == "wrong-origin"
    key, value = _record()
    rec = open_record(keys, "us-east-1", key, value, keys.sign("us-east-1", key, value))
    assert rec.version == Version(123 << 16, "us-east-1")
    assert _reason(open_record, keys, "us-east-1", key, None, []) == "undecodable"
    garbage = b"\xff{not json"
    assert (
        _reason(open_record, keys, "us-east-1", key, garbage, keys.sign("us-east-1", key, garbage))
        == "undecodable"
    )
